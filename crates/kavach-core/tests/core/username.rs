//! Usernames: normalised and unique (the index settles races), reserved names refused,
//! sign-in with the same answer for unknown names and wrong passwords, the lockout and
//! two-factor of the email sign-in, changes in one transaction.

use crate::*;
use kavach_core::plugins::two_factor::{Caller, Proof, SignInStep, Totp, totp};

fn on() -> kavach_core::Options {
    let mut o = options();
    o.username.enabled = true;
    o.two_factor.enabled = true;
    o.session.cache_ttl = Duration::ZERO;
    o
}

fn with_name(email: &str, username: &str) -> kavach_core::plugins::email_password::SignUp {
    kavach_core::plugins::email_password::SignUp { username: Some(username.into()), ..sign_up(email, PW) }
}

async fn users_count(t: &kavach_testkit::T) -> i64 {
    kavach_core::db!(t.core.db(), |pool| { sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM kavach_user").fetch_one(pool).await.unwrap() })
}

dual!(usernames_are_normalised_unique_and_reserved_names_refused, on(), |t| {
    let up = t.core.email_password().sign_up(with_name("ann@example.com", "Ann.Smith"), &ctx()).await.unwrap();
    assert_eq!((up.user.username.as_deref(), up.user.display_username.as_deref()), (Some("ann.smith"), Some("Ann.Smith")));
    let u = t.core.usernames();
    assert!(!u.is_available("ANN.SMITH").await.unwrap());
    assert!(!u.is_available("Admin").await.unwrap(), "reserved");
    assert!(u.is_available("bob_99").await.unwrap());
    assert_eq!(u.is_available("ab").await.unwrap_err().code, "USERNAME_TOO_SHORT");
    assert_eq!(u.is_available("no spaces").await.unwrap_err().code, "INVALID_USERNAME");
    let before = users_count(&t).await;
    let e = t.core.email_password().sign_up(with_name("other@example.com", "ann.SMITH"), &ctx()).await.unwrap_err();
    assert_eq!(e.code, "USERNAME_IS_ALREADY_TAKEN");
    assert_eq!(t.core.email_password().sign_up(with_name("root@example.com", "root"), &ctx()).await.unwrap_err().code, "USERNAME_IS_ALREADY_TAKEN");
    assert_eq!(users_count(&t).await, before, "no account half-created");
});

dual!(concurrent_sign_ups_for_one_username_leave_one_account, on(), |t| {
    let mut tasks = vec![];
    for i in 0..6 {
        let core = t.core.clone();
        tasks.push(tokio::spawn(async move { core.email_password().sign_up(with_name(&format!("race{i}@example.com"), "racer"), &ctx()).await.is_ok() }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap() {
            ok += 1;
        }
    }
    assert_eq!(ok, 1, "the unique index lets one through");
    assert_eq!(scalar_text(t.core.db(), "SELECT username FROM kavach_user WHERE username = 'racer'").await.as_deref(), Some("racer"));
});

dual!(username_sign_in_answers_the_same_for_unknown_names_and_wrong_passwords, on(), |t| {
    t.core.email_password().sign_up(with_name("cat@example.com", "cat"), &ctx()).await.unwrap();
    let u = t.core.usernames();
    assert_eq!(u.sign_in("nobody", PW, &ctx()).await.unwrap_err().code, "INVALID_USERNAME_OR_PASSWORD");
    assert_eq!(u.sign_in("cat", "not the password", &ctx()).await.unwrap_err().code, "INVALID_USERNAME_OR_PASSWORD");
    let SignInStep::SignedIn(s) = u.sign_in("CAT", PW, &ctx()).await.unwrap() else { panic!("no second factor here") };
    assert_eq!(s.user.email, "cat@example.com");
    assert_eq!(u.sign_in("x", PW, &ctx()).await.unwrap_err().code, "USERNAME_TOO_SHORT");
});

dual!(a_totp_user_gets_a_pending_sign_in_by_username_too, on(), |t| {
    let up = t.core.email_password().sign_up(with_name("tf@example.com", "tfuser"), &ctx()).await.unwrap();
    let s = up.session.unwrap();
    let tf = t.core.two_factor();
    let out = tf.enable(&up.user, &s.session, Some(PW), "totp", None, &ctx()).await.unwrap();
    let uri = out.totp_uri.unwrap();
    let secret = totp::base32_decode(uri.split("secret=").nth(1).unwrap().split('&').next().unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    tf.verify(Caller::Session(&up.user), Proof::Totp(&Totp { digits: 6, period: 30, skew: 1 }.code_at(&secret, now - 30)), false, &ctx()).await.unwrap();
    assert!(matches!(t.core.usernames().sign_in("tfuser", PW, &ctx()).await.unwrap(), SignInStep::TwoFactor(_)));
});

dual!(changing_the_username_is_one_transaction_with_the_rest_of_the_profile, on(), |t| {
    let a = t.core.email_password().sign_up(with_name("a@example.com", "alpha"), &ctx()).await.unwrap().user;
    t.core.email_password().sign_up(with_name("b@example.com", "beta"), &ctx()).await.unwrap();
    let u = t.core.usernames();
    assert_eq!(u.update_user(&a, None, None, ("beta", None), None, &ctx()).await.unwrap_err().code, "USERNAME_IS_ALREADY_TAKEN");
    // A bad name in the same request: nothing changes, the username included.
    assert_eq!(u.update_user(&a, Some("bad\u{7}name"), None, ("gamma", None), None, &ctx()).await.unwrap_err().code, "INVALID_NAME");
    assert_eq!(scalar_text(t.core.db(), &format!("SELECT username FROM kavach_user WHERE id = '{}'", a.id)).await.as_deref(), Some("alpha"));
    let changed = u.update_user(&a, Some("Alpha Person"), None, ("Gamma", None), None, &ctx()).await.unwrap();
    assert_eq!((changed.username.as_deref(), changed.display_username.as_deref(), changed.name.as_str()), (Some("gamma"), Some("Gamma"), "Alpha Person"));
    // Re-setting one's own name is fine; the old one is free again.
    u.update_user(&changed, None, None, ("gamma", Some("GAMMA")), None, &ctx()).await.unwrap();
    assert!(u.is_available("alpha").await.unwrap());
});

dual!(switched_off_usernames_are_refused_at_sign_up, options(), |t| {
    assert_eq!(t.core.email_password().sign_up(with_name("off@example.com", "offuser"), &ctx()).await.unwrap_err().code, "USERNAME_DISABLED");
});
