//! Contract wallets' signatures for Sign-In with Ethereum (`[siwe] rpc_urls`): an EIP-1271
//! `isValidSignature(bytes32, bytes)` call through the chain's JSON-RPC endpoint
//! (`eth_call` on the latest block). The endpoint is the operator's, not a client's.

use kavach_core::plugins::siwe::{CheckFuture, ContractWallets};
use kavach_core::{Code, Error, Kind};
use std::collections::BTreeMap;

/// `isValidSignature(bytes32,bytes)`'s selector, and the value a contract returns for a
/// valid signature.
const MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

/// Asks each chain's JSON-RPC endpoint.
pub struct RpcWallets {
    client: reqwest::Client,
    urls: BTreeMap<u64, String>,
}

impl RpcWallets {
    /// `urls`: `[siwe] rpc_urls`, chain id (decimal) to URL.
    pub fn new(urls: &BTreeMap<String, String>) -> kavach_core::Result<Self> {
        let urls = urls
            .iter()
            .map(|(chain, url)| {
                chain.parse::<u64>().map(|c| (c, url.clone())).map_err(|_| Error::config(format!("siwe.rpc_urls: {chain:?} is not a chain id")))
            })
            .collect::<kavach_core::Result<_>>()?;
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| Error::config(format!("cannot build the SIWE RPC client: {e}")))?;
        Ok(RpcWallets { client, urls })
    }
}

/// The call data: the selector, the hash, then `bytes` ABI-encoded (offset, length, the
/// bytes padded to 32).
pub fn call_data(hash: &[u8; 32], signature: &[u8]) -> String {
    let mut data = MAGIC.to_vec();
    data.extend_from_slice(hash);
    let mut word = |n: usize| {
        data.extend_from_slice(&[0u8; 24]);
        data.extend_from_slice(&(n as u64).to_be_bytes());
    };
    word(64);
    word(signature.len());
    data.extend_from_slice(signature);
    data.resize(data.len() + (32 - signature.len() % 32) % 32, 0);
    format!("0x{}", kavach_core::crypto::hex(&data))
}

impl ContractWallets for RpcWallets {
    fn is_valid_signature<'a>(&'a self, chain_id: u64, address: &'a [u8; 20], hash: &'a [u8; 32], signature: &'a [u8]) -> Option<CheckFuture<'a>> {
        let url = self.urls.get(&chain_id)?;
        Some(Box::pin(async move {
            let body = serde_json::json!({
                "jsonrpc": "2.0", "id": 1, "method": "eth_call",
                "params": [{ "to": format!("0x{}", kavach_core::crypto::hex(address)), "data": call_data(hash, signature) }, "latest"],
            });
            let unavailable = |e: String| {
                tracing::warn!(chain_id, error = %e, "the SIWE RPC endpoint failed");
                Error::new(Kind::Unavailable, Code::ServiceUnavailable, "The wallet's chain could not be reached; try again later")
            };
            let resp = self.client.post(url).json(&body).send().await.map_err(|e| unavailable(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(unavailable(format!("status {}", resp.status())));
            }
            let answer: serde_json::Value = resp.json().await.map_err(|e| unavailable(e.to_string()))?;
            // A revert (no such method, not a contract) is an error answer: not valid.
            let result = answer.get("result").and_then(|r| r.as_str()).unwrap_or("");
            Ok(result.len() >= 10 && result.get(..10).is_some_and(|p| p.eq_ignore_ascii_case("0x1626ba7e")))
        }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn call_data_encodes_the_hash_and_padded_bytes() {
        let d = super::call_data(&[0xaa; 32], &[1, 2, 3]);
        // selector + hash + offset + length + one padded word.
        assert_eq!(d.len(), 2 + 2 * (4 + 32 * 4));
        assert!(d.starts_with("0x1626ba7eaaaa"));
        assert!(d.contains(&format!("{:064x}{:064x}010203", 64, 3)));
    }
}
