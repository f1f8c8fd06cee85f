//! Passkeys over HTTP, in real Chromium: better-auth's `passkeyClient()` from npm, bundled
//! into a page and driven by playwright-core, with a CDP virtual authenticator; the
//! refusals of an unlisted origin and of another RP id seen from the browser.

use crate::harness::*;
use kavach_testkit::dual;

fn config(port: u16) -> String {
    let path = temp_dir().join("kavach.toml");
    let cfg = format!(
        "trusted_origins = [\"http://app.localhost:{port}\"]\n\n[passkey]\nenabled = true\nrp_name = \"Kavach test\"\n\
         origins = [\"http://localhost:{port}\", \"http://app.localhost:{port}\"]\n\n[two_factor]\nenabled = true\n"
    );
    std::fs::write(&path, cfg).unwrap();
    path.to_str().unwrap().to_owned()
}

dual!(better_auth_passkey_client_in_chromium_with_a_virtual_authenticator, |db| {
    let (port, other) = (free_port(), free_port().to_string());
    let (cfg, listen, base) = (config(port), format!("127.0.0.1:{port}"), format!("http://localhost:{port}"));
    let s =
        Server::start(db, &[("KAVACH_CONFIG", &cfg), ("KAVACH_LISTEN", &listen), ("KAVACH_BASE_URL", &base), ("KAVACH_RATE_LIMIT", "off"), crate::NO_VERIFY]);
    let api = s.url("").replace(&format!("127.0.0.1:{port}"), &format!("localhost:{port}"));
    browser_script("passkey.mjs", &[("KAVACH_API", &api), ("OTHER_PORT", &other)], "passkey: 11 checks passed");
});

dual!(passkey_over_http_then_the_operator_lists_and_deletes_it, |db| {
    use kavach_testkit::authenticator::SoftAuthenticator;
    use serde_json::json;
    let port = free_port();
    let (cfg, listen, base) = (config(port), format!("127.0.0.1:{port}"), format!("http://localhost:{port}"));
    let env = [("KAVACH_CONFIG", cfg.as_str()), ("KAVACH_LISTEN", &listen), ("KAVACH_BASE_URL", &base), crate::NO_VERIFY];
    let s = Server::start(db, &env);
    let cookie = sign_up(&s, "pat@example.com").await;
    let r = get(&s, "/passkey/generate-register-options?name=laptop", Some(&cookie)).await;
    assert_eq!(r.status(), 200);
    let challenge = cookie_named(&r, "kavach.passkey").expect("the ceremony's cookie");
    let (_, options) = json(r).await;
    let mut a = SoftAuthenticator::new();
    let answer = a.register(&options, &base);
    // The answer without the ceremony's cookie names no challenge.
    let (status, v) = json(post(&s, "/passkey/verify-registration", Some(&cookie), json!({ "response": answer })).await).await;
    assert_eq!((status, v["code"].as_str()), (400, Some("CHALLENGE_NOT_FOUND")), "{v}");
    let both = format!("{cookie}; {challenge}");
    let (status, p) = json(post(&s, "/passkey/verify-registration", Some(&both), json!({ "response": answer })).await).await;
    assert_eq!((status, p["name"].as_str(), p["deviceType"].as_str()), (200, Some("laptop"), Some("singleDevice")), "{p}");
    let (status, v) = json(post(&s, "/passkey/verify-registration", Some(&both), json!({ "response": answer })).await).await;
    assert_eq!((status, v["code"].as_str()), (400, Some("CHALLENGE_NOT_FOUND")), "a challenge works once: {v}");

    // Usernameless sign-in, no session cookie sent.
    let r = get(&s, "/passkey/generate-authenticate-options", None).await;
    let challenge = cookie_named(&r, "kavach.passkey").unwrap();
    let (_, options) = json(r).await;
    let r = post(&s, "/passkey/verify-authentication", Some(&challenge), json!({ "response": a.authenticate(&options, &base) })).await;
    let session = session_cookie(&r).expect("a session");
    let (status, v) = json(r).await;
    assert_eq!((status, v["user"]["email"].as_str()), (200, Some("pat@example.com")), "{v}");
    let (_, me) = json(get(&s, "/get-session", Some(&session)).await).await;
    assert_eq!(me["user"]["email"], "pat@example.com");

    // The operator lists and deletes it.
    let cli = |args: &[&str]| {
        let out = command(&temp_dir(), &[("KAVACH_CONFIG", cfg.as_str()), ("KAVACH_DATABASE_URL", db), ("KAVACH_SECRET", SECRET), ("KAVACH_BASE_URL", &base)])
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        text
    };
    let listed = cli(&["passkey", "list", "--user", "pat@example.com", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!((list[0]["name"].as_str(), list[0]["counter"].as_u64()), (Some("laptop"), Some(2)), "{list}");
    let id = list[0]["id"].as_str().unwrap();
    assert!(cli(&["passkey", "delete", id, "--user", "pat@example.com"]).contains("deleted"));
    assert!(cli(&["passkey", "list", "--user", "pat@example.com"]).contains("0 passkey(s) of pat@example.com"));
    let r = get(&s, "/passkey/generate-authenticate-options", None).await;
    let challenge = cookie_named(&r, "kavach.passkey").unwrap();
    let (_, options) = json(r).await;
    let (status, v) = json(post(&s, "/passkey/verify-authentication", Some(&challenge), json!({ "response": a.authenticate(&options, &base) })).await).await;
    assert_eq!((status, v["code"].as_str()), (401, Some("PASSKEY_NOT_FOUND")), "{v}");
});
