//! Migration from other systems: sealed provider tokens, better-auth sessions.

use crate::*;

dual!(imported_provider_tokens_are_sealed_at_rest, options(), |t| {
    // A minimal better-auth SQLite database with one social account.
    let src = kavach_testkit::TestDb::sqlite().await;
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

dual!(better_auth_plugin_fields_are_imported_username_phone_and_anonymous, options(), |t| {
    let src = kavach_testkit::TestDb::sqlite().await;
    let path = src.url.trim_start_matches("sqlite://").to_owned();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{path}?mode=rwc")).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE user (id TEXT, name TEXT, email TEXT, emailVerified INTEGER, image TEXT, createdAt TEXT, updatedAt TEXT,
                            username TEXT, displayUsername TEXT, phoneNumber TEXT, phoneNumberVerified INTEGER, isAnonymous INTEGER);
         INSERT INTO user VALUES ('u1', 'Neo', 'neo@example.com', 1, NULL, '2026-11-22T14:25:47.369Z', '2026-11-22T14:25:47.369Z',
                                  'neo', 'Neo', '+1 415 555 0123', 1, 0);
         INSERT INTO user VALUES ('u2', 'Anonymous', 'temp-x@anonymous.placeholder.invalid', 0, NULL, '2026-11-22T14:25:47.369Z',
                                  '2026-11-22T14:25:47.369Z', NULL, NULL, NULL, NULL, 1);",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let report = kavach_core::plugins::migration::import::better_auth::import(&t.core, &path, false, &ctx()).await.unwrap();
    assert_eq!(report.tables[0].imported, 2, "{report}");
    let neo = t.core.users().get("u1").await.unwrap().unwrap();
    assert_eq!((neo.username.as_deref(), neo.display_username.as_deref()), (Some("neo"), Some("Neo")));
    assert_eq!((neo.phone_number.as_deref(), neo.phone_number_verified), (Some("+14155550123"), true), "normalised to E.164");
    assert!(!neo.is_anonymous);
    assert!(t.core.users().get("u2").await.unwrap().unwrap().is_anonymous);
    src.drop_db().await;
});

dual!(better_auth_passkeys_and_wallets_are_imported_and_keep_signing_in, options_with_passkeys_and_siwe(), |t| {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use kavach_testkit::authenticator::SoftAuthenticator;
    use kavach_testkit::wallet::{address, key, sign};
    // A passkey better-auth registered: its random 32-character user handle, kept nowhere.
    let mut pk = SoftAuthenticator::new();
    pk.user_handle = Some(b"k3v9x0q2m8w1z7c4r6t5y0u2i8o1p3a9".to_vec());
    pk.counter = 7;
    pk.synced = true;
    let wallet = key(9);
    let src = kavach_testkit::TestDb::sqlite().await;
    let path = src.url.trim_start_matches("sqlite://").to_owned();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{path}?mode=rwc")).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE user (id TEXT, name TEXT, email TEXT, emailVerified INTEGER, image TEXT, createdAt TEXT, updatedAt TEXT);
         CREATE TABLE passkey (id TEXT, name TEXT, publicKey TEXT, userId TEXT, credentialID TEXT, counter INTEGER, deviceType TEXT,
                               backedUp INTEGER, transports TEXT, createdAt TEXT, aaguid TEXT);
         CREATE TABLE walletAddress (id TEXT, userId TEXT, address TEXT, chainId INTEGER, isPrimary INTEGER, createdAt TEXT);
         INSERT INTO user VALUES ('u1', 'Ada', 'ada@example.com', 1, NULL, '2026-11-22T14:25:47.369Z', '2026-11-22T14:25:47.369Z');
         INSERT INTO passkey VALUES ('p1', 'MacBook', '{}', 'u1', '{}', 7, 'multiDevice', 1, 'internal,hybrid', '2026-11-22T14:25:47.369Z', NULL);
         INSERT INTO passkey VALUES ('p2', 'broken', 'bm90IGNib3I=', 'u1', 'AAAA', 0, 'singleDevice', 0, '', '2026-11-22T14:25:47.369Z', NULL);
         INSERT INTO passkey VALUES ('p3', 'orphan', '{}', 'nobody', 'BBBB', 0, 'singleDevice', 0, '', '2026-11-22T14:25:47.369Z', NULL);
         INSERT INTO walletAddress VALUES ('w1', 'u1', '{}', 1, 1, '2026-11-22T14:25:47.369Z');
         INSERT INTO walletAddress VALUES ('w2', 'u1', 'not-an-address', 1, 0, '2026-11-22T14:25:47.369Z');",
        STANDARD.encode(pk.cose_key()),
        URL_SAFE_NO_PAD.encode(&pk.credential_id),
        STANDARD.encode(pk.cose_key()),
        address(&wallet).to_lowercase(),
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let report = kavach_core::plugins::migration::import::better_auth::import(&t.core, &path, false, &ctx()).await.unwrap();
    let table = |name: &str| report.tables.iter().find(|x| x.table == name).unwrap_or_else(|| panic!("no {name} in {report}")).clone();
    let (passkeys, wallets) = (table("passkeys"), table("wallets"));
    assert_eq!((passkeys.read, passkeys.imported, passkeys.skipped.len()), (3, 1, 2), "{report}");
    assert!(passkeys.skipped.iter().any(|s| s.id == "p2" && s.reason.contains("COSE")), "{report}");
    assert!(passkeys.skipped.iter().any(|s| s.id == "p3" && s.reason.contains("not imported")), "{report}");
    assert_eq!((wallets.imported, wallets.skipped.len()), (1, 1), "{report}");

    // Ada signs in with the passkey she registered with better-auth, and with her wallet.
    let listed = t.core.passkey().list("u1").await.unwrap();
    assert_eq!((listed[0].name.as_deref(), listed[0].device_type.as_str(), listed[0].backed_up, listed[0].counter), (Some("MacBook"), "multiDevice", true, 7));
    let c = t.core.passkey().authentication_options().await.unwrap();
    let answer = pk.authenticate(&c.options, "http://localhost:3000");
    match t.core.passkey().authenticate(&c.token, &answer, &ctx()).await.unwrap() {
        kavach_core::plugins::two_factor::SignInStep::SignedIn(s) => assert_eq!(s.user.id, "u1"),
        _ => panic!("a second factor was asked"),
    }
    // Its counter (7) carried over: an answer behind it is refused.
    pk.counter = 3;
    let c = t.core.passkey().authentication_options().await.unwrap();
    let answer = pk.authenticate(&c.options, "http://localhost:3000");
    assert_eq!(t.core.passkey().authenticate(&c.token, &answer, &ctx()).await.unwrap_err().code, "AUTHENTICATION_FAILED");
    assert_eq!(t.core.siwe().wallets("u1").await.unwrap()[0].address, address(&wallet));
    let nonce = t.core.siwe().nonce().await.unwrap();
    let text = format!(
        "localhost:3000 wants you to sign in with your Ethereum account:\n{}\n\n\nURI: http://localhost:3000\nVersion: 1\nChain ID: 1\nNonce: {nonce}\nIssued At: {}",
        address(&wallet),
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap()
    );
    let req = kavach_core::plugins::siwe::VerifyRequest { signature: sign(&wallet, &text), message: text, email: None };
    assert_eq!(t.core.siwe().verify(&req, &ctx()).await.unwrap().wallet.address, address(&wallet));
    // Importing again changes nothing.
    let again = kavach_core::plugins::migration::import::better_auth::import(&t.core, &path, false, &ctx()).await.unwrap();
    assert_eq!(again.tables.iter().find(|x| x.table == "passkeys").unwrap().already_present, 1, "{again}");
    src.drop_db().await;
});

fn options_with_passkeys_and_siwe() -> kavach_core::Options {
    let mut o = options();
    o.passkey.enabled = true;
    o.siwe.enabled = true;
    o
}
