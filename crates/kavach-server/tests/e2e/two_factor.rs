//! Two-factor authentication over HTTP: better-auth's `twoFactorClient()` against
//! Kavach, and no first factor alone (the JSON sign-in, the hosted OAuth sign-in, the
//! hosted device sign-in) gives a session or an authorization code.

use crate::NO_VERIFY;
use crate::harness::*;
use crate::oauth::{As, FormOf, RESOURCE, callback, percent};
use kavach_testkit::dual;
use serde_json::{Value, json};

const ON: &str = "\n[two_factor]\nenabled = true\n";

fn config(extra: &str) -> String {
    let path = temp_dir().join("kavach.toml");
    std::fs::write(&path, format!("{ON}{extra}")).unwrap();
    path.to_str().unwrap().to_owned()
}

dual!(better_auth_two_factor_client_works_against_kavach, |db| {
    let cfg = config("");
    let s = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    better_auth_client(&s, "two-factor.mjs", &[]);
});

dual!(totp_user_gets_no_session_from_the_json_sign_in, |db| {
    let cfg = config("");
    let s = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", &cfg)]);
    let cookie = sign_up(&s, "json@example.com").await;
    let uri = totp_on(&s, &cookie).await;
    let r = sign_in(&s, "json@example.com", PW).await;
    assert_eq!(r.status(), 200);
    assert!(session_cookie(&r).is_none(), "no session cookie before the second factor");
    assert!(r.headers().get("set-auth-token").is_none(), "no bearer token either");
    let pending = cookie_named(&r, "kavach.two_factor").expect("the pending sign-in's cookie");
    let (_, v) = json(r).await;
    assert_eq!(v, json!({ "twoFactorRedirect": true, "twoFactorMethods": ["totp", "otp"] }));
    // The pending cookie is not a session.
    let (_, me) = json(get(&s, "/get-session", Some(&pending)).await).await;
    assert_eq!(me, Value::Null);
    // A forged pending cookie is refused.
    let (status, v) = json(post(&s, "/two-factor/verify-totp", Some("kavach.two_factor=abc.def"), json!({ "code": totp_code(&uri, 0) })).await).await;
    assert_eq!((status, v["code"].as_str()), (401, Some("INVALID_TWO_FACTOR_COOKIE")));
    let r = post(&s, "/two-factor/verify-totp", Some(&pending), json!({ "code": totp_code(&uri, 0) })).await;
    assert_eq!(r.status(), 200);
    let session = session_cookie(&r).expect("the session after the code");
    let (_, me) = json(get(&s, "/get-session", Some(&session)).await).await;
    assert_eq!(me["user"]["email"], "json@example.com");
    assert_eq!(me["user"]["twoFactorEnabled"], true);
    // The endpoints a pending sign-in cannot reach.
    assert_eq!(post(&s, "/two-factor/enable", Some(&pending), json!({ "password": PW })).await.status(), 401);
});

dual!(totp_user_gets_no_session_or_code_from_the_hosted_oauth_sign_in, |db| {
    let a = As::start(db, RESOURCE, ON).await;
    let uri = totp_on(&a.s, &a.cookie).await;
    let id = a.public_client().await;
    let r = a.authorize(&a.authorize_url(&id, &[]), None).await;
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let flow = percent(to.split("flow=").nth(1).unwrap());
    let r = client()
        .post(a.s.url("/oauth2/sign-in"))
        .header("origin", a.s.origin())
        .form_of(&[("flow", flow.as_str()), ("email", "alice@example.com"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(session_cookie(&r).is_none(), "no session from the password alone");
    let pending = cookie_named(&r, "kavach.two_factor").expect("pending");
    let page = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(page.contains("/two-factor?next="), "{page}");
    // With only the pending cookie, the flow goes back to the sign-in page: no code.
    let next = percent(page.split("next=").nth(1).unwrap());
    let r = client().get(a.s.root(&next)).header("cookie", &pending).send().await.unwrap();
    assert!(!callback(&r).contains_key("code"), "no code without the second factor");
    assert!(r.headers().get("location").is_some_and(|l| l.to_str().unwrap().contains("/oauth2/sign-in")), "back to sign-in");
    // The hosted page: a wrong code shows the form again; the right one goes on to the flow.
    let form = client().get(&page).header("cookie", &pending).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("name=\"code\""));
    let wrong = if totp_code(&uri, 0) == "000000" { "111111" } else { "000000" };
    let r = client()
        .post(a.s.url("/two-factor"))
        .header("origin", a.s.origin())
        .header("cookie", &pending)
        .form_of(&[("method", "totp"), ("code", wrong), ("next", next.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client()
        .post(a.s.url("/two-factor"))
        .header("origin", a.s.origin())
        .header("cookie", &pending)
        .form_of(&[("method", "totp"), ("code", totp_code(&uri, 0).as_str()), ("next", next.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"].to_str().unwrap(), next);
    let session = session_cookie(&r).expect("signed in after the second factor");
    let consent = client().get(a.s.root(&next)).header("cookie", &session).send().await.unwrap();
    let q = callback(&a.consent(consent, "approve", &session).await);
    assert!(q.contains_key("code"), "the flow finishes once both factors passed");
    // `next` never leaves the server.
    let r = client()
        .post(a.s.url("/two-factor"))
        .header("origin", a.s.origin())
        .header("cookie", &pending)
        .form_of(&[("method", "totp"), ("code", "123456"), ("next", "https://evil.example/")])
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("location").is_none());
});

dual!(totp_user_gets_no_session_from_the_hosted_device_sign_in, |db| {
    let a = As::start(db, RESOURCE, ON).await;
    totp_on(&a.s, &a.cookie).await;
    let r = client()
        .post(a.s.url("/oauth2/device"))
        .header("origin", a.s.origin())
        .form_of(&[("step", "lookup"), ("user_code", "ABCD-EFGH"), ("email", "alice@example.com"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(session_cookie(&r).is_none(), "no session from the password alone");
    assert!(cookie_named(&r, "kavach.two_factor").is_some());
    let to = r.headers()["location"].to_str().unwrap();
    assert!(to.contains("/two-factor?next=") && to.contains("oauth2%2Fdevice"), "{to}");
});
