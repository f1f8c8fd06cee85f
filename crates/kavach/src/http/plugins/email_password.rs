//! The email + password capability over HTTP (`[email_password]`): sign-up and
//! sign-in, changing the password and the email, email verification and password
//! reset with their hosted pages. Wire-compatible with better-auth 1.7 (paths, JSON
//! bodies, response shapes, status codes).

use crate::Kavach;
use crate::http::body::{Body, JsonOrForm};
use crate::http::cookies::{self, clear_session_cookie, set_session_cookie};
use crate::http::error::{ApiError, ApiResult, client_error, status_of};
use crate::http::kernel::session_response;
use crate::http::metrics::SignIn;
use crate::http::pages::{self, append_query, escape, message_page, page, redirect};
use crate::http::plugins::two_factor::{pending_redirect, pending_response};
use crate::http::table::{Capability, Route};
use crate::http::{Auth, Ctx, MaybeAuth};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kavach_core::plugins::email_password::{SignInStep, SignUp};
use kavach_core::{Code, Kind};
use serde::Deserialize;
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "email_password", enabled: |o| o.email_password.enabled, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/sign-up/email", || post(sign_up)).login().limit(10),
        Route::new(Method::POST, "/sign-in/email", || post(sign_in)).login().limit(10),
        Route::new(Method::POST, "/change-password", || post(change_password)).signed_in().limit(10),
        Route::new(Method::POST, "/change-email", || post(change_email)).signed_in().limit(5),
        Route::new(Method::POST, "/send-verification-email", || post(send_verification_email)).reads_session().limit(5),
        Route::new(Method::GET, "/verify-email", || get(verify_email)).reads_session().limit(20),
        Route::new(Method::POST, "/request-password-reset", || post(request_password_reset)).reads_session().limit(5),
        Route::new(Method::POST, "/reset-password", || post(reset_password)).reads_session().limit(10),
        Route::new(Method::GET, "/reset-password/{token}", || get(reset_password_page)).reads_session(),
        Route::new(Method::GET, "/forgot-password", || get(forgot_password_page)).reads_session(),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(sign_up, sign_in, change_password, change_email, send_verification_email, verify_email, request_password_reset, reset_password,
          reset_password_page, forgot_password_page),
    tags((name = "email-password", description = "Sign-up, sign-in, email verification and password reset (`[email_password]`).")),
)]
struct Doc;

/// The other members of the body are additional fields (`[user.additional_fields]`):
/// each must be declared, settable by requests and of its type.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignUpBody {
    pub email: String,
    pub password: String,
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default, rename = "callbackURL")]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub remember_me: Option<bool>,
    /// A username (`[username]` on).
    #[serde(default)]
    pub username: Option<String>,
    /// How the username is displayed (default: as typed).
    #[serde(default)]
    pub display_username: Option<String>,
    /// Additional fields.
    #[serde(flatten)]
    #[schema(ignore)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignInBody {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub remember_me: Option<bool>,
    #[serde(default, rename = "callbackURL")]
    pub callback_url: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangePasswordBody {
    pub current_password: String,
    pub new_password: String,
    /// Revoke every other session and every OAuth grant of the account (default
    /// true; send `false` to keep them: only the password changes).
    #[serde(default)]
    pub revoke_other_sessions: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangeEmailBody {
    pub new_email: String,
    #[serde(default, rename = "callbackURL")]
    pub callback_url: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendVerificationBody {
    /// Defaults to the signed-in user's email.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, rename = "callbackURL")]
    pub callback_url: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestResetBody {
    pub email: String,
    #[serde(default)]
    pub redirect_to: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResetPasswordBody {
    pub new_password: String,
    #[serde(default)]
    pub token: Option<String>,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    pub token: Option<String>,
    #[serde(rename = "callbackURL")]
    pub callback_url: Option<String>,
}

/// Create an account with email and password.
#[utoipa::path(post, path = "/sign-up/email", request_body = SignUpBody, tag = "email-password",
    responses((status = 200, description = "`{ token, user }`; `token` is null until the email is verified"),
              (status = 400, description = "Invalid email, weak password"), (status = 429, description = "Too many requests")))]
pub async fn sign_up(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): JsonOrForm<SignUpBody>) -> ApiResult<Response> {
    let out = k
        .email_password()
        .sign_up(
            SignUp {
                email: b.email,
                password: b.password,
                name: b.name,
                image: b.image,
                callback_url: b.callback_url,
                username: b.username,
                display_username: b.display_username,
                fields: b.fields,
            },
            &ctx,
        )
        .await?;
    let token = out.session.as_ref().map(|s| s.token.clone());
    Ok(session_response(&k, json!({ "token": token, "user": out.user }), out.session.as_ref(), b.remember_me != Some(false)))
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/sign-in/email", request_body = SignInBody, tag = "email-password",
    responses((status = 200, description = "`{ redirect, token, url, user }` and the session cookie"),
              (status = 401, description = "INVALID_EMAIL_OR_PASSWORD"), (status = 403, description = "EMAIL_NOT_VERIFIED"),
              (status = 429, description = "Too many failed attempts")))]
pub async fn sign_in(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): JsonOrForm<SignInBody>) -> ApiResult<Response> {
    if let Some(cb) = &b.callback_url {
        k.check_callback_url(cb)?;
    }
    let res = k.email_password().sign_in(&b.email, &b.password, &ctx).await;
    sign_in_answer(&k, res, b.callback_url, b.remember_me != Some(false))
}

/// The answer of a password sign-in (by email or by username), counted in the metrics:
/// `{ redirect, token, url, user }` with the session cookie, or the pending two-factor
/// sign-in.
pub(crate) fn sign_in_answer(k: &Kavach, res: kavach_core::Result<SignInStep>, callback_url: Option<String>, persistent: bool) -> ApiResult<Response> {
    sign_in_answer_with(
        k,
        res,
        persistent,
        |out| json!({ "redirect": callback_url.is_some(), "token": out.session.token, "url": callback_url, "user": out.user }),
    )
}

/// [`sign_in_answer`] with the body of a signed-in answer made by `body`.
pub(crate) fn sign_in_answer_with(
    k: &Kavach,
    res: kavach_core::Result<SignInStep>,
    persistent: bool,
    body: impl FnOnce(&kavach_core::SignedIn) -> serde_json::Value,
) -> ApiResult<Response> {
    let step = match res {
        Ok(step) => {
            k.metrics().sign_in(SignIn::Success);
            step
        }
        Err(e) => {
            k.metrics().sign_in(if matches!(e.kind, Kind::TooManyRequests { .. }) { SignIn::Blocked } else { SignIn::Failure });
            return Err(e.into());
        }
    };
    Ok(match step {
        SignInStep::SignedIn(out) => session_response(k, body(&out), Some(&out.session), persistent),
        SignInStep::TwoFactor(p) => pending_response(k, &p, persistent),
    })
}

/// Change the password. Unless `revokeOtherSessions` is `false`, every session and OAuth
/// grant of the account is revoked and a new session is issued.
#[utoipa::path(post, path = "/change-password", request_body = ChangePasswordBody, tag = "email-password",
    responses((status = 200, description = "`{ token, user }` with a new session cookie"), (status = 400, description = "INVALID_PASSWORD, weak password"), (status = 401)))]
pub async fn change_password(
    State(k): State<Kavach>,
    Ctx(ctx): Ctx,
    Auth(a): Auth,
    headers: HeaderMap,
    Body(b): Body<ChangePasswordBody>,
) -> ApiResult<Response> {
    let keep = b.revoke_other_sessions == Some(false);
    let s = k.email_password().change_password(&a.data.session, &a.data.user, &b.current_password, &b.new_password, keep, &ctx).await?;
    let persistent = !cookies::dont_remember(&k, &headers);
    let token = s.as_ref().map(|s| s.token.clone());
    Ok(session_response(&k, json!({ "token": token, "user": a.data.user }), s.as_ref(), persistent))
}

/// Start an email change: a confirmation link goes to the new address. Needs a session
/// younger than `session.fresh_age`.
#[utoipa::path(post, path = "/change-email", request_body = ChangeEmailBody, tag = "user",
    responses((status = 200, description = "`{ status: true }`"), (status = 400), (status = 401), (status = 403, description = "SESSION_NOT_FRESH")))]
pub async fn change_email(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<ChangeEmailBody>) -> ApiResult<Response> {
    k.email_password().change_email(&a.data.user, &a.data.session, &b.new_email, b.callback_url.as_deref(), &ctx).await?;
    Ok(Json(json!({ "status": true })).into_response())
}

/// Send a new verification link (same answer whether or not the address is known).
#[utoipa::path(post, path = "/send-verification-email", request_body = SendVerificationBody, tag = "email-password",
    responses((status = 200, description = "`{ status: true }`"), (status = 400)))]
pub async fn send_verification_email(State(k): State<Kavach>, MaybeAuth(auth): MaybeAuth, Body(b): Body<SendVerificationBody>) -> ApiResult<Response> {
    let email = match (b.email, auth) {
        (Some(e), _) => e,
        (None, Some(a)) => a.data.user.email.clone(),
        (None, None) => return Err(client_error(Kind::BadRequest, Code::ValidationError, "email is required")),
    };
    k.email_password().send_verification_email(&email, b.callback_url.as_deref()).await?;
    Ok(Json(json!({ "status": true })).into_response())
}

/// Follow a verification link. Redirects to `callbackURL` when given.
#[utoipa::path(get, path = "/verify-email", tag = "email-password",
    params(("token" = String, Query), ("callbackURL" = Option<String>, Query)),
    responses((status = 200, description = "`{ status: true, user }`"), (status = 302), (status = 400, description = "INVALID_TOKEN")))]
pub async fn verify_email(State(k): State<Kavach>, Ctx(ctx): Ctx, headers: HeaderMap, Query(q): Query<TokenQuery>) -> ApiResult<Response> {
    if let Some(cb) = &q.callback_url {
        k.check_callback_url(cb)?;
    }
    let token = q.token.unwrap_or_default();
    let result = k.email_password().verify_email(&token, &ctx).await;
    let html = pages::wants_html(&headers);
    // With auto sign-in: a session, or for a user with two-factor on a pending sign-in.
    let result = result.map(|(user, step)| match step {
        Some(SignInStep::SignedIn(s)) => (user, Some(s.session), None),
        Some(SignInStep::TwoFactor(p)) => (user, None, Some(p)),
        None => (user, None, None),
    });
    match (result, q.callback_url) {
        (Ok((_, session, pending)), Some(cb)) => {
            let mut resp = redirect(&cb);
            if let Some(s) = &session {
                resp.headers_mut().append(header::SET_COOKIE, set_session_cookie(&k, &s.token, true));
            }
            if let Some(p) = &pending {
                // The app's client finishes with `/two-factor/verify-*`.
                for c in pending_response(&k, p, true).headers().get_all(header::SET_COOKIE) {
                    resp.headers_mut().append(header::SET_COOKIE, c.clone());
                }
            }
            Ok(resp)
        }
        (Err(e), Some(cb)) if e.is_client_error() => Ok(redirect(&append_query(&cb, "error", &e.code))),
        (Ok((_, None, Some(p))), None) if html => Ok(pending_redirect(&k, &p, "")),
        (Ok((_, None, Some(p))), None) => {
            let mut resp = pending_response(&k, &p, true);
            *resp.body_mut() =
                axum::body::Body::from(json!({ "status": true, "user": null, "twoFactorRedirect": true, "twoFactorMethods": p.methods }).to_string());
            Ok(resp)
        }
        (Ok((user, session, _)), None) => {
            let mut resp = if html {
                message_page(&k, "Email verified", &format!("{} is verified. You can close this page and sign in.", user.email))
            } else {
                Json(json!({ "status": true, "user": session.as_ref().map(|_| &user) })).into_response()
            };
            if let Some(s) = &session {
                resp.headers_mut().append(header::SET_COOKIE, set_session_cookie(&k, &s.token, true));
            }
            Ok(resp)
        }
        (Err(e), None) if html && e.is_client_error() => {
            let mut r = message_page(&k, "Link not valid", "This link is invalid, already used or expired. Ask for a new one.");
            *r.status_mut() = status_of(e.kind);
            Ok(r)
        }
        (Err(e), _) => Err(e.into()),
    }
}

/// Email a password-reset link (same answer whether or not the account exists).
#[utoipa::path(post, path = "/request-password-reset", request_body = RequestResetBody, tag = "email-password",
    responses((status = 200, description = "`{ status: true, message }`"), (status = 400)))]
pub async fn request_password_reset(State(k): State<Kavach>, Ctx(ctx): Ctx, headers: HeaderMap, Body(b): JsonOrForm<RequestResetBody>) -> ApiResult<Response> {
    let result = k.email_password().request_password_reset(&b.email, b.redirect_to.as_deref(), &ctx).await;
    if pages::is_form(&headers) && pages::wants_html(&headers) {
        return Ok(match result {
            Ok(()) => message_page(&k, "Check your email", "If this email has an account, a link to reset the password is on its way."),
            Err(e) if e.is_client_error() => {
                let mut r = forgot_form(&k, Some(&e.message));
                *r.status_mut() = status_of(e.kind);
                r
            }
            Err(e) => return Err(e.into()),
        });
    }
    result?;
    Ok(Json(json!({ "status": true, "message": "If this email exists in our system, check your email for the reset link" })).into_response())
}

/// Set a new password with a reset token (single use; signs out everywhere).
#[utoipa::path(post, path = "/reset-password", request_body = ResetPasswordBody, tag = "email-password",
    params(("token" = Option<String>, Query, description = "Alternative to the body field")),
    responses((status = 200, description = "`{ status: true }`"), (status = 400, description = "INVALID_TOKEN, weak password")))]
pub async fn reset_password(
    State(k): State<Kavach>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
    Body(b): JsonOrForm<ResetPasswordBody>,
) -> ApiResult<Response> {
    let form = pages::is_form(&headers);
    let token = b.token.or(q.token).ok_or_else(|| ApiError(kavach_core::Error::invalid_token()))?;
    let result = k.email_password().reset_password(&token, &b.new_password, &ctx).await;
    if form && pages::wants_html(&headers) {
        return Ok(match result {
            Ok(()) => message_page(&k, "Password changed", "Your password is changed and every session was signed out. Sign in with the new password."),
            Err(e) if e.code == Code::InvalidToken => {
                let mut r = message_page(&k, "Link not valid", "This reset link is invalid, already used or expired. Ask for a new one.");
                *r.status_mut() = status_of(e.kind);
                r
            }
            Err(e) if e.is_client_error() => {
                let mut r = reset_form(&k, &token, Some(&e.message));
                *r.status_mut() = status_of(e.kind);
                r
            }
            Err(e) => return Err(e.into()),
        });
    }
    result?;
    let mut resp = Json(json!({ "status": true })).into_response();
    if cookies::session_token(&k, &headers).is_some() {
        resp.headers_mut().append(header::SET_COOKIE, clear_session_cookie(&k));
    }
    Ok(resp)
}

pub fn reset_form(k: &Kavach, token: &str, error: Option<&str>) -> Response {
    let err = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "{err}<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <label for=\"pw\">New password</label><input id=\"pw\" name=\"newPassword\" type=\"password\" autocomplete=\"new-password\" \
         minlength=\"{min}\" maxlength=\"{max}\" required autofocus><button type=\"submit\">Set password</button></form>",
        action = escape(&format!("{}/reset-password", k.options().base_path.trim_end_matches('/'))),
        token = escape(token),
        min = k.options().password.min_length,
        max = k.options().password.max_length,
    );
    page(k, "Choose a new password", &body)
}

pub fn forgot_form(k: &Kavach, error: Option<&str>) -> Response {
    let err = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "{err}<p>Enter the email of your account and we will send a link to choose a new password.</p>\
         <form method=\"post\" action=\"{action}\"><label for=\"email\">Email</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required autofocus>\
         <button type=\"submit\">Send reset link</button></form>",
        action = escape(&format!("{}/request-password-reset", k.options().base_path.trim_end_matches('/'))),
    );
    page(k, "Forgot your password?", &body)
}

/// The hosted "forgot your password?" page (email notices link to it): a form that
/// posts to `/request-password-reset`.
#[utoipa::path(get, path = "/forgot-password", tag = "email-password",
    responses((status = 200, description = "HTML form", content_type = "text/html", body = String)))]
pub async fn forgot_password_page(State(k): State<Kavach>) -> Response {
    forgot_form(&k, None)
}

/// The link in the reset email. With `callbackURL` it redirects to
/// `callbackURL?token=...` (or `?error=INVALID_TOKEN`), as better-auth does; without,
/// it shows Kavach's own form.
#[utoipa::path(get, path = "/reset-password/{token}", tag = "email-password",
    params(("token" = String, Path, description = "The token from the email"), ("callbackURL" = Option<String>, Query)),
    responses((status = 200, description = "HTML form to choose a new password", content_type = "text/html", body = String),
              (status = 302, description = "To `callbackURL` with `token` or `error`"),
              (status = 400, description = "Link not valid (HTML)", content_type = "text/html", body = String),
              (status = 403, description = "INVALID_CALLBACK_URL", body = crate::http::error::ErrorBody)))]
pub async fn reset_password_page(State(k): State<Kavach>, Path(token): Path<String>, Query(q): Query<TokenQuery>) -> Response {
    let valid = match k.email_password().reset_token_is_valid(&token).await {
        Ok(v) => v,
        Err(e) => return ApiError(e).into_response(),
    };
    if let Some(cb) = q.callback_url {
        if let Err(e) = k.check_callback_url(&cb) {
            return ApiError(e).into_response();
        }
        return redirect(&if valid { append_query(&cb, "token", &token) } else { append_query(&cb, "error", Code::InvalidToken.as_str()) });
    }
    if !valid {
        let mut r = message_page(&k, "Link not valid", "This reset link is invalid, already used or expired. Ask for a new one.");
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    }
    reset_form(&k, &token, None)
}
