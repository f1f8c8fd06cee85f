//! The kernel's endpoints: the session (get, sign out, list, revoke), the user's own
//! account (update, delete), session JWTs and their keys, and the API's own
//! description (`/ok`, `/openapi.json`, `/docs`). Always on; every capability builds
//! on them. Wire-compatible with better-auth 1.7.

use super::body::Body;
use super::cookies::{self, clear_session_cookie, set_session_cookie};
use super::error::{ApiResult, client_error};
use super::table::{Capability, Route};
use super::{Auth, Ctx, MaybeAuth, no_store, openapi};
use crate::Kavach;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kavach_core::sessions::{NewSession, Session, SessionWithUser};
use kavach_core::{Code, Kind};
use serde::Deserialize;
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "kernel", enabled: |_| true, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/get-session", || get(get_session)).reads_session().anonymous(),
        Route::new(Method::POST, "/sign-out", || post(sign_out)).reads_session().anonymous(),
        Route::new(Method::GET, "/list-sessions", || get(list_sessions)).signed_in().anonymous(),
        Route::new(Method::POST, "/revoke-session", || post(revoke_session)).signed_in().anonymous(),
        Route::new(Method::POST, "/revoke-sessions", || post(revoke_sessions)).signed_in().anonymous(),
        Route::new(Method::POST, "/revoke-other-sessions", || post(revoke_other_sessions)).signed_in().anonymous(),
        Route::new(Method::POST, "/update-user", || post(update_user)).signed_in().anonymous(),
        Route::new(Method::POST, "/delete-user", || post(delete_user)).signed_in().limit(5),
        Route::new(Method::GET, "/token", || get(token)).signed_in().anonymous(),
        Route::new(Method::GET, "/jwks", || get(jwks)),
        Route::new(Method::GET, "/ok", || get(ok)),
        Route::new(Method::GET, "/openapi.json", || get(openapi::openapi_json)),
        Route::new(Method::GET, "/docs", || get(openapi::docs_page)),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(get_session, sign_out, list_sessions, revoke_session, revoke_sessions, revoke_other_sessions, update_user, delete_user, token, jwks, ok,
          openapi::openapi_json, openapi::docs_page),
    components(schemas(kavach_core::User, kavach_core::Session, kavach_core::SessionWithUser)),
    tags((name = "session", description = "The signed-in session."), (name = "user", description = "The signed-in user's account."),
         (name = "jwt", description = "Short-lived JWTs for the session, and the keys that verify them."),
         (name = "meta", description = "This API's own description and liveness.")),
)]
struct Doc;

/// Always `{ ok: true }` (better-auth's liveness route).
#[utoipa::path(get, path = "/ok", tag = "meta", responses((status = 200, description = "`{ ok: true }`", body = serde_json::Value)))]
pub async fn ok() -> Json<serde_json::Value> {
    Json(json!({ "ok": true }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeSessionBody {
    /// The session's `token` field from `/list-sessions` (or the session token itself).
    pub token: String,
}

/// The other members of the body are additional fields (`[user.additional_fields]`):
/// each must be declared, settable by requests and of its type.
#[derive(Deserialize, ToSchema)]
pub struct UpdateUserBody {
    #[serde(default)]
    pub name: Option<String>,
    /// A URL, or `null` to remove the image.
    #[serde(default, deserialize_with = "crate::http::body::null_removes")]
    #[schema(value_type = Option<String>)]
    pub image: Option<Option<String>>,
    /// A new username (`[username]` on), with its display form (default: as typed).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default, rename = "displayUsername")]
    pub display_username: Option<String>,
    /// Additional fields (`null` removes one).
    #[serde(flatten)]
    #[schema(ignore)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteUserBody {
    /// Required unless the session is fresh.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default, rename = "callbackURL")]
    pub callback_url: Option<String>,
}

/// The answer of every route that signs someone in: the JSON `body` plus a `Set-Cookie` (and `set-auth-token`, as better-auth's
/// bearer plugin sends) for a new session.
pub(crate) fn session_response(k: &Kavach, body: serde_json::Value, s: Option<&NewSession>, persistent: bool) -> Response {
    let mut resp = Json(body).into_response();
    if let Some(s) = s {
        let h = resp.headers_mut();
        h.append(header::SET_COOKIE, set_session_cookie(k, &s.token, persistent));
        h.append(header::SET_COOKIE, cookies::set_dont_remember(k, !persistent));
        if let Ok(v) = HeaderValue::from_str(&k.secrets().sign_token(&s.token)) {
            h.insert("set-auth-token", v);
            h.insert("access-control-expose-headers", HeaderValue::from_static("set-auth-token"));
        }
    }
    no_store(&mut resp);
    resp
}

/// The public keys that sign Kavach's JWTs (JWKS, RFC 7517).
#[utoipa::path(get, path = "/jwks", tag = "jwt", responses((status = 200, description = "`{ keys: [JWK] }`")))]
pub async fn jwks(State(k): State<Kavach>) -> ApiResult<Response> {
    let body = k.keys().jwks().await?;
    let mut resp = ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], JsonBody(body)).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    Ok(resp)
}

/// A short-lived JWT for the signed-in session (EdDSA, verifiable with `/jwks`):
/// `sub` is the user id, `iss` and `aud` the base URL's origin, plus the user's
/// email, name and verification status.
#[utoipa::path(get, path = "/token", tag = "jwt", responses((status = 200, description = "`{ token }`"), (status = 401)))]
pub async fn token(State(k): State<Kavach>, Auth(a): Auth) -> ApiResult<Response> {
    let now = kavach_core::store::Ts::now().millis() / 1000;
    let u = &a.data.user;
    let origin = k.options().origin();
    let mut claims = serde_json::Map::new();
    // `[jwt.claims]`, then the builder's hook, then Kavach's own (which nothing replaces).
    crate::hooks::mapped_claims(&k, &a.data, &mut claims).await?;
    if let Some(hook) = &k.hooks().jwt_claims {
        claims.extend(hook(a.data.clone()).await?);
    }
    let own = json!({
        "iss": origin, "aud": origin, "sub": u.id, "iat": now, "nbf": now,
        "exp": now + k.options().jwt.expires_in.as_secs() as i64,
        "sid": a.data.session.id, "email": u.email, "name": u.name, "emailVerified": u.email_verified,
        "image": u.image,
    });
    for name in crate::hooks::RESERVED_CLAIMS {
        claims.remove(*name);
    }
    if let serde_json::Value::Object(own) = own {
        claims.extend(own);
    }
    let token = k.keys().sign(kavach_core::jwt::Alg::EdDSA, "JWT", &serde_json::Value::Object(claims)).await?;
    let mut resp = Json(json!({ "token": token })).into_response();
    no_store(&mut resp);
    Ok(resp)
}

/// A pre-rendered JSON body shared without copying.
struct JsonBody(std::sync::Arc<str>);

impl IntoResponse for JsonBody {
    fn into_response(self) -> Response {
        struct Owner(std::sync::Arc<str>);
        impl AsRef<[u8]> for Owner {
            fn as_ref(&self) -> &[u8] {
                self.0.as_bytes()
            }
        }
        axum::body::Body::from(axum::body::Bytes::from_owner(Owner(self.0))).into_response()
    }
}

/// The current session and user, or `null`.
#[utoipa::path(get, path = "/get-session", tag = "session",
    responses((status = 200, description = "`{ session, user }` or `null`", body = Option<SessionWithUser>)))]
pub async fn get_session(State(k): State<Kavach>, MaybeAuth(auth): MaybeAuth) -> ApiResult<Response> {
    let mut resp = match (auth, &k.hooks().custom_session) {
        // The builder's customSession hook adds fields; `session` and `user` stay Kavach's.
        (Some(a), Some(hook)) => {
            let mut extra = hook(a.data.clone()).await?;
            let mut v = serde_json::to_value(&*a.data).map_err(|e| kavach_core::Error::internal("serialising the session").with_source(e))?;
            if let Some(o) = v.as_object_mut() {
                extra.remove("session");
                extra.remove("user");
                o.extend(extra);
            }
            Json(v).into_response()
        }
        (Some(a), None) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], JsonBody(a.data.json())).into_response(),
        (None, _) => Json(serde_json::Value::Null).into_response(),
    };
    no_store(&mut resp);
    Ok(resp)
}

/// End the current session.
#[utoipa::path(post, path = "/sign-out", tag = "session", responses((status = 200, description = "`{ success: true }`")))]
pub async fn sign_out(State(k): State<Kavach>, Ctx(ctx): Ctx, MaybeAuth(auth): MaybeAuth, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(a) = auth {
        k.sessions().sign_out(&a.data.session, &ctx).await?;
    }
    let mut resp = Json(json!({ "success": true })).into_response();
    resp.headers_mut().append(header::SET_COOKIE, clear_session_cookie(&k));
    resp.headers_mut().append(header::SET_COOKIE, cookies::set_dont_remember(&k, false));
    // During the better-auth transition, sign-out also ends the migrated session and
    // clears the old cookie, or it would sign the browser straight back in.
    if let Some(cfg) = k.external().better_auth() {
        for name in cfg.cookie_names() {
            let Some(v) = cookies::cookie(&headers, &name) else { continue };
            if let Some(token) = super::body::percent_decode(v, false).ok().and_then(|v| k.external().better_auth_token(&v)) {
                k.external().revoke_better_auth_session(&token).await?;
            }
            let secure = if name.starts_with("__Secure-") { "; Secure" } else { "" };
            if let Ok(c) = HeaderValue::from_str(&format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")) {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
        }
    }
    Ok(resp)
}

/// The signed-in user's active sessions.
#[utoipa::path(get, path = "/list-sessions", tag = "session", responses((status = 200, body = Vec<Session>), (status = 401)))]
pub async fn list_sessions(State(k): State<Kavach>, Auth(a): Auth) -> ApiResult<Json<Vec<Session>>> {
    Ok(Json(k.sessions().list(&a.data.user.id).await?))
}

/// Revoke one of the signed-in user's sessions.
#[utoipa::path(post, path = "/revoke-session", request_body = RevokeSessionBody, tag = "session",
    responses((status = 200, description = "`{ status: true }`"), (status = 401), (status = 404)))]
pub async fn revoke_session(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<RevokeSessionBody>) -> ApiResult<Response> {
    if !k.sessions().revoke(&a.data.user.id, &b.token, &ctx).await? {
        return Err(client_error(Kind::NotFound, Code::SessionNotFound, "No such session for this user"));
    }
    Ok(Json(json!({ "status": true })).into_response())
}

/// Revoke all of the signed-in user's sessions (including this one).
#[utoipa::path(post, path = "/revoke-sessions", tag = "session", responses((status = 200, description = "`{ status: true }`"), (status = 401)))]
pub async fn revoke_sessions(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth) -> ApiResult<Response> {
    k.sessions().revoke_user(&a.data.user.id, &ctx).await?;
    let mut resp = Json(json!({ "status": true })).into_response();
    resp.headers_mut().append(header::SET_COOKIE, clear_session_cookie(&k));
    Ok(resp)
}

/// Revoke every session of the signed-in user except this one.
#[utoipa::path(post, path = "/revoke-other-sessions", tag = "session", responses((status = 200, description = "`{ status: true }`"), (status = 401)))]
pub async fn revoke_other_sessions(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth) -> ApiResult<Response> {
    k.sessions().revoke_others(&a.data.session, &ctx).await?;
    Ok(Json(json!({ "status": true })).into_response())
}

/// Change the signed-in user's name, image or username (not the email: see `/change-email`).
#[utoipa::path(post, path = "/update-user", request_body = UpdateUserBody, tag = "user",
    responses((status = 200, description = "`{ status: true }`"), (status = 400), (status = 401)))]
pub async fn update_user(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<UpdateUserBody>) -> ApiResult<Response> {
    if b.name.is_none() && b.image.is_none() && b.username.is_none() && b.display_username.is_none() && b.fields.is_empty() {
        return Err(client_error(Kind::BadRequest, Code::NoFieldsToUpdate, "Send name, image, username and/or additional fields"));
    }
    let fields = (!b.fields.is_empty()).then_some(&b.fields);
    let image = b.image.as_ref().map(|i| i.as_deref());
    // A display form alone changes the spelling of the current username.
    let username = b.username.as_deref().or(b.display_username.as_ref().and(a.data.user.username.as_deref()));
    match username {
        Some(u) => {
            k.usernames().update_user(&a.data.user, b.name.as_deref(), image, (u, b.display_username.as_deref()), fields, &ctx).await?;
        }
        None if b.display_username.is_some() => return Err(client_error(Kind::BadRequest, Code::ValidationError, "displayUsername needs a username")),
        None => {
            k.users().update_from_request(&a.data.user.id, b.name.as_deref(), image, fields, &ctx).await?;
        }
    }
    Ok(Json(json!({ "status": true })).into_response())
}

/// Delete the signed-in user (needs the password or a fresh session).
#[utoipa::path(post, path = "/delete-user", request_body = DeleteUserBody, tag = "user",
    responses((status = 200, description = "`{ success: true, message }`"), (status = 400, description = "INVALID_PASSWORD"),
              (status = 401), (status = 403, description = "SESSION_NOT_FRESH")))]
pub async fn delete_user(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<DeleteUserBody>) -> ApiResult<Response> {
    if let Some(cb) = &b.callback_url {
        k.check_callback_url(cb)?;
    }
    k.users().delete_self(&a.data.session, b.password.as_deref(), &ctx).await?;
    let mut resp = Json(json!({ "success": true, "message": "User deleted" })).into_response();
    resp.headers_mut().append(header::SET_COOKIE, clear_session_cookie(&k));
    Ok(resp)
}
