//! The admin capability over HTTP (`[admin]`): better-auth's `admin` plugin routes and
//! bodies (`/admin/*`), so its `adminClient()` works unchanged. Every route needs a
//! signed-in caller whose platform role grants the action (`403
//! YOU_ARE_NOT_ALLOWED_TO_PERFORM_THIS_ADMIN_ACTION` otherwise); impersonation sessions
//! are never admins.

use super::organization::{IdQuery, Roles};
use crate::Kavach;
use crate::http::body::{Body, QueryParams};
use crate::http::cookies::{self, clear_session_cookie, set_session_cookie};
use crate::http::error::{ApiResult, client_error};
use crate::http::table::{Capability, Route};
use crate::http::{Auth, Authenticated, Ctx, no_store};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kavach_core::access::Permissions;
use kavach_core::plugins::admin::{Operator, UserQuery, UserUpdate};
use kavach_core::{Code, Kind, NewUser, User};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use utoipa::{OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "admin", enabled: |o| o.admin.enabled, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/admin/list-users", || get(list_users)).signed_in(),
        Route::new(Method::GET, "/admin/get-user", || get(get_user)).signed_in(),
        Route::new(Method::POST, "/admin/create-user", || post(create_user)).signed_in(),
        Route::new(Method::POST, "/admin/update-user", || post(update_user)).signed_in(),
        Route::new(Method::POST, "/admin/remove-user", || post(remove_user)).signed_in(),
        Route::new(Method::POST, "/admin/set-role", || post(set_role)).signed_in(),
        Route::new(Method::POST, "/admin/set-user-password", || post(set_user_password)).signed_in(),
        Route::new(Method::POST, "/admin/ban-user", || post(ban_user)).signed_in(),
        Route::new(Method::POST, "/admin/unban-user", || post(unban_user)).signed_in(),
        Route::new(Method::POST, "/admin/list-user-sessions", || post(list_user_sessions)).signed_in(),
        Route::new(Method::POST, "/admin/revoke-user-session", || post(revoke_user_session)).signed_in(),
        Route::new(Method::POST, "/admin/revoke-user-sessions", || post(revoke_user_sessions)).signed_in(),
        Route::new(Method::POST, "/admin/impersonate-user", || post(impersonate_user)).signed_in().limit(20),
        Route::new(Method::POST, "/admin/stop-impersonating", || post(stop_impersonating)).signed_in(),
        Route::new(Method::POST, "/admin/has-permission", || post(has_permission)).signed_in(),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(list_users, get_user, create_user, update_user, remove_user, set_role, set_user_password, ban_user, unban_user, list_user_sessions,
          revoke_user_session, revoke_user_sessions, impersonate_user, stop_impersonating, has_permission),
    tags((name = "admin", description = "Operators: users, platform roles, bans, sessions and impersonation (`[admin]`); better-auth's admin plugin routes.")),
)]
struct Doc;

fn op(a: &Authenticated) -> Operator<'_> {
    Operator::User(&a.data.user, &a.data.session)
}

/// Search, filter, sort and page users (`user: list`): `{ users, total, limit, offset }`.
#[utoipa::path(get, path = "/admin/list-users", params(UserQuery), tag = "admin",
    responses((status = 200, description = "`{ users, total, limit, offset }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn list_users(State(k): State<Kavach>, Auth(a): Auth, QueryParams(mut query): QueryParams<UserQuery>) -> ApiResult<Response> {
    query.sort_direction.get_or_insert_with(|| "asc".into());
    let (users, total) = k.admin().list_users(op(&a), &query).await?;
    Ok(Json(json!({ "users": users, "total": total, "limit": query.limit, "offset": query.offset })).into_response())
}

/// One user (`user: get`).
#[utoipa::path(get, path = "/admin/get-user", params(IdQuery), tag = "admin",
    responses((status = 200, body = User), (status = 401), (status = 403), (status = 404)))]
pub async fn get_user(State(k): State<Kavach>, Auth(a): Auth, QueryParams(q): QueryParams<IdQuery>) -> ApiResult<Json<User>> {
    Ok(Json(k.admin().get_user(op(&a), &q.id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateUserBody {
    pub email: String,
    /// Without one, the user has no password (they can use a reset link).
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub role: Option<Roles>,
    /// Extra fields: `emailVerified` (bool) and `image` are read.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

/// Create a user (`user: create`; a role also needs the permissions it grants): `{ user }`.
#[utoipa::path(post, path = "/admin/create-user", request_body = CreateUserBody, tag = "admin",
    responses((status = 200, description = "`{ user }`"), (status = 400), (status = 401), (status = 403), (status = 422, description = "USER_ALREADY_EXISTS")))]
pub async fn create_user(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<CreateUserBody>) -> ApiResult<Response> {
    let data = b.data.unwrap_or(Value::Null);
    let email_verified = data.get("emailVerified").and_then(Value::as_bool).unwrap_or(false);
    let image = data.get("image").and_then(Value::as_str).map(str::to_owned);
    let roles = b.role.map(Roles::list);
    let new = NewUser { email: b.email, name: b.name, password: b.password, email_verified, image };
    let user = k.admin().create_user(op(&a), new, roles.as_deref(), &ctx).await?;
    Ok(Json(json!({ "user": user })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserData {
    #[serde(default)]
    pub name: Option<String>,
    /// A URL, or `null` to remove it.
    #[serde(default, deserialize_with = "crate::http::body::null_removes")]
    #[schema(value_type = Option<String>)]
    pub image: Option<Option<String>>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// Needs `user: set-role`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub role: Option<Roles>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateUserBody {
    pub user_id: String,
    pub data: UserData,
}

/// Change a user's name, image, verification or role (`user: update`).
#[utoipa::path(post, path = "/admin/update-user", request_body = UpdateUserBody, tag = "admin",
    responses((status = 200, body = User), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn update_user(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<UpdateUserBody>) -> ApiResult<Json<User>> {
    let d = b.data;
    if let Some(r) = d.role {
        k.admin().set_role(op(&a), &b.user_id, &r.list(), &ctx).await?;
        if d.name.is_none() && d.image.is_none() && d.email_verified.is_none() {
            return Ok(Json(k.admin().get_user(op(&a), &b.user_id).await?));
        }
    }
    let u = UserUpdate { name: d.name, image: d.image, email_verified: d.email_verified };
    Ok(Json(k.admin().update_user(op(&a), &b.user_id, u, &ctx).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserIdBody {
    pub user_id: String,
}

/// Delete a user and everything that is theirs (`user: delete`; not oneself).
#[utoipa::path(post, path = "/admin/remove-user", request_body = UserIdBody, tag = "admin",
    responses((status = 200, description = "`{ success: true }`"), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn remove_user(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<UserIdBody>) -> ApiResult<Response> {
    k.admin().remove_user(op(&a), &b.user_id, &ctx).await?;
    Ok(Json(json!({ "success": true })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetRoleBody {
    pub user_id: String,
    #[schema(value_type = Object)]
    pub role: Roles,
}

/// Set the platform role (`user: set-role`; every role must be defined): `{ user }`.
#[utoipa::path(post, path = "/admin/set-role", request_body = SetRoleBody, tag = "admin",
    responses((status = 200, description = "`{ user }`"), (status = 400, description = "ROLE_NOT_FOUND"), (status = 401), (status = 403), (status = 404)))]
pub async fn set_role(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<SetRoleBody>) -> ApiResult<Response> {
    let user = k.admin().set_role(op(&a), &b.user_id, &b.role.list(), &ctx).await?;
    Ok(Json(json!({ "user": user })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetPasswordBody {
    pub user_id: String,
    pub new_password: String,
}

/// Set a user's password (`user: set-password`; checked against the password policy).
#[utoipa::path(post, path = "/admin/set-user-password", request_body = SetPasswordBody, tag = "admin",
    responses((status = 200, description = "`{ status: true }`"), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn set_user_password(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<SetPasswordBody>) -> ApiResult<Response> {
    k.admin().set_password(op(&a), &b.user_id, &b.new_password, &ctx).await?;
    Ok(Json(json!({ "status": true })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BanBody {
    pub user_id: String,
    #[serde(default)]
    pub ban_reason: Option<String>,
    /// Seconds; none: until unbanned.
    #[serde(default)]
    pub ban_expires_in: Option<u64>,
}

/// Ban a user (`user: ban`): every session ends at once on every instance: `{ user }`.
#[utoipa::path(post, path = "/admin/ban-user", request_body = BanBody, tag = "admin",
    responses((status = 200, description = "`{ user }`"), (status = 400, description = "YOU_CANNOT_BAN_YOURSELF"), (status = 401), (status = 403), (status = 404)))]
pub async fn ban_user(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<BanBody>) -> ApiResult<Response> {
    let user = k.admin().ban(op(&a), &b.user_id, b.ban_reason.as_deref(), b.ban_expires_in.map(Duration::from_secs), &ctx).await?;
    Ok(Json(json!({ "user": user })).into_response())
}

/// Lift a ban (`user: ban`): `{ user }`.
#[utoipa::path(post, path = "/admin/unban-user", request_body = UserIdBody, tag = "admin",
    responses((status = 200, description = "`{ user }`"), (status = 401), (status = 403), (status = 404)))]
pub async fn unban_user(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<UserIdBody>) -> ApiResult<Response> {
    let user = k.admin().unban(op(&a), &b.user_id, &ctx).await?;
    Ok(Json(json!({ "user": user })).into_response())
}

/// A user's sessions, impersonation sessions included (`session: list`): `{ sessions }`.
#[utoipa::path(post, path = "/admin/list-user-sessions", request_body = UserIdBody, tag = "admin",
    responses((status = 200, description = "`{ sessions }`"), (status = 401), (status = 403), (status = 404)))]
pub async fn list_user_sessions(State(k): State<Kavach>, Auth(a): Auth, Body(b): Body<UserIdBody>) -> ApiResult<Response> {
    let sessions = k.admin().list_user_sessions(op(&a), &b.user_id).await?;
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RevokeSessionBody {
    /// The `token` of a listed session.
    pub session_token: String,
    /// The session's user (found from the session when absent).
    #[serde(default)]
    pub user_id: Option<String>,
}

/// End one session (`session: revoke`): `{ success: true }`.
#[utoipa::path(post, path = "/admin/revoke-user-session", request_body = RevokeSessionBody, tag = "admin",
    responses((status = 200, description = "`{ success: true }`"), (status = 401), (status = 403)))]
pub async fn revoke_user_session(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<RevokeSessionBody>) -> ApiResult<Response> {
    let revoked = k.admin().revoke_user_session(op(&a), &b.session_token, b.user_id.as_deref(), &ctx).await?;
    Ok(Json(json!({ "success": revoked })).into_response())
}

/// End every session of a user (`session: revoke`): `{ success: true }`.
#[utoipa::path(post, path = "/admin/revoke-user-sessions", request_body = UserIdBody, tag = "admin",
    responses((status = 200, description = "`{ success: true }`"), (status = 401), (status = 403), (status = 404)))]
pub async fn revoke_user_sessions(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<UserIdBody>) -> ApiResult<Response> {
    k.admin().revoke_user_sessions(op(&a), &b.user_id, &ctx).await?;
    Ok(Json(json!({ "success": true })).into_response())
}

/// Sign in as the user (`user: impersonate`): a session marked `impersonatedBy` that ends
/// after `admin.impersonation_ttl` however much it is used. The admin's own session waits
/// in a signed cookie for `/admin/stop-impersonating`: `{ session, user }`.
#[utoipa::path(post, path = "/admin/impersonate-user", request_body = UserIdBody, tag = "admin",
    responses((status = 200, description = "`{ session, user }` and the impersonation session cookie"), (status = 401),
              (status = 403, description = "Not allowed, an admin target, or from an impersonation session"), (status = 404)))]
pub async fn impersonate_user(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, headers: HeaderMap, Body(b): Body<UserIdBody>) -> ApiResult<Response> {
    let (new, user) = k.admin().impersonate(&a.data.user, &a.data.session, &b.user_id, &ctx).await?;
    let mut resp = Json(json!({ "session": new.session, "user": user })).into_response();
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, set_session_cookie(&k, &new.token, false));
    h.append(header::SET_COOKIE, cookies::set_admin_session(&k, Some(&a.token), cookies::dont_remember(&k, &headers)));
    no_store(&mut resp);
    Ok(resp)
}

/// End the impersonation and return to the admin's own session: `{ session, user }`
/// (both `null` when the admin's session ended meanwhile).
#[utoipa::path(post, path = "/admin/stop-impersonating", tag = "admin",
    responses((status = 200, description = "`{ session, user }` and the admin's session cookie"), (status = 400, description = "YOU_ARE_NOT_IMPERSONATING"), (status = 401)))]
pub async fn stop_impersonating(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, headers: HeaderMap) -> ApiResult<Response> {
    let admin_id = k.admin().stop_impersonating(&a.data.session, &ctx).await?;
    let restored = match cookies::admin_session(&k, &headers) {
        Some((token, dont)) => match k.sessions().check(&token).await? {
            Some(c) if c.data.user.id == admin_id && c.data.session.impersonated_by.is_none() => Some((token, dont, c.data)),
            _ => None,
        },
        None => None,
    };
    let mut resp = match &restored {
        Some((_, _, data)) => Json(json!({ "session": data.session, "user": data.user })).into_response(),
        None => Json(json!({ "session": Value::Null, "user": Value::Null })).into_response(),
    };
    let h = resp.headers_mut();
    match &restored {
        Some((token, dont, _)) => h.append(header::SET_COOKIE, set_session_cookie(&k, token, !dont)),
        None => h.append(header::SET_COOKIE, clear_session_cookie(&k)),
    };
    h.append(header::SET_COOKIE, cookies::set_admin_session(&k, None, false));
    no_store(&mut resp);
    Ok(resp)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HasPermissionBody {
    /// `{ "user": ["ban"] }`: every action must be granted.
    #[schema(value_type = Object)]
    pub permissions: Option<Value>,
    /// better-auth's older name for `permissions`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub permission: Option<Value>,
    /// Accepted for better-auth compatibility and ignored: the caller's own role is checked.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Accepted for better-auth compatibility and ignored.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub role: Option<Value>,
}

/// Does the caller's platform role grant every permission asked? `{ success, error: null }`.
#[utoipa::path(post, path = "/admin/has-permission", request_body = HasPermissionBody, tag = "admin",
    responses((status = 200, description = "`{ success, error }`"), (status = 400), (status = 401)))]
pub async fn has_permission(State(k): State<Kavach>, Auth(a): Auth, Body(b): Body<HasPermissionBody>) -> ApiResult<Response> {
    let wanted = b.permissions.or(b.permission).ok_or_else(|| client_error(Kind::BadRequest, Code::ValidationError, "permissions is required"))?;
    let wanted = Permissions::parse(&wanted)?;
    let ok = a.data.session.impersonated_by.is_none() && k.admin().has_permission(&a.data.user, &wanted)?;
    Ok(Json(json!({ "success": ok, "error": null })).into_response())
}
