//! One log line per request: method, route (the template, never the raw path), status,
//! duration and a request id, at `debug`; server errors (5xx) at `error`. The request
//! id comes from a sane `X-Request-Id` header (set by a proxy) or is made here; it is
//! returned as `X-Request-Id`, and every line logged while handling the request carries
//! it (the `request` span).

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

/// The request's id: the caller's `X-Request-Id` when it is short and plain, else a new one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
        .map(str::to_owned)
        .unwrap_or_else(new_id)
}

/// A new request id: this process's random prefix and a counter (unique per process,
/// and across instances by the prefix; no random number per request).
fn new_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| kavach_core::crypto::new_id().chars().take(10).collect());
    format!("{prefix}-{:x}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Run `handle` for `req` inside its `request` span, then log it under `route`.
pub async fn logged<F: std::future::Future<Output = Response>>(route: &str, req: Request, handle: impl FnOnce(Request) -> F) -> Response {
    let id = request_id(&req);
    let method = req.method().clone();
    let start = std::time::Instant::now();
    let span = tracing::info_span!("request", id = %id);
    let mut resp = handle(req).instrument(span).await;
    let status = resp.status().as_u16();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(request_id = %id, %method, route, status, duration_ms = ms, "request failed");
    } else {
        tracing::debug!(request_id = %id, %method, route, status, duration_ms = ms, "request");
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(HEADER, v);
    }
    resp
}

/// The logging layer for routes outside the API (ops endpoints, root discovery documents).
pub async fn root(req: Request, next: Next) -> Response {
    let path: String = req.uri().path().chars().take(128).collect();
    logged(&path, req, |req| next.run(req)).await
}
