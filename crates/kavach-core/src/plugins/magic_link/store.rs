//! Every query of the magic-link capability.

use crate::audit::{self, Event, EventKind};
use crate::error::Result;
use crate::store::{BeginWrite, Db, Ts};
use crate::verification::{Purpose, consume_in_tx};
use crate::{RequestContext, db};

/// Consume the link's token: its JSON value, or `None` when unknown, used or expired.
pub(super) async fn consume(db: &Db, token: &str) -> Result<Option<serde_json::Value>> {
    Ok(db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let v = consume_in_tx!(tx, Purpose::MagicLink, token);
        tx.commit().await?;
        v
    }))
}

/// The link proved the address of an unverified account: it is verified, and the
/// sessions, OAuth grants, trusted devices and password set before that proof end, in
/// one transaction.
pub(super) async fn prove_email(db: &Db, user_id: &str, now: Ts, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE kavach_user SET email_verified = TRUE, updated_at = $1 WHERE id = $2").bind(now).bind(user_id).execute(&mut *tx).await?;
        let sessions = sqlx::query("DELETE FROM kavach_session WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?.rows_affected();
        let passwords =
            sqlx::query("DELETE FROM kavach_account WHERE user_id = $1 AND provider_id = 'credential'").bind(user_id).execute(&mut *tx).await?.rows_affected();
        let grants = crate::plugins::oauth::revoke_user_grants_in_tx!(tx, user_id, now);
        crate::plugins::two_factor::store::forget_devices_in_tx!(tx, user_id);
        audit::append_in_tx!(
            tx,
            Event::new(EventKind::EmailVerified, Some(user_id), ctx)
                .with("method", "magic-link")
                .with("revokedSessions", sessions)
                .with("removedPassword", passwords > 0)
                .with("revokedGrants", grants)
        );
        tx.commit().await?;
    });
    Ok(())
}
