//! Moving users from another system into Kavach: `kavach import better-auth`
//! and `kavach import clerk`. Both keep the source ids (so foreign keys in the
//! app's own tables survive), write everything in one transaction (nothing is
//! half-imported), are idempotent (a second run finds everything already present
//! and changes nothing), support a dry run (the transaction is rolled back), and
//! report counts and every skipped row with its reason.

pub mod better_auth;
pub mod clerk;

use crate::crypto;
use crate::error::Result;
use crate::store::Ts;
use serde::Serialize;

/// What happened to one table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TableReport {
    pub table: &'static str,
    pub read: u64,
    pub imported: u64,
    pub already_present: u64,
    pub skipped: Vec<Skipped>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub id: String,
    pub reason: String,
}

/// The result of an import.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub source: String,
    pub dry_run: bool,
    pub tables: Vec<TableReport>,
}

impl Report {
    pub fn imported(&self) -> u64 {
        self.tables.iter().map(|t| t.imported).sum()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "import from {}{}", self.source, if self.dry_run { " (dry run: nothing was written)" } else { "" })?;
        for t in &self.tables {
            writeln!(
                f,
                "  {:<14} read {:>6}  imported {:>6}  already present {:>6}  skipped {:>6}",
                t.table,
                t.read,
                t.imported,
                t.already_present,
                t.skipped.len()
            )?;
        }
        for t in &self.tables {
            for s in t.skipped.iter().take(50) {
                writeln!(f, "  skipped {} {}: {}", t.table, s.id, s.reason)?;
            }
            if t.skipped.len() > 50 {
                writeln!(f, "  ... and {} more skipped {} rows (use --json for all)", t.skipped.len() - 50, t.table)?;
            }
        }
        Ok(())
    }
}

/// A user to write, in Kavach's terms.
#[derive(Clone, Debug)]
pub(crate) struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
    pub image: Option<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub banned: bool,
    pub ban_reason: Option<String>,
    pub ban_expires: Option<Ts>,
    pub metadata: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct AccountRow {
    pub id: String,
    pub user_id: String,
    pub provider_id: String,
    pub provider_account_id: String,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: Option<String>,
    pub expires_at: Option<Ts>,
    pub refresh_token_expires_at: Option<Ts>,
    pub password: Option<String>,
    pub created_at: Option<Ts>,
    pub updated_at: Option<Ts>,
}

#[derive(Clone, Debug)]
pub(crate) struct SessionRow {
    pub id: String,
    pub user_id: String,
    /// The raw token: stored as its hash.
    pub token: String,
    pub expires_at: Ts,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug)]
pub(crate) struct VerificationRow {
    pub id: String,
    pub identifier: String,
    pub value: String,
    pub expires_at: Ts,
}

/// Everything to write, gathered before the transaction starts.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub users: Vec<UserRow>,
    pub accounts: Vec<AccountRow>,
    pub sessions: Vec<SessionRow>,
    pub verifications: Vec<VerificationRow>,
    /// Rows refused while reading the source, with reasons.
    pub skipped_users: Vec<Skipped>,
    pub skipped_accounts: Vec<Skipped>,
    pub skipped_verifications: Vec<Skipped>,
    /// Source tables Kavach does not import (reported, not written).
    pub other_tables: Vec<TableReport>,
}

/// Write a batch into Kavach's tables in one transaction (rolled back on a dry run).
pub(crate) async fn write(core: &crate::Core, batch: Batch, report: &mut Report, ctx: &crate::RequestContext) -> Result<()> {
    let db = core.db();
    // Provider tokens are secrets: sealed at rest (AES-256-GCM under the server secret).
    let seal =
        |value: &Option<String>, column: &str, id: &str| value.as_deref().map(|v| core.secrets().seal_field(v, &format!("kavach_account:{column}:{id}")));
    use crate::store::BeginWrite;
    let table =
        |table, rows: usize, skipped: &[Skipped]| TableReport { table, read: (rows + skipped.len()) as u64, skipped: skipped.to_vec(), ..Default::default() };
    let mut users = table("users", batch.users.len(), &batch.skipped_users);
    let mut accounts = table("accounts", batch.accounts.len(), &batch.skipped_accounts);
    let mut sessions = table("sessions", batch.sessions.len(), &[]);
    let mut verifs = table("verifications", batch.verifications.len(), &batch.skipped_verifications);
    let now = Ts::now();
    crate::db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        for u in &batch.users {
            let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM kavach_user WHERE id = $1").bind(&u.id).fetch_optional(&mut *tx).await?;
            if exists.is_some() {
                users.already_present += 1;
                continue;
            }
            let n = sqlx::query(
                "INSERT INTO kavach_user (id, email, name, email_verified, image, created_at, updated_at, banned, ban_reason, ban_expires, metadata) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
            )
            .bind(&u.id)
            .bind(&u.email)
            .bind(&u.name)
            .bind(u.email_verified)
            .bind(&u.image)
            .bind(u.created_at)
            .bind(u.updated_at)
            .bind(u.banned)
            .bind(&u.ban_reason)
            .bind(u.ban_expires)
            .bind(&u.metadata)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                users.imported += 1;
            } else {
                users.skipped.push(Skipped { id: u.id.clone(), reason: format!("{} already belongs to another Kavach user", u.email) });
            }
        }
        for a in &batch.accounts {
            let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM kavach_account WHERE id = $1").bind(&a.id).fetch_optional(&mut *tx).await?;
            if exists.is_some() {
                accounts.already_present += 1;
                continue;
            }
            let user: Option<(String,)> = sqlx::query_as("SELECT id FROM kavach_user WHERE id = $1").bind(&a.user_id).fetch_optional(&mut *tx).await?;
            if user.is_none() {
                accounts.skipped.push(Skipped { id: a.id.clone(), reason: format!("its user {} was not imported", a.user_id) });
                continue;
            }
            let n = sqlx::query(
                "INSERT INTO kavach_account (id, user_id, provider_id, provider_account_id, access_token, refresh_token, id_token, scope, \
                 expires_at, refresh_token_expires_at, password, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
            )
            .bind(&a.id)
            .bind(&a.user_id)
            .bind(&a.provider_id)
            .bind(&a.provider_account_id)
            .bind(seal(&a.access_token, "access_token", &a.id))
            .bind(seal(&a.refresh_token, "refresh_token", &a.id))
            .bind(seal(&a.id_token, "id_token", &a.id))
            .bind(&a.scope)
            .bind(a.expires_at)
            .bind(a.refresh_token_expires_at)
            .bind(&a.password)
            .bind(a.created_at.unwrap_or(now))
            .bind(a.updated_at.or(a.created_at).unwrap_or(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                accounts.imported += 1;
            } else {
                accounts.skipped.push(Skipped {
                    id: a.id.clone(),
                    reason: format!("{} account {} is already linked to another Kavach account", a.provider_id, a.provider_account_id),
                });
            }
        }
        for s in &batch.sessions {
            let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM kavach_session WHERE id = $1").bind(&s.id).fetch_optional(&mut *tx).await?;
            if exists.is_some() {
                sessions.already_present += 1;
                continue;
            }
            if s.expires_at <= now {
                sessions.skipped.push(Skipped { id: s.id.clone(), reason: "expired".into() });
                continue;
            }
            let user: Option<(String,)> = sqlx::query_as("SELECT id FROM kavach_user WHERE id = $1").bind(&s.user_id).fetch_optional(&mut *tx).await?;
            if user.is_none() {
                sessions.skipped.push(Skipped { id: s.id.clone(), reason: format!("its user {} was not imported", s.user_id) });
                continue;
            }
            let n = sqlx::query(
                "INSERT INTO kavach_session (id, user_id, token, expires_at, ip_address, user_agent, created_at, updated_at, origin) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'kavach') ON CONFLICT DO NOTHING",
            )
            .bind(&s.id)
            .bind(&s.user_id)
            .bind(crypto::token_hash(&s.token))
            .bind(s.expires_at)
            .bind(&s.ip_address)
            .bind(&s.user_agent)
            .bind(s.created_at)
            .bind(s.updated_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sessions.imported += 1;
            } else {
                sessions.already_present += 1;
            }
        }
        for v in &batch.verifications {
            if v.expires_at <= now {
                verifs.skipped.push(Skipped { id: v.id.clone(), reason: "expired".into() });
                continue;
            }
            let n = sqlx::query(
                "INSERT INTO kavach_verification (id, identifier, value, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
            )
            .bind(&v.id).bind(&v.identifier).bind(&v.value).bind(v.expires_at).bind(now)
            .execute(&mut *tx).await?.rows_affected();
            if n == 1 { verifs.imported += 1 } else { verifs.already_present += 1 }
        }
        let total = users.imported + accounts.imported + sessions.imported + verifs.imported;
        if total > 0 {
            crate::audit::append_in_tx!(
                tx,
                crate::audit::Event::new("import", None, ctx)
                    .with("source", &report.source)
                    .with("users", users.imported)
                    .with("accounts", accounts.imported)
                    .with("sessions", sessions.imported)
            );
        }
        if report.dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
    });
    report.tables = [users, accounts, sessions, verifs].into_iter().chain(batch.other_tables).collect();
    Ok(())
}

/// Parse the timestamps other systems write: RFC 3339 (`2026-11-22T14:25:47.369Z`),
/// SQL (`2026-11-22 14:25:47`), or unix seconds / milliseconds.
pub(crate) fn parse_ts(s: &str) -> Option<Ts> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(from_number(n));
    }
    let rfc = time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &rfc) {
        return Some(Ts::from_offset(t));
    }
    let (date, time) = (s.get(..10)?, s.get(11..)?);
    let fixed = format!("{date}T{time}");
    let tail = fixed.get(19..)?;
    let fixed = if fixed.ends_with('Z') || tail.contains(['+', '-']) { fixed } else { format!("{fixed}Z") };
    time::OffsetDateTime::parse(&fixed, &rfc).ok().map(Ts::from_offset)
}

/// Seconds or milliseconds since the epoch (values past year 5138 in seconds are milliseconds).
pub(crate) fn from_number(n: i64) -> Ts {
    if n.abs() >= 100_000_000_000 { Ts(n) } else { Ts(n * 1000) }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn timestamps_from_other_systems() {
        assert_eq!(parse_ts("2026-11-22T14:25:47.369Z"), Some(Ts(1795357547369)));
        assert_eq!(parse_ts("2026-11-22 14:25:47"), Some(Ts(1795357547000)));
        assert_eq!(parse_ts("2026-11-22T14:25:47.369+00:00"), Some(Ts(1795357547369)));
        assert_eq!(parse_ts("1795357547369"), Some(Ts(1795357547369)));
        assert_eq!(parse_ts("1795357547"), Some(Ts(1795357547000)));
        assert_eq!(parse_ts("yesterday"), None);
        assert_eq!(parse_ts("2026-11-22 14:25:47ééé"), None, "no panic on non-ASCII");
        assert_eq!(parse_ts("ééééééééééééééééééééé"), None);
    }
}
