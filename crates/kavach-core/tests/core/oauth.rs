//! The authorization server's client authentication at the core level (RFC 7523
//! `private_key_jwt`), on SQLite and PostgreSQL.

use crate::ctx;
use crate::harness::options;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use kavach_core::plugins::oauth::clients::Origin;
use kavach_core::plugins::oauth::tokens::{ASSERTION_TYPE, Credentials};
use kavach_testkit::dual;
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
    let reg = t
        .core
        .clients()
        .register(
            &json!({ "client_name": "Agent", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": { "keys": [jwk.clone()] } }),
            Origin::Dynamic,
            &ctx(),
        )
        .await
        .unwrap();
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
    let reg = t
        .core
        .clients()
        .register(
            &json!({ "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": "https://agent.example/jwks" }),
            Origin::Dynamic,
            &ctx(),
        )
        .await
        .unwrap();
    for bad in [json!({ "jwks_uri": "file:///etc/passwd" }), json!({ "jwks_uri": "https://agent.example/jwks", "jwks": { "keys": [] } })] {
        let mut m = json!({ "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt" });
        m.as_object_mut().unwrap().extend(bad.as_object().unwrap().clone());
        assert_eq!(t.core.clients().register(&m, Origin::Dynamic, &ctx()).await.unwrap_err().code, "invalid_client_metadata", "{m}");
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
    o.oauth.resources =
        vec![kavach_core::plugins::oauth::ResourceDef { uri: "https://mcp.example.com/mcp".into(), name: None, scopes: vec!["mcp:tools".into()] }];
    o
}

type Form = std::collections::HashMap<String, String>;

fn form(pairs: &[(&str, &str)]) -> Form {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Register a client (public unless `secret`), create a user, run one authorization
/// code flow: the client, the user and the token response.
async fn code_flow(
    t: &crate::harness::T,
    email: &str,
    confidential: bool,
) -> (kavach_core::plugins::oauth::clients::Client, kavach_core::User, serde_json::Value) {
    let client = new_client(t, confidential).await;
    let user = new_user(t, email, None).await;
    let tokens = grant_for(t, &client, &user).await;
    (client, user, tokens)
}

async fn new_client(t: &crate::harness::T, confidential: bool) -> kavach_core::plugins::oauth::clients::Client {
    let method = if confidential { "client_secret_basic" } else { "none" };
    let reg = t
        .core
        .clients()
        .register(
            &json!({ "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": method,
        "grant_types": ["authorization_code", "refresh_token"] }),
            Origin::Dynamic,
            &ctx(),
        )
        .await
        .unwrap();
    t.core.clients().get(&reg.client_id).await.unwrap().unwrap()
}

async fn new_user(t: &crate::harness::T, email: &str, password: Option<&str>) -> kavach_core::User {
    let nu = kavach_core::NewUser { email: email.into(), name: "U".into(), password: password.map(str::to_owned), email_verified: true, image: None };
    t.core.users().create(nu, &ctx()).await.unwrap()
}

/// An approved authorization request's code (not redeemed).
async fn code_for(t: &crate::harness::T, client: &kavach_core::plugins::oauth::clients::Client, user: &kavach_core::User) -> String {
    let params = form(&[
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", "http://127.0.0.1/cb"),
        ("code_challenge", "domp_D2sOlqRpXIXswPmQy5a7pFKtTXQN0nZXoK_mD4"),
        ("code_challenge_method", "S256"),
        ("resource", "https://mcp.example.com/mcp"),
    ]);
    let req = t.core.authorize().validate(&params).await.unwrap();
    let url = t.core.authorize().approve(&req, user, kavach_core::store::Ts::now().0 / 1000, false, &ctx()).await.unwrap();
    url.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned()
}

async fn redeem(
    t: &crate::harness::T,
    client: &kavach_core::plugins::oauth::clients::Client,
    code: &str,
) -> Result<serde_json::Value, kavach_core::plugins::oauth::OAuthError> {
    let grant = form(&[("grant_type", "authorization_code"), ("code", code), ("code_verifier", "dBjftJeZ4CVP-mJ92K7dYoEkgMlN3Ks3P9h2nFE9hYo")]);
    t.core.tokens().grant(client, &grant, None, &ctx()).await
}

/// One authorization code flow for an existing client and user: the token response.
async fn grant_for(t: &crate::harness::T, client: &kavach_core::plugins::oauth::clients::Client, user: &kavach_core::User) -> serde_json::Value {
    let code = code_for(t, client, user).await;
    redeem(t, client, &code).await.unwrap()
}

async fn refresh(
    t: &crate::harness::T,
    client: &kavach_core::plugins::oauth::clients::Client,
    rt: &str,
) -> Result<serde_json::Value, kavach_core::plugins::oauth::OAuthError> {
    t.core.tokens().grant(client, &form(&[("grant_type", "refresh_token"), ("refresh_token", rt)]), None, &ctx()).await
}

// Finding 1: whoever took over an account keeps no API access once the owner resets the
// password: every grant family, its refresh and access tokens, remembered consents and
// codes not yet redeemed end with the reset.
dual!(review_01_a_password_reset_revokes_every_oauth_grant_and_its_tokens, resourceful(), |t| {
    let client = new_client(&t, true).await;
    let user = new_user(&t, "victim@example.com", Some("the victim's old passphrase")).await;
    let tok = grant_for(&t, &client, &user).await;
    let pending = code_for(&t, &client, &user).await;
    let (at, rt) = (tok["access_token"].as_str().unwrap(), tok["refresh_token"].as_str().unwrap());
    assert!(t.core.tokens().active(at).await.unwrap().is_some());
    t.core.email_password().request_password_reset("victim@example.com", None, &ctx()).await.unwrap();
    let token = crate::harness::reset_token(&t.mail.wait_for("victim@example.com", "Reset").await);
    t.core.email_password().reset_password(&token, "the owner's new passphrase", &ctx()).await.unwrap();
    assert_eq!(refresh(&t, &client, rt).await.unwrap_err().error, "invalid_grant", "the refresh token died with the reset");
    assert!(t.core.tokens().active(at).await.unwrap().is_none(), "its access token introspects as inactive");
    assert_eq!(t.core.tokens().introspect(&client, at).await.unwrap(), json!({ "active": false }));
    assert_eq!(redeem(&t, &client, &pending).await.unwrap_err().error, "invalid_grant", "a code issued before the reset is dead");
    // New grants after the reset work.
    let fresh = grant_for(&t, &client, &user).await;
    assert!(t.core.tokens().active(fresh["access_token"].as_str().unwrap()).await.unwrap().is_some());
});

dual!(review_01_a_password_change_revokes_every_oauth_grant_unless_asked_to_keep_them, resourceful(), |t| {
    let client = new_client(&t, false).await;
    let pw = "the first passphrase here";
    let user = new_user(&t, "changer@example.com", Some(pw)).await;
    let signed = t.core.email_password().sign_in("changer@example.com", pw, &ctx()).await.unwrap().signed_in().unwrap();
    // Asked to keep other sessions: the grant survives.
    let kept = grant_for(&t, &client, &user).await;
    let none = t.core.email_password().change_password(&signed.session.session, &user, pw, "the second passphrase here", true, &ctx()).await.unwrap();
    assert!(none.is_none(), "no new session when the others are kept");
    assert!(t.core.sessions().check(&signed.session.token).await.unwrap().is_some());
    assert!(refresh(&t, &client, kept["refresh_token"].as_str().unwrap()).await.is_ok(), "kept on request");
    // By default everything ends.
    let tok = grant_for(&t, &client, &user).await;
    let new = t
        .core
        .email_password()
        .change_password(&signed.session.session, &user, "the second passphrase here", "the third passphrase here", false, &ctx())
        .await
        .unwrap();
    assert!(new.is_some());
    assert_eq!(refresh(&t, &client, tok["refresh_token"].as_str().unwrap()).await.unwrap_err().error, "invalid_grant");
    assert!(t.core.tokens().active(tok["access_token"].as_str().unwrap()).await.unwrap().is_none());
    assert!(t.core.sessions().check(&signed.session.token).await.unwrap().is_none());
});

// Finding 3: introspection checks the user and the client in the same query as the family.
dual!(review_03_banned_or_deleted_users_and_disabled_clients_tokens_introspect_inactive, resourceful(), |t| {
    let (client, user, tok) = code_flow(&t, "intro@example.com", true).await;
    let at = tok["access_token"].as_str().unwrap();
    assert_eq!(t.core.tokens().introspect(&client, at).await.unwrap()["active"], true);
    t.core.users().ban(&user.id, Some("abuse"), None, &ctx()).await.unwrap();
    assert_eq!(t.core.tokens().introspect(&client, at).await.unwrap(), json!({ "active": false }), "banned");
    let until = kavach_core::store::Ts::now().plus_secs(-1);
    t.core.users().ban(&user.id, Some("over"), Some(until), &ctx()).await.unwrap();
    let again = grant_for(&t, &client, &user).await;
    let at2 = again["access_token"].as_str().unwrap();
    assert_eq!(t.core.tokens().introspect(&client, at2).await.unwrap()["active"], true, "a ban that ended no longer counts");
    t.core.users().delete(&user.id, &ctx()).await.unwrap();
    assert_eq!(t.core.tokens().introspect(&client, at2).await.unwrap(), json!({ "active": false }), "deleted");
    let (c2, _, tok2) = code_flow(&t, "intro2@example.com", true).await;
    t.core.clients().set_disabled(&c2.client_id, true).await.unwrap();
    assert!(t.core.tokens().active(tok2["access_token"].as_str().unwrap()).await.unwrap().is_none(), "disabled client");
});

// Finding 4: RFC 7662 §4: only the resource server a token was issued for (or a client an
// operator allowed) learns about it; anyone else gets {"active": false}.
dual!(review_04_rfc7662_introspection_answers_only_the_tokens_resource_server, resourceful(), |t| {
    let t = &t;
    let (client, _, tok) = code_flow(t, "aud@example.com", true).await;
    let at = tok["access_token"].as_str().unwrap();
    let machine = |name: &str| {
        let body = json!({ "client_name": name, "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic" });
        async move {
            let r = t.core.clients().register(&body, Origin::Operator, &ctx()).await.unwrap();
            r.client_id
        }
    };
    let bystander = machine("Bystander").await;
    let rs = machine("MCP server").await;
    let other_rs = machine("Other API").await;
    let auditor = machine("Auditor").await;
    t.core.clients().set_introspection(&rs, &["HTTPS://MCP.Example.com/mcp".into()]).await.unwrap();
    t.core.clients().set_introspection(&other_rs, &["https://api.example.com".into()]).await.unwrap();
    t.core.clients().set_introspection(&auditor, &["*".into()]).await.unwrap();
    let ask = |id: String| async move { t.core.tokens().introspect(&t.core.clients().get(&id).await.unwrap().unwrap(), at).await.unwrap() };
    assert_eq!(ask(bystander.clone()).await, json!({ "active": false }), "another confidential client learns nothing");
    assert_eq!(ask(other_rs).await, json!({ "active": false }), "another resource server learns nothing");
    let seen = ask(rs.clone()).await;
    assert_eq!(
        (seen["active"].clone(), seen["aud"].clone()),
        (json!(true), json!("https://mcp.example.com/mcp")),
        "the token's own resource server (canonical match)"
    );
    assert_eq!(ask(auditor).await["active"], true, "a client the operator allowed for every resource");
    assert_eq!(t.core.tokens().introspect(&client, at).await.unwrap()["active"], true, "the client the token was issued to");
    assert_eq!(t.core.clients().get(&rs).await.unwrap().unwrap().introspects, vec!["https://mcp.example.com/mcp".to_owned()]);
    t.core.clients().set_introspection(&rs, &[]).await.unwrap();
    assert_eq!(ask(rs).await, json!({ "active": false }), "the right can be withdrawn");
    assert!(!t.core.clients().set_introspection("kc_nobody", &["*".into()]).await.unwrap());
});

// Finding 10: loopback and custom-scheme redirects belong to native clients.
dual!(review_10_native_redirects_only_for_native_clients_and_ports_in_range, resourceful(), |t| {
    let t = &t;
    let reg = |body: serde_json::Value| async move { t.core.clients().register(&body, Origin::Dynamic, &ctx()).await };
    // A web application that authenticates gets https only.
    for bad in [
        json!({ "application_type": "web", "redirect_uris": ["http://127.0.0.1/cb"] }),
        json!({ "application_type": "web", "redirect_uris": ["com.example.app:/cb"], "token_endpoint_auth_method": "client_secret_post" }),
        json!({ "application_type": "web", "redirect_uris": ["https://app.example/cb", "http://localhost:8080/cb"] }),
    ] {
        assert_eq!(reg(bad.clone()).await.unwrap_err().code, "invalid_redirect_uri", "{bad}");
    }
    // Registered like a native app: recorded and answered as one, whatever it declared.
    for (body, why) in [
        (json!({ "redirect_uris": ["http://127.0.0.1:9400/callback"], "token_endpoint_auth_method": "none" }), "no application_type (MCP SDK v1)"),
        (
            json!({ "application_type": "web", "token_endpoint_auth_method": "none", "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback", "https://cursor.com/cb"] }),
            "Cursor",
        ),
        (json!({ "token_endpoint_auth_method": "none", "redirect_uris": ["https://vscode.dev/redirect", "http://127.0.0.1/"] }), "VS Code"),
        (json!({ "application_type": "native", "redirect_uris": ["http://127.0.0.1:9400/callback"] }), "declared native, with a secret (oauth4webapi)"),
    ] {
        let r = reg(body).await.unwrap_or_else(|e| panic!("{why}: {e}"));
        assert_eq!(r.metadata["application_type"], "native", "{why}");
    }
    let web = reg(json!({ "redirect_uris": ["https://app.example/cb"] })).await.unwrap();
    assert_eq!(web.metadata["application_type"], "web");
    for bad in ["http://127.0.0.1:0/cb", "http://127.0.0.1:65536/cb", "http://localhost:99999/cb"] {
        assert_eq!(reg(json!({ "application_type": "native", "redirect_uris": [bad] })).await.unwrap_err().code, "invalid_redirect_uri", "{bad}");
    }
});

dual!(review_10_a_request_object_is_refused_not_ignored, resourceful(), |t| {
    let client = new_client(&t, false).await;
    let params = form(&[
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", "http://127.0.0.1/cb"),
        ("code_challenge", "domp_D2sOlqRpXIXswPmQy5a7pFKtTXQN0nZXoK_mD4"),
        ("code_challenge_method", "S256"),
        ("request", "eyJhbGciOiJub25lIn0.e30."),
    ]);
    match t.core.authorize().validate(&params).await {
        Err(kavach_core::plugins::oauth::authorize::Refusal::Redirect { error, .. }) => assert_eq!(error.error, "request_not_supported"),
        other => panic!("{other:?}"),
    }
});

dual!(review_10_a_consent_form_is_used_once, resourceful(), |t| {
    let client = new_client(&t, false).await;
    let params = form(&[
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", "http://127.0.0.1/cb"),
        ("code_challenge", "domp_D2sOlqRpXIXswPmQy5a7pFKtTXQN0nZXoK_mD4"),
        ("code_challenge_method", "S256"),
    ]);
    let flow = t.core.authorize().seal(&t.core.authorize().validate(&params).await.unwrap());
    assert!(t.core.authorize().consume_form(&flow).await.unwrap());
    assert!(!t.core.authorize().consume_form(&flow).await.unwrap(), "the same posted form a second time");
});

// Finding 13: RFC 7591 §2: grant types Kavach does not support are dropped (claude.ai's
// metadata document lists jwt-bearer); a body with none left is refused.
dual!(review_13_unsupported_grant_types_are_dropped_not_fatal, resourceful(), |t| {
    let jwt_bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let r = t
        .core
        .clients()
        .register(
            &json!({ "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token", jwt_bearer] }),
            Origin::Dynamic,
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(r.metadata["grant_types"], json!(["authorization_code", "refresh_token"]), "the accepted list is returned");
    let e = t
        .core
        .clients()
        .register(&json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": [jwt_bearer] }), Origin::Dynamic, &ctx())
        .await
        .unwrap_err();
    assert_eq!(e.code, "invalid_client_metadata");
    let url = "https://claude.ai/oauth/mcp-oauth-client-metadata";
    let doc = json!({ "client_id": url, "client_name": "Claude", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
        "grant_types": ["authorization_code", "refresh_token", jwt_bearer], "response_types": ["code"], "token_endpoint_auth_method": "none" });
    let meta = kavach_core::plugins::oauth::clients::check_document(url, &doc).unwrap();
    assert_eq!(meta["grant_types"], json!(["authorization_code", "refresh_token"]));
});

// Finding 15: dynamic registrations that never complete a grant expire.
dual!(review_15_unused_dynamic_clients_are_purged, resourceful(), |t| {
    let unused = new_client(&t, false).await;
    let (used, _, _) = code_flow(&t, "used@example.com", false).await;
    let operator = t.core.clients().register(&json!({ "redirect_uris": ["https://op.example/cb"] }), Origin::Operator, &ctx()).await.unwrap();
    assert!(t.core.clients().get(&used.client_id).await.unwrap().unwrap().used_at.is_some(), "a completed grant marks the client used");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(t.core.clients().purge_unused(std::time::Duration::ZERO).await.unwrap(), 1);
    assert!(t.core.clients().get(&unused.client_id).await.unwrap().is_none(), "never used: gone");
    assert!(t.core.clients().get(&used.client_id).await.unwrap().is_some(), "used: kept");
    assert!(t.core.clients().get(&operator.client_id).await.unwrap().is_some(), "operator clients are never purged");
});

// Finding 11: the audit log records registrations, token issuance (every grant), refused
// consent, and the resource a consent was for.
dual!(review_11_issuance_refused_consent_and_registration_are_audited, resourceful(), |t| {
    let (client, user, tok) = code_flow(&t, "audited@example.com", false).await;
    refresh(&t, &client, tok["refresh_token"].as_str().unwrap()).await.unwrap();
    let machine = t
        .core
        .clients()
        .register(&json!({ "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic" }), Origin::Operator, &ctx())
        .await
        .unwrap();
    let machine = t.core.clients().get(&machine.client_id).await.unwrap().unwrap();
    t.core.tokens().grant(&machine, &form(&[("grant_type", "client_credentials"), ("resource", "https://mcp.example.com/mcp")]), None, &ctx()).await.unwrap();
    let params = form(&[
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", "http://127.0.0.1/cb"),
        ("code_challenge", "domp_D2sOlqRpXIXswPmQy5a7pFKtTXQN0nZXoK_mD4"),
        ("code_challenge_method", "S256"),
        ("resource", "https://mcp.example.com/mcp"),
    ]);
    let req = t.core.authorize().validate(&params).await.unwrap();
    let back = t.core.authorize().deny(&req, &user, &ctx()).await.unwrap();
    assert!(back.contains("error=access_denied"));
    // Issuance records are written in groups in the background.
    t.core.flush_audit().await;
    let records = kavach_core::audit::page(&t.db, 0, 1000).await.unwrap();
    let of = |kind: &str| records.iter().filter(|r| r.kind == kind).map(|r| serde_json::from_str::<serde_json::Value>(&r.data).unwrap()).collect::<Vec<_>>();
    assert_eq!(of("oauth.client.registered").len(), 2);
    let mut grants: Vec<String> = of("oauth.token.issued").iter().map(|d| d["grant"].as_str().unwrap().to_owned()).collect();
    grants.sort();
    assert_eq!(grants, ["authorization_code", "client_credentials", "refresh_token"]);
    assert!(of("oauth.token.issued").iter().all(|d| d["resource"] == "https://mcp.example.com/mcp"));
    assert_eq!(of("oauth.consent.granted")[0]["resource"], "https://mcp.example.com/mcp");
    assert_eq!(of("oauth.consent.denied")[0]["client_id"], json!(client.client_id));
    assert!(kavach_core::audit::verify(&t.db).await.unwrap().ok(), "grouped appends keep the chain intact");
});

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
    let e = t
        .core
        .tokens()
        .grant(&client, &form(&[("grant_type", "refresh_token"), ("refresh_token", t2["refresh_token"].as_str().unwrap())]), None, &ctx)
        .await
        .unwrap_err();
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
    let _ = other.core.tokens().active("a.b.c").await.unwrap(); // the other instance caches the key set (no key yet)
    let now = kavach_core::store::Ts::now().0 / 1000;
    // A token as the token endpoint makes them: for a registered client (introspection checks it).
    let reg = t
        .core
        .clients()
        .register(&json!({ "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic" }), Origin::Operator, &ctx())
        .await
        .unwrap();
    let claims = json!({ "iss": t.core.options().issuer(), "sub": "u", "aud": "x", "client_id": reg.client_id, "iat": now, "exp": now + 60, "jti": "j" });
    let token = t.core.keys().sign(kavach_core::Alg::EdDSA, "at+jwt", &claims).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(other.core.tokens().active(&token).await.unwrap().is_some(), "an unknown kid reloads the keys (at most every 2 s)");
    other.db.close().await;
});

// Issuance records are appended in groups by a background writer, interleaved with the
// records other writes commit directly: one chain, nothing lost once flushed.
dual!(review_11_queued_issuance_records_and_direct_appends_share_one_chain, resourceful(), |t| {
    let machine = t
        .core
        .clients()
        .register(&json!({ "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic" }), Origin::Operator, &ctx())
        .await
        .unwrap();
    let machine = t.core.clients().get(&machine.client_id).await.unwrap().unwrap();
    let grant = form(&[("grant_type", "client_credentials"), ("resource", "https://mcp.example.com/mcp")]);
    let (c, tok, us) = (ctx(), t.core.tokens(), t.core.users());
    let tokens = futures_util::future::join_all((0..40).map(|_| tok.grant(&machine, &grant, None, &c)));
    let users = futures_util::future::join_all((0..5).map(|i| {
        let nu = kavach_core::NewUser { email: format!("chain{i}@example.com"), name: "C".into(), ..Default::default() };
        us.create(nu, &c)
    }));
    let (tokens, users) = tokio::join!(tokens, users);
    assert!(tokens.iter().all(|r| r.is_ok()) && users.iter().all(|r| r.is_ok()));
    t.core.flush_audit().await;
    let records = kavach_core::audit::page(&t.db, 0, 1000).await.unwrap();
    assert_eq!(records.iter().filter(|r| r.kind == "oauth.token.issued").count(), 40, "every issued token is recorded");
    assert_eq!(records.iter().filter(|r| r.kind == "user.created").count(), 5);
    let report = kavach_core::audit::verify(&t.db).await.unwrap();
    assert!(report.ok(), "{:?}", report.problems);
});

mod oauth_clients {
    use super::*;
    use kavach_core::plugins::oauth::clients::Origin;
    use serde_json::json;

    /// Registration bodies real MCP clients send (shared/research/mcp-oauth.md §3.4).
    fn recorded_bodies() -> Vec<serde_json::Value> {
        vec![
            json!({ "client_name": "TS SDK v1", "redirect_uris": ["http://127.0.0.1:53117/callback"], "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"], "token_endpoint_auth_method": "none", "scope": "mcp:tools" }),
            json!({ "client_name": "TS SDK v2", "redirect_uris": ["http://localhost:8090/callback"], "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"], "token_endpoint_auth_method": "none", "scope": "mcp:tools offline_access", "application_type": "native" }),
            json!({ "client_name": "MCP Inspector", "client_uri": "https://github.com/modelcontextprotocol/inspector", "redirect_uris": ["http://127.0.0.1:6276/oauth/callback"],
                    "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "token_endpoint_auth_method": "none", "application_type": "native" }),
            json!({ "client_name": "Cursor", "application_type": "web", "token_endpoint_auth_method": "none",
                    "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback", "cursor://anysphere.cursor-retrieval/oauth/callback", "https://cursor.com/oauth/callback"] }),
            json!({ "client_name": "VS Code", "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
                    "redirect_uris": ["https://vscode.dev/redirect", "https://insiders.vscode.dev/redirect", "http://127.0.0.1/", "http://127.0.0.1:33418/"] }),
            json!({ "client_name": "Claude", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback", "https://claude.com/api/mcp/auth_callback"],
                    "token_endpoint_auth_method": "client_secret_post", "grant_types": ["authorization_code", "refresh_token"] }),
        ]
    }

    kavach_testkit::dual!(mcp_10_registration_accepts_what_real_clients_send, options(), |t| {
        for body in recorded_bodies() {
            let r = t.core.clients().register(&body, Origin::Dynamic, &ctx()).await.unwrap_or_else(|e| panic!("{body}: {e}"));
            assert!(r.client_id.starts_with("kc_"));
            assert_eq!(r.metadata["client_id"], r.client_id);
            assert_eq!(r.metadata["response_types"], json!(["code"]), "defaults are echoed, never null");
            assert!(r.metadata["grant_types"].is_array() && r.metadata["redirect_uris"].is_array());
            let confidential = body["token_endpoint_auth_method"] != "none";
            assert_eq!(r.client_secret.is_some(), confidential);
            if confidential {
                assert_eq!(r.metadata["client_secret_expires_at"], 0, "openid-client requires it whenever a secret is issued");
                assert!(t.core.clients().authenticate(&r.client_id, r.client_secret.as_deref().unwrap()).await.unwrap());
                assert!(!t.core.clients().authenticate(&r.client_id, "kcs_wrong").await.unwrap());
            }
            let stored = t.core.clients().get(&r.client_id).await.unwrap().unwrap();
            assert_eq!(stored.redirect_uris(), body["redirect_uris"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>());
        }
        // Omitted fields get RFC 7591's defaults.
        let r = t.core.clients().register(&json!({ "redirect_uris": ["https://app.example/cb"] }), Origin::Operator, &ctx()).await.unwrap();
        assert_eq!(r.metadata["grant_types"], json!(["authorization_code"]));
        assert_eq!(r.metadata["token_endpoint_auth_method"], "client_secret_basic");
        // Secrets and registration tokens are stored hashed only.
        let rows: Vec<(Option<String>, Option<String>)> =
            kavach_core::db!(&t.db, |pool| sqlx::query_as("SELECT client_secret_hash, registration_token_hash FROM kavach_oauth_client")
                .fetch_all(pool)
                .await
                .unwrap());
        for (s, rt) in rows {
            assert!(s.is_none_or(|s| !s.starts_with("kcs_")) && !rt.unwrap().starts_with("kcr_"));
        }
    });

    kavach_testkit::dual!(mcp_08_registration_refusals_use_rfc7591_codes, options(), |t| {
        let cases = [
            (json!({ "redirect_uris": ["http://example.com/cb"] }), "invalid_redirect_uri"),
            (json!({ "redirect_uris": ["https://app.example/cb#x"] }), "invalid_redirect_uri"),
            (json!({ "redirect_uris": ["javascript:alert(1)"] }), "invalid_redirect_uri"),
            (json!({ "grant_types": ["authorization_code"] }), "invalid_redirect_uri"),
            (json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"] }), "invalid_client_metadata"),
            (json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": ["password"] }), "invalid_client_metadata"),
            (json!({ "redirect_uris": ["https://a.example/cb"], "response_types": ["token"] }), "invalid_client_metadata"),
            (json!({ "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt" }), "invalid_client_metadata"),
            (json!({ "redirect_uris": "https://a.example/cb" }), "invalid_client_metadata"),
            (json!(["not", "an", "object"]), "invalid_client_metadata"),
        ];
        for (body, code) in cases {
            let e = t.core.clients().register(&body, Origin::Dynamic, &ctx()).await.unwrap_err();
            assert_eq!(e.code, code, "{body}");
        }
    });

    kavach_testkit::dual!(rfc7592_management_with_the_registration_token, options(), |t| {
        let body = json!({ "client_name": "App", "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_basic" });
        let r = t.core.clients().register(&body, Origin::Dynamic, &ctx()).await.unwrap();
        assert!(t.core.clients().check_registration_token(&r.client_id, &r.registration_access_token).await.unwrap());
        assert!(!t.core.clients().check_registration_token(&r.client_id, "kcr_wrong").await.unwrap());
        assert!(!t.core.clients().check_registration_token("kc_unknown", &r.registration_access_token).await.unwrap());
        let updated = t.core.clients().update(&r.client_id, &json!({ "client_name": "App 2", "redirect_uris": ["https://app.example/cb2"] })).await.unwrap();
        assert_eq!((updated["client_name"].as_str(), updated["client_id"].as_str()), (Some("App 2"), Some(r.client_id.as_str())));
        assert_eq!(updated["client_secret_expires_at"], 0);
        let stored = t.core.clients().get(&r.client_id).await.unwrap().unwrap();
        assert_eq!((stored.metadata["client_name"].as_str(), stored.redirect_uris()), (Some("App 2"), vec!["https://app.example/cb2"]), "the update is stored");
        let e = t
            .core
            .clients()
            .update(&r.client_id, &json!({ "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none" }))
            .await
            .unwrap_err();
        assert_eq!(e.code, "invalid_client_metadata", "public/confidential cannot flip");
        let e = t
            .core
            .clients()
            .update(
                &r.client_id,
                &json!({ "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://app.example/jwks" }),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code, "invalid_client_metadata", "a secret client cannot become a key client (its secret would be left behind)");
        assert!(t.core.clients().authenticate(&r.client_id, r.client_secret.as_deref().unwrap()).await.unwrap(), "the secret survives updates");
        // Disabled clients cannot authenticate; deleted ones are gone.
        assert!(t.core.clients().set_disabled(&r.client_id, true).await.unwrap());
        assert!(!t.core.clients().authenticate(&r.client_id, r.client_secret.as_deref().unwrap()).await.unwrap());
        assert!(t.core.clients().get(&r.client_id).await.unwrap().unwrap().disabled);
        assert!(t.core.clients().delete(&r.client_id).await.unwrap());
        assert!(t.core.clients().get(&r.client_id).await.unwrap().is_none());
    });
}

// Client rows are cached per instance (the token endpoint reads one per request). A
// client disabled on one instance is refused on another: on PostgreSQL as soon as the
// notification arrives, well inside the cache's bound; without notifications (SQLite
// shared by two processes) within that bound. Tokens and grants the other instance
// issued from its stale copy in between die with the client's other tokens, and stay
// dead when the client is enabled again.
dual!(a_client_disabled_on_one_instance_is_refused_on_the_others_and_nothing_issued_meanwhile_survives, resourceful(), |t| {
    use kavach_core::cache::FRESH_FOR;
    let other = crate::harness::core_on(&t.url, resourceful()).await;
    let _listener = other.core.spawn_background();
    let reg = t
        .core
        .clients()
        .register(&json!({ "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic" }), Origin::Operator, &ctx())
        .await
        .unwrap();
    let secret = reg.client_secret.clone().unwrap();
    let grant = form(&[("grant_type", "client_credentials"), ("resource", "https://mcp.example.com/mcp")]);
    // The other instance reads (and caches) the client, and issues a token.
    let cached = other.core.clients().get(&reg.client_id).await.unwrap().unwrap();
    let before = other.core.tokens().grant(&cached, &grant, None, &ctx()).await.unwrap();
    let before = before["access_token"].as_str().unwrap().to_owned();
    assert!(t.core.tokens().active(&before).await.unwrap().is_some());
    // A client of the code flow, with a code approved before it is disabled.
    let coded = new_client(&t, true).await;
    let user = new_user(&t, "window@example.com", None).await;
    let code = code_for(&t, &coded, &user).await;
    let disabled_at = std::time::Instant::now();
    assert!(t.core.clients().set_disabled(&reg.client_id, true).await.unwrap());
    assert!(t.core.clients().set_disabled(&coded.client_id, true).await.unwrap());
    // What an instance that authenticated the clients just before the change issues.
    let meanwhile = other.core.tokens().grant(&cached, &grant, None, &ctx()).await.ok().map(|b| b["access_token"].as_str().unwrap().to_owned());
    let family = redeem(&other, &coded, &code).await.ok();
    let notified = t.url.starts_with("postgres");
    loop {
        if !other.core.clients().authenticate(&reg.client_id, &secret).await.unwrap() {
            break;
        }
        let waited = disabled_at.elapsed();
        assert!(waited < FRESH_FOR + std::time::Duration::from_millis(100), "still served {waited:?} after it was disabled");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    if notified {
        assert!(disabled_at.elapsed() < FRESH_FOR / 2, "the notification, not the bound, made the other instance refuse it");
    }
    let issued: Vec<&str> =
        std::iter::once(before.as_str()).chain(meanwhile.as_deref()).chain(family.iter().filter_map(|f| f["access_token"].as_str())).collect();
    for token in &issued {
        assert!(t.core.tokens().active(token).await.unwrap().is_none(), "a disabled client's tokens are inactive");
    }
    for id in [&reg.client_id, &coded.client_id] {
        assert!(t.core.clients().set_disabled(id, false).await.unwrap());
    }
    tokio::time::sleep(FRESH_FOR).await;
    for token in &issued {
        assert!(other.core.tokens().active(token).await.unwrap().is_none(), "enabling it again brings back nothing issued until the cut-off");
    }
    if let Some(rt) = family.as_ref().and_then(|f| f["refresh_token"].as_str()) {
        let coded = other.core.clients().get(&coded.client_id).await.unwrap().unwrap();
        assert!(refresh(&other, &coded, rt).await.is_err(), "a grant begun from the stale copy was revoked on re-enabling");
    }
    // A token issued once the cut-off has passed is live (`iat` has one-second resolution).
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let fresh = other.core.clients().get(&reg.client_id).await.unwrap().unwrap();
    let after = other.core.tokens().grant(&fresh, &grant, None, &ctx()).await.unwrap();
    assert!(t.core.tokens().active(after["access_token"].as_str().unwrap()).await.unwrap().is_some());
    other.db.close().await;
});
