//! The authorization server's part of the OpenAPI document: the request and response
//! shapes of its endpoints (forms are `application/x-www-form-urlencoded`, as RFC 6749
//! asks). The operations themselves are annotated on the handlers.

#![allow(dead_code, reason = "shapes for the OpenAPI document; the handlers parse forms with `parse_params`")]

use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// Client authentication in a form body (or `Authorization: Basic`, or
/// `private_key_jwt` with an assertion).
#[derive(Serialize, ToSchema)]
pub struct ClientAuth {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

/// `POST /oauth2/token`: `grant_type` decides which other fields apply.
#[derive(Serialize, ToSchema)]
pub struct TokenForm {
    /// `authorization_code`, `refresh_token`, `client_credentials`,
    /// `urn:ietf:params:oauth:grant-type:device_code` or (agents)
    /// `urn:ietf:params:oauth:grant-type:token-exchange`.
    pub grant_type: String,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub device_code: Option<String>,
    pub scope: Option<String>,
    /// RFC 8707 resource indicator.
    pub resource: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    /// RFC 8693 (`urn:ietf:params:oauth:grant-type:token-exchange`, agents' clients): the
    /// access token of the one the agent acts for.
    pub subject_token: Option<String>,
    /// `urn:ietf:params:oauth:token-type:access_token`.
    pub subject_token_type: Option<String>,
    /// RFC 8693: the actor's own access token (optional).
    pub actor_token: Option<String>,
    pub actor_token_type: Option<String>,
    /// RFC 8693: only `urn:ietf:params:oauth:token-type:access_token`.
    pub requested_token_type: Option<String>,
    /// RFC 8693: must be the subject token's audience.
    pub audience: Option<String>,
    /// Kavach's extension (agents): the one delegate that may exchange the issued token.
    pub may_act: Option<String>,
}

/// A token response (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// `Bearer` or `DPoP`.
    pub token_type: String,
    pub expires_in: i64,
    pub scope: Option<String>,
    pub refresh_token: Option<String>,
    /// With the `openid` scope.
    pub id_token: Option<String>,
}

/// `POST /oauth2/par` (RFC 9126): the authorization request's parameters plus client
/// authentication.
#[derive(Serialize, ToSchema)]
pub struct ParForm {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    /// `S256` only.
    pub code_challenge_method: Option<String>,
    pub resource: Option<String>,
    pub nonce: Option<String>,
    pub prompt: Option<String>,
}

/// A pushed request's handle.
#[derive(Serialize, ToSchema)]
pub struct ParResponse {
    pub request_uri: String,
    pub expires_in: i64,
}

/// `POST /oauth2/revoke` and `POST /oauth2/introspect`.
#[derive(Serialize, ToSchema)]
pub struct TokenOnlyForm {
    pub token: String,
    /// `access_token` or `refresh_token` (a hint only).
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// RFC 7662 introspection: `{ active: false }` for anything not active.
#[derive(Serialize, ToSchema)]
pub struct Introspection {
    pub active: bool,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub sub: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub aud: Option<serde_json::Value>,
    pub iss: Option<String>,
    pub token_type: Option<String>,
}

/// `POST /oauth2/device_authorization` (RFC 8628).
#[derive(Serialize, ToSchema)]
pub struct DeviceAuthorizationForm {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
}

/// The device's codes (RFC 8628 §3.2).
#[derive(Serialize, ToSchema)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// The query of `GET /oauth2/authorize` (or a `request_uri` from PAR).
#[derive(Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// `code`.
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    /// `S256`.
    pub code_challenge_method: Option<String>,
    /// RFC 8707; may repeat in a PAR body, once here.
    pub resource: Option<String>,
    pub nonce: Option<String>,
    /// `none`, `login` or `consent`.
    pub prompt: Option<String>,
    /// From `POST /oauth2/par`.
    pub request_uri: Option<String>,
}

/// A step of the hosted flow, named by its sealed `flow` handle.
#[derive(Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlowQuery {
    pub flow: Option<String>,
}

/// The hosted sign-in form.
#[derive(Serialize, ToSchema)]
pub struct SignInForm {
    pub flow: String,
    pub email: String,
    pub password: String,
    /// `on` to keep the session after the browser closes.
    pub remember: Option<String>,
}

/// The hosted consent form.
#[derive(Serialize, ToSchema)]
pub struct ConsentForm {
    pub flow: String,
    /// The form's anti-forgery token.
    pub csrf: String,
    /// `approve` or `deny`.
    pub decision: String,
    /// `on` to remember the decision for this client.
    pub remember: Option<String>,
}

/// The device page's query.
#[derive(Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserCodeQuery {
    pub user_code: Option<String>,
}

/// The device page's form.
#[derive(Serialize, ToSchema)]
pub struct DeviceForm {
    pub user_code: String,
    /// `lookup` (sign in if needed, show the request) or `decide`.
    pub step: Option<String>,
    /// `approve` or `deny` (with `step=decide`).
    pub decision: Option<String>,
    pub csrf: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
}

/// `POST /oauth2/grants/revoke`.
#[derive(Serialize, ToSchema)]
pub struct RevokeGrantBody {
    pub client_id: String,
}
