//! Operations endpoints: liveness, readiness (checks the database) and metrics.

use crate::Kavach;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

pub fn router<S: Clone + Send + Sync + 'static>(k: Kavach) -> Router<S> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn(super::log::root))
        .with_state(k)
}

async fn readyz(State(k): State<Kavach>) -> impl IntoResponse {
    match tokio::time::timeout(std::time::Duration::from_secs(2), k.db().ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

async fn metrics(State(k): State<Kavach>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], k.metrics().render())
}
