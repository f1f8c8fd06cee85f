//! DPoP proofs (RFC 9449): `dpop::check` on arbitrary proofs and on proofs signed
//! here from fuzzed claims, `dpop::thumbprint` on arbitrary JWK JSON, and the
//! stateless nonces (`nonce`, `nonce_valid`).
//!
//! Input: `mode byte`, then fields separated by 0xFF:
//! - mode % 3 == 0: `proof` `method` `url` `access token` (an input never verifies);
//! - mode % 3 == 1: `JWK JSON` (thumbprint) `nonce` `server`;
//! - mode % 3 == 2: `control bytes` `htm` `htu` `jti` `request method` `request url`
//!   `access token` `extra header JSON` `nonce`: a proof signed here, checked against
//!   what the RFC requires.

#![no_main]

use kavach_fuzz::crypto::{Secrets, token_hash};
use kavach_fuzz::keys::Key;
use kavach_fuzz::oauth::dpop;
use kavach_fuzz::{SECRET, fields, int, mode, now, raw_fields};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use std::sync::OnceLock;

fn secrets() -> &'static Secrets {
    static S: OnceLock<Secrets> = OnceLock::new();
    S.get_or_init(|| Secrets::new(&[SECRET]))
}

fn thumbprint_checks(jwk: &Value) {
    let t = dpop::thumbprint(jwk);
    if let Some(t) = &t {
        assert_eq!(t.len(), 43, "a SHA-256 in base64url");
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
    // RFC 7638: members other than the required ones do not change the thumbprint.
    if let Some(o) = jwk.as_object() {
        let mut more = o.clone();
        for (k, v) in [("kid", json!("some-kid")), ("use", json!("sig")), ("alg", json!("none")), ("ext", json!(true))] {
            more.insert(k.into(), v);
        }
        assert_eq!(dpop::thumbprint(&Value::Object(more)), t, "optional members changed the thumbprint");
    }
}

/// A coarser form of a URL than RFC 9449 §4.3 allows to differ: without query and
/// fragment, all lower case, an empty path as `/`. Two URLs a proof may use
/// interchangeably have the same loose form.
fn loose_htu(url: &str) -> String {
    let u = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
    match u.split_once("://") {
        Some((_, rest)) if !rest.contains('/') => format!("{u}/"),
        _ => u,
    }
}

fuzz_target!(|data: &[u8]| {
    let (m, rest) = mode(data);
    let t = now();
    match m % 3 {
        0 => {
            let f = fields(rest, 4);
            let at = (m & 4 == 4).then_some(f[3].as_str());
            if let Ok(p) = dpop::check(&f[0], &f[1], &f[2], at, t) {
                panic!("a proof from the fuzzer verified (it cannot hold a signature): {p:?} {:?}", f[0]);
            }
        }
        1 => {
            let f = raw_fields(rest);
            if let Some(jwk) = f.first().and_then(|j| serde_json::from_slice::<Value>(j).ok()) {
                thumbprint_checks(&jwk);
            }
            let g = fields(rest, 3);
            let (nonce, server) = (&g[1], &g[2]);
            let offset = int(nonce.as_bytes()) % 100_000;
            let _ = dpop::nonce_valid(secrets(), server, nonce, t + offset);
            // A nonce is valid for its server now and a few windows on, never for another server.
            let n = dpop::nonce(secrets(), server, t);
            assert!(dpop::nonce_valid(secrets(), server, &n, t), "fresh nonce refused");
            assert!(dpop::nonce_valid(secrets(), server, &n, t + 2 * dpop::NONCE_WINDOW));
            assert!(!dpop::nonce_valid(secrets(), server, &n, t + 10 * dpop::NONCE_WINDOW), "stale nonce accepted");
            assert!(!dpop::nonce_valid(secrets(), &format!("{server}/other"), &n, t), "nonce of another server accepted");
            if !nonce.is_empty() && nonce != &n {
                let _ = dpop::nonce_valid(secrets(), server, &format!("{n}{nonce}"), t);
            }
        }
        _ => {
            let f = fields(rest, 9);
            let ctl = raw_fields(rest).first().copied().unwrap_or_default().to_vec();
            let byte = |i: usize| ctl.get(i).copied().unwrap_or(0);
            let key = Key::from_byte(byte(0));
            let (htm, htu, jti, method, url, access_token) = (&f[1], &f[2], &f[3], &f[4], &f[5], &f[6]);
            // Same method and URL as the proof, unless the control byte says otherwise.
            let method = if byte(1) & 1 == 0 { htm } else { method };
            let url = if byte(1) & 2 == 0 { htu } else { url };
            let at = (byte(1) & 4 == 4).then_some(access_token.as_str());
            let iat = t + i64::from(i16::from_le_bytes([byte(2), byte(3)]));
            let mut header = json!({ "typ": "dpop+jwt", "alg": key.alg(), "jwk": key.bare_jwk() });
            // Extra header members and JWK members from the input (a private member must be refused).
            if let Ok(Value::Object(extra)) = serde_json::from_str::<Value>(&f[7]) {
                for (k, v) in extra {
                    if byte(1) & 8 == 8 {
                        header["jwk"][k] = v;
                    } else {
                        header[k] = v;
                    }
                }
            }
            let mut claims = json!({ "htm": htm, "htu": htu, "jti": jti, "iat": iat });
            if byte(1) & 16 == 16 {
                claims["ath"] = json!(token_hash(access_token));
            }
            if byte(1) & 32 == 32 {
                claims["nonce"] = json!(f[8]);
            }
            let proof = key.jws(header.to_string().as_bytes(), claims.to_string().as_bytes());
            let got = dpop::check(&proof, method, url, at, t);

            // What RFC 9449 §4.3 asks of the proof, as far as this input controls it.
            let jwk = &header["jwk"];
            let private = ["d", "p", "q", "dp", "dq", "qi", "k"].iter().any(|k| jwk.get(k).is_some());
            let header_ok = header["typ"] == "dpop+jwt" && header["alg"] == key.alg() && jwk.is_object() && !private;
            let jti_ok = !jti.is_empty() && jti.len() <= 256;
            let iat_ok = iat >= t - dpop::MAX_AGE && iat <= t + 60;
            let ath_ok = at.is_none() || byte(1) & 16 == 16;
            if let Ok(p) = &got {
                assert!(header_ok, "accepted a proof with header {header}");
                assert!(jti_ok && p.jti == *jti, "jti {jti:?} -> {:?}", p.jti);
                assert_eq!(htm, method, "accepted a proof for another method");
                assert!(iat_ok && p.iat == iat, "iat {iat} accepted at {t}");
                assert!(ath_ok, "accepted a proof without ath for an access token");
                assert_eq!(Some(p.jkt.clone()), dpop::thumbprint(jwk), "jkt is the key's thumbprint");
                assert_eq!(p.nonce.as_deref(), claims["nonce"].as_str());
                if url != htu {
                    // Only scheme and host case, query and fragment may differ.
                    assert_eq!(loose_htu(url), loose_htu(htu), "htu {htu:?} accepted for {url:?}");
                }
            } else if header_ok && jti_ok && htm == method && url == htu && iat_ok && ath_ok && jwk == &key.bare_jwk() {
                // A wrong JWK member (a changed x, n...) is fine to refuse; with the key's own JWK it must pass.
                panic!("a valid proof was refused: {got:?} header {header} claims {claims}");
            }
            // Another key's signature, or a changed byte, never passes.
            if byte(4) & 1 == 1 && !proof.is_empty() {
                let pos = usize::from(u16::from_le_bytes([byte(5), byte(6)])) % proof.len();
                let mut b = proof.clone().into_bytes();
                if let Some(x) = b.get_mut(pos)
                    && *x != byte(7)
                {
                    *x = byte(7);
                    if let Ok(p2) = String::from_utf8(b) {
                        assert!(dpop::check(&p2, method, url, at, t).is_err(), "tampered proof accepted: {p2:?}");
                    }
                }
            }
            thumbprint_checks(jwk);
        }
    }
});
