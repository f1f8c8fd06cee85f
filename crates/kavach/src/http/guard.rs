//! Request guards shared by every route: the Origin check on cookie-authenticated
//! writes (CSRF), and per client IP + route rate limits. Both are plain functions
//! called by the API middleware in `mod.rs`, before the handler runs.

use super::error::{ApiError, client_error};
use crate::Kavach;
use axum::extract::Request;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use kavach_core::{Code, Kind};

fn origin_of_request(req: &Request) -> Option<Option<String>> {
    let h = req.headers();
    if let Some(o) = h.get(header::ORIGIN) {
        let o = o.to_str().unwrap_or("null");
        return Some(if o == "null" { None } else { Some(o.to_owned()) });
    }
    h.get(header::REFERER).map(|r| r.to_str().ok().and_then(kavach_core::origin_of))
}

/// CSRF defence: a state-changing request that carries cookies must come from
/// the base URL's origin or a trusted origin. Requests authenticated only by a
/// bearer token (no cookies) are not exposed to CSRF and pass. `login` routes (the
/// route table's `login`) are checked even without cookies when the request names an
/// origin (login CSRF: signing a victim into the attacker's account). Returns the
/// refusal, if any.
pub fn origin_check(k: &Kavach, login: bool, req: &Request) -> Option<Response> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let has_cookie = req.headers().contains_key(header::COOKIE);
    let mut origin = origin_of_request(req);
    // A form on one of our pages (sent with `Referrer-Policy: no-referrer`) posts with
    // `Origin: null`; the browser's `Sec-Fetch-Site: same-origin` says where it came from.
    if origin == Some(None) && req.headers().get("sec-fetch-site").is_some_and(|v| v == "same-origin") {
        origin = Some(Some(k.options().origin()));
    }
    if login {
        let fetch_site = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let fetch_mode = req.headers().get("sec-fetch-mode").and_then(|v| v.to_str().ok());
        if fetch_site == Some("cross-site") && fetch_mode == Some("navigate") {
            return Some(client_error(Kind::Forbidden, Code::CrossSiteNavigationLoginBlocked, "Cross-site sign-in is not allowed").into_response());
        }
    }
    if has_cookie || (login && origin.is_some()) {
        match origin {
            None | Some(None) => {
                return Some(client_error(Kind::Forbidden, Code::MissingOrNullOrigin, "Missing or null Origin header").into_response());
            }
            Some(Some(o)) if !k.is_trusted_origin(&o) => {
                return Some(client_error(Kind::Forbidden, Code::InvalidOrigin, "This origin is not trusted").into_response());
            }
            _ => {}
        }
    }
    None
}

/// Per client IP and route limits: the route table's defaults, overridden by
/// `rate_limit.routes` (`route` is the route's template). Returns the refusal, if any.
pub async fn rate_limit(k: &Kavach, route: &'static str, client_ip: Option<std::net::IpAddr>) -> Option<Response> {
    if !k.options().rate_limit.enabled {
        return None;
    }
    let (path, rule) = (route, k.route_table().limit(route)?);
    let ip = client_ip.map(|i| i.to_string()).unwrap_or_else(|| "unknown".into());
    match k.limiter().hit(&format!("ip:{ip}:{path}"), rule).await {
        Ok(d) if !d.allowed => Some(ApiError(kavach_core::Error::too_many_requests(d.retry_after_secs)).into_response()),
        Ok(_) => None,
        Err(e) => Some(ApiError(e).into_response()),
    }
}

/// The Origin check for the app's own routes. See [`Kavach::origin_check`].
#[derive(Clone)]
pub struct OriginCheckLayer {
    pub(crate) kavach: Kavach,
}

impl<S> tower::Layer<S> for OriginCheckLayer {
    type Service = super::guarded::Guarded<S, OriginCheckLayer>;
    fn layer(&self, inner: S) -> Self::Service {
        super::guarded::Guarded { inner, guard: self.clone() }
    }
}

impl super::guarded::Guard for OriginCheckLayer {
    async fn check(&self, req: Request) -> super::guarded::Verdict {
        match origin_check(&self.kavach, false, &req) {
            Some(refusal) => super::guarded::Verdict::Refuse(refusal),
            None => super::guarded::Verdict::Admit(req, None),
        }
    }
}
