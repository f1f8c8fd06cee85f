//! Single-use tokens (email verification, password reset, email change, magic links). Only the
//! token's hash is stored, as `identifier = "<purpose>:<hash>"`; consuming a token
//! deletes its row in the same statement that reads it, so it works once.

use crate::error::Result;
use crate::store::group::Batch;
use crate::store::{BeginWrite, Db, Ts};
use crate::{Core, crypto, db};
use std::collections::HashMap;
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
/// when unknown, already used or expired. Consumed with the other single-use inputs of
/// the same moment in one transaction ([`SingleUse`]).
pub(crate) async fn consume(core: &Core, purpose: Purpose, token: &str) -> Result<Option<serde_json::Value>> {
    match core.single_use.write(Use::Token(identifier(purpose, token))).await? {
        Used::Token(v) => Ok(v),
        Used::Code(_) => Err(crate::Error::internal("a token consumed as a code")),
    }
}

/// A single-use input to consume ([`SingleUse`]).
pub(crate) enum Use {
    /// A token of this table, by its `identifier`.
    Token(String),
    /// A one-time code ([`crate::otp`]) that must be live, with attempts left, and have
    /// this hash.
    Code { purpose: String, target: String, code_hash: String, max_attempts: i64 },
}

/// What consuming a [`Use`] found.
pub(crate) enum Used {
    /// The token's value (`None`: unknown, already used or expired).
    Token(Option<serde_json::Value>),
    /// Whether the code was there, right, live and with attempts left (now deleted).
    Code(bool),
}

/// Single-use inputs (tokens, one-time codes) consumed for many requests at once (group
/// commit, [`crate::store::group`]): one `DELETE ... RETURNING` for the group's tokens,
/// one `DELETE` per code, in one transaction when there is more than one statement. Two
/// requests presenting the same input in one group: the first gets it, the second finds
/// it used, as across groups and instances (the row is deleted once).
pub(crate) struct SingleUse;

impl Batch for SingleUse {
    type Item = Use;
    type Out = Used;
    async fn write(&self, db: &Db, items: &[Use]) -> Result<Vec<Used>> {
        let now = Ts::now();
        let ids: Vec<&str> = items.iter().filter_map(|u| if let Use::Token(id) = u { Some(id.as_str()) } else { None }).collect();
        // The statements, on `$conn`: the group's tokens in one, then one per code.
        macro_rules! consume_all {
            ($conn:expr) => {{
                let mut found = HashMap::new();
                if !ids.is_empty() {
                    let sql = format!(
                        "DELETE FROM kavach_verification WHERE identifier IN {} RETURNING identifier, value, expires_at",
                        crate::store::values_list(matches!(db, Db::Sqlite(_)), 1, ids.len())
                    );
                    // Only placeholders are generated; not kept prepared (one statement per group size).
                    let mut q = sqlx::query_as::<_, (String, String, Ts)>(sqlx::AssertSqlSafe(sql)).persistent(false);
                    for id in &ids {
                        q = q.bind(*id);
                    }
                    for (id, v, exp) in q.fetch_all($conn).await? {
                        found.insert(id, (v, exp));
                    }
                }
                let mut codes = Vec::new();
                for u in items {
                    if let Use::Code { purpose, target, code_hash, max_attempts } = u {
                        let n =
                            sqlx::query("DELETE FROM kavach_otp WHERE purpose = $1 AND target = $2 AND code_hash = $3 AND expires_at > $4 AND attempts < $5")
                                .bind(purpose)
                                .bind(target)
                                .bind(code_hash)
                                .bind(now)
                                .bind(*max_attempts)
                                .execute($conn)
                                .await?
                                .rows_affected();
                        codes.push(n == 1);
                    }
                }
                (found, codes)
            }};
        }
        let statements = usize::from(!ids.is_empty()) + (items.len() - ids.len());
        let (mut found, codes): (HashMap<String, (String, Ts)>, Vec<bool>) = db!(db, |pool| {
            if statements == 1 {
                // One statement is atomic on its own: no transaction around it (two fewer
                // round trips to the database).
                let _turn = pool.write_turn().await;
                consume_all!(pool)
            } else {
                // Several commit together: a group that fails leaves every input in place
                // for its requests to be tried again one by one.
                let mut tx = pool.begin_write().await?;
                let out = consume_all!(&mut *tx);
                tx.commit().await?;
                out
            }
        });
        let mut codes = codes.into_iter();
        Ok(items
            .iter()
            .map(|u| match u {
                // `remove`: a second request with the same token in this group finds it used.
                Use::Token(id) => Used::Token(match found.remove(id) {
                    Some((v, exp)) if exp > now => serde_json::from_str(&v).ok(),
                    _ => None,
                }),
                Use::Code { .. } => Used::Code(codes.next().unwrap_or(false)),
            })
            .collect())
    }
}

pub(crate) async fn purge_expired(db: &Db) -> Result<u64> {
    db!(db, |pool| { Ok(sqlx::query("DELETE FROM kavach_verification WHERE expires_at < $1").bind(Ts::now()).execute(pool).await?.rows_affected()) })
}
