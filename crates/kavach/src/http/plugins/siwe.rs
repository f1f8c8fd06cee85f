//! Sign-In with Ethereum over HTTP (`[siwe]`): better-auth's `siwe()` routes and bodies
//! (`POST /siwe/nonce`, its alias `/siwe/get-nonce`, `POST /siwe/verify`), so
//! `siweClient()` works unchanged; and the linked wallets of the signed-in user
//! (`/siwe/link`, `/siwe/wallets`, `/siwe/unlink`).

use crate::Kavach;
use crate::http::body::Body;
use crate::http::error::ApiResult;
use crate::http::plugins::email_password::sign_in_answer_with;
use crate::http::table::{Capability, Route};
use crate::http::{Auth, Ctx};
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kavach_core::plugins::siwe::{VerifyRequest, Wallet};
use serde::Deserialize;
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

pub const CAPABILITY: Capability = Capability { name: "siwe", enabled: |o| o.siwe.enabled, requires: &[], routes, openapi: Doc::openapi };

fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/siwe/nonce", || post(nonce)).limit(30),
        Route::new(Method::POST, "/siwe/get-nonce", || post(get_nonce)).limit(30),
        Route::new(Method::POST, "/siwe/verify", || post(verify)).login().limit(10),
        Route::new(Method::POST, "/siwe/link", || post(link)).signed_in().limit(10),
        Route::new(Method::GET, "/siwe/wallets", || get(wallets)).signed_in(),
        Route::new(Method::POST, "/siwe/unlink", || post(unlink)).signed_in().limit(10),
    ]
}

#[derive(OpenApi)]
#[openapi(
    paths(nonce, get_nonce, verify, link, wallets, unlink),
    components(schemas(VerifyBody, LinkBody, UnlinkBody)),
    tags((name = "siwe", description = "Sign-In with Ethereum (`[siwe]`, EIP-4361); better-auth's siwe routes, and the signed-in user's wallets.")),
)]
struct Doc;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The EIP-4361 message the wallet signed, exactly.
    pub message: String,
    /// The signature: `0x` and hex digits (65 bytes, or a contract wallet's).
    pub signature: String,
    /// An address for the user this sign-in creates (kept unverified; ignored when taken).
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    pub message: String,
    pub signature: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UnlinkBody {
    pub wallet_address: String,
    pub chain_id: u64,
}

async fn new_nonce(k: &Kavach) -> ApiResult<Response> {
    let nonce = k.siwe().nonce().await?;
    Ok(Json(json!({ "nonce": nonce })).into_response())
}

/// A nonce for the next message: single use, valid `siwe.nonce_ttl` (no body).
#[utoipa::path(post, path = "/siwe/nonce", tag = "siwe", responses((status = 200, description = "`{ nonce }`"), (status = 429)))]
pub async fn nonce(State(k): State<Kavach>) -> ApiResult<Response> {
    new_nonce(&k).await
}

/// The same as `/siwe/nonce` (better-auth's other path).
#[utoipa::path(post, path = "/siwe/get-nonce", tag = "siwe", responses((status = 200, description = "`{ nonce }`"), (status = 429)))]
pub async fn get_nonce(State(k): State<Kavach>) -> ApiResult<Response> {
    new_nonce(&k).await
}

/// Sign in with a signed message. The wallet's user (created on first use when sign-up
/// is allowed) gets a session; a user with two-factor on gets `{ twoFactorRedirect: true }`.
#[utoipa::path(post, path = "/siwe/verify", request_body = VerifyBody, tag = "siwe",
    responses((status = 200, description = "`{ token, success: true, user: { id, walletAddress, chainId } }` with the session cookie, or `{ twoFactorRedirect: true }`"),
              (status = 400, description = "INVALID_SIWE_MESSAGE, INVALID_EMAIL"),
              (status = 401, description = "UNAUTHORIZED_INVALID_OR_EXPIRED_NONCE, UNAUTHORIZED_SIWE_MESSAGE_MISMATCH, UNAUTHORIZED_SIWE_MESSAGE_EXPIRED, UNAUTHORIZED_SIWE_MESSAGE_NOT_YET_VALID, INVALID_SIWE_SIGNATURE"),
              (status = 403, description = "SIGN_UP_DISABLED, BANNED_USER"), (status = 429)))]
pub async fn verify(State(k): State<Kavach>, Ctx(ctx): Ctx, Body(b): Body<VerifyBody>) -> ApiResult<Response> {
    let req = VerifyRequest { message: b.message, signature: b.signature, email: b.email };
    let res = k.siwe().verify(&req, &ctx).await;
    let wallet = res.as_ref().ok().map(|v| v.wallet.clone());
    sign_in_answer_with(&k, res.map(|v| v.step), true, |out| {
        let w = wallet.as_ref();
        json!({
            "token": out.session.token,
            "success": true,
            "user": { "id": out.user.id, "walletAddress": w.map(|w| &w.address), "chainId": w.map(|w| w.chain_id) },
        })
    })
}

/// Link the wallet that signed the message to the signed-in user (a fresh session).
#[utoipa::path(post, path = "/siwe/link", request_body = LinkBody, tag = "siwe",
    responses((status = 200, description = "The wallet: `{ address, chainId, isPrimary, createdAt }`"),
              (status = 400, description = "INVALID_SIWE_MESSAGE"), (status = 401, description = "the signature or nonce is not valid"),
              (status = 403, description = "SESSION_NOT_FRESH"), (status = 409, description = "WALLET_ALREADY_LINKED")))]
pub async fn link(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<LinkBody>) -> ApiResult<Json<Wallet>> {
    Ok(Json(k.siwe().link(&a.data.session, &b.message, &b.signature, &ctx).await?))
}

/// The signed-in user's wallets, the primary first.
#[utoipa::path(get, path = "/siwe/wallets", tag = "siwe", responses((status = 200, description = "`[{ address, chainId, isPrimary, createdAt }]`"), (status = 401)))]
pub async fn wallets(State(k): State<Kavach>, Auth(a): Auth) -> ApiResult<Json<Vec<Wallet>>> {
    Ok(Json(k.siwe().wallets(&a.data.user.id).await?))
}

/// Unlink a wallet of the signed-in user (a fresh session). The last wallet of a user with
/// no password and no verified address stays.
#[utoipa::path(post, path = "/siwe/unlink", request_body = UnlinkBody, tag = "siwe",
    responses((status = 200, description = "`{ success: true }`"), (status = 400), (status = 401), (status = 403, description = "SESSION_NOT_FRESH"),
              (status = 404, description = "WALLET_NOT_FOUND"), (status = 409, description = "LAST_SIGN_IN_METHOD")))]
pub async fn unlink(State(k): State<Kavach>, Ctx(ctx): Ctx, Auth(a): Auth, Body(b): Body<UnlinkBody>) -> ApiResult<Response> {
    k.siwe().unlink(&a.data.session, &b.wallet_address, b.chain_id, &ctx).await?;
    Ok(Json(json!({ "success": true })).into_response())
}
