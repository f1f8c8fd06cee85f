//! Magic links over HTTP (`[magic_link]`): better-auth's `magicLink()` routes and bodies
//! (`POST /sign-in/magic-link`, `GET /magic-link/verify`), so `magicLinkClient()` and
//! `signIn.magicLink` work unchanged.

use crate::Kavach;
use crate::http::body::{Body, JsonOrForm};
use crate::http::cookies;
use crate::http::error::ApiResult;
use crate::http::kernel::session_response;
use crate::http::pages::{append_query, redirect};
use crate::http::plugins::two_factor::{pending_redirect, pending_response};
use crate::http::table::{Capability, Route};
use crate::http::{Ctx, no_store};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kavach_core::plugins::magic_link::LinkRequest;
use kavach_core::plugins::two_factor::SignInStep;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "magic_link", enabled: |o| o.magic_link.enabled, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/sign-in/magic-link", || post(sign_in_magic_link)).login().limit(5),
        Route::new(Method::GET, "/magic-link/verify", || get(verify)).limit(20),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(sign_in_magic_link, verify),
    components(schemas(MagicLinkBody)),
    tags((name = "magic-link", description = "Sign-in by a single-use link sent by email (`[magic_link]`); better-auth's magicLink routes.")),
)]
struct Doc;

/// The same-browser cookie (`magic_link.same_browser`).
const BROWSER: &str = "kavach.magic_link";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MagicLinkBody {
    pub email: String,
    /// The name of an account the link creates.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "callbackURL")]
    pub callback_url: Option<String>,
    #[serde(default, rename = "newUserCallbackURL")]
    pub new_user_callback_url: Option<String>,
    #[serde(default, rename = "errorCallbackURL")]
    pub error_callback_url: Option<String>,
    /// Accepted for better-auth's client; Kavach's email template does not use it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Other parameters (an email client's tracking ones) are ignored.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default, rename = "callbackURL")]
    #[param(rename = "callbackURL")]
    pub callback_url: Option<String>,
    #[serde(default, rename = "newUserCallbackURL")]
    #[param(rename = "newUserCallbackURL")]
    pub new_user_callback_url: Option<String>,
    #[serde(default, rename = "errorCallbackURL")]
    #[param(rename = "errorCallbackURL")]
    pub error_callback_url: Option<String>,
}

/// Email a sign-in link (the same answer whether or not the address has an account).
#[utoipa::path(post, path = "/sign-in/magic-link", request_body = MagicLinkBody, tag = "magic-link",
    responses((status = 200, description = "`{ status: true }`"), (status = 400, description = "INVALID_EMAIL, MAGIC_LINK_DISABLED"),
              (status = 403, description = "INVALID_CALLBACK_URL"), (status = 429, description = "Too many emails to this address")))]
pub async fn sign_in_magic_link(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): JsonOrForm<MagicLinkBody>) -> ApiResult<Response> {
    let req = LinkRequest {
        email: b.email,
        name: b.name,
        callback_url: b.callback_url,
        new_user_callback_url: b.new_user_callback_url,
        error_callback_url: b.error_callback_url,
    };
    let sent = k.magic_link().send(&req, &ctx).await?;
    let mut resp = Json(json!({ "status": true })).into_response();
    if let Some(browser) = &sent.browser {
        resp.headers_mut().append(header::SET_COOKIE, cookies::set_signed(&k, BROWSER, Some(browser), k.options().magic_link.expires_in));
    }
    Ok(resp)
}

/// Follow a link: signs in (or, for a user with two-factor on, starts a pending sign-in)
/// and redirects to `callbackURL` (`newUserCallbackURL` for a new account); without one,
/// answers `{ token, user, session }`. A link that is not valid redirects to
/// `errorCallbackURL` (else `callbackURL`) with `?error=INVALID_TOKEN`.
#[utoipa::path(get, path = "/magic-link/verify", tag = "magic-link", params(VerifyQuery),
    responses((status = 200, description = "`{ token, user, session }` (no callbackURL)"), (status = 302, description = "On to the callback URL"),
              (status = 303, description = "On to the hosted two-factor page"),
              (status = 400, description = "INVALID_TOKEN (no callback URL)"), (status = 403, description = "INVALID_CALLBACK_URL, SIGN_UP_DISABLED, BANNED_USER")))]
pub async fn verify(State(k): State<Kavach>, Ctx(ctx): Ctx, headers: HeaderMap, Query(q): Query<VerifyQuery>) -> ApiResult<Response> {
    for url in [&q.callback_url, &q.new_user_callback_url, &q.error_callback_url].into_iter().flatten() {
        k.check_callback_url(url)?;
    }
    let browser = cookies::signed(&k, &headers, BROWSER);
    let token = q.token.unwrap_or_default();
    let out = match k.magic_link().verify(&token, browser.as_deref(), &ctx).await {
        Ok(out) => out,
        Err(e) if e.is_client_error() => {
            if let Some(to) = q.error_callback_url.as_ref().or(q.callback_url.as_ref()) {
                return Ok(redirect(&append_query(to, "error", &e.code)));
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let callback = if out.new_user { q.new_user_callback_url.or(q.callback_url) } else { q.callback_url };
    let mut resp = match (out.step, callback) {
        (SignInStep::SignedIn(s), Some(to)) => {
            let mut resp = redirect(&to);
            resp.headers_mut().append(header::SET_COOKIE, cookies::set_session_cookie(&k, &s.session.token, true));
            resp
        }
        (SignInStep::SignedIn(s), None) => {
            session_response(&k, json!({ "token": s.session.token, "user": s.user, "session": s.session.session }), Some(&s.session), true)
        }
        // Two-factor on, back to the hosted OAuth flow: the hosted two-factor page first.
        (SignInStep::TwoFactor(p), Some(to)) if to.starts_with(&format!("{}/oauth2/continue", k.options().base_path.trim_end_matches('/'))) => {
            pending_redirect(&k, &p, &to)
        }
        // Two-factor on: the app's client finishes at /two-factor/verify-*.
        (SignInStep::TwoFactor(p), Some(to)) => {
            let mut resp = redirect(&to);
            for c in pending_response(&k, &p, true).headers().get_all(header::SET_COOKIE) {
                resp.headers_mut().append(header::SET_COOKIE, c.clone());
            }
            resp
        }
        (SignInStep::TwoFactor(p), None) if crate::http::pages::wants_html(&headers) => pending_redirect(&k, &p, ""),
        (SignInStep::TwoFactor(p), None) => pending_response(&k, &p, true),
    };
    if browser.is_some() {
        resp.headers_mut().append(header::SET_COOKIE, cookies::set_signed(&k, BROWSER, None, std::time::Duration::ZERO));
    }
    no_store(&mut resp);
    Ok(resp)
}
