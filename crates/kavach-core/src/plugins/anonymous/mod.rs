//! Anonymous users (`[anonymous]`, better-auth's `anonymous()`): `kavach.anonymous()`.
//! A visitor gets a user and a session without giving anything: no credential, a
//! placeholder address under `.invalid` (never deliverable). Such a user reaches only the
//! routes that allow it (the route table's `anonymous()` flag); the others answer
//! `403 ANONYMOUS_USER_NOT_ALLOWED`. When the visitor signs in or up from that session
//! by any method, the anonymous user is linked: the link hook (given to the builder) moves
//! the app's data, then the anonymous user is deleted ([`Core::link_anonymous`], called
//! wherever a sign-in becomes a session). An anonymous user left without a session is
//! purged: nothing can reach it any more.

use crate::error::{Code, Error, Result};
use crate::sessions::Session;
use crate::users::{self, User};
use crate::{Core, RequestContext, SignedIn, audit};
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

mod store;

/// `[anonymous]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnonymousOptions {
    pub enabled: bool,
    /// The domain of anonymous users' placeholder addresses (`temp-<id>@<domain>`).
    /// Default `anonymous.placeholder.invalid` (RFC 6761: never resolves).
    pub email_domain: String,
    /// The name anonymous users get. Default `Anonymous`.
    pub name: String,
    /// Delete the anonymous user once linked to the account signed in. Default true.
    pub delete_on_link: bool,
    /// Serve `/delete-anonymous-user`. Default true.
    pub allow_delete: bool,
}

impl Default for AnonymousOptions {
    fn default() -> Self {
        AnonymousOptions {
            enabled: false,
            email_domain: "anonymous.placeholder.invalid".to_owned(),
            name: "Anonymous".to_owned(),
            delete_on_link: true,
            allow_delete: true,
        }
    }
}

impl AnonymousOptions {
    pub(crate) fn problems(&self) -> Option<String> {
        if users::normalize_email(&format!("temp-x@{}", self.email_domain)).is_err() {
            return Some(format!("anonymous.email_domain = {:?} does not make valid addresses", self.email_domain));
        }
        users::check_name(&self.name).err().map(|_| "anonymous.name is not a valid name".to_owned())
    }
}

/// What the link hook gets: the anonymous user, and the account its visitor signed in to.
#[derive(Clone, Debug)]
pub struct LinkAccount {
    pub anonymous: User,
    pub user: User,
}

/// The link hook: moves the app's data from the anonymous user to the account signed in.
/// An error keeps the anonymous user (nothing is lost); the sign-in still succeeds.
pub type LinkHook = Arc<dyn Fn(LinkAccount) -> Pin<Box<dyn Future<Output = Result<()>> + Send>> + Send + Sync>;

/// `kavach.anonymous()`.
pub struct Anonymous<'a>(pub(crate) &'a Core);

impl Anonymous<'_> {
    fn opts(&self) -> &AnonymousOptions {
        &self.0.options.anonymous
    }

    fn require_enabled(&self) -> Result<()> {
        if !self.opts().enabled {
            return Err(Error::bad_request(Code::AnonymousDisabled, "Anonymous sign-in is not enabled on this server"));
        }
        Ok(())
    }

    /// A new anonymous user and its session. Refused from an anonymous user's session
    /// (`ctx.session_token`): one visitor, one anonymous user.
    pub async fn sign_in(&self, ctx: &RequestContext) -> Result<SignedIn> {
        self.require_enabled()?;
        if self.0.anonymous_session(ctx).await?.is_some() {
            return Err(Error::bad_request(Code::AnonymousCannotSignInAgain, "Anonymous users cannot sign in again anonymously"));
        }
        let email = format!("temp-{}@{}", crate::crypto::new_id().to_ascii_lowercase(), self.opts().email_domain);
        let row = users::UserRow { email: &email, name: &self.opts().name, is_anonymous: true, ..Default::default() };
        let user = users::insert_user(self.0, row, ctx).await?.ok_or_else(|| Error::internal("an anonymous address was taken"))?;
        let session = self.0.sessions.create(&user.id, ctx, audit::EventKind::SignInSuccess).await?;
        Ok(SignedIn { user, session })
    }

    /// Delete the signed-in anonymous user (`/delete-anonymous-user`), with its sessions.
    pub async fn delete(&self, user: &User, _session: &Session, ctx: &RequestContext) -> Result<()> {
        self.require_enabled()?;
        if !self.opts().allow_delete {
            return Err(Error::bad_request(Code::DeleteAnonymousUserDisabled, "Deleting anonymous users is disabled"));
        }
        if !user.is_anonymous {
            return Err(Error::forbidden(Code::UserIsNotAnonymous, "User is not anonymous"));
        }
        self.0.users().delete(&user.id, ctx).await?;
        Ok(())
    }
}

impl Core {
    /// Anonymous users (`[anonymous]`).
    pub fn anonymous(&self) -> Anonymous<'_> {
        Anonymous(self)
    }

    /// The anonymous user whose session the request carries, if any.
    async fn anonymous_session(&self, ctx: &RequestContext) -> Result<Option<User>> {
        let Some(token) = ctx.session_token.as_deref().filter(|_| self.options.anonymous.enabled) else { return Ok(None) };
        Ok(self.sessions.check(token).await?.map(|c| c.data.user.clone()).filter(|u| u.is_anonymous))
    }

    /// A sign-in of `user_id` just became a session: when the request came from an
    /// anonymous user's session (another user, not anonymous itself), run the link hook
    /// and delete the anonymous user (`delete_on_link`). Recorded as `anonymous.linked`.
    /// A failing hook keeps the anonymous user and is logged; the sign-in stands.
    pub(crate) async fn link_anonymous(&self, user_id: &str, ctx: &RequestContext) -> Result<()> {
        let Some(anonymous) = self.anonymous_session(ctx).await? else { return Ok(()) };
        if anonymous.id == user_id {
            return Ok(());
        }
        let Some(user) = users::find_by_id(&self.db, user_id).await?.filter(|u| !u.is_anonymous) else { return Ok(()) };
        if let Some(hook) = &self.anonymous_link
            && let Err(e) = hook(LinkAccount { anonymous: anonymous.clone(), user: user.clone() }).await
        {
            tracing::error!(error = %e, anonymous = %anonymous.id, user = %user.id, "the anonymous link hook failed: the anonymous user is kept");
            return Ok(());
        }
        let delete = self.options.anonymous.delete_on_link;
        audit::append(
            &self.db,
            audit::Event::new(audit::EventKind::AnonymousLinked, Some(&user.id), ctx).with("anonymousUserId", &anonymous.id).with("deleted", delete),
        )
        .await?;
        if delete {
            self.users().delete(&anonymous.id, ctx).await?;
        }
        Ok(())
    }

    /// Install the link hook (see [`LinkHook`]).
    pub fn with_anonymous_link(mut self, hook: LinkHook) -> Self {
        self.anonymous_link = Some(hook);
        self
    }
}

pub(crate) use store::purge_unreachable;
