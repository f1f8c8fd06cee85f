//! The email and password capability: sign-up, sign-in, verification, password change and reset, email change, account lockout, password rules.

use crate::*;

dual!(sign_up_sign_in_and_session_check, options(), |t| {
    let out = t.core.email_password().sign_up(sign_up("Ann@Example.com", PW), &ctx()).await.unwrap();
    assert_eq!(out.user.email, "ann@example.com");
    let s = out.session.expect("auto sign-in");
    let checked = t.core.sessions().check(&s.token).await.unwrap().unwrap();
    assert_eq!(checked.data.user.id, out.user.id);
    assert_eq!(checked.data.session.ip_address.as_deref(), Some("192.0.2.1"));
    let a = t.core.email_password().sign_in("ann@example.com", PW, &ctx()).await.unwrap().signed_in().unwrap();
    let b = t.core.email_password().sign_in("ANN@example.com", PW, &ctx()).await.unwrap().signed_in().unwrap();
    assert_ne!(a.session.token, b.session.token, "a new token at every sign-in");
    assert_ne!(a.session.token, s.token);
    assert!(t.core.sessions().check("not-a-token").await.unwrap().is_none());
    // Only the hash is stored.
    let stored = scalar_text(&t.db, &format!("SELECT token FROM kavach_session WHERE id = '{}'", a.session.session.id)).await.unwrap();
    assert_ne!(stored, a.session.token);
    assert_eq!(stored, kavach_core::crypto::token_hash(&a.session.token));
    // Argon2id PHC on the credential account.
    let pw =
        scalar_text(&t.db, &format!("SELECT password FROM kavach_account WHERE user_id = '{}' AND provider_id = 'credential'", out.user.id)).await.unwrap();
    assert!(pw.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{pw}");
});

dual!(sign_in_failures_look_the_same, options(), |t| {
    t.core.email_password().sign_up(sign_up("bob@example.com", PW), &ctx()).await.unwrap();
    let unknown = t.core.email_password().sign_in("nobody@example.com", PW, &ctx()).await.unwrap_err();
    let wrong = t.core.email_password().sign_in("bob@example.com", "wrong password here", &ctx()).await.unwrap_err();
    assert_eq!((unknown.kind, &unknown.code, &unknown.message), (wrong.kind, &wrong.code, &wrong.message));
    assert_eq!(wrong.code, "INVALID_EMAIL_OR_PASSWORD");
});

dual!(existing_user_sign_up_is_rejected_when_it_would_sign_in, options(), |t| {
    t.core.email_password().sign_up(sign_up("dup@example.com", PW), &ctx()).await.unwrap();
    let e = t.core.email_password().sign_up(sign_up("dup@example.com", PW), &ctx()).await.unwrap_err();
    assert_eq!(e.code, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
});

fn verifying() -> kavach_core::Options {
    let mut o = options();
    o.email_password.require_email_verification = true;
    o
}

dual!(sign_up_with_verification_does_not_enumerate, verifying(), |t| {
    let first = t.core.email_password().sign_up(sign_up("eve@example.com", PW), &ctx()).await.unwrap();
    let again = t.core.email_password().sign_up(sign_up("eve@example.com", "another strong passphrase"), &ctx()).await.unwrap();
    assert!(first.session.is_none() && again.session.is_none());
    assert_eq!((first.user.email.as_str(), first.user.email_verified), (again.user.email.as_str(), again.user.email_verified));
    assert_ne!(first.user.id, again.user.id, "the second answer names no real user");
    t.mail.wait_for("eve@example.com", "Verify your email").await;
    t.mail.wait_for("eve@example.com", "tried to sign up").await;
    // Not verified yet: the right password is refused with EMAIL_NOT_VERIFIED, a wrong one as usual.
    assert_eq!(t.core.email_password().sign_in("eve@example.com", PW, &ctx()).await.unwrap_err().code, "EMAIL_NOT_VERIFIED");
    assert_eq!(t.core.email_password().sign_in("eve@example.com", "nope nope nope", &ctx()).await.unwrap_err().code, "INVALID_EMAIL_OR_PASSWORD");
    let token = link_token(&t.mail.wait_for("eve@example.com", "Verify your email").await);
    let (user, session) = t.core.email_password().verify_email(&token, &ctx()).await.unwrap();
    assert!(user.email_verified && session.is_none());
    assert_eq!(t.core.email_password().verify_email(&token, &ctx()).await.unwrap_err().code, "INVALID_TOKEN", "single use");
    t.core.email_password().sign_in("eve@example.com", PW, &ctx()).await.unwrap();
});

dual!(
    verifying_a_banned_users_email_signs_nobody_in,
    {
        let mut o = verifying();
        o.email_password.auto_sign_in_after_verification = true;
        o
    },
    |t| {
        let up = t.core.email_password().sign_up(sign_up("banned@example.com", PW), &ctx()).await.unwrap();
        let token = link_token(&t.mail.wait_for("banned@example.com", "Verify your email").await);
        t.core.users().ban(&up.user.id, Some("spam"), None, &ctx()).await.unwrap();
        let (user, session) = t.core.email_password().verify_email(&token, &ctx()).await.unwrap();
        assert!(user.email_verified, "the address is verified");
        assert!(session.is_none(), "but no session is created for a banned user");
        // Unbanned, the same setting signs a user in.
        let up = t.core.email_password().sign_up(sign_up("fine@example.com", PW), &ctx()).await.unwrap();
        let token = link_token(&t.mail.wait_for("fine@example.com", "Verify your email").await);
        let (_, session) = t.core.email_password().verify_email(&token, &ctx()).await.unwrap();
        assert_eq!(session.map(|s| s.signed_in().unwrap().session.session.user_id), Some(up.user.id));
    }
);

dual!(resend_verification_is_uniform, verifying(), |t| {
    t.core.email_password().sign_up(sign_up("vic@example.com", PW), &ctx()).await.unwrap();
    t.mail.wait_for("vic@example.com", "Verify").await;
    t.core.email_password().send_verification_email("vic@example.com", None).await.unwrap();
    t.core.email_password().send_verification_email("unknown@example.com", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(t.mail.count_to("vic@example.com"), 2);
    assert_eq!(t.mail.count_to("unknown@example.com"), 0);
});

dual!(change_password_revokes_every_session, options(), |t| {
    let s = t.core.email_password().sign_up(sign_up("cp@example.com", PW), &ctx()).await.unwrap().session.unwrap();
    let other = t.core.email_password().sign_in("cp@example.com", PW, &ctx()).await.unwrap().signed_in().unwrap().session;
    let user = t.core.sessions().check(&s.token).await.unwrap().unwrap().data.user.clone();
    let e = t.core.email_password().change_password(&s.session, &user, "not my password", "brand new passphrase", false, &ctx()).await.unwrap_err();
    assert_eq!(e.code, "INVALID_PASSWORD");
    let e = t.core.email_password().change_password(&s.session, &user, PW, "1qaz2wsx3edc4rfv", false, &ctx()).await.unwrap_err();
    assert_eq!(e.code, "PASSWORD_TOO_COMMON", "{e}");
    let new = t.core.email_password().change_password(&s.session, &user, PW, "brand new passphrase", false, &ctx()).await.unwrap().expect("a new session");
    assert!(t.core.sessions().check(&s.token).await.unwrap().is_none());
    assert!(t.core.sessions().check(&other.token).await.unwrap().is_none());
    assert!(t.core.sessions().check(&new.token).await.unwrap().is_some());
    assert!(t.core.email_password().sign_in("cp@example.com", PW, &ctx()).await.is_err());
    t.core.email_password().sign_in("cp@example.com", "brand new passphrase", &ctx()).await.unwrap();
});

fn short_reset() -> kavach_core::Options {
    let mut o = options();
    o.email_password.reset_token_ttl = Duration::from_secs(1);
    o
}

dual!(password_reset_single_use_expiry_and_revocation, short_reset(), |t| {
    let s = t.core.email_password().sign_up(sign_up("rp@example.com", PW), &ctx()).await.unwrap().session.unwrap();
    t.core.email_password().request_password_reset("rp@example.com", None, &ctx()).await.unwrap();
    t.core.email_password().request_password_reset("ghost@example.com", None, &ctx()).await.unwrap();
    let token = reset_token(&t.mail.wait_for("rp@example.com", "Reset").await);
    assert!(t.core.email_password().reset_token_is_valid(&token).await.unwrap());
    assert_eq!(t.core.email_password().reset_password(&token, "short", &ctx()).await.unwrap_err().code, "PASSWORD_TOO_SHORT");
    t.core.email_password().reset_password(&token, "a fresh new passphrase", &ctx()).await.unwrap();
    assert!(t.core.sessions().check(&s.token).await.unwrap().is_none(), "all sessions revoked");
    assert_eq!(t.core.email_password().reset_password(&token, "another new passphrase", &ctx()).await.unwrap_err().code, "INVALID_TOKEN");
    t.core.email_password().sign_in("rp@example.com", "a fresh new passphrase", &ctx()).await.unwrap();
    assert_eq!(t.mail.count_to("ghost@example.com"), 0);
    // Expiry.
    t.core.email_password().request_password_reset("rp@example.com", None, &ctx()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mails: Vec<_> = t.mail.0.lock().unwrap().iter().filter(|e| e.to == "rp@example.com" && e.subject.contains("Reset")).cloned().collect();
    let token2 = reset_token(mails.last().unwrap());
    assert_ne!(token, token2);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(!t.core.email_password().reset_token_is_valid(&token2).await.unwrap());
    assert_eq!(t.core.email_password().reset_password(&token2, "yet another passphrase", &ctx()).await.unwrap_err().code, "INVALID_TOKEN");
});

dual!(change_email_needs_the_new_address_confirmed, options(), |t| {
    let s = t.core.email_password().sign_up(sign_up("old@example.com", PW), &ctx()).await.unwrap().session.unwrap();
    t.core.email_password().sign_up(sign_up("taken@example.com", PW), &ctx()).await.unwrap();
    let user = t.core.sessions().check(&s.token).await.unwrap().unwrap().data.user.clone();
    t.core.email_password().change_email(&user, &s.session, "taken@example.com", None, &ctx()).await.unwrap();
    t.core.email_password().change_email(&user, &s.session, "new@example.com", None, &ctx()).await.unwrap();
    let msg = t.mail.wait_for("new@example.com", "Confirm your new email").await;
    t.mail.wait_for("old@example.com", "being changed").await;
    assert_eq!(t.mail.count_to("taken@example.com"), 0, "no link to an address that is taken");
    assert_eq!(t.core.sessions().check(&s.token).await.unwrap().unwrap().data.user.email, "old@example.com");
    let (u, _) = t.core.email_password().verify_email(&link_token(&msg), &ctx()).await.unwrap();
    assert_eq!((u.email.as_str(), u.email_verified), ("new@example.com", true));
    assert_eq!(t.core.sessions().check(&s.token).await.unwrap().unwrap().data.user.email, "new@example.com", "cache invalidated");
    t.core.email_password().sign_in("new@example.com", PW, &ctx()).await.unwrap();
    assert!(t.core.email_password().sign_in("old@example.com", PW, &ctx()).await.is_err());
});

fn strict_accounts() -> kavach_core::Options {
    let mut o = options();
    o.rate_limit.account_failures = Rule { max: 3, window: Duration::from_secs(60) };
    o
}

dual!(account_lockout_is_shared_by_instances_and_reset_by_success, strict_accounts(), |t| {
    t.core.email_password().sign_up(sign_up("lock@example.com", PW), &ctx()).await.unwrap();
    // A second instance on the same database (on SQLite: a second process would share the file the same way).
    let other = core_on(&t.url, strict_accounts()).await;
    t.core.email_password().sign_in("lock@example.com", "wrong one 1", &ctx()).await.unwrap_err();
    other.core.email_password().sign_in("lock@example.com", "wrong one 2", &ctx()).await.unwrap_err();
    // A success resets the count.
    other.core.email_password().sign_in("lock@example.com", PW, &ctx()).await.unwrap();
    for i in 0..3 {
        let inst = if i % 2 == 0 { &t.core } else { &other.core };
        assert_eq!(inst.email_password().sign_in("lock@example.com", "wrong again", &ctx()).await.unwrap_err().code, "INVALID_EMAIL_OR_PASSWORD");
    }
    let e = other.core.email_password().sign_in("lock@example.com", PW, &ctx()).await.unwrap_err();
    assert_eq!(e.code, "TOO_MANY_REQUESTS", "even the right password is refused while locked");
    // Unknown accounts are throttled the same way (no enumeration through lockout).
    for _ in 0..3 {
        t.core.email_password().sign_in("nobody@example.com", "x-wrong-x", &ctx()).await.unwrap_err();
    }
    assert_eq!(t.core.email_password().sign_in("nobody@example.com", "x-wrong-x", &ctx()).await.unwrap_err().code, "TOO_MANY_REQUESTS");
    other.db.close().await;
});

dual!(legacy_argon2_parameters_are_rehashed_on_sign_in, options(), |t| {
    let u = t
        .core
        .users()
        .create(NewUser { email: "re@example.com".into(), name: "Re".into(), password: Some(PW.into()), email_verified: true, image: None }, &ctx())
        .await
        .unwrap();
    use argon2::password_hash::PasswordHasher;
    let weak = argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, argon2::Params::new(1024, 1, 1, None).unwrap());
    let old = weak.hash_password_with_salt(PW.as_bytes(), b"0123456789abcdef").unwrap().to_string();
    exec(&t.db, &format!("UPDATE kavach_account SET password = '{old}' WHERE user_id = '{}'", u.id)).await;
    t.core.email_password().sign_in("re@example.com", "wrong password", &ctx()).await.unwrap_err();
    assert_eq!(scalar_text(&t.db, &format!("SELECT password FROM kavach_account WHERE user_id = '{}'", u.id)).await.unwrap(), old, "no rehash on failure");
    t.core.email_password().sign_in("re@example.com", PW, &ctx()).await.unwrap();
    let now = scalar_text(&t.db, &format!("SELECT password FROM kavach_account WHERE user_id = '{}'", u.id)).await.unwrap();
    assert!(now.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{now}");
});

// Finding 8: one normalisation (NFKC) for new passwords; old hashes verify either way and
// are rehashed.
dual!(review_08_a_password_set_in_nfc_signs_in_when_typed_in_nfd, options(), |t| {
    use unicode_normalization::UnicodeNormalization;
    let nfc = "Crème brûlée à la façon de Noël";
    let nfd: String = nfc.nfd().collect();
    t.core.email_password().sign_up(sign_up("nfc@example.com", nfc), &ctx()).await.unwrap();
    t.core.email_password().sign_in("nfc@example.com", &nfd, &ctx()).await.expect("typed in NFD");
    t.core.email_password().sign_in("nfc@example.com", nfc, &ctx()).await.expect("typed in NFC");
    // A hash made before normalisation (of the NFD form): verifies typed in NFC, then is rehashed.
    let up = t.core.email_password().sign_up(sign_up("old-nfd@example.com", PW), &ctx()).await.unwrap();
    let old = kavach_core::password::hash_sync(&nfd);
    kavach_core::db!(&t.db, |pool| {
        sqlx::query("UPDATE kavach_account SET password = $1 WHERE user_id = $2").bind(&old).bind(&up.user.id).execute(pool).await.unwrap();
    });
    t.core.email_password().sign_in("old-nfd@example.com", nfc, &ctx()).await.expect("an NFD-era hash accepts the NFC form");
    let stored = scalar_text(&t.db, &format!("SELECT password FROM kavach_account WHERE user_id = '{}'", up.user.id)).await.unwrap();
    assert_ne!(stored, old, "rehashed");
    assert_eq!(kavach_core::password::verify_sync(&kavach_core::password::normalize(&nfd), &stored), kavach_core::password::Verified::Yes, "in NFKC");
});

// Finding 9: NIST SP 800-63B-4 at every place a password is set.
dual!(review_09_predictable_passwords_are_refused_everywhere, options(), |t| {
    let try_up = |email: &str, pw: &str| sign_up(email, pw);
    for (email, pw, code) in [
        ("nist1@example.com", "aaaaaaaa", "PASSWORD_TOO_SHORT"),
        ("nist2@example.com", "kavach123", "PASSWORD_TOO_SHORT"),
        ("nist3@example.com", "aaaaaaaaaaaaaaaa", "PASSWORD_TOO_PREDICTABLE"),
        ("nist4@example.com", "          x        ", "PASSWORD_TOO_PREDICTABLE"),
        ("nist5@example.com", "kavach123kavach123", "PASSWORD_TOO_PREDICTABLE"),
        ("jonathan.winters@example.com", "jonathanwinters99", "PASSWORD_TOO_PREDICTABLE"),
        ("nist7@example.com", "1qaz2wsx3edc4rfv", "PASSWORD_TOO_COMMON"),
    ] {
        let e = t.core.email_password().sign_up(try_up(email, pw), &ctx()).await.unwrap_err();
        assert_eq!(e.code, code, "{pw:?}: {}", e.message);
    }
    let up = t.core.email_password().sign_up(sign_up("nist8@example.com", PW), &ctx()).await.unwrap();
    let s = up.session.unwrap();
    let e = t.core.email_password().change_password(&s.session, &up.user, PW, "nist8nist8nist8nist8", false, &ctx()).await.unwrap_err();
    assert_eq!(e.code, "PASSWORD_TOO_PREDICTABLE", "the email's own local part");
    let e = t
        .core
        .users()
        .create(kavach_core::NewUser { email: "n9@example.com".into(), password: Some("abcdefghijklmnop".into()), ..Default::default() }, &ctx())
        .await
        .unwrap_err();
    assert_eq!(e.code, "PASSWORD_TOO_PREDICTABLE");
});

// Finding 7: every endpoint that sends mail counts messages per recipient address, whoever
// asks and whether or not the address has an account.
dual!(review_07_mail_to_one_address_is_limited_per_recipient, verifying(), |t| {
    let (limit, ext) = (t.core.options().rate_limit.per_recipient.max, "victim@example.com");
    t.core.email_password().sign_up(sign_up(ext, PW), &ctx()).await.unwrap();
    for _ in 1..limit {
        t.core.email_password().send_verification_email(ext, None).await.unwrap();
    }
    let e = t.core.email_password().send_verification_email(ext, None).await.unwrap_err();
    assert_eq!(e.code, "TOO_MANY_REQUESTS");
    assert_eq!(
        t.core.email_password().request_password_reset(ext, None, &ctx()).await.unwrap_err().code,
        "TOO_MANY_REQUESTS",
        "the same budget for every kind of mail"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(t.mail.count_to(ext) as u32, limit, "at most the limit reached the address");
    // Unknown addresses count the same (the answer tells nothing about the account).
    for _ in 0..limit {
        t.core.email_password().request_password_reset("nobody@example.com", None, &ctx()).await.unwrap();
    }
    assert_eq!(t.core.email_password().send_verification_email("nobody@example.com", None).await.unwrap_err().code, "TOO_MANY_REQUESTS");
});

// Finding 7: the same work for a registered unverified address and an unknown one.
dual!(review_07_send_verification_email_does_the_same_work_for_known_and_unknown_addresses, verifying(), |t| {
    t.core.email_password().sign_up(sign_up("unverified@example.com", PW), &ctx()).await.unwrap();
    let rows = || async { scalar_text(&t.db, "SELECT CAST(COUNT(*) AS TEXT) FROM kavach_verification").await.unwrap().parse::<i64>().unwrap() };
    let audit = || async { kavach_core::audit::page(&t.db, 0, 10_000).await.unwrap().len() };
    let (r0, a0) = (rows().await, audit().await);
    t.core.email_password().send_verification_email("unverified@example.com", None).await.unwrap();
    let (r1, a1) = (rows().await, audit().await);
    t.core.email_password().send_verification_email("unknown@example.com", None).await.unwrap();
    let (r2, a2) = (rows().await, audit().await);
    assert_eq!((r1 - r0, a1 - a0), (r2 - r1, a2 - a1), "one token row (dead on arrival for the unknown address) and the same audit writes");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(t.mail.count_to("unknown@example.com"), 0, "but no message to an address with no account");
});
