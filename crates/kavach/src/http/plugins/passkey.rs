//! Passkeys over HTTP (`[passkey]`): better-auth's `passkey()` routes and bodies, so
//! `passkeyClient()` (`passkey.addPasskey`, `signIn.passkey`, `passkey.listUserPasskeys`,
//! `updatePasskey`, `deletePasskey`) works unchanged. Each ceremony is two requests: the
//! options, with a signed cookie naming the ceremony's server-side state, then the
//! browser's answer, which uses that state up.

use crate::Kavach;
use crate::http::body::Body;
use crate::http::cookies::{self, PASSKEY};
use crate::http::error::ApiResult;
use crate::http::plugins::email_password::sign_in_answer_with;
use crate::http::table::{Capability, Route};
use crate::http::{Auth, Ctx};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kavach_core::Error;
use kavach_core::error::Code;
use kavach_core::plugins::passkey::{Challenge, Passkey};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "passkey", enabled: |o| o.passkey.enabled, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/passkey/generate-register-options", || get(generate_register_options)).signed_in().limit(30),
        Route::new(Method::POST, "/passkey/verify-registration", || post(verify_registration)).signed_in().limit(10),
        Route::new(Method::GET, "/passkey/generate-authenticate-options", || get(generate_authenticate_options)).limit(30),
        Route::new(Method::POST, "/passkey/verify-authentication", || post(verify_authentication)).login().limit(10),
        Route::new(Method::GET, "/passkey/list-user-passkeys", || get(list_user_passkeys)).signed_in(),
        Route::new(Method::POST, "/passkey/update-passkey", || post(update_passkey)).signed_in().limit(30),
        Route::new(Method::POST, "/passkey/delete-passkey", || post(delete_passkey)).signed_in().limit(30),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(generate_register_options, verify_registration, generate_authenticate_options, verify_authentication, list_user_passkeys, update_passkey, delete_passkey),
    components(schemas(VerifyRegistrationBody, VerifyAuthenticationBody, UpdateBody, DeleteBody)),
    tags((name = "passkey", description = "Passkeys (`[passkey]`, WebAuthn); better-auth's passkey routes.")),
)]
struct Doc;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegisterQuery {
    /// The new passkey's name (it can also come with the answer).
    #[serde(default)]
    pub name: Option<String>,
    /// `platform` (this device) or `cross-platform` (a security key, a phone): which
    /// authenticators the browser offers.
    #[serde(default)]
    pub authenticator_attachment: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRegistrationBody {
    /// The browser's `RegistrationResponseJSON` (`PublicKeyCredential.toJSON()`).
    #[schema(value_type = Object)]
    pub response: Value,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyAuthenticationBody {
    /// The browser's `AuthenticationResponseJSON`.
    #[schema(value_type = Object)]
    pub response: Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    pub id: String,
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteBody {
    pub id: String,
}

/// The options as JSON, with the signed cookie naming the ceremony.
fn options_response(k: &Kavach, c: Challenge) -> Response {
    let mut resp = Json(c.options).into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookies::set_signed(k, PASSKEY, Some(&c.token), k.options().passkey.challenge_ttl));
    resp
}

fn ceremony(k: &Kavach, headers: &HeaderMap) -> ApiResult<String> {
    cookies::signed(k, headers, PASSKEY)
        .ok_or_else(|| Error::bad_request(Code::ChallengeNotFound, "Challenge not found: ask for the options first (the passkey cookie is missing)").into())
}

fn clear(k: &Kavach, mut resp: Response) -> Response {
    resp.headers_mut().append(header::SET_COOKIE, cookies::set_signed(k, PASSKEY, None, std::time::Duration::ZERO));
    resp
}

/// Options to add a passkey to the signed-in user (a fresh session): the
/// `PublicKeyCredentialCreationOptionsJSON` for `navigator.credentials.create`.
#[utoipa::path(get, path = "/passkey/generate-register-options", params(RegisterQuery), tag = "passkey",
    responses((status = 200, description = "The creation options, with the `kavach.passkey` cookie"), (status = 400, description = "INVALID_PASSKEY_NAME"),
              (status = 401), (status = 403, description = "SESSION_NOT_FRESH"), (status = 429)))]
pub async fn generate_register_options(State(k): State<Kavach>, Auth(a): Auth, Query(q): Query<RegisterQuery>) -> ApiResult<Response> {
    if q.authenticator_attachment.as_deref().is_some_and(|att| att != "platform" && att != "cross-platform") {
        return Err(Error::bad_request(Code::ValidationError, "authenticatorAttachment is `platform` or `cross-platform`").into());
    }
    let mut c = k.passkey().registration_options(&a.data.session, &a.data.user, q.name.as_deref()).await?;
    if let (Some(att), Some(sel)) = (q.authenticator_attachment, c.options.get_mut("authenticatorSelection").and_then(Value::as_object_mut)) {
        sel.insert("authenticatorAttachment".to_owned(), json!(att));
    }
    Ok(options_response(&k, c))
}

/// Add the passkey the browser made: its answer is checked against the ceremony the
/// cookie names (origin, RP id, challenge, user verification).
#[utoipa::path(post, path = "/passkey/verify-registration", request_body = VerifyRegistrationBody, tag = "passkey",
    responses((status = 200, description = "The passkey: `{ id, name, userId, credentialID, counter, deviceType, backedUp, transports, createdAt }`"),
              (status = 400, description = "CHALLENGE_NOT_FOUND, FAILED_TO_VERIFY_REGISTRATION, INVALID_PASSKEY_NAME"), (status = 401),
              (status = 403, description = "SESSION_NOT_FRESH"), (status = 409, description = "PREVIOUSLY_REGISTERED"), (status = 429)))]
pub async fn verify_registration(
    State(k): State<Kavach>,
    Ctx(ctx): Ctx,
    Auth(a): Auth,
    headers: HeaderMap,
    Body(b): Body<VerifyRegistrationBody>,
) -> ApiResult<Response> {
    let token = ceremony(&k, &headers)?;
    let p = k.passkey().register(&a.data.session, &token, &b.response, b.name.as_deref(), &ctx).await?;
    Ok(clear(&k, Json(p).into_response()))
}

/// Options to sign in with a passkey: the `PublicKeyCredentialRequestOptionsJSON` for
/// `navigator.credentials.get`, naming no credential (usernameless; conditional UI).
#[utoipa::path(get, path = "/passkey/generate-authenticate-options", tag = "passkey",
    responses((status = 200, description = "The request options, with the `kavach.passkey` cookie"), (status = 429)))]
pub async fn generate_authenticate_options(State(k): State<Kavach>) -> ApiResult<Response> {
    Ok(options_response(&k, k.passkey().authentication_options().await?))
}

/// Sign in with the browser's answer. A passkey (with user verification) is two factors:
/// no second factor is asked.
#[utoipa::path(post, path = "/passkey/verify-authentication", request_body = VerifyAuthenticationBody, tag = "passkey",
    responses((status = 200, description = "`{ session, user, token }` with the session cookie"),
              (status = 400, description = "CHALLENGE_NOT_FOUND"), (status = 401, description = "AUTHENTICATION_FAILED, PASSKEY_NOT_FOUND"),
              (status = 403, description = "BANNED_USER"), (status = 429)))]
pub async fn verify_authentication(State(k): State<Kavach>, Ctx(ctx): Ctx, headers: HeaderMap, Body(b): Body<VerifyAuthenticationBody>) -> ApiResult<Response> {
    let token = ceremony(&k, &headers)?;
    let res = k.passkey().authenticate(&token, &b.response, &ctx).await;
    let resp = sign_in_answer_with(&k, res, true, |out| json!({ "session": out.session.session, "user": out.user, "token": out.session.token }))?;
    Ok(clear(&k, resp))
}

/// The signed-in user's passkeys, oldest first.
#[utoipa::path(get, path = "/passkey/list-user-passkeys", tag = "passkey", responses((status = 200, description = "`[passkey]`"), (status = 401)))]
pub async fn list_user_passkeys(State(k): State<Kavach>, Auth(a): Auth) -> ApiResult<Json<Vec<Passkey>>> {
    Ok(Json(k.passkey().list(&a.data.user.id).await?))
}

/// Rename one of the signed-in user's passkeys.
#[utoipa::path(post, path = "/passkey/update-passkey", request_body = UpdateBody, tag = "passkey",
    responses((status = 200, description = "`{ passkey }`"), (status = 400, description = "INVALID_PASSKEY_NAME"), (status = 401), (status = 404, description = "PASSKEY_NOT_FOUND")))]
pub async fn update_passkey(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<UpdateBody>) -> ApiResult<Response> {
    let p = k.passkey().rename(&a.data.user.id, &b.id, &b.name, &ctx).await?;
    Ok(Json(json!({ "passkey": p })).into_response())
}

/// Delete one of the signed-in user's passkeys (a fresh session). A user's only way in stays.
#[utoipa::path(post, path = "/passkey/delete-passkey", request_body = DeleteBody, tag = "passkey",
    responses((status = 200, description = "`{ status: true }`"), (status = 401), (status = 403, description = "SESSION_NOT_FRESH"),
              (status = 404, description = "PASSKEY_NOT_FOUND"), (status = 409, description = "LAST_SIGN_IN_METHOD")))]
pub async fn delete_passkey(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<DeleteBody>) -> ApiResult<Response> {
    k.passkey().delete(&a.data.session, &b.id, &ctx).await?;
    Ok(Json(json!({ "status": true })).into_response())
}
