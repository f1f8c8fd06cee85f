//! The kernel over HTTP: sessions, cookies, CSRF, guards and bad input, several instances, secrets and keys.

use crate::*;

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
    let Some(pg) = TestDb::postgres().await else { return };
    let db = &pg.url;
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
    pg.drop_db().await;
}

#[tokio::test]
async fn cookie_attributes_follow_the_base_url_scheme() {
    let db = TestDb::sqlite().await;
    let s = Server::start(&db.url, &[NO_VERIFY]);
    let r = post(&s, "/sign-up/email", None, json!({ "email": "http@example.com", "password": PW, "name": "H" })).await;
    let c = set_cookie_header(&r).unwrap();
    assert!(c.starts_with("kavach.session_token="), "{c}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(c.contains(attr), "{attr} in {c}");
    }
    assert!(!c.contains("Secure"), "{c}");
    drop(s);
    let s = Server::start(&db.url, &[NO_VERIFY, ("KAVACH_BASE_URL", "https://auth.example.test")]);
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
    db.drop_db().await;
}

#[tokio::test]
async fn session_fixation_is_impossible() {
    let db = TestDb::sqlite().await;
    let s = Server::start(&db.url, &[NO_VERIFY]);
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
    db.drop_db().await;
}

#[tokio::test]
async fn csrf_writes_from_foreign_origins_are_refused() {
    let db = TestDb::sqlite().await;
    let s = Server::start(&db.url, &[NO_VERIFY, ("KAVACH_TRUSTED_ORIGINS", "https://app.example.test")]);
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
    db.drop_db().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_never_a_500() {
    let db = TestDb::sqlite().await;
    let s = Server::start(&db.url, &[NO_VERIFY, ("KAVACH_RATE_LIMIT", "false")]);
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
    db.drop_db().await;
}

#[tokio::test]
async fn rate_limits_can_live_in_redis_shared_by_instances() {
    let redis = std::env::var("KAVACH_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let db = TestDb::sqlite().await;
    let dir = temp_dir();
    std::fs::write(dir.join("kavach.toml"), "[rate_limit.routes]\n\"/send-verification-email\" = \"4/1m\"\n").unwrap();
    let cfg = dir.join("kavach.toml");
    let env = [("KAVACH_REDIS_URL", redis.as_str()), ("KAVACH_CONFIG", cfg.to_str().unwrap())];
    // Clear counters a previous run may have left for this route.
    let l = kavach_core::ratelimit::RateLimiter::redis(&redis)
        .await
        .expect("Redis is required for this test: run the tests with ./scripts/test.sh (it starts a throwaway one) or point KAVACH_TEST_REDIS at a server");
    l.reset("ip:127.0.0.1:/send-verification-email").await.unwrap();
    let a = Server::start(&db.url, &env);
    let b = Server::start(&db.url, &env);
    // A new address each run: its per-recipient email count (also in Redis) starts at zero.
    let email = format!("r-{}@example.com", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    for i in 0..4 {
        let s = if i % 2 == 0 { &a } else { &b };
        assert_eq!(post(s, "/send-verification-email", None, json!({ "email": email })).await.status(), 200, "request {i}");
    }
    assert_eq!(post(&a, "/send-verification-email", None, json!({ "email": email })).await.status(), 429);
    // The counters are in Redis, not in the database.
    let d = kavach_core::store::Db::connect(&db.url).await.unwrap();
    let rows: i64 = kavach_core::db!(&d, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM kavach_rate_limit").fetch_one(pool).await.unwrap());
    assert_eq!(rows, 0);
    d.close().await;
    drop((a, b));
    let _ = std::fs::remove_dir_all(dir);
    db.drop_db().await;
}

#[tokio::test]
async fn secret_rotation_keeps_sessions_signed_with_older_secrets() {
    let db = TestDb::sqlite().await;
    let old = "old-secret-0123456789-abcdefghijklmnopq";
    let new = "new-secret-0123456789-abcdefghijklmnopq";
    let s = Server::start(&db.url, &[NO_VERIFY, ("KAVACH_SECRET", old)]);
    let cookie = sign_up(&s, "rot@example.com").await;
    drop(s);
    let both = format!("{new},{old}");
    let s = Server::start(&db.url, &[NO_VERIFY, ("KAVACH_SECRET", &both)]);
    let (_, me) = json(get(&s, "/get-session", Some(&cookie)).await).await;
    assert_eq!(me["user"]["email"], "rot@example.com", "cookies signed with the old secret still work");
    let fresh = session_cookie(&sign_in(&s, "rot@example.com", PW).await).unwrap();
    drop(s);
    // Signing keys are sealed with the secret that was first when they were made: before
    // the old secret goes, new keys are made (sealed with the new one), as docs/configuration.md says.
    let out = command(&temp_dir(), &[("KAVACH_DATABASE_URL", &db.url), ("KAVACH_SECRET", &both)]).args(["keys", "rotate"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = Server::start(&db.url, &[NO_VERIFY, ("KAVACH_SECRET", new)]);
    assert_eq!(json(get(&s, "/get-session", Some(&cookie)).await).await.1, Value::Null, "old secret removed: old cookies end");
    assert_ne!(json(get(&s, "/get-session", Some(&fresh)).await).await.1, Value::Null, "new cookies were signed with the new secret");
    drop(s);
    db.drop_db().await;
}

#[tokio::test]
async fn remember_me_false_stays_a_browser_session_across_renewals() {
    let db = TestDb::sqlite().await;
    let dir = temp_dir();
    std::fs::write(dir.join("kavach.toml"), "[session]\nupdate_age = \"0s\"\n").unwrap();
    let cfg = dir.join("kavach.toml");
    let s = Server::start(&db.url, &[NO_VERIFY, ("KAVACH_CONFIG", cfg.to_str().unwrap())]);
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
    db.drop_db().await;
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
    let env = [("KAVACH_DATABASE_URL", db), ("KAVACH_SECRET", SECRET)];
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
