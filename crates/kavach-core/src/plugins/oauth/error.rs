//! OAuth errors: the `error` codes of RFC 6749 and its extensions that Kavach emits, and
//! the error itself (`{ "error", "error_description" }` on the wire).

use std::borrow::Cow;

/// The OAuth `error` codes Kavach emits: one catalogue, each code written exactly as its
/// RFC spells it, listed in docs/oauth.md's "Error codes" table (a test checks that the two
/// agree). They appear as `error` in JSON answers and redirects, as `error="..."` in
/// `WWW-Authenticate` challenges (RFC 6750, RFC 9449), and as the `code` of the client
/// registry's [`crate::Error`]s (RFC 7591). A code never changes once released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// RFC 6749.
    InvalidRequest,
    /// RFC 6749.
    InvalidClient,
    /// RFC 6749.
    InvalidGrant,
    /// RFC 6749.
    UnauthorizedClient,
    /// RFC 6749.
    UnsupportedGrantType,
    /// RFC 6749.
    UnsupportedResponseType,
    /// RFC 6749.
    InvalidScope,
    /// RFC 6749, RFC 8628.
    AccessDenied,
    /// RFC 6749.
    ServerError,
    /// RFC 6749.
    TemporarilyUnavailable,
    /// OpenID Connect Core.
    LoginRequired,
    /// OpenID Connect Core.
    ConsentRequired,
    /// OpenID Connect Core.
    RequestNotSupported,
    /// RFC 8707.
    InvalidTarget,
    /// RFC 7591.
    InvalidRedirectUri,
    /// RFC 7591.
    InvalidClientMetadata,
    /// RFC 6750.
    InvalidToken,
    /// RFC 6750.
    InsufficientScope,
    /// RFC 9449.
    InvalidDpopProof,
    /// RFC 9449.
    UseDpopNonce,
    /// RFC 8628.
    AuthorizationPending,
    /// RFC 8628.
    SlowDown,
    /// RFC 8628.
    ExpiredToken,
    /// Kavach's own, not sent to clients: `clients().set_introspection` (`kavach client
    /// introspect`) was given a resource that is not a valid resource URI.
    InvalidResource,
}

impl OAuthErrorCode {
    /// Every code, in the order of the documentation.
    pub const ALL: &'static [OAuthErrorCode] = &[
        OAuthErrorCode::InvalidRequest,
        OAuthErrorCode::InvalidClient,
        OAuthErrorCode::InvalidGrant,
        OAuthErrorCode::UnauthorizedClient,
        OAuthErrorCode::UnsupportedGrantType,
        OAuthErrorCode::UnsupportedResponseType,
        OAuthErrorCode::InvalidScope,
        OAuthErrorCode::AccessDenied,
        OAuthErrorCode::ServerError,
        OAuthErrorCode::TemporarilyUnavailable,
        OAuthErrorCode::LoginRequired,
        OAuthErrorCode::ConsentRequired,
        OAuthErrorCode::RequestNotSupported,
        OAuthErrorCode::InvalidTarget,
        OAuthErrorCode::InvalidRedirectUri,
        OAuthErrorCode::InvalidClientMetadata,
        OAuthErrorCode::InvalidToken,
        OAuthErrorCode::InsufficientScope,
        OAuthErrorCode::InvalidDpopProof,
        OAuthErrorCode::UseDpopNonce,
        OAuthErrorCode::AuthorizationPending,
        OAuthErrorCode::SlowDown,
        OAuthErrorCode::ExpiredToken,
        OAuthErrorCode::InvalidResource,
    ];

    /// The code on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::ServerError => "server_error",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthErrorCode::LoginRequired => "login_required",
            OAuthErrorCode::ConsentRequired => "consent_required",
            OAuthErrorCode::RequestNotSupported => "request_not_supported",
            OAuthErrorCode::InvalidTarget => "invalid_target",
            OAuthErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            OAuthErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            OAuthErrorCode::InvalidToken => "invalid_token",
            OAuthErrorCode::InsufficientScope => "insufficient_scope",
            OAuthErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            OAuthErrorCode::UseDpopNonce => "use_dpop_nonce",
            OAuthErrorCode::AuthorizationPending => "authorization_pending",
            OAuthErrorCode::SlowDown => "slow_down",
            OAuthErrorCode::ExpiredToken => "expired_token",
            OAuthErrorCode::InvalidResource => "invalid_resource",
        }
    }

    /// The code of a string, if Kavach emits it.
    pub fn parse(code: &str) -> Option<OAuthErrorCode> {
        OAuthErrorCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for OAuthErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl From<OAuthErrorCode> for Cow<'static, str> {
    fn from(c: OAuthErrorCode) -> Self {
        Cow::Borrowed(c.as_str())
    }
}

impl PartialEq<str> for OAuthErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for OAuthErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<OAuthErrorCode> for Cow<'static, str> {
    fn eq(&self, c: &OAuthErrorCode) -> bool {
        self.as_ref() == c.as_str()
    }
}

/// An OAuth error: a registered `error` code and a human description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub error: OAuthErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(error: OAuthErrorCode, description: impl Into<String>) -> Self {
        OAuthError { error, description: description.into() }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

#[cfg(test)]
mod catalogue_tests {
    use super::OAuthErrorCode;
    use std::collections::BTreeSet;

    /// The codes in the first column of the table under docs/oauth.md's "## Error codes".
    fn documented() -> BTreeSet<String> {
        crate::error::doc_table_names(include_str!("../../../../../docs/oauth.md"), Some("Error codes"))
    }

    #[test]
    fn every_oauth_error_code_is_documented_and_every_documented_code_exists() {
        let code: BTreeSet<String> = OAuthErrorCode::ALL.iter().map(|c| c.as_str().to_owned()).collect();
        assert_eq!(code.len(), OAuthErrorCode::ALL.len(), "two codes share a string");
        assert_eq!(code, documented(), "docs/oauth.md's error codes and OAuthErrorCode disagree");
        for c in OAuthErrorCode::ALL {
            assert_eq!(OAuthErrorCode::parse(c.as_str()), Some(*c));
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
        }
    }

    #[test]
    fn an_oauth_error_renders_its_code_as_the_rfc_spells_it() {
        let e = super::OAuthError::new(OAuthErrorCode::UseDpopNonce, "send the nonce");
        assert_eq!(e.to_string(), "use_dpop_nonce: send the nonce");
        assert_eq!(e.error, "use_dpop_nonce");
    }
}
