//! Session calls on request headers: better-auth's `auth.api.getSession({ headers })`
//! as `kavach.auth().get_session(&headers)`. For code that has headers but no
//! extractor: middleware, WebSocket upgrades, background handlers of a request.

use crate::{Kavach, Result};
use axum::http::{Extensions, HeaderMap};
use kavach_core::User;
use kavach_core::sessions::SessionWithUser;
use std::sync::Arc;

/// See [`Kavach::auth`].
pub struct Auth<'a> {
    pub(crate) kavach: &'a Kavach,
}

impl Auth<'_> {
    /// The session the headers carry (the Kavach cookie, `Authorization: Bearer` with a
    /// session token, or a migrated better-auth cookie during the transition), with its
    /// user; `None` when there is none or it ended. The expiry does not slide here (no
    /// response to re-issue the cookie on); [`Kavach::session_layer`] slides it.
    pub async fn get_session(&self, headers: &HeaderMap) -> Result<Option<Arc<SessionWithUser>>> {
        Ok(crate::http::session::resolve(self.kavach, &Extensions::new(), headers, false).await?.auth.map(|a| a.data))
    }

    /// The signed-in user of the headers, if any.
    pub async fn get_user(&self, headers: &HeaderMap) -> Result<Option<User>> {
        Ok(self.get_session(headers).await?.map(|s| s.user.clone()))
    }
}
