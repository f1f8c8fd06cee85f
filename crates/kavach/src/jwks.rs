//! Another issuer's signing keys: a JWKS document fetched over HTTP and cached (5 minutes;
//! a token naming an unknown key refetches it, at most every 2 seconds, so random `kid`s
//! cannot flood the issuer; a failed refetch keeps the keys already trusted). Used by the
//! resource-server verifier (an authorization server's keys) and Google One Tap (Google's
//! keys). The URL is the operator's, never a client's.

use kavach_core::jwt::Claims;
use kavach_core::plugins::one_tap::{KeyError, VerifyFuture};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(300);
const MIN_REFETCH: Duration = Duration::from_secs(2);

/// The HTTP client for key sets: no redirects, a 10-second timeout.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(10)).build().unwrap_or_else(|_| reqwest::Client::new())
}

/// One JWKS URL and its cached document.
pub struct JwksCache {
    uri: String,
    http: reqwest::Client,
    cached: RwLock<Option<(Instant, Arc<serde_json::Value>)>>,
}

impl JwksCache {
    pub fn new(uri: impl Into<String>, http: reqwest::Client) -> Self {
        JwksCache { uri: uri.into(), http, cached: RwLock::new(None) }
    }

    async fn fetch(&self) -> Result<Arc<serde_json::Value>, String> {
        let r = self.http.get(&self.uri).send().await.map_err(|e| format!("JWKS fetch failed: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("JWKS fetch answered {}", r.status()));
        }
        let v: serde_json::Value = r.json().await.map_err(|e| format!("JWKS is not JSON: {e}"))?;
        let v = Arc::new(v);
        *self.cached.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), v.clone()));
        Ok(v)
    }

    /// The key set: cached, or fetched (`force`: a token named an unknown key).
    pub async fn get(&self, force: bool) -> Result<Arc<serde_json::Value>, String> {
        let cached = self.cached.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        match cached {
            Some((at, v)) if !force && at.elapsed() < TTL => Ok(v),
            Some((at, v)) if force && at.elapsed() < MIN_REFETCH => Ok(v),
            // A failed refetch keeps the keys this server already trusts (an issuer
            // outage must not turn every valid token into an invalid one).
            // It is tried again after the TTL (or on an unknown kid, after 2 s).
            Some((_, v)) => match self.fetch().await {
                Ok(fresh) => Ok(fresh),
                Err(e) => {
                    tracing::warn!(error = %e, jwks_uri = %self.uri, "JWKS refetch failed; keeping the cached keys");
                    *self.cached.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), v.clone()));
                    Ok(v)
                }
            },
            None => self.fetch().await,
        }
    }

    /// Verify a compact JWS against the set ([`kavach_core::jwt::verify`]: the key's own
    /// algorithm, `exp`/`nbf` with `leeway` seconds), refetching once for an unknown key.
    pub async fn verify(&self, token: &str, leeway: i64) -> Result<(serde_json::Value, Claims), KeyError> {
        let set = self.get(false).await.map_err(KeyError::Unavailable)?;
        match kavach_core::jwt::verify(token, &set, leeway) {
            Err("unknown kid") => {
                let set = self.get(true).await.map_err(KeyError::Unavailable)?;
                kavach_core::jwt::verify(token, &set, leeway).map_err(KeyError::Invalid)
            }
            other => other.map_err(KeyError::Invalid),
        }
    }
}

impl kavach_core::plugins::one_tap::IdTokenKeys for JwksCache {
    fn verify<'a>(&'a self, token: &'a str, leeway: i64) -> VerifyFuture<'a> {
        Box::pin(JwksCache::verify(self, token, leeway))
    }
}
