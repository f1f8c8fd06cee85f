//! Anonymous users over HTTP (`[anonymous]`): better-auth's `anonymous()` routes
//! (`POST /sign-in/anonymous`, `POST /delete-anonymous-user`), so `anonymousClient()` and
//! `signIn.anonymous()` work unchanged. Which other routes an anonymous user may call is
//! the route table's `anonymous()` flag.

use crate::Kavach;
use crate::http::cookies::clear_session_cookie;
use crate::http::error::ApiResult;
use crate::http::kernel::session_response;
use crate::http::table::{Capability, Route};
use crate::http::{Auth, Ctx};
use axum::Json;
use axum::extract::State;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use utoipa::OpenApi;

pub const CAPABILITY: Capability = Capability { name: "anonymous", enabled: |o| o.anonymous.enabled, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/sign-in/anonymous", || post(sign_in_anonymous)).login().limit(10),
        Route::new(Method::POST, "/delete-anonymous-user", || post(delete_anonymous_user)).signed_in().anonymous().limit(5),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(sign_in_anonymous, delete_anonymous_user),
    tags((name = "anonymous", description = "Anonymous users (`[anonymous]`); better-auth's anonymous routes.")),
)]
struct Doc;

/// A new anonymous user and its session (no body).
#[utoipa::path(post, path = "/sign-in/anonymous", tag = "anonymous",
    responses((status = 200, description = "`{ token, user }` with the session cookie; `user.isAnonymous` is true"),
              (status = 400, description = "ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY")))]
pub async fn sign_in_anonymous(State(k): State<Kavach>, Ctx(ctx): Ctx) -> ApiResult<Response> {
    let s = k.anonymous().sign_in(&ctx).await?;
    Ok(session_response(&k, json!({ "token": s.session.token, "user": s.user }), Some(&s.session), true))
}

/// Delete the signed-in anonymous user and its sessions.
#[utoipa::path(post, path = "/delete-anonymous-user", tag = "anonymous",
    responses((status = 200, description = "`{ success: true }`"), (status = 400, description = "DELETE_ANONYMOUS_USER_DISABLED"),
              (status = 401), (status = 403, description = "USER_IS_NOT_ANONYMOUS")))]
pub async fn delete_anonymous_user(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth) -> ApiResult<Response> {
    k.anonymous().delete(&a.data.user, &a.data.session, &ctx).await?;
    let mut resp = Json(json!({ "success": true })).into_response();
    resp.headers_mut().append(header::SET_COOKIE, clear_session_cookie(&k));
    Ok(resp)
}
