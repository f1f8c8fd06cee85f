//! Test helpers for Kavach and for apps that embed it (a dev-dependency; nothing here
//! ships in the library): a mailer that captures messages, link extraction, throw-away
//! databases (a temp SQLite file, or a fresh PostgreSQL database created for the test
//! and dropped after), a core on such a database ([`core_on`]), and [`dual!`], which
//! runs one test body on SQLite and on PostgreSQL as two tests.
//!
//! PostgreSQL comes from `KAVACH_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`; Kavach's own `scripts/test.sh` always
//! sets it, to a throwaway server it starts unless you set it). If it is unreachable,
//! [`TestDb::postgres`] panics, so PostgreSQL tests fail instead of silently
//! passing; `KAVACH_TEST_SKIP_PG=1` skips them on purpose.

use kavach_core::email::{Email, Mailer, SendFuture, Templates};
use kavach_core::store::Db;
use kavach_core::{Core, Options};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct CaptureMailer(pub Arc<Mutex<Vec<Email>>>);

impl Mailer for CaptureMailer {
    fn send(&self, email: Email) -> SendFuture<'_> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(email);
        Box::pin(async { Ok(()) })
    }
    fn describe(&self) -> String {
        "capture".into()
    }
}

impl CaptureMailer {
    /// Wait for a message to `to` whose subject contains `subject`, and return it.
    #[allow(clippy::panic, reason = "test helper: no such message within 2 s fails the test")]
    pub async fn wait_for(&self, to: &str, subject: &str) -> Email {
        for _ in 0..200 {
            if let Some(e) = self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().rev().find(|e| e.to == to && e.subject.contains(subject)).cloned() {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "no email to {to} with subject containing {subject:?}; got {:?}",
            self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|e| (&e.to, &e.subject)).collect::<Vec<_>>()
        );
    }
    pub fn count_to(&self, to: &str) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|e| e.to == to).count()
    }
}

/// An SMS sender that keeps every message, for tests.
#[derive(Clone, Default)]
pub struct CaptureSms(pub Arc<Mutex<Vec<kavach_core::sms::Sms>>>);

impl kavach_core::sms::SmsSender for CaptureSms {
    fn send(&self, sms: kavach_core::sms::Sms) -> SendFuture<'_> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(sms);
        Box::pin(async { Ok(()) })
    }
    fn describe(&self) -> String {
        "capture".into()
    }
}

impl CaptureSms {
    /// Wait for message number `n` (from 1) to `to`, and return the code in it (the
    /// first run of digits of four or more).
    #[allow(clippy::panic, reason = "test helper: no such message within 2 s fails the test")]
    pub async fn code(&self, to: &str, n: usize) -> String {
        for _ in 0..200 {
            let texts: Vec<String> = self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|m| m.to == to).map(|m| m.text.clone()).collect();
            if let Some(t) = texts.get(n - 1) {
                return t.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() >= 4).unwrap_or_default().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no message {n} to {to}");
    }
    pub fn count_to(&self, to: &str) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|m| m.to == to).count()
    }
}

/// The `token=` value of the first link in a message.
#[allow(clippy::expect_used, reason = "test helper: a message without the link fails the test")]
pub fn link_token(e: &Email) -> String {
    let (_, rest) = e.text.split_once("token=").expect("a link with a token");
    rest.split(|c: char| c == '&' || c.is_whitespace()).next().unwrap_or_default().to_owned()
}

/// The path segment after `/reset-password/` in a reset email.
#[allow(clippy::expect_used, reason = "test helper: a message without the link fails the test")]
pub fn reset_token(e: &Email) -> String {
    let (_, rest) = e.text.split_once("/reset-password/").expect("a reset link");
    rest.split(|c: char| c == '?' || c.is_whitespace()).next().unwrap_or_default().to_owned()
}

pub struct TestDb {
    pub url: String,
    pg_admin: Option<(String, String)>,
    dir: Option<std::path::PathBuf>,
}

impl TestDb {
    #[allow(clippy::unwrap_used, reason = "test helper: a temporary directory that cannot be made fails the test")]
    pub async fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("kavach-test-{}", kavach_core::crypto::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        TestDb { url: format!("sqlite://{}", dir.join("k.db").display()), pg_admin: None, dir: Some(dir) }
    }

    #[allow(
        clippy::unwrap_used,
        clippy::panic,
        reason = "test helper: an unreachable PostgreSQL fails the test (documented above), as does a database that cannot be created"
    )]
    pub async fn postgres() -> Option<TestDb> {
        if std::env::var("KAVACH_TEST_SKIP_PG").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPING PostgreSQL test: KAVACH_TEST_SKIP_PG=1");
            return None;
        }
        let admin = std::env::var("KAVACH_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("kavach_test_{}", kavach_core::crypto::new_id().to_lowercase());
        let pool = sqlx::PgPool::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for this test ({e}); run the tests with ./scripts/test.sh (it starts a throwaway one), point KAVACH_TEST_PG at a server, or set KAVACH_TEST_SKIP_PG=1"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
        pool.close().await;
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
        Some(TestDb { url: format!("{base}/{name}"), pg_admin: Some((admin, name)), dir: None })
    }

    #[allow(clippy::unwrap_used, reason = "test helper: a database that cannot be dropped fails the test")]
    pub async fn drop_db(self) {
        if let Some((admin, name)) = &self.pg_admin {
            let pool = sqlx::PgPool::connect(admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&pool).await.unwrap();
            pool.close().await;
        }
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// A core on a fresh database: its handle, the captured mail, the database and its URL.
pub struct T {
    pub core: Arc<Core>,
    pub mail: CaptureMailer,
    /// Text messages (`[phone_number]` codes).
    pub sms: CaptureSms,
    pub db: Db,
    pub url: String,
}

/// A migrated [`Core`] on the database at `url` with options `o`, mail captured.
#[allow(clippy::unwrap_used, reason = "test helper: a database or core that cannot be set up fails the test")]
pub async fn core_on(url: &str, o: Options) -> T {
    let db = Db::connect(url).await.unwrap();
    db.migrate().await.unwrap();
    let mail = CaptureMailer::default();
    let sms = CaptureSms::default();
    let core = Arc::new(Core::new(db.clone(), o, Arc::new(mail.clone()), Templates::load(None).unwrap(), None).unwrap().with_sms(Arc::new(sms.clone())));
    T { core, mail, sms, db, url: url.to_owned() }
}

/// Run one test body on SQLite and on PostgreSQL, as two tests `<name>::sqlite` and
/// `<name>::postgres` (the PostgreSQL one fails when no server is reachable, unless
/// `KAVACH_TEST_SKIP_PG=1`). Each gets a fresh database, dropped afterwards.
///
/// - `dual!(name, |url| { ... })`: `url: &str` is the database's URL (start a server on
///   it, connect a `Kavach::builder()`, ...).
/// - `dual!(name, options, |t| { ... })`: `t: kavach_testkit::T` is a migrated core on
///   the database with those `kavach_core::Options`.
#[macro_export]
macro_rules! dual {
    // The two tests of every form: `run` on a fresh SQLite file and a fresh PostgreSQL database.
    (@both) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            run($crate::TestDb::sqlite().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            if let Some(db) = $crate::TestDb::postgres().await {
                run(db).await;
            }
        }
    };
    ($name:ident, |$url:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(db: $crate::TestDb) {
                {
                    let $url: &str = &db.url;
                    $body
                }
                db.drop_db().await;
            }
            $crate::dual!(@both);
        }
    };
    ($name:ident, $opts:expr, |$t:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(db: $crate::TestDb) {
                {
                    let $t = $crate::core_on(&db.url, $opts).await;
                    $body
                    $t.db.close().await;
                }
                db.drop_db().await;
            }
            $crate::dual!(@both);
        }
    };
}

/// Ethereum test wallets (`[siwe]`): a secp256k1 key from 32 bytes, its address and its
/// EIP-191 signatures, as a wallet's `personal_sign` makes them.
pub mod wallet {
    pub use k256::ecdsa::SigningKey;
    use kavach_core::plugins::siwe::{message, signature};

    /// The key whose 32 bytes are all `n` (1 to 255).
    #[allow(clippy::expect_used, reason = "test helper: every byte 1..=255 repeated is a valid key")]
    pub fn key(n: u8) -> SigningKey {
        SigningKey::from_slice(&[n; 32]).expect("a valid secp256k1 key")
    }

    /// The key's address, EIP-55.
    pub fn address(k: &SigningKey) -> String {
        message::checksummed(&signature::address_of(k.verifying_key()))
    }

    /// `0x` and the 65-byte signature (`r ‖ s ‖ v`, v 27 or 28) of `text`.
    pub fn sign(k: &SigningKey, text: &str) -> String {
        let (sig, id) = k.sign_prehash_recoverable(&signature::personal_message_hash(text.as_bytes()));
        let mut bytes = sig.to_bytes().to_vec();
        bytes.push(27 + id.to_byte());
        format!("0x{}", kavach_core::crypto::hex(&bytes))
    }
}

/// A stand-in identity provider (Google, for One Tap): an RS256 key whose JWKS the test
/// serves, and ID tokens signed with it.
pub mod idp {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    pub struct Issuer {
        key: RsaKeyPair,
        pub kid: String,
    }

    impl Default for Issuer {
        fn default() -> Self {
            Self::new("test-key")
        }
    }

    impl Issuer {
        #[allow(clippy::expect_used, reason = "test helper: key generation does not fail")]
        pub fn new(kid: &str) -> Self {
            Issuer { key: RsaKeyPair::generate(KeySize::Rsa2048).expect("an RSA key"), kid: kid.to_owned() }
        }

        /// The JWKS document with this key (RS256, like Google's).
        pub fn jwks(&self) -> serde_json::Value {
            let public = self.key.public_key();
            let n = B64.encode(public.modulus().big_endian_without_leading_zero());
            let e = B64.encode(public.exponent().big_endian_without_leading_zero());
            serde_json::json!({ "keys": [{ "kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": n, "e": e }] })
        }

        /// A compact JWS of `claims` signed with this key.
        #[allow(clippy::expect_used, reason = "test helper")]
        pub fn sign(&self, claims: &serde_json::Value) -> String {
            let header = serde_json::json!({ "alg": "RS256", "kid": self.kid, "typ": "JWT" });
            let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
            let mut sig = vec![0u8; self.key.public_modulus_len()];
            self.key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig).expect("signed");
            format!("{input}.{}", B64.encode(sig))
        }
    }

    /// The claims of a Google ID token for `aud`, issued now, valid an hour.
    pub fn google_claims(aud: &str, sub: &str, email: &str, email_verified: bool) -> serde_json::Value {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        serde_json::json!({
            "iss": "https://accounts.google.com", "aud": aud, "azp": aud, "sub": sub, "email": email,
            "email_verified": email_verified, "name": "Google User", "picture": "https://lh3.googleusercontent.com/a/photo",
            "iat": now, "exp": now + 3600,
        })
    }
}

/// A software passkey authenticator (`[passkey]`): what a browser and a platform
/// authenticator answer to WebAuthn options, made in process. An ES256 key, `none`
/// attestation, a signature counter; its fields can be bent to make the answers a
/// ceremony must refuse (another origin, another RP id, no user verification, a counter
/// gone back).
pub mod authenticator {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use serde_json::{Value, json};

    pub struct SoftAuthenticator {
        key: EcdsaKeyPair,
        pub credential_id: Vec<u8>,
        /// The signature counter; each answer adds one first.
        pub counter: u32,
        /// The user handle registration stored (sent back at sign-in).
        pub user_handle: Option<Vec<u8>>,
        /// Sign the authenticator data for this RP id instead of the options' one.
        pub rp_id: Option<String>,
        /// Set the user-verified flag (true by default).
        pub user_verified: bool,
        /// Keep no signature counter (always 0), as synced passkeys do.
        pub counterless: bool,
        /// A synced passkey: the backup-eligible and backed-up flags set.
        pub synced: bool,
    }

    impl Default for SoftAuthenticator {
        fn default() -> Self {
            Self::new()
        }
    }

    fn cbor_head(major: u8, n: usize) -> Vec<u8> {
        let m = major << 5;
        match n {
            0..=23 => vec![m | n as u8],
            24..=255 => vec![m | 24, n as u8],
            _ => {
                let mut v = vec![m | 25];
                v.extend_from_slice(&(n as u16).to_be_bytes());
                v
            }
        }
    }

    fn cbor_bytes(b: &[u8]) -> Vec<u8> {
        let mut v = cbor_head(2, b.len());
        v.extend_from_slice(b);
        v
    }

    fn cbor_text(s: &str) -> Vec<u8> {
        let mut v = cbor_head(3, s.len());
        v.extend_from_slice(s.as_bytes());
        v
    }

    fn sha256(b: &[u8]) -> Vec<u8> {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b).as_ref().to_vec()
    }

    fn field<'a>(options: &'a Value, path: &[&str]) -> &'a str {
        let mut v = options;
        for p in path {
            v = &v[*p];
        }
        v.as_str().unwrap_or_default()
    }

    impl SoftAuthenticator {
        #[allow(clippy::expect_used, reason = "test helper: key generation does not fail")]
        pub fn new() -> Self {
            let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("a P-256 key");
            let credential_id = kavach_core::crypto::random_bytes::<32>().to_vec();
            SoftAuthenticator { key, credential_id, counter: 0, user_handle: None, rp_id: None, user_verified: true, counterless: false, synced: false }
        }

        fn auth_data(&mut self, rp_id: &str, attested: bool) -> Vec<u8> {
            if !self.counterless {
                self.counter += 1;
            }
            let mut d = sha256(self.rp_id.as_deref().unwrap_or(rp_id).as_bytes());
            d.push(0x01 | if self.user_verified { 0x04 } else { 0 } | if self.synced { 0x18 } else { 0 } | if attested { 0x40 } else { 0 });
            d.extend_from_slice(&self.counter.to_be_bytes());
            if attested {
                d.extend_from_slice(&[0u8; 16]);
                d.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
                d.extend_from_slice(&self.credential_id);
                d.extend(self.cose_key());
            }
            d
        }

        /// The public key as a COSE key (CBOR): {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256),
        /// -2: x, -3: y}, as registration carries it and better-auth stores it.
        pub fn cose_key(&self) -> Vec<u8> {
            let point = self.key.public_key().as_ref().to_vec();
            let mut k = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
            k.extend(cbor_bytes(point.get(1..33).unwrap_or_default()));
            k.push(0x22);
            k.extend(cbor_bytes(point.get(33..65).unwrap_or_default()));
            k
        }

        fn client_data(kind: &str, options: &Value, origin: &str) -> String {
            json!({ "type": kind, "challenge": field(options, &["challenge"]), "origin": origin, "crossOrigin": false }).to_string()
        }

        /// The `RegistrationResponseJSON` a browser at `origin` returns for these
        /// creation options (`PublicKeyCredentialCreationOptionsJSON`).
        pub fn register(&mut self, options: &Value, origin: &str) -> Value {
            self.user_handle = B64.decode(field(options, &["user", "id"])).ok();
            let client_data = Self::client_data("webauthn.create", options, origin);
            let auth_data = self.auth_data(field(options, &["rp", "id"]), true);
            let mut att = vec![0xa3];
            att.extend(cbor_text("fmt"));
            att.extend(cbor_text("none"));
            att.extend(cbor_text("attStmt"));
            att.push(0xa0);
            att.extend(cbor_text("authData"));
            att.extend(cbor_bytes(&auth_data));
            let id = B64.encode(&self.credential_id);
            json!({
                "id": id, "rawId": id, "type": "public-key", "authenticatorAttachment": "platform", "clientExtensionResults": {},
                "response": { "clientDataJSON": B64.encode(client_data), "attestationObject": B64.encode(att), "transports": ["internal"] },
            })
        }

        /// The `AuthenticationResponseJSON` a browser at `origin` returns for these
        /// request options, signed by this authenticator.
        #[allow(clippy::expect_used, reason = "test helper: signing does not fail")]
        pub fn authenticate(&mut self, options: &Value, origin: &str) -> Value {
            let client_data = Self::client_data("webauthn.get", options, origin);
            let rp_id = field(options, &["rpId"]).to_owned();
            let auth_data = self.auth_data(&rp_id, false);
            let mut signed = auth_data.clone();
            signed.extend(sha256(client_data.as_bytes()));
            let sig = self.key.sign(&SystemRandom::new(), &signed).expect("an ECDSA signature");
            let id = B64.encode(&self.credential_id);
            json!({
                "id": id, "rawId": id, "type": "public-key", "authenticatorAttachment": "platform", "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": B64.encode(client_data), "authenticatorData": B64.encode(&auth_data),
                    "signature": B64.encode(sig.as_ref()), "userHandle": self.user_handle.as_ref().map(|h| B64.encode(h)),
                },
            })
        }
    }
}
