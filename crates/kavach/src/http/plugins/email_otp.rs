//! Codes by email over HTTP (`[email_otp]`): better-auth's `emailOTP()` routes and bodies
//! (`/email-otp/*`, `POST /sign-in/email-otp`, and the older
//! `POST /forget-password/email-otp`), so `emailOTPClient()` and `signIn.emailOtp` work
//! unchanged.

use crate::Kavach;
use crate::http::body::{Body, JsonOrForm};
use crate::http::error::ApiResult;
use crate::http::kernel::session_response;
use crate::http::plugins::email_password::sign_in_answer;
use crate::http::plugins::two_factor::pending_response;
use crate::http::table::{Capability, Route};
use crate::http::{Auth, Ctx};
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kavach_core::plugins::email_otp::{OtpSignIn, OtpType};
use kavach_core::plugins::two_factor::SignInStep;
use serde::Deserialize;
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "email_otp", enabled: |o| o.email_otp.enabled, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/email-otp/send-verification-otp", || post(send_verification_otp)).limit(5),
        Route::new(Method::POST, "/email-otp/check-verification-otp", || post(check_verification_otp)).limit(10),
        Route::new(Method::POST, "/email-otp/verify-email", || post(verify_email)).limit(10),
        Route::new(Method::POST, "/sign-in/email-otp", || post(sign_in_email_otp)).login().limit(10),
        Route::new(Method::POST, "/email-otp/request-password-reset", || post(request_password_reset)).limit(5),
        Route::new(Method::POST, "/forget-password/email-otp", || post(forget_password_email_otp)).limit(5),
        Route::new(Method::POST, "/email-otp/reset-password", || post(reset_password)).limit(10),
        Route::new(Method::POST, "/email-otp/request-email-change", || post(request_email_change)).signed_in().limit(5),
        Route::new(Method::POST, "/email-otp/change-email", || post(change_email)).signed_in().limit(10),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(
        send_verification_otp,
        check_verification_otp,
        verify_email,
        sign_in_email_otp,
        request_password_reset,
        forget_password_email_otp,
        reset_password,
        request_email_change,
        change_email
    ),
    components(schemas(SendOtpBody, CheckOtpBody, VerifyEmailOtpBody, SignInEmailOtpBody, EmailBody, ResetPasswordOtpBody, RequestEmailChangeBody, ChangeEmailOtpBody)),
    tags((name = "email-otp", description = "Codes sent by email (`[email_otp]`): sign-in, email verification, password reset and email change; better-auth's emailOTP routes.")),
)]
struct Doc;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendOtpBody {
    pub email: String,
    /// `email-verification`, `sign-in` or `forget-password`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: OtpType,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckOtpBody {
    pub email: String,
    /// `email-verification`, `sign-in` or `forget-password`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: OtpType,
    pub otp: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailOtpBody {
    pub email: String,
    pub otp: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInEmailOtpBody {
    pub email: String,
    pub otp: String,
    /// The name of an account the code creates.
    #[serde(default)]
    pub name: Option<String>,
    /// The image of an account the code creates.
    #[serde(default)]
    pub image: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordOtpBody {
    pub email: String,
    pub otp: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestEmailChangeBody {
    pub new_email: String,
    /// The code sent to the current address (`email_otp.verify_current_email`).
    #[serde(default)]
    pub otp: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangeEmailOtpBody {
    pub new_email: String,
    pub otp: String,
}

fn success() -> Response {
    Json(json!({ "success": true })).into_response()
}

/// Email a code (`sign-in`, `email-verification` or `forget-password`). The same answer
/// whether or not the address has an account.
#[utoipa::path(post, path = "/email-otp/send-verification-otp", request_body = SendOtpBody, tag = "email-otp",
    responses((status = 200, description = "`{ success: true }`"), (status = 400, description = "INVALID_EMAIL, EMAIL_OTP_DISABLED"),
              (status = 429, description = "Too many emails to this address")))]
pub async fn send_verification_otp(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): JsonOrForm<SendOtpBody>) -> ApiResult<Response> {
    k.email_otp().send(&b.email, b.kind, &ctx).await?;
    Ok(success())
}

/// Check a code without using it (the attempt counts).
#[utoipa::path(post, path = "/email-otp/check-verification-otp", request_body = CheckOtpBody, tag = "email-otp",
    responses((status = 200, description = "`{ success: true }`"), (status = 400, description = "INVALID_OTP, OTP_EXPIRED, USER_NOT_FOUND"),
              (status = 403, description = "TOO_MANY_ATTEMPTS")))]
pub async fn check_verification_otp(State(k): State<Kavach>, Body(b): Body<CheckOtpBody>) -> ApiResult<Response> {
    k.email_otp().check(&b.email, b.kind, &b.otp).await?;
    Ok(success())
}

/// Verify the address with an `email-verification` code. With
/// `email_password.auto_sign_in_after_verification`, also signs in (`token` and a session
/// cookie; a pending sign-in for a user with two-factor on).
#[utoipa::path(post, path = "/email-otp/verify-email", request_body = VerifyEmailOtpBody, tag = "email-otp",
    responses((status = 200, description = "`{ status: true, token, user }`"), (status = 400, description = "INVALID_OTP, OTP_EXPIRED, USER_NOT_FOUND"),
              (status = 403, description = "TOO_MANY_ATTEMPTS")))]
pub async fn verify_email(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): Body<VerifyEmailOtpBody>) -> ApiResult<Response> {
    let v = k.email_otp().verify_email(&b.email, &b.otp, &ctx).await?;
    Ok(match v.step {
        Some(SignInStep::SignedIn(s)) => session_response(&k, json!({ "status": true, "token": s.session.token, "user": s.user }), Some(&s.session), true),
        Some(SignInStep::TwoFactor(p)) => pending_response(&k, &p, true),
        None => Json(json!({ "status": true, "token": null, "user": v.user })).into_response(),
    })
}

/// Sign in with a `sign-in` code (creating the account when sign-up is allowed). A user
/// with two-factor on gets `{ twoFactorRedirect: true }` and no session yet.
#[utoipa::path(post, path = "/sign-in/email-otp", request_body = SignInEmailOtpBody, tag = "email-otp",
    responses((status = 200, description = "`{ token, user }` with the session cookie, or `{ twoFactorRedirect: true }`"),
              (status = 400, description = "INVALID_OTP, OTP_EXPIRED"), (status = 403, description = "TOO_MANY_ATTEMPTS, BANNED_USER")))]
pub async fn sign_in_email_otp(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): JsonOrForm<SignInEmailOtpBody>) -> ApiResult<Response> {
    let req = OtpSignIn { email: b.email, otp: b.otp, name: b.name, image: b.image };
    let res = k.email_otp().sign_in(&req, &ctx).await.map(|(step, _new)| step);
    sign_in_answer(&k, res, None, true)
}

/// Email a `forget-password` code (the same answer whether or not the address has an
/// account).
#[utoipa::path(post, path = "/email-otp/request-password-reset", request_body = EmailBody, tag = "email-otp",
    responses((status = 200, description = "`{ success: true }`"), (status = 400, description = "INVALID_EMAIL"), (status = 429)))]
pub async fn request_password_reset(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): JsonOrForm<EmailBody>) -> ApiResult<Response> {
    k.email_otp().send(&b.email, OtpType::ForgetPassword, &ctx).await?;
    Ok(success())
}

/// The older name of `/email-otp/request-password-reset` (better-auth keeps it too).
#[utoipa::path(post, path = "/forget-password/email-otp", request_body = EmailBody, tag = "email-otp",
    responses((status = 200, description = "`{ success: true }`"), (status = 400, description = "INVALID_EMAIL"), (status = 429)))]
pub async fn forget_password_email_otp(state: State<Kavach>, ctx: Ctx, body: JsonOrForm<EmailBody>) -> ApiResult<Response> {
    request_password_reset(state, ctx, body).await
}

/// Set a new password with a `forget-password` code. Every session and OAuth grant of
/// the account ends.
#[utoipa::path(post, path = "/email-otp/reset-password", request_body = ResetPasswordOtpBody, tag = "email-otp",
    responses((status = 200, description = "`{ success: true }`"), (status = 400, description = "INVALID_OTP, OTP_EXPIRED, weak password"),
              (status = 403, description = "TOO_MANY_ATTEMPTS")))]
pub async fn reset_password(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): Body<ResetPasswordOtpBody>) -> ApiResult<Response> {
    k.email_otp().reset_password(&b.email, &b.otp, &b.password, &ctx).await?;
    Ok(success())
}

/// Send a code to the new address (needs a fresh session and `email_otp.change_email`).
#[utoipa::path(post, path = "/email-otp/request-email-change", request_body = RequestEmailChangeBody, tag = "email-otp",
    responses((status = 200, description = "`{ success: true }`"), (status = 400, description = "CHANGE_EMAIL_DISABLED, EMAIL_IS_THE_SAME, INVALID_OTP"),
              (status = 401), (status = 403, description = "SESSION_NOT_FRESH")))]
pub async fn request_email_change(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<RequestEmailChangeBody>) -> ApiResult<Response> {
    k.email_otp().request_email_change(&a.data.user, &a.data.session, &b.new_email, b.otp.as_deref(), &ctx).await?;
    Ok(success())
}

/// Move the account to the new address with the code sent there (needs a fresh session).
#[utoipa::path(post, path = "/email-otp/change-email", request_body = ChangeEmailOtpBody, tag = "email-otp",
    responses((status = 200, description = "`{ success: true }`"), (status = 400, description = "INVALID_OTP, OTP_EXPIRED, CHANGE_EMAIL_DISABLED"),
              (status = 401), (status = 403, description = "SESSION_NOT_FRESH, TOO_MANY_ATTEMPTS"), (status = 409, description = "EMAIL_ALREADY_IN_USE")))]
pub async fn change_email(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<ChangeEmailOtpBody>) -> ApiResult<Response> {
    k.email_otp().change_email(&a.data.user, &a.data.session, &b.new_email, &b.otp, &ctx).await?;
    Ok(success())
}
