//! The `authorization_code` grant (OAuth 2.1 §4.1.3): redeem a single-use code with
//! its PKCE verifier; a replayed code revokes what the first redemption issued.

use super::super::authorize::{AuthRequest, Params};
use super::super::clients::Client;
use super::super::store::tokens as store;
use super::super::tokens::{NewFamily, Tokens, err, internal};
use super::super::{OAuthError, OAuthErrorCode, pkce, resource};
use crate::store::Ts;
use crate::{RequestContext, crypto};
use serde_json::Value;

impl Tokens<'_> {
    pub(crate) async fn authorization_code(
        &self,
        client: &Client,
        form: &Params,
        jkt: Option<&str>,
        ctx: &RequestContext,
    ) -> std::result::Result<Value, OAuthError> {
        let code = form.get("code").ok_or_else(|| err(OAuthErrorCode::InvalidRequest, "code is required"))?;
        let hash = crypto::token_hash(code);
        let row = store::code(&self.0.db, &hash).await.map_err(internal)?;
        let invalid = || err(OAuthErrorCode::InvalidGrant, "the authorization code is invalid, expired or already used");
        let (family_id, request, user_id, auth_time, expires_at, used_at) = row.ok_or_else(invalid)?;
        if used_at.is_some() {
            self.code_replayed(&family_id, &client.client_id, ctx).await?;
            return Err(invalid());
        }
        let req: AuthRequest = serde_json::from_str(&request).map_err(|_| invalid())?;
        if req.client_id != client.client_id || expires_at < Ts::now() {
            return Err(invalid());
        }
        if let Some(r) = form.get("redirect_uri")
            && *r != req.redirect_uri
        {
            return Err(err(OAuthErrorCode::InvalidGrant, "redirect_uri differs from the authorization request"));
        }
        pkce::check_verifier(Some(&req.code_challenge), form.get("code_verifier").map(String::as_str))?;
        if let Some(bound) = &req.dpop_jkt
            && jkt != Some(bound.as_str())
        {
            return Err(err(OAuthErrorCode::InvalidGrant, "this code is bound to a DPoP key (dpop_jkt): send a proof made with it"));
        }
        if let Some(r) = form.get("resource")
            && Some(resource::canonical(r)?) != req.resource
        {
            return Err(err(OAuthErrorCode::InvalidTarget, "resource differs from the authorization request"));
        }
        let user = self.live_user(&user_id).await?;
        let scope = req.scope_string();
        let nf = NewFamily {
            id: &family_id,
            client_id: &client.client_id,
            user_id: &user_id,
            scope: &scope,
            resource: req.resource.as_deref(),
            auth_time,
            dpop_jkt: jkt,
        };
        let claim = "UPDATE kavach_oauth_code SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL";
        match self.redeem(client, "authorization_code", claim, &hash, &nf, &user, &req.scope, req.nonce.as_deref(), ctx).await? {
            Some(body) => Ok(body),
            None => {
                self.code_replayed(&family_id, &client.client_id, ctx).await?;
                Err(invalid())
            }
        }
    }
}
