//! The email + password capability's queries (the only SQL of this folder).

use crate::error::{Code, Error, Result};
use crate::sessions::Session;
use crate::store::{BeginWrite, Db, Ts};
use crate::verification::{self, Purpose, consume_in_tx};
use crate::{RequestContext, audit, db};

fn json_str(v: &serde_json::Value, key: &str) -> Result<String> {
    v.get(key).and_then(|x| x.as_str()).map(str::to_owned).ok_or_else(Error::invalid_token)
}

/// Set the new password hash; with `new` (a prepared session), also end every session
/// and OAuth grant of the user and insert `new` in their place. One transaction, with
/// its audit record.
pub(super) async fn change_password(
    db: &Db,
    user_id: &str,
    hash: &str,
    new: Option<&Session>,
    previous_session: &str,
    now: Ts,
    ctx: &RequestContext,
) -> Result<()> {
    let user = UserRef { id: user_id };
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let n = sqlx::query("UPDATE kavach_account SET password = $1, updated_at = $2 WHERE user_id = $3 AND provider_id = 'credential'")
            .bind(hash)
            .bind(now)
            .bind(user.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::bad_request(Code::CredentialAccountNotFound, "This account has no password: use password reset to set one"));
        }
        match new {
            Some(s) => {
                let sessions = sqlx::query("DELETE FROM kavach_session WHERE user_id = $1").bind(user.id).execute(&mut *tx).await?.rows_affected();
                let families = crate::plugins::oauth::revoke_user_grants_in_tx!(tx, user.id, now);
                crate::plugins::two_factor::store::forget_devices_in_tx!(tx, user.id);
                crate::sessions::insert_session!(tx, s);
                audit::append_in_tx!(
                    tx,
                    audit::Event::new(crate::audit::EventKind::PasswordChanged, Some(user.id), ctx)
                        .with("sessionId", &s.id)
                        .with("previousSession", previous_session)
                        .with("revokedSessions", sessions)
                        .with("revokedGrants", families)
                );
            }
            None => audit::append_in_tx!(tx, audit::Event::new(crate::audit::EventKind::PasswordChanged, Some(user.id), ctx).with("keptSessions", true)),
        }
        tx.commit().await?;
    });
    Ok(())
}

struct UserRef<'a> {
    id: &'a str,
}

/// Inside transaction `$tx`: set user `$uid`'s address to `$new_email` (proven by
/// whatever consumed its secret), verified; `Err(EMAIL_ALREADY_IN_USE)` when another
/// account took it meanwhile. With its audit record.
macro_rules! change_email_in_tx {
    ($tx:expr, $uid:expr, $new_email:expr, $now:expr, $ctx:expr) => {{
        let taken: Option<(String,)> = sqlx::query_as("SELECT id FROM kavach_user WHERE email = $1").bind($new_email).fetch_optional(&mut *$tx).await?;
        if taken.is_some() {
            return Err($crate::error::Error::new(
                $crate::error::Kind::Conflict,
                $crate::error::Code::EmailAlreadyInUse,
                "Another account uses this email now",
            ));
        }
        let n = sqlx::query("UPDATE kavach_user SET email = $1, email_verified = $2, updated_at = $3 WHERE id = $4")
            .bind($new_email)
            .bind(true)
            .bind($now)
            .bind($uid)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err($crate::error::Error::invalid_token());
        }
        $crate::audit::append_in_tx!($tx, $crate::audit::Event::new($crate::audit::EventKind::EmailChanged, Some($uid), $ctx));
    }};
}
pub(crate) use change_email_in_tx;

/// What proves a password reset: the emailed link's token, or a code sent to the
/// account's email (`[email_otp]`) or phone number (`[phone_number]`, `by`) that passed
/// its check; the code also proves that address.
pub(crate) enum ResetProof<'a> {
    Link(&'a str),
    Code { target: &'a crate::otp::Target<'a>, passed: &'a crate::otp::Passed, by: crate::users::SignInBy },
}

/// Consume a verification link (email verification, or an email change): the user's id.
pub(super) async fn verify_email(db: &Db, token: &str, now: Ts, ctx: &RequestContext) -> Result<String> {
    Ok(db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let uid = if let Some(v) = consume_in_tx!(tx, Purpose::VerifyEmail, token) {
            let (uid, email) = (json_str(&v, "userId")?, json_str(&v, "email")?);
            let n = sqlx::query("UPDATE kavach_user SET email_verified = $1, updated_at = $2 WHERE id = $3 AND email = $4")
                .bind(true)
                .bind(now)
                .bind(&uid)
                .bind(&email)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(Error::invalid_token());
            }
            audit::append_in_tx!(tx, audit::Event::new(crate::audit::EventKind::EmailVerified, Some(&uid), ctx));
            uid
        } else if let Some(v) = consume_in_tx!(tx, Purpose::ChangeEmail, token) {
            let (uid, new_email) = (json_str(&v, "userId")?, json_str(&v, "newEmail")?);
            change_email_in_tx!(tx, &uid, &new_email, now, ctx);
            uid
        } else {
            return Err(Error::invalid_token());
        };
        tx.commit().await?;
        uid
    }))
}

/// The expiry of a password-reset token, if it exists (not consumed).
pub(super) async fn reset_token_expiry(db: &Db, token: &str) -> Result<Option<Ts>> {
    let id = verification::identifier(Purpose::ResetPassword, token);
    db!(db, |pool| {
        let row: Option<(Ts,)> = sqlx::query_as("SELECT expires_at FROM kavach_verification WHERE identifier = $1").bind(&id).fetch_optional(pool).await?;
        Ok(row.map(|(t,)| t))
    })
}

/// Consume a reset token and set the password (creating the credential account if
/// needed); end every session and OAuth grant of the user. `check_words` checks the
/// password against the account's email and name once they are known. One
/// transaction, with its audit record. Returns the user's id and email.
pub(super) async fn reset_password(
    db: &Db,
    proof: ResetProof<'_>,
    hash: &str,
    now: Ts,
    ctx: &RequestContext,
    check_words: impl Fn(&str, &str) -> Result<()>,
) -> Result<(String, String)> {
    Ok(db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let uid = match &proof {
            ResetProof::Link(token) => json_str(&consume_in_tx!(tx, Purpose::ResetPassword, token).ok_or_else(Error::invalid_token)?, "userId")?,
            ResetProof::Code { target, passed, by } => {
                crate::otp::consume_in_tx!(tx, target, passed);
                let (find, prove) = match by {
                    crate::users::SignInBy::PhoneNumber => {
                        ("SELECT id FROM kavach_user WHERE phone_number = $1", "UPDATE kavach_user SET phone_number_verified = TRUE WHERE id = $1")
                    }
                    _ => ("SELECT id FROM kavach_user WHERE email = $1", "UPDATE kavach_user SET email_verified = TRUE WHERE id = $1"),
                };
                let row: Option<(String,)> = sqlx::query_as(find).bind(target.address).fetch_optional(&mut *tx).await?;
                let Some((uid,)) = row else { return Err(crate::otp::invalid()) };
                sqlx::query(prove).bind(&uid).execute(&mut *tx).await?;
                uid
            }
        };
        let row: Option<(String, String)> = sqlx::query_as("SELECT email, name FROM kavach_user WHERE id = $1").bind(&uid).fetch_optional(&mut *tx).await?;
        let Some((email, name)) = row else { return Err(Error::invalid_token()) };
        // The account's own words (its email, its name) are checked now that it is known.
        check_words(&email, &name)?;
        crate::users::upsert_credential!(tx, &uid, hash, now);
        let revoked = sqlx::query("DELETE FROM kavach_session WHERE user_id = $1").bind(&uid).execute(&mut *tx).await?.rows_affected();
        let families = crate::plugins::oauth::revoke_user_grants_in_tx!(tx, &uid, now);
        crate::plugins::two_factor::store::forget_devices_in_tx!(tx, &uid);
        audit::append_in_tx!(
            tx,
            audit::Event::new(crate::audit::EventKind::PasswordReset, Some(&uid), ctx).with("revokedSessions", revoked).with("revokedGrants", families)
        );
        tx.commit().await?;
        (uid, email)
    }))
}
