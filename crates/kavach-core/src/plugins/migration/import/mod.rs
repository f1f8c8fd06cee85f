//! Moving users from another system into Kavach: `kavach import better-auth`
//! and `kavach import clerk`. Both keep the source ids (so foreign keys in the
//! app's own tables survive), write everything in one transaction (nothing is
//! half-imported), are idempotent (a second run finds everything already present
//! and changes nothing), support a dry run (the transaction is rolled back), and
//! report counts and every skipped row with its reason. Organizations come along with
//! their members, invitations, teams and roles.

pub mod better_auth;
pub mod clerk;

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
    /// The platform role (better-auth's admin plugin), if any.
    pub role: Option<String>,
    /// The plugins' user fields: the username and its display form (`username()`), the
    /// phone number and whether it was proven (`phoneNumber()`), an anonymous user
    /// (`anonymous()`).
    pub plugin: PluginFields,
}

/// See [`UserRow::plugin`].
#[derive(Clone, Debug, Default)]
pub(crate) struct PluginFields {
    pub username: Option<String>,
    pub display_username: Option<String>,
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
    pub is_anonymous: bool,
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
    pub active_organization_id: Option<String>,
    pub active_team_id: Option<String>,
    pub impersonated_by: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct VerificationRow {
    pub id: String,
    pub identifier: String,
    pub value: String,
    pub expires_at: Ts,
}

#[derive(Clone, Debug)]
pub(crate) struct OrgRow {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub logo: Option<String>,
    /// A JSON object, as text.
    pub metadata: Option<String>,
    pub created_at: Ts,
}

#[derive(Clone, Debug)]
pub(crate) struct MemberRow {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub role: String,
    pub created_at: Ts,
}

#[derive(Clone, Debug)]
pub(crate) struct InvitationRow {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub role: String,
    pub team_id: Option<String>,
    pub status: String,
    pub inviter_id: String,
    pub expires_at: Ts,
    pub created_at: Ts,
}

#[derive(Clone, Debug)]
pub(crate) struct TeamRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug)]
pub(crate) struct TeamMemberRow {
    pub id: String,
    pub team_id: String,
    pub user_id: String,
    pub created_at: Ts,
}

#[derive(Clone, Debug)]
pub(crate) struct OrgRoleRow {
    pub id: String,
    pub organization_id: String,
    pub role: String,
    /// The statements as JSON text, checked.
    pub permission: String,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A passkey of better-auth's `passkey` table, its credential made into Kavach's form.
#[derive(Clone, Debug)]
pub(crate) struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub credential_id: String,
    /// webauthn-rs's credential, as JSON.
    pub credential: String,
    pub counter: i64,
    pub device_type: String,
    pub backed_up: bool,
    pub transports: Option<String>,
    pub created_at: Ts,
}

/// A wallet of better-auth's `walletAddress` table (`[siwe]`), its address in EIP-55 form.
#[derive(Clone, Debug)]
pub(crate) struct WalletRow {
    pub id: String,
    pub user_id: String,
    pub address: String,
    pub chain_id: i64,
    pub is_primary: bool,
    pub created_at: Ts,
}

/// Organizations and what belongs to them.
#[derive(Debug, Default)]
pub(crate) struct Orgs {
    pub organizations: Vec<OrgRow>,
    pub members: Vec<MemberRow>,
    pub invitations: Vec<InvitationRow>,
    pub teams: Vec<TeamRow>,
    pub team_members: Vec<TeamMemberRow>,
    pub roles: Vec<OrgRoleRow>,
    /// Rows refused while reading the source, by table label.
    pub skipped: Vec<(&'static str, Skipped)>,
}

/// Metadata kept only when it is a JSON object.
pub(crate) fn object_text(v: Option<String>) -> Option<String> {
    v.filter(|m| serde_json::from_str::<serde_json::Value>(m).is_ok_and(|j| j.is_object()))
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
    pub orgs: Orgs,
    pub passkeys: Vec<PasskeyRow>,
    pub skipped_passkeys: Vec<Skipped>,
    pub wallets: Vec<WalletRow>,
    pub skipped_wallets: Vec<Skipped>,
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
