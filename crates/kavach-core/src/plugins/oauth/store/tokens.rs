//! The token endpoint's state: authorization codes being redeemed, grant families and
//! their refresh tokens, remembered token ids (`jti`: revoked access tokens, used DPoP
//! proofs and client assertions), and the purge of what expired.

use super::super::tokens::NewFamily;
use crate::audit::{self, Event};
use crate::db;
use crate::error::Result;
use crate::store::{BeginWrite, Db, Ts};

/// Record a `jti` until `expires`; false if it was already recorded.
pub(crate) async fn remember_jti(db: &Db, jti: &str, expires: Ts) -> Result<bool> {
    db!(db, |pool| {
        // A write on every DPoP or assertion request: queue for it like the others.
        let _turn = pool.write_turn().await;
        Ok(sqlx::query("INSERT INTO kavach_oauth_jti (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires)
            .execute(pool)
            .await?
            .rows_affected()
            == 1)
    })
}

/// An authorization code: (family, request JSON, user, auth time, expiry, used at).
pub(crate) async fn code(db: &Db, code_hash: &str) -> Result<Option<(String, String, String, Ts, Ts, Option<Ts>)>> {
    Ok(db!(db, |pool| {
        sqlx::query_as("SELECT family_id, request, user_id, auth_time, expires_at, used_at FROM kavach_oauth_code WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(pool)
            .await?
    }))
}

/// What a refresh grant reads about a refresh token, in one query: family, its
/// successor's creation time and sealed token, the family's client, user, scope,
/// resource, auth time, expiry, revocation, DPoP key, and the user's ban.
pub(crate) type RefreshRow =
    (String, Option<Ts>, Option<String>, String, Option<String>, String, Option<String>, Option<Ts>, Ts, Option<Ts>, Option<String>, Option<bool>, Option<Ts>);

pub(crate) async fn refresh_row(db: &Db, token_hash: &str) -> Result<Option<RefreshRow>> {
    Ok(db!(db, |pool| {
        sqlx::query_as(
            "SELECT r.family_id, c.created_at, c.token_sealed, f.client_id, f.user_id, f.scope, f.resource, f.auth_time, f.expires_at, f.revoked_at, f.dpop_jkt, \
             u.banned, u.ban_expires FROM kavach_oauth_refresh r JOIN kavach_oauth_family f ON f.id = r.family_id \
             LEFT JOIN kavach_oauth_refresh c ON c.parent_hash = r.token_hash LEFT JOIN kavach_user u ON u.id = f.user_id WHERE r.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// In one transaction: claim the grant with `claim` (an UPDATE with `$1` = now and `$2`
/// = `key` that must change exactly one row), create the family and its first refresh
/// token, mark `first_use_of` (a client completing its first grant) used, and record
/// `event`. False when the claim lost (already used).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn start_family(
    db: &Db,
    claim: &'static str,
    key: &str,
    f: &NewFamily<'_>,
    refresh_hash: Option<&str>,
    first_use_of: Option<&str>,
    now: Ts,
    expires: Ts,
    event: Event,
) -> Result<bool> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        if sqlx::query(claim).bind(now).bind(key).execute(&mut *tx).await?.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO kavach_oauth_family (id, client_id, user_id, scope, resource, auth_time, created_at, expires_at, dpop_jkt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(f.id)
        .bind(f.client_id)
        .bind(f.user_id)
        .bind(f.scope)
        .bind(f.resource)
        .bind(f.auth_time)
        .bind(now)
        .bind(expires)
        .bind(f.dpop_jkt)
        .execute(&mut *tx)
        .await?;
        if let Some(h) = refresh_hash {
            sqlx::query("INSERT INTO kavach_oauth_refresh (token_hash, family_id, created_at) VALUES ($1, $2, $3)")
                .bind(h)
                .bind(f.id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(client_id) = first_use_of {
            sqlx::query("UPDATE kavach_oauth_client SET used_at = $1 WHERE client_id = $2 AND used_at IS NULL")
                .bind(now)
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
        }
        audit::append_in_tx!(tx, event);
        tx.commit().await?;
        Ok(true)
    })
}

/// Revoke a grant family and record `event(families revoked)` in the same transaction.
pub(crate) async fn revoke_family(db: &Db, family_id: &str, now: Ts, event: impl FnOnce(u64) -> Event) -> Result<u64> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let n = sqlx::query("UPDATE kavach_oauth_family SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(family_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        audit::append_in_tx!(tx, event(n));
        tx.commit().await?;
        Ok(n)
    })
}

/// Whether an access token is still alive, in one round trip: (times its `jti` was
/// revoked, 1 if its family is alive with its user there and not banned, 1 if its
/// client is there, enabled and not cut off since `issued`).
pub(crate) async fn liveness(db: &Db, jti_key: &str, family: &str, client_id: &str, issued: Ts, now: Ts) -> Result<(i64, i64, i64)> {
    Ok(db!(db, |pool| {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM kavach_oauth_jti WHERE jti = $1), \
             (SELECT COUNT(*) FROM kavach_oauth_family f LEFT JOIN kavach_user u ON u.id = f.user_id \
              WHERE f.id = $2 AND f.revoked_at IS NULL \
              AND (f.user_id IS NULL OR (u.id IS NOT NULL AND (u.banned = $4 OR (u.ban_expires IS NOT NULL AND u.ban_expires <= $6))))), \
             (SELECT COUNT(*) FROM kavach_oauth_client WHERE client_id = $3 AND disabled = $4 AND (revoked_before IS NULL OR revoked_before < $5))",
        )
        .bind(jti_key)
        .bind(family)
        .bind(client_id)
        .bind(false)
        .bind(issued)
        .bind(now)
        .fetch_one(pool)
        .await?
    }))
}

/// The family of a refresh token: (family, client, user).
pub(crate) async fn refresh_family(db: &Db, token_hash: &str) -> Result<Option<(String, String, Option<String>)>> {
    Ok(db!(db, |pool| {
        sqlx::query_as(
            "SELECT f.id, f.client_id, f.user_id FROM kavach_oauth_refresh r JOIN kavach_oauth_family f ON f.id = r.family_id WHERE r.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// What introspection says about a refresh token: (client, user, scope, expiry,
/// revocation, its successor's creation time, its creation time, resource).
pub(crate) type RefreshDescription = (String, Option<String>, String, Ts, Option<Ts>, Option<Ts>, Ts, Option<String>);

pub(crate) async fn refresh_description(db: &Db, token_hash: &str) -> Result<Option<RefreshDescription>> {
    Ok(db!(db, |pool| {
        sqlx::query_as(
            "SELECT f.client_id, f.user_id, f.scope, f.expires_at, f.revoked_at, c.created_at, r.created_at, f.resource \
             FROM kavach_oauth_refresh r JOIN kavach_oauth_family f ON f.id = r.family_id \
             LEFT JOIN kavach_oauth_refresh c ON c.parent_hash = r.token_hash WHERE r.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// Delete pushed requests expired before `now`, codes and families (with their refresh
/// tokens) expired before `old`, remembered ids expired before `now`; clear the sealed
/// successors created before `sealed_before`.
pub(crate) async fn purge(db: &Db, now: Ts, old: Ts, sealed_before: Ts) -> Result<()> {
    db!(db, |pool| {
        sqlx::query("DELETE FROM kavach_oauth_par WHERE expires_at < $1").bind(now).execute(pool).await?;
        sqlx::query("DELETE FROM kavach_oauth_code WHERE expires_at < $1").bind(old).execute(pool).await?;
        sqlx::query("DELETE FROM kavach_oauth_jti WHERE expires_at < $1").bind(now).execute(pool).await?;
        sqlx::query("DELETE FROM kavach_oauth_refresh WHERE family_id IN (SELECT id FROM kavach_oauth_family WHERE expires_at < $1)")
            .bind(old)
            .execute(pool)
            .await?;
        sqlx::query("DELETE FROM kavach_oauth_family WHERE expires_at < $1").bind(old).execute(pool).await?;
        sqlx::query("UPDATE kavach_oauth_refresh SET token_sealed = NULL WHERE token_sealed IS NOT NULL AND created_at < $1")
            .bind(sealed_before)
            .execute(pool)
            .await?;
    });
    Ok(())
}
