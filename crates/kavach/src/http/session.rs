//! Resolving the session of a request, in one place for every entry point: the API
//! middleware, [`crate::RequireAuthLayer`], [`crate::SessionLayer`] and the plain
//! extractors. It reads the Kavach cookie (or a bearer token), falls back to a
//! migrated better-auth cookie during the transition, and says which `Set-Cookie`
//! the response needs: the cookie again when the session's expiry slid forward (or
//! a better-auth session was exchanged), its removal when it names no session.

use super::guarded::{After, Guard, Guarded, Verdict};
use super::{Authenticated, body, context_of, cookies};
use crate::Kavach;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use kavach_core::Error;

/// The session a request carries, and what its response must do about the cookie.
#[derive(Default)]
pub struct Resolved {
    pub auth: Option<Authenticated>,
    /// A `Set-Cookie` the response must carry (unless the handler set the cookie itself).
    pub set_cookie: Option<HeaderValue>,
}

impl Resolved {
    /// Add the cookie to `resp`, unless the handler already set the session cookie.
    pub fn apply(cookie: Option<HeaderValue>, k: &Kavach, resp: &mut Response) {
        if let Some(c) = cookie
            && !cookies::sets_session_cookie(k, resp.headers())
        {
            resp.headers_mut().append(header::SET_COOKIE, c);
            // A response that sets a session cookie must never be stored by a shared cache.
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
}

/// Resolve the request's session. With `renew` false (a caller that cannot set a
/// cookie on the response) the expiry is not moved and no cookie is proposed.
pub async fn resolve(k: &Kavach, extensions: &axum::http::Extensions, headers: &HeaderMap, renew: bool) -> Result<Resolved, Error> {
    let mut out = Resolved::default();
    let mut renewed = false;
    if let Some(p) = cookies::presented_token(k, headers) {
        let authentic = || p.authentic(k);
        let (token, source) = (p.token.clone(), p.source);
        match k.sessions().check_with(&token, p.signature.as_deref(), authentic, renew).await? {
            Some(c) => {
                renewed = c.renewed && source == cookies::Source::Cookie;
                out.auth = Some(Authenticated { data: c.data, token, source });
            }
            None if source == cookies::Source::Cookie && renew => out.set_cookie = Some(cookies::clear_session_cookie(k)),
            None => {}
        }
    }
    // The better-auth cookie transition: a migrated better-auth session signs the
    // request in; its one Kavach session's cookie goes out with this response.
    if out.auth.is_none()
        && let Some(cfg) = k.external().better_auth()
    {
        let value = cfg.cookie_names().iter().find_map(|n| cookies::cookie(headers, n).map(str::to_owned));
        if let Some(token) = value.and_then(|v| body::percent_decode(&v, false).ok()).and_then(|v| k.external().better_auth_token(&v)) {
            let ctx = context_of(k, extensions, headers);
            if let Some((kavach_token, c)) = k.external().better_auth_session(&token, &ctx).await? {
                out.auth = Some(Authenticated { data: c.data, token: kavach_token, source: cookies::Source::Cookie });
                out.set_cookie = None;
                renewed = true;
            }
        }
    }
    if renewed
        && renew
        && let Some(a) = &out.auth
    {
        out.set_cookie = Some(cookies::set_session_cookie(k, &a.token, !cookies::dont_remember(k, headers)));
    }
    Ok(out)
}

/// The session an API key stands for (`[api_key]`): on a route of
/// `api_key.session_routes`, the key in the `api_key.header` header is verified (each use
/// counts against its limits) and its owner is signed in for this request only. `None`
/// when the route does not take keys or none was sent; an error for a key that fails.
pub async fn from_api_key(k: &Kavach, template: &str, headers: &HeaderMap) -> Result<Option<Authenticated>, Error> {
    let o = &k.options().api_key;
    if !o.enabled || !o.session_routes.iter().any(|r| r == template) {
        return Ok(None);
    }
    let Some(key) = headers.get(o.header.as_str()).and_then(|v| v.to_str().ok()) else { return Ok(None) };
    let v = k.api_keys().verify(key.trim(), None).await?;
    let now = kavach_core::store::Ts::now();
    let session = kavach_core::Session {
        id: v.key.id.clone(),
        user_id: v.user.id.clone(),
        token: String::new(),
        expires_at: v.key.expires_at.unwrap_or(now.plus_secs(3600)),
        ip_address: None,
        user_agent: None,
        created_at: now,
        updated_at: now,
        active_organization_id: None,
        active_team_id: None,
        impersonated_by: None,
    };
    let data = std::sync::Arc::new(kavach_core::SessionWithUser::new(session, v.user));
    Ok(Some(Authenticated { data, token: String::new(), source: cookies::Source::ApiKey }))
}

/// What a guard layer admits: the request with its session in the extensions, and
/// the cookie fix-up for the response.
fn admit(k: &Kavach, mut req: Request, r: Resolved) -> Verdict {
    if let Some(a) = r.auth {
        req.extensions_mut().insert(a);
    }
    let after: Option<After> = r.set_cookie.map(|c| {
        let k = k.clone();
        Box::new(move |resp: &mut Response| Resolved::apply(Some(c), &k, resp)) as After
    });
    Verdict::Admit(req, after)
}

/// Resolves the session of every request it wraps (without refusing any): handlers
/// and the [`crate::extract`] extractors find it in the request, and sliding
/// expiry re-issues the cookie. See [`Kavach::session_layer`].
#[derive(Clone)]
pub struct SessionLayer {
    pub(crate) kavach: Kavach,
}

impl<S> tower::Layer<S> for SessionLayer {
    type Service = Guarded<S, SessionLayer>;
    fn layer(&self, inner: S) -> Self::Service {
        Guarded { inner, guard: self.clone() }
    }
}

impl Guard for SessionLayer {
    async fn check(&self, req: Request) -> Verdict {
        if req.extensions().get::<Authenticated>().is_some() {
            return Verdict::Admit(req, None);
        }
        match resolve(&self.kavach, req.extensions(), req.headers(), true).await {
            Ok(r) => admit(&self.kavach, req, r),
            Err(e) => Verdict::Refuse(axum::response::IntoResponse::into_response(super::error::ApiError(e))),
        }
    }
}

/// The guard of [`crate::RequireAuthLayer`]: resolve like [`SessionLayer`], then refuse
/// requests without a session with `denied`.
pub(crate) async fn require(k: &Kavach, req: Request, denied: impl FnOnce(&Request) -> Response) -> Verdict {
    if req.extensions().get::<Authenticated>().is_some() {
        return Verdict::Admit(req, None);
    }
    match resolve(k, req.extensions(), req.headers(), true).await {
        Ok(r) if r.auth.is_some() => admit(k, req, r),
        Ok(_) => Verdict::Refuse(denied(&req)),
        Err(e) => Verdict::Refuse(axum::response::IntoResponse::into_response(super::error::ApiError(e))),
    }
}
