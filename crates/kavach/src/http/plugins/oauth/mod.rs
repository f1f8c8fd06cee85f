//! The authorization server's HTTP endpoints, below the base path (the issuer is
//! `base_url + base_path`): discovery, registration, authorize with the hosted
//! sign-in and consent pages, token, PAR, revocation, introspection, userinfo and
//! the user's list of authorized apps. Translation only: the rules live in
//! `kavach_core::plugins::oauth`.

pub mod authorize;
pub mod cimd;
pub mod device;
pub mod fetch;
pub mod jwks_uri;
pub mod metadata;
pub mod openapi;
pub mod register;
pub mod token;

use crate::Kavach;
pub use crate::http::no_store;
use crate::http::table::{Access, Capability, Route};
use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use kavach_core::plugins::oauth::authorize::Params;
use kavach_core::plugins::oauth::{OAuthError, OAuthErrorCode};
use utoipa::OpenApi;

pub const CAPABILITY: Capability = Capability { name: "oauth", enabled: |o| o.oauth.enabled, requires: &[], routes, openapi: Doc::openapi };

/// The endpoints browser-based clients (the MCP Inspector, SPAs) call cross-origin
/// answer CORS; the pages never do (RFC 9700 §4.16 and §2.1 of the checklist).
fn routes() -> Vec<Route> {
    use Access::{AccessToken, Client, RegistrationToken};
    vec![
        Route::new(Method::GET, DISCOVERY, || get(metadata::discovery)).cors(),
        Route::new(Method::POST, "/oauth2/register", || post(register::register)).cors().limit(20).when(|o| o.oauth.dynamic_registration),
        Route::new(Method::GET, "/oauth2/register/{client_id}", || get(register::read)).access(RegistrationToken).cors(),
        Route::new(Method::PUT, "/oauth2/register/{client_id}", || put(register::update)).access(RegistrationToken).cors(),
        Route::new(Method::DELETE, "/oauth2/register/{client_id}", || delete(register::delete)).access(RegistrationToken).cors(),
        Route::new(Method::GET, "/oauth2/authorize", || get(authorize::authorize)).reads_session(),
        Route::new(Method::GET, "/oauth2/sign-in", || get(authorize::sign_in_page)).reads_session(),
        Route::new(Method::POST, "/oauth2/sign-in", || post(authorize::sign_in)).reads_session().login().limit(10),
        Route::new(Method::GET, "/oauth2/continue", || get(authorize::continue_flow)).reads_session(),
        Route::new(Method::POST, "/oauth2/consent", || post(authorize::consent)).reads_session(),
        Route::new(Method::POST, "/oauth2/token", || post(token::token)).access(Client).cors(),
        Route::new(Method::POST, "/oauth2/par", || post(token::par)).access(Client).cors(),
        Route::new(Method::POST, "/oauth2/revoke", || post(token::revoke)).access(Client).cors(),
        Route::new(Method::POST, "/oauth2/introspect", || post(token::introspect)).access(Client).cors(),
        Route::new(Method::GET, "/oauth2/userinfo", || get(token::userinfo)).access(AccessToken).cors(),
        Route::new(Method::POST, "/oauth2/userinfo", || post(token::userinfo)).access(AccessToken).cors(),
        Route::new(Method::POST, "/oauth2/device_authorization", || post(device::device_authorization)).access(Client).cors(),
        Route::new(Method::GET, "/oauth2/device", || get(device::device_page)).reads_session(),
        Route::new(Method::POST, "/oauth2/device", || post(device::device_submit)).reads_session().login().limit(10),
        Route::new(Method::GET, "/oauth2/grants", || get(authorize::list_grants)).signed_in(),
        Route::new(Method::POST, "/oauth2/grants/revoke", || post(authorize::revoke_grant)).signed_in(),
    ]
}

/// The OpenID Connect discovery document below the base path (the issuer's own
/// `/.well-known/openid-configuration`).
pub const DISCOVERY: &str = "/.well-known/openid-configuration";
/// RFC 8414's metadata URL at the origin's root: this prefix, then the issuer's path.
pub const AS_METADATA_ROOT: &str = "/.well-known/oauth-authorization-server";

#[derive(OpenApi)]
#[openapi(
    paths(
        metadata::discovery, register::register, register::read, register::update, register::delete, authorize::authorize,
        authorize::sign_in_page, authorize::sign_in, authorize::continue_flow, authorize::consent, token::token, token::par, token::revoke,
        token::introspect, token::userinfo, device::device_authorization, device::device_page, device::device_submit, authorize::list_grants,
        authorize::revoke_grant,
    ),
    components(schemas(OAuthErrorBody)),
    tags((name = "oauth", description = "The OAuth 2.1 / OpenID Connect authorization server (`[oauth]`): the endpoints MCP clients and apps use.")),
)]
struct Doc;

/// An RFC 6749 §5.2 error.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, ...
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// The root well-known URLs (RFC 8414 path insertion, and OIDC's for an issuer with
/// a path). [`Kavach::app`] serves them; an app that mounts [`Kavach::router`]
/// itself merges [`Kavach::well_known_router`] at its root.
pub(crate) fn well_known_router<S: Clone + Send + Sync + 'static>(k: &Kavach) -> Router<S> {
    let path = k.options().base_path.trim_end_matches('/').to_owned();
    let r = Router::new().route(&format!("{AS_METADATA_ROOT}{path}"), get(metadata::discovery).options(preflight));
    // With an empty base path the API router already serves the OIDC document there.
    let r = if path.is_empty() { r } else { r.route(&format!("{DISCOVERY}{path}"), get(metadata::discovery).options(preflight)) };
    r.layer(middleware::from_fn(cors_layer)).layer(middleware::from_fn(crate::http::log::root)).with_state(k.clone())
}

const ALLOW_HEADERS: &str = "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Method, Mcp-Name, DPoP";

/// A CORS preflight: any origin, no credentials.
pub(crate) async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    r
}

/// Permissive CORS without credentials on every answer (exposing the challenge headers).
pub(crate) async fn cors_layer(req: Request, next: Next) -> Response {
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
        let dec =
            |x: &str| crate::http::body::percent_decode(x, true).map_err(|_| OAuthError::new(OAuthErrorCode::InvalidRequest, "malformed parameter encoding"));
        let (k, v) = (dec(k)?, dec(v)?);
        if out.insert(k.clone(), v).is_some() {
            return Err(OAuthError::new(OAuthErrorCode::InvalidRequest, format!("parameter {k:?} is repeated")));
        }
    }
    Ok(out)
}

/// `Authorization: Basic` client credentials (RFC 6749 §2.3.1: form-encoded id and secret).
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    use base64::Engine;
    let Some(b) = crate::http::authorization(headers, "Basic") else { return Ok(None) };
    let bad = || OAuthError::new(OAuthErrorCode::InvalidClient, "malformed Basic credentials");
    let raw = base64::engine::general_purpose::STANDARD.decode(b.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let dec = |x: &str| crate::http::body::percent_decode(x, true).map_err(|_| bad());
    Ok(Some((dec(id)?, dec(secret)?)))
}

/// An RFC 6749 §5.2 error response: JSON, `no-store`, 401 + a Basic challenge for
/// `invalid_client`, 500 for `server_error`, otherwise 400.
pub fn error_response(e: &OAuthError, basic: bool) -> Response {
    let status = match e.error {
        OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
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
