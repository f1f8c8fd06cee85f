//! Two-factor authentication over HTTP (`[two_factor]`): better-auth's `twoFactor()`
//! routes and bodies (`/two-factor/*`), so its `twoFactorClient()` works unchanged, and
//! the hosted page (`GET`/`POST /two-factor`) where the hosted sign-in forms (OAuth,
//! device, invitations, agent approvals) and email links send a pending sign-in.
//!
//! A first factor that needs a second answers `{ twoFactorRedirect: true,
//! twoFactorMethods }` with the signed `kavach.two_factor` cookie and no session; the
//! `verify-*` routes read that cookie (or, to confirm a new TOTP set-up, the session).

use crate::Kavach;
use crate::http::body::{Body, JsonOrForm, parse_json};
use crate::http::cookies::{self, TRUST_DEVICE, TWO_FACTOR};
use crate::http::error::{ApiResult, client_error};
use crate::http::kernel::session_response;
use crate::http::pages;
use crate::http::table::{Capability, Route};
use crate::http::{Auth, Ctx, MaybeAuth, no_store};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kavach_core::plugins::two_factor::{Caller, Pending, Proof, Verified};
use kavach_core::{Code, Kind, RequestContext};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "two_factor", enabled: |o| o.two_factor.enabled, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/two-factor/enable", || post(enable)).signed_in().limit(10),
        Route::new(Method::POST, "/two-factor/disable", || post(disable)).signed_in().limit(10),
        Route::new(Method::POST, "/two-factor/get-totp-uri", || post(get_totp_uri)).signed_in().limit(10),
        Route::new(Method::POST, "/two-factor/generate-backup-codes", || post(generate_backup_codes)).signed_in().limit(10),
        Route::new(Method::POST, "/two-factor/verify-totp", || post(verify_totp)).reads_session().login().limit(20),
        Route::new(Method::POST, "/two-factor/verify-backup-code", || post(verify_backup_code)).reads_session().login().limit(20),
        Route::new(Method::POST, "/two-factor/send-otp", || post(send_otp)).login().limit(5),
        Route::new(Method::POST, "/two-factor/verify-otp", || post(verify_otp)).login().limit(20),
        Route::new(Method::GET, "/two-factor", || get(page)),
        Route::new(Method::POST, "/two-factor", || post(page_submit)).login().limit(20),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(enable, disable, get_totp_uri, generate_backup_codes, verify_totp, verify_backup_code, send_otp, verify_otp, page, page_submit),
    components(schemas(EnableBody, PasswordBody, VerifyBody, VerifyBackupCodeBody, SendOtpBody, PageForm)),
    tags((name = "two-factor", description = "Two-factor authentication: TOTP, backup codes, codes by email, trusted devices (`[two_factor]`); better-auth's twoFactor routes.")),
)]
struct Doc;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnableBody {
    /// The account's password (accounts without one: a fresh session instead).
    #[serde(default)]
    pub password: Option<String>,
    /// `totp` (default: an authenticator app) or `otp` (codes by email).
    #[serde(default)]
    pub method: Option<String>,
    /// The issuer the authenticator app shows (default: the configured one).
    #[serde(default)]
    pub issuer: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyBody {
    pub code: String,
    /// Remember this browser: later sign-ins from it skip the second factor (for `two_factor.trust_device_ttl`).
    #[serde(default)]
    pub trust_device: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyBackupCodeBody {
    pub code: String,
    /// Check the code without signing in (only for a signed-in caller).
    #[serde(default)]
    pub disable_session: Option<bool>,
    #[serde(default)]
    pub trust_device: Option<bool>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendOtpBody {
    #[serde(default)]
    pub trust_device: Option<bool>,
}

/// The hosted page's form.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageForm {
    /// `totp`, `backup_code`, `otp`, or `send` (email a code).
    pub method: String,
    #[serde(default)]
    pub code: Option<String>,
    /// `on` to trust this browser.
    #[serde(default)]
    pub trust_device: Option<String>,
    /// Where to go once signed in: a path on this server.
    #[serde(default)]
    pub next: Option<String>,
}

/// The pending sign-in's token, from its signed cookie.
fn pending_token(k: &Kavach, headers: &HeaderMap) -> Option<String> {
    cookies::signed(k, headers, TWO_FACTOR)
}

/// The answer to a first factor that needs a second one (better-auth's shape): no
/// session, the pending sign-in in its cookie, and whether to remember the browser for
/// the session that follows.
pub(crate) fn pending_response(k: &Kavach, p: &Pending, persistent: bool) -> Response {
    let mut resp = Json(json!({ "twoFactorRedirect": true, "twoFactorMethods": p.methods })).into_response();
    attach_pending(k, &mut resp, p, persistent);
    no_store(&mut resp);
    resp
}

fn attach_pending(k: &Kavach, resp: &mut Response, p: &Pending, persistent: bool) {
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, cookies::set_signed(k, TWO_FACTOR, Some(&p.token), k.options().two_factor.pending_ttl));
    h.append(header::SET_COOKIE, cookies::set_dont_remember(k, !persistent));
}

/// For the hosted forms: on to the hosted two-factor page, which returns to `next` (a
/// path on this server) once the second factor passes.
pub(crate) fn pending_redirect(k: &Kavach, p: &Pending, next: &str) -> Response {
    let url = pages::append_query(&k.options().api_url("/two-factor"), "next", next);
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    attach_pending(k, &mut resp, p, true);
    pages::secure_headers(&mut resp);
    resp
}

/// The answer to a second factor that passed: for a pending sign-in, its session cookie
/// (the pending cookie removed, a trusted-device cookie when asked); for a signed-in
/// caller, the session as it is.
fn verified_response(k: &Kavach, headers: &HeaderMap, v: Verified, current_token: Option<String>) -> Response {
    let persistent = !cookies::dont_remember(k, headers);
    let token = v.session.as_ref().map(|s| s.token.clone()).or(current_token);
    let mut resp = session_response(k, json!({ "token": token, "user": v.user }), v.session.as_ref(), persistent);
    if v.session.is_some() {
        resp.headers_mut().append(header::SET_COOKIE, cookies::set_signed(k, TWO_FACTOR, None, std::time::Duration::ZERO));
    }
    if let Some(device) = &v.trusted_device {
        resp.headers_mut().append(header::SET_COOKIE, cookies::set_signed(k, TRUST_DEVICE, Some(device), k.options().two_factor.trust_device_ttl));
    }
    resp
}

/// Turn two-factor on: `totp` answers the `otpauth://` URI and backup codes (on after the
/// first code from the app, `/two-factor/verify-totp`); `otp` is on at once.
#[utoipa::path(post, path = "/two-factor/enable", request_body = EnableBody, tag = "two-factor",
    responses((status = 200, description = "`{ method, totpURI, backupCodes }` (`totp`) or `{ method }` (`otp`)"),
              (status = 400, description = "INVALID_PASSWORD, TOTP_ALREADY_ENABLED, OTP_NOT_CONFIGURED"), (status = 401), (status = 403, description = "SESSION_NOT_FRESH")))]
pub async fn enable(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<EnableBody>) -> ApiResult<Response> {
    let method = b.method.as_deref().unwrap_or("totp");
    let out = k.two_factor().enable(&a.data.user, &a.data.session, b.password.as_deref(), method, b.issuer.as_deref(), &ctx).await?;
    let mut resp = match out.totp_uri {
        Some(uri) => Json(json!({ "method": out.method, "totpURI": uri, "backupCodes": out.backup_codes })).into_response(),
        None => Json(json!({ "method": out.method })).into_response(),
    };
    no_store(&mut resp);
    Ok(resp)
}

/// Turn two-factor off (the secret, backup codes and trusted devices go).
#[utoipa::path(post, path = "/two-factor/disable", request_body = PasswordBody, tag = "two-factor",
    responses((status = 200, description = "`{ status: true }`"), (status = 400, description = "INVALID_PASSWORD"), (status = 401), (status = 403, description = "SESSION_NOT_FRESH")))]
pub async fn disable(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<PasswordBody>) -> ApiResult<Response> {
    k.two_factor().disable(&a.data.user, &a.data.session, b.password.as_deref(), &ctx).await?;
    let mut resp = Json(json!({ "status": true })).into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookies::set_signed(&k, TRUST_DEVICE, None, std::time::Duration::ZERO));
    Ok(resp)
}

/// The `otpauth://` URI again, to add the account to another authenticator.
#[utoipa::path(post, path = "/two-factor/get-totp-uri", request_body = PasswordBody, tag = "two-factor",
    responses((status = 200, description = "`{ totpURI }`"), (status = 400, description = "INVALID_PASSWORD, TOTP_NOT_ENABLED"), (status = 401)))]
pub async fn get_totp_uri(State(k): State<Kavach>, Auth(a): Auth, Body(b): Body<PasswordBody>) -> ApiResult<Response> {
    let uri = k.two_factor().totp_uri(&a.data.user, &a.data.session, b.password.as_deref()).await?;
    let mut resp = Json(json!({ "totpURI": uri })).into_response();
    no_store(&mut resp);
    Ok(resp)
}

/// New backup codes in place of the old ones (shown once).
#[utoipa::path(post, path = "/two-factor/generate-backup-codes", request_body = PasswordBody, tag = "two-factor",
    responses((status = 200, description = "`{ status: true, backupCodes }`"), (status = 400, description = "INVALID_PASSWORD, TWO_FACTOR_NOT_ENABLED"), (status = 401)))]
pub async fn generate_backup_codes(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<PasswordBody>) -> ApiResult<Response> {
    let codes = k.two_factor().generate_backup_codes(&a.data.user, &a.data.session, b.password.as_deref(), &ctx).await?;
    let mut resp = Json(json!({ "status": true, "backupCodes": codes })).into_response();
    no_store(&mut resp);
    Ok(resp)
}

/// Check `proof` for the pending sign-in of the request (preferred: it is the sign-in in
/// progress) or else its signed-in user.
async fn check(k: &Kavach, ctx: &RequestContext, headers: &HeaderMap, auth: MaybeAuth, proof: Proof<'_>, trust: bool) -> ApiResult<Response> {
    if let Some(token) = pending_token(k, headers) {
        let v = k.two_factor().verify(Caller::Pending(&token), proof, trust, ctx).await?;
        return Ok(verified_response(k, headers, v, None));
    }
    match auth.0 {
        Some(a) => {
            let v = k.two_factor().verify(Caller::Session(&a.data.user), proof, false, ctx).await?;
            Ok(verified_response(k, headers, v, Some(a.token)))
        }
        None => Err(kavach_core::Error::new(Kind::Unauthorized, Code::InvalidTwoFactorCookie, "Invalid two factor cookie").into()),
    }
}

/// A TOTP code: finishes a pending sign-in (its session), or confirms a new set-up.
#[utoipa::path(post, path = "/two-factor/verify-totp", request_body = VerifyBody, tag = "two-factor",
    responses((status = 200, description = "`{ token, user }` (and the session cookie for a pending sign-in)"),
              (status = 400, description = "TOTP_NOT_ENABLED, TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE"),
              (status = 401, description = "INVALID_CODE, INVALID_TWO_FACTOR_COOKIE"), (status = 429, description = "ACCOUNT_TEMPORARILY_LOCKED")))]
pub async fn verify_totp(State(k): State<Kavach>, Ctx(ctx): Ctx, headers: HeaderMap, auth: MaybeAuth, Body(b): Body<VerifyBody>) -> ApiResult<Response> {
    check(&k, &ctx, &headers, auth, Proof::Totp(&b.code), b.trust_device == Some(true)).await
}

/// A backup code (single use).
#[utoipa::path(post, path = "/two-factor/verify-backup-code", request_body = VerifyBackupCodeBody, tag = "two-factor",
    responses((status = 200, description = "`{ token, user }` (and the session cookie for a pending sign-in)"),
              (status = 400, description = "BACKUP_CODES_NOT_ENABLED, TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE"),
              (status = 401, description = "INVALID_BACKUP_CODE, INVALID_TWO_FACTOR_COOKIE"), (status = 429, description = "ACCOUNT_TEMPORARILY_LOCKED")))]
pub async fn verify_backup_code(
    State(k): State<Kavach>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    auth: MaybeAuth,
    Body(b): Body<VerifyBackupCodeBody>,
) -> ApiResult<Response> {
    if b.disable_session == Some(true) && pending_token(&k, &headers).is_some() {
        return Err(client_error(Kind::BadRequest, Code::ValidationError, "disableSession: a pending sign-in ends in a session"));
    }
    check(&k, &ctx, &headers, auth, Proof::BackupCode(&b.code), b.trust_device == Some(true)).await
}

/// Email a one-time code for the pending sign-in.
#[utoipa::path(post, path = "/two-factor/send-otp", request_body = SendOtpBody, tag = "two-factor",
    responses((status = 200, description = "`{ status: true }`"), (status = 400, description = "OTP_NOT_CONFIGURED"), (status = 401, description = "INVALID_TWO_FACTOR_COOKIE")))]
pub async fn send_otp(State(k): State<Kavach>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    // The body is optional (better-auth's client may send none).
    if !body.iter().all(u8::is_ascii_whitespace) {
        let _: SendOtpBody = parse_json(&body)?;
    }
    let token =
        pending_token(&k, &headers).ok_or_else(|| kavach_core::Error::new(Kind::Unauthorized, Code::InvalidTwoFactorCookie, "Invalid two factor cookie"))?;
    k.two_factor().send_otp(&token).await?;
    Ok(Json(json!({ "status": true })).into_response())
}

/// A code sent by `/two-factor/send-otp`: finishes the pending sign-in.
#[utoipa::path(post, path = "/two-factor/verify-otp", request_body = VerifyBody, tag = "two-factor",
    responses((status = 200, description = "`{ token, user }` and the session cookie"),
              (status = 400, description = "OTP_HAS_EXPIRED, TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE"),
              (status = 401, description = "INVALID_CODE, INVALID_TWO_FACTOR_COOKIE"), (status = 429, description = "ACCOUNT_TEMPORARILY_LOCKED")))]
pub async fn verify_otp(State(k): State<Kavach>, Ctx(ctx): Ctx, headers: HeaderMap, Body(b): Body<VerifyBody>) -> ApiResult<Response> {
    check(&k, &ctx, &headers, MaybeAuth(None), Proof::Otp(&b.code), b.trust_device == Some(true)).await
}

/// A `next` that stays on this server: a path below the base path (never `//host` or `\`).
fn safe_next(k: &Kavach, next: Option<&str>) -> Option<String> {
    let n = next?;
    let base = format!("{}/", k.options().base_path.trim_end_matches('/'));
    (n.starts_with(&base) && !n.starts_with("//") && !n.contains(['\\', '\r', '\n'])).then(|| n.to_owned())
}

fn form_page(k: &Kavach, next: Option<&str>, error: Option<&str>, notice: Option<&str>) -> Response {
    let o = &k.options().two_factor;
    let ctx = context! {
        action => k.options().api_url("/two-factor"), next => next.unwrap_or(""), error, notice,
        otp => o.otp, digits => o.digits,
    };
    pages::template_page(k, "Two-factor authentication", "two_factor.html", ctx)
}

fn query_next(k: &Kavach, q: Option<&str>) -> Option<String> {
    let q = q.unwrap_or("");
    let next = q.split('&').find_map(|p| p.strip_prefix("next=")).and_then(|v| crate::http::body::percent_decode(v, true).ok());
    safe_next(k, next.as_deref())
}

/// The hosted second-factor form, for a pending sign-in.
#[utoipa::path(get, path = "/two-factor", tag = "two-factor", params(("next" = Option<String>, Query, description = "A path on this server to return to")),
    responses((status = 200, description = "The form (or a notice that the sign-in expired)", content_type = "text/html", body = String)))]
pub async fn page(State(k): State<Kavach>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if pending_token(&k, &headers).is_none() {
        return pages::message_page(&k, "Two-factor authentication", "This sign-in has expired. Sign in again.");
    }
    form_page(&k, query_next(&k, q.as_deref()).as_deref(), None, None)
}

/// The hosted form's answer: send a code, or check one and go on to `next`.
#[utoipa::path(post, path = "/two-factor", tag = "two-factor", request_body(content = PageForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed in: on to `next`"), (status = 200, description = "The form again (a code was sent, or signed in without `next`)", content_type = "text/html", body = String),
              (status = 400, description = "A bad form, or too many attempts", content_type = "text/html", body = String), (status = 401, description = "A wrong code, or no pending sign-in", content_type = "text/html", body = String),
              (status = 429, description = "The account is locked for a while", content_type = "text/html", body = String)))]
pub async fn page_submit(State(k): State<Kavach>, Ctx(ctx): Ctx, headers: HeaderMap, Body(f): JsonOrForm<PageForm>) -> Response {
    let next = safe_next(&k, f.next.as_deref());
    let Some(token) = pending_token(&k, &headers) else {
        let mut r = pages::message_page(&k, "Two-factor authentication", "This sign-in has expired. Sign in again.");
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    };
    let code = f.code.as_deref().unwrap_or("");
    let proof = match f.method.as_str() {
        "send" => {
            return match k.two_factor().send_otp(&token).await {
                Ok(()) => form_page(&k, next.as_deref(), None, Some("We emailed you a code.")),
                Err(e) => error_form(&k, next.as_deref(), &e),
            };
        }
        "totp" => Proof::Totp(code),
        "backup_code" => Proof::BackupCode(code),
        "otp" => Proof::Otp(code),
        _ => {
            let mut r = form_page(&k, next.as_deref(), Some("Choose a method."), None);
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return r;
        }
    };
    match k.two_factor().verify(Caller::Pending(&token), proof, f.trust_device.as_deref() == Some("on"), &ctx).await {
        Ok(v) => {
            let mut resp = verified_response(&k, &headers, v, None);
            match next {
                Some(n) => {
                    *resp.status_mut() = StatusCode::SEE_OTHER;
                    if let Ok(v) = HeaderValue::from_str(&n) {
                        resp.headers_mut().insert(header::LOCATION, v);
                    }
                    *resp.body_mut() = axum::body::Body::empty();
                    resp.headers_mut().remove(header::CONTENT_TYPE);
                    resp
                }
                None => {
                    let mut page = pages::message_page(&k, "Two-factor authentication", "You are signed in.");
                    for c in resp.headers().get_all(header::SET_COOKIE) {
                        page.headers_mut().append(header::SET_COOKIE, c.clone());
                    }
                    page
                }
            }
        }
        Err(e) => error_form(&k, next.as_deref(), &e),
    }
}

fn error_form(k: &Kavach, next: Option<&str>, e: &kavach_core::Error) -> Response {
    if !e.is_client_error() {
        tracing::error!(error = %e, "second factor failed");
    }
    let msg = if e.is_client_error() { e.message.to_string() } else { "Signing in is not available right now. Try again later.".to_owned() };
    let mut r = form_page(k, next, Some(&msg), None);
    *r.status_mut() = crate::http::error::status_of(e.kind);
    r
}
