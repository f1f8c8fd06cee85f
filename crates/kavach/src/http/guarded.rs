//! One tower layer for every "check the request, then maybe let it through"
//! guard ([`crate::RequireAuthLayer`], [`crate::resource::RequireTokenLayer`]): the
//! guard decides, the shared service does the plumbing.

use axum::extract::Request;
use axum::response::Response;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Adjusts the inner service's response (e.g. re-issue a cookie).
pub type After = Box<dyn FnOnce(&mut Response) + Send>;

/// A guard's decision.
pub enum Verdict {
    /// Go on with this (possibly annotated) request, then apply `After` to the response.
    Admit(Request, Option<After>),
    /// Answer with this instead.
    Refuse(Response),
}

/// A request check run before the inner service.
pub trait Guard: Clone + Send + Sync + 'static {
    fn check(&self, req: Request) -> impl Future<Output = Verdict> + Send;
}

/// The service a guard's layer wraps around its inner service.
#[derive(Clone)]
pub struct Guarded<S, G> {
    pub(crate) inner: S,
    pub(crate) guard: G,
}

impl<S, G> tower::Service<Request> for Guarded<S, G>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    G: Guard,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The ready clone serves this call; the fresh clone waits for the next poll_ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        Box::pin(async move {
            match guard.check(req).await {
                Verdict::Refuse(resp) => Ok(resp),
                Verdict::Admit(req, after) => {
                    let mut resp = inner.call(req).await?;
                    if let Some(f) = after {
                        f(&mut resp);
                    }
                    Ok(resp)
                }
            }
        })
    }
}
