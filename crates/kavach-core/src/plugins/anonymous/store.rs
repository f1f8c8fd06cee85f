//! Every query of the anonymous-user capability.

use crate::db;
use crate::error::Result;
use crate::store::{Db, Ts};

/// Delete the anonymous users that no session can reach any more (created more than an
/// hour ago, so one being signed in right now is left alone). Returns how many.
pub(crate) async fn purge_unreachable(db: &Db) -> Result<u64> {
    let before = Ts::now().plus_secs(-3600);
    db!(db, |pool| {
        Ok(sqlx::query(
            "DELETE FROM kavach_user WHERE is_anonymous AND created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM kavach_session s WHERE s.user_id = kavach_user.id)",
        )
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected())
    })
}
