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
