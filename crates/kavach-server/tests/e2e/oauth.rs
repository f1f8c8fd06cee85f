//! The authorization server over HTTP, on SQLite and PostgreSQL. Test names carry
//! the checklist item (`shared/research/mcp-oauth.md`: MCP-xx, or the RFC point of
//! §2) they prove, so a failure points at the requirement.

use crate::harness::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use kavach_testkit::dual;
use serde_json::{Value, json};
use std::collections::HashMap;

/// `application/x-www-form-urlencoded` bodies (reqwest's `form` feature is not built).
pub trait FormOf {
    fn form_of<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self;
}

impl FormOf for reqwest::RequestBuilder {
    fn form_of<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        let enc = kavach_core::text::url_encode;
        let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", enc(k.as_ref()), enc(v.as_ref()))).collect();
        self.header("content-type", "application/x-www-form-urlencoded").body(body.join("&"))
    }
}

pub const RESOURCE: &str = "https://mcp.example.com/mcp";
pub const REDIRECT: &str = "http://127.0.0.1:9400/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K7dYoEkgMlN3Ks3P9h2nFE9hYo";
pub const CHALLENGE: &str = "domp_D2sOlqRpXIXswPmQy5a7pFKtTXQN0nZXoK_mD4";

/// A configuration file for the authorization server, returned as the env to start with.
pub fn oauth_config(dir: &std::path::Path, resource: &str, extra: &str) -> String {
    let path = dir.join("kavach.toml");
    std::fs::write(
        &path,
        format!(
            "[email_password]\nrequire_email_verification = false\n[oauth]\n{extra}\n[[oauth.resources]]\nuri = \"{resource}\"\nname = \"Example MCP\"\nscopes = [\"mcp:tools\", \"mcp:admin\"]\n"
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

pub struct As {
    pub s: Server,
    pub cookie: String,
    /// What `kavach` CLI commands need to reach the same database and configuration.
    pub cli_env: Vec<(&'static str, String)>,
}

impl As {
    /// On `http://127.0.0.1:<free port>` (Node clients may resolve `localhost` to ::1).
    pub async fn start(db: &str, resource: &str, extra: &str) -> As {
        Self::start_with_env(db, resource, extra, &[]).await
    }

    pub async fn start_with_env(db: &str, resource: &str, extra: &str, env: &[(&str, &str)]) -> As {
        let dir = temp_dir();
        let cfg = oauth_config(&dir, resource, extra);
        let port = free_port();
        let (listen, base) = (format!("127.0.0.1:{port}"), format!("http://127.0.0.1:{port}"));
        let mut all = vec![("KAVACH_CONFIG", cfg.as_str()), ("KAVACH_LISTEN", listen.as_str()), ("KAVACH_BASE_URL", base.as_str())];
        all.extend_from_slice(env);
        let s = Server::start_in(dir, db, &all);
        let cookie = sign_up(&s, "alice@example.com").await;
        let cli_env = vec![("KAVACH_CONFIG", cfg.clone()), ("KAVACH_DATABASE_URL", db.to_owned()), ("KAVACH_SECRET", SECRET.to_owned())];
        As { s, cookie, cli_env }
    }

    /// The issuer: the configured base URL + the base path.
    pub fn issuer(&self) -> String {
        format!("{}/api/kavach", self.s.origin())
    }

    pub async fn register(&self, body: Value) -> Value {
        let r = client().post(self.s.url("/oauth2/register")).json(&body).send().await.unwrap();
        let (status, v) = json(r).await;
        assert_eq!(status, 201, "{v}");
        v
    }

    /// A confidential client created by the operator (`kavach clients create`): the
    /// kind that may use client_credentials.
    pub async fn operator_client(&self) -> (String, String) {
        let env = self.cli_env.clone();
        let out = tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            command(&temp_dir(), &env)
                .args([
                    "clients",
                    "create",
                    "--name",
                    "Server app",
                    "--redirect-uri",
                    REDIRECT,
                    "--grant",
                    "authorization_code",
                    "--grant",
                    "refresh_token",
                    "--grant",
                    "client_credentials",
                ])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}");
        let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(k)).unwrap().trim().to_owned();
        (field("client_id:"), field("client_secret:"))
    }

    pub async fn public_client(&self) -> String {
        self.register(json!({ "client_name": "Test app", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "application_type": "native" }))
            .await["client_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn confidential_client(&self, method: &str) -> (String, String) {
        let v = self
            .register(json!({ "client_name": "Server app", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": method,
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"] }))
            .await;
        (v["client_id"].as_str().unwrap().to_owned(), v["client_secret"].as_str().unwrap().to_owned())
    }

    pub fn authorize_url(&self, client_id: &str, extra: &[(&str, &str)]) -> String {
        let mut p: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("state", "st-123"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", "mcp:tools"),
            ("resource", RESOURCE),
        ];
        for (k, v) in extra {
            p.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                p.push((k, v));
            }
        }
        let q: Vec<String> = p.iter().map(|(k, v)| format!("{k}={}", kavach_core::text::url_encode(v))).collect();
        format!("{}?{}", self.s.url("/oauth2/authorize"), q.join("&"))
    }

    /// GET the authorization URL as the signed-in user; approve the consent page if shown.
    pub async fn authorize(&self, url: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut rq = client().get(url).header("accept", "text/html");
        if let Some(c) = cookie {
            rq = rq.header("cookie", c);
        }
        rq.send().await.unwrap()
    }

    pub async fn consent(&self, page: reqwest::Response, decision: &str, cookie: &str) -> reqwest::Response {
        assert_eq!(page.status(), 200, "expected the consent page");
        let html = page.text().await.unwrap();
        let field = |n: &str| {
            let start = html.find(&format!("name=\"{n}\" value=\"")).unwrap_or_else(|| panic!("no {n} in {html}")) + n.len() + 15;
            html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&")
        };
        client()
            .post(self.s.url("/oauth2/consent"))
            .header("cookie", cookie)
            .header("origin", self.s.origin())
            .form_of(&[("flow", field("flow")), ("csrf", field("csrf")), ("decision", decision.into()), ("remember", "on".into())])
            .send()
            .await
            .unwrap()
    }

    /// Run the browser part of a flow and return the callback's query parameters.
    pub async fn code(&self, client_id: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let r = self.authorize(&self.authorize_url(client_id, extra), Some(&self.cookie)).await;
        let r = if r.status() == 200 { self.consent(r, "approve", &self.cookie).await } else { r };
        assert!(r.status().is_redirection(), "status {}", r.status());
        callback(&r)
    }

    pub async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, Value) {
        let mut rq = client().post(self.s.url("/oauth2/token")).form_of(form);
        if let Some((id, secret)) = basic {
            rq = rq.basic_auth(id, Some(secret));
        }
        json(rq.send().await.unwrap()).await
    }

    pub async fn exchange(&self, client_id: &str, code: &str) -> (u16, Value) {
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", VERIFIER),
                ("redirect_uri", REDIRECT),
                ("resource", RESOURCE),
                ("client_id", client_id),
            ],
            None,
        )
        .await
    }

    pub async fn introspect(&self, who: (&str, &str), token: &str) -> Value {
        let r = client().post(self.s.url("/oauth2/introspect")).basic_auth(who.0, Some(who.1)).form_of(&[("token", token)]).send().await.unwrap();
        let (status, v) = json(r).await;
        assert_eq!(status, 200, "{v}");
        v
    }
}

pub fn callback(r: &reqwest::Response) -> HashMap<String, String> {
    let loc = r.headers().get("location").expect("a redirect").to_str().unwrap();
    let q = loc.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_owned(), percent(v))).collect()
}

pub fn percent(v: &str) -> String {
    kavach::http::body::percent_decode(v, true).expect("percent-encoded")
}

pub fn claims(jwt: &str) -> (Value, Value) {
    let mut p = jwt.split('.');
    let h = serde_json::from_slice(&B64.decode(p.next().unwrap()).unwrap()).unwrap();
    let c = serde_json::from_slice(&B64.decode(p.next().unwrap()).unwrap()).unwrap();
    (h, c)
}

dual!(mcp_01_02_03_04_discovery_documents_agree, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let issuer = a.issuer();
    for url in [
        a.s.root("/.well-known/oauth-authorization-server/api/kavach"),
        a.s.root("/.well-known/openid-configuration/api/kavach"),
        a.s.url("/.well-known/openid-configuration"),
    ] {
        let r = client().get(&url).header("origin", "https://inspector.example").send().await.unwrap();
        assert_eq!(r.headers()["access-control-allow-origin"], "*", "CORS on metadata (pitfall 6)");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let (status, m) = json(r).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(m["issuer"], issuer.as_str(), "MCP-02: issuer identical at {url}");
        assert!(m["code_challenge_methods_supported"].as_array().unwrap().contains(&json!("S256")), "MCP-03");
        assert_eq!(m["response_types_supported"], json!(["code"]), "MCP-04");
        assert!(m["grant_types_supported"].as_array().unwrap().iter().all(|g| g != "implicit" && g != "password"));
        assert_eq!(m["authorization_response_iss_parameter_supported"], true, "MCP-07 advertised");
        assert!(m["scopes_supported"].as_array().unwrap().contains(&json!("mcp:tools")));
        assert!(m["id_token_signing_alg_values_supported"].as_array().unwrap().contains(&json!("RS256")));
        for ep in ["authorization_endpoint", "token_endpoint", "registration_endpoint", "jwks_uri", "revocation_endpoint", "introspection_endpoint"] {
            assert!(m[ep].as_str().unwrap().starts_with(&issuer), "{ep}");
        }
    }
    // Preflight with the MCP header (pitfall 6), and never CORS on authorize (RFC 9700).
    let pre = client()
        .request(reqwest::Method::OPTIONS, a.s.url("/oauth2/token"))
        .header("origin", "https://x.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "mcp-protocol-version")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert!(pre.headers()["access-control-allow-headers"].to_str().unwrap().contains("MCP-Protocol-Version"));
    let az = client().get(a.s.url("/oauth2/authorize")).header("origin", "https://x.example").send().await.unwrap();
    assert!(az.headers().get("access-control-allow-origin").is_none(), "no CORS on authorize");
    assert!(az.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "not frameable");
    assert_eq!(az.headers()["x-frame-options"], "DENY");
});

dual!(mcp_06_08_10_rfc7591_7592_registration, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let v = a
        .register(json!({ "client_name": "Cursor", "application_type": "web", "token_endpoint_auth_method": "none",
        "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback"], "grant_types": ["authorization_code", "refresh_token"] }))
        .await;
    assert_eq!(v["response_types"], json!(["code"]), "defaults echoed, never null");
    assert!(v["client_id_issued_at"].is_number());
    assert!(v.get("client_secret").is_none(), "public client: no secret");
    let bad = client().post(a.s.url("/oauth2/register")).json(&json!({ "redirect_uris": ["http://example.com/cb"] })).send().await.unwrap();
    let (status, e) = json(bad).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_redirect_uri")), "MCP-08");
    // Confidential: secret with client_secret_expires_at; RFC 7592 read/update/delete.
    let c = a.register(json!({ "client_name": "Srv", "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_basic" })).await;
    assert_eq!(c["client_secret_expires_at"], 0);
    let uri = c["registration_client_uri"].as_str().unwrap().replace(&a.issuer(), &a.s.url(""));
    let rat = c["registration_access_token"].as_str().unwrap();
    let r = client().get(&uri).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), 401, "wrong registration access token");
    let (status, got) = json(client().get(&uri).bearer_auth(rat).send().await.unwrap()).await;
    assert_eq!((status, &got["client_name"]), (200, &json!("Srv")));
    let mut upd = got.clone();
    upd.as_object_mut().unwrap().retain(|k, _| !["registration_client_uri", "client_secret_expires_at", "client_id_issued_at"].contains(&k.as_str()));
    upd["client_name"] = json!("Renamed");
    let (status, got) = json(client().put(&uri).bearer_auth(rat).json(&upd).send().await.unwrap()).await;
    assert_eq!((status, &got["client_name"]), (200, &json!("Renamed")), "{got}");
    assert_eq!(client().delete(&uri).bearer_auth(rat).send().await.unwrap().status(), 204);
    assert_eq!(client().get(&uri).bearer_auth(rat).send().await.unwrap().status(), 401, "deleted");
});

dual!(mcp_11_13_15_errors_before_redirect_validation_are_pages, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let id = a.public_client().await;
    for url in [
        a.authorize_url("kc_unknown", &[]),
        a.authorize_url(&id, &[("redirect_uri", "http://127.0.0.1:9400/callback/x")]),
        a.authorize_url(&id, &[("redirect_uri", "https://evil.example/callback")]),
    ] {
        let r = a.authorize(&url, Some(&a.cookie)).await;
        assert_eq!(r.status(), 400, "{url}");
        assert!(r.headers().get("location").is_none(), "never redirected to an unvalidated URI");
    }
    let (status, e) = a.token(&[("grant_type", "authorization_code"), ("code", "x"), ("client_id", "kc_unknown")], None).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")), "MCP-11");
});

dual!(mcp_07_12_14_16_error_redirects_carry_state_and_iss, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let id = a.public_client().await;
    let cases = [
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("resource", "https://other.example/mcp")], "invalid_target"),
        (vec![("response_type", "token")], "unsupported_response_type"),
        (vec![("scope", "mcp:unknown")], "invalid_scope"),
    ];
    for (extra, code) in cases {
        let r = a.authorize(&a.authorize_url(&id, &extra), Some(&a.cookie)).await;
        assert_eq!(r.status(), 302, "{extra:?}");
        let q = callback(&r);
        assert_eq!(q["error"], code, "{extra:?}");
        assert_eq!(q["state"], "st-123", "MCP-16");
        assert_eq!(q["iss"], a.issuer(), "MCP-07: iss on errors");
    }
    // prompt=none without a session: login_required, by redirect, with iss (OIDC).
    let r = a.authorize(&a.authorize_url(&id, &[("prompt", "none")]), None).await;
    let q = callback(&r);
    assert_eq!((q["error"].as_str(), q["iss"].as_str()), ("login_required", a.issuer().as_str()));
    // Deny: access_denied with iss.
    let page = a.authorize(&a.authorize_url(&id, &[]), Some(&a.cookie)).await;
    let q = callback(&a.consent(page, "deny", &a.cookie).await);
    assert_eq!((q["error"].as_str(), q["state"].as_str(), q["iss"].as_str()), ("access_denied", "st-123", a.issuer().as_str()));
});

dual!(mcp_17_18_19_20_21_code_flow_pkce_audience, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let id = a.public_client().await;
    // MCP-18: the consent page names the redirect host, and a new client needs consent
    // even though the user has a session.
    let page = a.authorize(&a.authorize_url(&id, &[("scope", "mcp:tools offline_access"), ("prompt", "consent")]), Some(&a.cookie)).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("127.0.0.1:9400") && html.contains("Test app") && html.contains("alice@example.com"), "{html}");
    let q = a.code(&id, &[("scope", "mcp:tools offline_access"), ("prompt", "consent")]).await;
    assert_eq!((q["state"].as_str(), q["iss"].as_str()), ("st-123", a.issuer().as_str()), "MCP-07, MCP-16");
    // MCP-19: a wrong verifier is refused (and the code stays unredeemed).
    let (status, e) = a
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("code_verifier", &format!("{}x", &VERIFIER[..42])),
                ("redirect_uri", REDIRECT),
                ("client_id", &id),
            ],
            None,
        )
        .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    // MCP-20: another resource at the token endpoint is invalid_target; a redirect mismatch invalid_grant.
    let (status, e) = a
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("code_verifier", VERIFIER),
                ("redirect_uri", REDIRECT),
                ("resource", "https://other.example/mcp"),
                ("client_id", &id),
            ],
            None,
        )
        .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_target")));
    let (status, e) = a
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("code_verifier", VERIFIER),
                ("redirect_uri", "http://127.0.0.1:9401/callback"),
                ("client_id", &id),
            ],
            None,
        )
        .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    let (status, t) = a.exchange(&id, &q["code"]).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["expires_in"].as_i64().unwrap() <= 3600, "MCP-21");
    assert!(t["refresh_token"].is_string(), "MCP-17: offline_access honoured");
    let (h, c) = claims(t["access_token"].as_str().unwrap());
    assert_eq!(h["typ"], "at+jwt", "RFC 9068");
    assert_eq!(c["aud"], RESOURCE, "MCP-20: audience bound to the resource");
    assert_eq!(c["iss"], a.issuer().as_str());
    for k in ["sub", "client_id", "iat", "exp", "jti", "scope"] {
        assert!(c.get(k).is_some(), "RFC 9068 claim {k}");
    }
    assert_eq!(c["scope"], "mcp:tools offline_access");
    // Remembered consent: the next authorization goes straight back with a code.
    let r = a.authorize(&a.authorize_url(&id, &[("scope", "mcp:tools")]), Some(&a.cookie)).await;
    assert_eq!(r.status(), 302, "remembered consent skips the page");
    assert!(callback(&r).contains_key("code"));
});

dual!(rfc9700_code_replay_revokes_what_it_issued, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let (id, secret) = a.confidential_client("client_secret_basic").await;
    let q = a.code(&id, &[]).await;
    let form = [("grant_type", "authorization_code"), ("code", q["code"].as_str()), ("code_verifier", VERIFIER), ("redirect_uri", REDIRECT)];
    let (status, t) = a.token(&form, Some((&id, &secret))).await;
    assert_eq!(status, 200);
    assert_eq!(a.introspect((&id, &secret), t["access_token"].as_str().unwrap()).await["active"], true);
    let (status, e) = a.token(&form, Some((&id, &secret))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "a code is single use");
    assert_eq!(a.introspect((&id, &secret), t["access_token"].as_str().unwrap()).await, json!({ "active": false }), "replay revoked the access token");
    let (status, _) = a.token(&[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())], Some((&id, &secret))).await;
    assert_eq!(status, 400, "and the refresh token");
    // Client authentication: wrong secret is 401 with a Basic challenge; PKCE downgrade refused.
    let r = client().post(a.s.url("/oauth2/token")).basic_auth(&id, Some("wrong")).form_of(&form).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    let (status, e) = a.token(&[("grant_type", "password"), ("username", "a"), ("password", "b")], Some((&id, &secret))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("unsupported_grant_type")), "no password grant in OAuth 2.1");
    let q = a.code(&id, &[]).await;
    let (status, e) = a.token(&[("grant_type", "authorization_code"), ("code", &q["code"]), ("redirect_uri", REDIRECT)], Some((&id, &secret))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "PKCE downgrade: a verifier is required");
});

dual!(mcp_22_23_refresh_rotation_reuse_and_scope, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let id = a.public_client().await;
    let q = a.code(&id, &[("scope", "mcp:tools mcp:admin")]).await;
    let (_, t) = a.exchange(&id, &q["code"]).await;
    let rt0 = t["refresh_token"].as_str().unwrap();
    // MCP-23: what MCP clients send, resource and no scope: same scope and audience.
    let (status, t1) = a.token(&[("grant_type", "refresh_token"), ("refresh_token", rt0), ("resource", RESOURCE), ("client_id", &id)], None).await;
    assert_eq!(status, 200, "{t1}");
    let rt1 = t1["refresh_token"].as_str().unwrap();
    assert_ne!(rt0, rt1, "MCP-22: rotated");
    assert_eq!(t1["scope"], "mcp:tools mcp:admin");
    assert_eq!(claims(t1["access_token"].as_str().unwrap()).1["aud"], RESOURCE);
    // Within the grace window a public client's concurrent refresh gets the same successor.
    let (status, again) = a.token(&[("grant_type", "refresh_token"), ("refresh_token", rt0), ("client_id", &id)], None).await;
    assert_eq!((status, again["refresh_token"].as_str()), (200, Some(rt1)), "grace: idempotent successor");
    // Narrow, never widen; the resource cannot change.
    let (status, n) = a.token(&[("grant_type", "refresh_token"), ("refresh_token", rt1), ("scope", "mcp:tools"), ("client_id", &id)], None).await;
    assert_eq!((status, n["scope"].as_str()), (200, Some("mcp:tools")));
    let rt2 = n["refresh_token"].as_str().unwrap();
    let (status, e) = a.token(&[("grant_type", "refresh_token"), ("refresh_token", rt2), ("scope", "mcp:tools openid"), ("client_id", &id)], None).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_scope")));
    let (status, e) =
        a.token(&[("grant_type", "refresh_token"), ("refresh_token", rt2), ("resource", "https://other.example/mcp"), ("client_id", &id)], None).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_target")), "resource changed on refresh");
    // A confidential client's reuse (no grace) revokes the whole family.
    let (cid, secret) = a.confidential_client("client_secret_post").await;
    let q = a.code(&cid, &[]).await;
    let (_, t) = a
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("code_verifier", VERIFIER),
                ("redirect_uri", REDIRECT),
                ("client_id", &cid),
                ("client_secret", &secret),
            ],
            None,
        )
        .await;
    let old = t["refresh_token"].as_str().unwrap();
    let (_, t1) = a.token(&[("grant_type", "refresh_token"), ("refresh_token", old), ("client_id", &cid), ("client_secret", &secret)], None).await;
    let (status, e) = a.token(&[("grant_type", "refresh_token"), ("refresh_token", old), ("client_id", &cid), ("client_secret", &secret)], None).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "reuse detected");
    let (status, _) = a
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", t1["refresh_token"].as_str().unwrap()), ("client_id", &cid), ("client_secret", &secret)],
            None,
        )
        .await;
    assert_eq!(status, 400, "the successor died with the family");
    assert_eq!(a.introspect((&cid, &secret), t1["access_token"].as_str().unwrap()).await, json!({ "active": false }));
});

dual!(rfc7009_7662_revocation_and_introspection, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let (id, secret) = a.confidential_client("client_secret_basic").await;
    let (other, other_secret) = a.confidential_client("client_secret_basic").await;
    let q = a.code(&id, &[]).await;
    let (_, t) = a
        .token(&[("grant_type", "authorization_code"), ("code", &q["code"]), ("code_verifier", VERIFIER), ("redirect_uri", REDIRECT)], Some((&id, &secret)))
        .await;
    let (at, rt) = (t["access_token"].as_str().unwrap(), t["refresh_token"].as_str().unwrap());
    // Introspection needs an authenticated confidential client.
    let r = client().post(a.s.url("/oauth2/introspect")).form_of(&[("token", at)]).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let pub_id = a.public_client().await;
    let r = client().post(a.s.url("/oauth2/introspect")).form_of(&[("token", at), ("client_id", &pub_id)]).send().await.unwrap();
    assert_eq!(r.status(), 401, "a public client cannot introspect");
    let i = a.introspect((&id, &secret), at).await;
    assert_eq!((i["active"].as_bool(), i["aud"].as_str(), i["client_id"].as_str()), (Some(true), Some(RESOURCE), Some(id.as_str())));
    assert_eq!(a.introspect((&id, &secret), "not-a-token").await, json!({ "active": false }));
    // Revoking: unknown token 200; another client's token 200 but it stays active.
    let revoke = |who: (String, String), token: String| {
        let url = a.s.url("/oauth2/revoke");
        async move { client().post(url).basic_auth(who.0, Some(who.1)).form_of(&[("token", token)]).send().await.unwrap().status() }
    };
    assert_eq!(revoke((id.clone(), secret.clone()), "unknown".into()).await, 200);
    assert_eq!(revoke((other.clone(), other_secret.clone()), at.into()).await, 200);
    assert_eq!(a.introspect((&id, &secret), at).await["active"], true, "another client cannot revoke it");
    // Revoking the refresh token kills the access tokens of the grant.
    assert_eq!(revoke((id.clone(), secret.clone()), rt.into()).await, 200);
    assert_eq!(a.introspect((&id, &secret), at).await, json!({ "active": false }));
    assert_eq!(a.introspect((&id, &secret), rt).await, json!({ "active": false }));
});

dual!(rfc9126_par_single_use_and_client_credentials, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let (id, secret) = a.operator_client().await;
    let par = |body: Vec<(&'static str, String)>, who: (String, String)| {
        let url = a.s.url("/oauth2/par");
        async move { json(client().post(url).basic_auth(who.0, Some(who.1)).form_of(&body).send().await.unwrap()).await }
    };
    let base = vec![
        ("response_type", "code".to_owned()),
        ("redirect_uri", REDIRECT.to_owned()),
        ("code_challenge", CHALLENGE.to_owned()),
        ("code_challenge_method", "S256".to_owned()),
        ("scope", "mcp:tools".to_owned()),
        ("resource", RESOURCE.to_owned()),
        ("state", "p".to_owned()),
    ];
    let mut with_uri = base.clone();
    with_uri.push(("request_uri", "urn:ietf:params:oauth:request_uri:x".into()));
    let (status, e) = par(with_uri, (id.clone(), secret.clone())).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_request")), "request_uri inside PAR");
    let (status, p) = par(base, (id.clone(), secret.clone())).await;
    assert_eq!(status, 201, "{p}");
    let uri = p["request_uri"].as_str().unwrap();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:") && p["expires_in"].as_i64().unwrap() > 0);
    let (other, _) = a.confidential_client("client_secret_basic").await;
    let foreign = format!("{}?client_id={other}&request_uri={}", a.s.url("/oauth2/authorize"), kavach_core::text::url_encode(uri));
    assert_eq!(a.authorize(&foreign, Some(&a.cookie)).await.status(), 400, "another client's request_uri");
    // (The foreign attempt consumed it: request_uris are single use, whoever presents them.)
    let (_, p) = par(
        vec![
            ("response_type", "code".into()),
            ("redirect_uri", REDIRECT.into()),
            ("code_challenge", CHALLENGE.into()),
            ("code_challenge_method", "S256".into()),
            ("scope", "mcp:tools".into()),
            ("resource", RESOURCE.into()),
            ("state", "p".into()),
        ],
        (id.clone(), secret.clone()),
    )
    .await;
    let url = format!("{}?client_id={id}&request_uri={}", a.s.url("/oauth2/authorize"), kavach_core::text::url_encode(p["request_uri"].as_str().unwrap()));
    let r = a.authorize(&url, Some(&a.cookie)).await;
    let r = a.consent(r, "approve", &a.cookie).await;
    assert_eq!(callback(&r)["state"], "p");
    assert_eq!(a.authorize(&url, Some(&a.cookie)).await.status(), 400, "request_uri reused");
    // client_credentials: a confidential client gets a token for the resource, no refresh token.
    let (status, t) = a.token(&[("grant_type", "client_credentials"), ("scope", "mcp:tools"), ("resource", RESOURCE)], Some((&id, &secret))).await;
    assert_eq!(status, 200, "{t}");
    assert!(t.get("refresh_token").is_none());
    let c = claims(t["access_token"].as_str().unwrap()).1;
    assert_eq!((c["sub"].as_str(), c["aud"].as_str()), (Some(id.as_str()), Some(RESOURCE)));
    let pub_id = a.public_client().await;
    let (status, e) = a.token(&[("grant_type", "client_credentials"), ("client_id", &pub_id)], None).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("unauthorized_client")));
    // A client that registered itself cannot mint machine tokens (open registration).
    let (dyn_id, dyn_secret) = a.confidential_client("client_secret_basic").await;
    let (status, e) = a.token(&[("grant_type", "client_credentials"), ("resource", RESOURCE)], Some((&dyn_id, &dyn_secret))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("unauthorized_client")));
});

dual!(oidc_id_token_nonce_userinfo_and_user_grants, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let (id, secret) = a.confidential_client("client_secret_basic").await;
    let q = a.code(&id, &[("scope", "openid email profile"), ("resource", ""), ("nonce", "n-0S6_WzA2Mj")]).await;
    let (status, t) = a
        .token(&[("grant_type", "authorization_code"), ("code", &q["code"]), ("code_verifier", VERIFIER), ("redirect_uri", REDIRECT)], Some((&id, &secret)))
        .await;
    assert_eq!(status, 200, "{t}");
    let (h, c) = claims(t["id_token"].as_str().unwrap());
    assert_eq!(h["alg"], "RS256");
    assert_eq!((c["nonce"].as_str(), c["aud"].as_str(), c["iss"].as_str()), (Some("n-0S6_WzA2Mj"), Some(id.as_str()), Some(a.issuer().as_str())));
    assert_eq!(c["email"], "alice@example.com");
    assert!(c["auth_time"].is_number());
    let (status, u) = json(client().get(a.s.url("/oauth2/userinfo")).bearer_auth(t["access_token"].as_str().unwrap()).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!((u["sub"].as_str(), u["email"].as_str()), (c["sub"].as_str(), Some("alice@example.com")), "userinfo sub = id_token sub");
    let r = client().get(a.s.url("/oauth2/userinfo")).bearer_auth("bad").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    // The user lists the app and revokes it: its tokens die, consent is asked again.
    let (status, g) = json(get(&a.s, "/oauth2/grants", Some(&a.cookie)).await).await;
    assert_eq!(status, 200);
    assert_eq!(g["grants"][0]["client_id"], id.as_str());
    let r = post(&a.s, "/oauth2/grants/revoke", Some(&a.cookie), json!({ "client_id": id })).await;
    assert_eq!(json(r).await.1["revoked"], true);
    let r = client().get(a.s.url("/oauth2/userinfo")).bearer_auth(t["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 401, "revoked grant: the access token is dead");
    let r = a.authorize(&a.authorize_url(&id, &[("scope", "openid email profile"), ("resource", "")]), Some(&a.cookie)).await;
    assert_eq!(r.status(), 200, "consent is asked again");
    assert_eq!(get(&a.s, "/oauth2/grants", None).await.status(), 401, "the grant list needs a session");
});

dual!(hosted_sign_in_page_continues_the_flow, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let id = a.public_client().await;
    let r = a.authorize(&a.authorize_url(&id, &[]), None).await;
    assert_eq!(r.status(), 302);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.contains("/oauth2/sign-in?flow="), "{to}");
    let page = client().get(&to).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let flow = percent(to.split("flow=").nth(1).unwrap());
    let bad = client()
        .post(a.s.url("/oauth2/sign-in"))
        .header("origin", a.s.origin())
        .form_of(&[("flow", flow.as_str()), ("email", "alice@example.com"), ("password", "wrong password here")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(bad.text().await.unwrap().contains("not correct"));
    let ok = client()
        .post(a.s.url("/oauth2/sign-in"))
        .header("origin", a.s.origin())
        .form_of(&[("flow", flow.as_str()), ("email", "alice@example.com"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let cookie = session_cookie(&ok).expect("signed in");
    let next = ok.headers()["location"].to_str().unwrap().to_owned();
    let consent = client().get(&next).header("cookie", &cookie).send().await.unwrap();
    let q = callback(&a.consent(consent, "approve", &cookie).await);
    assert!(q.contains_key("code"));
    // A tampered flow is refused; a consent form posted from another session is refused.
    let r = client().get(a.s.url("/oauth2/continue?flow=AAAA")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let page = a.authorize(&a.authorize_url(&id, &[("prompt", "consent")]), Some(&cookie)).await;
    let r = a.consent(page, "approve", &a.cookie).await;
    assert_eq!(r.status(), 403, "csrf token bound to the session that saw the page");
});

/// Two instances on one PostgreSQL: authorize on one, redeem and refresh on the other
/// (flow state sealed, codes and grants in the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_authorization_server_state_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    let a = As::start(&db.url, RESOURCE, "").await;
    let dir = temp_dir();
    let cfg = oauth_config(&dir, RESOURCE, "");
    let b = Server::start_in(dir, &db.url, &[("KAVACH_CONFIG", &cfg)]);
    let id = a.public_client().await;
    // The sign-in page on A, the sign-in itself and the consent on B.
    let r = a.authorize(&a.authorize_url(&id, &[]), None).await;
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let flow = percent(to.split("flow=").nth(1).unwrap());
    let ok = client()
        .post(b.url("/oauth2/sign-in"))
        .header("origin", b.origin())
        .form_of(&[("flow", flow.as_str()), ("email", "alice@example.com"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let cookie = session_cookie(&ok).unwrap();
    let consent =
        client().get(b.url(&format!("/oauth2/continue?flow={}", kavach_core::text::url_encode(&flow)))).header("cookie", &cookie).send().await.unwrap();
    let q = callback(&a.consent(consent, "approve", &cookie).await);
    let bt = As { s: b, cookie: cookie.clone(), cli_env: vec![] };
    let (status, t) = bt.exchange(&id, &q["code"]).await;
    assert_eq!(status, 200, "code issued by A redeemed on B: {t}");
    let (status, t2) = a.token(&[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap()), ("client_id", &id)], None).await;
    assert_eq!(status, 200, "refresh on A: {t2}");
    let (status, _) = bt.exchange(&id, &q["code"]).await;
    assert_eq!(status, 400, "replay on B refused");
    drop(bt);
    drop(a);
    db.drop_db().await;
}

dual!(cli_clients_create_disable_delete, |db| {
    let dir = temp_dir();
    let cfg = oauth_config(&dir, RESOURCE, "");
    let env = [("KAVACH_CONFIG", cfg.as_str()), ("KAVACH_DATABASE_URL", db), ("KAVACH_SECRET", SECRET)];
    let cli = |args: &[&str]| {
        let out = command(&dir, &env).args(args).output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, out) = cli(&["clients", "create", "--name", "Backend job", "--grant", "client_credentials"]);
    assert_eq!(code, 0, "{out}");
    let field = |k: &str| out.lines().find_map(|l| l.strip_prefix(k)).unwrap().trim().to_owned();
    let (id, secret) = (field("client_id:"), field("client_secret:"));
    let (code, out) = cli(&["clients", "create", "--name", "Introspector", "--grant", "client_credentials", "--introspect", RESOURCE]);
    assert_eq!(code, 0, "{out}");
    let field = |k: &str| out.lines().find_map(|l| l.strip_prefix(k)).unwrap().trim().to_owned();
    let introspector = (field("client_id:"), field("client_secret:"));
    let who = (introspector.0.as_str(), introspector.1.as_str());
    let s = Server::start_in(temp_dir(), db, &[("KAVACH_CONFIG", &cfg)]);
    let a = As { cookie: String::new(), s, cli_env: vec![] };
    // The CLI is another process: on PostgreSQL its change reaches the server by
    // notification; on SQLite, once the server's copy of the client expires.
    let settle = || async {
        if !db.starts_with("postgres") {
            tokio::time::sleep(kavach_core::cache::FRESH_FOR).await;
        }
    };
    let (status, t) = a.token(&[("grant_type", "client_credentials"), ("resource", RESOURCE)], Some((&id, &secret))).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["scope"], "mcp:tools mcp:admin", "no scope: the resource's scopes");
    let (_, list) = cli(&["clients", "list"]);
    assert!(list.contains(&id) && list.contains("Backend job") && list.contains("operator"), "{list}");
    let machine_token = t["access_token"].as_str().unwrap().to_owned();
    assert_eq!(a.introspect(who, &machine_token).await["active"], true);
    // Review 4: only the token's resource server (or its own client) learns about it.
    let (code, out) = cli(&["clients", "create", "--name", "Bystander", "--grant", "client_credentials"]);
    assert_eq!(code, 0, "{out}");
    let field = |k: &str| out.lines().find_map(|l| l.strip_prefix(k)).unwrap().trim().to_owned();
    let bystander = (field("client_id:"), field("client_secret:"));
    assert_eq!(a.introspect((&bystander.0, &bystander.1), &machine_token).await, json!({ "active": false }), "RFC 7662 §4");
    let (code, out) = cli(&["clients", "introspect", &bystander.0, "--resource", RESOURCE]);
    assert_eq!(code, 0, "{out}");
    settle().await;
    assert_eq!(a.introspect((&bystander.0, &bystander.1), &machine_token).await["active"], true, "allowed by the operator");
    let (_, shown) = cli(&["clients", "show", &bystander.0]);
    assert!(shown.contains(RESOURCE), "{shown}");
    // client_credentials tokens belong to no grant family: the client itself cuts them off.
    assert_eq!(cli(&["clients", "disable", &id]).0, 0);
    settle().await;
    let (status, e) = a.token(&[("grant_type", "client_credentials"), ("resource", RESOURCE)], Some((&id, &secret))).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")), "a disabled client cannot authenticate");
    assert_eq!(a.introspect(who, &machine_token).await, json!({ "active": false }), "disabling killed its machine token");
    assert_eq!(cli(&["clients", "enable", &id]).0, 0);
    assert_eq!(a.introspect(who, &machine_token).await, json!({ "active": false }), "enabling does not bring it back");
    // Cut off: what was issued until the cache's bound after the change (`iat` has
    // one-second resolution).
    tokio::time::sleep(kavach_core::cache::FRESH_FOR + std::time::Duration::from_millis(1100)).await;
    let (status, t) = a.token(&[("grant_type", "client_credentials"), ("resource", RESOURCE)], Some((&id, &secret))).await;
    assert_eq!(status, 200, "{t}");
    let fresh = t["access_token"].as_str().unwrap().to_owned();
    assert_eq!(a.introspect(who, &fresh).await["active"], true, "a token issued after enabling is active");
    assert_eq!(cli(&["clients", "delete", &id]).0, 0);
    assert_eq!(cli(&["clients", "show", &id]).0, 1);
    assert_eq!(a.introspect(who, &fresh).await, json!({ "active": false }), "deleting killed its machine token");
});

dual!(mcp_05_09_metadata_document_ssrf_targets_are_refused, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let (_, m) = json(client().get(a.s.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
    assert_eq!(m["client_id_metadata_document_supported"], true, "MCP-05");
    for id in [
        "https://127.0.0.1/client.json",
        "https://localhost:1/client.json",
        "https://10.0.0.1/c.json",
        "https://[::1]/c.json",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:127.0.0.1]/c.json",
        "http://example.com/c.json",
    ] {
        let r = a.authorize(&a.authorize_url(id, &[]), Some(&a.cookie)).await;
        assert_eq!(r.status(), 400, "{id}");
        assert!(r.headers().get("location").is_none(), "{id}: never redirected");
        let page = r.text().await.unwrap();
        if id.starts_with("https://") {
            assert!(page.contains("reserved address"), "{id}: refused by the address check, before any connection: {page}");
        }
    }
});

dual!(mcp_09_metadata_documents_checked_cached_and_used, |db| {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let doc = |path: &str, extra: Value| {
        let mut d = json!({ "client_id": format!("{origin}{path}"), "client_name": "Doc Client", "redirect_uris": [REDIRECT] });
        for (k, v) in extra.as_object().unwrap() {
            d[k] = v.clone();
        }
        d.to_string()
    };
    let (good, mismatch, secret) =
        (doc("/good.json", json!({})), doc("/other.json", json!({})), doc("/secret.json", json!({ "token_endpoint_auth_method": "client_secret_basic" })));
    // claude.ai's document lists a grant Kavach does not support, and a name may carry
    // bidirectional controls.
    let claude = doc(
        "/claude.json",
        json!({ "client_name": "Cla\u{202E}ude\u{200B}", "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"] }),
    );
    let six_kb = doc("/6kb.json", json!({ "client_uri": format!("https://x.example/{}", "p".repeat(6 * 1024)) }));
    let h = hits.clone();
    use axum::response::IntoResponse;
    let app = axum::Router::new()
        .route(
            "/good.json",
            axum::routing::get(move || {
                h.fetch_add(1, Ordering::SeqCst);
                let body = good.clone();
                async move { ([("content-type", "application/json"), ("cache-control", "max-age=60")], body).into_response() }
            }),
        )
        .route(
            "/mismatch.json",
            axum::routing::get(move || {
                let b = mismatch.clone();
                async move { b }
            }),
        )
        .route(
            "/secret.json",
            axum::routing::get(move || {
                let b = secret.clone();
                async move { b }
            }),
        )
        .route("/redirect.json", axum::routing::get(|| async { (axum::http::StatusCode::FOUND, [("location", "/good.json")]).into_response() }))
        .route("/notjson.json", axum::routing::get(|| async { "hello" }))
        .route(
            "/claude.json",
            axum::routing::get(move || {
                let b = claude.clone();
                async move { b }
            }),
        )
        .route(
            "/6kb.json",
            axum::routing::get(move || {
                let b = six_kb.clone();
                async move { b }
            }),
        )
        .route("/big.json", axum::routing::get(|| async { format!("{{\"pad\":\"{}\"}}", "x".repeat(70 * 1024)) }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let a = As::start(db, RESOURCE, "metadata_documents_insecure = true").await;
    for bad in ["/mismatch.json", "/secret.json", "/redirect.json", "/notjson.json", "/big.json", "/6kb.json", "/missing.json"] {
        let r = a.authorize(&a.authorize_url(&format!("{origin}{bad}"), &[]), Some(&a.cookie)).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.headers().get("location").is_none(), "{bad}: never redirected");
    }
    let id = format!("{origin}/good.json");
    let r = a.authorize(&a.authorize_url(&id, &[("redirect_uri", "http://127.0.0.1:9400/other")]), Some(&a.cookie)).await;
    assert_eq!(r.status(), 400, "a redirect_uri the document does not list");
    let page = a.authorize(&a.authorize_url(&id, &[]), Some(&a.cookie)).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Doc Client") && html.contains("127.0.0.1:9400"), "consent shows the document's name and the redirect host");
    let q = a.code(&id, &[]).await;
    let (status, t) = a.exchange(&id, &q["code"]).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(claims(t["access_token"].as_str().unwrap()).1["client_id"], id.as_str());
    assert_eq!(hits.load(Ordering::SeqCst), 1, "max-age=60: fetched once across the authorizations and the token request");
    // Review 13 and 14: a document listing jwt-bearer is accepted (the grant is dropped); the
    // consent page shows where the description came from, and the name without its
    // bidirectional controls.
    let claude = format!("{origin}/claude.json");
    let page = a.authorize(&a.authorize_url(&claude, &[]), Some(&a.cookie)).await;
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    let html = page.text().await.unwrap();
    let host = origin.trim_start_matches("http://");
    assert!(html.contains(&format!("describes itself from <strong>{host}</strong>")), "{html}");
    assert!(html.contains("<strong>Claude</strong> wants to access") && !html.contains('\u{202E}'), "{html}");
});

// Review 16: an http:// metadata document URL is told why it is refused.
dual!(review_16_an_http_metadata_document_url_is_told_to_use_https, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let r = a.authorize(&a.authorize_url("http://client.example/oauth/metadata.json", &[]), Some(&a.cookie)).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("must use https"));
    let r = client()
        .post(a.s.url("/oauth2/token"))
        .form_of(&[("grant_type", "authorization_code"), ("code", "x"), ("client_id", "http://client.example/m.json")])
        .send()
        .await
        .unwrap();
    let (status, e) = json(r).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")));
    assert!(e["error_description"].as_str().unwrap().contains("must use https"), "{e}");
});

// Review 10: a posted consent form gives one code; replayed, it gives none.
dual!(review_10_a_posted_consent_form_cannot_be_replayed, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let id = a.public_client().await;
    let page = a.authorize(&a.authorize_url(&id, &[]), Some(&a.cookie)).await;
    let html = page.text().await.unwrap();
    let field = |n: &str| {
        let start = html.find(&format!("name=\"{n}\" value=\"")).unwrap() + n.len() + 15;
        html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&")
    };
    let post = || {
        client()
            .post(a.s.url("/oauth2/consent"))
            .header("cookie", &a.cookie)
            .header("origin", a.s.origin())
            .form_of(&[("flow", field("flow")), ("csrf", field("csrf")), ("decision", "approve".to_owned())])
            .send()
    };
    let first = post().await.unwrap();
    assert_eq!(first.status(), 303);
    assert!(callback(&first).contains_key("code"));
    let again = post().await.unwrap();
    assert_eq!(again.status(), 400, "the replayed form gets no second code");
    assert!(again.headers().get("location").is_none());
});

// Review 12: RFC 6750 §3 / RFC 9449 §7.1 challenges at userinfo.
dual!(review_12_userinfo_challenges_are_well_formed, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let www = |r: &reqwest::Response| r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    let r = client().get(a.s.url("/oauth2/userinfo")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), www(&r)), (401, "Bearer".to_owned()));
    let r = client().get(a.s.url("/oauth2/userinfo")).bearer_auth("not-a-token").send().await.unwrap();
    let c = www(&r);
    assert!(c.starts_with("Bearer error=\"invalid_token\", error_description=\""), "no comma after the scheme: {c}");
    // A DPoP-bound token presented as Bearer is told to use the DPoP scheme.
    let id = a.public_client().await;
    let q = a.code(&id, &[("scope", "openid mcp:tools")]).await;
    let key = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
    let token_url = a.s.url("/oauth2/token");
    let mut nonce: Option<String> = None;
    let mut bound = Value::Null;
    for _ in 0..2 {
        let proof = dpop_proof(&key, "POST", &token_url, None, nonce.as_deref());
        let r = client()
            .post(&token_url)
            .header("dpop", proof)
            .form_of(&[
                ("grant_type", "authorization_code"),
                ("code", q["code"].as_str()),
                ("code_verifier", VERIFIER),
                ("redirect_uri", REDIRECT),
                ("client_id", id.as_str()),
            ])
            .send()
            .await
            .unwrap();
        nonce = r.headers().get("dpop-nonce").map(|v| v.to_str().unwrap().to_owned());
        let (status, body) = json(r).await;
        if status == 200 {
            bound = body;
            break;
        }
        assert_eq!(body["error"], "use_dpop_nonce", "{body}");
    }
    assert_eq!(bound["token_type"], "DPoP", "{bound}");
    let r = client().get(a.s.url("/oauth2/userinfo")).bearer_auth(bound["access_token"].as_str().unwrap()).send().await.unwrap();
    let c = www(&r);
    assert_eq!(r.status(), 401);
    assert!(c.starts_with("DPoP algs=\"") && c.contains(", error=\"invalid_token\", error_description=\""), "{c}");
});

dual!(rfc8628_device_authorization_grant, |db| {
    let a = As::start(db, RESOURCE, "").await;
    let id = a
        .register(json!({ "client_name": "CLI agent", "token_endpoint_auth_method": "none",
        "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"] }))
        .await["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = || async {
        let r = client()
            .post(a.s.url("/oauth2/device_authorization"))
            .form_of(&[("client_id", id.as_str()), ("scope", "mcp:tools"), ("resource", RESOURCE)])
            .send()
            .await
            .unwrap();
        let (status, d) = json(r).await;
        assert_eq!(status, 200, "{d}");
        d
    };
    let d = start().await;
    assert_eq!(d["interval"], 5);
    assert!(d["verification_uri"].as_str().unwrap().ends_with("/oauth2/device"));
    let (a, id) = (&a, &id);
    let poll = |code: String| async move {
        a.token(&[("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("device_code", &code), ("client_id", id)], None).await
    };
    let code = d["device_code"].as_str().unwrap().to_owned();
    let (status, e) = poll(code.clone()).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("authorization_pending")));
    // Another request polled too fast: slow_down.
    let d2 = start().await;
    let (_, first) = poll(d2["device_code"].as_str().unwrap().to_owned()).await;
    assert_eq!(first["error"], "authorization_pending", "the first poll is in time");
    let (_, e) = poll(d2["device_code"].as_str().unwrap().to_owned()).await;
    assert_eq!(e["error"], "slow_down");
    // Signing in on the device page itself (no session yet).
    let r = client()
        .post(a.s.url("/oauth2/device"))
        .header("origin", a.s.origin())
        .form_of(&[("step", "lookup"), ("user_code", d2["user_code"].as_str().unwrap()), ("email", "alice@example.com"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(session_cookie(&r).is_some(), "signed in by the device form");
    // The user: a wrong code is refused; the right one shows the client, then approve.
    let user_code = d["user_code"].as_str().unwrap();
    let submit = |pairs: Vec<(&'static str, String)>| {
        let url = a.s.url("/oauth2/device");
        let (cookie, origin) = (a.cookie.clone(), a.s.origin());
        async move { client().post(url).header("cookie", cookie).header("origin", origin).form_of(&pairs).send().await.unwrap() }
    };
    let r = submit(vec![("step", "lookup".into()), ("user_code", "BBBB-BBBB".into())]).await;
    assert_eq!(r.status(), 400);
    let page =
        client().get(d["verification_uri_complete"].as_str().unwrap().replace(&a.issuer(), &a.s.url(""))).header("cookie", &a.cookie).send().await.unwrap();
    assert!(page.text().await.unwrap().contains(user_code), "the complete URI fills the code in");
    let r = submit(vec![("step", "lookup".into()), ("user_code", user_code.to_lowercase().replace('-', " "))]).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("CLI agent") && html.contains("alice@example.com"), "{html}");
    let start_at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = html[start_at..start_at + html[start_at..].find('"').unwrap()].to_owned();
    let r = submit(vec![("step", "decide".into()), ("user_code", user_code.to_lowercase().replace('-', " ")), ("csrf", csrf), ("decision", "approve".into())])
        .await;
    assert!(r.text().await.unwrap().contains("Device connected"));
    tokio::time::sleep(std::time::Duration::from_millis(5100)).await;
    let (status, t) = poll(code.clone()).await;
    assert_eq!(status, 200, "{t}");
    assert!(t["refresh_token"].is_string());
    assert_eq!(claims(t["access_token"].as_str().unwrap()).1["aud"], RESOURCE);
    let (status, e) = poll(code).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "a device code is redeemed once");
});

/// A DPoP proof (RFC 9449) signed with `key`, carrying `nonce` when given.
pub(crate) fn dpop_proof(key: &aws_lc_rs::signature::Ed25519KeyPair, htm: &str, htu: &str, ath: Option<&str>, nonce: Option<&str>) -> String {
    use aws_lc_rs::signature::KeyPair;
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": B64.encode(key.public_key().as_ref()) });
    let header = json!({ "typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk });
    let mut claims = json!({ "jti": kavach_core::crypto::new_id(), "htm": htm, "htu": htu, "iat": kavach_core::store::Ts::now().0 / 1000 });
    if let Some(a) = ath {
        claims["ath"] = json!(kavach_core::plugins::oauth::dpop::ath(a));
    }
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    format!("{input}.{}", B64.encode(key.sign(input.as_bytes()).as_ref()))
}

pub(crate) fn jkt_of(key: &aws_lc_rs::signature::Ed25519KeyPair) -> String {
    use aws_lc_rs::signature::KeyPair;
    kavach_core::plugins::oauth::dpop::thumbprint(&json!({ "kty": "OKP", "crv": "Ed25519", "x": B64.encode(key.public_key().as_ref()) })).unwrap()
}

/// POST a form to the token endpoint (or `path`) with an optional DPoP proof: status,
/// body and the `DPoP-Nonce` header.
async fn dpop_post(a: &As, path: &str, form: &[(&str, String)], proof: Option<String>) -> (u16, Value, Option<String>) {
    send_with_proof(client().post(a.s.url(path)).form_of(form), proof).await
}

/// Send `rq` with an optional DPoP proof: status, body and the `DPoP-Nonce` header.
pub(crate) async fn send_with_proof(mut rq: reqwest::RequestBuilder, proof: Option<String>) -> (u16, Value, Option<String>) {
    if let Some(p) = proof {
        rq = rq.header("dpop", p);
    }
    let r = rq.send().await.unwrap();
    let nonce = r.headers().get("dpop-nonce").map(|v| v.to_str().unwrap().to_owned());
    let (status, v) = json(r).await;
    (status, v, nonce)
}

/// An authorization server (with `extra` configuration) and the example MCP server
/// protected by the resource-server verifier, on a free port: the AS and the resource URL.
pub(crate) async fn with_resource_server(db: &str, extra: &str) -> (As, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://127.0.0.1:{}/mcp", listener.local_addr().unwrap().port());
    let a = As::start(db, &resource, extra).await;
    let rs = std::sync::Arc::new(kavach::resource::ResourceServer::new(resource.clone(), a.issuer(), a.s.url("/jwks")));
    let app = crate::mcp::mcp_example::app(rs);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (a, resource)
}

dual!(rfc9449_dpop_bound_tokens_at_the_as_and_the_resource_server, |db| {
    use aws_lc_rs::signature::Ed25519KeyPair;
    let (a, resource) = with_resource_server(db, "").await;
    let (_, m) = json(client().get(a.s.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
    assert!(m["dpop_signing_alg_values_supported"].as_array().unwrap().contains(&json!("EdDSA")));
    let (key, other) = (Ed25519KeyPair::generate().unwrap(), Ed25519KeyPair::generate().unwrap());
    let token_url = format!("{}/oauth2/token", a.issuer());
    let id = a.public_client().await;
    let q = a.code(&id, &[("scope", "openid mcp:tools"), ("resource", &resource)]).await;
    let send = |form: Vec<(&'static str, String)>, proof: Option<String>| {
        let a = &a;
        async move {
            let (status, v, _) = dpop_post(a, "/oauth2/token", &form, proof).await;
            (status, v)
        }
    };
    let code_form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", q["code"].clone()),
        ("code_verifier", VERIFIER.into()),
        ("redirect_uri", REDIRECT.into()),
        ("client_id", id.clone()),
    ];
    let (status, e) = send(code_form.clone(), Some(dpop_proof(&key, "GET", &token_url, None, None))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_dpop_proof")), "wrong htm");
    let (status, e) = send(code_form.clone(), Some(dpop_proof(&key, "POST", "http://127.0.0.1:1/oauth2/token", None, None))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_dpop_proof")), "wrong htu");
    // RFC 9449 §8: the server nonce dance.
    let (status, e, nonce) = dpop_post(&a, "/oauth2/token", &code_form, Some(dpop_proof(&key, "POST", &token_url, None, None))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("use_dpop_nonce")), "a proof without the server nonce");
    let nonce = nonce.expect("use_dpop_nonce comes with a DPoP-Nonce header");
    let (status, e) = send(code_form.clone(), Some(dpop_proof(&key, "POST", &token_url, None, Some("1.forged")))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("use_dpop_nonce")), "a made-up nonce");
    let n = Some(nonce.as_str());
    let proof = dpop_proof(&key, "POST", &token_url, None, n);
    let (status, t, fresh) = dpop_post(&a, "/oauth2/token", &code_form, Some(proof.clone())).await;
    assert_eq!(status, 200, "{t}");
    assert!(fresh.is_some(), "every answer to a DPoP request carries the current nonce");
    assert_eq!(t["token_type"], "DPoP");
    let at = t["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&at).1["cnf"]["jkt"], jkt_of(&key).as_str(), "bound with cnf.jkt");
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: &str| vec![("grant_type", "refresh_token".to_owned()), ("refresh_token", rt.to_owned()), ("client_id", id.clone())];
    let (status, e) = send(refresh(&rt), Some(proof)).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_dpop_proof")), "a replayed proof");
    let (status, e) = send(refresh(&rt), Some(dpop_proof(&other, "POST", &token_url, None, n))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "a refresh from another key");
    let (status, e) = send(refresh(&rt), None).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "a refresh without a proof");
    let (status, t2) = send(refresh(&rt), Some(dpop_proof(&key, "POST", &token_url, None, n))).await;
    assert_eq!((status, t2["token_type"].as_str()), (200, Some("DPoP")), "{t2}");
    // Userinfo: the DPoP scheme with a proof carrying ath and the nonce; not as Bearer; not replayed.
    let userinfo = a.s.url("/oauth2/userinfo");
    let ui_url = format!("{}/oauth2/userinfo", a.issuer());
    let r = client().get(&userinfo).bearer_auth(&at).send().await.unwrap();
    assert_eq!(r.status(), 401, "a DPoP-bound token used as Bearer");
    let r = client()
        .get(&userinfo)
        .header("authorization", format!("DPoP {at}"))
        .header("dpop", dpop_proof(&key, "GET", &ui_url, Some(&at), None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "userinfo wants the nonce too");
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("DPoP ") && challenge.contains("error=\"use_dpop_nonce\""), "{challenge}");
    assert!(r.headers().get("dpop-nonce").is_some());
    let p = dpop_proof(&key, "GET", &ui_url, Some(&at), n);
    let r = client().get(&userinfo).header("authorization", format!("DPoP {at}")).header("dpop", &p).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client().get(&userinfo).header("authorization", format!("DPoP {at}")).header("dpop", &p).send().await.unwrap();
    assert_eq!(r.status(), 401, "replayed proof");
    let r =
        client().get(&userinfo).header("authorization", format!("DPoP {at}")).header("dpop", dpop_proof(&key, "GET", &ui_url, None, n)).send().await.unwrap();
    assert_eq!(r.status(), 401, "a proof without ath");
    // The resource server (kavach::resource) checks the binding too (no nonces: not configured).
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });
    let r = client().post(&resource).bearer_auth(&at).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401, "RS: DPoP-bound token as Bearer");
    let p = dpop_proof(&key, "POST", &resource, Some(&at), None);
    let r = client().post(&resource).header("authorization", format!("DPoP {at}")).header("dpop", &p).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "RS: DPoP scheme with a proof");
    assert!(r.headers().get("dpop-nonce").is_none(), "this resource server does not use nonces");
    let r = client().post(&resource).header("authorization", format!("DPoP {at}")).header("dpop", &p).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401, "RS: replayed proof");
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("DPoP "), "RS challenges a DPoP request with the DPoP scheme");
    let p = dpop_proof(&other, "POST", &resource, Some(&at), None);
    let r = client().post(&resource).header("authorization", format!("DPoP {at}")).header("dpop", &p).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401, "RS: proof from another key");
});

// RFC 9449 §9: a resource server that requires its own nonces.
dual!(rfc9449_resource_server_nonces, |db| {
    use aws_lc_rs::signature::Ed25519KeyPair;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://127.0.0.1:{}/mcp", listener.local_addr().unwrap().port());
    let a = As::start(db, &resource, "").await;
    let rs = kavach::resource::ResourceServer::new(resource.clone(), a.issuer(), a.s.url("/jwks")).dpop_nonces("resource-nonce-secret-0123456789");
    let app = crate::mcp::mcp_example::app(std::sync::Arc::new(rs));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let key = Ed25519KeyPair::generate().unwrap();
    let token_url = format!("{}/oauth2/token", a.issuer());
    let id = a.public_client().await;
    let q = a.code(&id, &[("resource", &resource)]).await;
    let form =
        vec![("grant_type", "authorization_code".to_owned()), ("code", q["code"].clone()), ("code_verifier", VERIFIER.into()), ("client_id", id.clone())];
    let (_, _, as_nonce) = dpop_post(&a, "/oauth2/token", &form, Some(dpop_proof(&key, "POST", &token_url, None, None))).await;
    let (status, t, _) = dpop_post(&a, "/oauth2/token", &form, Some(dpop_proof(&key, "POST", &token_url, None, as_nonce.as_deref()))).await;
    assert_eq!(status, 200, "{t}");
    let at = t["access_token"].as_str().unwrap();
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });
    let call = |nonce: Option<String>| {
        let p = dpop_proof(&key, "POST", &resource, Some(at), nonce.as_deref());
        client().post(&resource).header("authorization", format!("DPoP {at}")).header("dpop", p).json(&body).send()
    };
    let r = call(None).await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("DPoP ") && challenge.contains("error=\"use_dpop_nonce\""), "{challenge}");
    let rs_nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let r = call(as_nonce.clone()).await.unwrap();
    assert_eq!(r.status(), 401, "the authorization server's nonce is not the resource server's");
    let r = call(Some(rs_nonce)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("dpop-nonce").is_some(), "admitted DPoP requests learn the current nonce");
});

// RFC 9449 §10: dpop_jkt binds the authorization code to a key, given on the
// authorization request or taken from a DPoP proof sent with PAR.
dual!(rfc9449_dpop_jkt_binds_the_code_on_authorize_and_par, |db| {
    use aws_lc_rs::signature::Ed25519KeyPair;
    let a = As::start(db, RESOURCE, "").await;
    let (key, other) = (Ed25519KeyPair::generate().unwrap(), Ed25519KeyPair::generate().unwrap());
    let token_url = format!("{}/oauth2/token", a.issuer());
    let id = a.public_client().await;
    let probe = [("grant_type", "refresh_token".to_owned()), ("refresh_token", "none".to_owned()), ("client_id", id.clone())];
    let (_, e, nonce) = dpop_post(&a, "/oauth2/token", &probe, Some(dpop_proof(&key, "POST", &token_url, None, None))).await;
    assert_eq!(e["error"], "use_dpop_nonce");
    let n = nonce.as_deref();
    let exchange = |code: String, proof: Option<String>| {
        let form = vec![("grant_type", "authorization_code".to_owned()), ("code", code), ("code_verifier", VERIFIER.to_owned()), ("client_id", id.clone())];
        let a = &a;
        async move { dpop_post(a, "/oauth2/token", &form, proof).await }
    };
    // On the authorization request.
    let r = a.authorize(&a.authorize_url(&id, &[("dpop_jkt", "not-a-thumbprint")]), Some(&a.cookie)).await;
    assert_eq!(callback(&r)["error"], "invalid_request", "a malformed dpop_jkt");
    let jkt = jkt_of(&key);
    let q = a.code(&id, &[("dpop_jkt", &jkt)]).await;
    let (status, e, _) = exchange(q["code"].clone(), None).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "a bound code without a proof");
    let (status, e, _) = exchange(q["code"].clone(), Some(dpop_proof(&other, "POST", &token_url, None, n))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "a bound code with another key's proof");
    let q = a.code(&id, &[("dpop_jkt", &jkt)]).await;
    let (status, t, _) = exchange(q["code"].clone(), Some(dpop_proof(&key, "POST", &token_url, None, n))).await;
    assert_eq!((status, t["token_type"].as_str()), (200, Some("DPoP")), "{t}");
    // From the proof sent with PAR.
    let par_url = format!("{}/oauth2/par", a.issuer());
    let par_form = |extra: &[(&'static str, String)]| {
        let mut f = vec![
            ("response_type", "code".to_owned()),
            ("client_id", id.clone()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("code_challenge", CHALLENGE.to_owned()),
            ("code_challenge_method", "S256".to_owned()),
            ("scope", "mcp:tools".to_owned()),
            ("resource", RESOURCE.to_owned()),
        ];
        f.extend_from_slice(extra);
        f
    };
    let (status, e, _) = dpop_post(&a, "/oauth2/par", &par_form(&[("dpop_jkt", jkt_of(&other))]), Some(dpop_proof(&key, "POST", &par_url, None, n))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_request")), "dpop_jkt and the PAR proof's key differ");
    let (status, e, _) = dpop_post(&a, "/oauth2/par", &par_form(&[]), Some(dpop_proof(&key, "POST", &token_url, None, n))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_dpop_proof")), "a PAR proof must name the PAR endpoint");
    let (status, p, _) = dpop_post(&a, "/oauth2/par", &par_form(&[]), Some(dpop_proof(&key, "POST", &par_url, None, n))).await;
    assert_eq!(status, 201, "{p}");
    let url = format!("{}?client_id={id}&request_uri={}", a.s.url("/oauth2/authorize"), kavach_core::text::url_encode(p["request_uri"].as_str().unwrap()));
    let r = a.authorize(&url, Some(&a.cookie)).await;
    let code = callback(&r)["code"].clone();
    let (status, e, _) = exchange(code.clone(), Some(dpop_proof(&other, "POST", &token_url, None, n))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "the PAR proof's key bound the code");
    let (status, t, _) = exchange(code, Some(dpop_proof(&key, "POST", &token_url, None, n))).await;
    assert_eq!((status, t["token_type"].as_str()), (200, Some("DPoP")), "{t}");
});

/// An RFC 7523 client assertion for `client_id`, signed with `key` and naming `kid`.
fn client_assertion(key: &aws_lc_rs::signature::Ed25519KeyPair, kid: &str, client_id: &str, aud: &str) -> String {
    let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid });
    let now = kavach_core::store::Ts::now().0 / 1000;
    let claims = json!({ "iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60, "jti": kavach_core::crypto::new_id() });
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    format!("{input}.{}", B64.encode(key.sign(input.as_bytes()).as_ref()))
}

fn public_jwk(key: &aws_lc_rs::signature::Ed25519KeyPair, kid: &str) -> Value {
    use aws_lc_rs::signature::KeyPair;
    json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid, "x": B64.encode(key.public_key().as_ref()) })
}

// RFC 7523 private_key_jwt with the keys at the client's jwks_uri (RFC 7591 §2): fetched
// when needed, refetched when an assertion names a new key, kept while the URL is down;
// a client created with `kavach clients create --jwks-uri`.
dual!(rfc7523_private_key_jwt_with_a_jwks_uri, |db| {
    use aws_lc_rs::signature::Ed25519KeyPair;
    // The client's key server (loopback http: allowed by the development switch only).
    let jwks = std::sync::Arc::new(std::sync::Mutex::new(json!({ "keys": [] })));
    let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!("http://127.0.0.1:{}/jwks.json", listener.local_addr().unwrap().port());
    let caching = std::sync::Arc::new(std::sync::Mutex::new("max-age=300"));
    let app = {
        let (jwks, fetches, caching) = (jwks.clone(), fetches.clone(), caching.clone());
        axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (jwks, fetches, caching) = (jwks.clone(), fetches.clone(), caching.clone());
                async move {
                    fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let body = jwks.lock().unwrap().clone();
                    if body.is_null() {
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, [("cache-control", "no-store")], String::new());
                    }
                    let cc = *caching.lock().unwrap();
                    (axum::http::StatusCode::OK, [("cache-control", cc)], body.to_string())
                }
            }),
        )
    };
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let a = As::start(db, RESOURCE, "metadata_documents_insecure = true").await;
    let (k1, k2) = (Ed25519KeyPair::generate().unwrap(), Ed25519KeyPair::generate().unwrap());
    *jwks.lock().unwrap() = json!({ "keys": [public_jwk(&k1, "k1")] });
    let env = a.cli_env.clone();
    let uri = jwks_uri.clone();
    let out = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        command(&temp_dir(), &env)
            .args(["clients", "create", "--name", "Agent", "--grant", "client_credentials", "--auth-method", "private_key_jwt", "--jwks-uri", &uri])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("client_secret:"), "a private_key_jwt client has no secret");
    let id = text.lines().find_map(|l| l.strip_prefix("client_id:")).unwrap().trim().to_owned();
    let token_url = format!("{}/oauth2/token", a.issuer());
    let grant = |key: &Ed25519KeyPair, kid: &str| {
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("resource", RESOURCE.to_owned()),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned()),
            ("client_assertion", client_assertion(key, kid, &id, &token_url)),
        ];
        let url = a.s.url("/oauth2/token");
        async move { json(client().post(url).form_of(&form).send().await.unwrap()).await }
    };
    let (status, t) = grant(&k1, "k1").await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(claims(t["access_token"].as_str().unwrap()).1["sub"], id.as_str());
    let (status, _) = grant(&k1, "k1").await;
    assert_eq!((status, fetches.load(std::sync::atomic::Ordering::SeqCst)), (200, 1), "the key set is cached (max-age=300)");
    let (status, e) = grant(&k2, "k1").await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")), "signed by a key not in the set");
    // The client rotates: a new kid makes Kavach fetch again (at most every 10 s). The new
    // set says max-age=0: Kavach keeps it the minimum of 10 s.
    *jwks.lock().unwrap() = json!({ "keys": [public_jwk(&k1, "k1"), public_jwk(&k2, "k2")] });
    *caching.lock().unwrap() = "max-age=0";
    let (status, e) = grant(&k2, "k2").await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")), "fetched less than 10 s ago: not refetched yet");
    tokio::time::sleep(std::time::Duration::from_millis(10_200)).await;
    let (status, t) = grant(&k2, "k2").await;
    assert_eq!(status, 200, "an unknown kid refetched the set: {t}");
    assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 2);
    // The key server goes down: once the stored set is stale, the failed refetch keeps it.
    *jwks.lock().unwrap() = Value::Null;
    tokio::time::sleep(std::time::Duration::from_millis(10_200)).await;
    let (status, t) = grant(&k1, "k1").await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 3, "the stale set was refetched, and the failure kept the stored keys");
    server.abort();
});

// Without the development switch, a jwks_uri on a loopback address is never fetched (SSRF).
dual!(mcp_09_a_jwks_uri_on_a_local_address_is_not_fetched, |db| {
    let k1 = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
    let b = As::start(db, RESOURCE, "dynamic_client_credentials = true").await;
    let reg = b
        .register(json!({ "client_name": "Local", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": "https://127.0.0.1:9/jwks.json" }))
        .await;
    let local = reg["client_id"].as_str().unwrap();
    let form = [
        ("grant_type", "client_credentials".to_owned()),
        ("resource", RESOURCE.to_owned()),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned()),
        ("client_assertion", client_assertion(&k1, "k1", local, &format!("{}/oauth2/token", b.issuer()))),
    ];
    let (status, e) = json(client().post(b.s.url("/oauth2/token")).form_of(&form).send().await.unwrap()).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")), "{e}");
    assert!(e["error_description"].as_str().unwrap().contains("loopback"), "{e}");
});

dual!(hosted_pages_use_the_operators_templates, |db| {
    let dir = temp_dir();
    let pages = dir.join("templates/pages");
    std::fs::create_dir_all(&pages).unwrap();
    std::fs::write(pages.join("layout.html"), "<!doctype html><title>{{ title }}</title><body class=\"acme\">{{ body }}</body>").unwrap();
    std::fs::write(pages.join("consent.html"), "<p>ACME asks: may {{ client_name }} act for {{ email }}?</p>\
        <form method=\"post\" action=\"{{ action }}\"><input type=\"hidden\" name=\"flow\" value=\"{{ flow }}\"><input type=\"hidden\" name=\"csrf\" value=\"{{ csrf }}\">\
        <button name=\"decision\" value=\"approve\">Yes</button></form>").unwrap();
    let cfg = dir.join("kavach.toml");
    std::fs::write(&cfg, format!("[email]\ntemplates_dir = \"{}\"\n[email_password]\nrequire_email_verification = false\n[[oauth.resources]]\nuri = \"{RESOURCE}\"\nscopes = [\"mcp:tools\"]\n",
        dir.join("templates").display())).unwrap();
    let s = Server::start_in(dir.clone(), db, &[("KAVACH_CONFIG", cfg.to_str().unwrap())]);
    let a = As { cookie: sign_up(&s, "alice@example.com").await, s, cli_env: vec![] };
    let id = a.public_client().await;
    let page = a.authorize(&a.authorize_url(&id, &[]), Some(&a.cookie)).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("class=\"acme\"") && html.contains("ACME asks: may Test app act for alice@example.com?"), "{html}");
    // The built-in templates still escape: a client name with markup is shown as text.
    let evil = a.register(json!({ "client_name": "<script>x</script>", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none" })).await;
    let html = a.authorize(&a.authorize_url(evil["client_id"].as_str().unwrap(), &[]), Some(&a.cookie)).await.text().await.unwrap();
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script>x"), "{html}");
    let q = callback(&a.consent(a.authorize(&a.authorize_url(&id, &[]), Some(&a.cookie)).await, "approve", &a.cookie).await);
    assert!(q.contains_key("code"), "the operator's form still completes the flow");
});

dual!(resource_server_introspection_mode_sees_revocation_at_once, |db| {
    let (l1, l2) = (tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    let resource = format!("http://127.0.0.1:{}/mcp", l1.local_addr().unwrap().port());
    let introspecting = format!("http://127.0.0.1:{}/mcp", l2.local_addr().unwrap().port());
    let a = As::start(db, &resource, "").await;
    let (id, secret) = a.operator_client().await;
    let offline = std::sync::Arc::new(kavach::resource::ResourceServer::new(resource.clone(), a.issuer(), a.s.url("/jwks")));
    let online = std::sync::Arc::new(kavach::resource::ResourceServer::new(resource.clone(), a.issuer(), a.s.url("/jwks")).introspect_with(
        a.s.url("/oauth2/introspect"),
        &id,
        &secret,
    ));
    let (app1, app2) = (crate::mcp::mcp_example::app(offline), crate::mcp::mcp_example::app(online));
    tokio::spawn(async move { axum::serve(l1, app1).await.unwrap() });
    tokio::spawn(async move { axum::serve(l2, app2).await.unwrap() });
    let (_, t) = a.token(&[("grant_type", "client_credentials"), ("resource", &resource)], Some((&id, &secret))).await;
    let at = t["access_token"].as_str().unwrap();
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });
    let call = |url: String| {
        let (at, body) = (at.to_owned(), body.clone());
        async move { client().post(url).bearer_auth(at).json(&body).send().await.unwrap().status() }
    };
    assert_eq!(call(resource.clone()).await, 200);
    assert_eq!(call(introspecting.clone()).await, 200);
    let r = client().post(a.s.url("/oauth2/revoke")).basic_auth(&id, Some(&secret)).form_of(&[("token", at)]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(call(resource).await, 200, "offline verification accepts the token until it expires");
    assert_eq!(call(introspecting).await, 401, "with introspection the revocation is immediate");
});

dual!(hosted_forms_post_as_a_browser_does_with_no_referrer, |db| {
    // The pages send `Referrer-Policy: no-referrer`, so a browser posts their forms with
    // `Origin: null` and `Sec-Fetch-Site: same-origin`; a cross-site null origin stays refused.
    let a = As::start(db, RESOURCE, "").await;
    let id = a.public_client().await;
    let r = a.authorize(&a.authorize_url(&id, &[]), None).await;
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let flow = percent(to.split("flow=").nth(1).unwrap());
    let sign_in = |site: &'static str| {
        let (url, flow) = (a.s.url("/oauth2/sign-in"), flow.clone());
        async move {
            client()
                .post(url)
                .header("origin", "null")
                .header("sec-fetch-site", site)
                .form_of(&[("flow", flow.as_str()), ("email", "alice@example.com"), ("password", PW)])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(sign_in("cross-site").await.status(), 403);
    let ok = sign_in("same-origin").await;
    assert_eq!(ok.status(), 303);
    let cookie = session_cookie(&ok).unwrap();
    let page = client().get(ok.headers()["location"].to_str().unwrap()).header("cookie", &cookie).send().await.unwrap();
    let html = page.text().await.unwrap();
    let field = |n: &str| {
        let start = html.find(&format!("name=\"{n}\" value=\"")).unwrap() + n.len() + 15;
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    };
    let r = client()
        .post(a.s.url("/oauth2/consent"))
        .header("cookie", &cookie)
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .form_of(&[("flow", field("flow")), ("csrf", field("csrf")), ("decision", "approve".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(callback(&r).contains_key("code"));
    assert!(!r.headers().get("content-security-policy").is_some_and(|c| c.to_str().unwrap().contains("form-action")));
});

// The hosted sign-in page offers every sign-in method switched on, and each one
// continues the OAuth flow: an emailed code (a wrong one shows the code form again), a
// magic link that comes back to the flow, a code by text message (the development
// outbox), and a username with its password.
dual!(hosted_sign_in_page_offers_every_method_switched_on, |db| {
    let mail = crate::smtp::Smtp::start();
    let smtp = mail.url();
    let extra =
        "[magic_link]\nenabled = true\n[email_otp]\nenabled = true\n[phone_number]\nenabled = true\nsign_up_on_verification = true\n[username]\nenabled = true";
    let a = As::start_with_env(db, RESOURCE, extra, &[("KAVACH_SMTP_URL", &smtp), ("KAVACH_RATE_LIMIT", "off")]).await;
    let id = a.public_client().await;
    let (page, flow) = hosted_start(&a, &id).await;
    for offer in ["Email or username", "Email me a sign-in link", "Email me a code", "Text me a code"] {
        assert!(page.contains(offer), "{offer} missing:\n{page}");
    }
    // A username and its password (first: a code or link that proves alice's unverified
    // address ends the password set before that proof).
    let r = post(&a.s, "/update-user", Some(&a.cookie), json!({ "username": "alice" })).await;
    assert_eq!(r.status(), 200);
    hosted_finish(&a, hosted_post(&a, &[("flow", flow.as_str()), ("method", "password"), ("email", "alice"), ("password", PW)]).await).await;
    // A code by email.
    let (_, flow) = hosted_start(&a, &id).await;
    let r = hosted_post(&a, &[("flow", flow.as_str()), ("method", "email-otp"), ("email", "alice@example.com")]).await;
    assert!(r.text().await.unwrap().contains("Enter the code sent to"));
    let msg = mail.wait_for("alice@example.com", "sign-in code").await;
    let code = msg.lines().find(|l| l.starts_with("Subject:")).unwrap().rsplit(' ').next().unwrap().trim().to_owned();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = hosted_post(&a, &[("flow", flow.as_str()), ("method", "email-otp-code"), ("email", "alice@example.com"), ("code", wrong)]).await;
    assert!(r.text().await.unwrap().contains("Invalid code"), "the code form again, with the error");
    hosted_finish(&a, hosted_post(&a, &[("flow", flow.as_str()), ("method", "email-otp-code"), ("email", "alice@example.com"), ("code", code.as_str())]).await)
        .await;
    // A magic link comes back to the flow.
    let (_, flow) = hosted_start(&a, &id).await;
    let r = hosted_post(&a, &[("flow", flow.as_str()), ("method", "magic-link"), ("email", "alice@example.com")]).await;
    assert!(r.text().await.unwrap().contains("a link is on its way"));
    let link = crate::smtp::first_link(&mail.wait_for("alice@example.com", "Sign in to").await).replacen(&a.s.api, &a.s.url(""), 1);
    let r = client().get(&link).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let cookie = session_cookie(&r).expect("signed in by the link");
    let next = format!("{}{}", a.s.origin(), r.headers()["location"].to_str().unwrap());
    assert!(next.contains("/oauth2/continue?flow="), "{next}");
    approved(&a, &next, &cookie).await;
    // A code by text message (the development outbox).
    let (_, flow) = hosted_start(&a, &id).await;
    let r = hosted_post(&a, &[("flow", flow.as_str()), ("method", "phone-otp"), ("phone", "+14155550123")]).await;
    assert!(r.text().await.unwrap().contains("Enter the code sent to"));
    let outbox = a.s.dir.join("kavach-data/outbox");
    let mut code = String::new();
    for _ in 0..100 {
        if let Some(f) = std::fs::read_dir(&outbox).ok().and_then(|d| d.filter_map(Result::ok).find(|e| e.file_name().to_string_lossy().contains("-sms-"))) {
            let text = std::fs::read_to_string(f.path()).unwrap();
            code = text.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).unwrap().to_owned();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    hosted_finish(&a, hosted_post(&a, &[("flow", flow.as_str()), ("method", "phone-otp-code"), ("phone", "+14155550123"), ("code", code.as_str())]).await)
        .await;
});

/// Start a flow without a session: the hosted sign-in page and its sealed flow.
async fn hosted_start(a: &As, client_id: &str) -> (String, String) {
    let r = a.authorize(&a.authorize_url(client_id, &[]), None).await;
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    (client().get(&to).send().await.unwrap().text().await.unwrap(), percent(to.split("flow=").nth(1).unwrap()))
}

/// Post the hosted sign-in form.
async fn hosted_post(a: &As, fields: &[(&str, &str)]) -> reqwest::Response {
    client().post(a.s.url("/oauth2/sign-in")).header("origin", a.s.origin()).form_of(fields).send().await.unwrap()
}

/// Signed in by the hosted page: on to consent, then the code.
async fn hosted_finish(a: &As, r: reqwest::Response) {
    assert_eq!(r.status(), 303);
    let cookie = session_cookie(&r).expect("signed in");
    let next = r.headers()["location"].to_str().unwrap().to_owned();
    approved(a, &next, &cookie).await;
}

/// Continue a flow signed in: the consent page approved when shown (the first time; the
/// decision is remembered), then the code.
async fn approved(a: &As, next: &str, cookie: &str) {
    let r = client().get(next).header("cookie", cookie).send().await.unwrap();
    let r = if r.status() == 200 { a.consent(r, "approve", cookie).await } else { r };
    assert!(callback(&r).contains_key("code"), "{}", r.status());
}

dual!(hosted_sign_in_page_signs_in_with_a_passkey, |db| {
    use kavach_testkit::authenticator::SoftAuthenticator;
    let extra = "[passkey]\nenabled = true\nrp_id = \"localhost\"\norigins = [\"http://localhost:3000\"]";
    let a = As::start_with_env(db, RESOURCE, extra, &[("KAVACH_RATE_LIMIT", "off")]).await;
    // Alice adds a passkey (her session is fresh).
    let r = get(&a.s, "/passkey/generate-register-options", Some(&a.cookie)).await;
    let challenge = cookie_named(&r, "kavach.passkey").unwrap();
    let (_, options) = crate::json(r).await;
    let mut key = SoftAuthenticator::new();
    let answer = key.register(&options, "http://localhost:3000");
    let r = post(&a.s, "/passkey/verify-registration", Some(&format!("{}; {challenge}", a.cookie)), json!({ "response": answer })).await;
    assert_eq!(r.status(), 200);
    // The hosted page offers the passkey, its script allowed by hash and nothing else.
    let id = a.public_client().await;
    let r = a.authorize(&a.authorize_url(&id, &[]), None).await;
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let page = client().get(&to).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let script_src = csp.split(';').map(str::trim).find(|d| d.starts_with("script-src")).unwrap_or_default();
    assert!(script_src.starts_with("script-src 'sha256-") && !script_src.contains("unsafe") && csp.contains("connect-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in with a passkey"), "{html}");
    let flow = percent(to.split("flow=").nth(1).unwrap());
    // What the page's script does: the options, the authenticator, the form posted.
    let r = get(&a.s, "/passkey/generate-authenticate-options", None).await;
    let challenge = cookie_named(&r, "kavach.passkey").unwrap();
    let (_, options) = crate::json(r).await;
    let answer = key.authenticate(&options, "http://localhost:3000").to_string();
    let post_form = |cookie: Option<String>, answer: String| {
        let mut rq = client().post(a.s.url("/oauth2/sign-in")).header("origin", a.s.origin());
        if let Some(c) = cookie {
            rq = rq.header("cookie", c);
        }
        rq.form_of(&[("flow", flow.as_str()), ("method", "passkey"), ("response", answer.as_str())]).send()
    };
    // Without the ceremony's cookie: the form again, no session.
    let r = post_form(None, answer.clone()).await.unwrap();
    assert!(session_cookie(&r).is_none());
    assert!(r.text().await.unwrap().contains("did not complete"));
    // A passkey Kavach does not know: the page says so (not "wrong password").
    let r = get(&a.s, "/passkey/generate-authenticate-options", None).await;
    let stranger_challenge = cookie_named(&r, "kavach.passkey").unwrap();
    let (_, stranger_options) = crate::json(r).await;
    let mut stranger = SoftAuthenticator::new();
    stranger.user_handle = Some(vec![1; 16]);
    let r = post_form(Some(stranger_challenge), stranger.authenticate(&stranger_options, "http://localhost:3000").to_string()).await.unwrap();
    assert_eq!(r.status(), 401);
    let page = r.text().await.unwrap();
    assert!(page.contains("Passkey not found") && !page.contains("email or password"), "{page}");
    hosted_finish(&a, post_form(Some(challenge), answer).await.unwrap()).await;
});

dual!(hosted_pages_in_chromium_two_factor_form_and_passkey_wallet_and_one_tap_buttons, |db| {
    // On `localhost` (a passkey's RP id cannot be an IP address).
    let port = free_port();
    let (listen, base, redirect) = (format!("127.0.0.1:{port}"), format!("http://localhost:{port}"), format!("http://localhost:{}/callback", free_port()));
    let google = kavach_testkit::idp::Issuer::default();
    let (jwks, _) = crate::one_tap::google_keys(&google).await;
    let gclient = "1234-test.apps.googleusercontent.com";
    let extra = format!(
        "[two_factor]\nenabled = true\n[passkey]\nenabled = true\n[siwe]\nenabled = true\n[one_tap]\nenabled = true\nclient_ids = [\"{gclient}\"]\njwks_url = \"{jwks}\"\n"
    );
    let cfg = oauth_config(&temp_dir(), RESOURCE, "");
    std::fs::write(&cfg, std::fs::read_to_string(&cfg).unwrap() + &extra).unwrap();
    let s = Server::start(db, &[("KAVACH_CONFIG", &cfg), ("KAVACH_LISTEN", &listen), ("KAVACH_BASE_URL", &base), ("KAVACH_RATE_LIMIT", "off")]);
    let cookie = sign_up(&s, "alice@example.com").await;
    let uri = totp_on(&s, &cookie).await;
    let r = client()
        .post(s.url("/oauth2/register"))
        .json(&json!({ "client_name": "Browser app", "redirect_uris": [redirect], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"], "application_type": "native" }))
        .send()
        .await
        .unwrap();
    let (status, v) = crate::json(r).await;
    assert_eq!(status, 201, "{v}");
    let api = s.url("").replace(&format!("127.0.0.1:{port}"), &format!("localhost:{port}"));
    let q = [
        ("response_type", "code"),
        ("client_id", v["client_id"].as_str().unwrap()),
        ("redirect_uri", redirect.as_str()),
        ("state", "st-123"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("scope", "mcp:tools"),
        ("resource", RESOURCE),
    ];
    let authorize = format!("{api}/oauth2/authorize?{}", q.map(|(k, v)| format!("{k}={}", kavach_core::text::url_encode(v))).join("&"));
    // One Tap's ID token, for a new Google user, carrying a nonce Kavach issued.
    let (_, nonce) = crate::json(post(&s, "/one-tap/nonce", None, json!({})).await).await;
    let mut claims = kavach_testkit::idp::google_claims(gclient, "g-77", "tap@gmail.com", true);
    claims["nonce"] = nonce["nonce"].clone();
    let id_token = google.sign(&claims);
    let wallet = format!("0x{}", kavach_core::crypto::hex(&[7u8; 32]));
    let env = [
        ("KAVACH_API", api.as_str()),
        ("AUTHORIZE_URL", &authorize),
        ("REDIRECT", &redirect),
        ("EMAIL", "alice@example.com"),
        ("PASSWORD", PW),
        ("TOTP_URI", &uri),
        ("SESSION_COOKIE", &cookie),
        ("WALLET_KEY", &wallet),
        ("ID_TOKEN", &id_token),
    ];
    browser_script("hosted.mjs", &env, "hosted: 8 checks passed");
});
