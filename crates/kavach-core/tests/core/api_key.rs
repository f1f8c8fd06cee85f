//! API keys: shown once, stored as SHA-256 only and found by it; per-key permissions,
//! expiry, a remaining-uses counter decremented atomically (KavachOS: read-modify-write
//! counters), refill, per-key rate limits; keys of other users are not found; the owner's
//! ban stops its keys.

use crate::*;
use kavach_core::access::Permissions;
use kavach_core::plugins::api_key::{KeyChanges, ListQuery, NewKey};

fn on() -> kavach_core::Options {
    let mut o = options();
    o.api_key.enabled = true;
    o.api_key.rate_limit_enabled = false;
    o
}

async fn user(t: &kavach_testkit::T, email: &str) -> kavach_core::User {
    t.core.email_password().sign_up(sign_up(email, PW), &ctx()).await.unwrap().user
}

dual!(a_key_is_shown_once_stored_hashed_and_verified, on(), |t| {
    let u = user(&t, "owner@example.com").await;
    let new = NewKey { name: Some("ci".into()), prefix: Some("kv_".into()), metadata: Some(serde_json::json!({ "team": "a" })), ..Default::default() };
    let (key, secret) = t.core.api_keys().create(&u, new, &ctx()).await.unwrap();
    assert!(secret.starts_with("kv_") && secret.len() == 3 + 64, "{secret}");
    assert_eq!(key.start.as_deref(), Some(&secret[..6]));
    let stored = scalar_text(t.core.db(), "SELECT key_hash FROM kavach_api_key").await.unwrap();
    assert_eq!(stored, kavach_core::crypto::token_hash(&secret), "base64url(SHA-256), as better-auth stores it");
    let listed = serde_json::to_string(&t.core.api_keys().list(&u.id, &ListQuery::default()).await.unwrap().0).unwrap();
    assert!(!listed.contains(&secret) && !listed.contains(&stored), "neither the key nor its hash is listed");
    let v = t.core.api_keys().verify(&secret, None).await.unwrap();
    assert_eq!((v.user.id.as_str(), v.key.request_count), (u.id.as_str(), 1));
    assert_eq!(t.core.api_keys().verify(&format!("{secret}x"), None).await.unwrap_err().code, "INVALID_API_KEY");
    // Another user's key is not found (not "forbidden": its existence does not show).
    let other = user(&t, "other@example.com").await;
    assert_eq!(t.core.api_keys().get(&other.id, &key.id).await.unwrap_err().code, "KEY_NOT_FOUND");
    assert_eq!(t.core.api_keys().delete(&other.id, &key.id, &ctx()).await.unwrap_err().code, "KEY_NOT_FOUND");
    assert!(audit_kinds(t.core.db()).await.contains(&"api_key.created".to_owned()));
});

dual!(kavachos_read_modify_write_counters_remaining_uses_go_down_atomically, on(), |t| {
    let u = user(&t, "owner@example.com").await;
    let (_, secret) = t.core.api_keys().create(&u, NewKey { remaining: Some(5), ..Default::default() }, &ctx()).await.unwrap();
    let core = &t.core;
    let uses = (0..12).map(|_| {
        let s = secret.clone();
        async move { core.api_keys().verify(&s, None).await.map_err(|e| e.code) }
    });
    let results = futures_util::future::join_all(uses).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5, "{results:?}");
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|c| c == "USAGE_EXCEEDED"), "{results:?}");
});

dual!(remaining_uses_refill_after_their_interval, on(), |t| {
    let u = user(&t, "owner@example.com").await;
    let new = NewKey { refill_amount: Some(2), refill_interval: Some(Duration::from_millis(600)), ..Default::default() };
    let (key, secret) = t.core.api_keys().create(&u, new, &ctx()).await.unwrap();
    assert_eq!(key.remaining, Some(2));
    for _ in 0..2 {
        t.core.api_keys().verify(&secret, None).await.unwrap();
    }
    assert_eq!(t.core.api_keys().verify(&secret, None).await.unwrap_err().code, "USAGE_EXCEEDED");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(t.core.api_keys().verify(&secret, None).await.unwrap().key.remaining, Some(1), "refilled to 2, one used");
});

dual!(a_key_has_its_own_rate_limit, on(), |t| {
    let u = user(&t, "owner@example.com").await;
    let new = NewKey { rate_limit_enabled: Some(true), rate_limit_max: Some(3), rate_limit_time_window: Some(Duration::from_secs(3600)), ..Default::default() };
    let (_, secret) = t.core.api_keys().create(&u, new, &ctx()).await.unwrap();
    let (_, other) =
        t.core.api_keys().create(&u, NewKey { rate_limit_enabled: Some(true), rate_limit_max: Some(3), ..Default::default() }, &ctx()).await.unwrap();
    for _ in 0..3 {
        t.core.api_keys().verify(&secret, None).await.unwrap();
    }
    assert_eq!(t.core.api_keys().verify(&secret, None).await.unwrap_err().code, "RATE_LIMITED");
    t.core.api_keys().verify(&other, None).await.expect("another key of the same user has its own count");
});

dual!(permissions_expiry_disabling_and_the_owners_ban_are_enforced, on(), |t| {
    let u = user(&t, "owner@example.com").await;
    let perms = Permissions::of(&[("files", &["read"])]);
    let (key, secret) = t.core.api_keys().create(&u, NewKey { permissions: Some(perms), ..Default::default() }, &ctx()).await.unwrap();
    t.core.api_keys().verify(&secret, Some(&Permissions::of(&[("files", &["read"])]))).await.unwrap();
    assert_eq!(t.core.api_keys().verify(&secret, Some(&Permissions::of(&[("files", &["write"])]))).await.unwrap_err().code, "KEY_NOT_FOUND");
    t.core.api_keys().update(&u.id, &key.id, KeyChanges { enabled: Some(false), ..Default::default() }, &ctx()).await.unwrap();
    assert_eq!(t.core.api_keys().verify(&secret, None).await.unwrap_err().code, "KEY_DISABLED");
    t.core.api_keys().update(&u.id, &key.id, KeyChanges { enabled: Some(true), ..Default::default() }, &ctx()).await.unwrap();
    t.core.users().ban(&u.id, None, None, &ctx()).await.unwrap();
    assert_eq!(t.core.api_keys().verify(&secret, None).await.unwrap_err().code, "BANNED_USER");
    t.core.users().unban(&u.id, &ctx()).await.unwrap();
    exec(t.core.db(), "UPDATE kavach_api_key SET expires_at = created_at").await;
    assert_eq!(t.core.api_keys().verify(&secret, None).await.unwrap_err().code, "KEY_EXPIRED");
    t.core.purge_expired().await.unwrap();
    assert_eq!(t.core.api_keys().get(&u.id, &key.id).await.unwrap_err().code, "KEY_NOT_FOUND", "expired keys are purged");
});

dual!(bad_key_settings_are_refused_and_nothing_is_written, on(), |t| {
    let u = user(&t, "owner@example.com").await;
    let keys = t.core.api_keys();
    for (new, code) in [
        (NewKey { prefix: Some("bad prefix!".into()), ..Default::default() }, "INVALID_PREFIX_LENGTH"),
        (NewKey { name: Some("x".repeat(33)), ..Default::default() }, "INVALID_NAME_LENGTH"),
        (NewKey { metadata: Some(serde_json::json!("a string")), ..Default::default() }, "INVALID_METADATA_TYPE"),
        (NewKey { expires_in: Some(Duration::from_secs(60)), ..Default::default() }, "EXPIRES_IN_IS_TOO_SMALL"),
        (NewKey { expires_in: Some(Duration::from_secs(400 * 86400)), ..Default::default() }, "EXPIRES_IN_IS_TOO_LARGE"),
        (NewKey { refill_amount: Some(5), ..Default::default() }, "REFILL_AMOUNT_AND_INTERVAL_REQUIRED"),
    ] {
        assert_eq!(keys.create(&u, new, &ctx()).await.unwrap_err().code, code);
    }
    assert_eq!(scalar_text(t.core.db(), "SELECT CAST(COUNT(*) AS TEXT) FROM kavach_api_key").await.unwrap(), "0");
    let (key, _) = keys.create(&u, NewKey::default(), &ctx()).await.unwrap();
    assert_eq!(keys.update(&u.id, &key.id, KeyChanges::default(), &ctx()).await.unwrap_err().code, "NO_VALUES_TO_UPDATE");
});
