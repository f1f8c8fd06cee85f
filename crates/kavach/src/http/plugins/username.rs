//! Usernames over HTTP (`[username]`): better-auth's `username()` routes and bodies
//! (`POST /sign-in/username`, `POST /is-username-available`, and `username` /
//! `displayUsername` on `/sign-up/email` and `/update-user`), so `usernameClient()`
//! works unchanged.

use crate::Kavach;
use crate::http::Ctx;
use crate::http::body::{Body, JsonOrForm};
use crate::http::error::ApiResult;
use crate::http::table::{Capability, Route};
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "username", enabled: |o| o.username.enabled, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/sign-in/username", || post(sign_in_username)).login().limit(10),
        Route::new(Method::POST, "/is-username-available", || post(is_username_available)).limit(30),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(sign_in_username, is_username_available),
    components(schemas(SignInUsernameBody, UsernameBody)),
    tags((name = "username", description = "Usernames besides emails (`[username]`); better-auth's username routes.")),
)]
struct Doc;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignInUsernameBody {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub remember_me: Option<bool>,
    #[serde(default, rename = "callbackURL")]
    pub callback_url: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsernameBody {
    pub username: String,
}

/// Sign in with a username and password (the same answer as `/sign-in/email`).
#[utoipa::path(post, path = "/sign-in/username", request_body = SignInUsernameBody, tag = "username",
    responses((status = 200, description = "`{ redirect, token, url, user }` and the session cookie, or `{ twoFactorRedirect, twoFactorMethods }`"),
              (status = 401, description = "INVALID_USERNAME_OR_PASSWORD"), (status = 403, description = "EMAIL_NOT_VERIFIED, BANNED_USER"),
              (status = 422, description = "USERNAME_TOO_SHORT, USERNAME_TOO_LONG, INVALID_USERNAME"), (status = 429, description = "Too many failed attempts")))]
pub async fn sign_in_username(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): JsonOrForm<SignInUsernameBody>) -> ApiResult<Response> {
    if let Some(cb) = &b.callback_url {
        k.check_callback_url(cb)?;
    }
    let res = k.usernames().sign_in(&b.username, &b.password, &ctx).await;
    super::email_password::sign_in_answer(&k, res, b.callback_url, b.remember_me != Some(false))
}

/// Is a username free? (Reserved names are not.)
#[utoipa::path(post, path = "/is-username-available", request_body = UsernameBody, tag = "username",
    responses((status = 200, description = "`{ available }`"), (status = 422, description = "USERNAME_TOO_SHORT, USERNAME_TOO_LONG, INVALID_USERNAME")))]
pub async fn is_username_available(State(k): State<Kavach>, Body(b): Body<UsernameBody>) -> ApiResult<Response> {
    let available = k.usernames().is_available(&b.username).await?;
    Ok(Json(json!({ "available": available })).into_response())
}
