//! Every query of Sign-In with Ethereum on `kavach_wallet_address` (the nonces are
//! single-use verification tokens, `verification::consume`).

use super::Wallet;
use crate::error::Result;
use crate::store::{BeginWrite, Db};
use crate::users::{USER_COLUMNS_U, User, user_from_row};
use crate::{RequestContext, audit, db};
use sqlx::Row;

/// The user holding `address`, and whether on this chain (else on another one).
pub(crate) async fn owner(db: &Db, address: &str, chain_id: u64) -> Result<Option<(User, bool)>> {
    let sql = format!(
        "SELECT {USER_COLUMNS_U}, w.chain_id AS wallet_chain FROM kavach_wallet_address w JOIN kavach_user u ON u.id = w.user_id \
         WHERE w.address = $1 ORDER BY (w.chain_id = $2) DESC, w.created_at LIMIT 1"
    );
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(address).bind(chain_id as i64).fetch_optional(pool).await? {
            Some(r) => {
                let chain: i64 = r.try_get("wallet_chain")?;
                Ok(Some((user_from_row!(r), chain == chain_id as i64)))
            }
            None => Ok(None),
        }
    })
}

/// Within `$tx`: insert the wallet of `$user_id` (primary when it is the user's first),
/// with its audit record. A wallet another user holds is a unique violation.
macro_rules! insert_wallet_in_tx {
    ($tx:expr, $user_id:expr, $address:expr, $chain_id:expr, $ctx:expr) => {{
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kavach_wallet_address WHERE user_id = $1").bind($user_id).fetch_one(&mut *$tx).await?;
        let inserted =
            sqlx::query("INSERT INTO kavach_wallet_address (id, user_id, address, chain_id, is_primary, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind($crate::crypto::new_id())
                .bind($user_id)
                .bind($address)
                .bind($chain_id as i64)
                .bind(count == 0)
                .bind($crate::store::Ts::now())
                .execute(&mut *$tx)
                .await;
        match inserted {
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => return Err($crate::plugins::siwe::taken()),
            r => r?,
        };
        $crate::audit::append_in_tx!(
            $tx,
            $crate::audit::Event::new($crate::audit::EventKind::WalletLinked, Some($user_id), $ctx).with("address", $address).with("chainId", $chain_id)
        );
    }};
}
pub(crate) use insert_wallet_in_tx;

/// Link a wallet to an existing user.
pub(crate) async fn link(db: &Db, user_id: &str, address: &str, chain_id: u64, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        insert_wallet_in_tx!(tx, user_id, address, chain_id, ctx);
        tx.commit().await?;
    });
    Ok(())
}

const WALLET_COLUMNS: &str = "address, chain_id, is_primary, created_at";

macro_rules! wallet_from_row {
    ($r:expr) => {
        Wallet {
            address: $r.try_get("address")?,
            chain_id: $r.try_get::<i64, _>("chain_id")? as u64,
            is_primary: $r.try_get("is_primary")?,
            created_at: $r.try_get("created_at")?,
        }
    };
}

pub(crate) async fn wallet(db: &Db, user_id: &str, address: &str, chain_id: u64) -> Result<Option<Wallet>> {
    let sql = format!("SELECT {WALLET_COLUMNS} FROM kavach_wallet_address WHERE user_id = $1 AND address = $2 AND chain_id = $3");
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).bind(address).bind(chain_id as i64).fetch_optional(pool).await? {
            Some(r) => Ok(Some(wallet_from_row!(r))),
            None => Ok(None),
        }
    })
}

pub(crate) async fn wallets(db: &Db, user_id: &str) -> Result<Vec<Wallet>> {
    let sql = format!("SELECT {WALLET_COLUMNS} FROM kavach_wallet_address WHERE user_id = $1 ORDER BY is_primary DESC, created_at, chain_id");
    db!(db, |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(pool).await?;
        rows.iter().map(|r| Ok(wallet_from_row!(r))).collect()
    })
}

pub(crate) enum Unlinked {
    Yes,
    NotFound,
    /// `keep_one` and it is the user's last wallet.
    LastWay,
}

/// Delete a wallet of the user; with `keep_one`, not their last one (counted under the
/// user's row lock, so two unlinks cannot both pass).
pub(crate) async fn unlink(db: &Db, user_id: &str, address: &str, chain_id: u64, keep_one: bool, ctx: &RequestContext) -> Result<Unlinked> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE kavach_user SET updated_at = updated_at WHERE id = $1").bind(user_id).execute(&mut *tx).await?;
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kavach_wallet_address WHERE user_id = $1").bind(user_id).fetch_one(&mut *tx).await?;
        let (exists,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kavach_wallet_address WHERE user_id = $1 AND address = $2 AND chain_id = $3")
            .bind(user_id)
            .bind(address)
            .bind(chain_id as i64)
            .fetch_one(&mut *tx)
            .await?;
        if exists == 0 {
            return Ok(Unlinked::NotFound);
        }
        if keep_one && count <= 1 {
            return Ok(Unlinked::LastWay);
        }
        sqlx::query("DELETE FROM kavach_wallet_address WHERE user_id = $1 AND address = $2 AND chain_id = $3")
            .bind(user_id)
            .bind(address)
            .bind(chain_id as i64)
            .execute(&mut *tx)
            .await?;
        audit::append_in_tx!(tx, audit::Event::new(audit::EventKind::WalletUnlinked, Some(user_id), ctx).with("address", address).with("chainId", chain_id));
        tx.commit().await?;
        Ok(Unlinked::Yes)
    })
}
