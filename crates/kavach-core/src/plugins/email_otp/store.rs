//! Every query of the email-code capability (codes themselves: [`crate::otp`]).

use crate::error::Result;
use crate::otp::{self, Passed, Target};
use crate::plugins::email_password::change_email_in_tx;
use crate::store::{BeginWrite, Db, Ts};
use crate::{RequestContext, audit, db};

/// Use an `email-verification` code and mark the address's account verified, in one
/// transaction: the account's id (`None` when no account uses the address).
pub(super) async fn verify_email(db: &Db, target: &Target<'_>, passed: &Passed, now: Ts, ctx: &RequestContext) -> Result<Option<String>> {
    Ok(db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        otp::consume_in_tx!(tx, target, passed);
        let row: Option<(String,)> = sqlx::query_as("SELECT id FROM kavach_user WHERE email = $1").bind(target.address).fetch_optional(&mut *tx).await?;
        if let Some((id,)) = &row {
            sqlx::query("UPDATE kavach_user SET email_verified = TRUE, updated_at = $1 WHERE id = $2").bind(now).bind(id).execute(&mut *tx).await?;
            audit::append_in_tx!(tx, audit::Event::new(audit::EventKind::EmailVerified, Some(id), ctx).with("method", "email-otp"));
        }
        tx.commit().await?;
        row.map(|r| r.0)
    }))
}

/// Use a `change-email` code and move user `user_id` to its address, verified, in one
/// transaction.
pub(super) async fn change_email(db: &Db, target: &Target<'_>, passed: &Passed, user_id: &str, now: Ts, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        otp::consume_in_tx!(tx, target, passed);
        change_email_in_tx!(tx, user_id, target.address, now, ctx);
        tx.commit().await?;
    });
    Ok(())
}
