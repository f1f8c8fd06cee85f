//! Every query of the agents capability. A change and its audit record commit together;
//! the per-owner limit is checked after taking the owner's row lock, and a pending
//! approval is made after taking the agent's, so concurrent requests cannot both pass.

use super::decide::Call;
use super::trust::Stats;
use super::{Agent, AgentType, Approval, Budget, BudgetAction, Effect, KeyInfo, Permission, Status};
use crate::audit::{self, Event, EventKind};
use crate::error::{Error, Result};
use crate::store::{BeginWrite, Db, Ts};
use crate::{RequestContext, crypto, db};
use sqlx::Row;

const AGENT_COLUMNS: &str = "a.id, a.name, a.agent_type, a.status, a.owner_user_id, a.owner_organization_id, a.created_by, a.parent_id, a.root_id, \
     a.depth, a.max_depth, a.expires_at, a.metadata, a.created_at, a.updated_at, a.last_active_at";

macro_rules! agent_from_row {
    ($r:expr, $now:expr) => {{
        let expires_at: Option<Ts> = $r.try_get("expires_at")?;
        let status = match $r.try_get::<String, _>("status")?.as_str() {
            "suspended" => Status::Suspended,
            "revoked" => Status::Revoked,
            _ if expires_at.is_some_and(|e| e <= $now) => Status::Expired,
            _ => Status::Active,
        };
        Agent {
            id: $r.try_get("id")?,
            name: $r.try_get("name")?,
            agent_type: AgentType::parse(&$r.try_get::<String, _>("agent_type")?),
            status,
            owner_user_id: $r.try_get("owner_user_id")?,
            owner_organization_id: $r.try_get("owner_organization_id")?,
            created_by: $r.try_get("created_by")?,
            parent_id: $r.try_get("parent_id")?,
            root_id: $r.try_get("root_id")?,
            depth: $r.try_get::<i32, _>("depth")?.max(0) as u32,
            max_depth: $r.try_get::<i32, _>("max_depth")?.max(0) as u32,
            expires_at,
            metadata: serde_json::from_str(&$r.try_get::<String, _>("metadata")?).unwrap_or_default(),
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
            last_active_at: $r.try_get("last_active_at")?,
        }
    }};
}

/// One agent of a delegation chain, with whether its owner is banned now.
pub(crate) struct Link {
    pub agent: Agent,
    pub owner_banned: bool,
}

fn event(kind: EventKind, a: &Agent, by: Option<&str>, ctx: &RequestContext) -> Event {
    Event::new(kind, a.owner_user_id.as_deref(), ctx).with("agentId", &a.id).with_some("organizationId", a.owner_organization_id.as_deref()).with_some("by", by)
}

macro_rules! permission_from_row {
    ($r:expr) => {
        Permission {
            id: $r.try_get("id")?,
            agent_id: $r.try_get("agent_id")?,
            effect: if $r.try_get::<String, _>("effect")? == "deny" { Effect::Deny } else { Effect::Allow },
            resource: $r.try_get("resource")?,
            actions: serde_json::from_str(&$r.try_get::<String, _>("actions")?).map_err(|e| Error::internal(format!("stored actions: {e}")))?,
            constraints: serde_json::from_str(&$r.try_get::<String, _>("constraints")?).map_err(|e| Error::internal(format!("stored constraints: {e}")))?,
            expires_at: $r.try_get("expires_at")?,
            created_at: $r.try_get("created_at")?,
        }
    };
}

macro_rules! insert_permission {
    ($tx:expr, $p:expr) => {
        sqlx::query(
            "INSERT INTO kavach_agent_permission (id, agent_id, effect, resource, actions, constraints, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&$p.id)
        .bind(&$p.agent_id)
        .bind(if $p.effect == Effect::Deny { "deny" } else { "allow" })
        .bind(&$p.resource)
        .bind(serde_json::to_string(&$p.actions).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::to_string(&$p.constraints).unwrap_or_else(|_| "{}".into()))
        .bind($p.expires_at)
        .bind($p.created_at)
        .execute(&mut *$tx)
        .await?;
    };
}

macro_rules! insert_key_row {
    ($tx:expr, $agent:expr, $key:expr, $now:expr) => {
        sqlx::query("INSERT INTO kavach_agent_key (id, agent_id, token_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind($key.0)
            .bind($agent)
            .bind($key.1)
            .bind($key.2)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
    };
}

/// Insert an agent with its permissions and first key; false when the owner has reached `max`.
pub(super) async fn insert(db: &Db, a: &Agent, perms: &[Permission], key: (&str, &str, &str), max: u32, ctx: &RequestContext, kind: EventKind) -> Result<bool> {
    let (lock, count, owner) = match (&a.owner_user_id, &a.owner_organization_id) {
        (Some(u), _) => (
            "UPDATE kavach_user SET updated_at = updated_at WHERE id = $1",
            "SELECT COUNT(*) FROM kavach_agent WHERE owner_user_id = $1 AND status <> 'revoked'",
            u.as_str(),
        ),
        (None, Some(o)) => (
            "UPDATE kavach_organization SET updated_at = updated_at WHERE id = $1",
            "SELECT COUNT(*) FROM kavach_agent WHERE owner_organization_id = $1 AND status <> 'revoked'",
            o.as_str(),
        ),
        (None, None) => return Err(Error::internal("an agent without an owner")),
    };
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        if sqlx::query(lock).bind(owner).execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(Error::not_found(crate::Code::NotFound, "The owner does not exist"));
        }
        let (n,): (i64,) = sqlx::query_as(count).bind(owner).fetch_one(&mut *tx).await?;
        if n >= i64::from(max) {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO kavach_agent (id, owner_user_id, owner_organization_id, created_by, parent_id, root_id, depth, max_depth, name, agent_type, \
             status, expires_at, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11, $12, $13, $13)",
        )
        .bind(&a.id)
        .bind(&a.owner_user_id)
        .bind(&a.owner_organization_id)
        .bind(&a.created_by)
        .bind(&a.parent_id)
        .bind(&a.root_id)
        .bind(a.depth as i32)
        .bind(a.max_depth as i32)
        .bind(&a.name)
        .bind(a.agent_type.as_str())
        .bind(a.expires_at)
        .bind(a.metadata.to_string())
        .bind(a.created_at)
        .execute(&mut *tx)
        .await?;
        for p in perms {
            insert_permission!(tx, p);
        }
        insert_key_row!(tx, &a.id, key, a.created_at);
        audit::append_in_tx!(
            tx,
            event(kind, a, a.created_by.as_deref(), ctx)
                .with("name", &a.name)
                .with("type", a.agent_type.as_str())
                .with_some("parentId", a.parent_id.as_deref())
                .with("depth", a.depth)
                .with("permissions", perms.iter().map(|p| format!("{}:{}", p.resource, p.actions.join("|"))).collect::<Vec<_>>())
        );
        tx.commit().await?;
    });
    Ok(true)
}

pub(super) async fn agent(db: &Db, id: &str) -> Result<Option<Agent>> {
    let sql = format!("SELECT {AGENT_COLUMNS} FROM kavach_agent a WHERE a.id = $1");
    let now = Ts::now();
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await? {
            Some(r) => Ok(Some(agent_from_row!(r, now))),
            None => Ok(None),
        }
    })
}

/// Agents whose `column` is `value` (every agent with no value), newest first, at most 1000.
pub(super) async fn list(db: &Db, column: &'static str, value: Option<&str>) -> Result<Vec<Agent>> {
    let filter = if value.is_some() { format!("WHERE a.{column} = $1") } else { String::new() };
    let sql = format!("SELECT {AGENT_COLUMNS} FROM kavach_agent a {filter} ORDER BY a.created_at DESC, a.id LIMIT 1000");
    let now = Ts::now();
    db!(db, |pool| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(v) = value {
            q = q.bind(v);
        }
        let rows = q.fetch_all(pool).await?;
        rows.iter().map(|r| Ok(agent_from_row!(r, now))).collect()
    })
}

/// The agent and every agent it was delegated from, nearest first, with their owners' bans.
pub(crate) async fn chain(db: &Db, id: &str) -> Result<Vec<Link>> {
    let sql = format!(
        "WITH RECURSIVE up(id, n) AS (SELECT CAST($1 AS TEXT), 0 \
           UNION ALL SELECT a.parent_id, up.n + 1 FROM kavach_agent a JOIN up ON a.id = up.id WHERE a.parent_id IS NOT NULL AND up.n < 16) \
         SELECT {AGENT_COLUMNS}, u.banned AS owner_banned, u.ban_expires AS owner_ban_expires \
         FROM up JOIN kavach_agent a ON a.id = up.id LEFT JOIN kavach_user u ON u.id = a.owner_user_id ORDER BY up.n"
    );
    let now = Ts::now();
    db!(db, |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_all(pool).await?;
        rows.iter()
            .map(|r| {
                let banned =
                    r.try_get::<Option<bool>, _>("owner_banned")?.unwrap_or(false) && r.try_get::<Option<Ts>, _>("owner_ban_expires")?.is_none_or(|e| e > now);
                Ok(Link { agent: agent_from_row!(r, now), owner_banned: banned })
            })
            .collect()
    })
}

pub(super) async fn update(db: &Db, a: &Agent, name: Option<&str>, metadata: Option<&serde_json::Value>, by: Option<&str>, ctx: &RequestContext) -> Result<()> {
    let id = a.id.as_str();
    let now = Ts::now();
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE kavach_agent SET name = COALESCE($2, name), metadata = COALESCE($3, metadata), updated_at = $4 WHERE id = $1")
            .bind(id)
            .bind(name)
            .bind(metadata.map(|m| m.to_string()))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        audit::append_in_tx!(tx, event(EventKind::AgentUpdated, a, by, ctx).with_some("name", name));
        tx.commit().await?;
    });
    Ok(())
}

/// Set the status; revoking also revokes every delegate below, in the same transaction.
pub(super) async fn set_status(db: &Db, a: &Agent, status: Status, by: Option<&str>, ctx: &RequestContext) -> Result<()> {
    let id = a.id.as_str();
    let now = Ts::now();
    let kind = match status {
        Status::Revoked => EventKind::AgentRevoked,
        Status::Suspended => EventKind::AgentSuspended,
        _ => EventKind::AgentActivated,
    };
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let changed = sqlx::query("UPDATE kavach_agent SET status = $2, updated_at = $3 WHERE id = $1 AND status <> 'revoked'")
            .bind(id)
            .bind(status.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let mut cascaded = 0;
        if status == Status::Revoked && changed > 0 {
            cascaded = sqlx::query(
                "WITH RECURSIVE sub(id) AS (SELECT id FROM kavach_agent WHERE parent_id = $1 \
                   UNION SELECT a.id FROM kavach_agent a JOIN sub ON a.parent_id = sub.id) \
                 UPDATE kavach_agent SET status = 'revoked', updated_at = $2 WHERE id IN (SELECT id FROM sub) AND status <> 'revoked'",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if changed > 0 {
            audit::append_in_tx!(tx, event(kind, a, by, ctx).with("delegatesRevoked", cascaded));
        }
        tx.commit().await?;
    });
    Ok(())
}

pub(super) async fn delete(db: &Db, a: &Agent, by: Option<&str>, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        // The OAuth clients of the agent and of its delegates (client_id = the agent's id)
        // go with them.
        sqlx::query(
            "WITH RECURSIVE sub(id) AS (SELECT CAST($1 AS TEXT) UNION SELECT a.id FROM kavach_agent a JOIN sub ON a.parent_id = sub.id) \
             DELETE FROM kavach_oauth_client WHERE kind = 'agent' AND client_id IN (SELECT id FROM sub)",
        )
        .bind(&a.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM kavach_agent WHERE id = $1").bind(&a.id).execute(&mut *tx).await?;
        audit::append_in_tx!(tx, event(EventKind::AgentDeleted, a, by, ctx).with("name", &a.name));
        tx.commit().await?;
    });
    Ok(())
}

// ---- keys ----

pub(super) async fn insert_key(db: &Db, a: &Agent, key: (&str, &str, &str), grace: Option<Ts>, by: Option<&str>, ctx: &RequestContext) -> Result<()> {
    let agent_id = a.id.as_str();
    let now = Ts::now();
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        if let Some(end) = grace {
            sqlx::query("UPDATE kavach_agent_key SET expires_at = $2 WHERE agent_id = $1 AND (expires_at IS NULL OR expires_at > $2)")
                .bind(agent_id)
                .bind(end)
                .execute(&mut *tx)
                .await?;
        }
        insert_key_row!(tx, agent_id, key, now);
        let kind = if grace.is_some() { EventKind::AgentKeyRotated } else { EventKind::AgentKeyCreated };
        audit::append_in_tx!(tx, event(kind, a, by, ctx).with("keyId", key.0).with("prefix", key.2).with_some("oldKeysUntil", grace));
        tx.commit().await?;
    });
    Ok(())
}

pub(super) async fn keys(db: &Db, agent_id: &str) -> Result<Vec<KeyInfo>> {
    db!(db, |pool| {
        let rows = sqlx::query("SELECT id, prefix, created_at, expires_at, last_used_at FROM kavach_agent_key WHERE agent_id = $1 ORDER BY created_at, id")
            .bind(agent_id)
            .fetch_all(pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyInfo {
                    id: r.try_get("id")?,
                    prefix: r.try_get("prefix")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                })
            })
            .collect()
    })
}

pub(super) async fn delete_key(db: &Db, a: &Agent, key_id: &str, by: Option<&str>, ctx: &RequestContext) -> Result<bool> {
    let agent_id = a.id.as_str();
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let n =
            sqlx::query("DELETE FROM kavach_agent_key WHERE id = $1 AND agent_id = $2").bind(key_id).bind(agent_id).execute(&mut *tx).await?.rows_affected();
        if n == 0 {
            return Ok(false);
        }
        audit::append_in_tx!(tx, event(EventKind::AgentKeyRevoked, a, by, ctx).with("keyId", key_id));
        tx.commit().await?;
    });
    Ok(true)
}

/// The agent of a key (by the hash's unique index) and the key's expiry.
pub(super) async fn key_agent(db: &Db, hash: &str) -> Result<Option<(String, Option<Ts>)>> {
    db!(db, |pool| {
        let row: Option<(String, String, Option<Ts>)> =
            sqlx::query_as("SELECT agent_id, token_hash, expires_at FROM kavach_agent_key WHERE token_hash = $1").bind(hash).fetch_optional(pool).await?;
        Ok(row.filter(|(_, stored, _)| crypto::ct_eq(stored.as_bytes(), hash.as_bytes())).map(|(id, _, exp)| (id, exp)))
    })
}

// ---- ephemeral sessions ----

#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_session(
    db: &Db,
    a: &Agent,
    id: &str,
    hash: &str,
    task: Option<&str>,
    max_actions: Option<i64>,
    expires_at: Ts,
    by: Option<&str>,
    ctx: &RequestContext,
) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO kavach_agent_session (id, agent_id, token_hash, task, max_actions, actions_used, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
        )
        .bind(id)
        .bind(&a.id)
        .bind(hash)
        .bind(task)
        .bind(max_actions)
        .bind(expires_at)
        .bind(Ts::now())
        .execute(&mut *tx)
        .await?;
        audit::append_in_tx!(
            tx,
            event(EventKind::AgentSessionCreated, a, by, ctx)
                .with("sessionId", id)
                .with_some("task", task)
                .with_some("maxActions", max_actions)
                .with("expiresAt", expires_at)
        );
        tx.commit().await?;
    });
    Ok(())
}

/// (session id, agent id) of a live session token (unexpired, actions left).
pub(super) async fn live_session(db: &Db, hash: &str, now: Ts) -> Result<Option<(String, String)>> {
    db!(db, |pool| {
        Ok(sqlx::query_as(
            "SELECT id, agent_id FROM kavach_agent_session WHERE token_hash = $1 AND expires_at > $2 AND (max_actions IS NULL OR actions_used < max_actions)",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(pool)
        .await?)
    })
}

/// Count one action of session `id` (of `agent`): false when it is spent or expired.
pub(super) async fn consume_session(db: &Db, id: &str, agent: &str, now: Ts) -> Result<bool> {
    db!(db, |pool| {
        Ok(sqlx::query(
            "UPDATE kavach_agent_session SET actions_used = actions_used + 1 \
             WHERE id = $1 AND agent_id = $2 AND expires_at > $3 AND (max_actions IS NULL OR actions_used < max_actions)",
        )
        .bind(id)
        .bind(agent)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
            == 1)
    })
}

/// Give one action back (a later check refused the call).
pub(super) async fn give_back_session(db: &Db, id: &str) -> Result<()> {
    db!(db, |pool| {
        sqlx::query("UPDATE kavach_agent_session SET actions_used = actions_used - 1 WHERE id = $1 AND actions_used > 0").bind(id).execute(pool).await?;
    });
    Ok(())
}

// ---- permissions ----

pub(super) async fn permissions(db: &Db, agent_ids: &[&str]) -> Result<Vec<Permission>> {
    if agent_ids.is_empty() {
        return Ok(vec![]);
    }
    let marks: Vec<String> = (1..=agent_ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT id, agent_id, effect, resource, actions, constraints, expires_at, created_at FROM kavach_agent_permission \
         WHERE agent_id IN ({}) ORDER BY created_at, id",
        marks.join(", ")
    );
    db!(db, |pool| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in agent_ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(pool).await?;
        rows.iter().map(|r| Ok(permission_from_row!(r))).collect()
    })
}

pub(super) async fn insert_permissions(db: &Db, a: &Agent, perms: &[Permission], max: u32, by: Option<&str>, ctx: &RequestContext) -> Result<()> {
    let agent_id = a.id.as_str();
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE kavach_agent SET updated_at = updated_at WHERE id = $1").bind(agent_id).execute(&mut *tx).await?;
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kavach_agent_permission WHERE agent_id = $1").bind(agent_id).fetch_one(&mut *tx).await?;
        if n + perms.len() as i64 > i64::from(max) {
            return Err(Error::bad_request(crate::Code::InvalidPermission, format!("At most {max} permissions per agent")));
        }
        for p in perms {
            insert_permission!(tx, p);
        }
        audit::append_in_tx!(tx, event(EventKind::AgentPermissionGranted, a, by, ctx).with("permissions", perms.iter().map(|p| &p.id).collect::<Vec<_>>()));
        tx.commit().await?;
    });
    Ok(())
}

pub(super) async fn delete_permission(db: &Db, a: &Agent, id: &str, by: Option<&str>, ctx: &RequestContext) -> Result<bool> {
    let agent_id = a.id.as_str();
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let n =
            sqlx::query("DELETE FROM kavach_agent_permission WHERE id = $1 AND agent_id = $2").bind(id).bind(agent_id).execute(&mut *tx).await?.rows_affected();
        if n == 0 {
            return Ok(false);
        }
        audit::append_in_tx!(tx, event(EventKind::AgentPermissionRevoked, a, by, ctx).with("permissionId", id));
        tx.commit().await?;
    });
    Ok(true)
}

// ---- approvals ----

const APPROVAL_COLUMNS: &str =
    "p.id, p.agent_id, p.action, p.resource, p.arguments, p.status, p.uses_left, p.expires_at, p.valid_until, p.decided_by, p.created_at";

macro_rules! approval_from_row {
    ($r:expr, $now:expr) => {{
        let expires_at: Ts = $r.try_get("expires_at")?;
        let status: String = $r.try_get("status")?;
        Approval {
            id: $r.try_get("id")?,
            agent_id: $r.try_get("agent_id")?,
            action: $r.try_get("action")?,
            resource: $r.try_get("resource")?,
            arguments: serde_json::from_str(&$r.try_get::<String, _>("arguments")?).unwrap_or_default(),
            status: if status == "pending" && expires_at <= $now { "expired".to_owned() } else { status },
            uses_left: $r.try_get::<i64, _>("uses_left")?,
            expires_at,
            valid_until: $r.try_get("valid_until")?,
            decided_by: $r.try_get("decided_by")?,
            created_at: $r.try_get("created_at")?,
        }
    }};
}

/// Approval requests whose agent's `column` is `value` (`None`: every one), pending
/// first, at most 500.
pub(super) async fn approvals_of(db: &Db, filter: Option<(&'static str, &str)>) -> Result<Vec<Approval>> {
    let filter_sql = filter.map(|(column, _)| format!("WHERE a.{column} = $1")).unwrap_or_default();
    let sql = format!(
        "SELECT {APPROVAL_COLUMNS} FROM kavach_agent_approval p JOIN kavach_agent a ON a.id = p.agent_id {filter_sql} \
         ORDER BY CASE WHEN p.status = 'pending' THEN 0 ELSE 1 END, p.created_at DESC LIMIT 500"
    );
    let now = Ts::now();
    db!(db, |pool| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some((_, value)) = filter {
            q = q.bind(value);
        }
        let rows = q.fetch_all(pool).await?;
        rows.iter().map(|r| Ok(approval_from_row!(r, now))).collect()
    })
}

pub(super) async fn member_orgs(db: &Db, user_id: &str) -> Result<Vec<String>> {
    db!(db, |pool| {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT organization_id FROM kavach_member WHERE user_id = $1").bind(user_id).fetch_all(pool).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    })
}

pub(super) async fn approval(db: &Db, id: &str) -> Result<Option<Approval>> {
    let sql = format!("SELECT {APPROVAL_COLUMNS} FROM kavach_agent_approval p WHERE p.id = $1");
    let now = Ts::now();
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await? {
            Some(r) => Ok(Some(approval_from_row!(r, now))),
            None => Ok(None),
        }
    })
}

/// Answer a pending, unexpired request; false when it is not (any more).
#[allow(clippy::too_many_arguments)]
pub(super) async fn answer_approval(
    db: &Db,
    a: &Agent,
    ap: &Approval,
    status: &str,
    uses: i64,
    until: Option<Ts>,
    by: Option<&str>,
    now: Ts,
    ctx: &RequestContext,
) -> Result<bool> {
    let kind = if status == "approved" { EventKind::AgentApprovalGranted } else { EventKind::AgentApprovalDenied };
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let n = sqlx::query(
            "UPDATE kavach_agent_approval SET status = $2, uses_left = $3, valid_until = $4, decided_by = $5, decided_at = $6 \
             WHERE id = $1 AND status = 'pending' AND expires_at > $6",
        )
        .bind(&ap.id)
        .bind(status)
        .bind(uses)
        .bind(until)
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        audit::append_in_tx!(
            tx,
            event(kind, a, by, ctx)
                .with("approvalId", &ap.id)
                .with("action", &ap.action)
                .with("resource", &ap.resource)
                .with("uses", uses)
                .with_some("validUntil", until)
        );
        tx.commit().await?;
    });
    Ok(true)
}

/// An approved request for this exact call with uses left.
pub(super) async fn usable_approval(db: &Db, agent_id: &str, hash: &str, now: Ts) -> Result<Option<String>> {
    db!(db, |pool| {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM kavach_agent_approval WHERE agent_id = $1 AND request_hash = $2 AND status = 'approved' AND uses_left > 0 \
             AND valid_until > $3 ORDER BY created_at LIMIT 1",
        )
        .bind(agent_id)
        .bind(hash)
        .bind(now)
        .fetch_optional(pool)
        .await?;
        Ok(row.map(|r| r.0))
    })
}

/// Use one of the approval's uses; false when none is left.
pub(super) async fn consume_approval(db: &Db, id: &str, now: Ts) -> Result<bool> {
    db!(db, |pool| {
        Ok(sqlx::query(
            "UPDATE kavach_agent_approval SET uses_left = uses_left - 1 WHERE id = $1 AND status = 'approved' AND uses_left > 0 AND valid_until > $2",
        )
        .bind(id)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
            == 1)
    })
}

/// The pending request for this exact call, made (and recorded) if there is none and
/// the agent has fewer than `max` waiting: `Some((id, made now))`, `None` at the cap.
pub(super) async fn pending_approval(db: &Db, a: &Agent, call: &Call<'_>, hash: &str, now: Ts, expires: Ts, max: i64) -> Result<Option<(String, bool)>> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE kavach_agent SET updated_at = updated_at WHERE id = $1").bind(&a.id).execute(&mut *tx).await?;
        let existing: Option<(String,)> =
            sqlx::query_as("SELECT id FROM kavach_agent_approval WHERE agent_id = $1 AND request_hash = $2 AND status = 'pending' AND expires_at > $3 LIMIT 1")
                .bind(&a.id)
                .bind(hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((id,)) = existing {
            return Ok(Some((id, false)));
        }
        let (waiting,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kavach_agent_approval WHERE agent_id = $1 AND status = 'pending' AND expires_at > $2")
            .bind(&a.id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        if waiting >= max {
            return Ok(None);
        }
        let id = format!("apr_{}", crypto::new_id());
        sqlx::query(
            "INSERT INTO kavach_agent_approval (id, agent_id, request_hash, action, resource, arguments, status, uses_left, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8)",
        )
        .bind(&id)
        .bind(&a.id)
        .bind(hash)
        .bind(call.action)
        .bind(call.resource)
        .bind(call.arguments.to_string())
        .bind(expires)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::append_in_tx!(
            tx,
            event(EventKind::AgentApprovalRequested, a, None, &RequestContext::default())
                .with("approvalId", &id)
                .with("action", call.action)
                .with("resource", call.resource)
                .with("expiresAt", expires)
        );
        tx.commit().await?;
        Ok(Some((id, true)))
    })
}

// ---- budgets ----

const BUDGET_COLUMNS: &str = "id, agent_id, owner_user_id, owner_organization_id, calls_per_day, calls_per_month, cost_per_day, cost_per_month, action";

macro_rules! budget_from_row {
    ($r:expr) => {
        Budget {
            id: $r.try_get("id")?,
            agent_id: $r.try_get("agent_id")?,
            organization_id: $r.try_get("owner_organization_id")?,
            owner_user_id: $r.try_get("owner_user_id")?,
            calls_per_day: $r.try_get("calls_per_day")?,
            calls_per_month: $r.try_get("calls_per_month")?,
            cost_per_day: $r.try_get("cost_per_day")?,
            cost_per_month: $r.try_get("cost_per_month")?,
            action: BudgetAction::parse(&$r.try_get::<String, _>("action")?),
        }
    };
}

pub(super) async fn insert_budget(db: &Db, b: &Budget, by: Option<&str>, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO kavach_agent_budget (id, agent_id, owner_user_id, owner_organization_id, calls_per_day, calls_per_month, cost_per_day, \
             cost_per_month, action, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&b.id)
        .bind(&b.agent_id)
        .bind(&b.owner_user_id)
        .bind(&b.organization_id)
        .bind(b.calls_per_day)
        .bind(b.calls_per_month)
        .bind(b.cost_per_day)
        .bind(b.cost_per_month)
        .bind(b.action.as_str())
        .bind(Ts::now())
        .execute(&mut *tx)
        .await?;
        audit::append_in_tx!(
            tx,
            Event::new(EventKind::AgentBudgetSet, by, ctx)
                .with("budgetId", &b.id)
                .with_some("agentId", b.agent_id.as_deref())
                .with_some("organizationId", b.organization_id.as_deref())
                .with_some("ownerUserId", b.owner_user_id.as_deref())
                .with("action", b.action.as_str())
        );
        tx.commit().await?;
    });
    Ok(())
}

pub(super) async fn budget(db: &Db, id: &str) -> Result<Option<Budget>> {
    let sql = format!("SELECT {BUDGET_COLUMNS} FROM kavach_agent_budget WHERE id = $1");
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await? {
            Some(r) => Ok(Some(budget_from_row!(r))),
            None => Ok(None),
        }
    })
}

pub(super) async fn budgets_for(db: &Db, a: &Agent) -> Result<Vec<Budget>> {
    budgets_where(db, &[a.id.as_str()], a).await
}

/// Budgets of every agent of the chain and of their owner.
pub(super) async fn budgets_for_chain(db: &Db, chain: &[Link]) -> Result<Vec<Budget>> {
    let Some(first) = chain.first() else { return Ok(vec![]) };
    let ids: Vec<&str> = chain.iter().map(|l| l.agent.id.as_str()).collect();
    budgets_where(db, &ids, &first.agent).await
}

async fn budgets_where(db: &Db, ids: &[&str], a: &Agent) -> Result<Vec<Budget>> {
    let marks: Vec<String> = (3..3 + ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {BUDGET_COLUMNS} FROM kavach_agent_budget WHERE (agent_id IS NULL AND (owner_user_id = $1 OR owner_organization_id = $2)) \
         OR agent_id IN ({}) ORDER BY created_at, id",
        marks.join(", ")
    );
    db!(db, |pool| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&a.owner_user_id).bind(&a.owner_organization_id);
        for id in ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(pool).await?;
        rows.iter().map(|r| Ok(budget_from_row!(r))).collect()
    })
}

pub(super) async fn delete_budget(db: &Db, id: &str, by: Option<&str>, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("DELETE FROM kavach_agent_budget WHERE id = $1").bind(id).execute(&mut *tx).await?;
        audit::append_in_tx!(tx, Event::new(EventKind::AgentBudgetDeleted, by, ctx).with("budgetId", id));
        tx.commit().await?;
    });
    Ok(())
}

// ---- trust ----

pub(super) async fn stats(db: &Db, agent_id: &str) -> Result<Stats> {
    db!(db, |pool| {
        let row: Option<(i64, i64, i64, i64, i64)> =
            sqlx::query_as("SELECT allowed, denied, approvals_refused, budget_breaches, anomalies FROM kavach_agent_stats WHERE agent_id = $1")
                .bind(agent_id)
                .fetch_optional(pool)
                .await?;
        Ok(row
            .map(|(allowed, denied, approvals_refused, budget_breaches, anomalies)| Stats { allowed, denied, approvals_refused, budget_breaches, anomalies })
            .unwrap_or_default())
    })
}
