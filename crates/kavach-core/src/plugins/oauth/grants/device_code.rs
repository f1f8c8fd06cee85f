//! The `urn:ietf:params:oauth:grant-type:device_code` grant (RFC 8628 §3.4): polling
//! answers `authorization_pending` and `slow_down` (the interval grows by 5 s for a
//! client that polls too fast) until the user decides; an approved code is redeemed once.

use super::super::clients::Client;
use super::super::device::GRANT;
use super::super::store::device as store;
use super::super::tokens::{NewFamily, Tokens, err, internal};
use super::super::{OAuthError, OAuthErrorCode};
use crate::store::Ts;
use crate::{RequestContext, crypto};
use serde_json::Value;
use std::collections::HashMap;

impl Tokens<'_> {
    /// The token endpoint's device_code grant: pending, slow_down, denied, expired, or
    /// the tokens (once).
    pub(crate) async fn device_grant(
        &self,
        client: &Client,
        form: &HashMap<String, String>,
        jkt: Option<&str>,
        ctx: &RequestContext,
    ) -> std::result::Result<Value, OAuthError> {
        let code = form.get("device_code").ok_or_else(|| err(OAuthErrorCode::InvalidRequest, "device_code is required"))?;
        let hash = crypto::token_hash(code);
        let row = store::by_device_code(&self.0.db, &hash).await.map_err(internal)?;
        let (client_id, scope, resource, status, user_id, auth_time, interval, last_poll, expires) =
            row.ok_or_else(|| err(OAuthErrorCode::InvalidGrant, "unknown device_code"))?;
        if client_id != client.client_id {
            return Err(err(OAuthErrorCode::InvalidGrant, "this device_code was issued to another client"));
        }
        let now = Ts::now();
        if expires < now {
            return Err(err(OAuthErrorCode::ExpiredToken, "the device code has expired; start again"));
        }
        match status.as_str() {
            "denied" => return Err(err(OAuthErrorCode::AccessDenied, "the user denied the request")),
            "redeemed" => return Err(err(OAuthErrorCode::InvalidGrant, "the device code was already used")),
            _ => {}
        }
        // Polling faster than the interval: slow_down, and the interval grows by 5 s.
        let too_fast = last_poll.is_some_and(|t| now.0 - t.0 < interval * 1000);
        store::polled(&self.0.db, &hash, now, if too_fast { 5 } else { 0 }).await.map_err(internal)?;
        if too_fast {
            return Err(err(OAuthErrorCode::SlowDown, "polling too often: wait longer between requests"));
        }
        if status == "pending" {
            return Err(err(OAuthErrorCode::AuthorizationPending, "the user has not approved the request yet"));
        }
        let (Some(user_id), Some(auth_time)) = (user_id, auth_time) else { return Err(err(OAuthErrorCode::InvalidGrant, "the device request is incomplete")) };
        let user = self.live_user(&user_id).await?;
        let family_id = crypto::new_id();
        let nf = NewFamily {
            id: &family_id,
            client_id: &client.client_id,
            user_id: &user_id,
            scope: &scope,
            resource: resource.as_deref(),
            auth_time,
            dpop_jkt: jkt,
        };
        let claim = "UPDATE kavach_oauth_device SET status = 'redeemed', last_poll_at = $1 WHERE device_code_hash = $2 AND status = 'approved'";
        let scopes: Vec<String> = scope.split(' ').map(str::to_owned).collect();
        self.redeem(client, GRANT, claim, &hash, &nf, &user, &scopes, None, ctx)
            .await?
            .ok_or_else(|| err(OAuthErrorCode::InvalidGrant, "the device code was already used"))
    }
}
