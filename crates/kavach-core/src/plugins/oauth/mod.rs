//! The OAuth 2.1 / OpenID Connect authorization server. Pure building blocks: PKCE
//! (S256 only, with downgrade protection), redirect URI matching (exact, with the RFC
//! 8252 loopback port exception), RFC 8707 resource canonicalisation. Stateful parts:
//! the client registry, authorization requests and consent, and the token endpoint's
//! grants, revocation and introspection. Tests are named after the checklist items of
//! `shared/research/mcp-oauth.md`.

pub mod authorize;
pub mod clients;
pub mod device;
pub mod dpop;
mod error;
pub mod grants;
pub mod pkce;
pub mod redirect;
pub mod resource;
pub(crate) mod store;
pub mod tokens;

pub use error::{OAuthError, OAuthErrorCode};
pub(crate) use store::revoke_user_grants_in_tx;

use std::time::Duration;

/// A protected resource (an MCP server, an API) tokens can be issued for. Its `uri`
/// is what clients send as `resource` and what tokens carry as `aud`.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDef {
    pub uri: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// The authorization server's settings (`[oauth]`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthOptions {
    /// Serve the authorization server (`[oauth] enabled`). Default true.
    pub enabled: bool,
    /// The resources Kavach issues tokens for. A `resource` not listed here is
    /// refused with `invalid_target`.
    pub resources: Vec<ResourceDef>,
    /// Plain-words descriptions of scopes for the consent page.
    /// In a file: a table, `"scope" = "plain words"`.
    #[serde(deserialize_with = "crate::options::table_as_pairs")]
    pub scope_descriptions: Vec<(String, String)>,
    /// Access-token lifetime. Default 1 hour (MCP-21).
    #[serde(deserialize_with = "crate::options::duration")]
    pub access_token_ttl: Duration,
    /// Absolute lifetime of a grant's refresh tokens. Default 30 days.
    #[serde(deserialize_with = "crate::options::duration")]
    pub refresh_token_ttl: Duration,
    /// A public client's rotated refresh token presented again within this window
    /// gets the same successor (concurrent refreshes); later, or from a confidential
    /// client at any time, reuse revokes the family. Default 30 s.
    #[serde(deserialize_with = "crate::options::duration")]
    pub refresh_grace: Duration,
    /// Authorization code lifetime. Default 60 s.
    #[serde(deserialize_with = "crate::options::duration")]
    pub code_ttl: Duration,
    /// Pushed authorization request lifetime. Default 60 s.
    #[serde(deserialize_with = "crate::options::duration")]
    pub par_ttl: Duration,
    /// Access tokens' signing algorithm. ID tokens are always RS256. Default EdDSA.
    pub access_token_alg: crate::Alg,
    /// Allow RFC 7591 dynamic client registration. Default true.
    pub dynamic_registration: bool,
    /// Let clients that registered themselves (RFC 7591, metadata documents) use the
    /// client_credentials grant. Default false: with open registration anyone could
    /// otherwise mint machine tokens; operators create such clients with `kavach clients`.
    pub dynamic_client_credentials: bool,
    /// Accept Client ID Metadata Documents (a `client_id` that is an https URL). Default true.
    pub metadata_documents: bool,
    /// Development only: fetch metadata documents over http and from loopback and
    /// private addresses (refused otherwise, after DNS resolution). Default false.
    pub metadata_documents_insecure: bool,
    /// Require a server nonce in DPoP proofs (RFC 9449 §8): a proof without a fresh one
    /// is answered `use_dpop_nonce` with a `DPoP-Nonce` header, which clients retry with.
    /// Limits the use of proofs made in advance by a stolen key. Default true.
    pub dpop_nonces: bool,
    /// A dynamically registered client that has not completed a grant this long after
    /// registering is deleted (abandoned or repeated registrations). Default 1 day.
    #[serde(deserialize_with = "crate::options::duration")]
    pub unused_client_ttl: Duration,
    /// Largest Client ID Metadata Document read, in bytes. Default 5120 (the draft
    /// recommends 5 KB).
    pub metadata_document_max_bytes: usize,
}

impl Default for OAuthOptions {
    fn default() -> Self {
        OAuthOptions {
            enabled: true,
            resources: vec![],
            scope_descriptions: vec![],
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(30 * 86400),
            refresh_grace: Duration::from_secs(30),
            code_ttl: Duration::from_secs(60),
            par_ttl: Duration::from_secs(60),
            access_token_alg: crate::Alg::EdDSA,
            dynamic_registration: true,
            dynamic_client_credentials: false,
            metadata_documents: true,
            metadata_documents_insecure: false,
            dpop_nonces: true,
            unused_client_ttl: Duration::from_secs(86400),
            metadata_document_max_bytes: 5120,
        }
    }
}

/// Scopes every deployment understands (OpenID Connect's).
pub const STANDARD_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

impl OAuthOptions {
    /// Every scope a client may ask for, in a stable order.
    pub fn scopes_supported(&self) -> Vec<String> {
        let mut out: Vec<String> = STANDARD_SCOPES.iter().map(|s| s.to_string()).collect();
        for r in &self.resources {
            for s in &r.scopes {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
        }
        out
    }

    /// The configured resource whose canonical URI is `canonical`.
    /// (`Core::new` stores every configured `uri` in canonical form.)
    pub fn resource(&self, canonical: &str) -> Option<&ResourceDef> {
        self.resources.iter().find(|r| r.uri == canonical)
    }

    /// A scope in plain words.
    pub fn describe(&self, scope: &str) -> String {
        if let Some((_, d)) = self.scope_descriptions.iter().find(|(s, _)| s == scope) {
            return d.clone();
        }
        match scope {
            "openid" => "Know who you are (your account identifier)".into(),
            "profile" => "See your name and profile picture".into(),
            "email" => "See your email address".into(),
            "offline_access" => "Stay connected when you are not using it (refresh tokens)".into(),
            other => format!("Use the permission \"{other}\""),
        }
    }
}
