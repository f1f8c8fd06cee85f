//! The migration capability's writes to Kavach's tables (the only SQL of this folder,
//! besides the importer's reader of another system's database, `import/better_auth.rs`):
//! an import batch, and the better-auth cookie transition's sessions.

use super::import::{Batch, Report, Skipped, TableReport};
use crate::error::Result;
use crate::sessions::ORIGIN_COPIED;
use crate::store::{BeginWrite, Db, Ts};
use crate::users::user_from_row;
use crate::{RequestContext, audit, crypto, db};
use sqlx::Row;

/// For each row: already there (by id), or its references missing (skipped with the
/// reason), or inserted; a conflict on another unique key (a slug, a team name, a
/// membership) is skipped with the reason.
macro_rules! import_rows {
    ($tx:expr, $report:expr, $rows:expr, $table:literal, |$r:ident| [$(($ref_table:literal, $ref_id:expr)),*], $insert:expr) => {
        for $r in $rows {
            let exists: Option<(String,)> = sqlx::query_as(concat!("SELECT id FROM ", $table, " WHERE id = $1")).bind(&$r.id).fetch_optional(&mut *$tx).await?;
            if exists.is_some() {
                $report.already_present += 1;
                continue;
            }
            #[allow(unused_mut, reason = "a table without references never assigns it")]
            let mut missing: Option<String> = None;
            $(
                if missing.is_none() {
                    let found: Option<(String,)> =
                        sqlx::query_as(concat!("SELECT id FROM ", $ref_table, " WHERE id = $1")).bind($ref_id).fetch_optional(&mut *$tx).await?;
                    if found.is_none() {
                        missing = Some(format!("its {} {} was not imported", $ref_table.trim_start_matches("kavach_"), $ref_id));
                    }
                }
            )*
            if let Some(reason) = missing {
                $report.skipped.push(Skipped { id: $r.id.clone(), reason });
                continue;
            }
            if $insert.execute(&mut *$tx).await?.rows_affected() == 1 {
                $report.imported += 1;
            } else {
                $report.skipped.push(Skipped { id: $r.id.clone(), reason: "conflicts with a row already in Kavach (the same slug, team name, membership, passkey credential or wallet)".into() });
            }
        }
    };
}

/// Organizations, then what refers to them.
macro_rules! write_orgs {
    ($tx:expr, $o:expr, $orgs:ident, $members:ident, $invitations:ident, $teams:ident, $team_members:ident, $roles:ident) => {
        import_rows!($tx, $orgs, &$o.organizations, "kavach_organization", |r| [], sqlx::query(
            "INSERT INTO kavach_organization (id, name, slug, logo, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING"
        ).bind(&r.id).bind(&r.name).bind(&r.slug).bind(&r.logo).bind(&r.metadata).bind(r.created_at));
        import_rows!($tx, $members, &$o.members, "kavach_member", |r| [("kavach_organization", &r.organization_id), ("kavach_user", &r.user_id)], sqlx::query(
            "INSERT INTO kavach_member (id, organization_id, user_id, role, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
        ).bind(&r.id).bind(&r.organization_id).bind(&r.user_id).bind(&r.role).bind(r.created_at));
        import_rows!($tx, $teams, &$o.teams, "kavach_team", |r| [("kavach_organization", &r.organization_id)], sqlx::query(
            "INSERT INTO kavach_team (id, organization_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
        ).bind(&r.id).bind(&r.organization_id).bind(&r.name).bind(r.created_at).bind(r.updated_at));
        import_rows!($tx, $team_members, &$o.team_members, "kavach_team_member", |r| [("kavach_team", &r.team_id), ("kavach_user", &r.user_id)], sqlx::query(
            "INSERT INTO kavach_team_member (id, team_id, user_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
        ).bind(&r.id).bind(&r.team_id).bind(&r.user_id).bind(r.created_at));
        import_rows!($tx, $invitations, &$o.invitations, "kavach_invitation", |r| [("kavach_organization", &r.organization_id)], sqlx::query(
            "INSERT INTO kavach_invitation (id, organization_id, email, role, team_id, status, inviter_id, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"
        ).bind(&r.id).bind(&r.organization_id).bind(&r.email).bind(&r.role).bind(&r.team_id).bind(&r.status).bind(&r.inviter_id).bind(r.expires_at).bind(r.created_at));
        import_rows!($tx, $roles, &$o.roles, "kavach_organization_role", |r| [("kavach_organization", &r.organization_id)], sqlx::query(
            "INSERT INTO kavach_organization_role (id, organization_id, role, permission, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
        ).bind(&r.id).bind(&r.organization_id).bind(&r.role).bind(&r.permission).bind(r.created_at).bind(r.updated_at));
    };
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
    let o = &batch.orgs;
    let skipped = |label: &str| o.skipped.iter().filter(|(l, _)| *l == label).map(|(_, s)| s.clone()).collect::<Vec<_>>();
    let mut orgs = table("organizations", o.organizations.len(), &skipped("organizations"));
    let mut members = table("members", o.members.len(), &skipped("members"));
    let mut invitations = table("invitations", o.invitations.len(), &skipped("invitations"));
    let mut teams = table("teams", o.teams.len(), &skipped("teams"));
    let mut team_members = table("team members", o.team_members.len(), &skipped("team members"));
    let mut roles = table("roles", o.roles.len(), &skipped("roles"));
    let mut passkeys = table("passkeys", batch.passkeys.len(), &batch.skipped_passkeys);
    let mut wallets = table("wallets", batch.wallets.len(), &batch.skipped_wallets);
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
                "INSERT INTO kavach_user (id, email, name, email_verified, image, created_at, updated_at, banned, ban_reason, ban_expires, metadata, role, \
                 username, display_username, phone_number, phone_number_verified, is_anonymous) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT DO NOTHING",
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
            .bind(&u.role)
            .bind(&u.plugin.username)
            .bind(u.plugin.username.as_ref().and(u.plugin.display_username.as_ref().or(u.plugin.username.as_ref())))
            .bind(&u.plugin.phone_number)
            .bind(u.plugin.phone_number.is_some() && u.plugin.phone_number_verified)
            .bind(u.plugin.is_anonymous)
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
                "INSERT INTO kavach_session (id, user_id, token, expires_at, ip_address, user_agent, created_at, updated_at, origin, \
                 active_organization_id, active_team_id, impersonated_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'kavach', $9, $10, $11) ON CONFLICT DO NOTHING",
            )
            .bind(&s.id)
            .bind(&s.user_id)
            .bind(crypto::token_hash(&s.token))
            .bind(s.expires_at)
            .bind(&s.ip_address)
            .bind(&s.user_agent)
            .bind(s.created_at)
            .bind(s.updated_at)
            .bind(&s.active_organization_id)
            .bind(&s.active_team_id)
            .bind(&s.impersonated_by)
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
        write_orgs!(tx, &batch.orgs, orgs, members, invitations, teams, team_members, roles);
        // Imported passkeys keep no user handle (better-auth made a random one per passkey
        // and kept none): their credential id binds them to their user.
        import_rows!(
            tx,
            passkeys,
            &batch.passkeys,
            "kavach_passkey",
            |r| [("kavach_user", &r.user_id)],
            sqlx::query(
                "INSERT INTO kavach_passkey (id, name, user_id, credential_id, public_key, counter, device_type, backed_up, transports, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING"
            )
            .bind(&r.id)
            .bind(&r.name)
            .bind(&r.user_id)
            .bind(&r.credential_id)
            .bind(&r.credential)
            .bind(r.counter)
            .bind(&r.device_type)
            .bind(r.backed_up)
            .bind(&r.transports)
            .bind(r.created_at)
        );
        import_rows!(tx, wallets, &batch.wallets, "kavach_wallet_address", |r| [("kavach_user", &r.user_id)], sqlx::query(
            "INSERT INTO kavach_wallet_address (id, user_id, address, chain_id, is_primary, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
        ).bind(&r.id).bind(&r.user_id).bind(&r.address).bind(r.chain_id).bind(r.is_primary).bind(r.created_at));
        let total =
            users.imported + accounts.imported + sessions.imported + verifs.imported + orgs.imported + members.imported + passkeys.imported + wallets.imported;
        if total > 0 {
            crate::audit::append_in_tx!(
                tx,
                crate::audit::Event::new(crate::audit::EventKind::Import, None, ctx)
                    .with("source", &report.source)
                    .with("users", users.imported)
                    .with("accounts", accounts.imported)
                    .with("sessions", sessions.imported)
                    .with("organizations", orgs.imported)
                    .with("members", members.imported)
                    .with("passkeys", passkeys.imported)
                    .with("wallets", wallets.imported)
            );
        }
        if report.dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
    });
    // Organization, passkey and wallet tables are listed when the source had any.
    let org_tables = [orgs, members, invitations, teams, team_members, roles, passkeys, wallets].into_iter().filter(|t| t.read > 0);
    report.tables = [users, accounts, sessions, verifs].into_iter().chain(org_tables).chain(batch.other_tables).collect();
    Ok(())
}

/// Delete a migrated better-auth session named by `hash` (a Kavach row) or by the plain
/// `token` (a row copied by SQL): the deleted rows' stored tokens.
pub(super) async fn delete_better_auth_session(db: &Db, hash: &str, token: &str) -> Result<Vec<(String,)>> {
    Ok(db!(db, |pool| {
        sqlx::query_as("DELETE FROM kavach_session WHERE (token = $1 AND origin <> $2) OR (token = $3 AND origin = $2) RETURNING token")
            .bind(hash)
            .bind(ORIGIN_COPIED)
            .bind(token)
            .fetch_all(pool)
            .await?
    }))
}

/// The stored token of a live session for a better-auth token: a copied row by its plain
/// `token`, a Kavach row by its `hash` or by the hash of the token it was exchanged for.
pub(super) async fn live_better_auth_session(db: &Db, token: &str, hash: &str, exchanged_hash: &str, now: Ts) -> Result<Option<(String,)>> {
    Ok(db!(db, |pool| {
        sqlx::query_as("SELECT token FROM kavach_session WHERE ((token = $1 AND origin = $3) OR (token IN ($2, $5) AND origin <> $3)) AND expires_at > $4")
            .bind(token)
            .bind(hash)
            .bind(ORIGIN_COPIED)
            .bind(now)
            .bind(exchanged_hash)
            .fetch_optional(pool)
            .await?
    }))
}

/// Exchange a migrated better-auth session for its Kavach session, in one write
/// transaction (so a concurrent sign-out or a concurrent exchange of the same cookie
/// wins cleanly): the row is re-keyed to `new_hash` and slid by `expires_in` (within
/// its `absolute` lifetime), with its audit record. The row's old stored token, or
/// `None` when there is no live session (unknown, expired, banned user, or exchanged
/// a moment ago by another request).
#[allow(clippy::too_many_arguments)]
pub(super) async fn exchange_better_auth_session(
    db: &Db,
    token: &str,
    hash: &str,
    new_hash: &str,
    now: Ts,
    absolute: i64,
    expires_in: i64,
    ctx: &RequestContext,
) -> Result<Option<String>> {
    let sql = format!(
        "SELECT s.id AS s_id, s.token AS s_token, s.expires_at AS s_expires_at, s.created_at AS s_created_at, {} FROM kavach_session s \
             JOIN kavach_user u ON u.id = s.user_id WHERE (s.token = $1 AND s.origin = $3) OR (s.token = $2 AND s.origin <> $3)",
        crate::users::USER_COLUMNS_U
    );
    // Read and re-key in one write transaction, so a concurrent sign-out or a
    // concurrent exchange of the same cookie wins cleanly.
    // (`db!` inlines its body: a `return` there would leave this function, so the
    // outcome is the value of a labelled block.)
    Ok(db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        'exchange: {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(token).bind(hash).bind(ORIGIN_COPIED).fetch_optional(&mut *tx).await?;
            let Some(r) = row else { break 'exchange None };
            let (id, stored, expires_at, created_at): (String, String, Ts, Ts) =
                (r.try_get("s_id")?, r.try_get("s_token")?, r.try_get("s_expires_at")?, r.try_get("s_created_at")?);
            let user = user_from_row!(r);
            let end = created_at.plus_secs(absolute);
            if expires_at <= now || end <= now || user.is_banned(now) {
                break 'exchange None;
            }
            // The session keeps its start (so it is not "fresh" for sensitive actions, and
            // the absolute lifetime still counts from the original sign-in).
            let new_expiry = now.plus_secs(expires_in).min(end);
            sqlx::query("UPDATE kavach_session SET token = $1, origin = 'kavach', expires_at = $2, updated_at = $3 WHERE id = $4")
                .bind(new_hash)
                .bind(new_expiry)
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            audit::append_in_tx!(
                tx,
                audit::Event::new(crate::audit::EventKind::SessionMigrated, Some(&user.id), ctx).with("from", "better-auth").with("sessionId", &id)
            );
            tx.commit().await?;
            Some(stored)
        }
    }))
}
