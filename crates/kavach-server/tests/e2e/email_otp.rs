//! Codes by email over HTTP with a real SMTP server: better-auth's `emailOTPClient()`
//! through sign-in, email change, password reset and verification; a user with
//! two-factor on gets a pending sign-in from a code, not a session; a code is stored as
//! a keyed hash (research/kavachos.md §11: OTPs stored as unsalted SHA-256).

use crate::harness::*;
use crate::smtp::{self, Smtp};
use kavach_testkit::dual;
use serde_json::json;

fn config() -> String {
    let path = temp_dir().join("kavach.toml");
    std::fs::write(
        &path,
        "[email_otp]\nenabled = true\nchange_email = true\n[two_factor]\nenabled = true\n[email_password]\nrequire_email_verification = false\n",
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// Ask for a code of `kind` for `email` and read it from the message.
async fn code(s: &Server, mail: &Smtp, email: &str, kind: &str, subject: &str) -> String {
    let seen = mail.count(email, subject);
    let (status, v) = json(post(s, "/email-otp/send-verification-otp", None, json!({ "email": email, "type": kind })).await).await;
    assert_eq!((status, v), (200, json!({ "success": true })));
    let msg = mail.wait_for_more(email, subject, seen).await;
    msg.lines().find(|l| l.starts_with("Subject:")).unwrap().rsplit(' ').next().unwrap().trim().to_owned()
}

dual!(better_auth_email_otp_client_works_against_kavach, |db| {
    let mail = Smtp::start();
    let url = mail.url();
    let cfg = config();
    let s = Server::start(db, &[("KAVACH_SMTP_URL", &url), ("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    smtp::better_auth_client_reading_mail(&s, &mail, "email-otp.mjs", &[("EMAIL", "client@example.com")]).await;
});

dual!(email_otp_for_a_totp_user_gives_a_pending_sign_in_not_a_session, |db| {
    let mail = Smtp::start();
    let url = mail.url();
    let cfg = config();
    let s = Server::start(db, &[("KAVACH_SMTP_URL", &url), ("KAVACH_CONFIG", &cfg)]);
    let cookie = sign_up(&s, "tf@example.com").await;
    let uri = totp_on(&s, &cookie).await;
    let c = code(&s, &mail, "tf@example.com", "sign-in", "sign-in code").await;
    let r = post(&s, "/sign-in/email-otp", None, json!({ "email": "tf@example.com", "otp": c })).await;
    assert!(session_cookie(&r).is_none(), "a code alone is one factor");
    let pending = cookie_named(&r, "kavach.two_factor").expect("pending sign-in");
    let (status, v) = json(r).await;
    assert_eq!((status, &v["twoFactorRedirect"]), (200, &json!(true)), "{v}");
    assert!(v.get("token").is_none_or(|t| t.is_null()), "no session token: {v}");
    let r = post(&s, "/two-factor/verify-totp", Some(&pending), json!({ "code": totp_code(&uri, 0) })).await;
    assert_eq!(r.status(), 200);
    assert!(session_cookie(&r).is_some());
});

dual!(email_otp_bad_input_gets_a_clear_4xx, |db| {
    let mail = Smtp::start();
    let url = mail.url();
    let cfg = config();
    let s = Server::start(db, &[("KAVACH_SMTP_URL", &url), ("KAVACH_CONFIG", &cfg)]);
    for (path, body, code) in [
        ("/email-otp/send-verification-otp", json!({ "email": "a@example.com", "type": "change-email" }), "VALIDATION_ERROR"),
        ("/email-otp/send-verification-otp", json!({ "email": "not an email", "type": "sign-in" }), "INVALID_EMAIL"),
        ("/sign-in/email-otp", json!({ "email": "a@example.com", "otp": "123456", "userId": "someone" }), "VALIDATION_ERROR"),
        ("/sign-in/email-otp", json!({ "email": "a@example.com", "otp": "123456" }), "INVALID_OTP"),
        ("/email-otp/reset-password", json!({ "email": "a@example.com", "otp": "123456", "password": "a long enough passphrase" }), "INVALID_OTP"),
    ] {
        let (status, v) = json(post(&s, path, None, body).await).await;
        assert_eq!((status, v["code"].as_str()), (400, Some(code)), "{path}: {v}");
    }
    // The change routes need a session.
    let (status, _) = json(post(&s, "/email-otp/request-email-change", None, json!({ "newEmail": "b@example.com" })).await).await;
    assert_eq!(status, 401);
});
