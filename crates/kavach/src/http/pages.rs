//! The few HTML pages the email links land on (password reset form, verification
//! result). Server-rendered, no JavaScript, strict security headers.

use super::routes::TokenQuery;
use crate::Kavach;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

pub fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

pub fn is_form(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/x-www-form-urlencoded"))
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

pub(crate) fn secure_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        // No `form-action`: browsers apply it to the redirect that follows a form post,
        // and the consent and sign-in forms end in a redirect to the client.
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

pub(crate) fn page(k: &Kavach, title: &str, body: &str) -> Response {
    let mut resp = Html(k.page_templates().page(&k.options().app_name, title, body)).into_response();
    secure_headers(&mut resp);
    resp
}

/// A page whose body is the template `name` rendered with `ctx`.
pub(crate) fn template_page(k: &Kavach, title: &str, name: &str, ctx: minijinja::Value) -> Response {
    page(k, title, &k.page_templates().render(name, ctx))
}

pub fn message_page(k: &Kavach, title: &str, message: &str) -> Response {
    page(k, title, &format!("<p>{}</p>", escape(message)))
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

/// `GET /forgot-password`: ask for a reset link (the page email notices link to).
pub async fn forgot_password_page(State(k): State<Kavach>) -> Response {
    forgot_form(&k, None)
}

pub fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

/// `url` with `key=value` added to its query.
pub fn append_query(url: &str, key: &str, value: &str) -> String {
    kavach_core::plugins::oauth::authorize::with_query(url, &[(key, value)])
}

/// `GET /reset-password/{token}`: the link in the reset email. With `callbackURL`
/// it redirects to `callbackURL?token=...` (or `?error=INVALID_TOKEN`), as
/// better-auth does; without, it shows Kavach's own form.
pub async fn reset_password_page(State(k): State<Kavach>, Path(token): Path<String>, Query(q): Query<TokenQuery>) -> Response {
    let valid = match k.email_password().reset_token_is_valid(&token).await {
        Ok(v) => v,
        Err(e) => return super::error::ApiError(e).into_response(),
    };
    if let Some(cb) = q.callback_url {
        if let Err(e) = k.check_callback_url(&cb) {
            return super::error::ApiError(e).into_response();
        }
        return redirect(&if valid { append_query(&cb, "token", &token) } else { append_query(&cb, "error", "INVALID_TOKEN") });
    }
    if !valid {
        let mut r = message_page(&k, "Link not valid", "This reset link is invalid, already used or expired. Ask for a new one.");
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    }
    reset_form(&k, &token, None)
}
