//! The admin capability (`[admin]`): operators find users, create, change and remove
//! them, set their platform role and password, ban and unban them, list and end their
//! sessions, and impersonate them for support: `kavach.admin()`.
//!
//! A user's platform role (`kavach_user.role`, the default role when unset) decides what
//! they may do here: the roles in `admin_roles` (`admin` by default) hold every admin
//! permission, `[admin.roles.<name>]` defines narrower ones, and every other role holds
//! none. An impersonation session is never an admin, whoever it impersonates. Every
//! action is audited with the acting admin (`adminId`).

use crate::access::{Permissions, normalize_roles, role_names};
use crate::error::{Code, Error, Result};
use crate::sessions::{NewSession, Session};
use crate::store::Ts;
use crate::users::{NewUser, User};
use crate::{Core, RequestContext, audit};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

mod store;

/// `[admin]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminOptions {
    /// Off by default.
    pub enabled: bool,
    /// Platform roles that hold every admin permission. Default `["admin"]`.
    pub admin_roles: Vec<String>,
    /// The role of users without one. Default `user` (no admin permission).
    pub default_role: String,
    /// How long an impersonation session lasts, however much it is used. Default 1 hour.
    #[serde(deserialize_with = "crate::options::duration")]
    pub impersonation_ttl: Duration,
    /// Admins may impersonate other admins. Default false.
    pub impersonate_admins: bool,
    /// Narrower operator roles: `[admin.roles.support]` then `user = ["list", "get", "impersonate"]`.
    pub roles: BTreeMap<String, Permissions>,
}

impl Default for AdminOptions {
    fn default() -> Self {
        AdminOptions {
            enabled: false,
            admin_roles: vec!["admin".into()],
            default_role: "user".into(),
            impersonation_ttl: Duration::from_secs(3600),
            impersonate_admins: false,
            roles: BTreeMap::new(),
        }
    }
}

impl AdminOptions {
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        for r in self.admin_roles.iter().chain(self.roles.keys()).chain(std::iter::once(&self.default_role)) {
            if !crate::access::valid_name(r) {
                return Err(format!("admin: {r:?} is not a role name (1-64 of a-z A-Z 0-9 _ - . :)"));
            }
        }
        if self.impersonation_ttl.is_zero() {
            return Err("admin.impersonation_ttl must be above zero".into());
        }
        Ok(())
    }

    /// The permissions of one platform role name; `None` when it is not defined.
    pub fn role(&self, name: &str) -> Option<Permissions> {
        if self.admin_roles.iter().any(|r| r == name) {
            return Some(all_admin_permissions());
        }
        if let Some(p) = self.roles.get(name) {
            return Some(p.clone());
        }
        (name == self.default_role || name == "user").then(Permissions::default)
    }
}

/// Every admin permission (better-auth's admin statements).
pub fn all_admin_permissions() -> Permissions {
    Permissions::of(&[
        ("user", &["create", "list", "set-role", "ban", "impersonate", "delete", "set-password", "get", "update"]),
        ("session", &["list", "revoke", "delete"]),
        ("agent", &["read", "manage"]),
        ("audit", &["read", "export"]),
    ])
}

/// The operator of an admin action: a signed-in user with their session (refused from
/// an impersonation session), or the server (CLI, Rust API), which may do anything.
#[derive(Clone, Copy, Debug)]
pub enum Operator<'a> {
    Server,
    User(&'a User, &'a Session),
}

impl Operator<'_> {
    fn id(&self) -> Option<&str> {
        match self {
            Operator::Server => None,
            Operator::User(u, _) => Some(&u.id),
        }
    }
}

/// [`Admin::list_users`]: search, filter, sort and page (the query of `/admin/list-users`).
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    pub search_value: Option<String>,
    /// `email` (default) or `name`.
    pub search_field: Option<String>,
    /// `contains` (default), `starts_with` or `ends_with`.
    pub search_operator: Option<String>,
    /// `role`, `banned` or `emailVerified`.
    pub filter_field: Option<String>,
    pub filter_value: Option<String>,
    /// `eq` (default) or `ne`.
    pub filter_operator: Option<String>,
    /// `createdAt` (default), `email`, `name` or `updatedAt`.
    pub sort_by: Option<String>,
    /// `asc` or `desc` (default; `/admin/list-users` defaults to `asc`, as better-auth).
    pub sort_direction: Option<String>,
    /// 0 to 1000, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// [`Admin::update_user`]: the fields to change.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    pub name: Option<String>,
    /// `Some(None)` removes the image.
    pub image: Option<Option<String>>,
    pub email_verified: Option<bool>,
}

/// `kavach.admin()`.
pub struct Admin<'a>(pub(crate) &'a Core);

fn not_allowed() -> Error {
    Error::forbidden(Code::AdminNotAllowed, "You are not allowed to perform this admin action")
}

fn user_not_found() -> Error {
    Error::not_found(Code::UserNotFound, "No such user")
}

impl Admin<'_> {
    fn opts(&self) -> &AdminOptions {
        &self.0.options.admin
    }

    /// The platform permissions of a user (the union of their roles'). A role that is
    /// not defined is an error (`ROLE_NOT_FOUND`), not an empty set.
    pub fn permissions(&self, user: &User) -> Result<Permissions> {
        let mut all = Permissions::default();
        for name in role_names(user.role.as_deref().unwrap_or(&self.opts().default_role)) {
            let p = self.opts().role(name).ok_or_else(|| Error::bad_request(Code::RoleNotFound, format!("The platform role {name:?} is not defined")))?;
            all.extend(&p);
        }
        Ok(all)
    }

    /// Does the user's platform role grant every permission asked?
    pub fn has_permission(&self, user: &User, wanted: &Permissions) -> Result<bool> {
        Ok(self.permissions(user)?.allows(wanted))
    }

    fn require(&self, op: Operator<'_>, resource: &str, action: &str) -> Result<()> {
        match op {
            Operator::Server => Ok(()),
            Operator::User(u, s) => {
                if s.impersonated_by.is_some() {
                    return Err(Error::forbidden(Code::ImpersonationNested, "An impersonation session cannot act as an admin"));
                }
                if self.permissions(u).map_err(|_| not_allowed())?.can(resource, action) { Ok(()) } else { Err(not_allowed()) }
            }
        }
    }

    async fn target(&self, id: &str) -> Result<User> {
        crate::users::find_by_id(&self.0.db, id).await?.ok_or_else(user_not_found)
    }

    /// Users matching the query, and how many match in all.
    pub async fn list_users(&self, op: Operator<'_>, q: &UserQuery) -> Result<(Vec<User>, i64)> {
        self.require(op, "user", "list")?;
        store::list_users(&self.0.db, q).await
    }

    pub async fn get_user(&self, op: Operator<'_>, id: &str) -> Result<User> {
        self.require(op, "user", "get")?;
        self.target(id).await
    }

    /// Create a user (with a password when given, checked against the policy) and a role.
    pub async fn create_user(&self, op: Operator<'_>, new: NewUser, role: Option<&[String]>, ctx: &RequestContext) -> Result<User> {
        self.require(op, "user", "create")?;
        let role = match role {
            Some(r) => Some(self.check_roles(op, r)?),
            None => None,
        };
        let mut user = self.0.users().create(new, ctx).await?;
        if let Some(r) = role {
            store::set_role(&self.0.db, &user.id, &r, op.id(), ctx).await?;
            user.role = Some(r);
        }
        Ok(user)
    }

    /// Every role named must be defined, and granting a full admin role needs the
    /// `user: set-role` permission of a full admin (a narrower operator cannot make admins).
    fn check_roles(&self, op: Operator<'_>, roles: &[String]) -> Result<String> {
        let field = normalize_roles(roles)?;
        let mut granted = Permissions::default();
        for name in role_names(&field) {
            granted
                .extend(&self.opts().role(name).ok_or_else(|| Error::bad_request(Code::RoleNotFound, format!("The platform role {name:?} is not defined")))?);
        }
        if let Operator::User(u, _) = op
            && !granted.within(&self.permissions(u)?)
        {
            return Err(not_allowed());
        }
        Ok(field)
    }

    pub async fn update_user(&self, op: Operator<'_>, id: &str, u: UserUpdate, ctx: &RequestContext) -> Result<User> {
        self.require(op, "user", "update")?;
        self.target(id).await?;
        if u.name.is_none() && u.image.is_none() && u.email_verified.is_none() {
            return Err(Error::bad_request(Code::NoFieldsToUpdate, "Send name, image and/or emailVerified"));
        }
        if u.name.is_some() || u.image.is_some() {
            let image = u.image.as_ref().map(|i| i.as_deref());
            self.0.users().update(id, u.name.as_deref(), image, ctx).await?;
        }
        if let Some(v) = u.email_verified {
            store::set_email_verified(&self.0.db, id, v, op.id(), ctx).await?;
            self.0.sessions.cache_invalidate_user(id).await;
        }
        self.target(id).await
    }

    /// Delete a user and everything that is theirs (not oneself: `/delete-user` is for that).
    pub async fn remove_user(&self, op: Operator<'_>, id: &str, ctx: &RequestContext) -> Result<()> {
        self.require(op, "user", "delete")?;
        if op.id() == Some(id) {
            return Err(Error::bad_request(Code::CannotRemoveYourself, "You cannot remove your own account here"));
        }
        if !self.0.users().delete_by(id, op.id(), ctx).await? {
            return Err(user_not_found());
        }
        Ok(())
    }

    /// Set the platform role (one or several names, each defined).
    pub async fn set_role(&self, op: Operator<'_>, id: &str, roles: &[String], ctx: &RequestContext) -> Result<User> {
        self.require(op, "user", "set-role")?;
        let target = self.target(id).await?;
        // A narrower operator cannot change the role of someone holding more than they do.
        if let Operator::User(u, _) = op
            && !self.permissions(&target).unwrap_or_default().within(&self.permissions(u)?)
        {
            return Err(not_allowed());
        }
        let field = self.check_roles(op, roles)?;
        store::set_role(&self.0.db, id, &field, op.id(), ctx).await?;
        self.0.sessions.cache_invalidate_user(id).await;
        self.target(id).await
    }

    /// Set a user's password (checked against the policy), creating the credential
    /// account if they had none.
    pub async fn set_password(&self, op: Operator<'_>, id: &str, password: &str, ctx: &RequestContext) -> Result<()> {
        self.require(op, "user", "set-password")?;
        let user = self.target(id).await?;
        self.0.options.password.check(password, &self.0.password_context(&user.email, &user.name))?;
        let hash = self.0.hasher.hash(password).await?;
        store::set_password(&self.0.db, id, &hash, op.id(), ctx).await
    }

    /// Ban (reason, expiry): every session ends now, on every instance, and sign-in is
    /// refused while it lasts; the user's OAuth tokens stop introspecting as active.
    pub async fn ban(&self, op: Operator<'_>, id: &str, reason: Option<&str>, expires_in: Option<Duration>, ctx: &RequestContext) -> Result<User> {
        self.require(op, "user", "ban")?;
        if op.id() == Some(id) {
            return Err(Error::bad_request(Code::CannotBanYourself, "You cannot ban yourself"));
        }
        if let Some(r) = reason
            && (r.chars().count() > 512 || r.chars().any(char::is_control))
        {
            return Err(Error::bad_request(Code::ValidationError, "banReason must be at most 512 printable characters"));
        }
        let until = expires_in.map(|d| Ts::now().plus_secs(d.as_secs().min(100 * 365 * 86400) as i64));
        if !self.0.users().ban_by(id, reason, until, op.id(), ctx).await? {
            return Err(user_not_found());
        }
        self.target(id).await
    }

    pub async fn unban(&self, op: Operator<'_>, id: &str, ctx: &RequestContext) -> Result<User> {
        self.require(op, "user", "ban")?;
        if !self.0.users().unban_by(id, op.id(), ctx).await? {
            return Err(user_not_found());
        }
        self.target(id).await
    }

    pub async fn list_user_sessions(&self, op: Operator<'_>, id: &str) -> Result<Vec<Session>> {
        self.require(op, "session", "list")?;
        self.target(id).await?;
        self.0.sessions.list(id).await
    }

    /// End one session, named by its handle (the `token` of a listed session), of `user`
    /// (found from the session when not given). False when there is no such session.
    pub async fn revoke_user_session(&self, op: Operator<'_>, handle: &str, user: Option<&str>, ctx: &RequestContext) -> Result<bool> {
        self.require(op, "session", "revoke")?;
        let owner = match user {
            Some(u) => Some(u.to_owned()),
            None => self.0.sessions.owner_of(handle).await?,
        };
        match owner {
            Some(u) => self.0.sessions.revoke_by(&u, handle, op.id(), ctx).await,
            None => Ok(false),
        }
    }

    /// End every session of the user.
    pub async fn revoke_user_sessions(&self, op: Operator<'_>, id: &str, ctx: &RequestContext) -> Result<u64> {
        self.require(op, "session", "revoke")?;
        self.target(id).await?;
        self.0.sessions.revoke_all_by(id, op.id(), ctx).await
    }

    /// Open a session as the user, marked with the admin's id, that ends after
    /// `impersonation_ttl` however much it is used. Refused from an impersonation session,
    /// and for targets holding an admin role unless `impersonate_admins`.
    pub async fn impersonate(&self, admin: &User, session: &Session, id: &str, ctx: &RequestContext) -> Result<(NewSession, User)> {
        if session.impersonated_by.is_some() {
            return Err(Error::forbidden(Code::ImpersonationNested, "An impersonation session cannot impersonate"));
        }
        self.require(Operator::User(admin, session), "user", "impersonate")?;
        let target = self.target(id).await?;
        if target.id == admin.id {
            return Err(Error::bad_request(Code::ValidationError, "You cannot impersonate yourself"));
        }
        let holds_admin = !self.permissions(&target).unwrap_or_default().as_map().is_empty();
        if holds_admin && !self.opts().impersonate_admins {
            return Err(Error::forbidden(Code::CannotImpersonateAdmins, "You cannot impersonate admins"));
        }
        if target.is_banned(Ts::now()) {
            return Err(Error::forbidden(Code::BannedUser, "This user is banned"));
        }
        let s = self.0.sessions.create_impersonation(&target.id, &admin.id, self.opts().impersonation_ttl, ctx).await?;
        Ok((s, target))
    }

    /// End an impersonation session. The admin's own session (kept by the HTTP layer in a
    /// signed cookie) is for the caller to restore.
    pub async fn stop_impersonating(&self, session: &Session, ctx: &RequestContext) -> Result<String> {
        let Some(admin_id) = session.impersonated_by.clone() else {
            return Err(Error::bad_request(Code::NotImpersonating, "This session is not an impersonation"));
        };
        self.0.sessions.delete_by_hash(&session.token).await?;
        audit::append(
            &self.0.db,
            audit::Event::new(crate::audit::EventKind::ImpersonationStopped, Some(&session.user_id), ctx)
                .with("adminId", &admin_id)
                .with("sessionId", &session.id),
        )
        .await?;
        Ok(admin_id)
    }
}
