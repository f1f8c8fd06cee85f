//! A small MCP server (Streamable HTTP, JSON responses) protected by Kavach's
//! resource-server verifier: every call to `/mcp` needs an access token for this
//! resource with scope `mcp:tools`; `/.well-known/oauth-protected-resource[/mcp]`
//! tells MCP clients where to get one.
//!
//! ```sh
//! MCP_RESOURCE=http://localhost:4100/mcp KAVACH_ISSUER=http://localhost:3000/api/kavach \
//! cargo run -p kavach --example mcp_server
//! ```
//!
//! `MCP_DPOP_NONCE_SECRET` (optional) makes it require server nonces in DPoP proofs.
//! `KAVACH_PDP_CLIENT_ID` and `KAVACH_PDP_CLIENT_SECRET` (optional: a confidential client
//! allowed to introspect this resource) make the verifier ask Kavach's decision point
//! about every `tools/call` an agent makes (the resource `tool:<name>`, the action
//! `tools/call`): a refused call is answered with a JSON-RPC error naming the reason, or
//! the approval the owner must give first. This server has no authorization code of its own.

use axum::extract::Extension;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use kavach::resource::{AccessToken, ResourceServer};
use serde_json::{Value, json};
use std::sync::Arc;

const NEWEST: &str = "2025-11-25";
/// The version assumed when `initialize` names none.
const ASSUMED: &str = "2025-06-18";
const PROTOCOL_VERSIONS: &[&str] = &[NEWEST, ASSUMED, "2025-03-26"];

fn tools() -> Value {
    json!([
        { "name": "whoami", "description": "Who the access token belongs to",
          "inputSchema": { "type": "object", "properties": {} } },
        { "name": "echo", "description": "Echo a message back",
          "inputSchema": { "type": "object", "properties": { "message": { "type": "string" } }, "required": ["message"] } },
        { "name": "admin_echo", "description": "Echo a text back; needs the mcp:admin scope (step-up)",
          "inputSchema": { "type": "object", "properties": { "text": { "type": "string" } }, "required": ["text"] } },
        { "name": "transfer", "description": "Pretend to move money (agents: as their permissions say, often after an approval)",
          "inputSchema": { "type": "object", "properties": { "amount": { "type": "number" }, "to": { "type": "string" } }, "required": ["amount", "to"] } }
    ])
}

fn result(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

/// One JSON-RPC message. Notifications (no `id`) get 202 and no body.
async fn mcp(Extension(rs): Extension<Arc<ResourceServer>>, Extension(token): Extension<AccessToken>, Json(msg): Json<Value>) -> Response {
    let Some(id) = msg.get("id").cloned() else { return StatusCode::ACCEPTED.into_response() };
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    let answer = match msg.get("method").and_then(|m| m.as_str()) {
        Some("initialize") => {
            let asked = params.get("protocolVersion").and_then(Value::as_str).unwrap_or(ASSUMED);
            let version = PROTOCOL_VERSIONS.iter().find(|v| **v == asked).copied().unwrap_or(NEWEST);
            result(
                &id,
                json!({
                    "protocolVersion": version,
                    "capabilities": { "tools": { "listChanged": false } },
                    "serverInfo": { "name": "kavach-example-mcp", "version": env!("CARGO_PKG_VERSION") }
                }),
            )
        }
        Some("ping") => result(&id, json!({})),
        Some("tools/list") => result(&id, json!({ "tools": tools() })),
        Some("tools/call") => match params.get("name").and_then(Value::as_str) {
            Some("whoami") => {
                let text = format!(
                    "subject {}, client {}, scopes {}",
                    token.subject.as_deref().unwrap_or("-"),
                    token.client_id.as_deref().unwrap_or("-"),
                    token.scopes.join(" ")
                );
                result(&id, json!({ "content": [{ "type": "text", "text": text }], "isError": false }))
            }
            Some("admin_echo") if !token.scopes.iter().any(|s| s == "mcp:admin") => {
                return rs.insufficient_scope(&["mcp:tools", "mcp:admin"]).into_response();
            }
            Some("admin_echo") => match params.pointer("/arguments/text").and_then(Value::as_str) {
                Some(t) => result(&id, json!({ "content": [{ "type": "text", "text": format!("admin: {t}") }], "isError": false })),
                None => error(&id, -32602, "admin_echo needs a string argument `text`"),
            },
            Some("transfer") => match (params.pointer("/arguments/amount").and_then(Value::as_f64), params.pointer("/arguments/to").and_then(Value::as_str)) {
                (Some(a), Some(to)) => result(&id, json!({ "content": [{ "type": "text", "text": format!("transferred {a} to {to}") }], "isError": false })),
                _ => error(&id, -32602, "transfer needs a number `amount` and a string `to`"),
            },
            Some("echo") => match params.pointer("/arguments/message").and_then(Value::as_str) {
                Some(m) => result(&id, json!({ "content": [{ "type": "text", "text": m }], "isError": false })),
                None => error(&id, -32602, "echo needs a string argument `message`"),
            },
            _ => error(&id, -32602, "unknown tool"),
        },
        _ => error(&id, -32601, "method not found"),
    };
    Json(answer).into_response()
}

/// The example's router: `/mcp` behind the verifier, plus the metadata documents.
pub fn app(rs: Arc<ResourceServer>) -> Router {
    Router::new()
        .route("/mcp", post(mcp).get(|| async { StatusCode::METHOD_NOT_ALLOWED }).layer(rs.require(&["mcp:tools"])))
        .layer(Extension(rs.clone()))
        .merge(rs.metadata_router())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let resource = var("MCP_RESOURCE", "http://localhost:4100/mcp");
    let issuer = var("KAVACH_ISSUER", "http://localhost:3000/api/kavach");
    let jwks = var("KAVACH_JWKS_URI", &format!("{issuer}/jwks"));
    let leeway = var("KAVACH_LEEWAY", "60").parse().unwrap_or(60);
    let mut rs = ResourceServer::new(resource.clone(), issuer, jwks).scopes_supported(["mcp:tools", "mcp:admin"]).leeway(leeway);
    // Optional: require server nonces in DPoP proofs (every instance gets the same secret).
    if let Ok(secret) = std::env::var("MCP_DPOP_NONCE_SECRET") {
        rs = rs.dpop_nonces(secret);
    }
    // Optional: per-tool decisions for agents, asked over AuthZEN.
    if let (Ok(id), Ok(secret)) = (std::env::var("KAVACH_PDP_CLIENT_ID"), std::env::var("KAVACH_PDP_CLIENT_SECRET")) {
        rs = rs.tool_decisions(Some((var("KAVACH_ISSUER", "http://localhost:3000/api/kavach"), id, secret)));
    }
    let rs = Arc::new(rs);
    let listen = var("LISTEN", "127.0.0.1:4100");
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("MCP server for {resource} listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(rs)).await?;
    Ok(())
}
