//! Imported data: Clerk exports of users, organizations and memberships
//! (`import::clerk::import_files`, the public entry of the private parsers, run as a dry
//! run against a migrated in-memory SQLite database), and stored password hashes from other systems
//! (`legacy::recognizes`, `legacy::verify`, `password::verify_sync` for Argon2 PHC
//! strings), with the work they may cost bounded as Kavach promises.
//!
//! Input: `mode byte`, then
//! - even mode: Clerk exports, chosen by `(mode >> 3) % 3`: 0, the users file; 1, the
//!   organizations file; 2, fields `organizations` 0xFF `memberships`;
//! - odd mode: fields `stored hash` 0xFF `password`.

#![no_main]

use kavach_fuzz::password::{Verified, verify_sync};
use kavach_fuzz::{RequestContext, legacy};
use kavach_fuzz::import::clerk;
use kavach_fuzz::{migrated_core, mode, raw_fields, runtime};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The temporary export files of this process: users, organizations, memberships.
fn export_paths() -> &'static [PathBuf; 3] {
    static P: OnceLock<[PathBuf; 3]> = OnceLock::new();
    P.get_or_init(|| ["users", "organizations", "memberships"].map(|k| std::env::temp_dir().join(format!("kavach-fuzz-clerk-{k}-{}.json", std::process::id()))))
}

fn clerk_export(slot: u8, data: &[u8]) {
    let paths = export_paths();
    let f = raw_fields(data);
    // The bytes of each file given (a slot whose file is absent gets none).
    let files: [Option<&[u8]>; 3] = match slot {
        0 => [Some(data), None, None],
        1 => [None, Some(data), None],
        _ => [None, f.first().copied(), Some(f.get(1).copied().unwrap_or_default())],
    };
    for (path, bytes) in paths.iter().zip(files) {
        if let Some(b) = bytes {
            std::fs::write(path, b).expect("temp file");
        }
    }
    let given = |i: usize| files[i].map(|_| paths[i].as_path());
    let chosen = clerk::Files { users: given(0), organizations: given(1), memberships: given(2) };
    let core = migrated_core();
    let ctx = RequestContext::default();
    let run = || runtime().block_on(clerk::import_files(core, chosen, true, &ctx));
    match run() {
        Ok(report) => {
            assert!(report.dry_run);
            for b in files.iter().flatten() {
                assert!(serde_json::from_slice::<serde_json::Value>(b).is_ok(), "an export that is not JSON was accepted");
            }
            for t in &report.tables {
                assert_eq!(t.read, t.imported + t.already_present + t.skipped.len() as u64, "table {} does not add up: {t:?}", t.table);
            }
            // A dry run leaves nothing behind: the same file gives the same report again.
            let again = run().expect("second dry run");
            let json = |r: &kavach_fuzz::import::Report| serde_json::to_string(r).expect("report JSON");
            assert_eq!(json(&report), json(&again), "a dry run changed the database");
        }
        Err(e) => {
            let utf8 = files.iter().flatten().all(|b| std::str::from_utf8(b).is_ok());
            if utf8 {
                assert!(e.is_client_error(), "a malformed export is the caller's fault: {e:?}");
                assert_eq!(e.code, "IMPORT_FILE_INVALID", "{e:?}");
            }
        }
    }
    // The files of one process (fork mode starts many): not left behind.
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}

/// The Argon2 parameters a PHC string really asks for (as the argon2 crate reads them).
fn argon2_params(stored: &str) -> Option<(u32, u32, u32)> {
    let hash = argon2::PasswordHash::new(stored).ok()?;
    let p = argon2::Params::try_from(&hash).ok()?;
    Some((p.m_cost(), p.t_cost(), p.p_cost()))
}

/// `stored` with its hash replaced by the right one for `password` (computed as the
/// argon2 crate verifies: the string's own algorithm, version, parameters and salt),
/// when that is cheap to compute here. The parameter text is kept as it is.
fn with_right_hash(stored: &str, password: &str) -> Option<String> {
    use argon2::CustomizedPasswordHasher;
    let hash = argon2::PasswordHash::new(stored).ok()?;
    let params = argon2::Params::try_from(&hash).ok()?;
    if u64::from(params.m_cost()) * u64::from(params.t_cost()) > 16_384 || params.p_cost() > 16 {
        return None;
    }
    let salt = hash.salt?;
    let computed = argon2::Argon2::default()
        .hash_password_customized(password.as_bytes(), salt.as_ref(), Some(hash.algorithm.as_str()), hash.version, params)
        .ok()?;
    let (head, _) = stored.rsplit_once('$')?;
    Some(format!("{head}${}", computed.hash?))
}

/// The cost a non-Argon2 stored hash asks for, as far as it is cheap to run here:
/// bcrypt cost and PBKDF2 iterations (scrypt's fixed cost is too slow to run here).
fn cheap_legacy(stored: &str) -> bool {
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        // Kavach computes costs 4..=14 only; run cost 4 (and what it refuses).
        let cost = stored.get(4..6).and_then(|c| c.parse::<u32>().ok());
        return !cost.is_some_and(|c| (5..=14).contains(&c));
    }
    let iterations = if let Some(rest) = stored.strip_prefix("pbkdf2:") {
        rest.split(':').next().and_then(|i| i.parse::<u32>().ok())
    } else if let Some(rest) = stored.strip_prefix("$pbkdf2-sha256$") {
        let p = rest.split('$').next().unwrap_or_default();
        p.strip_prefix("i=").map(|p| p.split(',').next().unwrap_or_default()).unwrap_or(p).parse::<u32>().ok()
    } else if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        rest.split('$').next().and_then(|i| i.parse::<u32>().ok())
    } else {
        // scrypt pairs (N=2^14, r=16 and r=8) are skipped; anything else costs nothing.
        return stored.split_once(':').is_none_or(|(salt, key)| salt.len() != 32 || key.len() != 128);
    };
    iterations.is_none_or(|i| i <= 20_000)
}

fn stored_hash(stored: &str, password: &str) {
    let recognized = legacy::recognizes(stored);
    if stored.len() > 200 || password.len() > 200 {
        return;
    }
    if stored.starts_with("$argon2") {
        assert!(recognized);
        // The current parameters take the hot path with Kavach's own fixed cost: skipped for speed.
        if stored.contains("m=19456,t=2,p=1$") {
            return;
        }
        let params = argon2_params(stored);
        // Within Kavach's bound (m <= 256 MiB, t <= 16, p <= 8) but slow here: skip.
        let cheap = params.is_none_or(|(m, t, p)| m <= 4096 && t <= 4 && p <= 4);
        let beyond = params.is_some_and(|(m, t, p)| m > 262_144 || t > 16 || p > 8);
        if cheap || beyond {
            // "Imported hashes must not be able to make a sign-in cost gigabytes or minutes":
            // a hash asking for more than the bound is refused without being computed.
            let start = Instant::now();
            let v = verify_sync(password, stored);
            if beyond {
                assert_eq!(v, Verified::No, "a hash beyond the cost bound was verified: {stored:?}");
                assert!(start.elapsed() < Duration::from_secs(2), "a hash beyond the cost bound was computed: {stored:?} {params:?}");
            }
        }
        // With the right password's hash in it, a hash beyond the bound is still refused
        // (it is never computed), whatever way its parameters are written.
        if beyond && let Some(right) = with_right_hash(stored, password) {
            assert_eq!(verify_sync(password, &right), Verified::No, "a hash beyond Kavach's cost bound was computed and verified: {right:?} {params:?}");
        }
        return;
    }
    if cheap_legacy(stored) {
        let v = legacy::verify(password, stored);
        if v.is_some() {
            assert!(recognized, "verify knows a format recognizes does not: {stored:?}");
        }
        if v == Some(true) {
            assert!(!matches!(verify_sync(password, stored), Verified::No));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (m, rest) = mode(data);
    if m % 2 == 0 {
        clerk_export((m >> 3) % 3, rest);
    } else {
        let f = raw_fields(rest);
        let stored = String::from_utf8_lossy(f.first().copied().unwrap_or_default());
        let password = String::from_utf8_lossy(f.get(1).copied().unwrap_or_default());
        stored_hash(&stored, &password);
    }
});
