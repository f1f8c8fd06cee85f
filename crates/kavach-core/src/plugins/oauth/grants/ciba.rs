//! OpenID CIBA in poll mode, for agents: the agent's client asks at the backchannel
//! authentication endpoint for a token bound to exact RFC 9396 `authorization_details`
//! ([`Tokens::ciba_request`]); its owner is asked (an approval request: the email and the
//! hosted review page), and the agent polls the token endpoint with the `auth_req_id`:
//! `authorization_pending`, `slow_down` (polling faster than the interval), `access_denied`,
//! `expired_token`, then the token, once. The request is bound to the hash of its
//! `authorization_details`, scope and resource: approving one request authorises nothing else,
//! and the token carries exactly the details that were approved.

use super::super::authorize::Params;
use super::super::clients::Client;
use super::super::tokens::{Family, Tokens, err, internal, issued};
use super::super::{OAuthError, OAuthErrorCode};
use crate::RequestContext;
use crate::ratelimit::Rule;
use crate::store::Ts;
use serde_json::{Value, json};
use std::time::Duration;

/// Seconds between polls.
pub const INTERVAL: u64 = 5;

impl Tokens<'_> {
    /// The backchannel authentication request of an agent's client: `{ auth_req_id,
    /// expires_in, interval }`.
    pub async fn ciba_request(&self, client: &Client, form: &Params) -> std::result::Result<Value, OAuthError> {
        if client.kind != "agent" || !client.allows_grant(super::CIBA) {
            return Err(err(OAuthErrorCode::UnauthorizedClient, "backchannel authentication is for agents' own clients"));
        }
        let details_text = form.get("authorization_details").ok_or_else(|| err(OAuthErrorCode::InvalidRequest, "authorization_details is required"))?;
        let details: Value = serde_json::from_str(details_text).map_err(|_| err(OAuthErrorCode::InvalidRequest, "authorization_details is not JSON"))?;
        let ok = details.as_array().is_some_and(|a| !a.is_empty() && a.len() <= 16 && a.iter().all(|d| d.get("type").and_then(Value::as_str).is_some()));
        if !ok || details_text.len() > 8192 {
            return Err(err(OAuthErrorCode::InvalidRequest, "authorization_details is a list of 1 to 16 objects with a type (RFC 9396), at most 8 KiB"));
        }
        let (scope, resource) = self.0.authorize().scope_and_resource(form.get("scope").map(String::as_str), form.get("resource").map(String::as_str))?;
        let resource = resource.ok_or_else(|| err(OAuthErrorCode::InvalidTarget, "a resource (or scopes of one resource) is required"))?;
        let binding = form.get("binding_message").map(String::as_str);
        if binding.is_some_and(|b| b.chars().count() > 128 || b.chars().any(char::is_control)) {
            return Err(err(OAuthErrorCode::InvalidRequest, "binding_message is at most 128 printable characters"));
        }
        let arguments = json!({ "authorization_details": details, "scope": scope.join(" "), "resource": resource, "binding_message": binding });
        let (id, expires) = self.0.agents().ciba_approval(&client.client_id, &arguments).await.map_err(|e| match e.kind {
            crate::Kind::Internal | crate::Kind::Unavailable => internal(e),
            _ => err(OAuthErrorCode::InvalidRequest, e.message.to_string()),
        })?;
        let expires_in = ((expires.0 - Ts::now().0) / 1000).max(1);
        Ok(json!({ "auth_req_id": id, "expires_in": expires_in, "interval": INTERVAL }))
    }

    /// The token endpoint's CIBA grant.
    pub(crate) async fn ciba(&self, client: &Client, form: &Params, jkt: Option<&str>, ctx: &RequestContext) -> std::result::Result<Value, OAuthError> {
        if client.kind != "agent" {
            return Err(err(OAuthErrorCode::UnauthorizedClient, "CIBA is for agents' own clients"));
        }
        let id = form.get("auth_req_id").ok_or_else(|| err(OAuthErrorCode::InvalidRequest, "auth_req_id is required"))?;
        let ap = self.0.agents().approval_row(id).await.map_err(internal)?;
        let ap = ap.filter(|a| a.agent_id == client.client_id && a.action == super::super::super::agents::CIBA_ACTION);
        let ap = ap.ok_or_else(|| err(OAuthErrorCode::InvalidGrant, "unknown auth_req_id"))?;
        match ap.status.as_str() {
            "expired" => return Err(err(OAuthErrorCode::ExpiredToken, "the request expired before it was approved; start again")),
            "denied" => return Err(err(OAuthErrorCode::AccessDenied, "the owner denied the request")),
            "approved" if ap.uses_left <= 0 => return Err(err(OAuthErrorCode::InvalidGrant, "this auth_req_id was already used")),
            _ => {}
        }
        // Polling faster than the interval: slow_down (one poll per interval, for every instance).
        let poll = self.0.limiter.hit(&format!("ciba-poll:{id}"), Rule { max: 1, window: Duration::from_secs(INTERVAL) }).await.map_err(internal)?;
        if !poll.allowed {
            return Err(err(OAuthErrorCode::SlowDown, format!("poll at most every {INTERVAL} seconds")));
        }
        if ap.status == "pending" {
            return Err(err(OAuthErrorCode::AuthorizationPending, "the owner has not answered yet"));
        }
        if !self.0.agents().use_approval(id).await.map_err(internal)? {
            return Err(err(OAuthErrorCode::InvalidGrant, "this auth_req_id was already used"));
        }
        let agent = match self.0.agents().token_claims(&client.client_id).await.map_err(internal)? {
            Ok(c) => c,
            Err(reason) => return Err(err(OAuthErrorCode::InvalidClient, format!("the agent cannot act ({})", reason.as_str()))),
        };
        let a = &ap.arguments;
        let scope = a.get("scope").and_then(Value::as_str).unwrap_or_default().to_owned();
        let resource = a.get("resource").and_then(Value::as_str).unwrap_or_default().to_owned();
        let details = a.get("authorization_details").cloned().unwrap_or(Value::Null);
        let fam = Family { id: None, user_id: None, auth_time: None, scope: scope.clone(), resource: Some(&resource), jkt };
        let extra = [("authorization_details", details.clone()), ("agent", agent)];
        let mut body = self.respond_with(client, &fam, None, &extra).await?;
        if let Some(o) = body.as_object_mut() {
            o.insert("authorization_details".into(), details);
        }
        self.0.audit_queue.push(issued(client, super::CIBA, None, None, &scope, Some(&resource), ctx).with("auth_req_id", id)).await;
        Ok(body)
    }
}
