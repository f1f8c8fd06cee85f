//! The embedding API, in-process: the example app's router with its extractors
//! and layer, called through tower without a socket.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, clippy::string_slice, reason = "tests")]

#[path = "../examples/embed.rs"]
#[allow(dead_code)]
mod example;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kavach_testkit::TestDb;
use tower::ServiceExt;

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let r = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

async fn flow(db: TestDb) {
    let app = example::app(&db.url).await.unwrap();
    let (st, _, body) = call(&app, Request::get("/api/me").body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("UNAUTHORIZED"));
    let (st, h, _) = call(&app, Request::get("/dashboard?tab=1").header("accept", "text/html").body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::FOUND);
    assert_eq!(h["location"], "/sign-in?next=%2Fdashboard%3Ftab%3D1");
    let (st, _, _) = call(&app, Request::get("/dashboard").header("accept", "application/json").body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "APIs get 401, not a redirect");
    let (st, h, body) = call(
        &app,
        Request::post("/api/kavach/sign-up/email")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"email":"emb@example.com","password":"embedded passphrase","name":"Emb"}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let cookie = h["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let (st, _, body) = call(&app, Request::get("/api/me").header("cookie", &cookie).body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("emb@example.com"), "{body}");
    let (st, _, body) = call(&app, Request::get("/dashboard").header("cookie", &cookie).body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("Hello emb@example.com"));
    db.drop_db().await;
}

#[tokio::test]
async fn extractors_and_layer_sqlite() {
    flow(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn extractors_and_layer_postgres() {
    if let Some(db) = TestDb::postgres().await {
        flow(db).await;
    }
}

#[tokio::test]
async fn typed_rust_api() {
    let db = TestDb::sqlite().await;
    let mail = kavach_testkit::CaptureMailer::default();
    let k = kavach::Kavach::builder().database_url(&db.url).secret("typed-api-secret-0123456789abcdefgh").mailer(mail.clone()).build().await.unwrap();
    let ctx = kavach::RequestContext::default();
    let out = k
        .email_password()
        .sign_up(
            kavach_core::plugins::email_password::SignUp {
                email: "typed@example.com".into(),
                password: "typed api passphrase".into(),
                name: "T".into(),
                ..Default::default()
            },
            &ctx,
        )
        .await
        .unwrap();
    assert!(out.session.is_none(), "verification is required by default");
    let msg = mail.wait_for("typed@example.com", "Verify").await;
    k.email_password().verify_email(&kavach_testkit::link_token(&msg), &ctx).await.unwrap();
    let signed = k.email_password().sign_in("typed@example.com", "typed api passphrase", &ctx).await.unwrap().signed_in().unwrap();
    let s = k.sessions().check(&signed.session.token).await.unwrap().unwrap();
    assert_eq!(s.data.user.email, "typed@example.com");
    assert_eq!(k.sessions().list(&s.data.user.id).await.unwrap().len(), 1);
    k.sessions().sign_out(&s.data.session, &ctx).await.unwrap();
    assert!(k.sessions().check(&signed.session.token).await.unwrap().is_none());
    assert_eq!(k.users().count().await.unwrap(), 1);
    db.drop_db().await;
}

#[tokio::test]
async fn require_auth_layer_reissues_a_renewed_cookie() {
    let db = TestDb::sqlite().await;
    let k = kavach::Kavach::builder()
        .database_url(&db.url)
        .secret("renew-secret-0123456789abcdefghijk")
        .email_password(kavach::EmailPasswordOptions { require_email_verification: false, ..Default::default() })
        .session(kavach::SessionOptions { update_age: std::time::Duration::ZERO, ..Default::default() })
        .build()
        .await
        .unwrap();
    let app: axum::Router =
        axum::Router::new().nest("/api/kavach", k.router()).route("/private", axum::routing::get(|| async { "secret" }).layer(k.require_auth()));
    let (_, h, _) = call(
        &app,
        Request::post("/api/kavach/sign-up/email")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"email":"renew@example.com","password":"renewing passphrase","name":"R"}"#))
            .unwrap(),
    )
    .await;
    let cookie = h["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (st, h, body) = call(&app, Request::get("/private").header("cookie", &cookie).body(Body::empty()).unwrap()).await;
    assert_eq!((st, body.as_str()), (StatusCode::OK, "secret"));
    let c = h.get("set-cookie").expect("the renewed session cookie").to_str().unwrap();
    assert!(c.starts_with("kavach.session_token=") && c.contains("Max-Age=604800"), "{c}");
    db.drop_db().await;
}

#[tokio::test]
async fn embedders_add_legacy_hash_formats() {
    let db = TestDb::sqlite().await;
    let k = kavach::Kavach::builder()
        .database_url(&db.url)
        .secret("legacy-secret-0123456789abcdefghijk")
        .email_password(kavach::EmailPasswordOptions { require_email_verification: false, ..Default::default() })
        // A made-up legacy format: "rev$" + the password reversed.
        .legacy_verifier(|stored, password| stored.strip_prefix("rev$").is_some_and(|h| h.chars().rev().collect::<String>() == password))
        .build()
        .await
        .unwrap();
    let ctx = kavach::RequestContext::default();
    let u = k
        .users()
        .create(
            kavach::core::NewUser {
                email: "old@example.com".into(),
                name: "Old".into(),
                password: Some("a temporary passphrase".into()),
                email_verified: true,
                image: None,
            },
            &ctx,
        )
        .await
        .unwrap();
    kavach_core::db!(k.db(), |pool| {
        sqlx::query("UPDATE kavach_account SET password = 'rev$esarhpssap ycagel' WHERE user_id = $1").bind(&u.id).execute(pool).await.unwrap();
    });
    assert!(k.email_password().sign_in("old@example.com", "legacy passphrasE", &ctx).await.is_err());
    k.email_password().sign_in("old@example.com", "legacy passphrase", &ctx).await.unwrap();
    let stored: String = kavach_core::db!(k.db(), |pool| {
        sqlx::query_scalar("SELECT password FROM kavach_account WHERE user_id = $1").bind(&u.id).fetch_one(pool).await.unwrap()
    });
    assert!(stored.starts_with("$argon2id$"), "rehashed: {stored}");
    db.drop_db().await;
}

mod resource_server {
    use super::*;
    use kavach::resource::ResourceServer;
    use serde_json::json;
    use std::sync::Arc;

    const RESOURCE: &str = "https://mcp.example.test/mcp";

    async fn token(k: &kavach::Kavach, issuer: &str, aud: &str, scope: &str, typ: &str, exp_in: i64) -> String {
        let now = kavach_core::store::Ts::now().millis() / 1000;
        let claims = json!({ "iss": issuer, "aud": aud, "sub": "user-1", "client_id": "client-1", "scope": scope, "iat": now, "exp": now + exp_in });
        k.keys().sign(kavach_core::Alg::EdDSA, typ, &claims).await.unwrap()
    }

    #[tokio::test]
    async fn verifies_access_tokens_and_answers_mcp_challenges() {
        let db = TestDb::sqlite().await;
        let k = kavach::Kavach::builder().database_url(&db.url).secret("rs-secret-0123456789abcdefghijklm").build().await.unwrap();
        // Kavach serves its JWKS over a real socket: the resource server fetches it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = k.app();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let issuer = format!("http://{addr}");
        let rs = Arc::new(ResourceServer::new(RESOURCE, issuer.clone(), format!("http://{addr}/api/kavach/jwks")).scopes_supported(["mcp:tools", "mcp:admin"]));
        let app: axum::Router =
            axum::Router::new().route("/mcp", axum::routing::post(|| async { "tools" }).layer(rs.require(&["mcp:tools"]))).merge(rs.metadata_router());
        let send = |tok: Option<String>, uri: &str| {
            let mut r = Request::post(uri);
            if let Some(t) = tok {
                r = r.header("authorization", format!("Bearer {t}"));
            }
            r.body(Body::empty()).unwrap()
        };
        let (st, h, _) = call(&app, send(None, "/mcp")).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert_eq!(
            h["www-authenticate"],
            "Bearer resource_metadata=\"https://mcp.example.test/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:tools\""
        );
        let good = token(&k, &issuer, RESOURCE, "mcp:tools", "at+jwt", 300).await;
        let (st, h, body) = call(&app, send(Some(good.clone()), "/mcp")).await;
        assert_eq!((st, body.as_str()), (StatusCode::OK, "tools"), "{h:?}");
        // A parent scope covers its children.
        let (st, _, _) = call(&app, send(Some(token(&k, &issuer, RESOURCE, "mcp", "at+jwt", 300).await), "/mcp")).await;
        assert_eq!(st, StatusCode::OK);
        // Refusals.
        let cases = [
            (token(&k, &issuer, "https://other.example.test/mcp", "mcp:tools", "at+jwt", 300).await, StatusCode::UNAUTHORIZED, "invalid_token"),
            (token(&k, "https://evil.example.test", RESOURCE, "mcp:tools", "at+jwt", 300).await, StatusCode::UNAUTHORIZED, "invalid_token"),
            (token(&k, &issuer, RESOURCE, "mcp:tools", "JWT", 300).await, StatusCode::UNAUTHORIZED, "invalid_token"),
            (token(&k, &issuer, RESOURCE, "mcp:tools", "at+jwt", -600).await, StatusCode::UNAUTHORIZED, "invalid_token"),
            (token(&k, &issuer, RESOURCE, "mcp:read mcp:toolsx", "at+jwt", 300).await, StatusCode::FORBIDDEN, "insufficient_scope"),
            (format!("{}x", &good[..good.len() - 1]), StatusCode::UNAUTHORIZED, "invalid_token"),
        ];
        for (tok, status, err) in cases {
            let (st, h, body) = call(&app, send(Some(tok), "/mcp")).await;
            let w = h["www-authenticate"].to_str().unwrap();
            assert_eq!(st, status, "{body}");
            assert!(w.contains(&format!("error=\"{err}\"")) && w.contains("resource_metadata="), "{w}");
        }
        // Tokens in the query string are refused outright.
        let (st, _, _) = call(&app, send(None, &format!("/mcp?access_token={good}"))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        // A key rotation: an unknown kid makes the verifier refetch the JWKS.
        k.keys().rotate(std::time::Duration::from_secs(3600)).await.unwrap();
        let rotated = token(&k, &issuer, RESOURCE, "mcp:tools", "at+jwt", 300).await;
        assert_ne!(rotated.split('.').next(), good.split('.').next());
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await; // the verifier's refetch cooldown
        let (st, _, _) = call(&app, send(Some(rotated), "/mcp")).await;
        assert_eq!(st, StatusCode::OK);
        let (st, _, _) = call(&app, send(Some(good), "/mcp")).await;
        assert_eq!(st, StatusCode::OK, "the old key is still published during the overlap");
        // RFC 9728 metadata at the path-inserted and the root URL.
        for uri in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
            let (st, _, body) = call(&app, Request::get(uri).body(Body::empty()).unwrap()).await;
            assert_eq!(st, StatusCode::OK);
            let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!((doc["resource"].as_str(), doc["authorization_servers"][0].as_str()), (Some(RESOURCE), Some(issuer.as_str())));
        }
        db.drop_db().await;
    }
}

#[path = "../examples/mcp_server.rs"]
#[allow(dead_code)]
mod mcp_example;

#[tokio::test]
async fn example_mcp_server_answers_json_rpc_behind_the_verifier() {
    use serde_json::json;
    let db = TestDb::sqlite().await;
    let k = kavach::Kavach::builder().database_url(&db.url).secret("mcp-secret-0123456789abcdefghijklm").build().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let kapp = k.app();
    tokio::spawn(async move { axum::serve(listener, kapp).await.unwrap() });
    let issuer = format!("http://{addr}");
    let resource = "http://localhost:4100/mcp";
    let now = kavach_core::store::Ts::now().millis() / 1000;
    let claims = json!({ "iss": issuer, "aud": resource, "sub": "user-7", "client_id": "cli", "scope": "mcp:tools", "iat": now, "exp": now + 300 });
    let token = k.keys().sign(kavach_core::Alg::EdDSA, "at+jwt", &claims).await.unwrap();
    let rs = std::sync::Arc::new(kavach::resource::ResourceServer::new(resource, issuer.clone(), format!("{issuer}/api/kavach/jwks")));
    let app = mcp_example::app(rs);
    let rpc = |body: serde_json::Value, auth: bool| {
        let mut r = Request::post("/mcp").header("content-type", "application/json").header("accept", "application/json, text/event-stream");
        if auth {
            r = r.header("authorization", format!("Bearer {token}"));
        }
        r.body(Body::from(body.to_string())).unwrap()
    };
    let (st, h, _) = call(&app, rpc(json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {} }), false)).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(h["www-authenticate"].to_str().unwrap().contains("/.well-known/oauth-protected-resource/mcp"));
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } } });
    let (st, _, body) = call(&app, rpc(init, true)).await;
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
    let (st, _, _) = call(&app, rpc(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }), true)).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let (_, _, body) = call(&app, rpc(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }), true)).await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["result"]["tools"].as_array().unwrap().len(), 4);
    let (_, _, body) =
        call(&app, rpc(json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": { "name": "whoami", "arguments": {} } }), true)).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["result"]["content"][0]["text"].as_str().unwrap().contains("subject user-7, client cli"), "{v}");
    // MCP-30: a tool needing more scope answers 403 with every scope it needs in one challenge.
    let (st, h, _) =
        call(&app, rpc(json!({ "jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": { "name": "admin_echo", "arguments": { "text": "x" } } }), true))
            .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let challenge = h.get("www-authenticate").unwrap().to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"mcp:tools mcp:admin\"") && challenge.contains("resource_metadata="),
        "{challenge}"
    );
    db.drop_db().await;
}

/// `Kavach::app()` with the API at the origin's root (empty base path): the discovery
/// documents are served once, not registered twice (which panicked).
#[tokio::test]
async fn app_with_an_empty_base_path_serves_discovery() {
    let db = TestDb::sqlite().await;
    let k = kavach::Kavach::builder().database_url(&db.url).secret("root-secret-0123456789abcdefghijklm").base_path("").build().await.unwrap();
    let app = k.app();
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let (st, _, body) = call(&app, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(st, StatusCode::OK, "{path}");
        assert!(body.contains("\"issuer\":\"http://localhost:3000\""), "{body}");
    }
    db.drop_db().await;
}

// Review 20: the session is resolved in one place for the API, the layers and the
// extractors. Under `session_layer()` a plain extractor's renewed session gets its cookie
// re-issued; an extractor alone (no layer to set the cookie) does not move the expiry, so
// the database and the browser's cookie never disagree.
#[tokio::test]
async fn review_20_session_layer_reissues_the_cookie_and_a_lone_extractor_does_not_slide() {
    let db = TestDb::sqlite().await;
    let k = kavach::Kavach::builder()
        .database_url(&db.url)
        .secret("layer-secret-0123456789abcdefghijk")
        .email_password(kavach::EmailPasswordOptions { require_email_verification: false, ..Default::default() })
        .session(kavach::SessionOptions { update_age: std::time::Duration::ZERO, cache_ttl: std::time::Duration::ZERO, ..Default::default() })
        .build()
        .await
        .unwrap();
    let who = |kavach::Session(s): kavach::Session| async move { s.user.email.clone() };
    let app: axum::Router = axum::Router::new()
        .nest("/api/kavach", k.router())
        .route("/layered", axum::routing::get(who).layer(k.session_layer()))
        .route("/bare", axum::routing::get(who))
        .with_state(k.clone());
    let (_, h, _) = call(
        &app,
        Request::post("/api/kavach/sign-up/email")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"email":"layer@example.com","password":"a layered passphrase","name":"L"}"#))
            .unwrap(),
    )
    .await;
    let cookie = h["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let expiry = || async { k.sessions().list(&k.users().get_by_email("layer@example.com").await.unwrap().unwrap().id).await.unwrap()[0].expires_at };
    let first = expiry().await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (st, h, body) = call(&app, Request::get("/bare").header("cookie", &cookie).body(Body::empty()).unwrap()).await;
    assert_eq!((st, body.as_str()), (StatusCode::OK, "layer@example.com"));
    assert!(h.get("set-cookie").is_none());
    assert_eq!(expiry().await, first, "an extractor alone cannot re-issue the cookie, so the expiry stays");
    let (st, h, _) = call(&app, Request::get("/layered").header("cookie", &cookie).body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::OK);
    let c = h.get("set-cookie").expect("the renewed session cookie").to_str().unwrap();
    assert!(c.starts_with("kavach.session_token=") && c.contains("Max-Age=604800"), "{c}");
    assert!(expiry().await > first, "under the layer the expiry slides, and the cookie follows");
    let (st, _, _) = call(&app, Request::get("/layered").body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "the layer refuses nothing; the extractor does");
    db.drop_db().await;
}

/// The Rust API a newcomer meets (issue 10): handlers return `kavach::Result`, session
/// calls on headers, the request context, the Origin check for the app's own routes,
/// and one extractor for sessions and access tokens verified in process.
mod newcomer_api {
    use super::*;
    use axum::extract::FromRef;
    use axum::routing::{get, post};
    use kavach::extract::{Context, SessionOrToken};
    use kavach::resource::ResourceServer;
    use std::sync::Arc;

    const RESOURCE: &str = "https://app.example.test/api";

    #[derive(Clone)]
    struct AppState {
        kavach: kavach::Kavach,
        rs: Arc<ResourceServer>,
    }
    impl FromRef<AppState> for kavach::Kavach {
        fn from_ref(s: &AppState) -> Self {
            s.kavach.clone()
        }
    }
    impl FromRef<AppState> for Arc<ResourceServer> {
        fn from_ref(s: &AppState) -> Self {
            s.rs.clone()
        }
    }

    // A handler with `?` on Kavach calls and its own errors, returning `kavach::Result`.
    async fn project(axum::extract::State(s): axum::extract::State<AppState>, headers: axum::http::HeaderMap) -> kavach::Result<String> {
        let user = s.kavach.auth().get_user(&headers).await?.ok_or_else(|| kavach::Error::new(kavach::Kind::Unauthorized, "SIGN_IN_FIRST", "Sign in first"))?;
        let found = s.kavach.users().get(&user.id).await?;
        if found.is_none() {
            return Err(kavach::Error::new(kavach::Kind::NotFound, "PROJECT_NOT_FOUND", "No such project"));
        }
        Ok(format!("project of {}", user.email))
    }

    async fn whoami(caller: SessionOrToken) -> String {
        match &caller {
            SessionOrToken::Session(s) => format!("session {} admin={}", s.user.email, caller.has_scope("admin")),
            SessionOrToken::Token(_) => format!(
                "token user={} client={} admin={} read={}",
                caller.user_id().unwrap_or("-"),
                caller.client_id().unwrap_or("-"),
                caller.has_scope("admin"),
                caller.has_scope("api:read")
            ),
        }
    }

    async fn run(db: TestDb) {
        let k = kavach::Kavach::builder()
            .database_url(&db.url)
            .secret("newcomer-secret-0123456789abcdefghij")
            .base_url("https://app.example.test")
            .email_password(kavach::EmailPasswordOptions { require_email_verification: false, ..Default::default() })
            .build()
            .await
            .unwrap();
        let rs = Arc::new(ResourceServer::in_process(&k, RESOURCE));
        let state = AppState { kavach: k.clone(), rs };
        let app: axum::Router = axum::Router::new()
            .route("/project", get(project))
            .route("/whoami", get(whoami))
            .route("/ctx", get(|Context(c): Context| async move { format!("{:?}", c.user_agent) }))
            .route("/write", post(|| async { "written" }).layer(k.origin_check()))
            .with_state(state)
            .nest("/api/kavach", k.router());

        // Errors are JSON answers, with the server's body shape.
        let (st, _, body) = call(&app, Request::get("/project").body(Body::empty()).unwrap()).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"], "SIGN_IN_FIRST");

        let (st, h, body) = call(
            &app,
            Request::post("/api/kavach/sign-up/email")
                .header("content-type", "application/json")
                .header("origin", "https://app.example.test")
                .body(Body::from(r#"{"email":"newcomer@example.com","password":"newcomer passphrase","name":"N"}"#))
                .unwrap(),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{body}");
        let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"].as_str().unwrap().to_owned();
        let cookie = h["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();

        // get_session / get_user from headers: the cookie, or the session token as bearer.
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("cookie", cookie.parse().unwrap());
        assert_eq!(k.auth().get_user(&headers).await.unwrap().unwrap().email, "newcomer@example.com");
        let mut bearer = axum::http::HeaderMap::new();
        bearer.insert("authorization", format!("Bearer {token}").parse().unwrap());
        let s = k.auth().get_session(&bearer).await.unwrap().unwrap();
        assert_eq!(s.user.email, "newcomer@example.com");
        assert!(k.auth().get_session(&axum::http::HeaderMap::new()).await.unwrap().is_none());
        let (st, _, body) = call(&app, Request::get("/project").header("cookie", &cookie).body(Body::empty()).unwrap()).await;
        assert_eq!((st, body.as_str()), (StatusCode::OK, "project of newcomer@example.com"));

        // The request context.
        let (_, _, body) = call(&app, Request::get("/ctx").header("user-agent", "probe/1").body(Body::empty()).unwrap()).await;
        assert_eq!(body, "Some(\"probe/1\")");

        // The Origin check on the app's own routes: cookies from a foreign origin are refused.
        let write = |origin: Option<&str>, cookie: Option<&str>| {
            let mut r = Request::post("/write");
            if let Some(o) = origin {
                r = r.header("origin", o);
            }
            if let Some(c) = cookie {
                r = r.header("cookie", c);
            }
            r.body(Body::empty()).unwrap()
        };
        let (st, _, body) = call(&app, write(Some("https://evil.example"), Some(&cookie))).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert!(body.contains("INVALID_ORIGIN"), "{body}");
        let (st, _, body) = call(&app, write(None, Some(&cookie))).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(call(&app, write(Some("https://app.example.test"), Some(&cookie))).await.0, StatusCode::OK);
        assert_eq!(call(&app, write(None, None)).await.0, StatusCode::OK, "no cookie, no CSRF exposure");

        // One extractor for a session or an access token, verified against the in-process key ring.
        let (st, _, body) = call(&app, Request::get("/whoami").header("cookie", &cookie).body(Body::empty()).unwrap()).await;
        assert_eq!((st, body.as_str()), (StatusCode::OK, "session newcomer@example.com admin=true"));
        let now = kavach_core::store::Ts::now().millis() / 1000;
        let claims = |aud: &str, iss: &str| serde_json::json!({ "iss": iss, "aud": aud, "sub": "user-7", "client_id": "agent-7", "scope": "api", "iat": now, "exp": now + 300 });
        let issuer = k.options().issuer();
        assert_eq!(issuer, "https://app.example.test/api/kavach");
        let at = k.keys().sign(kavach_core::Alg::EdDSA, "at+jwt", &claims(RESOURCE, &issuer)).await.unwrap();
        let (st, _, body) = call(&app, Request::get("/whoami").header("authorization", format!("Bearer {at}")).body(Body::empty()).unwrap()).await;
        assert_eq!((st, body.as_str()), (StatusCode::OK, "token user=user-7 client=agent-7 admin=false read=true"));
        // A token a client got for itself (client_credentials: sub is the client) has no user.
        let own = serde_json::json!({ "iss": issuer, "aud": RESOURCE, "sub": "agent-7", "client_id": "agent-7", "scope": "api", "iat": now, "exp": now + 300 });
        let own = k.keys().sign(kavach_core::Alg::EdDSA, "at+jwt", &own).await.unwrap();
        let (_, _, body) = call(&app, Request::get("/whoami").header("authorization", format!("Bearer {own}")).body(Body::empty()).unwrap()).await;
        assert_eq!(body, "token user=- client=agent-7 admin=false read=true");
        // A key made after the verifier was built is known at once (no JWKS cache to wait for).
        k.keys().rotate(std::time::Duration::from_secs(3600)).await.unwrap();
        let rotated = k.keys().sign(kavach_core::Alg::EdDSA, "at+jwt", &claims(RESOURCE, &issuer)).await.unwrap();
        assert_ne!(rotated.split('.').next(), at.split('.').next());
        let (st, _, _) = call(&app, Request::get("/whoami").header("authorization", format!("Bearer {rotated}")).body(Body::empty()).unwrap()).await;
        assert_eq!(st, StatusCode::OK);
        let mut bound = claims(RESOURCE, &issuer);
        bound["cnf"] = serde_json::json!({ "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" });
        for bad in [
            // Not an access token (an ID token or a session JWT is typed JWT).
            k.keys().sign(kavach_core::Alg::EdDSA, "JWT", &claims(RESOURCE, &issuer)).await.unwrap(),
            // A DPoP-bound token presented as a bearer token.
            k.keys().sign(kavach_core::Alg::EdDSA, "at+jwt", &bound).await.unwrap(),
            k.keys().sign(kavach_core::Alg::EdDSA, "at+jwt", &claims("https://other.example.test/api", &issuer)).await.unwrap(),
            k.keys().sign(kavach_core::Alg::EdDSA, "at+jwt", &claims(RESOURCE, "https://auth.example.com")).await.unwrap(),
        ] {
            let (st, h, _) = call(&app, Request::get("/whoami").header("authorization", format!("Bearer {bad}")).body(Body::empty()).unwrap()).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED);
            assert!(h["www-authenticate"].to_str().unwrap().contains("invalid_token"));
        }
        let (st, h, _) = call(&app, Request::get("/whoami").body(Body::empty()).unwrap()).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert!(h["www-authenticate"].to_str().unwrap().starts_with("Bearer resource_metadata="));
        db.drop_db().await;
    }

    #[tokio::test]
    async fn newcomer_api_sqlite() {
        run(TestDb::sqlite().await).await;
    }

    #[tokio::test]
    async fn newcomer_api_postgres() {
        if let Some(db) = TestDb::postgres().await {
            run(db).await;
        }
    }
}

/// The docs' Rust snippets are compiled by `cargo test --doc -p kavach` (the `docs`
/// module of `src/lib.rs`): a page with a snippet that is not listed there would rot.
#[test]
fn every_doc_page_with_rust_snippets_is_compiled() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lib = std::fs::read_to_string(root.join("crates/kavach/src/lib.rs")).unwrap();
    let mut pages = vec![];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.lines().any(|l| l.trim_start().starts_with("```rust")) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(lib.contains(&format!("include_str!(\"../../../docs/{name}\")")), "docs/{name} has Rust snippets but is not compiled as a doctest");
            pages.push(name);
        }
    }
    assert!(pages.len() >= 3, "{pages:?}");
}

/// The verifier in process asks the embedded decision point about an agent's tool call
/// (no HTTP): allowed, denied with its reason, pending with the approval and its page;
/// a user's token (no `agent` claim) is not an agent's.
#[tokio::test]
async fn in_process_tool_decisions_for_agents() {
    use kavach::resource::{AccessToken, ResourceServer, ToolDecision};
    use kavach_core::plugins::agents::{AgentOptions, Manager, NewAgent};
    let db = TestDb::sqlite().await;
    let mail = kavach_testkit::CaptureMailer::default();
    let k = kavach::Kavach::builder()
        .database_url(&db.url)
        .secret("tools-secret-0123456789abcdefghijkl")
        .mailer(mail.clone())
        .agents(AgentOptions { enabled: true, ..Default::default() })
        .build()
        .await
        .unwrap();
    let ctx = kavach::RequestContext::default();
    let new = kavach_core::NewUser { email: "owner@example.com".into(), name: "O".into(), password: None, email_verified: true, image: None };
    let owner = k.users().create(new, &ctx).await.unwrap();
    let perms = serde_json::from_value(serde_json::json!([
        { "resource": "tool:echo", "actions": ["tools/call"] },
        { "resource": "tool:transfer", "actions": ["tools/call"], "constraints": { "requireApproval": true } }
    ]))
    .unwrap();
    let a = k.agents().create(Manager::User(&owner), NewAgent { name: "bot".into(), permissions: perms, ..Default::default() }, &ctx).await.unwrap();
    let rs = ResourceServer::in_process(&k, "http://localhost:4100/mcp").tool_decisions(None);
    let token = |agent: Option<&str>| {
        let mut claims = serde_json::Map::new();
        if let Some(id) = agent {
            claims.insert("agent".into(), serde_json::json!({ "id": id }));
        }
        AccessToken { subject: agent.map(str::to_owned), client_id: agent.map(str::to_owned), scopes: vec!["mcp:tools".into()], claims }
    };
    let args = serde_json::json!({ "amount": 5 });
    let t = token(Some(&a.agent.id));
    assert_eq!(rs.authorize_tool(&t, "echo", &args, None).await.unwrap(), ToolDecision::Allowed);
    assert_eq!(rs.authorize_tool(&t, "rm", &args, None).await.unwrap(), ToolDecision::Denied { reason: "NO_MATCHING_PERMISSION".into() });
    match rs.authorize_tool(&t, "transfer", &args, None).await.unwrap() {
        ToolDecision::Pending { approval_id, approval_url } => {
            assert!(approval_url.unwrap().ends_with(&format!("/agent-approvals/{approval_id}/review")));
            let err = ToolDecision::Pending { approval_id: approval_id.clone(), approval_url: None }.json_rpc_error(&serde_json::json!(7)).unwrap();
            assert_eq!(err["error"]["code"], -32001);
            assert_eq!(err["error"]["data"]["approval_id"], approval_id.as_str());
            // The owner is told, with a link to the review page.
            let msg = mail.wait_for("owner@example.com", "asks for your approval").await;
            assert!(msg.text.contains(&format!("/agent-approvals/{approval_id}/review")) && msg.text.contains("tool:transfer"), "{}", msg.text);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rs.authorize_tool(&token(None), "rm", &args, None).await.unwrap(), ToolDecision::NotAnAgent);
    db.drop_db().await;
}

#[path = "../examples/agents.rs"]
#[allow(dead_code)]
mod agents_example;

/// The agents walkthrough (`cargo run -p kavach --example agents`) runs to the end with
/// the outcomes it describes.
#[tokio::test]
async fn the_agents_example_runs_from_start_to_finish() {
    let db = TestDb::sqlite().await;
    let said = agents_example::walkthrough(&db.url).await.unwrap().join("\n");
    for want in [
        "researcher calls search: search done for",
        "summariser (acting for researcher) calls search: search done for",
        "summariser calls transfer: This tool call was denied (NO_MATCHING_PERMISSION)",
        "researcher calls transfer: This tool call needs approval apr_",
        "the same call: transfer done for",
        "records, intact",
    ] {
        assert!(said.contains(want), "{want:?} missing from:\n{said}");
    }
    db.drop_db().await;
}

/// better-auth's `jwt({ customClaims })` and `customSession`: the builder's hooks add
/// claims to `/token` (never replacing Kavach's own) and fields to `/get-session`; the
/// configuration's `[jwt.claims]` mapping reads the session's JSON.
#[tokio::test]
async fn jwt_claims_and_custom_session_hooks_extend_the_answers() {
    use base64::Engine;
    let db = TestDb::sqlite().await;
    let mut jwt = kavach::JwtOptions::default();
    jwt.claims.insert("display".into(), "user.name".into());
    jwt.claims.insert("org".into(), "session.activeOrganizationId".into());
    let k = kavach::Kavach::builder()
        .database_url(&db.url)
        .secret("hooks-secret-0123456789abcdefghijk")
        .email_password(kavach::EmailPasswordOptions { require_email_verification: false, ..Default::default() })
        .jwt(jwt)
        .jwt_claims(|s| async move {
            let mut m = serde_json::Map::new();
            m.insert("tenant".into(), serde_json::json!(format!("t-{}", s.user.name)));
            m.insert("sub".into(), serde_json::json!("forged"));
            Ok(m)
        })
        .custom_session(|s| async move {
            let mut m = serde_json::Map::new();
            m.insert("plan".into(), serde_json::json!("pro"));
            m.insert("user".into(), serde_json::json!({ "id": "forged" }));
            m.insert("emailDomain".into(), serde_json::json!(s.user.email.split('@').nth(1)));
            Ok(m)
        })
        .build()
        .await
        .unwrap();
    let app: axum::Router = axum::Router::new().nest("/api/kavach", k.router());
    let (_, h, body) = call(
        &app,
        Request::post("/api/kavach/sign-up/email")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"email":"hooks@example.com","password":"hooked passphrase","name":"Hook"}"#))
            .unwrap(),
    )
    .await;
    let user_id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["user"]["id"].as_str().unwrap().to_owned();
    let cookie = h["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let (st, _, body) = call(&app, Request::get("/api/kavach/get-session").header("cookie", &cookie).body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((v["plan"].as_str(), v["emailDomain"].as_str()), (Some("pro"), Some("example.com")), "{v}");
    assert_eq!(v["user"]["id"], user_id.as_str(), "session and user stay Kavach's");
    let (st, _, body) = call(&app, Request::get("/api/kavach/token").header("cookie", &cookie).body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"].as_str().unwrap().to_owned();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!((claims["tenant"].as_str(), claims["display"].as_str()), (Some("t-Hook"), Some("Hook")), "{claims}");
    assert_eq!(claims["sub"], user_id.as_str(), "a hook cannot replace a registered claim");
    assert!(claims.get("org").is_none(), "a path that leads to nothing gives no claim");
    db.drop_db().await;
}
