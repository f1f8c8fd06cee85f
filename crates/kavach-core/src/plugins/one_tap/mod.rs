//! Google One Tap (`[one_tap]`, better-auth's `oneTap()`): `kavach.one_tap()`. Google's
//! script gives the page an ID token; [`OneTap::sign_in`] verifies it against Google's
//! keys ([`IdTokenKeys`]: the JWKS at `jwks_url`, fetched and cached by the `kavach`
//! crate), checks issuer, audience (`client_ids`), expiry, issue time, the Workspace
//! domain and the nonce (one Kavach issued, single use), then signs in the Google
//! account's user: found by the account (`kavach_account`, provider `google`, the `sub`),
//! else by email, which links the account only when Google says the address is verified
//! (and then proves it, as an emailed secret would); else a new user. Every sign-in ends
//! in [`Core::complete_sign_in`]: two-factor applies.

use crate::error::{Code, Error, Kind, Result};
use crate::jwt::Claims;
use crate::plugins::two_factor::SignInStep;
use crate::users;
use crate::verification::{self, Purpose};
use crate::{Core, RequestContext};
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub(crate) mod store;

/// The provider id of the accounts One Tap links (better-auth's, so imported Google
/// accounts sign in).
pub const PROVIDER: &str = "google";

/// `[one_tap]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneTapOptions {
    pub enabled: bool,
    /// The OAuth client ids of your Google project: an ID token's `aud` must be one of them.
    pub client_ids: Vec<String>,
    /// Google's keys. Default `https://www.googleapis.com/oauth2/v3/certs`.
    pub jwks_url: String,
    /// The accepted `iss`. Default Google's two forms.
    pub issuers: Vec<String>,
    /// Google Workspace domains whose accounts may sign in (the token's `hd`); empty: any
    /// Google account.
    pub hosted_domains: Vec<String>,
    /// Create the user of an unknown Google account. Default true.
    pub allow_sign_up: bool,
    /// Refuse ID tokens without a nonce from `/one-tap/nonce`. Default false (a nonce a
    /// token carries is always checked).
    pub require_nonce: bool,
}

impl Default for OneTapOptions {
    fn default() -> Self {
        OneTapOptions {
            enabled: false,
            client_ids: vec![],
            jwks_url: "https://www.googleapis.com/oauth2/v3/certs".to_owned(),
            issuers: vec!["https://accounts.google.com".to_owned(), "accounts.google.com".to_owned()],
            hosted_domains: vec![],
            allow_sign_up: true,
            require_nonce: false,
        }
    }
}

impl OneTapOptions {
    pub(crate) fn problems(&self) -> Option<String> {
        if !self.enabled {
            return None;
        }
        if self.client_ids.is_empty() || self.client_ids.iter().any(|c| c.trim().is_empty()) {
            return Some("one_tap.client_ids: give your Google OAuth client id (the audience of the ID tokens)".to_owned());
        }
        if !(self.jwks_url.starts_with("https://") || self.jwks_url.starts_with("http://")) {
            return Some(format!("one_tap.jwks_url = {:?} is not an http(s) URL", self.jwks_url));
        }
        self.issuers.is_empty().then(|| "one_tap.issuers: at least one issuer".to_owned())
    }
}

/// Why a key set could not verify a token.
#[derive(Debug)]
pub enum KeyError {
    /// The keys could not be fetched.
    Unavailable(String),
    /// The token is not signed by them (or is malformed, or expired).
    Invalid(&'static str),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Unavailable(e) => f.write_str(e),
            KeyError::Invalid(e) => f.write_str(e),
        }
    }
}

pub type VerifyFuture<'a> = Pin<Box<dyn Future<Output = std::result::Result<(serde_json::Value, Claims), KeyError>> + Send + 'a>>;

/// The identity provider's signing keys: verifies a compact JWS (signature by a key of the
/// set, with its own algorithm, and `exp`/`nbf` with `leeway` seconds).
pub trait IdTokenKeys: Send + Sync + 'static {
    fn verify<'a>(&'a self, token: &'a str, leeway: i64) -> VerifyFuture<'a>;
}

/// A One Tap sign-in.
#[derive(Debug)]
pub struct OneTapSignIn {
    pub step: SignInStep,
    /// The sign-in created the user.
    pub new_user: bool,
}

/// How long a nonce from `/one-tap/nonce` works.
const NONCE_TTL: Duration = Duration::from_secs(600);

fn invalid(why: &'static str) -> Error {
    Error::bad_request(Code::InvalidIdToken, why)
}

/// `kavach.one_tap()`.
pub struct OneTap<'a>(pub(crate) &'a Core);

impl OneTap<'_> {
    fn opts(&self) -> &OneTapOptions {
        &self.0.options.one_tap
    }

    fn require_enabled(&self) -> Result<()> {
        if !self.opts().enabled {
            return Err(Error::bad_request(Code::OneTapDisabled, "Google One Tap is not enabled on this server"));
        }
        Ok(())
    }

    /// A nonce for Google's `nonce` setting: the ID token carries it back, and it works once.
    pub async fn nonce(&self) -> Result<String> {
        self.require_enabled()?;
        let nonce = crate::crypto::random_token();
        verification::store(&self.0.db, Purpose::OneTapNonce, &nonce, &serde_json::json!({}), NONCE_TTL).await?;
        Ok(nonce)
    }

    /// Verify `id_token` and check its claims; returns them.
    pub async fn check(&self, id_token: &str) -> Result<Claims> {
        self.require_enabled()?;
        let keys = self.0.one_tap_keys.as_ref().ok_or_else(|| Error::config("[one_tap] has no key set: build the core with Core::with_one_tap_keys"))?;
        // Something that is not a JWT never costs a fetch of Google's keys.
        if id_token.len() > 16 * 1024 || crate::jwt::peek(id_token).is_none() {
            return Err(invalid("invalid id token"));
        }
        let (_, claims) = keys.verify(id_token, 60).await.map_err(|e| match e {
            KeyError::Unavailable(why) => {
                tracing::warn!(error = %why, "Google's keys could not be fetched");
                Error::new(Kind::Unavailable, Code::ServiceUnavailable, "Google's keys could not be fetched; try again later")
            }
            KeyError::Invalid(_) => invalid("invalid id token"),
        })?;
        let o = self.opts();
        let text = |k: &str| claims.get(k).and_then(|v| v.as_str());
        if !text("iss").is_some_and(|iss| o.issuers.iter().any(|i| i == iss)) {
            return Err(invalid("the id token is from another issuer"));
        }
        let aud_ok = match claims.get("aud") {
            Some(serde_json::Value::String(a)) => o.client_ids.contains(a),
            Some(serde_json::Value::Array(a)) => a.iter().any(|x| x.as_str().is_some_and(|x| o.client_ids.iter().any(|c| c == x))),
            _ => false,
        };
        if !aud_ok {
            return Err(invalid("the id token was issued for another client"));
        }
        let now = crate::store::Ts::now().0 / 1000;
        if claims.get("iat").and_then(|v| v.as_i64()).is_none_or(|iat| iat > now + 60) {
            return Err(invalid("the id token has no valid issue time"));
        }
        if !text("sub").is_some_and(|s| !s.is_empty() && s.len() <= 255) {
            return Err(invalid("invalid id token"));
        }
        if !o.hosted_domains.is_empty() && !text("hd").is_some_and(|hd| o.hosted_domains.iter().any(|d| d.eq_ignore_ascii_case(hd))) {
            return Err(invalid("this Google account is not in an allowed Workspace domain"));
        }
        let nonce_ok = match text("nonce") {
            Some(n) => verification::consume(self.0, Purpose::OneTapNonce, n).await?.is_some(),
            None => !o.require_nonce,
        };
        if !nonce_ok {
            return Err(invalid("the id token has no nonce issued here, or its nonce was used"));
        }
        Ok(claims)
    }

    /// Sign in with a One Tap ID token: the Google account's user, or (email verified by
    /// Google) the user of that address, now linked, or a new user when sign-up is allowed.
    pub async fn sign_in(&self, id_token: &str, ctx: &RequestContext) -> Result<OneTapSignIn> {
        let claims = self.check(id_token).await?;
        let text = |k: &str| claims.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let sub = text("sub");
        let email = users::normalize_email(claims.get("email").and_then(|v| v.as_str()).ok_or_else(|| invalid("Email not available in token"))?)?;
        let verified = match claims.get("email_verified") {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s == "true",
            _ => false,
        };
        let name: String = text("name").chars().filter(|c| !c.is_control()).take(256).collect();
        let image = Some(text("picture")).filter(|p| users::check_image(p).is_ok() && p.starts_with("https://"));
        let (user, new_user) = match store::account_user(&self.0.db, sub).await? {
            Some(u) => (u, false),
            None => match users::find_by_email(&self.0.db, &email).await? {
                // An address Google has not verified never links to an existing account.
                Some(_) if !verified => {
                    return Err(Error::forbidden(Code::AccountNotLinked, "This Google account's address is not verified: sign in another way and link it"));
                }
                Some(u) => {
                    store::link(&self.0.db, &u.id, sub, ctx).await?;
                    let u = if u.email_verified { u } else { users::prove_email(self.0, &u.id, "one-tap", ctx).await? };
                    (u, false)
                }
                None if self.opts().allow_sign_up => {
                    let row = users::UserRow {
                        email: &email,
                        name: &name,
                        email_verified: verified,
                        image,
                        provider_account: Some((PROVIDER, sub)),
                        ..Default::default()
                    };
                    match users::insert_user(self.0, row, ctx).await? {
                        Some(u) => (u, true),
                        // Created meanwhile (another request): sign in by the account.
                        None => (store::account_user(&self.0.db, sub).await?.ok_or_else(|| invalid("invalid id token"))?, false),
                    }
                }
                None => return Err(Error::forbidden(Code::SignUpDisabled, "Sign-up is not allowed: ask for an account first")),
            },
        };
        let step = self.0.complete_sign_in(user, "one-tap", ctx).await?;
        Ok(OneTapSignIn { step, new_user })
    }
}

impl Core {
    /// Google One Tap (`[one_tap]`).
    pub fn one_tap(&self) -> OneTap<'_> {
        OneTap(self)
    }

    /// Verify One Tap ID tokens with `keys` (the `kavach` builder installs a cached JWKS
    /// fetched from `one_tap.jwks_url`).
    pub fn with_one_tap_keys(mut self, keys: std::sync::Arc<dyn IdTokenKeys>) -> Self {
        self.one_tap_keys = Some(keys);
        self
    }
}
