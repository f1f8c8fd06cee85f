//! Usernames (`[username]`, better-auth's `username()`): `kavach.usernames()`. A user may
//! have a username besides their email: letters, digits, `_` and `.`, between
//! `min_length` and `max_length` characters, compared and stored in lower case (unique),
//! with the user's own spelling kept as the display form. Reserved names are never given
//! out. Sign-in with a username and password shares the email sign-in's password check,
//! lockout and [`crate::Core::complete_sign_in`].

use crate::error::{Code, Error, Kind, Result};
use crate::plugins::two_factor::SignInStep;
use crate::users::{self, User};
use crate::{Core, RequestContext, db};
use serde::Deserialize;

/// `[username]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsernameOptions {
    pub enabled: bool,
    /// Shortest username. Default 3.
    pub min_length: usize,
    /// Longest username. Default 30.
    pub max_length: usize,
    /// Names nobody may take (compared in lower case). Default: names that pass for the
    /// service or its operators (`admin`, `root`, `support`, ...).
    pub reserved: Vec<String>,
}

impl Default for UsernameOptions {
    fn default() -> Self {
        let reserved = [
            "admin",
            "administrator",
            "root",
            "system",
            "support",
            "help",
            "security",
            "abuse",
            "postmaster",
            "webmaster",
            "hostmaster",
            "noreply",
            "no-reply",
            "kavach",
            "api",
            "www",
            "mail",
            "official",
            "staff",
            "moderator",
            "owner",
            "null",
            "undefined",
            "anonymous",
        ];
        UsernameOptions { enabled: false, min_length: 3, max_length: 30, reserved: reserved.iter().map(|s| (*s).to_owned()).collect() }
    }
}

impl UsernameOptions {
    pub(crate) fn problems(&self) -> Option<String> {
        (self.min_length == 0 || self.max_length < self.min_length || self.max_length > 100)
            .then(|| "username.min_length must be at least 1 and at most username.max_length (at most 100)".to_owned())
    }
}

/// The answer for a name that cannot be had (taken or reserved: the same).
pub(crate) fn taken() -> Error {
    Error::bad_request(Code::UsernameIsAlreadyTaken, "Username is already taken. Please try another.")
}

/// `kavach.usernames()`.
pub struct Usernames<'a>(pub(crate) &'a Core);

impl Usernames<'_> {
    fn opts(&self) -> &UsernameOptions {
        &self.0.options.username
    }

    fn require_enabled(&self) -> Result<()> {
        if !self.opts().enabled {
            return Err(Error::bad_request(Code::UsernameDisabled, "Usernames are not enabled on this server"));
        }
        Ok(())
    }

    /// The normalised form of `raw` (lower case), or why it is not a username (`kind`:
    /// 400 for changes, 422 at sign-in and for the availability check, as better-auth).
    fn normalize(&self, raw: &str, kind: Kind) -> Result<String> {
        let o = self.opts();
        let n = raw.chars().count();
        if n < o.min_length {
            return Err(Error::new(kind, Code::UsernameTooShort, "Username is too short"));
        }
        if n > o.max_length {
            return Err(Error::new(kind, Code::UsernameTooLong, "Username is too long"));
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
            return Err(Error::new(kind, Code::InvalidUsername, "Username is invalid: letters, digits, _ and . only"));
        }
        Ok(raw.to_ascii_lowercase())
    }

    fn reserved(&self, normalized: &str) -> bool {
        self.opts().reserved.iter().any(|r| r.eq_ignore_ascii_case(normalized))
    }

    /// A display form: 1 to `max_length` visible characters (no control, invisible or
    /// bidirectional ones).
    fn check_display(&self, d: &str) -> Result<()> {
        let n = d.chars().count();
        if n == 0 || n > self.opts().max_length.max(30) || d.chars().any(|c| c.is_control() || crate::text::is_invisible_or_bidi(c)) || d.trim() != d {
            return Err(Error::bad_request(Code::InvalidDisplayUsername, "Display username is invalid"));
        }
        Ok(())
    }

    /// Check a username (and its display form, default: as typed) for `user` (`None`: a
    /// new account): the normalised name and the display form, or a refusal (taken or
    /// reserved: `USERNAME_IS_ALREADY_TAKEN`). The database's unique index settles races.
    pub async fn prepare_for(&self, user: Option<&str>, raw: &str, display: Option<&str>) -> Result<(String, String)> {
        self.require_enabled()?;
        let normalized = self.normalize(raw, Kind::BadRequest)?;
        let display = display.unwrap_or(raw);
        self.check_display(display)?;
        if self.reserved(&normalized) {
            return Err(taken());
        }
        match self.owner(&normalized).await? {
            Some(owner) if Some(owner.as_str()) != user => Err(taken()),
            _ => Ok((normalized, display.to_owned())),
        }
    }

    /// [`Self::prepare_for`] a new account.
    pub async fn prepare(&self, raw: &str, display: Option<&str>) -> Result<(String, String)> {
        self.prepare_for(None, raw, display).await
    }

    async fn owner(&self, normalized: &str) -> Result<Option<String>> {
        Ok(db!(&self.0.db, |pool| {
            sqlx::query_scalar::<_, String>("SELECT id FROM kavach_user WHERE username = $1").bind(normalized).fetch_optional(pool).await?
        }))
    }

    /// Can `raw` be had? `422` when it is not a username at all.
    pub async fn is_available(&self, raw: &str) -> Result<bool> {
        self.require_enabled()?;
        let normalized = self.normalize(raw, Kind::Unprocessable)?;
        Ok(!self.reserved(&normalized) && self.owner(&normalized).await?.is_none())
    }

    /// Sign in with a username and password: the same checks, lockout and answer time
    /// as the email sign-in (`INVALID_USERNAME_OR_PASSWORD` for an unknown name and a
    /// wrong password alike).
    pub async fn sign_in(&self, raw: &str, password: &str, ctx: &RequestContext) -> Result<SignInStep> {
        self.require_enabled()?;
        let normalized = self.normalize(raw, Kind::Unprocessable)?;
        let lookup = users::find_with_password(&self.0.db, users::SignInBy::Username, &normalized);
        match self.0.email_password().password_sign_in(&format!("username:{normalized}"), password, lookup, users::SignInBy::Username, "username", ctx).await {
            Err(e) if e.code == Code::InvalidEmailOrPassword.as_str() => {
                Err(Error::new(Kind::Unauthorized, Code::InvalidUsernameOrPassword, "Invalid username or password"))
            }
            other => other,
        }
    }

    /// Set (or change) the user's username and display form, with a new name and image
    /// when given (`/update-user`), and additional fields, in one transaction.
    pub async fn update_user(
        &self,
        user: &User,
        name: Option<&str>,
        image: Option<Option<&str>>,
        (raw, display): (&str, Option<&str>),
        fields: Option<&serde_json::Map<String, serde_json::Value>>,
        ctx: &RequestContext,
    ) -> Result<User> {
        let (normalized, display) = self.prepare_for(Some(&user.id), raw, display).await?;
        let fields = fields.map(crate::users::Fields::Request);
        self.0.users().update_profile(&user.id, name, image, Some((&normalized, &display)), fields, ctx).await
    }
}

impl Core {
    /// Usernames (`[username]`).
    pub fn usernames(&self) -> Usernames<'_> {
        Usernames(self)
    }
}
