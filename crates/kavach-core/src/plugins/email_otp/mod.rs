//! Codes by email (`[email_otp]`, better-auth's `emailOTP()`): `kavach.email_otp()`.
//! A short numeric code sent to an address signs its owner in (creating the account on
//! first use when sign-up is allowed), verifies the address, resets the password, or
//! moves the account to a new address. Codes are issued and checked by [`crate::otp`]:
//! stored as keyed hashes, one live code per purpose and address, attempts counted per
//! code and per address, expiring, single use. A code is a first factor: the sign-in
//! ends in [`crate::Core::complete_sign_in`], so a user with two-factor on still needs a
//! second one.

use crate::error::{Code, Error, Result};
use crate::otp::{self, Target};
use crate::plugins::email_password::ResetProof;
use crate::plugins::two_factor::SignInStep;
use crate::sessions::Session;
use crate::store::Ts;
use crate::users::{self, User, check_image, check_name, normalize_email};
use crate::{Core, RequestContext, audit, options};
use minijinja::context;
use serde::Deserialize;
use std::time::Duration;

mod store;

/// `[email_otp]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailOtpOptions {
    pub enabled: bool,
    /// Digits in a code, 6 to 10. Default 6.
    pub otp_length: usize,
    /// How long a code works. Default 5 minutes.
    #[serde(deserialize_with = "options::duration")]
    pub expires_in: Duration,
    /// Wrong codes before a code is dead (a new one must be asked for), 1 to 10. Default 3.
    pub allowed_attempts: u32,
    /// Create the account when an unknown address signs in with its code. Default true.
    pub allow_sign_up: bool,
    /// Allow moving an account to a new address with a code sent there
    /// (`/email-otp/request-email-change`, `/email-otp/change-email`). Default false.
    pub change_email: bool,
    /// With `change_email`: also ask for a code sent to the current address. Default false.
    pub verify_current_email: bool,
}

impl Default for EmailOtpOptions {
    fn default() -> Self {
        EmailOtpOptions {
            enabled: false,
            otp_length: 6,
            expires_in: Duration::from_secs(300),
            allowed_attempts: 3,
            allow_sign_up: true,
            change_email: false,
            verify_current_email: false,
        }
    }
}

impl EmailOtpOptions {
    pub(crate) fn problems(&self) -> Option<String> {
        if !(6..=10).contains(&self.otp_length) {
            return Some("email_otp.otp_length must be 6 to 10".to_owned());
        }
        if !(1..=10).contains(&self.allowed_attempts) {
            return Some("email_otp.allowed_attempts must be 1 to 10".to_owned());
        }
        (self.expires_in.is_zero() || self.expires_in > Duration::from_secs(3600)).then(|| "email_otp.expires_in must be above zero and at most 1h".to_owned())
    }
}

/// What a code sent by `/email-otp/send-verification-otp` is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OtpType {
    EmailVerification,
    SignIn,
    ForgetPassword,
}

impl OtpType {
    fn purpose(self) -> &'static str {
        match self {
            OtpType::EmailVerification => "email:email-verification",
            OtpType::SignIn => "email:sign-in",
            OtpType::ForgetPassword => "email:forget-password",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            OtpType::EmailVerification => "email-verification",
            OtpType::SignIn => "sign-in",
            OtpType::ForgetPassword => "forget-password",
        }
    }
}

/// `POST /sign-in/email-otp`.
#[derive(Clone, Debug, Default)]
pub struct OtpSignIn {
    pub email: String,
    pub otp: String,
    /// The name and image of an account the code creates.
    pub name: Option<String>,
    pub image: Option<String>,
}

/// A verified address: the user, and with `email_password.auto_sign_in_after_verification`
/// the sign-in it leads to.
#[derive(Clone, Debug)]
pub struct Verified {
    pub user: User,
    pub step: Option<SignInStep>,
}

/// `kavach.email_otp()`.
pub struct EmailOtp<'a>(pub(crate) &'a Core);

fn change_purpose(user_id: &str) -> String {
    format!("email:change-email:{user_id}")
}

impl EmailOtp<'_> {
    fn opts(&self) -> &EmailOtpOptions {
        &self.0.options.email_otp
    }

    fn require_enabled(&self) -> Result<()> {
        if !self.opts().enabled {
            return Err(Error::bad_request(Code::EmailOtpDisabled, "Codes by email are not enabled on this server"));
        }
        Ok(())
    }

    fn require_change_email(&self) -> Result<()> {
        self.require_enabled()?;
        if !self.opts().change_email {
            return Err(Error::bad_request(Code::ChangeEmailDisabled, "Changing the email with a code is not enabled on this server"));
        }
        Ok(())
    }

    /// Issue a code for `target` and email it to `to` when `send`; otherwise store a dead
    /// one and render the message all the same (the answer and its cost do not tell).
    async fn issue_and_send(&self, target: &Target<'_>, kind: &str, to: &str, send: bool) -> Result<()> {
        let o = self.opts();
        let code = otp::issue(self.0, target, o.otp_length, if send { o.expires_in } else { Duration::ZERO }).await?;
        self.0.send_email_if(
            send,
            "email-otp.txt",
            to,
            context! { app_name => &self.0.options.app_name, email => to, code => code, kind => kind, expires_in => crate::text::human_duration(o.expires_in) },
        );
        Ok(())
    }

    /// Email a code for `kind`. The same answer whether or not the address has an account:
    /// a sign-in code goes to an unknown address only when sign-up is allowed, the other
    /// kinds only to an account's address. The address's email limit applies in every case.
    pub async fn send(&self, email: &str, kind: OtpType, ctx: &RequestContext) -> Result<()> {
        self.require_enabled()?;
        let email = normalize_email(email)?;
        self.0.recipient_allowed(&email).await?;
        let user = users::find_by_email(&self.0.db, &email).await?;
        let send = user.is_some() || (kind == OtpType::SignIn && self.opts().allow_sign_up);
        if kind == OtpType::ForgetPassword {
            audit::append(
                &self.0.db,
                audit::Event::new(audit::EventKind::PasswordResetRequested, user.as_ref().map(|u| u.id.as_str()), ctx).with("method", "email-otp"),
            )
            .await?;
        }
        self.issue_and_send(&Target { purpose: kind.purpose(), address: &email }, kind.as_str(), &email, send).await
    }

    /// Check a code without using it (`/email-otp/check-verification-otp`): the attempt
    /// counts; a code that passes still works once afterwards.
    pub async fn check(&self, email: &str, kind: OtpType, code: &str) -> Result<()> {
        self.require_enabled()?;
        let email = normalize_email(email)?;
        otp::check(self.0, &Target { purpose: kind.purpose(), address: &email }, code, self.opts().allowed_attempts).await?;
        if users::find_by_email(&self.0.db, &email).await?.is_none() {
            // Safe to tell: the caller holds a code sent to the address.
            return Err(Error::bad_request(Code::UserNotFound, "No account uses this email"));
        }
        Ok(())
    }

    /// Verify the address with an `email-verification` code: the code is used, the
    /// address marked verified; with `email_password.auto_sign_in_after_verification`, a
    /// sign-in follows (a pending one for a user with two-factor on).
    pub async fn verify_email(&self, email: &str, code: &str, ctx: &RequestContext) -> Result<Verified> {
        self.require_enabled()?;
        let email = normalize_email(email)?;
        let target = Target { purpose: OtpType::EmailVerification.purpose(), address: &email };
        let passed = otp::check(self.0, &target, code, self.opts().allowed_attempts).await?;
        let now = Ts::now();
        let user_id = store::verify_email(&self.0.db, &target, &passed, now, ctx).await?;
        let user_id = user_id.ok_or_else(|| Error::bad_request(Code::UserNotFound, "No account uses this email"))?;
        self.0.sessions.cache_invalidate_user(&user_id).await;
        let user = users::find_by_id(&self.0.db, &user_id).await?.ok_or_else(Error::invalid_token)?;
        let step = if self.0.options.email_password.auto_sign_in_after_verification && !user.is_banned(now) {
            Some(self.0.complete_sign_in(user.clone(), "email-otp", ctx).await?)
        } else {
            None
        };
        Ok(Verified { user, step })
    }

    /// Sign in with a `sign-in` code: the code is used; the account is found, or created
    /// verified when sign-up is allowed; an unverified account's address is proven, which
    /// ends the sessions, grants and password set without that proof (account
    /// pre-hijacking). Returns the sign-in and whether the account is new.
    pub async fn sign_in(&self, req: &OtpSignIn, ctx: &RequestContext) -> Result<(SignInStep, bool)> {
        self.require_enabled()?;
        let email = normalize_email(&req.email)?;
        if let Some(n) = &req.name {
            check_name(n)?;
        }
        if let Some(i) = &req.image {
            check_image(i)?;
        }
        otp::take(self.0, &Target { purpose: OtpType::SignIn.purpose(), address: &email }, &req.otp, self.opts().allowed_attempts).await?;
        let name = req.name.as_deref().unwrap_or("");
        let (user, new) = users::find_or_create_proven(self.0, &email, name, req.image.as_deref(), self.opts().allow_sign_up, "email-otp", ctx)
            .await?
            .ok_or_else(otp::invalid)?;
        Ok((self.0.complete_sign_in(user, "email-otp", ctx).await?, new))
    }

    /// Set a new password with a `forget-password` code (it also proves the address). As
    /// with a reset link, every session and OAuth grant of the account ends in the same
    /// transaction that uses the code.
    pub async fn reset_password(&self, email: &str, code: &str, new_password: &str, ctx: &RequestContext) -> Result<()> {
        self.require_enabled()?;
        let email = normalize_email(email)?;
        self.0.options.password.check(new_password, &self.0.password_context("", ""))?;
        let target = Target { purpose: OtpType::ForgetPassword.purpose(), address: &email };
        let passed = otp::check(self.0, &target, code, self.opts().allowed_attempts).await?;
        self.0.email_password().reset_password_by(ResetProof::Code { target: &target, passed: &passed, by: users::SignInBy::Email }, new_password, ctx).await
    }

    /// Send a code to `new_email` for moving the signed-in account there (needs a fresh
    /// session; with `verify_current_email`, also a code sent to the current address).
    /// The same answer when the new address is taken, and then no code is sent.
    pub async fn request_email_change(&self, user: &User, session: &Session, new_email: &str, current_code: Option<&str>, ctx: &RequestContext) -> Result<()> {
        self.require_change_email()?;
        self.0.users().confirm_fresh(session, None, "to change the email").await?;
        let new_email = normalize_email(new_email)?;
        if new_email == user.email {
            return Err(Error::bad_request(Code::EmailIsTheSame, "The new email is the current one"));
        }
        if self.opts().verify_current_email {
            let code = current_code.ok_or_else(|| Error::bad_request(Code::InvalidOtp, "Send the code sent to the current email (otp)"))?;
            let target = Target { purpose: OtpType::EmailVerification.purpose(), address: &user.email };
            otp::take(self.0, &target, code, self.opts().allowed_attempts).await?;
        }
        self.0.recipient_allowed(&new_email).await?;
        audit::append(&self.0.db, audit::Event::new(audit::EventKind::EmailChangeRequested, Some(&user.id), ctx).with("method", "email-otp")).await?;
        let taken = users::find_by_email(&self.0.db, &new_email).await?.is_some();
        let purpose = change_purpose(&user.id);
        self.issue_and_send(&Target { purpose: &purpose, address: &new_email }, "change-email", &new_email, !taken).await
    }

    /// Move the signed-in account to `new_email` with the code sent there (needs a fresh
    /// session). The address is verified: the code proves it.
    pub async fn change_email(&self, user: &User, session: &Session, new_email: &str, code: &str, ctx: &RequestContext) -> Result<User> {
        self.require_change_email()?;
        self.0.users().confirm_fresh(session, None, "to change the email").await?;
        let new_email = normalize_email(new_email)?;
        if new_email == user.email {
            return Err(Error::bad_request(Code::EmailIsTheSame, "The new email is the current one"));
        }
        let purpose = change_purpose(&user.id);
        let target = Target { purpose: &purpose, address: &new_email };
        let passed = otp::check(self.0, &target, code, self.opts().allowed_attempts).await?;
        let now = Ts::now();
        store::change_email(&self.0.db, &target, &passed, &user.id, now, ctx).await?;
        self.0.sessions.cache_invalidate_user(&user.id).await;
        users::find_by_id(&self.0.db, &user.id).await?.ok_or_else(Error::unauthorized)
    }
}

impl Core {
    /// Codes by email (`[email_otp]`).
    pub fn email_otp(&self) -> EmailOtp<'_> {
        EmailOtp(self)
    }
}
