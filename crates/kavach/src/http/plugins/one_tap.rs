//! Google One Tap over HTTP (`[one_tap]`): better-auth's `POST /one-tap/callback` and
//! body, so `oneTapClient()` works unchanged; and `POST /one-tap/nonce`, a nonce for
//! Google's `nonce` setting that the ID token must carry back (single use).

use crate::Kavach;
use crate::http::Ctx;
use crate::http::body::Body;
use crate::http::error::ApiResult;
use crate::http::plugins::email_password::sign_in_answer;
use crate::http::table::{Capability, Route};
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "one_tap", enabled: |o| o.one_tap.enabled, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/one-tap/callback", || post(callback)).login().limit(10),
        Route::new(Method::POST, "/one-tap/nonce", || post(nonce)).limit(30),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(callback, nonce),
    components(schemas(CallbackBody)),
    tags((name = "one-tap", description = "Google One Tap (`[one_tap]`); better-auth's one-tap route.")),
)]
struct Doc;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CallbackBody {
    /// The ID token (`credential`) Google's One Tap gave the page.
    pub id_token: String,
    /// Where the page goes once signed in (a path or a trusted origin); checked, not followed.
    #[serde(default, rename = "callbackURL")]
    pub callback_url: Option<String>,
}

/// Sign in with a Google One Tap ID token. A user with two-factor on gets
/// `{ twoFactorRedirect: true }` and no session yet.
#[utoipa::path(post, path = "/one-tap/callback", request_body = CallbackBody, tag = "one-tap",
    responses((status = 200, description = "`{ token, user }` with the session cookie, or `{ twoFactorRedirect: true }`"),
              (status = 400, description = "INVALID_ID_TOKEN"),
              (status = 403, description = "ACCOUNT_NOT_LINKED, SIGN_UP_DISABLED, BANNED_USER, INVALID_CALLBACK_URL"), (status = 429),
              (status = 503, description = "Google's keys could not be fetched")))]
pub async fn callback(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): Body<CallbackBody>) -> ApiResult<Response> {
    if let Some(url) = &b.callback_url {
        k.check_callback_url(url)?;
    }
    let res = k.one_tap().sign_in(&b.id_token, &ctx).await.map(|s| s.step);
    sign_in_answer(&k, res, b.callback_url, true)
}

/// A nonce to give Google's One Tap (`nonce`); the ID token carries it back, once.
#[utoipa::path(post, path = "/one-tap/nonce", tag = "one-tap", responses((status = 200, description = "`{ nonce }`"), (status = 429)))]
pub async fn nonce(State(k): State<Kavach>) -> ApiResult<Response> {
    Ok(Json(json!({ "nonce": k.one_tap().nonce().await? })).into_response())
}
