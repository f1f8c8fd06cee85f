//! Every query of the phone-number capability (codes themselves: [`crate::otp`]).

use crate::error::Result;
use crate::store::{BeginWrite, Db, Ts};
use crate::users::{USER_COLUMNS, User, user_from_row};
use crate::{Core, RequestContext, audit, db};
use sqlx::Row;

/// The account with this number, if any.
pub(super) async fn find_by_phone(core: &Core, phone: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM kavach_user WHERE phone_number = $1");
    db!(&core.db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(phone).fetch_optional(pool).await? {
            Some(r) => Ok(Some(user_from_row!(r))),
            None => Ok(None),
        }
    })
}

/// A code proved the number: the account that has it is marked proven (its id; `None`
/// when no account has it). Recorded as `phone_number.verified`.
pub(super) async fn mark_verified(db: &Db, phone: &str, ctx: &RequestContext) -> Result<Option<String>> {
    Ok(db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let id: Option<(String,)> = sqlx::query_as("UPDATE kavach_user SET phone_number_verified = TRUE, updated_at = $1 WHERE phone_number = $2 RETURNING id")
            .bind(Ts::now())
            .bind(phone)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some((id,)) = &id {
            audit::append_in_tx!(tx, audit::Event::new(audit::EventKind::PhoneNumberVerified, Some(id), ctx));
        }
        tx.commit().await?;
        id.map(|r| r.0)
    }))
}

/// Give user `user_id` the number a code just proved. `PHONE_NUMBER_EXIST` when another
/// account has it (the unique index settles races).
pub(super) async fn set_number(db: &Db, user_id: &str, phone: &str, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let updated = sqlx::query("UPDATE kavach_user SET phone_number = $1, phone_number_verified = TRUE, updated_at = $2 WHERE id = $3")
            .bind(phone)
            .bind(Ts::now())
            .bind(user_id)
            .execute(&mut *tx)
            .await;
        match updated {
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => return Err(super::taken()),
            r => r?,
        };
        audit::append_in_tx!(tx, audit::Event::new(audit::EventKind::PhoneNumberVerified, Some(user_id), ctx).with("changed", true));
        tx.commit().await?;
    });
    Ok(())
}
