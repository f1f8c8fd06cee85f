//! The HTTP layer: routes, request parsing, middleware. It translates; the rules
//! live in `kavach_core`.

pub mod body;
pub mod client_ip;
pub mod cookies;
pub mod error;
pub mod guard;
pub mod guarded;
pub mod kernel;
pub mod log;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod plugins;
pub mod session;
pub mod table;
pub mod templates;

use crate::Kavach;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use error::{ApiError, client_error};
use kavach_core::sessions::SessionWithUser;
use kavach_core::{Code, Kind, RequestContext};
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
    // Read only where it can count: a sign-in of a user with two-factor on.
    let trusted_device = if k.options().two_factor.enabled { cookies::signed(k, headers, cookies::TRUST_DEVICE) } else { None };
    let session_token = if k.options().anonymous.enabled { cookies::session_token(k, headers).map(|(t, _)| t) } else { None };
    RequestContext { ip, user_agent, trusted_device, session_token }
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

/// The API router, derived from the route table of the enabled capabilities: one
/// method router per path (CORS and its preflight where a route of the path asks for
/// it), then the middleware that every API request goes through.
pub(crate) fn api_router<S: Clone + Send + Sync + 'static>(k: Kavach) -> Router<S> {
    let routes = table::routes(k.options());
    let mut paths: Vec<&'static str> = Vec::new();
    for r in &routes {
        if !paths.contains(&r.path) {
            paths.push(r.path);
        }
    }
    let mut router = Router::new();
    for path in paths {
        let mut methods: Option<MethodRouter<Kavach>> = None;
        let mut cors = false;
        for r in routes.iter().filter(|r| r.path == path && (r.when)(k.options())) {
            cors |= r.cors;
            let m = (r.handler)();
            methods = Some(match methods {
                Some(prev) => prev.merge(m),
                None => m,
            });
        }
        let Some(methods) = methods else { continue };
        let methods = if cors { methods.options(plugins::oauth::preflight).layer(middleware::from_fn(plugins::oauth::cors_layer)) } else { methods };
        router = router.route(path, methods);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Handlers that read whole bodies are held to the API's cap, not axum's 2 MiB.
        .layer(axum::extract::DefaultBodyLimit::max(body::MAX_BODY))
        .layer(middleware::from_fn_with_state(k.clone(), api_middleware))
        .with_state(k)
}

pub async fn not_found() -> Response {
    client_error(Kind::NotFound, Code::NotFound, "No such endpoint").into_response()
}

async fn method_not_allowed() -> Response {
    let mut r = client_error(Kind::BadRequest, Code::MethodNotAllowed, "This endpoint does not accept this method").into_response();
    *r.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    r
}

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
    let facts = k.route_table().facts(req.uri().path());
    let route = facts.map_or("unmatched", |f| f.template);
    let resp = log::logged(route, req, |req| guarded(&k, facts, req, next)).await;
    k.metrics().record(method, route, resp.status().as_u16(), start.elapsed());
    resp
}

/// The guards, then the handler (with the session resolved where the route reads it,
/// and refused without one where the route needs it).
async fn guarded(k: &Kavach, facts: Option<table::Facts>, req: Request, next: Next) -> Response {
    if let Some(refused) = guard::origin_check(k, facts.is_some_and(|f| f.login), &req) {
        return refused;
    }
    // No path segment or query parameter may carry a NUL character (`%00`).
    if req.uri().path_and_query().is_some_and(|p| p.as_str().contains("%00")) {
        return body::nul_refused().into_response();
    }
    let Some(facts) = facts else { return next.run(req).await };
    if let Some(refused) =
        guard::rate_limit(k, facts.template, client_ip::client_ip(client_ip::peer_of(req.extensions()), req.headers(), k.trusted_proxies())).await
    {
        return refused;
    }
    // Machine endpoints never read the session: no session lookup for their
    // Bearer/Basic credentials (registration tokens, access tokens).
    if !facts.session {
        return next.run(req).await;
    }
    with_session(k, facts, req, next).await
}

async fn with_session(k: &Kavach, facts: table::Facts, mut req: Request, next: Next) -> Response {
    let (required, anonymous_ok) = (facts.access == table::Access::Session, facts.anonymous);
    let mut resolved = match session::resolve(k, req.extensions(), req.headers(), true).await {
        Ok(r) => r,
        Err(e) => return ApiError(e).into_response(),
    };
    if resolved.auth.is_none() {
        match session::from_api_key(k, facts.template, req.headers()).await {
            Ok(a) => resolved.auth = a,
            Err(e) => return ApiError(e).into_response(),
        }
    }
    // An anonymous user (`[anonymous]`) counts as signed in only where the route lets
    // anonymous users in: elsewhere a route that needs a session refuses it, and one that
    // only reads the session (the hosted OAuth pages, for instance) sees a visitor.
    let anonymous_here = !anonymous_ok && resolved.auth.as_ref().is_some_and(|a| a.data.user.is_anonymous);
    let anonymous_refused = required && anonymous_here;
    let auth = if anonymous_here { None } else { resolved.auth };
    let signed_in = auth.is_some() || anonymous_refused;
    if let Some(a) = auth {
        req.extensions_mut().insert(a);
    }
    let mut resp = if required && !signed_in {
        ApiError(kavach_core::Error::unauthorized()).into_response()
    } else if anonymous_refused {
        ApiError(kavach_core::Error::forbidden(kavach_core::Code::AnonymousUserNotAllowed, "Anonymous users cannot do this: sign in or sign up first"))
            .into_response()
    } else {
        next.run(req).await
    };
    session::Resolved::apply(resolved.set_cookie, k, &mut resp);
    resp
}
