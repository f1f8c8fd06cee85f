//! The authorization server's client authentication at the core level (RFC 7523
//! `private_key_jwt`), on SQLite and PostgreSQL.

use crate::dual;
use crate::harness::options;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use kavach_core::oauth::clients::Origin;
use kavach_core::oauth::tokens::{ASSERTION_TYPE, Credentials};
use serde_json::json;

fn assertion(key: &Ed25519KeyPair, claims: serde_json::Value, kid: Option<&str>) -> String {
    let mut header = json!({ "alg": "EdDSA", "typ": "JWT" });
    if let Some(k) = kid {
        header["kid"] = json!(k);
    }
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    format!("{input}.{}", B64.encode(key.sign(input.as_bytes()).as_ref()))
}

dual!(rfc7523_private_key_jwt_client_authentication, options(), |t| {
    let key = Ed25519KeyPair::generate().unwrap();
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": B64.encode(key.public_key().as_ref()) });
    let reg = t.core.clients().register(&json!({ "client_name": "Agent", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": { "keys": [jwk.clone()] } }), Origin::Dynamic).await.unwrap();
    let id = reg.client_id.clone();
    let issuer = t.core.options().issuer();
    let now = kavach_core::store::Ts::now().0 / 1000;
    let claims = |jti: &str, aud: &str, exp: i64| json!({ "iss": id, "sub": id, "aud": aud, "exp": exp, "iat": now, "jti": jti });
    let creds = |a: String| Credentials { assertion_type: Some(ASSERTION_TYPE.into()), assertion: Some(a), ..Default::default() };
    let endpoint = format!("{issuer}/oauth2/token");
    let ok = t.core.tokens().authenticate(&creds(assertion(&key, claims("j1", &issuer, now + 60), None)), &endpoint).await;
    assert_eq!(ok.unwrap().client_id, id);
    let replay = t.core.tokens().authenticate(&creds(assertion(&key, claims("j1", &issuer, now + 60), None)), &endpoint).await;
    assert_eq!(replay.unwrap_err().error, "invalid_client", "a jti is single use");
    let other_key = Ed25519KeyPair::generate().unwrap();
    for (bad, why) in [
        (assertion(&other_key, claims("j2", &issuer, now + 60), None), "signed by another key"),
        (assertion(&key, claims("j3", "https://elsewhere.example", now + 60), None), "foreign audience"),
        (assertion(&key, claims("j4", &issuer, now - 120), None), "expired"),
        (assertion(&key, claims("j5", &issuer, now + 3600), None), "lifetime over 10 minutes"),
        (assertion(&key, claims("j6", &issuer, now + 60), Some("unknown-kid")), "unknown kid"),
    ] {
        let r = t.core.tokens().authenticate(&creds(bad), &endpoint).await;
        assert_eq!(r.unwrap_err().error, "invalid_client", "{why}");
    }
    // An alg:none assertion is refused.
    let none = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), B64.encode(claims("j7", &issuer, now + 60).to_string()));
    assert_eq!(t.core.tokens().authenticate(&creds(none), &endpoint).await.unwrap_err().error, "invalid_client");
    // A jwks_uri instead of inline keys: an http(s) URL, not both, and its keys are used
    // once the HTTP layer has fetched them (until then: refused).
    let reg = t.core.clients().register(&json!({ "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": "https://agent.example/jwks" }), Origin::Dynamic).await.unwrap();
    for bad in [json!({ "jwks_uri": "file:///etc/passwd" }), json!({ "jwks_uri": "https://agent.example/jwks", "jwks": { "keys": [] } })] {
        let mut m = json!({ "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt" });
        m.as_object_mut().unwrap().extend(bad.as_object().unwrap().clone());
        assert_eq!(t.core.clients().register(&m, Origin::Dynamic).await.unwrap_err().code, "invalid_client_metadata", "{m}");
    }
    let remote = reg.client_id.clone();
    let claims2 = |jti: &str| json!({ "iss": remote, "sub": remote, "aud": issuer, "exp": now + 60, "iat": now, "jti": jti });
    let e = t.core.tokens().authenticate(&creds(assertion(&key, claims2("r1"), None)), &endpoint).await.unwrap_err();
    assert_eq!(e.error, "invalid_client", "keys not fetched yet");
    let stored = t.core.clients().store_remote_jwks("https://agent.example/jwks", &json!({ "nope": 1 }), kavach_core::store::Ts::now().plus_secs(60)).await;
    assert_eq!(stored.unwrap_err().error, "invalid_client", "a fetched document that is not a JWK set is refused");
    t.core.clients().store_remote_jwks("https://agent.example/jwks", &json!({ "keys": [jwk] }), kavach_core::store::Ts::now().plus_secs(60)).await.unwrap();
    let ok = t.core.tokens().authenticate(&creds(assertion(&key, claims2("r2"), None)), &endpoint).await;
    assert_eq!(ok.unwrap().client_id, remote, "the stored jwks_uri keys verify");
});

fn resourceful() -> kavach_core::Options {
    let mut o = options();
    o.oauth.resources = vec![kavach_core::oauth::ResourceDef { uri: "https://mcp.example.com/mcp".into(), name: None, scopes: vec!["mcp:tools".into()] }];
    o
}

type Form = std::collections::HashMap<String, String>;

fn form(pairs: &[(&str, &str)]) -> Form {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Register a client (public unless `secret`), create a user, run one authorization
/// code flow: the client, the user and the token response.
async fn code_flow(t: &crate::harness::T, email: &str, confidential: bool) -> (kavach_core::oauth::clients::Client, kavach_core::User, serde_json::Value) {
    use kavach_core::{NewUser, RequestContext};
    let ctx = RequestContext::default();
    let method = if confidential { "client_secret_basic" } else { "none" };
    let reg = t.core.clients().register(&json!({ "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": method,
        "grant_types": ["authorization_code", "refresh_token"] }), Origin::Dynamic).await.unwrap();
    let client = t.core.clients().get(&reg.client_id).await.unwrap().unwrap();
    let user = t.core.users().create(NewUser { email: email.into(), name: "U".into(), password: None, email_verified: true, image: None }, &ctx).await.unwrap();
    let params = form(&[("response_type", "code"), ("client_id", reg.client_id.as_str()), ("redirect_uri", "http://127.0.0.1/cb"),
        ("code_challenge", "domp_D2sOlqRpXIXswPmQy5a7pFKtTXQN0nZXoK_mD4"), ("code_challenge_method", "S256"), ("resource", "https://mcp.example.com/mcp")]);
    let req = t.core.authorize().validate(&params).await.unwrap();
    let url = t.core.authorize().approve(&req, &user, kavach_core::store::Ts::now().0 / 1000, false, &ctx).await.unwrap();
    let code = url.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let grant = form(&[("grant_type", "authorization_code"), ("code", &code), ("code_verifier", "dBjftJeZ4CVP-mJ92K7dYoEkgMlN3Ks3P9h2nFE9hYo")]);
    let tokens = t.core.tokens().grant(&client, &grant, None, &ctx).await.unwrap();
    (client, user, tokens)
}

dual!(refresh_refused_for_banned_and_deleted_users, resourceful(), |t| {
    let ctx = kavach_core::RequestContext::default();
    let (client, user, t1) = code_flow(&t, "ban@example.com", false).await;
    let rt = t1["refresh_token"].as_str().unwrap().to_owned();
    t.core.users().ban(&user.id, Some("test"), None, &ctx).await.unwrap();
    let e = t.core.tokens().grant(&client, &form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]), None, &ctx).await.unwrap_err();
    assert_eq!(e.error, "invalid_grant", "a banned user's grant cannot refresh");
    t.core.users().unban(&user.id, &ctx).await.unwrap();
    let t2 = t.core.tokens().grant(&client, &form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]), None, &ctx).await.unwrap();
    let at2 = t2["access_token"].as_str().unwrap();
    assert!(t.core.tokens().active(at2).await.unwrap().is_some());
    t.core.users().delete(&user.id, &ctx).await.unwrap();
    let e = t.core.tokens().grant(&client, &form(&[("grant_type", "refresh_token"), ("refresh_token", t2["refresh_token"].as_str().unwrap())]), None, &ctx).await.unwrap_err();
    assert_eq!(e.error, "invalid_grant", "a deleted user's grant cannot refresh");
    assert!(t.core.tokens().active(at2).await.unwrap().is_none(), "deleting the user revoked its access tokens");
});

dual!(disabling_a_client_revokes_its_grants, resourceful(), |t| {
    let (client, _, tok) = code_flow(&t, "d@example.com", false).await;
    let at = tok["access_token"].as_str().unwrap();
    assert!(t.core.tokens().active(at).await.unwrap().is_some());
    assert!(t.core.clients().set_disabled(&client.client_id, true).await.unwrap());
    assert!(t.core.tokens().active(at).await.unwrap().is_none(), "a disabled client's access tokens introspect as inactive");
});

// Rotations are written in groups (one statement for the concurrent ones): each
// concurrent refresh of a token still gets exactly one successor.
dual!(mcp_22_concurrent_refreshes_of_one_token_share_one_successor, resourceful(), |t| {
    let ctx = kavach_core::RequestContext::default();
    let (client, _, tok) = code_flow(&t, "race@example.com", false).await;
    let grant = form(&[("grant_type", "refresh_token"), ("refresh_token", tok["refresh_token"].as_str().unwrap())]);
    let tokens = t.core.tokens();
    let answers = futures_util::future::join_all((0..8).map(|_| tokens.grant(&client, &grant, None, &ctx))).await;
    let successors: std::collections::HashSet<String> = answers.into_iter().map(|a| a.unwrap()["refresh_token"].as_str().unwrap().to_owned()).collect();
    assert_eq!(successors.len(), 1, "a public client's concurrent refreshes all get the one successor (grace window)");
    let next = successors.into_iter().next().unwrap();
    assert!(t.core.tokens().grant(&client, &form(&[("grant_type", "refresh_token"), ("refresh_token", &next)]), None, &ctx).await.is_ok());
});

dual!(mcp_22_concurrent_reuse_by_a_confidential_client_revokes_the_family, resourceful(), |t| {
    let ctx = kavach_core::RequestContext::default();
    let (client, _, tok) = code_flow(&t, "theft@example.com", true).await;
    let grant = form(&[("grant_type", "refresh_token"), ("refresh_token", tok["refresh_token"].as_str().unwrap())]);
    let tokens = t.core.tokens();
    let answers = futures_util::future::join_all((0..8).map(|_| tokens.grant(&client, &grant, None, &ctx))).await;
    let won: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "exactly one of eight concurrent refreshes rotates the token");
    assert!(answers.iter().filter_map(|a| a.as_ref().err()).all(|e| e.error == "invalid_grant"));
    let next = won[0]["refresh_token"].as_str().unwrap();
    let e = t.core.tokens().grant(&client, &form(&[("grant_type", "refresh_token"), ("refresh_token", next)]), None, &ctx).await.unwrap_err();
    assert_eq!(e.error, "invalid_grant", "the reuse revoked the family, the winner's successor included");
});

dual!(concurrent_rotations_of_different_grants_each_get_their_own_successor, resourceful(), |t| {
    let ctx = kavach_core::RequestContext::default();
    let mut chains = vec![];
    for i in 0..6 {
        let (client, _, tok) = code_flow(&t, &format!("chain{i}@example.com"), false).await;
        chains.push((client, tok["refresh_token"].as_str().unwrap().to_owned()));
    }
    let core = &t.core;
    for _round in 0..3 {
        let answers = futures_util::future::join_all(chains.iter().map(|(c, rt)| {
            let f = form(&[("grant_type", "refresh_token"), ("refresh_token", rt)]);
            let ctx = &ctx;
            async move { core.tokens().grant(c, &f, None, ctx).await }
        }))
        .await;
        for ((_, rt), a) in chains.iter_mut().zip(answers) {
            let next = a.unwrap()["refresh_token"].as_str().unwrap().to_owned();
            assert_ne!(&next, rt);
            *rt = next;
        }
    }
});

dual!(a_key_made_on_another_instance_verifies_without_waiting_for_the_cache, options(), |t| {
    let other = crate::harness::core_on(&t.url, options()).await;
    let _ = other.core.keys().jwks().await.unwrap(); // the other instance caches the key set (no key yet)
    let now = kavach_core::store::Ts::now().0 / 1000;
    // A token as the token endpoint makes them: for a registered client (introspection checks it).
    let reg = t.core.clients().register(&json!({ "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic" }), Origin::Operator).await.unwrap();
    let claims = json!({ "iss": t.core.options().issuer(), "sub": "u", "aud": "x", "client_id": reg.client_id, "iat": now, "exp": now + 60, "jti": "j" });
    let token = t.core.keys().sign(kavach_core::Alg::EdDSA, "at+jwt", &claims).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(other.core.tokens().active(&token).await.unwrap().is_some(), "an unknown kid reloads the keys (at most every 2 s)");
    other.db.close().await;
});
