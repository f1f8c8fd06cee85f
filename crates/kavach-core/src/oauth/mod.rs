//! OAuth 2.1 building blocks: PKCE (S256 only, with downgrade protection), redirect
//! URI matching (exact, with the RFC 8252 loopback port exception), RFC 8707
//! resource indicator canonicalisation (pure functions), and the client registry. The
//! authorization server's endpoints (issue #3) are built on these; tests are named
//! after the checklist items of `shared/research/mcp-oauth.md`.

pub mod clients;
pub mod pkce;
pub mod redirect;
pub mod resource;

/// An RFC 6749 error: a registered `error` code and a human description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError { error, description: description.into() }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}
