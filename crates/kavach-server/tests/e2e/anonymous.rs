//! Anonymous users over HTTP: better-auth's `anonymousClient()` from npm; the anonymous
//! user is gone once its visitor signed up; routes that need a real identity refuse it,
//! and the hosted OAuth pages treat it as a visitor (no consent for an anonymous user).

use crate::harness::*;
use kavach_testkit::dual;
use serde_json::json;

fn config() -> String {
    let path = temp_dir().join("kavach.toml");
    std::fs::write(&path, "[anonymous]\nenabled = true\n[organization]\nenabled = true\n[email_password]\nrequire_email_verification = false\n").unwrap();
    path.to_str().unwrap().to_owned()
}

dual!(better_auth_anonymous_client_works_against_kavach, |db| {
    let cfg = config();
    let s = Server::start(db, &[("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    let out = better_auth_client(&s, "anonymous.mjs", &[("EMAIL", "client@example.com")]);
    let id = out.lines().find_map(|l| l.strip_prefix("ANONYMOUS_ID ")).unwrap();
    // The anonymous user is gone, and so are both anonymous users of the script.
    let list = command(&temp_dir(), &[("KAVACH_DATABASE_URL", db), ("KAVACH_SECRET", SECRET)]).args(["user", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(!list.contains(id) && !list.contains("placeholder.invalid"), "{list}");
    assert!(list.contains("client@example.com"), "{list}");
});

dual!(an_anonymous_session_cannot_reach_routes_that_need_a_real_identity, |db| {
    let cfg = config();
    let s = Server::start(db, &[("KAVACH_CONFIG", &cfg)]);
    let r = post(&s, "/sign-in/anonymous", None, json!({})).await;
    let cookie = session_cookie(&r).expect("an anonymous session");
    let (status, v) = json(r).await;
    assert_eq!((status, &v["user"]["isAnonymous"]), (200, &json!(true)), "{v}");
    let (status, v) = json(get(&s, "/get-session", Some(&cookie)).await).await;
    assert_eq!((status, &v["user"]["isAnonymous"]), (200, &json!(true)), "{v}");
    for (path, body) in [
        ("/organization/create", json!({ "name": "Acme", "slug": "acme" })),
        ("/change-email", json!({ "newEmail": "mine@example.com" })),
        ("/delete-user", json!({})),
    ] {
        let (status, v) = json(post(&s, path, Some(&cookie), body).await).await;
        assert_eq!((status, v["code"].as_str()), (403, Some("ANONYMOUS_USER_NOT_ALLOWED")), "{path}: {v}");
    }
    // Routes that allow it.
    assert_eq!(post(&s, "/update-user", Some(&cookie), json!({ "name": "Guest" })).await.status(), 200);
    assert_eq!(get(&s, "/list-sessions", Some(&cookie)).await.status(), 200);
    // The hosted grants page sees a visitor, not a signed-in user.
    let r = client().get(s.url("/oauth2/grants")).header("cookie", &cookie).send().await.unwrap();
    assert_ne!(r.status(), 200, "no grants page for an anonymous user");
});
