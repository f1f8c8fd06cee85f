//! Cookie and request-header parsing: `cookies::cookie`, `presented_token`,
//! `session_token` and `dont_remember` (over cores on http and https), the
//! `percent_decode` they use, the signed-cookie round trip, better-auth cookies of
//! the migration window (`external().better_auth_token`), sealed values that come
//! back from browsers (`authorize().open`, `Secrets::open`), and the client IP from
//! `X-Forwarded-For` behind trusted proxies.
//!
//! Input: `mode byte`, then fields separated by 0xFF: cookie header 1, cookie header 2,
//! authorization header, cookie name, token for the round trip, X-Forwarded-For, peer IP,
//! a CIDR.

#![no_main]

use http::{HeaderMap, HeaderValue, header};
use kavach_fuzz::body::percent_decode;
use kavach_fuzz::client_ip::{self, Cidr};
use kavach_fuzz::cookies::{self, Source};
use kavach_fuzz::{BETTER_AUTH_SECRET, http_core, https_core, mode, percent_encode_all, raw_fields};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

/// The characters a session token (base64url) and its signature (standard base64) use,
/// plus the separators Kavach encodes.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=' | '%')
}

fn check_decoded(raw: &str) {
    for plus in [false, true] {
        if let Ok(d) = percent_decode(raw, plus) {
            assert!(!d.contains('\0'), "percent_decode let a NUL through: {raw:?}");
            assert!(d.len() <= raw.len(), "decoding never grows the text");
            // Fully encoding the decoded text decodes back to it.
            assert_eq!(percent_decode(&percent_encode_all(&d), plus).ok().as_deref(), Some(d.as_str()));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (m, rest) = mode(data);
    let f = raw_fields(rest);
    let get = |i: usize| f.get(i).copied().unwrap_or(b"");
    let text = |i: usize| String::from_utf8_lossy(get(i)).into_owned();

    let mut headers = HeaderMap::new();
    for i in [0, 1] {
        if let Ok(v) = HeaderValue::from_bytes(get(i)) {
            headers.append(header::COOKIE, v);
        }
    }
    if m & 1 == 1
        && let Ok(v) = HeaderValue::from_bytes(get(2))
    {
        headers.insert(header::AUTHORIZATION, v);
    }
    if let Ok(v) = HeaderValue::from_bytes(get(5)) {
        headers.insert("x-forwarded-for", v);
    }
    let header_texts: Vec<&str> = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();

    // The raw value of a cookie: never spans a `;`, always a piece of a Cookie header.
    let name = text(3);
    for n in [name.as_str(), cookies::COOKIE_NAME, cookies::SECURE_COOKIE_NAME, cookies::DONT_REMEMBER, cookies::SECURE_DONT_REMEMBER] {
        if let Some(v) = cookies::cookie(&headers, n) {
            assert!(!v.contains(';'), "cookie value spans pairs: {v:?}");
            assert!(header_texts.iter().any(|h| h.contains(v)), "cookie value {v:?} is not from a Cookie header");
            check_decoded(v);
        }
    }
    check_decoded(&text(4));

    for core in [http_core(), https_core()] {
        if let Some(p) = cookies::presented_token(core, &headers) {
            assert!(!p.token.is_empty(), "empty token presented");
            match (p.source, &p.signature) {
                (_, Some(sig)) => assert!(!sig.contains('.'), "the signature is what follows the last dot"),
                (Source::Bearer, None) => assert!(p.token.len() <= 256 && !p.token.contains('.'), "bare bearer token {:?}", p.token),
                (Source::Cookie, None) => panic!("a cookie token without a signature"),
                // API keys are read by the session middleware on their own routes, never here.
                (Source::ApiKey, None) => panic!("a presented token from an API key"),
            }
            assert!(!p.token.contains('\0'));
            // An input cannot carry a valid HMAC under the fuzzing secret (never in a seed).
            let authentic = p.authentic(core);
            if let Some(sig) = &p.signature {
                assert_eq!(authentic, core.secrets().verify_signature(&p.token, sig));
            }
            let st = cookies::session_token(core, &headers);
            assert_eq!(st.is_some(), authentic, "session_token agrees with presented_token + authentic");
        } else {
            assert!(cookies::session_token(core, &headers).is_none());
        }
        let _ = cookies::dont_remember(core, &headers);
        let _ = cookies::sets_session_cookie(core, &headers);
    }

    // Round trip: a cookie Kavach sets is read back as the same token, authentic;
    // likewise as a bearer token; a changed signature is refused.
    let token: String = text(4).chars().filter(|c| token_char(*c)).take(300).collect();
    if !token.is_empty() {
        for core in [http_core(), https_core()] {
            let set = cookies::set_session_cookie(core, &token, m & 2 == 2);
            let set = set.to_str().expect("Set-Cookie is ASCII");
            let pair = set.split(';').next().unwrap_or_default();
            let mut h = HeaderMap::new();
            let cookie_line = format!("other=1; {pair}; last=\"x\"");
            h.insert(header::COOKIE, HeaderValue::from_str(&cookie_line).expect("ASCII"));
            assert!(cookies::sets_session_cookie(core, &{
                let mut r = HeaderMap::new();
                r.insert(header::SET_COOKIE, HeaderValue::from_str(set).expect("ASCII"));
                r
            }));
            let p = cookies::presented_token(core, &h).expect("the cookie Kavach set is found");
            assert_eq!((p.token.as_str(), p.source), (token.as_str(), Source::Cookie), "cookie round trip via {cookie_line:?}");
            assert!(p.authentic(core));
            assert_eq!(cookies::session_token(core, &h), Some((token.clone(), Source::Cookie)));

            let signed = core.secrets().sign_token(&token);
            let mut b = HeaderMap::new();
            b.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {}", percent_encode_all(&signed))).expect("ASCII"));
            if let Some(p) = cookies::presented_token(core, &b) {
                assert_eq!(p.token, token, "bearer round trip");
                assert!(p.authentic(core));
            } else {
                panic!("signed bearer token not found: {signed:?}");
            }
            // Another signature (the HMAC of something else) never authenticates.
            let (_, other_sig) = core.secrets().sign_token(&format!("{token}x")).rsplit_once('.').map(|(a, b)| (a.to_owned(), b.to_owned())).unwrap_or_default();
            assert!(!core.secrets().verify_signature(&token, &other_sig));
        }
    }

    // better-auth cookies: only a value signed with better-auth's secret gives a token.
    let core = http_core();
    for raw in [text(0), text(4)] {
        let decoded = percent_decode(&raw, false).unwrap_or(raw);
        if let Some(t) = core.external().better_auth_token(&decoded) {
            panic!("a better-auth cookie from the fuzzer verified: {decoded:?} -> {t:?}");
        }
        // Sealed values come back from browsers (the authorization flow): none can be forged.
        assert!(core.authorize().open(&decoded).is_none(), "a sealed flow from the fuzzer opened: {decoded:?}");
        assert!(core.secrets().open(&decoded, "kavach-fuzz").is_none());
    }
    if !token.is_empty() && !token.contains('.') {
        let signed = kavach_fuzz::crypto::Secrets::new(&[BETTER_AUTH_SECRET]).sign_token(&token);
        assert_eq!(core.external().better_auth_token(&signed).as_deref(), Some(token.as_str()), "better-auth round trip");
        assert!(core.external().better_auth_token(&format!("x{signed}")).is_none_or(|t| t != token));
    }
    let sealed = core.secrets().seal(text(3).as_bytes(), "kavach-fuzz");
    assert_eq!(core.secrets().open(&sealed, "kavach-fuzz").as_deref(), Some(text(3).as_bytes()), "seal/open round trip");
    assert!(core.secrets().open(&sealed, "another-context").is_none(), "sealed data opened in another context");

    // Client IP: the peer unless it is a trusted proxy; then the first untrusted hop from the right.
    let peer: Option<IpAddr> = text(6).trim().parse().ok().or(Some(IpAddr::from([10, 0, 0, 1])));
    let mut trusted: Vec<Cidr> = ["10.0.0.0/8", "::1/128", "127.0.0.1"].iter().map(|c| c.parse().expect("CIDR")).collect();
    if let Ok(c) = text(7).parse::<Cidr>() {
        let _ = c.contains(IpAddr::from([192, 168, 1, 1]));
        let _ = c.contains("2001:db8::1".parse::<IpAddr>().expect("IP"));
        trusted.push(c);
    }
    let ip = client_ip::client_ip(peer, &headers, &trusted);
    let peer = peer.expect("set above");
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    match ip {
        None => panic!("a request with a peer always has a client IP"),
        Some(ip) if ip == peer => {}
        Some(ip) => {
            assert!(is_trusted(peer), "the forwarded address is read only behind a trusted proxy");
            assert!(!is_trusted(ip), "a trusted proxy is never the client");
            let xff = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or_default();
            assert!(xff.split(',').any(|h| h.trim().parse::<IpAddr>() == Ok(ip)), "{ip} is not in X-Forwarded-For {xff:?}");
        }
    }
});
