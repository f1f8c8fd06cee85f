//! Magic links (`[magic_link]`, better-auth's `magicLink()`): `kavach.magic_link()`.
//! A single-use link by email signs the address's owner in, creating the account on
//! first use when sign-up is allowed. The token is stored as its SHA-256 only
//! (`kavach_verification`), lives `expires_in`, and is consumed by the first use. With
//! `same_browser`, the link works only in the browser that asked for it (a cookie whose
//! hash travels with the token). A link is a first factor: the sign-in ends in
//! [`crate::Core::complete_sign_in`], so a user with two-factor on still needs a second one.

use crate::error::{Code, Error, Result};
use crate::plugins::two_factor::SignInStep;
use crate::users::{self, check_name, normalize_email};
use crate::verification::{self, Purpose};
use crate::{Core, RequestContext, crypto, options};
use minijinja::context;
use serde::Deserialize;
use std::time::Duration;

/// `[magic_link]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MagicLinkOptions {
    pub enabled: bool,
    /// How long a link works. Default 5 minutes.
    #[serde(deserialize_with = "options::duration")]
    pub expires_in: Duration,
    /// Create the account when an unknown address follows its link. Default true.
    pub allow_sign_up: bool,
    /// The link works only in the browser that asked for it. Default false.
    pub same_browser: bool,
}

impl Default for MagicLinkOptions {
    fn default() -> Self {
        MagicLinkOptions { enabled: false, expires_in: Duration::from_secs(300), allow_sign_up: true, same_browser: false }
    }
}

impl MagicLinkOptions {
    pub(crate) fn problems(&self) -> Option<String> {
        (self.expires_in.is_zero() || self.expires_in > Duration::from_secs(86400))
            .then(|| "magic_link.expires_in must be above zero and at most 24h".to_owned())
    }
}

/// `POST /sign-in/magic-link`.
#[derive(Clone, Debug, Default)]
pub struct LinkRequest {
    pub email: String,
    /// The name of an account created by the link.
    pub name: Option<String>,
    /// Where the link leads once signed in (a path or a trusted origin).
    pub callback_url: Option<String>,
    /// Where it leads when the link created the account.
    pub new_user_callback_url: Option<String>,
    /// Where it leads when the link is not valid (with `?error=`).
    pub error_callback_url: Option<String>,
}

/// A link that was sent: with `same_browser`, the token of the browser cookie to set.
#[derive(Clone, Debug)]
pub struct Sent {
    pub browser: Option<String>,
}

/// A link followed.
#[derive(Clone, Debug)]
pub struct Followed {
    pub step: SignInStep,
    /// The link created the account.
    pub new_user: bool,
}

/// `kavach.magic_link()`.
pub struct MagicLink<'a>(pub(crate) &'a Core);

impl MagicLink<'_> {
    fn require_enabled(&self) -> Result<()> {
        if !self.0.options.magic_link.enabled {
            return Err(Error::bad_request(Code::MagicLinkDisabled, "Magic links are not enabled on this server"));
        }
        Ok(())
    }

    /// Email a link. The answer is the same whether or not the address has an account
    /// (and, with sign-up off, an unknown address gets nothing, after the same work);
    /// the address's email limit applies in every case.
    pub async fn send(&self, req: &LinkRequest, _ctx: &RequestContext) -> Result<Sent> {
        self.require_enabled()?;
        let email = normalize_email(&req.email)?;
        if let Some(n) = &req.name {
            check_name(n)?;
        }
        for url in [&req.callback_url, &req.new_user_callback_url, &req.error_callback_url].into_iter().flatten() {
            self.0.check_callback_url(url)?;
        }
        self.0.recipient_allowed(&email).await?;
        let o = &self.0.options.magic_link;
        let send = o.allow_sign_up || users::find_by_email(&self.0.db, &email).await?.is_some();
        let browser = o.same_browser.then(crypto::random_token);
        let value = serde_json::json!({
            "email": email,
            "name": req.name,
            "browser": browser.as_deref().map(crypto::token_hash),
        });
        let token = verification::create(&self.0.db, Purpose::MagicLink, &value, if send { o.expires_in } else { Duration::ZERO }).await?;
        let mut url = format!("{}?token={token}", self.0.options.api_url("/magic-link/verify"));
        for (key, v) in [("callbackURL", &req.callback_url), ("newUserCallbackURL", &req.new_user_callback_url), ("errorCallbackURL", &req.error_callback_url)]
        {
            if let Some(v) = v {
                url.push_str(&format!("&{key}={}", crate::text::url_encode(v)));
            }
        }
        self.0.send_email_if(
            send,
            "magic-link.txt",
            &email,
            context! { app_name => &self.0.options.app_name, email => &email, url => url, expires_in => crate::text::human_duration(o.expires_in) },
        );
        Ok(Sent { browser })
    }

    /// Follow a link: consumed at once (single use); the account is created on first use
    /// (sign-up allowed) or its address marked proven; then the sign-in (a session, or a
    /// pending sign-in for a user with two-factor on). `browser` is the token of the
    /// same-browser cookie, if any.
    pub async fn verify(&self, token: &str, browser: Option<&str>, ctx: &RequestContext) -> Result<Followed> {
        self.require_enabled()?;
        let v = verification::consume(self.0, Purpose::MagicLink, token).await?.ok_or_else(Error::invalid_token)?;
        let email = v.get("email").and_then(|e| e.as_str()).ok_or_else(Error::invalid_token)?.to_owned();
        if let Some(expected) = v.get("browser").and_then(|b| b.as_str()) {
            let presented = browser.map(crypto::token_hash).unwrap_or_default();
            if !crypto::ct_eq(expected.as_bytes(), presented.as_bytes()) {
                return Err(Error::bad_request(Code::InvalidToken, "Open the link in the browser where you asked for it"));
            }
        }
        let name = v.get("name").and_then(|n| n.as_str()).unwrap_or("");
        let (user, new_user) = users::find_or_create_proven(self.0, &email, name, None, self.0.options.magic_link.allow_sign_up, "magic-link", ctx)
            .await?
            .ok_or_else(|| Error::forbidden(Code::SignUpDisabled, "Sign-up is not allowed: ask for an account first"))?;
        let step = self.0.complete_sign_in(user, "magic-link", ctx).await?;
        Ok(Followed { step, new_user })
    }
}

impl Core {
    /// Magic links (`[magic_link]`).
    pub fn magic_link(&self) -> MagicLink<'_> {
        MagicLink(self)
    }
}
