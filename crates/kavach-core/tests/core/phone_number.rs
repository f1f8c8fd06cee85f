//! Phone numbers: codes stored as keyed hashes and limited (research/kavachos.md §11:
//! phone OTPs stored as unsalted SHA-256), single use, sign-up on verification only when
//! allowed, password sign-in only for a proven number, attaching a number needs its code
//! and refuses a number another account has, reset ends every session, and a code is one
//! factor (two-factor still applies).

use crate::*;
use kavach_core::plugins::phone_number::VerifyRequest;
use kavach_core::plugins::two_factor::SignInStep;

const PHONE: &str = "+14155550123";

fn on() -> kavach_core::Options {
    let mut o = options();
    o.phone_number.enabled = true;
    o.phone_number.sign_up_on_verification = true;
    o.session.cache_ttl = Duration::ZERO;
    o
}

fn req(code: &str) -> VerifyRequest {
    VerifyRequest { phone_number: "+1 (415) 555-0123".into(), code: code.into(), disable_session: false }
}

/// Ask for a verification code and read message `n` to the number.
async fn code(t: &kavach_testkit::T, n: usize) -> String {
    t.core.phone_number().send_otp(PHONE).await.unwrap();
    t.sms.code(PHONE, n).await
}

dual!(kavachos_unsalted_phone_otp_codes_are_keyed_single_use_and_sign_up_on_verification, on(), |t| {
    let c = code(&t, 1).await;
    assert_eq!(c.len(), 6);
    let stored = scalar_text(t.core.db(), "SELECT code_hash FROM kavach_otp WHERE purpose = 'phone:verify'").await.unwrap();
    assert!(!stored.contains(&c) && stored != kavach_core::crypto::sha256_hex(c.as_bytes()));
    let v = t.core.phone_number().verify(&req(&c), &ctx()).await.unwrap();
    assert_eq!(v.user.phone_number.as_deref(), Some(PHONE));
    assert!(v.user.phone_number_verified);
    assert!(v.user.email.ends_with("@phone.placeholder.invalid"), "{}", v.user.email);
    assert!(matches!(v.step, Some(SignInStep::SignedIn(_))));
    assert_eq!(t.core.phone_number().verify(&req(&c), &ctx()).await.unwrap_err().code, "INVALID_OTP", "used once");
    assert!(audit_kinds(t.core.db()).await.contains(&"user.created".to_owned()));
});

dual!(
    without_sign_up_on_verification_an_unknown_number_is_refused,
    {
        let mut o = on();
        o.phone_number.sign_up_on_verification = false;
        o
    },
    |t| {
        let c = code(&t, 1).await;
        assert_eq!(t.core.phone_number().verify(&req(&c), &ctx()).await.unwrap_err().code, "PHONE_NUMBER_NOT_EXIST");
    }
);

dual!(wrong_codes_are_limited_and_bad_numbers_refused, on(), |t| {
    for bad in ["4155550123", "+0123", "not a number"] {
        assert_eq!(t.core.phone_number().send_otp(bad).await.unwrap_err().code, "INVALID_PHONE_NUMBER", "{bad}");
    }
    let c = code(&t, 1).await;
    let wrong = if c == "000000" { "111111" } else { "000000" };
    for _ in 0..2 {
        assert_eq!(t.core.phone_number().verify(&req(wrong), &ctx()).await.unwrap_err().code, "INVALID_OTP");
    }
    assert_eq!(t.core.phone_number().verify(&req(wrong), &ctx()).await.unwrap_err().code, "TOO_MANY_ATTEMPTS");
    assert_eq!(t.core.phone_number().verify(&req(&c), &ctx()).await.unwrap_err().code, "TOO_MANY_ATTEMPTS");
});

dual!(attaching_a_number_needs_its_code_and_one_account_per_number, on(), |t| {
    let a = t.core.email_password().sign_up(sign_up("a@example.com", PW), &ctx()).await.unwrap();
    let b = t.core.email_password().sign_up(sign_up("b@example.com", PW), &ctx()).await.unwrap();
    assert_eq!(t.core.phone_number().update(&a.user, PHONE, "123456", &ctx()).await.unwrap_err().code, "INVALID_OTP");
    let c = code(&t, 1).await;
    let u = t.core.phone_number().update(&a.user, PHONE, &c, &ctx()).await.unwrap();
    assert_eq!((u.phone_number.as_deref(), u.phone_number_verified), (Some(PHONE), true));
    let c = code(&t, 2).await;
    assert_eq!(t.core.phone_number().update(&b.user, PHONE, &c, &ctx()).await.unwrap_err().code, "PHONE_NUMBER_EXIST");
    // The number now signs `a` in with the password.
    let SignInStep::SignedIn(s) = t.core.phone_number().sign_in(PHONE, PW, &ctx()).await.unwrap() else { panic!() };
    assert_eq!(s.user.id, a.user.id);
    assert_eq!(t.core.phone_number().sign_in(PHONE, "wrong password!!", &ctx()).await.unwrap_err().code, "INVALID_PHONE_NUMBER_OR_PASSWORD");
    assert_eq!(t.core.phone_number().sign_in("+14155550999", PW, &ctx()).await.unwrap_err().code, "INVALID_PHONE_NUMBER_OR_PASSWORD");
});

dual!(an_unproven_number_gets_a_code_not_a_session, on(), |t| {
    let a = t.core.email_password().sign_up(sign_up("a@example.com", PW), &ctx()).await.unwrap();
    exec(t.core.db(), &format!("UPDATE kavach_user SET phone_number = '{PHONE}' WHERE id = '{}'", a.user.id)).await;
    assert_eq!(t.core.phone_number().sign_in(PHONE, PW, &ctx()).await.unwrap_err().code, "PHONE_NUMBER_NOT_VERIFIED");
    let c = t.sms.code(PHONE, 1).await;
    let v = t.core.phone_number().verify(&VerifyRequest { disable_session: true, ..req(&c) }, &ctx()).await.unwrap();
    assert!(v.step.is_none() && v.user.phone_number_verified);
    t.core.phone_number().sign_in(PHONE, PW, &ctx()).await.unwrap();
});

dual!(a_reset_code_sets_the_password_and_ends_every_session, on(), |t| {
    let c = code(&t, 1).await;
    let v = t.core.phone_number().verify(&req(&c), &ctx()).await.unwrap();
    let Some(SignInStep::SignedIn(s)) = v.step else { panic!() };
    // An unknown number gets nothing, and the same answer.
    t.core.phone_number().request_password_reset("+14155550999").await.unwrap();
    t.core.phone_number().request_password_reset(PHONE).await.unwrap();
    let c = t.sms.code(PHONE, 2).await;
    t.core.phone_number().reset_password(PHONE, &c, "a brand new passphrase 42", &ctx()).await.unwrap();
    assert!(t.core.sessions().check(&s.session.token).await.unwrap().is_none());
    t.core.phone_number().sign_in(PHONE, "a brand new passphrase 42", &ctx()).await.unwrap();
    assert_eq!(t.sms.count_to("+14155550999"), 0);
    assert_eq!(t.core.phone_number().reset_password(PHONE, &c, "another passphrase 43", &ctx()).await.unwrap_err().code, "INVALID_OTP");
});

dual!(
    a_user_with_two_factor_gets_only_a_pending_sign_in_from_a_phone_code,
    {
        let mut o = on();
        o.two_factor.enabled = true;
        o
    },
    |t| {
        let c = code(&t, 1).await;
        t.core.phone_number().verify(&VerifyRequest { disable_session: true, ..req(&c) }, &ctx()).await.unwrap();
        exec(t.core.db(), "UPDATE kavach_user SET two_factor_enabled = TRUE").await;
        let c = code(&t, 2).await;
        let v = t.core.phone_number().verify(&req(&c), &ctx()).await.unwrap();
        assert!(matches!(v.step, Some(SignInStep::TwoFactor(_))), "no session before the second factor");
    }
);
