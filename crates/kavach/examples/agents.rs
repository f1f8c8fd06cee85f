//! Agents from start to finish, in one process: Kavach (embedded, on SQLite) and a small
//! MCP server protected by Kavach's verifier with per-tool decisions.
//!
//! 1. Ann (a user) creates an agent, `researcher`, with two permissions: `tool:search`, and
//!    `tool:transfer` that needs her approval; it gets OAuth credentials of its own.
//! 2. The agent gets an access token (`client_credentials`) and calls the MCP tool `search`.
//! 3. It delegates `tool:search` to a sub-agent, `summariser`, which exchanges the
//!    researcher's token for its own (RFC 8693: `act` names it) and calls `search`; it was
//!    not given `transfer`, so that call is denied.
//! 4. The researcher calls `transfer`: the call waits for an approval, named in the MCP
//!    error; Ann approves; the identical call goes through.
//! 5. The audit trail verifies.
//!
//! `cargo run -p kavach --example agents` (the tests run it too).

use axum::extract::Extension;
use axum::routing::post;
use axum::{Json, Router};
use kavach::Kavach;
use kavach::resource::{AccessToken, ResourceServer};
use kavach_core::plugins::agents::{AgentOptions, ClientCredentials, Manager, NewAgent, NewPermission};
use kavach_core::plugins::oauth::{OAuthOptions, ResourceDef};
use serde_json::{Value, json};
use std::sync::Arc;

/// The MCP server's one handler: every tool answers with what it did (the verifier in
/// front of it has already asked Kavach about agents' calls).
async fn mcp(Extension(token): Extension<AccessToken>, Json(msg): Json<Value>) -> Json<Value> {
    let name = msg.pointer("/params/name").and_then(Value::as_str).unwrap_or_default();
    let text = format!("{name} done for {}", token.subject.as_deref().unwrap_or("-"));
    Json(json!({ "jsonrpc": "2.0", "id": msg.get("id"), "result": { "content": [{ "type": "text", "text": text }] } }))
}

/// Run the walkthrough on `database_url`; the lines it printed.
pub async fn walkthrough(database_url: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut said = Vec::new();
    let mut say = |s: String| {
        println!("{s}");
        said.push(s);
    };
    // Addresses first: the MCP server's URI is a resource Kavach issues tokens for.
    let mcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let auth_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let resource = format!("http://{}/mcp", mcp_listener.local_addr()?);
    let base = format!("http://{}", auth_listener.local_addr()?);
    let oauth = OAuthOptions {
        resources: vec![ResourceDef { uri: resource.clone(), name: Some("Tools".into()), scopes: vec!["mcp:tools".into()] }],
        ..Default::default()
    };
    let kavach = Kavach::builder()
        .database_url(database_url)
        .secret("agents-example-secret-0123456789abcdef")
        .base_url(&base)
        .oauth(oauth)
        .agents(AgentOptions { enabled: true, ..Default::default() })
        .build()
        .await?;
    let app = kavach.app();
    tokio::spawn(async move { axum::serve(auth_listener, app).await });
    let rs = Arc::new(ResourceServer::in_process(&kavach, resource.clone()).tool_decisions(None));
    let mcp_app = Router::new().route("/mcp", post(mcp).layer(rs.require(&["mcp:tools"])));
    tokio::spawn(async move { axum::serve(mcp_listener, mcp_app).await });
    let issuer = kavach.options().issuer();
    let http = reqwest::Client::new();
    let ctx = kavach::RequestContext::default();

    // 1. Ann and her agent.
    let ann = kavach_core::NewUser { email: "ann@example.com".into(), name: "Ann".into(), password: None, email_verified: true, image: None };
    let ann = kavach.users().create(ann, &ctx).await?;
    let perms: Vec<NewPermission> = serde_json::from_value(json!([
        { "resource": "tool:search", "actions": ["tools/call"] },
        { "resource": "tool:transfer", "actions": ["tools/call"], "constraints": { "requireApproval": true } }
    ]))?;
    let researcher =
        kavach.agents().create(Manager::User(&ann), NewAgent { name: "researcher".into(), permissions: perms, ..Default::default() }, &ctx).await?;
    let rid = researcher.agent.id.clone();
    let rsecret = kavach.agents().register_client(Manager::User(&ann), &rid, ClientCredentials::default(), &ctx).await?.client_secret.unwrap_or_default();
    say(format!("1. ann created agent researcher ({rid})"));

    // 2. Its token, and a tool call.
    let token = |id: String, secret: String, form: Vec<(&'static str, String)>| {
        let (http, url) = (http.clone(), format!("{issuer}/oauth2/token"));
        async move {
            let body: Vec<String> = form.iter().map(|(k, v)| format!("{k}={}", kavach_core::text::url_encode(v))).collect();
            let r = http.post(url).basic_auth(id, Some(secret)).header("content-type", "application/x-www-form-urlencoded").body(body.join("&")).send().await?;
            let v: Value = r.json().await?;
            v.get("access_token").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| format!("no token: {v}").into())
        }
    };
    let call = |token: String, tool: &'static str, args: Value| {
        let (http, url) = (http.clone(), resource.clone());
        async move {
            let msg = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": tool, "arguments": args } });
            let v: Value = http.post(url).bearer_auth(token).json(&msg).send().await?.json().await?;
            Ok::<Value, Box<dyn std::error::Error>>(v)
        }
    };
    let cc = vec![("grant_type", "client_credentials".to_owned()), ("resource", resource.clone()), ("scope", "mcp:tools".to_owned())];
    let t_researcher: String = token(rid.clone(), rsecret.clone(), cc.clone()).await.map_err(|e: Box<dyn std::error::Error>| e.to_string())?;
    let v = call(t_researcher.clone(), "search", json!({ "q": "agents" })).await?;
    say(format!("2. researcher calls search: {}", v.pointer("/result/content/0/text").and_then(Value::as_str).unwrap_or("refused")));

    // 3. Delegation: the researcher hands search (only) to a sub-agent.
    let me = kavach.agents().get(Manager::Server, &rid).await?;
    let sub_perms: Vec<NewPermission> = serde_json::from_value(json!([{ "resource": "tool:search", "actions": ["tools/call"] }]))?;
    let sub =
        kavach.agents().delegate(Manager::Agent(&me), &rid, NewAgent { name: "summariser".into(), permissions: sub_perms, ..Default::default() }, &ctx).await?;
    let sid = sub.agent.id.clone();
    let ssecret = kavach.agents().register_client(Manager::User(&ann), &sid, ClientCredentials::default(), &ctx).await?.client_secret.unwrap_or_default();
    let exchange = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange".to_owned()),
        ("subject_token", t_researcher.clone()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token".to_owned()),
    ];
    let t_sub: String = token(sid.clone(), ssecret, exchange).await.map_err(|e: Box<dyn std::error::Error>| e.to_string())?;
    let v = call(t_sub.clone(), "search", json!({ "q": "summaries" })).await?;
    say(format!("3. summariser (acting for researcher) calls search: {}", v.pointer("/result/content/0/text").and_then(Value::as_str).unwrap_or("refused")));
    let v = call(t_sub, "transfer", json!({ "amount": 10 })).await?;
    say(format!("   summariser calls transfer: {}", v.pointer("/error/message").and_then(Value::as_str).unwrap_or("allowed?!")));

    // 4. An approval: refused with its id, approved by Ann, then the identical call passes.
    let args = json!({ "amount": 250, "to": "acct-9" });
    let v = call(t_researcher.clone(), "transfer", args.clone()).await?;
    let approval = v.pointer("/error/data/approval_id").and_then(Value::as_str).ok_or("transfer was not held for approval")?.to_owned();
    say(format!("4. researcher calls transfer: {}", v.pointer("/error/message").and_then(Value::as_str).unwrap_or_default()));
    kavach.agents().approve(Manager::User(&ann), &approval, Default::default(), &ctx).await?;
    let v = call(t_researcher, "transfer", args).await?;
    say(format!("   ann approved {approval}; the same call: {}", v.pointer("/result/content/0/text").and_then(Value::as_str).unwrap_or("refused")));

    // 5. The trail.
    kavach.flush_audit().await;
    let report = kavach_core::audit::verify(kavach.db()).await?;
    say(format!("5. audit trail: {} records, {}", report.records, if report.ok() { "intact" } else { "BROKEN" }));
    Ok(said)
}

#[tokio::main]
#[allow(dead_code)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("kavach-agents-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("kavach.db").display());
    let out = walkthrough(&url).await;
    let _ = std::fs::remove_dir_all(&dir);
    out.map(|_| ())
}
