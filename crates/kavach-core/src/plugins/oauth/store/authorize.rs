//! Pushed authorization requests, remembered consents and authorization codes.

use crate::audit::{self, Event};
use crate::db;
use crate::error::Result;
use crate::store::{BeginWrite, Db, Ts};

pub(crate) async fn insert_par(db: &Db, request_uri_hash: &str, client_id: &str, params: &str, expires: Ts) -> Result<()> {
    db!(db, |pool| {
        sqlx::query("INSERT INTO kavach_oauth_par (request_uri_hash, client_id, params, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(request_uri_hash)
            .bind(client_id)
            .bind(params)
            .bind(expires)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Consume a pushed request's parameters: only the client that pushed it consumes it (another
/// client's attempt leaves it), and only before it expires.
pub(crate) async fn take_par(db: &Db, request_uri_hash: &str, client_id: &str, now: Ts) -> Result<Option<String>> {
    let row: Option<(String,)> = db!(db, |pool| {
        sqlx::query_as("DELETE FROM kavach_oauth_par WHERE request_uri_hash = $1 AND client_id = $2 AND expires_at > $3 RETURNING params")
            .bind(request_uri_hash)
            .bind(client_id)
            .bind(now)
            .fetch_optional(pool)
            .await?
    });
    Ok(row.map(|(p,)| p))
}

/// A remembered consent: (scope, resource).
pub(crate) async fn consent(db: &Db, user_id: &str, client_id: &str) -> Result<Option<(String, String)>> {
    Ok(db!(db, |pool| {
        sqlx::query_as("SELECT scope, resource FROM kavach_oauth_consent WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(pool)
            .await?
    }))
}

pub(crate) async fn remember_consent(db: &Db, user_id: &str, client_id: &str, scope: &str, resource: &str, now: Ts) -> Result<()> {
    db!(db, |pool| {
        sqlx::query(
            "INSERT INTO kavach_oauth_consent (user_id, client_id, scope, resource, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, resource = excluded.resource, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(resource)
        .bind(now)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub(crate) async fn insert_code(db: &Db, code_hash: &str, family: &str, request: &str, user_id: &str, auth_time: Ts, expires: Ts) -> Result<()> {
    db!(db, |pool| {
        sqlx::query("INSERT INTO kavach_oauth_code (code_hash, family_id, request, user_id, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(code_hash)
            .bind(family)
            .bind(request)
            .bind(user_id)
            .bind(auth_time)
            .bind(expires)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// A user's remembered consents with their clients' names: (client_id, scope, resource,
/// updated_at, client_name), newest first.
pub(crate) async fn consents(db: &Db, user_id: &str) -> Result<Vec<(String, String, String, Ts, Option<String>)>> {
    Ok(db!(db, |pool| {
        sqlx::query_as(
            "SELECT c.client_id, c.scope, c.resource, c.updated_at, k.client_name FROM kavach_oauth_consent c \
             LEFT JOIN kavach_oauth_client k ON k.client_id = c.client_id WHERE c.user_id = $1 ORDER BY c.updated_at DESC",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?
    }))
}

/// Forget a consent and revoke the user's grant families of that client, recording
/// `event(families revoked)` in the same transaction when anything was revoked.
pub(crate) async fn revoke_consent(db: &Db, user_id: &str, client_id: &str, now: Ts, event: impl FnOnce(u64) -> Event) -> Result<bool> {
    Ok(db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let c = sqlx::query("DELETE FROM kavach_oauth_consent WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let f = sqlx::query("UPDATE kavach_oauth_family SET revoked_at = $1 WHERE user_id = $2 AND client_id = $3 AND revoked_at IS NULL")
            .bind(now)
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if c + f > 0 {
            audit::append_in_tx!(tx, event(f));
        }
        tx.commit().await?;
        c + f > 0
    }))
}
