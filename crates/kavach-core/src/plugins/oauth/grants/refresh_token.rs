//! The `refresh_token` grant: rotation with reuse detection. Presenting a token that was
//! already rotated revokes its whole family, except that a public client presenting it
//! again within `refresh_grace` gets the same successor (racing native processes).

use super::super::authorize::Params;
use super::super::clients::Client;
use super::super::store::tokens as store;
use super::super::tokens::{Family, Tokens, err, internal, issued};
use super::super::{OAuthError, OAuthErrorCode, resource};
use crate::audit::Event;
use crate::store::Ts;
use crate::{RequestContext, crypto};
use serde_json::Value;

/// The context a rotated refresh token's successor is sealed under.
pub(crate) const SUCCESSOR_CONTEXT: &str = "kavach-oauth-refresh-successor";

impl Tokens<'_> {
    pub(crate) async fn refresh(&self, client: &Client, form: &Params, jkt: Option<&str>, ctx: &RequestContext) -> std::result::Result<Value, OAuthError> {
        let presented = form.get("refresh_token").ok_or_else(|| err(OAuthErrorCode::InvalidRequest, "refresh_token is required"))?;
        let hash = crypto::token_hash(presented);
        let load = || async { store::refresh_row(&self.0.db, &hash).await.map_err(internal) };
        let invalid = || err(OAuthErrorCode::InvalidGrant, "the refresh token is invalid, expired or revoked");
        let mut row = load().await?.ok_or_else(invalid)?;
        let now = Ts::now();
        if row.3 != client.client_id || row.9.is_some() || row.8 < now {
            return Err(invalid());
        }
        // A DPoP-bound grant refreshes only with a proof from the same key (RFC 9449 §5).
        if let Some(bound) = &row.10
            && jkt != Some(bound.as_str())
        {
            return Err(err(OAuthErrorCode::InvalidGrant, "this refresh token is bound to a DPoP key: send a proof made with it"));
        }
        let at_jkt: Option<String> = row.10.clone().or_else(|| jkt.map(str::to_owned));
        if let Some(r) = form.get("resource")
            && Some(resource::canonical(r)?) != row.6
        {
            return Err(err(OAuthErrorCode::InvalidTarget, "a refresh can only ask for the resource originally granted"));
        }
        let granted: Vec<&str> = row.5.split(' ').filter(|s| !s.is_empty()).collect();
        let scope = match form.get("scope").map(|s| s.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>()) {
            Some(asked) if !asked.is_empty() => {
                if let Some(s) = asked.iter().find(|s| !granted.contains(s)) {
                    return Err(err(OAuthErrorCode::InvalidScope, format!("scope {s:?} was not granted; a refresh can narrow the scope, never widen it")));
                }
                asked.join(" ")
            }
            _ => row.5.clone(),
        };
        // The grant's user (read in the same query): still there and not banned.
        if row.4.is_some() {
            // No user row (deleted) counts as banned.
            if row.11.is_none_or(|b| crate::users::ban_in_force(b, row.12, now)) {
                return Err(err(OAuthErrorCode::InvalidGrant, "the user of this grant no longer exists or is banned"));
            }
        }
        if row.1.is_none() {
            let successor = crypto::random_token();
            // Kept (sealed) only for the public-client grace window; purged after it.
            let sealed = (!client.confidential).then(|| self.0.secrets.seal(successor.as_bytes(), SUCCESSOR_CONTEXT));
            // The UNIQUE parent_hash lets exactly one successor in.
            let won = self
                .0
                .rotations
                .insert(super::super::store::rotation::Successor {
                    token_hash: crypto::token_hash(&successor),
                    family_id: row.0.clone(),
                    created_at: now,
                    parent_hash: hash.clone(),
                    sealed,
                })
                .await
                .map_err(internal)?;
            if won {
                self.0.audit_queue.push(issued(client, "refresh_token", Some(&row.0), row.4.as_deref(), &scope, row.6.as_deref(), ctx)).await;
            }
            if won {
                let fam = Family {
                    id: Some(&row.0),
                    user_id: row.4.as_deref(),
                    auth_time: row.7.map(|t| t.0 / 1000),
                    scope,
                    resource: row.6.as_deref(),
                    jkt: at_jkt.as_deref(),
                };
                return self.respond(client, &fam, Some(&successor)).await;
            }
            // Another request rotated it a moment ago: fall through to the grace rule.
            row = load().await?.ok_or_else(invalid)?;
        }
        let grace = self.0.options.oauth.refresh_grace.as_millis() as i64;
        let successor = match (row.1, &row.2) {
            // Grace for public clients only: native apps (several processes sharing one
            // keychain) race their refreshes; a confidential client is a server that can
            // serialise its own, so for it any reuse is treated as theft.
            (Some(at), Some(sealed)) if !client.confidential && now.0 - at.0 <= grace && row.9.is_none() => {
                self.0.secrets.open(sealed, SUCCESSOR_CONTEXT).and_then(|b| String::from_utf8(b).ok())
            }
            _ => None,
        };
        let Some(successor) = successor else {
            self.revoke_family(&row.0, |n| {
                Event::new(crate::audit::EventKind::OAuthRefreshReused, row.4.as_deref(), ctx)
                    .with("client_id", &client.client_id)
                    .with("family", &row.0)
                    .with("revoked", n)
            })
            .await
            .map_err(internal)?;
            tracing::warn!(client_id = %client.client_id, family = %row.0, "refresh token reused: the grant family is revoked");
            return Err(invalid());
        };
        let fam = Family {
            id: Some(&row.0),
            user_id: row.4.as_deref(),
            auth_time: row.7.map(|t| t.0 / 1000),
            scope,
            resource: row.6.as_deref(),
            jkt: at_jkt.as_deref(),
        };
        self.respond(client, &fam, Some(&successor)).await
    }
}
