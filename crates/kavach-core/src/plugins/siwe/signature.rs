//! Ethereum signatures of a SIWE message (pure): the EIP-191 personal-message hash, and
//! the address that signed it, recovered from a 65-byte secp256k1 signature (`r ‖ s ‖ v`).
//! High-`s` (malleable) signatures are refused.

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use sha3::{Digest, Keccak256};

pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// EIP-191 version 0x45: keccak256("\x19Ethereum Signed Message:\n" ‖ len ‖ message).
pub fn personal_message_hash(message: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(b"\x19Ethereum Signed Message:\n");
    h.update(message.len().to_string().as_bytes());
    h.update(message);
    h.finalize().into()
}

/// A signature as wallets give it: `0x` and hex digits (65 bytes for an account's key;
/// a contract wallet's may be any length up to 4 KiB).
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let hex = s.strip_prefix("0x").unwrap_or(s);
    if hex.is_empty() || !hex.len().is_multiple_of(2) || hex.len() > 8192 {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())).collect()
}

/// The address whose key made `signature` over `hash`, or `None` when it is not a valid
/// 65-byte signature (v of 27/28 or 0/1).
pub fn recover_address(hash: &[u8; 32], signature: &[u8]) -> Option<[u8; 20]> {
    let (rs, v) = match signature {
        [rs @ .., v] if rs.len() == 64 => (rs, *v),
        _ => return None,
    };
    let id = RecoveryId::from_byte(match v {
        27 | 28 => v - 27,
        0 | 1 => v,
        _ => return None,
    })?;
    let sig = Signature::from_slice(rs).ok()?;
    if sig.normalize_s() != sig {
        return None;
    }
    let key = VerifyingKey::recover_from_prehash(hash, &sig, id).ok()?;
    Some(address_of(&key))
}

/// The address of a public key: the last 20 bytes of keccak256 of its uncompressed point.
pub fn address_of(key: &VerifyingKey) -> [u8; 20] {
    let point = key.to_sec1_point(false);
    let hash = keccak256(point.as_bytes().get(1..).unwrap_or_default());
    let mut out = [0u8; 20];
    out.copy_from_slice(hash.get(12..).unwrap_or(&[0u8; 20]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_of_the_empty_string() {
        let h: String = keccak256(b"").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(h, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    }

    #[test]
    fn a_known_personal_sign_recovers_its_address() {
        // Private key 0x4c0883a6...: the web3.js documentation's account, whose address is
        // 0x2c7536E3605D9C16a7a3D7b1898e529396a65c23.
        let key = decode_hex("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318").unwrap();
        let signer = k256::ecdsa::SigningKey::from_slice(&key).unwrap();
        let hash = personal_message_hash(b"Some data");
        let (sig, id) = signer.sign_prehash_recoverable(&hash);
        let mut bytes = sig.to_bytes().to_vec();
        bytes.push(27 + id.to_byte());
        let addr = recover_address(&hash, &bytes).unwrap();
        assert_eq!(super::super::message::checksummed(&addr), "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
        // The same signature over another message names another account (or none).
        assert_ne!(recover_address(&personal_message_hash(b"Other data"), &bytes), Some(addr));
        // v outside {0, 1, 27, 28} and a 64-byte signature are refused.
        let mut bad = bytes.clone();
        if let Some(v) = bad.last_mut() {
            *v = 29;
        }
        assert_eq!(recover_address(&hash, &bad), None);
        assert_eq!(recover_address(&hash, bytes.get(..64).unwrap()), None);
        // The signature web3.js documents for this key and message (`accounts.sign`).
        let documented =
            decode_hex("0xb91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a0291c")
                .unwrap();
        assert_eq!(recover_address(&hash, &documented), Some(addr));
    }

    #[test]
    fn a_high_s_twin_of_a_valid_signature_is_refused() {
        let signer = k256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let hash = personal_message_hash(b"twin");
        let (sig, id) = signer.sign_prehash_recoverable(&hash);
        let (r, s) = sig.split_scalars();
        let twin = Signature::from_scalars(r, -*s).unwrap();
        let mut bytes = twin.to_bytes().to_vec();
        bytes.push(28 - id.to_byte());
        assert_eq!(recover_address(&hash, &bytes), None);
    }
}
