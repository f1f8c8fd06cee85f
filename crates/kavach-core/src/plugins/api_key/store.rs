//! Every query of the API-key capability.

use super::ApiKey;
use crate::access::Permissions;
use crate::error::Result;
use crate::store::{BeginWrite, Db, Ts};
use crate::users::User;
use crate::{RequestContext, audit, db};
use sqlx::Row;

const COLUMNS: &str = "k.id, k.user_id, k.name, k.start, k.prefix, k.enabled, k.expires_at, k.remaining, k.refill_amount, k.refill_interval, \
     k.last_refill_at, k.rate_limit_enabled, k.rate_limit_time_window, k.rate_limit_max, k.request_count, k.last_request, k.permissions, \
     k.metadata, k.created_at, k.updated_at";

macro_rules! key_from_row {
    ($r:expr) => {{
        let user_id: String = $r.try_get("user_id")?;
        let permissions: Option<String> = $r.try_get("permissions")?;
        let metadata: Option<String> = $r.try_get("metadata")?;
        ApiKey {
            id: $r.try_get("id")?,
            config_id: "default",
            name: $r.try_get("name")?,
            start: $r.try_get("start")?,
            prefix: $r.try_get("prefix")?,
            reference_id: user_id.clone(),
            user_id,
            enabled: $r.try_get("enabled")?,
            expires_at: $r.try_get("expires_at")?,
            remaining: $r.try_get("remaining")?,
            refill_amount: $r.try_get("refill_amount")?,
            refill_interval: $r.try_get("refill_interval")?,
            last_refill_at: $r.try_get("last_refill_at")?,
            rate_limit_enabled: $r.try_get("rate_limit_enabled")?,
            rate_limit_time_window: $r.try_get("rate_limit_time_window")?,
            rate_limit_max: $r.try_get("rate_limit_max")?,
            request_count: $r.try_get("request_count")?,
            last_request: $r.try_get("last_request")?,
            permissions: permissions.as_deref().map(Permissions::from_json).transpose()?,
            metadata: metadata.as_deref().and_then(|m| serde_json::from_str(m).ok()),
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
        }
    }};
}

pub(super) async fn insert(db: &Db, k: &ApiKey, hash: &str, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO kavach_api_key (id, user_id, name, start, prefix, key_hash, enabled, expires_at, remaining, refill_amount, refill_interval, \
             rate_limit_enabled, rate_limit_time_window, rate_limit_max, permissions, metadata, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)",
        )
        .bind(&k.id)
        .bind(&k.user_id)
        .bind(&k.name)
        .bind(&k.start)
        .bind(&k.prefix)
        .bind(hash)
        .bind(k.enabled)
        .bind(k.expires_at)
        .bind(k.remaining)
        .bind(k.refill_amount)
        .bind(k.refill_interval)
        .bind(k.rate_limit_enabled)
        .bind(k.rate_limit_time_window)
        .bind(k.rate_limit_max)
        .bind(k.permissions.as_ref().map(Permissions::to_json))
        .bind(k.metadata.as_ref().map(serde_json::Value::to_string))
        .bind(k.created_at)
        .execute(&mut *tx)
        .await?;
        audit::append_in_tx!(tx, audit::Event::new(audit::EventKind::ApiKeyCreated, Some(&k.user_id), ctx).with("keyId", &k.id).with("start", &k.start));
        tx.commit().await?;
    });
    Ok(())
}

pub(super) async fn by_id(db: &Db, id: &str) -> Result<Option<ApiKey>> {
    let sql = format!("SELECT {COLUMNS} FROM kavach_api_key k WHERE k.id = $1");
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await? {
            Some(r) => Ok(Some(key_from_row!(r))),
            None => Ok(None),
        }
    })
}

/// The key with this hash and its owner.
pub(super) async fn by_hash(db: &Db, hash: &str) -> Result<Option<(ApiKey, User)>> {
    let sql = format!("SELECT {COLUMNS} FROM kavach_api_key k WHERE k.key_hash = $1");
    let key = db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hash).fetch_optional(pool).await? {
            Some(r) => Some(key_from_row!(r)),
            None => None,
        }
    });
    let Some(key) = key else { return Ok(None) };
    Ok(crate::users::find_by_id(db, &key.user_id).await?.map(|u| (key, u)))
}

pub(super) async fn list(db: &Db, user_id: &str, order: &str, desc: bool, limit: u32, offset: u32) -> Result<(Vec<ApiKey>, u64)> {
    let dir = if desc { "DESC" } else { "ASC" };
    let sql = format!("SELECT {COLUMNS} FROM kavach_api_key k WHERE k.user_id = $1 ORDER BY k.{order} {dir}, k.id LIMIT $2 OFFSET $3");
    db!(db, |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).bind(i64::from(limit)).bind(i64::from(offset)).fetch_all(pool).await?;
        let mut keys = Vec::with_capacity(rows.len());
        for r in rows {
            keys.push(key_from_row!(r));
        }
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kavach_api_key WHERE user_id = $1").bind(user_id).fetch_one(pool).await?;
        Ok((keys, u64::try_from(total).unwrap_or(0)))
    })
}

pub(super) async fn update(db: &Db, k: &ApiKey, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "UPDATE kavach_api_key SET name = $1, enabled = $2, expires_at = $3, metadata = $4, permissions = $5, remaining = $6, \
             rate_limit_enabled = $7, rate_limit_time_window = $8, rate_limit_max = $9, updated_at = $10 WHERE id = $11",
        )
        .bind(&k.name)
        .bind(k.enabled)
        .bind(k.expires_at)
        .bind(k.metadata.as_ref().map(serde_json::Value::to_string))
        .bind(k.permissions.as_ref().map(Permissions::to_json))
        .bind(k.remaining)
        .bind(k.rate_limit_enabled)
        .bind(k.rate_limit_time_window)
        .bind(k.rate_limit_max)
        .bind(k.updated_at)
        .bind(&k.id)
        .execute(&mut *tx)
        .await?;
        audit::append_in_tx!(tx, audit::Event::new(audit::EventKind::ApiKeyUpdated, Some(&k.user_id), ctx).with("keyId", &k.id).with("enabled", k.enabled));
        tx.commit().await?;
    });
    Ok(())
}

pub(super) async fn delete(db: &Db, id: &str, user_id: &str, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("DELETE FROM kavach_api_key WHERE id = $1 AND user_id = $2").bind(id).bind(user_id).execute(&mut *tx).await?;
        audit::append_in_tx!(tx, audit::Event::new(audit::EventKind::ApiKeyDeleted, Some(user_id), ctx).with("keyId", id));
        tx.commit().await?;
    });
    Ok(())
}

/// Use one of the key's remaining uses, atomically: when its refill interval has passed
/// since the last refill, exactly one use wins the refill (a conditional update on the
/// observed refill time); otherwise the counter goes down only while above zero. The
/// uses left afterwards, or `None` when none was left.
pub(super) async fn use_one(db: &Db, k: &ApiKey, now: Ts) -> Result<Option<i64>> {
    let refill_due = match (k.refill_amount, k.refill_interval) {
        (Some(_), Some(interval)) => k.last_refill_at.unwrap_or(k.created_at).0.saturating_add(interval) < now.0,
        _ => false,
    };
    db!(db, |pool| {
        if refill_due {
            let observed = k.last_refill_at.unwrap_or(k.created_at);
            let refilled: Option<(i64,)> = sqlx::query_as(
                "UPDATE kavach_api_key SET remaining = refill_amount - 1, last_refill_at = $1 \
                 WHERE id = $2 AND COALESCE(last_refill_at, created_at) = $3 RETURNING remaining",
            )
            .bind(now)
            .bind(&k.id)
            .bind(observed)
            .fetch_optional(pool)
            .await?;
            if let Some((left,)) = refilled {
                return Ok(Some(left));
            }
        }
        let left: Option<(i64,)> = sqlx::query_as("UPDATE kavach_api_key SET remaining = remaining - 1 WHERE id = $1 AND remaining > 0 RETURNING remaining")
            .bind(&k.id)
            .fetch_optional(pool)
            .await?;
        Ok(left.map(|r| r.0))
    })
}

/// Count a use of the key.
pub(super) async fn touch(db: &Db, id: &str, now: Ts) -> Result<()> {
    db!(db, |pool| {
        sqlx::query("UPDATE kavach_api_key SET request_count = request_count + 1, last_request = $1 WHERE id = $2").bind(now).bind(id).execute(pool).await?;
    });
    Ok(())
}

/// Delete the keys that expired.
pub(crate) async fn purge_expired(db: &Db) -> Result<u64> {
    db!(db, |pool| { Ok(sqlx::query("DELETE FROM kavach_api_key WHERE expires_at < $1").bind(Ts::now()).execute(pool).await?.rows_affected()) })
}
