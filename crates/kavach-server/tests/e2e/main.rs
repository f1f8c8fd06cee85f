//! End-to-end tests: the real `kavach` binary on a free port, over HTTP, on SQLite
//! and PostgreSQL. One integration-test binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, clippy::string_slice, reason = "tests")]

mod crash_safety;
mod harness;
mod mcp;
mod migration;
mod oauth;
mod openapi_fuzz;
mod smtp;

use harness::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const NO_VERIFY: (&str, &str) = ("KAVACH_REQUIRE_EMAIL_VERIFICATION", "false");

#[tokio::test]
async fn starts_with_no_setup_on_an_embedded_sqlite_file() {
    let dir = temp_dir();
    let s = Server::start_in(dir.clone(), "", &[("KAVACH_SECRET", "")]);
    assert!(dir.join("kavach-data/kavach.db").exists(), "SQLite file created on first run");
    assert!(dir.join("kavach-data/secret").exists(), "development secret generated and kept");
    let r = client().get(s.root("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client().get(s.root("/readyz")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, "ready".to_owned()));
    let r = get(&s, "/get-session", None).await;
    assert_eq!(json(r).await, (200, Value::Null));
    // WAL mode on the file.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("kavach-data/kavach.db").display())).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&pool).await.unwrap();
    assert_eq!(mode, "wal");
}

dual!(session_lifecycle_over_http, |db| {
    let s = Server::start(db, &[NO_VERIFY]);
    let c1 = sign_up(&s, "life@example.com").await;
    let r = sign_in(&s, "life@example.com", PW).await;
    assert_eq!(r.status(), 200);
    let bearer = r.headers().get("set-auth-token").unwrap().to_str().unwrap().to_owned();
    let c2 = session_cookie(&r).unwrap();
    let (st, body) = json(r).await;
    assert_eq!(st, 200);
    assert_eq!(body["redirect"], false);
    assert_eq!(body["user"]["email"], "life@example.com");
    // Cookie, signed bearer and bare bearer all work.
    let (_, me) = json(get(&s, "/get-session", Some(&c2)).await).await;
    assert_eq!(me["user"]["email"], "life@example.com");
    let (_, me2) = json(client().get(s.url("/get-session")).bearer_auth(&bearer).send().await.unwrap()).await;
    assert_eq!(me2["session"]["id"], me["session"]["id"]);
    let (_, me3) = json(client().get(s.url("/get-session")).bearer_auth(body["token"].as_str().unwrap()).send().await.unwrap()).await;
    assert_eq!(me3["session"]["id"], me["session"]["id"]);
    // A forged signature is refused.
    let forged = format!("{}.AAAA", body["token"].as_str().unwrap());
    assert_eq!(json(client().get(s.url("/get-session")).bearer_auth(forged).send().await.unwrap()).await.1, Value::Null);
    let (_, list) = json(get(&s, "/list-sessions", Some(&c2)).await).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    // Revoke the sign-up session by its handle.
    let (_, me1) = json(get(&s, "/get-session", Some(&c1)).await).await;
    let r = post(&s, "/revoke-session", Some(&c2), json!({ "token": me1["session"]["token"] })).await;
    assert_eq!(json(r).await, (200, json!({ "status": true })));
    assert_eq!(json(get(&s, "/get-session", Some(&c1)).await).await.1, Value::Null);
    // Revoking an unknown session is a 404, not a silent success.
    assert_eq!(post(&s, "/revoke-session", Some(&c2), json!({ "token": "nope" })).await.status(), 404);
    // Sign out clears the cookie and deletes the session.
    let r = post(&s, "/sign-out", Some(&c2), json!({})).await;
    assert!(set_cookie_header(&r).unwrap().contains("Max-Age=0"));
    assert_eq!(json(r).await, (200, json!({ "success": true })));
    assert_eq!(json(get(&s, "/get-session", Some(&c2)).await).await.1, Value::Null);
    assert_eq!(get(&s, "/list-sessions", Some(&c2)).await.status(), 401);
});

/// Several instances are a PostgreSQL deployment, so this test has no SQLite twin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behave_as_one_postgres() {
    let Some(pg) = Db::new("postgres").await else { return };
    let db = pg.url();
    let a = Server::start(db, &[NO_VERIFY]);
    let b = Server::start(db, &[NO_VERIFY]);
    let cookie = sign_up(&a, "two@example.com").await;
    let (_, me) = json(get(&b, "/get-session", Some(&cookie)).await).await;
    assert_eq!(me["user"]["email"], "two@example.com", "a session made on A is valid on B");
    // Warm A's cache, revoke on B: A must stop accepting it at once (NOTIFY), well within the cache TTL.
    assert_ne!(json(get(&a, "/get-session", Some(&cookie)).await).await.1, Value::Null);
    let r = client().post(b.url("/revoke-sessions")).header("cookie", &cookie).header("origin", b.origin()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let start = Instant::now();
    loop {
        if json(get(&a, "/get-session", Some(&cookie)).await).await.1 == Value::Null {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(2), "revocation on B not seen by A");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop((a, b));
    pg.drop().await;
}

#[tokio::test]
async fn cookie_attributes_follow_the_base_url_scheme() {
    let db = Db::new("sqlite").await.unwrap();
    let s = Server::start(db.url(), &[NO_VERIFY]);
    let r = post(&s, "/sign-up/email", None, json!({ "email": "http@example.com", "password": PW, "name": "H" })).await;
    let c = set_cookie_header(&r).unwrap();
    assert!(c.starts_with("kavach.session_token="), "{c}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(c.contains(attr), "{attr} in {c}");
    }
    assert!(!c.contains("Secure"), "{c}");
    drop(s);
    let s = Server::start(db.url(), &[NO_VERIFY, ("KAVACH_BASE_URL", "https://auth.example.test")]);
    let r = client()
        .post(s.url("/sign-in/email"))
        .header("origin", "https://auth.example.test")
        .json(&json!({ "email": "http@example.com", "password": PW }))
        .send()
        .await
        .unwrap();
    let c = set_cookie_header(&r).unwrap();
    assert!(c.starts_with("__Secure-kavach.session_token=") && c.contains("; Secure"), "{c}");
    let pair = session_cookie(&r).unwrap();
    // The unprefixed name is ignored on https.
    let plain = pair.replacen("__Secure-", "", 1);
    assert_eq!(json(get(&s, "/get-session", Some(&plain)).await).await.1, Value::Null);
    assert_ne!(json(get(&s, "/get-session", Some(&pair)).await).await.1, Value::Null);
    // rememberMe: false gives a browser-session cookie.
    let r = client()
        .post(s.url("/sign-in/email"))
        .header("origin", "https://auth.example.test")
        .json(&json!({ "email": "http@example.com", "password": PW, "rememberMe": false }))
        .send()
        .await
        .unwrap();
    assert!(!set_cookie_header(&r).unwrap().contains("Max-Age"));
    drop(s);
    db.drop().await;
}

#[tokio::test]
async fn session_fixation_is_impossible() {
    let db = Db::new("sqlite").await.unwrap();
    let s = Server::start(db.url(), &[NO_VERIFY]);
    sign_up(&s, "fix@example.com").await;
    // An attacker plants a cookie of their choosing before the victim signs in.
    let planted = "kavach.session_token=attacker-chosen-token.c2lnbmF0dXJl";
    let r = client()
        .post(s.url("/sign-in/email"))
        .header("cookie", planted)
        .header("origin", s.origin())
        .json(&json!({ "email": "fix@example.com", "password": PW }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let issued = session_cookie(&r).unwrap();
    assert_ne!(issued, planted, "the server issues its own new token");
    assert!(!issued.contains("attacker-chosen-token"), "the planted token is not adopted (even re-signed)");
    assert_eq!(json(get(&s, "/get-session", Some(planted)).await).await.1, Value::Null, "the planted cookie stays anonymous");
    let again = session_cookie(&sign_in(&s, "fix@example.com", PW).await).unwrap();
    assert_ne!(again, issued, "every sign-in gets a new token");
    drop(s);
    db.drop().await;
}

#[tokio::test]
async fn csrf_writes_from_foreign_origins_are_refused() {
    let db = Db::new("sqlite").await.unwrap();
    let s = Server::start(db.url(), &[NO_VERIFY, ("KAVACH_TRUSTED_ORIGINS", "https://app.example.test")]);
    let cookie = sign_up(&s, "csrf@example.com").await;
    let send = |origin: Option<&'static str>, cookie: Option<String>| {
        let mut rq = client().post(s.url("/update-user")).json(&json!({ "name": "X" }));
        if let Some(o) = origin {
            rq = rq.header("origin", o);
        }
        if let Some(c) = cookie {
            rq = rq.header("cookie", c);
        }
        rq.send()
    };
    let (st, b) = json(send(Some("https://evil.example"), Some(cookie.clone())).await.unwrap()).await;
    assert_eq!((st, b["code"].as_str().unwrap()), (403, "INVALID_ORIGIN"));
    let (st, b) = json(send(None, Some(cookie.clone())).await.unwrap()).await;
    assert_eq!((st, b["code"].as_str().unwrap()), (403, "MISSING_OR_NULL_ORIGIN"));
    let (st, b) = json(send(Some("null"), Some(cookie.clone())).await.unwrap()).await;
    assert_eq!((st, b["code"].as_str().unwrap()), (403, "MISSING_OR_NULL_ORIGIN"));
    assert_eq!(send(Some("https://app.example.test"), Some(cookie.clone())).await.unwrap().status(), 200);
    // Referer is the fallback when there is no Origin.
    let r = client()
        .post(s.url("/update-user"))
        .header("cookie", &cookie)
        .header("referer", format!("{}/settings", s.origin()))
        .json(&json!({ "name": "Y" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Login CSRF: a foreign page posting credentials is refused even without cookies.
    let r = client()
        .post(s.url("/sign-in/email"))
        .header("origin", "https://evil.example")
        .json(&json!({ "email": "csrf@example.com", "password": PW }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A bearer-token client (no cookies, no Origin) is not exposed to CSRF and passes.
    let token = json(sign_in(&s, "csrf@example.com", PW).await).await.1["token"].as_str().unwrap().to_owned();
    let r = client().post(s.url("/update-user")).bearer_auth(token).json(&json!({ "name": "Z" })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    drop(s);
    db.drop().await;
}

fn normalise(mut v: Value) -> Value {
    if let Some(u) = v.get_mut("user") {
        for k in ["id", "createdAt", "updatedAt"] {
            u[k] = json!("*");
        }
    }
    v
}

#[tokio::test]
async fn no_account_enumeration_on_sign_in_sign_up_and_reset() {
    let db = Db::new("sqlite").await.unwrap();
    // The default configuration (email verification required); limits off to measure timing.
    let s = Server::start(db.url(), &[("KAVACH_RATE_LIMIT", "false")]);
    let up = |email: &str, pw: &str| post(&s, "/sign-up/email", None, json!({ "email": email, "password": pw, "name": "Same" }));
    let first = json(up("known@example.com", PW).await).await;
    let new = json(up("fresh@example.com", PW).await).await;
    let dup = json(up("known@example.com", "some other passphrase").await).await;
    assert_eq!(new.0, dup.0);
    assert_eq!(normalise(new.1.clone()).to_string().replace("fresh", "X"), normalise(dup.1).to_string().replace("known", "X"));
    assert_eq!(first.1["token"], Value::Null);
    // Sign-in: same status and body, similar time.
    let mut t_known = vec![];
    let mut t_unknown = vec![];
    let mut bodies = std::collections::HashSet::new();
    for i in 0..7 {
        let t0 = Instant::now();
        let a = json(sign_in(&s, "known@example.com", "wrong passphrase here").await).await;
        t_known.push(t0.elapsed());
        let t0 = Instant::now();
        let b = json(sign_in(&s, &format!("ghost{i}@example.com"), "wrong passphrase here").await).await;
        t_unknown.push(t0.elapsed());
        assert_eq!(a.0, 401);
        bodies.insert(a.1.to_string());
        bodies.insert(b.1.to_string());
        assert_eq!(a.0, b.0);
    }
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    t_known.sort();
    t_unknown.sort();
    let (mk, mu) = (t_known[3].as_secs_f64(), t_unknown[3].as_secs_f64());
    assert!(mk / mu < 2.0 && mu / mk < 2.0, "median sign-in time known {mk:.4}s vs unknown {mu:.4}s");
    // Reset request.
    let a = json(post(&s, "/request-password-reset", None, json!({ "email": "known@example.com" })).await).await;
    let b = json(post(&s, "/request-password-reset", None, json!({ "email": "ghost@example.com" })).await).await;
    assert_eq!(a, b);
    assert_eq!(a.0, 200);
    drop(s);
    db.drop().await;
}

dual!(rate_limits_per_ip_and_per_account_hold_across_two_instances, |db| {
    let dir = temp_dir();
    std::fs::write(
        dir.join("kavach.toml"),
        "[rate_limit]\naccount_failures = \"4/15m\"\n[rate_limit.routes]\n\"/sign-in/email\" = \"100/1m\"\n\"/request-password-reset\" = \"6/1m\"\n",
    )
    .unwrap();
    let cfg = dir.join("kavach.toml");
    let cfg = cfg.to_str().unwrap();
    let a = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", cfg)]);
    let b = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", cfg)]);
    sign_up(&a, "rl@example.com").await;
    // Per account: 4 failures spread over both instances, then even the right password gets 429.
    for (i, s) in [&a, &b, &a, &b].iter().enumerate() {
        assert_eq!(sign_in(s, "rl@example.com", &format!("wrong password {i}")).await.status(), 401);
    }
    let r = sign_in(&b, "rl@example.com", PW).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(json(r).await.1["code"], "TOO_MANY_REQUESTS");
    assert_eq!(sign_in(&a, "rl@example.com", PW).await.status(), 429);
    // Per IP and route: 6 resets per minute in total across the two instances.
    for i in 0..6 {
        let s = if i % 2 == 0 { &a } else { &b };
        assert_eq!(post(s, "/request-password-reset", None, json!({ "email": format!("x{i}@example.com") })).await.status(), 200, "request {i}");
    }
    assert_eq!(post(&a, "/request-password-reset", None, json!({ "email": "y@example.com" })).await.status(), 429);
    assert_eq!(post(&b, "/request-password-reset", None, json!({ "email": "y@example.com" })).await.status(), 429);
    let _ = std::fs::remove_dir_all(dir);
});

#[tokio::test]
async fn default_per_ip_limit_on_sign_in() {
    let db = Db::new("sqlite").await.unwrap();
    let s = Server::start(db.url(), &[]);
    let mut statuses = vec![];
    for i in 0..11 {
        statuses.push(sign_in(&s, &format!("u{i}@example.com"), "whatever password").await.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429, "{statuses:?}");
    drop(s);
    db.drop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_never_a_500() {
    let db = Db::new("sqlite").await.unwrap();
    let s = Server::start(db.url(), &[NO_VERIFY, ("KAVACH_RATE_LIMIT", "false")]);
    let cookie = sign_up(&s, "bad@example.com").await;
    let raw = |path: &str, ct: &str, body: Vec<u8>| {
        client().post(s.url(path)).header("content-type", ct.to_owned()).header("origin", s.origin()).header("cookie", cookie.clone()).body(body).send()
    };
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("/sign-in/email", "application/json", b"{not json".to_vec(), 400, "INVALID_JSON"),
        ("/sign-in/email", "application/json", br#"{"email": 5, "password": "x"}"#.to_vec(), 400, "VALIDATION_ERROR"),
        ("/sign-in/email", "application/json", br#"{"email": "a@b.c"}"#.to_vec(), 400, "VALIDATION_ERROR"),
        ("/sign-in/email", "application/json", br#"{"email":"a@b.c","password":"x","admin":true}"#.to_vec(), 400, "VALIDATION_ERROR"),
        ("/sign-in/email", "text/plain", b"hello".to_vec(), 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("/sign-in/email", "application/json", vec![b' '; 70_000], 413, "BODY_TOO_LARGE"),
        ("/sign-up/email", "application/json", br#"{"email":"not-an-email","password":"a long enough passphrase","name":"n"}"#.to_vec(), 400, "INVALID_EMAIL"),
        ("/sign-up/email", "application/json", br#"{"email":"a@b.co","password":"short","name":"n"}"#.to_vec(), 400, "PASSWORD_TOO_SHORT"),
        ("/sign-up/email", "application/json", br#"{"email":"a@b.co","password":"1qaz2wsx3edc4rfv","name":"n"}"#.to_vec(), 400, "PASSWORD_TOO_COMMON"),
        (
            "/sign-up/email",
            "application/json",
            br#"{"email":"kavach@b.co","password":"kavach123kavach123","name":"n"}"#.to_vec(),
            400,
            "PASSWORD_TOO_PREDICTABLE",
        ),
        ("/update-user", "application/json", br#"{"email":"x@y.z"}"#.to_vec(), 400, "VALIDATION_ERROR"),
        ("/update-user", "application/json", br#"{}"#.to_vec(), 400, "NO_FIELDS_TO_UPDATE"),
        ("/update-user", "application/json", br#"{"image": 7}"#.to_vec(), 400, "VALIDATION_ERROR"),
        ("/reset-password", "application/json", br#"{"newPassword":"a long new passphrase","token":"bogus"}"#.to_vec(), 400, "INVALID_TOKEN"),
        ("/verify-email", "application/json", b"{}".to_vec(), 405, "METHOD_NOT_ALLOWED"),
        ("/change-email", "application/json", br#"{"newEmail":"bad@example.com"}"#.to_vec(), 400, "EMAIL_IS_THE_SAME"),
        (
            "/sign-in/email",
            "application/json",
            br#"{"email":"a@b.c","password":"x","callbackURL":"https://evil.example/"}"#.to_vec(),
            403,
            "INVALID_CALLBACK_URL",
        ),
    ];
    for (path, ct, body, status, code) in cases {
        let (st, b) = json(raw(path, ct, body).await.unwrap()).await;
        assert_eq!((st, b["code"].as_str().unwrap_or("")), (status, code), "{path} {ct}: {b}");
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (st, b) = json(get(&s, "/no-such-thing", None).await).await;
    assert_eq!((st, b["code"].as_str().unwrap()), (404, "NOT_FOUND"));
    // Open redirects: control characters and backslashes that browsers turn into "//evil".
    for cb in ["%2F%09%2Fevil.example", "%2F%0A%2Fevil.example", "%2F%5Cevil.example", "%2F%2Fevil.example", "https%3A%2F%2Fevil.example%2F"] {
        for path in [format!("/verify-email?token=x&callbackURL={cb}"), format!("/reset-password/x?callbackURL={cb}")] {
            let r = get(&s, &path, None).await;
            assert!(r.headers().get("location").is_none(), "{path}");
            let (st, b) = json(r).await;
            assert_eq!((st, b["code"].as_str().unwrap()), (403, "INVALID_CALLBACK_URL"), "{path}");
        }
    }
    // A NUL byte in a session handle is refused before it reaches SQL, on both databases.
    let r = client()
        .post(s.url("/revoke-session"))
        .header("origin", s.origin())
        .header("cookie", cookie.clone())
        .json(&json!({ "token": "a\u{0}b" }))
        .send()
        .await
        .unwrap();
    assert_eq!(json(r).await, (400, json!({ "code": "INVALID_TEXT", "message": "Text must not contain NUL characters" })));
    // Form fields are strings: a name "true" is a name.
    let r = client()
        .post(s.url("/sign-up/email"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=form%40example.com&password=a+form+passphrase&name=true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Unknown methods are counted as OTHER, not as new metric series.
    let r = client().request(reqwest::Method::from_bytes(b"BREW").unwrap(), s.url("/get-session")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let m = client().get(s.root("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("method=\"OTHER\"") && !m.contains("BREW"), "{m}");
    let (st, _) = json(get(&s, "/verify-email?token=nope", None).await).await;
    assert_eq!(st, 400);
    drop(s);
    db.drop().await;
}

dual!(email_verification_and_password_reset_over_real_smtp, |db| {
    let mail = smtp::Smtp::start();
    let url = mail.url();
    let s = Server::start(db, &[("KAVACH_SMTP_URL", &url), ("KAVACH_EMAIL_FROM", "Kavach Test <auth@example.test>")]);
    let r = post(&s, "/sign-up/email", None, json!({ "email": "mail@example.com", "password": PW, "name": "Mail" })).await;
    assert_eq!(json(r).await.1["token"], Value::Null, "no session before verification");
    assert_eq!(json(sign_in(&s, "mail@example.com", PW).await).await.1["code"], "EMAIL_NOT_VERIFIED");
    let msg = mail.wait_for("mail@example.com", "Verify your email").await;
    assert!(msg.lines().any(|l| l.starts_with("From:") && l.contains("Kavach Test") && l.contains("<auth@example.test>")), "{msg}");
    let link = smtp::first_link(&msg);
    assert!(link.starts_with(&s.api), "link points at the configured base URL: {link}");
    // Follow the link (on 127.0.0.1: same server).
    let local = link.replacen(&s.api, &s.url(""), 1);
    let r = client().get(&local).header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(r.text().await.unwrap().contains("is verified"));
    let r = client().get(&local).send().await.unwrap();
    assert_eq!(r.status(), 400, "verification links work once");
    let r = sign_in(&s, "mail@example.com", PW).await;
    assert_eq!(r.status(), 200);
    let cookie = session_cookie(&r).unwrap();
    // Password reset from the email link, through Kavach's own form (no JavaScript).
    assert_eq!(post(&s, "/request-password-reset", None, json!({ "email": "mail@example.com" })).await.status(), 200);
    let msg = mail.wait_for("mail@example.com", "Reset your").await;
    let link = smtp::first_link(&msg).replacen(&s.api, &s.url(""), 1);
    let page = client().get(&link).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"newPassword\""), "{html}");
    let token = link.rsplit('/').next().unwrap().to_owned();
    let form = format!("token={token}&newPassword=a+brand+new+passphrase");
    let r = client()
        .post(s.url("/reset-password"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/html")
        .header("origin", s.origin())
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Password changed"));
    assert_eq!(json(get(&s, "/get-session", Some(&cookie)).await).await.1, Value::Null, "reset revokes every session");
    let r = client().post(s.url("/reset-password")).header("content-type", "application/x-www-form-urlencoded").body(form).send().await.unwrap();
    assert_eq!(r.status(), 400, "reset tokens work once");
    assert_eq!(sign_in(&s, "mail@example.com", PW).await.status(), 401);
    assert_eq!(sign_in(&s, "mail@example.com", "a brand new passphrase").await.status(), 200);
    // The better-auth style redirect: /reset-password/{token}?callbackURL=... -> callback?token=...
    post(&s, "/request-password-reset", None, json!({ "email": "mail@example.com", "redirectTo": "/reset" })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let msg = mail.wait_for("mail@example.com", "Reset your").await;
    let link = smtp::first_link(&msg).replacen(&s.api, &s.url(""), 1);
    assert!(link.contains("callbackURL=%2Freset"), "{link}");
    let r = client().get(&link).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/reset?token="));
});

dual!(change_email_over_real_smtp, |db| {
    let mail = smtp::Smtp::start();
    let url = mail.url();
    let s = Server::start(db, &[NO_VERIFY, ("KAVACH_SMTP_URL", &url)]);
    let cookie = sign_up(&s, "before@example.com").await;
    assert_eq!(post(&s, "/change-email", Some(&cookie), json!({ "newEmail": "after@example.com" })).await.status(), 200);
    mail.wait_for("before@example.com", "being changed").await;
    let link = smtp::first_link(&mail.wait_for("after@example.com", "Confirm your new email").await).replacen(&s.api, &s.url(""), 1);
    assert_eq!(client().get(&link).send().await.unwrap().status(), 200);
    let (_, me) = json(get(&s, "/get-session", Some(&cookie)).await).await;
    assert_eq!((me["user"]["email"].as_str(), me["user"]["emailVerified"].as_bool()), (Some("after@example.com"), Some(true)));
});

dual!(change_password_and_delete_user_over_http, |db| {
    let s = Server::start(db, &[NO_VERIFY]);
    let c1 = sign_up(&s, "cpd@example.com").await;
    let c2 = session_cookie(&sign_in(&s, "cpd@example.com", PW).await).unwrap();
    let r = post(&s, "/change-password", Some(&c1), json!({ "currentPassword": PW, "newPassword": "the next passphrase", "revokeOtherSessions": true })).await;
    let c3 = session_cookie(&r).expect("a new session cookie");
    assert_eq!(r.status(), 200);
    for old in [&c1, &c2] {
        assert_eq!(json(get(&s, "/get-session", Some(old)).await).await.1, Value::Null);
    }
    let (_, me) = json(get(&s, "/get-session", Some(&c3)).await).await;
    assert_eq!(me["user"]["email"], "cpd@example.com");
    assert_eq!(post(&s, "/delete-user", Some(&c3), json!({ "password": "wrong one" })).await.status(), 400);
    let r = post(&s, "/delete-user", Some(&c3), json!({ "password": "the next passphrase" })).await;
    assert_eq!(json(r).await, (200, json!({ "success": true, "message": "User deleted" })));
    assert_eq!(sign_in(&s, "cpd@example.com", "the next passphrase").await.status(), 401);
});

#[tokio::test]
async fn openapi_docs_and_metrics_are_served() {
    let db = Db::new("sqlite").await.unwrap();
    let s = Server::start(db.url(), &[NO_VERIFY]);
    let (st, doc) = json(get(&s, "/openapi.json", None).await).await;
    assert_eq!(st, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/sign-up/email",
        "/sign-in/email",
        "/get-session",
        "/sign-out",
        "/list-sessions",
        "/revoke-session",
        "/revoke-sessions",
        "/revoke-other-sessions",
        "/update-user",
        "/change-password",
        "/change-email",
        "/send-verification-email",
        "/verify-email",
        "/request-password-reset",
        "/reset-password",
        "/delete-user",
    ] {
        assert!(paths.contains_key(p), "{p} documented");
    }
    assert_eq!(doc["servers"][0]["url"].as_str().unwrap(), s.api);
    let r = get(&s, "/docs", None).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("openapi.json"));
    sign_up(&s, "m@example.com").await;
    sign_in(&s, "m@example.com", "wrong password!").await;
    get(&s, "/get-session", None).await;
    let m = client().get(s.root("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("kavach_http_requests_total{method=\"GET\",route=\"/get-session\",status=\"2xx\"} 1"), "{m}");
    assert!(m.contains("kavach_http_request_duration_seconds_bucket{method=\"POST\",route=\"/sign-up/email\""), "{m}");
    assert!(m.contains("kavach_sign_in_total{outcome=\"failure\"} 1"), "{m}");
    drop(s);
    db.drop().await;
}

fn run_cli(dir: &std::path::Path, db: &str, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut c = command(dir, &[("KAVACH_DATABASE_URL", db), ("KAVACH_SECRET", "cli-test-secret-0123456789-abcdefghij")]);
    c.args(args).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

dual!(cli_manages_users_and_verifies_the_audit_log, |db| {
    let dir = temp_dir();
    let (code, out, err) = run_cli(&dir, db, &["migrate"], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_cli(
        &dir,
        db,
        &["user", "create", "--email", "Cli@Example.com", "--name", "Cli", "--password-stdin", "--verified"],
        Some("a command line passphrase\n"),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("cli@example.com"));
    let (code, _, err) = run_cli(&dir, db, &["user", "create", "--email", "weak@example.com", "--password", "1qaz2wsx3edc4rfv"], None);
    assert_eq!(code, 2);
    assert!(err.contains("commonly used"), "{err}");
    let (code, out, _) = run_cli(&dir, db, &["user", "list", "--json"], None);
    assert_eq!(code, 0);
    let users: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
    let id = users[0]["id"].as_str().unwrap().to_owned();
    // The created user signs in over HTTP.
    let s = Server::start(db, &[]);
    assert_eq!(sign_in(&s, "cli@example.com", "a command line passphrase").await.status(), 200);
    drop(s);
    let (code, out, _) = run_cli(&dir, db, &["user", "show", "cli@example.com"], None);
    assert_eq!(code, 0);
    assert!(out.contains(&id) && out.contains("sessions        1"), "{out}");
    let (code, out, _) = run_cli(&dir, db, &["audit", "verify"], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"));
    let (code, _, err) = run_cli(&dir, db, &["user", "delete", &id], None);
    assert_eq!(code, 2, "no confirmation without --yes");
    assert!(err.contains("--yes"));
    let (code, out, _) = run_cli(&dir, db, &["user", "delete", &id, "--yes"], None);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run_cli(&dir, db, &["user", "show", &id], None);
    assert_ne!(code, 0, "{out}");
    // Tamper with the log behind Kavach's back.
    let d = kavach_core::store::Db::connect(db).await.unwrap();
    kavach_core::db!(&d, |pool| {
        sqlx::query("UPDATE kavach_audit_event SET user_id = 'someone-else' WHERE seq = 2").execute(pool).await.unwrap();
    });
    d.close().await;
    let (code, out, _) = run_cli(&dir, db, &["audit", "verify"], None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN") && out.contains("record 2"), "{out}");
    let (code, out, _) = run_cli(&dir, db, &["doctor"], None);
    assert_eq!(code, 0, "{out}");
    let _ = std::fs::remove_dir_all(dir);
});

#[test]
fn production_refuses_a_missing_or_weak_secret() {
    let dir = temp_dir();
    let out = command(&dir, &[("KAVACH_MODE", "production")]).args(["serve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KAVACH_SECRET"));
    let out = command(&dir, &[("KAVACH_MODE", "production"), ("KAVACH_SECRET", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]).args(["serve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("weak"));
    let out = command(&dir, &[("KAVACH_LISTEN", "not-an-address")]).args(["migrate"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-an-address"));
    let help = command(&dir, &[]).args(["--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for cmd in ["serve", "migrate", "user", "audit", "doctor", "KAVACH_SECRET"] {
        assert!(help.contains(cmd), "{cmd} in --help");
    }
    let _ = std::fs::remove_dir_all(dir);
}

dual!(better_auth_js_client_works_against_kavach, |db| {
    let s = Server::start(db, &[NO_VERIFY]);
    let work = npm_workspace("better-auth-client", &["client.mjs"]);
    let out = std::process::Command::new("node")
        .arg("client.mjs")
        .env("KAVACH_API", s.url(""))
        .env("KAVACH_ORIGIN", s.origin())
        .current_dir(&work)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "better-auth client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("checks passed"), "{stdout}");
    println!("{stdout}");
});

#[tokio::test]
async fn rate_limits_can_live_in_redis_shared_by_instances() {
    let redis = std::env::var("KAVACH_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let db = Db::new("sqlite").await.unwrap();
    let dir = temp_dir();
    std::fs::write(dir.join("kavach.toml"), "[rate_limit.routes]\n\"/send-verification-email\" = \"4/1m\"\n").unwrap();
    let cfg = dir.join("kavach.toml");
    let env = [("KAVACH_REDIS_URL", redis.as_str()), ("KAVACH_CONFIG", cfg.to_str().unwrap())];
    // Clear counters a previous run may have left for this route.
    let l = kavach_core::ratelimit::RateLimiter::redis(&redis)
        .await
        .expect("Redis is required for this test: run the tests with ./scripts/test.sh (it starts a throwaway one) or point KAVACH_TEST_REDIS at a server");
    l.reset("ip:127.0.0.1:/send-verification-email").await.unwrap();
    let a = Server::start(db.url(), &env);
    let b = Server::start(db.url(), &env);
    for i in 0..4 {
        let s = if i % 2 == 0 { &a } else { &b };
        assert_eq!(post(s, "/send-verification-email", None, json!({ "email": "r@example.com" })).await.status(), 200, "request {i}");
    }
    assert_eq!(post(&a, "/send-verification-email", None, json!({ "email": "r@example.com" })).await.status(), 429);
    // The counters are in Redis, not in the database.
    let d = kavach_core::store::Db::connect(db.url()).await.unwrap();
    let rows: i64 = kavach_core::db!(&d, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM kavach_rate_limit").fetch_one(pool).await.unwrap());
    assert_eq!(rows, 0);
    d.close().await;
    drop((a, b));
    let _ = std::fs::remove_dir_all(dir);
    db.drop().await;
}

#[tokio::test]
async fn secret_rotation_keeps_sessions_signed_with_older_secrets() {
    let db = Db::new("sqlite").await.unwrap();
    let old = "old-secret-0123456789-abcdefghijklmnopq";
    let new = "new-secret-0123456789-abcdefghijklmnopq";
    let s = Server::start(db.url(), &[NO_VERIFY, ("KAVACH_SECRET", old)]);
    let cookie = sign_up(&s, "rot@example.com").await;
    drop(s);
    let both = format!("{new},{old}");
    let s = Server::start(db.url(), &[NO_VERIFY, ("KAVACH_SECRET", &both)]);
    let (_, me) = json(get(&s, "/get-session", Some(&cookie)).await).await;
    assert_eq!(me["user"]["email"], "rot@example.com", "cookies signed with the old secret still work");
    let fresh = session_cookie(&sign_in(&s, "rot@example.com", PW).await).unwrap();
    drop(s);
    // Signing keys are sealed with the secret that was first when they were made: before
    // the old secret goes, new keys are made (sealed with the new one), as docs/configuration.md says.
    let out = command(&temp_dir(), &[("KAVACH_DATABASE_URL", db.url()), ("KAVACH_SECRET", &both)]).args(["keys", "rotate"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = Server::start(db.url(), &[NO_VERIFY, ("KAVACH_SECRET", new)]);
    assert_eq!(json(get(&s, "/get-session", Some(&cookie)).await).await.1, Value::Null, "old secret removed: old cookies end");
    assert_ne!(json(get(&s, "/get-session", Some(&fresh)).await).await.1, Value::Null, "new cookies were signed with the new secret");
    drop(s);
    db.drop().await;
}

#[tokio::test]
async fn remember_me_false_stays_a_browser_session_across_renewals() {
    let db = Db::new("sqlite").await.unwrap();
    let dir = temp_dir();
    std::fs::write(dir.join("kavach.toml"), "[session]\nupdate_age = \"0s\"\n").unwrap();
    let cfg = dir.join("kavach.toml");
    let s = Server::start(db.url(), &[NO_VERIFY, ("KAVACH_CONFIG", cfg.to_str().unwrap())]);
    sign_up(&s, "rm@example.com").await;
    let r = post(&s, "/sign-in/email", None, json!({ "email": "rm@example.com", "password": PW, "rememberMe": false })).await;
    let cookies: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned()).collect();
    assert!(cookies.iter().any(|c| c.starts_with("kavach.dont_remember=") && c.len() > 25), "{cookies:?}");
    let jar = cookies.join("; ");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = get(&s, "/get-session", Some(&jar)).await;
    let renewed = set_cookie_header(&r).expect("renewed cookie");
    assert!(!renewed.contains("Max-Age"), "still a browser-session cookie: {renewed}");
    // Remembered sessions get a persistent renewed cookie.
    let c = session_cookie(&sign_in(&s, "rm@example.com", PW).await).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = get(&s, "/get-session", Some(&c)).await;
    assert!(set_cookie_header(&r).unwrap().contains("Max-Age=604800"));
    // Sign-out clears the marker too.
    let r = post(&s, "/sign-out", Some(&jar), json!({})).await;
    assert!(r.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap().starts_with("kavach.dont_remember=;")));
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
    db.drop().await;
}

#[tokio::test]
async fn forgot_password_page_works_without_javascript() {
    let db = Db::new("sqlite").await.unwrap();
    let s = Server::start(db.url(), &[NO_VERIFY]);
    let r = client().get(s.url("/forgot-password")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"email\"") && html.contains("/api/kavach/request-password-reset"), "{html}");
    let r = client()
        .post(s.url("/request-password-reset"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/html")
        .header("origin", s.origin())
        .body("email=someone%40example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Check your email"));
    drop(s);
    db.drop().await;
}

dual!(jwt_tokens_verify_against_jwks_across_a_rotation, |db| {
    let s = Server::start(db, &[NO_VERIFY]);
    assert_eq!(get(&s, "/token", None).await.status(), 401);
    let cookie = sign_up(&s, "jwt@example.com").await;
    let (st, body) = json(get(&s, "/token", Some(&cookie)).await).await;
    assert_eq!(st, 200);
    let token = body["token"].as_str().unwrap().to_owned();
    let r = get(&s, "/jwks", None).await;
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    let (_, set) = json(r).await;
    let (header, claims) = kavach_core::jwt::verify(&token, &set, 60).unwrap();
    assert_eq!((header["alg"].as_str(), claims["email"].as_str()), (Some("EdDSA"), Some("jwt@example.com")));
    assert_eq!(claims["iss"].as_str(), Some(s.origin().as_str()));
    let (_, me) = json(get(&s, "/get-session", Some(&cookie)).await).await;
    assert_eq!(claims["sub"], me["user"]["id"]);
    // Rotate with the CLI while the server runs: old tokens keep verifying.
    let dir = temp_dir();
    let env = [("KAVACH_DATABASE_URL", db.as_str()), ("KAVACH_SECRET", SECRET)];
    let out = command(&dir, &env).args(["keys", "rotate", "--overlap", "2h"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&command(&dir, &env).args(["keys", "list", "--json"]).output().unwrap().stdout).unwrap();
    // The server made its keys at start (EdDSA for sessions, EdDSA access tokens, RS256 ID
    // tokens): the rotation replaced each.
    let keys: Vec<&Value> = listed.as_array().unwrap().iter().filter(|k| k["alg"] == "EdDSA").collect();
    assert_eq!(keys.len(), 2, "{listed}");
    assert_eq!(keys.iter().filter(|k| k["active"] == true).count(), 1);
    assert!(keys.iter().any(|k| k["active"] == false && !k["expires_at"].is_null()));
    let out = command(&dir, &env).args(["keys", "rotate", "--overlap", "1m"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an overlap shorter than the token lifetime is refused");
    drop(s);
    let s = Server::start(db, &[NO_VERIFY]);
    let (_, set) = json(get(&s, "/jwks", None).await).await;
    assert_eq!(set["keys"].as_array().unwrap().iter().filter(|k| k["alg"] == "EdDSA").count(), 2);
    assert!(kavach_core::jwt::verify(&token, &set, 60).is_ok(), "a token signed before the rotation still verifies");
    let (_, fresh) = json(get(&s, "/token", Some(&cookie)).await).await;
    let (h2, _) = kavach_core::jwt::verify(fresh["token"].as_str().unwrap(), &set, 60).unwrap();
    assert_ne!(h2["kid"], header["kid"], "new tokens use the new key");
    let _ = std::fs::remove_dir_all(dir);
});

// Finding 17: one log line per request (method, route, status, duration, request id), the
// id returned as X-Request-Id, and JSON when configured.
#[tokio::test]
async fn review_17_every_request_is_logged_with_a_request_id() {
    let db = Db::new("sqlite").await.unwrap();
    let s = Server::start_capturing(db.url(), &[NO_VERIFY, ("KAVACH_LOG", "debug"), ("KAVACH_LOG_FORMAT", "json")]);
    let r = client().get(s.url("/get-session")).header("x-request-id", "trace-abc-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-abc-123", "a sane incoming id is kept and returned");
    let r = get(&s, "/reset-password/some-token-value", None).await;
    let made = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(made.len() >= 12 && made.contains('-'), "an id is made when none came: {made}");
    let r = client().get(s.url("/ok")).header("x-request-id", "an id with spaces, quotes \" and {braces}").send().await.unwrap();
    assert_ne!(r.headers()["x-request-id"], "an id with spaces, quotes \" and {braces}", "an odd id is replaced, not echoed into logs");
    get(&s, "/.well-known/openid-configuration", None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines: Vec<Value> = s.log.as_ref().unwrap().lock().unwrap().iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let of = |id: &str| lines.iter().find(|l| l["fields"]["request_id"] == id).cloned().unwrap_or_else(|| panic!("no line for {id} in {lines:?}"));
    let line = of("trace-abc-123");
    assert_eq!(
        (line["level"].as_str(), line["fields"]["method"].as_str(), line["fields"]["route"].as_str()),
        (Some("DEBUG"), Some("GET"), Some("/get-session"))
    );
    assert_eq!(line["fields"]["status"], 200);
    assert!(line["fields"]["duration_ms"].is_number());
    assert_eq!(of(&made)["fields"]["route"], "/reset-password/{token}", "the route template, never the raw path (which carries a token)");
    assert!(lines.iter().all(|l| !l.to_string().contains("some-token-value")), "the token in the path is not logged");
    drop(s);
    db.drop().await;
}

// Finding 18: relying parties fetch keys at start-up; a fresh server publishes them.
dual!(review_18_a_fresh_server_publishes_its_signing_keys, |db| {
    let s = Server::start(db, &[]);
    let (st, set) = json(get(&s, "/jwks", None).await).await;
    assert_eq!(st, 200);
    let algs: std::collections::BTreeSet<&str> = set["keys"].as_array().unwrap().iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["EdDSA", "RS256"].into_iter().collect(), "{set}");
    let (_, d) = json(get(&s, "/.well-known/openid-configuration", None).await).await;
    for alg in d["id_token_signing_alg_values_supported"].as_array().unwrap() {
        assert!(algs.contains(alg.as_str().unwrap()), "discovery advertises {alg}: its key is published");
    }
});

// Finding 6: NUL in a path, a query, a form or a JSON body is a 4xx on both databases
// (PostgreSQL answered 500: it cannot store NUL in text).
dual!(review_06_nul_bytes_in_paths_forms_and_bodies_get_a_4xx, |db| {
    let s = Server::start(db, &[NO_VERIFY]);
    let cookie = sign_up(&s, "nul@example.com").await;
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<(reqwest::RequestBuilder, &str)> = vec![
        (client().get(s.url("/oauth2/register/kc_%00")).bearer_auth("x"), "path"),
        (
            client()
                .post(s.url("/oauth2/grants/revoke"))
                .header("cookie", &cookie)
                .header("origin", s.origin())
                .header("content-type", form)
                .body("client_id=a%00"),
            "form",
        ),
        (client().post(s.url("/oauth2/grants/revoke")).header("cookie", &cookie).header("origin", s.origin()).json(&json!({ "client_id": "a\u{0}" })), "JSON"),
        (client().post(s.url("/oauth2/token")).header("content-type", form).body("grant_type=authorization_code&client_id=a%00&code=x"), "token form"),
        (client().post(s.url("/oauth2/register")).json(&json!({ "client_name": "x\u{0}", "redirect_uris": ["https://a.example/cb"] })), "registration"),
        (client().get(s.url("/oauth2/authorize?client_id=a%00&response_type=code")), "query"),
        (client().get(s.url("/reset-password/tok%00en")), "path token"),
        (client().post(s.url("/sign-in/email")).header("content-type", form).body("email=a%40b.co%00&password=x"), "sign-in form"),
        (client().post(s.url("/update-user")).header("cookie", &cookie).header("origin", s.origin()).json(&json!({ "name": "Ann\u{0}" })), "user name"),
    ];
    for (rq, what) in cases {
        let r = rq.send().await.unwrap();
        assert!(r.status().is_client_error(), "{what}: {}", r.status());
    }
    // Nothing half-written, nothing broken.
    assert_eq!(json(get(&s, "/get-session", Some(&cookie)).await).await.1["user"]["name"], "E2E");
});
