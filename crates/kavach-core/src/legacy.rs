//! Verifiers for password hashes made by other systems, so imported users keep
//! their passwords: better-auth's scrypt (`salt:key`), KavachOS's scrypt and
//! PBKDF2 forms, bcrypt (`$2a$`, `$2b$`, `$2y$`, as Clerk and others export),
//! PBKDF2-SHA256 as PHC, passlib and Django strings. A successful verification
//! is followed by a rehash to the current Argon2id parameters (see
//! [`crate::password::verify_sync`]). Embedders can add their own formats with a
//! [`LegacyVerifier`].

use crate::crypto::ct_eq;
use base64::Engine;
use std::num::NonZeroU32;
use std::sync::Arc;
use unicode_normalization::UnicodeNormalization;

/// An embedder's verifier for another format: `(stored_hash, password) -> matches`.
/// Return `false` for formats it does not know.
pub type LegacyVerifier = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// The PBKDF2 iteration counts accepted from stored hashes (imported data must not
/// be able to make one sign-in cost minutes).
const MAX_ITERATIONS: u32 = 10_000_000;

/// Is `stored` a hash format Kavach verifies (Argon2 or a legacy format)? Cheap:
/// looks at the shape only.
pub fn recognizes(stored: &str) -> bool {
    stored.starts_with("$argon2")
        || stored.starts_with("$2a$")
        || stored.starts_with("$2b$")
        || stored.starts_with("$2y$")
        || scrypt_pair(stored).is_some()
        || stored.starts_with("pbkdf2:")
        || stored.starts_with("$pbkdf2-sha256$")
        || stored.starts_with("pbkdf2_sha256$")
}

/// `Some(matches)` for a format this module knows, `None` otherwise.
pub fn verify(password: &str, stored: &str) -> Option<bool> {
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        // Cost 14 is already about a second here; imported data must not ask for hours.
        let cost_ok = stored.get(4..6).and_then(|c| c.parse::<u32>().ok()).is_some_and(|c| (4..=14).contains(&c));
        return Some(cost_ok && bcrypt::verify(password, stored).unwrap_or(false));
    }
    if let Some((salt, key)) = scrypt_pair(stored) {
        // better-auth: N=16384, r=16, p=1, NFKC; KavachOS auth-email: r=8. Both use the
        // hex salt string itself (not its bytes) as the salt.
        let nfkc: String = password.nfkc().collect();
        return Some(scrypt_check(nfkc.as_bytes(), salt.as_bytes(), &key, 14, 16) || scrypt_check(password.as_bytes(), salt.as_bytes(), &key, 14, 8));
    }
    if let Some(rest) = stored.strip_prefix("pbkdf2:") {
        // KavachOS: pbkdf2:<iterations>:<salt hex>:<hash hex>, PBKDF2-HMAC-SHA256.
        let mut it = rest.splitn(3, ':');
        let (iters, salt, hash) = (it.next()?.parse::<u32>().ok()?, it.next()?, unhex(it.next()?)?);
        let decoded = unhex(salt);
        return Some(decoded.is_some_and(|s| pbkdf2_check(password, &s, iters, &hash)) || pbkdf2_check(password, salt.as_bytes(), iters, &hash));
    }
    if let Some(rest) = stored.strip_prefix("$pbkdf2-sha256$") {
        let mut parts = rest.split('$');
        let (params, salt, hash) = (parts.next()?, parts.next()?, parts.next()?);
        if let Some(p) = params.strip_prefix("i=") {
            // PHC: $pbkdf2-sha256$i=<n>[,l=<len>]$<b64 salt>$<b64 hash>
            let iters = p.split(',').next()?.parse::<u32>().ok()?;
            return Some(pbkdf2_check(password, &b64(salt)?, iters, &b64(hash)?));
        }
        // passlib: $pbkdf2-sha256$<rounds>$<ab64 salt>$<ab64 hash> ('.' for '+')
        let iters = params.parse::<u32>().ok()?;
        return Some(pbkdf2_check(password, &b64(&salt.replace('.', "+"))?, iters, &b64(&hash.replace('.', "+"))?));
    }
    if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        // Django: pbkdf2_sha256$<iterations>$<salt string>$<b64 hash>
        let mut parts = rest.splitn(3, '$');
        let (iters, salt, hash) = (parts.next()?.parse::<u32>().ok()?, parts.next()?, b64(parts.next()?)?);
        return Some(pbkdf2_check(password, salt.as_bytes(), iters, &hash));
    }
    None
}

fn scrypt_pair(stored: &str) -> Option<(&str, Vec<u8>)> {
    let (salt, key) = stored.split_once(':')?;
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !(salt.len() == 32 && key.len() == 128 && hex(salt) && hex(key)) {
        return None;
    }
    Some((salt, unhex(key)?))
}

fn scrypt_check(password: &[u8], salt: &[u8], expected: &[u8], log_n: u8, r: u32) -> bool {
    let Ok(params) = scrypt::Params::new(log_n, r, 1) else { return false };
    let mut out = vec![0u8; expected.len()];
    scrypt::scrypt(password, salt, &params, &mut out).is_ok() && ct_eq(&out, expected)
}

fn pbkdf2_check(password: &str, salt: &[u8], iterations: u32, expected: &[u8]) -> bool {
    let Some(n) = NonZeroU32::new(iterations).filter(|n| n.get() <= MAX_ITERATIONS) else { return false };
    if expected.is_empty() || expected.len() > 128 {
        return false;
    }
    aws_lc_rs::pbkdf2::verify(aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256, n, salt, password.as_bytes(), expected).is_ok()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn b64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    STANDARD_NO_PAD.decode(s.trim_end_matches('=')).or_else(|_| STANDARD.decode(s)).ok()
}

#[cfg(test)]
mod tests {
    use super::verify;

    #[test]
    fn better_auth_scrypt_vectors() {
        // shared/peers/better-auth/vectors/better-auth-1.7.25.json
        let h = "f82edd9701650cafd708a90cd16d8a49:9bbc8da29b90cefa2c3b7852acd69c2f540bce38234e96ebddea8e99bbda7c3c90d8610c0470aca71e684df3f95a8dbf8bd1121faabeef99a3568907297393d4";
        assert_eq!(verify("hunter2hunter2", h), Some(true));
        assert_eq!(verify("hunter2hunter3", h), Some(false));
        let h2 = "d6cd074db0c0a2f466cd7b941b6a52a7:e6c16d74411e841674c3aecef5150d921c4f037c0a05fab793fb8f4dca3700098c4cc5aee38c11ee105a0937e49f29691ef7465dc7ed24a1bd5efee93d03ac99";
        assert_eq!(verify("correct horse battery staple", h2), Some(true));
    }

    #[test]
    fn kavachos_scrypt_and_pbkdf2() {
        let s = "0123456789abcdef0123456789abcdef:7a82a545017ee553e5ca5c51c68bd13068a47688a41bb1d726a198274ce8a8b83d17c1b78c0cdadd142506ae554e32e5572352b63035ac8dd4d5a5575b21e4b3";
        assert_eq!(verify("kavachos scrypt pw", s), Some(true));
        assert_eq!(verify("nope", s), Some(false));
        let p = "pbkdf2:100000:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff:0d6b01104f9d472fe09e72ceef9938b09ec27e930c9edad083a0bd01cd9baeedb9f689b3167075754f55dd5a648d5750942ca84f286b457a1e791407e4ed4d84";
        assert_eq!(verify("kavachos pbkdf2 pw", p), Some(true));
        assert_eq!(verify("kavachos pbkdf2 px", p), Some(false));
    }

    #[test]
    fn bcrypt_variants() {
        // Made with bcryptjs 2.4.3.
        assert_eq!(verify("clerk user password", "$2b$10$9EAY8sTDy4/r4WATB7ZrLO8oL0KqC371nLx1ESC1zFvUI/SiyBHze"), Some(true));
        assert_eq!(verify("clerk user passwore", "$2b$10$9EAY8sTDy4/r4WATB7ZrLO8oL0KqC371nLx1ESC1zFvUI/SiyBHze"), Some(false));
        assert_eq!(verify("pw for 2y", "$2y$05$2GkWwgyP4t2oR0lw5kCpwudgLei0JI/E/TlF6Wt4u2tBw.AcvwEda"), Some(true));
        assert_eq!(verify("pw for 2a", "$2a$05$M6hXwb8VkXCQX1e2kLi8zOhTuCKIaj5IizrpII4RbdqmJV9.tpj26"), Some(true));
        assert_eq!(verify("x", "$2a$05$garbage"), Some(false));
        assert_eq!(verify("x", "$2b$31$9EAY8sTDy4/r4WATB7ZrLO8oL0KqC371nLx1ESC1zFvUI/SiyBHze"), Some(false), "absurd cost refused, not computed");
    }

    #[test]
    fn pbkdf2_strings() {
        // Made with Python's hashlib.pbkdf2_hmac.
        assert_eq!(verify("django pw", "pbkdf2_sha256$260000$abcdefSALT12$cAaG73Ct0EgshidNlUcpNpHpCrGsCdQcv+TChDZRwvw="), Some(true));
        assert_eq!(verify("phc pw", "$pbkdf2-sha256$i=50000,l=32$c2FsdHNhbHRzYWx0MTIzNA$wtrUtMrX7gSrYdZe/DUCdxsIEtg+sEWSjPKkUAJN2s4"), Some(true));
        assert_eq!(verify("passlib pw", "$pbkdf2-sha256$29000$AQIDcGFzc2xpYnNhbHQ$VNxXuh.KTroEH9LaSRdf9tw0TKWJQiV6sS5oHzxiA0k"), Some(true));
        assert_eq!(verify("wrong", "$pbkdf2-sha256$29000$AQIDcGFzc2xpYnNhbHQ$VNxXuh.KTroEH9LaSRdf9tw0TKWJQiV6sS5oHzxiA0k"), Some(false));
        // Absurd iteration counts are refused, not computed.
        assert_eq!(verify("x", "pbkdf2_sha256$4000000000$s$AAAA"), Some(false));
        assert_eq!(verify("x", "md5$whatever"), None);
    }
}
