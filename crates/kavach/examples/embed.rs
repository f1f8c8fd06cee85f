//! An axum app that embeds Kavach: the auth API under /api/kavach, a JSON API
//! that needs a signed-in user, and a page that sends browsers to a sign-in page.
//!
//! Run it with `cargo run -p kavach --example embed`, then:
//!   curl -c jar -H 'content-type: application/json' \
//!        -d '{"email":"ann@example.com","password":"a long passphrase","name":"Ann"}' \
//!        http://localhost:4000/api/kavach/sign-up/email
//!   curl -b jar http://localhost:4000/api/me
//!   curl -i -H 'accept: text/html' http://localhost:4000/dashboard     # 302 to /sign-in?next=/dashboard

use axum::extract::FromRef;
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use kavach::{EmailPasswordOptions, Kavach, RequireUser, Session};
use std::net::SocketAddr;

#[derive(Clone)]
struct AppState {
    kavach: Kavach,
}

// The extractors find the Kavach handle in the app state.
impl FromRef<AppState> for Kavach {
    fn from_ref(s: &AppState) -> Kavach {
        s.kavach.clone()
    }
}

async fn me(RequireUser(user): RequireUser) -> Json<kavach::User> {
    Json(user)
}

async fn dashboard(Session(s): Session) -> Html<String> {
    Html(format!("<h1>Hello {}</h1><p>Session expires {}</p>", s.user.email, s.session.expires_at.to_iso()))
}

/// Build the app; `main` serves it, the tests call it in-process.
pub async fn app(database_url: &str) -> Result<Router, kavach::Error> {
    let kavach = Kavach::builder()
        .database_url(database_url)
        .secret(std::env::var("KAVACH_SECRET").unwrap_or_else(|_| "example-secret-change-me-0123456789abcdef".into()))
        .base_url("http://localhost:4000")
        .base_path("/api/kavach")
        // The example signs users in right after sign-up; production apps usually keep verification on.
        .email_password(EmailPasswordOptions { require_email_verification: false, ..Default::default() })
        .build()
        .await?;
    let state = AppState { kavach: kavach.clone() };
    Ok(Router::new()
        .nest("/api/kavach", kavach.router())
        .route("/api/me", get(me))
        .route("/dashboard", get(dashboard).layer(kavach.require_auth().redirect_to("/sign-in")))
        .route("/sign-in", get(|| async { Html("<p>Your sign-in page here</p>") }))
        .with_state(state))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app = app("sqlite://example-data/auth.db").await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
    println!("listening on http://localhost:4000");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}
