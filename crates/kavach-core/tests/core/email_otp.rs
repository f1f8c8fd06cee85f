//! Codes by email: stored as keyed hashes (research/kavachos.md §11: OTPs stored as
//! unsalted SHA-256 of six digits), attempts limited per code and per address across
//! codes (KavachOS: sending again reset the counter), counted atomically (KavachOS:
//! read-modify-write attempt counters), single use, an unproven account's password and
//! sessions end when a code proves the address, and a sign-in code is a first factor
//! only (two-factor still applies).

use crate::*;
use kavach_core::plugins::email_otp::{OtpSignIn, OtpType};
use kavach_core::plugins::two_factor::SignInStep;

fn on() -> kavach_core::Options {
    let mut o = options();
    o.email_otp.enabled = true;
    o.email_otp.change_email = true;
    o.session.cache_ttl = Duration::ZERO;
    o
}

/// Ask for a code of `kind` for `email` and read it from the message.
async fn code(t: &kavach_testkit::T, email: &str, kind: OtpType, subject: &str) -> String {
    let before = t.mail.count_to(email);
    t.core.email_otp().send(email, kind, &ctx()).await.unwrap();
    for _ in 0..200 {
        if t.mail.count_to(email) > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mail = t.mail.wait_for(email, subject).await;
    mail.subject.rsplit(' ').next().unwrap().to_owned()
}

fn sign_in_req(email: &str, otp: &str) -> OtpSignIn {
    OtpSignIn { email: email.into(), otp: otp.into(), ..Default::default() }
}

dual!(kavachos_unsalted_otp_hash_codes_are_stored_keyed_and_work_once, on(), |t| {
    let c = code(&t, "new@example.com", OtpType::SignIn, "sign-in code").await;
    assert_eq!(c.len(), 6);
    assert!(c.chars().all(|ch| ch.is_ascii_digit()));
    let stored = scalar_text(t.core.db(), "SELECT code_hash FROM kavach_otp").await.unwrap();
    assert!(!stored.contains(&c), "the code is not stored");
    assert_ne!(stored, kavach_core::crypto::sha256_hex(c.as_bytes()), "keyed with the server secret, not a bare hash");
    let (step, new) = t.core.email_otp().sign_in(&sign_in_req("New@Example.com", &c), &ctx()).await.unwrap();
    assert!(new, "sign-up allowed: the account is created");
    let SignInStep::SignedIn(s) = step else { panic!("no second factor") };
    assert!(s.user.email_verified);
    assert_eq!(t.core.email_otp().sign_in(&sign_in_req("new@example.com", &c), &ctx()).await.unwrap_err().code, "INVALID_OTP", "used once");
});

fn unlimited_mail() -> kavach_core::Options {
    let mut o = on();
    // The per-recipient email limit would stop the new codes first; the code limits stay.
    o.rate_limit.enabled = false;
    o
}

dual!(kavachos_resend_resets_attempts_wrong_codes_are_limited_per_code_and_per_address, unlimited_mail(), |t| {
    let ep = t.core.email_otp();
    let c = code(&t, "guess@example.com", OtpType::SignIn, "sign-in code").await;
    let wrong = if c == "000000" { "111111" } else { "000000" };
    for _ in 0..2 {
        assert_eq!(ep.sign_in(&sign_in_req("guess@example.com", wrong), &ctx()).await.unwrap_err().code, "INVALID_OTP");
    }
    assert_eq!(ep.sign_in(&sign_in_req("guess@example.com", wrong), &ctx()).await.unwrap_err().code, "TOO_MANY_ATTEMPTS", "the third wrong code kills it");
    assert_eq!(ep.sign_in(&sign_in_req("guess@example.com", &c), &ctx()).await.unwrap_err().code, "TOO_MANY_ATTEMPTS", "even the right code is refused now");
    // New codes reset the per-code count, but not the per-address one: 10 wrong codes in all.
    let mut failures = 3;
    while failures < 10 {
        let c = code(&t, "guess@example.com", OtpType::SignIn, "sign-in code").await;
        let wrong = if c == "000000" { "111111" } else { "000000" };
        ep.sign_in(&sign_in_req("guess@example.com", wrong), &ctx()).await.unwrap_err();
        failures += 1;
    }
    let c = code(&t, "guess@example.com", OtpType::SignIn, "sign-in code").await;
    assert_eq!(ep.sign_in(&sign_in_req("guess@example.com", &c), &ctx()).await.unwrap_err().code, "TOO_MANY_ATTEMPTS", "the address is locked out");
});

dual!(kavachos_read_modify_write_attempts_concurrent_guesses_each_use_an_attempt, on(), |t| {
    let c = code(&t, "race@example.com", OtpType::SignIn, "sign-in code").await;
    let wrong = if c == "000000" { "111111" } else { "000000" };
    let core = &t.core;
    let guesses = (0..8).map(|_| async move { core.email_otp().sign_in(&sign_in_req("race@example.com", wrong), &ctx()).await.unwrap_err().code });
    let codes = futures_util::future::join_all(guesses).await;
    let invalid = codes.iter().filter(|c| *c == "INVALID_OTP").count();
    assert!(invalid <= 2, "at most allowed_attempts - 1 wrong guesses are compared: {codes:?}");
    assert_eq!(core.email_otp().sign_in(&sign_in_req("race@example.com", &c), &ctx()).await.unwrap_err().code, "TOO_MANY_ATTEMPTS");
    // Concurrent uses of the right code: exactly one signs in.
    let c = code(&t, "race2@example.com", OtpType::SignIn, "sign-in code").await;
    let uses = (0..6).map(|_| {
        let c = c.clone();
        async move { core.email_otp().sign_in(&sign_in_req("race2@example.com", &c), &ctx()).await.is_ok() }
    });
    let ok = futures_util::future::join_all(uses).await.into_iter().filter(|ok| *ok).count();
    assert_eq!(ok, 1);
});

dual!(
    expired_codes_are_refused,
    {
        let mut o = on();
        o.email_otp.expires_in = Duration::from_secs(1);
        o
    },
    |t| {
        let c = code(&t, "late@example.com", OtpType::SignIn, "sign-in code").await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(t.core.email_otp().sign_in(&sign_in_req("late@example.com", &c), &ctx()).await.unwrap_err().code, "OTP_EXPIRED");
    }
);

dual!(a_code_proves_an_unverified_address_and_ends_the_password_and_sessions_set_without_proof, on(), |t| {
    let up = t.core.email_password().sign_up(sign_up("victim@example.com", PW), &ctx()).await.unwrap();
    let squatter = up.session.expect("signed in without verification");
    let c = code(&t, "victim@example.com", OtpType::SignIn, "sign-in code").await;
    let (step, new) = t.core.email_otp().sign_in(&sign_in_req("victim@example.com", &c), &ctx()).await.unwrap();
    assert!(!new);
    assert!(t.core.sessions().check(&squatter.token).await.unwrap().is_none(), "the squatter's session ended");
    assert_eq!(t.core.email_password().sign_in("victim@example.com", PW, &ctx()).await.unwrap_err().code, "INVALID_EMAIL_OR_PASSWORD", "and their password");
    let SignInStep::SignedIn(s) = step else { panic!() };
    assert!(s.user.email_verified);
});

dual!(
    without_sign_up_unknown_addresses_get_no_code_and_the_same_answer,
    {
        let mut o = on();
        o.email_otp.allow_sign_up = false;
        o
    },
    |t| {
        for kind in [OtpType::SignIn, OtpType::EmailVerification, OtpType::ForgetPassword] {
            t.core.email_otp().send("nobody@example.com", kind, &ctx()).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(t.mail.count_to("nobody@example.com"), 0);
        assert_eq!(t.core.email_otp().sign_in(&sign_in_req("nobody@example.com", "123456"), &ctx()).await.unwrap_err().code, "INVALID_OTP");
    }
);

dual!(verify_email_check_and_the_banned, on(), |t| {
    let up = t.core.email_password().sign_up(sign_up("verify@example.com", PW), &ctx()).await.unwrap();
    assert!(!up.user.email_verified);
    let c = code(&t, "verify@example.com", OtpType::EmailVerification, "Verify your").await;
    // A check does not use the code.
    t.core.email_otp().check("verify@example.com", OtpType::EmailVerification, &c).await.unwrap();
    t.core.email_otp().check("verify@example.com", OtpType::EmailVerification, &c).await.unwrap();
    let v = t.core.email_otp().verify_email("verify@example.com", &c, &ctx()).await.unwrap();
    assert!(v.user.email_verified);
    assert!(v.step.is_none(), "auto sign-in after verification is off by default");
    assert!(audit_kinds(t.core.db()).await.contains(&"email.verified".to_owned()));
    assert_eq!(t.core.email_otp().verify_email("verify@example.com", &c, &ctx()).await.unwrap_err().code, "INVALID_OTP");
    // The password set at sign-up still works: verifying your own address is not a takeover.
    t.core.email_password().sign_in("verify@example.com", PW, &ctx()).await.unwrap();

    let new = NewUser { email: "banned@example.com".into(), name: "B".into(), password: None, email_verified: true, image: None };
    let u = t.core.users().create(new, &ctx()).await.unwrap();
    t.core.users().ban(&u.id, None, None, &ctx()).await.unwrap();
    let c = code(&t, "banned@example.com", OtpType::SignIn, "sign-in code").await;
    assert_eq!(t.core.email_otp().sign_in(&sign_in_req("banned@example.com", &c), &ctx()).await.unwrap_err().code, "BANNED_USER");
});

dual!(a_reset_code_sets_the_password_and_ends_every_session, on(), |t| {
    let up = t.core.email_password().sign_up(sign_up("reset@example.com", PW), &ctx()).await.unwrap();
    let old = up.session.unwrap();
    let c = code(&t, "reset@example.com", OtpType::ForgetPassword, "password reset code").await;
    assert_eq!(t.core.email_otp().reset_password("reset@example.com", &c, "short", &ctx()).await.unwrap_err().code, "PASSWORD_TOO_SHORT");
    t.core.email_otp().reset_password("reset@example.com", &c, "a brand new passphrase 42", &ctx()).await.unwrap();
    assert!(t.core.sessions().check(&old.token).await.unwrap().is_none());
    let SignInStep::SignedIn(s) = t.core.email_password().sign_in("reset@example.com", "a brand new passphrase 42", &ctx()).await.unwrap() else { panic!() };
    assert!(s.user.email_verified, "the code proved the address");
    assert_eq!(t.core.email_otp().reset_password("reset@example.com", &c, "another new passphrase 43", &ctx()).await.unwrap_err().code, "INVALID_OTP");
});

dual!(email_change_needs_a_fresh_session_and_the_code_sent_to_the_new_address, on(), |t| {
    let up = t.core.email_password().sign_up(sign_up("old@example.com", PW), &ctx()).await.unwrap();
    let session = up.session.unwrap().session;
    let eo = t.core.email_otp();
    assert_eq!(eo.request_email_change(&up.user, &session, "old@example.com", None, &ctx()).await.unwrap_err().code, "EMAIL_IS_THE_SAME");
    eo.request_email_change(&up.user, &session, "new@example.com", None, &ctx()).await.unwrap();
    let mail = t.mail.wait_for("new@example.com", "Confirm your new").await;
    let c = mail.subject.rsplit(' ').next().unwrap().to_owned();
    // The code belongs to this user: nobody else can use it for the address.
    let other = t.core.email_password().sign_up(sign_up("other@example.com", PW), &ctx()).await.unwrap();
    let other_session = other.session.unwrap().session;
    assert_eq!(eo.change_email(&other.user, &other_session, "new@example.com", &c, &ctx()).await.unwrap_err().code, "INVALID_OTP");
    let u = eo.change_email(&up.user, &session, "new@example.com", &c, &ctx()).await.unwrap();
    assert_eq!(u.email, "new@example.com");
    assert!(u.email_verified);
});

dual!(
    a_session_older_than_fresh_age_cannot_change_the_email,
    {
        let mut o = on();
        o.session.fresh_age = Duration::ZERO;
        o
    },
    |t| {
        let up = t.core.email_password().sign_up(sign_up("stale@example.com", PW), &ctx()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let session = up.session.unwrap().session;
        let eo = t.core.email_otp();
        assert_eq!(eo.request_email_change(&up.user, &session, "newer@example.com", None, &ctx()).await.unwrap_err().code, "SESSION_NOT_FRESH");
        assert_eq!(eo.change_email(&up.user, &session, "newer@example.com", "123456", &ctx()).await.unwrap_err().code, "SESSION_NOT_FRESH");
    }
);

dual!(a_user_with_two_factor_gets_only_a_pending_sign_in_from_an_email_code, two_factor_on(), |t| {
    t.core.email_password().sign_up(sign_up("tf@example.com", PW), &ctx()).await.unwrap();
    exec(t.core.db(), "UPDATE kavach_user SET two_factor_enabled = TRUE, email_verified = TRUE").await;
    let c = code(&t, "tf@example.com", OtpType::SignIn, "sign-in code").await;
    let (step, _) = t.core.email_otp().sign_in(&sign_in_req("tf@example.com", &c), &ctx()).await.unwrap();
    assert!(matches!(step, SignInStep::TwoFactor(_)), "no session before the second factor");
});

fn two_factor_on() -> kavach_core::Options {
    let mut o = on();
    o.two_factor.enabled = true;
    o
}

// Group commit (verification::SingleUse): codes and links used at the same moment are
// consumed together (several statements: one transaction), each for its own request.
dual!(group_commit_codes_and_links_used_at_once_each_sign_in_once, on_with_links(), |t| {
    let mut codes = Vec::new();
    for i in 0..4 {
        let email = format!("mixed{i}@example.com");
        codes.push((email.clone(), code(&t, &email, OtpType::SignIn, "sign-in code").await));
    }
    t.core
        .magic_link()
        .send(&kavach_core::plugins::magic_link::LinkRequest { email: "mixedlink@example.com".into(), ..Default::default() }, &ctx())
        .await
        .unwrap();
    let token = link_token(&t.mail.wait_for("mixedlink@example.com", "Sign in to").await);
    let (eo, ml, c) = (t.core.email_otp(), t.core.magic_link(), ctx());
    // Each code twice and the link twice, all at once: each signs in exactly once.
    let reqs: Vec<OtpSignIn> = codes.iter().chain(codes.iter()).map(|(e, c)| sign_in_req(e, c)).collect();
    let uses = futures_util::future::join_all(reqs.iter().map(|r| eo.sign_in(r, &c)));
    let links = futures_util::future::join_all([ml.verify(&token, None, &c), ml.verify(&token, None, &c)]);
    let (uses, links) = tokio::join!(uses, links);
    for (email, _) in &codes {
        let ok = reqs.iter().zip(&uses).filter(|(r, u)| &r.email == email && u.is_ok()).count();
        assert_eq!(ok, 1, "{email}: {uses:?}", uses = uses.iter().map(|u| u.as_ref().map(|_| ()).map_err(|e| e.code.clone())).collect::<Vec<_>>());
    }
    assert_eq!(links.iter().filter(|l| l.is_ok()).count(), 1);
});

fn on_with_links() -> kavach_core::Options {
    let mut o = on();
    o.magic_link.enabled = true;
    o
}
