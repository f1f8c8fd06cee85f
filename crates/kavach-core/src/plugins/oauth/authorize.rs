//! The authorization endpoint's rules: validating an authorization request (directly
//! or from a pushed request, RFC 9126), deciding what the user must do next (sign in,
//! consent), remembered consent, and issuing single-use authorization codes.
//!
//! Errors found before the client and its redirect URI are validated are shown to
//! the user ([`Refusal::Page`]); later ones go back to the client by redirect, with
//! `state` and the RFC 9207 `iss` (MCP-07, MCP-15).
//!
//! The validated request travels between the authorize, sign-in and consent steps
//! sealed (AES-256-GCM under the server secret), so any instance can continue a flow
//! another one started.

use super::store::authorize as store;
use super::{OAuthError, OAuthErrorCode, STANDARD_SCOPES, pkce, redirect, resource};
use crate::audit::{self, Event};
use crate::error::{Error, Result};
use crate::store::Ts;
use crate::users::User;
use crate::{Core, RequestContext, crypto};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub type Params = HashMap<String, String>;

pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a started flow (sign-in, consent) stays valid.
const FLOW_TTL_SECS: i64 = 30 * 60;
const FLOW_CONTEXT: &str = "kavach-oauth-flow";

/// A validated authorization request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Vec<String>,
    pub resource: Option<String>,
    pub state: Option<String>,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub prompt: Vec<String>,
    /// The user must have signed in at or after this time (unix seconds):
    /// `prompt=login` and `max_age`.
    pub fresh_after: Option<i64>,
    /// When the request was made (unix seconds).
    pub issued_at: i64,
    /// RFC 9449 §10: the code may only be redeemed with DPoP proofs from the key with
    /// this thumbprint (`dpop_jkt`, or the key of the proof sent with the PAR request).
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

impl AuthRequest {
    pub fn scope_string(&self) -> String {
        self.scope.join(" ")
    }
}

/// Why an authorization request cannot proceed.
#[derive(Debug)]
pub enum Refusal {
    /// Show this to the user; the redirect URI is not trusted (yet).
    Page(OAuthError),
    /// Send the user back to the client's (validated) redirect URI with this error.
    Redirect { redirect_uri: String, state: Option<String>, error: OAuthError },
}

/// What the user must do next.
#[derive(Debug)]
pub enum Next {
    SignIn,
    Consent,
    /// Back to the client (a code or an error).
    Redirect(String),
}

/// Append `key=value` pairs to a URL's query.
pub fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = url.to_owned();
    for (k, v) in pairs {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(k);
        out.push('=');
        out.push_str(&crate::text::url_encode(v));
    }
    out
}

fn page(error: OAuthErrorCode, msg: impl Into<String>) -> Refusal {
    Refusal::Page(OAuthError::new(error, msg))
}

pub struct Authorize<'a>(pub(crate) &'a Core);

impl Authorize<'_> {
    fn issuer(&self) -> String {
        self.0.options.issuer()
    }

    /// The client's redirect with an error, `state` and `iss`.
    pub fn error_redirect(&self, redirect_uri: &str, state: Option<&str>, e: &OAuthError) -> String {
        let iss = self.issuer();
        let mut pairs = vec![("error", e.error.as_str()), ("error_description", e.description.as_str())];
        if let Some(s) = state {
            pairs.push(("state", s));
        }
        pairs.push(("iss", &iss));
        with_query(redirect_uri, &pairs)
    }

    /// Validate an authorization request. `params` are the query parameters; a
    /// `request_uri` from PAR is resolved (and consumed) here.
    pub async fn validate(&self, params: &Params) -> std::result::Result<AuthRequest, Refusal> {
        let mut params = params.clone();
        if let Some(uri) = params.get("request_uri").cloned() {
            let client_id = params.get("client_id").cloned().ok_or_else(|| page(OAuthErrorCode::InvalidRequest, "client_id is required"))?;
            let pushed = self.take_pushed(&uri, &client_id).await.map_err(|e| Refusal::Page(super::tokens::internal(e)))?;
            let Some(pushed) = pushed else {
                return Err(page(OAuthErrorCode::InvalidRequest, "request_uri is unknown, expired, already used or was pushed by another client"));
            };
            params = pushed;
            params.insert("client_id".into(), client_id);
        }
        let client_id = params.get("client_id").filter(|c| !c.is_empty()).ok_or_else(|| page(OAuthErrorCode::InvalidRequest, "client_id is required"))?;
        let client = match self.0.clients().get(client_id).await {
            Ok(Some(c)) if !c.disabled => c,
            Ok(_) => return Err(page(OAuthErrorCode::InvalidClient, "unknown or disabled client")),
            Err(e) => return Err(Refusal::Page(super::tokens::internal(e))),
        };
        let registered = client.redirect_uris();
        let redirect_uri = match (params.get("redirect_uri"), registered.as_slice()) {
            (Some(r), _) if registered.iter().any(|reg| redirect::matches(reg, r)) => r.clone(),
            (Some(_), _) => return Err(page(OAuthErrorCode::InvalidRequest, "redirect_uri is not registered for this client")),
            (None, [only]) => (*only).to_owned(),
            (None, _) => return Err(page(OAuthErrorCode::InvalidRequest, "redirect_uri is required")),
        };
        let state = params.get("state").cloned();
        let fail = |error: OAuthError| Refusal::Redirect { redirect_uri: redirect_uri.clone(), state: state.clone(), error };
        match params.get("response_type").map(String::as_str) {
            Some("code") => {}
            None => return Err(fail(OAuthError::new(OAuthErrorCode::InvalidRequest, "response_type is required"))),
            Some(_) => return Err(fail(OAuthError::new(OAuthErrorCode::UnsupportedResponseType, "only response_type=code is supported"))),
        }
        // Request objects (OpenID Connect Core §6) are not supported: refuse, never ignore.
        if params.contains_key("request") {
            return Err(fail(OAuthError::new(
                OAuthErrorCode::RequestNotSupported,
                "the request parameter (request objects) is not supported; send the parameters themselves, or push them (PAR)",
            )));
        }
        if let Some(mode) = params.get("response_mode")
            && mode != "query"
        {
            return Err(fail(OAuthError::new(OAuthErrorCode::InvalidRequest, "only response_mode=query is supported")));
        }
        if !client.allows_grant("authorization_code") {
            return Err(fail(OAuthError::new(OAuthErrorCode::UnauthorizedClient, "this client is not registered for the authorization_code grant")));
        }
        let code_challenge =
            pkce::check_challenge(params.get("code_challenge").map(String::as_str), params.get("code_challenge_method").map(String::as_str)).map_err(fail)?;
        let (scope, resource) = self.scope_and_resource(params.get("scope").map(String::as_str), params.get("resource").map(String::as_str)).map_err(fail)?;
        let prompt: Vec<String> = params.get("prompt").map(|p| p.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default();
        if let Some(p) = prompt.iter().find(|p| !matches!(p.as_str(), "none" | "login" | "consent" | "select_account")) {
            return Err(fail(OAuthError::new(OAuthErrorCode::InvalidRequest, format!("prompt value {p:?} is not supported"))));
        }
        if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
            return Err(fail(OAuthError::new(OAuthErrorCode::InvalidRequest, "prompt=none cannot be combined with other values")));
        }
        let now = Ts::now().0 / 1000;
        let mut fresh_after = None;
        if let Some(m) = params.get("max_age") {
            let secs: i64 = m
                .parse()
                .ok()
                .filter(|s| *s >= 0)
                .ok_or_else(|| fail(OAuthError::new(OAuthErrorCode::InvalidRequest, "max_age must be a non-negative integer")))?;
            fresh_after = Some(now - secs);
        }
        if prompt.iter().any(|p| p == "login") {
            fresh_after = Some(now);
        }
        let nonce = params.get("nonce").cloned();
        if nonce.as_ref().is_some_and(|n| n.len() > 512) || state.as_ref().is_some_and(|s| s.len() > 2048) {
            return Err(fail(OAuthError::new(OAuthErrorCode::InvalidRequest, "state or nonce is too long")));
        }
        let dpop_jkt = params.get("dpop_jkt").cloned();
        if dpop_jkt.as_ref().is_some_and(|j| j.len() != 43 || !j.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')) {
            return Err(fail(OAuthError::new(OAuthErrorCode::InvalidRequest, "dpop_jkt must be a base64url SHA-256 JWK thumbprint")));
        }
        Ok(AuthRequest {
            client_id: client.client_id,
            redirect_uri,
            scope,
            resource,
            state,
            code_challenge,
            nonce,
            prompt,
            fresh_after,
            issued_at: now,
            dpop_jkt,
        })
    }

    /// Check the requested scopes and resource. Without `scope`, the resource's
    /// scopes are granted; without `resource`, the one configured resource that
    /// defines every requested non-standard scope is the audience.
    pub fn scope_and_resource(&self, scope: Option<&str>, resource: Option<&str>) -> std::result::Result<(Vec<String>, Option<String>), OAuthError> {
        let o = &self.0.options.oauth;
        let res = match resource {
            Some(r) => {
                let c = resource::canonical(r)?;
                Some(
                    o.resource(&c)
                        .ok_or_else(|| OAuthError::new(OAuthErrorCode::InvalidTarget, format!("{r} is not a resource this server issues tokens for")))?,
                )
            }
            None => None,
        };
        let mut scopes: Vec<String> = Vec::new();
        for s in scope.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_owned());
            }
        }
        let custom: Vec<&String> = scopes.iter().filter(|s| !STANDARD_SCOPES.contains(&s.as_str())).collect();
        let res = match res {
            Some(r) => Some(r),
            None if custom.is_empty() => None,
            None => {
                let fits: Vec<_> = o.resources.iter().filter(|r| custom.iter().all(|s| r.scopes.contains(s))).collect();
                match fits.as_slice() {
                    [one] => Some(*one),
                    _ => return Err(OAuthError::new(OAuthErrorCode::InvalidScope, "these scopes need a resource parameter naming the resource they are for")),
                }
            }
        };
        if let Some(bad) = custom.iter().find(|s| !res.is_some_and(|r| r.scopes.contains(s))) {
            return Err(OAuthError::new(OAuthErrorCode::InvalidScope, format!("scope {bad:?} is not defined for this resource")));
        }
        if scopes.is_empty()
            && let Some(r) = res
        {
            scopes = r.scopes.clone();
        }
        Ok((scopes, res.map(|r| r.uri.clone())))
    }

    /// RFC 9126: store a validated request's parameters; returns (`request_uri`, expires_in).
    /// `proof_jkt` is the key of a DPoP proof sent with the request (already checked):
    /// the code is then bound to it (RFC 9449 §10.1).
    pub async fn push(&self, client_id: &str, params: &Params, proof_jkt: Option<&str>) -> std::result::Result<(String, u64), OAuthError> {
        if params.contains_key("request_uri") {
            return Err(OAuthError::new(OAuthErrorCode::InvalidRequest, "request_uri is not allowed in a pushed authorization request"));
        }
        let mut params = params.clone();
        if let Some(jkt) = proof_jkt {
            match params.get("dpop_jkt") {
                Some(j) if j != jkt => return Err(OAuthError::new(OAuthErrorCode::InvalidRequest, "dpop_jkt differs from the key of the DPoP proof")),
                _ => params.insert("dpop_jkt".into(), jkt.to_owned()),
            };
        }
        let params = &params;
        // Validate now, so errors reach the client at the PAR endpoint.
        let mut check = params.clone();
        check.insert("client_id".into(), client_id.to_owned());
        if let Err(r) = self.validate(&check).await {
            return Err(match r {
                Refusal::Page(e) | Refusal::Redirect { error: e, .. } => e,
            });
        }
        let token = crypto::random_token();
        let ttl = self.0.options.oauth.par_ttl.as_secs();
        let json = serde_json::to_string(params).map_err(|e| super::tokens::internal(Error::internal("could not store the pushed request").with_source(e)))?;
        store::insert_par(&self.0.db, &crypto::token_hash(&token), client_id, &json, Ts::now().plus_secs(ttl as i64)).await.map_err(super::tokens::internal)?;
        Ok((format!("{REQUEST_URI_PREFIX}{token}"), ttl))
    }

    /// Consume a pushed request (single use; only by the client that pushed it).
    async fn take_pushed(&self, request_uri: &str, client_id: &str) -> Result<Option<Params>> {
        let Some(token) = request_uri.strip_prefix(REQUEST_URI_PREFIX) else { return Ok(None) };
        let row = store::take_par(&self.0.db, &crypto::token_hash(token), client_id, Ts::now()).await?;
        Ok(row.and_then(|p| serde_json::from_str(&p).ok()))
    }

    /// Seal a validated request for the sign-in and consent steps.
    #[allow(
        clippy::expect_used,
        reason = "an AuthRequest (strings, numbers, lists of strings) always serialises to JSON; the signature is the embedding API's"
    )]
    pub fn seal(&self, req: &AuthRequest) -> String {
        self.0.secrets.seal(&serde_json::to_vec(req).expect("serialisable"), FLOW_CONTEXT)
    }

    /// Open a sealed flow; `None` if tampered with or older than 30 minutes.
    pub fn open(&self, sealed: &str) -> Option<AuthRequest> {
        let req: AuthRequest = serde_json::from_slice(&self.0.secrets.open(sealed, FLOW_CONTEXT)?).ok()?;
        (Ts::now().0 / 1000 - req.issued_at <= FLOW_TTL_SECS).then_some(req)
    }

    /// Use up a posted consent form (its sealed flow): true the first time, false when
    /// it was already posted, so a replayed form cannot produce a second code.
    pub async fn consume_form(&self, sealed_flow: &str) -> Result<bool> {
        let exp = Ts::now().0 / 1000 + FLOW_TTL_SECS + 60;
        self.0.tokens().remember_jti(&format!("consent:{}", crypto::token_hash(sealed_flow)), exp).await
    }

    /// A token binding a consent form to the session that displayed it (CSRF).
    pub fn form_token(&self, session_token: &str, sealed_flow: &str) -> String {
        self.0.secrets.keyed_hash(&format!("consent\0{session_token}\0{sealed_flow}"))
    }

    /// What happens next for this request and (maybe) signed-in user. `auth_time` is
    /// when the user's session was created (unix seconds).
    pub async fn next(&self, req: &AuthRequest, user: Option<(&User, i64)>, ctx: &RequestContext) -> Result<Next> {
        let none = req.prompt.iter().any(|p| p == "none");
        let err = |code, msg: &str| Ok(Next::Redirect(self.error_redirect(&req.redirect_uri, req.state.as_deref(), &OAuthError::new(code, msg))));
        let Some((user, auth_time)) = user else {
            return if none { err(OAuthErrorCode::LoginRequired, "the user is not signed in") } else { Ok(Next::SignIn) };
        };
        if req.fresh_after.is_some_and(|t| auth_time < t) {
            return if none { err(OAuthErrorCode::LoginRequired, "the user must sign in again") } else { Ok(Next::SignIn) };
        }
        let forced = req.prompt.iter().any(|p| p == "consent" || p == "select_account");
        if forced || !self.has_consent(&user.id, req).await? {
            return if none { err(OAuthErrorCode::ConsentRequired, "the user has not authorized this client") } else { Ok(Next::Consent) };
        }
        Ok(Next::Redirect(self.issue_code(req, &user.id, auth_time, ctx).await?))
    }

    async fn has_consent(&self, user_id: &str, req: &AuthRequest) -> Result<bool> {
        let row = store::consent(&self.0.db, user_id, &req.client_id).await?;
        Ok(row.is_some_and(|(scope, resource)| {
            let granted: Vec<&str> = scope.split(' ').collect();
            resource == req.resource.clone().unwrap_or_default() && req.scope.iter().all(|s| granted.contains(&s.as_str()))
        }))
    }

    /// The user approved: remember the decision if asked, issue a code, and return
    /// the redirect to the client.
    pub async fn approve(&self, req: &AuthRequest, user: &User, auth_time: i64, remember: bool, ctx: &RequestContext) -> Result<String> {
        if remember {
            let now = Ts::now();
            let resource = req.resource.clone().unwrap_or_default();
            let scope = req.scope_string();
            store::remember_consent(&self.0.db, &user.id, &req.client_id, &scope, &resource, now).await?;
        }
        audit::append(
            &self.0.db,
            Event::new(crate::audit::EventKind::OAuthConsentGranted, Some(&user.id), ctx)
                .with("client_id", &req.client_id)
                .with("scope", req.scope_string())
                .with("resource", &req.resource)
                .with("remembered", remember),
        )
        .await?;
        self.issue_code(req, &user.id, auth_time, ctx).await
    }

    /// The user refused: recorded, and the redirect back to the client with `access_denied`.
    pub async fn deny(&self, req: &AuthRequest, user: &User, ctx: &RequestContext) -> Result<String> {
        audit::append(
            &self.0.db,
            Event::new(crate::audit::EventKind::OAuthConsentDenied, Some(&user.id), ctx)
                .with("client_id", &req.client_id)
                .with("scope", req.scope_string())
                .with("resource", &req.resource),
        )
        .await?;
        Ok(self.error_redirect(&req.redirect_uri, req.state.as_deref(), &OAuthError::new(OAuthErrorCode::AccessDenied, "the user denied the request")))
    }

    async fn issue_code(&self, req: &AuthRequest, user_id: &str, auth_time: i64, _ctx: &RequestContext) -> Result<String> {
        let code = crypto::random_token();
        let family = crypto::new_id();
        let request = serde_json::to_string(req).map_err(|e| Error::internal("could not store the authorization request").with_source(e))?;
        let expires = Ts::now().plus_secs(self.0.options.oauth.code_ttl.as_secs() as i64);
        store::insert_code(&self.0.db, &crypto::token_hash(&code), &family, &request, user_id, Ts(auth_time * 1000), expires).await?;
        let iss = self.issuer();
        let mut pairs = vec![("code", code.as_str())];
        if let Some(s) = &req.state {
            pairs.push(("state", s));
        }
        pairs.push(("iss", &iss));
        Ok(with_query(&req.redirect_uri, &pairs))
    }

    /// The clients a user has authorized (remembered consents).
    pub async fn consents(&self, user_id: &str) -> Result<Vec<Consent>> {
        let rows = store::consents(&self.0.db, user_id).await?;
        Ok(rows
            .into_iter()
            .map(|(client_id, scope, resource, updated_at, client_name)| Consent {
                client_id,
                client_name,
                scope,
                resource: (!resource.is_empty()).then_some(resource),
                granted_at: updated_at,
            })
            .collect())
    }

    /// Revoke what the user gave a client: the remembered consent and every token
    /// family (refresh and access tokens) issued to it for this user.
    pub async fn revoke_consent(&self, user_id: &str, client_id: &str, ctx: &RequestContext) -> Result<bool> {
        let now = Ts::now();
        let revoked = store::revoke_consent(&self.0.db, user_id, client_id, now, |f| {
            Event::new(crate::audit::EventKind::OAuthGrantRevoked, Some(user_id), ctx).with("client_id", client_id).with("families", f)
        })
        .await?;
        Ok(revoked)
    }
}

/// A remembered authorization, as the user sees it.
#[derive(Clone, Debug, Serialize)]
pub struct Consent {
    pub client_id: String,
    pub client_name: Option<String>,
    pub scope: String,
    pub resource: Option<String>,
    pub granted_at: Ts,
}
