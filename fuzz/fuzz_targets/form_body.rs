//! `application/x-www-form-urlencoded` bodies and queries: `oauth::parse_params`,
//! `body::percent_decode`, and `Authorization: Basic` client credentials
//! (`oauth::basic_credentials`, form-encoded id and secret).
//!
//! Input: `mode byte`, then fields separated by 0xFF: the form, a Basic credential,
//! an id and a secret for the round trips.

#![no_main]

use base64::Engine;
use http::{HeaderMap, HeaderValue, header};
use kavach_fuzz::body::percent_decode;
use kavach_fuzz::form::{basic_credentials, parse_params};
use kavach_fuzz::{fields, mode, percent_encode_all};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

/// Encode like a browser form: unreserved characters as they are, space as `+`, the rest `%XX`.
fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let (m, rest) = mode(data);
    let f = fields(rest, 4);

    // parse_params: no NUL ever comes out, and what comes out re-encodes to the same map.
    let form = &f[0];
    match parse_params(form) {
        Ok(params) => {
            for (k, v) in &params {
                assert!(!k.contains('\0') && !v.contains('\0'), "NUL in a parameter: {k:?}={v:?}");
            }
            assert!(!form.contains('\0'), "a raw NUL was accepted");
            let pairs: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v))).collect();
            assert_eq!(parse_params(&pairs.join("&")).ok().as_ref(), Some(&params), "re-encoded form parses differently");
            // Pairs are '&'-separated: never more parameters than pieces.
            assert!(params.len() <= form.split('&').filter(|p| !p.is_empty()).count());
        }
        Err(e) => assert_eq!(e.error, "invalid_request"),
    }

    // percent_decode: NUL refused, plain text unchanged, and every encoding of a text decodes back.
    for plus in [false, true] {
        match percent_decode(form, plus) {
            Ok(d) => {
                assert!(!d.contains('\0'));
                if !form.contains('%') && !(plus && form.contains('+')) {
                    assert_eq!(&d, form, "text without escapes decodes to itself");
                }
            }
            Err(e) => assert!(e.0.is_client_error()),
        }
    }
    let text = &f[2];
    if !text.contains('\0') {
        assert_eq!(percent_decode(&percent_encode_all(text), m & 1 == 1).ok().as_ref(), Some(text), "%XX round trip");
        assert_eq!(percent_decode(&form_encode(text), true).ok().as_ref(), Some(text), "form round trip");
        let one: HashMap<String, String> = [(text.clone(), f[3].clone())].into_iter().collect();
        if !f[3].contains('\0') {
            let body = format!("{}={}", form_encode(text), form_encode(&f[3]));
            assert_eq!(parse_params(&body).ok(), Some(one), "{body:?}");
        }
    } else {
        assert!(percent_decode(&percent_encode_all(text), false).is_err(), "an encoded NUL is refused");
    }

    // A repeated parameter is an error (RFC 6749 §3.1).
    if !text.contains('\0') {
        let k = form_encode(text);
        assert!(parse_params(&format!("{k}=1&{k}=2")).is_err(), "repeated parameter accepted");
    }

    // Basic credentials: arbitrary header values, and the round trip of an id and a secret.
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Basic {}", f[1])) {
        // A value that is not visible ASCII is not read as text at all (no credentials).
        let readable = v.to_str().is_ok();
        h.insert(header::AUTHORIZATION, v);
        match basic_credentials(&h) {
            Ok(Some((id, secret))) => assert!(!id.contains('\0') && !secret.contains('\0')),
            Ok(None) => assert!(!readable, "a Basic header was not read"),
            Err(e) => assert_eq!(e.error, "invalid_client"),
        }
    }
    let (id, secret) = (&f[2], &f[3]);
    if !id.contains('\0') && !secret.contains('\0') {
        let raw = format!("{}:{}", form_encode(id), form_encode(secret));
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        let scheme = if m & 2 == 2 { "basic" } else { "Basic" };
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("{scheme} {b64}")).expect("ASCII"));
        let got = basic_credentials(&h).ok().flatten();
        assert_eq!(got.as_ref().map(|(a, b)| (a.as_str(), b.as_str())), Some((id.as_str(), secret.as_str())), "Basic round trip");
    }
});
