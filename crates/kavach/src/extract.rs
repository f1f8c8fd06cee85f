//! Extractors and a layer for the embedding app's own routes.
//!
//! - [`Session`]: the signed-in session and user, or `401`.
//! - [`OptionalSession`]: the same, or `None`.
//! - [`RequireUser`]: just the user, or `401`.
//! - [`RequireAuthLayer`]: guard whole routers (`401` for APIs, a redirect to a
//!   sign-in page for browsers when configured).
//!
//! The extractors need the [`Kavach`] handle in the app's state (`Kavach:
//! FromRef<S>`), or run under [`RequireAuthLayer`], which resolves the session once.

use crate::Kavach;
use crate::http::cookies::{self, Source, session_token};
use crate::http::error::ApiError;
use crate::http::{Authenticated, pages};
use axum::extract::{FromRef, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use kavach_core::sessions::SessionWithUser;
use kavach_core::{Error, User};
use crate::http::guarded::{After, Guard, Guarded, Verdict};
use std::sync::Arc;

/// The request's session, and whether its cookie should be re-issued (the expiry moved).
async fn resolve_renewing(k: &Kavach, headers: &HeaderMap) -> Result<Option<(Authenticated, bool)>, Error> {
    let Some((token, source)) = session_token(k, headers) else { return Ok(None) };
    Ok(k.auth().get_session(&token).await?.map(|c| (Authenticated { data: c.data, token, source }, c.renewed)))
}

async fn resolve(k: &Kavach, headers: &HeaderMap) -> Result<Option<Authenticated>, Error> {
    Ok(resolve_renewing(k, headers).await?.map(|(a, _)| a))
}

async fn from_parts<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Option<Arc<SessionWithUser>>, ApiError>
where
    Kavach: FromRef<S>,
{
    if let Some(a) = parts.extensions.get::<Authenticated>() {
        return Ok(Some(a.data.clone()));
    }
    let k = Kavach::from_ref(state);
    let found = resolve(&k, &parts.headers).await?;
    if let Some(a) = &found {
        parts.extensions.insert(a.clone());
    }
    Ok(found.map(|a| a.data))
}

/// The signed-in session and user; rejects with `401` JSON.
#[derive(Clone, Debug)]
pub struct Session(pub Arc<SessionWithUser>);

impl<S: Send + Sync> FromRequestParts<S> for Session
where
    Kavach: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        from_parts(parts, state).await?.map(Session).ok_or_else(|| ApiError(Error::unauthorized()))
    }
}

/// The signed-in session and user, if any.
#[derive(Clone, Debug)]
pub struct OptionalSession(pub Option<Arc<SessionWithUser>>);

impl<S: Send + Sync> FromRequestParts<S> for OptionalSession
where
    Kavach: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(OptionalSession(from_parts(parts, state).await?))
    }
}

/// The signed-in user; rejects with `401` JSON.
#[derive(Clone, Debug)]
pub struct RequireUser(pub User);

impl<S: Send + Sync> FromRequestParts<S> for RequireUser
where
    Kavach: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        from_parts(parts, state).await?.map(|s| RequireUser(s.user.clone())).ok_or_else(|| ApiError(Error::unauthorized()))
    }
}

/// Lets only signed-in requests through. See [`Kavach::require_auth`].
#[derive(Clone)]
pub struct RequireAuthLayer {
    kavach: Kavach,
    sign_in_url: Option<Arc<str>>,
}

impl RequireAuthLayer {
    pub fn new(kavach: Kavach) -> Self {
        RequireAuthLayer { kavach, sign_in_url: None }
    }
    /// Browsers (requests that accept `text/html`) are redirected to
    /// `url?next=<original path>` instead of getting a `401`.
    pub fn redirect_to(mut self, url: impl Into<String>) -> Self {
        self.sign_in_url = Some(url.into().into());
        self
    }
}

impl<S> tower::Layer<S> for RequireAuthLayer {
    type Service = Guarded<S, RequireAuthLayer>;
    fn layer(&self, inner: S) -> Self::Service {
        Guarded { inner, guard: self.clone() }
    }
}

fn denied(layer: &RequireAuthLayer, headers: &HeaderMap, uri: &Uri) -> Response {
    match &layer.sign_in_url {
        Some(url) if pages::wants_html(headers) => {
            let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            pages::redirect(&pages::append_query(url, "next", next))
        }
        _ => ApiError(Error::unauthorized()).into_response(),
    }
}

impl Guard for RequireAuthLayer {
    async fn check(&self, mut req: Request) -> Verdict {
        if req.extensions().get::<Authenticated>().is_some() {
            return Verdict::Admit(req, None);
        }
        match resolve_renewing(&self.kavach, req.headers()).await {
            Ok(Some((a, renewed))) => {
                // The expiry slid forward: give the browser a cookie that lives as long.
                let after: Option<After> = (renewed && a.source == Source::Cookie).then(|| {
                    let persistent = !cookies::dont_remember(&self.kavach, req.headers());
                    let cookie = cookies::set_session_cookie(&self.kavach, &a.token, persistent);
                    let kavach = self.kavach.clone();
                    Box::new(move |resp: &mut Response| {
                        if !cookies::sets_session_cookie(&kavach, resp.headers()) {
                            resp.headers_mut().append(axum::http::header::SET_COOKIE, cookie);
                        }
                    }) as After
                });
                req.extensions_mut().insert(a);
                Verdict::Admit(req, after)
            }
            Ok(None) => Verdict::Refuse(denied(self, req.headers(), req.uri())),
            Err(e) => Verdict::Refuse(ApiError(e).into_response()),
        }
    }
}
