//! Google One Tap over HTTP: the keys come from a stand-in for Google's JWKS endpoint
//! (`one_tap.jwks_url`), the ID tokens are signed by its key; better-auth's client (with
//! `oneTapClient()`) posts them to `/one-tap/callback` as the plugin does once Google's
//! script has a credential; a user with two-factor on gets a pending sign-in, not a session.

use crate::NO_VERIFY;
use crate::harness::*;
use kavach_testkit::dual;
use kavach_testkit::idp::{Issuer, google_claims};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const CLIENT: &str = "1234-test.apps.googleusercontent.com";

/// Google's JWKS endpoint, played on a free port: its URL and how often it was fetched.
pub(crate) async fn google_keys(google: &Issuer) -> (String, Arc<AtomicUsize>) {
    let jwks = google.jwks();
    let hits = Arc::new(AtomicUsize::new(0));
    let count = hits.clone();
    let app = axum::Router::new().route(
        "/oauth2/v3/certs",
        axum::routing::get(move || {
            count.fetch_add(1, Ordering::SeqCst);
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth2/v3/certs", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

fn config(jwks_url: &str) -> String {
    let path = temp_dir().join("kavach.toml");
    std::fs::write(
        &path,
        format!("[one_tap]\nenabled = true\nclient_ids = [\"{CLIENT}\"]\njwks_url = \"{jwks_url}\"\n[two_factor]\nenabled = true\n[email_password]\nrequire_email_verification = false\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

dual!(better_auth_one_tap_client_works_against_kavach, |db| {
    let google = Issuer::default();
    let (url, hits) = google_keys(&google).await;
    let cfg = config(&url);
    let s = Server::start(db, &[("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    sign_up(&s, "held@example.com").await;
    let tokens = json!({
        "ok": google.sign(&google_claims(CLIENT, "g-1", "tap@gmail.com", true)),
        "otherClient": google.sign(&google_claims("other.apps.googleusercontent.com", "g-1", "tap@gmail.com", true)),
        "unverifiedHeld": google.sign(&google_claims(CLIENT, "g-2", "held@example.com", false)),
        "forged": Issuer::new("test-key").sign(&google_claims(CLIENT, "g-3", "forged@gmail.com", true)),
    });
    let out = better_auth_client(&s, "one-tap.mjs", &[("ID_TOKENS", &tokens.to_string())]);
    assert!(out.contains("one-tap: 7 checks passed"), "{out}");
    assert!(hits.load(Ordering::SeqCst) >= 1, "the keys came from the configured JWKS URL");
});

dual!(one_tap_for_a_totp_user_gives_a_pending_sign_in_not_a_session, |db| {
    let google = Issuer::default();
    let (url, _) = google_keys(&google).await;
    let cfg = config(&url);
    let s = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", &cfg)]);
    let cookie = sign_up(&s, "totp@gmail.com").await;
    let uri = totp_on(&s, &cookie).await;
    let token = google.sign(&google_claims(CLIENT, "g-totp", "totp@gmail.com", true));
    let r = post(&s, "/one-tap/callback", None, json!({ "idToken": token })).await;
    let session = pending_until_totp(&s, r, &uri).await;
    let (_, me) = json(get(&s, "/get-session", Some(&session)).await).await;
    assert_eq!((me["user"]["email"].as_str(), me["user"]["emailVerified"].as_bool()), (Some("totp@gmail.com"), Some(true)), "{me}");
});
