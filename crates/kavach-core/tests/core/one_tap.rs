//! Google One Tap: ID tokens verified against the provider's keys (signature, issuer,
//! audience, expiry, issue time, Workspace domain, nonce), account rules as for social
//! sign-in (an address Google has not verified never links to an existing account; a
//! verified one proves an unproven account and ends what its squatter set up), and
//! two-factor enforced.

use crate::two_factor::{code, secret_of};
use crate::*;
use kavach_core::Core;
use kavach_core::jwt::Claims;
use kavach_core::plugins::one_tap::{IdTokenKeys, KeyError, VerifyFuture};
use kavach_core::plugins::two_factor::{Caller, Proof, SignInStep};
use kavach_testkit::idp::{Issuer, google_claims};
use serde_json::json;
use std::sync::Arc;

const CLIENT: &str = "1234-test.apps.googleusercontent.com";

/// Google's key set, without HTTP.
struct Static(serde_json::Value);

impl IdTokenKeys for Static {
    fn verify<'a>(&'a self, token: &'a str, leeway: i64) -> VerifyFuture<'a> {
        let out: Result<(serde_json::Value, Claims), KeyError> = kavach_core::jwt::verify(token, &self.0, leeway).map_err(KeyError::Invalid);
        Box::pin(async move { out })
    }
}

fn on() -> kavach_core::Options {
    let mut o = options();
    o.one_tap.enabled = true;
    o.one_tap.client_ids = vec![CLIENT.into()];
    o.two_factor.enabled = true;
    o.session.cache_ttl = Duration::ZERO;
    o
}

/// A core on `t`'s database whose One Tap trusts `google`'s key.
fn with_google(t: &kavach_testkit::T, o: kavach_core::Options, google: &Issuer) -> Core {
    Core::new(t.db.clone(), o, Arc::new(t.mail.clone()), kavach_core::email::Templates::load(None).unwrap(), None)
        .unwrap()
        .with_one_tap_keys(Arc::new(Static(google.jwks())))
}

fn signed_in(step: SignInStep) -> kavach_core::SignedIn {
    match step {
        SignInStep::SignedIn(s) => s,
        SignInStep::TwoFactor(_) => panic!("a second factor was asked"),
    }
}

async fn users(db: &kavach_core::store::Db) -> i64 {
    kavach_core::db!(db, |pool| { sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM kavach_user").fetch_one(pool).await.unwrap() })
}

dual!(one_tap_id_tokens_are_verified_signature_issuer_audience_and_times, options(), |t| {
    let google = Issuer::default();
    let core = with_google(&t, on(), &google);
    let good = google_claims(CLIENT, "g-1", "ann@gmail.com", true);
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let now = good["iat"].as_i64().unwrap();
    let cases = [
        (Issuer::new("test-key").sign(&good), "a key Google does not have (same kid)"),
        (google.sign(&with("iss", json!("https://evil.example"))), "another issuer"),
        (google.sign(&with("aud", json!("someone-else.apps.googleusercontent.com"))), "another client"),
        (google.sign(&with("exp", json!(now - 120))), "expired"),
        (google.sign(&with("iat", json!(now + 600))), "issued in the future"),
        (google.sign(&with("sub", json!(""))), "no subject"),
        ("not.a.token".to_owned(), "malformed"),
    ];
    for (token, why) in cases {
        assert_eq!(core.one_tap().sign_in(&token, &ctx()).await.unwrap_err().code, "INVALID_ID_TOKEN", "{why}");
    }
    assert_eq!(users(&t.db).await, 0, "nothing created by a refused token");
    let out = core.one_tap().sign_in(&google.sign(&good), &ctx()).await.unwrap();
    assert!(out.new_user);
    let s = signed_in(out.step);
    assert_eq!((s.user.email.as_str(), s.user.email_verified, s.user.name.as_str()), ("ann@gmail.com", true, "Google User"));
    // The same Google account again: the same user, even with another address in the token.
    let again = core.one_tap().sign_in(&google.sign(&with("email", json!("ann.new@gmail.com"))), &ctx()).await.unwrap();
    assert_eq!((signed_in(again.step).user.id, again.new_user), (s.user.id, false));
});

dual!(one_tap_never_links_an_address_google_has_not_verified, options(), |t| {
    let google = Issuer::default();
    let core = with_google(&t, on(), &google);
    let alice = core
        .users()
        .create(NewUser { email: "alice@example.com".into(), name: "Alice".into(), password: Some(PW.into()), email_verified: true, image: None }, &ctx())
        .await
        .unwrap();
    let unverified = google.sign(&google_claims(CLIENT, "g-attacker", "alice@example.com", false));
    assert_eq!(core.one_tap().sign_in(&unverified, &ctx()).await.unwrap_err().code, "ACCOUNT_NOT_LINKED");
    assert!(!audit_kinds(&t.db).await.contains(&"account.linked".to_owned()));
    // Google vouches for the address: the account is linked and signs Alice in.
    let verified = google.sign(&google_claims(CLIENT, "g-alice", "alice@example.com", true));
    let out = core.one_tap().sign_in(&verified, &ctx()).await.unwrap();
    assert_eq!((signed_in(out.step).user.id, out.new_user), (alice.id.clone(), false));
    assert!(audit_kinds(&t.db).await.contains(&"account.linked".to_owned()));
    // A new address Google has not verified makes a new, unverified user.
    let stranger = core.one_tap().sign_in(&google.sign(&google_claims(CLIENT, "g-2", "new@example.com", false)), &ctx()).await.unwrap();
    assert!(!signed_in(stranger.step).user.email_verified);
});

dual!(a_verified_google_address_proves_an_unproven_account_and_ends_the_squatters_password_and_sessions, options(), |t| {
    let google = Issuer::default();
    let core = with_google(&t, on(), &google);
    let up = core.email_password().sign_up(sign_up("victim@example.com", PW), &ctx()).await.unwrap();
    let squatter = up.session.expect("signed in without verification");
    let out = core.one_tap().sign_in(&google.sign(&google_claims(CLIENT, "g-victim", "victim@example.com", true)), &ctx()).await.unwrap();
    let s = signed_in(out.step);
    assert!(s.user.email_verified && s.user.id == up.user.id);
    assert!(core.sessions().check(&squatter.token).await.unwrap().is_none(), "the squatter's session ended");
    assert_eq!(core.email_password().sign_in("victim@example.com", PW, &ctx()).await.unwrap_err().code, "INVALID_EMAIL_OR_PASSWORD", "and their password");
});

dual!(one_tap_nonces_are_single_use_and_required_when_configured_and_sign_up_can_be_off, options(), |t| {
    let google = Issuer::default();
    let mut o = on();
    o.one_tap.require_nonce = true;
    o.one_tap.hosted_domains = vec!["acme.example".into()];
    let core = with_google(&t, o.clone(), &google);
    let mut claims = google_claims(CLIENT, "g-3", "bo@acme.example", true);
    claims["hd"] = json!("acme.example");
    assert_eq!(core.one_tap().sign_in(&google.sign(&claims), &ctx()).await.unwrap_err().code, "INVALID_ID_TOKEN", "no nonce");
    claims["nonce"] = json!("made-up");
    assert_eq!(core.one_tap().sign_in(&google.sign(&claims), &ctx()).await.unwrap_err().code, "INVALID_ID_TOKEN", "a nonce not issued here");
    claims["nonce"] = json!(core.one_tap().nonce().await.unwrap());
    let token = google.sign(&claims);
    core.one_tap().sign_in(&token, &ctx()).await.unwrap();
    assert_eq!(core.one_tap().sign_in(&token, &ctx()).await.unwrap_err().code, "INVALID_ID_TOKEN", "a replayed token");
    // Another Workspace domain.
    claims["hd"] = json!("other.example");
    claims["nonce"] = json!(core.one_tap().nonce().await.unwrap());
    assert_eq!(core.one_tap().sign_in(&google.sign(&claims), &ctx()).await.unwrap_err().code, "INVALID_ID_TOKEN");
    // Sign-up off: an unknown Google account gets nothing.
    o.one_tap.allow_sign_up = false;
    o.one_tap.require_nonce = false;
    o.one_tap.hosted_domains = vec![];
    let core = with_google(&t, o, &google);
    let token = google.sign(&google_claims(CLIENT, "g-4", "cy@example.com", true));
    assert_eq!(core.one_tap().sign_in(&token, &ctx()).await.unwrap_err().code, "SIGN_UP_DISABLED");
});

dual!(totp_on_a_google_user_leaves_a_one_tap_sign_in_pending_until_the_second_factor, options(), |t| {
    let google = Issuer::default();
    let core = with_google(&t, on(), &google);
    let token = || google.sign(&google_claims(CLIENT, "g-5", "dee@gmail.com", true));
    let s = signed_in(core.one_tap().sign_in(&token(), &ctx()).await.unwrap().step);
    let out = core.two_factor().enable(&s.user, &s.session.session, None, "totp", None, &ctx()).await.unwrap();
    let secret = secret_of(out.totp_uri.as_deref().unwrap());
    core.two_factor().verify(Caller::Session(&s.user), Proof::Totp(&code(&secret, -1)), false, &ctx()).await.unwrap();
    let SignInStep::TwoFactor(p) = core.one_tap().sign_in(&token(), &ctx()).await.unwrap().step else {
        panic!("a Google ID token alone signed in a user with TOTP on")
    };
    assert!(core.two_factor().verify(Caller::Pending(&p.token), Proof::Totp(&code(&secret, 0)), false, &ctx()).await.unwrap().session.is_some());
});
