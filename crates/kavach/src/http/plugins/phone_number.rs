//! Phone numbers over HTTP (`[phone_number]`): better-auth's `phoneNumber()` routes and
//! bodies (`/sign-in/phone-number`, `/phone-number/*`), so `phoneNumberClient()` and
//! `signIn.phoneNumber` work unchanged.

use crate::Kavach;
use crate::http::body::{Body, JsonOrForm};
use crate::http::error::ApiResult;
use crate::http::kernel::session_response;
use crate::http::plugins::email_password::sign_in_answer;
use crate::http::plugins::two_factor::pending_response;
use crate::http::table::{Capability, Route};
use crate::http::{Ctx, MaybeAuth};
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kavach_core::Error;
use kavach_core::plugins::phone_number::VerifyRequest;
use kavach_core::plugins::two_factor::SignInStep;
use serde::Deserialize;
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "phone_number", enabled: |o| o.phone_number.enabled, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/sign-in/phone-number", || post(sign_in_phone_number)).login().limit(10),
        Route::new(Method::POST, "/phone-number/send-otp", || post(send_otp)).limit(5),
        Route::new(Method::POST, "/phone-number/verify", || post(verify)).reads_session().limit(10),
        Route::new(Method::POST, "/phone-number/request-password-reset", || post(request_password_reset)).limit(5),
        Route::new(Method::POST, "/phone-number/reset-password", || post(reset_password)).limit(10),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(sign_in_phone_number, send_otp, verify, request_password_reset, reset_password),
    components(schemas(SignInPhoneBody, PhoneBody, VerifyPhoneBody, ResetPasswordPhoneBody)),
    tags((name = "phone-number", description = "Phone numbers proven by a code sent by text message (`[phone_number]`); better-auth's phoneNumber routes.")),
)]
struct Doc;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignInPhoneBody {
    /// In international form (`+14155550123`).
    pub phone_number: String,
    pub password: String,
    /// `false`: a browser-session cookie.
    #[serde(default)]
    pub remember_me: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PhoneBody {
    pub phone_number: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyPhoneBody {
    pub phone_number: String,
    pub code: String,
    /// Prove the number without signing in.
    #[serde(default)]
    pub disable_session: Option<bool>,
    /// Attach the number to the signed-in account instead.
    #[serde(default)]
    pub update_phone_number: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResetPasswordPhoneBody {
    pub phone_number: String,
    pub otp: String,
    pub new_password: String,
}

/// Sign in with the phone number and the password.
#[utoipa::path(post, path = "/sign-in/phone-number", request_body = SignInPhoneBody, tag = "phone-number",
    responses((status = 200, description = "`{ token, user }` with the session cookie, or `{ twoFactorRedirect: true }`"),
              (status = 400, description = "INVALID_PHONE_NUMBER"),
              (status = 401, description = "INVALID_PHONE_NUMBER_OR_PASSWORD, PHONE_NUMBER_NOT_VERIFIED (a code was sent)"),
              (status = 403, description = "BANNED_USER"), (status = 429)))]
pub async fn sign_in_phone_number(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): JsonOrForm<SignInPhoneBody>) -> ApiResult<Response> {
    let res = k.phone_number().sign_in(&b.phone_number, &b.password, &ctx).await;
    sign_in_answer(&k, res, None, b.remember_me != Some(false))
}

/// Text a code to the number (always sent: it is how a number is proven).
#[utoipa::path(post, path = "/phone-number/send-otp", request_body = PhoneBody, tag = "phone-number",
    responses((status = 200, description = "`{ message: \"code sent\" }`"), (status = 400, description = "INVALID_PHONE_NUMBER"),
              (status = 429, description = "Too many messages to this number"), (status = 503, description = "SMS_NOT_CONFIGURED")))]
pub async fn send_otp(State(k): State<Kavach>, Body(b): JsonOrForm<PhoneBody>) -> ApiResult<Response> {
    k.phone_number().send_otp(&b.phone_number).await?;
    Ok(Json(json!({ "message": "code sent" })).into_response())
}

/// Prove the number with its code: signs its account in (unless `disableSession`), or,
/// with `updatePhoneNumber`, attaches it to the signed-in account.
#[utoipa::path(post, path = "/phone-number/verify", request_body = VerifyPhoneBody, tag = "phone-number",
    responses((status = 200, description = "`{ status: true, token, user }`"),
              (status = 400, description = "INVALID_OTP, OTP_EXPIRED, PHONE_NUMBER_NOT_EXIST, PHONE_NUMBER_EXIST"),
              (status = 401, description = "updatePhoneNumber without a session"), (status = 403, description = "TOO_MANY_ATTEMPTS")))]
pub async fn verify(State(k): State<Kavach>, Ctx(ctx): Ctx, MaybeAuth(auth): MaybeAuth, Body(b): Body<VerifyPhoneBody>) -> ApiResult<Response> {
    if b.update_phone_number == Some(true) {
        let a = auth.ok_or_else(Error::unauthorized)?;
        let user = k.phone_number().update(&a.data.user, &b.phone_number, &b.code, &ctx).await?;
        return Ok(Json(json!({ "status": true, "token": a.token, "user": user })).into_response());
    }
    let req = VerifyRequest { phone_number: b.phone_number, code: b.code, disable_session: b.disable_session == Some(true) };
    let v = k.phone_number().verify(&req, &ctx).await?;
    Ok(match v.step {
        Some(SignInStep::SignedIn(s)) => session_response(&k, json!({ "status": true, "token": s.session.token, "user": s.user }), Some(&s.session), true),
        Some(SignInStep::TwoFactor(p)) => pending_response(&k, &p, true),
        None => Json(json!({ "status": true, "token": null, "user": v.user })).into_response(),
    })
}

/// Text a password-reset code (the same answer whether or not an account has the number).
#[utoipa::path(post, path = "/phone-number/request-password-reset", request_body = PhoneBody, tag = "phone-number",
    responses((status = 200, description = "`{ status: true }`"), (status = 400, description = "INVALID_PHONE_NUMBER"), (status = 429)))]
pub async fn request_password_reset(State(k): State<Kavach>, Body(b): JsonOrForm<PhoneBody>) -> ApiResult<Response> {
    k.phone_number().request_password_reset(&b.phone_number).await?;
    Ok(Json(json!({ "status": true })).into_response())
}

/// Set a new password with a reset code; every session and OAuth grant of the account ends.
#[utoipa::path(post, path = "/phone-number/reset-password", request_body = ResetPasswordPhoneBody, tag = "phone-number",
    responses((status = 200, description = "`{ status: true }`"), (status = 400, description = "INVALID_OTP, OTP_EXPIRED, weak password"),
              (status = 403, description = "TOO_MANY_ATTEMPTS")))]
pub async fn reset_password(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): Body<ResetPasswordPhoneBody>) -> ApiResult<Response> {
    k.phone_number().reset_password(&b.phone_number, &b.otp, &b.new_password, &ctx).await?;
    Ok(Json(json!({ "status": true })).into_response())
}
