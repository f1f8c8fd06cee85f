//! The small rules applied to text from requests: redirect URIs
//! (`redirect::check_registrable`, `matches`, checked against the WHATWG URL parser),
//! resource indicators (`resource::canonical`), PKCE (`pkce::check_challenge`,
//! `check_verifier`), `users::normalize_email`, `PasswordPolicy::check`, device user
//! codes, `text::neutralize`, and `origin_of` / `redact_url`.
//!
//! Input: `mode byte`, then fields separated by 0xFF: `a` `b` `c` `d`.

#![no_main]

use kavach_fuzz::crypto::token_hash;
use kavach_fuzz::password::{PasswordPolicy, normalize};
use kavach_fuzz::users::normalize_email;
use kavach_fuzz::oauth::device::normalize_user_code;
use kavach_fuzz::oauth::{pkce, redirect, resource};
use kavach_fuzz::{fields, mode, origin_of, redact_url, text};
use libfuzzer_sys::fuzz_target;

const LOOPBACK: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

fn unreserved(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn redirects(a: &str, b: &str) {
    if redirect::check_registrable(a).is_ok() {
        assert!(!a.contains('#'), "fragment in {a:?}");
        assert!(!a.chars().any(|c| c.is_whitespace() || c.is_control()), "whitespace in {a:?}");
        let scheme = a.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
        assert!(!["javascript", "data", "file", "vbscript", "about", "blob"].contains(&scheme.as_str()), "{a:?}");
        // What a browser makes of it: http only to a loopback host.
        if let Ok(u) = url::Url::parse(a) {
            assert!(!["javascript", "data", "file", "vbscript", "about", "blob"].contains(&u.scheme()), "{a:?} is {}", u.scheme());
            if u.scheme() == "http" {
                let host = u.host_str().unwrap_or_default();
                assert!(LOOPBACK.contains(&host), "registrable http redirect {a:?} goes to host {host:?}");
            }
            if u.scheme() == "https" {
                assert!(u.host_str().is_some_and(|h| !h.is_empty()), "https redirect {a:?} without a host");
            }
        }
    }
    assert!(redirect::matches(a, a));
    assert_eq!(redirect::matches(a, b), redirect::matches(b, a), "matches is symmetric: {a:?} {b:?}");
    if redirect::matches(a, b) && a != b {
        // Only the port of a loopback redirect may differ (RFC 8252 §7.3).
        assert!(a.starts_with("http://") && b.starts_with("http://"), "{a:?} matched {b:?}");
        if let (Ok(x), Ok(y)) = (url::Url::parse(a), url::Url::parse(b)) {
            assert_eq!(x.host_str(), y.host_str(), "{a:?} matched {b:?} on another host");
            assert!(LOOPBACK.contains(&x.host_str().unwrap_or_default()), "non-loopback {a:?} matched {b:?}");
            assert_eq!((x.path(), x.query(), x.fragment()), (y.path(), y.query(), y.fragment()), "{a:?} matched {b:?}");
            assert_eq!((x.username(), x.password()), (y.username(), y.password()));
        }
        assert!(redirect::is_native_only(a) && redirect::is_native_only(b));
    }
}

fn resources(r: &str) {
    if let Ok(c) = resource::canonical(r) {
        assert_eq!(resource::canonical(&c).ok().as_deref(), Some(c.as_str()), "canonical is not idempotent: {r:?} -> {c:?}");
        assert!(c.starts_with("https://") || c.starts_with("http://"), "{c:?}");
        assert!(!c.contains('#') && !c.contains('?'), "{c:?}");
        let authority = c.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or_default()).unwrap_or_default();
        assert!(!authority.is_empty() && !authority.contains('@'), "{c:?}");
        assert!(!c.chars().any(|ch| ch.is_whitespace() || ch.is_control()));
        // Case of scheme and host does not make another resource.
        let (scheme, rest) = r.split_once("://").expect("absolute");
        let (host, path) = rest.find('/').map(|i| rest.split_at(i)).unwrap_or((rest, ""));
        let shouted = format!("{}://{}{path}", scheme.to_ascii_uppercase(), host.to_ascii_uppercase());
        assert_eq!(resource::canonical(&shouted).ok().as_deref(), Some(c.as_str()), "{shouted:?}");
    }
}

fn pkce_checks(challenge: &str, verifier: &str, method: &str) {
    match pkce::check_challenge(Some(challenge), Some(method)) {
        Ok(c) => {
            assert_eq!(c, challenge);
            assert_eq!(method, "S256", "only S256");
            assert!(c.len() == 43 && unreserved(&c), "{c:?}");
        }
        Err(e) => assert_eq!(e.error, "invalid_request"),
    }
    assert!(pkce::check_challenge(Some(challenge), None).is_err(), "no silent plain");
    assert!(pkce::check_challenge(None, Some(method)).is_err());
    // The verifier of a challenge made from it passes exactly when it is well formed.
    let good = (43..=128).contains(&verifier.len()) && unreserved(verifier);
    assert_eq!(pkce::check_verifier(Some(&token_hash(verifier)), Some(verifier)).is_ok(), good, "{verifier:?}");
    if pkce::check_verifier(Some(challenge), Some(verifier)).is_ok() {
        assert_eq!(challenge, token_hash(verifier), "verifier {verifier:?} passed for another challenge");
    }
    assert!(pkce::check_verifier(None, Some(verifier)).is_err(), "downgrade");
    assert!(pkce::check_verifier(Some(challenge), None).is_err(), "downgrade");
    assert!(pkce::check_verifier(None, None).is_ok());
}

fn emails(raw: &str) {
    if let Ok(e) = normalize_email(raw) {
        assert_eq!(normalize_email(&e).ok().as_deref(), Some(e.as_str()), "normalize_email is not idempotent: {raw:?} -> {e:?}");
        assert!(e.len() <= 254 && e.matches('@').count() == 1, "{e:?}");
        assert!(!e.chars().any(|c| c.is_whitespace() || c.is_control() || text::is_invisible_or_bidi(c)), "{e:?}");
        let (local, domain) = e.split_once('@').expect("one @");
        assert!(!local.is_empty() && local.len() <= 64 && !domain.is_empty());
        assert!(!domain.starts_with('.') && !domain.ends_with('.') && !domain.contains("..") && !domain.starts_with('-'));
    }
}

fn passwords(pw: &str, email: &str, name: &str) {
    if pw.len() > 512 || email.len() > 256 || name.len() > 256 {
        return;
    }
    let policy = PasswordPolicy::default();
    let ctx = [email, name, "Kavach", "localhost"];
    let r = policy.check(pw, &ctx);
    let n = normalize(pw).chars().count();
    if r.is_ok() {
        assert!((policy.min_length..=policy.max_length).contains(&n), "length {n} accepted");
        // NFKC is a normalisation: checking the normalised form decides the same.
        let nfkc = normalize(pw);
        if nfkc != pw {
            assert!(policy.check(&nfkc, &ctx).is_ok());
        }
    } else if n >= policy.min_length && n <= policy.max_length {
        let e = r.expect_err("refused");
        assert!(matches!(e.code.as_ref(), "PASSWORD_TOO_COMMON" | "PASSWORD_TOO_PREDICTABLE"), "{}", e.code);
    }
    assert_eq!(normalize(&normalize(pw)), normalize(pw));
    let lax = PasswordPolicy { min_length: 8, max_length: 128, reject_common: false };
    assert_eq!(lax.check(pw, &ctx).is_ok(), (8..=128).contains(&n));
}

fn texts(s: &str) {
    let code = normalize_user_code(s);
    assert!(code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "{code:?}");
    assert_eq!(normalize_user_code(&code), code);
    let n = text::neutralize(s);
    assert!(!n.chars().any(text::is_invisible_or_bidi));
    assert_eq!(text::neutralize(&n), n);
    let e = text::url_encode(s);
    assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)), "{e:?}");
    if let Some(o) = origin_of(s) {
        assert_eq!(origin_of(&o).as_deref(), Some(o.as_str()), "origin_of is not idempotent: {s:?} -> {o:?}");
        let (_, host) = o.split_once("://").expect("scheme://host");
        assert!(!host.is_empty() && !host.contains(['@', '/', '?', '#']), "{o:?}");
    }
    let redacted = redact_url(s);
    if let Some((scheme, rest)) = s.split_once("://")
        && let Some(at) = rest.rfind('@')
        && let Some((_, pw)) = rest.get(..at).and_then(|u| u.split_once(':'))
        && pw.len() > 3
        && s.matches(pw).count() == 1
        && !pw.contains(['*', '@', ':', '/', '?', '&', '='])
        && !scheme.is_empty()
    {
        // A distinctive password (found once, without the characters the redacted form adds) is gone.
        assert!(!redacted.contains(pw), "redact_url kept the password of {s:?}: {redacted:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let (m, rest) = mode(data);
    let f = fields(rest, 4);
    let (a, b, c, d) = (&f[0], &f[1], &f[2], &f[3]);
    match m % 6 {
        0 => redirects(a, b),
        1 => resources(a),
        2 => pkce_checks(a, b, c),
        3 => emails(a),
        4 => passwords(a, b, c),
        _ => texts(a),
    }
    // Everything on every input too, for crossovers between modes (short inputs only).
    if rest.len() <= 600 {
        redirects(b, a);
        resources(b);
        emails(b);
        texts(d);
    }
});
