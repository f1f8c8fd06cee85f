//! DPoP (RFC 9449) proofs: a JWT signed by the client's key, naming the HTTP method and
//! URL of the request (and the access token's hash when one is presented). Tokens issued
//! with a proof are bound to the key's RFC 7638 thumbprint (`cnf.jkt`). Replay of a
//! proof's `jti` is detected by the caller's store (the database, shared by instances).
//!
//! Server nonces (RFC 9449 §8 and §9) are stateless: `<window>.<HMAC>` of the server's
//! name and a one-minute time window under the server secrets, so every instance with
//! the same secrets issues and accepts the same nonces, and a nonce lives a few minutes.

use crate::jwt;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

pub const ALGS: [&str; 3] = ["EdDSA", "ES256", "RS256"];
/// How old a proof may be, and how far in the future (clock skew), in seconds.
pub const MAX_AGE: i64 = 300;
const MAX_SKEW: i64 = 60;

/// A checked proof.
#[derive(Debug, Clone, PartialEq)]
pub struct Proof {
    /// RFC 7638 thumbprint of the proof's key.
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    /// The server nonce the proof carries, if any.
    pub nonce: Option<String>,
}

/// Seconds per nonce window; a nonce is accepted in its window and the next
/// `NONCE_WINDOWS - 1` (and one ahead, for clocks of other instances).
pub const NONCE_WINDOW: i64 = 60;
const NONCE_WINDOWS: i64 = 5;

fn nonce_message(server: &str, window: i64) -> String {
    format!("kavach-dpop-nonce:{server}:{window}")
}

/// The current nonce of `server` (the issuer, or a resource's URI). `now` in unix seconds.
pub fn nonce(secrets: &crate::crypto::Secrets, server: &str, now: i64) -> String {
    let window = now.div_euclid(NONCE_WINDOW);
    format!("{window}.{}", secrets.keyed_hash(&nonce_message(server, window)))
}

/// Is `nonce` one of `server`'s recent nonces (under any of the secrets)?
pub fn nonce_valid(secrets: &crate::crypto::Secrets, server: &str, nonce: &str, now: i64) -> bool {
    let Some((window, mac)) = nonce.split_once('.') else { return false };
    let Ok(window) = window.parse::<i64>() else { return false };
    let current = now.div_euclid(NONCE_WINDOW);
    if window > current + 1 || window <= current - NONCE_WINDOWS {
        return false;
    }
    let Ok(mac) = B64.decode(mac) else { return false };
    secrets.verify_mac(nonce_message(server, window).as_bytes(), &mac)
}

/// RFC 7638 JWK thumbprint (SHA-256) of a public key.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let s = |k: &str| jwk[k].as_str().map(str::to_owned);
    let canonical = match jwk["kty"].as_str()? {
        "EC" => json!({ "crv": s("crv")?, "kty": "EC", "x": s("x")?, "y": s("y")? }),
        "OKP" => json!({ "crv": s("crv")?, "kty": "OKP", "x": s("x")? }),
        "RSA" => json!({ "e": s("e")?, "kty": "RSA", "n": s("n")? }),
        _ => return None,
    };
    // serde_json writes object keys sorted (no preserve_order), without whitespace.
    Some(crate::crypto::token_hash(&canonical.to_string()))
}

/// `scheme://host[:port]/path` of a URL, scheme and host lower-cased, without query or fragment.
fn htu_form(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.find('/').map(|i| rest.split_at(i)).unwrap_or((rest, "/"));
            format!("{}://{}{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase(), path)
        }
        None => url.to_owned(),
    }
}

/// The `ath` of an access token: base64url(SHA-256(token)).
pub fn ath(access_token: &str) -> String {
    crate::crypto::token_hash(access_token)
}

/// Check a proof for a request with `method` to `url` (and `access_token`, at a
/// resource). `now` in unix seconds.
pub fn check(proof: &str, method: &str, url: &str, access_token: Option<&str>, now: i64) -> Result<Proof, &'static str> {
    let header: Value = proof.split('.').next().and_then(|h| B64.decode(h).ok()).and_then(|b| serde_json::from_slice(&b).ok()).ok_or("malformed DPoP proof")?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err("the DPoP proof's typ must be dpop+jwt");
    }
    if !header.get("alg").and_then(Value::as_str).is_some_and(|a| ALGS.contains(&a)) {
        return Err("unsupported DPoP proof algorithm");
    }
    let jwk = header.get("jwk").filter(|j| j.is_object()).ok_or("the DPoP proof has no jwk")?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"].iter().any(|k| jwk.get(k).is_some()) {
        return Err("the DPoP proof's jwk must be a public key");
    }
    let (_, claims) = jwt::verify_with_key(proof, jwk)?;
    let jti = claims.get("jti").and_then(Value::as_str).filter(|j| !j.is_empty() && j.len() <= 256).ok_or("the DPoP proof has no jti")?;
    if claims.get("htm").and_then(Value::as_str) != Some(method) {
        return Err("the DPoP proof's htm does not match the request method");
    }
    if claims.get("htu").and_then(Value::as_str).map(htu_form) != Some(htu_form(url)) {
        return Err("the DPoP proof's htu does not match the request URL");
    }
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or("the DPoP proof has no iat")?;
    if iat < now - MAX_AGE || iat > now + MAX_SKEW {
        return Err("the DPoP proof is too old or from the future");
    }
    if let Some(at) = access_token
        && claims.get("ath").and_then(Value::as_str) != Some(ath(at).as_str())
    {
        return Err("the DPoP proof's ath does not match the access token");
    }
    let jkt = thumbprint(jwk).ok_or("unsupported DPoP key")?;
    let nonce = claims.get("nonce").and_then(Value::as_str).map(str::to_owned);
    Ok(Proof { jkt, jti: jti.to_owned(), iat, nonce })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 §3.1.
        let jwk = json!({ "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw" });
        assert_eq!(thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn nonces_live_a_few_windows_and_belong_to_one_server() {
        let secrets = crate::crypto::Secrets::new(&["nonce-test-secret-0123456789"]);
        let now = 1_800_000_000;
        let n = nonce(&secrets, "https://as.example", now);
        assert!(nonce_valid(&secrets, "https://as.example", &n, now));
        assert!(nonce_valid(&secrets, "https://as.example", &n, now + 4 * NONCE_WINDOW), "still fresh four windows later");
        assert!(!nonce_valid(&secrets, "https://as.example", &n, now + 6 * NONCE_WINDOW), "stale");
        assert!(!nonce_valid(&secrets, "https://as.example", &n, now - 3 * NONCE_WINDOW), "from the future");
        assert!(!nonce_valid(&secrets, "https://rs.example", &n, now), "another server's nonce");
        let rotated = crate::crypto::Secrets::new(&["a-newer-secret-0123456789abcdef", "nonce-test-secret-0123456789"]);
        assert!(nonce_valid(&rotated, "https://as.example", &n, now), "older secrets still accept");
        let other = crate::crypto::Secrets::new(&["someone-elses-secret-0123456789"]);
        assert!(!nonce_valid(&other, "https://as.example", &n, now));
        let (w, _) = n.split_once('.').unwrap();
        assert!(
            !nonce_valid(&secrets, "https://as.example", &format!("{}.{}", w.parse::<i64>().unwrap() + 1, n.split_once('.').unwrap().1), now),
            "window and MAC go together"
        );
        assert!(!nonce_valid(&secrets, "https://as.example", "garbage", now));
    }

    #[test]
    fn htu_ignores_query_fragment_and_case_of_scheme_and_host() {
        assert_eq!(htu_form("HTTPS://AS.Example/oauth2/token?x=1#f"), "https://as.example/oauth2/token");
        assert_ne!(htu_form("https://as.example/oauth2/Token"), htu_form("https://as.example/oauth2/token"));
    }
}
