//! Accepting sessions issued by the system Kavach replaces, during a transition
//! window: a request carrying a valid better-auth session cookie, whose session
//! row was migrated into `kavach_session` (by `kavach import better-auth`, which
//! stores the token's hash, or by the seed's SQL, which copies it as is and leaves
//! the row's `origin` at `copied`), is answered as signed in and gets a Kavach
//! session cookie in the same response. The setting can be removed later with no
//! other change.
//!
//! One old session becomes exactly one Kavach session: the migrated row itself is
//! re-keyed to a Kavach token derived from the old one under the server secret, so
//! every later request with the same old cookie names that same session (and gets
//! its cookie again), and signing out of it ends the old cookie too. A stored value
//! (a handle, a hash) is never a credential: a plain token is only compared with
//! rows copied by SQL, and Kavach's own rows only with the hash of what was presented.

use super::store;
use crate::crypto;
use crate::error::Result;
use crate::sessions::Checked;
use crate::store::Ts;
use crate::{Core, RequestContext};

/// better-auth cookie settings (`external_auth.better_auth` in the config file).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BetterAuthCookies {
    /// better-auth's secret(s) (`BETTER_AUTH_SECRET`); a cookie signed with any of them is accepted.
    pub secrets: Vec<String>,
    /// The cookie name better-auth used (default `better-auth.session_token`); the
    /// `__Secure-` variant is accepted too.
    pub cookie_name: String,
}

impl Default for BetterAuthCookies {
    fn default() -> Self {
        BetterAuthCookies { secrets: vec![], cookie_name: "better-auth.session_token".into() }
    }
}

impl BetterAuthCookies {
    /// The cookie names to look for, most specific first.
    pub fn cookie_names(&self) -> [String; 2] {
        [format!("__Secure-{}", self.cookie_name), self.cookie_name.clone()]
    }
}

/// `kavach.external()`.
pub struct External<'a>(pub(crate) &'a Core);

impl External<'_> {
    pub fn better_auth(&self) -> Option<&BetterAuthCookies> {
        self.0.options.better_auth.as_ref().filter(|b| !b.secrets.is_empty())
    }

    /// The session token inside a (URL-decoded) better-auth cookie value, if its
    /// signature is valid: `token.base64(HMAC-SHA256(secret, token))`, the
    /// signature 44 characters ending in `=`.
    pub fn better_auth_token(&self, value: &str) -> Option<String> {
        let secrets = self.0.better_auth_secrets.as_ref()?;
        let (token, sig) = value.rsplit_once('.')?;
        if token.is_empty() || sig.len() != 44 || !sig.ends_with('=') {
            return None;
        }
        secrets.verify_signature(token, sig).then(|| token.to_owned())
    }

    /// The Kavach session tokens a better-auth token is exchanged for, one per
    /// server secret (current first): the exchange uses the first.
    fn exchanged_tokens(&self, token: &str) -> Vec<String> {
        self.0.secrets.keyed_hashes(&format!("better-auth-exchange\0{token}"))
    }

    /// The Kavach session this better-auth token was already exchanged for, if it is live.
    async fn exchanged(&self, token: &str) -> Result<Option<(String, Checked)>> {
        for t in self.exchanged_tokens(token) {
            if let Some(c) = self.0.sessions.check(&t).await? {
                return Ok(Some((t, c)));
            }
        }
        Ok(None)
    }

    /// End a migrated better-auth session (sign-out during the transition), exchanged
    /// or not, so the old cookie cannot sign the browser back in.
    pub async fn revoke_better_auth_session(&self, token: &str) -> Result<()> {
        let mut hashes: Vec<String> = self.exchanged_tokens(token).iter().map(|t| crypto::token_hash(t)).collect();
        hashes.push(crypto::token_hash(token));
        let mut gone = Vec::new();
        for h in &hashes {
            let rows = store::delete_better_auth_session(&self.0.db, h, token).await?;
            gone.extend(rows);
        }
        for (h,) in gone {
            self.0.sessions.cache_invalidate(&h).await;
        }
        Ok(())
    }

    /// The Kavach session for a better-auth session token: the one it was already
    /// exchanged for, or a migrated session exchanged now. Returns the Kavach token
    /// (to set as the cookie) and the checked session; `None` when the session is
    /// unknown, expired, revoked, or its user is banned.
    pub async fn better_auth_session(&self, token: &str, ctx: &RequestContext) -> Result<Option<(String, Checked)>> {
        if self.better_auth().is_none() {
            return Ok(None);
        }
        if let Some(found) = self.exchanged(token).await? {
            return Ok(Some(found));
        }
        let Some(kavach_token) = self.exchanged_tokens(token).into_iter().next() else { return Ok(None) };
        let hash = crypto::token_hash(token);
        let now = Ts::now();
        // Plain tokens only against rows copied by SQL; Kavach's rows only by hash.
        let new_hash = crypto::token_hash(&kavach_token);
        // Most presentations of an old cookie after the transition name no live session:
        // find that out with a read, without taking the write lock. (It also sees a row a
        // parallel request with the same cookie has just exchanged.)
        let live = store::live_better_auth_session(&self.0.db, token, &hash, &new_hash, now).await?;
        match live {
            None => return Ok(None),
            Some((t,)) if t == new_hash => return self.exchanged(token).await,
            Some(_) => {}
        }
        let absolute = self.0.options.session.absolute_lifetime.as_secs() as i64;
        let expires_in = self.0.options.session.expires_in.as_secs() as i64;
        let exchanged = store::exchange_better_auth_session(&self.0.db, token, &hash, &new_hash, now, absolute, expires_in, ctx).await?;
        // Another request with the same cookie (a parallel tab) exchanged it a moment ago.
        let Some(stored) = exchanged else { return self.exchanged(token).await };
        // The old key may sit in another instance's cache (a hash-keyed row).
        self.0.sessions.cache_invalidate(&stored).await;
        match self.0.sessions.check(&kavach_token).await? {
            Some(mut c) => {
                c.renewed = true;
                Ok(Some((kavach_token, c)))
            }
            None => Ok(None),
        }
    }
}
