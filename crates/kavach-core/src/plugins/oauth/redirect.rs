//! Redirect URI rules: exact string matching against the registered values, with
//! the one exception of RFC 8252 §7.3 (and RFC 9700 §2.1): an `http` loopback
//! redirect may use any port. Registration-time checks refuse redirect URIs that
//! are neither https, loopback http, nor a private-use scheme (MCP-08).

use super::{OAuthError, OAuthErrorCode};

fn loopback_host(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

/// Split `http://host[:port]/rest` into (host, rest) for loopback comparison. The
/// authority must be exactly a host and an optional numeric port: anything else
/// (`userinfo@`, a second colon) is not parsed, so it can only match byte for byte.
fn http_parts(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = rest.find(['/', '?', '#']).map(|i| rest.split_at(i)).unwrap_or((rest, ""));
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        authority.split_at_checked(end)?
    } else {
        authority.find(':').map(|i| authority.split_at(i)).unwrap_or((authority, ""))
    };
    // A port is 1 to 65535, in digits only.
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n)));
    (!host.is_empty() && !host.contains('@') && port_ok).then_some((host, path))
}

/// The scheme of an absolute URI, lower-cased (`HTTP://x` is `http`).
fn scheme_of(uri: &str) -> Option<String> {
    uri.split_once(':').map(|(s, _)| s.to_ascii_lowercase())
}

/// Does the requested redirect URI match a registered one?
pub fn matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (http_parts(registered), http_parts(requested)) {
        (Some((rh, rp)), Some((qh, qp))) => loopback_host(rh) && rh == qh && rp == qp,
        _ => false,
    }
}

/// Is this (registrable) redirect URI one only a native app uses: an http loopback
/// address or a private-use scheme (RFC 8252 §7.1, §7.3)?
pub fn is_native_only(uri: &str) -> bool {
    !matches!(scheme_of(uri).as_deref(), Some("https"))
}

/// Check a redirect URI offered at registration.
pub fn check_registrable(uri: &str) -> Result<(), OAuthError> {
    let bad = |why: &str| Err(OAuthError::new(OAuthErrorCode::InvalidRedirectUri, format!("{uri}: {why}")));
    if uri.contains('#') {
        return bad("must not contain a fragment");
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain whitespace");
    }
    match scheme_of(uri).as_deref() {
        Some("https") => {
            return match uri.strip_prefix("https://").and_then(|rest| rest.split(['/', '?']).next()) {
                Some(h) if !h.is_empty() => Ok(()),
                _ => bad("is not an https URI with a host (the scheme must be lower case)"),
            };
        }
        Some("http") => {
            return match http_parts(uri) {
                Some((h, _)) if loopback_host(h) => Ok(()),
                _ => bad("http is only allowed for loopback addresses, written in lower case (use https)"),
            };
        }
        _ => {}
    }
    // A private-use scheme for native apps (RFC 8252 §7.1): `com.example.app:/cb`, `cursor://...`.
    match uri.split_once(':') {
        Some((scheme, rest))
            if !rest.is_empty()
                && scheme.len() > 1
                && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !matches!(scheme.to_ascii_lowercase().as_str(), "javascript" | "data" | "file" | "vbscript" | "about" | "blob") =>
        {
            Ok(())
        }
        _ => bad("is not an absolute URI with an allowed scheme"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_13_exact_redirect_matching() {
        assert!(matches("https://app.example/cb", "https://app.example/cb"));
        for bad in ["https://app.example/cb/x", "https://app.example/cb?x=1", "https://app.example/CB", "https://app.example:444/cb", "https://evil.example/cb"]
        {
            assert!(!matches("https://app.example/cb", bad), "{bad}");
        }
    }

    #[test]
    fn rfc8252_loopback_redirects_may_use_any_port() {
        assert!(matches("http://127.0.0.1/cb", "http://127.0.0.1:53117/cb"));
        assert!(matches("http://127.0.0.1:3000/cb", "http://127.0.0.1:53117/cb"));
        assert!(matches("http://[::1]/cb", "http://[::1]:8080/cb"));
        assert!(matches("http://localhost:6274/oauth/callback", "http://localhost:9999/oauth/callback"));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:53117/other"), "the path still must match");
        assert!(!matches("http://127.0.0.1/cb", "http://localhost:53117/cb"), "the host must match");
        assert!(!matches("https://app.example/cb", "https://app.example:8443/cb"), "no port freedom for https");
    }

    #[test]
    fn loopback_rule_cannot_be_used_to_redirect_elsewhere() {
        for evil in [
            "http://127.0.0.1:80@evil.example/cb",
            "http://localhost:x@evil.example/cb",
            "http://[::1]@evil.example/cb",
            "http://127.0.0.1@evil.example/cb",
            "http://127.0.0.1:80:81/cb",
            "http://127.0.0.1:/cb",
        ] {
            assert!(!matches("http://127.0.0.1/cb", evil) && !matches("http://localhost/cb", evil) && !matches("http://[::1]/cb", evil), "{evil}");
            assert!(check_registrable(evil).is_err(), "{evil}");
        }
        for evil in ["HTTP://evil.example/cb", "Http://evil.example/cb", "HTTPS:///cb"] {
            assert_eq!(check_registrable(evil).unwrap_err().error, "invalid_redirect_uri", "{evil}");
        }
    }

    #[test]
    fn rfc8252_loopback_ports_must_be_1_to_65535() {
        for bad in ["http://127.0.0.1:0/cb", "http://127.0.0.1:65536/cb", "http://127.0.0.1:99999/cb", "http://localhost:000000080/cb", "http://[::1]:70000/cb"]
        {
            assert!(check_registrable(bad).is_err(), "{bad}");
            assert!(!matches("http://127.0.0.1/cb", bad) && !matches("http://localhost/cb", bad) && !matches("http://[::1]/cb", bad), "{bad}");
        }
        for ok in ["http://127.0.0.1:1/cb", "http://127.0.0.1:65535/cb", "http://[::1]:8080/cb"] {
            assert!(check_registrable(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn mcp_08_and_mcp_10_registrable_redirects() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1:33418/callback",
            "http://localhost:6274/oauth/callback",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
            "com.example.app:/cb",
        ] {
            assert!(check_registrable(ok).is_ok(), "{ok}");
        }
        for bad in ["http://example.com/cb", "https://app.example/cb#frag", "javascript:alert(1)", "data:text/html,x", "/relative", "https:///nohost", "x:"] {
            assert_eq!(check_registrable(bad).unwrap_err().error, "invalid_redirect_uri", "{bad}");
        }
    }
}
