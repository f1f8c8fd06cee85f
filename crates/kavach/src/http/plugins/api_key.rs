//! API keys over HTTP (`[api_key]`): better-auth's `@better-auth/api-key` routes and
//! bodies (`/api-key/create`, `/api-key/get`, `/api-key/list`, `/api-key/update`,
//! `/api-key/delete`), so `apiKeyClient()` works unchanged. As in better-auth, the fields
//! that widen what a key may do are refused from requests (`SERVER_ONLY_PROPERTY`): they
//! are set with the CLI or the Rust API. The `x-api-key` session on
//! `api_key.session_routes` is resolved by the session middleware.

use crate::Kavach;
use crate::http::body::{Body, QueryParams};
use crate::http::error::{ApiResult, client_error};
use crate::http::table::{Capability, Route};
use crate::http::{Auth, Ctx};
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kavach_core::plugins::api_key::{ApiKey, KeyChanges, ListQuery, NewKey};
use kavach_core::{Code, Kind};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use utoipa::{IntoParams, OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "api_key", enabled: |o| o.api_key.enabled, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/api-key/create", || post(create)).signed_in().limit(20),
        Route::new(Method::GET, "/api-key/get", || get(get_key)).signed_in(),
        Route::new(Method::GET, "/api-key/list", || get(list)).signed_in(),
        Route::new(Method::POST, "/api-key/update", || post(update)).signed_in().limit(30),
        Route::new(Method::POST, "/api-key/delete", || post(delete)).signed_in().limit(30),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(create, get_key, list, update, delete),
    components(schemas(CreateKeyBody, UpdateKeyBody, DeleteKeyBody, ApiKey)),
    tags((name = "api-key", description = "API keys of the signed-in user (`[api_key]`); better-auth's api-key routes.")),
)]
struct Doc;

/// better-auth's server-only fields: what widens what a key may do.
const SERVER_ONLY: [&str; 7] = ["permissions", "remaining", "refillAmount", "refillInterval", "rateLimitEnabled", "rateLimitTimeWindow", "rateLimitMax"];

/// Read a create or update body: a server-only field with a value is refused
/// (`SERVER_ONLY_PROPERTY`; better-auth's client sends `remaining: null` by default, so
/// only a value counts), a `userId` too (the key belongs to the signed-in user), and the
/// rest must be `T` exactly.
fn without_server_only<T: serde::de::DeserializeOwned>(mut body: serde_json::Map<String, serde_json::Value>) -> ApiResult<T> {
    for name in SERVER_ONLY {
        if body.remove(name).is_some_and(|v| !v.is_null()) {
            return Err(client_error(
                Kind::BadRequest,
                Code::ServerOnlyProperty,
                "The property you're trying to set can only be set from the server (the CLI or the Rust API)",
            ));
        }
    }
    if body.contains_key("userId") {
        return Err(client_error(Kind::Unauthorized, Code::Unauthorized, "The key belongs to the signed-in user"));
    }
    serde_json::from_value(serde_json::Value::Object(body)).map_err(|e| client_error(Kind::BadRequest, Code::ValidationError, e.to_string()))
}

/// `null` as `Some(None)`, absent as `None`.
fn config_id(c: &Option<String>) -> ApiResult<()> {
    match c.as_deref() {
        None | Some("default") => Ok(()),
        Some(_) => Err(client_error(Kind::BadRequest, Code::ValidationError, "configId: this server has one configuration, \"default\"")),
    }
}

fn expires_in(secs: Option<f64>) -> ApiResult<Option<Duration>> {
    match secs {
        None => Ok(None),
        Some(s) if (1.0..=1e10).contains(&s) => Ok(Some(Duration::from_secs(s as u64))),
        Some(_) => Err(client_error(Kind::BadRequest, Code::ValidationError, "expiresIn is a number of seconds, at least 1")),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateKeyBody {
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds.
    #[serde(default)]
    pub expires_in: Option<f64>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[serde(default)]
    pub config_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateKeyBody {
    pub key_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Seconds; `null`: no expiry.
    #[serde(default, deserialize_with = "crate::http::body::null_removes")]
    #[schema(value_type = Option<f64>)]
    pub expires_in: Option<Option<f64>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[serde(default)]
    pub config_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeleteKeyBody {
    pub key_id: String,
    #[serde(default)]
    pub config_id: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    pub id: String,
    #[serde(default, rename = "configId")]
    #[param(rename = "configId")]
    pub config_id: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub offset: Option<u32>,
    /// `createdAt`, `name` or `expiresAt`.
    #[serde(default, rename = "sortBy")]
    #[param(rename = "sortBy")]
    pub sort_by: Option<String>,
    /// `asc` or `desc`.
    #[serde(default, rename = "sortDirection")]
    #[param(rename = "sortDirection")]
    pub sort_direction: Option<String>,
    #[serde(default, rename = "configId")]
    #[param(rename = "configId")]
    pub config_id: Option<String>,
}

/// Create a key for the signed-in user: the answer carries `key`, shown this once.
#[utoipa::path(post, path = "/api-key/create", request_body = CreateKeyBody, tag = "api-key",
    responses((status = 200, description = "The key's fields and `key`"),
              (status = 400, description = "SERVER_ONLY_PROPERTY, INVALID_NAME_LENGTH, INVALID_PREFIX_LENGTH, EXPIRES_IN_IS_TOO_SMALL, EXPIRES_IN_IS_TOO_LARGE, INVALID_METADATA_TYPE"),
              (status = 401)))]
pub async fn create(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(raw): Body<serde_json::Map<String, serde_json::Value>>) -> ApiResult<Response> {
    let b: CreateKeyBody = without_server_only(raw)?;
    config_id(&b.config_id)?;
    let new = NewKey { name: b.name, expires_in: expires_in(b.expires_in)?, prefix: b.prefix, metadata: b.metadata, ..Default::default() };
    let (key, secret) = k.api_keys().create(&a.data.user, new, &ctx).await?;
    Ok(Json(key.with_secret(&secret)).into_response())
}

/// One of the signed-in user's keys (never the key itself).
#[utoipa::path(get, path = "/api-key/get", tag = "api-key", params(GetQuery),
    responses((status = 200, body = ApiKey), (status = 401), (status = 404, description = "KEY_NOT_FOUND")))]
pub async fn get_key(State(k): State<Kavach>, Auth(a): Auth, QueryParams(q): QueryParams<GetQuery>) -> ApiResult<Json<ApiKey>> {
    config_id(&q.config_id)?;
    Ok(Json(k.api_keys().get(&a.data.user.id, &q.id).await?))
}

/// The signed-in user's keys.
#[utoipa::path(get, path = "/api-key/list", tag = "api-key", params(ListParams),
    responses((status = 200, description = "`{ apiKeys, total, limit, offset }`"), (status = 401)))]
pub async fn list(State(k): State<Kavach>, Auth(a): Auth, QueryParams(q): QueryParams<ListParams>) -> ApiResult<Response> {
    config_id(&q.config_id)?;
    let descending = match q.sort_direction.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(client_error(Kind::BadRequest, Code::ValidationError, "sortDirection must be asc or desc")),
    };
    let query = ListQuery { limit: q.limit, offset: q.offset, sort_by: q.sort_by, descending };
    let (keys, total) = k.api_keys().list(&a.data.user.id, &query).await?;
    Ok(Json(json!({ "apiKeys": keys, "total": total, "limit": q.limit, "offset": q.offset })).into_response())
}

/// Change one of the signed-in user's keys: name, enabled, expiry, metadata.
#[utoipa::path(post, path = "/api-key/update", request_body = UpdateKeyBody, tag = "api-key",
    responses((status = 200, body = ApiKey), (status = 400, description = "SERVER_ONLY_PROPERTY, NO_VALUES_TO_UPDATE"), (status = 401),
              (status = 404, description = "KEY_NOT_FOUND")))]
pub async fn update(
    State(k): State<Kavach>,
    Ctx(ctx): Ctx,
    Auth(a): Auth,
    Body(raw): Body<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<Json<ApiKey>> {
    let b: UpdateKeyBody = without_server_only(raw)?;
    config_id(&b.config_id)?;
    let expires = match b.expires_in {
        None => None,
        Some(None) => Some(None),
        Some(s) => Some(expires_in(s)?),
    };
    let changes = KeyChanges { name: b.name, enabled: b.enabled, expires_in: expires, metadata: b.metadata, ..Default::default() };
    Ok(Json(k.api_keys().update(&a.data.user.id, &b.key_id, changes, &ctx).await?))
}

/// Delete one of the signed-in user's keys.
#[utoipa::path(post, path = "/api-key/delete", request_body = DeleteKeyBody, tag = "api-key",
    responses((status = 200, description = "`{ success: true }`"), (status = 401), (status = 404, description = "KEY_NOT_FOUND")))]
pub async fn delete(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<DeleteKeyBody>) -> ApiResult<Response> {
    config_id(&b.config_id)?;
    k.api_keys().delete(&a.data.user.id, &b.key_id, &ctx).await?;
    Ok(Json(json!({ "success": true })).into_response())
}
