//! The authorization server's queries: the only SQL of the `oauth` capability.

pub(crate) mod authorize;
pub(crate) mod clients;
pub(crate) mod device;
pub(crate) mod rotation;
pub(crate) mod tokens;

/// Inside the open transaction `$tx`, end every OAuth grant of user `$user` at `$now`:
/// the families (so their refresh tokens stop and their access tokens introspect as
/// inactive), remembered consents, codes not yet redeemed and device authorizations
/// approved but not yet collected. Evaluates to the number of families revoked.
macro_rules! revoke_user_grants_in_tx {
    ($tx:expr, $user:expr, $now:expr) => {{
        let user: &str = $user;
        let now: $crate::store::Ts = $now;
        let families = sqlx::query("UPDATE kavach_oauth_family SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(user)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM kavach_oauth_consent WHERE user_id = $1").bind(user).execute(&mut *$tx).await?;
        sqlx::query("DELETE FROM kavach_oauth_code WHERE user_id = $1 AND used_at IS NULL").bind(user).execute(&mut *$tx).await?;
        sqlx::query("UPDATE kavach_oauth_device SET status = 'denied' WHERE user_id = $1 AND status = 'approved'").bind(user).execute(&mut *$tx).await?;
        families
    }};
}
pub(crate) use revoke_user_grants_in_tx;
