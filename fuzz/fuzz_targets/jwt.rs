//! JWS/JWT verification: `jwt::peek`, `jwt::verify` and `jwt::verify_with_key`
//! against a fixed JWKS (Ed25519, P-256, RSA-2048), with arbitrary token strings,
//! arbitrary JWK JSON, and tokens signed here from fuzzed headers and claims.
//!
//! Input: `mode byte`, then
//! - mode % 3 == 0: a token string (must never verify: the input cannot hold a signature);
//! - mode % 3 == 1: fields `JWK or JWKS JSON` 0xFF `token`;
//! - mode % 3 == 2: fields `key byte + leeway (2 bytes) + tamper (3 bytes)` 0xFF `header JSON`
//!   0xFF `claims JSON`; the header gets the key's `alg` and `kid` unless mode & 4 / mode & 8.

#![no_main]

use kavach_fuzz::jwt;
use kavach_fuzz::keys::{Key, jwks};
use kavach_fuzz::{mode, now, raw_fields};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fn no_forgery(token: &str) {
    if let Ok((h, c)) = jwt::verify(token, jwks(), 60) {
        panic!("a token from the fuzzer verified against the fixed JWKS: {token:?} {h} {c:?}");
    }
    for k in Key::ALL {
        assert!(jwt::verify_with_key(token, k.jwk()).is_err(), "forged {k:?} signature: {token:?}");
        assert!(jwt::verify_with_key(token, &k.bare_jwk()).is_err(), "forged {k:?} signature: {token:?}");
    }
}

fn peek_consistent(token: &str) {
    let peeked = jwt::peek(token);
    if let Ok((h, c)) = jwt::verify_with_key(token, &Value::Null) {
        panic!("verified with no key: {h} {c:?}");
    }
    // What verifies can be peeked, with the same claims.
    for k in Key::ALL {
        if let Ok((_, c)) = jwt::verify_with_key(token, k.jwk()) {
            assert_eq!(peeked.as_ref().map(|p| &p.1), Some(&c));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (m, rest) = mode(data);
    match m % 3 {
        0 => {
            let token = String::from_utf8_lossy(rest);
            let _ = jwt::peek(&token);
            no_forgery(&token);
            peek_consistent(&token);
        }
        1 => {
            let f = raw_fields(rest);
            let Some(key) = f.first().and_then(|j| serde_json::from_slice::<Value>(j).ok()) else { return };
            let token = String::from_utf8_lossy(f.get(1).copied().unwrap_or_default());
            let with_key = jwt::verify_with_key(&token, &key);
            let as_set = jwt::verify(&token, &json!({ "keys": [key.clone()] }), 60);
            if let Ok((h, c)) = &as_set {
                assert_eq!(with_key.as_ref().ok(), Some(&(h.clone(), c.clone())), "verify accepted what verify_with_key refuses");
            }
            // The input as a whole JWKS document.
            if let Ok((h, c)) = jwt::verify(&token, &key, 60) {
                let kid = h["kid"].as_str();
                let keys = key["keys"].as_array().expect("a JWKS that verified has keys");
                let chosen = match kid {
                    Some(kid) => keys.iter().find(|k| k["kid"] == kid),
                    None => keys.first().filter(|_| keys.len() == 1),
                };
                let chosen = chosen.expect("verify used a key the header names");
                assert_eq!(jwt::verify_with_key(&token, chosen).ok(), Some((h, c)));
            }
            let _ = jwt::peek(&token);
        }
        _ => {
            let f = raw_fields(rest);
            let ctl = f.first().copied().unwrap_or_default();
            let byte = |i: usize| ctl.get(i).copied().unwrap_or(0);
            let key = Key::from_byte(byte(0));
            let leeway = i64::from(u16::from_le_bytes([byte(1), byte(2)]) % 3601);
            let header_bytes = f.get(1).copied().unwrap_or_default();
            let claims_bytes = f.get(2).copied().unwrap_or_default();

            // The header: the fuzzed object, with the key's alg and kid unless told otherwise.
            let mut header = serde_json::from_slice::<Value>(header_bytes).unwrap_or(Value::Null);
            let header_bytes: Vec<u8> = if m & 12 == 12 {
                header_bytes.to_vec()
            } else {
                if !header.is_object() {
                    header = json!({});
                }
                if m & 4 == 0 {
                    header["alg"] = json!(key.alg());
                }
                if m & 8 == 0 {
                    header["kid"] = json!(key.kid());
                }
                header.to_string().into_bytes()
            };
            let token = key.jws(&header_bytes, claims_bytes);
            let parsed_header = serde_json::from_slice::<Value>(&header_bytes).ok();
            let parsed_claims = serde_json::from_slice::<jwt::Claims>(claims_bytes).ok();

            // verify_with_key: exactly when the header names the key's algorithm and the claims are an object.
            let alg_ok = parsed_header.as_ref().is_some_and(|h| h["alg"] == key.alg());
            let expected = match (&parsed_header, &parsed_claims) {
                (Some(h), Some(c)) if alg_ok => Some((h.clone(), c.clone())),
                _ => None,
            };
            let got = jwt::verify_with_key(&token, key.jwk());
            assert_eq!(got.as_ref().ok(), expected.as_ref(), "verify_with_key({key:?}) of {token:?}: {got:?}");
            // Another key never verifies it.
            for other in Key::ALL.into_iter().filter(|k| *k != key) {
                assert!(jwt::verify_with_key(&token, other.jwk()).is_err(), "{other:?} verified a {key:?} signature");
            }
            if let Some((_, c)) = &expected {
                assert_eq!(jwt::peek(&token).map(|p| p.1).as_ref(), Some(c), "peek shows the signed claims");
            }

            // verify against the JWKS: the kid picks the key, then exp and nbf with the leeway.
            let kid_ok = parsed_header.as_ref().is_some_and(|h| h["kid"] == key.kid());
            let now = now() as i128;
            let claim = |k: &str| parsed_claims.as_ref().and_then(|c| c.get(k)).and_then(Value::as_i64).map(i128::from);
            let (exp, nbf, lw) = (claim("exp"), claim("nbf"), i128::from(leeway));
            // Too close to the clock to say (the check reads the clock itself).
            let near = |a: i128, b: i128| (a - b).abs() <= 2;
            let timely = exp.is_some_and(|e| now <= e + lw) && !nbf.is_some_and(|n| now + lw < n);
            let borderline = exp.is_some_and(|e| near(now, e + lw)) || nbf.is_some_and(|n| near(now + lw, n));
            let result = jwt::verify(&token, jwks(), leeway);
            if !borderline {
                let should = expected.is_some() && kid_ok && timely;
                assert_eq!(result.is_ok(), should, "verify of {token:?} (leeway {leeway}): {result:?}");
            }
            if let Ok(r) = &result {
                assert_eq!(Some(r), expected.as_ref());
            }

            // Any single changed byte makes the token invalid.
            if byte(3) & 1 == 1 && !token.is_empty() {
                let pos = usize::from(u16::from_le_bytes([byte(4), byte(5)])) % token.len();
                let mut t = token.clone().into_bytes();
                let new = byte(6);
                if let Some(b) = t.get_mut(pos)
                    && *b != new
                {
                    *b = new;
                    if let Ok(t) = String::from_utf8(t) {
                        assert!(jwt::verify_with_key(&t, key.jwk()).is_err(), "tampered token verified: {t:?}");
                        assert!(jwt::verify(&t, jwks(), leeway).is_err());
                    }
                }
            }
        }
    }
});
