//! Reading the audit log over HTTP (with `[admin]` on): query with filters and a cursor,
//! stream an export (JSON Lines or CSV) with no row cap, and get a signed checkpoint of the
//! chain's head to keep off the box. Each needs a platform role holding `audit: read` (or
//! `audit: export`): the built-in admin roles do, and an auditor role holds only those
//! (`[admin.roles.auditor] audit = ["read", "export"]`). Reading and exporting are audited.

use crate::Kavach;
use crate::http::body::QueryParams;
use crate::http::error::{ApiError, ApiResult};
use crate::http::table::{Capability, Route};
use crate::http::{Auth, Authenticated, Ctx};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kavach_core::audit::{self, Event, EventKind, Query, Record};
use kavach_core::{Code, Error};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, OpenApi};

pub const CAPABILITY: Capability = Capability { name: "audit", enabled: |o| o.admin.enabled, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/audit/events", || get(events)).signed_in().limit(120),
        Route::new(Method::GET, "/audit/export", || get(export)).signed_in().limit(10),
        Route::new(Method::GET, "/audit/checkpoint", || get(checkpoint)).signed_in().limit(30),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(events, export, checkpoint),
    tags((name = "audit", description = "The audit log (`[admin]` on): query, export, signed checkpoints; for roles holding `audit: read | export`.")),
)]
struct Doc;

/// The caller's platform role must hold `audit: <action>` (never from an impersonation).
fn require(k: &Kavach, a: &Authenticated, action: &str) -> Result<(), ApiError> {
    let ok = a.data.session.impersonated_by.is_none() && k.admin().permissions(&a.data.user).is_ok_and(|p| p.can("audit", action));
    if ok { Ok(()) } else { Err(ApiError(Error::forbidden(Code::AdminNotAllowed, format!("Reading the audit log needs audit: {action}")))) }
}

fn shown(r: &Record) -> Value {
    json!({
        "seq": r.seq, "id": r.id, "createdAt": r.created_at, "kind": r.kind, "userId": r.user_id,
        "ipAddress": r.ip_address, "userAgent": r.user_agent,
        "data": serde_json::from_str::<Value>(&r.data).unwrap_or(Value::Null), "prevHash": r.prev_hash, "hash": r.hash,
    })
}

async fn record_read(k: &Kavach, a: &Authenticated, ctx: &kavach_core::RequestContext, kind: EventKind, q: &Query, extra: (&str, Value)) -> Result<(), Error> {
    let filter = json!({ "kind": q.kind, "userId": q.user_id, "agentId": q.agent_id, "since": q.since, "until": q.until, "after": q.after });
    audit::append(k.db(), Event::new(kind, Some(&a.data.user.id), ctx).with("filter", filter).with(extra.0, extra.1)).await
}

/// Records matching the filters, oldest first: `{ events, nextCursor }` (pass `nextCursor`
/// as `after` for the next page; `null` on the last).
#[utoipa::path(get, path = "/audit/events", params(Query), tag = "audit",
    responses((status = 200, description = "`{ events, nextCursor }`"), (status = 400), (status = 401), (status = 403)))]
pub async fn events(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, QueryParams(q): QueryParams<Query>) -> ApiResult<Json<Value>> {
    require(&k, &a, "read")?;
    let (recs, next) = audit::query(k.db(), &q).await?;
    record_read(&k, &a, &ctx, EventKind::AuditRead, &q, ("records", json!(recs.len()))).await?;
    Ok(Json(json!({ "events": recs.iter().map(shown).collect::<Vec<_>>(), "nextCursor": next })))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `jsonl` (default) or `csv` (RFC 4180).
    pub format: Option<String>,
    pub kind: Option<String>,
    pub user_id: Option<String>,
    pub agent_id: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

/// Every record matching the filters, streamed (no row cap): JSON Lines, or CSV with a
/// header line. The records are read a page at a time, so memory does not grow with the log.
#[utoipa::path(get, path = "/audit/export", params(ExportQuery), tag = "audit",
    responses((status = 200, description = "JSON Lines (`application/jsonl`) or CSV (`text/csv`)", content_type = "text/plain", body = String),
              (status = 400), (status = 401), (status = 403)))]
pub async fn export(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, QueryParams(e): QueryParams<ExportQuery>) -> ApiResult<Response> {
    require(&k, &a, "export")?;
    let csv = match e.format.as_deref() {
        None | Some("jsonl") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError(Error::bad_request(Code::ValidationError, "format is jsonl or csv"))),
    };
    let q = Query { kind: e.kind, user_id: e.user_id, agent_id: e.agent_id, since: e.since, until: e.until, after: None, limit: Some(1000) };
    // Refuse bad filters before the answer starts.
    audit::query(k.db(), &Query { limit: Some(1), ..q.clone() }).await?;
    record_read(&k, &a, &ctx, EventKind::AuditExported, &q, ("format", json!(if csv { "csv" } else { "jsonl" }))).await?;
    let db = k.db().clone();
    let first = csv.then(|| Ok::<_, std::io::Error>(axum::body::Bytes::from_static(audit::CSV_HEADER.as_bytes())));
    let pages = futures_util::stream::unfold(Some(q), move |state| {
        let db = db.clone();
        async move {
            let q = state?;
            match audit::query(&db, &q).await {
                Ok((recs, next)) => {
                    let mut chunk = String::new();
                    for r in &recs {
                        if csv {
                            chunk.push_str(&audit::csv_line(r));
                        } else {
                            chunk.push_str(&shown(r).to_string());
                            chunk.push('\n');
                        }
                    }
                    let state = next.map(|after| Query { after: Some(after), ..q });
                    Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk)), state))
                }
                Err(err) => {
                    tracing::error!(error = %err, "audit export stopped");
                    Some((Err(std::io::Error::other("the audit log could not be read")), None))
                }
            }
        }
    });
    let stream = futures_util::StreamExt::chain(futures_util::stream::iter(first), pages);
    let mut r = axum::body::Body::from_stream(stream).into_response();
    let ct = if csv { "text/csv; charset=utf-8" } else { "application/jsonl" };
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    crate::http::no_store(&mut r);
    Ok(r)
}

/// A signed checkpoint of the chain's head: `{ checkpoint }` (a compact JWS by the EdDSA key,
/// claims `seq` and `hash`). Keep it off the box; `kavach audit verify --checkpoint FILE`
/// later proves the chain up to it was not rewritten.
#[utoipa::path(get, path = "/audit/checkpoint", tag = "audit",
    responses((status = 200, description = "`{ checkpoint }`"), (status = 401), (status = 403)))]
pub async fn checkpoint(State(k): State<Kavach>, Auth(a): Auth) -> ApiResult<Json<Value>> {
    require(&k, &a, "read")?;
    Ok(Json(json!({ "checkpoint": k.audit_checkpoint().await? })))
}
