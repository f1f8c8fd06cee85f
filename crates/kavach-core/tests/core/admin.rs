//! The admin capability: platform roles, bans, impersonation with a hard time limit,
//! narrower operator roles, user search.

use crate::*;
use kavach_core::access::Permissions;
use kavach_core::plugins::admin::{Operator, UserQuery};
use kavach_core::{Code, User};
use serde_json::json;

fn admin_on() -> kavach_core::Options {
    let mut o = options();
    o.admin.enabled = true;
    o.admin.impersonation_ttl = Duration::from_secs(2);
    // Renew on every check: an impersonation session must still end at its TTL.
    o.session.update_age = Duration::ZERO;
    o.session.cache_ttl = Duration::ZERO;
    o.admin.roles.insert("support".into(), Permissions::parse(&json!({"user": ["list", "get", "impersonate", "set-role"]})).unwrap());
    o
}

async fn user(t: &kavach_testkit::T, email: &str) -> User {
    let new = NewUser { email: email.into(), name: "N".into(), password: Some(PW.into()), email_verified: true, image: None };
    t.core.users().create(new, &ctx()).await.unwrap()
}

/// A user with a platform role and a session.
async fn operator(t: &kavach_testkit::T, email: &str, role: &str) -> (User, kavach_core::NewSession) {
    let u = user(t, email).await;
    let u = t.core.admin().set_role(Operator::Server, &u.id, &[role.into()], &ctx()).await.unwrap();
    let s = t.core.sessions().create(&u.id, &ctx(), kavach_core::audit::EventKind::SignInSuccess).await.unwrap();
    (u, s)
}

fn code(e: kavach_core::Error) -> Code {
    Code::parse(&e.code).unwrap_or_else(|| panic!("not a Kavach code: {}", e.code))
}

dual!(impersonation_ends_at_its_ttl_even_if_used_continuously, admin_on(), |t| {
    let (admin, s) = operator(&t, "root@example.com", "admin").await;
    let bob = user(&t, "bob@example.com").await;
    let (imp, who) = t.core.admin().impersonate(&admin, &s.session, &bob.id, &ctx()).await.unwrap();
    assert_eq!(who.id, bob.id);
    assert_eq!(imp.session.impersonated_by.as_deref(), Some(admin.id.as_str()));
    let start = std::time::Instant::now();
    let mut last_ok = Duration::ZERO;
    while start.elapsed() < Duration::from_secs(4) {
        match t.core.sessions().check(&imp.token).await.unwrap() {
            Some(c) => {
                assert!(!c.renewed, "an impersonation session is never renewed");
                last_ok = start.elapsed();
            }
            None => break,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(last_ok >= Duration::from_millis(1500) && last_ok < Duration::from_millis(2300), "ended after {last_ok:?}, TTL 2 s");
    assert!(t.core.sessions().check(&imp.token).await.unwrap().is_none());
    // It was visible in the user's sessions and is in the audit log.
    let kinds = audit_kinds(&t.db).await;
    assert!(kinds.iter().any(|k| k == "admin.impersonation_started"), "{kinds:?}");
});

dual!(impersonation_sessions_cannot_impersonate_nor_act_as_admin, admin_on(), |t| {
    let (admin, s) = operator(&t, "root@example.com", "admin").await;
    let (other_admin, _) = operator(&t, "root2@example.com", "admin").await;
    let bob = user(&t, "bob@example.com").await;
    let carol = user(&t, "carol@example.com").await;
    // Admins cannot impersonate admins (by default).
    assert_eq!(code(t.core.admin().impersonate(&admin, &s.session, &other_admin.id, &ctx()).await.unwrap_err()), Code::CannotImpersonateAdmins);
    let (imp, _) = t.core.admin().impersonate(&admin, &s.session, &bob.id, &ctx()).await.unwrap();
    let listed = t.core.sessions().list(&bob.id).await.unwrap();
    assert!(listed.iter().any(|x| x.impersonated_by.as_deref() == Some(admin.id.as_str())), "visible in list-sessions");
    // From the impersonation session: no impersonating, no admin actions.
    assert_eq!(code(t.core.admin().impersonate(&bob, &imp.session, &carol.id, &ctx()).await.unwrap_err()), Code::ImpersonationNested);
    assert_eq!(code(t.core.admin().list_users(Operator::User(&bob, &imp.session), &UserQuery::default()).await.unwrap_err()), Code::ImpersonationNested);
    // Stopping ends it and names the admin.
    assert_eq!(t.core.admin().stop_impersonating(&imp.session, &ctx()).await.unwrap(), admin.id);
    assert!(t.core.sessions().check(&imp.token).await.unwrap().is_none());
    assert_eq!(code(t.core.admin().stop_impersonating(&s.session, &ctx()).await.unwrap_err()), Code::NotImpersonating);
});

dual!(a_ban_ends_every_session_at_once_and_names_the_admin, admin_on(), |t| {
    let (admin, s) = operator(&t, "root@example.com", "admin").await;
    let bob = user(&t, "bob@example.com").await;
    let bs = t.core.sessions().create(&bob.id, &ctx(), kavach_core::audit::EventKind::SignInSuccess).await.unwrap();
    let op = Operator::User(&admin, &s.session);
    assert_eq!(code(t.core.admin().ban(op, &admin.id, None, None, &ctx()).await.unwrap_err()), Code::CannotBanYourself);
    let banned = t.core.admin().ban(op, &bob.id, Some("spam"), Some(Duration::from_secs(3600)), &ctx()).await.unwrap();
    assert!(banned.banned && banned.ban_reason.as_deref() == Some("spam") && banned.ban_expires.is_some());
    assert!(t.core.sessions().check(&bs.token).await.unwrap().is_none());
    assert_eq!(t.core.email_password().sign_in("bob@example.com", PW, &ctx()).await.unwrap_err().code, "BANNED_USER");
    let data = scalar_text(&t.db, "SELECT data FROM kavach_audit_event WHERE kind = 'user.banned'").await.unwrap();
    assert!(data.contains(&admin.id) && data.contains("spam"), "{data}");
    t.core.admin().unban(op, &bob.id, &ctx()).await.unwrap();
    t.core.email_password().sign_in("bob@example.com", PW, &ctx()).await.unwrap();
});

dual!(narrow_operator_roles_and_non_admins_are_refused, admin_on(), |t| {
    let (support, ss) = operator(&t, "help@example.com", "support").await;
    let (plain, ps) = operator(&t, "plain@example.com", "user").await;
    let bob = user(&t, "bob@example.com").await;
    let sup = Operator::User(&support, &ss.session);
    // support may list and get, not ban, and cannot make anyone admin.
    assert!(t.core.admin().list_users(sup, &UserQuery::default()).await.unwrap().1 >= 3);
    assert_eq!(code(t.core.admin().ban(sup, &bob.id, None, None, &ctx()).await.unwrap_err()), Code::AdminNotAllowed);
    assert_eq!(code(t.core.admin().set_role(sup, &bob.id, &["admin".into()], &ctx()).await.unwrap_err()), Code::AdminNotAllowed);
    assert_eq!(code(t.core.admin().set_role(Operator::Server, &bob.id, &["wizard".into()], &ctx()).await.unwrap_err()), Code::RoleNotFound);
    // A plain user may do nothing.
    let p = Operator::User(&plain, &ps.session);
    assert_eq!(code(t.core.admin().list_users(p, &UserQuery::default()).await.unwrap_err()), Code::AdminNotAllowed);
    assert_eq!(code(t.core.admin().get_user(p, &bob.id).await.unwrap_err()), Code::AdminNotAllowed);
    assert_eq!(code(t.core.admin().revoke_user_sessions(p, &bob.id, &ctx()).await.unwrap_err()), Code::AdminNotAllowed);
    assert!(!t.core.admin().has_permission(&plain, &Permissions::parse(&json!({"user": ["list"]})).unwrap()).unwrap());
    assert!(t.core.admin().has_permission(&support, &Permissions::parse(&json!({"user": ["list", "get"]})).unwrap()).unwrap());
});

dual!(list_users_searches_filters_sorts_and_pages, admin_on(), |t| {
    for e in ["ann@example.com", "bea@example.com", "cid@other.org"] {
        user(&t, e).await;
    }
    let q = |f: fn(&mut UserQuery)| {
        let mut q = UserQuery::default();
        f(&mut q);
        q
    };
    let list = |q: UserQuery| {
        let core = t.core.clone();
        async move { core.admin().list_users(Operator::Server, &q).await }
    };
    let (u, total) = list(q(|q| q.search_value = Some("EXAMPLE.com".into()))).await.unwrap();
    assert_eq!((u.len(), total), (2, 2));
    let (u, _) = list(q(|q| {
        q.search_value = Some("%".into());
    }))
    .await
    .unwrap();
    assert!(u.is_empty(), "LIKE wildcards are escaped");
    let (u, total) = list(q(|q| {
        q.sort_by = Some("email".into());
        q.sort_direction = Some("desc".into());
        q.limit = Some(1);
        q.offset = Some(1);
    }))
    .await
    .unwrap();
    assert_eq!((u.first().map(|u| u.email.as_str()), total), (Some("bea@example.com"), 3));
    let (u, _) = list(q(|q| {
        q.filter_field = Some("role".into());
        q.filter_value = Some("user".into());
    }))
    .await
    .unwrap();
    assert_eq!(u.len(), 3);
    assert_eq!(list(q(|q| q.sort_by = Some("password".into()))).await.unwrap_err().code, "VALIDATION_ERROR");
});
