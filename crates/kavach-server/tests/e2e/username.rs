//! Usernames over HTTP: better-auth's `usernameClient()` against Kavach, and a user with
//! two-factor on gets no session from a username and password alone.

use crate::NO_VERIFY;
use crate::harness::*;
use kavach_testkit::dual;
use serde_json::{Value, json};

fn config() -> String {
    let path = temp_dir().join("kavach.toml");
    std::fs::write(&path, "[username]\nenabled = true\n[two_factor]\nenabled = true\n").unwrap();
    path.to_str().unwrap().to_owned()
}

dual!(better_auth_username_client_works_against_kavach, |db| {
    let cfg = config();
    let s = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    better_auth_client(&s, "username.mjs", &[]);
});

dual!(totp_user_gets_no_session_from_the_username_sign_in, |db| {
    let cfg = config();
    let s = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", &cfg)]);
    let r = post(&s, "/sign-up/email", None, json!({ "email": "u2f@example.com", "password": PW, "name": "U", "username": "u2f_user" })).await;
    let cookie = session_cookie(&r).unwrap();
    let (_, v) = json(post(&s, "/two-factor/enable", Some(&cookie), json!({ "password": PW })).await).await;
    let uri = v["totpURI"].as_str().unwrap().to_owned();
    let secret = kavach_core::plugins::two_factor::totp::base32_decode(uri.split("secret=").nth(1).unwrap().split('&').next().unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let code = kavach_core::plugins::two_factor::Totp { digits: 6, period: 30, skew: 1 }.code_at(&secret, now - 30);
    assert_eq!(post(&s, "/two-factor/verify-totp", Some(&cookie), json!({ "code": code })).await.status(), 200);
    let r = post(&s, "/sign-in/username", None, json!({ "username": "U2F_user", "password": PW })).await;
    assert_eq!(r.status(), 200);
    assert!(session_cookie(&r).is_none(), "no session from the password alone");
    assert!(cookie_named(&r, "kavach.two_factor").is_some());
    let (_, v) = json(r).await;
    assert_eq!(v["twoFactorRedirect"], Value::Bool(true));
});
