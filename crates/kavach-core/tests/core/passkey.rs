//! Passkeys: registered and used through webauthn-rs's ceremony checks with a software
//! authenticator (the browser run is the e2e test `passkey_browser`). Challenges single
//! use on every instance (they live in the database), the origin and RP id checked, user
//! verification required, a signature counter that goes back refused and audited, and a
//! passkey another user registered or holds is never theirs to use, rename or delete.

use crate::*;
use kavach_core::plugins::two_factor::SignInStep;
use kavach_testkit::authenticator::SoftAuthenticator;

const ORIGIN: &str = "http://localhost:3000";

fn on() -> kavach_core::Options {
    let mut o = options();
    o.passkey.enabled = true;
    o.two_factor.enabled = true;
    o.session.cache_ttl = Duration::ZERO;
    o
}

fn signed_in(step: SignInStep) -> kavach_core::SignedIn {
    match step {
        SignInStep::SignedIn(s) => s,
        SignInStep::TwoFactor(_) => panic!("a second factor was asked"),
    }
}

/// A signed-up user and their session.
struct U {
    user: kavach_core::User,
    session: kavach_core::sessions::Session,
}

async fn user(t: &kavach_testkit::T, email: &str) -> U {
    let up = t.core.email_password().sign_up(sign_up(email, PW), &ctx()).await.unwrap();
    U { user: up.user, session: up.session.expect("signed in").session }
}

/// Register `a` for the user of `s` from `origin`.
async fn register(t: &kavach_testkit::T, s: &U, a: &mut SoftAuthenticator, origin: &str) -> kavach_core::Result<kavach_core::plugins::passkey::Passkey> {
    let c = t.core.passkey().registration_options(&s.session, &s.user, Some("laptop")).await?;
    let answer = a.register(&c.options, origin);
    t.core.passkey().register(&s.session, &c.token, &answer, None, &ctx()).await
}

async fn sign_in(t: &kavach_testkit::T, a: &mut SoftAuthenticator, origin: &str) -> kavach_core::Result<SignInStep> {
    let c = t.core.passkey().authentication_options().await?;
    let answer = a.authenticate(&c.options, origin);
    t.core.passkey().authenticate(&c.token, &answer, &ctx()).await
}

dual!(passkey_registers_and_signs_in_usernameless_with_single_use_challenges, on(), |t| {
    let pat = user(&t, "pat@example.com").await;
    let mut a = SoftAuthenticator::new();
    let c = t.core.passkey().registration_options(&pat.session, &pat.user, Some("laptop")).await.unwrap();
    assert_eq!(c.options["rp"]["id"], "localhost");
    assert_eq!(c.options["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(c.options["authenticatorSelection"]["residentKey"], "preferred");
    let answer = a.register(&c.options, ORIGIN);
    let p = t.core.passkey().register(&pat.session, &c.token, &answer, None, &ctx()).await.unwrap();
    assert_eq!((p.name.as_deref(), p.device_type.as_str(), p.user_id.as_str()), (Some("laptop"), "singleDevice", pat.user.id.as_str()));
    // The same answer again: the challenge is gone (on every instance: it was a database row).
    let again = t.core.passkey().register(&pat.session, &c.token, &answer, None, &ctx()).await.unwrap_err();
    assert_eq!(again.code, "CHALLENGE_NOT_FOUND");

    let c = t.core.passkey().authentication_options().await.unwrap();
    assert!(c.options.get("allowCredentials").is_none_or(|v| v.as_array().is_some_and(|a| a.is_empty())), "usernameless: no credential named");
    let answer = a.authenticate(&c.options, ORIGIN);
    let s = signed_in(t.core.passkey().authenticate(&c.token, &answer, &ctx()).await.unwrap());
    assert_eq!(s.user.id, pat.user.id);
    let replay = t.core.passkey().authenticate(&c.token, &answer, &ctx()).await.unwrap_err();
    assert_eq!(replay.code, "CHALLENGE_NOT_FOUND");
    let listed = t.core.passkey().list(&pat.user.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].counter, 2, "the counter the authenticator reported is kept");
    assert!(listed[0].last_used_at.is_some());
    assert!(audit_kinds(t.core.db()).await.contains(&"passkey.added".to_owned()));
});

dual!(passkey_wrong_origin_and_wrong_rp_id_are_refused, on(), |t| {
    let pat = user(&t, "pat@example.com").await;
    // Registration: a page of another origin, an authenticator scoped to another RP id.
    let e = register(&t, &pat, &mut SoftAuthenticator::new(), "http://localhost:4000").await.unwrap_err();
    assert_eq!(e.code, "FAILED_TO_VERIFY_REGISTRATION");
    assert!(e.message.contains("InvalidRPOrigin"), "{}", e.message);
    let mut evil = SoftAuthenticator::new();
    evil.rp_id = Some("evil.example".into());
    let e = register(&t, &pat, &mut evil, ORIGIN).await.unwrap_err();
    assert!(e.message.contains("InvalidRPIDHash"), "{}", e.message);
    assert!(t.core.passkey().list(&pat.user.id).await.unwrap().is_empty(), "nothing half-registered");

    // Sign-in: the same refusals for a registered passkey.
    let mut a = SoftAuthenticator::new();
    register(&t, &pat, &mut a, ORIGIN).await.unwrap();
    let e = sign_in(&t, &mut a, "https://phish.example").await.unwrap_err();
    assert_eq!((e.code.as_ref(), e.message.contains("InvalidRPOrigin")), ("AUTHENTICATION_FAILED", true), "{}", e.message);
    a.rp_id = Some("evil.example".into());
    let e = sign_in(&t, &mut a, ORIGIN).await.unwrap_err();
    assert!(e.message.contains("InvalidRPIDHash"), "{}", e.message);
    a.rp_id = None;
    signed_in(sign_in(&t, &mut a, ORIGIN).await.unwrap());
});

dual!(passkey_without_user_verification_is_refused, on(), |t| {
    let pat = user(&t, "pat@example.com").await;
    let mut presence_only = SoftAuthenticator::new();
    presence_only.user_verified = false;
    let e = register(&t, &pat, &mut presence_only, ORIGIN).await.unwrap_err();
    assert!(e.message.contains("UserNotVerified"), "{}", e.message);
    let mut a = SoftAuthenticator::new();
    register(&t, &pat, &mut a, ORIGIN).await.unwrap();
    a.user_verified = false;
    let e = sign_in(&t, &mut a, ORIGIN).await.unwrap_err();
    assert_eq!(e.code, "AUTHENTICATION_FAILED");
    assert!(e.message.contains("UserNotVerified"), "{}", e.message);
});

dual!(passkey_counter_regression_is_refused_and_audited, on(), |t| {
    let pat = user(&t, "pat@example.com").await;
    let mut a = SoftAuthenticator::new();
    register(&t, &pat, &mut a, ORIGIN).await.unwrap();
    for _ in 0..3 {
        signed_in(sign_in(&t, &mut a, ORIGIN).await.unwrap());
    }
    // A clone of the authenticator, behind the original.
    a.counter = 1;
    let e = sign_in(&t, &mut a, ORIGIN).await.unwrap_err();
    assert_eq!(e.code, "AUTHENTICATION_FAILED");
    assert!(e.message.contains("counter"), "{}", e.message);
    assert!(audit_kinds(t.core.db()).await.contains(&"passkey.counter_regressed".to_owned()));
    assert_eq!(t.core.passkey().list(&pat.user.id).await.unwrap()[0].counter, 4, "the stored counter did not go back");
});

dual!(passkey_is_two_factors_a_totp_user_gets_a_session_a_banned_one_none, on(), |t| {
    let pat = user(&t, "pat@example.com").await;
    let mut a = SoftAuthenticator::new();
    register(&t, &pat, &mut a, ORIGIN).await.unwrap();
    exec(t.core.db(), "UPDATE kavach_user SET two_factor_enabled = TRUE").await;
    // The password alone: a pending sign-in. The passkey (possession and user verification): a session.
    let pw = t.core.email_password().sign_in("pat@example.com", PW, &ctx()).await.unwrap();
    assert!(matches!(pw, SignInStep::TwoFactor(_)));
    signed_in(sign_in(&t, &mut a, ORIGIN).await.unwrap());
    exec(t.core.db(), "UPDATE kavach_user SET banned = TRUE").await;
    assert_eq!(sign_in(&t, &mut a, ORIGIN).await.unwrap_err().code, "BANNED_USER");
});

dual!(passkey_belongs_to_its_user_only, on(), |t| {
    let pat = user(&t, "pat@example.com").await;
    let sam = user(&t, "sam@example.com").await;
    let mut a = SoftAuthenticator::new();
    let p = register(&t, &pat, &mut a, ORIGIN).await.unwrap();
    // Sam cannot finish Pat's ceremony, nor register Pat's credential again.
    let c = t.core.passkey().registration_options(&pat.session, &pat.user, None).await.unwrap();
    let answer = SoftAuthenticator::new().register(&c.options, ORIGIN);
    assert_eq!(t.core.passkey().register(&sam.session, &c.token, &answer, None, &ctx()).await.unwrap_err().code, "CHALLENGE_NOT_FOUND");
    let c = t.core.passkey().registration_options(&sam.session, &sam.user, None).await.unwrap();
    let mut same = SoftAuthenticator::new();
    same.credential_id = a.credential_id.clone();
    let answer = same.register(&c.options, ORIGIN);
    assert_eq!(t.core.passkey().register(&sam.session, &c.token, &answer, None, &ctx()).await.unwrap_err().code, "PREVIOUSLY_REGISTERED");
    // An answer claiming Sam's user handle for Pat's passkey.
    a.user_handle = Some(kavach_core::plugins::passkey::user_handle(&sam.user.id).as_bytes().to_vec());
    assert_eq!(sign_in(&t, &mut a, ORIGIN).await.unwrap_err().code, "AUTHENTICATION_FAILED");
    // An unknown credential.
    let mut stranger = SoftAuthenticator::new();
    stranger.user_handle = Some(vec![7; 16]);
    assert_eq!(sign_in(&t, &mut stranger, ORIGIN).await.unwrap_err().code, "PASSKEY_NOT_FOUND");
    // Sam cannot rename or delete it; Pat can.
    assert_eq!(t.core.passkey().rename(&sam.user.id, &p.id, "mine", &ctx()).await.unwrap_err().code, "PASSKEY_NOT_FOUND");
    assert_eq!(t.core.passkey().delete(&sam.session, &p.id, &ctx()).await.unwrap_err().code, "PASSKEY_NOT_FOUND");
    assert_eq!(t.core.passkey().rename(&pat.user.id, &p.id, "  ", &ctx()).await.unwrap_err().code, "INVALID_PASSKEY_NAME");
    assert_eq!(t.core.passkey().rename(&pat.user.id, &p.id, "phone", &ctx()).await.unwrap().name.as_deref(), Some("phone"));
    t.core.passkey().delete(&pat.session, &p.id, &ctx()).await.unwrap();
    assert!(t.core.passkey().list(&pat.user.id).await.unwrap().is_empty());
    assert_eq!(sign_in(&t, &mut a, ORIGIN).await.unwrap_err().code, "PASSKEY_NOT_FOUND");
});

dual!(passkey_registration_needs_a_fresh_session, on(), |t| {
    let pat = user(&t, "pat@example.com").await;
    let mut stale = pat.session.clone();
    // Two days old: past `session.fresh_age` (one day) whatever the clock does meanwhile.
    stale.created_at = kavach_core::store::Ts(stale.created_at.0 - 2 * 86_400 * 1000);
    let e = t.core.passkey().registration_options(&stale, &pat.user, None).await.unwrap_err();
    assert_eq!(e.code, "SESSION_NOT_FRESH");
});
