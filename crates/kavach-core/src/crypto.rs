//! Small crypto helpers shared by every module: random tokens, hashing of tokens
//! for storage, HMAC signatures with secret rotation, constant-time comparison.

use aws_lc_rs::{digest, hmac, rand};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// `n` random bytes from the OS CSPRNG.
#[allow(
    clippy::expect_used,
    reason = "the OS CSPRNG does not fail once the process runs; without randomness no secret can be made, so stopping is the only safe answer"
)]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::fill(&mut b).expect("the OS random number generator failed");
    b
}

/// A 256-bit random token, base64url without padding (43 characters).
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

const ALPHANUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A 32-character alphanumeric id (about 190 bits), the shape better-auth uses.
pub fn new_id() -> String {
    let bytes = random_bytes::<64>();
    bytes
        .iter()
        .filter(|b| **b < 248) // 248 = 4 * 62: reject to stay uniform
        .filter_map(|b| ALPHANUM.get(usize::from(*b % 62))) // always Some: the index is below 62
        .take(32)
        .map(|&c| char::from(c))
        .collect::<String>()
        .pipe_fill()
}

/// `len` characters drawn uniformly from `alphabet` (at most 256 symbols), by rejection.
pub fn random_string(len: usize, alphabet: &[u8]) -> String {
    let n = alphabet.len().clamp(1, 256);
    let limit = 256 - 256 % n; // bytes at or above it would favour the first symbols
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<32>() {
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(alphabet.get(usize::from(b) % n).copied().unwrap_or(b'0')));
            }
        }
    }
    out
}

/// A code of `len` decimal digits, uniform (an emailed one-time code).
pub fn random_digits(len: usize) -> String {
    random_string(len, b"0123456789")
}

trait PipeFill {
    fn pipe_fill(self) -> String;
}
impl PipeFill for String {
    /// In the astronomically rare case that rejection left fewer than 32 characters.
    fn pipe_fill(mut self) -> String {
        while self.len() < 32 {
            let missing = 32 - self.len();
            self.extend(new_id().chars().take(missing));
        }
        self
    }
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&sha256(data))
}

/// How a high-entropy token is stored: base64url(SHA-256(token)). The same function is
/// PKCE's S256, DPoP's `ath` and the RFC 7638 thumbprint's encoding.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(token.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Both nibbles are below 16: `from_digit` always has a (lower-case) digit for them.
        s.extend([b >> 4, b & 15].into_iter().filter_map(|n| char::from_digit(u32::from(n), 16)));
    }
    s
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

const SEALED_PREFIX: &str = "sealed:v1:";

#[allow(clippy::expect_used, reason = "HKDF-SHA256 expands up to 255 * 32 bytes: 32 requested, 32 filled, neither can fail")]
fn derive_seal_key(secret: &[u8]) -> [u8; 32] {
    use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
    struct Len32;
    impl KeyType for Len32 {
        fn len(&self) -> usize {
            32
        }
    }
    let prk = Salt::new(HKDF_SHA256, b"kavach").extract(secret);
    let okm = prk.expand(&[b"kavach sealed data v1"], Len32).expect("HKDF length");
    let mut out = [0u8; 32];
    okm.fill(&mut out).expect("HKDF fill");
    out
}

/// The server secrets: sign with the first, accept any (rotation).
#[derive(Clone)]
pub struct Secrets {
    keys: Vec<hmac::Key>,
    /// AES-256-GCM keys derived from each secret (HKDF-SHA256), for data sealed at rest.
    seal_keys: Vec<[u8; 32]>,
    /// The current (first) secret's HMAC key: what signs.
    current: hmac::Key,
    /// The current (first) secret's sealing key: what seals.
    current_seal: [u8; 32],
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} keys, redacted)", self.keys.len())
    }
}

impl Secrets {
    pub fn new<S: AsRef<[u8]>>(secrets: &[S]) -> Self {
        #[allow(
            clippy::panic,
            reason = "start-up: Core::new refuses an empty list with a configuration error before this; other callers pass a literal one-element list"
        )]
        let Some((current, _)) = secrets.split_first() else { panic!("at least one secret is required") };
        Secrets {
            keys: secrets.iter().map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.as_ref())).collect(),
            seal_keys: secrets.iter().map(|s| derive_seal_key(s.as_ref())).collect(),
            current: hmac::Key::new(hmac::HMAC_SHA256, current.as_ref()),
            current_seal: derive_seal_key(current.as_ref()),
        }
    }

    /// Encrypt `plain` for storage (AES-256-GCM, key derived from the current
    /// secret, `context` bound as associated data): `base64url(nonce || sealed)`.
    #[allow(
        clippy::expect_used,
        reason = "a 32-byte key is always a valid AES-256 key, and AES-GCM sealing only fails for inputs over 64 GiB (what is sealed here is a few KB)"
    )]
    pub fn seal(&self, plain: &[u8], context: &str) -> String {
        use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.current_seal).expect("32-byte key"));
        let nonce = random_bytes::<12>();
        let mut data = plain.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut data).expect("sealing cannot fail");
        let mut out = nonce.to_vec();
        out.extend(data);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Seal a text field for storage: `sealed:v1:<...>`, so sealed and older plain
    /// values can be told apart when read back with [`Self::open_field`].
    pub fn seal_field(&self, plain: &str, context: &str) -> String {
        format!("{SEALED_PREFIX}{}", self.seal(plain.as_bytes(), context))
    }

    /// Read a field written by [`Self::seal_field`]; a value without the prefix is
    /// returned as it is (rows written by SQL outside Kavach).
    pub fn open_field(&self, stored: &str, context: &str) -> Option<String> {
        match stored.strip_prefix(SEALED_PREFIX) {
            Some(sealed) => self.open(sealed, context).and_then(|b| String::from_utf8(b).ok()),
            None => Some(stored.to_owned()),
        }
    }

    /// Decrypt what [`Self::seal`] produced, with any of the secrets.
    pub fn open(&self, sealed: &str, context: &str) -> Option<Vec<u8>> {
        use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
        let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, body) = raw.split_at(12);
        self.seal_keys.iter().find_map(|k| {
            let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k).ok()?);
            let mut data = body.to_vec();
            let n = Nonce::try_assume_unique_for_key(nonce).ok()?;
            key.open_in_place(n, Aad::from(context.as_bytes()), &mut data).ok().map(|p| p.to_vec())
        })
    }

    /// HMAC-SHA256 with the current (first) secret.
    pub fn sign(&self, msg: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.current, msg);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// `token.base64(HMAC)`: the signed form used in cookies (better-auth's layout).
    pub fn sign_token(&self, token: &str) -> String {
        format!("{token}.{}", STANDARD.encode(self.sign(token.as_bytes())))
    }

    /// Check a `token.signature` value against every secret; returns the token.
    pub fn verify_signed_token<'a>(&self, value: &'a str) -> Option<&'a str> {
        let (token, sig) = value.rsplit_once('.')?;
        (!token.is_empty() && self.verify_signature(token, sig)).then_some(token)
    }

    /// Is `sig` (standard base64) the HMAC of `token` under any of the secrets?
    pub fn verify_signature(&self, token: &str, sig: &str) -> bool {
        let Ok(sig) = STANDARD.decode(sig) else { return false };
        self.verify_mac(token.as_bytes(), &sig)
    }

    /// Is `mac` the HMAC of `msg` under any of the secrets?
    pub fn verify_mac(&self, msg: &[u8], mac: &[u8]) -> bool {
        self.keys.iter().any(|k| hmac::verify(k, msg, mac).is_ok())
    }

    /// A keyed hash for low-entropy values (emails in rate-limit keys, for example).
    pub fn keyed_hash(&self, value: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.sign(value.as_bytes()))
    }

    /// [`Self::keyed_hash`] under every secret, current first (to find values keyed
    /// before a secret rotation).
    pub fn keyed_hashes(&self, value: &str) -> Vec<String> {
        self.keys.iter().map(|k| URL_SAFE_NO_PAD.encode(hmac::sign(k, value.as_bytes()).as_ref())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_tokens_have_the_documented_shape() {
        let id = new_id();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(new_id(), new_id());
        let t = random_token();
        assert_eq!(t.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(&t).unwrap().len(), 32);
    }

    #[test]
    fn signed_tokens_verify_with_any_secret_and_sign_with_the_first() {
        let old = Secrets::new(&["old-secret-old-secret-old-secret-0"]);
        let rotated = Secrets::new(&["new-secret-new-secret-new-secret-0", "old-secret-old-secret-old-secret-0"]);
        let v = old.sign_token("abc");
        assert_eq!(rotated.verify_signed_token(&v), Some("abc"));
        let v2 = rotated.sign_token("abc");
        assert_eq!(old.verify_signed_token(&v2), None);
        assert_eq!(rotated.verify_signed_token("abc.AAAA"), None);
        assert_eq!(rotated.verify_signed_token("nodot"), None);
        assert_eq!(rotated.verify_signed_token(".sig"), None);
    }

    #[test]
    fn better_auth_cookie_signature_vector() {
        // From shared/peers/better-auth/vectors (dev secret, better-auth 1.7.25).
        let s = Secrets::new(&["dev-only-peer-secret-please-change-0123456789abcdef"]);
        assert_eq!(s.sign_token("1PBCpY1Z2SQ9rMnswxSw5P1JDSTJKsWS"), "1PBCpY1Z2SQ9rMnswxSw5P1JDSTJKsWS.0025jTx8zHzbkSWp4FBCr6eJRfPQ+7bkrnEeJJGDdlY=");
    }

    #[test]
    fn sealed_data_opens_with_any_secret_and_only_in_its_context() {
        let old = Secrets::new(&["old-secret-old-secret-old-secret-0"]);
        let rotated = Secrets::new(&["new-secret-new-secret-new-secret-0", "old-secret-old-secret-old-secret-0"]);
        let sealed = old.seal(b"private key", "jwks:k1");
        assert_eq!(rotated.open(&sealed, "jwks:k1").as_deref(), Some(&b"private key"[..]));
        assert_eq!(rotated.open(&sealed, "jwks:k2"), None, "bound to its context");
        assert_eq!(Secrets::new(&["another-secret-another-secret-00"]).open(&sealed, "jwks:k1"), None);
        assert_ne!(old.seal(b"x", "c"), old.seal(b"x", "c"), "fresh nonce each time");
        assert_eq!(old.open("garbage", "c"), None);
        let field = old.seal_field("provider-token", "kavach_account:access_token:a1");
        assert!(field.starts_with("sealed:v1:") && !field.contains("provider-token"));
        assert_eq!(rotated.open_field(&field, "kavach_account:access_token:a1").as_deref(), Some("provider-token"));
        assert_eq!(old.open_field("plain-from-sql", "c").as_deref(), Some("plain-from-sql"));
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
