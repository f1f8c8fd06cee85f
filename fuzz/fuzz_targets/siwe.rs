//! Sign-In with Ethereum: the EIP-4361 message parser (`siwe::message::parse`), EIP-55
//! addresses, and signature decoding and recovery (`siwe::signature`).
//!
//! Input: `mode byte`, then the text (mode even: a message; odd: `hex signature` 0xFF
//! `message` for recovery).

#![no_main]

use kavach_fuzz::siwe::{message, signature};
use kavach_fuzz::{fields, mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (m, rest) = mode(data);
    if m % 2 == 0 {
        let text = String::from_utf8_lossy(rest);
        if let Ok(msg) = message::parse(&text) {
            assert!(msg.nonce.len() >= 8 && msg.nonce.bytes().all(|b| b.is_ascii_alphanumeric()), "nonce {:?}", msg.nonce);
            assert!(msg.chain_id > 0);
            assert!(message::is_authority(&msg.domain), "domain {:?}", msg.domain);
            assert!(!text.contains('\r'));
            // The address's EIP-55 form names the same 20 bytes.
            assert_eq!(message::parse_address(&message::checksummed(&msg.address)), Some(msg.address));
            // The specification's layout of the parsed fields parses to the same message.
            assert_eq!(message::parse(&msg.to_text()).as_ref(), Ok(&msg), "{text:?}");
        }
        if let Some(a) = message::parse_address(&text) {
            assert_eq!(message::parse_address(&message::checksummed(&a)), Some(a));
        }
    } else {
        let f = fields(rest, 2);
        let hash = signature::personal_message_hash(f[1].as_bytes());
        if let Some(sig) = signature::decode_hex(&f[0]) {
            assert!(sig.len() <= 4096);
            // Whatever it names, recovering twice names the same account.
            assert_eq!(signature::recover_address(&hash, &sig), signature::recover_address(&hash, &sig));
        }
    }
});
