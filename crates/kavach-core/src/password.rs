//! Password policy and hashing.
//!
//! Policy (NIST SP 800-63B-4 §3.1.1.2): no composition rules; a minimum length (15
//! characters by default, for passwords that are the only factor), a maximum, and
//! refusal of passwords on the common-password list and of passwords that are mostly
//! predictable: repeated or sequential characters, keyboard runs, the app's name, the
//! service, and the user's own email and name.
//!
//! Every new password is normalised to Unicode NFKC before it is checked and hashed,
//! so a password typed in another normalisation form (NFC on one device, NFD on
//! another) is the same password. A stored hash is verified against the NFKC form and,
//! for hashes made before normalisation, against the password as typed (and its NFD
//! form); a match in another form is rehashed in NFKC.
//!
//! Hashing: new hashes are Argon2id PHC strings with the OWASP parameters (m=19456
//! KiB, t=2, p=1). They run on a fixed set of worker threads (one per CPU), each
//! reusing one Argon2 memory block for its whole life: concurrency is bounded by the
//! number of workers, and resident memory by workers × 19 MiB, however many sign-ins
//! arrive (a thread pool that grows would leave one block behind in each thread's
//! allocator arena).

use crate::error::{Code, Error, Result};
pub use crate::legacy::LegacyVerifier;
use argon2::password_hash::PasswordVerifier;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use unicode_normalization::UnicodeNormalization;

const M_COST: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUTPUT_LEN: usize = 32;

/// The shortest minimum a deployment may configure (NIST's floor for a password that
/// is used with a second factor).
pub const LOWEST_MIN_LENGTH: usize = 8;

/// Password rules (`[password]` in the configuration file). No composition rules (NIST
/// SP 800-63B-4): length, the common-password list, and predictability.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Default 15: a password that is the only factor. Lower it (to at least 8) only when
    /// the app requires a second factor.
    pub min_length: usize,
    pub max_length: usize,
    /// Refuse common passwords and mostly predictable ones (repetitions, sequences, the
    /// app's name, the user's email and name). Default true.
    pub reject_common: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy { min_length: 15, max_length: 128, reject_common: true }
    }
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| include_str!("../data/common-passwords.txt").lines().collect())
}

/// Words every password check treats as predictable, besides the context's own.
const WEAK_WORDS: &[&str] = &["password", "passwort", "qwerty", "letmein", "welcome", "admin", "login", "iloveyou"];

/// Keyboard rows (and the digit row) whose runs of four or more are predictable.
const KEYBOARD_ROWS: &[&str] = &["`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./", "qwertzuiop", "azertyuiop", "yxcvbnm"];

/// The one normalisation every new password gets (NFKC, as NIST recommends and as
/// better-auth's hashes used).
pub fn normalize(password: &str) -> String {
    password.nfkc().collect()
}

/// Why a password counts as predictable (for the error message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Weakness {
    Context,
    Repetition,
    Sequence,
}

/// Mark, in `taken`, the characters of every occurrence of `needle` in `pw` (left to
/// right, without overlaps) with `mark`. `taken` has one entry per character of `pw`.
fn mark_occurrences(pw: &[char], needle: &[char], taken: &mut [Option<Weakness>], mark: impl Fn(&mut Option<Weakness>)) {
    if needle.is_empty() {
        return;
    }
    let mut i = 0;
    while let Some(window) = pw.get(i..i + needle.len()) {
        if window == needle {
            taken.iter_mut().skip(i).take(needle.len()).for_each(&mark);
            i += needle.len();
        } else {
            i += 1;
        }
    }
}

/// How many characters of `pw` (lower-cased characters) are left once the predictable
/// parts are taken out, and the main reason for what was taken.
fn unpredictable_chars(pw: &[char], words: &[Vec<char>]) -> (usize, Option<Weakness>) {
    let n = pw.len();
    let mut taken: Vec<Option<Weakness>> = vec![None; n];
    // Context and weak words, wherever they occur.
    for w in words.iter().filter(|w| w.len() >= 3) {
        mark_occurrences(pw, w, &mut taken, |t| *t = Some(Weakness::Context));
    }
    // Runs of three or more with a constant step of -1, 0 or +1: "aaa", "abc", "321".
    // `step(i)`: from character i to the next (`None` past the end).
    let step = |i: usize| Some(*pw.get(i + 1)? as i64 - *pw.get(i)? as i64);
    let mut start = 0;
    while start + 2 < n {
        let Some(first) = step(start).filter(|s| s.abs() <= 1) else {
            start += 1;
            continue;
        };
        let mut end = start + 1;
        while step(end) == Some(first) {
            end += 1;
        }
        if end - start >= 2 {
            let why = if first == 0 { Weakness::Repetition } else { Weakness::Sequence };
            taken.iter_mut().skip(start).take(end - start + 1).for_each(|t| *t = t.or(Some(why)));
            start = end;
        } else {
            start += 1;
        }
    }
    // Keyboard runs of four or more, either direction.
    for row in KEYBOARD_ROWS {
        let row: Vec<char> = row.chars().collect();
        let rev: Vec<char> = row.iter().rev().copied().collect();
        for line in [&row, &rev] {
            for len in (4..=line.len()).rev() {
                for seg in line.windows(len) {
                    mark_occurrences(pw, seg, &mut taken, |t| *t = t.or(Some(Weakness::Sequence)));
                }
            }
        }
    }
    // A whole password that repeats a shorter unit ("abcdabcdabcd") counts as the unit.
    if let Some(p) = (1..=n / 2).find(|&p| pw.iter().skip(p).zip(pw).all(|(a, b)| a == b)) {
        taken.iter_mut().skip(p).for_each(|t| *t = t.or(Some(Weakness::Repetition)));
    }
    let left = taken.iter().filter(|t| t.is_none()).count();
    // The reason that took the most characters.
    let count = |w| taken.iter().filter(|t| **t == Some(w)).count();
    let why = [Weakness::Context, Weakness::Repetition, Weakness::Sequence].into_iter().max_by_key(|w| count(*w)).filter(|w| count(*w) > 0);
    (left, why)
}

/// The words of a context value: the value itself and its alphanumeric parts (an
/// email gives its local part, the parts of that, and its domain's labels).
fn context_words(context: &[&str]) -> Vec<Vec<char>> {
    let mut out: Vec<String> = WEAK_WORDS.iter().map(|w| w.to_string()).collect();
    for c in context {
        let c = normalize(c).to_lowercase();
        if c.is_empty() {
            continue;
        }
        let (local, domain) = c.split_once('@').unwrap_or((c.as_str(), ""));
        out.push(c.clone());
        out.push(local.to_owned());
        out.extend(local.split(|ch: char| !ch.is_alphanumeric()).map(str::to_owned));
        out.extend(domain.split('.').map(str::to_owned));
        out.extend(c.split(|ch: char| !ch.is_alphanumeric()).map(str::to_owned));
    }
    // The common TLD labels say nothing about the user.
    out.retain(|w| w.chars().count() >= 3 && !matches!(w.as_str(), "com" | "org" | "net" | "www" | "http" | "https"));
    out.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    out.dedup();
    out.into_iter().map(|w| w.chars().collect()).collect()
}

impl PasswordPolicy {
    /// Check a new password (compared in NFKC; length counts characters, not bytes).
    /// `context` holds what must not make up the password: the user's email and name,
    /// the app's name, the service's host.
    pub fn check(&self, password: &str, context: &[&str]) -> Result<()> {
        let pw = normalize(password);
        let len = pw.chars().count();
        if len < self.min_length {
            return Err(Error::bad_request(
                Code::PasswordTooShort,
                format!(
                    "Password too short: use at least {} characters (a few unrelated words make a long password that is easy to remember)",
                    self.min_length
                ),
            ));
        }
        if len > self.max_length {
            return Err(Error::bad_request(Code::PasswordTooLong, format!("Password too long: use at most {} characters", self.max_length)));
        }
        if !self.reject_common {
            return Ok(());
        }
        let lower = pw.to_lowercase();
        if common_passwords().contains(lower.as_str()) {
            return Err(Error::bad_request(Code::PasswordTooCommon, "This password is on a list of commonly used passwords: choose another"));
        }
        let chars: Vec<char> = lower.chars().collect();
        let (left, why) = unpredictable_chars(&chars, &context_words(context));
        // At least half the minimum length must be something an attacker cannot guess
        // from the context or from patterns.
        if left < self.min_length.div_ceil(2) {
            let reason = match why {
                Some(Weakness::Context) => "it is mostly made of your email, your name or the name of this service",
                Some(Weakness::Repetition) => "it is mostly repeated characters",
                _ => "it is mostly a sequence (like abcd, 1234 or qwerty)",
            };
            return Err(Error::bad_request(Code::PasswordTooPredictable, format!("This password is easy to guess: {reason}. Choose another")));
        }
        Ok(())
    }
}

/// Checked when the crate compiles: invalid constants are a build error, not a panic.
const PARAMS: Params = match Params::new(M_COST, T_COST, P_COST, Some(OUTPUT_LEN)) {
    Ok(p) => p,
    Err(_) => panic!("invalid Argon2 parameters"),
};

fn params() -> Params {
    PARAMS
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// A worker's Argon2 memory, allocated once and reused for every hash.
pub struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    fn new() -> Self {
        Memory { blocks: Vec::new() }
    }

    fn blocks(&mut self) -> &mut [Block] {
        // The parameters are constant: the memory is allocated once, then reused as it is.
        self.blocks.resize(params().block_count(), Block::default());
        &mut self.blocks
    }

    /// Argon2id with the current parameters into `out`.
    fn argon2id(&mut self, password: &[u8], salt: &[u8], out: &mut [u8; OUTPUT_LEN]) -> bool {
        argon2().hash_password_into_with_memory(password, salt, out, self.blocks()).is_ok()
    }
}

/// Hash `password` (already normalised) with the current parameters: a PHC string.
fn hash_with(mem: &mut Memory, password: &str) -> String {
    use argon2::password_hash::phc::{Output, ParamsString, Salt};
    let salt = crate::crypto::random_bytes::<16>();
    let mut out = [0u8; OUTPUT_LEN];
    let ok = mem.argon2id(password.as_bytes(), &salt, &mut out);
    let phc = (|| {
        if !ok {
            return None;
        }
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params()).ok()?,
            salt: Some(Salt::new(&salt).ok()?),
            hash: Some(Output::new(&out).ok()?),
        };
        Some(hash.to_string())
    })();
    // Passwords are at most a few hundred bytes and the parameters are fixed: this
    // cannot fail, but an unusable hash must never be stored.
    phc.unwrap_or_else(|| hash_sync(password))
}

/// Synchronous Argon2id hash (PHC string) of `password` as given (no normalisation),
/// allocating its own memory.
#[allow(
    clippy::expect_used,
    reason = "Argon2id with the constant parameters and a 16-byte salt fails only for inputs over 4 GiB; passwords are bounded by max_length and the body limit"
)]
pub fn hash_sync(password: &str) -> String {
    use argon2::password_hash::PasswordHasher;
    let salt = crate::crypto::random_bytes::<16>();
    argon2().hash_password_with_salt(password.as_bytes(), &salt).expect("argon2 hashing cannot fail with valid parameters").to_string()
}

/// Outcome of a verification.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, and the stored hash should be replaced with this new one.
    YesRehash(String),
}

/// Verify `password` (exactly as given) against a stored hash: Argon2 PHC strings (any
/// variant or parameters) and the legacy formats of [`crate::legacy`]. Anything but a
/// current Argon2id hash is flagged for rehash on success.
pub fn verify_sync(password: &str, stored: &str) -> Verified {
    verify_form(&mut Memory::new(), password, stored, &[])
}

/// One form of the password against the stored hash.
fn verify_form(mem: &mut Memory, password: &str, stored: &str, custom: &[LegacyVerifier]) -> Verified {
    if !stored.starts_with("$argon2") {
        let ok = match crate::legacy::verify(password, stored) {
            Some(ok) => ok,
            None => custom.iter().any(|f| f(stored, password)),
        };
        return if ok { Verified::YesRehash(hash_with(mem, &normalize(password))) } else { Verified::No };
    }
    if !argon2_cost_ok(stored) {
        return Verified::No;
    }
    let Ok(parsed) = PasswordHash::new(stored) else { return Verified::No };
    if is_current(stored) {
        // The hot path: the worker's own memory, no allocation.
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return Verified::No };
        let mut out = [0u8; OUTPUT_LEN];
        if expected.len() != OUTPUT_LEN || !mem.argon2id(password.as_bytes(), salt.as_ref(), &mut out) {
            return Verified::No;
        }
        return if crate::crypto::ct_eq(&out, expected.as_bytes()) { Verified::Yes } else { Verified::No };
    }
    // Other parameters (imported hashes): rare, bounded by `argon2_cost_ok`.
    if Argon2::default().verify_password(password.as_bytes(), &parsed).is_err() {
        return Verified::No;
    }
    Verified::YesRehash(hash_with(mem, &normalize(password)))
}

/// The forms a typed password is tried in: NFKC (how every new hash is made), then as
/// typed and in NFD (hashes made before passwords were normalised), each once.
fn forms(password: &str) -> Vec<String> {
    let mut out = vec![normalize(password)];
    for f in [password.to_owned(), password.nfd().collect::<String>()] {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// Verify a typed password in each of its [`forms`]; a match in a form other than
/// NFKC asks for a rehash (in NFKC).
fn verify_forms(mem: &mut Memory, password: &str, stored: &str, custom: &[LegacyVerifier]) -> Verified {
    for (i, form) in forms(password).iter().enumerate() {
        match verify_form(mem, form, stored, custom) {
            Verified::No => continue,
            Verified::Yes if i > 0 => return Verified::YesRehash(hash_with(mem, &normalize(password))),
            found => return found,
        }
    }
    Verified::No
}

/// Imported hashes must not be able to make a sign-in cost gigabytes or minutes.
fn argon2_cost_ok(stored: &str) -> bool {
    // The costs argon2 will really use: parse the hash the way verification does (a
    // parameter named twice counts once, as the last one), not by scanning the text.
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    Params::try_from(&parsed).is_ok_and(|p| p.m_cost() <= 262_144 && p.t_cost() <= 16 && p.p_cost() <= 8)
}

fn is_current(stored: &str) -> bool {
    stored.starts_with("$argon2id$v=19$") && stored.contains(&format!("m={M_COST},t={T_COST},p={P_COST}$"))
}

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// The process's hashing workers: one thread per CPU, each with its own [`Memory`].
fn workers() -> &'static mpsc::Sender<Job> {
    static POOL: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        for i in 0..n {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("kavach-hash-{i}")).spawn(move || {
                let mut mem = Memory::new();
                loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    // A panicking job must not take the worker (and its memory) down.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut mem)));
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing worker");
            }
        }
        tx
    })
}

/// Hashes and verifies passwords on the hashing workers, off the async runtime.
#[derive(Clone)]
pub struct Hasher {
    dummy: Arc<OnceLock<String>>,
    legacy: Arc<Vec<LegacyVerifier>>,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher { dummy: Arc::new(OnceLock::new()), legacy: Arc::new(vec![]) }
    }
}

impl Hasher {
    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&mut Memory) -> T + Send + 'static) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |mem| {
            let _ = tx.send(f(mem));
        });
        workers().send(job).map_err(|_| Error::internal("the password hashing workers stopped"))?;
        rx.await.map_err(|_| Error::internal("password hashing failed"))
    }

    /// Hash a new password (normalised to NFKC first).
    pub async fn hash(&self, password: &str) -> Result<String> {
        let pw = normalize(password);
        self.run(move |mem| hash_with(mem, &pw)).await
    }

    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verified> {
        let (pw, st, legacy) = (password.to_owned(), stored.to_owned(), self.legacy.clone());
        self.run(move |mem| verify_forms(mem, &pw, &st, &legacy)).await
    }

    /// Add verifiers for hash formats Kavach does not know (the seeds' `verifyLegacyHash`).
    pub fn with_legacy(mut self, verifiers: Vec<LegacyVerifier>) -> Self {
        self.legacy = Arc::new(verifiers);
        self
    }

    /// Spend the same time as a real verification of this password (each of its forms),
    /// for unknown accounts.
    pub async fn verify_dummy(&self, password: &str) -> Result<()> {
        let pw = password.to_owned();
        let dummy = self.dummy.clone();
        self.run(move |mem| {
            let h = dummy.get_or_init(|| hash_with(mem, "kavach-dummy-password-for-timing"));
            let _ = verify_forms(mem, &pw, h, &[]);
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> Memory {
        Memory::new()
    }

    #[test]
    fn hash_and_verify_round_trip() {
        let h = hash_with(&mut mem(), "correct horse battery staple");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(verify_sync("correct horse battery staple", &h), Verified::Yes);
        assert_eq!(verify_sync("wrong horse battery staple", &h), Verified::No);
        assert_eq!(verify_sync("x", "not-a-hash"), Verified::No);
        // The PHC string the workers write is the one the reference implementation writes.
        assert!(Argon2::default().verify_password(b"correct horse battery staple", &PasswordHash::new(&h).unwrap()).is_ok());
        assert_eq!(verify_sync("correct horse battery staple", &hash_sync("correct horse battery staple")), Verified::Yes);
    }

    #[test]
    fn other_argon2_parameters_verify_and_ask_for_rehash() {
        use argon2::password_hash::PasswordHasher;
        let weak = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::new(4096, 1, 1, None).unwrap());
        let h = weak.hash_password_with_salt(b"pw-legacy-params", b"saltsaltsaltsalt").unwrap().to_string();
        match verify_sync("pw-legacy-params", &h) {
            Verified::YesRehash(new) => assert!(is_current(&new)),
            other => panic!("{other:?}"),
        }
        assert_eq!(verify_sync("nope", &h), Verified::No);
    }

    /// Found by the `import` fuzz target: the cost check read the first `m=`/`t=` of a
    /// hash while argon2 uses the last, so `m=8,m=4194304` passed the bound and allocated
    /// 4 GiB. The check now reads the parameters the way verification does.
    #[test]
    fn argon2_cost_bound_reads_the_parameters_argon2_uses() {
        assert!(argon2_cost_ok("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE"));
        for repeated in [
            "$argon2id$v=19$m=8,m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE",
            "$argon2id$v=19$m=8,t=1,t=1000,p=1$c2FsdHNhbHRzYWx0c2FsdA$YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE",
            "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE",
        ] {
            assert!(!argon2_cost_ok(repeated), "{repeated}");
            assert_eq!(verify_sync("pw", repeated), Verified::No, "{repeated}");
        }
    }

    #[test]
    fn a_password_typed_in_another_normalisation_form_verifies() {
        let nfc = "Crème brûlée à la façon de Noël";
        let nfd: String = nfc.nfd().collect();
        assert_ne!(nfc, nfd);
        // New hashes are of the NFKC form: either way of typing it verifies.
        let h = hash_with(&mut mem(), &normalize(&nfd));
        assert_eq!(verify_forms(&mut mem(), nfc, &h, &[]), Verified::Yes);
        assert_eq!(verify_forms(&mut mem(), &nfd, &h, &[]), Verified::Yes);
        // A hash made (before normalisation) of the NFD form verifies the NFD form and the
        // NFC form, and asks to be replaced by the NFKC hash.
        let old = hash_sync(&nfd);
        for typed in [nfc, nfd.as_str()] {
            match verify_forms(&mut mem(), typed, &old, &[]) {
                Verified::YesRehash(new) => assert_eq!(verify_sync(&normalize(nfc), &new), Verified::Yes),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(verify_forms(&mut mem(), "Creme brulee a la facon de Noel", &old, &[]), Verified::No);
    }

    #[test]
    fn nist_800_63b_4_policy() {
        let p = PasswordPolicy::default();
        let code = |pw: &str, ctx: &[&str]| p.check(pw, ctx).err().map(|e| e.code.to_string());
        // 15 characters for a single-factor password.
        assert_eq!(code("aaaaaaaa", &[]).as_deref(), Some("PASSWORD_TOO_SHORT"));
        assert_eq!(code("          ", &[]).as_deref(), Some("PASSWORD_TOO_SHORT"));
        assert_eq!(code("kavach123", &[]).as_deref(), Some("PASSWORD_TOO_SHORT"));
        assert_eq!(code("short but nice", &[]).as_deref(), Some("PASSWORD_TOO_SHORT"));
        assert_eq!(code(&"a".repeat(129), &[]).as_deref(), Some("PASSWORD_TOO_LONG"));
        // Repetitions and sequences.
        for bad in [
            "aaaaaaaaaaaaaaaa",
            "                ",
            "abcdefghijklmnopq",
            "1234567890123456",
            "qwertyuiopasdfgh",
            "abcabcabcabcabcabc",
            "zyxwvutsrqponmlk",
            "ababababababababab",
        ] {
            assert_eq!(code(bad, &[]).as_deref(), Some("PASSWORD_TOO_PREDICTABLE"), "{bad}");
        }
        // Context words: the app, the service, the email's parts, the name.
        let ctx = ["alice.smith@example.org", "Alice Smith", "Kavach", "auth.acme.test"];
        for bad in ["kavach123kavach123", "alicesmith2024!!", "Alice.Smith@example.org", "KAVACH-kavach-KAVACH", "acmeacme-kavach-1"] {
            assert_eq!(code(bad, &ctx).as_deref(), Some("PASSWORD_TOO_PREDICTABLE"), "{bad}");
        }
        let e = p.check("kavach123kavach123", &ctx).unwrap_err();
        assert!(e.message.contains("name of this service"), "{}", e.message);
        // The common-password list (the whole password, any case).
        assert_eq!(code("1qaz2wsx3edc4rfv", &[]).as_deref(), Some("PASSWORD_TOO_COMMON"));
        // Passphrases pass.
        for ok in ["correct horse battery staple", "Baseball-under-the-bridge", "ñandú tiene frío hoy", "my cat likes the blue sofa", "Tr0ub4dor&3-gravel-lamp"]
        {
            assert!(p.check(ok, &ctx).is_ok(), "{ok}: {:?}", p.check(ok, &ctx).err());
        }
        // Length counts characters, not bytes, after NFKC.
        assert_eq!(code("ñandú ñandú ñ", &[]).as_deref(), Some("PASSWORD_TOO_SHORT"));
        // A lower minimum (apps that require a second factor).
        let mfa = PasswordPolicy { min_length: 8, ..PasswordPolicy::default() };
        assert!(mfa.check("blue sofa 7", &[]).is_ok());
        assert_eq!(mfa.check("aaaaaaaa", &[]).unwrap_err().code, "PASSWORD_TOO_PREDICTABLE");
    }
}
