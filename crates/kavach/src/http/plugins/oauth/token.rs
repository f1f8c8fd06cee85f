//! The token endpoint, PAR, revocation, introspection and userinfo: parse the form,
//! authenticate the client, call the core, answer in RFC 6749 §5 form.

use super::{basic_credentials, error_response, json_no_store, parse_params};
use crate::Kavach;
use crate::http::Ctx;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kavach_core::plugins::oauth::authorize::Params;
use kavach_core::plugins::oauth::clients::Client;
use kavach_core::plugins::oauth::tokens::Credentials;
use kavach_core::plugins::oauth::{OAuthError, OAuthErrorCode};
use serde_json::json;

/// Parse the form and authenticate the client; `endpoint` is the path below the issuer.
pub(crate) async fn client_request(k: &Kavach, headers: &HeaderMap, body: &Bytes, endpoint: &str) -> Result<(Client, Params), Response> {
    let basic = basic_credentials(headers).map_err(|e| error_response(&e, true))?;
    let uses_basic = basic.is_some();
    if !headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/x-www-form-urlencoded")) {
        return Err(error_response(&OAuthError::new(OAuthErrorCode::InvalidRequest, "send the parameters as application/x-www-form-urlencoded"), uses_basic));
    }
    let form = std::str::from_utf8(body)
        .map_err(|_| OAuthError::new(OAuthErrorCode::InvalidRequest, "the body is not UTF-8"))
        .and_then(parse_params)
        .map_err(|e| error_response(&e, uses_basic))?;
    // The client is named by client_id, or (private_key_jwt) by the assertion's issuer.
    let assertion = form.get("client_assertion").and_then(|a| kavach_core::jwt::peek(a));
    let named = basic
        .as_ref()
        .map(|(id, _)| id.as_str())
        .or(form.get("client_id").map(String::as_str))
        .or_else(|| assertion.as_ref().and_then(|(_, c)| c.get("iss")?.as_str()));
    // The client's row is read once here and handed on (a metadata document is fetched
    // first if it is not stored or stale).
    let known = match named {
        Some(id) => super::cimd::load(k, id).await.map_err(|e| error_response(&e, uses_basic))?,
        None => None,
    };
    if let (Some(c), Some((header, _))) = (&known, &assertion) {
        super::jwks_uri::ensure(k, c, header.get("kid").and_then(|v| v.as_str())).await.map_err(|e| error_response(&e, uses_basic))?;
    }
    let creds = Credentials::from_form(basic, &form);
    let audience = format!("{}{endpoint}", k.options().issuer());
    let client = k.tokens().authenticate_known(&creds, &audience, known).await.map_err(|e| error_response(&e, uses_basic))?;
    Ok((client, form))
}

/// The request's one DPoP proof, if any (several, or one that is not text, is an error).
fn dpop_header(headers: &HeaderMap) -> Result<Option<String>, Response> {
    match headers.get_all("dpop").iter().collect::<Vec<_>>().as_slice() {
        [] => Ok(None),
        [one] => match one.to_str() {
            Ok(p) => Ok(Some(p.to_owned())),
            Err(_) => Err(error_response(&OAuthError::new(OAuthErrorCode::InvalidDpopProof, "malformed DPoP header"), false)),
        },
        _ => Err(error_response(&OAuthError::new(OAuthErrorCode::InvalidDpopProof, "send exactly one DPoP proof"), false)),
    }
}

/// A request that sent a DPoP proof learns the current server nonce from every answer
/// (RFC 9449 §8.2), when nonces are required.
fn with_dpop_nonce(k: &Kavach, sent_proof: bool, mut r: Response) -> Response {
    if sent_proof
        && let Some(n) = k.tokens().dpop_nonce()
        && let Ok(v) = HeaderValue::from_str(&n)
    {
        r.headers_mut().insert("dpop-nonce", v);
    }
    r
}

/// `POST /oauth2/token`.
#[utoipa::path(post, path = "/oauth2/token", tag = "oauth", request_body(content = super::openapi::TokenForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "Tokens (`no-store`)", body = super::openapi::TokenResponse), (status = 400, description = "invalid_request, invalid_grant, unsupported_grant_type, invalid_scope, invalid_target, invalid_dpop_proof, use_dpop_nonce", body = super::OAuthErrorBody), (status = 401, description = "invalid_client", body = super::OAuthErrorBody)))]
pub async fn token(State(k): State<Kavach>, Ctx(ctx): Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let (client, form) = match client_request(&k, &headers, &body, "/oauth2/token").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let dpop = match dpop_header(&headers) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let answer = match k.tokens().grant(&client, &form, dpop.as_deref(), &ctx).await {
        Ok(body) => json_no_store(StatusCode::OK, body),
        Err(e) => error_response(&e, false),
    };
    with_dpop_nonce(&k, dpop.is_some(), answer)
}

/// `POST /oauth2/par` (RFC 9126): 201 with a single-use `request_uri`. A DPoP proof sent
/// with it binds the code to the proof's key (RFC 9449 §10.1).
#[utoipa::path(post, path = "/oauth2/par", tag = "oauth", request_body(content = super::openapi::ParForm, content_type = "application/x-www-form-urlencoded"), responses((status = 201, description = "The single-use `request_uri`", body = super::openapi::ParResponse), (status = 400, body = super::OAuthErrorBody), (status = 401, description = "invalid_client", body = super::OAuthErrorBody)))]
pub async fn par(State(k): State<Kavach>, headers: HeaderMap, body: Bytes) -> Response {
    let (client, mut form) = match client_request(&k, &headers, &body, "/oauth2/par").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    for auth in ["client_id", "client_secret", "client_assertion", "client_assertion_type"] {
        form.remove(auth);
    }
    let dpop = match dpop_header(&headers) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let pushed = async {
        let jkt = match &dpop {
            Some(p) => Some(k.tokens().check_dpop(p, "POST", &k.options().api_url("/oauth2/par"), None).await?),
            None => None,
        };
        k.authorize().push(&client.client_id, &form, jkt.as_deref()).await
    };
    let answer = match pushed.await {
        Ok((request_uri, expires_in)) => json_no_store(StatusCode::CREATED, json!({ "request_uri": request_uri, "expires_in": expires_in })),
        Err(e) => error_response(&e, false),
    };
    with_dpop_nonce(&k, dpop.is_some(), answer)
}

/// `POST /oauth2/revoke` (RFC 7009): 200 whatever the token was.
#[utoipa::path(post, path = "/oauth2/revoke", tag = "oauth", request_body(content = super::openapi::TokenOnlyForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "`{}` whatever the token was (RFC 7009)", body = serde_json::Value), (status = 400, body = super::OAuthErrorBody), (status = 401, description = "invalid_client", body = super::OAuthErrorBody)))]
pub async fn revoke(State(k): State<Kavach>, Ctx(ctx): Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let (client, form) = match client_request(&k, &headers, &body, "/oauth2/revoke").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(token) = form.get("token") else { return error_response(&OAuthError::new(OAuthErrorCode::InvalidRequest, "token is required"), false) };
    match k.tokens().revoke(&client, token, &ctx).await {
        Ok(()) => json_no_store(StatusCode::OK, json!({})),
        Err(e) => error_response(&e, false),
    }
}

/// `POST /oauth2/introspect` (RFC 7662), for authenticated confidential clients.
#[utoipa::path(post, path = "/oauth2/introspect", tag = "oauth", request_body(content = super::openapi::TokenOnlyForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "RFC 7662", body = super::openapi::Introspection), (status = 400, body = super::OAuthErrorBody), (status = 401, description = "invalid_client (confidential clients only)", body = super::OAuthErrorBody)))]
pub async fn introspect(State(k): State<Kavach>, headers: HeaderMap, body: Bytes) -> Response {
    let (client, form) = match client_request(&k, &headers, &body, "/oauth2/introspect").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(token) = form.get("token") else { return error_response(&OAuthError::new(OAuthErrorCode::InvalidRequest, "token is required"), false) };
    match k.tokens().introspect(&client, token).await {
        Ok(body) => json_no_store(StatusCode::OK, body),
        Err(e) => error_response(&e, true),
    }
}

/// `GET|POST /oauth2/userinfo` (OpenID Connect Core §5.3): a Bearer access token, or
/// a DPoP-bound one with the DPoP scheme and a proof.
#[utoipa::path(method(get, post), path = "/oauth2/userinfo", tag = "oauth", security(("bearer" = [])), responses((status = 200, description = "OpenID Connect claims of the token's user", body = serde_json::Value), (status = 401, description = "invalid_token, with `WWW-Authenticate`", body = super::OAuthErrorBody), (status = 403, description = "insufficient_scope", body = super::OAuthErrorBody)))]
pub async fn userinfo(State(k): State<Kavach>, method: axum::http::Method, headers: HeaderMap) -> Response {
    let (token, dpop_scheme) = match (crate::http::authorization(&headers, "Bearer"), crate::http::authorization(&headers, "DPoP")) {
        (Some(t), _) => (Some(t), false),
        (None, Some(t)) => (Some(t), true),
        _ => (None, false),
    };
    // RFC 6750 §3 / RFC 9449 §7.1: `<scheme> param="…", param="…"` (a space after the
    // scheme, commas between parameters). A DPoP-bound token sent as Bearer is told to
    // use the DPoP scheme.
    let challenge = |status: StatusCode, error: Option<OAuthErrorCode>, desc: &str| {
        let mut r = (status, axum::Json(json!({ "error": error.map_or("", OAuthErrorCode::as_str), "error_description": desc }))).into_response();
        let dpop = dpop_scheme || desc == kavach_core::plugins::oauth::tokens::DPOP_BOUND_AS_BEARER;
        let mut params: Vec<String> = Vec::new();
        if dpop {
            params.push(format!("algs=\"{}\"", kavach_core::plugins::oauth::dpop::ALGS.join(" ")));
        }
        if let Some(error) = error {
            params.push(format!("error=\"{error}\""));
            params.push(format!("error_description=\"{}\"", desc.replace(['"', '\\'], "'")));
        }
        let scheme = if dpop { "DPoP" } else { "Bearer" };
        let v = if params.is_empty() { scheme.to_owned() } else { format!("{scheme} {}", params.join(", ")) };
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        super::no_store(&mut r);
        with_dpop_nonce(&k, dpop_scheme, r)
    };
    let Some(token) = token else { return challenge(StatusCode::UNAUTHORIZED, None, "") };
    let proof = headers.get("dpop").and_then(|v| v.to_str().ok());
    let url = k.options().api_url("/oauth2/userinfo");
    let dpop = match (dpop_scheme, proof) {
        (true, Some(p)) => Some((p, method.as_str(), url.as_str())),
        (true, None) => return challenge(StatusCode::UNAUTHORIZED, Some(OAuthErrorCode::InvalidToken), "the DPoP scheme needs a DPoP proof header"),
        (false, _) => None,
    };
    match k.tokens().userinfo(token, dpop).await {
        Ok(body) => with_dpop_nonce(&k, dpop_scheme, json_no_store(StatusCode::OK, body)),
        Err(e) if e.error == OAuthErrorCode::InsufficientScope => challenge(StatusCode::FORBIDDEN, Some(e.error), &e.description),
        Err(e) if e.error == OAuthErrorCode::UseDpopNonce => challenge(StatusCode::UNAUTHORIZED, Some(e.error), &e.description),
        Err(e) if e.error == OAuthErrorCode::ServerError => error_response(&e, false),
        Err(e) => challenge(StatusCode::UNAUTHORIZED, Some(OAuthErrorCode::InvalidToken), &e.description),
    }
}
