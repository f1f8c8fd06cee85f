//! `private_key_jwt` clients registered with a `jwks_uri` (RFC 7591 §2): before their
//! client assertion is checked, the key set at that URL is fetched with SSRF protection
//! ([`super::fetch`]) and stored for every instance, kept as its HTTP caching allows, and
//! fetched again when an assertion names a key it lacks (rotation), at most every 10 s.

use crate::Kavach;
use kavach_core::plugins::oauth::clients::Client;
use kavach_core::plugins::oauth::tokens::internal;
use kavach_core::plugins::oauth::{OAuthError, OAuthErrorCode};
use kavach_core::store::Ts;
use serde_json::Value;

/// An unknown `kid` or a stale set triggers a fetch at most this often (milliseconds).
const MIN_REFETCH_MS: i64 = 10_000;

/// Make sure the stored key set of `client`'s `jwks_uri` is fresh and has `kid`.
/// Clients without a `jwks_uri` pass through untouched.
pub async fn ensure(k: &Kavach, client: &Client, kid: Option<&str>) -> Result<(), OAuthError> {
    let client_id = client.client_id.as_str();
    let Some(uri) = client.metadata.get("jwks_uri").and_then(Value::as_str) else { return Ok(()) };
    if client.auth_method() != "private_key_jwt" || client.disabled {
        return Ok(());
    }
    let cached = k.clients().remote_jwks(uri).await.map_err(internal)?;
    let now = Ts::now();
    let has_kid = |jwks: &Value| kid.is_none_or(|kid| jwks["keys"].as_array().is_some_and(|keys| keys.iter().any(|key| key["kid"] == kid)));
    if let Some((jwks, fetched, until)) = &cached
        && ((*until > now && has_kid(jwks)) || now.0 - fetched.0 < MIN_REFETCH_MS)
    {
        return Ok(());
    }
    match super::fetch::fetch_json(uri, k.options().oauth.metadata_documents_insecure, super::fetch::MAX_JWKS_BYTES).await {
        Ok((jwks, ttl)) => k.clients().store_remote_jwks(uri, &jwks, now.plus_secs(ttl.max(super::fetch::MIN_TTL_SECS))).await,
        // The issuer's keys stay usable while its jwks_uri is down.
        Err(why) if cached.is_some() => {
            tracing::warn!(client_id, jwks_uri = uri, error = %why, "refetching a client's jwks_uri failed; keeping the stored keys");
            Ok(())
        }
        Err(why) => Err(OAuthError::new(OAuthErrorCode::InvalidClient, format!("the client's jwks_uri {uri}: {why}"))),
    }
}
