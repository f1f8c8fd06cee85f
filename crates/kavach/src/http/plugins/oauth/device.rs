//! RFC 8628 device authorization: the endpoint the device calls, and the page where
//! the user enters the code, signs in if needed, and approves or denies.

use super::token::client_request;
use super::{error_response, json_no_store, parse_params};
use crate::Kavach;
use crate::http::pages::template_page;
use crate::http::{Ctx, MaybeAuth, cookies};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use kavach_core::plugins::oauth::{OAuthError, OAuthErrorCode};
use kavach_core::{Kind, User};
use minijinja::context;
use serde_json::json;

/// `POST /oauth2/device_authorization`.
#[utoipa::path(post, path = "/oauth2/device_authorization", tag = "oauth", request_body(content = super::openapi::DeviceAuthorizationForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "RFC 8628 §3.2", body = super::openapi::DeviceAuthorization), (status = 400, body = super::OAuthErrorBody), (status = 401, description = "invalid_client", body = super::OAuthErrorBody)))]
pub async fn device_authorization(State(k): State<Kavach>, headers: HeaderMap, body: Bytes) -> Response {
    let (client, form) = match client_request(&k, &headers, &body, "/oauth2/device_authorization").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match k.tokens().device_authorization(&client, &form).await {
        Ok(d) => {
            let uri = k.options().api_url("/oauth2/device");
            let complete = kavach_core::plugins::oauth::authorize::with_query(&uri, &[("user_code", &d.user_code)]);
            json_no_store(
                StatusCode::OK,
                json!({ "device_code": d.device_code, "user_code": d.user_code, "verification_uri": uri,
                "verification_uri_complete": complete, "expires_in": d.expires_in, "interval": d.interval }),
            )
        }
        Err(e) => error_response(&e, false),
    }
}

fn action(k: &Kavach) -> String {
    format!("{}/oauth2/device", k.options().base_path.trim_end_matches('/'))
}

fn code_form(k: &Kavach, code: &str, signed_in: bool, error: Option<&str>) -> Response {
    template_page(k, "Connect a device", "device.html", context! { code, signed_in, error, action => action(k) })
}

fn message(k: &Kavach, title: &str, message: &str) -> Response {
    template_page(k, title, "message.html", context! { message })
}

/// `GET /oauth2/device[?user_code=…]`.
#[utoipa::path(get, path = "/oauth2/device", tag = "oauth", params(super::openapi::UserCodeQuery), responses((status = 200, description = "The page where the user enters the code", content_type = "text/html", body = String)))]
pub async fn device_page(State(k): State<Kavach>, MaybeAuth(auth): MaybeAuth, RawQuery(q): RawQuery) -> Response {
    let params = parse_params(q.as_deref().unwrap_or("")).unwrap_or_default();
    code_form(&k, params.get("user_code").map(String::as_str).unwrap_or(""), auth.is_some(), None)
}

fn csrf(k: &Kavach, session_token: &str, code: &str) -> String {
    k.authorize().form_token(session_token, &format!("device\0{}", kavach_core::plugins::oauth::device::normalize_user_code(code)))
}

/// `POST /oauth2/device`: `step=lookup` (sign in if needed, show the request) or
/// `step=decide` (approve or deny).
#[utoipa::path(post, path = "/oauth2/device", tag = "oauth", request_body(content = super::openapi::DeviceForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "The next step or the outcome", content_type = "text/html", body = String), (status = 400, description = "Unknown or expired code, bad form", content_type = "text/html", body = String), (status = 401, description = "Wrong email or password", content_type = "text/html", body = String), (status = 403, description = "Bad anti-forgery token", content_type = "text/html", body = String)))]
pub async fn device_submit(State(k): State<Kavach>, MaybeAuth(auth): MaybeAuth, Ctx(ctx): Ctx, body: Bytes) -> Response {
    let form = match std::str::from_utf8(&body).map_err(|_| OAuthError::new(OAuthErrorCode::InvalidRequest, "not UTF-8")).and_then(parse_params) {
        Ok(f) => f,
        Err(e) => return page_error(&k, StatusCode::BAD_REQUEST, &e.description),
    };
    let code = form.get("user_code").cloned().unwrap_or_default();
    // Who is approving: the session, or a sign-in on this same form.
    let mut new_cookie = None;
    let (user, auth_time, session_token): (User, i64, String) = match (&auth, form.get("email"), form.get("password")) {
        (Some(a), _, _) => (a.data.user.clone(), a.data.session.created_at.0 / 1000, a.token.clone()),
        (None, Some(email), Some(password)) => match k.email_password().sign_in(email, password, &ctx).await {
            Ok(kavach_core::plugins::two_factor::SignInStep::TwoFactor(p)) => {
                let next = kavach_core::plugins::oauth::authorize::with_query(
                    &format!("{}/oauth2/device", k.options().base_path.trim_end_matches('/')),
                    &[("user_code", code.as_str())],
                );
                return crate::http::plugins::two_factor::pending_redirect(&k, &p, &next);
            }
            Ok(kavach_core::plugins::two_factor::SignInStep::SignedIn(out)) => {
                new_cookie = Some(cookies::set_session_cookie(&k, &out.session.token, true));
                (out.user, kavach_core::store::Ts::now().0 / 1000, out.session.token)
            }
            Err(e) => {
                let msg = match e.kind {
                    Kind::TooManyRequests { .. } => "Too many attempts. Wait a few minutes and try again.".to_owned(),
                    Kind::Unauthorized => "The email or password is not correct.".to_owned(),
                    _ if e.is_client_error() => e.message.to_string(),
                    _ => "Sign-in is not available right now.".to_owned(),
                };
                let mut r = code_form(&k, &code, false, Some(&msg));
                *r.status_mut() = crate::http::error::status_of(e.kind);
                return r;
            }
        },
        (None, _, _) => return code_form(&k, &code, false, Some("Sign in to connect the device.")),
    };
    let mut resp = match form.get("step").map(String::as_str) {
        Some("decide") => {
            if !form.get("csrf").is_some_and(|c| kavach_core::crypto::ct_eq(c.as_bytes(), csrf(&k, &session_token, &code).as_bytes())) {
                return page_error(&k, StatusCode::FORBIDDEN, "This form was not issued to your session; start again.");
            }
            let approve = form.get("decision").is_some_and(|d| d == "approve");
            match k.tokens().device_decide(&code, &user, auth_time, approve, &ctx).await {
                Ok(true) if approve => message(&k, "Device connected", "You can return to your device: it is signed in."),
                Ok(true) => message(&k, "Request denied", "The device was not given access."),
                Ok(false) => code_form(&k, "", true, Some("This code is not valid (expired, already used, or mistyped).")),
                Err(e) => return crate::http::error::ApiError(e).into_response_page(),
            }
        }
        _ => match k.tokens().device_request(&code).await {
            Ok(Some(req)) => {
                let (name, client_host) = match k.clients().get(&req.client_id).await {
                    Ok(Some(c)) => super::authorize::display(&c),
                    _ => (req.client_id.clone(), None),
                };
                let o = &k.options().oauth;
                let scopes: Vec<_> = req.scope.iter().map(|s| context! { scope => s, description => o.describe(s) }).collect();
                let resource =
                    req.resource.as_ref().map(|r| context! { uri => r, name => o.resource(r).and_then(|d| d.name.clone()).unwrap_or_else(|| r.clone()) });
                let ctx = context! {
                    client_name => &name, client_host, email => &user.email, resource, scopes, code => &code,
                    csrf => csrf(&k, &session_token, &code), action => action(&k),
                };
                template_page(&k, &format!("Allow {name}?"), "device_confirm.html", ctx)
            }
            Ok(None) => {
                let mut r = code_form(&k, &code, true, Some("This code is not valid (expired, already used, or mistyped)."));
                *r.status_mut() = StatusCode::BAD_REQUEST;
                r
            }
            Err(e) => return crate::http::error::ApiError(e).into_response_page(),
        },
    };
    if let Some(c) = new_cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

fn page_error(k: &Kavach, status: StatusCode, msg: &str) -> Response {
    let mut r = template_page(k, "This request cannot continue", "message.html", context! { message => msg, alert => true });
    *r.status_mut() = status;
    r
}

trait PageError {
    fn into_response_page(self) -> Response;
}

impl PageError for crate::http::error::ApiError {
    fn into_response_page(self) -> Response {
        tracing::error!(error = %self.0, "device authorization failed");
        let mut r = axum::response::IntoResponse::into_response(self);
        r.headers_mut().remove(header::SET_COOKIE);
        r
    }
}
