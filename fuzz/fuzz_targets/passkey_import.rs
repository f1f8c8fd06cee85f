//! Passkeys imported from better-auth (`passkey::Imported::credential`): the credential id
//! and the COSE public key as better-auth's `passkey` table stores them (the operator's
//! own database, but a file Kavach did not write), converted to the credential Kavach
//! verifies sign-ins with.
//!
//! Input: `mode byte`, then fields `credential id` 0xFF `public key` 0xFF `transports`.
//! Mode bit 0: the public key field is the raw bytes of the COSE key (base64-encoded here,
//! so the fuzzer explores the CBOR) or, when set, the stored text itself (the base64
//! decoding too); bit 1: backed up; bit 2: multi-device; bits 3-7: the counter.

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kavach_fuzz::passkey::Imported;
use kavach_fuzz::{mode, raw_fields};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (m, rest) = mode(data);
    let f = raw_fields(rest);
    let field = |i: usize| f.get(i).copied().unwrap_or_default();
    let id = String::from_utf8_lossy(field(0));
    let key = if m & 1 == 0 { STANDARD.encode(field(1)) } else { String::from_utf8_lossy(field(1)).into_owned() };
    let transports = f.get(2).map(|t| String::from_utf8_lossy(t));
    let row = Imported {
        credential_id: &id,
        public_key: &key,
        counter: i64::from(m >> 3),
        backed_up: m & 2 != 0,
        multi_device: m & 4 != 0,
        transports: transports.as_deref(),
    };
    if let Ok((cred_id, json)) = row.credential() {
        // The id is stored unpadded base64url, and names the bytes the row named.
        let bytes = URL_SAFE_NO_PAD.decode(&cred_id).expect("the stored id is base64url");
        assert!(!cred_id.contains('='));
        let given = URL_SAFE_NO_PAD.decode(id.trim().trim_end_matches('=')).or_else(|_| STANDARD.decode(id.trim()));
        assert_eq!(given.ok(), Some(bytes), "the id changed on import");
        assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok_and(|v| v.is_object()), "not a JSON credential: {json}");
        // Importing the stored id again gives the same credential (nothing depends on
        // how the id was padded or which alphabet it used).
        let again = Imported { credential_id: &cred_id, ..row };
        assert_eq!(again.credential(), Ok((cred_id.clone(), json)));
    }
});
