//! The organization capability (`[organization]`): organizations, members with roles,
//! invitations by email, teams, and (with `dynamic_roles`) roles defined per
//! organization: `kavach.organizations()`.
//!
//! Every method takes an [`Actor`]: a signed-in user, whose membership and role in the
//! organization decide what they may do, or the server itself (the Rust API, the CLI,
//! imports), which may do anything. Roles are sets of permission statements
//! ([`crate::access`]); the built-in `owner`, `admin` and `member` can be redefined and
//! others added in the configuration. Rules that hold for every caller:
//! - an organization always keeps at least one owner (the `creator_role`);
//! - nobody grants a role holding a permission they do not hold themselves, nor changes
//!   or removes a member whose role holds one;
//! - a member whose stored role is not defined gets `ROLE_NOT_FOUND`, never a silent no;
//! - a user who is not a member gets the same answer whether or not the organization exists.

use crate::access::{Permissions, normalize_roles, role_names, valid_name};
use crate::error::{Code, Error, Result};
use crate::sessions::Session;
use crate::store::Ts;
use crate::users::{User, check_image, check_name, normalize_email};
use crate::{Core, RequestContext};
use minijinja::context;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

mod store;

/// `[organization]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrganizationOptions {
    /// Off by default.
    pub enabled: bool,
    /// Signed-in users may create organizations (else only the server: the Rust API,
    /// the CLI, platform admins through it). Default true.
    pub allow_user_to_create: bool,
    /// How many organizations one user may belong to when creating another (none: no limit).
    pub organization_limit: Option<u32>,
    /// Members per organization. Default 100.
    pub membership_limit: u32,
    /// The role the creator gets, and the one an organization must always keep. Default `owner`.
    pub creator_role: String,
    /// How long an invitation stays valid. Default 48 hours.
    #[serde(deserialize_with = "crate::options::duration")]
    pub invitation_ttl: Duration,
    /// Pending invitations per organization. Default 100.
    pub invitation_limit: u32,
    pub teams: TeamOptions,
    /// Roles defined per organization in the database (`/organization/create-role`, ...).
    pub dynamic_roles: bool,
    /// Roles per organization with `dynamic_roles`. Default 50.
    pub max_roles_per_organization: u32,
    /// Roles of the configuration, added to (or replacing) the built-in `owner`, `admin`
    /// and `member`: `[organization.roles.editor]` then `project = ["create", "update"]`.
    pub roles: BTreeMap<String, Permissions>,
}

impl Default for OrganizationOptions {
    fn default() -> Self {
        OrganizationOptions {
            enabled: false,
            allow_user_to_create: true,
            organization_limit: None,
            membership_limit: 100,
            creator_role: "owner".into(),
            invitation_ttl: Duration::from_secs(48 * 3600),
            invitation_limit: 100,
            teams: TeamOptions::default(),
            dynamic_roles: false,
            max_roles_per_organization: 50,
            roles: BTreeMap::new(),
        }
    }
}

impl OrganizationOptions {
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        for name in self.roles.keys() {
            if !valid_name(name) || name.contains(',') {
                return Err(format!("organization.roles: {name:?} is not a role name (1-64 of a-z A-Z 0-9 _ - . :)"));
            }
        }
        if !self.static_roles().contains_key(&self.creator_role) {
            return Err(format!("organization.creator_role = {:?}: no such role (define it in [organization.roles])", self.creator_role));
        }
        if self.membership_limit == 0 || self.invitation_ttl.is_zero() || self.teams.max_teams == 0 || self.teams.max_members_per_team == 0 {
            return Err("organization: membership_limit, invitation_ttl, teams.max_teams and teams.max_members_per_team must be above zero".into());
        }
        Ok(())
    }

    /// Every role of the configuration, the built-in ones included.
    pub fn static_roles(&self) -> BTreeMap<String, Permissions> {
        let mut all: BTreeMap<String, Permissions> = ["owner", "admin", "member"].iter().filter_map(|n| Some(((*n).to_owned(), builtin_role(n)?))).collect();
        all.extend(self.roles.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }
}

/// `[organization.teams]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TeamOptions {
    /// Default true (when the organization capability is on).
    pub enabled: bool,
    /// Teams per organization. Default 50.
    pub max_teams: u32,
    /// Members per team. Default 100.
    pub max_members_per_team: u32,
}

impl Default for TeamOptions {
    fn default() -> Self {
        TeamOptions { enabled: true, max_teams: 50, max_members_per_team: 100 }
    }
}

/// The built-in roles. Unlike better-auth (#9483), `admin` cannot delete the organization.
pub fn builtin_role(name: &str) -> Option<Permissions> {
    const ALL_TEAM: &[&str] = &["create", "update", "delete"];
    const ALL_AC: &[&str] = &["create", "read", "update", "delete"];
    Some(match name {
        "owner" => Permissions::of(&[
            ("organization", &["update", "delete"]),
            ("member", &["create", "update", "delete"]),
            ("invitation", &["create", "cancel"]),
            ("team", ALL_TEAM),
            ("ac", ALL_AC),
            ("agent", ALL_AC),
        ]),
        "admin" => Permissions::of(&[
            ("organization", &["update"]),
            ("member", &["create", "update", "delete"]),
            ("invitation", &["create", "cancel"]),
            ("team", ALL_TEAM),
            ("ac", ALL_AC),
            ("agent", ALL_AC),
        ]),
        "member" => Permissions::of(&[("ac", &["read"])]),
        _ => return None,
    })
}

/// Who is asking.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    /// The server itself (Rust API, CLI, imports): may do anything.
    Server,
    /// A signed-in user: their membership and role decide.
    User(&'a User),
}

impl Actor<'_> {
    fn user_id(&self) -> Option<&str> {
        match self {
            Actor::Server => None,
            Actor::User(u) => Some(&u.id),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub logo: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
}

/// The user part of a member, as better-auth's clients show it.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct MemberUser {
    pub id: String,
    pub name: String,
    pub email: String,
    pub image: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    /// One role, or several separated by commas.
    pub role: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
    pub user: MemberUser,
}

#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub role: String,
    pub team_id: Option<String>,
    /// `pending`, `accepted`, `rejected` or `canceled`.
    pub status: String,
    pub inviter_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Ts,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
}

#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Ts,
}

#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamMember {
    pub id: String,
    pub team_id: String,
    pub user_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
}

/// A role defined in an organization (`dynamic_roles`).
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgRole {
    pub id: String,
    pub organization_id: String,
    pub role: String,
    #[schema(value_type = Object)]
    pub permission: Permissions,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Ts,
}

/// An organization with its members, pending invitations and teams.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FullOrganization {
    #[serde(flatten)]
    pub organization: Organization,
    pub members: Vec<Member>,
    pub invitations: Vec<Invitation>,
    pub teams: Vec<Team>,
}

/// An invitation as its recipient sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationDetails {
    #[serde(flatten)]
    pub invitation: Invitation,
    pub organization_name: String,
    pub organization_slug: String,
    pub inviter_email: String,
}

/// [`Organizations::create`].
#[derive(Clone, Debug, Default)]
pub struct NewOrganization {
    pub name: String,
    /// Derived from the name when absent.
    pub slug: Option<String>,
    pub logo: Option<String>,
    pub metadata: Option<serde_json::Value>,
    /// The owner: ignored for a signed-in actor (the creator owns it), required for the server.
    pub owner_id: Option<String>,
}

/// [`Organizations::update`]: the fields to change.
#[derive(Clone, Debug, Default)]
pub struct OrganizationUpdate {
    pub name: Option<String>,
    pub slug: Option<String>,
    /// `Some(None)` removes the logo.
    pub logo: Option<Option<String>>,
    /// `Some(None)` removes the metadata.
    pub metadata: Option<Option<serde_json::Value>>,
}

/// [`Organizations::add_member`].
#[derive(Clone, Debug, Default)]
pub struct AddMember {
    pub organization_id: String,
    pub user_id: String,
    /// One or several role names.
    pub role: Vec<String>,
    pub team_id: Option<String>,
}

/// [`Organizations::invite`].
#[derive(Clone, Debug, Default)]
pub struct Invite {
    pub organization_id: String,
    pub email: String,
    pub role: Vec<String>,
    pub team_id: Option<String>,
    /// Send a pending invitation again (renewing its expiry) instead of refusing.
    pub resend: bool,
}

/// What the caller may do in an organization: everything (the server), or their roles' union.
struct Caller {
    perms: Option<Permissions>,
    role: Option<String>,
}

impl Caller {
    fn can(&self, resource: &str, action: &str) -> bool {
        self.perms.as_ref().is_none_or(|p| p.can(resource, action))
    }
    /// Holds every permission of `p` (so may grant it, or act on someone who holds it).
    fn covers(&self, p: &Permissions) -> bool {
        self.perms.as_ref().is_none_or(|mine| p.within(mine))
    }
}

/// `kavach.organizations()`.
pub struct Organizations<'a>(pub(crate) &'a Core);

fn denied(code: Code, message: &'static str) -> Error {
    Error::forbidden(code, message)
}

/// A slug: 1 to 64 of `a-z 0-9 -`, not starting or ending with `-`.
pub fn valid_slug(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && !s.starts_with('-') && !s.ends_with('-') && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A slug made from a name: `Acme Corp.` → `acme-corp`.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let s: String = out.trim_end_matches('-').chars().take(48).collect();
    let s = s.trim_end_matches('-').to_owned();
    if s.is_empty() { "org".into() } else { s }
}

fn check_org_name(name: &str) -> Result<()> {
    check_name(name)?;
    if name.trim().is_empty() {
        return Err(Error::bad_request(Code::InvalidName, "The organization needs a name"));
    }
    Ok(())
}

fn check_metadata(m: &serde_json::Value) -> Result<()> {
    if !m.is_object() || m.to_string().len() > 8192 {
        return Err(Error::bad_request(Code::ValidationError, "metadata must be a JSON object of at most 8 KiB"));
    }
    Ok(())
}

/// The organization a request names, else the session's active one.
pub fn org_or_active(given: Option<&str>, session: &Session) -> Result<String> {
    match given.filter(|s| !s.is_empty()).or(session.active_organization_id.as_deref()) {
        Some(id) => Ok(id.to_owned()),
        None => Err(Error::bad_request(Code::NoActiveOrganization, "No organization given and no active organization")),
    }
}

impl Organizations<'_> {
    fn opts(&self) -> &OrganizationOptions {
        &self.0.options.organization
    }

    /// The union of the permissions of a stored role field. A name that is not defined is
    /// an error (`ROLE_NOT_FOUND`), never an empty set. One role of the configuration (the
    /// common case, on every permission check) is borrowed, not copied.
    pub async fn permissions_of(&self, org_id: &str, role_field: &str) -> Result<Cow<'_, Permissions>> {
        let mut names = role_names(role_field);
        if let (Some(only), None) = (names.next(), names.next())
            && let Some(p) = self.0.org_roles.get(only)
        {
            return Ok(Cow::Borrowed(p));
        }
        let mut all = Permissions::default();
        for name in role_names(role_field) {
            match self.0.org_roles.get(name) {
                Some(p) => all.extend(p),
                None if self.opts().dynamic_roles => match store::org_role(&self.0.db, org_id, name).await? {
                    Some(r) if r.role == name => all.extend(&r.permission),
                    _ => return Err(role_not_found(name)),
                },
                None => return Err(role_not_found(name)),
            }
        }
        Ok(Cow::Owned(all))
    }

    /// Is `name` a role of the configuration (built-in or `[organization.roles]`)?
    fn configured(&self, name: &str) -> bool {
        self.0.org_roles.contains_key(name)
    }

    /// The user's role field in the organization (`None`: not a member), through the
    /// membership cache (the hot path of permission checks).
    async fn role_of(&self, org_id: &str, user_id: &str) -> Result<Option<String>> {
        let sessions = &self.0.sessions;
        if let Some(known) = sessions.membership(org_id, user_id) {
            return Ok(known);
        }
        let (read_at, epoch) = (std::time::Instant::now(), sessions.membership_epoch());
        let role = store::member_role(&self.0.db, org_id, user_id).await?;
        sessions.membership_put(org_id, user_id, role.clone(), read_at, epoch);
        Ok(role)
    }

    /// After any change to the organization's members or roles: no instance keeps using
    /// what it cached.
    async fn changed(&self, org_id: &str) {
        self.0.sessions.membership_invalidate(org_id).await;
    }

    /// Check that every role named exists (for granting), and return their union.
    async fn grantable(&self, org_id: &str, roles: &[String]) -> Result<(String, Permissions)> {
        let field = normalize_roles(roles)?;
        let perms = self.permissions_of(org_id, &field).await?.into_owned();
        Ok((field, perms))
    }

    async fn caller(&self, actor: Actor<'_>, org_id: &str) -> Result<Caller> {
        match actor {
            Actor::Server => {
                if store::find_org(&self.0.db, org_id).await?.is_none() {
                    return Err(Error::not_found(Code::OrganizationNotFound, "No such organization"));
                }
                Ok(Caller { perms: None, role: None })
            }
            Actor::User(u) => {
                let Some(role) = self.role_of(org_id, &u.id).await? else {
                    return Err(not_a_member());
                };
                let perms = self.permissions_of(org_id, &role).await?.into_owned();
                Ok(Caller { perms: Some(perms), role: Some(role) })
            }
        }
    }

    async fn require(&self, actor: Actor<'_>, org_id: &str, resource: &str, action: &str, code: Code, message: &'static str) -> Result<Caller> {
        let c = self.caller(actor, org_id).await?;
        if !c.can(resource, action) {
            return Err(denied(code, message));
        }
        Ok(c)
    }

    fn is_owner(&self, role_field: &str) -> bool {
        role_names(role_field).any(|n| n == self.opts().creator_role)
    }

    /// May the caller give, change or take away a role field whose permissions are `perms`?
    /// They must hold every one of them, and only owners (or the server) touch the owner role.
    fn outranks(&self, c: &Caller, role_field: &str, perms: &Permissions) -> bool {
        c.covers(perms) && (!self.is_owner(role_field) || c.role.as_deref().is_none_or(|r| self.is_owner(r)))
    }

    /// Create an organization; its creator (or, for the server, `owner_id`) becomes its
    /// owner (`creator_role`).
    pub async fn create(&self, actor: Actor<'_>, new: NewOrganization, ctx: &RequestContext) -> Result<Organization> {
        let owner_id = match actor {
            Actor::User(u) => {
                if !self.opts().allow_user_to_create {
                    return Err(denied(Code::OrganizationCreationNotAllowed, "You are not allowed to create organizations"));
                }
                u.id.clone()
            }
            Actor::Server => {
                let id = new.owner_id.clone().ok_or_else(|| Error::bad_request(Code::ValidationError, "An owner is required"))?;
                if crate::users::find_by_id(&self.0.db, &id).await?.is_none() {
                    return Err(Error::not_found(Code::UserNotFound, "No such user"));
                }
                id
            }
        };
        check_org_name(&new.name)?;
        if let Some(l) = &new.logo {
            check_image(l)?;
        }
        if let Some(m) = &new.metadata {
            check_metadata(m)?;
        }
        if let Some(limit) = self.opts().organization_limit
            && store::count_memberships(&self.0.db, &owner_id).await? >= i64::from(limit)
        {
            return Err(denied(Code::OrganizationLimitReached, "You have reached the maximum number of organizations"));
        }
        let derived = new.slug.is_none();
        let mut slug = match &new.slug {
            Some(s) => {
                let s = s.trim().to_lowercase();
                if !valid_slug(&s) {
                    return Err(Error::bad_request(Code::InvalidSlug, "A slug is 1-64 of a-z, 0-9 and -, not starting or ending with -"));
                }
                s
            }
            None => slugify(&new.name),
        };
        let now = Ts::now();
        for attempt in 0..4 {
            let org = Organization {
                id: crate::crypto::new_id(),
                name: new.name.trim().to_owned(),
                slug: slug.clone(),
                logo: new.logo.clone(),
                metadata: new.metadata.clone(),
                created_at: now,
            };
            let owner = Member {
                id: crate::crypto::new_id(),
                organization_id: org.id.clone(),
                user_id: owner_id.clone(),
                role: self.opts().creator_role.clone(),
                created_at: now,
                user: MemberUser { id: owner_id.clone(), name: String::new(), email: String::new(), image: None },
            };
            if store::insert_org(&self.0.db, &org, &owner, ctx, actor.user_id()).await? {
                self.changed(&org.id).await;
                return Ok(org);
            }
            if !derived || attempt == 3 {
                break;
            }
            // A slug made from the name is taken: add a random suffix.
            let suffix: String = crate::crypto::new_id().to_lowercase().chars().take(6).collect();
            slug = format!("{}-{suffix}", slugify(&new.name));
        }
        Err(Error::bad_request(Code::OrganizationAlreadyExists, "An organization with this slug already exists"))
    }

    /// Is the slug free (and valid)?
    pub async fn slug_available(&self, slug: &str) -> Result<bool> {
        let s = slug.trim().to_lowercase();
        if !valid_slug(&s) {
            return Err(Error::bad_request(Code::InvalidSlug, "A slug is 1-64 of a-z, 0-9 and -, not starting or ending with -"));
        }
        Ok(store::find_org_by_slug(&self.0.db, &s).await?.is_none())
    }

    pub async fn update(&self, actor: Actor<'_>, org_id: &str, u: OrganizationUpdate, ctx: &RequestContext) -> Result<Organization> {
        self.require(actor, org_id, "organization", "update", Code::OrganizationUpdateNotAllowed, "You are not allowed to update this organization").await?;
        if let Some(n) = &u.name {
            check_org_name(n)?;
        }
        let slug = match &u.slug {
            Some(s) => {
                let s = s.trim().to_lowercase();
                if !valid_slug(&s) {
                    return Err(Error::bad_request(Code::InvalidSlug, "A slug is 1-64 of a-z, 0-9 and -, not starting or ending with -"));
                }
                Some(s)
            }
            None => None,
        };
        if let Some(Some(l)) = &u.logo {
            check_image(l)?;
        }
        if let Some(Some(m)) = &u.metadata {
            check_metadata(m)?;
        }
        let name = u.name.as_deref().map(str::trim);
        let logo = u.logo.as_ref().map(|l| l.as_deref());
        let metadata = u.metadata.as_ref().map(|m| m.as_ref());
        if !store::update_org(&self.0.db, org_id, name, slug.as_deref(), logo, metadata, actor.user_id().unwrap_or("server"), ctx).await? {
            return Err(Error::bad_request(Code::OrganizationSlugTaken, "Organization slug already taken"));
        }
        store::find_org(&self.0.db, org_id).await?.ok_or_else(|| Error::not_found(Code::OrganizationNotFound, "No such organization"))
    }

    /// Delete an organization with its members, invitations, teams and roles (needs
    /// `organization: delete`, which only `owner` holds by default).
    pub async fn delete(&self, actor: Actor<'_>, org_id: &str, ctx: &RequestContext) -> Result<Organization> {
        self.require(actor, org_id, "organization", "delete", Code::OrganizationDeleteNotAllowed, "You are not allowed to delete this organization").await?;
        let org = store::find_org(&self.0.db, org_id).await?.ok_or_else(|| Error::not_found(Code::OrganizationNotFound, "No such organization"))?;
        let users = store::delete_org(&self.0.db, &org, actor.user_id(), ctx).await?;
        self.changed(&org.id).await;
        for u in users {
            self.0.sessions.cache_invalidate_user(&u).await;
        }
        Ok(org)
    }

    /// An organization by id (no access check: for the server).
    pub async fn get(&self, id: &str) -> Result<Option<Organization>> {
        store::find_org(&self.0.db, id).await
    }

    /// Every organization, newest first (for the server).
    pub async fn list_all(&self, limit: i64, offset: i64) -> Result<Vec<Organization>> {
        store::all_orgs(&self.0.db, limit, offset).await
    }

    /// The organizations the user belongs to.
    pub async fn list_for_user(&self, user_id: &str) -> Result<Vec<Organization>> {
        store::orgs_of_user(&self.0.db, user_id).await
    }

    /// Resolve an organization id or slug the caller may see.
    pub async fn resolve(&self, actor: Actor<'_>, id_or_slug: &str) -> Result<Organization> {
        let org = match store::find_org(&self.0.db, id_or_slug).await? {
            Some(o) => Some(o),
            None => store::find_org_by_slug(&self.0.db, id_or_slug).await?,
        };
        match (org, actor) {
            (Some(o), Actor::Server) => Ok(o),
            (None, Actor::Server) => Err(Error::not_found(Code::OrganizationNotFound, "No such organization")),
            (Some(o), Actor::User(u)) if self.role_of(&o.id, &u.id).await?.is_some() => Ok(o),
            (_, Actor::User(_)) => Err(not_a_member()),
        }
    }

    /// The organization with its members (up to `membership_limit`), pending invitations and teams.
    pub async fn get_full(&self, actor: Actor<'_>, org_id: &str) -> Result<FullOrganization> {
        let org = self.resolve(actor, org_id).await?;
        let (members, _) = store::members(&self.0.db, &org.id, i64::from(self.opts().membership_limit), 0).await?;
        // Invitations are shown to those who may invite (as better-auth does).
        let invitations =
            if self.caller(actor, &org.id).await?.can("invitation", "create") { store::pending_invitations(&self.0.db, &org.id, false).await? } else { vec![] };
        let teams = if self.opts().teams.enabled { store::teams(&self.0.db, &org.id).await? } else { vec![] };
        Ok(FullOrganization { organization: org, members, invitations, teams })
    }

    /// Make `org_id` (or none) the session's active organization; the caller must be a member.
    pub async fn set_active(&self, user: &User, session: &Session, org_id: Option<&str>) -> Result<Option<Organization>> {
        let org = match org_id {
            Some(id) => Some(self.resolve(Actor::User(user), id).await?),
            None => None,
        };
        store::set_active(&self.0.db, &session.id, org.as_ref().map(|o| o.id.as_str()), None).await?;
        self.0.sessions.cache_invalidate(&session.token).await;
        Ok(org)
    }

    pub async fn members(&self, actor: Actor<'_>, org_id: &str, limit: i64, offset: i64) -> Result<(Vec<Member>, i64)> {
        self.caller(actor, org_id).await?;
        store::members(&self.0.db, org_id, limit, offset).await
    }

    /// The user's membership in the organization.
    pub async fn member(&self, org_id: &str, user_id: &str) -> Result<Option<Member>> {
        store::member(&self.0.db, org_id, user_id).await
    }

    /// Add a user as a member (no invitation): the server, or a member holding
    /// `member: create` and every permission of the role.
    pub async fn add_member(&self, actor: Actor<'_>, add: AddMember, ctx: &RequestContext) -> Result<Member> {
        let c = self.require(actor, &add.organization_id, "member", "create", Code::MemberCreateNotAllowed, "You are not allowed to add members").await?;
        let (role, perms) = self.grantable(&add.organization_id, &add.role).await?;
        if !c.covers(&perms) {
            return Err(denied(Code::MemberCreateNotAllowed, "The role holds permissions you do not hold"));
        }
        let user = crate::users::find_by_id(&self.0.db, &add.user_id).await?.ok_or_else(|| Error::not_found(Code::UserNotFound, "No such user"))?;
        let team = match &add.team_id {
            Some(t) => Some(store::team(&self.0.db, &add.organization_id, t).await?.ok_or_else(team_not_found)?),
            None => None,
        };
        let m = Member {
            id: crate::crypto::new_id(),
            organization_id: add.organization_id.clone(),
            user_id: user.id.clone(),
            role,
            created_at: Ts::now(),
            user: MemberUser { id: user.id.clone(), name: user.name.clone(), email: user.email.clone(), image: user.image.clone() },
        };
        store::insert_member(&self.0.db, &m, self.opts().membership_limit, actor.user_id(), ctx).await?;
        self.changed(&m.organization_id).await;
        if let Some(t) = team {
            store::insert_team_member(&self.0.db, &t, &user.id, self.opts().teams.max_members_per_team, actor.user_id(), ctx).await?;
        }
        Ok(m)
    }

    /// Change a member's role. The caller needs `member: update` and every permission of
    /// both the member's current role and the new one; the organization keeps an owner.
    pub async fn update_member_role(&self, actor: Actor<'_>, org_id: &str, member_id: &str, roles: &[String], ctx: &RequestContext) -> Result<Member> {
        let c = self.require(actor, org_id, "member", "update", Code::MemberUpdateNotAllowed, "You are not allowed to update members").await?;
        let target = store::find_member(&self.0.db, org_id, member_id).await?.ok_or_else(member_not_found)?;
        let (role, new_perms) = self.grantable(org_id, roles).await?;
        let current = self.permissions_of(org_id, &target.role).await?;
        if !self.outranks(&c, &role, &new_perms) || !self.outranks(&c, &target.role, &current) {
            return Err(denied(Code::MemberUpdateNotAllowed, "You cannot give or change a role holding permissions you do not hold"));
        }
        store::set_member_role(&self.0.db, org_id, &target.id, &role, &self.opts().creator_role, actor.user_id(), ctx).await?;
        self.changed(org_id).await;
        Ok(Member { role, ..target })
    }

    /// Remove a member (by member id, user id or email). Removing oneself is [`Self::leave`].
    pub async fn remove_member(&self, actor: Actor<'_>, org_id: &str, member: &str, ctx: &RequestContext) -> Result<Member> {
        let target = match actor {
            Actor::User(u) => {
                let t = store::find_member(&self.0.db, org_id, member).await?;
                if t.as_ref().is_some_and(|t| t.user_id == u.id) {
                    return self.leave(u, org_id, ctx).await;
                }
                let c = self.require(actor, org_id, "member", "delete", Code::MemberDeleteNotAllowed, "You are not allowed to remove members").await?;
                let t = t.ok_or_else(member_not_found)?;
                let theirs = self.permissions_of(org_id, &t.role).await?;
                if !self.outranks(&c, &t.role, &theirs) {
                    return Err(denied(Code::MemberDeleteNotAllowed, "You cannot remove a member whose role holds permissions you do not hold"));
                }
                t
            }
            Actor::Server => {
                self.caller(actor, org_id).await?;
                store::find_member(&self.0.db, org_id, member).await?.ok_or_else(member_not_found)?
            }
        };
        let uid = store::delete_member(&self.0.db, org_id, &target.id, &self.opts().creator_role, actor.user_id(), ctx).await?;
        self.changed(org_id).await;
        self.0.sessions.cache_invalidate_user(&uid).await;
        Ok(target)
    }

    /// Leave an organization (the last owner cannot).
    pub async fn leave(&self, user: &User, org_id: &str, ctx: &RequestContext) -> Result<Member> {
        let me = store::member(&self.0.db, org_id, &user.id).await?.ok_or_else(not_a_member)?;
        store::delete_member(&self.0.db, org_id, &me.id, &self.opts().creator_role, Some(&user.id), ctx).await?;
        self.changed(org_id).await;
        self.0.sessions.cache_invalidate_user(&user.id).await;
        Ok(me)
    }

    /// Does the user's role in the organization grant every permission asked? Not a
    /// member: `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`; a role that is not defined:
    /// `ROLE_NOT_FOUND`.
    pub async fn has_permission(&self, user_id: &str, org_id: &str, wanted: &Permissions) -> Result<bool> {
        let Some(role) = self.role_of(org_id, user_id).await? else {
            return Err(not_a_member());
        };
        Ok(self.permissions_of(org_id, &role).await?.allows(wanted))
    }

    // ---- invitations ----

    /// Invite an email address with a role (and optionally to a team): the caller needs
    /// `invitation: create` and every permission of the role. The email carries a link to
    /// the hosted invitation page.
    pub async fn invite(&self, actor: Actor<'_>, inv: Invite, ctx: &RequestContext) -> Result<Invitation> {
        let Actor::User(inviter) = actor else {
            return Err(Error::bad_request(Code::ValidationError, "Invitations are sent by a member; the server adds members directly (add_member)"));
        };
        let c = self
            .require(actor, &inv.organization_id, "invitation", "create", Code::InviteNotAllowed, "You are not allowed to invite users to this organization")
            .await?;
        let email = normalize_email(&inv.email)?;
        let (role, perms) = self.grantable(&inv.organization_id, &inv.role).await?;
        if !self.outranks(&c, &role, &perms) {
            return Err(denied(Code::InviteRoleNotAllowed, "You cannot invite with a role holding permissions you do not hold"));
        }
        if let Some(t) = &inv.team_id {
            store::team(&self.0.db, &inv.organization_id, t).await?.ok_or_else(team_not_found)?;
        }
        let org = store::find_org(&self.0.db, &inv.organization_id).await?.ok_or_else(not_a_member)?;
        let now = Ts::now();
        let ttl = self.opts().invitation_ttl;
        let new = Invitation {
            id: crate::crypto::new_id(),
            organization_id: org.id.clone(),
            email: email.clone(),
            role: role.clone(),
            team_id: inv.team_id.clone(),
            status: "pending".into(),
            inviter_id: inviter.id.clone(),
            expires_at: now.plus_secs(ttl.as_secs() as i64),
            created_at: now,
        };
        self.0.recipient_allowed(&email).await?;
        let saved = store::insert_invitation(&self.0.db, &new, self.opts().invitation_limit, inv.resend, ctx).await?;
        let inviter_name = if inviter.name.is_empty() { inviter.email.clone() } else { format!("{} ({})", inviter.name, inviter.email) };
        self.0.send_email(
            "invitation.txt",
            &email,
            context! { app_name => &self.0.options.app_name, email => &email, organization => &org.name, role => &role,
            inviter => inviter_name, url => self.0.options.api_url(&format!("/organization/invitation/{}", saved.id)),
            expires_in => crate::text::human_duration(ttl) },
        );
        Ok(saved)
    }

    /// An invitation still pending and unexpired (anything else: `INVITATION_NOT_FOUND`).
    async fn pending(&self, id: &str) -> Result<Invitation> {
        store::invitation(&self.0.db, id).await?.filter(|i| i.status == "pending" && i.expires_at > Ts::now()).ok_or_else(invitation_not_found)
    }

    /// A pending invitation addressed to this user, whose email is verified (anyone else:
    /// `YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION`; unverified: `EMAIL_VERIFICATION_...`).
    async fn addressed(&self, user: &User, id: &str) -> Result<Invitation> {
        let inv = self.pending(id).await?;
        if !crate::crypto::ct_eq(inv.email.as_bytes(), user.email.as_bytes()) {
            return Err(denied(Code::NotInvitationRecipient, "This invitation is for another email address"));
        }
        if !user.email_verified {
            return Err(denied(Code::InvitationNeedsVerifiedEmail, "Verify your email address before answering or seeing invitations"));
        }
        Ok(inv)
    }

    /// The invitation with its organization's name and the inviter's email, for its recipient.
    pub async fn get_invitation(&self, user: &User, id: &str) -> Result<InvitationDetails> {
        let inv = self.addressed(user, id).await?;
        self.details(inv).await
    }

    /// The invitation as its link shows it (the hosted page): organization, role, inviter.
    pub async fn invitation_details(&self, id: &str) -> Result<InvitationDetails> {
        let inv = self.pending(id).await?;
        self.details(inv).await
    }

    async fn details(&self, inv: Invitation) -> Result<InvitationDetails> {
        let org = store::find_org(&self.0.db, &inv.organization_id).await?.ok_or_else(invitation_not_found)?;
        let inviter = crate::users::find_by_id(&self.0.db, &inv.inviter_id).await?.map(|u| u.email).unwrap_or_default();
        Ok(InvitationDetails { invitation: inv, organization_name: org.name, organization_slug: org.slug, inviter_email: inviter })
    }

    /// Accept: the signed-in user's verified email must be the invited one. The user
    /// becomes a member with the invitation's role (and joins its team); `session`, when
    /// given, gets the organization as active.
    pub async fn accept_invitation(&self, user: &User, session: Option<&Session>, id: &str, ctx: &RequestContext) -> Result<(Invitation, Member)> {
        let inv = self.addressed(user, id).await?;
        let m = Member {
            id: crate::crypto::new_id(),
            organization_id: inv.organization_id.clone(),
            user_id: user.id.clone(),
            role: inv.role.clone(),
            created_at: Ts::now(),
            user: MemberUser { id: user.id.clone(), name: user.name.clone(), email: user.email.clone(), image: user.image.clone() },
        };
        store::accept_invitation(&self.0.db, &inv, &m, self.opts().membership_limit, session.map(|s| s.id.as_str()), ctx).await?;
        self.changed(&inv.organization_id).await;
        if let Some(s) = session {
            self.0.sessions.cache_invalidate(&s.token).await;
        }
        Ok((Invitation { status: "accepted".into(), ..inv }, m))
    }

    pub async fn reject_invitation(&self, user: &User, id: &str, ctx: &RequestContext) -> Result<Invitation> {
        let inv = self.addressed(user, id).await?;
        if !store::close_invitation(&self.0.db, &inv, "rejected", &user.id, ctx).await? {
            return Err(invitation_not_found());
        }
        Ok(Invitation { status: "rejected".into(), ..inv })
    }

    /// Cancel a pending invitation (needs `invitation: cancel` in its organization).
    pub async fn cancel_invitation(&self, actor: Actor<'_>, id: &str, ctx: &RequestContext) -> Result<Invitation> {
        let inv = store::invitation(&self.0.db, id).await?.ok_or_else(invitation_not_found)?;
        // A caller who is not in the invitation's organization learns nothing about it.
        self.require(actor, &inv.organization_id, "invitation", "cancel", Code::InvitationCancelNotAllowed, "You are not allowed to cancel invitations")
            .await
            .map_err(|e| if e.code == Code::NotAMember { invitation_not_found() } else { e })?;
        if !store::close_invitation(&self.0.db, &inv, "canceled", actor.user_id().unwrap_or("server"), ctx).await? {
            return Err(invitation_not_found());
        }
        Ok(Invitation { status: "canceled".into(), ..inv })
    }

    /// Every invitation of the organization (needs `invitation: create`).
    pub async fn list_invitations(&self, actor: Actor<'_>, org_id: &str) -> Result<Vec<Invitation>> {
        self.require(actor, org_id, "invitation", "create", Code::InviteNotAllowed, "You are not allowed to list this organization's invitations").await?;
        store::invitations_of_org(&self.0.db, org_id).await
    }

    /// The pending invitations to the user's email (which must be verified: whoever holds
    /// an unverified account with the address proves nothing).
    pub async fn list_user_invitations(&self, user: &User) -> Result<Vec<InvitationDetails>> {
        if !user.email_verified {
            return Err(denied(Code::InvitationNeedsVerifiedEmail, "Verify your email address before answering or seeing invitations"));
        }
        let mut out = Vec::new();
        for inv in store::pending_invitations(&self.0.db, &user.email, true).await? {
            out.push(self.details(inv).await?);
        }
        Ok(out)
    }

    // ---- teams ----

    pub async fn create_team(&self, actor: Actor<'_>, org_id: &str, name: &str, ctx: &RequestContext) -> Result<Team> {
        self.require(actor, org_id, "team", "create", Code::TeamCreateNotAllowed, "You are not allowed to create teams in this organization").await?;
        check_org_name(name)?;
        let now = Ts::now();
        let t = Team { id: crate::crypto::new_id(), organization_id: org_id.to_owned(), name: name.trim().to_owned(), created_at: now, updated_at: now };
        store::insert_team(&self.0.db, &t, self.opts().teams.max_teams, actor.user_id(), ctx).await?;
        Ok(t)
    }

    /// A team of an organization the caller belongs to (anything else: `TEAM_NOT_FOUND`).
    async fn team_of(&self, actor: Actor<'_>, team_id: &str) -> Result<(Team, Caller)> {
        let t = store::team_by_id(&self.0.db, team_id).await?.ok_or_else(team_not_found)?;
        let c = self.caller(actor, &t.organization_id).await.map_err(|e| if e.code == Code::NotAMember { team_not_found() } else { e })?;
        Ok((t, c))
    }

    pub async fn update_team(&self, actor: Actor<'_>, team_id: &str, name: &str, ctx: &RequestContext) -> Result<Team> {
        let (t, c) = self.team_of(actor, team_id).await?;
        if !c.can("team", "update") {
            return Err(denied(Code::TeamUpdateNotAllowed, "You are not allowed to update this team"));
        }
        check_org_name(name)?;
        store::rename_team(&self.0.db, &t, name.trim(), actor.user_id(), ctx).await?;
        Ok(Team { name: name.trim().to_owned(), updated_at: Ts::now(), ..t })
    }

    pub async fn remove_team(&self, actor: Actor<'_>, team_id: &str, ctx: &RequestContext) -> Result<Team> {
        let (t, c) = self.team_of(actor, team_id).await?;
        if !c.can("team", "delete") {
            return Err(denied(Code::TeamDeleteNotAllowed, "You are not allowed to delete this team"));
        }
        for u in store::delete_team(&self.0.db, &t, actor.user_id(), ctx).await? {
            self.0.sessions.cache_invalidate_user(&u).await;
        }
        Ok(t)
    }

    pub async fn list_teams(&self, actor: Actor<'_>, org_id: &str) -> Result<Vec<Team>> {
        self.caller(actor, org_id).await?;
        store::teams(&self.0.db, org_id).await
    }

    pub async fn list_user_teams(&self, user_id: &str) -> Result<Vec<Team>> {
        store::teams_of_user(&self.0.db, user_id).await
    }

    pub async fn list_team_members(&self, actor: Actor<'_>, team_id: &str) -> Result<Vec<TeamMember>> {
        let (t, _) = self.team_of(actor, team_id).await?;
        store::team_members(&self.0.db, &t.id).await
    }

    /// Add a member of the organization to one of its teams (needs `team: update`).
    pub async fn add_team_member(&self, actor: Actor<'_>, team_id: &str, user_id: &str, ctx: &RequestContext) -> Result<TeamMember> {
        let (t, c) = self.team_of(actor, team_id).await?;
        if !c.can("team", "update") {
            return Err(denied(Code::TeamUpdateNotAllowed, "You are not allowed to change this team"));
        }
        store::insert_team_member(&self.0.db, &t, user_id, self.opts().teams.max_members_per_team, actor.user_id(), ctx).await
    }

    /// Remove a user from a team (needs `team: update`, or be that user).
    pub async fn remove_team_member(&self, actor: Actor<'_>, team_id: &str, user_id: &str, ctx: &RequestContext) -> Result<()> {
        let (t, c) = self.team_of(actor, team_id).await?;
        if !c.can("team", "update") && actor.user_id() != Some(user_id) {
            return Err(denied(Code::TeamUpdateNotAllowed, "You are not allowed to change this team"));
        }
        if !store::delete_team_member(&self.0.db, &t, user_id, actor.user_id(), ctx).await? {
            return Err(Error::bad_request(Code::NotATeamMember, "The user is not a member of the team"));
        }
        self.0.sessions.cache_invalidate_user(user_id).await;
        Ok(())
    }

    /// Make a team (of the active organization, which the user must be in) the session's
    /// active team, or none.
    pub async fn set_active_team(&self, user: &User, session: &Session, team_id: Option<&str>) -> Result<Option<Team>> {
        let team = match team_id {
            Some(id) => {
                let (t, _) = self.team_of(Actor::User(user), id).await?;
                if !store::is_team_member(&self.0.db, &t.id, &user.id).await? {
                    return Err(Error::bad_request(Code::NotATeamMember, "You are not a member of this team"));
                }
                Some(t)
            }
            None => None,
        };
        let org = team.as_ref().map(|t| t.organization_id.clone()).or_else(|| session.active_organization_id.clone());
        store::set_active(&self.0.db, &session.id, org.as_deref(), team.as_ref().map(|t| t.id.as_str())).await?;
        self.0.sessions.cache_invalidate(&session.token).await;
        Ok(team)
    }

    // ---- roles defined per organization ----

    fn require_dynamic(&self) -> Result<()> {
        if !self.opts().dynamic_roles {
            return Err(Error::bad_request(Code::RoleNotFound, "Roles per organization are off (organization.dynamic_roles)"));
        }
        Ok(())
    }

    /// Define a role in the organization (needs `ac: create`, and every permission given).
    pub async fn create_role(&self, actor: Actor<'_>, org_id: &str, role: &str, permission: Permissions, ctx: &RequestContext) -> Result<OrgRole> {
        self.require_dynamic()?;
        let c = self.require(actor, org_id, "ac", "create", Code::RoleCreateNotAllowed, "You are not allowed to create roles").await?;
        if !valid_name(role) {
            return Err(Error::bad_request(Code::ValidationError, "A role name is 1-64 of a-z A-Z 0-9 _ - . :"));
        }
        if self.configured(role) {
            return Err(Error::bad_request(Code::RoleNameTaken, "A built-in or configured role has this name"));
        }
        if !c.covers(&permission) {
            return Err(denied(Code::RoleCreateNotAllowed, "The role holds permissions you do not hold"));
        }
        let now = Ts::now();
        let r =
            OrgRole { id: crate::crypto::new_id(), organization_id: org_id.to_owned(), role: role.to_owned(), permission, created_at: now, updated_at: now };
        store::insert_org_role(&self.0.db, &r, self.opts().max_roles_per_organization, actor.user_id().unwrap_or("server"), ctx).await?;
        Ok(r)
    }

    /// A role of the organization (needs `ac: read`).
    pub async fn get_role(&self, actor: Actor<'_>, org_id: &str, name_or_id: &str) -> Result<OrgRole> {
        self.require_dynamic()?;
        self.require(actor, org_id, "ac", "read", Code::RoleReadNotAllowed, "You are not allowed to read roles").await?;
        store::org_role(&self.0.db, org_id, name_or_id).await?.ok_or_else(|| role_not_found(name_or_id))
    }

    pub async fn list_roles(&self, actor: Actor<'_>, org_id: &str) -> Result<Vec<OrgRole>> {
        self.require_dynamic()?;
        self.require(actor, org_id, "ac", "read", Code::RoleReadNotAllowed, "You are not allowed to read roles").await?;
        store::org_roles(&self.0.db, org_id).await
    }

    /// Rename a role and/or replace its permissions (needs `ac: update`, and every
    /// permission of the old and the new set).
    pub async fn update_role(
        &self,
        actor: Actor<'_>,
        org_id: &str,
        name_or_id: &str,
        new_name: Option<&str>,
        permission: Option<Permissions>,
        ctx: &RequestContext,
    ) -> Result<OrgRole> {
        self.require_dynamic()?;
        let c = self.require(actor, org_id, "ac", "update", Code::RoleUpdateNotAllowed, "You are not allowed to update roles").await?;
        if self.configured(name_or_id) {
            return Err(Error::bad_request(Code::PredefinedRole, "Built-in and configured roles are changed in the configuration"));
        }
        let r = store::org_role(&self.0.db, org_id, name_or_id).await?.ok_or_else(|| role_not_found(name_or_id))?;
        let name = new_name.unwrap_or(&r.role).to_owned();
        if !valid_name(&name) {
            return Err(Error::bad_request(Code::ValidationError, "A role name is 1-64 of a-z A-Z 0-9 _ - . :"));
        }
        if name != r.role && self.configured(&name) {
            return Err(Error::bad_request(Code::RoleNameTaken, "A built-in or configured role has this name"));
        }
        let perm = permission.unwrap_or_else(|| r.permission.clone());
        if !c.covers(&perm) || !c.covers(&r.permission) {
            return Err(denied(Code::RoleUpdateNotAllowed, "The role holds permissions you do not hold"));
        }
        store::update_org_role(&self.0.db, &r, &name, &perm, actor.user_id().unwrap_or("server"), ctx).await?;
        self.changed(org_id).await;
        Ok(OrgRole { role: name, permission: perm, updated_at: Ts::now(), ..r })
    }

    /// Delete a role no member or pending invitation holds (needs `ac: delete`).
    pub async fn delete_role(&self, actor: Actor<'_>, org_id: &str, name_or_id: &str, ctx: &RequestContext) -> Result<()> {
        self.require_dynamic()?;
        self.require(actor, org_id, "ac", "delete", Code::RoleDeleteNotAllowed, "You are not allowed to delete roles").await?;
        if self.configured(name_or_id) {
            return Err(Error::bad_request(Code::PredefinedRole, "Built-in and configured roles cannot be deleted"));
        }
        let r = store::org_role(&self.0.db, org_id, name_or_id).await?.ok_or_else(|| role_not_found(name_or_id))?;
        store::delete_org_role(&self.0.db, &r, actor.user_id().unwrap_or("server"), ctx).await
    }
}

fn not_a_member() -> Error {
    Error::forbidden(Code::NotAMember, "You are not a member of this organization")
}
fn member_not_found() -> Error {
    Error::bad_request(Code::MemberNotFound, "No such member in this organization")
}
fn team_not_found() -> Error {
    Error::bad_request(Code::TeamNotFound, "No such team")
}
fn invitation_not_found() -> Error {
    Error::bad_request(Code::InvitationNotFound, "No pending invitation with this id")
}
fn role_not_found(name: &str) -> Error {
    Error::bad_request(Code::RoleNotFound, format!("The role {name:?} is not defined"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme Corp."), "acme-corp");
        assert_eq!(slugify("  --Ünïcode!! "), "n-code");
        assert_eq!(slugify("!!!"), "org");
        assert!(valid_slug("acme-1") && !valid_slug("-acme") && !valid_slug("Acme") && !valid_slug("") && !valid_slug("a_b"));
    }

    #[test]
    fn the_builtin_admin_cannot_delete_the_organization() {
        let admin = builtin_role("admin").unwrap();
        assert!(admin.can("organization", "update") && !admin.can("organization", "delete"));
        assert!(builtin_role("owner").unwrap().can("organization", "delete"));
        assert!(admin.within(&builtin_role("owner").unwrap()));
        assert!(!builtin_role("owner").unwrap().within(&admin));
    }
}
