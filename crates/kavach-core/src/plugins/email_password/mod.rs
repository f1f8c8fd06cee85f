//! The email + password capability (`[email_password]`): sign-up, sign-in, email
//! verification and change, password change and reset: `kavach.email_password()`.
//! Every method takes the caller's identity from its arguments (a checked session,
//! never a request body) and a [`RequestContext`] for the audit log. The rules live
//! here; every query is in `store.rs`.

use crate::error::{Code, Error, Kind, Result};
use crate::password::Verified;
use crate::sessions::{NewSession, Session};
use crate::store::Ts;
use crate::users::{self, User, check_image, check_name, normalize_email};
use crate::verification::{self, Purpose};
use crate::{Core, RequestContext, audit};
use minijinja::context;
use std::time::Duration;

mod store;
pub(crate) use store::{ResetProof, change_email_in_tx};

/// `kavach.email_password()`: sign-up, sign-in, verification, password change and reset.
pub struct EmailPassword<'a>(pub(crate) &'a Core);

/// The rate-limit key of an account's failed sign-ins: this prefix, then a keyed hash of the email.
const ACCOUNT_KEY_PREFIX: &str = "signin-fail:";

/// `POST /sign-up/email`.
#[derive(Clone, Debug, Default)]
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub name: String,
    pub image: Option<String>,
    /// Where the verification link leads after verifying (must be a trusted origin or a path).
    pub callback_url: Option<String>,
    /// A username (`[username]` on), and how it is displayed (default: as typed).
    pub username: Option<String>,
    pub display_username: Option<String>,
    /// Additional fields (`[user.additional_fields]`) the request gives.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug)]
pub struct SignUpOutcome {
    pub user: User,
    /// Present when the user is signed in right away.
    pub session: Option<NewSession>,
}

pub use crate::SignedIn;
pub use crate::plugins::two_factor::SignInStep;

impl EmailPassword<'_> {
    fn account_key(&self, email: &str) -> String {
        format!("{ACCOUNT_KEY_PREFIX}{}", self.0.secrets.keyed_hash(email))
    }

    fn require_enabled(&self) -> Result<()> {
        if !self.0.options.email_password.enabled {
            return Err(Error::bad_request(Code::EmailPasswordDisabled, "Email and password sign-in is not enabled"));
        }
        Ok(())
    }

    /// Would a sign-up with a taken email be distinguishable? Not when no session is
    /// handed out at sign-up.
    fn sign_up_is_uniform(&self) -> bool {
        let o = &self.0.options.email_password;
        o.require_email_verification || !o.auto_sign_in
    }

    /// Create an account. With email verification required (the default), no session
    /// is created and the answer is the same whether or not the email was taken (the
    /// owner of a taken address gets a notice instead of a verification link).
    pub async fn sign_up(&self, req: SignUp, ctx: &RequestContext) -> Result<SignUpOutcome> {
        self.require_enabled()?;
        let email = normalize_email(&req.email)?;
        check_name(&req.name)?;
        if let Some(i) = &req.image {
            check_image(i)?;
        }
        if let Some(cb) = &req.callback_url {
            self.0.check_callback_url(cb)?;
        }
        self.0.options.password.check(&req.password, &self.0.password_context(&email, &req.name))?;
        let fields = self.0.options.user.for_sign_up(&req.fields)?;
        let username = match &req.username {
            Some(u) => Some(self.0.usernames().prepare(u, req.display_username.as_deref()).await?),
            None if req.display_username.is_some() => return Err(Error::bad_request(Code::ValidationError, "displayUsername needs a username")),
            None => None,
        };
        if self.sign_up_is_uniform() {
            // A message goes to this address either way (a link, or a notice to its owner).
            self.0.recipient_allowed(&email).await?;
        }
        let hash = self.0.hasher.hash(&req.password).await?;
        let opts = &self.0.options.email_password;
        let row = users::UserRow {
            email: &email,
            name: &req.name,
            image: req.image.as_deref(),
            password_hash: Some(&hash),
            username: username.as_ref().map(|(u, d)| (u.as_str(), d.as_str())),
            fields: Some(fields.clone()),
            ..Default::default()
        };
        match users::insert_user(self.0, row, ctx).await? {
            Some(user) => {
                if opts.require_email_verification {
                    self.send_verification(&user, req.callback_url.as_deref()).await?;
                    return Ok(SignUpOutcome { user, session: None });
                }
                let session = if opts.auto_sign_in { Some(self.0.sessions.create(&user.id, ctx, crate::audit::EventKind::SignInSuccess).await?) } else { None };
                if session.is_some() {
                    self.0.link_anonymous(&user.id, ctx).await?;
                }
                Ok(SignUpOutcome { user, session })
            }
            None if self.sign_up_is_uniform() => {
                if let Some(existing) = users::find_by_email(&self.0.db, &email).await? {
                    audit::append(&self.0.db, audit::Event::new(crate::audit::EventKind::SignUpExistingEmail, Some(&existing.id), ctx)).await?;
                    self.0.send_email(
                        "account-exists.txt",
                        &email,
                        context! { app_name => &self.0.options.app_name, name => &existing.name, email => &email,
                        reset_url => self.0.options.api_url("/forgot-password") },
                    );
                }
                // The same shape as a real sign-up, for a user that does not exist.
                let user = User { name: req.name, image: req.image, fields, ..placeholder_user(&email) };
                Ok(SignUpOutcome { user, session: None })
            }
            None => Err(Error::new(Kind::Unprocessable, Code::UserAlreadyExistsUseAnotherEmail, "User already exists. Use another email.")),
        }
    }

    /// Check email and password and create a new session. The answer and the time
    /// taken are the same for an unknown email and a wrong password; repeated
    /// failures on one account are refused with 429 before any password check.
    /// Every attempt is counted atomically before the password is checked (and the
    /// count cleared on success), so parallel guesses cannot slip past the limit.
    /// For a user with two-factor on, the answer is a pending sign-in and no session
    /// ([`SignInStep::TwoFactor`]).
    pub async fn sign_in(&self, email: &str, password: &str, ctx: &RequestContext) -> Result<SignInStep> {
        self.require_enabled()?;
        let email = normalize_email(email)?;
        let lookup = users::find_with_password(&self.0.db, users::SignInBy::Email, &email);
        self.password_sign_in(&email, password, lookup, users::SignInBy::Email, "password", ctx).await
    }

    /// The password check every password sign-in shares (by email, username or phone
    /// number: `by`): the account's failures counted first under the key of `account`,
    /// then `lookup` (the user and their password hash), the hash checked (a dummy one
    /// for an unknown account), the ban and the proof of the identifier signed in with
    /// (the email's verification, or the phone number's), then [`Core::complete_sign_in`].
    pub(crate) async fn password_sign_in(
        &self,
        account: &str,
        password: &str,
        lookup: impl std::future::Future<Output = Result<Option<(User, Option<String>)>>>,
        by: users::SignInBy,
        method: &str,
        ctx: &RequestContext,
    ) -> Result<SignInStep> {
        if password.is_empty() || password.len() > 4096 {
            return Err(Error::invalid_credentials());
        }
        let key = self.account_key(account);
        let rl = &self.0.options.rate_limit;
        if rl.enabled {
            let d = self.0.limiter.hit(&key, rl.account_failures).await?;
            if !d.allowed {
                audit::append(
                    &self.0.db,
                    audit::Event::new(crate::audit::EventKind::SignInBlocked, None, ctx).with("account", key.strip_prefix(ACCOUNT_KEY_PREFIX).unwrap_or(&key)),
                )
                .await?;
                return Err(Error::too_many_requests(d.retry_after_secs));
            }
        }
        let (user, stored) = match lookup.await? {
            Some((u, p)) => (Some(u), p),
            None => (None, None),
        };
        let verified = match &stored {
            Some(h) => self.0.hasher.verify(password, h).await?,
            None => {
                self.0.hasher.verify_dummy(password).await?;
                Verified::No
            }
        };
        let user = match (user, verified) {
            (Some(user), Verified::Yes) => user,
            (Some(user), Verified::YesRehash(new_hash)) => {
                self.0.users().set_password_hash(&user.id, &new_hash).await?;
                user
            }
            (user, _) => {
                let uid = user.as_ref().map(|u| u.id.as_str());
                audit::append(&self.0.db, audit::Event::new(crate::audit::EventKind::SignInFailure, uid, ctx).with("reason", "invalid_credentials")).await?;
                return Err(Error::invalid_credentials());
            }
        };
        if rl.enabled {
            self.0.limiter.reset(&key).await?;
        }
        if user.is_banned(Ts::now()) {
            audit::append(&self.0.db, audit::Event::new(crate::audit::EventKind::SignInFailure, Some(&user.id), ctx).with("reason", "banned")).await?;
            return Err(Error::forbidden(Code::BannedUser, "You have been banned from this application"));
        }
        if matches!(by, users::SignInBy::PhoneNumber) {
            if self.0.options.phone_number.require_verification && !user.phone_number_verified {
                audit::append(
                    &self.0.db,
                    audit::Event::new(crate::audit::EventKind::SignInFailure, Some(&user.id), ctx).with("reason", "phone_number_not_verified"),
                )
                .await?;
                return Err(Error::new(Kind::Unauthorized, Code::PhoneNumberNotVerified, "Phone number not verified: enter the code we sent"));
            }
        } else if self.0.options.email_password.require_email_verification && !user.email_verified {
            audit::append(&self.0.db, audit::Event::new(crate::audit::EventKind::SignInFailure, Some(&user.id), ctx).with("reason", "email_not_verified"))
                .await?;
            return Err(Error::forbidden(Code::EmailNotVerified, "Email not verified: follow the link we sent, or ask for a new one"));
        }
        self.0.complete_sign_in(user, method, ctx).await
    }

    /// Change the password. Unless `keep_other_sessions`, everything the old password
    /// let anyone obtain ends: every session of the user (the current one included;
    /// a new session is returned in its place) and every OAuth grant (refresh and
    /// access tokens, remembered consents, codes not yet redeemed). With
    /// `keep_other_sessions` (better-auth's `revokeOtherSessions: false`) only the
    /// password changes and `None` is returned.
    pub async fn change_password(
        &self,
        current: &Session,
        user: &User,
        current_password: &str,
        new_password: &str,
        keep_other_sessions: bool,
        ctx: &RequestContext,
    ) -> Result<Option<NewSession>> {
        if users::password_hash(&self.0.db, &user.id).await?.is_none() {
            return Err(Error::bad_request(Code::CredentialAccountNotFound, "This account has no password: use password reset to set one"));
        }
        self.0.users().check_password(&user.id, current_password).await?;
        self.0.options.password.check(new_password, &self.0.password_context(&user.email, &user.name))?;
        let hash = self.0.hasher.hash(new_password).await?;
        let new = (!keep_other_sessions).then(|| self.0.sessions.prepare(&user.id, ctx));
        let now = Ts::now();
        store::change_password(&self.0.db, &user.id, &hash, new.as_ref().map(|n| &n.session), &current.id, now, ctx).await?;
        if new.is_some() {
            self.0.sessions.cache_invalidate_user(&user.id).await;
        }
        Ok(new)
    }

    async fn send_verification(&self, user: &User, callback: Option<&str>) -> Result<()> {
        self.verification_message(user, callback, true).await
    }

    /// Create a verification link for `user` and email it, or (without `send`) do the
    /// same work for nothing: a token row that is dead on arrival (purged later) and a
    /// message rendered and dropped, so both answers take the same time.
    async fn verification_message(&self, user: &User, callback: Option<&str>, send: bool) -> Result<()> {
        let ttl = self.0.options.email_password.verification_token_ttl;
        let token = verification::create(
            &self.0.db,
            Purpose::VerifyEmail,
            &serde_json::json!({ "userId": user.id, "email": user.email }),
            if send { ttl } else { Duration::ZERO },
        )
        .await?;
        let url = self.link("/verify-email", &token, callback);
        self.0.send_email_if(
            send,
            "verify-email.txt",
            &user.email,
            context! { app_name => &self.0.options.app_name, name => &user.name, email => &user.email, url => url, expires_in => crate::text::human_duration(ttl) },
        );
        Ok(())
    }

    fn link(&self, path: &str, token: &str, callback: Option<&str>) -> String {
        let mut url = format!("{}?token={}", self.0.options.api_url(path), token);
        if let Some(cb) = callback {
            url.push_str("&callbackURL=");
            url.push_str(&crate::text::url_encode(cb));
        }
        url
    }

    /// Send a (new) verification link. Answers the same, after the same work, for
    /// unknown, verified and unverified addresses; only unverified ones get a message.
    /// Counted against the address's email limit in every case.
    pub async fn send_verification_email(&self, email: &str, callback: Option<&str>) -> Result<()> {
        let email = normalize_email(email)?;
        if let Some(cb) = callback {
            self.0.check_callback_url(cb)?;
        }
        self.0.recipient_allowed(&email).await?;
        let found = users::find_by_email(&self.0.db, &email).await?;
        let send = found.as_ref().is_some_and(|u| !u.email_verified);
        let user = found.unwrap_or_else(|| placeholder_user(&email));
        self.verification_message(&user, callback, send).await
    }

    /// Follow a verification link (email verification or email change). Returns the
    /// user and, with `auto_sign_in_after_verification`, the sign-in it leads to (a
    /// session, or a pending sign-in for a user with two-factor on).
    pub async fn verify_email(&self, token: &str, ctx: &RequestContext) -> Result<(User, Option<SignInStep>)> {
        let now = Ts::now();
        let user_id = store::verify_email(&self.0.db, token, now, ctx).await?;
        self.0.sessions.cache_invalidate_user(&user_id).await;
        let user = users::find_by_id(&self.0.db, &user_id).await?.ok_or_else(Error::invalid_token)?;
        // A banned user's address can still be verified, but it signs nobody in.
        let session = if self.0.options.email_password.auto_sign_in_after_verification && !user.is_banned(Ts::now()) {
            Some(self.0.complete_sign_in(user.clone(), "email-verification", ctx).await?)
        } else {
            None
        };
        Ok((user, session))
    }

    /// Start an email change: a link goes to the new address (the change happens
    /// when it is followed) and a notice to the current one. Needs a session younger
    /// than `session.fresh_age` (re-authentication). Answers the same when the new
    /// address is taken, and then sends no link.
    pub async fn change_email(&self, user: &User, session: &Session, new_email: &str, callback: Option<&str>, ctx: &RequestContext) -> Result<()> {
        self.0.users().confirm_fresh(session, None, "to change the email").await?;
        let new_email = normalize_email(new_email)?;
        if let Some(cb) = callback {
            self.0.check_callback_url(cb)?;
        }
        if new_email == user.email {
            return Err(Error::bad_request(Code::EmailIsTheSame, "The new email is the current one"));
        }
        self.0.recipient_allowed(&user.email).await?;
        self.0.recipient_allowed(&new_email).await?;
        audit::append(&self.0.db, audit::Event::new(crate::audit::EventKind::EmailChangeRequested, Some(&user.id), ctx)).await?;
        let reset_url = self.0.options.api_url("/forgot-password");
        self.0.send_email(
            "email-change-requested.txt",
            &user.email,
            context! { app_name => &self.0.options.app_name, name => &user.name, email => &user.email, new_email => &new_email, reset_url => reset_url },
        );
        if users::find_by_email(&self.0.db, &new_email).await?.is_some() {
            return Ok(());
        }
        let ttl = self.0.options.email_password.verification_token_ttl;
        let token = verification::create(&self.0.db, Purpose::ChangeEmail, &serde_json::json!({ "userId": user.id, "newEmail": new_email }), ttl).await?;
        let url = self.link("/verify-email", &token, callback);
        self.0.send_email(
            "change-email.txt",
            &new_email,
            context! { app_name => &self.0.options.app_name, name => &user.name, new_email => &new_email, url => url, expires_in => crate::text::human_duration(ttl) },
        );
        Ok(())
    }

    /// Email a password-reset link if the account exists. Same answer either way.
    /// The link opens `GET {base}/reset-password/{token}`, which redirects to
    /// `redirect_to?token=...` (or shows Kavach's own form when there is none).
    pub async fn request_password_reset(&self, email: &str, redirect_to: Option<&str>, ctx: &RequestContext) -> Result<()> {
        let email = normalize_email(email)?;
        if let Some(r) = redirect_to {
            self.0.check_callback_url(r)?;
        }
        self.0.recipient_allowed(&email).await?;
        let ttl = self.0.options.email_password.reset_token_ttl;
        // Known or not, the same work: a token row (dead on arrival for an unknown address,
        // purged later), an audit record, and a message rendered (sent only to a real account).
        let user = users::find_by_email(&self.0.db, &email).await?;
        let payload = match &user {
            Some(u) => serde_json::json!({ "userId": u.id }),
            None => serde_json::json!({}),
        };
        let token = verification::create(&self.0.db, Purpose::ResetPassword, &payload, if user.is_some() { ttl } else { Duration::ZERO }).await?;
        let mut url = format!("{}/{}", self.0.options.api_url("/reset-password"), token);
        if let Some(r) = redirect_to {
            url.push_str("?callbackURL=");
            url.push_str(&crate::text::url_encode(r));
        }
        audit::append(&self.0.db, audit::Event::new(crate::audit::EventKind::PasswordResetRequested, user.as_ref().map(|u| u.id.as_str()), ctx)).await?;
        let name = user.as_ref().map(|u| u.name.as_str()).unwrap_or("");
        self.0.send_email_if(
            user.is_some(),
            "reset-password.txt",
            &email,
            context! { app_name => &self.0.options.app_name, name => name, email => &email, url => url, expires_in => crate::text::human_duration(ttl) },
        );
        Ok(())
    }

    /// Is this reset token currently valid? (For the reset page; does not consume it.)
    pub async fn reset_token_is_valid(&self, token: &str) -> Result<bool> {
        Ok(store::reset_token_expiry(&self.0.db, token).await?.is_some_and(|exp| exp > Ts::now()))
    }

    /// Set a new password with a reset token: single use, expires (1 h by default).
    /// Whoever knew the old password may have taken over the account, so everything
    /// it let them obtain ends in the same transaction: every session and every OAuth
    /// grant (refresh tokens, the access tokens issued from them, remembered consents,
    /// codes not yet redeemed). Creates the credential account if the user had none
    /// (for example a social-only user).
    pub async fn reset_password(&self, token: &str, new_password: &str, ctx: &RequestContext) -> Result<()> {
        self.reset_password_by(ResetProof::Link(token), new_password, ctx).await
    }

    /// [`Self::reset_password`] with the proof it was given.
    pub(crate) async fn reset_password_by(&self, proof: ResetProof<'_>, new_password: &str, ctx: &RequestContext) -> Result<()> {
        self.0.options.password.check(new_password, &self.0.password_context("", ""))?;
        let hash = self.0.hasher.hash(new_password).await?;
        let now = Ts::now();
        let words = |email: &str, name: &str| self.0.options.password.check(new_password, &self.0.password_context(email, name));
        let user_id = store::reset_password(&self.0.db, proof, &hash, now, ctx, words).await?;
        self.0.sessions.cache_invalidate_user(&user_id.0).await;
        if self.0.options.rate_limit.enabled
            && let Err(e) = self.0.limiter.reset(&self.account_key(&user_id.1)).await
        {
            tracing::warn!(error = %e, "could not clear the sign-in lockout after a password reset");
        }
        Ok(())
    }
}

/// A user that does not exist, shaped like a real one (answers that must not tell).
fn placeholder_user(email: &str) -> User {
    let now = Ts::now();
    User {
        id: crate::crypto::new_id(),
        email: email.to_owned(),
        name: String::new(),
        email_verified: false,
        image: None,
        created_at: now,
        updated_at: now,
        banned: false,
        ban_expires: None,
        ban_reason: None,
        fields: Default::default(),
        role: None,
        two_factor_enabled: false,
        username: None,
        display_username: None,
        is_anonymous: false,
        phone_number: None,
        phone_number_verified: false,
    }
}
