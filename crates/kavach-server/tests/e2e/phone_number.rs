//! Phone numbers over HTTP with the HTTP SMS sender talking to a stand-in for Twilio's
//! Messages API (a form with To, From and Body, HTTP Basic with the account SID and
//! token): better-auth's `phoneNumberClient()` from npm through sign-up by code, the
//! number and password, reset and attaching a number; a user with two-factor on gets a
//! pending sign-in from a code, not a session.

use crate::harness::*;
use crate::smtp;
use kavach_testkit::dual;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// The messages the stand-in provider received: (Authorization header, form fields).
type Received = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

/// A stand-in for Twilio's Messages API on a free port; its message URL and what it got.
async fn provider() -> (String, Received) {
    let got: Received = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/2010-04-01/Accounts/AC123/Messages.json",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let keep = keep.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let form = body
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_owned(), kavach::http::body::percent_decode(v, true).unwrap()))
                    .collect();
                keep.lock().unwrap().push((auth, form));
                (axum::http::StatusCode::CREATED, axum::Json(json!({ "sid": "SM1", "status": "queued" })))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/2010-04-01/Accounts/AC123/Messages.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// Wait for message `n` (from 1) to `to`; the code in its body.
async fn code(got: &Received, to: &str, n: usize) -> String {
    for _ in 0..300 {
        let bodies: Vec<String> = got
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, f)| f.iter().any(|(k, v)| k == "To" && v == to))
            .filter_map(|(_, f)| f.iter().find(|(k, _)| k == "Body").map(|(_, v)| v.clone()))
            .collect();
        if let Some(b) = bodies.get(n - 1) {
            return b.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() >= 6).unwrap().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no message {n} to {to}");
}

fn config(sms_url: &str) -> String {
    let path = temp_dir().join("kavach.toml");
    std::fs::write(
        &path,
        format!(
            "[phone_number]\nenabled = true\nsign_up_on_verification = true\n[two_factor]\nenabled = true\n[email_password]\nrequire_email_verification = false\n\
             [sms]\nurl = \"{sms_url}\"\nfrom = \"+15005550006\"\nusername = \"AC123\"\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

dual!(better_auth_phone_number_client_works_against_kavach, |db| {
    let (url, got) = provider().await;
    let cfg = config(&url);
    let s = Server::start(db, &[("KAVACH_CONFIG", &cfg), ("KAVACH_SMS_PASSWORD", "twilio-token"), ("KAVACH_RATE_LIMIT", "off")]);
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let env = [("PHONE", "+14155550123"), ("OTHER_PHONE", "+14155550124")];
    smtp::better_auth_client_asking(&s, "phone-number.mjs", &env, async |what: &str, rest: &str| {
        (what == "SMS").then_some(())?;
        let to = rest.trim();
        let n = seen.entry(to.to_owned()).or_default();
        *n += 1;
        Some(code(&got, to, *n).await)
    })
    .await;
    let got = got.lock().unwrap();
    let (auth, form) = &got[0];
    use base64::Engine;
    assert_eq!(auth, &format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("AC123:twilio-token")), "Twilio's Basic authentication");
    assert!(form.iter().any(|(k, v)| k == "From" && v == "+15005550006"), "{form:?}");
});

dual!(a_phone_code_for_a_totp_user_gives_a_pending_sign_in_not_a_session, |db| {
    let (url, got) = provider().await;
    let cfg = config(&url);
    let s = Server::start(db, &[("KAVACH_CONFIG", &cfg), ("KAVACH_SMS_PASSWORD", "twilio-token")]);
    let cookie = sign_up(&s, "tf@example.com").await;
    let uri = totp_on(&s, &cookie).await;
    let phone = "+14155550125";
    assert_eq!(post(&s, "/phone-number/send-otp", None, json!({ "phoneNumber": phone })).await.status(), 200);
    let c = code(&got, phone, 1).await;
    let (status, v) = json(post(&s, "/phone-number/verify", Some(&cookie), json!({ "phoneNumber": phone, "code": c, "updatePhoneNumber": true })).await).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(post(&s, "/phone-number/send-otp", None, json!({ "phoneNumber": phone })).await.status(), 200);
    let c = code(&got, phone, 2).await;
    let r = post(&s, "/phone-number/verify", None, json!({ "phoneNumber": phone, "code": c })).await;
    assert!(session_cookie(&r).is_none(), "a code alone is one factor");
    let pending = cookie_named(&r, "kavach.two_factor").expect("pending sign-in");
    let r = post(&s, "/two-factor/verify-totp", Some(&pending), json!({ "code": totp_code(&uri, 0) })).await;
    assert_eq!(r.status(), 200);
    assert!(session_cookie(&r).is_some());
    // The number and password: the same pending sign-in.
    let (status, v) = json(post(&s, "/sign-in/phone-number", None, json!({ "phoneNumber": phone, "password": PW })).await).await;
    assert_eq!((status, &v["twoFactorRedirect"]), (200, &json!(true)), "{v}");
});

dual!(phone_number_bad_input_gets_a_clear_4xx, |db| {
    let (url, _got) = provider().await;
    let cfg = config(&url);
    let s = Server::start(db, &[("KAVACH_CONFIG", &cfg), ("KAVACH_SMS_PASSWORD", "twilio-token")]);
    for (path, body, status, code) in [
        ("/phone-number/send-otp", json!({ "phoneNumber": "4155550123" }), 400, "INVALID_PHONE_NUMBER"),
        ("/phone-number/send-otp", json!({ "phoneNumber": "+14155550123", "extra": 1 }), 400, "VALIDATION_ERROR"),
        ("/phone-number/verify", json!({ "phoneNumber": "+14155550123", "code": "123456" }), 400, "INVALID_OTP"),
        ("/phone-number/verify", json!({ "phoneNumber": "+14155550123", "code": "123456", "updatePhoneNumber": true }), 401, "UNAUTHORIZED"),
        ("/sign-in/phone-number", json!({ "phoneNumber": "+14155550123", "password": "whatever it is" }), 401, "INVALID_PHONE_NUMBER_OR_PASSWORD"),
    ] {
        let (st, v) = json(post(&s, path, None, body).await).await;
        assert_eq!((st, v["code"].as_str()), (status, Some(code)), "{path}: {v}");
    }
});
