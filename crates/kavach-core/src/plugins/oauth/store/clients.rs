//! The client registry (`kavach_oauth_client`) and the key sets fetched from clients'
//! `jwks_uri` (`kavach_oauth_jwks_cache`).

use super::super::clients::ClientRow;
use crate::audit::{self, Event};
use crate::db;
use crate::error::Result;
use crate::store::{BeginWrite, Db, Ts};
use serde_json::Value;

/// The columns of a [`ClientRow`], in order.
const CLIENT_COLUMNS: &str = "client_id, kind, metadata, client_secret_hash, disabled, introspects, used_at, cached_until";
/// Revoke every grant family of a client (`$1` now, `$2` the client).
const REVOKE_CLIENT_FAMILIES: &str = "UPDATE kavach_oauth_family SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL";

/// A client to insert (registration or an operator's `kavach clients create`).
pub(crate) struct NewClient<'a> {
    pub client_id: &'a str,
    pub kind: &'a str,
    pub secret_hash: Option<String>,
    pub registration_token_hash: String,
    pub metadata: &'a Value,
}

/// Insert a client and record `event`, in one transaction.
pub(crate) async fn insert(db: &Db, c: &NewClient<'_>, now: Ts, event: Event) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO kavach_oauth_client (client_id, kind, client_secret_hash, registration_token_hash, client_name, redirect_uris, \
             token_endpoint_auth_method, metadata, disabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(c.client_id)
        .bind(c.kind)
        .bind(&c.secret_hash)
        .bind(&c.registration_token_hash)
        .bind(c.metadata["client_name"].as_str())
        .bind(c.metadata["redirect_uris"].to_string())
        .bind(c.metadata["token_endpoint_auth_method"].as_str())
        .bind(c.metadata.to_string())
        .bind(false)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::append_in_tx!(tx, event);
        tx.commit().await?;
    });
    Ok(())
}

/// Until when a metadata-document client's stored copy is fresh (`None`: not stored).
pub(crate) async fn document_cached_until(db: &Db, url: &str) -> Result<Option<Ts>> {
    let row: Option<(Option<Ts>,)> = db!(db, |pool| {
        sqlx::query_as("SELECT cached_until FROM kavach_oauth_client WHERE client_id = $1 AND kind = 'document'").bind(url).fetch_optional(pool).await?
    });
    Ok(row.map(|(t,)| t.unwrap_or(Ts(0))))
}

/// Store or refresh a metadata document's client (an operator's `disabled` survives).
pub(crate) async fn upsert_document(db: &Db, url: &str, metadata: &Value, now: Ts, cached_until: Ts) -> Result<()> {
    db!(db, |pool| {
        sqlx::query(
            "INSERT INTO kavach_oauth_client (client_id, kind, client_name, redirect_uris, token_endpoint_auth_method, metadata, disabled, \
             created_at, updated_at, cached_until) VALUES ($1, 'document', $2, $3, $4, $5, $6, $7, $7, $8) \
             ON CONFLICT (client_id) DO UPDATE SET client_name = excluded.client_name, redirect_uris = excluded.redirect_uris, \
             token_endpoint_auth_method = excluded.token_endpoint_auth_method, metadata = excluded.metadata, updated_at = excluded.updated_at, \
             cached_until = excluded.cached_until",
        )
        .bind(url)
        .bind(metadata["client_name"].as_str())
        .bind(metadata["redirect_uris"].to_string())
        .bind(metadata["token_endpoint_auth_method"].as_str())
        .bind(metadata.to_string())
        .bind(false)
        .bind(now)
        .bind(cached_until)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// A `jwks_uri`'s stored key set: (JSON, fetched at, fresh until).
pub(crate) async fn remote_jwks(db: &Db, uri: &str) -> Result<Option<(String, Ts, Ts)>> {
    Ok(db!(db, |pool| {
        sqlx::query_as("SELECT jwks, fetched_at, cached_until FROM kavach_oauth_jwks_cache WHERE uri = $1").bind(uri).fetch_optional(pool).await?
    }))
}

pub(crate) async fn upsert_remote_jwks(db: &Db, uri: &str, jwks: &str, now: Ts, cached_until: Ts) -> Result<()> {
    db!(db, |pool| {
        sqlx::query(
            "INSERT INTO kavach_oauth_jwks_cache (uri, jwks, fetched_at, cached_until) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (uri) DO UPDATE SET jwks = excluded.jwks, fetched_at = excluded.fetched_at, cached_until = excluded.cached_until",
        )
        .bind(uri)
        .bind(jwks)
        .bind(now)
        .bind(cached_until)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub(crate) async fn get(db: &Db, client_id: &str) -> Result<Option<ClientRow>> {
    Ok(db!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {CLIENT_COLUMNS} FROM kavach_oauth_client WHERE client_id = $1")))
            .bind(client_id)
            .fetch_optional(pool)
            .await?
    }))
}

/// Every client, newest first.
pub(crate) async fn list(db: &Db) -> Result<Vec<ClientRow>> {
    Ok(db!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {CLIENT_COLUMNS} FROM kavach_oauth_client ORDER BY created_at DESC"))).fetch_all(pool).await?
    }))
}

/// The registration access token's hash of an enabled client.
pub(crate) async fn registration_token_hash(db: &Db, client_id: &str) -> Result<Option<String>> {
    Ok(db!(db, |pool| {
        sqlx::query_scalar("SELECT registration_token_hash FROM kavach_oauth_client WHERE client_id = $1 AND disabled = $2")
            .bind(client_id)
            .bind(false)
            .fetch_optional(pool)
            .await?
            .flatten()
    }))
}

pub(crate) async fn update_metadata(db: &Db, client_id: &str, metadata: &Value, now: Ts) -> Result<()> {
    db!(db, |pool| {
        sqlx::query(
            "UPDATE kavach_oauth_client SET client_name = $1, redirect_uris = $2, token_endpoint_auth_method = $3, metadata = $4, updated_at = $5 \
             WHERE client_id = $6",
        )
        .bind(metadata["client_name"].as_str())
        .bind(metadata["redirect_uris"].to_string())
        .bind(metadata["token_endpoint_auth_method"].as_str())
        .bind(metadata.to_string())
        .bind(now)
        .bind(client_id)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Delete a client with its users' remembered consents, revoking its grant families.
pub(crate) async fn delete(db: &Db, client_id: &str, now: Ts) -> Result<bool> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("DELETE FROM kavach_oauth_consent WHERE client_id = $1").bind(client_id).execute(&mut *tx).await?;
        sqlx::query(REVOKE_CLIENT_FAMILIES).bind(now).bind(client_id).execute(&mut *tx).await?;
        let n = sqlx::query("DELETE FROM kavach_oauth_client WHERE client_id = $1").bind(client_id).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    })
}

pub(crate) async fn set_introspects(db: &Db, client_id: &str, value: Option<&str>, now: Ts) -> Result<bool> {
    db!(db, |pool| {
        let n = sqlx::query("UPDATE kavach_oauth_client SET introspects = $1, updated_at = $2 WHERE client_id = $3")
            .bind(value)
            .bind(now)
            .bind(client_id)
            .execute(pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    })
}

/// Delete clients of `kind` never used and registered before `cutoff`.
pub(crate) async fn delete_unused(db: &Db, kind: &str, cutoff: Ts) -> Result<u64> {
    db!(db, |pool| {
        Ok(sqlx::query("DELETE FROM kavach_oauth_client WHERE kind = $1 AND used_at IS NULL AND created_at < $2")
            .bind(kind)
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected())
    })
}

pub(crate) async fn mark_used(db: &Db, client_id: &str, now: Ts) -> Result<()> {
    db!(db, |pool| {
        sqlx::query("UPDATE kavach_oauth_client SET used_at = $1 WHERE client_id = $2 AND used_at IS NULL").bind(now).bind(client_id).execute(pool).await?;
    });
    Ok(())
}

/// Disable (revoking its grant families and cutting off its access tokens issued until
/// `cut_off`) or re-enable a client. `cut_off` is later than `now` by the bound of the
/// instances' client caches: whatever an instance still serving a cached copy issues in
/// that window is cut off too, and its grant families are revoked on re-enabling.
pub(crate) async fn set_disabled(db: &Db, client_id: &str, disabled: bool, now: Ts, cut_off: Ts) -> Result<bool> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let n = sqlx::query(
            "UPDATE kavach_oauth_client SET disabled = $1, updated_at = $2, revoked_before = CASE WHEN $1 THEN $3 ELSE revoked_before END WHERE client_id = $4",
        )
        .bind(disabled)
        .bind(now)
        .bind(cut_off)
        .bind(client_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let families = if disabled {
            REVOKE_CLIENT_FAMILIES
        } else {
            "UPDATE kavach_oauth_family SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL \
             AND created_at <= (SELECT revoked_before FROM kavach_oauth_client WHERE client_id = $2)"
        };
        sqlx::query(families).bind(now).bind(client_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(n > 0)
    })
}
