//! Sessions: 256-bit random tokens stored only as their SHA-256, a 7-day sliding
//! expiry bounded by an absolute lifetime, and a small in-process cache for the
//! session check.
//!
//! Cache contract: an entry is served for at most `cache_ttl` (default 5 s) after
//! it was read from the database. Revocations made by this process drop entries at
//! once; on PostgreSQL every revocation is also broadcast with `NOTIFY
//! kavach_cache` and every instance drops the entry when it hears it (and clears
//! its whole cache whenever its listener reconnects). So the staleness bound is
//! `cache_ttl` in the worst case (a missed notification, or a second process on
//! one SQLite file) and one notification round trip otherwise.

use crate::error::Result;
use crate::store::group::{Batch, Group};
use crate::store::{BeginWrite, Db, Ts};
use crate::users::{USER_COLUMNS_U, User, user_from_row};
use crate::{RequestContext, audit, crypto, db};
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// A session row as clients see it. `token` is the session's public handle (the
/// stored hash; for a row copied from better-auth by SQL, the hash of its plain
/// token); the secret token itself is only ever returned once, at sign-in. A handle
/// is never accepted as a credential.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Ts,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Ts,
    /// The organization the user works in (`/organization/set-active`), if any.
    pub active_organization_id: Option<String>,
    /// The team the user works in (`/organization/set-active-team`), if any.
    pub active_team_id: Option<String>,
    /// For a session an admin opened as this user (`/admin/impersonate-user`): the
    /// admin's user id. Such a session ends at its expiry and is never renewed.
    pub impersonated_by: Option<String>,
}

/// What `get-session` answers.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SessionWithUser {
    pub session: Session,
    pub user: User,
    /// The JSON form, rendered once per cached entry (the session check is hot).
    #[serde(skip)]
    #[schema(ignore)]
    json: std::sync::OnceLock<Arc<str>>,
}

impl SessionWithUser {
    pub fn new(session: Session, user: User) -> Self {
        SessionWithUser { session, user, json: Default::default() }
    }

    /// `{"session":...,"user":...}`, as get-session answers; computed once.
    #[allow(
        clippy::expect_used,
        reason = "a session and a user serialise to JSON without error: their fields are strings, numbers, booleans and timestamps, and no map has non-string keys"
    )]
    pub fn json(&self) -> Arc<str> {
        self.json.get_or_init(|| serde_json::to_string(self).expect("serialisable").into()).clone()
    }
}

/// A freshly created session and the secret token to hand to the client.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub token: String,
    pub session: Session,
}

/// Session lifetimes.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionOptions {
    /// Idle expiry, renewed by use (sliding). Default 7 days.
    #[serde(deserialize_with = "crate::options::duration")]
    pub expires_in: Duration,
    /// Renew the expiry at most this often. Default 1 day.
    #[serde(deserialize_with = "crate::options::duration")]
    pub update_age: Duration,
    /// No session outlives this, however active. Default 30 days.
    #[serde(deserialize_with = "crate::options::duration")]
    pub absolute_lifetime: Duration,
    /// How recent a session must be for sensitive actions without a password. Default 1 day.
    #[serde(deserialize_with = "crate::options::duration")]
    pub fresh_age: Duration,
    /// Staleness bound of the in-process cache. Zero disables the cache. Default 5 s.
    #[serde(deserialize_with = "crate::options::duration")]
    pub cache_ttl: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            expires_in: Duration::from_secs(7 * 86400),
            update_age: Duration::from_secs(86400),
            absolute_lifetime: Duration::from_secs(30 * 86400),
            fresh_age: Duration::from_secs(86400),
            cache_ttl: Duration::from_secs(5),
        }
    }
}

/// The start of a session insert: the columns, in the order [`bind_session!`] binds them.
macro_rules! insert_session_sql {
    () => {
        "INSERT INTO kavach_session (id, user_id, token, expires_at, ip_address, user_agent, created_at, updated_at, origin, \
         active_organization_id, active_team_id, impersonated_by) VALUES "
    };
}

/// Bind session `$s`'s columns to `$q`, in [`insert_session_sql!`]'s order (12 values).
macro_rules! bind_session {
    ($q:expr, $s:expr) => {
        $q.bind(&$s.id)
            .bind(&$s.user_id)
            .bind(&$s.token)
            .bind($s.expires_at)
            .bind(&$s.ip_address)
            .bind(&$s.user_agent)
            .bind($s.created_at)
            .bind($s.updated_at)
            .bind("kavach")
            .bind(&$s.active_organization_id)
            .bind(&$s.active_team_id)
            .bind(&$s.impersonated_by)
    };
}

/// Insert session `$s` within transaction `$tx`.
macro_rules! insert_session {
    ($tx:expr, $s:expr) => {
        $crate::sessions::bind_session!(
            sqlx::query(concat!($crate::sessions::insert_session_sql!(), "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")),
            $s
        )
        .execute(&mut *$tx)
        .await?
    };
}
pub(crate) use {bind_session, insert_session, insert_session_sql};

/// New sessions with their audit records, many sign-ins in one transaction (group
/// commit, [`crate::store::group`]): one multi-row insert of the sessions, one of the
/// records, and the chain's head row taken once for the group.
struct SessionWrites;

impl Batch for SessionWrites {
    type Item = (Session, audit::Event);
    type Out = ();
    async fn write(&self, db: &Db, items: &[(Session, audit::Event)]) -> Result<Vec<()>> {
        db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            let sql = format!("{}{}", insert_session_sql!(), tx.values_list(items.len(), 12));
            // Only placeholders are generated; not kept prepared (one statement per group size).
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
            for (s, _) in items {
                q = bind_session!(q, s);
            }
            q.execute(&mut *tx).await?;
            audit::append_many_in_tx!(tx, items.iter().map(|(_, e)| e.clone()).collect());
            tx.commit().await?;
        });
        Ok(vec![(); items.len()])
    }
}

const CACHE_MAX: usize = 100_000;
pub(crate) const NOTIFY_CHANNEL: &str = "kavach_cache";

struct Entry {
    data: Arc<SessionWithUser>,
    fetched: Instant,
    /// The proof (cookie signature) already verified for this token, if any.
    proof: std::sync::OnceLock<Box<str>>,
}

/// The cached memberships of one organization: user → (role field or none, read at).
type OrgMembers = HashMap<String, (Option<String>, Instant)>;

/// Session storage plus the cache. One per [`crate::Core`].
pub struct Sessions {
    db: Db,
    opts: SessionOptions,
    writes: Group<SessionWrites>,
    /// Nothing that can panic runs while it is held (map reads, inserts, removals), and
    /// every entry is a whole value: a poisoned lock is used as it is.
    cache: RwLock<HashMap<String, Entry>>,
    /// Organization memberships: (organization, user) → the member's role field, or
    /// `None` for "not a member", read at the instant. The same staleness bound and
    /// invalidation as the sessions (`m:<organization>` on every membership change).
    /// By organization, then user (looked up with borrowed keys: no allocation on a hit).
    memberships: RwLock<HashMap<String, OrgMembers>>,
    /// Counts membership invalidations: a read that began before one is not cached.
    membership_epoch: std::sync::atomic::AtomicU64,
    /// Counts every invalidation but one session's (an agent's change, `a:`; a user's,
    /// `u:`; an organization's, `m:`; an OAuth client's, `c:`; a cold start): the caches
    /// of [`crate::cache`] serve only entries read since the last one.
    epoch: std::sync::atomic::AtomicU64,
}

/// The public handle of a stored `token`: the stored SHA-256 itself, or for a row
/// copied from better-auth with its plain token (`origin = 'copied'`), that token's
/// hash, so the secret is never shown.
pub(crate) fn handle(stored: String, origin: &str) -> String {
    if origin == ORIGIN_COPIED { crypto::token_hash(&stored) } else { stored }
}

/// `kavach_session.origin` of rows inserted by SQL outside Kavach (the seed's copy of
/// better-auth's session table): their `token` is better-auth's plain token.
pub(crate) const ORIGIN_COPIED: &str = "copied";

macro_rules! session_from_row {
    ($r:expr) => {
        Session {
            id: $r.try_get("s_id")?,
            user_id: $r.try_get("s_user_id")?,
            token: handle($r.try_get("s_token")?, $r.try_get::<&str, _>("s_origin")?),
            expires_at: $r.try_get("s_expires_at")?,
            ip_address: $r.try_get("s_ip_address")?,
            user_agent: $r.try_get("s_user_agent")?,
            created_at: $r.try_get("s_created_at")?,
            updated_at: $r.try_get("s_updated_at")?,
            active_organization_id: $r.try_get("s_active_organization_id")?,
            active_team_id: $r.try_get("s_active_team_id")?,
            impersonated_by: $r.try_get("s_impersonated_by")?,
        }
    };
}

const SESSION_COLUMNS: &str = "s.id AS s_id, s.user_id AS s_user_id, s.token AS s_token, s.expires_at AS s_expires_at, \
    s.ip_address AS s_ip_address, s.user_agent AS s_user_agent, s.created_at AS s_created_at, s.updated_at AS s_updated_at, s.origin AS s_origin, \
    s.active_organization_id AS s_active_organization_id, s.active_team_id AS s_active_team_id, s.impersonated_by AS s_impersonated_by";

/// Outcome of a session check.
pub struct Checked {
    pub data: Arc<SessionWithUser>,
    /// The expiry moved: the client's cookie should be re-issued.
    pub renewed: bool,
}

impl Sessions {
    pub(crate) fn new(db: Db, opts: SessionOptions) -> Self {
        Sessions {
            writes: Group::new(db.clone(), SessionWrites),
            db,
            opts,
            cache: RwLock::new(HashMap::new()),
            memberships: RwLock::new(HashMap::new()),
            membership_epoch: Default::default(),
            epoch: Default::default(),
        }
    }

    pub fn options(&self) -> &SessionOptions {
        &self.opts
    }

    fn secs(d: Duration) -> i64 {
        d.as_secs() as i64
    }

    fn absolute_end(&self, s: &Session) -> Ts {
        s.created_at.plus_secs(Self::secs(self.opts.absolute_lifetime))
    }

    /// Create a session for `user_id`. A new random token every time (no fixation).
    pub(crate) fn prepare(&self, user_id: &str, ctx: &RequestContext) -> NewSession {
        let now = Ts::now();
        let token = crypto::random_token();
        let session = Session {
            id: crypto::new_id(),
            user_id: user_id.to_owned(),
            token: crypto::token_hash(&token),
            expires_at: now.plus_secs(Self::secs(self.opts.expires_in).min(Self::secs(self.opts.absolute_lifetime))),
            ip_address: ctx.ip.map(|i| i.to_string()),
            user_agent: ctx.user_agent.as_ref().map(|u| u.chars().take(512).collect()),
            created_at: now,
            updated_at: now,
            active_organization_id: None,
            active_team_id: None,
            impersonated_by: None,
        };
        NewSession { token, session }
    }

    /// Create a session and record `session.created` in the audit log.
    pub async fn create(&self, user_id: &str, ctx: &RequestContext, audit_kind: audit::EventKind) -> Result<NewSession> {
        let new = self.prepare(user_id, ctx);
        let event = audit::Event::new(audit_kind, Some(user_id), ctx).with("sessionId", &new.session.id);
        self.insert(new, event).await
    }

    /// Store a prepared session with its audit record, in one transaction (shared with
    /// the sign-ins of the same moment: [`SessionWrites`]); returns once committed.
    async fn insert(&self, new: NewSession, event: audit::Event) -> Result<NewSession> {
        self.writes.write((new.session.clone(), event)).await?;
        Ok(new)
    }

    /// Open a session as `user_id` for the admin `admin_id` (impersonation): it ends
    /// after `ttl` (or the normal expiry, if sooner) and is never renewed.
    pub(crate) async fn create_impersonation(&self, user_id: &str, admin_id: &str, ttl: Duration, ctx: &RequestContext) -> Result<NewSession> {
        let mut new = self.prepare(user_id, ctx);
        let end = new.session.created_at.plus_secs(Self::secs(ttl));
        if end < new.session.expires_at {
            new.session.expires_at = end;
        }
        new.session.impersonated_by = Some(admin_id.to_owned());
        let event = audit::Event::new(audit::EventKind::ImpersonationStarted, Some(user_id), ctx)
            .with("adminId", admin_id)
            .with("sessionId", &new.session.id)
            .with("expiresAt", new.session.expires_at.to_iso());
        self.insert(new, event).await
    }

    /// Check a session token: the session and its user, or `None` if the token is
    /// unknown, expired or revoked. Renews the expiry at most once per `update_age`.
    pub async fn check(&self, token: &str) -> Result<Option<Checked>> {
        self.check_with(token, None, || true, true).await
    }

    /// Like [`Self::check`] for a token that came with a `proof` (a cookie's
    /// signature) that `authentic` verifies. The verification runs before any
    /// database read, and is skipped when this exact proof was already verified
    /// for the cached entry (the hot path does no HMAC). Without `renew`, the expiry
    /// is left as it is (for callers that cannot re-issue the cookie).
    pub async fn check_with(&self, token: &str, proof: Option<&str>, authentic: impl FnOnce() -> bool, renew: bool) -> Result<Option<Checked>> {
        let hash = crypto::token_hash(token);
        let now = Ts::now();
        let mut authentic = Some(authentic);
        let mut verify = || authentic.take().is_some_and(|f| f());
        let cached = if self.opts.cache_ttl.is_zero() {
            None
        } else {
            let map = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            match map.get(&hash).filter(|e| e.fetched.elapsed() < self.opts.cache_ttl) {
                Some(e) => {
                    let known = proof.is_none_or(|p| e.proof.get().is_some_and(|q| **q == *p));
                    if !known {
                        if !verify() {
                            return Ok(None);
                        }
                        if let Some(p) = proof {
                            let _ = e.proof.set(p.into());
                        }
                    }
                    Some(e.data.clone())
                }
                None => None,
            }
        };
        let data = match cached {
            Some(d) => d,
            None if !verify() => return Ok(None),
            None => match self.load(&hash).await? {
                Some(d) => {
                    let d = Arc::new(d);
                    self.cache_put(&hash, d.clone(), proof);
                    d
                }
                None => return Ok(None),
            },
        };
        let s = &data.session;
        if data.user.is_banned(now) {
            return Ok(None);
        }
        if now >= s.expires_at || now >= self.absolute_end(s) {
            self.delete_by_hash(&hash).await?;
            return Ok(None);
        }
        let renew_at = s.expires_at.plus_secs(-Self::secs(self.opts.expires_in) + Self::secs(self.opts.update_age));
        // An impersonation session keeps the end it was given, however much it is used.
        if renew && s.impersonated_by.is_none() && now >= renew_at {
            let new_exp = now.plus_secs(Self::secs(self.opts.expires_in)).min(self.absolute_end(s));
            if new_exp > s.expires_at {
                let n = db!(&self.db, |pool| {
                    sqlx::query("UPDATE kavach_session SET expires_at = $1, updated_at = $2 WHERE token = $3")
                        .bind(new_exp)
                        .bind(now)
                        .bind(&hash)
                        .execute(pool)
                        .await?
                        .rows_affected()
                });
                if n == 0 {
                    // Revoked meanwhile (another instance or process): the cached copy was stale.
                    self.forget(&format!("t:{hash}"));
                    return Ok(None);
                }
                let mut session = data.session.clone();
                session.expires_at = new_exp;
                session.updated_at = now;
                let renewed = Arc::new(SessionWithUser::new(session, data.user.clone()));
                self.cache_put(&hash, renewed.clone(), proof);
                return Ok(Some(Checked { data: renewed, renewed: true }));
            }
        }
        Ok(Some(Checked { data, renewed: false }))
    }

    async fn load(&self, hash: &str) -> Result<Option<SessionWithUser>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS}, {USER_COLUMNS_U} \
             FROM kavach_session s JOIN kavach_user u ON u.id = s.user_id WHERE s.token = $1 AND s.origin = 'kavach'"
        );
        db!(&self.db, |pool| {
            match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hash).fetch_optional(pool).await? {
                Some(r) => Ok(Some(SessionWithUser::new(session_from_row!(r), user_from_row!(r)))),
                None => Ok(None),
            }
        })
    }

    /// The user a session belongs to, named by its handle (the `token` of a listed
    /// session) or its secret token.
    pub async fn owner_of(&self, token_or_handle: &str) -> Result<Option<String>> {
        let hashed = crypto::token_hash(token_or_handle);
        db!(&self.db, |pool| {
            let row: Option<(String,)> = sqlx::query_as("SELECT user_id FROM kavach_session WHERE (token = $1 OR token = $2) AND origin = 'kavach'")
                .bind(token_or_handle)
                .bind(&hashed)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(|r| r.0))
        })
    }

    /// The user's unexpired sessions, newest first.
    pub async fn list(&self, user_id: &str) -> Result<Vec<Session>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM kavach_session s WHERE s.user_id = $1 AND s.expires_at > $2 ORDER BY s.created_at DESC");
        db!(&self.db, |pool| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).bind(Ts::now()).fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok(session_from_row!(r)))
                .filter(|s: &Result<Session>| s.as_ref().map(|s| Ts::now() < self.absolute_end(s)).unwrap_or(true))
                .collect()
        })
    }

    /// Revoke one of the user's sessions, named by its handle (the `token` field
    /// of [`Session`]) or by its secret token. Returns false if it was not theirs.
    pub async fn revoke(&self, user_id: &str, token_or_handle: &str, ctx: &RequestContext) -> Result<bool> {
        self.revoke_by(user_id, token_or_handle, None, ctx).await
    }

    /// [`Self::revoke`] by an admin (`by`, recorded in the audit log).
    pub(crate) async fn revoke_by(&self, user_id: &str, token_or_handle: &str, by: Option<&str>, ctx: &RequestContext) -> Result<bool> {
        if token_or_handle.is_empty() || token_or_handle.len() > 256 || token_or_handle.chars().any(|c| c.is_control()) {
            return Ok(false);
        }
        let given = token_or_handle.as_bytes();
        let hashed = crypto::token_hash(token_or_handle);
        let revoked = db!(&self.db, |pool| {
            let mut tx = pool.begin_write().await?;
            // A user has few sessions: compare each one's handle (and, for Kavach's own
            // rows, the hash of a presented secret token) here rather than in SQL, where
            // a copied row's handle cannot be computed.
            let rows: Vec<(String, String, String)> =
                sqlx::query_as("SELECT id, token, origin FROM kavach_session WHERE user_id = $1").bind(user_id).fetch_all(&mut *tx).await?;
            let found = rows.into_iter().find(|(_, token, origin)| {
                let native = origin != ORIGIN_COPIED;
                let handle = if native { token.clone() } else { crypto::token_hash(token) };
                crypto::ct_eq(handle.as_bytes(), given) || crypto::ct_eq(token.as_bytes(), if native { hashed.as_bytes() } else { given })
            });
            if let Some((id, _, _)) = &found {
                sqlx::query("DELETE FROM kavach_session WHERE id = $1 AND user_id = $2").bind(id).bind(user_id).execute(&mut *tx).await?;
                audit::append_in_tx!(
                    tx,
                    audit::Event::new(crate::audit::EventKind::SessionRevoked, Some(user_id), ctx).with("count", 1).with_some("adminId", by)
                );
            }
            tx.commit().await?;
            found
        });
        if let Some((_, token, _)) = &revoked {
            self.cache_invalidate(token).await;
        }
        Ok(revoked.is_some())
    }

    /// Revoke all of the user's sessions, except the one whose hash is `keep`.
    pub async fn revoke_all(&self, user_id: &str, keep: Option<&str>, ctx: &RequestContext, reason: &str) -> Result<u64> {
        self.revoke_all_with(user_id, keep, None, ctx, reason).await
    }

    /// Every session of the user, ended by an admin (`by`, recorded in the audit log).
    pub(crate) async fn revoke_all_by(&self, user_id: &str, by: Option<&str>, ctx: &RequestContext) -> Result<u64> {
        self.revoke_all_with(user_id, None, by, ctx, "admin").await
    }

    async fn revoke_all_with(&self, user_id: &str, keep: Option<&str>, by: Option<&str>, ctx: &RequestContext, reason: &str) -> Result<u64> {
        let keep = keep.unwrap_or("");
        let n = db!(&self.db, |pool| {
            let mut tx = pool.begin_write().await?;
            let n =
                sqlx::query("DELETE FROM kavach_session WHERE user_id = $1 AND token <> $2").bind(user_id).bind(keep).execute(&mut *tx).await?.rows_affected();
            if n > 0 {
                audit::append_in_tx!(
                    tx,
                    audit::Event::new(crate::audit::EventKind::SessionRevoked, Some(user_id), ctx)
                        .with("count", n)
                        .with("reason", reason)
                        .with_some("adminId", by)
                );
            }
            tx.commit().await?;
            n
        });
        self.cache_invalidate_user(user_id).await;
        Ok(n)
    }

    /// End this session (sign-out), recorded as `sign_out`.
    pub async fn sign_out(&self, session: &Session, ctx: &RequestContext) -> Result<()> {
        self.delete_by_hash(&session.token).await?;
        audit::append(&self.db, audit::Event::new(crate::audit::EventKind::SignOut, Some(&session.user_id), ctx).with("sessionId", &session.id)).await
    }

    /// Revoke every session of the user.
    pub async fn revoke_user(&self, user_id: &str, ctx: &RequestContext) -> Result<u64> {
        self.revoke_all(user_id, None, ctx, "revoke_all").await
    }

    /// Revoke every session of the user but `current`.
    pub async fn revoke_others(&self, current: &Session, ctx: &RequestContext) -> Result<u64> {
        self.revoke_all(&current.user_id, Some(&current.token), ctx, "revoke_others").await
    }

    /// Delete by hash without an audit record (expired sessions, sign-out).
    pub(crate) async fn delete_by_hash(&self, hash: &str) -> Result<()> {
        db!(&self.db, |pool| {
            sqlx::query("DELETE FROM kavach_session WHERE token = $1").bind(hash).execute(pool).await?;
        });
        self.cache_invalidate(hash).await;
        Ok(())
    }

    /// Remove expired sessions (run periodically).
    pub async fn purge_expired(&self) -> Result<u64> {
        db!(&self.db, |pool| { Ok(sqlx::query("DELETE FROM kavach_session WHERE expires_at < $1").bind(Ts::now()).execute(pool).await?.rows_affected()) })
    }

    fn cache_put(&self, hash: &str, data: Arc<SessionWithUser>, proof: Option<&str>) {
        if self.opts.cache_ttl.is_zero() {
            return;
        }
        let mut map = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= CACHE_MAX {
            let ttl = self.opts.cache_ttl;
            map.retain(|_, e| e.fetched.elapsed() < ttl);
            if map.len() >= CACHE_MAX {
                map.clear();
            }
        }
        let entry = Entry { data, fetched: Instant::now(), proof: Default::default() };
        if let Some(p) = proof {
            let _ = entry.proof.set(p.into());
        }
        map.insert(hash.to_owned(), entry);
    }

    /// Drop entries locally (on a notification from another instance).
    pub(crate) fn forget(&self, msg: &str) {
        if !msg.starts_with("t:") {
            self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        match msg.split_once(':') {
            Some(("a" | "c", _)) => {}
            Some(("t", h)) => {
                self.cache.write().unwrap_or_else(PoisonError::into_inner).remove(h);
            }
            Some(("u", uid)) => {
                self.cache.write().unwrap_or_else(PoisonError::into_inner).retain(|_, e| e.data.user.id != uid);
                self.membership_epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                for users in self.memberships.write().unwrap_or_else(PoisonError::into_inner).values_mut() {
                    users.remove(uid);
                }
            }
            Some(("m", org)) => {
                self.membership_epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                self.memberships.write().unwrap_or_else(PoisonError::into_inner).remove(org);
            }
            _ => self.forget_all(),
        }
    }

    pub(crate) fn forget_all(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.cache.write().unwrap_or_else(PoisonError::into_inner).clear();
        self.membership_epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.memberships.write().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// The invalidation count to pass to [`Self::membership_put`], taken before the read.
    pub(crate) fn membership_epoch(&self) -> u64 {
        self.membership_epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The cached membership of `user` in `org`: `Some(role field or None)` when known
    /// and fresh.
    pub(crate) fn membership(&self, org: &str, user: &str) -> Option<Option<String>> {
        if self.opts.cache_ttl.is_zero() {
            return None;
        }
        let map = self.memberships.read().unwrap_or_else(PoisonError::into_inner);
        map.get(org).and_then(|users| users.get(user)).filter(|(_, at)| at.elapsed() < self.opts.cache_ttl).map(|(role, _)| role.clone())
    }

    /// Remember a membership read from the database (`None`: not a member), unless an
    /// invalidation came after `epoch` (taken before the read began): the read may be stale.
    pub(crate) fn membership_put(&self, org: &str, user: &str, role: Option<String>, read_at: Instant, epoch: u64) {
        if self.opts.cache_ttl.is_zero() {
            return;
        }
        let mut map = self.memberships.write().unwrap_or_else(PoisonError::into_inner);
        if self.membership_epoch() != epoch {
            return;
        }
        if map.len() >= CACHE_MAX || map.get(org).is_some_and(|users| users.len() >= CACHE_MAX) {
            map.clear();
        }
        map.entry(org.to_owned()).or_default().insert(user.to_owned(), (role, read_at));
    }

    /// Does this instance cache what it reads (`cache_ttl` is not zero)?
    pub(crate) fn caches(&self) -> bool {
        !self.opts.cache_ttl.is_zero()
    }

    /// The count of invalidations so far (see [`crate::cache`]).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// After a change that can stop or narrow an agent: no instance keeps using what it
    /// cached about any agent.
    pub(crate) async fn agents_changed(&self) {
        self.broadcast("a:*").await;
    }

    /// After a change to an OAuth client (its secret, metadata, status, deletion): no
    /// instance keeps using a cached copy of it.
    pub(crate) async fn client_changed(&self, client_id: &str) {
        self.broadcast(&format!("c:{client_id}")).await;
    }

    /// Drop every cached membership of the organization, here and on every instance.
    pub async fn membership_invalidate(&self, org: &str) {
        self.broadcast(&format!("m:{org}")).await;
    }

    async fn broadcast(&self, msg: &str) {
        self.forget(msg);
        if let Db::Postgres(pool) = &self.db
            && let Err(e) = sqlx::query("SELECT pg_notify($1, $2)").bind(NOTIFY_CHANNEL).bind(msg).execute(pool).await
        {
            tracing::warn!(error = %e, "could not broadcast a session-cache invalidation; other instances catch up within the cache TTL");
        }
    }

    pub(crate) async fn cache_invalidate(&self, hash: &str) {
        self.broadcast(&format!("t:{hash}")).await;
    }

    /// Drop every cached session of this user (after a user change or revocation).
    pub async fn cache_invalidate_user(&self, user_id: &str) {
        self.broadcast(&format!("u:{user_id}")).await;
    }
}
