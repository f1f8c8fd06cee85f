//! Two-factor authentication: enforced at every first factor, TOTP codes good once,
//! attempts limited per pending sign-in and per account, backup codes single use, secrets
//! sealed and codes hashed at rest, trusted devices revocable. Named after what they rule
//! out (research/kavachos.md §5, §11: 2FA never enforced, OTPs as unsalted hashes).

use crate::*;
use kavach_core::plugins::two_factor::{Caller, Pending, Proof, SignInStep, Totp, totp};
use kavach_core::{NewSession, User};

fn on() -> kavach_core::Options {
    let mut o = options();
    o.two_factor.enabled = true;
    o.session.cache_ttl = Duration::ZERO;
    o
}

async fn user_with_session(t: &kavach_testkit::T, email: &str) -> (User, NewSession) {
    let new = NewUser { email: email.into(), name: "N".into(), password: Some(PW.into()), email_verified: true, image: None };
    let u = t.core.users().create(new, &ctx()).await.unwrap();
    let s = t.core.sessions().create(&u.id, &ctx(), kavach_core::audit::EventKind::SignInSuccess).await.unwrap();
    (u, s)
}

/// The secret in an `otpauth://` URI.
pub(crate) fn secret_of(uri: &str) -> Vec<u8> {
    let s = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    totp::base32_decode(s).unwrap()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The code of the step `offset` steps from now.
pub(crate) fn code(secret: &[u8], offset: i64) -> String {
    let t = Totp { digits: 6, period: 30, skew: 1 };
    t.code_at(secret, (now_secs() as i64 + offset * 30) as u64)
}

/// A user with TOTP set up and confirmed (with the code of the previous step, so the
/// current and next steps stay usable); their secret and backup codes.
async fn with_totp(t: &kavach_testkit::T, email: &str) -> (User, Vec<u8>, Vec<String>) {
    let (u, s) = user_with_session(t, email).await;
    let tf = t.core.two_factor();
    let out = tf.enable(&u, &s.session, Some(PW), "totp", None, &ctx()).await.unwrap();
    let secret = secret_of(out.totp_uri.as_deref().unwrap());
    let v = tf.verify(Caller::Session(&u), Proof::Totp(&code(&secret, -1)), false, &ctx()).await.unwrap();
    assert!(v.user.two_factor_enabled && v.session.is_none());
    (v.user, secret, out.backup_codes)
}

async fn pending(t: &kavach_testkit::T, email: &str) -> Pending {
    match t.core.email_password().sign_in(email, PW, &ctx()).await.unwrap() {
        SignInStep::TwoFactor(p) => p,
        SignInStep::SignedIn(_) => panic!("a user with two-factor on got a session from the password alone"),
    }
}

async fn sessions_of(t: &kavach_testkit::T, user_id: &str) -> i64 {
    kavach_core::db!(t.core.db(), |pool| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM kavach_session WHERE user_id = $1").bind(user_id).fetch_one(pool).await.unwrap()
    })
}

dual!(totp_setup_needs_the_password_and_is_on_only_after_a_first_code, on(), |t| {
    let (u, s) = user_with_session(&t, "setup@example.com").await;
    let tf = t.core.two_factor();
    let e = tf.enable(&u, &s.session, Some("not the password"), "totp", None, &ctx()).await.unwrap_err();
    assert_eq!(e.code, "INVALID_PASSWORD");
    assert_eq!(tf.enable(&u, &s.session, None, "totp", None, &ctx()).await.unwrap_err().code, "INVALID_PASSWORD");
    let out = tf.enable(&u, &s.session, Some(PW), "totp", Some("Acme"), &ctx()).await.unwrap();
    let uri = out.totp_uri.unwrap();
    assert!(uri.starts_with("otpauth://totp/Acme:setup%40example.com?secret="), "{uri}");
    assert_eq!(out.backup_codes.len(), 10);
    assert!(out.backup_codes.iter().all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'));
    // Not on until the app proves it has the secret: the password alone still signs in.
    assert!(matches!(t.core.email_password().sign_in("setup@example.com", PW, &ctx()).await.unwrap(), SignInStep::SignedIn(_)));
    let secret = secret_of(&uri);
    let wrong = tf.verify(Caller::Session(&u), Proof::Totp("000000"), false, &ctx()).await;
    assert!(wrong.is_err() || code(&secret, 0) == "000000");
    tf.verify(Caller::Session(&u), Proof::Totp(&code(&secret, 0)), false, &ctx()).await.unwrap();
    assert!(matches!(t.core.email_password().sign_in("setup@example.com", PW, &ctx()).await.unwrap(), SignInStep::TwoFactor(_)));
    // Confirmed: a second enable is refused rather than replacing the secret.
    assert_eq!(tf.enable(&u, &s.session, Some(PW), "totp", None, &ctx()).await.unwrap_err().code, "TOTP_ALREADY_ENABLED");
    assert!(audit_kinds(t.core.db()).await.contains(&"two_factor.enabled".to_owned()));
});

dual!(kavachos_2fa_never_enforced_the_password_alone_gives_no_session, on(), |t| {
    let (u, secret, _) = with_totp(&t, "enforced@example.com").await;
    let before = sessions_of(&t, &u.id).await;
    let p = pending(&t, "enforced@example.com").await;
    assert_eq!(p.methods, vec!["totp", "otp"]);
    assert_eq!(sessions_of(&t, &u.id).await, before, "no session before the second factor");
    // Callers that cannot ask for a second factor get a refusal, not a session.
    let step = t.core.email_password().sign_in("enforced@example.com", PW, &ctx()).await.unwrap();
    assert_eq!(step.signed_in().unwrap_err().code, "TWO_FACTOR_REQUIRED");
    let v = t.core.two_factor().verify(Caller::Pending(&p.token), Proof::Totp(&code(&secret, 0)), false, &ctx()).await.unwrap();
    let s = v.session.unwrap();
    assert!(t.core.sessions().check(&s.token).await.unwrap().is_some());
    // The pending sign-in is used once.
    let again = t.core.two_factor().verify(Caller::Pending(&p.token), Proof::Totp(&code(&secret, 1)), false, &ctx()).await.unwrap_err();
    assert_eq!(again.code, "INVALID_TWO_FACTOR_COOKIE");
    assert_eq!(
        t.core.two_factor().verify(Caller::Pending("forged"), Proof::Totp("123456"), false, &ctx()).await.unwrap_err().code,
        "INVALID_TWO_FACTOR_COOKIE"
    );
});

dual!(a_replayed_totp_code_is_refused, on(), |t| {
    let (_, secret, _) = with_totp(&t, "replay@example.com").await;
    let c = code(&secret, 0);
    let p = pending(&t, "replay@example.com").await;
    t.core.two_factor().verify(Caller::Pending(&p.token), Proof::Totp(&c), false, &ctx()).await.unwrap();
    let p = pending(&t, "replay@example.com").await;
    let e = t.core.two_factor().verify(Caller::Pending(&p.token), Proof::Totp(&c), false, &ctx()).await.unwrap_err();
    assert_eq!(e.code, "INVALID_CODE", "the same code in the same step is refused");
    // A code of an earlier step than the last accepted one too.
    let e = t.core.two_factor().verify(Caller::Pending(&p.token), Proof::Totp(&code(&secret, -1)), false, &ctx()).await.unwrap_err();
    assert_eq!(e.code, "INVALID_CODE");
    t.core.two_factor().verify(Caller::Pending(&p.token), Proof::Totp(&code(&secret, 1)), false, &ctx()).await.unwrap();
});

dual!(
    attempts_are_limited_per_pending_sign_in_and_per_account,
    {
        let mut o = on();
        o.two_factor.max_attempts = 3;
        o.two_factor.account_failures = 5;
        o
    },
    |t| {
        let (_, secret, _) = with_totp(&t, "guess@example.com").await;
        let tf = t.core.two_factor();
        let wrong = if code(&secret, 0) == "111111" { "222222" } else { "111111" };
        let p = pending(&t, "guess@example.com").await;
        for _ in 0..3 {
            assert_eq!(tf.verify(Caller::Pending(&p.token), Proof::Totp(wrong), false, &ctx()).await.unwrap_err().code, "INVALID_CODE");
        }
        let e = tf.verify(Caller::Pending(&p.token), Proof::Totp(&code(&secret, 0)), false, &ctx()).await.unwrap_err();
        assert_eq!(e.code, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE", "even the right code, once the attempts are spent");
        assert_eq!(tf.verify(Caller::Pending(&p.token), Proof::Totp(&code(&secret, 0)), false, &ctx()).await.unwrap_err().code, "INVALID_TWO_FACTOR_COOKIE");
        // Across pending sign-ins, the account's count goes on: locked at 5.
        let p = pending(&t, "guess@example.com").await;
        for _ in 0..2 {
            tf.verify(Caller::Pending(&p.token), Proof::BackupCode("aaaaa-aaaaa"), false, &ctx()).await.unwrap_err();
        }
        let e = tf.verify(Caller::Pending(&p.token), Proof::Totp(&code(&secret, 0)), false, &ctx()).await.unwrap_err();
        assert_eq!(e.code, "ACCOUNT_TEMPORARILY_LOCKED");
        assert!(matches!(e.kind, kavach_core::Kind::TooManyRequests { retry_after_secs } if retry_after_secs > 0));
        let failures = audit_kinds(t.core.db()).await.iter().filter(|k| *k == "two_factor.failed").count();
        assert_eq!(failures, 5);
    }
);

dual!(
    parallel_guesses_cannot_exceed_the_attempts_of_a_pending_sign_in,
    {
        let mut o = on();
        o.two_factor.max_attempts = 3;
        o.two_factor.account_failures = 1000;
        o
    },
    |t| {
        let (_, secret, _) = with_totp(&t, "race@example.com").await;
        let wrong = if code(&secret, 0) == "111111" { "222222" } else { "111111" };
        let p = pending(&t, "race@example.com").await;
        let core = t.core.clone();
        let mut tasks = vec![];
        for _ in 0..12 {
            let (core, token) = (core.clone(), p.token.clone());
            let wrong = wrong.to_owned();
            tasks.push(tokio::spawn(
                async move { core.two_factor().verify(Caller::Pending(&token), Proof::Totp(&wrong), false, &ctx()).await.unwrap_err().code },
            ));
        }
        let mut invalid = 0;
        for task in tasks {
            if task.await.unwrap() == "INVALID_CODE" {
                invalid += 1;
            }
        }
        assert_eq!(invalid, 3, "exactly max_attempts codes were checked");
    }
);

dual!(backup_codes_are_single_use_hashed_at_rest_and_regenerable, on(), |t| {
    let (u, _, codes) = with_totp(&t, "backup@example.com").await;
    let stored = scalar_text(t.core.db(), &format!("SELECT backup_codes FROM kavach_two_factor WHERE user_id = '{}'", u.id)).await.unwrap();
    assert!(codes.iter().all(|c| !stored.contains(c.as_str())), "codes are stored as keyed hashes");
    let tf = t.core.two_factor();
    let p = pending(&t, "backup@example.com").await;
    assert!(tf.verify(Caller::Pending(&p.token), Proof::BackupCode(&codes[0]), false, &ctx()).await.unwrap().session.is_some());
    let p = pending(&t, "backup@example.com").await;
    assert_eq!(tf.verify(Caller::Pending(&p.token), Proof::BackupCode(&codes[0]), false, &ctx()).await.unwrap_err().code, "INVALID_BACKUP_CODE");
    // New codes need the password, and the old ones die with them.
    let s = t.core.sessions().create(&u.id, &ctx(), kavach_core::audit::EventKind::SignInSuccess).await.unwrap();
    assert_eq!(tf.generate_backup_codes(&u, &s.session, Some("wrong"), &ctx()).await.unwrap_err().code, "INVALID_PASSWORD");
    let fresh = tf.generate_backup_codes(&u, &s.session, Some(PW), &ctx()).await.unwrap();
    assert_eq!(tf.verify(Caller::Pending(&p.token), Proof::BackupCode(&codes[1]), false, &ctx()).await.unwrap_err().code, "INVALID_BACKUP_CODE");
    assert!(tf.verify(Caller::Pending(&p.token), Proof::BackupCode(&fresh[0]), false, &ctx()).await.unwrap().session.is_some());
});

dual!(the_totp_secret_is_sealed_at_rest, on(), |t| {
    let (u, secret, _) = with_totp(&t, "sealed@example.com").await;
    let stored = scalar_text(t.core.db(), &format!("SELECT secret FROM kavach_two_factor WHERE user_id = '{}'", u.id)).await.unwrap();
    assert!(!stored.contains(&totp::base32_encode(&secret)));
    assert!(!stored.as_bytes().windows(secret.len()).any(|w| w == secret.as_slice()));
    // Another server secret cannot open it: the code does not verify there.
    let uri = t
        .core
        .two_factor()
        .totp_uri(&u, &t.core.sessions().create(&u.id, &ctx(), kavach_core::audit::EventKind::SignInSuccess).await.unwrap().session, Some(PW))
        .await
        .unwrap();
    assert_eq!(secret_of(&uri), secret);
});

dual!(kavachos_otp_unsalted_hash_emailed_codes_are_keyed_hashes_single_use_and_expire, on(), |t| {
    let (u, s) = user_with_session(&t, "otp@example.com").await;
    let tf = t.core.two_factor();
    assert_eq!(tf.enable(&u, &s.session, Some(PW), "otp", None, &ctx()).await.unwrap().method, "otp");
    let p = pending(&t, "otp@example.com").await;
    assert_eq!(p.methods, vec!["otp"]);
    assert_eq!(tf.verify(Caller::Pending(&p.token), Proof::Otp("123456"), false, &ctx()).await.unwrap_err().code, "INVALID_CODE");
    tf.send_otp(&p.token).await.unwrap();
    let mail = t.mail.wait_for("otp@example.com", "sign-in code").await;
    let code: String = mail.subject.rsplit(' ').next().unwrap().to_owned();
    assert_eq!(code.len(), 6);
    let stored = scalar_text(t.core.db(), "SELECT otp_hash FROM kavach_two_factor_challenge").await.unwrap();
    assert!(!stored.contains(&code) && stored != kavach_core::crypto::sha256_hex(code.as_bytes()), "keyed with the server secret, not a bare hash");
    let v = tf.verify(Caller::Pending(&p.token), Proof::Otp(&code), true, &ctx()).await.unwrap();
    assert!(v.session.is_some() && v.trusted_device.is_some());
    // Expired codes are refused.
    let p = pending(&t, "otp@example.com").await;
    tf.send_otp(&p.token).await.unwrap();
    exec(t.core.db(), "UPDATE kavach_two_factor_challenge SET otp_expires_at = created_at").await;
    assert_eq!(tf.verify(Caller::Pending(&p.token), Proof::Otp("000000"), false, &ctx()).await.unwrap_err().code, "OTP_HAS_EXPIRED");
});

dual!(a_trusted_device_skips_the_second_factor_until_two_factor_is_disabled_or_the_password_reset, on(), |t| {
    let (u, secret, _) = with_totp(&t, "trust@example.com").await;
    let p = pending(&t, "trust@example.com").await;
    let v = t.core.two_factor().verify(Caller::Pending(&p.token), Proof::Totp(&code(&secret, 0)), true, &ctx()).await.unwrap();
    let device = v.trusted_device.unwrap();
    let from_device = RequestContext { trusted_device: Some(device.clone()), ..ctx() };
    assert!(matches!(t.core.email_password().sign_in("trust@example.com", PW, &from_device).await.unwrap(), SignInStep::SignedIn(_)));
    // Another user's device token counts for nobody else.
    let (_, other_secret, _) = with_totp(&t, "other@example.com").await;
    let _ = other_secret;
    assert!(matches!(t.core.email_password().sign_in("other@example.com", PW, &from_device).await.unwrap(), SignInStep::TwoFactor(_)));
    // A password reset forgets the device.
    t.core.email_password().request_password_reset("trust@example.com", None, &ctx()).await.unwrap();
    let token = reset_token(&t.mail.wait_for("trust@example.com", "Reset").await);
    t.core.email_password().reset_password(&token, "a new passphrase entirely", &ctx()).await.unwrap();
    assert!(matches!(t.core.email_password().sign_in("trust@example.com", "a new passphrase entirely", &from_device).await.unwrap(), SignInStep::TwoFactor(_)));
    let _ = u;
});

dual!(disabling_needs_the_password_and_forgets_secret_codes_and_devices, on(), |t| {
    let (u, _, _) = with_totp(&t, "off@example.com").await;
    let s = t.core.sessions().create(&u.id, &ctx(), kavach_core::audit::EventKind::SignInSuccess).await.unwrap();
    let tf = t.core.two_factor();
    assert_eq!(tf.disable(&u, &s.session, Some("wrong"), &ctx()).await.unwrap_err().code, "INVALID_PASSWORD");
    tf.disable(&u, &s.session, Some(PW), &ctx()).await.unwrap();
    assert!(matches!(t.core.email_password().sign_in("off@example.com", PW, &ctx()).await.unwrap(), SignInStep::SignedIn(_)));
    assert!(scalar_text(t.core.db(), &format!("SELECT secret FROM kavach_two_factor WHERE user_id = '{}'", u.id)).await.is_none());
    assert!(audit_kinds(t.core.db()).await.contains(&"two_factor.disabled".to_owned()));
});

dual!(
    an_email_link_sign_in_is_pending_for_a_user_with_two_factor,
    {
        let mut o = on();
        o.email_password.auto_sign_in_after_verification = true;
        o
    },
    |t| {
        let (u, _, _) = with_totp(&t, "link@example.com").await;
        let s = t.core.sessions().create(&u.id, &ctx(), kavach_core::audit::EventKind::SignInSuccess).await.unwrap();
        t.core.email_password().change_email(&u, &s.session, "link2@example.com", None, &ctx()).await.unwrap();
        let token = link_token(&t.mail.wait_for("link2@example.com", "").await);
        let (_, step) = t.core.email_password().verify_email(&token, &ctx()).await.unwrap();
        assert!(matches!(step, Some(SignInStep::TwoFactor(_))), "a link is a first factor only");
    }
);

dual!(switched_off_the_capability_refuses_its_calls, options(), |t| {
    let (u, s) = user_with_session(&t, "nope@example.com").await;
    assert_eq!(t.core.two_factor().enable(&u, &s.session, Some(PW), "totp", None, &ctx()).await.unwrap_err().code, "TWO_FACTOR_DISABLED");
});
