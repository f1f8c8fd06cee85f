//! The few HTML pages the email links land on (password reset form, verification
//! result). Server-rendered, no JavaScript, strict security headers.

use crate::Kavach;
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
