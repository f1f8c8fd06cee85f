//! Discovery: RFC 8414 authorization server metadata and OpenID Connect discovery.
//! One document, served at every URL clients try (MCP-01); `issuer` is the same
//! string everywhere (MCP-02). Only what works is advertised.

use crate::Kavach;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub fn document(k: &Kavach) -> Value {
    let o = k.options();
    let issuer = o.issuer();
    let url = |p: &str| format!("{issuer}{p}");
    let auth_methods = ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"];
    let signing = ["EdDSA", "ES256", "RS256"];
    // Token exchange is for agents' own clients: advertised when agents are on.
    let mut grant_types = vec!["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"];
    if o.agents.enabled {
        grant_types.push(kavach_core::plugins::oauth::grants::TOKEN_EXCHANGE);
        grant_types.push(kavach_core::plugins::oauth::grants::CIBA);
    }
    let mut d = json!({
        "issuer": issuer,
        "authorization_endpoint": url("/oauth2/authorize"),
        "token_endpoint": url("/oauth2/token"),
        "jwks_uri": url("/jwks"),
        "userinfo_endpoint": url("/oauth2/userinfo"),
        "revocation_endpoint": url("/oauth2/revoke"),
        "introspection_endpoint": url("/oauth2/introspect"),
        "pushed_authorization_request_endpoint": url("/oauth2/par"),
        "device_authorization_endpoint": url("/oauth2/device_authorization"),
        "scopes_supported": o.oauth.scopes_supported(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grant_types,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": signing,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "authorization_response_iss_parameter_supported": true,
        "dpop_signing_alg_values_supported": kavach_core::plugins::oauth::dpop::ALGS,
        "require_pushed_authorization_requests": false,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "email", "email_verified", "name", "picture", "updated_at"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    if o.oauth.metadata_documents {
        set(&mut d, "client_id_metadata_document_supported", json!(true));
    }
    if o.oauth.dynamic_registration {
        set(&mut d, "registration_endpoint", json!(url("/oauth2/register")));
    }
    if o.agents.enabled {
        set(&mut d, "backchannel_authentication_endpoint", json!(url("/oauth2/bc-authorize")));
        set(&mut d, "backchannel_token_delivery_modes_supported", json!(["poll"]));
        set(&mut d, "backchannel_user_code_parameter_supported", json!(false));
        set(&mut d, "authorization_details_types_supported", json!(["*"]));
    }
    d
}

/// `/.well-known/oauth-authorization-server` (RFC 8414) and
/// `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0): one document.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oauth", responses((status = 200, description = "RFC 8414 / OpenID Connect discovery metadata (also at the origin's `/.well-known/oauth-authorization-server{base_path}`)", body = serde_json::Value)))]
pub async fn discovery(State(k): State<Kavach>) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], k.discovery_json()).into_response()
}

fn set(d: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    if let Some(o) = d.as_object_mut() {
        o.insert(key.into(), value);
    }
}
