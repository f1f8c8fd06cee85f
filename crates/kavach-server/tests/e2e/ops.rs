//! Operations: the OpenAPI document, metrics and request logs.

use crate::*;

#[tokio::test]
async fn openapi_docs_and_metrics_are_served() {
    let db = TestDb::sqlite().await;
    let s = Server::start(&db.url, &[NO_VERIFY]);
    let (st, doc) = json(get(&s, "/openapi.json", None).await).await;
    assert_eq!(st, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/sign-up/email",
        "/sign-in/email",
        "/get-session",
        "/sign-out",
        "/list-sessions",
        "/revoke-session",
        "/revoke-sessions",
        "/revoke-other-sessions",
        "/update-user",
        "/change-password",
        "/change-email",
        "/send-verification-email",
        "/verify-email",
        "/request-password-reset",
        "/reset-password",
        "/delete-user",
    ] {
        assert!(paths.contains_key(p), "{p} documented");
    }
    assert_eq!(doc["servers"][0]["url"].as_str().unwrap(), s.api);
    let r = get(&s, "/docs", None).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("openapi.json"));
    sign_up(&s, "m@example.com").await;
    sign_in(&s, "m@example.com", "wrong password!").await;
    get(&s, "/get-session", None).await;
    let m = client().get(s.root("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("kavach_http_requests_total{method=\"GET\",route=\"/get-session\",status=\"2xx\"} 1"), "{m}");
    assert!(m.contains("kavach_http_request_duration_seconds_bucket{method=\"POST\",route=\"/sign-up/email\""), "{m}");
    assert!(m.contains("kavach_sign_in_total{outcome=\"failure\"} 1"), "{m}");
    drop(s);
    db.drop_db().await;
}

// Finding 17: one log line per request (method, route, status, duration, request id), the
// id returned as X-Request-Id, and JSON when configured.
#[tokio::test]
async fn review_17_every_request_is_logged_with_a_request_id() {
    let db = TestDb::sqlite().await;
    let s = Server::start_capturing(&db.url, &[NO_VERIFY, ("KAVACH_LOG", "debug"), ("KAVACH_LOG_FORMAT", "json")]);
    let r = client().get(s.url("/get-session")).header("x-request-id", "trace-abc-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-abc-123", "a sane incoming id is kept and returned");
    let r = get(&s, "/reset-password/some-token-value", None).await;
    let made = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(made.len() >= 12 && made.contains('-'), "an id is made when none came: {made}");
    let r = client().get(s.url("/ok")).header("x-request-id", "an id with spaces, quotes \" and {braces}").send().await.unwrap();
    assert_ne!(r.headers()["x-request-id"], "an id with spaces, quotes \" and {braces}", "an odd id is replaced, not echoed into logs");
    get(&s, "/.well-known/openid-configuration", None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines: Vec<Value> = s.log.as_ref().unwrap().lock().unwrap().iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let of = |id: &str| lines.iter().find(|l| l["fields"]["request_id"] == id).cloned().unwrap_or_else(|| panic!("no line for {id} in {lines:?}"));
    let line = of("trace-abc-123");
    assert_eq!(
        (line["level"].as_str(), line["fields"]["method"].as_str(), line["fields"]["route"].as_str()),
        (Some("DEBUG"), Some("GET"), Some("/get-session"))
    );
    assert_eq!(line["fields"]["status"], 200);
    assert!(line["fields"]["duration_ms"].is_number());
    assert_eq!(of(&made)["fields"]["route"], "/reset-password/{token}", "the route template, never the raw path (which carries a token)");
    assert!(lines.iter().all(|l| !l.to_string().contains("some-token-value")), "the token in the path is not logged");
    drop(s);
    db.drop_db().await;
}
