//! Core behaviour on SQLite and PostgreSQL. One integration-test binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, clippy::string_slice, reason = "tests")]

mod harness;
mod oauth;

use harness::{core_on, link_token, options, reset_token};
use kavach_core::plugins::email_password::SignUp;
use kavach_core::ratelimit::Rule;
use kavach_core::store::Db;
use kavach_core::{NewUser, RequestContext};
use std::time::Duration;

fn ctx() -> RequestContext {
    RequestContext { ip: Some("192.0.2.1".parse().unwrap()), user_agent: Some("test".into()) }
}

fn sign_up(email: &str, password: &str) -> SignUp {
    SignUp { email: email.into(), password: password.into(), name: "Test".into(), ..Default::default() }
}

const PW: &str = "correct horse battery staple";

async fn exec(db: &Db, sql: &str) {
    kavach_core::db!(db, |pool| {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(pool).await.unwrap();
    });
}

async fn scalar_text(db: &Db, sql: &str) -> Option<String> {
    kavach_core::db!(db, |pool| { sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_optional(pool).await.unwrap() })
}

dual!(migrations_are_idempotent_and_safe_concurrently, options(), |t| {
    assert!(t.db.migrate().await.unwrap().is_empty(), "second run applies nothing");
    let (a, b) = (Db::connect(&t.url).await.unwrap(), Db::connect(&t.url).await.unwrap());
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    assert!(ra.unwrap().is_empty() && rb.unwrap().is_empty());
    let n = scalar_text(&t.db, "SELECT CAST(COUNT(*) AS TEXT) FROM kavach_migration").await.unwrap();
    assert_eq!(n, kavach_core::store::MIGRATIONS_SQLITE.len().to_string());
});

mod fresh_migrations {
    use kavach_core::store::Db;
    use kavach_core::testkit::TestDb;

    async fn race(url: &str) {
        let (a, b) = (Db::connect(url).await.unwrap(), Db::connect(url).await.unwrap());
        let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.len() + rb.len(), kavach_core::store::MIGRATIONS_SQLITE.len(), "each migration applied exactly once: {ra:?} {rb:?}");
        a.close().await;
        b.close().await;
    }

    #[tokio::test]
    async fn two_instances_starting_at_once_sqlite() {
        let db = TestDb::sqlite().await;
        race(&db.url).await;
        db.drop_db().await;
    }

    #[tokio::test]
    async fn two_instances_starting_at_once_postgres() {
        if let Some(db) = TestDb::postgres().await {
            race(&db.url).await;
            db.drop_db().await;
        }
    }
}

dual!(sign_up_sign_in_and_session_check, options(), |t| {
    let out = t.core.email_password().sign_up(sign_up("Ann@Example.com", PW), &ctx()).await.unwrap();
    assert_eq!(out.user.email, "ann@example.com");
    let s = out.session.expect("auto sign-in");
    let checked = t.core.sessions().check(&s.token).await.unwrap().unwrap();
    assert_eq!(checked.data.user.id, out.user.id);
    assert_eq!(checked.data.session.ip_address.as_deref(), Some("192.0.2.1"));
    let a = t.core.email_password().sign_in("ann@example.com", PW, &ctx()).await.unwrap();
    let b = t.core.email_password().sign_in("ANN@example.com", PW, &ctx()).await.unwrap();
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
        assert_eq!(session.map(|s| s.session.user_id), Some(up.user.id));
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

dual!(revocation_is_immediate_despite_the_cache, options(), |t| {
    let a = t.core.email_password().sign_up(sign_up("rev@example.com", PW), &ctx()).await.unwrap().session.unwrap();
    let b = t.core.email_password().sign_in("rev@example.com", PW, &ctx()).await.unwrap().session;
    let c = t.core.email_password().sign_in("rev@example.com", PW, &ctx()).await.unwrap().session;
    for s in [&a, &b, &c] {
        assert!(t.core.sessions().check(&s.token).await.unwrap().is_some());
    }
    let uid = a.session.user_id.clone();
    assert_eq!(t.core.sessions().list(&uid).await.unwrap().len(), 3);
    // Revoke by the public handle from list-sessions.
    assert!(t.core.sessions().revoke(&uid, &b.session.token, &ctx()).await.unwrap());
    assert!(t.core.sessions().check(&b.token).await.unwrap().is_none());
    assert!(!t.core.sessions().revoke("someone-else", &c.session.token, &ctx()).await.unwrap(), "only your own sessions");
    assert_eq!(t.core.sessions().revoke_others(&a.session, &ctx()).await.unwrap(), 1);
    assert!(t.core.sessions().check(&c.token).await.unwrap().is_none());
    assert!(t.core.sessions().check(&a.token).await.unwrap().is_some());
    t.core.sessions().revoke_user(&uid, &ctx()).await.unwrap();
    assert!(t.core.sessions().check(&a.token).await.unwrap().is_none());
});

fn short_sessions() -> kavach_core::Options {
    let mut o = options();
    o.session.expires_in = Duration::from_secs(3600);
    o.session.update_age = Duration::ZERO;
    o.session.absolute_lifetime = Duration::from_secs(2);
    o.session.cache_ttl = Duration::ZERO;
    o
}

dual!(sliding_expiry_and_absolute_lifetime, short_sessions(), |t| {
    let s = t.core.email_password().sign_up(sign_up("slide@example.com", PW), &ctx()).await.unwrap().session.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let c = t.core.sessions().check(&s.token).await.unwrap().unwrap();
    // Renewed, but never past the absolute lifetime.
    assert!(c.data.session.expires_at <= s.session.created_at.plus_secs(2));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(t.core.sessions().check(&s.token).await.unwrap().is_none(), "absolute lifetime reached");
});

fn renewing() -> kavach_core::Options {
    let mut o = options();
    o.session.update_age = Duration::ZERO;
    o
}

dual!(sliding_expiry_moves_forward, renewing(), |t| {
    let s = t.core.email_password().sign_up(sign_up("slide2@example.com", PW), &ctx()).await.unwrap().session.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let c = t.core.sessions().check(&s.token).await.unwrap().unwrap();
    assert!(c.renewed && c.data.session.expires_at > s.session.expires_at);
});

dual!(change_password_revokes_every_session, options(), |t| {
    let s = t.core.email_password().sign_up(sign_up("cp@example.com", PW), &ctx()).await.unwrap().session.unwrap();
    let other = t.core.email_password().sign_in("cp@example.com", PW, &ctx()).await.unwrap().session;
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
    t.core.email_password().change_email(&user, "taken@example.com", None, &ctx()).await.unwrap();
    t.core.email_password().change_email(&user, "new@example.com", None, &ctx()).await.unwrap();
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

fn stale_sessions() -> kavach_core::Options {
    let mut o = options();
    o.session.fresh_age = Duration::ZERO;
    o
}

dual!(delete_user_needs_password_or_fresh_session, stale_sessions(), |t| {
    let s = t.core.email_password().sign_up(sign_up("del@example.com", PW), &ctx()).await.unwrap().session.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(t.core.users().delete_self(&s.session, None, &ctx()).await.unwrap_err().code, "SESSION_NOT_FRESH");
    assert_eq!(t.core.users().delete_self(&s.session, Some("wrong password!"), &ctx()).await.unwrap_err().code, "INVALID_PASSWORD");
    t.core.users().delete_self(&s.session, Some(PW), &ctx()).await.unwrap();
    assert!(t.core.sessions().check(&s.token).await.unwrap().is_none());
    assert!(t.core.users().get_by_email("del@example.com").await.unwrap().is_none());
    assert_eq!(scalar_text(&t.db, "SELECT CAST(COUNT(*) AS TEXT) FROM kavach_account").await.unwrap(), "0", "accounts cascade");
});

dual!(update_user_is_visible_through_the_cache, options(), |t| {
    let s = t.core.email_password().sign_up(sign_up("up@example.com", PW), &ctx()).await.unwrap().session.unwrap();
    assert!(t.core.sessions().check(&s.token).await.unwrap().is_some());
    t.core.users().update(&s.session.user_id, Some("New Name"), Some(Some("https://img.example.com/a.png")), &ctx()).await.unwrap();
    let u = t.core.sessions().check(&s.token).await.unwrap().unwrap().data.user.clone();
    assert_eq!((u.name.as_str(), u.image.as_deref()), ("New Name", Some("https://img.example.com/a.png")));
    t.core.users().update(&s.session.user_id, None, Some(None), &ctx()).await.unwrap();
    assert_eq!(t.core.sessions().check(&s.token).await.unwrap().unwrap().data.user.image, None);
    assert_eq!(t.core.users().update(&s.session.user_id, Some("bad\u{7}name"), None, &ctx()).await.unwrap_err().code, "INVALID_NAME");
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

dual!(rate_limiter_counts_atomically, options(), |t| {
    let rule = Rule { max: 50, window: Duration::from_secs(60) };
    let mut handles = Vec::new();
    for _ in 0..60 {
        let l = t.core.limiter().clone();
        handles.push(tokio::spawn(async move { l.hit("k", rule).await.unwrap() }));
    }
    let mut allowed = 0;
    for h in handles {
        if h.await.unwrap().allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 50, "exactly max hits allowed under concurrency");
    let d = t.core.limiter().peek("k", rule).await.unwrap();
    assert!(!d.allowed && d.count == 60 && d.retry_after_secs >= 1);
    t.core.limiter().reset("k").await.unwrap();
    assert!(t.core.limiter().peek("k", rule).await.unwrap().allowed);
    let short = Rule { max: 1, window: Duration::from_millis(300) };
    assert!(t.core.limiter().hit("w", short).await.unwrap().allowed);
    assert!(!t.core.limiter().hit("w", short).await.unwrap().allowed);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(t.core.limiter().hit("w", short).await.unwrap().allowed, "new window");
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

dual!(users_admin_operations, options(), |t| {
    let mk = |e: &str| NewUser { email: e.into(), name: "N".into(), password: Some(PW.into()), email_verified: false, image: None };
    let a = t.core.users().create(mk("a@example.com"), &ctx()).await.unwrap();
    t.core.users().create(mk("b@example.com"), &ctx()).await.unwrap();
    assert_eq!(t.core.users().create(mk("A@example.com"), &ctx()).await.unwrap_err().code, "USER_ALREADY_EXISTS");
    assert_eq!(
        t.core.users().create(NewUser { password: Some("1qaz2wsx3edc4rfv".into()), ..mk("c@example.com") }, &ctx()).await.unwrap_err().code,
        "PASSWORD_TOO_COMMON"
    );
    assert_eq!(t.core.users().count().await.unwrap(), 2);
    assert_eq!(t.core.users().list(10, 0).await.unwrap().len(), 2);
    assert_eq!(t.core.users().list(1, 1).await.unwrap().len(), 1);
    assert_eq!(t.core.users().get(&a.id).await.unwrap().unwrap(), a);
    assert!(t.core.users().delete(&a.id, &ctx()).await.unwrap());
    assert!(!t.core.users().delete(&a.id, &ctx()).await.unwrap());
});

dual!(audit_chain_detects_tampering, options(), |t| {
    for i in 0..4 {
        t.core.email_password().sign_up(sign_up(&format!("au{i}@example.com"), PW), &ctx()).await.unwrap();
    }
    t.core.email_password().sign_in("au1@example.com", "wrong password", &ctx()).await.unwrap_err();
    let r = kavach_core::audit::verify(&t.db).await.unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    assert!(r.records >= 9, "sign-ups, sessions and the failure are recorded: {}", r.records);
    let kinds: Vec<String> = kavach_core::audit::page(&t.db, 0, 100).await.unwrap().into_iter().map(|r| r.kind).collect();
    for k in ["user.created", "sign_in.success", "sign_in.failure"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    // Edit.
    exec(&t.db, "UPDATE kavach_audit_event SET kind = 'nothing' WHERE seq = 3").await;
    let r = kavach_core::audit::verify(&t.db).await.unwrap();
    assert!(!r.ok() && r.problems.iter().any(|p| p.contains("record 3") && p.contains("edited")), "{:?}", r.problems);
});

dual!(audit_chain_detects_delete_insert_reorder_and_truncation, options(), |t| {
    for i in 0..3 {
        t.core.email_password().sign_up(sign_up(&format!("ch{i}@example.com"), PW), &ctx()).await.unwrap();
    }
    assert!(kavach_core::audit::verify(&t.db).await.unwrap().ok());
    let recs = kavach_core::audit::page(&t.db, 0, 1000).await.unwrap();
    let last = recs.last().unwrap().seq;
    // Reorder: swap the contents of two records.
    exec(&t.db, "UPDATE kavach_audit_event SET seq = -1 WHERE seq = 2").await;
    exec(&t.db, "UPDATE kavach_audit_event SET seq = 2 WHERE seq = 3").await;
    exec(&t.db, "UPDATE kavach_audit_event SET seq = 3 WHERE seq = -1").await;
    assert!(!kavach_core::audit::verify(&t.db).await.unwrap().ok(), "reorder");
    exec(&t.db, "UPDATE kavach_audit_event SET seq = -1 WHERE seq = 2").await;
    exec(&t.db, "UPDATE kavach_audit_event SET seq = 2 WHERE seq = 3").await;
    exec(&t.db, "UPDATE kavach_audit_event SET seq = 3 WHERE seq = -1").await;
    assert!(kavach_core::audit::verify(&t.db).await.unwrap().ok(), "restored");
    // Insert a forged record in the middle (a gap is made by shifting).
    exec(&t.db, "UPDATE kavach_audit_event SET seq = seq + 1000 WHERE seq >= 3").await;
    exec(&t.db, "INSERT INTO kavach_audit_event (seq, id, created_at, kind, data, prev_hash, hash) SELECT 3, 'forged', created_at, 'user.created', '{}', hash, hash FROM kavach_audit_event WHERE seq = 2").await;
    assert!(!kavach_core::audit::verify(&t.db).await.unwrap().ok(), "insert");
    exec(&t.db, "DELETE FROM kavach_audit_event WHERE id = 'forged'").await;
    exec(&t.db, "UPDATE kavach_audit_event SET seq = seq - 1000 WHERE seq >= 1003").await;
    assert!(kavach_core::audit::verify(&t.db).await.unwrap().ok(), "restored");
    // Delete from the middle.
    exec(&t.db, "DELETE FROM kavach_audit_event WHERE seq = 2").await;
    assert!(!kavach_core::audit::verify(&t.db).await.unwrap().ok(), "delete");
    // Truncate the tail only (the chain before it is intact, the head disagrees).
    let t2 = harness::core_on(&kavach_core::testkit::TestDb::sqlite().await.url, options()).await;
    t2.core.email_password().sign_up(sign_up("tail@example.com", PW), &ctx()).await.unwrap();
    let last2 = kavach_core::audit::page(&t2.db, 0, 1000).await.unwrap().last().unwrap().seq;
    exec(&t2.db, &format!("DELETE FROM kavach_audit_event WHERE seq = {last2}")).await;
    let r = kavach_core::audit::verify(&t2.db).await.unwrap();
    assert!(!r.ok() && r.problems[0].contains("head"), "truncation: {:?}", r.problems);
    let _ = last;
});

dual!(concurrent_appends_never_fork_the_chain, options(), |t| {
    let mut hs = Vec::new();
    for i in 0..20 {
        let db = t.db.clone();
        hs.push(tokio::spawn(async move {
            let c = RequestContext::default();
            kavach_core::audit::append(&db, kavach_core::audit::Event::new(kavach_core::audit::EventKind::Import, None, &c).with("i", i)).await.unwrap();
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    let r = kavach_core::audit::verify(&t.db).await.unwrap();
    assert!(r.ok() && r.records == 20, "{r:?}");
});

#[tokio::test]
async fn redis_rate_limiter() {
    let url = std::env::var("KAVACH_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let l = kavach_core::ratelimit::RateLimiter::redis(&url)
        .await
        .expect("Redis is required for this test: run the tests with ./scripts/test.sh (it starts a throwaway one) or point KAVACH_TEST_REDIS at a server");
    let key = format!("test-{}", kavach_core::crypto::new_id());
    let rule = Rule { max: 2, window: Duration::from_secs(5) };
    assert!(l.hit(&key, rule).await.unwrap().allowed);
    assert!(l.hit(&key, rule).await.unwrap().allowed);
    let d = l.hit(&key, rule).await.unwrap();
    assert!(!d.allowed && d.count == 3 && d.retry_after_secs <= 5);
    assert!(!l.peek(&key, rule).await.unwrap().allowed);
    l.reset(&key).await.unwrap();
    assert_eq!(l.peek(&key, rule).await.unwrap().count, 0);
}

dual!(bans_end_sessions_refuse_sign_in_and_expire, options(), |t| {
    let s = t.core.email_password().sign_up(sign_up("ban@example.com", PW), &ctx()).await.unwrap().session.unwrap();
    let uid = s.session.user_id.clone();
    assert!(t.core.sessions().check(&s.token).await.unwrap().is_some());
    assert!(t.core.users().ban(&uid, Some("spam"), None, &ctx()).await.unwrap());
    assert!(t.core.sessions().check(&s.token).await.unwrap().is_none(), "sessions end at once");
    // The ban is told only to someone who knows the password.
    assert_eq!(t.core.email_password().sign_in("ban@example.com", "not the password", &ctx()).await.unwrap_err().code, "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(t.core.email_password().sign_in("ban@example.com", PW, &ctx()).await.unwrap_err().code, "BANNED_USER");
    assert!(t.core.users().unban(&uid, &ctx()).await.unwrap());
    t.core.email_password().sign_in("ban@example.com", PW, &ctx()).await.unwrap();
    // A temporary ban ends by itself.
    let until = kavach_core::store::Ts::now().plus_secs(1);
    t.core.users().ban(&uid, None, Some(until), &ctx()).await.unwrap();
    assert_eq!(t.core.email_password().sign_in("ban@example.com", PW, &ctx()).await.unwrap_err().code, "BANNED_USER");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    t.core.email_password().sign_in("ban@example.com", PW, &ctx()).await.unwrap();
    let kinds: Vec<String> = kavach_core::audit::page(&t.db, 0, 1000).await.unwrap().into_iter().map(|r| r.kind).collect();
    assert!(kinds.iter().any(|k| k == "user.banned") && kinds.iter().any(|k| k == "user.unbanned"));
});

mod jwt_keys {
    use super::*;
    use base64::Engine;
    use kavach_core::jwt::{Alg, verify};
    use serde_json::json;

    fn claims(exp_in: i64) -> serde_json::Value {
        let now = kavach_core::store::Ts::now().0 / 1000;
        json!({ "sub": "u1", "iat": now, "exp": now + exp_in })
    }

    async fn jwks(t: &harness::T) -> serde_json::Value {
        serde_json::from_str(&t.core.keys().jwks().await.unwrap()).unwrap()
    }

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    crate::dual!(sign_verify_and_refuse_forgeries, options(), |t| {
        assert!(t.core.keys().list().await.unwrap().is_empty(), "keys are created on first use");
        for alg in Alg::ALL {
            let tok = t.core.keys().sign(alg, "JWT", &claims(60)).await.unwrap();
            let (h, c) = verify(&tok, &jwks(&t).await, 60).unwrap();
            assert_eq!((h["alg"].as_str(), h["typ"].as_str(), c["sub"].as_str()), (Some(alg.as_str()), Some("JWT"), Some("u1")));
        }
        assert_eq!(jwks(&t).await["keys"].as_array().unwrap().len(), 3);
        let tok = t.core.keys().sign(Alg::EdDSA, "at+jwt", &claims(60)).await.unwrap();
        let set = jwks(&t).await;
        let parts: Vec<&str> = tok.split('.').collect();
        // Tampered claims.
        let forged = format!("{}.{}.{}", parts[0], b64(&json!({ "sub": "admin" })), parts[2]);
        assert_eq!(verify(&forged, &set, 60).unwrap_err(), "bad signature");
        // alg: none, and algorithm confusion (an EdDSA key presented as RS256).
        let header: serde_json::Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let none = format!("{}.{}.", b64(&json!({ "alg": "none", "kid": header["kid"] })), parts[1]);
        assert!(verify(&none, &set, 60).is_err());
        let confused = format!("{}.{}.{}", b64(&json!({ "alg": "RS256", "kid": header["kid"] })), parts[1], parts[2]);
        assert_eq!(verify(&confused, &set, 60).unwrap_err(), "algorithm does not match the key");
        let unknown = format!("{}.{}.{}", b64(&json!({ "alg": "EdDSA", "kid": "nope" })), parts[1], parts[2]);
        assert_eq!(verify(&unknown, &set, 60).unwrap_err(), "unknown kid");
        let expired = t.core.keys().sign(Alg::EdDSA, "JWT", &claims(-120)).await.unwrap();
        assert_eq!(verify(&expired, &set, 60).unwrap_err(), "expired");
        assert!(verify(&t.core.keys().sign(Alg::EdDSA, "JWT", &claims(-30)).await.unwrap(), &set, 60).is_ok(), "within leeway");
        // Found by the `jwt` fuzz target: `exp` or `nbf` near i64::MAX overflowed the
        // leeway addition (a panic in debug builds, a wrapped comparison in release).
        let far = json!({ "sub": "u1", "exp": i64::MAX, "nbf": i64::MAX - 1 });
        let far = t.core.keys().sign(Alg::EdDSA, "JWT", &far).await.unwrap();
        assert_eq!(verify(&far, &set, 60).unwrap_err(), "not yet valid");
        assert!(verify(&expired, &set, i64::MAX).is_ok(), "a leeway of i64::MAX saturates");
        let forever = t.core.keys().sign(Alg::EdDSA, "JWT", &json!({ "sub": "u1", "exp": i64::MAX })).await.unwrap();
        assert!(verify(&forever, &set, 60).is_ok());
        // Private keys are sealed: the column is not a PKCS#8 document, and another secret cannot load them.
        let stored: Vec<(String,)> = kavach_core::db!(&t.db, |pool| sqlx::query_as("SELECT private_key FROM kavach_jwks").fetch_all(pool).await.unwrap());
        for (pk,) in &stored {
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(pk).unwrap();
            use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
            assert!(
                Ed25519KeyPair::from_pkcs8(&raw).is_err()
                    && EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &raw).is_err()
                    && RsaKeyPair::from_pkcs8(&raw).is_err(),
                "no stored key (EdDSA, ES256, RS256) is a readable PKCS#8 document"
            );
        }
        let mut other = options();
        other.secrets = vec!["a-completely-different-secret-0123456789".into()];
        let stranger = harness::core_on(&t.url, other).await;
        let e = stranger.core.keys().sign(Alg::EdDSA, "JWT", &claims(60)).await.unwrap_err();
        assert!(e.message.contains("cannot be decrypted"), "{e}");
        // A rotated secret list (new first, old kept) still opens them.
        let mut rotated = options();
        rotated.secrets = vec!["the-new-secret-0123456789-abcdefghijkl".into(), options().secrets[0].clone()];
        let after = harness::core_on(&t.url, rotated).await;
        after.core.keys().sign(Alg::EdDSA, "JWT", &claims(60)).await.unwrap();
    });

    crate::dual!(rotation_keeps_old_tokens_valid_for_the_overlap, options(), |t| {
        let before = t.core.keys().sign(Alg::EdDSA, "JWT", &claims(60)).await.unwrap();
        let new = t.core.keys().rotate(Duration::from_secs(1)).await.unwrap();
        assert_eq!(new.len(), 1);
        let after = t.core.keys().sign(Alg::EdDSA, "JWT", &claims(60)).await.unwrap();
        assert_ne!(before.split('.').next(), after.split('.').next(), "a new kid signs");
        let set = jwks(&t).await;
        let eddsa = |set: &serde_json::Value| set["keys"].as_array().unwrap().iter().filter(|k| k["alg"] == "EdDSA").count();
        assert_eq!(eddsa(&set), 2, "{set}");
        assert!(verify(&before, &set, 60).is_ok() && verify(&after, &set, 60).is_ok(), "no downtime for tokens in flight");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        t.core.keys().purge().await.unwrap();
        // (the cache is per instance: a fresh core sees the current set)
        let fresh = harness::core_on(&t.url, options()).await;
        let set = serde_json::from_str::<serde_json::Value>(&fresh.core.keys().jwks().await.unwrap()).unwrap();
        assert_eq!(eddsa(&set), 1, "the retired key is gone after its overlap");
        assert_eq!(verify(&before, &set, 60).unwrap_err(), "unknown kid");
        // Scheduled rotation from two instances at once rotates once.
        let other = harness::core_on(&t.url, options()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let keys_before = t.core.keys().list().await.unwrap();
        let algs: std::collections::HashSet<_> = keys_before.iter().filter(|k| k.active).map(|k| k.alg.as_str()).collect();
        let (a, b) = tokio::join!(
            t.core.keys().rotate_if_older_than(Duration::from_millis(200), Duration::from_secs(3600)),
            other.core.keys().rotate_if_older_than(Duration::from_millis(200), Duration::from_secs(3600))
        );
        assert!(a.unwrap() || b.unwrap());
        let after = t.core.keys().list().await.unwrap();
        assert_eq!(after.len() - keys_before.len(), algs.len(), "each algorithm's key was rotated exactly once, across both instances");
        for alg in &algs {
            assert_eq!(after.iter().filter(|k| k.active && k.alg.as_str() == *alg).count(), 1, "{alg}");
        }
    });
}

mod oauth_clients {
    use super::*;
    use kavach_core::plugins::oauth::clients::Origin;
    use serde_json::json;

    /// Registration bodies real MCP clients send (shared/research/mcp-oauth.md §3.4).
    fn recorded_bodies() -> Vec<serde_json::Value> {
        vec![
            json!({ "client_name": "TS SDK v1", "redirect_uris": ["http://127.0.0.1:53117/callback"], "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"], "token_endpoint_auth_method": "none", "scope": "mcp:tools" }),
            json!({ "client_name": "TS SDK v2", "redirect_uris": ["http://localhost:8090/callback"], "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"], "token_endpoint_auth_method": "none", "scope": "mcp:tools offline_access", "application_type": "native" }),
            json!({ "client_name": "MCP Inspector", "client_uri": "https://github.com/modelcontextprotocol/inspector", "redirect_uris": ["http://127.0.0.1:6276/oauth/callback"],
                    "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "token_endpoint_auth_method": "none", "application_type": "native" }),
            json!({ "client_name": "Cursor", "application_type": "web", "token_endpoint_auth_method": "none",
                    "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback", "cursor://anysphere.cursor-retrieval/oauth/callback", "https://cursor.com/oauth/callback"] }),
            json!({ "client_name": "VS Code", "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
                    "redirect_uris": ["https://vscode.dev/redirect", "https://insiders.vscode.dev/redirect", "http://127.0.0.1/", "http://127.0.0.1:33418/"] }),
            json!({ "client_name": "Claude", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback", "https://claude.com/api/mcp/auth_callback"],
                    "token_endpoint_auth_method": "client_secret_post", "grant_types": ["authorization_code", "refresh_token"] }),
        ]
    }

    crate::dual!(mcp_10_registration_accepts_what_real_clients_send, options(), |t| {
        for body in recorded_bodies() {
            let r = t.core.clients().register(&body, Origin::Dynamic, &ctx()).await.unwrap_or_else(|e| panic!("{body}: {e}"));
            assert!(r.client_id.starts_with("kc_"));
            assert_eq!(r.metadata["client_id"], r.client_id);
            assert_eq!(r.metadata["response_types"], json!(["code"]), "defaults are echoed, never null");
            assert!(r.metadata["grant_types"].is_array() && r.metadata["redirect_uris"].is_array());
            let confidential = body["token_endpoint_auth_method"] != "none";
            assert_eq!(r.client_secret.is_some(), confidential);
            if confidential {
                assert_eq!(r.metadata["client_secret_expires_at"], 0, "openid-client requires it whenever a secret is issued");
                assert!(t.core.clients().authenticate(&r.client_id, r.client_secret.as_deref().unwrap()).await.unwrap());
                assert!(!t.core.clients().authenticate(&r.client_id, "kcs_wrong").await.unwrap());
            }
            let stored = t.core.clients().get(&r.client_id).await.unwrap().unwrap();
            assert_eq!(stored.redirect_uris(), body["redirect_uris"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>());
        }
        // Omitted fields get RFC 7591's defaults.
        let r = t.core.clients().register(&json!({ "redirect_uris": ["https://app.example/cb"] }), Origin::Operator, &ctx()).await.unwrap();
        assert_eq!(r.metadata["grant_types"], json!(["authorization_code"]));
        assert_eq!(r.metadata["token_endpoint_auth_method"], "client_secret_basic");
        // Secrets and registration tokens are stored hashed only.
        let rows: Vec<(Option<String>, Option<String>)> =
            kavach_core::db!(&t.db, |pool| sqlx::query_as("SELECT client_secret_hash, registration_token_hash FROM kavach_oauth_client")
                .fetch_all(pool)
                .await
                .unwrap());
        for (s, rt) in rows {
            assert!(s.is_none_or(|s| !s.starts_with("kcs_")) && !rt.unwrap().starts_with("kcr_"));
        }
    });

    crate::dual!(mcp_08_registration_refusals_use_rfc7591_codes, options(), |t| {
        let cases = [
            (json!({ "redirect_uris": ["http://example.com/cb"] }), "invalid_redirect_uri"),
            (json!({ "redirect_uris": ["https://app.example/cb#x"] }), "invalid_redirect_uri"),
            (json!({ "redirect_uris": ["javascript:alert(1)"] }), "invalid_redirect_uri"),
            (json!({ "grant_types": ["authorization_code"] }), "invalid_redirect_uri"),
            (json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"] }), "invalid_client_metadata"),
            (json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": ["password"] }), "invalid_client_metadata"),
            (json!({ "redirect_uris": ["https://a.example/cb"], "response_types": ["token"] }), "invalid_client_metadata"),
            (json!({ "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt" }), "invalid_client_metadata"),
            (json!({ "redirect_uris": "https://a.example/cb" }), "invalid_client_metadata"),
            (json!(["not", "an", "object"]), "invalid_client_metadata"),
        ];
        for (body, code) in cases {
            let e = t.core.clients().register(&body, Origin::Dynamic, &ctx()).await.unwrap_err();
            assert_eq!(e.code, code, "{body}");
        }
    });

    crate::dual!(rfc7592_management_with_the_registration_token, options(), |t| {
        let body = json!({ "client_name": "App", "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_basic" });
        let r = t.core.clients().register(&body, Origin::Dynamic, &ctx()).await.unwrap();
        assert!(t.core.clients().check_registration_token(&r.client_id, &r.registration_access_token).await.unwrap());
        assert!(!t.core.clients().check_registration_token(&r.client_id, "kcr_wrong").await.unwrap());
        assert!(!t.core.clients().check_registration_token("kc_unknown", &r.registration_access_token).await.unwrap());
        let updated = t.core.clients().update(&r.client_id, &json!({ "client_name": "App 2", "redirect_uris": ["https://app.example/cb2"] })).await.unwrap();
        assert_eq!((updated["client_name"].as_str(), updated["client_id"].as_str()), (Some("App 2"), Some(r.client_id.as_str())));
        assert_eq!(updated["client_secret_expires_at"], 0);
        let stored = t.core.clients().get(&r.client_id).await.unwrap().unwrap();
        assert_eq!((stored.metadata["client_name"].as_str(), stored.redirect_uris()), (Some("App 2"), vec!["https://app.example/cb2"]), "the update is stored");
        let e = t
            .core
            .clients()
            .update(&r.client_id, &json!({ "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none" }))
            .await
            .unwrap_err();
        assert_eq!(e.code, "invalid_client_metadata", "public/confidential cannot flip");
        let e = t
            .core
            .clients()
            .update(
                &r.client_id,
                &json!({ "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://app.example/jwks" }),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code, "invalid_client_metadata", "a secret client cannot become a key client (its secret would be left behind)");
        assert!(t.core.clients().authenticate(&r.client_id, r.client_secret.as_deref().unwrap()).await.unwrap(), "the secret survives updates");
        // Disabled clients cannot authenticate; deleted ones are gone.
        assert!(t.core.clients().set_disabled(&r.client_id, true).await.unwrap());
        assert!(!t.core.clients().authenticate(&r.client_id, r.client_secret.as_deref().unwrap()).await.unwrap());
        assert!(t.core.clients().get(&r.client_id).await.unwrap().unwrap().disabled);
        assert!(t.core.clients().delete(&r.client_id).await.unwrap());
        assert!(t.core.clients().get(&r.client_id).await.unwrap().is_none());
    });
}

dual!(imported_provider_tokens_are_sealed_at_rest, options(), |t| {
    // A minimal better-auth SQLite database with one social account.
    let src = kavach_core::testkit::TestDb::sqlite().await;
    let path = src.url.trim_start_matches("sqlite://").to_owned();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{path}?mode=rwc")).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE user (id TEXT, name TEXT, email TEXT, emailVerified INTEGER, image TEXT, createdAt TEXT, updatedAt TEXT);
         CREATE TABLE account (id TEXT, accountId TEXT, providerId TEXT, userId TEXT, accessToken TEXT, refreshToken TEXT, idToken TEXT,
                               accessTokenExpiresAt TEXT, refreshTokenExpiresAt TEXT, scope TEXT, password TEXT, createdAt TEXT, updatedAt TEXT);
         INSERT INTO user VALUES ('u1', 'Gee', 'gee@example.com', 1, NULL, '2026-11-22T14:25:47.369Z', '2026-11-22T14:25:47.369Z');
         INSERT INTO account VALUES ('a1', '4242', 'github', 'u1', 'gho_live_token', 'ghr_refresh', NULL, NULL, NULL, 'read:user', NULL,
                                     '2026-11-22T14:25:47.369Z', '2026-11-22T14:25:47.369Z');",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let report = kavach_core::plugins::migration::import::better_auth::import(&t.core, &path, false, &ctx()).await.unwrap();
    assert_eq!(report.tables[1].imported, 1, "{report}");
    let stored = scalar_text(&t.db, "SELECT access_token FROM kavach_account WHERE id = 'a1'").await.unwrap();
    assert!(stored.starts_with("sealed:v1:") && !stored.contains("gho_live_token"), "{stored}");
    assert_eq!(t.core.secrets().open_field(&stored, "kavach_account:access_token:a1").as_deref(), Some("gho_live_token"));
    src.drop_db().await;
});

/// The better-auth transition switched on (with the given old secret).
fn transition() -> kavach_core::Options {
    let mut o = options();
    o.better_auth =
        Some(kavach_core::plugins::migration::BetterAuthCookies { secrets: vec!["the-better-auth-secret-0123456789".into()], ..Default::default() });
    o
}

/// Insert a better-auth session as the seed's SQL copies it (plain token, origin left to its default).
async fn copied_session(t: &harness::T, user_id: &str, token: &str) {
    let now = kavach_core::store::Ts::now();
    kavach_core::db!(&t.db, |pool| {
        sqlx::query("INSERT INTO kavach_session (id, user_id, token, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
            .bind(kavach_core::crypto::new_id())
            .bind(user_id)
            .bind(token)
            .bind(now.plus_secs(3600))
            .bind(now)
            .execute(pool)
            .await
            .unwrap();
    });
}

async fn session_count(t: &harness::T, user_id: &str) -> i64 {
    kavach_core::db!(&t.db, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM kavach_session WHERE user_id = $1").bind(user_id).fetch_one(pool).await.unwrap())
}

// Finding 2: a stored value (the handle get-session and list-sessions show, or a row read
// from the database) is never accepted as a credential, for copied and native rows alike.
dual!(review_02_a_session_handle_or_stored_hash_is_never_a_credential, transition(), |t| {
    let up = t.core.email_password().sign_up(sign_up("handle@example.com", PW), &ctx()).await.unwrap();
    let native = up.session.unwrap();
    let plain = "BetterAuthPlainToken0123456789ab";
    copied_session(&t, &up.user.id, plain).await;
    let listed = t.core.sessions().list(&up.user.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|s| s.token != plain), "a copied row's plain token is never shown: {listed:?}");
    assert!(listed.iter().any(|s| s.token == kavach_core::crypto::token_hash(plain)));
    let ext = t.core.external();
    for handle in listed.iter().map(|s| s.token.clone()) {
        assert!(ext.better_auth_session(&handle, &ctx()).await.unwrap().is_none(), "a handle presented as a better-auth token");
        assert!(t.core.sessions().check(&handle).await.unwrap().is_none(), "a handle presented as a Kavach token");
    }
    // Nothing was re-keyed: the real credentials still work.
    assert!(t.core.sessions().check(&native.token).await.unwrap().is_some(), "the native token still works");
    assert!(ext.better_auth_session(plain, &ctx()).await.unwrap().is_some(), "the real better-auth token works");
    // A handle revokes (as better-auth's revoke-session takes it), but only its own session.
    let copied_handle = kavach_core::crypto::token_hash(plain);
    let after: Vec<_> = t.core.sessions().list(&up.user.id).await.unwrap();
    let exchanged = after.iter().find(|s| s.token != native.session.token).unwrap().clone();
    assert_ne!(exchanged.token, copied_handle, "exchanged: a Kavach session now");
    assert!(t.core.sessions().revoke(&up.user.id, &exchanged.token, &ctx()).await.unwrap());
    assert!(ext.better_auth_session(plain, &ctx()).await.unwrap().is_none(), "revoked with it");
    assert!(t.core.sessions().check(&native.token).await.unwrap().is_some());
});

// Finding 5: one better-auth session becomes exactly one Kavach session, and signing out of
// it ends the old cookie too.
dual!(review_05_one_better_auth_session_becomes_exactly_one_kavach_session, transition(), |t| {
    let up = t.core.email_password().sign_up(sign_up("once@example.com", PW), &ctx()).await.unwrap();
    t.core.sessions().revoke_user(&up.user.id, &ctx()).await.unwrap();
    let plain = "AnotherPlainBetterAuthToken01234";
    copied_session(&t, &up.user.id, plain).await;
    let mut tokens = std::collections::HashSet::new();
    let mut ids = std::collections::HashSet::new();
    for _ in 0..20 {
        let (token, c) = t.core.external().better_auth_session(plain, &ctx()).await.unwrap().expect("accepted");
        tokens.insert(token);
        ids.insert(c.data.session.id.clone());
    }
    assert_eq!((tokens.len(), ids.len()), (1, 1), "20 requests with the old cookie: one Kavach session");
    assert_eq!(session_count(&t, &up.user.id).await, 1, "no session was added");
    let token = tokens.into_iter().next().unwrap();
    let s = t.core.sessions().check(&token).await.unwrap().unwrap();
    t.core.sessions().sign_out(&s.data.session, &ctx()).await.unwrap();
    assert!(t.core.external().better_auth_session(plain, &ctx()).await.unwrap().is_none(), "signing out ended the old cookie too");
    assert_eq!(session_count(&t, &up.user.id).await, 0);
    // Concurrent first presentations also make one.
    let plain2 = "ConcurrentPlainBetterAuthToken01";
    copied_session(&t, &up.user.id, plain2).await;
    let (ext, c) = (t.core.external(), ctx());
    let all = futures_util::future::join_all((0..8).map(|_| ext.better_auth_session(plain2, &c))).await;
    let got: std::collections::HashSet<String> = all.into_iter().map(|r| r.unwrap().expect("every concurrent presentation is signed in").0).collect();
    assert_eq!(got.len(), 1);
    assert_eq!(session_count(&t, &up.user.id).await, 1);
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

// Finding 8: email addresses with invisible or bidirectional characters are refused.
dual!(review_08_emails_with_invisible_or_bidi_characters_are_refused, options(), |t| {
    for bad in ["adm\u{200B}in@example.com", "admin@example.com\u{202E}", "\u{2066}admin@example.com\u{2069}", "ad\u{FEFF}min@example.com"] {
        assert_eq!(t.core.email_password().sign_up(sign_up(bad, PW), &ctx()).await.unwrap_err().code, "INVALID_EMAIL", "{bad:?}");
    }
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

// Finding 11: tampering that used to pass or crash the verifier.
dual!(review_11_audit_verify_reports_a_deleted_head_and_sub_millisecond_edits, options(), |t| {
    for i in 0..2 {
        t.core.email_password().sign_up(sign_up(&format!("tamper{i}@example.com"), PW), &ctx()).await.unwrap();
    }
    assert!(kavach_core::audit::verify(&t.db).await.unwrap().ok());
    // An edit of created_at below what a millisecond reading shows (PostgreSQL keeps
    // microseconds; SQLite stores milliseconds, so its smallest edit is one).
    match &t.db {
        kavach_core::store::Db::Postgres(_) => {
            exec(&t.db, "UPDATE kavach_audit_event SET created_at = created_at + interval '7 microseconds' WHERE seq = 2").await
        }
        kavach_core::store::Db::Sqlite(_) => exec(&t.db, "UPDATE kavach_audit_event SET created_at = created_at + 1 WHERE seq = 2").await,
    }
    let r = kavach_core::audit::verify(&t.db).await.unwrap();
    assert!(r.problems.iter().any(|p| p.contains("record 2") && p.contains("edited")), "{:?}", r.problems);
    exec(&t.db, "DELETE FROM kavach_audit_head").await;
    let r = kavach_core::audit::verify(&t.db).await.expect("a missing head is a finding, not a failure");
    assert!(!r.ok() && r.problems.iter().any(|p| p.contains("head row") && p.contains("deleted")), "{:?}", r.problems);
});

// Finding 6: PostgreSQL cannot store NUL in text; such input is a client error there too.
dual!(review_06_text_with_nul_is_a_client_error_on_both_databases, options(), |t| {
    for r in [t.core.users().get("a\u{0}b").await.map(|u| u.is_none()), t.core.clients().set_introspection("kc_\u{0}", &[]).await.map(|f| !f)] {
        match r {
            Ok(nothing) => assert!(nothing),
            Err(e) => assert!(e.is_client_error() && e.code == "INVALID_TEXT", "{e}"),
        }
    }
});

// Finding 18: relying parties fetch the keys at start-up: the key set is never empty.
dual!(review_18_the_key_set_has_every_advertised_algorithm_from_the_start, options(), |t| {
    let set: serde_json::Value = serde_json::from_str(&t.core.keys().jwks().await.unwrap()).unwrap();
    let algs: std::collections::BTreeSet<&str> = set["keys"].as_array().unwrap().iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["EdDSA", "RS256"].into_iter().collect(), "session and access tokens (EdDSA), ID tokens (RS256)");
});

// Finding 21: a burst of unknown key ids reloads the signing keys once.
dual!(review_21_a_burst_of_unknown_key_ids_reloads_the_keys_once, options(), |t| {
    t.core.keys().jwks().await.unwrap();
    let before = t.core.keys().reads();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    use base64::Engine;
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let forged: Vec<String> = (0..16)
        .map(|i| {
            format!("{}.{}.c2ln", b64(serde_json::json!({ "alg": "EdDSA", "kid": format!("unknown-{i}") })), b64(serde_json::json!({ "exp": 9999999999u64 })))
        })
        .collect();
    let keys = t.core.keys();
    let results = futures_util::future::join_all(forged.iter().map(|tok| keys.verify(tok, 0))).await;
    assert!(results.iter().all(|r| matches!(r, Ok(Err("unknown kid")))));
    assert_eq!(t.core.keys().reads() - before, 1, "sixteen unknown key ids, one read of the key set");
});
