//! The benchmark baseline: a minimal axum server whose `GET /get-session` builds
//! and serialises a JSON body shaped like Kavach's get-session answer, with no
//! authentication and no database. Kavach's figure is reported as a ratio of this.
//! Usage: kavach-bench-baseline 127.0.0.1:PORT

use axum::Json;
use axum::routing::get;
use serde_json::{Value, json};

async fn get_session() -> Json<Value> {
    Json(json!({
        "session": {
            "id": "bkBbluaMTqw9K18qFhbCPmlVTTgZHXVS",
            "userId": "3dxNNsQE8maswXDOtQqVpnLKCuxpp5IS",
            "token": "7LYVkCbtBYQcn0fg0Cl_6gcpF1CMWtsU_emoUgu3FXU",
            "expiresAt": "2026-11-29T15:50:46.997Z",
            "ipAddress": "127.0.0.1",
            "userAgent": "wrk",
            "createdAt": "2026-11-22T15:50:46.997Z",
            "updatedAt": "2026-11-22T15:50:46.997Z"
        },
        "user": {
            "id": "3dxNNsQE8maswXDOtQqVpnLKCuxpp5IS",
            "email": "bench@example.com",
            "name": "Bench",
            "emailVerified": true,
            "image": null,
            "createdAt": "2026-11-22T15:50:46.953Z",
            "updatedAt": "2026-11-22T15:50:46.953Z"
        }
    }))
}

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3200".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("baseline listening on http://{}", listener.local_addr().unwrap());
    axum::serve(listener, axum::Router::new().route("/get-session", get(get_session))).await.expect("serve");
}
