//! Schemathesis (from PyPI, at the version pinned in `tests/py/schemathesis-requirements.txt`)
//! against the OpenAPI document the real binary serves, on SQLite and PostgreSQL: every
//! operation, with a signed-in bearer session, checked for server errors (5xx), undocumented
//! status codes and content types, and responses that do not match their schemas.

use super::harness::*;
use kavach_testkit::dual;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A virtualenv with schemathesis (made once per pinned version, cached).
fn schemathesis() -> PathBuf {
    let req = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/py/schemathesis-requirements.txt");
    let pinned = std::fs::read_to_string(&req).unwrap();
    let version: String = pinned.lines().find(|l| l.starts_with("schemathesis==")).unwrap().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let venv = tmp.join(format!("schemathesis-{version}"));
    let _lock = DirLock::take(tmp.join("schemathesis.lock"));
    let st = venv.join("bin/schemathesis");
    if !Command::new(&st).arg("--version").output().is_ok_and(|o| o.status.success()) {
        let _ = std::fs::remove_dir_all(&venv);
        assert!(Command::new("python3").args(["-m", "venv"]).arg(&venv).status().unwrap().success(), "python3 -m venv");
        let pip =
            Command::new(venv.join("bin/python")).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"]).arg(&req).status().unwrap();
        assert!(pip.success(), "pip install -r {} failed", req.display());
    }
    st
}

dual!(openapi_fuzz_schemathesis_finds_no_server_error_nor_undocumented_answer, |db| {
    let st = tokio::task::spawn_blocking(schemathesis).await.unwrap();
    // Every capability on, so every route is fuzzed.
    let cfg = temp_dir().join("kavach.toml");
    let (google, _) = crate::one_tap::google_keys(&kavach_testkit::idp::Issuer::default()).await;
    std::fs::write(
        &cfg,
        format!("[one_tap]\nenabled = true\nclient_ids = [\"fuzz\"]\njwks_url = \"{google}\"\n") + "[organization]\nenabled = true\ndynamic_roles = true\n[admin]\nenabled = true\n[agents]\nenabled = true\n[two_factor]\nenabled = true\n[magic_link]\nenabled = true\n[email_otp]\nenabled = true\nchange_email = true\n[anonymous]\nenabled = true\n[phone_number]\nenabled = true\n[api_key]\nenabled = true\n[username]\nenabled = true\n[siwe]\nenabled = true\n[passkey]\nenabled = true\nrp_id = \"localhost\"\norigins = [\"http://localhost:3000\"]\n",
    )
    .unwrap();
    let s = Server::start(db, &[("KAVACH_REQUIRE_EMAIL_VERIFICATION", "false"), ("KAVACH_RATE_LIMIT", "false"), ("KAVACH_CONFIG", cfg.to_str().unwrap())]);
    let r = post(&s, "/sign-up/email", None, serde_json::json!({ "email": "fuzz@example.com", "password": PW, "name": "Fuzz" })).await;
    let (status, body) = json(r).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let schema = s.url("/openapi.json");
    // In the server's temporary folder: schemathesis keeps a cache in its working directory.
    let work = s.dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .current_dir(work)
            .arg("run")
            .arg(schema)
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
            // Bounded: CI runs it on 2 cores. A fixed seed makes a failure reproducible.
            .args(["--max-examples", "20", "--seed", "1", "--workers", "2", "--no-color"])
            // These end the session the rest of the run is signed in with.
            .args(["--exclude-path", "/delete-user", "--exclude-path", "/revoke-sessions", "--exclude-path", "/sign-out"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{text}");
    assert!(out.status.success(), "schemathesis found failures:\n{text}");
    assert!(text.contains("Tested: "), "schemathesis did not test the operations:\n{text}");
});
