//! RFC 7591 dynamic client registration and RFC 7592 client management (with the
//! registration access token as a Bearer token).

use super::{error_response, json_no_store};
use crate::Kavach;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kavach_core::plugins::oauth::clients::Origin;
use kavach_core::plugins::oauth::{OAuthError, OAuthErrorCode};
use serde_json::{Value, json};

fn core_error(e: kavach_core::Error) -> Response {
    if e.is_client_error() {
        let code = if e.is(OAuthErrorCode::InvalidRedirectUri) { OAuthErrorCode::InvalidRedirectUri } else { OAuthErrorCode::InvalidClientMetadata };
        error_response(&OAuthError::new(code, e.message.to_string()), false)
    } else {
        tracing::error!(error = %e, "client registration failed");
        error_response(&OAuthError::new(OAuthErrorCode::ServerError, "registration failed"), false)
    }
}

fn parse_json(body: &Bytes) -> Result<Value, Response> {
    if crate::http::body::json_has_nul(body) {
        return Err(error_response(&OAuthError::new(OAuthErrorCode::InvalidClientMetadata, "text must not contain NUL characters"), false));
    }
    serde_json::from_slice(body)
        .map_err(|e| error_response(&OAuthError::new(OAuthErrorCode::InvalidClientMetadata, format!("the body is not JSON: {e}")), false))
}

fn management_uri(k: &Kavach, client_id: &str) -> String {
    format!("{}/oauth2/register/{client_id}", k.options().issuer())
}

/// `POST /oauth2/register`: 201 with every registered field, defaults included.
#[utoipa::path(post, path = "/oauth2/register", tag = "oauth", request_body(content = serde_json::Value, description = "RFC 7591 client metadata (`redirect_uris`, `client_name`, `grant_types`, `token_endpoint_auth_method`, ...)", content_type = "application/json"), responses((status = 201, description = "The registered client with `client_id`, `registration_access_token` and `registration_client_uri`", body = serde_json::Value), (status = 400, description = "invalid_client_metadata, invalid_redirect_uri", body = super::OAuthErrorBody)))]
pub async fn register(State(k): State<Kavach>, crate::http::Ctx(ctx): crate::http::Ctx, headers: HeaderMap, body: Bytes) -> Response {
    if !headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("application/json")) {
        return error_response(&OAuthError::new(OAuthErrorCode::InvalidClientMetadata, "send the client metadata as application/json"), false);
    }
    let meta = match parse_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match k.clients().register(&meta, Origin::Dynamic, &ctx).await {
        Ok(reg) => {
            let mut out = reg.metadata;
            if let Some(o) = out.as_object_mut() {
                o.insert("registration_client_uri".into(), json!(management_uri(&k, &reg.client_id)));
            }
            json_no_store(StatusCode::CREATED, out)
        }
        Err(e) => core_error(e),
    }
}

/// The client named in the path, if the Bearer registration access token is its own.
async fn authorized(k: &Kavach, headers: &HeaderMap, client_id: &str) -> Result<kavach_core::plugins::oauth::clients::Client, Response> {
    let unauthorized = || {
        let mut r = error_response(&OAuthError::new(OAuthErrorCode::InvalidToken, "a valid registration access token is required"), false);
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        r.headers_mut().insert(header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer error=\"invalid_token\""));
        r
    };
    let token = crate::http::authorization(headers, "Bearer").ok_or_else(unauthorized)?;
    match k.clients().check_registration_token(client_id, token).await {
        Ok(true) => {}
        Ok(false) => return Err(unauthorized()),
        Err(e) => return Err(core_error(e)),
    }
    match k.clients().get(client_id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(unauthorized()),
        Err(e) => Err(core_error(e)),
    }
}

/// `GET /oauth2/register/{client_id}` (RFC 7592 read).
#[utoipa::path(get, path = "/oauth2/register/{client_id}", tag = "oauth", params(("client_id" = String, Path)), security(("bearer" = [])), responses((status = 200, description = "The client's registered metadata (RFC 7592)", body = serde_json::Value), (status = 401, description = "Registration access token missing or wrong", body = super::OAuthErrorBody)))]
pub async fn read(State(k): State<Kavach>, Path(client_id): Path<String>, headers: HeaderMap) -> Response {
    match authorized(&k, &headers, &client_id).await {
        Ok(c) => {
            let mut out = c.metadata;
            if let Some(o) = out.as_object_mut() {
                o.insert("registration_client_uri".into(), json!(management_uri(&k, &client_id)));
            }
            json_no_store(StatusCode::OK, out)
        }
        Err(r) => r,
    }
}

/// `PUT /oauth2/register/{client_id}` (RFC 7592 update: full replacement).
#[utoipa::path(put, path = "/oauth2/register/{client_id}", tag = "oauth", params(("client_id" = String, Path)), security(("bearer" = [])), request_body(content = serde_json::Value, description = "The complete new metadata (RFC 7592 §2.2)", content_type = "application/json"), responses((status = 200, description = "The updated client", body = serde_json::Value), (status = 400, body = super::OAuthErrorBody), (status = 401, body = super::OAuthErrorBody)))]
pub async fn update(State(k): State<Kavach>, Path(client_id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorized(&k, &headers, &client_id).await {
        return r;
    }
    let meta = match parse_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if meta.get("client_id").and_then(Value::as_str) != Some(client_id.as_str()) {
        return error_response(&OAuthError::new(OAuthErrorCode::InvalidClientMetadata, "the body's client_id must be the client's"), false);
    }
    for managed in ["registration_access_token", "registration_client_uri", "client_secret_expires_at", "client_id_issued_at"] {
        if meta.get(managed).is_some() {
            return error_response(
                &OAuthError::new(OAuthErrorCode::InvalidClientMetadata, format!("{managed} is managed by the server and cannot be sent")),
                false,
            );
        }
    }
    match k.clients().update(&client_id, &meta).await {
        Ok(mut out) => {
            if let Some(o) = out.as_object_mut() {
                o.insert("registration_client_uri".into(), json!(management_uri(&k, &client_id)));
            }
            json_no_store(StatusCode::OK, out)
        }
        Err(e) => core_error(e),
    }
}

/// `DELETE /oauth2/register/{client_id}` (RFC 7592 delete): 204.
#[utoipa::path(delete, path = "/oauth2/register/{client_id}", tag = "oauth", params(("client_id" = String, Path)), security(("bearer" = [])), responses((status = 204, description = "Deleted with its grants"), (status = 401, body = super::OAuthErrorBody)))]
pub async fn delete(State(k): State<Kavach>, Path(client_id): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&k, &headers, &client_id).await {
        return r;
    }
    match k.clients().delete(&client_id).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => core_error(e),
    }
}
