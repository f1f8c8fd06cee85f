//! Users: updates, deletion, administration, bans, email normalisation.

use crate::*;

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

// Finding 8: email addresses with invisible or bidirectional characters are refused.
dual!(review_08_emails_with_invisible_or_bidi_characters_are_refused, options(), |t| {
    for bad in ["adm\u{200B}in@example.com", "admin@example.com\u{202E}", "\u{2066}admin@example.com\u{2069}", "ad\u{FEFF}min@example.com"] {
        assert_eq!(t.core.email_password().sign_up(sign_up(bad, PW), &ctx()).await.unwrap_err().code, "INVALID_EMAIL", "{bad:?}");
    }
});

dual!(changing_the_email_needs_a_fresh_session, stale_sessions(), |t| {
    let up = t.core.email_password().sign_up(sign_up("stale@example.com", PW), &ctx()).await.unwrap();
    let s = up.session.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let e = t.core.email_password().change_email(&up.user, &s.session, "new@example.com", None, &ctx()).await.unwrap_err();
    assert_eq!(e.code, "SESSION_NOT_FRESH");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(t.mail.count_to("new@example.com"), 0, "nothing sent");
});
