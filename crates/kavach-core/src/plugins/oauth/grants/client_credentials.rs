//! The `client_credentials` grant: machine tokens for confidential clients an operator
//! created (or, with `dynamic_client_credentials`, any confidential client), always for
//! one resource, never with user scopes.

use super::super::authorize::Params;
use super::super::clients::Client;
use super::super::tokens::{Family, Tokens, err, internal, issued};
use super::super::{OAuthError, OAuthErrorCode, STANDARD_SCOPES};
use crate::RequestContext;
use serde_json::Value;

impl Tokens<'_> {
    pub(crate) async fn client_credentials(
        &self,
        client: &Client,
        form: &Params,
        jkt: Option<&str>,
        ctx: &RequestContext,
    ) -> std::result::Result<Value, OAuthError> {
        if !client.confidential {
            return Err(err(OAuthErrorCode::UnauthorizedClient, "client_credentials needs a confidential client"));
        }
        // An agent's client: only while the agent (and every agent above it) can act.
        let agent = match client.kind.as_str() {
            "agent" => match self.0.agents().token_claims(&client.client_id).await.map_err(internal)? {
                Ok(claims) => Some(claims),
                Err(reason) => return Err(err(OAuthErrorCode::InvalidClient, format!("the agent cannot act ({})", reason.as_str()))),
            },
            _ => None,
        };
        if agent.is_none() && client.kind != "operator" && !self.0.options.oauth.dynamic_client_credentials {
            return Err(err(OAuthErrorCode::UnauthorizedClient, "client_credentials is for clients an operator registered (kavach clients create)"));
        }
        let (scope, resource) = self.0.authorize().scope_and_resource(form.get("scope").map(String::as_str), form.get("resource").map(String::as_str))?;
        if scope.iter().any(|s| STANDARD_SCOPES.contains(&s.as_str())) {
            return Err(err(OAuthErrorCode::InvalidScope, "user scopes (openid, profile, email, offline_access) do not apply to client_credentials"));
        }
        let Some(resource) = resource else {
            return Err(err(OAuthErrorCode::InvalidTarget, "client_credentials needs a resource (or scopes of one resource)"));
        };
        let fam = Family { id: None, user_id: None, auth_time: None, scope: scope.join(" "), resource: Some(&resource), jkt };
        let mut extra = Vec::new();
        if let Some(a) = agent {
            // Kavach's extension: `may_act` names the one delegate that may exchange this token.
            if let Some(m) = form.get("may_act") {
                extra.push(("may_act", self.may_act(&client.client_id, m).await?));
            }
            extra.push(("agent", a));
        }
        let (body, jti) = self.respond_with_jti(client, &fam, None, &extra).await?;
        self.0.audit_queue.push(issued(client, "client_credentials", None, None, &fam.scope, Some(&resource), ctx).with("jti", jti)).await;
        self.0.clients().mark_used(client).await.map_err(internal)?;
        Ok(body)
    }
}
