//! Accepting sessions issued by the system Kavach replaces, during a transition
//! window: a request carrying a valid better-auth session cookie, whose session
//! row was migrated into `kavach_session` (by `kavach import better-auth`, which
//! stores the token's hash, or by the seed's SQL, which copies it as is), is
//! answered as signed in and gets a Kavach session in the same response. The
//! setting can be removed later with no other change.

use crate::crypto;
use crate::error::Result;
use crate::sessions::{NewSession, SessionWithUser, insert_session};
use crate::store::{BeginWrite, Ts};
use crate::users::user_from_row;
use crate::{Core, RequestContext, audit, db};
use sqlx::Row;

/// better-auth cookie settings (`external_auth.better_auth` in the config file).
#[derive(Clone, Debug)]
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

    /// End a migrated better-auth session (sign-out during the transition), so the
    /// old cookie cannot sign the browser back in.
    pub async fn revoke_better_auth_session(&self, token: &str) -> Result<()> {
        let hash = crypto::token_hash(token);
        let ids: Vec<(String,)> = db!(&self.0.db, |pool| {
            sqlx::query_as("DELETE FROM kavach_session WHERE token = $1 OR token = $2 RETURNING token").bind(token).bind(&hash).fetch_all(pool).await?
        });
        for (h,) in ids {
            self.0.sessions.cache_invalidate(&h).await;
        }
        Ok(())
    }

    /// Exchange a migrated better-auth session for a Kavach one. `None` when the
    /// session is unknown, expired, or its user is banned. A session row that was
    /// copied with its plain token is re-keyed to the token's hash on first use.
    pub async fn accept_better_auth_session(&self, token: &str, ctx: &RequestContext) -> Result<Option<(NewSession, SessionWithUser)>> {
        if self.better_auth().is_none() {
            return Ok(None);
        }
        let hash = crypto::token_hash(token);
        let now = Ts::now();
        let sql = format!(
            "SELECT s.id AS s_id, s.token AS s_token, s.expires_at AS s_expires_at, s.created_at AS s_created_at, {} FROM kavach_session s \
             JOIN kavach_user u ON u.id = s.user_id WHERE s.token = $1 OR s.token = $2",
            crate::users::USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
        );
        let absolute = self.0.options.session.absolute_lifetime.as_secs() as i64;
        let expires_in = self.0.options.session.expires_in.as_secs() as i64;
        // Most presentations of an old cookie after the transition name no live session:
        // find that out with a read, without taking the write lock.
        let live: Option<(String,)> = db!(&self.0.db, |pool| {
            sqlx::query_as("SELECT id FROM kavach_session WHERE (token = $1 OR token = $2) AND expires_at > $3")
                .bind(token)
                .bind(&hash)
                .bind(now)
                .fetch_optional(pool)
                .await?
        });
        if live.is_none() {
            return Ok(None);
        }
        // Read and exchange in one write transaction, so a concurrent sign-out wins cleanly.
        let exchanged = db!(&self.0.db, |pool| {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(token).bind(&hash).fetch_optional(&mut *tx).await?;
            let Some(r) = row else { return Ok(None) };
            let (old_id, stored, expires_at, created_at): (String, String, Ts, Ts) =
                (r.try_get("s_id")?, r.try_get("s_token")?, r.try_get("s_expires_at")?, r.try_get("s_created_at")?);
            let user = user_from_row!(r);
            let end = created_at.plus_secs(absolute);
            if expires_at <= now || end <= now || user.is_banned(now) {
                return Ok(None);
            }
            // The new session continues the old one: same start (so it is not "fresh"
            // for sensitive actions, and the absolute lifetime still counts from sign-in).
            let mut new = self.0.sessions.prepare(&user.id, ctx);
            new.session.created_at = created_at;
            new.session.expires_at = now.plus_secs(expires_in).min(end);
            let s = &new.session;
            if stored == token {
                sqlx::query("UPDATE kavach_session SET token = $1 WHERE id = $2").bind(&hash).bind(&old_id).execute(&mut *tx).await?;
            }
            insert_session!(tx, s);
            audit::append_in_tx!(
                tx,
                audit::Event::new("session.migrated", Some(&user.id), ctx).with("from", "better-auth").with("sessionId", &s.id).with("migratedSession", &old_id)
            );
            tx.commit().await?;
            Some((new, user))
        });
        let Some((new, user)) = exchanged else { return Ok(None) };
        let with_user = SessionWithUser::new(new.session.clone(), user);
        Ok(Some((new, with_user)))
    }
}
