//! The authorization server's HTTP endpoints, below the base path (the issuer is
//! `base_url + base_path`): discovery, registration, authorize with the hosted
//! sign-in and consent pages, token, PAR, revocation, introspection, userinfo and
//! the user's list of authorized apps. Translation only: the rules live in
//! `kavach_core::oauth`.

pub mod authorize;
pub mod cimd;
pub mod device;
pub mod fetch;
pub mod jwks_uri;
pub mod metadata;
pub mod register;
pub mod token;

use crate::Kavach;
pub use crate::http::no_store;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kavach_core::plugins::oauth::OAuthError;
use kavach_core::plugins::oauth::authorize::Params;

pub(crate) fn router(k: &Kavach) -> Router<Kavach> {
    // Browser-based clients (the MCP Inspector, SPAs) call these cross-origin.
    let cors = Router::new()
        .route("/.well-known/openid-configuration", get(metadata::discovery).options(preflight))
        .route("/oauth2/token", post(token::token).options(preflight))
        .route("/oauth2/par", post(token::par).options(preflight))
        .route("/oauth2/device_authorization", post(device::device_authorization).options(preflight))
        .route("/oauth2/revoke", post(token::revoke).options(preflight))
        .route("/oauth2/introspect", post(token::introspect).options(preflight))
        .route("/oauth2/userinfo", get(token::userinfo).post(token::userinfo).options(preflight))
        .route("/oauth2/register/{client_id}", get(register::read).put(register::update).delete(register::delete).options(preflight));
    let cors = if k.options().oauth.dynamic_registration { cors.route("/oauth2/register", post(register::register).options(preflight)) } else { cors };
    // Never CORS on the pages (RFC 9700 §4.16 and §2.1 of the checklist).
    let pages = Router::new()
        .route("/oauth2/authorize", get(authorize::authorize))
        .route("/oauth2/sign-in", get(authorize::sign_in_page).post(authorize::sign_in))
        .route("/oauth2/continue", get(authorize::continue_flow))
        .route("/oauth2/consent", post(authorize::consent))
        .route("/oauth2/device", get(device::device_page).post(device::device_submit))
        .route("/oauth2/grants", get(authorize::list_grants))
        .route("/oauth2/grants/revoke", post(authorize::revoke_grant));
    // The handlers read whole bodies (`Bytes`): hold them to the API's cap, not axum's 2 MiB.
    cors.layer(middleware::from_fn(cors_layer)).merge(pages).layer(axum::extract::DefaultBodyLimit::max(crate::http::body::MAX_BODY))
}

/// The root well-known URLs (RFC 8414 path insertion, and OIDC's for an issuer with
/// a path). [`Kavach::app`] serves them; an app that mounts [`Kavach::router`]
/// itself merges [`Kavach::well_known_router`] at its root.
pub(crate) fn well_known_router<S: Clone + Send + Sync + 'static>(k: &Kavach) -> Router<S> {
    let path = k.options().base_path.trim_end_matches('/').to_owned();
    let r = Router::new().route(&format!("/.well-known/oauth-authorization-server{path}"), get(metadata::discovery).options(preflight));
    // With an empty base path the API router already serves the OIDC document there.
    let r = if path.is_empty() { r } else { r.route(&format!("/.well-known/openid-configuration{path}"), get(metadata::discovery).options(preflight)) };
    r.layer(middleware::from_fn(cors_layer)).layer(middleware::from_fn(crate::http::log::root)).with_state(k.clone())
}

const ALLOW_HEADERS: &str = "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Method, Mcp-Name, DPoP";

/// A CORS preflight: any origin, no credentials.
async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    r
}

/// Permissive CORS without credentials on every answer (exposing the challenge headers).
async fn cors_layer(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("WWW-Authenticate, DPoP-Nonce"));
    r
}

/// Parse `application/x-www-form-urlencoded` (a body or a query string). A repeated
/// parameter is an error (RFC 6749 §3.1).
pub fn parse_params(s: &str) -> Result<Params, OAuthError> {
    let mut out = Params::new();
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |x: &str| super::body::percent_decode(x, true).map_err(|_| OAuthError::new("invalid_request", "malformed parameter encoding"));
        let (k, v) = (dec(k)?, dec(v)?);
        if out.insert(k.clone(), v).is_some() {
            return Err(OAuthError::new("invalid_request", format!("parameter {k:?} is repeated")));
        }
    }
    Ok(out)
}

/// `Authorization: Basic` client credentials (RFC 6749 §2.3.1: form-encoded id and secret).
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    use base64::Engine;
    let Some(b) = crate::http::authorization(headers, "Basic") else { return Ok(None) };
    let bad = || OAuthError::new("invalid_client", "malformed Basic credentials");
    let raw = base64::engine::general_purpose::STANDARD.decode(b.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let dec = |x: &str| super::body::percent_decode(x, true).map_err(|_| bad());
    Ok(Some((dec(id)?, dec(secret)?)))
}

/// An RFC 6749 §5.2 error response: JSON, `no-store`, 401 + a Basic challenge for
/// `invalid_client`, 500 for `server_error`, otherwise 400.
pub fn error_response(e: &OAuthError, basic: bool) -> Response {
    let status = match e.error {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut r = (status, axum::Json(serde_json::json!({ "error": e.error, "error_description": e.description }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        let challenge = if basic { "Basic realm=\"kavach\"" } else { "Bearer" };
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    no_store(&mut r);
    r
}

pub fn json_no_store(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    no_store(&mut r);
    r
}
