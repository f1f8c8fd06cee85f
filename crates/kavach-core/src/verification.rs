//! Single-use tokens (email verification, password reset, email change, magic links). Only the
//! token's hash is stored, as `identifier = "<purpose>:<hash>"`; consuming a token
//! deletes its row in the same statement that reads it, so it works once.

use crate::error::Result;
use crate::store::{BeginWrite, Db, Ts};
use crate::{crypto, db};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
    MagicLink,
    /// A Sign-In with Ethereum nonce (`[siwe]`).
    SiweNonce,
    /// A nonce for a Google One Tap ID token (`[one_tap]`).
    OneTapNonce,
    /// A passkey ceremony's state (`[passkey]`).
    PasskeyChallenge,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify-email",
            Purpose::ResetPassword => "reset-password",
            Purpose::ChangeEmail => "change-email",
            Purpose::MagicLink => "magic-link",
            Purpose::SiweNonce => "siwe-nonce",
            Purpose::OneTapNonce => "one-tap-nonce",
            Purpose::PasskeyChallenge => "passkey-challenge",
        }
    }
}

pub(crate) fn identifier(purpose: Purpose, token: &str) -> String {
    format!("{}:{}", purpose.as_str(), crypto::token_hash(token))
}

/// Store a new token for `purpose` carrying `value`; returns the secret token.
pub(crate) async fn create(db: &Db, purpose: Purpose, value: &serde_json::Value, ttl: Duration) -> Result<String> {
    let token = crypto::random_token();
    store(db, purpose, &token, value, ttl).await?;
    Ok(token)
}

/// Store `token` (the caller made it, at least 128 random bits) for `purpose`.
pub(crate) async fn store(db: &Db, purpose: Purpose, token: &str, value: &serde_json::Value, ttl: Duration) -> Result<()> {
    let now = Ts::now();
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("INSERT INTO kavach_verification (id, identifier, value, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
            .bind(crypto::new_id())
            .bind(identifier(purpose, token))
            .bind(value.to_string())
            .bind(now.plus_secs(ttl.as_secs() as i64))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Inside transaction `$tx`: delete the token's row and yield its JSON value, or
/// `None` when it is unknown, already used or expired.
macro_rules! consume_in_tx {
    ($tx:expr, $purpose:expr, $token:expr) => {{
        let row: Option<(String, $crate::store::Ts)> = sqlx::query_as("DELETE FROM kavach_verification WHERE identifier = $1 RETURNING value, expires_at")
            .bind($crate::verification::identifier($purpose, $token))
            .fetch_optional(&mut *$tx)
            .await?;
        match row {
            Some((v, exp)) if exp > $crate::store::Ts::now() => serde_json::from_str::<serde_json::Value>(&v).ok(),
            _ => None,
        }
    }};
}
pub(crate) use consume_in_tx;

/// Consume a token on its own (nothing else changes with it): its JSON value, or `None`
/// when unknown, already used or expired.
pub(crate) async fn consume(db: &Db, purpose: Purpose, token: &str) -> Result<Option<serde_json::Value>> {
    Ok(db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let v = consume_in_tx!(tx, purpose, token);
        tx.commit().await?;
        v
    }))
}

pub(crate) async fn purge_expired(db: &Db) -> Result<u64> {
    db!(db, |pool| { Ok(sqlx::query("DELETE FROM kavach_verification WHERE expires_at < $1").bind(Ts::now()).execute(pool).await?.rows_affected()) })
}
