//! The email + password and session endpoints, wire-compatible with better-auth
//! 1.7 (paths, JSON bodies, response shapes, status codes).

use super::body::{Body, JsonOrForm};
use super::cookies::{self, clear_session_cookie, set_session_cookie};
use super::error::{ApiError, ApiResult, client_error};
use super::metrics::SignIn;
use super::{Auth, Ctx, MaybeAuth, no_store, pages};
use crate::Kavach;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use kavach_core::Kind;
use kavach_core::plugins::email_password::SignUp;
use kavach_core::sessions::{NewSession, Session, SessionWithUser};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
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
#[serde(deny_unknown_fields)]
pub struct RevokeSessionBody {
    /// The session's `token` field from `/list-sessions` (or the session token itself).
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    #[serde(default)]
    pub name: Option<String>,
    /// A URL, or `null` to remove the image.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub image: Option<Option<String>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteUserBody {
    /// Required unless the session is fresh.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default, rename = "callbackURL")]
    pub callback_url: Option<String>,
}

/// The JSON answer plus a `Set-Cookie` (and `set-auth-token`, as better-auth's
/// bearer plugin sends) for a new session.
fn with_session(k: &Kavach, body: serde_json::Value, s: Option<&NewSession>, persistent: bool) -> Response {
    let mut resp = Json(body).into_response();
    if let Some(s) = s {
        let h = resp.headers_mut();
        h.append(header::SET_COOKIE, set_session_cookie(k, &s.token, persistent));
        h.append(header::SET_COOKIE, cookies::set_dont_remember(k, !persistent));
        if let Ok(v) = HeaderValue::from_str(&k.secrets().sign_token(&s.token)) {
            h.insert("set-auth-token", v);
            h.insert("access-control-expose-headers", HeaderValue::from_static("set-auth-token"));
        }
    }
    no_store(&mut resp);
    resp
}

/// The public keys that sign Kavach's JWTs (JWKS, RFC 7517).
#[utoipa::path(get, path = "/jwks", tag = "jwt", responses((status = 200, description = "`{ keys: [JWK] }`")))]
pub async fn jwks(State(k): State<Kavach>) -> ApiResult<Response> {
    let body = k.keys().jwks().await?;
    let mut resp = ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], JsonBody(body)).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    Ok(resp)
}

/// A short-lived JWT for the signed-in session (EdDSA, verifiable with `/jwks`):
/// `sub` is the user id, `iss` and `aud` the base URL's origin, plus the user's
/// email, name and verification status.
#[utoipa::path(get, path = "/token", tag = "jwt", responses((status = 200, description = "`{ token }`"), (status = 401)))]
pub async fn token(State(k): State<Kavach>, Auth(a): Auth) -> ApiResult<Response> {
    let now = kavach_core::store::Ts::now().millis() / 1000;
    let u = &a.data.user;
    let origin = k.options().origin();
    let claims = json!({
        "iss": origin, "aud": origin, "sub": u.id, "iat": now, "nbf": now,
        "exp": now + k.options().jwt.expires_in.as_secs() as i64,
        "sid": a.data.session.id, "email": u.email, "name": u.name, "emailVerified": u.email_verified,
        "image": u.image,
    });
    let token = k.keys().sign(kavach_core::jwt::Alg::EdDSA, "JWT", &claims).await?;
    let mut resp = Json(json!({ "token": token })).into_response();
    no_store(&mut resp);
    Ok(resp)
}

/// A pre-rendered JSON body shared without copying.
struct JsonBody(std::sync::Arc<str>);

impl IntoResponse for JsonBody {
    fn into_response(self) -> Response {
        struct Owner(std::sync::Arc<str>);
        impl AsRef<[u8]> for Owner {
            fn as_ref(&self) -> &[u8] {
                self.0.as_bytes()
            }
        }
        axum::body::Body::from(axum::body::Bytes::from_owner(Owner(self.0))).into_response()
    }
}

/// Create an account with email and password.
#[utoipa::path(post, path = "/sign-up/email", request_body = SignUpBody, tag = "email-password",
    responses((status = 200, description = "`{ token, user }`; `token` is null until the email is verified"),
              (status = 400, description = "Invalid email, weak password"), (status = 429, description = "Too many requests")))]
pub async fn sign_up(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): JsonOrForm<SignUpBody>) -> ApiResult<Response> {
    let out = k.email_password().sign_up(SignUp { email: b.email, password: b.password, name: b.name, image: b.image, callback_url: b.callback_url }, &ctx).await?;
    let token = out.session.as_ref().map(|s| s.token.clone());
    Ok(with_session(&k, json!({ "token": token, "user": out.user }), out.session.as_ref(), b.remember_me != Some(false)))
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
    let out = match res {
        Ok(out) => {
            k.metrics().sign_in(SignIn::Success);
            out
        }
        Err(e) => {
            k.metrics().sign_in(if matches!(e.kind, Kind::TooManyRequests { .. }) { SignIn::Blocked } else { SignIn::Failure });
            return Err(e.into());
        }
    };
    let body = json!({
        "redirect": b.callback_url.is_some(),
        "token": out.session.token,
        "url": b.callback_url,
        "user": out.user,
    });
    Ok(with_session(&k, body, Some(&out.session), b.remember_me != Some(false)))
}

/// The current session and user, or `null`.
#[utoipa::path(get, path = "/get-session", tag = "session",
    responses((status = 200, description = "`{ session, user }` or `null`", body = Option<SessionWithUser>)))]
pub async fn get_session(MaybeAuth(auth): MaybeAuth) -> Response {
    let mut resp = match auth {
        Some(a) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], JsonBody(a.data.json())).into_response(),
        None => Json(serde_json::Value::Null).into_response(),
    };
    no_store(&mut resp);
    resp
}

/// End the current session.
#[utoipa::path(post, path = "/sign-out", tag = "session", responses((status = 200, description = "`{ success: true }`")))]
pub async fn sign_out(State(k): State<Kavach>, Ctx(ctx): Ctx, MaybeAuth(auth): MaybeAuth, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(a) = auth {
        k.sessions().sign_out(&a.data.session, &ctx).await?;
    }
    let mut resp = Json(json!({ "success": true })).into_response();
    resp.headers_mut().append(header::SET_COOKIE, clear_session_cookie(&k));
    resp.headers_mut().append(header::SET_COOKIE, cookies::set_dont_remember(&k, false));
    // During the better-auth transition, sign-out also ends the migrated session and
    // clears the old cookie, or it would sign the browser straight back in.
    if let Some(cfg) = k.external().better_auth() {
        for name in cfg.cookie_names() {
            let Some(v) = cookies::cookie(&headers, &name) else { continue };
            if let Some(token) = super::body::percent_decode(v, false).ok().and_then(|v| k.external().better_auth_token(&v)) {
                k.external().revoke_better_auth_session(&token).await?;
            }
            let secure = if name.starts_with("__Secure-") { "; Secure" } else { "" };
            if let Ok(c) = HeaderValue::from_str(&format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")) {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
        }
    }
    Ok(resp)
}

/// The signed-in user's active sessions.
#[utoipa::path(get, path = "/list-sessions", tag = "session", responses((status = 200, body = Vec<Session>), (status = 401)))]
pub async fn list_sessions(State(k): State<Kavach>, Auth(a): Auth) -> ApiResult<Json<Vec<Session>>> {
    Ok(Json(k.sessions().list(&a.data.user.id).await?))
}

/// Revoke one of the signed-in user's sessions.
#[utoipa::path(post, path = "/revoke-session", request_body = RevokeSessionBody, tag = "session",
    responses((status = 200, description = "`{ status: true }`"), (status = 401), (status = 404)))]
pub async fn revoke_session(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<RevokeSessionBody>) -> ApiResult<Response> {
    if !k.sessions().revoke(&a.data.user.id, &b.token, &ctx).await? {
        return Err(client_error(Kind::NotFound, "SESSION_NOT_FOUND", "No such session for this user"));
    }
    Ok(Json(json!({ "status": true })).into_response())
}

/// Revoke all of the signed-in user's sessions (including this one).
#[utoipa::path(post, path = "/revoke-sessions", tag = "session", responses((status = 200, description = "`{ status: true }`"), (status = 401)))]
pub async fn revoke_sessions(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth) -> ApiResult<Response> {
    k.sessions().revoke_user(&a.data.user.id, &ctx).await?;
    let mut resp = Json(json!({ "status": true })).into_response();
    resp.headers_mut().append(header::SET_COOKIE, clear_session_cookie(&k));
    Ok(resp)
}

/// Revoke every session of the signed-in user except this one.
#[utoipa::path(post, path = "/revoke-other-sessions", tag = "session", responses((status = 200, description = "`{ status: true }`"), (status = 401)))]
pub async fn revoke_other_sessions(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth) -> ApiResult<Response> {
    k.sessions().revoke_others(&a.data.session, &ctx).await?;
    Ok(Json(json!({ "status": true })).into_response())
}

/// Change the signed-in user's name or image (not the email: see `/change-email`).
#[utoipa::path(post, path = "/update-user", request_body = UpdateUserBody, tag = "user",
    responses((status = 200, description = "`{ status: true }`"), (status = 400), (status = 401)))]
pub async fn update_user(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<UpdateUserBody>) -> ApiResult<Response> {
    if b.name.is_none() && b.image.is_none() {
        return Err(client_error(Kind::BadRequest, "NO_FIELDS_TO_UPDATE", "Send name and/or image"));
    }
    let image = b.image.as_ref().map(|i| i.as_deref());
    k.users().update(&a.data.user.id, b.name.as_deref(), image, &ctx).await?;
    Ok(Json(json!({ "status": true })).into_response())
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
    Ok(with_session(&k, json!({ "token": token, "user": a.data.user }), s.as_ref(), persistent))
}

/// Start an email change: a confirmation link goes to the new address.
#[utoipa::path(post, path = "/change-email", request_body = ChangeEmailBody, tag = "user",
    responses((status = 200, description = "`{ status: true }`"), (status = 400), (status = 401)))]
pub async fn change_email(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<ChangeEmailBody>) -> ApiResult<Response> {
    k.email_password().change_email(&a.data.user, &b.new_email, b.callback_url.as_deref(), &ctx).await?;
    Ok(Json(json!({ "status": true })).into_response())
}

/// Send a new verification link (same answer whether or not the address is known).
#[utoipa::path(post, path = "/send-verification-email", request_body = SendVerificationBody, tag = "email-password",
    responses((status = 200, description = "`{ status: true }`"), (status = 400)))]
pub async fn send_verification_email(State(k): State<Kavach>, MaybeAuth(auth): MaybeAuth, Body(b): Body<SendVerificationBody>) -> ApiResult<Response> {
    let email = match (b.email, auth) {
        (Some(e), _) => e,
        (None, Some(a)) => a.data.user.email.clone(),
        (None, None) => return Err(client_error(Kind::BadRequest, "VALIDATION_ERROR", "email is required")),
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
    match (result, q.callback_url) {
        (Ok((_, session)), Some(cb)) => {
            let mut resp = pages::redirect(&cb);
            if let Some(s) = &session {
                resp.headers_mut().append(header::SET_COOKIE, set_session_cookie(&k, &s.token, true));
            }
            Ok(resp)
        }
        (Err(e), Some(cb)) if e.is_client_error() => Ok(pages::redirect(&pages::append_query(&cb, "error", &e.code))),
        (Ok((user, session)), None) => {
            let mut resp = if html {
                pages::message_page(&k, "Email verified", &format!("{} is verified. You can close this page and sign in.", user.email))
            } else {
                Json(json!({ "status": true, "user": session.as_ref().map(|_| &user) })).into_response()
            };
            if let Some(s) = &session {
                resp.headers_mut().append(header::SET_COOKIE, set_session_cookie(&k, &s.token, true));
            }
            Ok(resp)
        }
        (Err(e), None) if html && e.is_client_error() => {
            let mut r = pages::message_page(&k, "Link not valid", "This link is invalid, already used or expired. Ask for a new one.");
            *r.status_mut() = super::error::status_of(e.kind);
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
            Ok(()) => pages::message_page(&k, "Check your email", "If this email has an account, a link to reset the password is on its way."),
            Err(e) if e.is_client_error() => {
                let mut r = pages::forgot_form(&k, Some(&e.message));
                *r.status_mut() = super::error::status_of(e.kind);
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
            Ok(()) => pages::message_page(&k, "Password changed", "Your password is changed and every session was signed out. Sign in with the new password."),
            Err(e) if e.code == "INVALID_TOKEN" => {
                let mut r = pages::message_page(&k, "Link not valid", "This reset link is invalid, already used or expired. Ask for a new one.");
                *r.status_mut() = super::error::status_of(e.kind);
                r
            }
            Err(e) if e.is_client_error() => {
                let mut r = pages::reset_form(&k, &token, Some(&e.message));
                *r.status_mut() = super::error::status_of(e.kind);
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

/// Delete the signed-in user (needs the password or a fresh session).
#[utoipa::path(post, path = "/delete-user", request_body = DeleteUserBody, tag = "user",
    responses((status = 200, description = "`{ success: true, message }`"), (status = 400, description = "INVALID_PASSWORD"),
              (status = 401), (status = 403, description = "SESSION_NOT_FRESH")))]
pub async fn delete_user(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<DeleteUserBody>) -> ApiResult<Response> {
    if let Some(cb) = &b.callback_url {
        k.check_callback_url(cb)?;
    }
    k.users().delete_self(&a.data.session, b.password.as_deref(), &ctx).await?;
    let mut resp = Json(json!({ "success": true, "message": "User deleted" })).into_response();
    resp.headers_mut().append(header::SET_COOKIE, clear_session_cookie(&k));
    Ok(resp)
}
