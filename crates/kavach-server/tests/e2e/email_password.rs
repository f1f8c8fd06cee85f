//! The email and password capability over HTTP: sign-up, sign-in, verification and reset over real SMTP, enumeration, rate limits, better-auth's own JS client.

use crate::*;

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
    let db = TestDb::sqlite().await;
    // The default configuration (email verification required); limits off to measure timing.
    let s = Server::start(&db.url, &[("KAVACH_RATE_LIMIT", "false")]);
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
    db.drop_db().await;
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
    let db = TestDb::sqlite().await;
    let s = Server::start(&db.url, &[]);
    let mut statuses = vec![];
    for i in 0..11 {
        statuses.push(sign_in(&s, &format!("u{i}@example.com"), "whatever password").await.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429, "{statuses:?}");
    drop(s);
    db.drop_db().await;
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

dual!(better_auth_js_client_works_against_kavach, |db| {
    let s = Server::start(db, &[NO_VERIFY]);
    better_auth_client(&s, "client.mjs", &[]);
});

#[tokio::test]
async fn forgot_password_page_works_without_javascript() {
    let db = TestDb::sqlite().await;
    let s = Server::start(&db.url, &[NO_VERIFY]);
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
    db.drop_db().await;
}
