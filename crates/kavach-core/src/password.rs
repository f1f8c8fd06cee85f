//! Password policy and hashing. New hashes are Argon2id PHC strings with the
//! OWASP parameters (m=19456 KiB, t=2, p=1). Hashing runs on the blocking pool
//! behind a semaphore sized to the CPU count, which caps CPU and memory use.

use crate::error::{Error, Result};
pub use crate::legacy::LegacyVerifier;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

const M_COST: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// Password rules. No composition rules (NIST 800-63B): length and a common-password list.
#[derive(Clone, Debug)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
    pub reject_common: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy { min_length: 8, max_length: 128, reject_common: true }
    }
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| include_str!("../data/common-passwords.txt").lines().collect())
}

impl PasswordPolicy {
    /// Check a new password. Length counts Unicode scalar values, not bytes.
    pub fn check(&self, password: &str, context: &[&str]) -> Result<()> {
        let len = password.chars().count();
        if len < self.min_length {
            return Err(Error::bad_request(
                "PASSWORD_TOO_SHORT",
                format!("Password too short: use at least {} characters", self.min_length),
            ));
        }
        if len > self.max_length {
            return Err(Error::bad_request(
                "PASSWORD_TOO_LONG",
                format!("Password too long: use at most {} characters", self.max_length),
            ));
        }
        if self.reject_common {
            let lower = password.to_lowercase();
            let in_context = context.iter().any(|c| !c.is_empty() && lower == c.to_lowercase());
            if in_context || common_passwords().contains(lower.as_str()) {
                return Err(Error::bad_request(
                    "PASSWORD_TOO_COMMON",
                    "This password is too common or easy to guess: choose another",
                ));
            }
        }
        Ok(())
    }
}

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    dummy: Arc<OnceLock<String>>,
    legacy: Arc<Vec<LegacyVerifier>>,
}

impl Default for Hasher {
    fn default() -> Self {
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Hasher { permits: Arc::new(Semaphore::new(n)), dummy: Arc::new(OnceLock::new()), legacy: Arc::new(vec![]) }
    }
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(M_COST, T_COST, P_COST, None).expect("valid params"))
}

/// Synchronous Argon2id hash (PHC string).
pub fn hash_sync(password: &str) -> String {
    let salt = crate::crypto::random_bytes::<16>();
    argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .expect("argon2 hashing cannot fail with valid parameters")
        .to_string()
}

/// Outcome of a verification.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, and the stored hash should be replaced with this new one.
    YesRehash(String),
}

/// Verify against a stored hash: Argon2 PHC strings (any variant or parameters)
/// and the legacy formats of [`crate::legacy`]. Anything but a current Argon2id
/// hash is flagged for rehash on success.
pub fn verify_sync(password: &str, stored: &str) -> Verified {
    verify_with(password, stored, &[])
}

/// [`verify_sync`], then the embedder's verifiers for formats Kavach does not know.
pub fn verify_with(password: &str, stored: &str, custom: &[LegacyVerifier]) -> Verified {
    if stored.starts_with("$argon2") && !argon2_cost_ok(stored) {
        return Verified::No;
    }
    if !stored.starts_with("$argon2") {
        let ok = match crate::legacy::verify(password, stored) {
            Some(ok) => ok,
            None => custom.iter().any(|f| f(stored, password)),
        };
        return if ok { Verified::YesRehash(hash_sync(password)) } else { Verified::No };
    }
    if argon2().verify_password(password.as_bytes(), stored).is_err() {
        return Verified::No;
    }
    if is_current(stored) { Verified::Yes } else { Verified::YesRehash(hash_sync(password)) }
}

/// Imported hashes must not be able to make a sign-in cost gigabytes or minutes.
fn argon2_cost_ok(stored: &str) -> bool {
    let params = stored.split('$').find(|p| p.starts_with("m="));
    let get = |k: &str| params.and_then(|p| p.split(',').find_map(|kv| kv.strip_prefix(k)?.parse::<u32>().ok()));
    matches!((get("m="), get("t="), get("p=")), (Some(m), Some(t), Some(p)) if m <= 262_144 && t <= 16 && p <= 8)
}

fn is_current(stored: &str) -> bool {
    stored.starts_with("$argon2id$v=19$")
        && stored.contains(&format!("m={M_COST},t={T_COST},p={P_COST}$"))
}

impl Hasher {
    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self.permits.acquire().await.map_err(|_| Error::internal("hasher closed"))?;
        tokio::task::spawn_blocking(f).await.map_err(|e| Error::internal("password hashing task failed").with_source(e))
    }

    pub async fn hash(&self, password: &str) -> Result<String> {
        let pw = password.to_owned();
        self.blocking(move || hash_sync(&pw)).await
    }

    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verified> {
        let (pw, st, legacy) = (password.to_owned(), stored.to_owned(), self.legacy.clone());
        self.blocking(move || verify_with(&pw, &st, &legacy)).await
    }

    /// Add verifiers for hash formats Kavach does not know (the seeds' `verifyLegacyHash`).
    pub fn with_legacy(mut self, verifiers: Vec<LegacyVerifier>) -> Self {
        self.legacy = Arc::new(verifiers);
        self
    }

    /// Spend the same time as a real verification, for unknown accounts.
    pub async fn verify_dummy(&self, password: &str) -> Result<()> {
        let pw = password.to_owned();
        let dummy = self.dummy.clone();
        self.blocking(move || {
            let h = dummy.get_or_init(|| hash_sync("kavach-dummy-password-for-timing"));
            let _ = verify_sync(&pw, h);
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify_round_trip() {
        let h = hash_sync("correct horse battery staple");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(verify_sync("correct horse battery staple", &h), Verified::Yes);
        assert_eq!(verify_sync("wrong horse battery staple", &h), Verified::No);
        assert_eq!(verify_sync("x", "not-a-hash"), Verified::No);
    }

    #[test]
    fn other_argon2_parameters_verify_and_ask_for_rehash() {
        let weak = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::new(4096, 1, 1, None).unwrap());
        let h = weak.hash_password_with_salt(b"pw-legacy-params", b"saltsaltsaltsalt").unwrap().to_string();
        match verify_sync("pw-legacy-params", &h) {
            Verified::YesRehash(new) => assert!(is_current(&new)),
            other => panic!("{other:?}"),
        }
        assert_eq!(verify_sync("nope", &h), Verified::No);
    }

    #[test]
    fn policy_length_and_common_list() {
        let p = PasswordPolicy::default();
        assert_eq!(p.check("short", &[]).unwrap_err().code, "PASSWORD_TOO_SHORT");
        assert_eq!(p.check(&"a".repeat(129), &[]).unwrap_err().code, "PASSWORD_TOO_LONG");
        assert_eq!(p.check("password", &[]).unwrap_err().code, "PASSWORD_TOO_COMMON");
        assert_eq!(p.check("Baseball1", &[]).unwrap_err().code, "PASSWORD_TOO_COMMON");
        assert!(p.check("Baseball-under-the-bridge", &[]).is_ok());
        assert_eq!(p.check("BASEBALL", &[]).unwrap_err().code, "PASSWORD_TOO_COMMON");
        assert_eq!(p.check("alice@example.com", &["alice@example.com"]).unwrap_err().code, "PASSWORD_TOO_COMMON");
        assert!(p.check("correct horse battery staple", &[]).is_ok());
        // Unicode counts characters, not bytes.
        assert!(p.check("ñññññññ", &[]).is_err());
        assert!(p.check("ññññññññ", &[]).is_ok());
    }
}
