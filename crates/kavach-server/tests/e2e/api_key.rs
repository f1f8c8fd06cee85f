//! API keys over HTTP: better-auth's `apiKeyClient()` from npm; the key as a session only
//! on the configured routes; the CLI creates keys with what only the operator may set.

use crate::harness::*;
use kavach_testkit::dual;

fn config() -> String {
    let path = temp_dir().join("kavach.toml");
    std::fs::write(&path, "[api_key]\nenabled = true\nrate_limit_enabled = false\n[email_password]\nrequire_email_verification = false\n").unwrap();
    path.to_str().unwrap().to_owned()
}

dual!(better_auth_api_key_client_works_against_kavach, |db| {
    let cfg = config();
    let s = Server::start(db, &[("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    better_auth_client(&s, "api-key.mjs", &[]);
});

dual!(the_cli_creates_a_key_with_permissions_and_uses_the_server_checks, |db| {
    let cfg = config();
    let s = Server::start(db, &[("KAVACH_CONFIG", &cfg)]);
    sign_up(&s, "ops@example.com").await;
    let env = [("KAVACH_DATABASE_URL", db), ("KAVACH_SECRET", SECRET), ("KAVACH_CONFIG", cfg.as_str())];
    let out = command(&temp_dir(), &env)
        .args(["api-key", "create", "--user", "ops@example.com", "--name", "deploy", "--permissions", r#"{"deploy":["run"]}"#, "--remaining", "2", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = v["key"].as_str().unwrap().to_owned();
    assert_eq!((v["permissions"]["deploy"][0].as_str(), v["remaining"].as_i64()), (Some("run"), Some(2)), "{v}");
    // Two uses, then the counter is spent.
    for expected in [200, 200, 429] {
        let r = client().get(s.url("/get-session")).header("x-api-key", &key).send().await.unwrap();
        assert_eq!(r.status(), expected);
    }
    let list = command(&temp_dir(), &env).args(["api-key", "list", "--user", "ops@example.com"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("deploy") && !list.contains(&key), "{list}");
});
