//! Helpers shared by Kavach's fuzz targets: the module paths of the crates under
//! test (named once, here), input splitting, the fixed test keys, and a [`Core`]
//! over an in-memory SQLite database for the parsers that need one.
//!
//! Input format of every target: fields separated by the byte `0xFF` (which never
//! occurs in UTF-8 text, so a field is any text), each field decoded as UTF-8 with
//! replacement characters. Seeds are written with `printf '...\xff...'`.
//!
//! Module paths: the targets name no module of `kavach` or `kavach_core`; they use
//! the re-exports below (`kavach_fuzz::oauth::dpop`, `kavach_fuzz::form::parse_params`,
//! `kavach_fuzz::cookies`...). When a module of Kavach moves, only this list changes.

use std::sync::{Arc, OnceLock};

// ---- The code under test, by where it lives in Kavach (the only place that says so). ----

/// Agents: the resource-pattern grammar, constraints and the glob matcher.
pub use kavach_core::plugins::agents;
/// Email + password flows (not fuzzed directly; named here should a target need them).
pub use kavach_core::plugins::email_password;
/// The importers: `import::clerk`, `import::better_auth`, `import::Report`.
pub use kavach_core::plugins::migration::import;
/// Passkeys: `passkey::Imported` (better-auth's stored credentials, converted on import).
pub use kavach_core::plugins::passkey;
/// Sign-In with Ethereum: `siwe::message`, `siwe::signature`.
pub use kavach_core::plugins::siwe;
/// The OAuth rules: `clients`, `redirect`, `dpop`, `pkce`, `resource`, `device`, `tokens`...
pub use kavach_core::plugins::oauth;
/// The core's own modules the targets use.
pub use kavach_core::{Core, RequestContext, access, crypto, jwt, legacy, origin_of, password, redact_url, text, users};

/// The HTTP layer's parsers: request bodies, cookies and bearer tokens, the client IP.
pub use kavach::http::{body, client_ip, cookies};

/// The OAuth endpoints' parameter parsers (`application/x-www-form-urlencoded` bodies
/// and queries, `Authorization: Basic` client credentials), wherever the HTTP layer keeps them.
pub mod form {
    pub use kavach::http::plugins::oauth::{basic_credentials, parse_params};
}

pub mod keys;

/// The field separator of fuzz inputs.
pub const SEP: u8 = 0xFF;

/// The raw fields of `data` (split at [`SEP`]).
pub fn raw_fields(data: &[u8]) -> Vec<&[u8]> {
    data.split(|b| *b == SEP).collect()
}

/// The fields of `data` as text, at least `n` of them (missing ones are empty).
pub fn fields(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = raw_fields(data).into_iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    while out.len() < n {
        out.push(String::new());
    }
    out
}

/// The first byte (a mode selector) and the rest.
pub fn mode(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((m, rest)) => (*m, rest),
        None => (0, data),
    }
}

/// Little-endian integer from up to 8 bytes of `b` (missing bytes are zero).
pub fn int(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    for (i, x) in b.iter().take(8).enumerate() {
        a[i] = *x;
    }
    i64::from_le_bytes(a)
}

/// Every byte as `%XX`: the most encoded form of `s`.
pub fn percent_encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Does this JSON value hold a NUL character in a string or a key?
pub fn value_has_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(a) => a.iter().any(value_has_nul),
        serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || value_has_nul(v)),
        _ => false,
    }
}

/// The secret of the fuzzing cores (a test value, not used anywhere else).
pub const SECRET: &str = "kavach-fuzz-secret-0123456789abcdefghijklmnop";

/// One current-thread runtime for every async call of a fuzz process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime"))
}

/// better-auth's secret in the fuzzing cores (the cookie transition is on).
pub const BETTER_AUTH_SECRET: &str = "better-auth-fuzz-secret-0123456789";

fn make_core(base_url: &str, migrate: bool) -> Arc<Core> {
    runtime().block_on(async {
        // In memory: nothing is written to disk, and the database lives as long as the pool's one connection.
        let db = kavach_core::store::Db::connect("sqlite::memory:").await.expect("in-memory SQLite");
        if migrate {
            db.migrate().await.expect("migrations");
        }
        let better_auth = kavach_core::plugins::migration::BetterAuthCookies { secrets: vec![BETTER_AUTH_SECRET.into()], ..Default::default() };
        let options = kavach_core::Options { base_url: base_url.into(), secrets: vec![SECRET.into()], better_auth: Some(better_auth), ..Default::default() };
        let templates = kavach_core::email::Templates::load(None).expect("built-in templates");
        let mailer = Arc::new(kavach_testkit::CaptureMailer::default());
        Arc::new(Core::new(db, options, mailer, templates, None).expect("core"))
    })
}

/// A core on `http://localhost:3000` (plain cookie names), database not migrated.
pub fn http_core() -> &'static Arc<Core> {
    static CORE: OnceLock<Arc<Core>> = OnceLock::new();
    CORE.get_or_init(|| make_core("http://localhost:3000", false))
}

/// A core on `https://auth.example` (`__Secure-` cookie names), database not migrated.
pub fn https_core() -> &'static Arc<Core> {
    static CORE: OnceLock<Arc<Core>> = OnceLock::new();
    CORE.get_or_init(|| make_core("https://auth.example", false))
}

/// A core over a migrated in-memory database (for the importers, run as dry runs).
pub fn migrated_core() -> &'static Arc<Core> {
    static CORE: OnceLock<Arc<Core>> = OnceLock::new();
    CORE.get_or_init(|| make_core("http://localhost:3000", true))
}
