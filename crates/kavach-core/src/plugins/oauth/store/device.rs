//! RFC 8628 device authorizations (`kavach_oauth_device`).

use crate::db;
use crate::error::Result;
use crate::store::{Db, Ts};

pub(crate) struct NewDevice<'a> {
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub client_id: &'a str,
    pub scope: String,
    pub resource: Option<&'a str>,
    pub interval_secs: i64,
}

pub(crate) async fn insert(db: &Db, d: &NewDevice<'_>, now: Ts, expires: Ts) -> Result<()> {
    db!(db, |pool| {
        sqlx::query(
            "INSERT INTO kavach_oauth_device (device_code_hash, user_code_hash, client_id, scope, resource, status, interval_secs, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8)",
        )
        .bind(&d.device_code_hash)
        .bind(&d.user_code_hash)
        .bind(d.client_id)
        .bind(&d.scope)
        .bind(d.resource)
        .bind(d.interval_secs)
        .bind(now)
        .bind(expires)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// The pending (undecided, unexpired) request of a user code: (client, scope, resource).
pub(crate) async fn pending(db: &Db, user_code_hash: &str, now: Ts) -> Result<Option<(String, String, Option<String>)>> {
    Ok(db!(db, |pool| {
        sqlx::query_as("SELECT client_id, scope, resource FROM kavach_oauth_device WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2")
            .bind(user_code_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
    }))
}

/// Approve or deny a pending request (`status`): rows changed (0 when it was unknown,
/// expired or already decided).
pub(crate) async fn decide(db: &Db, user_code_hash: &str, status: &str, user_id: &str, auth_time: Ts, now: Ts) -> Result<u64> {
    Ok(db!(db, |pool| {
        sqlx::query(
            "UPDATE kavach_oauth_device SET status = $1, user_id = $2, auth_time = $3 WHERE user_code_hash = $4 AND status = 'pending' AND expires_at > $5",
        )
        .bind(status)
        .bind(user_id)
        .bind(auth_time)
        .bind(user_code_hash)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
    }))
}

/// A device code's request: (client, scope, resource, status, user, auth time, interval,
/// last poll, expiry).
pub(crate) type DeviceRow = (String, String, Option<String>, String, Option<String>, Option<Ts>, i64, Option<Ts>, Ts);

pub(crate) async fn by_device_code(db: &Db, device_code_hash: &str) -> Result<Option<DeviceRow>> {
    Ok(db!(db, |pool| {
        sqlx::query_as(
            "SELECT client_id, scope, resource, status, user_id, auth_time, interval_secs, last_poll_at, expires_at FROM kavach_oauth_device WHERE device_code_hash = $1",
        )
        .bind(device_code_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// Record a poll, growing the interval by `slower` seconds.
pub(crate) async fn polled(db: &Db, device_code_hash: &str, now: Ts, slower: i64) -> Result<()> {
    db!(db, |pool| {
        sqlx::query("UPDATE kavach_oauth_device SET last_poll_at = $1, interval_secs = interval_secs + $2 WHERE device_code_hash = $3")
            .bind(now)
            .bind(slower)
            .bind(device_code_hash)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Delete requests expired before `before`.
pub(crate) async fn purge(db: &Db, before: Ts) -> Result<()> {
    db!(db, |pool| {
        sqlx::query("DELETE FROM kavach_oauth_device WHERE expires_at < $1").bind(before).execute(pool).await?;
    });
    Ok(())
}
