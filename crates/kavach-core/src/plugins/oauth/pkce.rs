//! PKCE (RFC 7636) as OAuth 2.1 and the MCP profile require it: `S256` only, a
//! challenge on every authorization request, and downgrade protection at the token
//! endpoint (RFC 9700 §4.8.2).

use super::{OAuthError, OAuthErrorCode};

fn unreserved(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Check an authorization request's `code_challenge` and `code_challenge_method`.
pub fn check_challenge(challenge: Option<&str>, method: Option<&str>) -> Result<String, OAuthError> {
    let challenge = challenge.filter(|c| !c.is_empty()).ok_or_else(|| OAuthError::new(OAuthErrorCode::InvalidRequest, "code_challenge is required (PKCE)"))?;
    match method {
        Some("S256") => {}
        None => return Err(OAuthError::new(OAuthErrorCode::InvalidRequest, "code_challenge_method must be S256")),
        Some(m) => return Err(OAuthError::new(OAuthErrorCode::InvalidRequest, format!("code_challenge_method {m:?} is not supported: use S256"))),
    }
    // base64url(SHA-256) is 43 characters.
    if challenge.len() != 43 || !unreserved(challenge) {
        return Err(OAuthError::new(OAuthErrorCode::InvalidRequest, "code_challenge is not a base64url SHA-256 value"));
    }
    Ok(challenge.to_owned())
}

/// At the token endpoint: the verifier must match the stored challenge, a missing
/// verifier is refused when a challenge was stored, and a verifier is refused when
/// none was (downgrade).
pub fn check_verifier(stored_challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (stored_challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::new(OAuthErrorCode::InvalidGrant, "code_verifier sent for an authorization without a code_challenge")),
        (Some(_), None) => Err(OAuthError::new(OAuthErrorCode::InvalidGrant, "code_verifier is required")),
        (Some(challenge), Some(v)) => {
            if !(43..=128).contains(&v.len()) || !unreserved(v) {
                return Err(OAuthError::new(OAuthErrorCode::InvalidGrant, "code_verifier must be 43-128 unreserved characters"));
            }
            // S256: base64url(SHA-256(verifier)), the same function tokens are stored with.
            let computed = crate::crypto::token_hash(v);
            if crate::crypto::ct_eq(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                Err(OAuthError::new(OAuthErrorCode::InvalidGrant, "code_verifier does not match the code_challenge"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // base64url(SHA-256(VERIFIER)), computed independently with Python's hashlib.
    const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K7dYoEkgMlN3Ks3P9h2nFE9hYo";
    const CHALLENGE: &str = "domp_D2sOlqRpXIXswPmQy5a7pFKtTXQN0nZXoK_mD4";

    #[test]
    fn mcp_12_pkce_s256_required_plain_rejected() {
        assert_eq!(check_challenge(Some(CHALLENGE), Some("S256")).unwrap(), CHALLENGE);
        assert_eq!(check_challenge(None, Some("S256")).unwrap_err().error, "invalid_request");
        assert_eq!(check_challenge(Some(CHALLENGE), Some("plain")).unwrap_err().error, "invalid_request");
        assert_eq!(check_challenge(Some(CHALLENGE), None).unwrap_err().error, "invalid_request", "no silent plain default");
        assert!(check_challenge(Some("short"), Some("S256")).is_err());
    }

    #[test]
    fn mcp_19_verifier_checked() {
        assert!(check_verifier(Some(CHALLENGE), Some(VERIFIER)).is_ok());
        let wrong = format!("{}x", VERIFIER.get(..42).unwrap());
        assert_eq!(check_verifier(Some(CHALLENGE), Some(&wrong)).unwrap_err().error, "invalid_grant");
        assert_eq!(check_verifier(Some(CHALLENGE), Some("too-short")).unwrap_err().error, "invalid_grant");
    }

    #[test]
    fn rfc9700_pkce_downgrade_is_refused_both_ways() {
        assert_eq!(check_verifier(None, Some(VERIFIER)).unwrap_err().error, "invalid_grant");
        assert_eq!(check_verifier(Some(CHALLENGE), None).unwrap_err().error, "invalid_grant");
    }
}
