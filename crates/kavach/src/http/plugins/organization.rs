//! The organization capability over HTTP (`[organization]`): better-auth's
//! `organization` plugin routes and bodies (`/organization/*`), so its
//! `organizationClient()` works unchanged, plus the hosted invitation page the
//! invitation email links to. Teams routes are served with `[organization.teams]`
//! enabled, role routes with `dynamic_roles`.

use crate::Kavach;
use crate::http::body::{Body, JsonOrForm, QueryParams};
use crate::http::error::{ApiResult, client_error};
use crate::http::pages::{escape, message_page, page};
use crate::http::table::{Capability, Route};
use crate::http::{Auth, Authenticated, Ctx, MaybeAuth};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kavach_core::access::Permissions;
use kavach_core::plugins::organization::{
    Actor, FullOrganization, Invitation, InvitationDetails, Invite, Member, NewOrganization, OrgRole, Organization, OrganizationUpdate, Team, TeamMember,
    org_or_active,
};
use kavach_core::plugins::two_factor::SignInStep;
use kavach_core::{Code, Kind, Options};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "organization", enabled: |o| o.organization.enabled, requires: &[], routes, openapi: Doc::openapi };

fn teams(o: &Options) -> bool {
    o.organization.teams.enabled
}
fn roles(o: &Options) -> bool {
    o.organization.dynamic_roles
}

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/organization/create", || post(create)).signed_in().limit(20),
        Route::new(Method::POST, "/organization/check-slug", || post(check_slug)).signed_in(),
        Route::new(Method::POST, "/organization/update", || post(update)).signed_in(),
        Route::new(Method::POST, "/organization/delete", || post(delete)).signed_in(),
        Route::new(Method::POST, "/organization/set-active", || post(set_active)).signed_in(),
        Route::new(Method::POST, "/organization/leave", || post(leave)).signed_in(),
        Route::new(Method::GET, "/organization/list", || get(list)).signed_in(),
        Route::new(Method::GET, "/organization/get-organization", || get(get_organization)).signed_in(),
        Route::new(Method::GET, "/organization/get-full-organization", || get(get_full_organization)).signed_in(),
        Route::new(Method::POST, "/organization/invite-member", || post(invite_member)).signed_in().limit(30),
        Route::new(Method::POST, "/organization/accept-invitation", || post(accept_invitation)).signed_in(),
        Route::new(Method::POST, "/organization/reject-invitation", || post(reject_invitation)).signed_in(),
        Route::new(Method::POST, "/organization/cancel-invitation", || post(cancel_invitation)).signed_in(),
        Route::new(Method::GET, "/organization/get-invitation", || get(get_invitation)).signed_in(),
        Route::new(Method::GET, "/organization/list-invitations", || get(list_invitations)).signed_in(),
        Route::new(Method::GET, "/organization/list-user-invitations", || get(list_user_invitations)).signed_in(),
        Route::new(Method::POST, "/organization/remove-member", || post(remove_member)).signed_in(),
        Route::new(Method::POST, "/organization/update-member-role", || post(update_member_role)).signed_in(),
        Route::new(Method::GET, "/organization/list-members", || get(list_members)).signed_in(),
        Route::new(Method::GET, "/organization/get-active-member", || get(get_active_member)).signed_in(),
        Route::new(Method::GET, "/organization/get-active-member-role", || get(get_active_member_role)).signed_in(),
        Route::new(Method::POST, "/organization/has-permission", || post(has_permission)).signed_in(),
        Route::new(Method::GET, "/organization/invitation/{id}", || get(invitation_page)).reads_session(),
        Route::new(Method::POST, "/organization/invitation/{id}", || post(invitation_submit)).reads_session().login().limit(20),
        Route::new(Method::POST, "/organization/create-team", || post(create_team)).signed_in().when(teams),
        Route::new(Method::POST, "/organization/update-team", || post(update_team)).signed_in().when(teams),
        Route::new(Method::POST, "/organization/remove-team", || post(remove_team)).signed_in().when(teams),
        Route::new(Method::POST, "/organization/set-active-team", || post(set_active_team)).signed_in().when(teams),
        Route::new(Method::POST, "/organization/add-team-member", || post(add_team_member)).signed_in().when(teams),
        Route::new(Method::POST, "/organization/remove-team-member", || post(remove_team_member)).signed_in().when(teams),
        Route::new(Method::GET, "/organization/list-teams", || get(list_teams)).signed_in().when(teams),
        Route::new(Method::GET, "/organization/list-team-members", || get(list_team_members)).signed_in().when(teams),
        Route::new(Method::GET, "/organization/list-user-teams", || get(list_user_teams)).signed_in().when(teams),
        Route::new(Method::POST, "/organization/create-role", || post(create_role)).signed_in().when(roles),
        Route::new(Method::POST, "/organization/update-role", || post(update_role)).signed_in().when(roles),
        Route::new(Method::POST, "/organization/delete-role", || post(delete_role)).signed_in().when(roles),
        Route::new(Method::GET, "/organization/list-roles", || get(list_roles)).signed_in().when(roles),
        Route::new(Method::GET, "/organization/get-role", || get(get_role)).signed_in().when(roles),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(create, check_slug, update, delete, set_active, leave, list, get_organization, get_full_organization, invite_member, accept_invitation,
          reject_invitation, cancel_invitation, get_invitation, list_invitations, list_user_invitations, remove_member, update_member_role, list_members,
          get_active_member, get_active_member_role, has_permission, invitation_page, invitation_submit, create_team, update_team, remove_team,
          set_active_team, add_team_member, remove_team_member, list_teams, list_team_members, list_user_teams, create_role, update_role, delete_role,
          list_roles, get_role),
    components(schemas(Organization, Member, Invitation, Team, TeamMember, OrgRole, FullOrganization, InvitationDetails)),
    tags((name = "organization", description = "Organizations, members, invitations, teams and roles (`[organization]`); better-auth's organization plugin routes.")),
)]
struct Doc;

/// One role name, several separated by commas, or a list of names.
#[derive(Deserialize, ToSchema, Clone)]
#[serde(untagged)]
pub enum Roles {
    One(String),
    Many(Vec<String>),
}

impl Roles {
    pub(crate) fn list(self) -> Vec<String> {
        match self {
            Roles::One(s) => vec![s],
            Roles::Many(v) => v,
        }
    }
}

fn user(a: &Authenticated) -> Actor<'_> {
    Actor::User(&a.data.user)
}

/// The organization a request names (`organizationSlug` first, then `organizationId`),
/// else the session's active one.
async fn org_id(k: &Kavach, a: &Authenticated, id: Option<&str>, slug: Option<&str>) -> ApiResult<String> {
    if let Some(s) = slug.filter(|s| !s.is_empty()) {
        return Ok(k.organizations().resolve(user(a), s).await?.id);
    }
    Ok(org_or_active(id, &a.data.session)?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateBody {
    pub name: String,
    /// Made from the name when absent.
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub logo: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Leave the session's active organization as it is (default: the new one becomes active).
    #[serde(default)]
    pub keep_current_active_organization: Option<bool>,
    /// Accepted for better-auth compatibility and ignored: the creator owns the organization.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// Create an organization; the caller becomes its owner and (unless
/// `keepCurrentActiveOrganization`) it becomes the session's active organization.
#[utoipa::path(post, path = "/organization/create", request_body = CreateBody, tag = "organization",
    responses((status = 200, description = "The organization with `members: [owner]`"), (status = 400, description = "ORGANIZATION_ALREADY_EXISTS, INVALID_SLUG"),
              (status = 401), (status = 403, description = "Not allowed, or the organization limit is reached")))]
pub async fn create(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<CreateBody>) -> ApiResult<Response> {
    let org =
        k.organizations().create(user(&a), NewOrganization { name: b.name, slug: b.slug, logo: b.logo, metadata: b.metadata, owner_id: None }, &ctx).await?;
    if b.keep_current_active_organization != Some(true) {
        k.organizations().set_active(&a.data.user, &a.data.session, Some(&org.id)).await?;
    }
    let owner = k.organizations().member(&org.id, &a.data.user.id).await?;
    let mut v = serde_json::to_value(&org).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("members".into(), json!(owner.into_iter().collect::<Vec<_>>()));
    }
    Ok(Json(v).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlugBody {
    pub slug: String,
}

/// Is a slug free? `{ status: true }`, or 400 `ORGANIZATION_SLUG_ALREADY_TAKEN`.
#[utoipa::path(post, path = "/organization/check-slug", request_body = SlugBody, tag = "organization",
    responses((status = 200, description = "`{ status: true }`"), (status = 400, description = "ORGANIZATION_SLUG_ALREADY_TAKEN, INVALID_SLUG"), (status = 401)))]
pub async fn check_slug(State(k): State<Kavach>, Body(b): Body<SlugBody>) -> ApiResult<Response> {
    if !k.organizations().slug_available(&b.slug).await? {
        return Err(client_error(Kind::BadRequest, Code::OrganizationSlugTaken, "Organization slug already taken"));
    }
    Ok(Json(json!({ "status": true })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateData {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    /// A URL, or `null` to remove the logo.
    #[serde(default, deserialize_with = "crate::http::body::null_removes")]
    #[schema(value_type = Option<String>)]
    pub logo: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::body::null_removes")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Option<Value>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateBody {
    pub data: UpdateData,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// Update the organization (needs `organization: update`).
#[utoipa::path(post, path = "/organization/update", request_body = UpdateBody, tag = "organization",
    responses((status = 200, body = Organization), (status = 400), (status = 401), (status = 403)))]
pub async fn update(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<UpdateBody>) -> ApiResult<Json<Organization>> {
    let id = org_id(&k, &a, b.organization_id.as_deref(), None).await?;
    let d = b.data;
    Ok(Json(k.organizations().update(user(&a), &id, OrganizationUpdate { name: d.name, slug: d.slug, logo: d.logo, metadata: d.metadata }, &ctx).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OrgIdBody {
    pub organization_id: String,
}

/// Delete the organization with its members, invitations, teams and roles (needs
/// `organization: delete`: owners only by default).
#[utoipa::path(post, path = "/organization/delete", request_body = OrgIdBody, tag = "organization",
    responses((status = 200, body = Organization), (status = 401), (status = 403)))]
pub async fn delete(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<OrgIdBody>) -> ApiResult<Json<Organization>> {
    Ok(Json(k.organizations().delete(user(&a), &b.organization_id, &ctx).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetActiveBody {
    /// `null` clears the active organization; absent keeps the current one.
    #[serde(default, deserialize_with = "crate::http::body::null_removes")]
    #[schema(value_type = Option<String>)]
    pub organization_id: Option<Option<String>>,
    #[serde(default)]
    pub organization_slug: Option<String>,
}

/// Set (or with `organizationId: null` clear) the session's active organization.
#[utoipa::path(post, path = "/organization/set-active", request_body = SetActiveBody, tag = "organization",
    responses((status = 200, description = "The organization, or `null`"), (status = 401), (status = 403, description = "Not a member")))]
pub async fn set_active(State(k): State<Kavach>, Auth(a): Auth, Body(b): Body<SetActiveBody>) -> ApiResult<Response> {
    let target = match (b.organization_slug, b.organization_id) {
        (Some(slug), _) => Some(slug),
        (None, Some(id)) => id,
        (None, None) => a.data.session.active_organization_id.clone(),
    };
    let org = k.organizations().set_active(&a.data.user, &a.data.session, target.as_deref()).await?;
    Ok(Json(org).into_response())
}

/// Leave an organization (the last owner cannot).
#[utoipa::path(post, path = "/organization/leave", request_body = OrgIdBody, tag = "organization",
    responses((status = 200, body = Member), (status = 400, description = "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER"), (status = 401), (status = 403)))]
pub async fn leave(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<OrgIdBody>) -> ApiResult<Json<Member>> {
    Ok(Json(k.organizations().leave(&a.data.user, &b.organization_id, &ctx).await?))
}

/// The organizations the caller belongs to.
#[utoipa::path(get, path = "/organization/list", tag = "organization", responses((status = 200, body = Vec<Organization>), (status = 401)))]
pub async fn list(State(k): State<Kavach>, Auth(a): Auth) -> ApiResult<Json<Vec<Organization>>> {
    Ok(Json(k.organizations().list_for_user(&a.data.user.id).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct OrgQuery {
    pub organization_id: Option<String>,
    pub organization_slug: Option<String>,
    /// How many members to include (get-full-organization).
    pub members_limit: Option<i64>,
}

/// The organization named (or the active one); `null` when there is none.
#[utoipa::path(get, path = "/organization/get-organization", params(OrgQuery), tag = "organization",
    responses((status = 200, description = "The organization or `null`"), (status = 401), (status = 403)))]
pub async fn get_organization(State(k): State<Kavach>, Auth(a): Auth, QueryParams(q): QueryParams<OrgQuery>) -> ApiResult<Response> {
    let Some(key) = q.organization_slug.or(q.organization_id).or_else(|| a.data.session.active_organization_id.clone()) else {
        return Ok(Json(Value::Null).into_response());
    };
    Ok(Json(k.organizations().resolve(user(&a), &key).await?).into_response())
}

/// The organization with its members, pending invitations and teams; `null` when no
/// organization is named or active.
#[utoipa::path(get, path = "/organization/get-full-organization", params(OrgQuery), tag = "organization",
    responses((status = 200, description = "The organization with members, invitations and teams, or `null`"), (status = 401), (status = 403)))]
pub async fn get_full_organization(State(k): State<Kavach>, Auth(a): Auth, QueryParams(q): QueryParams<OrgQuery>) -> ApiResult<Response> {
    let Some(key) = q.organization_slug.or(q.organization_id).or_else(|| a.data.session.active_organization_id.clone()) else {
        return Ok(Json(Value::Null).into_response());
    };
    let mut full = k.organizations().get_full(user(&a), &key).await?;
    if let Some(n) = q.members_limit {
        full.members.truncate(usize::try_from(n.max(0)).unwrap_or(0));
    }
    Ok(Json(full).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InviteBody {
    pub email: String,
    #[schema(value_type = Object)]
    pub role: Roles,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    /// Send a pending invitation again (renewing its expiry).
    #[serde(default)]
    pub resend: Option<bool>,
}

/// Invite an email address (needs `invitation: create`, and every permission of the role).
#[utoipa::path(post, path = "/organization/invite-member", request_body = InviteBody, tag = "organization",
    responses((status = 200, body = Invitation), (status = 400), (status = 401), (status = 403), (status = 429)))]
pub async fn invite_member(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<InviteBody>) -> ApiResult<Json<Invitation>> {
    let org = org_id(&k, &a, b.organization_id.as_deref(), None).await?;
    let inv = Invite { organization_id: org, email: b.email, role: b.role.list(), team_id: b.team_id, resend: b.resend == Some(true) };
    Ok(Json(k.organizations().invite(user(&a), inv, &ctx).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InvitationIdBody {
    pub invitation_id: String,
}

/// Accept an invitation: the caller's verified email must be the invited one.
#[utoipa::path(post, path = "/organization/accept-invitation", request_body = InvitationIdBody, tag = "organization",
    responses((status = 200, description = "`{ invitation, member }`"), (status = 400, description = "INVITATION_NOT_FOUND"), (status = 401),
              (status = 403, description = "Not the recipient, or the email is not verified")))]
pub async fn accept_invitation(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<InvitationIdBody>) -> ApiResult<Response> {
    let (invitation, member) = k.organizations().accept_invitation(&a.data.user, Some(&a.data.session), &b.invitation_id, &ctx).await?;
    Ok(Json(json!({ "invitation": invitation, "member": member })).into_response())
}

/// Decline an invitation addressed to the caller.
#[utoipa::path(post, path = "/organization/reject-invitation", request_body = InvitationIdBody, tag = "organization",
    responses((status = 200, description = "`{ invitation, member: null }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn reject_invitation(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<InvitationIdBody>) -> ApiResult<Response> {
    let invitation = k.organizations().reject_invitation(&a.data.user, &b.invitation_id, &ctx).await?;
    Ok(Json(json!({ "invitation": invitation, "member": null })).into_response())
}

/// Cancel a pending invitation (needs `invitation: cancel`).
#[utoipa::path(post, path = "/organization/cancel-invitation", request_body = InvitationIdBody, tag = "organization",
    responses((status = 200, body = Invitation), (status = 400), (status = 401), (status = 403)))]
pub async fn cancel_invitation(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<InvitationIdBody>) -> ApiResult<Json<Invitation>> {
    Ok(Json(k.organizations().cancel_invitation(user(&a), &b.invitation_id, &ctx).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdQuery {
    pub id: String,
}

/// An invitation addressed to the caller, with its organization's name and the inviter's email.
#[utoipa::path(get, path = "/organization/get-invitation", params(IdQuery), tag = "organization",
    responses((status = 200, body = InvitationDetails), (status = 400), (status = 401), (status = 403)))]
pub async fn get_invitation(State(k): State<Kavach>, Auth(a): Auth, QueryParams(q): QueryParams<IdQuery>) -> ApiResult<Json<InvitationDetails>> {
    Ok(Json(k.organizations().get_invitation(&a.data.user, &q.id).await?))
}

/// Every invitation of the organization (members only).
#[utoipa::path(get, path = "/organization/list-invitations", params(OrgQuery), tag = "organization",
    responses((status = 200, body = Vec<Invitation>), (status = 401), (status = 403)))]
pub async fn list_invitations(State(k): State<Kavach>, Auth(a): Auth, QueryParams(q): QueryParams<OrgQuery>) -> ApiResult<Json<Vec<Invitation>>> {
    let id = org_id(&k, &a, q.organization_id.as_deref(), q.organization_slug.as_deref()).await?;
    Ok(Json(k.organizations().list_invitations(user(&a), &id).await?))
}

/// The pending invitations to the caller's email.
#[utoipa::path(get, path = "/organization/list-user-invitations", tag = "organization",
    responses((status = 200, body = Vec<InvitationDetails>), (status = 401)))]
pub async fn list_user_invitations(State(k): State<Kavach>, Auth(a): Auth) -> ApiResult<Json<Vec<InvitationDetails>>> {
    Ok(Json(k.organizations().list_user_invitations(&a.data.user).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RemoveMemberBody {
    /// A member id, a user id, or an email.
    pub member_id_or_email: String,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// Remove a member (needs `member: delete` and every permission of their role).
#[utoipa::path(post, path = "/organization/remove-member", request_body = RemoveMemberBody, tag = "organization",
    responses((status = 200, description = "`{ member }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn remove_member(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<RemoveMemberBody>) -> ApiResult<Response> {
    let id = org_id(&k, &a, b.organization_id.as_deref(), None).await?;
    let member = k.organizations().remove_member(user(&a), &id, &b.member_id_or_email, &ctx).await?;
    Ok(Json(json!({ "member": member })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateRoleBody {
    pub member_id: String,
    #[schema(value_type = Object)]
    pub role: Roles,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// Change a member's role (needs `member: update` and every permission of the old and new role).
#[utoipa::path(post, path = "/organization/update-member-role", request_body = UpdateRoleBody, tag = "organization",
    responses((status = 200, body = Member), (status = 400), (status = 401), (status = 403)))]
pub async fn update_member_role(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<UpdateRoleBody>) -> ApiResult<Json<Member>> {
    let id = org_id(&k, &a, b.organization_id.as_deref(), None).await?;
    Ok(Json(k.organizations().update_member_role(user(&a), &id, &b.member_id, &b.role.list(), &ctx).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct MembersQuery {
    pub organization_id: Option<String>,
    pub organization_slug: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The organization's members, with their users: `{ members, total }`.
#[utoipa::path(get, path = "/organization/list-members", params(MembersQuery), tag = "organization",
    responses((status = 200, description = "`{ members, total }`"), (status = 401), (status = 403)))]
pub async fn list_members(State(k): State<Kavach>, Auth(a): Auth, QueryParams(q): QueryParams<MembersQuery>) -> ApiResult<Response> {
    let id = org_id(&k, &a, q.organization_id.as_deref(), q.organization_slug.as_deref()).await?;
    let limit = q.limit.unwrap_or(i64::from(k.options().organization.membership_limit));
    let (members, total) = k.organizations().members(user(&a), &id, limit, q.offset.unwrap_or(0)).await?;
    Ok(Json(json!({ "members": members, "total": total })).into_response())
}

/// The caller's membership in the active organization.
#[utoipa::path(get, path = "/organization/get-active-member", tag = "organization",
    responses((status = 200, body = Member), (status = 400, description = "NO_ACTIVE_ORGANIZATION"), (status = 401), (status = 403)))]
pub async fn get_active_member(State(k): State<Kavach>, Auth(a): Auth) -> ApiResult<Json<Member>> {
    let id = org_or_active(None, &a.data.session)?;
    let m = k.organizations().member(&id, &a.data.user.id).await?;
    Ok(Json(m.ok_or_else(|| client_error(Kind::Forbidden, Code::NotAMember, "You are not a member of this organization"))?))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct RoleQuery {
    /// Another member's role (any member may read it).
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    pub organization_slug: Option<String>,
}

/// The caller's (or another member's) role in the organization: `{ role }`.
#[utoipa::path(get, path = "/organization/get-active-member-role", params(RoleQuery), tag = "organization",
    responses((status = 200, description = "`{ role }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn get_active_member_role(State(k): State<Kavach>, Auth(a): Auth, QueryParams(q): QueryParams<RoleQuery>) -> ApiResult<Response> {
    let id = org_id(&k, &a, q.organization_id.as_deref(), q.organization_slug.as_deref()).await?;
    let not_member = || client_error(Kind::Forbidden, Code::NotAMember, "You are not a member of this organization");
    k.organizations().member(&id, &a.data.user.id).await?.ok_or_else(not_member)?;
    let who = q.user_id.unwrap_or_else(|| a.data.user.id.clone());
    let m = k.organizations().member(&id, &who).await?.ok_or_else(not_member)?;
    Ok(Json(json!({ "role": m.role })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HasPermissionBody {
    /// `{ "resource": ["action", ...] }`: every action must be granted.
    #[schema(value_type = Object)]
    pub permissions: Option<Value>,
    /// better-auth's older name for `permissions`.
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub permission: Option<Value>,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// Does the caller's role in the organization grant every permission asked?
/// `{ success, error: null }`; a member whose role is not defined gets `ROLE_NOT_FOUND`.
#[utoipa::path(post, path = "/organization/has-permission", request_body = HasPermissionBody, tag = "organization",
    responses((status = 200, description = "`{ success, error }`"), (status = 400, description = "NO_ACTIVE_ORGANIZATION, ROLE_NOT_FOUND, INVALID_RESOURCE"),
              (status = 401), (status = 403, description = "Not a member")))]
pub async fn has_permission(State(k): State<Kavach>, Auth(a): Auth, Body(b): Body<HasPermissionBody>) -> ApiResult<Response> {
    let wanted = b.permissions.or(b.permission).ok_or_else(|| client_error(Kind::BadRequest, Code::ValidationError, "permissions is required"))?;
    let wanted = Permissions::parse(&wanted)?;
    let id = org_or_active(b.organization_id.as_deref(), &a.data.session)?;
    let ok = k.organizations().has_permission(&a.data.user.id, &id, &wanted).await?;
    Ok(Json(json!({ "success": ok, "error": null })).into_response())
}

// ---- the hosted invitation page ----

/// The page an invitation email links to: who invites, to which organization, with which
/// role; Accept and Decline when signed in as the invited address, a sign-in form otherwise.
#[utoipa::path(get, path = "/organization/invitation/{id}", tag = "organization", params(("id" = String, Path)),
    responses((status = 200, description = "The invitation page", content_type = "text/html", body = String),
              (status = 400, description = "No such pending invitation", content_type = "text/html", body = String)))]
pub async fn invitation_page(State(k): State<Kavach>, MaybeAuth(auth): MaybeAuth, Path(id): Path<String>) -> Response {
    render_invitation(&k, auth.as_ref().map(|a| &a.data.user), &id, None).await
}

async fn render_invitation(k: &Kavach, signed_in: Option<&kavach_core::User>, id: &str, error: Option<&str>) -> Response {
    let d = match k.organizations().invitation_details(id).await {
        Ok(d) => d,
        Err(e) if e.is_client_error() => {
            let mut r = message_page(k, "Invitation not valid", "This invitation is invalid, already answered, cancelled or expired. Ask for a new one.");
            *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            return r;
        }
        Err(e) => return crate::http::error::ApiError(e).into_response(),
    };
    let err = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let intro = format!(
        "<p>{} invited <strong>{}</strong> to join <strong>{}</strong> as <strong>{}</strong>.</p>",
        escape(&d.inviter_email),
        escape(&d.invitation.email),
        escape(&d.organization_name),
        escape(&d.invitation.role)
    );
    let action = escape(&k.options().api_url(&format!("/organization/invitation/{id}")));
    let body = match signed_in {
        Some(u) if u.email == d.invitation.email => format!(
            "{err}{intro}<form method=\"post\" action=\"{action}\"><button type=\"submit\" name=\"action\" value=\"accept\">Accept</button> \
             <button type=\"submit\" name=\"action\" value=\"reject\">Decline</button></form>"
        ),
        Some(u) => format!("{err}{intro}<p>You are signed in as {}. Sign out and sign in as {} to answer.</p>", escape(&u.email), escape(&d.invitation.email)),
        None => format!(
            "{err}{intro}<p>Sign in as {} to answer.</p><form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"action\" value=\"sign-in\">\
             <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" value=\"{}\" required>\
             <label for=\"pw\">Password</label><input id=\"pw\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>",
            escape(&d.invitation.email),
            escape(&d.invitation.email)
        ),
    };
    page(k, "Invitation", &body)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationForm {
    /// `accept`, `reject`, or `sign-in` (with `email` and `password`).
    pub action: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// The invitation page's form: sign in, then accept or decline.
#[utoipa::path(post, path = "/organization/invitation/{id}", tag = "organization", params(("id" = String, Path)),
    request_body(content = InvitationForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The page again, with the outcome", content_type = "text/html", body = String),
              (status = 400, description = "No such pending invitation, or a refusal", content_type = "text/html", body = String)))]
pub async fn invitation_submit(
    State(k): State<Kavach>,
    Ctx(ctx): Ctx,
    MaybeAuth(auth): MaybeAuth,
    Path(id): Path<String>,
    Body(f): JsonOrForm<InvitationForm>,
) -> ApiResult<Response> {
    let refused = |k: &Kavach, e: &kavach_core::Error| {
        let mut r = message_page(k, "Invitation", &e.message);
        *r.status_mut() = crate::http::error::status_of(e.kind);
        r
    };
    match (f.action.as_str(), auth) {
        ("sign-in", _) => {
            let (email, password) = (f.email.unwrap_or_default(), f.password.unwrap_or_default());
            match k.email_password().sign_in(&email, &password, &ctx).await {
                Ok(SignInStep::TwoFactor(p)) => {
                    let next = format!("{}/organization/invitation/{}", k.options().base_path.trim_end_matches('/'), kavach_core::text::url_encode(&id));
                    Ok(crate::http::plugins::two_factor::pending_redirect(&k, &p, &next))
                }
                Ok(SignInStep::SignedIn(out)) => {
                    let mut r = render_invitation(&k, Some(&out.user), &id, None).await;
                    r.headers_mut().append(header::SET_COOKIE, crate::http::cookies::set_session_cookie(&k, &out.session.token, true));
                    Ok(r)
                }
                Err(e) if e.is_client_error() => {
                    let mut r = render_invitation(&k, None, &id, Some(&e.message)).await;
                    *r.status_mut() = crate::http::error::status_of(e.kind);
                    Ok(r)
                }
                Err(e) => Err(e.into()),
            }
        }
        ("accept", Some(a)) => match k.organizations().accept_invitation(&a.data.user, Some(&a.data.session), &id, &ctx).await {
            Ok((_, m)) => {
                let org = k.organizations().get(&m.organization_id).await?.map(|o| o.name).unwrap_or_default();
                Ok(message_page(&k, "Invitation accepted", &format!("You are now a member of {org}.")))
            }
            Err(e) if e.is_client_error() => Ok(refused(&k, &e)),
            Err(e) => Err(e.into()),
        },
        ("reject", Some(a)) => match k.organizations().reject_invitation(&a.data.user, &id, &ctx).await {
            Ok(_) => Ok(message_page(&k, "Invitation declined", "You declined the invitation.")),
            Err(e) if e.is_client_error() => Ok(refused(&k, &e)),
            Err(e) => Err(e.into()),
        },
        ("accept" | "reject", None) => Ok(render_invitation(&k, None, &id, Some("Sign in first.")).await),
        _ => Err(client_error(Kind::BadRequest, Code::ValidationError, "action is accept, reject or sign-in")),
    }
}

// ---- teams ----

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateTeamBody {
    pub name: String,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// Create a team (needs `team: create`).
#[utoipa::path(post, path = "/organization/create-team", request_body = CreateTeamBody, tag = "organization",
    responses((status = 200, body = Team), (status = 400), (status = 401), (status = 403)))]
pub async fn create_team(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<CreateTeamBody>) -> ApiResult<Json<Team>> {
    let id = org_id(&k, &a, b.organization_id.as_deref(), None).await?;
    Ok(Json(k.organizations().create_team(user(&a), &id, &b.name, &ctx).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamData {
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateTeamBody {
    pub team_id: String,
    pub data: TeamData,
}

/// Rename a team (needs `team: update`).
#[utoipa::path(post, path = "/organization/update-team", request_body = UpdateTeamBody, tag = "organization",
    responses((status = 200, body = Team), (status = 400), (status = 401), (status = 403)))]
pub async fn update_team(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<UpdateTeamBody>) -> ApiResult<Json<Team>> {
    let name = b.data.name.ok_or_else(|| client_error(Kind::BadRequest, Code::NoFieldsToUpdate, "Send data.name"))?;
    Ok(Json(k.organizations().update_team(user(&a), &b.team_id, &name, &ctx).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TeamIdBody {
    pub team_id: String,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// Delete a team and its memberships (needs `team: delete`).
#[utoipa::path(post, path = "/organization/remove-team", request_body = TeamIdBody, tag = "organization",
    responses((status = 200, description = "`{ message }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn remove_team(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<TeamIdBody>) -> ApiResult<Response> {
    k.organizations().remove_team(user(&a), &b.team_id, &ctx).await?;
    Ok(Json(json!({ "message": "Team removed successfully." })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetActiveTeamBody {
    /// `null` clears the active team.
    #[serde(default)]
    pub team_id: Option<String>,
}

/// Set (or with `null` clear) the session's active team; the caller must be in it.
#[utoipa::path(post, path = "/organization/set-active-team", request_body = SetActiveTeamBody, tag = "organization",
    responses((status = 200, description = "The team or `null`"), (status = 400), (status = 401)))]
pub async fn set_active_team(State(k): State<Kavach>, Auth(a): Auth, Body(b): Body<SetActiveTeamBody>) -> ApiResult<Response> {
    Ok(Json(k.organizations().set_active_team(&a.data.user, &a.data.session, b.team_id.as_deref()).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TeamMemberBody {
    pub team_id: String,
    pub user_id: String,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// Add a member of the organization to a team (needs `team: update`).
#[utoipa::path(post, path = "/organization/add-team-member", request_body = TeamMemberBody, tag = "organization",
    responses((status = 200, body = TeamMember), (status = 400), (status = 401), (status = 403)))]
pub async fn add_team_member(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<TeamMemberBody>) -> ApiResult<Json<TeamMember>> {
    Ok(Json(k.organizations().add_team_member(user(&a), &b.team_id, &b.user_id, &ctx).await?))
}

/// Remove a user from a team (needs `team: update`, or be that user).
#[utoipa::path(post, path = "/organization/remove-team-member", request_body = TeamMemberBody, tag = "organization",
    responses((status = 200, description = "`{ message }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn remove_team_member(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<TeamMemberBody>) -> ApiResult<Response> {
    k.organizations().remove_team_member(user(&a), &b.team_id, &b.user_id, &ctx).await?;
    Ok(Json(json!({ "message": "Team member removed successfully." })).into_response())
}

/// The organization's teams (members only).
#[utoipa::path(get, path = "/organization/list-teams", params(OrgQuery), tag = "organization",
    responses((status = 200, body = Vec<Team>), (status = 401), (status = 403)))]
pub async fn list_teams(State(k): State<Kavach>, Auth(a): Auth, QueryParams(q): QueryParams<OrgQuery>) -> ApiResult<Json<Vec<Team>>> {
    let id = org_id(&k, &a, q.organization_id.as_deref(), q.organization_slug.as_deref()).await?;
    Ok(Json(k.organizations().list_teams(user(&a), &id).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TeamQuery {
    /// Default: the active team.
    pub team_id: Option<String>,
}

/// A team's members (members of its organization only).
#[utoipa::path(get, path = "/organization/list-team-members", params(TeamQuery), tag = "organization",
    responses((status = 200, body = Vec<TeamMember>), (status = 400), (status = 401)))]
pub async fn list_team_members(State(k): State<Kavach>, Auth(a): Auth, QueryParams(q): QueryParams<TeamQuery>) -> ApiResult<Json<Vec<TeamMember>>> {
    let team = q
        .team_id
        .or_else(|| a.data.session.active_team_id.clone())
        .ok_or_else(|| client_error(Kind::BadRequest, Code::TeamNotFound, "No team given and no active team"))?;
    Ok(Json(k.organizations().list_team_members(user(&a), &team).await?))
}

/// The teams the caller is in.
#[utoipa::path(get, path = "/organization/list-user-teams", tag = "organization", responses((status = 200, body = Vec<Team>), (status = 401)))]
pub async fn list_user_teams(State(k): State<Kavach>, Auth(a): Auth) -> ApiResult<Json<Vec<Team>>> {
    Ok(Json(k.organizations().list_user_teams(&a.data.user.id).await?))
}

// ---- roles per organization ----

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateRoleBody {
    pub role: String,
    #[schema(value_type = Object)]
    pub permission: Value,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// Define a role in the organization (needs `ac: create`, and every permission given).
#[utoipa::path(post, path = "/organization/create-role", request_body = CreateRoleBody, tag = "organization",
    responses((status = 200, description = "`{ success, roleData }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn create_role(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<CreateRoleBody>) -> ApiResult<Response> {
    let id = org_id(&k, &a, b.organization_id.as_deref(), None).await?;
    let perm = Permissions::parse(&b.permission)?;
    let r = k.organizations().create_role(user(&a), &id, &b.role.to_lowercase(), perm, &ctx).await?;
    Ok(Json(json!({ "success": true, "roleData": r })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RoleData {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub permission: Option<Value>,
    /// A new name.
    #[serde(default)]
    pub role_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateRoleDefBody {
    #[serde(default)]
    pub role_name: Option<String>,
    #[serde(default)]
    pub role_id: Option<String>,
    pub data: RoleData,
    #[serde(default)]
    pub organization_id: Option<String>,
}

fn role_key(name: Option<String>, id: Option<String>) -> ApiResult<String> {
    name.or(id).ok_or_else(|| client_error(Kind::BadRequest, Code::ValidationError, "roleName or roleId is required"))
}

/// Rename a role or replace its permissions (needs `ac: update`).
#[utoipa::path(post, path = "/organization/update-role", request_body = UpdateRoleDefBody, tag = "organization",
    responses((status = 200, description = "`{ success, roleData }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn update_role(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<UpdateRoleDefBody>) -> ApiResult<Response> {
    let id = org_id(&k, &a, b.organization_id.as_deref(), None).await?;
    let key = role_key(b.role_name, b.role_id)?;
    let perm = b.data.permission.as_ref().map(Permissions::parse).transpose()?;
    let new_name = b.data.role_name.map(|n| n.to_lowercase());
    let r = k.organizations().update_role(user(&a), &id, &key, new_name.as_deref(), perm, &ctx).await?;
    Ok(Json(json!({ "success": true, "roleData": r })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeleteRoleBody {
    #[serde(default)]
    pub role_name: Option<String>,
    #[serde(default)]
    pub role_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// Delete a role no member or pending invitation holds (needs `ac: delete`).
#[utoipa::path(post, path = "/organization/delete-role", request_body = DeleteRoleBody, tag = "organization",
    responses((status = 200, description = "`{ success: true }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn delete_role(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<DeleteRoleBody>) -> ApiResult<Response> {
    let id = org_id(&k, &a, b.organization_id.as_deref(), None).await?;
    let key = role_key(b.role_name, b.role_id)?;
    k.organizations().delete_role(user(&a), &id, &key, &ctx).await?;
    Ok(Json(json!({ "success": true })).into_response())
}

/// The roles defined in the organization (needs `ac: read`).
#[utoipa::path(get, path = "/organization/list-roles", params(OrgQuery), tag = "organization",
    responses((status = 200, body = Vec<OrgRole>), (status = 401), (status = 403)))]
pub async fn list_roles(State(k): State<Kavach>, Auth(a): Auth, QueryParams(q): QueryParams<OrgQuery>) -> ApiResult<Json<Vec<OrgRole>>> {
    let id = org_id(&k, &a, q.organization_id.as_deref(), q.organization_slug.as_deref()).await?;
    Ok(Json(k.organizations().list_roles(user(&a), &id).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct GetRoleQuery {
    pub role_name: Option<String>,
    pub role_id: Option<String>,
    pub organization_id: Option<String>,
}

/// One role defined in the organization (needs `ac: read`).
#[utoipa::path(get, path = "/organization/get-role", params(GetRoleQuery), tag = "organization",
    responses((status = 200, body = OrgRole), (status = 400), (status = 401), (status = 403)))]
pub async fn get_role(State(k): State<Kavach>, Auth(a): Auth, QueryParams(q): QueryParams<GetRoleQuery>) -> ApiResult<Json<OrgRole>> {
    let id = org_id(&k, &a, q.organization_id.as_deref(), None).await?;
    let key = role_key(q.role_name, q.role_id)?;
    Ok(Json(k.organizations().get_role(user(&a), &id, &key).await?))
}
