//! RFC 8693 token exchange, for agents acting for someone: the authenticated client is
//! the actor (an agent's own client), `subject_token` a Kavach access token of the one it
//! acts for (a user's, an agent's, or an earlier exchange's), `actor_token` optionally the
//! actor's own access token. The result names the subject in `sub` and the chain of actors
//! in nested `act` claims (RFC 8693 §4.1), most recent first.
//!
//! The right to act comes from where the token came from, never from the request's shape:
//! - the party the subject token currently speaks for (its outermost `act`, else the agent
//!   it was issued to, else its user) must have delegated to the actor: the actor is a
//!   delegate (at any depth) of that agent, or an agent owned by that user;
//! - a `may_act` claim in the subject token must name the actor;
//! - the scope can only narrow (a subset of the subject token's), the audience cannot
//!   change, and the actor's chain must be able to act (status, expiry, owner) now and at
//!   every later check of the token (introspection follows the actor's chain).

use super::super::authorize::Params;
use super::super::clients::Client;
use super::super::tokens::{Family, Tokens, err, internal, issued};
use super::super::{OAuthError, OAuthErrorCode};
use crate::RequestContext;
use serde_json::{Value, json};

const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Nested `act` claims deeper than this are refused, whatever the delegation allows.
const MAX_ACT_DEPTH: usize = 8;

fn grant_err(msg: impl Into<String>) -> OAuthError {
    err(OAuthErrorCode::InvalidGrant, msg)
}

/// The nesting depth of an `act` claim.
fn act_depth(act: Option<&Value>) -> usize {
    let mut n = 0;
    let mut cur = act;
    while let Some(a) = cur {
        n += 1;
        cur = a.get("act");
    }
    n
}

impl Tokens<'_> {
    /// `may_act` for a token of agent `issuer_agent`: `{"sub": id}`, where `id` must be a
    /// delegate of it (Kavach's extension parameter on `client_credentials` and token
    /// exchange requests).
    pub(crate) async fn may_act(&self, issuer_agent: &str, id: &str) -> std::result::Result<Value, OAuthError> {
        match self.0.agents().token_claims(id).await.map_err(internal)? {
            Ok(c) if delegation_chain(&c).iter().any(|a| a == issuer_agent) => Ok(json!({ "sub": id })),
            _ => Err(err(OAuthErrorCode::InvalidRequest, "may_act must name a delegate of this agent that can act")),
        }
    }

    pub(crate) async fn token_exchange(
        &self,
        client: &Client,
        form: &Params,
        jkt: Option<&str>,
        ctx: &RequestContext,
    ) -> std::result::Result<Value, OAuthError> {
        if client.kind != "agent" {
            return Err(err(OAuthErrorCode::UnauthorizedClient, "token exchange is for agents' own clients (POST /agents/{id}/oauth-client)"));
        }
        let actor = client.client_id.as_str();
        let field = |k: &str| form.get(k).map(String::as_str);
        if field("subject_token_type") != Some(ACCESS_TOKEN) {
            return Err(err(OAuthErrorCode::InvalidRequest, format!("subject_token_type must be {ACCESS_TOKEN}")));
        }
        if field("requested_token_type").is_some_and(|t| t != ACCESS_TOKEN) {
            return Err(err(OAuthErrorCode::InvalidRequest, format!("requested_token_type must be {ACCESS_TOKEN}")));
        }
        let subject_token = field("subject_token").ok_or_else(|| err(OAuthErrorCode::InvalidRequest, "subject_token is required"))?;
        let subject = self.active(subject_token).await.map_err(internal)?.ok_or_else(|| grant_err("the subject token is not active"))?.claims;
        // The actor token, when sent, must be the actor's own live token.
        if let Some(t) = field("actor_token") {
            if field("actor_token_type") != Some(ACCESS_TOKEN) {
                return Err(err(OAuthErrorCode::InvalidRequest, format!("actor_token_type must be {ACCESS_TOKEN}")));
            }
            let own = self.active(t).await.map_err(internal)?.is_some_and(|a| a.claims.get("client_id").and_then(Value::as_str) == Some(actor));
            if !own {
                return Err(grant_err("the actor token is not an active token of this client"));
            }
        }
        let actor_claims = match self.0.agents().token_claims(actor).await.map_err(internal)? {
            Ok(c) => c,
            Err(reason) => return Err(err(OAuthErrorCode::InvalidClient, format!("the agent cannot act ({})", reason.as_str()))),
        };
        // may_act, when the subject token carries one, names the only actor allowed.
        if let Some(m) = subject.get("may_act")
            && m.get("sub").and_then(Value::as_str) != Some(actor)
        {
            return Err(grant_err("the subject token's may_act does not name this actor"));
        }
        // Who the subject token speaks for now: its latest actor, else its agent, else its user.
        let act = subject.get("act");
        let current_agent =
            act.and_then(|a| a.get("sub")).and_then(Value::as_str).or_else(|| subject.get("agent").and_then(|a| a.get("id")).and_then(Value::as_str));
        let allowed = match current_agent {
            Some(agent) => delegation_chain(&actor_claims).iter().any(|a| a == agent),
            None => {
                let user = subject.get("sub").and_then(Value::as_str);
                user.is_some() && actor_claims.get("owner_user_id").and_then(Value::as_str) == user
            }
        };
        if !allowed {
            return Err(grant_err("no delegation from the subject token's principal to this agent"));
        }
        if act_depth(act) + 1 > MAX_ACT_DEPTH {
            return Err(grant_err(format!("delegation chains are at most {MAX_ACT_DEPTH} actors deep")));
        }
        // Scope and audience only narrow.
        let held: Vec<&str> = subject.get("scope").and_then(Value::as_str).unwrap_or_default().split(' ').filter(|s| !s.is_empty()).collect();
        let scope: Vec<&str> = match field("scope") {
            Some(s) => s.split(' ').filter(|s| !s.is_empty()).collect(),
            None => held.clone(),
        };
        if scope.is_empty() || scope.iter().any(|s| !held.contains(s)) {
            return Err(err(OAuthErrorCode::InvalidScope, "the scope must be a subset of the subject token's"));
        }
        let aud = subject.get("aud").and_then(Value::as_str).ok_or_else(|| grant_err("the subject token has no single audience"))?;
        for k in ["resource", "audience"] {
            if field(k).is_some_and(|r| r != aud) {
                return Err(err(OAuthErrorCode::InvalidTarget, "a token exchange keeps the subject token's audience"));
            }
        }
        let sub = subject.get("sub").and_then(Value::as_str).ok_or_else(|| grant_err("the subject token has no subject"))?;
        let mut new_act = json!({ "sub": actor });
        if let (Some(prev), Some(o)) = (act, new_act.as_object_mut()) {
            o.insert("act".into(), prev.clone());
        }
        let mut extra = vec![("act", new_act.clone()), ("agent", actor_claims)];
        if let Some(m) = field("may_act") {
            extra.push(("may_act", self.may_act(actor, m).await?));
        }
        // The subject's user (if any) is the token's user; the scope and audience are kept.
        let fam = Family { id: None, user_id: Some(sub), auth_time: None, scope: scope.join(" "), resource: Some(aud), jkt };
        let body = self.respond_with(client, &fam, None, &extra).await?;
        let mut body = body;
        if let Some(o) = body.as_object_mut() {
            o.insert("issued_token_type".into(), json!(ACCESS_TOKEN));
        }
        self.0.audit_queue.push(issued(client, super::TOKEN_EXCHANGE, None, None, &fam.scope, Some(aud), ctx).with("sub", sub).with("act", new_act)).await;
        Ok(body)
    }
}

/// The agents above an agent (from its token claims).
fn delegation_chain(agent_claims: &Value) -> Vec<String> {
    agent_claims.get("delegation_chain").and_then(Value::as_array).map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}
