//! Sign-In with Ethereum over HTTP: better-auth's `siweClient()` from npm with viem's
//! message and signature; a wallet of a user with two-factor on gives a pending sign-in,
//! not a session; a contract wallet signs in through the configured JSON-RPC endpoint
//! (a stand-in chain answering `eth_call` as an EIP-1271 wallet does).

use crate::NO_VERIFY;
use crate::harness::*;
use kavach_core::plugins::siwe::message;
use kavach_testkit::dual;
use kavach_testkit::wallet::{address, key, sign};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

fn config(extra: &str) -> String {
    let path = temp_dir().join("kavach.toml");
    std::fs::write(&path, format!("[siwe]\nenabled = true\n{extra}\n[two_factor]\nenabled = true\n")).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A message for `address` with a fresh nonce from the server, as viem writes it.
async fn message_for(s: &Server, address: &str) -> String {
    let (status, v) = json(post(s, "/siwe/nonce", None, json!({})).await).await;
    assert_eq!(status, 200, "{v}");
    let host = s.origin().split_once("://").unwrap().1.to_owned();
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    format!(
        "{host} wants you to sign in with your Ethereum account:\n{address}\n\n\nURI: {}\nVersion: 1\nChain ID: 1\nNonce: {}\nIssued At: {now}",
        s.origin(),
        v["nonce"].as_str().unwrap()
    )
}

dual!(better_auth_siwe_client_works_against_kavach, |db| {
    let cfg = config("");
    let s = Server::start(db, &[("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    let out = better_auth_client(&s, "siwe.mjs", &[]);
    assert!(out.contains("siwe: 11 checks passed"), "{out}");
});

dual!(a_wallet_of_a_totp_user_gives_a_pending_sign_in_not_a_session, |db| {
    let cfg = config("");
    let s = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", &cfg)]);
    let cookie = sign_up(&s, "wallet@example.com").await;
    let key = key(5);
    let text = message_for(&s, &address(&key)).await;
    let (status, v) = json(post(&s, "/siwe/link", Some(&cookie), json!({ "message": text, "signature": sign(&key, &text) })).await).await;
    assert_eq!((status, v["address"].as_str()), (200, Some(address(&key).as_str())), "{v}");
    let uri = totp_on(&s, &cookie).await;
    let text = message_for(&s, &address(&key)).await;
    let r = post(&s, "/siwe/verify", None, json!({ "message": text, "signature": sign(&key, &text) })).await;
    let session = pending_until_totp(&s, r, &uri).await;
    let (_, me) = json(get(&s, "/get-session", Some(&session)).await).await;
    assert_eq!(me["user"]["email"], "wallet@example.com");
    let (status, v) = json(get(&s, "/siwe/wallets", Some(&session)).await).await;
    assert_eq!((status, v.as_array().map(Vec::len)), (200, Some(1)), "{v}");
});

/// What the stand-in chain was asked: (to, data) of each `eth_call`.
type Calls = Arc<Mutex<Vec<(String, String)>>>;

/// A JSON-RPC endpoint whose one contract wallet, `wallet`, accepts the signature `0xcafe`.
async fn chain(wallet: String) -> (String, Calls) {
    let calls: Calls = Arc::default();
    let keep = calls.clone();
    let app = axum::Router::new().route(
        "/rpc",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let (keep, wallet) = (keep.clone(), wallet.clone());
            async move {
                let call = &v["params"][0];
                let (to, data) = (call["to"].as_str().unwrap_or_default().to_owned(), call["data"].as_str().unwrap_or_default().to_owned());
                keep.lock().unwrap().push((to.clone(), data.clone()));
                assert_eq!(v["method"], "eth_call");
                // isValidSignature(hash, bytes) with bytes = 0xcafe: the selector, the hash,
                // offset 64, length 2, then the padded bytes.
                let ok = to.eq_ignore_ascii_case(&wallet) && data.starts_with("0x1626ba7e") && data.ends_with(&format!("{:064x}cafe{}", 2, "0".repeat(60)));
                axum::Json(if ok {
                    json!({ "jsonrpc": "2.0", "id": v["id"], "result": format!("0x1626ba7e{}", "0".repeat(56)) })
                } else {
                    json!({ "jsonrpc": "2.0", "id": v["id"], "error": { "code": 3, "message": "execution reverted" } })
                })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/rpc", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

dual!(a_contract_wallet_signs_in_through_the_configured_rpc_endpoint, |db| {
    let wallet = message::checksummed(&message::parse_address("0x000000000000000000000000000000000000c0de").unwrap());
    let (url, calls) = chain(wallet.clone()).await;
    let cfg = config(&format!("[siwe.rpc_urls]\n\"1\" = \"{url}\"\n"));
    let s = Server::start(db, &[("KAVACH_CONFIG", &cfg)]);
    let text = message_for(&s, &wallet).await;
    let r = post(&s, "/siwe/verify", None, json!({ "message": text, "signature": "0xcafe" })).await;
    assert!(session_cookie(&r).is_some());
    let (status, v) = json(r).await;
    assert_eq!((status, v["user"]["walletAddress"].as_str()), (200, Some(wallet.as_str())), "{v}");
    // The contract refuses another signature; nothing is signed in.
    let text = message_for(&s, &wallet).await;
    let r = post(&s, "/siwe/verify", None, json!({ "message": text, "signature": "0xbeef" })).await;
    assert!(session_cookie(&r).is_none());
    let (status, v) = json(r).await;
    assert_eq!((status, v["code"].as_str()), (401, Some("INVALID_SIWE_SIGNATURE")), "{v}");
    assert_eq!(calls.lock().unwrap().len(), 2);
});
