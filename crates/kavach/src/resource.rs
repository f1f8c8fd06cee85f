//! The resource-server side: protect your own API (an MCP server, for example)
//! with OAuth access tokens issued by Kavach or any authorization server that
//! issues RFC 9068 JWT access tokens.
//!
//! [`ResourceServer`] validates `Authorization: Bearer` tokens locally: signature
//! against the issuer's JWKS (fetched, cached 5 minutes, refetched at most every 2 s when a
//! token names an unknown key), `typ` `at+jwt`, `iss`, `aud` equal to this
//! resource's canonical URI, `exp`/`nbf`, and required scopes (a scope also
//! satisfies its narrower `scope:...` children). Failures answer 401/403 with the
//! `WWW-Authenticate` challenges MCP clients act on (`resource_metadata`, `scope`,
//! `error`), and [`ResourceServer::metadata_router`] serves the RFC 9728 protected
//! resource metadata at both the path-inserted and the root well-known URL.

use crate::http::guarded::{Guard, Guarded, Verdict};
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kavach_core::plugins::oauth::OAuthErrorCode;
use std::sync::Arc;

/// A validated access token, put in the request's extensions for handlers.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    pub claims: kavach_core::jwt::Claims,
}

/// Configuration and JWKS cache of one protected resource.
pub struct ResourceServer {
    resource: String,
    issuer: String,
    scopes_supported: Vec<String>,
    leeway: i64,
    http: reqwest::Client,
    jwks: crate::jwks::JwksCache,
    /// RFC 7662 introspection on every request: (endpoint, client_id, client_secret).
    introspection: Option<(String, String, String)>,
    /// Kavach in the same process: verify against its key ring, no JWKS over HTTP.
    local: Option<crate::Kavach>,
    /// DPoP proof ids seen recently (this instance), with their expiry (unix seconds), and
    /// when expired ones are next swept out.
    dpop_seen: std::sync::Mutex<(std::collections::HashMap<String, i64>, i64)>,
    /// Require server nonces in DPoP proofs (RFC 9449 §9), made with these secrets.
    dpop_nonces: Option<kavach_core::crypto::Secrets>,
    /// Per-tool decisions for agents: in process (`None`) or over AuthZEN (endpoint, client id, secret).
    decisions: Option<Option<(String, String, String)>>,
}

/// The decision point's answer about an agent's tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolDecision {
    Allowed,
    Denied {
        reason: String,
    },
    /// A human must approve this exact call first; then the identical call passes.
    Pending {
        approval_id: String,
        approval_url: Option<String>,
    },
    /// The token is not an agent's: no per-tool decision applies.
    NotAnAgent,
}

impl ToolDecision {
    fn from_parts(allowed: bool, reason: &str, approval_id: Option<String>, approval_url: Option<String>) -> ToolDecision {
        match (allowed, approval_id) {
            (true, _) => ToolDecision::Allowed,
            (false, Some(approval_id)) if reason == "APPROVAL_REQUIRED" => ToolDecision::Pending { approval_id, approval_url },
            _ if reason == kavach_core::Code::AgentNotFound.as_str() => ToolDecision::NotAnAgent,
            _ => ToolDecision::Denied { reason: reason.to_owned() },
        }
    }

    /// The JSON-RPC error answering a refused call (`None` when it may go on).
    pub fn json_rpc_error(&self, id: &serde_json::Value) -> Option<serde_json::Value> {
        let (message, data) = match self {
            ToolDecision::Allowed | ToolDecision::NotAnAgent => return None,
            ToolDecision::Denied { reason } => (format!("This tool call was denied ({reason})"), serde_json::json!({ "reason": reason })),
            ToolDecision::Pending { approval_id, approval_url } => (
                match approval_url {
                    Some(u) => format!("This tool call needs approval {approval_id}: its owner approves it at {u}, then the same call goes through"),
                    None => format!("This tool call needs approval {approval_id}: once its owner approves it, the same call goes through"),
                },
                serde_json::json!({ "reason": "APPROVAL_REQUIRED", "approval_id": approval_id, "approval_url": approval_url }),
            ),
        };
        Some(serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32001, "message": message, "data": data } }))
    }
}

/// Do the `granted` scopes cover `need`? A scope also covers its narrower
/// `scope:...` children (`mcp` covers `mcp:tools`).
pub fn covers(granted: &[String], need: &str) -> bool {
    granted.iter().any(|g| g == need || need.strip_prefix(g.as_str()).is_some_and(|rest| rest.starts_with(':')))
}

/// Why a request was refused, as an HTTP answer.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    error: Option<OAuthErrorCode>,
    description: Option<String>,
    scope: Option<String>,
    resource_metadata: String,
    /// The request used the DPoP scheme: challenge with it (RFC 9449 §7.1).
    dpop: bool,
    /// A fresh DPoP nonce for the client (`DPoP-Nonce`).
    nonce: Option<String>,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut challenge = if self.dpop {
            format!("DPoP algs=\"{}\", resource_metadata=\"{}\"", kavach_core::plugins::oauth::dpop::ALGS.join(" "), self.resource_metadata)
        } else {
            format!("Bearer resource_metadata=\"{}\"", self.resource_metadata)
        };
        if let Some(s) = &self.scope {
            challenge.push_str(&format!(", scope=\"{s}\""));
        }
        if let Some(e) = self.error {
            challenge.push_str(&format!(", error=\"{e}\""));
        }
        if let Some(d) = &self.description {
            challenge.push_str(&format!(", error_description=\"{}\"", d.replace('"', "'")));
        }
        let body = serde_json::json!({
            "code": self.error.map_or("unauthorized", OAuthErrorCode::as_str).to_ascii_uppercase(),
            "message": self.description.clone().unwrap_or_else(|| "An access token is required".into()),
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(n) = self.nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            resp.headers_mut().insert("dpop-nonce", n);
        }
        resp
    }
}

impl ResourceServer {
    /// `resource` is this API's canonical URI (what clients connect to, e.g.
    /// `https://mcp.example.com/mcp`); `issuer` the authorization server's issuer,
    /// whose JWKS is at `jwks_uri`.
    pub fn new(resource: impl Into<String>, issuer: impl Into<String>, jwks_uri: impl Into<String>) -> Self {
        let http = crate::jwks::http_client();
        ResourceServer {
            resource: resource.into(),
            issuer: issuer.into(),
            scopes_supported: vec![],
            leeway: 60,
            dpop_seen: Default::default(),
            dpop_nonces: None,
            introspection: None,
            http: http.clone(),
            jwks: crate::jwks::JwksCache::new(jwks_uri, http),
            local: None,
            decisions: None,
        }
    }

    /// A resource served by the same process as `kavach` (embedded): tokens are
    /// verified against Kavach's own key ring (no JWKS request, a rotated key is seen
    /// at once), the issuer is Kavach's (`base_url` + `base_path`), and the metadata
    /// names it as the authorization server.
    pub fn in_process(kavach: &crate::Kavach, resource: impl Into<String>) -> Self {
        let issuer = kavach.options().issuer();
        let jwks_uri = format!("{issuer}/jwks");
        ResourceServer { local: Some(kavach.clone()), ..ResourceServer::new(resource, issuer, jwks_uri) }
    }

    /// Also ask the authorization server's introspection endpoint (RFC 7662) about
    /// every token that passes the local checks, so a revoked token is refused at once
    /// (one HTTP round trip per request). `client_id`/`client_secret` are a confidential
    /// client of the authorization server (`kavach clients create`).
    pub fn introspect_with(mut self, endpoint: impl Into<String>, client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        self.introspection = Some((endpoint.into(), client_id.into(), client_secret.into()));
        self
    }

    /// Ask Kavach's decision point about every MCP `tools/call` an agent makes (a token
    /// whose `agent` claim names it): the layer from [`Self::require`] reads the JSON-RPC
    /// body and answers a refused call itself, with a JSON-RPC error (code `-32001`) that
    /// gives the reason, or the pending approval's id and the page where the owner answers
    /// it. In process ([`Self::in_process`]) the decision is a function call; otherwise it
    /// is asked over AuthZEN at `pdp` (Kavach's issuer URL) as the confidential client
    /// `client_id` (one the operator allowed to introspect). Tokens of users (no `agent`
    /// claim) are decided by their scopes alone, as before.
    pub fn tool_decisions(mut self, remote: Option<(String, String, String)>) -> Self {
        self.decisions = Some(remote.map(|(pdp, id, secret)| (format!("{}/access/v1/evaluation", pdp.trim_end_matches('/')), id, secret)));
        self
    }

    /// The decision point's answer about one tool call of `token`'s agent.
    pub async fn authorize_tool(
        &self,
        token: &AccessToken,
        tool: &str,
        arguments: &serde_json::Value,
        ip: Option<std::net::IpAddr>,
    ) -> Result<ToolDecision, String> {
        let Some(agent) = token.claims.get("agent").and_then(|a| a.get("id")).and_then(|v| v.as_str()) else { return Ok(ToolDecision::NotAnAgent) };
        let resource = format!("tool:{tool}");
        match (&self.decisions, &self.local) {
            (None, _) => Ok(ToolDecision::NotAnAgent),
            (Some(None), Some(k)) => {
                let call = kavach_core::plugins::agents::Call { action: "tools/call", resource: &resource, arguments, ip, session: None };
                let d = k.agents().decide(agent, &call, &kavach_core::RequestContext { ip, ..Default::default() }).await.map_err(|e| e.message.to_string())?;
                Ok(ToolDecision::from_parts(d.allowed(), d.reason.as_str(), d.approval_id, d.approval_url))
            }
            (Some(None), None) => Err("tool decisions in process need ResourceServer::in_process".into()),
            (Some(Some((endpoint, id, secret))), _) => {
                let mut context = serde_json::json!({ "agent": agent });
                if let (Some(ip), Some(o)) = (ip, context.as_object_mut()) {
                    o.insert("ip".into(), serde_json::Value::String(ip.to_string()));
                }
                let body = serde_json::json!({
                    "subject": { "type": "identity", "id": token.subject.as_deref().unwrap_or(agent) },
                    "action": { "name": "tools/call" },
                    "resource": { "type": "tool", "id": tool, "properties": arguments },
                    "context": context,
                });
                let r = self
                    .http
                    .post(endpoint)
                    .basic_auth(id, Some(secret))
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| format!("the decision point could not be asked: {e}"))?;
                if !r.status().is_success() {
                    return Err(format!("the decision point answered {}", r.status()));
                }
                let v: serde_json::Value = r.json().await.map_err(|e| format!("the decision point's answer is not JSON: {e}"))?;
                let ctx = v.get("context").cloned().unwrap_or_default();
                let s = |k: &str| ctx.get(k).and_then(|x| x.as_str()).map(str::to_owned);
                let allowed = v.get("decision").and_then(|d| d.as_bool()).unwrap_or(false);
                Ok(ToolDecision::from_parts(allowed, &s("reason").unwrap_or_default(), s("approval_id"), s("approval_url")))
            }
        }
    }

    /// Require a server nonce in the DPoP proofs of DPoP-bound tokens (RFC 9449 §9): a
    /// proof without a fresh one is answered 401 `use_dpop_nonce` with a `DPoP-Nonce`
    /// header, and every admitted DPoP request's response carries the current nonce.
    /// Nonces are stateless (an HMAC of a time window): give every instance of this
    /// resource server the same `secret` (16 bytes or more; a shorter one panics, at
    /// start-up, where the verifier is built).
    pub fn dpop_nonces(mut self, secret: impl AsRef<[u8]>) -> Self {
        assert!(secret.as_ref().len() >= 16, "ResourceServer::dpop_nonces: the secret must be at least 16 bytes");
        self.dpop_nonces = Some(kavach_core::crypto::Secrets::new(&[secret]));
        self
    }

    /// The current DPoP nonce, when nonces are required.
    pub fn dpop_nonce(&self) -> Option<String> {
        let now = kavach_core::store::Ts::now().0 / 1000;
        self.dpop_nonces.as_ref().map(|s| kavach_core::plugins::oauth::dpop::nonce(s, &self.resource, now))
    }

    /// Scopes this resource understands (published in its metadata).
    pub fn scopes_supported(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The RFC 9728 metadata URL for this resource (path-inserted form).
    pub fn metadata_url(&self) -> String {
        match self.resource.split_once("://").and_then(|(s, rest)| rest.split_once('/').map(|(h, p)| (s, h, p))) {
            Some((scheme, host, path)) if !path.is_empty() => format!("{scheme}://{host}/.well-known/oauth-protected-resource/{path}"),
            _ => format!("{}/.well-known/oauth-protected-resource", self.resource.trim_end_matches('/')),
        }
    }

    fn metadata(&self) -> serde_json::Value {
        serde_json::json!({
            "resource": self.resource,
            "authorization_servers": [self.issuer],
            "scopes_supported": self.scopes_supported,
            "bearer_methods_supported": ["header"],
            "resource_signing_alg_values_supported": ["EdDSA", "ES256", "RS256"],
        })
    }

    /// `/.well-known/oauth-protected-resource` and its path-inserted form for this
    /// resource, to merge into the app's router at the root.
    pub fn metadata_router<S: Clone + Send + Sync + 'static>(self: &Arc<Self>) -> Router<S> {
        let doc = Arc::new(self.metadata().to_string());
        let serve = move || {
            let doc = doc.clone();
            async move {
                let mut r = ([(header::CONTENT_TYPE, "application/json")], doc.to_string()).into_response();
                r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
                r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
                r
            }
        };
        let mut router = Router::new().route("/.well-known/oauth-protected-resource", get(serve.clone()));
        let path = self.metadata_url();
        if let Some(p) = path.split_once("://").and_then(|(_, rest)| rest.split_once('/').map(|(_, p)| format!("/{p}")))
            && p != "/.well-known/oauth-protected-resource"
        {
            router = router.route(&p, get(serve));
        }
        router
    }

    fn refuse(&self, status: StatusCode, error: Option<OAuthErrorCode>, description: Option<&str>, scope: &[&str]) -> Refusal {
        Refusal {
            status,
            error,
            description: description.map(str::to_owned),
            scope: (!scope.is_empty()).then(|| scope.join(" ")),
            resource_metadata: self.metadata_url(),
            dpop: false,
            nonce: None,
        }
    }

    /// Clock skew tolerated on `exp`/`nbf`, in seconds. Default 60.
    pub fn leeway(mut self, secs: u32) -> Self {
        self.leeway = secs as i64;
        self
    }

    /// The 403 for an operation that needs `scopes` the token lacks (MCP-30: name
    /// every scope the operation needs, so the client can step up once).
    pub fn insufficient_scope(&self, scopes: &[&str]) -> Refusal {
        self.refuse(StatusCode::FORBIDDEN, Some(OAuthErrorCode::InsufficientScope), Some("the token lacks a required scope"), scopes)
    }

    /// Validate the request's access token for an operation needing `scopes`. A
    /// DPoP-bound token (`cnf.jkt`) must come with the DPoP scheme and a proof from its
    /// key for this method and URL (RFC 9449 §7); a bound token sent as Bearer is refused.
    pub async fn verify(
        &self,
        method: &axum::http::Method,
        req_headers: &axum::http::HeaderMap,
        uri: &axum::http::Uri,
        scopes: &[&str],
    ) -> Result<AccessToken, Refusal> {
        if uri.query().is_some_and(|q| q.split('&').any(|kv| kv.starts_with("access_token="))) {
            return Err(self.refuse(StatusCode::BAD_REQUEST, Some(OAuthErrorCode::InvalidRequest), Some("send the token in the Authorization header"), scopes));
        }
        let (token, dpop_scheme) = match (crate::http::authorization(req_headers, "Bearer"), crate::http::authorization(req_headers, "DPoP")) {
            (Some(t), _) => (t, false),
            (None, Some(t)) => (t, true),
            _ => return Err(self.refuse(StatusCode::UNAUTHORIZED, None, None, scopes)),
        };
        let invalid = |d: &str| Refusal { dpop: dpop_scheme, ..self.refuse(StatusCode::UNAUTHORIZED, Some(OAuthErrorCode::InvalidToken), Some(d), scopes) };
        let verified = match &self.local {
            Some(k) => k
                .keys()
                .verify(token, self.leeway)
                .await
                .map_err(|e| {
                    // An outage of the key store is not a bad token: clients must not drop it.
                    tracing::error!(error = %e, "cannot read the signing keys");
                    self.refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        Some(OAuthErrorCode::TemporarilyUnavailable),
                        Some("the signing keys could not be read"),
                        scopes,
                    )
                })?
                .map_err(str::to_owned),
            None => self.jwks.verify(token, self.leeway).await.map_err(|e| e.to_string()),
        };
        let (header, claims) = verified.map_err(|e| invalid(&e))?;
        if !header.get("typ").and_then(|t| t.as_str()).is_some_and(|t| t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")) {
            return Err(invalid("not an access token (typ must be at+jwt)"));
        }
        if claims.get("iss").and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
            return Err(invalid("wrong issuer"));
        }
        let aud_ok = match claims.get("aud") {
            Some(serde_json::Value::String(a)) => *a == self.resource,
            Some(serde_json::Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(self.resource.as_str())),
            _ => false,
        };
        if !aud_ok {
            return Err(invalid("the token was issued for another resource"));
        }
        let bound = claims.get("cnf").and_then(|c| c.get("jkt")).and_then(|j| j.as_str());
        match (bound, dpop_scheme) {
            (None, false) => {}
            (Some(_), false) => return Err(invalid("this token is DPoP-bound: use the DPoP scheme with a proof")),
            (None, true) => return Err(invalid("this token is not DPoP-bound: use the Bearer scheme")),
            (Some(jkt), true) => {
                let proof = req_headers.get("dpop").and_then(|v| v.to_str().ok()).ok_or_else(|| invalid("a DPoP proof header is required"))?;
                let url = format!("{}{}", kavach_core::origin_of(&self.resource).unwrap_or_default(), uri.path());
                let now = kavach_core::store::Ts::now().0 / 1000;
                let p = kavach_core::plugins::oauth::dpop::check(proof, method.as_str(), &url, Some(token), now).map_err(invalid)?;
                if p.jkt != jkt {
                    return Err(invalid("the DPoP proof is not from the key the token is bound to"));
                }
                if let Some(secrets) = &self.dpop_nonces
                    && !p.nonce.as_deref().is_some_and(|n| kavach_core::plugins::oauth::dpop::nonce_valid(secrets, &self.resource, n, now))
                {
                    return Err(Refusal {
                        error: Some(OAuthErrorCode::UseDpopNonce),
                        description: Some("the DPoP proof must carry this server's current nonce (sent in the DPoP-Nonce header)".into()),
                        nonce: self.dpop_nonce(),
                        ..invalid("")
                    });
                }
                let mut guard = self.dpop_seen.lock().unwrap_or_else(|e| e.into_inner());
                let (seen, next_sweep) = &mut *guard;
                // Sweep by time (once a minute), not by size: a full map under steady load
                // would otherwise be swept on every request.
                if now >= *next_sweep {
                    seen.retain(|_, exp| *exp > now);
                    *next_sweep = now + 60;
                }
                if seen.insert(format!("{}:{}", p.jkt, p.jti), p.iat + kavach_core::plugins::oauth::dpop::MAX_AGE + 60).is_some_and(|exp| exp > now) {
                    return Err(invalid("the DPoP proof was already used"));
                }
            }
        }
        if let Some((endpoint, id, secret)) = &self.introspection {
            let enc = kavach_core::text::url_encode;
            let answer = self
                .http
                .post(endpoint)
                .basic_auth(enc(id), Some(enc(secret)))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(format!("token={}", enc(token)))
                .send()
                .await;
            let active = match answer {
                Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok().map(|v| v.get("active") == Some(&serde_json::Value::Bool(true))),
                _ => None,
            };
            match active {
                Some(true) => {}
                Some(false) => return Err(invalid("the token has been revoked")),
                None => {
                    return Err(self.refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        Some(OAuthErrorCode::TemporarilyUnavailable),
                        Some("the authorization server could not be asked about the token"),
                        scopes,
                    ));
                }
            }
        }
        let granted: Vec<String> = claims.get("scope").and_then(|v| v.as_str()).unwrap_or("").split_whitespace().map(str::to_owned).collect();
        if !scopes.iter().all(|s| covers(&granted, s)) {
            return Err(Refusal {
                dpop: dpop_scheme,
                ..self.refuse(StatusCode::FORBIDDEN, Some(OAuthErrorCode::InsufficientScope), Some("the token lacks a required scope"), scopes)
            });
        }
        Ok(AccessToken {
            subject: claims.get("sub").and_then(|v| v.as_str()).map(str::to_owned),
            client_id: claims.get("client_id").and_then(|v| v.as_str()).map(str::to_owned),
            scopes: granted,
            claims,
        })
    }

    /// A layer that lets through only requests with a valid token carrying `scopes`.
    pub fn require(self: &Arc<Self>, scopes: &[&str]) -> RequireTokenLayer {
        RequireTokenLayer { rs: self.clone(), scopes: Arc::new(scopes.iter().map(|s| s.to_string()).collect()) }
    }
}

#[derive(Clone)]
pub struct RequireTokenLayer {
    rs: Arc<ResourceServer>,
    scopes: Arc<Vec<String>>,
}

impl<S> tower::Layer<S> for RequireTokenLayer {
    type Service = Guarded<S, RequireTokenLayer>;
    fn layer(&self, inner: S) -> Self::Service {
        Guarded { inner, guard: self.clone() }
    }
}

impl RequireTokenLayer {
    /// Read a JSON-RPC `tools/call` and ask the decision point about it; the request
    /// (its body put back) when it may go on, else the answer.
    async fn decide_tool_call(&self, req: Request, token: &AccessToken) -> Result<Request, Response> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large").into_response())?;
        let msg: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        if let Some(msg) = msg.filter(|m| m.get("method").and_then(|x| x.as_str()) == Some("tools/call")) {
            let id = msg.get("id").cloned().unwrap_or(serde_json::Value::Null);
            let tool = msg.pointer("/params/name").and_then(|x| x.as_str()).unwrap_or_default();
            let args = msg.pointer("/params/arguments").cloned().unwrap_or_else(|| serde_json::json!({}));
            let ip = crate::http::client_ip::peer_of(&parts.extensions);
            let decision = match self.rs.authorize_tool(token, tool, &args, ip).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "no decision for a tool call");
                    let err =
                        serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32603, "message": "The decision point could not be reached" } });
                    return Err((StatusCode::SERVICE_UNAVAILABLE, axum::Json(err)).into_response());
                }
            };
            if let Some(err) = decision.json_rpc_error(&id) {
                return Err(axum::Json(err).into_response());
            }
        }
        Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
    }
}

impl Guard for RequireTokenLayer {
    async fn check(&self, mut req: Request) -> Verdict {
        let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        // The URI as the client sent it (a nested router strips its prefix from `uri()`),
        // which is what a DPoP proof's `htu` names.
        let uri = req.extensions().get::<axum::extract::OriginalUri>().map(|o| o.0.clone()).unwrap_or_else(|| req.uri().clone());
        match self.rs.verify(req.method(), req.headers(), &uri, &scopes).await {
            Ok(t) => {
                let bound = t.claims.get("cnf").is_some();
                if self.rs.decisions.is_some() && t.claims.contains_key("agent") {
                    req = match self.decide_tool_call(req, &t).await {
                        Ok(req) => req,
                        Err(refused) => return Verdict::Refuse(refused),
                    };
                }
                req.extensions_mut().insert(t);
                // RFC 9449 §9: the client keeps the nonce fresh from successful answers too.
                let after: Option<crate::http::guarded::After> =
                    match bound.then(|| self.rs.dpop_nonce()).flatten().and_then(|n| HeaderValue::from_str(&n).ok()) {
                        Some(n) => Some(Box::new(move |r: &mut Response| {
                            r.headers_mut().insert("dpop-nonce", n);
                        })),
                        None => None,
                    };
                Verdict::Admit(req, after)
            }
            Err(refusal) => Verdict::Refuse(refusal.into_response()),
        }
    }
}
