//! Every query of the organization capability. Invariants that concern several rows
//! (an organization keeps an owner, membership and team limits, an invitation is used
//! once) are checked inside the write transaction that changes them, after taking the
//! organization's row lock (`UPDATE ... SET updated_at = updated_at`: a row lock on
//! PostgreSQL, the write lock on SQLite), so concurrent changes cannot both pass.

use super::{Invitation, Member, MemberUser, OrgRole, Organization, Team, TeamMember};
use crate::access::{Permissions, role_names};
use crate::audit::{self, Event};
use crate::error::{Code, Error, Result};
use crate::store::{BeginWrite, Db, Ts};
use crate::{RequestContext, db};
use sqlx::Row;

const ORG_COLUMNS: &str = "id, name, slug, logo, metadata, created_at, updated_at";

macro_rules! org_from_row {
    ($r:expr) => {
        Organization {
            id: $r.try_get("id")?,
            name: $r.try_get("name")?,
            slug: $r.try_get("slug")?,
            logo: $r.try_get("logo")?,
            metadata: $r.try_get::<Option<String>, _>("metadata")?.and_then(|m| serde_json::from_str(&m).ok()),
            created_at: $r.try_get("created_at")?,
        }
    };
}

const MEMBER_COLUMNS: &str = "m.id, m.organization_id, m.user_id, m.role, m.created_at, u.name AS u_name, u.email AS u_email, u.image AS u_image";

macro_rules! member_from_row {
    ($r:expr) => {
        Member {
            id: $r.try_get("id")?,
            organization_id: $r.try_get("organization_id")?,
            user_id: $r.try_get("user_id")?,
            role: $r.try_get("role")?,
            created_at: $r.try_get("created_at")?,
            user: MemberUser { id: $r.try_get("user_id")?, name: $r.try_get("u_name")?, email: $r.try_get("u_email")?, image: $r.try_get("u_image")? },
        }
    };
}

const INVITATION_COLUMNS: &str = "id, organization_id, email, role, team_id, status, inviter_id, expires_at, created_at";

macro_rules! invitation_from_row {
    ($r:expr) => {
        Invitation {
            id: $r.try_get("id")?,
            organization_id: $r.try_get("organization_id")?,
            email: $r.try_get("email")?,
            role: $r.try_get("role")?,
            team_id: $r.try_get("team_id")?,
            status: $r.try_get("status")?,
            inviter_id: $r.try_get("inviter_id")?,
            expires_at: $r.try_get("expires_at")?,
            created_at: $r.try_get("created_at")?,
        }
    };
}

macro_rules! team_from_row {
    ($r:expr) => {
        Team {
            id: $r.try_get("id")?,
            organization_id: $r.try_get("organization_id")?,
            name: $r.try_get("name")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
        }
    };
}

macro_rules! role_from_row {
    ($r:expr) => {
        OrgRole {
            id: $r.try_get("id")?,
            organization_id: $r.try_get("organization_id")?,
            role: $r.try_get("role")?,
            permission: Permissions::from_json(&$r.try_get::<String, _>("permission")?)?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
        }
    };
}

/// Take the organization's lock inside `$tx`; false when it does not exist.
macro_rules! lock_org {
    ($tx:expr, $org:expr) => {
        sqlx::query("UPDATE kavach_organization SET updated_at = updated_at WHERE id = $1").bind($org).execute(&mut *$tx).await?.rows_affected() > 0
    };
}

/// The members' rows (id, user id, role field) of an organization, read in `$tx` after
/// its lock: the owner rule is checked against them.
macro_rules! member_rows {
    ($tx:expr, $org:expr) => {{
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT id, user_id, role FROM kavach_member WHERE organization_id = $1").bind($org).fetch_all(&mut *$tx).await?;
        rows
    }};
}

/// The user id of member `member_id`, if the organization still has an owner once that
/// member's role field becomes `role` (`None`: once they are removed).
fn owner_remains(rows: &[(String, String, String)], member_id: &str, role: Option<&str>, owner_role: &str) -> Result<String> {
    let user_id = rows
        .iter()
        .find(|(id, _, _)| id == member_id)
        .map(|(_, user, _)| user.clone())
        .ok_or_else(|| refused(Code::MemberNotFound, "No such member in this organization"))?;
    let owners =
        rows.iter().filter_map(|(id, _, r)| if id == member_id { role } else { Some(r.as_str()) }).filter(|r| role_names(r).any(|n| n == owner_role)).count();
    if owners == 0 {
        return Err(refused(Code::LastOwner, "The organization must keep at least one owner"));
    }
    Ok(user_id)
}

fn refused(code: Code, message: &'static str) -> Error {
    Error::bad_request(code, message)
}

// ---- organizations ----

pub(super) async fn insert_org(db: &Db, org: &Organization, owner: &Member, ctx: &RequestContext, by: Option<&str>) -> Result<bool> {
    let metadata = org.metadata.as_ref().map(|m| m.to_string());
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let n = sqlx::query(
            "INSERT INTO kavach_organization (id, name, slug, logo, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (slug) DO NOTHING",
        )
        .bind(&org.id)
        .bind(&org.name)
        .bind(&org.slug)
        .bind(&org.logo)
        .bind(&metadata)
        .bind(org.created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO kavach_member (id, organization_id, user_id, role, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&owner.id)
            .bind(&org.id)
            .bind(&owner.user_id)
            .bind(&owner.role)
            .bind(owner.created_at)
            .execute(&mut *tx)
            .await?;
        audit::append_in_tx!(
            tx,
            Event::new(crate::audit::EventKind::OrganizationCreated, Some(&owner.user_id), ctx)
                .with("organizationId", &org.id)
                .with("slug", &org.slug)
                .with_some("by", by)
        );
        tx.commit().await?;
    });
    Ok(true)
}

pub(super) async fn find_org(db: &Db, id: &str) -> Result<Option<Organization>> {
    find_org_where(db, "id", id).await
}

pub(super) async fn find_org_by_slug(db: &Db, slug: &str) -> Result<Option<Organization>> {
    find_org_where(db, "slug", slug).await
}

/// The organization whose `column` (`id` or `slug`, both unique) is `value`.
async fn find_org_where(db: &Db, column: &'static str, value: &str) -> Result<Option<Organization>> {
    let sql = format!("SELECT {ORG_COLUMNS} FROM kavach_organization WHERE {column} = $1");
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(value).fetch_optional(pool).await? {
            Some(r) => Ok(Some(org_from_row!(r))),
            None => Ok(None),
        }
    })
}

/// Update the given fields; false when the new slug is taken.
#[allow(clippy::too_many_arguments)]
pub(super) async fn update_org(
    db: &Db,
    id: &str,
    name: Option<&str>,
    slug: Option<&str>,
    logo: Option<Option<&str>>,
    metadata: Option<Option<&serde_json::Value>>,
    actor: &str,
    ctx: &RequestContext,
) -> Result<bool> {
    let now = Ts::now();
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        if let Some(s) = slug {
            let other: Option<(String,)> =
                sqlx::query_as("SELECT id FROM kavach_organization WHERE slug = $1 AND id <> $2").bind(s).bind(id).fetch_optional(&mut *tx).await?;
            if other.is_some() {
                return Ok(false);
            }
            sqlx::query("UPDATE kavach_organization SET slug = $1, updated_at = $2 WHERE id = $3").bind(s).bind(now).bind(id).execute(&mut *tx).await?;
        }
        if let Some(n) = name {
            sqlx::query("UPDATE kavach_organization SET name = $1, updated_at = $2 WHERE id = $3").bind(n).bind(now).bind(id).execute(&mut *tx).await?;
        }
        if let Some(l) = logo {
            sqlx::query("UPDATE kavach_organization SET logo = $1, updated_at = $2 WHERE id = $3").bind(l).bind(now).bind(id).execute(&mut *tx).await?;
        }
        if let Some(m) = metadata {
            sqlx::query("UPDATE kavach_organization SET metadata = $1, updated_at = $2 WHERE id = $3")
                .bind(m.map(|v| v.to_string()))
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        audit::append_in_tx!(tx, Event::new(crate::audit::EventKind::OrganizationUpdated, Some(actor), ctx).with("organizationId", id));
        tx.commit().await?;
    });
    Ok(true)
}

/// Delete an organization with its members, invitations, teams and roles; sessions
/// that had it active lose it. Returns the user ids whose sessions changed.
pub(super) async fn delete_org(db: &Db, org: &Organization, actor: Option<&str>, ctx: &RequestContext) -> Result<Vec<String>> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let users: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT user_id FROM kavach_session WHERE active_organization_id = $1").bind(&org.id).fetch_all(&mut *tx).await?;
        sqlx::query("UPDATE kavach_session SET active_organization_id = NULL, active_team_id = NULL WHERE active_organization_id = $1")
            .bind(&org.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM kavach_team_member WHERE team_id IN (SELECT id FROM kavach_team WHERE organization_id = $1)")
            .bind(&org.id)
            .execute(&mut *tx)
            .await?;
        for table in ["kavach_team", "kavach_invitation", "kavach_member", "kavach_organization_role"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE organization_id = $1"))).bind(&org.id).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM kavach_organization WHERE id = $1").bind(&org.id).execute(&mut *tx).await?;
        audit::append_in_tx!(tx, Event::new(crate::audit::EventKind::OrganizationDeleted, actor, ctx).with("organizationId", &org.id).with("slug", &org.slug));
        tx.commit().await?;
        Ok(users.into_iter().map(|u| u.0).collect())
    })
}

pub(super) async fn orgs_of_user(db: &Db, user_id: &str) -> Result<Vec<Organization>> {
    let cols = ORG_COLUMNS.split(", ").map(|c| format!("o.{c}")).collect::<Vec<_>>().join(", ");
    let sql =
        format!("SELECT {cols} FROM kavach_organization o JOIN kavach_member m ON m.organization_id = o.id WHERE m.user_id = $1 ORDER BY o.created_at, o.id");
    db!(db, |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(pool).await?;
        rows.iter().map(|r| Ok(org_from_row!(r))).collect()
    })
}

/// Every organization, newest first (the CLI and the Rust API).
pub(super) async fn all_orgs(db: &Db, limit: i64, offset: i64) -> Result<Vec<Organization>> {
    let sql = format!("SELECT {ORG_COLUMNS} FROM kavach_organization ORDER BY created_at DESC, id LIMIT $1 OFFSET $2");
    db!(db, |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit.clamp(0, 10_000)).bind(offset.max(0)).fetch_all(pool).await?;
        rows.iter().map(|r| Ok(org_from_row!(r))).collect()
    })
}

pub(super) async fn count_memberships(db: &Db, user_id: &str) -> Result<i64> {
    db!(db, |pool| {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kavach_member WHERE user_id = $1").bind(user_id).fetch_one(pool).await?;
        Ok(n)
    })
}

// ---- members ----

/// The caller's membership: its role field (the hot path of permission checks: one
/// indexed read).
pub(super) async fn member_role(db: &Db, org_id: &str, user_id: &str) -> Result<Option<String>> {
    db!(db, |pool| {
        Ok(sqlx::query_scalar("SELECT role FROM kavach_member WHERE organization_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?)
    })
}

pub(super) async fn member(db: &Db, org_id: &str, user_id: &str) -> Result<Option<Member>> {
    let sql = format!("SELECT {MEMBER_COLUMNS} FROM kavach_member m JOIN kavach_user u ON u.id = m.user_id WHERE m.organization_id = $1 AND m.user_id = $2");
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).bind(user_id).fetch_optional(pool).await? {
            Some(r) => Ok(Some(member_from_row!(r))),
            None => Ok(None),
        }
    })
}

/// A member by member id, or by the user's id or email, within the organization only.
pub(super) async fn find_member(db: &Db, org_id: &str, id_or_email: &str) -> Result<Option<Member>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM kavach_member m JOIN kavach_user u ON u.id = m.user_id \
         WHERE m.organization_id = $1 AND (m.id = $2 OR m.user_id = $2 OR u.email = $3)"
    );
    let email = id_or_email.trim().to_lowercase();
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).bind(id_or_email).bind(&email).fetch_optional(pool).await? {
            Some(r) => Ok(Some(member_from_row!(r))),
            None => Ok(None),
        }
    })
}

pub(super) async fn members(db: &Db, org_id: &str, limit: i64, offset: i64) -> Result<(Vec<Member>, i64)> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM kavach_member m JOIN kavach_user u ON u.id = m.user_id WHERE m.organization_id = $1 \
         ORDER BY m.created_at, m.id LIMIT $2 OFFSET $3"
    );
    db!(db, |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).bind(limit.clamp(0, 10_000)).bind(offset.max(0)).fetch_all(pool).await?;
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kavach_member WHERE organization_id = $1").bind(org_id).fetch_one(pool).await?;
        let list: Result<Vec<Member>> = rows.iter().map(|r| Ok(member_from_row!(r))).collect();
        Ok((list?, total))
    })
}

/// Add a member, within the membership limit. `Err` with `ALREADY_MEMBER` or the limit's code.
pub(super) async fn insert_member(db: &Db, m: &Member, limit: u32, by: Option<&str>, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        if !lock_org!(tx, &m.organization_id) {
            return Err(Error::not_found(Code::OrganizationNotFound, "No such organization"));
        }
        add_member_in_tx!(tx, m, limit, by, ctx);
        tx.commit().await?;
    });
    Ok(())
}

/// Inside a transaction holding the organization's lock: the membership checks and the insert.
macro_rules! add_member_in_tx {
    ($tx:expr, $m:expr, $limit:expr, $by:expr, $ctx:expr) => {{
        let existing: Option<(String,)> = sqlx::query_as("SELECT id FROM kavach_member WHERE organization_id = $1 AND user_id = $2")
            .bind(&$m.organization_id)
            .bind(&$m.user_id)
            .fetch_optional(&mut *$tx)
            .await?;
        if existing.is_some() {
            return Err(refused(Code::AlreadyMember, "The user is already a member of this organization"));
        }
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM kavach_member WHERE organization_id = $1").bind(&$m.organization_id).fetch_one(&mut *$tx).await?;
        if count >= i64::from($limit) {
            return Err(Error::forbidden(Code::MembershipLimitReached, "The organization has reached its membership limit"));
        }
        sqlx::query("INSERT INTO kavach_member (id, organization_id, user_id, role, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&$m.id)
            .bind(&$m.organization_id)
            .bind(&$m.user_id)
            .bind(&$m.role)
            .bind($m.created_at)
            .execute(&mut *$tx)
            .await?;
        audit::append_in_tx!(
            $tx,
            Event::new(crate::audit::EventKind::MemberAdded, Some(&$m.user_id), $ctx)
                .with("organizationId", &$m.organization_id)
                .with("role", &$m.role)
                .with_some("by", $by)
        );
    }};
}
use add_member_in_tx;

/// Set a member's role field, unless the organization would be left without an owner.
pub(super) async fn set_member_role(
    db: &Db,
    org_id: &str,
    member_id: &str,
    role: &str,
    owner_role: &str,
    by: Option<&str>,
    ctx: &RequestContext,
) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let _ = lock_org!(tx, org_id);
        let user_id = owner_remains(&member_rows!(tx, org_id), member_id, Some(role), owner_role)?;
        sqlx::query("UPDATE kavach_member SET role = $1 WHERE id = $2 AND organization_id = $3")
            .bind(role)
            .bind(member_id)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        audit::append_in_tx!(
            tx,
            Event::new(crate::audit::EventKind::MemberRoleUpdated, Some(&user_id), ctx).with("organizationId", org_id).with("role", role).with_some("by", by)
        );
        tx.commit().await?;
    });
    Ok(())
}

/// Remove a member (and their team memberships in the organization), unless the
/// organization would be left without an owner. Their sessions lose it as active.
pub(super) async fn delete_member(db: &Db, org_id: &str, member_id: &str, owner_role: &str, by: Option<&str>, ctx: &RequestContext) -> Result<String> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let _ = lock_org!(tx, org_id);
        let user_id = owner_remains(&member_rows!(tx, org_id), member_id, None, owner_role)?;
        sqlx::query("DELETE FROM kavach_member WHERE id = $1").bind(member_id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM kavach_team_member WHERE user_id = $1 AND team_id IN (SELECT id FROM kavach_team WHERE organization_id = $2)")
            .bind(&user_id)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE kavach_session SET active_organization_id = NULL, active_team_id = NULL WHERE user_id = $1 AND active_organization_id = $2")
            .bind(&user_id)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        audit::append_in_tx!(tx, Event::new(crate::audit::EventKind::MemberRemoved, Some(&user_id), ctx).with("organizationId", org_id).with_some("by", by));
        tx.commit().await?;
        Ok(user_id)
    })
}

// ---- invitations ----

pub(super) async fn insert_invitation(db: &Db, inv: &Invitation, limit: u32, resend: bool, ctx: &RequestContext) -> Result<Invitation> {
    let sql =
        format!("SELECT {INVITATION_COLUMNS} FROM kavach_invitation WHERE organization_id = $1 AND email = $2 AND status = 'pending' AND expires_at > $3");
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let _ = lock_org!(tx, &inv.organization_id);
        let member: Option<(String,)> =
            sqlx::query_as("SELECT m.id FROM kavach_member m JOIN kavach_user u ON u.id = m.user_id WHERE m.organization_id = $1 AND u.email = $2")
                .bind(&inv.organization_id)
                .bind(&inv.email)
                .fetch_optional(&mut *tx)
                .await?;
        if member.is_some() {
            return Err(refused(Code::AlreadyMember, "The user is already a member of this organization"));
        }
        let now = Ts::now();
        if let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&inv.organization_id).bind(&inv.email).bind(now).fetch_optional(&mut *tx).await? {
            let existing = invitation_from_row!(r);
            if !resend {
                return Err(refused(Code::AlreadyInvited, "This email already has a pending invitation (send resend: true to send it again)"));
            }
            // Resending renews the pending invitation (same id, new expiry and role).
            sqlx::query("UPDATE kavach_invitation SET expires_at = $1, role = $2, team_id = $3, inviter_id = $4 WHERE id = $5")
                .bind(inv.expires_at)
                .bind(&inv.role)
                .bind(&inv.team_id)
                .bind(&inv.inviter_id)
                .bind(&existing.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Invitation { id: existing.id, created_at: existing.created_at, ..inv.clone() });
        }
        let (pending,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kavach_invitation WHERE organization_id = $1 AND status = 'pending' AND expires_at > $2")
            .bind(&inv.organization_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        if pending >= i64::from(limit) {
            return Err(Error::forbidden(Code::InvitationLimitReached, "The organization has reached its limit of pending invitations"));
        }
        sqlx::query(
            "INSERT INTO kavach_invitation (id, organization_id, email, role, team_id, status, inviter_id, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8)",
        )
        .bind(&inv.id)
        .bind(&inv.organization_id)
        .bind(&inv.email)
        .bind(&inv.role)
        .bind(&inv.team_id)
        .bind(&inv.inviter_id)
        .bind(inv.expires_at)
        .bind(inv.created_at)
        .execute(&mut *tx)
        .await?;
        audit::append_in_tx!(
            tx,
            Event::new(crate::audit::EventKind::InvitationCreated, Some(&inv.inviter_id), ctx)
                .with("organizationId", &inv.organization_id)
                .with("invitationId", &inv.id)
                .with("role", &inv.role)
        );
        tx.commit().await?;
        Ok(inv.clone())
    })
}

pub(super) async fn invitation(db: &Db, id: &str) -> Result<Option<Invitation>> {
    let sql = format!("SELECT {INVITATION_COLUMNS} FROM kavach_invitation WHERE id = $1");
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await? {
            Some(r) => Ok(Some(invitation_from_row!(r))),
            None => Ok(None),
        }
    })
}

/// Pending, unexpired invitations of an organization, or to an email (`by_email`).
pub(super) async fn pending_invitations(db: &Db, key: &str, by_email: bool) -> Result<Vec<Invitation>> {
    let column = if by_email { "email" } else { "organization_id" };
    let sql =
        format!("SELECT {INVITATION_COLUMNS} FROM kavach_invitation WHERE {column} = $1 AND status = 'pending' AND expires_at > $2 ORDER BY created_at, id");
    db!(db, |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(key).bind(Ts::now()).fetch_all(pool).await?;
        rows.iter().map(|r| Ok(invitation_from_row!(r))).collect()
    })
}

/// Every invitation of an organization (all statuses), newest first.
pub(super) async fn invitations_of_org(db: &Db, org_id: &str) -> Result<Vec<Invitation>> {
    let sql = format!("SELECT {INVITATION_COLUMNS} FROM kavach_invitation WHERE organization_id = $1 ORDER BY created_at DESC, id");
    db!(db, |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).fetch_all(pool).await?;
        rows.iter().map(|r| Ok(invitation_from_row!(r))).collect()
    })
}

/// Move a pending, unexpired invitation to `status` (rejected, canceled); false when
/// it was not pending any more.
pub(super) async fn close_invitation(db: &Db, inv: &Invitation, status: &str, actor: &str, ctx: &RequestContext) -> Result<bool> {
    let kind = if status == "canceled" { crate::audit::EventKind::InvitationCanceled } else { crate::audit::EventKind::InvitationRejected };
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let n = sqlx::query("UPDATE kavach_invitation SET status = $1 WHERE id = $2 AND status = 'pending' AND expires_at > $3")
            .bind(status)
            .bind(&inv.id)
            .bind(Ts::now())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            audit::append_in_tx!(tx, Event::new(kind, Some(actor), ctx).with("organizationId", &inv.organization_id).with("invitationId", &inv.id));
        }
        tx.commit().await?;
        Ok(n > 0)
    })
}

/// Accept: the invitation moves from pending to accepted exactly once, the member is
/// added (within the limit), and to the invitation's team if it still exists; the
/// accepting session gets the organization as active.
pub(super) async fn accept_invitation(db: &Db, inv: &Invitation, member: &Member, limit: u32, session_id: Option<&str>, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let _ = lock_org!(tx, &inv.organization_id);
        let n = sqlx::query("UPDATE kavach_invitation SET status = 'accepted' WHERE id = $1 AND status = 'pending' AND expires_at > $2")
            .bind(&inv.id)
            .bind(Ts::now())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(refused(Code::InvitationNotFound, "No pending invitation with this id"));
        }
        add_member_in_tx!(tx, member, limit, Some(&inv.inviter_id), ctx);
        if let Some(team) = &inv.team_id {
            let n = sqlx::query(
                "INSERT INTO kavach_team_member (id, team_id, user_id, created_at) SELECT $1, t.id, $2, $3 FROM kavach_team t WHERE t.id = $4 AND t.organization_id = $5",
            )
            .bind(crate::crypto::new_id())
            .bind(&member.user_id)
            .bind(member.created_at)
            .bind(team)
            .bind(&inv.organization_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                audit::append_in_tx!(
                    tx,
                    Event::new(crate::audit::EventKind::TeamMemberAdded, Some(&member.user_id), ctx)
                        .with("organizationId", &inv.organization_id)
                        .with("teamId", team)
                        .with("by", &inv.inviter_id)
                );
            }
        }
        if let Some(sid) = session_id {
            sqlx::query("UPDATE kavach_session SET active_organization_id = $1, active_team_id = NULL WHERE id = $2")
                .bind(&inv.organization_id)
                .bind(sid)
                .execute(&mut *tx)
                .await?;
        }
        audit::append_in_tx!(
            tx,
            Event::new(crate::audit::EventKind::InvitationAccepted, Some(&member.user_id), ctx)
                .with("organizationId", &inv.organization_id)
                .with("invitationId", &inv.id)
        );
        tx.commit().await?;
    });
    Ok(())
}

// ---- sessions ----

/// Set the session's active organization and team (by session id).
pub(super) async fn set_active(db: &Db, session_id: &str, org: Option<&str>, team: Option<&str>) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE kavach_session SET active_organization_id = $1, active_team_id = $2 WHERE id = $3")
            .bind(org)
            .bind(team)
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(())
}

// ---- teams ----

const TEAM_COLUMNS: &str = "id, organization_id, name, created_at, updated_at";

pub(super) async fn insert_team(db: &Db, t: &Team, max_teams: u32, actor: Option<&str>, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let _ = lock_org!(tx, &t.organization_id);
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM kavach_team WHERE organization_id = $1").bind(&t.organization_id).fetch_one(&mut *tx).await?;
        if count >= i64::from(max_teams) {
            return Err(refused(Code::TeamLimitReached, "The organization has reached its team limit"));
        }
        let n = sqlx::query(
            "INSERT INTO kavach_team (id, organization_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (organization_id, name) DO NOTHING",
        )
        .bind(&t.id)
        .bind(&t.organization_id)
        .bind(&t.name)
        .bind(t.created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(refused(Code::TeamAlreadyExists, "A team with this name exists in the organization"));
        }
        audit::append_in_tx!(tx, Event::new(crate::audit::EventKind::TeamCreated, actor, ctx).with("organizationId", &t.organization_id).with("teamId", &t.id));
        tx.commit().await?;
    });
    Ok(())
}

/// A team of the organization (never another organization's).
pub(super) async fn team(db: &Db, org_id: &str, team_id: &str) -> Result<Option<Team>> {
    let sql = format!("SELECT {TEAM_COLUMNS} FROM kavach_team WHERE id = $1 AND organization_id = $2");
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(team_id).bind(org_id).fetch_optional(pool).await? {
            Some(r) => Ok(Some(team_from_row!(r))),
            None => Ok(None),
        }
    })
}

/// A team by id alone (to find its organization).
pub(super) async fn team_by_id(db: &Db, team_id: &str) -> Result<Option<Team>> {
    let sql = format!("SELECT {TEAM_COLUMNS} FROM kavach_team WHERE id = $1");
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(team_id).fetch_optional(pool).await? {
            Some(r) => Ok(Some(team_from_row!(r))),
            None => Ok(None),
        }
    })
}

pub(super) async fn rename_team(db: &Db, t: &Team, name: &str, actor: Option<&str>, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let taken: Option<(String,)> = sqlx::query_as("SELECT id FROM kavach_team WHERE organization_id = $1 AND name = $2 AND id <> $3")
            .bind(&t.organization_id)
            .bind(name)
            .bind(&t.id)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(refused(Code::TeamAlreadyExists, "A team with this name exists in the organization"));
        }
        sqlx::query("UPDATE kavach_team SET name = $1, updated_at = $2 WHERE id = $3").bind(name).bind(Ts::now()).bind(&t.id).execute(&mut *tx).await?;
        audit::append_in_tx!(tx, Event::new(crate::audit::EventKind::TeamUpdated, actor, ctx).with("organizationId", &t.organization_id).with("teamId", &t.id));
        tx.commit().await?;
    });
    Ok(())
}

/// Delete a team and its memberships; sessions lose it as active. The user ids whose sessions changed.
pub(super) async fn delete_team(db: &Db, t: &Team, actor: Option<&str>, ctx: &RequestContext) -> Result<Vec<String>> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let users: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT user_id FROM kavach_session WHERE active_team_id = $1").bind(&t.id).fetch_all(&mut *tx).await?;
        sqlx::query("UPDATE kavach_session SET active_team_id = NULL WHERE active_team_id = $1").bind(&t.id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM kavach_team_member WHERE team_id = $1").bind(&t.id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM kavach_team WHERE id = $1").bind(&t.id).execute(&mut *tx).await?;
        audit::append_in_tx!(tx, Event::new(crate::audit::EventKind::TeamDeleted, actor, ctx).with("organizationId", &t.organization_id).with("teamId", &t.id));
        tx.commit().await?;
        Ok(users.into_iter().map(|u| u.0).collect())
    })
}

pub(super) async fn teams(db: &Db, org_id: &str) -> Result<Vec<Team>> {
    let sql = format!("SELECT {TEAM_COLUMNS} FROM kavach_team WHERE organization_id = $1 ORDER BY created_at, id");
    db!(db, |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).fetch_all(pool).await?;
        rows.iter().map(|r| Ok(team_from_row!(r))).collect()
    })
}

pub(super) async fn teams_of_user(db: &Db, user_id: &str) -> Result<Vec<Team>> {
    let sql = "SELECT t.id, t.organization_id, t.name, t.created_at, t.updated_at FROM kavach_team t \
               JOIN kavach_team_member tm ON tm.team_id = t.id WHERE tm.user_id = $1 ORDER BY t.created_at, t.id";
    db!(db, |pool| {
        let rows = sqlx::query(sql).bind(user_id).fetch_all(pool).await?;
        rows.iter().map(|r| Ok(team_from_row!(r))).collect()
    })
}

pub(super) async fn team_members(db: &Db, team_id: &str) -> Result<Vec<TeamMember>> {
    db!(db, |pool| {
        let rows = sqlx::query("SELECT id, team_id, user_id, created_at FROM kavach_team_member WHERE team_id = $1 ORDER BY created_at, id")
            .bind(team_id)
            .fetch_all(pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TeamMember { id: r.try_get("id")?, team_id: r.try_get("team_id")?, user_id: r.try_get("user_id")?, created_at: r.try_get("created_at")? })
            })
            .collect()
    })
}

pub(super) async fn is_team_member(db: &Db, team_id: &str, user_id: &str) -> Result<bool> {
    db!(db, |pool| {
        let r: Option<(String,)> =
            sqlx::query_as("SELECT id FROM kavach_team_member WHERE team_id = $1 AND user_id = $2").bind(team_id).bind(user_id).fetch_optional(pool).await?;
        Ok(r.is_some())
    })
}

/// Add a user (who must be a member of the team's organization) to a team, within the limit.
pub(super) async fn insert_team_member(db: &Db, t: &Team, user_id: &str, limit: u32, actor: Option<&str>, ctx: &RequestContext) -> Result<TeamMember> {
    let tm = TeamMember { id: crate::crypto::new_id(), team_id: t.id.clone(), user_id: user_id.to_owned(), created_at: Ts::now() };
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let _ = lock_org!(tx, &t.organization_id);
        let member: Option<(String,)> = sqlx::query_as("SELECT id FROM kavach_member WHERE organization_id = $1 AND user_id = $2")
            .bind(&t.organization_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        if member.is_none() {
            return Err(refused(Code::MemberNotFound, "The user is not a member of the team's organization"));
        }
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kavach_team_member WHERE team_id = $1").bind(&t.id).fetch_one(&mut *tx).await?;
        if count >= i64::from(limit) {
            return Err(refused(Code::TeamMemberLimitReached, "The team has reached its member limit"));
        }
        let n =
            sqlx::query("INSERT INTO kavach_team_member (id, team_id, user_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (team_id, user_id) DO NOTHING")
                .bind(&tm.id)
                .bind(&tm.team_id)
                .bind(&tm.user_id)
                .bind(tm.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if n == 0 {
            return Err(refused(Code::AlreadyMember, "The user is already in this team"));
        }
        audit::append_in_tx!(
            tx,
            Event::new(crate::audit::EventKind::TeamMemberAdded, Some(user_id), ctx)
                .with("organizationId", &t.organization_id)
                .with("teamId", &t.id)
                .with_some("by", actor)
        );
        tx.commit().await?;
    });
    Ok(tm)
}

pub(super) async fn delete_team_member(db: &Db, t: &Team, user_id: &str, actor: Option<&str>, ctx: &RequestContext) -> Result<bool> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let n = sqlx::query("DELETE FROM kavach_team_member WHERE team_id = $1 AND user_id = $2")
            .bind(&t.id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            sqlx::query("UPDATE kavach_session SET active_team_id = NULL WHERE user_id = $1 AND active_team_id = $2")
                .bind(user_id)
                .bind(&t.id)
                .execute(&mut *tx)
                .await?;
            audit::append_in_tx!(
                tx,
                Event::new(crate::audit::EventKind::TeamMemberRemoved, Some(user_id), ctx)
                    .with("organizationId", &t.organization_id)
                    .with("teamId", &t.id)
                    .with_some("by", actor)
            );
        }
        tx.commit().await?;
        Ok(n > 0)
    })
}

// ---- dynamic roles ----

const ROLE_COLUMNS: &str = "id, organization_id, role, permission, created_at, updated_at";

pub(super) async fn org_role(db: &Db, org_id: &str, name_or_id: &str) -> Result<Option<OrgRole>> {
    let sql = format!("SELECT {ROLE_COLUMNS} FROM kavach_organization_role WHERE organization_id = $1 AND (role = $2 OR id = $2)");
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).bind(name_or_id).fetch_optional(pool).await? {
            Some(r) => Ok(Some(role_from_row!(r))),
            None => Ok(None),
        }
    })
}

pub(super) async fn org_roles(db: &Db, org_id: &str) -> Result<Vec<OrgRole>> {
    let sql = format!("SELECT {ROLE_COLUMNS} FROM kavach_organization_role WHERE organization_id = $1 ORDER BY created_at, id");
    db!(db, |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).fetch_all(pool).await?;
        rows.iter().map(|r| Ok(role_from_row!(r))).collect()
    })
}

pub(super) async fn insert_org_role(db: &Db, r: &OrgRole, max: u32, actor: &str, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let _ = lock_org!(tx, &r.organization_id);
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM kavach_organization_role WHERE organization_id = $1").bind(&r.organization_id).fetch_one(&mut *tx).await?;
        if count >= i64::from(max) {
            return Err(refused(Code::TooManyRoles, "The organization has reached its limit of roles"));
        }
        let n = sqlx::query(
            "INSERT INTO kavach_organization_role (id, organization_id, role, permission, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (organization_id, role) DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.organization_id)
        .bind(&r.role)
        .bind(r.permission.to_json())
        .bind(r.created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(refused(Code::RoleNameTaken, "A role with this name exists"));
        }
        audit::append_in_tx!(
            tx,
            Event::new(crate::audit::EventKind::OrganizationRoleCreated, Some(actor), ctx).with("organizationId", &r.organization_id).with("role", &r.role)
        );
        tx.commit().await?;
    });
    Ok(())
}

/// Rename and/or replace a role's permissions. A rename carries the members and pending
/// invitations holding the old name along.
pub(super) async fn update_org_role(db: &Db, r: &OrgRole, name: &str, permission: &Permissions, actor: &str, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let _ = lock_org!(tx, &r.organization_id);
        if name != r.role {
            let taken: Option<(String,)> = sqlx::query_as("SELECT id FROM kavach_organization_role WHERE organization_id = $1 AND role = $2")
                .bind(&r.organization_id)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(refused(Code::RoleNameTaken, "A role with this name exists"));
            }
            let holders: Vec<(String, String)> =
                sqlx::query_as("SELECT id, role FROM kavach_member WHERE organization_id = $1").bind(&r.organization_id).fetch_all(&mut *tx).await?;
            for (id, roles) in holders.iter().filter(|(_, roles)| role_names(roles).any(|n| n == r.role)) {
                let renamed: Vec<&str> = role_names(roles).map(|n| if n == r.role { name } else { n }).collect();
                sqlx::query("UPDATE kavach_member SET role = $1 WHERE id = $2").bind(renamed.join(",")).bind(id).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE kavach_invitation SET role = $1 WHERE organization_id = $2 AND role = $3 AND status = 'pending'")
                .bind(name)
                .bind(&r.organization_id)
                .bind(&r.role)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE kavach_organization_role SET role = $1, permission = $2, updated_at = $3 WHERE id = $4")
            .bind(name)
            .bind(permission.to_json())
            .bind(Ts::now())
            .bind(&r.id)
            .execute(&mut *tx)
            .await?;
        audit::append_in_tx!(
            tx,
            Event::new(crate::audit::EventKind::OrganizationRoleUpdated, Some(actor), ctx).with("organizationId", &r.organization_id).with("role", name)
        );
        tx.commit().await?;
    });
    Ok(())
}

/// Delete a role no member or pending invitation holds.
pub(super) async fn delete_org_role(db: &Db, r: &OrgRole, actor: &str, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let _ = lock_org!(tx, &r.organization_id);
        let holders: Vec<(String, String)> =
            sqlx::query_as("SELECT id, role FROM kavach_member WHERE organization_id = $1").bind(&r.organization_id).fetch_all(&mut *tx).await?;
        let invited: Vec<(String,)> = sqlx::query_as("SELECT role FROM kavach_invitation WHERE organization_id = $1 AND status = 'pending'")
            .bind(&r.organization_id)
            .fetch_all(&mut *tx)
            .await?;
        if holders.iter().any(|(_, roles)| role_names(roles).any(|n| n == r.role)) || invited.iter().any(|(roles,)| role_names(roles).any(|n| n == r.role)) {
            return Err(refused(Code::RoleInUse, "Members or pending invitations hold this role: give them another role first"));
        }
        sqlx::query("DELETE FROM kavach_organization_role WHERE id = $1").bind(&r.id).execute(&mut *tx).await?;
        audit::append_in_tx!(
            tx,
            Event::new(crate::audit::EventKind::OrganizationRoleDeleted, Some(actor), ctx).with("organizationId", &r.organization_id).with("role", &r.role)
        );
        tx.commit().await?;
    });
    Ok(())
}
