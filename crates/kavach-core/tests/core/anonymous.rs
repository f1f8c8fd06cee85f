//! Anonymous users: a user and a session without credentials, linked to the account
//! its visitor signs in or up to (the hook runs, then the anonymous user is deleted),
//! kept when the hook fails, purged once unreachable. research/kavachos.md §11: the
//! anonymous session outlived its documented lifetime; here it is a normal session.

use crate::*;
use kavach_core::plugins::anonymous::LinkAccount;
use kavach_core::plugins::email_otp::OtpType;
use kavach_core::{Core, RequestContext};
use std::sync::{Arc, Mutex};

fn on() -> kavach_core::Options {
    let mut o = options();
    o.anonymous.enabled = true;
    o.email_otp.enabled = true;
    o.session.cache_ttl = Duration::ZERO;
    o
}

fn from_session(token: &str) -> RequestContext {
    RequestContext { session_token: Some(token.to_owned()), ..ctx() }
}

/// A core on `url` whose link hook records what it got (and fails when `fail`).
async fn core_with_hook(url: &str, fail: bool) -> (Arc<Core>, Arc<Mutex<Vec<LinkAccount>>>) {
    let db = kavach_core::store::Db::connect(url).await.unwrap();
    db.migrate().await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let hook: kavach_core::plugins::anonymous::LinkHook = Arc::new(move |l: LinkAccount| {
        record.lock().unwrap().push(l);
        Box::pin(async move { if fail { Err(kavach_core::Error::internal("the app's move failed")) } else { Ok(()) } })
    });
    let core = Core::new(db, on(), Arc::new(kavach_testkit::CaptureMailer::default()), kavach_core::email::Templates::load(None).unwrap(), None)
        .unwrap()
        .with_anonymous_link(hook);
    (Arc::new(core), seen)
}

dual!(an_anonymous_user_has_a_session_a_placeholder_address_and_no_second_anonymous_sign_in, on(), |t| {
    let a = t.core.anonymous().sign_in(&ctx()).await.unwrap();
    assert!(a.user.is_anonymous && !a.user.email_verified);
    assert!(a.user.email.ends_with("@anonymous.placeholder.invalid"), "{}", a.user.email);
    assert_eq!(a.user.name, "Anonymous");
    let checked = t.core.sessions().check(&a.session.token).await.unwrap().unwrap();
    assert!(checked.data.user.is_anonymous);
    let again = t.core.anonymous().sign_in(&from_session(&a.session.token)).await.unwrap_err();
    assert_eq!(again.code, "ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY");
    // Another visitor (no session) gets another user.
    let b = t.core.anonymous().sign_in(&ctx()).await.unwrap();
    assert_ne!(a.user.id, b.user.id);
});

dual!(signing_up_from_an_anonymous_session_runs_the_hook_then_deletes_the_anonymous_user, |url| {
    let (core, seen) = core_with_hook(url, false).await;
    let a = core.anonymous().sign_in(&ctx()).await.unwrap();
    let up = core.email_password().sign_up(sign_up("real@example.com", PW), &from_session(&a.session.token)).await.unwrap();
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].anonymous.id.as_str(), seen[0].user.id.as_str()), (a.user.id.as_str(), up.user.id.as_str()));
    }
    assert!(core.users().get(&a.user.id).await.unwrap().is_none(), "the anonymous user is gone");
    assert!(core.sessions().check(&a.session.token).await.unwrap().is_none(), "and its session");
    assert!(audit_kinds(core.db()).await.contains(&"anonymous.linked".to_owned()));
});

dual!(a_failing_hook_keeps_the_anonymous_user_and_the_sign_in_stands, |url| {
    let (core, seen) = core_with_hook(url, true).await;
    let a = core.anonymous().sign_in(&ctx()).await.unwrap();
    core.email_password().sign_up(sign_up("keep@example.com", PW), &ctx()).await.unwrap();
    let step = core.email_password().sign_in("keep@example.com", PW, &from_session(&a.session.token)).await.unwrap();
    assert!(step.signed_in().is_ok());
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(core.users().get(&a.user.id).await.unwrap().is_some(), "nothing lost: the anonymous user stays");
});

dual!(every_first_factor_links_and_anonymous_to_anonymous_does_not, on(), |t| {
    // An emailed code from an anonymous session links too (it ends in complete_sign_in).
    let a = t.core.anonymous().sign_in(&ctx()).await.unwrap();
    t.core.email_otp().send("otp@example.com", OtpType::SignIn, &ctx()).await.unwrap();
    let code = t.mail.wait_for("otp@example.com", "sign-in code").await.subject.rsplit(' ').next().unwrap().to_owned();
    let req = kavach_core::plugins::email_otp::OtpSignIn { email: "otp@example.com".into(), otp: code, ..Default::default() };
    t.core.email_otp().sign_in(&req, &from_session(&a.session.token)).await.unwrap();
    assert!(t.core.users().get(&a.user.id).await.unwrap().is_none());
});

dual!(an_anonymous_user_deletes_itself_and_a_real_user_cannot_use_that_route, on(), |t| {
    let a = t.core.anonymous().sign_in(&ctx()).await.unwrap();
    t.core.anonymous().delete(&a.user, &a.session.session, &ctx()).await.unwrap();
    assert!(t.core.users().get(&a.user.id).await.unwrap().is_none());
    let up = t.core.email_password().sign_up(sign_up("real@example.com", PW), &ctx()).await.unwrap();
    let s = up.session.unwrap();
    assert_eq!(t.core.anonymous().delete(&up.user, &s.session, &ctx()).await.unwrap_err().code, "USER_IS_NOT_ANONYMOUS");
});

dual!(anonymous_users_without_a_session_are_purged_after_an_hour, on(), |t| {
    let a = t.core.anonymous().sign_in(&ctx()).await.unwrap();
    let b = t.core.anonymous().sign_in(&ctx()).await.unwrap();
    let c = t.core.anonymous().sign_in(&ctx()).await.unwrap();
    // `a` and `c` lost their sessions; `b` still has one; `c` is less than an hour old.
    t.core.sessions().revoke_user(&a.user.id, &ctx()).await.unwrap();
    t.core.sessions().revoke_user(&c.user.id, &ctx()).await.unwrap();
    let age = |id: &str| match t.core.db() {
        kavach_core::store::Db::Postgres(_) => format!("UPDATE kavach_user SET created_at = created_at - interval '2 hours' WHERE id = '{id}'"),
        _ => format!("UPDATE kavach_user SET created_at = created_at - 7200000 WHERE id = '{id}'"),
    };
    exec(t.core.db(), &age(&a.user.id)).await;
    exec(t.core.db(), &age(&b.user.id)).await;
    t.core.purge_expired().await.unwrap();
    assert!(t.core.users().get(&a.user.id).await.unwrap().is_none(), "unreachable: purged");
    assert!(t.core.users().get(&b.user.id).await.unwrap().is_some(), "still has a session");
    assert!(t.core.users().get(&c.user.id).await.unwrap().is_some(), "too young to purge");
});
