//! Magic links over HTTP with a real SMTP server: sign-up on first use, single use,
//! callbacks, same-browser binding, sign-up switched off, and a user with two-factor on
//! gets a pending sign-in, not a session (research/kavachos.md §11: magic-link tokens in
//! clear; here only their SHA-256 is stored).

use crate::harness::*;
use crate::smtp::{self, Smtp};
use kavach_testkit::dual;
use serde_json::{Value, json};

fn config(extra: &str) -> String {
    let path = temp_dir().join("kavach.toml");
    std::fs::write(
        &path,
        format!("[magic_link]\nenabled = true\n{extra}\n[two_factor]\nenabled = true\n[email_password]\nrequire_email_verification = false\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// Ask for a link for `email` and return it, pointed at 127.0.0.1.
async fn link(s: &Server, mail: &Smtp, email: &str, body: Value, cookie: Option<&str>) -> String {
    let seen = mail.count(email, "Sign in to");
    let r = post(s, "/sign-in/magic-link", cookie, body).await;
    let (status, v) = json(r).await;
    assert_eq!((status, v), (200, json!({ "status": true })));
    smtp::first_link(&mail.wait_for_more(email, "Sign in to", seen).await).replacen(&s.api, &s.url(""), 1)
}

dual!(magic_link_signs_up_on_first_use_works_once_and_follows_its_callbacks, |db| {
    let mail = Smtp::start();
    let url = mail.url();
    let cfg = config("");
    let s = Server::start(db, &[("KAVACH_SMTP_URL", &url), ("KAVACH_CONFIG", &cfg)]);
    let l = link(
        &s,
        &mail,
        "new@example.com",
        json!({ "email": "new@example.com", "name": "Newcomer", "callbackURL": "/app", "newUserCallbackURL": "/welcome" }),
        None,
    )
    .await;
    assert!(l.contains("callbackURL=%2Fapp") && l.contains("newUserCallbackURL=%2Fwelcome"), "{l}");
    let r = client().get(&l).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/welcome", "a new account goes to newUserCallbackURL");
    let cookie = session_cookie(&r).expect("signed in");
    let (_, me) = json(get(&s, "/get-session", Some(&cookie)).await).await;
    assert_eq!(
        (me["user"]["email"].as_str(), me["user"]["name"].as_str(), me["user"]["emailVerified"].as_bool()),
        (Some("new@example.com"), Some("Newcomer"), Some(true))
    );
    // Used once: the second visit goes to the callback with the error.
    let r = client().get(&l).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/app?error=INVALID_TOKEN");
    assert!(session_cookie(&r).is_none());
    // An existing account goes to callbackURL; without one, the JSON answer.
    let l = link(&s, &mail, "new@example.com", json!({ "email": "new@example.com" }), None).await;
    let (status, v) = json(client().get(&l).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(v["user"]["email"], "new@example.com");
    assert!(v["token"].is_string() && v["session"]["userId"].is_string(), "{v}");
    // A callback off the trusted origins is refused before anything is sent.
    let r = post(&s, "/sign-in/magic-link", None, json!({ "email": "new@example.com", "callbackURL": "https://evil.example/" })).await;
    assert_eq!(r.status(), 403);
    // A forged token.
    let (status, v) = json(client().get(s.url("/magic-link/verify?token=forged")).send().await.unwrap()).await;
    assert_eq!((status, v["code"].as_str()), (400, Some("INVALID_TOKEN")));
});

dual!(magic_link_for_a_totp_user_gives_a_pending_sign_in_not_a_session, |db| {
    let mail = Smtp::start();
    let url = mail.url();
    let cfg = config("");
    let s = Server::start(db, &[("KAVACH_SMTP_URL", &url), ("KAVACH_CONFIG", &cfg)]);
    let cookie = sign_up(&s, "tf@example.com").await;
    let uri = totp_on(&s, &cookie).await;
    let l = link(&s, &mail, "tf@example.com", json!({ "email": "tf@example.com" }), None).await;
    let r = client().get(&l).send().await.unwrap();
    assert!(session_cookie(&r).is_none(), "a link alone is one factor");
    let pending = cookie_named(&r, "kavach.two_factor").expect("pending sign-in");
    let (_, v) = json(r).await;
    assert_eq!(v["twoFactorRedirect"], true);
    let r = post(&s, "/two-factor/verify-totp", Some(&pending), json!({ "code": totp_code(&uri, 0) })).await;
    assert_eq!(r.status(), 200);
    assert!(session_cookie(&r).is_some());
    // A link asked for by the hosted OAuth sign-in page goes to the hosted two-factor page,
    // which then returns to the flow.
    let back = "/api/kavach/oauth2/continue?flow=abc";
    let l = link(&s, &mail, "tf@example.com", json!({ "email": "tf@example.com", "callbackURL": back }), None).await;
    let r = client().get(&l).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap();
    assert!(to.contains("/two-factor?") && to.contains("oauth2%2Fcontinue"), "{to}");
    assert!(session_cookie(&r).is_none() && cookie_named(&r, "kavach.two_factor").is_some());
});

dual!(magic_link_same_browser_and_sign_up_switched_off, |db| {
    let mail = Smtp::start();
    let url = mail.url();
    let cfg = config("same_browser = true\nallow_sign_up = false");
    let s = Server::start(db, &[("KAVACH_SMTP_URL", &url), ("KAVACH_CONFIG", &cfg)]);
    sign_up(&s, "known@example.com").await;
    // Unknown address, sign-up off: the same answer, and no email.
    let (status, v) = json(post(&s, "/sign-in/magic-link", None, json!({ "email": "stranger@example.com" })).await).await;
    assert_eq!((status, v), (200, json!({ "status": true })));
    let r = post(&s, "/sign-in/magic-link", None, json!({ "email": "known@example.com" })).await;
    let browser = cookie_named(&r, "kavach.magic_link").expect("the same-browser cookie");
    let l = smtp::first_link(&mail.wait_for("known@example.com", "Sign in to").await).replacen(&s.api, &s.url(""), 1);
    // Another browser (no cookie) cannot use it.
    let (status, v) = json(client().get(&l).send().await.unwrap()).await;
    assert_eq!((status, v["code"].as_str()), (400, Some("INVALID_TOKEN")));
    let seen = mail.count("known@example.com", "Sign in to");
    let r = post(&s, "/sign-in/magic-link", None, json!({ "email": "known@example.com" })).await;
    let browser2 = cookie_named(&r, "kavach.magic_link").unwrap();
    assert_ne!(browser, browser2);
    let l2 = smtp::first_link(&mail.wait_for_more("known@example.com", "Sign in to", seen).await).replacen(&s.api, &s.url(""), 1);
    let (status, v) = json(client().get(&l2).header("cookie", &browser2).send().await.unwrap()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["user"]["email"], "known@example.com");
    assert_eq!(mail.count("stranger@example.com", ""), 0, "nothing sent to an unknown address");
});

dual!(better_auth_magic_link_client_works_against_kavach, |db| {
    let mail = Smtp::start();
    let url = mail.url();
    let cfg = config("");
    let s = Server::start(db, &[("KAVACH_SMTP_URL", &url), ("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    smtp::better_auth_client_reading_mail(&s, &mail, "magic-link.mjs", &[("EMAIL", "client@example.com")]).await;
});
