//! Sessions: immediate revocation despite the cache, sliding expiry and the absolute lifetime.

use crate::*;

dual!(revocation_is_immediate_despite_the_cache, options(), |t| {
    let a = t.core.email_password().sign_up(sign_up("rev@example.com", PW), &ctx()).await.unwrap().session.unwrap();
    let b = t.core.email_password().sign_in("rev@example.com", PW, &ctx()).await.unwrap().signed_in().unwrap().session;
    let c = t.core.email_password().sign_in("rev@example.com", PW, &ctx()).await.unwrap().signed_in().unwrap().session;
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

// Group commit (store::group): concurrent sign-ins share transactions; each is answered
// once its own session and audit record are committed, and the chain stays one chain.
dual!(group_commit_concurrent_sessions_are_each_committed_with_one_audit_record_and_the_chain_intact, options(), |t| {
    let up = t.core.email_password().sign_up(sign_up("group@example.com", PW), &ctx()).await.unwrap();
    let uid = up.user.id.clone();
    let before = kavach_core::audit::verify(&t.db).await.unwrap().records;
    let c = ctx();
    let creates = (0..64).map(|_| t.core.sessions().create(&uid, &c, kavach_core::audit::EventKind::SignInSuccess));
    let made: Vec<_> = futures_util::future::join_all(creates).await.into_iter().map(Result::unwrap).collect();
    let tokens: std::collections::BTreeSet<&str> = made.iter().map(|n| n.token.as_str()).collect();
    assert_eq!(tokens.len(), 64, "every sign-in has its own token");
    for n in &made {
        assert!(t.core.sessions().check(&n.token).await.unwrap().is_some(), "answered only once committed");
    }
    assert_eq!(t.core.sessions().list(&uid).await.unwrap().len(), 65);
    let r = kavach_core::audit::verify(&t.db).await.unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(r.records, before + 64, "one record per session");
    let ids: std::collections::BTreeSet<String> = made.iter().map(|n| n.session.id.clone()).collect();
    let recorded = kavach_core::audit::page(&t.db, 0, 1000).await.unwrap();
    let signed_up = up.session.as_ref().map(|s| s.session.id.clone());
    let recorded: std::collections::BTreeSet<String> = recorded
        .iter()
        .filter(|r| r.kind == "sign_in.success")
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.data).ok()?.get("sessionId")?.as_str().map(str::to_owned))
        .filter(|id| Some(id) != signed_up.as_ref())
        .collect();
    assert_eq!(recorded, ids, "each record names its own session");
});

dual!(group_commit_a_write_that_cannot_be_made_fails_only_its_own_request, options(), |t| {
    let up = t.core.email_password().sign_up(sign_up("group2@example.com", PW), &ctx()).await.unwrap();
    let uid = up.user.id.clone();
    // The eleventh names a user that does not exist: its row breaks the foreign key, and the
    // group's transaction with it; the ten others are written again on their own.
    let users: Vec<String> = (0..11).map(|i| if i == 5 { "no-such-user".to_owned() } else { uid.clone() }).collect();
    let c = ctx();
    let creates = users.iter().map(|u| t.core.sessions().create(u, &c, kavach_core::audit::EventKind::SignInSuccess));
    let out = futures_util::future::join_all(creates).await;
    assert!(out[5].is_err(), "the session of a user that does not exist is refused");
    assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 10, "the others are not lost with it");
    assert_eq!(t.core.sessions().list(&uid).await.unwrap().len(), 11);
    let r = kavach_core::audit::verify(&t.db).await.unwrap();
    assert!(r.ok(), "{:?}", r.problems);
});
