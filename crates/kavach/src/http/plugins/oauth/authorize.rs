//! The authorization endpoint and the hosted pages it leads to: sign-in, consent,
//! and the user's list of authorized apps. Server-rendered, no JavaScript, not
//! frameable, no referrer. The validated request travels sealed in a `flow`
//! parameter, so any instance can continue a flow another started.

use super::parse_params;
use crate::Kavach;
use crate::http::cookies;
use crate::http::metrics::SignIn;
use crate::http::pages::{redirect, template_page, wants_html};
use crate::http::{Authenticated, Ctx, MaybeAuth};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kavach_core::plugins::oauth::authorize::{AuthRequest, Next, Refusal};
use kavach_core::plugins::oauth::{OAuthError, OAuthErrorCode};
use kavach_core::{Code, Kind, RequestContext};
use minijinja::context;
use serde_json::json;

fn error_page(k: &Kavach, status: StatusCode, e: &OAuthError) -> Response {
    let mut r = template_page(k, "This request cannot continue", "error.html", context! { description => &e.description, code => e.error.as_str() });
    *r.status_mut() = status;
    r
}

/// 303 after a POST (RFC 9700 §4.11: never 307 after credentials were posted).
fn see_other(to: &str) -> Response {
    let mut r = redirect(to);
    *r.status_mut() = StatusCode::SEE_OTHER;
    r
}

fn path(k: &Kavach, p: &str) -> String {
    format!("{}{p}", k.options().base_path.trim_end_matches('/'))
}

/// `GET /oauth2/authorize`.
#[utoipa::path(get, path = "/oauth2/authorize", tag = "oauth", params(super::openapi::AuthorizeQuery), responses((status = 302, description = "To the client's redirect URI with `code` (or `error`), or to the hosted sign-in"), (status = 303, description = "To the hosted sign-in or consent step"), (status = 200, description = "The consent page", content_type = "text/html", body = String), (status = 400, description = "Error page (the redirect URI cannot be trusted)", content_type = "text/html", body = String)))]
pub async fn authorize(State(k): State<Kavach>, MaybeAuth(auth): MaybeAuth, Ctx(ctx): Ctx, RawQuery(q): RawQuery) -> Response {
    let params = match parse_params(q.as_deref().unwrap_or("")) {
        Ok(p) => p,
        Err(e) => return error_page(&k, StatusCode::BAD_REQUEST, &e),
    };
    if let Some(id) = params.get("client_id")
        && let Err(e) = super::cimd::load(&k, id).await
    {
        return error_page(&k, StatusCode::BAD_REQUEST, &e);
    }
    match k.authorize().validate(&params).await {
        Ok(req) => proceed(&k, &req, auth.as_ref(), &ctx).await,
        Err(Refusal::Page(e)) if e.error == OAuthErrorCode::ServerError => error_page(&k, StatusCode::INTERNAL_SERVER_ERROR, &e),
        Err(Refusal::Page(e)) => error_page(&k, StatusCode::BAD_REQUEST, &e),
        Err(Refusal::Redirect { redirect_uri, state, error }) => redirect(&k.authorize().error_redirect(&redirect_uri, state.as_deref(), &error)),
    }
}

async fn proceed(k: &Kavach, req: &AuthRequest, auth: Option<&Authenticated>, ctx: &RequestContext) -> Response {
    let user = auth.map(|a| (&a.data.user, a.data.session.created_at.0 / 1000));
    let flow = k.authorize().seal(req);
    match k.authorize().next(req, user, ctx).await {
        Ok(Next::Redirect(url)) => redirect(&url),
        Ok(Next::SignIn) => redirect(&kavach_core::plugins::oauth::authorize::with_query(&k.options().api_url("/oauth2/sign-in"), &[("flow", &flow)])),
        Ok(Next::Consent) => match auth {
            Some(a) => consent_page(k, req, &flow, a).await,
            None => error_page(k, StatusCode::UNAUTHORIZED, &OAuthError::new(OAuthErrorCode::LoginRequired, "sign in first")),
        },
        Err(e) => {
            tracing::error!(error = %e, "authorization failed");
            error_page(k, StatusCode::INTERNAL_SERVER_ERROR, &OAuthError::new(OAuthErrorCode::ServerError, "the request could not be completed"))
        }
    }
}

fn open_flow(k: &Kavach, flow: Option<&String>) -> Result<AuthRequest, Response> {
    flow.and_then(|f| k.authorize().open(f)).ok_or_else(|| {
        error_page(
            k,
            StatusCode::BAD_REQUEST,
            &OAuthError::new(OAuthErrorCode::InvalidRequest, "this sign-in link is invalid or has expired; start again from the application"),
        )
    })
}

/// A posted form carrying a sealed `flow`: its parameters and the request it continues.
fn flow_form(k: &Kavach, body: &Bytes) -> Result<(kavach_core::plugins::oauth::authorize::Params, AuthRequest), Response> {
    let form = std::str::from_utf8(body)
        .map_err(|_| OAuthError::new(OAuthErrorCode::InvalidRequest, "not UTF-8"))
        .and_then(parse_params)
        .map_err(|e| error_page(k, StatusCode::BAD_REQUEST, &e))?;
    let req = open_flow(k, form.get("flow"))?;
    Ok((form, req))
}

fn sign_in_form(k: &Kavach, flow: &str, client_name: &str, error: Option<&str>) -> Response {
    let o = k.options();
    let ctx = context! {
        client_name, error, flow,
        email_password => o.email_password.enabled,
        username => o.username.enabled,
        magic_link => o.magic_link.enabled,
        email_otp => o.email_otp.enabled,
        phone_number => o.phone_number.enabled,
        passkey => o.passkey.enabled,
        passkey_options_url => path(k, "/passkey/generate-authenticate-options"),
        // The page asks the wallet only: with `email_required` a new wallet needs a form of its own.
        siwe => o.siwe.enabled && !o.siwe.email_required,
        siwe_nonce_url => path(k, "/siwe/nonce"),
        siwe_domain => o.siwe.expected_domain(&o.base_url),
        siwe_uri => kavach_core::origin_of(&o.base_url).unwrap_or_default(),
        one_tap => o.one_tap.enabled && !o.one_tap.client_ids.is_empty(),
        one_tap_client_id => o.one_tap.client_ids.first(),
        one_tap_nonce_url => path(k, "/one-tap/nonce"),
        page_script => minijinja::Value::from_safe_string(PAGE_SCRIPT.to_owned()),
        action => path(k, "/oauth2/sign-in"),
        forgot_url => path(k, "/forgot-password"),
    };
    let mut r = template_page(k, "Sign in", "sign_in.html", ctx);
    if o.passkey.enabled || (o.siwe.enabled && !o.siwe.email_required) || o.one_tap.enabled {
        // The page's one script, allowed by its hash, and what it fetches; Google's One Tap
        // library, frame and style when that is on.
        let hash = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, kavach_core::crypto::sha256(PAGE_SCRIPT.as_bytes()));
        let gsi = "https://accounts.google.com/gsi/";
        let csp = match o.one_tap.enabled {
            true => format!(
                "default-src 'none'; style-src 'unsafe-inline' {gsi}style; script-src 'sha256-{hash}' {gsi}client; connect-src 'self' {gsi}; frame-src {gsi}; frame-ancestors 'none'; base-uri 'none'"
            ),
            false => format!(
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
            ),
        };
        if let Ok(v) = HeaderValue::from_str(&csp) {
            r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    r
}

/// The sign-in page's script for the methods that need one (passkey, wallet, One Tap):
/// `templates/pages/sign_in.js`.
const PAGE_SCRIPT: &str = include_str!("../../../../templates/pages/sign_in.js");

/// How a client is shown to the user deciding on it: its self-declared name with
/// invisible and bidirectional characters removed, and, for a metadata-document client,
/// the host its description came from (CIMD §8.5: a document named "Claude" served from
/// elsewhere must not pass for Claude).
pub(crate) fn display(c: &kavach_core::plugins::oauth::clients::Client) -> (String, Option<String>) {
    let name = kavach_core::text::neutralize(c.metadata.get("client_name").and_then(|v| v.as_str()).unwrap_or(&c.client_id));
    let name = if name.trim().is_empty() { c.client_id.clone() } else { name };
    let host = (c.kind == "document").then(|| host_of(&c.client_id));
    (name, host)
}

async fn client_name(k: &Kavach, client_id: &str) -> String {
    match k.clients().get(client_id).await {
        Ok(Some(c)) => display(&c).0,
        _ => client_id.to_owned(),
    }
}

/// `GET /oauth2/sign-in?flow=…`: the hosted sign-in page.
#[utoipa::path(get, path = "/oauth2/sign-in", tag = "oauth", params(super::openapi::FlowQuery), responses((status = 200, description = "The hosted sign-in form", content_type = "text/html", body = String), (status = 400, description = "The flow is invalid or expired", content_type = "text/html", body = String)))]
pub async fn sign_in_page(State(k): State<Kavach>, RawQuery(q): RawQuery) -> Response {
    let params = parse_params(q.as_deref().unwrap_or("")).unwrap_or_default();
    let req = match open_flow(&k, params.get("flow")) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let name = client_name(&k, &req.client_id).await;
    sign_in_form(&k, params.get("flow").map(String::as_str).unwrap_or_default(), &name, None)
}

/// `POST /oauth2/sign-in`: sign in by the method the form names (`method`), set the
/// session cookie, continue the flow. `password` (the default: email, or username with
/// `[username]`, and password), `magic-link` (a link that comes back to the flow),
/// `email-otp` / `email-otp-code` and `phone-otp` / `phone-otp-code` (a code sent, then
/// typed in), `passkey` (`response`: the browser's answer to the passkey options). Whatever the method, a user with two-factor on goes to the hosted
/// two-factor page first.
#[utoipa::path(post, path = "/oauth2/sign-in", tag = "oauth", request_body(content = super::openapi::SignInForm, content_type = "application/x-www-form-urlencoded"), responses((status = 302, description = "Signed in: on to consent or the client"), (status = 303, description = "Signed in: on to the next step"), (status = 200, description = "The form again with the error, or the next step (enter the code, check your email)", content_type = "text/html", body = String), (status = 400, description = "The flow is invalid or expired", content_type = "text/html", body = String), (status = 401, description = "Wrong email or password (the form again)", content_type = "text/html", body = String)))]
pub async fn sign_in(State(k): State<Kavach>, Ctx(ctx): Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let (form, req) = match flow_form(&k, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let flow = form.get("flow").map(String::as_str).unwrap_or_default();
    let name = client_name(&k, &req.client_id).await;
    let field = |n: &str| form.get(n).map(String::as_str).unwrap_or("");
    let (email, phone, code) = (field("email"), field("phone"), field("code"));
    let o = k.options();
    let res = match field("method") {
        "" | "password" if o.email_password.enabled => {
            let password = field("password");
            if o.username.enabled && !email.contains('@') {
                k.usernames().sign_in(email, password, &ctx).await
            } else {
                k.email_password().sign_in(email, password, &ctx).await
            }
        }
        "magic-link" if o.magic_link.enabled => {
            let back = kavach_core::plugins::oauth::authorize::with_query(&path(&k, "/oauth2/continue"), &[("flow", flow)]);
            let req = kavach_core::plugins::magic_link::LinkRequest { email: email.to_owned(), callback_url: Some(back), ..Default::default() };
            return match k.magic_link().send(&req, &ctx).await {
                Ok(_) => sign_in_step(&k, flow, &name, SignInStep::LinkSent { email }),
                Err(e) => sign_in_failed(&k, flow, &name, e),
            };
        }
        "email-otp" if o.email_otp.enabled => {
            return match k.email_otp().send(email, kavach_core::plugins::email_otp::OtpType::SignIn, &ctx).await {
                Ok(()) => sign_in_step(&k, flow, &name, SignInStep::EmailCode { email }),
                Err(e) => sign_in_failed(&k, flow, &name, e),
            };
        }
        "email-otp-code" if o.email_otp.enabled => {
            let req = kavach_core::plugins::email_otp::OtpSignIn { email: email.to_owned(), otp: code.to_owned(), ..Default::default() };
            match k.email_otp().sign_in(&req, &ctx).await {
                Err(e) if e.is_client_error() && !matches!(e.kind, Kind::TooManyRequests { .. } | Kind::Forbidden) => {
                    return sign_in_step(&k, flow, &name, SignInStep::EmailCodeAgain { email, error: &e.message });
                }
                r => r.map(|(step, _)| step),
            }
        }
        "passkey" if o.passkey.enabled => match (cookies::signed(&k, &headers, cookies::PASSKEY), serde_json::from_str::<serde_json::Value>(field("response")))
        {
            (Some(token), Ok(answer)) => k.passkey().authenticate(&token, &answer, &ctx).await,
            _ => return sign_in_form(&k, flow, &name, Some("The passkey sign-in did not complete: try again.")),
        },
        "siwe" if o.siwe.enabled => {
            // Form encoding turned the message's line feeds into CRLF; the wallet signed LF.
            let message = field("message").replace("\r\n", "\n");
            let req = kavach_core::plugins::siwe::VerifyRequest { message, signature: field("signature").to_owned(), email: None };
            k.siwe().verify(&req, &ctx).await.map(|v| v.step)
        }
        "one-tap" if o.one_tap.enabled => k.one_tap().sign_in(field("credential"), &ctx).await.map(|s| s.step),
        "phone-otp" if o.phone_number.enabled => {
            return match k.phone_number().send_otp(phone).await {
                Ok(()) => sign_in_step(&k, flow, &name, SignInStep::PhoneCode { phone }),
                Err(e) => sign_in_failed(&k, flow, &name, e),
            };
        }
        "phone-otp-code" if o.phone_number.enabled => {
            let req = kavach_core::plugins::phone_number::VerifyRequest { phone_number: phone.to_owned(), code: code.to_owned(), disable_session: false };
            match k.phone_number().verify(&req, &ctx).await {
                Ok(v) => v.step.ok_or_else(kavach_core::Error::unauthorized),
                Err(e) if e.is_client_error() && !matches!(e.kind, Kind::TooManyRequests { .. } | Kind::Forbidden) => {
                    return sign_in_step(&k, flow, &name, SignInStep::PhoneCodeAgain { phone, error: &e.message });
                }
                Err(e) => Err(e),
            }
        }
        _ => return sign_in_form(&k, flow, &name, Some("This sign-in method is not available here.")),
    };
    match res {
        Ok(kavach_core::plugins::two_factor::SignInStep::TwoFactor(p)) => {
            // No session (and so no code) before the second factor: the hosted page asks
            // for it, then the flow continues.
            k.metrics().sign_in(SignIn::Success);
            let next = kavach_core::plugins::oauth::authorize::with_query(&path(&k, "/oauth2/continue"), &[("flow", flow)]);
            crate::http::plugins::two_factor::pending_redirect(&k, &p, &next)
        }
        Ok(kavach_core::plugins::two_factor::SignInStep::SignedIn(out)) => {
            k.metrics().sign_in(SignIn::Success);
            let mut r = see_other(&kavach_core::plugins::oauth::authorize::with_query(&k.options().api_url("/oauth2/continue"), &[("flow", flow)]));
            r.headers_mut().append(header::SET_COOKIE, cookies::set_session_cookie(&k, &out.session.token, true));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => sign_in_failed(&k, flow, &name, e),
    }
}

/// The sign-in form again, with what went wrong (and its status).
fn sign_in_failed(k: &Kavach, flow: &str, name: &str, e: kavach_core::Error) -> Response {
    let blocked = matches!(e.kind, Kind::TooManyRequests { .. });
    k.metrics().sign_in(if blocked { SignIn::Blocked } else { SignIn::Failure });
    if !e.is_client_error() {
        tracing::error!(error = %e, "sign-in failed");
    }
    let message = match e.kind {
        Kind::TooManyRequests { .. } => "Too many attempts. Wait a few minutes and try again.".to_owned(),
        // A wrong password (or username) says no more than that; a passkey, wallet or
        // One Tap refusal says which check failed.
        Kind::Unauthorized if e.is(Code::InvalidEmailOrPassword) || e.is(Code::InvalidUsernameOrPassword) => "The email or password is not correct.".to_owned(),
        Kind::Unauthorized => e.message.to_string(),
        _ if e.is_client_error() => e.message.to_string(),
        _ => "Sign-in is not available right now. Try again later.".to_owned(),
    };
    let mut r = sign_in_form(k, flow, name, Some(&message));
    *r.status_mut() = crate::http::error::status_of(e.kind);
    r
}

/// A step of a sign-in by link or code, shown on the sign-in page.
enum SignInStep<'a> {
    LinkSent { email: &'a str },
    EmailCode { email: &'a str },
    EmailCodeAgain { email: &'a str, error: &'a str },
    PhoneCode { phone: &'a str },
    PhoneCodeAgain { phone: &'a str, error: &'a str },
}

fn sign_in_step(k: &Kavach, flow: &str, client_name: &str, step: SignInStep<'_>) -> Response {
    let (name, email, phone, error) = match step {
        SignInStep::LinkSent { email } => ("link-sent", email, "", None),
        SignInStep::EmailCode { email } => ("email-code", email, "", None),
        SignInStep::EmailCodeAgain { email, error } => ("email-code", email, "", Some(error)),
        SignInStep::PhoneCode { phone } => ("phone-code", "", phone, None),
        SignInStep::PhoneCodeAgain { phone, error } => ("phone-code", "", phone, Some(error)),
    };
    let ctx = context! { client_name, flow, step => name, email, phone, error, action => path(k, "/oauth2/sign-in") };
    template_page(k, "Sign in", "sign_in.html", ctx)
}

/// `GET /oauth2/continue?flow=…`: back from the sign-in page.
#[utoipa::path(get, path = "/oauth2/continue", tag = "oauth", params(super::openapi::FlowQuery), responses((status = 302, description = "On to the client"), (status = 303, description = "On to the next step"), (status = 200, description = "The consent page", content_type = "text/html", body = String), (status = 400, description = "The flow is invalid or expired", content_type = "text/html", body = String)))]
pub async fn continue_flow(State(k): State<Kavach>, MaybeAuth(auth): MaybeAuth, Ctx(ctx): Ctx, RawQuery(q): RawQuery) -> Response {
    let params = parse_params(q.as_deref().unwrap_or("")).unwrap_or_default();
    match open_flow(&k, params.get("flow")) {
        Ok(req) => proceed(&k, &req, auth.as_ref(), &ctx).await,
        Err(r) => r,
    }
}

fn host_of(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) if scheme == "http" || scheme == "https" => rest.split(['/', '?', '#']).next().unwrap_or(rest).to_owned(),
        _ => uri.split(['?', '#']).next().unwrap_or(uri).to_owned(),
    }
}

fn device_only(redirects: &[&str]) -> bool {
    redirects.iter().all(|r| {
        let h = host_of(r);
        !r.starts_with("https://") || h.starts_with("localhost") || h.starts_with("127.0.0.1") || h.starts_with("[::1]")
    })
}

async fn consent_page(k: &Kavach, req: &AuthRequest, flow: &str, auth: &Authenticated) -> Response {
    let client = match k.clients().get(&req.client_id).await {
        Ok(Some(c)) => c,
        _ => return error_page(k, StatusCode::BAD_REQUEST, &OAuthError::new(OAuthErrorCode::InvalidClient, "unknown client")),
    };
    let (name, client_host) = display(&client);
    let o = &k.options().oauth;
    let scopes: Vec<_> = req.scope.iter().map(|s| context! { scope => s, description => o.describe(s) }).collect();
    let resource = req.resource.as_ref().map(|r| context! { uri => r, name => o.resource(r).and_then(|d| d.name.clone()).unwrap_or_else(|| r.clone()) });
    let ctx = context! {
        client_name => &name,
        client_host,
        email => &auth.data.user.email,
        redirect_host => host_of(&req.redirect_uri),
        device_only => device_only(&client.redirect_uris()),
        resource, scopes, flow,
        csrf => k.authorize().form_token(&auth.token, flow),
        action => path(k, "/oauth2/consent"),
        grants_url => path(k, "/oauth2/grants"),
    };
    template_page(k, &format!("Allow {name}?"), "consent.html", ctx)
}

/// `POST /oauth2/consent`: the user's decision.
#[utoipa::path(post, path = "/oauth2/consent", tag = "oauth", request_body(content = super::openapi::ConsentForm, content_type = "application/x-www-form-urlencoded"), responses((status = 302, description = "To the client's redirect URI with `code` or `error=access_denied`"), (status = 303, description = "To the hosted sign-in"), (status = 400, description = "Invalid flow or decision", content_type = "text/html", body = String), (status = 403, description = "Bad anti-forgery token", content_type = "text/html", body = String)))]
pub async fn consent(State(k): State<Kavach>, MaybeAuth(auth): MaybeAuth, Ctx(ctx): Ctx, body: Bytes) -> Response {
    let (form, req) = match flow_form(&k, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let flow = form.get("flow").map(String::as_str).unwrap_or_default();
    let Some(a) = auth else {
        return see_other(&kavach_core::plugins::oauth::authorize::with_query(&k.options().api_url("/oauth2/sign-in"), &[("flow", flow)]));
    };
    let expected = k.authorize().form_token(&a.token, flow);
    if !form.get("csrf").is_some_and(|c| kavach_core::crypto::ct_eq(c.as_bytes(), expected.as_bytes())) {
        return error_page(
            &k,
            StatusCode::FORBIDDEN,
            &OAuthError::new(OAuthErrorCode::InvalidRequest, "this form was not issued to your session; start again"),
        );
    }
    let decision = form.get("decision").map(String::as_str);
    if !matches!(decision, Some("approve" | "deny")) {
        return error_page(&k, StatusCode::BAD_REQUEST, &OAuthError::new(OAuthErrorCode::InvalidRequest, "decision must be approve or deny"));
    }
    // One decision per form: a replayed post cannot get a second code.
    match k.authorize().consume_form(flow).await {
        Ok(true) => {}
        Ok(false) => {
            return error_page(
                &k,
                StatusCode::BAD_REQUEST,
                &OAuthError::new(OAuthErrorCode::InvalidRequest, "this form was already submitted; start again from the application"),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "consent failed");
            return error_page(&k, StatusCode::INTERNAL_SERVER_ERROR, &OAuthError::new(OAuthErrorCode::ServerError, "the request could not be completed"));
        }
    }
    match decision {
        Some("approve") => {
            let remember = form.get("remember").is_some_and(|v| v == "on" || v == "true");
            match k.authorize().approve(&req, &a.data.user, a.data.session.created_at.0 / 1000, remember, &ctx).await {
                Ok(url) => see_other(&url),
                Err(e) => {
                    tracing::error!(error = %e, "consent failed");
                    error_page(&k, StatusCode::INTERNAL_SERVER_ERROR, &OAuthError::new(OAuthErrorCode::ServerError, "the request could not be completed"))
                }
            }
        }
        _ => match k.authorize().deny(&req, &a.data.user, &ctx).await {
            Ok(url) => see_other(&url),
            Err(e) => {
                tracing::error!(error = %e, "consent failed");
                error_page(&k, StatusCode::INTERNAL_SERVER_ERROR, &OAuthError::new(OAuthErrorCode::ServerError, "the request could not be completed"))
            }
        },
    }
}

/// `GET /oauth2/grants`: the apps the signed-in user has authorized (JSON, or a
/// page with a revoke button for each when a browser asks).
#[utoipa::path(get, path = "/oauth2/grants", tag = "oauth", responses((status = 200, description = "`{ grants }` (JSON), or the page of authorized apps (`Accept: text/html`)", content((serde_json::Value = "application/json"), (String = "text/html"))), (status = 401)))]
pub async fn list_grants(State(k): State<Kavach>, MaybeAuth(auth): MaybeAuth, headers: HeaderMap) -> Response {
    let Some(a) = auth else { return crate::http::error::ApiError(kavach_core::Error::unauthorized()).into_response() };
    let consents = match k.authorize().consents(&a.data.user.id).await {
        Ok(c) => c,
        Err(e) => return crate::http::error::ApiError(e).into_response(),
    };
    if !wants_html(&headers) {
        return super::json_no_store(StatusCode::OK, json!({ "grants": consents }));
    }
    let grants: Vec<_> = consents
        .iter()
        .map(|c| {
            let name = kavach_core::text::neutralize(c.client_name.as_deref().unwrap_or(&c.client_id));
            context! { name, client_id => &c.client_id, resource => &c.resource, scope => &c.scope }
        })
        .collect();
    template_page(&k, "Authorized applications", "grants.html", context! { grants, action => path(&k, "/oauth2/grants/revoke") })
}

/// `POST /oauth2/grants/revoke` (`client_id`, form or JSON): withdraw the consent and
/// revoke every token the app holds for this user.
#[utoipa::path(post, path = "/oauth2/grants/revoke", tag = "oauth", request_body(content((super::openapi::RevokeGrantBody = "application/json"), (super::openapi::RevokeGrantBody = "application/x-www-form-urlencoded"))), responses((status = 200, description = "`{ revoked }`", body = serde_json::Value), (status = 303, description = "Back to the page (form posts from it)"), (status = 400), (status = 401)))]
pub async fn revoke_grant(State(k): State<Kavach>, MaybeAuth(auth): MaybeAuth, Ctx(ctx): Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let Some(a) = auth else { return crate::http::error::ApiError(kavach_core::Error::unauthorized()).into_response() };
    let form = crate::http::pages::is_form(&headers);
    let client_id = if form {
        std::str::from_utf8(&body).ok().and_then(|b| parse_params(b).ok()).and_then(|p| p.get("client_id").cloned())
    } else {
        crate::http::body::parse_json::<serde_json::Value>(&body).ok().and_then(|v| v.get("client_id").and_then(|c| c.as_str()).map(str::to_owned))
    };
    let Some(client_id) = client_id else {
        return crate::http::error::client_error(Kind::BadRequest, Code::InvalidRequest, "client_id is required").into_response();
    };
    match k.authorize().revoke_consent(&a.data.user.id, &client_id, &ctx).await {
        Ok(_) if form && wants_html(&headers) => see_other(&k.options().api_url("/oauth2/grants")),
        Ok(revoked) => super::json_no_store(StatusCode::OK, json!({ "revoked": revoked })),
        Err(e) => crate::http::error::ApiError(e).into_response(),
    }
}
