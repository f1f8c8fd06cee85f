//! Extractors and a layer for the embedding app's own routes.
//!
//! - [`Session`]: the signed-in session and user, or `401`.
//! - [`OptionalSession`]: the same, or `None`.
//! - [`RequireUser`]: just the user, or `401`.
//! - [`Context`]: who is calling (client IP behind trusted proxies, user agent).
//! - [`SessionOrToken`]: a session (browsers) or an OAuth access token (agents) for
//!   routes that serve both.
//! - [`RequireAuthLayer`]: guard whole routers (`401` for APIs, a redirect to a
//!   sign-in page for browsers when configured).
//!
//! The extractors need the [`Kavach`] handle in the app's state (`Kavach:
//! FromRef<S>`). Under [`RequireAuthLayer`] or [`crate::SessionLayer`] (which
//! resolve the session once per request) a session whose expiry slid forward gets
//! its cookie re-issued; an extractor on its own reads the session without moving
//! its expiry, since it cannot set a cookie on the response.

use crate::Kavach;
use crate::http::error::ApiError;
use crate::http::guarded::{Guard, Guarded, Verdict};
use crate::http::{Authenticated, pages};
use axum::extract::{FromRef, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use kavach_core::sessions::SessionWithUser;
use kavach_core::{Error, User};
use std::sync::Arc;

async fn from_parts<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Option<Arc<SessionWithUser>>, ApiError>
where
    Kavach: FromRef<S>,
{
    if let Some(a) = parts.extensions.get::<Authenticated>() {
        return Ok(Some(a.data.clone()));
    }
    // No layer resolved the session: read it here, without sliding its expiry (an
    // extractor cannot re-issue the cookie; `Kavach::session_layer` can).
    let k = Kavach::from_ref(state);
    let found = crate::http::session::resolve(&k, &parts.extensions, &parts.headers, false).await?.auth;
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
    async fn check(&self, req: Request) -> Verdict {
        crate::http::session::require(&self.kavach, req, |req| denied(self, req.headers(), req.uri())).await
    }
}

/// Who is calling: the client IP (the socket peer, or `X-Forwarded-For` from a
/// trusted proxy) and the user agent, as Kavach's calls take it
/// (`kavach.sessions().create(&user.id, &ctx, ..)`). The peer is known when the app is
/// served with `into_make_service_with_connect_info::<SocketAddr>()`.
#[derive(Clone, Debug)]
pub struct Context(pub kavach_core::RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Context
where
    Kavach: FromRef<S>,
{
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Context(Kavach::from_ref(state).request_context(&parts.extensions, &parts.headers)))
    }
}

/// The caller of a route that serves browsers and agents alike: a Kavach session
/// (cookie, or a session token as bearer) or an OAuth access token for this resource,
/// verified by the app's [`crate::resource::ResourceServer`] (build it with
/// [`ResourceServer::in_process`](crate::resource::ResourceServer::in_process) when
/// Kavach runs in the same process). Needs both in the app's state
/// (`Kavach: FromRef<S>`, `Arc<ResourceServer>: FromRef<S>`). Without either, the
/// answer is `401` with the resource's `WWW-Authenticate` challenge. Scopes are not
/// checked here: see [`SessionOrToken::has_scope`].
#[derive(Clone, Debug)]
pub enum SessionOrToken {
    Session(Arc<SessionWithUser>),
    Token(crate::resource::AccessToken),
}

impl SessionOrToken {
    /// The user acting: the session's user, or the user a token was issued for (its
    /// `sub`). `None` for a token a client got for itself (`client_credentials`, whose
    /// `sub` is the client's id): see [`client_id`](Self::client_id).
    pub fn user_id(&self) -> Option<&str> {
        match self {
            SessionOrToken::Session(s) => Some(&s.user.id),
            SessionOrToken::Token(t) => t.subject.as_deref().filter(|sub| t.client_id.as_deref() != Some(*sub)),
        }
    }
    /// The OAuth client that holds the token (`None` for a session).
    pub fn client_id(&self) -> Option<&str> {
        match self {
            SessionOrToken::Session(_) => None,
            SessionOrToken::Token(t) => t.client_id.as_deref(),
        }
    }
    /// A session has every scope (it is the user); a token only those it was granted
    /// (a scope also covers its `scope:...` children).
    pub fn has_scope(&self, scope: &str) -> bool {
        match self {
            SessionOrToken::Session(_) => true,
            SessionOrToken::Token(t) => crate::resource::covers(&t.scopes, scope),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SessionOrToken
where
    Kavach: FromRef<S>,
    Arc<crate::resource::ResourceServer>: FromRef<S>,
{
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        if let Some(s) = from_parts(parts, state).await.map_err(IntoResponse::into_response)? {
            return Ok(SessionOrToken::Session(s));
        }
        let rs = Arc::<crate::resource::ResourceServer>::from_ref(state);
        let uri = parts.extensions.get::<axum::extract::OriginalUri>().map(|o| o.0.clone()).unwrap_or_else(|| parts.uri.clone());
        rs.verify(&parts.method, &parts.headers, &uri, &[]).await.map(SessionOrToken::Token).map_err(IntoResponse::into_response)
    }
}
