//! The agents capability over HTTP (`[agents]`): managing agents (`/agents/*`),
//! approvals (`/agent-approvals/*`) and budgets (`/agent-budgets/*`), and the decision
//! point as the OpenID AuthZEN Authorization API 1.0 (`/access/v1/evaluation`,
//! `/access/v1/evaluations`, `/.well-known/authzen-configuration`).
//!
//! Callers: a signed-in user (the session cookie or bearer token), an agent with its
//! key (`Authorization: Bearer kv_...`), and, on the AuthZEN endpoints only, a resource
//! server authenticating as a confidential OAuth client that the operator allowed to
//! introspect (HTTP Basic). Identity never comes from a body: the owner is the caller.

use crate::Kavach;
use crate::http::body::{Body, QueryParams};
use crate::http::error::{ApiError, ApiResult};
use crate::http::table::{Capability, Route};
use crate::http::{Auth, Authenticated, Ctx, MaybeAuth, authorization};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use kavach_core::plugins::agents::{
    Agent, AgentClient, AgentUpdate, Approval, Budget, Call, ClientCredentials, Created, Decision, Grant, KeyInfo, Manager, NewAgent, NewPermission,
    Permission, Status, TaskSession, TaskSessionCreated, Trust, Verdict,
};
use kavach_core::{Code, Error, Kind, RequestContext};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "agents", enabled: |o| o.agents.enabled, requires: &[], routes, openapi: Doc::openapi };

/// The AuthZEN metadata path (below the base path; also at the root with the base path appended).
pub const AUTHZEN_METADATA: &str = "/.well-known/authzen-configuration";

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/agents", || post(create)).signed_in().limit(30),
        Route::new(Method::GET, "/agents", || get(list)).reads_session(),
        Route::new(Method::GET, "/agents/{id}", || get(get_agent)).reads_session(),
        Route::new(Method::PATCH, "/agents/{id}", || patch(update)).signed_in(),
        Route::new(Method::DELETE, "/agents/{id}", || delete(remove)).signed_in(),
        Route::new(Method::POST, "/agents/{id}/suspend", || post(suspend)).signed_in(),
        Route::new(Method::POST, "/agents/{id}/activate", || post(activate)).signed_in(),
        Route::new(Method::POST, "/agents/{id}/revoke", || post(revoke)).signed_in(),
        Route::new(Method::GET, "/agents/{id}/keys", || get(keys)).signed_in(),
        Route::new(Method::POST, "/agents/{id}/keys", || post(new_key)).signed_in().limit(30),
        Route::new(Method::DELETE, "/agents/{id}/keys/{key_id}", || delete(revoke_key)).signed_in(),
        Route::new(Method::POST, "/agents/{id}/oauth-client", || post(register_client)).signed_in().limit(30),
        Route::new(Method::DELETE, "/agents/{id}/oauth-client", || delete(remove_client)).signed_in(),
        Route::new(Method::GET, "/agents/{id}/permissions", || get(permissions)).reads_session(),
        Route::new(Method::POST, "/agents/{id}/permissions", || post(grant)).signed_in(),
        Route::new(Method::DELETE, "/agents/{id}/permissions/{permission_id}", || delete(withdraw)).signed_in(),
        Route::new(Method::POST, "/agents/{id}/delegate", || post(delegate)).reads_session().limit(30),
        Route::new(Method::POST, "/agents/{id}/sessions", || post(create_session)).reads_session().limit(60),
        Route::new(Method::GET, "/agents/{id}/trust", || get(trust)).reads_session(),
        Route::new(Method::POST, "/agents/{id}/cost", || post(cost)).reads_session(),
        Route::new(Method::GET, "/agent-approvals", || get(approvals)).reads_session(),
        Route::new(Method::GET, "/agent-approvals/{id}", || get(approval)).reads_session(),
        Route::new(Method::POST, "/agent-approvals/{id}/approve", || post(approve)).signed_in().limit(30),
        Route::new(Method::POST, "/agent-approvals/{id}/deny", || post(deny)).signed_in().limit(30),
        Route::new(Method::GET, "/agent-approvals/{id}/review", || get(review_page)).reads_session(),
        Route::new(Method::POST, "/agent-approvals/{id}/review", || post(review_submit)).reads_session().login().limit(20),
        Route::new(Method::POST, "/agent-budgets", || post(set_budget)).signed_in(),
        Route::new(Method::GET, "/agent-budgets", || get(budgets)).reads_session(),
        Route::new(Method::DELETE, "/agent-budgets/{id}", || delete(delete_budget)).signed_in(),
        Route::new(Method::POST, "/access/v1/evaluation", || post(evaluation)).reads_session(),
        Route::new(Method::POST, "/access/v1/evaluations", || post(evaluations)).reads_session(),
        Route::new(Method::POST, "/access/v1/search/action", || post(search_action)).reads_session(),
        Route::new(Method::POST, "/access/v1/search/resource", || post(search_resource)).reads_session(),
        Route::new(Method::GET, AUTHZEN_METADATA, || get(metadata)),
        Route::new(Method::POST, "/oauth2/bc-authorize", || post(backchannel_authorize))
            .access(crate::http::table::Access::Client)
            .limit(60)
            .when(|o| o.oauth.enabled),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(create, list, get_agent, update, remove, suspend, activate, revoke, keys, new_key, revoke_key, register_client, remove_client, permissions, grant, withdraw, delegate, create_session, trust,
          cost, approvals, approval, approve, deny, review_page, review_submit, set_budget, budgets, delete_budget, evaluation, evaluations, search_action, search_resource, metadata, backchannel_authorize),
    components(schemas(Agent, Created, Permission, NewPermission, KeyInfo, Approval, Budget, Trust, Decision)),
    tags((name = "agents", description = "AI agents as identities (`[agents]`): keys, permissions, delegation, approvals, budgets, trust, and the AuthZEN decision endpoints.")),
)]
struct Doc;

/// Who is calling an agents route.
enum Caller {
    User(Authenticated),
    /// An agent with its key, or with an ephemeral session's token (its id).
    Agent(Box<Agent>, Option<String>),
    /// A resource server (a confidential OAuth client allowed to introspect).
    Client,
}

impl Caller {
    fn manager(&self) -> Manager<'_> {
        match self {
            Caller::User(a) => Manager::User(&a.data.user),
            Caller::Agent(a, _) => Manager::Agent(a),
            Caller::Client => Manager::Server,
        }
    }
}

fn unauthorized() -> ApiError {
    ApiError(Error::unauthorized())
}

/// The caller: an agent key, else the session (and with `clients`, a resource server).
async fn caller(k: &Kavach, headers: &HeaderMap, auth: Option<Authenticated>, clients: bool) -> Result<Caller, ApiError> {
    use kavach_core::plugins::agents::is_agent_credential;
    let bearer = authorization(headers, "Bearer").filter(|t| is_agent_credential(t));
    if let Some(token) = bearer.filter(|t| t.starts_with(kavach_core::plugins::agents::KEY_PREFIX)) {
        return match k.agents().authenticate(token).await? {
            Some(a) => Ok(Caller::Agent(Box::new(a), None)),
            None => Err(unauthorized()),
        };
    }
    if let Some(token) = bearer.filter(|t| t.starts_with(kavach_core::plugins::agents::SESSION_PREFIX)) {
        return match k.agents().authenticate_session(token).await? {
            Some((a, sid)) => Ok(Caller::Agent(Box::new(a), Some(sid))),
            None => Err(unauthorized()),
        };
    }
    if clients && authorization(headers, "Basic").is_some() {
        let Ok(Some((id, secret))) = super::oauth::basic_credentials(headers) else { return Err(unauthorized()) };
        // One read of the client: its secret, then its right to introspect.
        let client = k.clients().get(&id).await?.filter(|c| !c.disabled && c.secret_matches(&secret)).ok_or_else(unauthorized)?;
        if client.introspects.is_empty() {
            return Err(ApiError(Error::forbidden(
                Code::AgentActionNotAllowed,
                "This client may not ask for decisions (the operator grants it: `kavach clients introspect CLIENT_ID --resource ...`)",
            )));
        }
        return Ok(Caller::Client);
    }
    auth.map(Caller::User).ok_or_else(unauthorized)
}

fn manager(a: &Authenticated) -> Manager<'_> {
    Manager::User(&a.data.user)
}

/// Create an agent owned by the caller (or by `organizationId`, with `agent: create` there),
/// with its permissions: `{ agent, key, permissions }`; the key is shown once.
#[utoipa::path(post, path = "/agents", request_body = NewAgent, tag = "agents",
    responses((status = 200, body = Created), (status = 400), (status = 401), (status = 403)))]
pub async fn create(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<NewAgent>) -> ApiResult<Response> {
    let created = k.agents().create(manager(&a), b, &ctx).await?;
    Ok(no_store(Json(created).into_response()))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The organization whose agents to list (needs `agent: read` there).
    pub organization_id: Option<String>,
    /// For platform admins: the user whose agents to list.
    pub user_id: Option<String>,
}

/// The caller's agents, an organization's, or (an agent) itself.
#[utoipa::path(get, path = "/agents", params(ListQuery), tag = "agents",
    responses((status = 200, body = Vec<Agent>), (status = 400), (status = 401), (status = 403)))]
pub async fn list(
    State(k): State<Kavach>,
    headers: HeaderMap,
    MaybeAuth(auth): MaybeAuth,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<Vec<Agent>>> {
    let c = caller(&k, &headers, auth, false).await?;
    Ok(Json(k.agents().list(c.manager(), q.organization_id.as_deref(), q.user_id.as_deref()).await?))
}

/// One agent (its managers, or the agent itself).
#[utoipa::path(get, path = "/agents/{id}", params(("id" = String, Path)), tag = "agents",
    responses((status = 200, body = Agent), (status = 401), (status = 404)))]
pub async fn get_agent(State(k): State<Kavach>, headers: HeaderMap, MaybeAuth(auth): MaybeAuth, Path(id): Path<String>) -> ApiResult<Json<Agent>> {
    let c = caller(&k, &headers, auth, false).await?;
    Ok(Json(k.agents().get(c.manager(), &id).await?))
}

/// Rename, or replace the metadata.
#[utoipa::path(patch, path = "/agents/{id}", params(("id" = String, Path)), request_body = AgentUpdate, tag = "agents",
    responses((status = 200, body = Agent), (status = 400), (status = 401), (status = 404)))]
pub async fn update(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Path(id): Path<String>, Body(b): Body<AgentUpdate>) -> ApiResult<Json<Agent>> {
    Ok(Json(k.agents().update(manager(&a), &id, b, &ctx).await?))
}

/// Delete the agent, its delegates, keys, permissions and approvals.
#[utoipa::path(delete, path = "/agents/{id}", params(("id" = String, Path)), tag = "agents",
    responses((status = 200, description = "`{ success: true }`"), (status = 401), (status = 404)))]
pub async fn remove(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    k.agents().delete(manager(&a), &id, &ctx).await?;
    Ok(Json(json!({ "success": true })))
}

async fn set_status(k: &Kavach, ctx: &RequestContext, a: &Authenticated, id: &str, status: Status) -> ApiResult<Json<Agent>> {
    Ok(Json(k.agents().set_status(manager(a), id, status, ctx).await?))
}

/// Suspend: every decision for it (and its delegates) is denied until it is activated.
#[utoipa::path(post, path = "/agents/{id}/suspend", params(("id" = String, Path)), tag = "agents",
    responses((status = 200, body = Agent), (status = 400), (status = 401), (status = 404)))]
pub async fn suspend(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Path(id): Path<String>) -> ApiResult<Json<Agent>> {
    set_status(&k, &ctx, &a, &id, Status::Suspended).await
}

/// Activate a suspended agent.
#[utoipa::path(post, path = "/agents/{id}/activate", params(("id" = String, Path)), tag = "agents",
    responses((status = 200, body = Agent), (status = 400), (status = 401), (status = 404)))]
pub async fn activate(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Path(id): Path<String>) -> ApiResult<Json<Agent>> {
    set_status(&k, &ctx, &a, &id, Status::Active).await
}

/// Revoke (final), with every delegate below it.
#[utoipa::path(post, path = "/agents/{id}/revoke", params(("id" = String, Path)), tag = "agents",
    responses((status = 200, body = Agent), (status = 400), (status = 401), (status = 404)))]
pub async fn revoke(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Path(id): Path<String>) -> ApiResult<Json<Agent>> {
    set_status(&k, &ctx, &a, &id, Status::Revoked).await
}

/// The agent's keys (prefixes and dates; never the keys).
#[utoipa::path(get, path = "/agents/{id}/keys", params(("id" = String, Path)), tag = "agents",
    responses((status = 200, body = Vec<KeyInfo>), (status = 401), (status = 404)))]
pub async fn keys(State(k): State<Kavach>, Auth(a): Auth, Path(id): Path<String>) -> ApiResult<Json<Vec<KeyInfo>>> {
    Ok(Json(k.agents().keys(manager(&a), &id).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct NewKeyBody {
    /// The other keys stop working after `[agents] key_grace`.
    pub rotate: bool,
}

/// A new key, shown once: `{ key }`.
#[utoipa::path(post, path = "/agents/{id}/keys", params(("id" = String, Path)), request_body = NewKeyBody, tag = "agents",
    responses((status = 200, description = "`{ key }`"), (status = 400), (status = 401), (status = 404)))]
pub async fn new_key(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Path(id): Path<String>, Body(b): Body<NewKeyBody>) -> ApiResult<Response> {
    let key = k.agents().new_key(manager(&a), &id, b.rotate, &ctx).await?;
    Ok(no_store(Json(json!({ "key": key })).into_response()))
}

/// Remove one key at once.
#[utoipa::path(delete, path = "/agents/{id}/keys/{key_id}", params(("id" = String, Path), ("key_id" = String, Path)), tag = "agents",
    responses((status = 200, description = "`{ success: true }`"), (status = 401), (status = 404)))]
pub async fn revoke_key(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Path((id, key_id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    k.agents().revoke_key(manager(&a), &id, &key_id, &ctx).await?;
    Ok(Json(json!({ "success": true })))
}

/// OAuth credentials for the agent (`client_id` = the agent's id) for the
/// `client_credentials` grant: `private_key_jwt` with `jwks` or `jwksUri`, else a client
/// secret (shown once).
#[utoipa::path(post, path = "/agents/{id}/oauth-client", params(("id" = String, Path)), request_body = ClientCredentials, tag = "agents",
    responses((status = 200, body = AgentClient), (status = 400), (status = 401), (status = 404)))]
pub async fn register_client(
    State(k): State<Kavach>,
    Ctx(ctx): Ctx,
    Auth(a): Auth,
    Path(id): Path<String>,
    Body(b): Body<ClientCredentials>,
) -> ApiResult<Response> {
    let c = k.agents().register_client(manager(&a), &id, b, &ctx).await?;
    Ok(no_store(Json(c).into_response()))
}

/// Remove the agent's OAuth credentials.
#[utoipa::path(delete, path = "/agents/{id}/oauth-client", params(("id" = String, Path)), tag = "agents",
    responses((status = 200, description = "`{ success: true }`"), (status = 401), (status = 404)))]
pub async fn remove_client(State(k): State<Kavach>, Auth(a): Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    k.agents().remove_client(manager(&a), &id).await?;
    Ok(Json(json!({ "success": true })))
}

/// The agent's own permissions.
#[utoipa::path(get, path = "/agents/{id}/permissions", params(("id" = String, Path)), tag = "agents",
    responses((status = 200, body = Vec<Permission>), (status = 401), (status = 404)))]
pub async fn permissions(State(k): State<Kavach>, headers: HeaderMap, MaybeAuth(auth): MaybeAuth, Path(id): Path<String>) -> ApiResult<Json<Vec<Permission>>> {
    let c = caller(&k, &headers, auth, false).await?;
    Ok(Json(k.agents().permissions(c.manager(), &id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    pub permissions: Vec<NewPermission>,
}

/// Grant permissions (a delegate: within its parent's).
#[utoipa::path(post, path = "/agents/{id}/permissions", params(("id" = String, Path)), request_body = GrantBody, tag = "agents",
    responses((status = 200, body = Vec<Permission>), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn grant(
    State(k): State<Kavach>,
    Ctx(ctx): Ctx,
    Auth(a): Auth,
    Path(id): Path<String>,
    Body(b): Body<GrantBody>,
) -> ApiResult<Json<Vec<Permission>>> {
    Ok(Json(k.agents().grant(manager(&a), &id, &b.permissions, &ctx).await?))
}

/// Withdraw a permission.
#[utoipa::path(delete, path = "/agents/{id}/permissions/{permission_id}", params(("id" = String, Path), ("permission_id" = String, Path)), tag = "agents",
    responses((status = 200, description = "`{ success: true }`"), (status = 401), (status = 404)))]
pub async fn withdraw(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Path((id, permission_id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    k.agents().withdraw(manager(&a), &id, &permission_id, &ctx).await?;
    Ok(Json(json!({ "success": true })))
}

/// Delegate: a sub-agent holding a subset of this agent's rights (by its managers, or
/// by the agent itself with its key): `{ agent, key, permissions }`.
#[utoipa::path(post, path = "/agents/{id}/delegate", params(("id" = String, Path)), request_body = NewAgent, tag = "agents",
    responses((status = 200, body = Created), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn delegate(
    State(k): State<Kavach>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    MaybeAuth(auth): MaybeAuth,
    Path(id): Path<String>,
    Body(b): Body<NewAgent>,
) -> ApiResult<Response> {
    let c = caller(&k, &headers, auth, false).await?;
    let created = k.agents().delegate(c.manager(), &id, b, &ctx).await?;
    Ok(no_store(Json(created).into_response()))
}

/// An ephemeral session for one task (by a manager, or by the agent itself with its key):
/// `{ id, token, expiresAt, maxActions }`; the token (`kve_...`) acts as the agent until it
/// expires, and every allowed decision made with it uses one of its actions.
#[utoipa::path(post, path = "/agents/{id}/sessions", params(("id" = String, Path)), request_body = TaskSession, tag = "agents",
    responses((status = 200, body = TaskSessionCreated), (status = 400), (status = 401), (status = 404)))]
pub async fn create_session(
    State(k): State<Kavach>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    MaybeAuth(auth): MaybeAuth,
    Path(id): Path<String>,
    Body(b): Body<TaskSession>,
) -> ApiResult<Response> {
    let c = caller(&k, &headers, auth, false).await?;
    if matches!(c, Caller::Agent(_, Some(_))) {
        return Err(ApiError(Error::forbidden(Code::AgentActionNotAllowed, "An ephemeral session cannot start another")));
    }
    let created = k.agents().create_session(c.manager(), &id, b, &ctx).await?;
    Ok(no_store(Json(created).into_response()))
}

/// The trust score and its factors.
#[utoipa::path(get, path = "/agents/{id}/trust", params(("id" = String, Path)), tag = "agents",
    responses((status = 200, body = Trust), (status = 401), (status = 404)))]
pub async fn trust(State(k): State<Kavach>, headers: HeaderMap, MaybeAuth(auth): MaybeAuth, Path(id): Path<String>) -> ApiResult<Json<Trust>> {
    let c = caller(&k, &headers, auth, false).await?;
    Ok(Json(k.agents().trust(c.manager(), &id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostBody {
    /// Integer micro-units (0 to 10^12).
    pub amount: i64,
}

/// Report the cost of the agent's calls (the agent itself, or its managers).
#[utoipa::path(post, path = "/agents/{id}/cost", params(("id" = String, Path)), request_body = CostBody, tag = "agents",
    responses((status = 200, description = "`{ success: true }`"), (status = 400), (status = 401), (status = 404)))]
pub async fn cost(
    State(k): State<Kavach>,
    headers: HeaderMap,
    MaybeAuth(auth): MaybeAuth,
    Path(id): Path<String>,
    Body(b): Body<CostBody>,
) -> ApiResult<Json<Value>> {
    let c = caller(&k, &headers, auth, false).await?;
    k.agents().report_cost(c.manager(), &id, b.amount).await?;
    Ok(Json(json!({ "success": true })))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AgentQuery {
    pub agent_id: Option<String>,
}

/// Approval requests of the agents the caller manages (an agent: its own), pending first.
#[utoipa::path(get, path = "/agent-approvals", params(AgentQuery), tag = "agents",
    responses((status = 200, body = Vec<Approval>), (status = 400), (status = 401), (status = 404)))]
pub async fn approvals(
    State(k): State<Kavach>,
    headers: HeaderMap,
    MaybeAuth(auth): MaybeAuth,
    QueryParams(q): QueryParams<AgentQuery>,
) -> ApiResult<Json<Vec<Approval>>> {
    let c = caller(&k, &headers, auth, false).await?;
    Ok(Json(k.agents().approvals(c.manager(), q.agent_id.as_deref()).await?))
}

/// One approval request (the agent polls it).
#[utoipa::path(get, path = "/agent-approvals/{id}", params(("id" = String, Path)), tag = "agents",
    responses((status = 200, body = Approval), (status = 401), (status = 404)))]
pub async fn approval(State(k): State<Kavach>, headers: HeaderMap, MaybeAuth(auth): MaybeAuth, Path(id): Path<String>) -> ApiResult<Json<Approval>> {
    let c = caller(&k, &headers, auth, false).await?;
    Ok(Json(k.agents().approval(c.manager(), &id).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ApproveBody {
    /// How many identical calls pass (1 to 1000). Default 1.
    pub uses: Option<u32>,
    /// For how many seconds identical calls pass (up to 30 days).
    pub valid_for: Option<u64>,
    /// The approver's password: needed when the session is older than `session.fresh_age`.
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DenyBody {
    /// As for approving.
    pub password: Option<String>,
}

/// Answer an approval request as the signed-in manager, after a fresh re-authentication.
async fn answer_approval(
    k: &Kavach,
    ctx: &RequestContext,
    a: &Authenticated,
    id: &str,
    grant: Option<Grant>,
    password: Option<&str>,
) -> Result<Approval, Error> {
    // Who cannot answer it learns nothing, not even that it needs a password.
    k.agents().approval(manager(a), id).await?;
    k.users().confirm_fresh(&a.data.session, password, "to answer an approval request").await?;
    match grant {
        Some(g) => k.agents().approve(manager(a), id, g, ctx).await,
        None => k.agents().deny(manager(a), id, ctx).await,
    }
}

/// Approve: the identical call then passes (once, or as the grant says). Needs a fresh
/// session or the approver's password.
#[utoipa::path(post, path = "/agent-approvals/{id}/approve", params(("id" = String, Path)), request_body = ApproveBody, tag = "agents",
    responses((status = 200, body = Approval), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn approve(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Path(id): Path<String>, Body(b): Body<ApproveBody>) -> ApiResult<Json<Approval>> {
    let grant = Grant { uses: b.uses, valid_for: b.valid_for };
    Ok(Json(answer_approval(&k, &ctx, &a, &id, Some(grant), b.password.as_deref()).await?))
}

/// Refuse an approval request (a fresh session or the password, as for approving).
#[utoipa::path(post, path = "/agent-approvals/{id}/deny", params(("id" = String, Path)), request_body = DenyBody, tag = "agents",
    responses((status = 200, body = Approval), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn deny(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Path(id): Path<String>, Body(b): Body<DenyBody>) -> ApiResult<Json<Approval>> {
    Ok(Json(answer_approval(&k, &ctx, &a, &id, None, b.password.as_deref()).await?))
}

// ---- the hosted review page ----

/// The page an approval email links to: what the agent asks to do, and Approve / Deny
/// with the owner's password (a fresh re-authentication); a sign-in form when not signed in.
#[utoipa::path(get, path = "/agent-approvals/{id}/review", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, description = "The review page", content_type = "text/html", body = String),
              (status = 404, description = "No such approval request (or not yours)", content_type = "text/html", body = String)))]
pub async fn review_page(State(k): State<Kavach>, MaybeAuth(auth): MaybeAuth, Path(id): Path<String>) -> Response {
    render_review(&k, auth.as_ref(), &id, None).await
}

async fn render_review(k: &Kavach, auth: Option<&Authenticated>, id: &str, error: Option<&str>) -> Response {
    use crate::http::pages::{escape, page};
    let err = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let action = escape(&k.options().api_url(&format!("/agent-approvals/{id}/review")));
    let Some(a) = auth else {
        let body = format!(
            "{err}<p>Sign in to review this request.</p><form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"action\" value=\"sign-in\">\
             <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\
             <label for=\"pw\">Password</label><input id=\"pw\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>"
        );
        return page(k, "Approval request", &body);
    };
    let (ap, agent) = match k.agents().approval(manager(a), id).await {
        Ok(ap) => {
            let agent = k.agents().get(manager(a), &ap.agent_id).await.map(|g| g.name).unwrap_or_default();
            (ap, agent)
        }
        Err(e) if e.is_client_error() => {
            let mut r = crate::http::pages::message_page(k, "Approval request", "No such approval request, or not one of your agents'.");
            *r.status_mut() = axum::http::StatusCode::NOT_FOUND;
            return r;
        }
        Err(e) => return ApiError(e).into_response(),
    };
    let args = serde_json::to_string_pretty(&ap.arguments).unwrap_or_default();
    let intro = format!(
        "<p>Your agent <strong>{}</strong> asks to do <strong>{}</strong> on <strong>{}</strong> with these arguments:</p><pre>{}</pre><p>Status: <strong>{}</strong>.</p>",
        escape(&agent),
        escape(&ap.action),
        escape(&ap.resource),
        escape(&args),
        escape(&ap.status)
    );
    let body = if ap.status == "pending" {
        format!(
            "{err}{intro}<form method=\"post\" action=\"{action}\">\
             <label for=\"pw\">Confirm with your password</label><input id=\"pw\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <label for=\"uses\">Identical calls to let through</label><input id=\"uses\" name=\"uses\" type=\"number\" min=\"1\" max=\"1000\" value=\"1\">\
             <button type=\"submit\" name=\"action\" value=\"approve\">Approve</button> <button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></form>"
        )
    } else {
        format!("{err}{intro}")
    };
    page(k, "Approval request", &body)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewForm {
    /// `approve`, `deny`, or `sign-in` (with `email`).
    pub action: String,
    #[serde(default)]
    pub email: Option<String>,
    /// The signed-in user's password (the fresh re-authentication), or the sign-in's.
    #[serde(default)]
    pub password: Option<String>,
    /// How many identical calls an approval lets through (1 to 1000).
    #[serde(default)]
    pub uses: Option<String>,
}

/// The review page's form: sign in, then approve or deny with the password.
#[utoipa::path(post, path = "/agent-approvals/{id}/review", tag = "agents", params(("id" = String, Path)),
    request_body(content = ReviewForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The outcome", content_type = "text/html", body = String),
              (status = 400, description = "A refusal", content_type = "text/html", body = String),
              (status = 401, description = "Not signed in", content_type = "text/html", body = String),
              (status = 403, description = "Wrong password", content_type = "text/html", body = String),
              (status = 404, description = "No such approval request", content_type = "text/html", body = String)))]
pub async fn review_submit(
    State(k): State<Kavach>,
    Ctx(ctx): Ctx,
    MaybeAuth(auth): MaybeAuth,
    Path(id): Path<String>,
    Body(f): crate::http::body::JsonOrForm<ReviewForm>,
) -> ApiResult<Response> {
    let refused = |k: &Kavach, e: &Error| {
        let mut r = crate::http::pages::message_page(k, "Approval request", &e.message);
        *r.status_mut() = crate::http::error::status_of(e.kind);
        r
    };
    match (f.action.as_str(), &auth) {
        ("sign-in", _) => match k.email_password().sign_in(&f.email.unwrap_or_default(), &f.password.unwrap_or_default(), &ctx).await {
            Ok(kavach_core::plugins::two_factor::SignInStep::TwoFactor(p)) => {
                let next = format!("{}/agent-approvals/{}/review", k.options().base_path.trim_end_matches('/'), kavach_core::text::url_encode(&id));
                Ok(crate::http::plugins::two_factor::pending_redirect(&k, &p, &next))
            }
            Ok(kavach_core::plugins::two_factor::SignInStep::SignedIn(out)) => {
                let session = std::sync::Arc::new(kavach_core::SessionWithUser::new(out.session.session.clone(), out.user.clone()));
                let signed = Authenticated { data: session, token: out.session.token.clone(), source: crate::http::cookies::Source::Cookie };
                let mut r = render_review(&k, Some(&signed), &id, None).await;
                r.headers_mut().append(header::SET_COOKIE, crate::http::cookies::set_session_cookie(&k, &out.session.token, true));
                Ok(r)
            }
            Err(e) if e.is_client_error() => {
                let mut r = render_review(&k, None, &id, Some(&e.message)).await;
                *r.status_mut() = crate::http::error::status_of(e.kind);
                Ok(r)
            }
            Err(e) => Err(e.into()),
        },
        ("approve" | "deny", Some(a)) => {
            let grant = match f.uses.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
                None => Grant::default(),
                Some(u) => match u.parse::<u32>() {
                    Ok(n) => Grant { uses: Some(n), valid_for: None },
                    Err(_) => return Ok(refused(&k, &bad("The number of calls is a whole number from 1 to 1000"))),
                },
            };
            let grant = (f.action == "approve").then_some(grant);
            match answer_approval(&k, &ctx, a, &id, grant, f.password.as_deref().filter(|p| !p.is_empty())).await {
                Ok(ap) if ap.status == "approved" => Ok(crate::http::pages::message_page(&k, "Approved", "Approved: the identical call now goes through.")),
                Ok(_) => Ok(crate::http::pages::message_page(&k, "Denied", "Denied: the agent was told no.")),
                Err(e) if e.is_client_error() => Ok(refused(&k, &e)),
                Err(e) => Err(e.into()),
            }
        }
        ("approve" | "deny", None) => Ok(refused(&k, &Error::unauthorized())),
        _ => Ok(refused(&k, &bad("action is approve, deny or sign-in"))),
    }
}

/// Set a budget on an agent, on an organization's agents, or on the caller's own.
#[utoipa::path(post, path = "/agent-budgets", request_body = Budget, tag = "agents",
    responses((status = 200, body = Budget), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn set_budget(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<Budget>) -> ApiResult<Json<Budget>> {
    Ok(Json(k.agents().set_budget(manager(&a), b, &ctx).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct BudgetQuery {
    pub agent_id: String,
}

/// The budgets that apply to an agent (its own and its owner's).
#[utoipa::path(get, path = "/agent-budgets", params(BudgetQuery), tag = "agents",
    responses((status = 200, body = Vec<Budget>), (status = 400), (status = 401), (status = 404)))]
pub async fn budgets(
    State(k): State<Kavach>,
    headers: HeaderMap,
    MaybeAuth(auth): MaybeAuth,
    QueryParams(q): QueryParams<BudgetQuery>,
) -> ApiResult<Json<Vec<Budget>>> {
    let c = caller(&k, &headers, auth, false).await?;
    Ok(Json(k.agents().budgets(c.manager(), &q.agent_id).await?))
}

/// Remove a budget.
#[utoipa::path(delete, path = "/agent-budgets/{id}", params(("id" = String, Path)), tag = "agents",
    responses((status = 200, description = "`{ success: true }`"), (status = 401), (status = 404)))]
pub async fn delete_budget(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    k.agents().delete_budget(manager(&a), &id, &ctx).await?;
    Ok(Json(json!({ "success": true })))
}

// ---- AuthZEN ----

/// An AuthZEN entity: `{ type, id, properties? }`.
#[derive(Clone, Deserialize, ToSchema)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Value>,
}

/// An AuthZEN action: `{ name, properties? }`.
#[derive(Clone, Deserialize, ToSchema)]
pub struct Action {
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Value>,
}

/// An access evaluation request (AuthZEN 1.0 §6.1). Kavach reads: the agent from
/// `subject` `{type: "agent", id}` (or from `context.agent`, the MCP binding's form); the
/// resource as `"{type}:{id}"`; the action's `name`; the call's arguments from
/// `resource.properties`; and, from a resource server only, the agent's IP from `context.ip`.
#[derive(Clone, Deserialize, ToSchema)]
pub struct EvaluationRequest {
    pub subject: Entity,
    pub resource: Entity,
    pub action: Action,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
}

/// One item of a batch: any of the four replaces the request's default.
#[derive(Clone, Deserialize, ToSchema)]
pub struct EvaluationItem {
    #[serde(default)]
    pub subject: Option<Entity>,
    #[serde(default)]
    pub resource: Option<Entity>,
    #[serde(default)]
    pub action: Option<Action>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
}

#[derive(Clone, Deserialize, ToSchema, Default)]
pub struct EvaluationsOptions {
    /// `execute_all` (default), `deny_on_first_deny` or `permit_on_first_permit`.
    #[serde(default)]
    pub evaluations_semantic: Option<String>,
}

/// A batch of access evaluations (AuthZEN 1.0 §7): the top-level `subject`, `resource`,
/// `action` and `context` are the defaults of every item.
#[derive(Clone, Deserialize, ToSchema)]
pub struct EvaluationsRequest {
    #[serde(flatten)]
    pub defaults: EvaluationItem,
    #[serde(default)]
    pub evaluations: Vec<EvaluationItem>,
    #[serde(default)]
    pub options: Option<EvaluationsOptions>,
}

/// At most this many evaluations in one batch.
const MAX_BATCH: usize = 100;

fn bad(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::bad_request(Code::ValidationError, message)
}

/// The agent an AuthZEN request is about, if `c` may ask about it (as for evaluations).
async fn asked_agent<'r>(k: &Kavach, c: &Caller, subject: &'r Entity, context: Option<&'r Value>) -> Result<&'r str, Error> {
    let agent_id = match context.and_then(|c| c.get("agent")).and_then(Value::as_str) {
        Some(a) => a,
        None if subject.kind == "agent" => subject.id.as_str(),
        None => return Err(bad("The subject is an agent ({\"type\": \"agent\", \"id\": ...}), or context.agent names one")),
    };
    match c {
        Caller::Agent(a, _) if a.id != agent_id => Err(Error::forbidden(Code::AgentActionNotAllowed, "An agent may ask only about itself")),
        Caller::User(u) => {
            k.agents()
                .get(Manager::User(&u.data.user), agent_id)
                .await
                .map_err(|_| Error::forbidden(Code::AgentActionNotAllowed, "You do not manage this agent"))?;
            Ok(agent_id)
        }
        _ => Ok(agent_id),
    }
}

/// An AuthZEN action search: `{ subject, resource, context? }`.
#[derive(Deserialize, ToSchema)]
pub struct ActionSearch {
    pub subject: Entity,
    pub resource: Entity,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub page: Option<Value>,
}

/// An AuthZEN resource search: `{ subject, action, resource: { type }, context? }`.
#[derive(Deserialize, ToSchema)]
pub struct ResourceSearch {
    pub subject: Entity,
    pub action: Action,
    pub resource: ResourceType,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub page: Option<Value>,
}

/// The searched-for resource: its `type` (an `id` is ignored).
#[derive(Deserialize, ToSchema)]
pub struct ResourceType {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub id: Option<String>,
}

/// AuthZEN action search: the actions the agent's permissions allow on the resource (before
/// the constraints of the moment: the evaluation applies those): `{ page, results: [{ name }] }`.
#[utoipa::path(post, path = "/access/v1/search/action", request_body = ActionSearch, tag = "agents",
    responses((status = 200, description = "`{ page: { next_token: \"\" }, results: [{ name }] }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn search_action(State(k): State<Kavach>, headers: HeaderMap, MaybeAuth(auth): MaybeAuth, Body(r): Body<ActionSearch>) -> Response {
    let c = match caller(&k, &headers, auth, true).await {
        Ok(c) => c,
        Err(e) => return challenge(e),
    };
    let run = async {
        let agent = asked_agent(&k, &c, &r.subject, r.context.as_ref()).await?;
        let resource = format!("{}:{}", r.resource.kind, r.resource.id);
        let names = match k.agents().allowed_actions(agent, &resource).await {
            Err(e) if e.is(Code::AgentNotFound) => vec![],
            other => other?,
        };
        Ok::<_, Error>(json!({ "page": { "next_token": "" }, "results": names.iter().map(|n| json!({ "name": n })).collect::<Vec<_>>() }))
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

/// AuthZEN resource search: the resources of the type (literal ones the permissions name)
/// the agent may do the action on: `{ page, results: [{ type, id }] }`.
#[utoipa::path(post, path = "/access/v1/search/resource", request_body = ResourceSearch, tag = "agents",
    responses((status = 200, description = "`{ page: { next_token: \"\" }, results: [{ type, id }] }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn search_resource(State(k): State<Kavach>, headers: HeaderMap, MaybeAuth(auth): MaybeAuth, Body(r): Body<ResourceSearch>) -> Response {
    let c = match caller(&k, &headers, auth, true).await {
        Ok(c) => c,
        Err(e) => return challenge(e),
    };
    let run = async {
        let agent = asked_agent(&k, &c, &r.subject, r.context.as_ref()).await?;
        let found = match k.agents().allowed_resources(agent, &r.action.name, &r.resource.kind).await {
            Err(e) if e.is(Code::AgentNotFound) => vec![],
            other => other?,
        };
        let results: Vec<Value> = found
            .iter()
            .filter_map(|res| res.split_once(':').map(|(t, id)| json!({ "type": t, "id": id })).or_else(|| Some(json!({ "type": res, "id": "" }))))
            .collect();
        Ok::<_, Error>(json!({ "page": { "next_token": "" }, "results": results }))
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

/// Decide one evaluation for `c`; a refusal of the caller (not of the call) is an error.
async fn evaluate_one(k: &Kavach, c: &Caller, ctx: &RequestContext, r: &EvaluationRequest) -> Result<Value, Error> {
    let agent_id = asked_agent(k, c, &r.subject, r.context.as_ref()).await?;
    let ip = match c {
        Caller::Agent(..) | Caller::User(_) => ctx.ip,
        Caller::Client => match r.context.as_ref().and_then(|c| c.get("ip")) {
            Some(Value::String(s)) => Some(s.parse().map_err(|_| bad("context.ip is not an IP address"))?),
            Some(_) => return Err(bad("context.ip is a string")),
            None => None,
        },
    };
    if r.resource.kind.is_empty() || r.resource.id.is_empty() {
        return Err(bad("resource.type and resource.id are required"));
    }
    let resource = format!("{}:{}", r.resource.kind, r.resource.id);
    let null = Value::Null;
    let arguments = r.resource.properties.as_ref().unwrap_or(&null);
    let session = match c {
        Caller::Agent(_, s) => s.as_deref(),
        _ => None,
    };
    let call = Call { action: &r.action.name, resource: &resource, arguments, ip, session };
    match k.agents().decide(agent_id, &call, ctx).await {
        Ok(d) => Ok(answer(&d)),
        // A resource server asking about an agent that does not exist: a plain no.
        Err(e) if e.is(Code::AgentNotFound) => Ok(json!({ "decision": false, "context": { "reason": Code::AgentNotFound.as_str() } })),
        Err(e) => Err(e),
    }
}

/// `{ decision, context: { reason, outcome, audit_id, approval_id?, retry_after? } }`.
fn answer(d: &Decision) -> Value {
    let outcome = match d.decision {
        Verdict::Allowed => "allowed",
        Verdict::Denied => "denied",
        Verdict::Pending => "pending",
    };
    let mut ctx = json!({ "reason": d.reason.as_str(), "outcome": outcome, "audit_id": d.audit_id });
    if let Some(m) = ctx.as_object_mut() {
        if let Some(a) = &d.approval_id {
            m.insert("approval_id".into(), json!(a));
        }
        if let Some(u) = &d.approval_url {
            m.insert("approval_url".into(), json!(u));
        }
        if let Some(s) = d.retry_after {
            m.insert("retry_after".into(), json!(s));
        }
        if !d.delegation_chain.is_empty() {
            m.insert("act".into(), json!(d.delegation_chain));
        }
    }
    json!({ "decision": d.allowed(), "context": ctx })
}

fn challenge(e: ApiError) -> Response {
    let unauthorized = e.0.kind == Kind::Unauthorized;
    let mut r = e.into_response();
    if unauthorized {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// AuthZEN access evaluation: may this agent do this action on this resource? Every
/// decision is recorded; a pending approval is `decision: false` with
/// `context.outcome = "pending"` and `context.approval_id`.
#[utoipa::path(post, path = "/access/v1/evaluation", request_body = EvaluationRequest, tag = "agents",
    responses((status = 200, description = "`{ decision, context }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn evaluation(State(k): State<Kavach>, Ctx(ctx): Ctx, headers: HeaderMap, MaybeAuth(auth): MaybeAuth, Body(r): Body<EvaluationRequest>) -> Response {
    let c = match caller(&k, &headers, auth, true).await {
        Ok(c) => c,
        Err(e) => return challenge(e),
    };
    match evaluate_one(&k, &c, &ctx, &r).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

/// AuthZEN access evaluations (a batch, with `options.evaluations_semantic`): `{ evaluations: [...] }`,
/// cut after the deciding item for `deny_on_first_deny` and `permit_on_first_permit`.
#[utoipa::path(post, path = "/access/v1/evaluations", request_body = EvaluationsRequest, tag = "agents",
    responses((status = 200, description = "`{ evaluations: [{ decision, context }] }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn evaluations(
    State(k): State<Kavach>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    MaybeAuth(auth): MaybeAuth,
    Body(r): Body<EvaluationsRequest>,
) -> Response {
    let c = match caller(&k, &headers, auth, true).await {
        Ok(c) => c,
        Err(e) => return challenge(e),
    };
    let semantic = r.options.as_ref().and_then(|o| o.evaluations_semantic.as_deref()).unwrap_or("execute_all");
    if !matches!(semantic, "execute_all" | "deny_on_first_deny" | "permit_on_first_permit") {
        return ApiError(bad("options.evaluations_semantic is execute_all, deny_on_first_deny or permit_on_first_permit")).into_response();
    }
    if r.evaluations.len() > MAX_BATCH {
        return ApiError(bad(format!("At most {MAX_BATCH} evaluations per request"))).into_response();
    }
    // No evaluations: the request is one evaluation.
    let d = &r.defaults;
    if r.evaluations.is_empty() {
        let (Some(subject), Some(resource), Some(action)) = (d.subject.clone(), d.resource.clone(), d.action.clone()) else {
            return ApiError(bad("subject, resource and action are required")).into_response();
        };
        let one = EvaluationRequest { subject, resource, action, context: d.context.clone() };
        return match evaluate_one(&k, &c, &ctx, &one).await {
            Ok(v) => Json(v).into_response(),
            Err(e) => ApiError(e).into_response(),
        };
    }
    let mut out = Vec::with_capacity(r.evaluations.len());
    for item in &r.evaluations {
        let merged =
            match (item.subject.as_ref().or(d.subject.as_ref()), item.resource.as_ref().or(d.resource.as_ref()), item.action.as_ref().or(d.action.as_ref())) {
                (Some(s), Some(res), Some(a)) => Some(EvaluationRequest {
                    subject: s.clone(),
                    resource: res.clone(),
                    action: a.clone(),
                    context: item.context.clone().or_else(|| d.context.clone()),
                }),
                _ => None,
            };
        let v = match merged {
            None => json!({ "decision": false, "context": { "error": { "status": 400, "message": "subject, resource and action are required" } } }),
            Some(one) => match evaluate_one(&k, &c, &ctx, &one).await {
                Ok(v) => v,
                // The caller may not ask about this agent: that item is refused, the batch goes on.
                Err(e) if e.is_client_error() => json!({ "decision": false, "context": { "error": { "status": status_of(&e), "message": e.message } } }),
                Err(e) => return ApiError(e).into_response(),
            },
        };
        let decision = v.get("decision").and_then(Value::as_bool).unwrap_or(false);
        out.push(v);
        if (semantic == "deny_on_first_deny" && !decision) || (semantic == "permit_on_first_permit" && decision) {
            break;
        }
    }
    Json(json!({ "evaluations": out })).into_response()
}

fn status_of(e: &Error) -> u16 {
    match e.kind {
        Kind::Unauthorized => 401,
        Kind::Forbidden => 403,
        Kind::NotFound => 404,
        _ => 400,
    }
}

/// The AuthZEN Policy Decision Point metadata (AuthZEN 1.0 §9).
#[utoipa::path(get, path = "/.well-known/authzen-configuration", tag = "agents",
    responses((status = 200, description = "`{ policy_decision_point, access_evaluation_endpoint, access_evaluations_endpoint }`")))]
pub async fn metadata(State(k): State<Kavach>) -> Json<Value> {
    let pdp = k.options().issuer();
    Json(json!({
        "policy_decision_point": pdp,
        "access_evaluation_endpoint": format!("{pdp}/access/v1/evaluation"),
        "access_evaluations_endpoint": format!("{pdp}/access/v1/evaluations"),
        "search_action_endpoint": format!("{pdp}/access/v1/search/action"),
        "search_resource_endpoint": format!("{pdp}/access/v1/search/resource"),
    }))
}

/// A backchannel authentication request (OpenID CIBA, poll mode), as the form it is sent in.
#[derive(Deserialize, ToSchema)]
pub struct CibaForm {
    /// RFC 9396 authorization details (a JSON list): what the owner approves, exactly.
    pub authorization_details: String,
    pub scope: Option<String>,
    /// RFC 8707 resource indicator.
    pub resource: Option<String>,
    /// Shown to the approver (at most 128 characters).
    pub binding_message: Option<String>,
    pub client_id: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

/// OpenID CIBA's backchannel authentication endpoint (poll mode), for agents' clients:
/// the agent's owner is asked to approve the exact `authorization_details` (email, review
/// page); the agent then polls `/oauth2/token` with `grant_type=urn:openid:params:grant-type:ciba`.
#[utoipa::path(post, path = "/oauth2/bc-authorize", tag = "agents",
    request_body(content = CibaForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "`{ auth_req_id, expires_in, interval }`"),
              (status = 400, description = "invalid_request, invalid_scope, invalid_target, unauthorized_client", body = super::oauth::OAuthErrorBody),
              (status = 401, description = "invalid_client", body = super::oauth::OAuthErrorBody)))]
pub async fn backchannel_authorize(State(k): State<Kavach>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (client, form) = match super::oauth::token::client_request(&k, &headers, &body, "/oauth2/bc-authorize").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match k.tokens().ciba_request(&client, &form).await {
        Ok(v) => super::oauth::json_no_store(axum::http::StatusCode::OK, v),
        Err(e) => super::oauth::error_response(&e, false),
    }
}

/// The metadata at the origin's root, the base path appended (AuthZEN 1.0 §9.1).
pub(crate) fn well_known_router<S: Clone + Send + Sync + 'static>(k: &Kavach) -> axum::Router<S> {
    let path = k.options().base_path.trim_end_matches('/').to_owned();
    if path.is_empty() {
        return axum::Router::new();
    }
    axum::Router::new().route(&format!("{AUTHZEN_METADATA}{path}"), get(metadata)).with_state(k.clone())
}

fn no_store(mut r: Response) -> Response {
    crate::http::no_store(&mut r);
    r
}
