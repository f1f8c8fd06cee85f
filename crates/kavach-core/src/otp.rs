//! One-time codes sent to an address (`[email_otp]`, and any capability that proves an
//! address by a short code). The one place that issues and checks them:
//!
//! - at most one live code per purpose and address (`kavach_otp`, keyed by both): a new
//!   code replaces the old one;
//! - the code is stored as a keyed hash (HMAC with the server secret over the purpose, the
//!   address and the code), so a copy of the database does not give the codes away (a
//!   plain SHA-256 of six digits falls to a million guesses);
//! - every check counts one attempt in the same statement that reads the row, so
//!   concurrent guesses cannot share an attempt; after `allowed_attempts` wrong codes the
//!   code is dead;
//! - wrong codes are also counted per address across codes (asking for a new code does
//!   not reset that count): past `ACCOUNT_FAILURES` in `ACCOUNT_WINDOW` the address is
//!   locked out of code checks until the window ends;
//! - a code that passes is consumed by deleting the row that holds its hash, in the
//!   transaction of what it allows: it works once.

use crate::error::{Code, Error, Result};
use crate::ratelimit::Rule;
use crate::store::{BeginWrite, Ts};
use crate::verification::{Use, Used};
use crate::{Core, crypto, db};
use std::time::Duration;

/// Wrong codes for one address (across codes) before it is locked out.
pub const ACCOUNT_FAILURES: u32 = 10;
/// The window of [`ACCOUNT_FAILURES`], and the length of the lockout.
pub const ACCOUNT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// What a code is for, and where it was sent.
#[derive(Clone, Debug)]
pub(crate) struct Target<'a> {
    /// `"email:sign-in"`, `"email:change-email:<user id>"`, …
    pub purpose: &'a str,
    /// The normalised address.
    pub address: &'a str,
}

impl Target<'_> {
    fn hash(&self, core: &Core, code: &str) -> String {
        core.secrets.keyed_hash(&format!("otp\0{}\0{}\0{}", self.purpose, self.address, code))
    }

    fn failures_key(&self, core: &Core) -> String {
        format!("otp-fail:{}", core.secrets.keyed_hash(self.address))
    }
}

/// A code that passed [`check`]: consume it with [`consume_in_tx`] (or leave it for a
/// later step).
#[derive(Clone, Debug)]
pub(crate) struct Passed {
    pub code_hash: String,
}

/// Issue a code of `length` digits for `target`, valid `ttl` (replacing any earlier one).
/// A zero `ttl` stores a code that is already dead (for answers that must do the same work
/// whether or not a message goes out).
pub(crate) async fn issue(core: &Core, target: &Target<'_>, length: usize, ttl: Duration) -> Result<String> {
    let code = crypto::random_digits(length);
    let hash = target.hash(core, &code);
    let now = Ts::now();
    let expires = now.plus_secs(ttl.as_secs() as i64);
    db!(&core.db, |pool| {
        sqlx::query(
            "INSERT INTO kavach_otp (purpose, target, code_hash, attempts, expires_at, created_at) VALUES ($1, $2, $3, 0, $4, $5)
             ON CONFLICT (purpose, target) DO UPDATE SET code_hash = excluded.code_hash, attempts = 0, expires_at = excluded.expires_at, created_at = excluded.created_at",
        )
        .bind(target.purpose)
        .bind(target.address)
        .bind(&hash)
        .bind(expires)
        .bind(now)
        .execute(pool)
        .await?;
    });
    Ok(code)
}

/// Check `code` for `target`, counting the attempt. Errors: `INVALID_OTP` (no code, or the
/// wrong one), `OTP_EXPIRED`, `TOO_MANY_ATTEMPTS` (this code's attempts are used up, or the
/// address is locked out). A passing code stays in place (see [`consume_in_tx`]) and
/// the attempt it used is given back.
pub(crate) async fn check(core: &Core, target: &Target<'_>, code: &str, allowed_attempts: u32) -> Result<Passed> {
    let rule = Rule { max: ACCOUNT_FAILURES, window: ACCOUNT_WINDOW };
    let key = target.failures_key(core);
    if !core.limiter.peek(&key, rule).await?.allowed {
        return Err(too_many());
    }
    let max = i64::from(allowed_attempts);
    let row: Option<(String, Ts, Ts, i64)> = db!(&core.db, |pool| {
        let mut tx = pool.begin_write().await?;
        let row = sqlx::query_as(
            "UPDATE kavach_otp SET attempts = attempts + 1 WHERE purpose = $1 AND target = $2 RETURNING code_hash, expires_at, created_at, attempts",
        )
        .bind(target.purpose)
        .bind(target.address)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row
    });
    let Some((stored, expires_at, created_at, attempts)) = row else { return Err(invalid()) };
    // A code stored dead (for an address that got no message) says nothing more than "invalid".
    if expires_at <= created_at {
        return Err(invalid());
    }
    if expires_at <= Ts::now() {
        return Err(Error::bad_request(Code::OtpExpired, "The code has expired: ask for a new one"));
    }
    if attempts > max {
        return Err(too_many());
    }
    let hash = target.hash(core, code);
    if !crypto::ct_eq(hash.as_bytes(), stored.as_bytes()) {
        core.limiter.hit(&key, rule).await?;
        return Err(if attempts >= max { too_many() } else { invalid() });
    }
    db!(&core.db, |pool| {
        sqlx::query("UPDATE kavach_otp SET attempts = attempts - 1 WHERE purpose = $1 AND target = $2 AND code_hash = $3 AND attempts > 0")
            .bind(target.purpose)
            .bind(target.address)
            .bind(&hash)
            .execute(pool)
            .await?;
    });
    Ok(Passed { code_hash: hash })
}

/// Inside transaction `$tx`: consume the code that passed ([`Passed`]) for `$target`;
/// `Err(INVALID_OTP)` from the enclosing function when another request consumed (or
/// replaced) it first, so a code works once.
macro_rules! consume_in_tx {
    ($tx:expr, $target:expr, $passed:expr) => {{
        let n = sqlx::query("DELETE FROM kavach_otp WHERE purpose = $1 AND target = $2 AND code_hash = $3")
            .bind($target.purpose)
            .bind($target.address)
            .bind(&$passed.code_hash)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err($crate::otp::invalid());
        }
    }};
}
pub(crate) use consume_in_tx;

/// Check and consume in one step (for codes that allow nothing else in the same
/// transaction). The right code, live and with attempts left, is deleted at once with
/// the other single-use inputs of the moment (one grouped write,
/// [`crate::verification::SingleUse`]); anything else goes through [`check`], which
/// counts the attempt and names what is wrong.
pub(crate) async fn take(core: &Core, target: &Target<'_>, code: &str, allowed_attempts: u32) -> Result<()> {
    let rule = Rule { max: ACCOUNT_FAILURES, window: ACCOUNT_WINDOW };
    if !core.limiter.peek(&target.failures_key(core), rule).await?.allowed {
        return Err(too_many());
    }
    let attempt = Use::Code {
        purpose: target.purpose.to_owned(),
        target: target.address.to_owned(),
        code_hash: target.hash(core, code),
        max_attempts: i64::from(allowed_attempts),
    };
    if let Used::Code(true) = core.single_use.write(attempt).await? {
        return Ok(());
    }
    let passed = check(core, target, code, allowed_attempts).await?;
    db!(&core.db, |pool| {
        let mut tx = pool.begin_write().await?;
        consume_in_tx!(tx, target, passed);
        tx.commit().await?;
    });
    Ok(())
}

pub(crate) fn invalid() -> Error {
    Error::bad_request(Code::InvalidOtp, "Invalid code")
}

fn too_many() -> Error {
    Error::forbidden(Code::TooManyAttempts, "Too many attempts: ask for a new code later")
}

pub(crate) async fn purge_expired(core: &Core) -> Result<u64> {
    db!(&core.db, |pool| { Ok(sqlx::query("DELETE FROM kavach_otp WHERE expires_at < $1").bind(Ts::now()).execute(pool).await?.rows_affected()) })
}
