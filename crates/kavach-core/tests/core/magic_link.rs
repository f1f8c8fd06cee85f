//! Magic links: single use, stored hashed (research/kavachos.md §11: magic-link tokens in
//! clear), an unproven account's password and sessions end when a link proves the
//! address, banned users refused, sign-up only when allowed.

use crate::*;
use kavach_core::plugins::magic_link::LinkRequest;
use kavach_core::plugins::two_factor::SignInStep;

fn on() -> kavach_core::Options {
    let mut o = options();
    o.magic_link.enabled = true;
    o.session.cache_ttl = Duration::ZERO;
    o
}

async fn follow(t: &kavach_testkit::T, email: &str) -> kavach_core::Result<kavach_core::plugins::magic_link::Followed> {
    t.core.magic_link().send(&LinkRequest { email: email.into(), ..Default::default() }, &ctx()).await.unwrap();
    let token = link_token(&t.mail.wait_for(email, "Sign in to").await);
    t.core.magic_link().verify(&token, None, &ctx()).await
}

dual!(kavachos_magic_link_in_clear_tokens_are_stored_hashed_and_work_once, on(), |t| {
    t.core.magic_link().send(&LinkRequest { email: "once@example.com".into(), name: Some("Once".into()), ..Default::default() }, &ctx()).await.unwrap();
    let token = link_token(&t.mail.wait_for("once@example.com", "Sign in to").await);
    let stored = scalar_text(t.core.db(), "SELECT identifier FROM kavach_verification WHERE identifier LIKE 'magic-link:%'").await.unwrap();
    assert!(!stored.contains(&token), "only the token's hash is stored");
    let out = t.core.magic_link().verify(&token, None, &ctx()).await.unwrap();
    assert!(out.new_user);
    let SignInStep::SignedIn(s) = out.step else { panic!("a new user has no second factor") };
    assert!(s.user.email_verified && s.user.name == "Once");
    assert_eq!(t.core.magic_link().verify(&token, None, &ctx()).await.unwrap_err().code, "INVALID_TOKEN");
});

dual!(a_link_proves_an_unverified_address_and_ends_the_password_and_sessions_set_without_proof, on(), |t| {
    // Someone registered the address with a password, never proving it.
    let up = t.core.email_password().sign_up(sign_up("victim@example.com", PW), &ctx()).await.unwrap();
    assert!(!up.user.email_verified);
    let squatter = up.session.expect("signed in without verification");
    let out = follow(&t, "victim@example.com").await.unwrap();
    assert!(!out.new_user);
    assert!(t.core.sessions().check(&squatter.token).await.unwrap().is_none(), "the squatter's session ended");
    assert_eq!(t.core.email_password().sign_in("victim@example.com", PW, &ctx()).await.unwrap_err().code, "INVALID_EMAIL_OR_PASSWORD", "and their password");
    let SignInStep::SignedIn(s) = out.step else { panic!() };
    assert!(s.user.email_verified);
});

dual!(banned_users_and_unknown_addresses_without_sign_up_are_refused, on(), |t| {
    let new = NewUser { email: "banned@example.com".into(), name: "B".into(), password: None, email_verified: true, image: None };
    let u = t.core.users().create(new, &ctx()).await.unwrap();
    t.core.users().ban(&u.id, None, None, &ctx()).await.unwrap();
    assert_eq!(follow(&t, "banned@example.com").await.unwrap_err().code, "BANNED_USER");
});

dual!(
    without_sign_up_an_unknown_address_gets_nothing_and_the_same_answer,
    {
        let mut o = on();
        o.magic_link.allow_sign_up = false;
        o
    },
    |t| {
        t.core.magic_link().send(&LinkRequest { email: "nobody@example.com".into(), ..Default::default() }, &ctx()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(t.mail.count_to("nobody@example.com"), 0);
    }
);

// Group commit (verification::SingleUse): many requests with the same link in one group
// consume it once.
dual!(a_link_followed_by_many_requests_at_once_signs_in_once, on(), |t| {
    t.core.magic_link().send(&LinkRequest { email: "many@example.com".into(), ..Default::default() }, &ctx()).await.unwrap();
    let token = link_token(&t.mail.wait_for("many@example.com", "Sign in to").await);
    let (ml, c) = (t.core.magic_link(), ctx());
    let follows = (0..8).map(|_| ml.verify(&token, None, &c));
    let out = futures_util::future::join_all(follows).await;
    assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 1, "one sign-in");
    assert!(out.iter().filter_map(|r| r.as_ref().err()).all(|e| e.code == "INVALID_TOKEN"));
});
