//! Request guards shared by every route: the Origin check on cookie-authenticated
//! writes (CSRF), and per client IP + route rate limits.

use super::error::{ApiError, client_error};
use super::request_context;
use crate::Kavach;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kavach_core::Kind;

/// The matched route, carried on the response so the metrics layer (which runs
/// before routing) can label it. (`MatchedPath` clones without allocating.)
#[derive(Clone)]
pub struct RouteName(pub MatchedPath);

/// Routes where a request without cookies is still checked when it names an
/// origin (login CSRF: signing a victim into the attacker's account).
const LOGIN_ROUTES: &[&str] = &["/sign-in/email", "/sign-up/email"];

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
/// bearer token (no cookies) are not exposed to CSRF and pass.
pub async fn origin_check(State(k): State<Kavach>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let has_cookie = req.headers().contains_key(header::COOKIE);
    let path = req.uri().path();
    let login = LOGIN_ROUTES.iter().any(|r| path.ends_with(r));
    let origin = origin_of_request(&req);
    if login {
        let fetch_site = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let fetch_mode = req.headers().get("sec-fetch-mode").and_then(|v| v.to_str().ok());
        if fetch_site == Some("cross-site") && fetch_mode == Some("navigate") {
            return client_error(Kind::Forbidden, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED", "Cross-site sign-in is not allowed")
                .into_response();
        }
    }
    if has_cookie || (login && origin.is_some()) {
        match origin {
            None | Some(None) => {
                return client_error(Kind::Forbidden, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin header").into_response();
            }
            Some(Some(o)) if !k.auth().is_trusted_origin(&o) => {
                return client_error(Kind::Forbidden, "INVALID_ORIGIN", "This origin is not trusted").into_response();
            }
            _ => {}
        }
    }
    next.run(req).await
}

/// The rule for a matched route: exact match below the base path; when the router
/// is nested somewhere else, the longest rule path the route ends with.
fn rule_for<'a>(rules: &'a [(String, kavach_core::ratelimit::Rule)], base: &str, matched: &str) -> Option<&'a (String, kavach_core::ratelimit::Rule)> {
    if let Some(rel) = matched.strip_prefix(base).filter(|r| r.starts_with('/')) {
        return rules.iter().find(|(p, _)| p == rel);
    }
    rules.iter().filter(|(p, _)| matched.ends_with(p.as_str())).max_by_key(|(p, _)| p.len())
}

/// Per client IP and route limits, for the routes listed in the rate-limit options.
pub async fn rate_limit(State(k): State<Kavach>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let rl = &k.options().rate_limit;
    if rl.enabled
        && let Some(route) = &route
        && let Some((path, rule)) = rule_for(&rl.routes, &k.options().base_path, route.as_str())
    {
        let (parts, body) = req.into_parts();
        let ctx = request_context(&k, &parts);
        let ip = ctx.ip.map(|i| i.to_string()).unwrap_or_else(|| "unknown".into());
        match k.limiter().hit(&format!("ip:{ip}:{path}"), *rule).await {
            Ok(d) if !d.allowed => {
                let mut resp = ApiError(kavach_core::Error::too_many_requests(d.retry_after_secs)).into_response();
                resp.extensions_mut().insert(RouteName(route.clone()));
                return resp;
            }
            Ok(_) => {}
            Err(e) => return ApiError(e).into_response(),
        }
        let mut resp = next.run(Request::from_parts(parts, body)).await;
        resp.extensions_mut().insert(RouteName(route.clone()));
        return resp;
    }
    let mut resp = next.run(req).await;
    if let Some(r) = route {
        resp.extensions_mut().insert(RouteName(r));
    }
    resp
}
