//! The append-only security event log. Each record carries the SHA-256 of its
//! predecessor, and a one-row head (`kavach_audit_head`) holds the last sequence
//! number and hash, so `verify` detects an edited, deleted, inserted or reordered
//! record, and a truncated tail. Appends are serialised by the head row's lock
//! (PostgreSQL row lock, SQLite write lock), so several instances never fork the chain.

use crate::RequestContext;
use crate::error::Result;
use crate::store::{BeginWrite, Db, Ts};
use crate::{crypto, db};
use serde::Serialize;
use sqlx::Row;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The kinds of audit event: one catalogue, with stable names (`user.created`,
/// `sign_in.failure`, ...) that the log stores and webhooks will publish. Each is
/// described in docs/audit-log.md (a test checks that the two lists agree). Adding a kind
/// is adding a variant here and a row there; a name never changes once released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    UserCreated,
    UserUpdated,
    UserDeleted,
    UserBanned,
    UserUnbanned,
    SignUpExistingEmail,
    SignInSuccess,
    SignInFailure,
    SignInBlocked,
    SignOut,
    SessionRevoked,
    SessionMigrated,
    PasswordChanged,
    PasswordResetRequested,
    PasswordReset,
    EmailVerified,
    AnonymousLinked,
    PhoneNumberVerified,
    ApiKeyCreated,
    ApiKeyUpdated,
    ApiKeyDeleted,
    WalletLinked,
    WalletUnlinked,
    PasskeyAdded,
    PasskeyRenamed,
    PasskeyDeleted,
    PasskeyCounterRegressed,
    AccountLinked,
    EmailChangeRequested,
    EmailChanged,
    Import,
    OAuthClientRegistered,
    OAuthConsentGranted,
    OAuthConsentDenied,
    OAuthDeviceApproved,
    OAuthDeviceDenied,
    OAuthTokenIssued,
    OAuthCodeReplayed,
    OAuthRefreshReused,
    OAuthTokenRevoked,
    OAuthGrantRevoked,
    OrganizationCreated,
    OrganizationUpdated,
    OrganizationDeleted,
    MemberAdded,
    MemberRemoved,
    MemberRoleUpdated,
    InvitationCreated,
    InvitationAccepted,
    InvitationRejected,
    InvitationCanceled,
    TeamCreated,
    TeamUpdated,
    TeamDeleted,
    TeamMemberAdded,
    TeamMemberRemoved,
    OrganizationRoleCreated,
    OrganizationRoleUpdated,
    OrganizationRoleDeleted,
    UserRoleChanged,
    UserPasswordSet,
    ImpersonationStarted,
    ImpersonationStopped,
    AgentCreated,
    AgentDelegated,
    AgentUpdated,
    AgentSuspended,
    AgentActivated,
    AgentRevoked,
    AgentDeleted,
    AgentKeyCreated,
    AgentKeyRotated,
    AgentKeyRevoked,
    AgentPermissionGranted,
    AgentPermissionRevoked,
    AgentDecision,
    AgentApprovalRequested,
    AgentApprovalGranted,
    AgentApprovalDenied,
    AgentBudgetSet,
    AgentBudgetDeleted,
    AgentBudgetExceeded,
    AgentSessionCreated,
    AgentAnomaly,
    AuditRead,
    AuditExported,
    TwoFactorEnabled,
    TwoFactorDisabled,
    TwoFactorChallenged,
    TwoFactorFailed,
    TwoFactorBackupCodesGenerated,
}

impl EventKind {
    /// Every kind, in the order of the documentation.
    pub const ALL: &'static [EventKind] = &[
        EventKind::UserCreated,
        EventKind::UserUpdated,
        EventKind::UserDeleted,
        EventKind::UserBanned,
        EventKind::UserUnbanned,
        EventKind::SignUpExistingEmail,
        EventKind::SignInSuccess,
        EventKind::SignInFailure,
        EventKind::SignInBlocked,
        EventKind::SignOut,
        EventKind::SessionRevoked,
        EventKind::SessionMigrated,
        EventKind::PasswordChanged,
        EventKind::PasswordResetRequested,
        EventKind::PasswordReset,
        EventKind::EmailVerified,
        EventKind::AnonymousLinked,
        EventKind::PhoneNumberVerified,
        EventKind::ApiKeyCreated,
        EventKind::ApiKeyUpdated,
        EventKind::ApiKeyDeleted,
        EventKind::WalletLinked,
        EventKind::WalletUnlinked,
        EventKind::PasskeyAdded,
        EventKind::PasskeyRenamed,
        EventKind::PasskeyDeleted,
        EventKind::PasskeyCounterRegressed,
        EventKind::AccountLinked,
        EventKind::EmailChangeRequested,
        EventKind::EmailChanged,
        EventKind::Import,
        EventKind::OAuthClientRegistered,
        EventKind::OAuthConsentGranted,
        EventKind::OAuthConsentDenied,
        EventKind::OAuthDeviceApproved,
        EventKind::OAuthDeviceDenied,
        EventKind::OAuthTokenIssued,
        EventKind::OAuthCodeReplayed,
        EventKind::OAuthRefreshReused,
        EventKind::OAuthTokenRevoked,
        EventKind::OAuthGrantRevoked,
        EventKind::OrganizationCreated,
        EventKind::OrganizationUpdated,
        EventKind::OrganizationDeleted,
        EventKind::MemberAdded,
        EventKind::MemberRemoved,
        EventKind::MemberRoleUpdated,
        EventKind::InvitationCreated,
        EventKind::InvitationAccepted,
        EventKind::InvitationRejected,
        EventKind::InvitationCanceled,
        EventKind::TeamCreated,
        EventKind::TeamUpdated,
        EventKind::TeamDeleted,
        EventKind::TeamMemberAdded,
        EventKind::TeamMemberRemoved,
        EventKind::OrganizationRoleCreated,
        EventKind::OrganizationRoleUpdated,
        EventKind::OrganizationRoleDeleted,
        EventKind::UserRoleChanged,
        EventKind::UserPasswordSet,
        EventKind::ImpersonationStarted,
        EventKind::ImpersonationStopped,
        EventKind::AgentCreated,
        EventKind::AgentDelegated,
        EventKind::AgentUpdated,
        EventKind::AgentSuspended,
        EventKind::AgentActivated,
        EventKind::AgentRevoked,
        EventKind::AgentDeleted,
        EventKind::AgentKeyCreated,
        EventKind::AgentKeyRotated,
        EventKind::AgentKeyRevoked,
        EventKind::AgentPermissionGranted,
        EventKind::AgentPermissionRevoked,
        EventKind::AgentDecision,
        EventKind::AgentApprovalRequested,
        EventKind::AgentApprovalGranted,
        EventKind::AgentApprovalDenied,
        EventKind::AgentBudgetSet,
        EventKind::AgentBudgetDeleted,
        EventKind::AgentBudgetExceeded,
        EventKind::AgentSessionCreated,
        EventKind::AgentAnomaly,
        EventKind::AuditRead,
        EventKind::AuditExported,
        EventKind::TwoFactorEnabled,
        EventKind::TwoFactorDisabled,
        EventKind::TwoFactorChallenged,
        EventKind::TwoFactorFailed,
        EventKind::TwoFactorBackupCodesGenerated,
    ];

    /// The stable name stored in `kavach_audit_log.kind`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::UserCreated => "user.created",
            EventKind::UserUpdated => "user.updated",
            EventKind::UserDeleted => "user.deleted",
            EventKind::UserBanned => "user.banned",
            EventKind::UserUnbanned => "user.unbanned",
            EventKind::SignUpExistingEmail => "sign_up.existing_email",
            EventKind::SignInSuccess => "sign_in.success",
            EventKind::SignInFailure => "sign_in.failure",
            EventKind::SignInBlocked => "sign_in.blocked",
            EventKind::SignOut => "sign_out",
            EventKind::SessionRevoked => "session.revoked",
            EventKind::SessionMigrated => "session.migrated",
            EventKind::PasswordChanged => "password.changed",
            EventKind::PasswordResetRequested => "password.reset_requested",
            EventKind::PasswordReset => "password.reset",
            EventKind::EmailVerified => "email.verified",
            EventKind::AnonymousLinked => "anonymous.linked",
            EventKind::PhoneNumberVerified => "phone_number.verified",
            EventKind::ApiKeyCreated => "api_key.created",
            EventKind::ApiKeyUpdated => "api_key.updated",
            EventKind::ApiKeyDeleted => "api_key.deleted",
            EventKind::WalletLinked => "wallet.linked",
            EventKind::WalletUnlinked => "wallet.unlinked",
            EventKind::PasskeyAdded => "passkey.added",
            EventKind::PasskeyRenamed => "passkey.renamed",
            EventKind::PasskeyDeleted => "passkey.deleted",
            EventKind::PasskeyCounterRegressed => "passkey.counter_regressed",
            EventKind::AccountLinked => "account.linked",
            EventKind::EmailChangeRequested => "email.change_requested",
            EventKind::EmailChanged => "email.changed",
            EventKind::Import => "import",
            EventKind::OAuthClientRegistered => "oauth.client.registered",
            EventKind::OAuthConsentGranted => "oauth.consent.granted",
            EventKind::OAuthConsentDenied => "oauth.consent.denied",
            EventKind::OAuthDeviceApproved => "oauth.device.approved",
            EventKind::OAuthDeviceDenied => "oauth.device.denied",
            EventKind::OAuthTokenIssued => "oauth.token.issued",
            EventKind::OAuthCodeReplayed => "oauth.code.replayed",
            EventKind::OAuthRefreshReused => "oauth.refresh.reused",
            EventKind::OAuthTokenRevoked => "oauth.token.revoked",
            EventKind::OAuthGrantRevoked => "oauth.grant.revoked",
            EventKind::OrganizationCreated => "organization.created",
            EventKind::OrganizationUpdated => "organization.updated",
            EventKind::OrganizationDeleted => "organization.deleted",
            EventKind::MemberAdded => "organization.member_added",
            EventKind::MemberRemoved => "organization.member_removed",
            EventKind::MemberRoleUpdated => "organization.member_role_updated",
            EventKind::InvitationCreated => "organization.invitation_created",
            EventKind::InvitationAccepted => "organization.invitation_accepted",
            EventKind::InvitationRejected => "organization.invitation_rejected",
            EventKind::InvitationCanceled => "organization.invitation_canceled",
            EventKind::TeamCreated => "organization.team_created",
            EventKind::TeamUpdated => "organization.team_updated",
            EventKind::TeamDeleted => "organization.team_deleted",
            EventKind::TeamMemberAdded => "organization.team_member_added",
            EventKind::TeamMemberRemoved => "organization.team_member_removed",
            EventKind::OrganizationRoleCreated => "organization.role_created",
            EventKind::OrganizationRoleUpdated => "organization.role_updated",
            EventKind::OrganizationRoleDeleted => "organization.role_deleted",
            EventKind::UserRoleChanged => "user.role_changed",
            EventKind::UserPasswordSet => "user.password_set",
            EventKind::ImpersonationStarted => "admin.impersonation_started",
            EventKind::ImpersonationStopped => "admin.impersonation_stopped",
            EventKind::AgentCreated => "agent.created",
            EventKind::AgentDelegated => "agent.delegated",
            EventKind::AgentUpdated => "agent.updated",
            EventKind::AgentSuspended => "agent.suspended",
            EventKind::AgentActivated => "agent.activated",
            EventKind::AgentRevoked => "agent.revoked",
            EventKind::AgentDeleted => "agent.deleted",
            EventKind::AgentKeyCreated => "agent.key_created",
            EventKind::AgentKeyRotated => "agent.key_rotated",
            EventKind::AgentKeyRevoked => "agent.key_revoked",
            EventKind::AgentPermissionGranted => "agent.permission_granted",
            EventKind::AgentPermissionRevoked => "agent.permission_revoked",
            EventKind::AgentDecision => "agent.decision",
            EventKind::AgentApprovalRequested => "agent.approval_requested",
            EventKind::AgentApprovalGranted => "agent.approval_granted",
            EventKind::AgentApprovalDenied => "agent.approval_denied",
            EventKind::AgentBudgetSet => "agent.budget_set",
            EventKind::AgentBudgetDeleted => "agent.budget_deleted",
            EventKind::AgentBudgetExceeded => "agent.budget_exceeded",
            EventKind::AgentSessionCreated => "agent.session_created",
            EventKind::AgentAnomaly => "agent.anomaly",
            EventKind::AuditRead => "audit.read",
            EventKind::AuditExported => "audit.exported",
            EventKind::TwoFactorEnabled => "two_factor.enabled",
            EventKind::TwoFactorDisabled => "two_factor.disabled",
            EventKind::TwoFactorChallenged => "two_factor.challenged",
            EventKind::TwoFactorFailed => "two_factor.failed",
            EventKind::TwoFactorBackupCodesGenerated => "two_factor.backup_codes_generated",
        }
    }

    /// The kind of a stored name.
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.iter().copied().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A security event to record.
#[derive(Clone, Debug)]
pub struct Event {
    /// The record's id, known before it is written (a decision returns it as its audit id).
    pub id: String,
    pub kind: EventKind,
    pub user_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub data: serde_json::Value,
}

impl Event {
    pub fn new(kind: EventKind, user_id: Option<&str>, ctx: &RequestContext) -> Self {
        Event {
            id: crypto::new_id(),
            kind,
            user_id: user_id.map(str::to_owned),
            ip_address: ctx.ip.map(|i| i.to_string()),
            user_agent: ctx.user_agent.clone(),
            data: serde_json::Value::Object(Default::default()),
        }
    }
    /// [`Self::with`] when there is a value (the acting admin, when one acted).
    pub fn with_some(self, key: &str, value: Option<impl Serialize>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        if let serde_json::Value::Object(m) = &mut self.data {
            m.insert(key.to_owned(), serde_json::to_value(value).unwrap_or(serde_json::Value::Null));
        }
        self
    }
}

/// A stored record.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub seq: i64,
    pub id: String,
    pub created_at: Ts,
    pub kind: String,
    pub user_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub data: String,
    pub prev_hash: String,
    pub hash: String,
    /// `created_at` exactly as stored, in microseconds (the hash covers milliseconds:
    /// a stored value with more precision than that was edited).
    #[serde(skip)]
    pub created_at_micros: i64,
}

/// The hash of a record: SHA-256 over the previous hash and a canonical JSON
/// array of the record's fields.
pub fn record_hash(r: &Record) -> String {
    // A JSON array of plain values: the same text `serde_json::to_string` of the tuple gives.
    let canonical = serde_json::json!([r.seq, r.id, r.created_at.0, r.kind, r.user_id, r.ip_address, r.user_agent, r.data]).to_string();
    crypto::sha256_hex(format!("{}\n{}", r.prev_hash, canonical).as_bytes())
}

/// Append `$event` inside the open transaction `$tx` (the caller commits).
macro_rules! append_in_tx {
    ($tx:expr, $event:expr) => {{
        let event: $crate::audit::Event = $event;
        let (seq, prev_hash): (i64, String) =
            sqlx::query_as("UPDATE kavach_audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash").fetch_one(&mut *$tx).await?;
        let mut rec = $crate::audit::Record {
            seq,
            id: event.id,
            created_at: $crate::store::Ts::now(),
            kind: event.kind.as_str().to_owned(),
            user_id: event.user_id,
            ip_address: event.ip_address,
            user_agent: event.user_agent,
            data: event.data.to_string(),
            prev_hash,
            hash: String::new(),
            created_at_micros: 0,
        };
        rec.hash = $crate::audit::record_hash(&rec);
        sqlx::query(
            "INSERT INTO kavach_audit_event (seq, id, created_at, kind, user_id, ip_address, user_agent, data, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(rec.seq)
        .bind(&rec.id)
        .bind(rec.created_at)
        .bind(&rec.kind)
        .bind(&rec.user_id)
        .bind(&rec.ip_address)
        .bind(&rec.user_agent)
        .bind(&rec.data)
        .bind(&rec.prev_hash)
        .bind(&rec.hash)
        .execute(&mut *$tx)
        .await?;
        sqlx::query("UPDATE kavach_audit_head SET hash = $1 WHERE id = 1").bind(&rec.hash).execute(&mut *$tx).await?;
    }};
}
pub(crate) use append_in_tx;

/// Append `$events` (a `Vec<Event>`) inside the open transaction `$tx` with one head
/// update and one multi-row insert (grouped writers append many events at once).
macro_rules! append_many_in_tx {
    ($tx:expr, $events:expr) => {{
        let events: Vec<$crate::audit::Event> = $events;
        if !events.is_empty() {
            let n = events.len() as i64;
            let (last, mut prev_hash): (i64, String) =
                sqlx::query_as("UPDATE kavach_audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash").bind(n).fetch_one(&mut *$tx).await?;
            let now = $crate::store::Ts::now();
            let mut recs = Vec::with_capacity(events.len());
            for (i, event) in events.into_iter().enumerate() {
                let mut rec = $crate::audit::Record {
                    seq: last - n + 1 + i as i64,
                    id: event.id,
                    created_at: now,
                    kind: event.kind.as_str().to_owned(),
                    user_id: event.user_id,
                    ip_address: event.ip_address,
                    user_agent: event.user_agent,
                    data: event.data.to_string(),
                    prev_hash: std::mem::take(&mut prev_hash),
                    hash: String::new(),
                    created_at_micros: 0,
                };
                rec.hash = $crate::audit::record_hash(&rec);
                prev_hash = rec.hash.clone();
                recs.push(rec);
            }
            let sql = format!(
                "INSERT INTO kavach_audit_event (seq, id, created_at, kind, user_id, ip_address, user_agent, data, prev_hash, hash) VALUES {}",
                $tx.values_list(recs.len(), 10)
            );
            // Only placeholders are generated; every value is bound. Not kept prepared: one
            // statement per group size would sit in every connection's statement cache.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
            for r in &recs {
                q = q
                    .bind(r.seq)
                    .bind(&r.id)
                    .bind(r.created_at)
                    .bind(&r.kind)
                    .bind(&r.user_id)
                    .bind(&r.ip_address)
                    .bind(&r.user_agent)
                    .bind(&r.data)
                    .bind(&r.prev_hash)
                    .bind(&r.hash);
            }
            q.execute(&mut *$tx).await?;
            sqlx::query("UPDATE kavach_audit_head SET hash = $1 WHERE id = 1").bind(&prev_hash).execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use append_many_in_tx;

/// Append one event in its own transaction.
pub async fn append(db: &Db, event: Event) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        append_in_tx!(tx, event);
        tx.commit().await?;
    });
    Ok(())
}

/// The columns a [`Record`] is read from (`created_exact`: `created_at` as stored).
const RECORD_COLUMNS: &str = "seq, id, created_at, created_at AS created_exact, kind, user_id, ip_address, user_agent, data, prev_hash, hash";

/// A [`Record`] from a row of [`RECORD_COLUMNS`] (either database's row type).
macro_rules! record_from_row {
    ($r:expr) => {
        Ok(Record {
            seq: $r.try_get("seq")?,
            id: $r.try_get("id")?,
            created_at: $r.try_get("created_at")?,
            kind: $r.try_get("kind")?,
            user_id: $r.try_get("user_id")?,
            ip_address: $r.try_get("ip_address")?,
            user_agent: $r.try_get("user_agent")?,
            data: $r.try_get("data")?,
            prev_hash: $r.try_get("prev_hash")?,
            hash: $r.try_get("hash")?,
            created_at_micros: $r.try_get::<crate::store::ExactTs, _>("created_exact")?.0,
        })
    };
}

/// Records in sequence order, `limit` at a time after `after_seq`.
pub async fn page(db: &Db, after_seq: i64, limit: i64) -> Result<Vec<Record>> {
    let sql = format!("SELECT {RECORD_COLUMNS} FROM kavach_audit_event WHERE seq > $1 ORDER BY seq LIMIT $2");
    db!(db, |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after_seq).bind(limit).fetch_all(pool).await?;
        rows.iter().map(|r| record_from_row!(r)).collect()
    })
}

/// [`query`]: which records, from where, how many.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// One kind (`agent.decision`), or a family with a trailing `*` (`agent.*`).
    pub kind: Option<String>,
    /// The user the record is about.
    pub user_id: Option<String>,
    /// The agent a record names (`agentId`).
    pub agent_id: Option<String>,
    /// RFC 3339 times: records at or after `since`, before `until`.
    pub since: Option<String>,
    pub until: Option<String>,
    /// The cursor: records after this sequence number (the last page's `nextCursor`).
    pub after: Option<i64>,
    /// 1 to 1000; default 100.
    pub limit: Option<i64>,
}

fn bad_query(msg: impl Into<std::borrow::Cow<'static, str>>) -> crate::Error {
    crate::Error::bad_request(crate::Code::ValidationError, msg)
}

fn time_of(s: &Option<String>, name: &str) -> Result<Option<Ts>> {
    match s {
        None => Ok(None),
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map(|t| Some(Ts::from_offset(t)))
            .map_err(|_| bad_query(format!("{name} is an RFC 3339 time (2026-12-03T10:00:00Z)"))),
    }
}

/// Records matching `q` in sequence order, and the cursor of the next page (`None`: the
/// last). Filters run in SQL, before the limit, so pages are exact.
pub async fn query(db: &Db, q: &Query) -> Result<(Vec<Record>, Option<i64>)> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(bad_query("limit is 1 to 1000"));
    }
    let ok_text = |s: &str| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    let mut clauses = vec!["seq > $1".to_owned()];
    let mut binds: Vec<String> = Vec::new();
    let mut add = |clause: &str, value: String| {
        binds.push(value);
        clauses.push(clause.replace('?', &format!("${}", binds.len() + 1)));
    };
    if let Some(k) = &q.kind {
        let k = k.strip_suffix('*').map(|p| (p, true)).unwrap_or((k.as_str(), false));
        if !(ok_text(k.0) || k.1 && k.0.is_empty()) {
            return Err(bad_query("kind is an event kind (agent.decision), or a family ending in * (agent.*)"));
        }
        if k.1 { add("kind LIKE ?", format!("{}%", k.0)) } else { add("kind = ?", k.0.to_owned()) }
    }
    if let Some(u) = &q.user_id {
        add("user_id = ?", u.clone());
    }
    if let Some(a) = &q.agent_id {
        if !ok_text(a) {
            return Err(bad_query("agentId is an agent id"));
        }
        // The data is compact JSON written by Kavach: the member reads exactly so.
        add("data LIKE ?", format!("%\"agentId\":\"{a}\"%"));
    }
    let since = time_of(&q.since, "since")?;
    let until = time_of(&q.until, "until")?;
    let n = binds.len();
    if since.is_some() {
        clauses.push(format!("created_at >= ${}", n + 2));
    }
    if until.is_some() {
        clauses.push(format!("created_at < ${}", n + 2 + usize::from(since.is_some())));
    }
    let sql = format!("SELECT {RECORD_COLUMNS} FROM kavach_audit_event WHERE {} ORDER BY seq LIMIT {}", clauses.join(" AND "), limit + 1);
    let mut recs: Vec<Record> = db!(db, |pool| {
        let mut qy = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(q.after.unwrap_or(0));
        for b in &binds {
            qy = qy.bind(b);
        }
        if let Some(t) = since {
            qy = qy.bind(t);
        }
        if let Some(t) = until {
            qy = qy.bind(t);
        }
        let rows = qy.fetch_all(pool).await?;
        rows.iter().map(|r| record_from_row!(r)).collect::<Result<Vec<Record>>>()
    })?;
    let more = recs.len() as i64 > limit;
    recs.truncate(limit as usize);
    let next = if more { recs.last().map(|r| r.seq) } else { None };
    Ok((recs, next))
}

/// One record as a CSV line (RFC 4180: every field quoted when it holds a comma, a quote
/// or a line break, quotes doubled; CRLF at the end).
pub fn csv_line(r: &Record) -> String {
    let q = |s: &str| if s.contains([',', '"', '\r', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() };
    let o = |s: &Option<String>| q(s.as_deref().unwrap_or(""));
    format!(
        "{},{},{},{},{},{},{},{},{},{}\r\n",
        r.seq,
        q(&r.id),
        q(&r.created_at.to_iso()),
        q(&r.kind),
        o(&r.user_id),
        o(&r.ip_address),
        o(&r.user_agent),
        q(&r.data),
        q(&r.prev_hash),
        q(&r.hash)
    )
}

/// The CSV header line.
pub const CSV_HEADER: &str = "seq,id,createdAt,kind,userId,ipAddress,userAgent,data,prevHash,hash\r\n";

/// The head of the chain: (sequence number, hash).
pub async fn head(db: &Db) -> Result<Option<(i64, String)>> {
    db!(db, |pool| { Ok(sqlx::query_as("SELECT seq, hash FROM kavach_audit_head WHERE id = 1").fetch_optional(pool).await?) })
}

/// Does record `seq` still have `hash`? (A checkpoint held off the box proves the chain up
/// to it was not rewritten since: with [`verify`], nothing before it was either.)
pub async fn has_record(db: &Db, seq: i64, hash: &str) -> Result<bool> {
    let stored: Option<(String,)> =
        db!(db, |pool| { sqlx::query_as("SELECT hash FROM kavach_audit_event WHERE seq = $1").bind(seq).fetch_optional(pool).await? });
    Ok(stored.is_some_and(|(h,)| crypto::ct_eq(h.as_bytes(), hash.as_bytes())))
}

/// The result of [`verify`].
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub records: u64,
    pub head_seq: i64,
    pub head_hash: String,
    /// Empty when the chain is intact.
    pub problems: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Walk the whole chain and report every break.
pub async fn verify(db: &Db) -> Result<Report> {
    let head: Option<(i64, String)> = db!(db, |pool| { sqlx::query_as("SELECT seq, hash FROM kavach_audit_head WHERE id = 1").fetch_optional(pool).await? });
    let mut problems = Vec::new();
    // The head row is never deleted by Kavach: its absence is tampering, reported as such.
    let (head_seq, head_hash) = head.unwrap_or_else(|| {
        problems.push("the head row (kavach_audit_head) is missing: it was deleted".to_owned());
        (-1, String::new())
    });
    let head_known = head_seq >= 0;
    let (mut expected_seq, mut prev) = (1i64, GENESIS.to_owned());
    let mut records = 0u64;
    let mut after = 0i64;
    loop {
        let batch = page(db, after, 1000).await?;
        if batch.is_empty() {
            break;
        }
        for r in &batch {
            records += 1;
            if r.seq != expected_seq {
                problems.push(format!("record {}: expected sequence number {expected_seq} (a record was deleted, inserted or reordered)", r.seq));
            }
            if r.prev_hash != prev {
                problems.push(format!("record {}: does not link to the record before it", r.seq));
            }
            if record_hash(r) != r.hash || r.created_at_micros != r.created_at.0.saturating_mul(1000) {
                problems.push(format!("record {}: content does not match its hash (edited)", r.seq));
            }
            expected_seq = r.seq + 1;
            prev = r.hash.clone();
            after = r.seq;
        }
    }
    if head_known && (head_seq != expected_seq - 1 || head_hash != prev) {
        problems.push(format!(
            "head says {head_seq} records ending in {head_hash}, but the chain ends at {} with {prev} (records were removed from or added to the end)",
            expected_seq - 1
        ));
    }
    Ok(Report { records, head_seq, head_hash, problems })
}

/// Records of high-volume events (a token issued), appended in groups by one background
/// writer per process: the request that records one does not wait for the database, and
/// the records of up to [`QUEUE_WINDOW`] are written in one transaction (up to 256 at a
/// time), so they cost the database's single writer (SQLite) a few transactions a second
/// whatever the rate. A record is in the database within about that window; a crash
/// (not a shutdown: [`Queue::flush`] runs first) can lose the records of that window.
/// Every other record commits with the change it describes. If records arrive faster
/// than they can be written, [`Queue::push`] waits once [`QUEUE_BOUND`] are waiting.
pub(crate) struct Queue {
    db: Db,
    sender: std::sync::OnceLock<tokio::sync::mpsc::Sender<Queued>>,
}

enum Queued {
    Record(Event),
    /// A record whose sender waits until it is committed (`Err` when it could not be).
    Durable(Event, tokio::sync::oneshot::Sender<bool>),
    /// Answered once every record queued before it is written (or given up on).
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Records per transaction (ten parameters each: under both databases' limits).
const QUEUE_GROUP: usize = 256;
/// How long the writer gathers records before a transaction.
pub(crate) const QUEUE_WINDOW: std::time::Duration = std::time::Duration::from_millis(10);
/// Records waiting before [`Queue::push`] waits for the writer (bounded memory).
pub(crate) const QUEUE_BOUND: usize = 16_384;

impl Queue {
    pub(crate) fn new(db: Db) -> Self {
        Queue { db, sender: std::sync::OnceLock::new() }
    }

    fn sender(&self) -> &tokio::sync::mpsc::Sender<Queued> {
        self.sender.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(QUEUE_BOUND);
            tokio::spawn(write_queued(self.db.clone(), rx));
            tx
        })
    }

    /// Queue `event` (waits only while [`QUEUE_BOUND`] records are waiting).
    pub(crate) async fn push(&self, event: Event) {
        if let Err(tokio::sync::mpsc::error::SendError(Queued::Record(e) | Queued::Durable(e, _))) = self.sender().send(Queued::Record(event)).await {
            // The writer's runtime is gone: nothing can write it now.
            tracing::error!(kind = e.kind.as_str(), "an audit record could not be queued (the writer stopped)");
        }
    }

    /// Append `event` durably: wait until the transaction holding it has committed. Records
    /// from concurrent requests share transactions (group commit: the writer takes every
    /// record waiting when it starts one), so the head row is locked once per group, not
    /// once per record. Fails (503) when the record could not be written.
    pub(crate) async fn append(&self, event: Event) -> Result<()> {
        let (done, wait) = tokio::sync::oneshot::channel();
        let unavailable = || crate::Error::new(crate::Kind::Unavailable, crate::Code::DatabaseError, "The audit log cannot be written");
        self.sender().send(Queued::Durable(event, done)).await.map_err(|_| unavailable())?;
        match wait.await {
            Ok(true) => Ok(()),
            _ => Err(unavailable()),
        }
    }

    /// Wait until every record queued so far is written.
    pub(crate) async fn flush(&self) {
        let Some(sender) = self.sender.get() else { return };
        let (done, wait) = tokio::sync::oneshot::channel();
        if sender.send(Queued::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_queued(db: Db, mut rx: tokio::sync::mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(QUEUE_GROUP);
    while rx.recv_many(&mut batch, QUEUE_GROUP).await > 0 {
        // Gather for a moment (unless a flush is waiting), so a busy server writes a few
        // large groups rather than many small ones that would hold the database's writer.
        // A durable record's sender is waiting: write what is there now (records arriving
        // meanwhile form the next group).
        let deadline = tokio::time::Instant::now() + QUEUE_WINDOW;
        while batch.len() < QUEUE_GROUP && !batch.iter().any(|q| matches!(q, Queued::Flush(_) | Queued::Durable(..))) {
            let room = QUEUE_GROUP - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        let mut events = Vec::new();
        let mut flushes = Vec::new();
        let mut waiting = Vec::new();
        for q in batch.drain(..) {
            match q {
                Queued::Record(e) => events.push(e),
                Queued::Durable(e, done) => {
                    events.push(e);
                    waiting.push(done);
                }
                Queued::Flush(f) => flushes.push(f),
            }
        }
        let mut written = events.is_empty();
        if !events.is_empty() {
            // A database that is down for a moment must not lose records: try a few times
            // (a durable record's sender waits, then gets an error).
            let attempts: u32 = if waiting.is_empty() { 5 } else { 2 };
            for attempt in 1..=attempts {
                match append_group(&db, events.clone()).await {
                    Ok(()) => {
                        written = true;
                        break;
                    }
                    Err(e) if attempt < attempts => {
                        tracing::warn!(error = %e, records = events.len(), attempt, "writing queued audit records failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
                    }
                    Err(e) => tracing::error!(error = %e, records = events.len(), "queued audit records were lost"),
                }
            }
        }
        for w in waiting {
            let _ = w.send(written);
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

async fn append_group(db: &Db, events: Vec<Event>) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        append_many_in_tx!(tx, events);
        tx.commit().await?;
    });
    Ok(())
}

#[cfg(test)]
mod catalogue_tests {
    use super::EventKind;

    /// The kinds in the first column of docs/audit-log.md's table.
    fn documented() -> std::collections::BTreeSet<String> {
        crate::error::doc_table_names(include_str!("../../../docs/audit-log.md"), None)
    }

    #[test]
    fn every_event_kind_is_documented_and_every_documented_kind_exists() {
        let code: std::collections::BTreeSet<String> = EventKind::ALL.iter().map(|k| k.as_str().to_owned()).collect();
        assert_eq!(code.len(), EventKind::ALL.len(), "two kinds share a name");
        assert_eq!(code, documented(), "docs/audit-log.md and EventKind disagree");
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(*k));
        }
    }
}
