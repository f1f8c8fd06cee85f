//! The HTTP layer: routes, request parsing, middleware. It translates; the rules
//! live in `kavach_core`.

pub mod body;
pub mod client_ip;
pub mod cookies;
pub mod error;
pub mod guard;
pub mod guarded;
pub mod log;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod routes;
pub mod session;
pub mod templates;

use crate::Kavach;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use error::{ApiError, client_error};
use kavach_core::sessions::SessionWithUser;
use kavach_core::{Kind, RequestContext};
use std::sync::Arc;

/// The checked session of the current request, put in the request's extensions
/// by the session middleware (or by [`crate::RequireAuthLayer`]).
#[derive(Clone)]
pub struct Authenticated {
    pub data: Arc<SessionWithUser>,
    /// The raw session token the request carried.
    pub token: String,
    pub source: cookies::Source,
}

/// Who is calling: client IP (trusted-proxy aware) and user agent.
pub struct Ctx(pub RequestContext);

impl FromRequestParts<Kavach> for Ctx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, k: &Kavach) -> Result<Self, ApiError> {
        Ok(Ctx(request_context(k, parts)))
    }
}

pub fn request_context(k: &Kavach, parts: &Parts) -> RequestContext {
    context_of(k, &parts.extensions, &parts.headers)
}

/// The [`RequestContext`] of a request's extensions (the socket peer) and headers.
pub fn context_of(k: &Kavach, extensions: &axum::http::Extensions, headers: &axum::http::HeaderMap) -> RequestContext {
    let ip = client_ip::client_ip(client_ip::peer_of(extensions), headers, k.trusted_proxies());
    let user_agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).map(|s| s.chars().take(512).collect());
    RequestContext { ip, user_agent }
}

/// The credentials of `Authorization: <scheme> <credentials>` (scheme matched without
/// regard to case, RFC 9110 §11.1), trimmed.
pub fn authorization<'a>(headers: &'a axum::http::HeaderMap, scheme: &str) -> Option<&'a str> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (s, creds) = v.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| creds.trim())
}

/// Forbid storing a response anywhere (tokens, sessions).
pub fn no_store(r: &mut Response) {
    r.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    r.headers_mut().insert(axum::http::header::PRAGMA, axum::http::HeaderValue::from_static("no-cache"));
}

/// Requires a signed-in caller (from the session middleware).
pub struct Auth(pub Authenticated);

impl FromRequestParts<Kavach> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &Kavach) -> Result<Self, ApiError> {
        parts.extensions.remove::<Authenticated>().map(Auth).ok_or_else(|| ApiError(kavach_core::Error::unauthorized()))
    }
}

/// The signed-in caller, if any.
pub struct MaybeAuth(pub Option<Authenticated>);

impl FromRequestParts<Kavach> for MaybeAuth {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &Kavach) -> Result<Self, Self::Rejection> {
        Ok(MaybeAuth(parts.extensions.remove::<Authenticated>()))
    }
}

/// The API's routes below the base path (those a rate-limit rule can name).
pub const API_ROUTES: &[&str] = &[
    "/sign-up/email",
    "/sign-in/email",
    "/get-session",
    "/sign-out",
    "/list-sessions",
    "/revoke-session",
    "/revoke-sessions",
    "/revoke-other-sessions",
    "/update-user",
    "/change-password",
    "/change-email",
    "/send-verification-email",
    "/verify-email",
    "/request-password-reset",
    "/reset-password",
    "/delete-user",
    "/forgot-password",
    "/jwks",
    "/token",
    // The authorization server (`oauth`).
    "/.well-known/openid-configuration",
    "/oauth2/register",
    "/oauth2/authorize",
    "/oauth2/sign-in",
    "/oauth2/continue",
    "/oauth2/consent",
    "/oauth2/token",
    "/oauth2/par",
    "/oauth2/revoke",
    "/oauth2/introspect",
    "/oauth2/userinfo",
    "/oauth2/grants",
    "/oauth2/grants/revoke",
    "/oauth2/device_authorization",
    "/oauth2/device",
];

pub(crate) fn api_router<S: Clone + Send + Sync + 'static>(k: Kavach) -> Router<S> {
    Router::new()
        .route("/sign-up/email", post(routes::sign_up))
        .route("/sign-in/email", post(routes::sign_in))
        .route("/get-session", get(routes::get_session))
        .route("/sign-out", post(routes::sign_out))
        .route("/list-sessions", get(routes::list_sessions))
        .route("/revoke-session", post(routes::revoke_session))
        .route("/revoke-sessions", post(routes::revoke_sessions))
        .route("/revoke-other-sessions", post(routes::revoke_other_sessions))
        .route("/update-user", post(routes::update_user))
        .route("/change-password", post(routes::change_password))
        .route("/change-email", post(routes::change_email))
        .route("/send-verification-email", post(routes::send_verification_email))
        .route("/verify-email", get(routes::verify_email))
        .route("/request-password-reset", post(routes::request_password_reset))
        .route("/reset-password", post(routes::reset_password))
        .route("/reset-password/{token}", get(pages::reset_password_page))
        .route("/forgot-password", get(pages::forgot_password_page))
        .route("/delete-user", post(routes::delete_user))
        .route("/jwks", get(routes::jwks))
        .route("/token", get(routes::token))
        .route("/ok", get(|| async { axum::Json(serde_json::json!({ "ok": true })) }))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/docs", get(openapi::docs_page))
        .merge(oauth::router(&k))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(k.clone(), api_middleware))
        .with_state(k)
}

pub async fn not_found() -> Response {
    client_error(Kind::NotFound, "NOT_FOUND", "No such endpoint").into_response()
}

async fn method_not_allowed() -> Response {
    let mut r = client_error(Kind::BadRequest, "METHOD_NOT_ALLOWED", "This endpoint does not accept this method").into_response();
    *r.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    r
}

/// The route label of a path below the base path: the route template, so metrics
/// stay bounded whatever paths clients send.
fn route_of(path: &str) -> &'static str {
    if let Some(r) = API_ROUTES.iter().chain(OTHER_ROUTES).find(|r| **r == path) {
        return r;
    }
    if path.starts_with("/reset-password/") {
        "/reset-password/{token}"
    } else if path.starts_with("/oauth2/register/") {
        "/oauth2/register/{client_id}"
    } else {
        "unmatched"
    }
}

const OTHER_ROUTES: &[&str] = &["/ok", "/openapi.json", "/docs"];

/// Routes whose handlers take no session (see `api_middleware`).
const SESSIONLESS_ROUTES: &[&str] = &[
    "/ok",
    "/openapi.json",
    "/jwks",
    "/.well-known/openid-configuration",
    "/oauth2/register",
    "/oauth2/register/{client_id}",
    "/oauth2/token",
    "/oauth2/par",
    "/oauth2/revoke",
    "/oauth2/introspect",
    "/oauth2/userinfo",
    "/oauth2/device_authorization",
];

/// Everything that runs around every API request, in one layer: metrics, the
/// Origin check, rate limits, and resolving the session once (re-issuing the
/// cookie when its expiry moved, clearing one that names no valid session).
async fn api_middleware(State(k): State<Kavach>, req: Request, next: Next) -> Response {
    let start = std::time::Instant::now();
    // Known methods only, so clients cannot grow the metrics without bound.
    let method = match *req.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::PATCH => "PATCH",
        axum::http::Method::DELETE => "DELETE",
        _ => "OTHER",
    };
    let route = route_of(req.uri().path());
    let resp = log::logged(route, req, |req| guarded(&k, route, req, next)).await;
    k.metrics().record(method, route, resp.status().as_u16(), start.elapsed());
    resp
}

/// The guards, then the handler (with the session resolved where the route reads it).
async fn guarded(k: &Kavach, route: &'static str, req: Request, next: Next) -> Response {
    match guard::origin_check(k, route, &req) {
        Some(refused) => refused,
        // No path segment or query parameter may carry a NUL character (`%00`).
        None if req.uri().path_and_query().is_some_and(|p| p.as_str().contains("%00")) => body::nul_refused().into_response(),
        None => match guard::rate_limit(k, route, client_ip::client_ip(client_ip::peer_of(req.extensions()), req.headers(), k.trusted_proxies())).await {
            Some(refused) => refused,
            // Machine endpoints never read the session: no session lookup for their
            // Bearer/Basic credentials (registration tokens, access tokens).
            None if SESSIONLESS_ROUTES.contains(&route) => next.run(req).await,
            None => with_session(k, req, next).await,
        },
    }
}

async fn with_session(k: &Kavach, mut req: Request, next: Next) -> Response {
    let resolved = match session::resolve(k, req.extensions(), req.headers(), true).await {
        Ok(r) => r,
        Err(e) => return ApiError(e).into_response(),
    };
    if let Some(a) = resolved.auth {
        req.extensions_mut().insert(a);
    }
    let mut resp = next.run(req).await;
    session::Resolved::apply(resolved.set_cookie, k, &mut resp);
    resp
}
