//! Two-factor authentication (`[two_factor]`, better-auth's `twoFactor()`):
//! `kavach.two_factor()`.
//!
//! - **TOTP** (RFC 6238): the secret is sealed at rest (AES-256-GCM under the server
//!   secret), shown once as an `otpauth://` URI; a code is accepted once (the last
//!   accepted time step is kept and only a later one passes).
//! - **Backup codes**: ten single-use codes, stored as keyed hashes, regenerable.
//! - **One-time codes by email** as a second factor (`method: "otp"`).
//! - **Trusted devices**: a cookie whose token's SHA-256 is stored with an expiry;
//!   disabling two-factor (or resetting the password) forgets every one.
//!
//! **Enforced**: every first-factor path ends in [`crate::Core::complete_sign_in`], which
//! for a user with two-factor on creates no session, only a pending sign-in
//! ([`Pending`]); a session exists only after [`TwoFactor::verify`] passes. Attempts are
//! counted per pending sign-in (then it is dropped) and per account (then it is locked for
//! a while). Turning on, turning off, reading the URI again and new backup codes need the
//! password (or, for an account without one, a fresh session).

use crate::error::{Code, Error, Kind, Result};
use crate::sessions::{NewSession, Session};
use crate::store::Ts;
use crate::users::{self, User};
use crate::{Core, RequestContext, SignedIn, audit, crypto, options};
use serde::Deserialize;
use std::time::Duration;

pub(crate) mod store;
pub mod totp;

pub use totp::Totp;

/// `[two_factor]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwoFactorOptions {
    pub enabled: bool,
    /// The issuer authenticator apps show (default: `app_name`).
    pub issuer: Option<String>,
    /// Digits of a TOTP code (6 to 8). Default 6.
    pub digits: u32,
    /// Seconds per TOTP step. Default 30 s.
    #[serde(deserialize_with = "options::duration")]
    pub period: Duration,
    /// Steps accepted on either side of the current one (clock drift), 0 to 2. Default 1.
    pub skew: u64,
    /// Backup codes generated at a time (1 to 50). Default 10.
    pub backup_codes: usize,
    /// How long a pending sign-in waits for its second factor. Default 10 minutes.
    #[serde(deserialize_with = "options::duration")]
    pub pending_ttl: Duration,
    /// Wrong codes one pending sign-in may take before it is dropped. Default 5.
    pub max_attempts: i64,
    /// Wrong codes on one account before it is locked for `lockout`. Default 10.
    pub account_failures: i64,
    #[serde(deserialize_with = "options::duration")]
    pub lockout: Duration,
    /// One-time codes by email as a second factor (`/two-factor/send-otp`). Default true.
    pub otp: bool,
    /// Lifetime of an emailed code. Default 5 minutes.
    #[serde(deserialize_with = "options::duration")]
    pub otp_ttl: Duration,
    /// How long a trusted device skips the second factor. Default 30 days.
    #[serde(deserialize_with = "options::duration")]
    pub trust_device_ttl: Duration,
}

impl Default for TwoFactorOptions {
    fn default() -> Self {
        TwoFactorOptions {
            enabled: false,
            issuer: None,
            digits: 6,
            period: Duration::from_secs(30),
            skew: 1,
            backup_codes: 10,
            pending_ttl: Duration::from_secs(600),
            max_attempts: 5,
            account_failures: 10,
            lockout: Duration::from_secs(15 * 60),
            otp: true,
            otp_ttl: Duration::from_secs(300),
            trust_device_ttl: Duration::from_secs(30 * 86400),
        }
    }
}

impl TwoFactorOptions {
    pub(crate) fn totp(&self) -> Totp {
        Totp { digits: self.digits, period: self.period.as_secs(), skew: self.skew }
    }

    /// The refusals of [`crate::Options::validate`] about this section.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = vec![];
        if !(6..=8).contains(&self.digits) {
            out.push("two_factor.digits must be 6, 7 or 8".to_owned());
        }
        if !(15..=120).contains(&self.period.as_secs()) {
            out.push("two_factor.period must be between 15 s and 120 s".to_owned());
        }
        if self.skew > 2 {
            out.push("two_factor.skew must be 0, 1 or 2".to_owned());
        }
        if !(1..=50).contains(&self.backup_codes) {
            out.push("two_factor.backup_codes must be between 1 and 50".to_owned());
        }
        if self.max_attempts < 1 || self.account_failures < 1 {
            out.push("two_factor.max_attempts and two_factor.account_failures must be at least 1".to_owned());
        }
        if self.pending_ttl.is_zero() || self.otp_ttl.is_zero() || self.trust_device_ttl.is_zero() {
            out.push("two_factor.pending_ttl, otp_ttl and trust_device_ttl must not be zero".to_owned());
        }
        out
    }
}

/// A sign-in that passed its first factor and waits for the second: no session yet.
/// Hand `token` to the client (Kavach's HTTP layer puts it in the signed
/// `kavach.two_factor` cookie) and finish with [`TwoFactor::verify`].
#[derive(Clone, Debug)]
pub struct Pending {
    pub user_id: String,
    pub token: String,
    /// The second factors this user can use now: `totp` (when set up), `otp` (codes by email).
    pub methods: Vec<&'static str>,
    pub expires_at: Ts,
}

/// What a first factor leads to.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant, reason = "made once per sign-in and matched at once; a box would only add an allocation")]
pub enum SignInStep {
    /// No second factor needed (or a trusted device): the session.
    SignedIn(SignedIn),
    /// Two-factor is on for this user: no session until [`TwoFactor::verify`] passes.
    TwoFactor(Pending),
}

impl SignInStep {
    /// The session, or `TWO_FACTOR_REQUIRED` (403) for a pending sign-in: for callers
    /// that cannot ask for a second factor.
    pub fn signed_in(self) -> Result<SignedIn> {
        match self {
            SignInStep::SignedIn(s) => Ok(s),
            SignInStep::TwoFactor(_) => Err(Error::forbidden(Code::TwoFactorRequired, "Two-factor authentication is required to sign in")),
        }
    }
}

/// Who presents a second factor.
#[derive(Clone, Copy, Debug)]
pub enum Caller<'a> {
    /// A pending sign-in, by the token of [`Pending`].
    Pending(&'a str),
    /// A signed-in user (finishing the TOTP set-up, or checking a code).
    Session(&'a User),
}

/// A second factor.
#[derive(Clone, Copy, Debug)]
pub enum Proof<'a> {
    Totp(&'a str),
    BackupCode(&'a str),
    /// A code sent by [`TwoFactor::send_otp`].
    Otp(&'a str),
}

impl Proof<'_> {
    fn name(&self) -> &'static str {
        match self {
            Proof::Totp(_) => "totp",
            Proof::BackupCode(_) => "backup_code",
            Proof::Otp(_) => "otp",
        }
    }
}

/// A second factor that passed.
#[derive(Clone, Debug)]
pub struct Verified {
    pub user: User,
    /// For a pending sign-in: its session.
    pub session: Option<NewSession>,
    /// With `trust_device`: the token of the trusted-device cookie.
    pub trusted_device: Option<String>,
}

/// What [`TwoFactor::enable`] hands out once.
#[derive(Clone, Debug)]
pub struct Enabled {
    /// `totp` (set up; on after the first code from the app) or `otp` (codes by email, on at once).
    pub method: &'static str,
    pub totp_uri: Option<String>,
    pub backup_codes: Vec<String>,
}

/// The second factor the caller asked for is not this user's.
fn not_enabled(code: Code) -> Error {
    let msg = match code {
        Code::TotpNotEnabled => "TOTP not enabled",
        Code::OtpNotEnabled => "OTP not enabled",
        Code::BackupCodesNotEnabled => "Backup codes aren't enabled",
        _ => "Two factor isn't enabled",
    };
    Error::bad_request(code, msg)
}

fn invalid_pending() -> Error {
    Error::new(Kind::Unauthorized, Code::InvalidTwoFactorCookie, "Invalid two factor cookie")
}

/// `kavach.two_factor()`.
pub struct TwoFactor<'a>(pub(crate) &'a Core);

impl TwoFactor<'_> {
    fn opts(&self) -> &TwoFactorOptions {
        &self.0.options.two_factor
    }

    fn require_enabled(&self) -> Result<()> {
        if !self.opts().enabled {
            return Err(Error::bad_request(Code::TwoFactorDisabled, "Two-factor authentication is not enabled on this server"));
        }
        Ok(())
    }

    fn seal_context(user_id: &str) -> String {
        format!("two-factor-secret:{user_id}")
    }

    fn issuer(&self) -> &str {
        self.opts().issuer.as_deref().unwrap_or(&self.0.options.app_name)
    }

    /// Re-authentication for changes to the second factor: the password when the account
    /// has one, otherwise a session younger than `session.fresh_age`.
    async fn reauthenticate(&self, user: &User, session: &Session, password: Option<&str>) -> Result<()> {
        if users::password_hash(&self.0.db, &user.id).await?.is_some() {
            let Some(pw) = password.filter(|p| !p.is_empty()) else {
                return Err(Error::bad_request(Code::InvalidPassword, "Invalid password"));
            };
            return self.0.users().check_password(&user.id, pw).await;
        }
        let fresh = self.0.options.session.fresh_age.as_secs() as i64;
        if session.created_at.plus_secs(fresh) < Ts::now() {
            return Err(Error::forbidden(Code::SessionNotFresh, "Sign in again to change two-factor settings"));
        }
        Ok(())
    }

    /// New backup codes: `xxxxx-xxxxx` (letters and digits) for the user, keyed hashes to store.
    fn new_backup_codes(&self) -> (Vec<String>, String) {
        const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let codes: Vec<String> = (0..self.opts().backup_codes)
            .map(|_| {
                let s = crypto::random_string(10, ALNUM);
                format!("{}-{}", s.get(..5).unwrap_or_default(), s.get(5..).unwrap_or_default())
            })
            .collect();
        let hashes: Vec<String> = codes.iter().map(|c| self.0.secrets.keyed_hash(&format!("backup:{c}"))).collect();
        (codes, serde_json::Value::from(hashes).to_string())
    }

    /// Turn two-factor on. `totp` (the default) stores a new secret and backup codes and
    /// answers the `otpauth://` URI and the codes (shown once); it is on once
    /// [`Self::verify`] accepts a first code from the app (as a [`Caller::Session`]).
    /// `otp` turns on codes by email at once. Needs the password (or a fresh session).
    pub async fn enable(
        &self,
        user: &User,
        session: &Session,
        password: Option<&str>,
        method: &str,
        issuer: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Enabled> {
        self.require_enabled()?;
        self.reauthenticate(user, session, password).await?;
        match method {
            "otp" => {
                if !self.opts().otp {
                    return Err(Error::bad_request(Code::OtpNotConfigured, "OTP is not available"));
                }
                store::set_user_enabled(&self.0.db, &user.id, true, "otp", ctx).await?;
                self.0.sessions.cache_invalidate_user(&user.id).await;
                Ok(Enabled { method: "otp", totp_uri: None, backup_codes: vec![] })
            }
            "totp" => {
                if let Some(issuer) = issuer
                    && (issuer.trim().is_empty() || issuer.len() > 200 || issuer.chars().any(|c| c.is_control() || crate::text::is_invisible_or_bidi(c)))
                {
                    return Err(Error::bad_request(Code::ValidationError, "issuer: 1 to 200 visible characters"));
                }
                if store::get(&self.0.db, &user.id).await?.is_some_and(|r| r.verified) {
                    return Err(Error::bad_request(Code::TotpAlreadyEnabled, "TOTP is already enabled"));
                }
                let secret = crypto::random_bytes::<20>();
                let sealed = self.0.secrets.seal(&secret, &Self::seal_context(&user.id));
                let (codes, hashes) = self.new_backup_codes();
                store::start_totp(&self.0.db, &user.id, &sealed, &hashes).await?;
                let uri = self.opts().totp().uri(&secret, issuer.unwrap_or(self.issuer()), &user.email);
                Ok(Enabled { method: "totp", totp_uri: Some(uri), backup_codes: codes })
            }
            _ => Err(Error::bad_request(Code::ValidationError, "method: totp or otp")),
        }
    }

    /// Turn two-factor off: the secret, the backup codes, pending sign-ins and trusted
    /// devices go. Needs the password (or a fresh session).
    pub async fn disable(&self, user: &User, session: &Session, password: Option<&str>, ctx: &RequestContext) -> Result<()> {
        self.require_enabled()?;
        self.reauthenticate(user, session, password).await?;
        store::disable(&self.0.db, &user.id, ctx).await?;
        self.0.sessions.cache_invalidate_user(&user.id).await;
        Ok(())
    }

    /// An operator's reset (the user lost their device and their backup codes): as
    /// [`Self::disable`], without the user's password. Works whether or not `[two_factor]` is on.
    pub async fn reset(&self, user_id: &str, ctx: &RequestContext) -> Result<()> {
        store::disable(&self.0.db, user_id, ctx).await?;
        self.0.sessions.cache_invalidate_user(user_id).await;
        Ok(())
    }

    /// The `otpauth://` URI again (to add another device). Needs the password.
    pub async fn totp_uri(&self, user: &User, session: &Session, password: Option<&str>) -> Result<String> {
        self.require_enabled()?;
        let row = store::get(&self.0.db, &user.id).await?.ok_or_else(|| not_enabled(Code::TotpNotEnabled))?;
        self.reauthenticate(user, session, password).await?;
        let secret = self.open_secret(&user.id, &row.secret)?;
        Ok(self.opts().totp().uri(&secret, self.issuer(), &user.email))
    }

    /// New backup codes in place of the old ones (shown once). Needs the password.
    pub async fn generate_backup_codes(&self, user: &User, session: &Session, password: Option<&str>, ctx: &RequestContext) -> Result<Vec<String>> {
        self.require_enabled()?;
        if !user.two_factor_enabled || store::get(&self.0.db, &user.id).await?.is_none() {
            return Err(not_enabled(Code::TwoFactorNotEnabled));
        }
        self.reauthenticate(user, session, password).await?;
        let (codes, hashes) = self.new_backup_codes();
        store::replace_backup_codes(&self.0.db, &user.id, &hashes, ctx).await?;
        Ok(codes)
    }

    fn open_secret(&self, user_id: &str, sealed: &str) -> Result<Vec<u8>> {
        self.0.secrets.open(sealed, &Self::seal_context(user_id)).ok_or_else(|| Error::internal("a TOTP secret does not open with the configured secrets"))
    }

    /// A pending sign-in for `user` after the first factor `method` (`password`, `email-link`, ...).
    pub(crate) async fn start(&self, user: &User, method: &str, ctx: &RequestContext) -> Result<Pending> {
        let token = crypto::random_token();
        let expires_at = Ts::now().plus_secs(self.opts().pending_ttl.as_secs() as i64);
        let totp = store::get(&self.0.db, &user.id).await?.is_some_and(|r| r.verified);
        store::insert_pending(&self.0.db, &crypto::token_hash(&token), &user.id, method, expires_at, ctx).await?;
        let mut methods = vec![];
        if totp {
            methods.push("totp");
        }
        if self.opts().otp {
            methods.push("otp");
        }
        Ok(Pending { user_id: user.id.clone(), token, methods, expires_at })
    }

    /// Is `token` (a trusted-device cookie's) a live trusted device of `user_id`?
    pub(crate) async fn is_trusted(&self, user_id: &str, token: &str) -> Result<bool> {
        store::is_trusted(&self.0.db, user_id, &crypto::token_hash(token), Ts::now()).await
    }

    /// Email a one-time code to the user of a pending sign-in (a new one replaces the
    /// last; the pending sign-in's attempt count carries on).
    pub async fn send_otp(&self, pending_token: &str) -> Result<()> {
        self.require_enabled()?;
        if !self.opts().otp {
            return Err(Error::bad_request(Code::OtpNotConfigured, "OTP is not available"));
        }
        let now = Ts::now();
        let hash = crypto::token_hash(pending_token);
        let user_id = store::pending_user(&self.0.db, &hash, now).await?.ok_or_else(invalid_pending)?;
        let user = users::find_by_id(&self.0.db, &user_id).await?.ok_or_else(invalid_pending)?;
        // The address's email limit holds here too: nobody floods an inbox with codes.
        self.0.recipient_allowed(&user.email).await?;
        let code = crypto::random_digits(6);
        let expires = now.plus_secs(self.opts().otp_ttl.as_secs() as i64);
        store::set_otp(&self.0.db, &hash, &self.otp_hash(&hash, &code), expires).await?;
        self.0.send_email(
            "two-factor-otp.txt",
            &user.email,
            minijinja::context! { app_name => &self.0.options.app_name, name => &user.name, code => &code,
            expires_in => crate::text::human_duration(self.opts().otp_ttl) },
        );
        Ok(())
    }

    fn otp_hash(&self, pending_hash: &str, code: &str) -> String {
        self.0.secrets.keyed_hash(&format!("2fa-otp:{pending_hash}:{code}"))
    }

    /// Check a second factor. For a pending sign-in, every attempt is counted first (the
    /// pending sign-in is dropped after `max_attempts`, the account locked after
    /// `account_failures`), and a pass creates the session, drops the pending sign-in and,
    /// with `trust_device`, a trusted device, in one transaction. For a signed-in user, a
    /// first TOTP code turns two-factor on.
    pub async fn verify(&self, caller: Caller<'_>, proof: Proof<'_>, trust_device: bool, ctx: &RequestContext) -> Result<Verified> {
        self.require_enabled()?;
        let now = Ts::now();
        let (user, pending) = match caller {
            Caller::Pending(token) => {
                let hash = crypto::token_hash(token);
                let Some(p) = store::take_attempt(&self.0.db, &hash, now, self.opts().max_attempts).await? else {
                    if store::drop_pending(&self.0.db, &hash).await? {
                        return Err(Error::bad_request(Code::TooManyAttemptsRequestNewCode, "Too many attempts. Please request a new code."));
                    }
                    return Err(invalid_pending());
                };
                let user = users::find_by_id(&self.0.db, &p.user_id).await?.ok_or_else(invalid_pending)?;
                if user.is_banned(now) {
                    return Err(Error::forbidden(Code::BannedUser, "You have been banned from this application"));
                }
                (user, Some((hash, p)))
            }
            Caller::Session(user) => (user.clone(), None),
        };
        let row = store::get(&self.0.db, &user.id).await?;
        if let Some(until) = row.as_ref().and_then(|r| r.locked_until).filter(|t| *t > now) {
            let secs = ((until.0 - now.0) / 1000).max(1) as u64;
            return Err(Error::new(
                Kind::TooManyRequests { retry_after_secs: secs },
                Code::AccountTemporarilyLocked,
                "Too many failed verification attempts. Your account is temporarily locked. Please try again later.",
            ));
        }
        let passed = match proof {
            Proof::Totp(code) => {
                let row = row.as_ref().filter(|r| r.verified || pending.is_none()).ok_or_else(|| not_enabled(Code::TotpNotEnabled))?;
                let secret = self.open_secret(&user.id, &row.secret)?;
                match self.opts().totp().matching_step(&secret, code, (now.0 / 1000).max(0) as u64) {
                    // A code whose step is not after the last accepted one is a replay.
                    Some(step) => store::accept_step(&self.0.db, &user.id, step as i64).await?,
                    None => false,
                }
            }
            Proof::BackupCode(code) => {
                let row = row.as_ref().ok_or_else(|| not_enabled(Code::BackupCodesNotEnabled))?;
                let candidates = self.0.secrets.keyed_hashes(&format!("backup:{}", code.trim()));
                let stored: Vec<String> = serde_json::from_str(&row.backup_codes).unwrap_or_default();
                match stored.iter().position(|h| candidates.iter().any(|c| crypto::ct_eq(c.as_bytes(), h.as_bytes()))) {
                    Some(i) => {
                        let mut rest = stored.clone();
                        rest.remove(i);
                        // Conditional on the list read: two uses of one code cannot both pass.
                        store::consume_backup_code(&self.0.db, &user.id, &row.backup_codes, &serde_json::Value::from(rest).to_string()).await?
                    }
                    None => false,
                }
            }
            Proof::Otp(code) => {
                let Some((hash, p)) = &pending else {
                    return Err(not_enabled(Code::OtpNotEnabled));
                };
                match (&p.otp_hash, p.otp_expires_at) {
                    (Some(stored), Some(exp)) if exp > now => crypto::ct_eq(self.otp_hash(hash, code.trim()).as_bytes(), stored.as_bytes()),
                    (Some(_), Some(_)) => {
                        return Err(Error::bad_request(Code::OtpHasExpired, "OTP has expired"));
                    }
                    _ => return Err(Error::bad_request(Code::InvalidCode, "Send a code first")),
                }
            }
        };
        if !passed {
            let lock_until = now.plus_secs(self.opts().lockout.as_secs() as i64);
            store::record_failure(&self.0.db, &user.id, self.opts().account_failures, lock_until, proof.name(), ctx).await?;
            let (code, msg) = match proof {
                Proof::BackupCode(_) => (Code::InvalidBackupCode, "Invalid backup code"),
                _ => (Code::InvalidCode, "Invalid code"),
            };
            return Err(Error::new(Kind::Unauthorized, code, msg));
        }
        match pending {
            Some((hash, _)) => {
                let session = self.0.sessions.prepare(&user.id, ctx);
                let device = trust_device.then(crypto::random_token);
                let device_row = device.as_deref().map(|t| (crypto::token_hash(t), now.plus_secs(self.opts().trust_device_ttl.as_secs() as i64)));
                if !store::finish_sign_in(&self.0.db, &hash, &session.session, device_row.as_ref(), proof.name(), ctx).await? {
                    return Err(invalid_pending());
                }
                self.0.link_anonymous(&user.id, ctx).await?;
                Ok(Verified { user, session: Some(session), trusted_device: device })
            }
            None => {
                let mut user = user;
                if matches!(proof, Proof::Totp(_)) && row.as_ref().is_some_and(|r| !r.verified) {
                    store::confirm_totp(&self.0.db, &user.id, ctx).await?;
                    self.0.sessions.cache_invalidate_user(&user.id).await;
                    user.two_factor_enabled = true;
                }
                Ok(Verified { user, session: None, trusted_device: None })
            }
        }
    }
}

impl Core {
    /// Two-factor authentication (`[two_factor]`).
    pub fn two_factor(&self) -> TwoFactor<'_> {
        TwoFactor(self)
    }

    /// Where every first factor ends (the one place a sign-in becomes a session): a
    /// session, or, for a user with two-factor on (and no trusted device in `ctx`), a
    /// pending sign-in and no session. `method` names the first factor in the audit log.
    pub(crate) async fn complete_sign_in(&self, user: User, method: &str, ctx: &RequestContext) -> Result<SignInStep> {
        self.complete_sign_in_with(user, method, true, ctx).await
    }

    /// [`Core::complete_sign_in`]; `first_factor_only: false` for a method that is two
    /// factors by itself (a passkey verified with user verification), which needs no
    /// second one.
    pub(crate) async fn complete_sign_in_with(&self, user: User, method: &str, first_factor_only: bool, ctx: &RequestContext) -> Result<SignInStep> {
        // Every first factor checks it before this point; here again, so a new one cannot forget.
        if user.is_banned(Ts::now()) {
            return Err(Error::forbidden(Code::BannedUser, "You have been banned from this application"));
        }
        if first_factor_only && self.options.two_factor.enabled && user.two_factor_enabled {
            let trusted = match ctx.trusted_device.as_deref() {
                Some(t) => self.two_factor().is_trusted(&user.id, t).await?,
                None => false,
            };
            if !trusted {
                return Ok(SignInStep::TwoFactor(self.two_factor().start(&user, method, ctx).await?));
            }
        }
        let session = self.sessions.create(&user.id, ctx, audit::EventKind::SignInSuccess).await?;
        self.link_anonymous(&user.id, ctx).await?;
        Ok(SignInStep::SignedIn(SignedIn { user, session }))
    }
}
