//! Phone numbers (`[phone_number]`, better-auth's `phoneNumber()`): `kavach.phone_number()`.
//! A code by text message proves a number: it signs its owner in (creating the account
//! when `sign_up_on_verification`), attaches a proven number to the signed-in account,
//! or resets the password; and a proven number signs in with the password. Codes are
//! issued and checked by [`crate::otp`] (keyed hashes, attempts per code and per number,
//! expiring, single use) and sent by the configured [`crate::sms::SmsSender`]. A code is
//! a first factor: the sign-in ends in [`crate::Core::complete_sign_in`].

use crate::error::{Code, Error, Kind, Result};
use crate::otp::{self, Target};
use crate::plugins::email_password::ResetProof;
use crate::plugins::two_factor::SignInStep;
use crate::users::{self, User};
use crate::{Core, RequestContext, options};
use serde::Deserialize;
use std::time::Duration;

mod store;

const VERIFY: &str = "phone:verify";
const RESET: &str = "phone:reset";

/// `[phone_number]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhoneNumberOptions {
    pub enabled: bool,
    /// Digits in a code, 6 to 10. Default 6.
    pub otp_length: usize,
    /// How long a code works. Default 5 minutes.
    #[serde(deserialize_with = "options::duration")]
    pub expires_in: Duration,
    /// Wrong codes before a code is dead, 1 to 10. Default 3.
    pub allowed_attempts: u32,
    /// Password sign-in by number needs a proven number (an unproven one gets a code and
    /// `401 PHONE_NUMBER_NOT_VERIFIED`). Default true.
    pub require_verification: bool,
    /// A code for a number no account has creates one (with a placeholder address under
    /// `email_domain`). Default false.
    pub sign_up_on_verification: bool,
    /// The domain of the placeholder addresses of accounts created by a code
    /// (`<digits>@<domain>`). Default `phone.placeholder.invalid`.
    pub email_domain: String,
}

impl Default for PhoneNumberOptions {
    fn default() -> Self {
        PhoneNumberOptions {
            enabled: false,
            otp_length: 6,
            expires_in: Duration::from_secs(300),
            allowed_attempts: 3,
            require_verification: true,
            sign_up_on_verification: false,
            email_domain: "phone.placeholder.invalid".to_owned(),
        }
    }
}

impl PhoneNumberOptions {
    pub(crate) fn problems(&self) -> Option<String> {
        if !(6..=10).contains(&self.otp_length) {
            return Some("phone_number.otp_length must be 6 to 10".to_owned());
        }
        if !(1..=10).contains(&self.allowed_attempts) {
            return Some("phone_number.allowed_attempts must be 1 to 10".to_owned());
        }
        if users::normalize_email(&format!("1@{}", self.email_domain)).is_err() {
            return Some(format!("phone_number.email_domain = {:?} does not make valid addresses", self.email_domain));
        }
        (self.expires_in.is_zero() || self.expires_in > Duration::from_secs(3600))
            .then(|| "phone_number.expires_in must be above zero and at most 1h".to_owned())
    }
}

/// A number in E.164 form: `+`, then 8 to 15 digits, the first not 0. Spaces, dashes,
/// dots and parentheses are dropped.
pub fn normalize_phone(raw: &str) -> Result<String> {
    let kept: String = raw.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = kept.strip_prefix('+').unwrap_or("");
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return Err(Error::bad_request(Code::InvalidPhoneNumber, "Invalid phone number: use the international form, like +14155550123"));
    }
    Ok(kept)
}

pub(crate) fn taken() -> Error {
    Error::bad_request(Code::PhoneNumberExist, "Phone number already exists")
}

/// `POST /phone-number/verify`.
#[derive(Clone, Debug, Default)]
pub struct VerifyRequest {
    pub phone_number: String,
    pub code: String,
    /// Verify without signing in.
    pub disable_session: bool,
}

/// A number proven by its code.
#[derive(Clone, Debug)]
pub struct PhoneVerified {
    pub user: User,
    /// The sign-in it led to (none with `disable_session`).
    pub step: Option<SignInStep>,
}

/// `kavach.phone_number()`.
pub struct PhoneNumber<'a>(pub(crate) &'a Core);

impl PhoneNumber<'_> {
    fn opts(&self) -> &PhoneNumberOptions {
        &self.0.options.phone_number
    }

    fn require_enabled(&self) -> Result<()> {
        if !self.opts().enabled {
            return Err(Error::bad_request(Code::PhoneNumberDisabled, "Phone numbers are not enabled on this server"));
        }
        if self.0.sms.is_none() {
            return Err(Error::new(Kind::Unavailable, Code::SmsNotConfigured, "No SMS sender is configured on this server"));
        }
        Ok(())
    }

    /// Issue a code for `purpose` and text it when `send` (otherwise a dead one, and the
    /// same answer). The number's message limit applies in every case.
    async fn issue_and_send(&self, purpose: &str, phone: &str, send: bool) -> Result<()> {
        self.0.recipient_allowed(phone).await?;
        let o = self.opts();
        let code = otp::issue(self.0, &Target { purpose, address: phone }, o.otp_length, if send { o.expires_in } else { Duration::ZERO }).await?;
        let text = format!("Your {} code is {code}. It expires in {}.", self.0.options.app_name, crate::text::human_duration(o.expires_in));
        self.0.send_sms_if(send, phone, text);
        Ok(())
    }

    /// Text a code to prove the number (`/phone-number/send-otp`). Always sent: the code
    /// is how a new number is proven.
    pub async fn send_otp(&self, phone: &str) -> Result<()> {
        self.require_enabled()?;
        let phone = normalize_phone(phone)?;
        self.issue_and_send(VERIFY, &phone, true).await
    }

    /// Prove the number with its code: the account with that number is marked proven and
    /// signed in (unless `disable_session`); with `sign_up_on_verification`, a number no
    /// account has gets a new one.
    pub async fn verify(&self, req: &VerifyRequest, ctx: &RequestContext) -> Result<PhoneVerified> {
        self.require_enabled()?;
        let phone = normalize_phone(&req.phone_number)?;
        otp::take(self.0, &Target { purpose: VERIFY, address: &phone }, &req.code, self.opts().allowed_attempts).await?;
        let user = match store::mark_verified(&self.0.db, &phone, ctx).await? {
            Some(id) => {
                self.0.sessions.cache_invalidate_user(&id).await;
                users::find_by_id(&self.0.db, &id).await?.ok_or_else(otp::invalid)?
            }
            None if self.opts().sign_up_on_verification => {
                let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
                let email = format!("{digits}@{}", self.opts().email_domain);
                let row = users::UserRow { email: &email, name: &phone, phone_number: Some(&phone), ..Default::default() };
                users::insert_user(self.0, row, ctx).await?.ok_or_else(taken)?
            }
            None => return Err(Error::bad_request(Code::PhoneNumberNotExist, "No account has this phone number")),
        };
        let step = if req.disable_session { None } else { Some(self.0.complete_sign_in(user.clone(), "phone-number", ctx).await?) };
        Ok(PhoneVerified { user, step })
    }

    /// Attach the number to the signed-in account with its code (`updatePhoneNumber`),
    /// proven. `PHONE_NUMBER_EXIST` when another account has it.
    pub async fn update(&self, user: &User, phone: &str, code: &str, ctx: &RequestContext) -> Result<User> {
        self.require_enabled()?;
        let phone = normalize_phone(phone)?;
        otp::take(self.0, &Target { purpose: VERIFY, address: &phone }, code, self.opts().allowed_attempts).await?;
        store::set_number(&self.0.db, &user.id, &phone, ctx).await?;
        self.0.sessions.cache_invalidate_user(&user.id).await;
        users::find_by_id(&self.0.db, &user.id).await?.ok_or_else(Error::unauthorized)
    }

    /// Sign in with the number and the password. The same password check, lockout and
    /// two-factor as the email sign-in; with `require_verification`, an unproven number
    /// gets a code and `401 PHONE_NUMBER_NOT_VERIFIED`.
    pub async fn sign_in(&self, phone: &str, password: &str, ctx: &RequestContext) -> Result<SignInStep> {
        self.require_enabled()?;
        let phone = normalize_phone(phone)?;
        let lookup = users::find_with_password(&self.0.db, users::SignInBy::PhoneNumber, &phone);
        let step = match self
            .0
            .email_password()
            .password_sign_in(&format!("phone:{phone}"), password, lookup, users::SignInBy::PhoneNumber, "phone-number", ctx)
            .await
        {
            Err(e) if e.code == Code::InvalidEmailOrPassword.as_str() => {
                return Err(Error::new(Kind::Unauthorized, Code::InvalidPhoneNumberOrPassword, "Invalid phone number or password"));
            }
            Err(e) if e.code == Code::PhoneNumberNotVerified.as_str() => {
                // The right password for an unproven number: a code to prove it.
                self.issue_and_send(VERIFY, &phone, true).await?;
                return Err(e);
            }
            other => other?,
        };
        Ok(step)
    }

    /// Text a password-reset code if an account has the number (proven, with
    /// `require_verification`). The same answer either way.
    pub async fn request_password_reset(&self, phone: &str) -> Result<()> {
        self.require_enabled()?;
        let phone = normalize_phone(phone)?;
        let user = store::find_by_phone(self.0, &phone).await?;
        let send = user.is_some_and(|u| u.phone_number_verified || !self.opts().require_verification);
        self.issue_and_send(RESET, &phone, send).await
    }

    /// Set a new password with a reset code. As with a reset link, every session and
    /// OAuth grant of the account ends in the transaction that uses the code.
    pub async fn reset_password(&self, phone: &str, code: &str, new_password: &str, ctx: &RequestContext) -> Result<()> {
        self.require_enabled()?;
        let phone = normalize_phone(phone)?;
        self.0.options.password.check(new_password, &self.0.password_context("", ""))?;
        let target = Target { purpose: RESET, address: &phone };
        let passed = otp::check(self.0, &target, code, self.opts().allowed_attempts).await?;
        let proof = ResetProof::Code { target: &target, passed: &passed, by: users::SignInBy::PhoneNumber };
        self.0.email_password().reset_password_by(proof, new_password, ctx).await
    }
}

impl Core {
    /// Phone numbers (`[phone_number]`).
    pub fn phone_number(&self) -> PhoneNumber<'_> {
        PhoneNumber(self)
    }

    /// Install the SMS sender the phone-number codes go out through.
    pub fn with_sms(mut self, sender: std::sync::Arc<dyn crate::sms::SmsSender>) -> Self {
        self.sms = Some(sender);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_to_e164_or_refused() {
        assert_eq!(normalize_phone(" +1 (415) 555-0123 ").unwrap(), "+14155550123");
        assert_eq!(normalize_phone("+44.20.7946.0958").unwrap(), "+442079460958");
        for bad in ["", "+", "14155550123", "+0123456789", "+1415555012a", "+1234567", "+1234567890123456", "++14155550123", "+1 415 555 0123 ext 4"] {
            assert!(normalize_phone(bad).is_err(), "{bad:?} accepted");
        }
    }
}
