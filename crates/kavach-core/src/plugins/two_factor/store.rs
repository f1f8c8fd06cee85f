//! Every query of the two-factor capability. Counters are single conditional updates, so
//! parallel attempts cannot slip past a limit; a code, a backup code and a pending
//! sign-in are each used at most once, by a conditional update or delete.

use crate::audit::{self, Event, EventKind};
use crate::error::Result;
use crate::sessions::{Session, insert_session};
use crate::store::{BeginWrite, Db, Ts};
use crate::{RequestContext, db};
use sqlx::Row;

/// A user's row of `kavach_two_factor`.
pub(super) struct Row2fa {
    pub secret: String,
    pub backup_codes: String,
    pub verified: bool,
    pub locked_until: Option<Ts>,
}

pub(super) async fn get(db: &Db, user_id: &str) -> Result<Option<Row2fa>> {
    Ok(db!(db, |pool| {
        match sqlx::query("SELECT secret, backup_codes, verified, locked_until FROM kavach_two_factor WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        {
            Some(r) => Some(Row2fa {
                secret: r.try_get("secret")?,
                backup_codes: r.try_get("backup_codes")?,
                verified: r.try_get("verified")?,
                locked_until: r.try_get("locked_until")?,
            }),
            None => None,
        }
    }))
}

/// A new (unconfirmed) TOTP secret and backup codes, replacing an unconfirmed one.
pub(super) async fn start_totp(db: &Db, user_id: &str, sealed: &str, backup_codes: &str) -> Result<()> {
    let now = Ts::now();
    db!(db, |pool| {
        sqlx::query(
            "INSERT INTO kavach_two_factor (id, user_id, secret, backup_codes, verified, last_step, failed_count, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, FALSE, 0, 0, $5, $5) \
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, backup_codes = excluded.backup_codes, verified = FALSE, \
             last_step = 0, updated_at = excluded.updated_at WHERE kavach_two_factor.verified = FALSE",
        )
        .bind(crate::crypto::new_id())
        .bind(user_id)
        .bind(sealed)
        .bind(backup_codes)
        .bind(now)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// The first TOTP code from the app passed: the secret is confirmed and two-factor is on.
pub(super) async fn confirm_totp(db: &Db, user_id: &str, ctx: &RequestContext) -> Result<()> {
    let now = Ts::now();
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE kavach_two_factor SET verified = TRUE, updated_at = $1 WHERE user_id = $2").bind(now).bind(user_id).execute(&mut *tx).await?;
        sqlx::query("UPDATE kavach_user SET two_factor_enabled = TRUE, updated_at = $1 WHERE id = $2").bind(now).bind(user_id).execute(&mut *tx).await?;
        audit::append_in_tx!(tx, Event::new(EventKind::TwoFactorEnabled, Some(user_id), ctx).with("method", "totp"));
        tx.commit().await?;
    });
    Ok(())
}

/// Turn the user's flag on or off (`otp`: codes by email, nothing else to store).
pub(super) async fn set_user_enabled(db: &Db, user_id: &str, on: bool, method: &str, ctx: &RequestContext) -> Result<()> {
    let kind = if on { EventKind::TwoFactorEnabled } else { EventKind::TwoFactorDisabled };
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE kavach_user SET two_factor_enabled = $1, updated_at = $2 WHERE id = $3")
            .bind(on)
            .bind(Ts::now())
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        audit::append_in_tx!(tx, Event::new(kind, Some(user_id), ctx).with("method", method));
        tx.commit().await?;
    });
    Ok(())
}

/// Within transaction `$tx`: forget every trusted device and pending sign-in of the user
/// (a password reset or change: what the old password let anyone obtain ends).
macro_rules! forget_devices_in_tx {
    ($tx:expr, $user_id:expr) => {
        sqlx::query("DELETE FROM kavach_trusted_device WHERE user_id = $1").bind($user_id).execute(&mut *$tx).await?;
        sqlx::query("DELETE FROM kavach_two_factor_challenge WHERE user_id = $1").bind($user_id).execute(&mut *$tx).await?;
    };
}
pub(crate) use forget_devices_in_tx;

/// Two-factor off: the secret, backup codes, pending sign-ins and trusted devices go.
pub(super) async fn disable(db: &Db, user_id: &str, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE kavach_user SET two_factor_enabled = FALSE, updated_at = $1 WHERE id = $2").bind(Ts::now()).bind(user_id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM kavach_two_factor WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
        forget_devices_in_tx!(tx, user_id);
        audit::append_in_tx!(tx, Event::new(EventKind::TwoFactorDisabled, Some(user_id), ctx));
        tx.commit().await?;
    });
    Ok(())
}

pub(super) async fn replace_backup_codes(db: &Db, user_id: &str, hashes: &str, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE kavach_two_factor SET backup_codes = $1, updated_at = $2 WHERE user_id = $3")
            .bind(hashes)
            .bind(Ts::now())
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        audit::append_in_tx!(tx, Event::new(EventKind::TwoFactorBackupCodesGenerated, Some(user_id), ctx));
        tx.commit().await?;
    });
    Ok(())
}

/// Accept TOTP step `step` if it comes after the last accepted one (false: a replay).
pub(super) async fn accept_step(db: &Db, user_id: &str, step: i64) -> Result<bool> {
    let n = db!(db, |pool| {
        sqlx::query("UPDATE kavach_two_factor SET last_step = $1, failed_count = 0, locked_until = NULL WHERE user_id = $2 AND last_step < $1")
            .bind(step)
            .bind(user_id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(n == 1)
}

/// Replace the backup-code list `old` by `new` (false: it changed meanwhile, the code was used).
pub(super) async fn consume_backup_code(db: &Db, user_id: &str, old: &str, new: &str) -> Result<bool> {
    let n = db!(db, |pool| {
        sqlx::query("UPDATE kavach_two_factor SET backup_codes = $1, failed_count = 0, locked_until = NULL WHERE user_id = $2 AND backup_codes = $3")
            .bind(new)
            .bind(user_id)
            .bind(old)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(n == 1)
}

/// A wrong second factor: counted on the account (locked until `lock_until` once the count
/// reaches `max`) and recorded.
pub(super) async fn record_failure(db: &Db, user_id: &str, max: i64, lock_until: Ts, method: &str, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "UPDATE kavach_two_factor SET failed_count = failed_count + 1, \
             locked_until = CASE WHEN failed_count + 1 >= $1 THEN $2 ELSE locked_until END WHERE user_id = $3",
        )
        .bind(max)
        .bind(lock_until)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        audit::append_in_tx!(tx, Event::new(EventKind::TwoFactorFailed, Some(user_id), ctx).with("method", method));
        tx.commit().await?;
    });
    Ok(())
}

pub(super) async fn insert_pending(db: &Db, id: &str, user_id: &str, method: &str, expires_at: Ts, ctx: &RequestContext) -> Result<()> {
    let now = Ts::now();
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        // Expired pending sign-ins of this user go with each new one.
        sqlx::query("DELETE FROM kavach_two_factor_challenge WHERE user_id = $1 AND expires_at <= $2").bind(user_id).bind(now).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO kavach_two_factor_challenge (id, user_id, method, attempts, expires_at, created_at) VALUES ($1, $2, $3, 0, $4, $5)")
            .bind(id)
            .bind(user_id)
            .bind(method)
            .bind(expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        audit::append_in_tx!(tx, Event::new(EventKind::TwoFactorChallenged, Some(user_id), ctx).with("method", method));
        tx.commit().await?;
    });
    Ok(())
}

/// A pending sign-in after counting one attempt on it.
pub(super) struct Attempt {
    pub user_id: String,
    pub otp_hash: Option<String>,
    pub otp_expires_at: Option<Ts>,
}

/// Count one attempt on the live pending sign-in `id`; `None` when it is unknown, expired
/// or out of attempts.
pub(super) async fn take_attempt(db: &Db, id: &str, now: Ts, max: i64) -> Result<Option<Attempt>> {
    Ok(db!(db, |pool| {
        match sqlx::query(
            "UPDATE kavach_two_factor_challenge SET attempts = attempts + 1 WHERE id = $1 AND expires_at > $2 AND attempts < $3 \
             RETURNING user_id, otp_hash, otp_expires_at",
        )
        .bind(id)
        .bind(now)
        .bind(max)
        .fetch_optional(pool)
        .await?
        {
            Some(r) => Some(Attempt { user_id: r.try_get("user_id")?, otp_hash: r.try_get("otp_hash")?, otp_expires_at: r.try_get("otp_expires_at")? }),
            None => None,
        }
    }))
}

/// Drop the pending sign-in `id`; whether there was one.
pub(super) async fn drop_pending(db: &Db, id: &str) -> Result<bool> {
    let n = db!(db, |pool| { sqlx::query("DELETE FROM kavach_two_factor_challenge WHERE id = $1").bind(id).execute(pool).await?.rows_affected() });
    Ok(n > 0)
}

/// The user of the live pending sign-in `id`.
pub(super) async fn pending_user(db: &Db, id: &str, now: Ts) -> Result<Option<String>> {
    Ok(db!(db, |pool| {
        sqlx::query_scalar("SELECT user_id FROM kavach_two_factor_challenge WHERE id = $1 AND expires_at > $2").bind(id).bind(now).fetch_optional(pool).await?
    }))
}

pub(super) async fn set_otp(db: &Db, id: &str, otp_hash: &str, expires_at: Ts) -> Result<()> {
    db!(db, |pool| {
        sqlx::query("UPDATE kavach_two_factor_challenge SET otp_hash = $1, otp_expires_at = $2 WHERE id = $3")
            .bind(otp_hash)
            .bind(expires_at)
            .bind(id)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// The second factor passed: the pending sign-in is used (once: false if another request
/// used it first), the session and the trusted device (token hash, expiry) are stored and
/// the sign-in recorded, in one transaction.
pub(super) async fn finish_sign_in(db: &Db, id: &str, session: &Session, device: Option<&(String, Ts)>, method: &str, ctx: &RequestContext) -> Result<bool> {
    let now = Ts::now();
    Ok(db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let first: Option<String> =
            sqlx::query_scalar("DELETE FROM kavach_two_factor_challenge WHERE id = $1 RETURNING method").bind(id).fetch_optional(&mut *tx).await?;
        match first {
            None => false,
            Some(first) => {
                insert_session!(tx, session);
                if let Some((hash, expires_at)) = device {
                    sqlx::query("INSERT INTO kavach_trusted_device (id, user_id, user_agent, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(hash)
                        .bind(&session.user_id)
                        .bind(&session.user_agent)
                        .bind(*expires_at)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                audit::append_in_tx!(
                    tx,
                    Event::new(EventKind::SignInSuccess, Some(&session.user_id), ctx)
                        .with("sessionId", &session.id)
                        .with("method", first)
                        .with("secondFactor", method)
                        .with("trustDevice", device.is_some())
                );
                tx.commit().await?;
                true
            }
        }
    }))
}

pub(super) async fn is_trusted(db: &Db, user_id: &str, id: &str, now: Ts) -> Result<bool> {
    let found: Option<String> = db!(db, |pool| {
        sqlx::query_scalar("SELECT user_id FROM kavach_trusted_device WHERE id = $1 AND user_id = $2 AND expires_at > $3")
            .bind(id)
            .bind(user_id)
            .bind(now)
            .fetch_optional(pool)
            .await?
    });
    Ok(found.is_some())
}

/// Delete expired pending sign-ins and trusted devices.
pub(crate) async fn purge_expired(db: &Db) -> Result<u64> {
    let now = Ts::now();
    Ok(db!(db, |pool| {
        let a = sqlx::query("DELETE FROM kavach_two_factor_challenge WHERE expires_at < $1").bind(now).execute(pool).await?.rows_affected();
        let b = sqlx::query("DELETE FROM kavach_trusted_device WHERE expires_at < $1").bind(now).execute(pool).await?.rows_affected();
        a + b
    }))
}
