//! Every query of Google One Tap: the Google accounts in `kavach_account` (provider
//! `google`, the token's `sub`). The nonces are single-use verification tokens.

use super::PROVIDER;
use crate::error::Result;
use crate::store::{BeginWrite, Db};
use crate::users::{USER_COLUMNS_U, User, user_from_row};
use crate::{RequestContext, db};
use sqlx::Row;

/// The user whose Google account is `sub`.
pub(crate) async fn account_user(db: &Db, sub: &str) -> Result<Option<User>> {
    let sql =
        format!("SELECT {USER_COLUMNS_U} FROM kavach_account a JOIN kavach_user u ON u.id = a.user_id WHERE a.provider_id = $1 AND a.provider_account_id = $2");
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(PROVIDER).bind(sub).fetch_optional(pool).await? {
            Some(r) => Ok(Some(user_from_row!(r))),
            None => Ok(None),
        }
    })
}

/// Within `$tx`: the provider account `$account_id` of `$provider` belongs to `$user_id`
/// (nothing when it is linked already), with its audit record.
macro_rules! insert_account_in_tx {
    ($tx:expr, $user_id:expr, $provider:expr, $account_id:expr, $ctx:expr) => {{
        let now = $crate::store::Ts::now();
        let inserted = sqlx::query(
            "INSERT INTO kavach_account (id, user_id, provider_id, provider_account_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (provider_id, provider_account_id) DO NOTHING",
        )
        .bind($crate::crypto::new_id())
        .bind($user_id)
        .bind($provider)
        .bind($account_id)
        .bind(now)
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        if inserted > 0 {
            $crate::audit::append_in_tx!(
                $tx,
                $crate::audit::Event::new($crate::audit::EventKind::AccountLinked, Some($user_id), $ctx).with("providerId", $provider)
            );
        }
    }};
}
pub(crate) use insert_account_in_tx;

/// Link the Google account `sub` to an existing user.
pub(crate) async fn link(db: &Db, user_id: &str, sub: &str, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        insert_account_in_tx!(tx, user_id, PROVIDER, sub, ctx);
        tx.commit().await?;
    });
    Ok(())
}
