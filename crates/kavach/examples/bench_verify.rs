//! In-process benchmark of the resource-server verifier: how long validating one
//! access token takes (signature, typ, iss, aud, exp, scopes), with the JWKS cached, and
//! how long one Argon2id password check takes (the bound on sign-ins per core), and the
//! pure checks of the sign-in methods without password hashing: a TOTP code, and a
//! Sign-In with Ethereum message (parse and secp256k1 signer recovery).
//! Run: `cargo run --release -p kavach --example bench_verify` (bench/run.sh does).

use kavach::resource::ResourceServer;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("kavach-bench-verify-{}", std::process::id()));
    let k = kavach::Kavach::builder()
        .database_url(format!("sqlite://{}/k.db", dir.display()))
        .secret("bench-verify-secret-0123456789abcdef")
        .background_tasks(false)
        .build()
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = k.app();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let issuer = format!("http://{addr}");
    let resource = "https://mcp.example.test/mcp";
    let rs = Arc::new(ResourceServer::new(resource, issuer.clone(), format!("{issuer}/api/kavach/jwks")));
    let mut results = Vec::new();
    // Sign with every algorithm first, so the verifier's one JWKS fetch sees every key.
    let now = kavach_core::store::Ts::now().millis() / 1000;
    let claims = serde_json::json!({ "iss": issuer, "aud": resource, "sub": "u", "scope": "mcp:tools", "iat": now, "exp": now + 3600 });
    let mut tokens = Vec::new();
    for alg in kavach_core::Alg::ALL {
        tokens.push((alg, k.keys().sign(alg, "at+jwt", &claims).await?));
    }
    for (alg, token) in tokens {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {token}").parse()?);
        let uri: axum::http::Uri = "/mcp".parse()?;
        rs.verify(&axum::http::Method::POST, &headers, &uri, &["mcp:tools"]).await.map_err(|e| format!("{e:?}"))?; // warm the JWKS cache
        let n = 20_000;
        let mut samples = Vec::with_capacity(n);
        let start = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            rs.verify(&axum::http::Method::POST, &headers, &uri, &["mcp:tools"]).await.map_err(|e| format!("{e:?}"))?;
            samples.push(t.elapsed().as_nanos() as u64);
        }
        let total = start.elapsed();
        samples.sort_unstable();
        let us = |q: usize| samples.get(q).copied().unwrap_or_default() as f64 / 1000.0;
        results.push(format!(
            "resource-server verify {:<5}: mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs, {:.0} verifications/s on one core (target < 50 µs)",
            alg.as_str(),
            total.as_secs_f64() * 1e6 / n as f64,
            us(n / 2),
            us(n * 99 / 100),
            n as f64 / total.as_secs_f64()
        ));
    }
    // The second factor and the wallet sign-in, in process (no I/O).
    let totp = kavach_core::plugins::two_factor::Totp { digits: 6, period: 30, skew: 1 };
    let secret = [7u8; 20];
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let code = totp.code_at(&secret, now);
    results.push(timed("TOTP verification (a code of the current step, ±1 step)", "target < 50 µs", 200_000, || {
        assert!(totp.matching_step(&secret, &code, now).is_some());
    }));
    let key = kavach_testkit::wallet::key(9);
    let address = kavach_core::plugins::siwe::message::checksummed(&kavach_core::plugins::siwe::signature::address_of(key.verifying_key()));
    let message = format!(
        "example.com wants you to sign in with your Ethereum account:\n{address}\n\nSign in\n\nURI: https://example.com\nVersion: 1\nChain ID: 1\nNonce: 0123456789abcdef\nIssued At: 2026-12-04T10:00:00Z"
    );
    let hash = kavach_core::plugins::siwe::signature::personal_message_hash(message.as_bytes());
    let (sig, id) = key.sign_prehash_recoverable(&hash);
    let mut signature = sig.to_bytes().to_vec();
    signature.push(27 + id.to_byte());
    results.push(timed("SIWE message parse + EIP-191 signer recovery", "no password hashing on this path", 5_000, || {
        let parsed = kavach_core::plugins::siwe::message::parse(&message).ok();
        let h = kavach_core::plugins::siwe::signature::personal_message_hash(message.as_bytes());
        assert!(parsed.is_some_and(|m| kavach_core::plugins::siwe::signature::recover_address(&h, &signature) == Some(m.address)));
    }));
    // The cost of one password check, which bounds sign-ins: cores / this time.
    // Through the server's own hashing workers (memory reused), one at a time.
    let hasher = kavach_core::password::Hasher::default();
    let stored = hasher.hash("benchmark passphrase").await?;
    let mut hashes = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let ok = hasher.verify("benchmark passphrase", &stored).await?;
        assert!(ok == kavach_core::password::Verified::Yes);
        hashes.push(t.elapsed().as_secs_f64() * 1e3);
    }
    hashes.sort_by(f64::total_cmp);
    results.push(format!(
        "password hash Argon2id (m=19456 KiB, t=2, p=1): {:.1} ms per hash on one core (median of {})",
        hashes.get(hashes.len() / 2).copied().unwrap_or_default(),
        hashes.len()
    ));
    for r in results {
        println!("{r}");
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// `n` runs of `f`: mean, p50 and p99, as one report line.
fn timed(what: &str, target: &str, n: usize, mut f: impl FnMut()) -> String {
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_nanos() as u64);
    }
    let total = start.elapsed();
    samples.sort_unstable();
    let us = |q: usize| samples.get(q).copied().unwrap_or_default() as f64 / 1000.0;
    format!(
        "{what}: mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs, {:.0}/s on one core ({target})",
        total.as_secs_f64() * 1e6 / n as f64,
        us(n / 2),
        us(n * 99 / 100),
        n as f64 / total.as_secs_f64()
    )
}
