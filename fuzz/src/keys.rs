//! Fixed test keys (generated once for fuzzing, never used anywhere else): an
//! Ed25519, a P-256 and an RSA-2048 key, their public JWKs as constants, and signing
//! helpers so targets can make tokens that must verify.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;
use std::sync::OnceLock;

pub const ED_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"fuzz-ed","alg":"EdDSA","use":"sig","x":"yKU_CxT1jVSKfFrYW2z1iDgEEs3BBobfols38-_Ta1s"}"#;
pub const ES_JWK: &str = r#"{"kty":"EC","crv":"P-256","kid":"fuzz-es","alg":"ES256","use":"sig","x":"FZSRkZdMIf-8_jR2aMkXQZ75iI5uB8IdEWMEC9jlJaU","y":"8khHxPgTNo1bK0PlfBqZ65vCkrvAqM2L73-cS-vgFmY"}"#;
pub const RS_JWK: &str = r#"{"kty":"RSA","kid":"fuzz-rs","alg":"RS256","use":"sig","e":"AQAB","n":"nyHaaoMUjueoEl2m8f45mIqLjTnXSJ8HRsRrE6tt8ckmVHLhNbhudYBJ9iUWkR_BP9o5UbjOS6JjnE9w5JKoGTpwzHLXvBb7BuhDY_iGmQ8q4_vBkFZLd5N3nXTdJ6VOSDRdGGHNArDjEbIOnpXBbP077EglGi7AE5EkPRNaphZTlM4CzyWdbPZf0k5qBBEtsMKUJIfNWLsQZRhMNGd6aC5SQhwVK-hz4L-s88mEP-dfealF9YnsFGGWurVW-J74DwaixZTFT7_55ONdi855EtpQFfVOX0Et5m7CdFyvyXNLCtpufeoSdedatHJCkVrbkHuIvyzrOAzO96mS_FgPJQ"}"#;

const ED_SEED: &str = "EB1D7OpLMbdBDGDKImqohyy6bfpRo5Ggd_cd4uAGXno";
const ES_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgF1rXPoE39oNPMCCn5UAKLA1fNiL7WRX1_Aq47JuaaAShRANCAAQVlJGRl0wh_7z-NHZoyRdBnvmIjm4Hwh0RYwQL2OUlpfJIR8T4EzaNWytD5XwameubwpK7wKjNi-9_nEvr4BZm";
const RS_PKCS8: &str = "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCfIdpqgxSO56gSXabx_jmYiouNOddInwdGxGsTq23xySZUcuE1uG51gEn2JRaRH8E_2jlRuM5LomOcT3DkkqgZOnDMcte8FvsG6ENj-IaZDyrj-8GQVkt3k3eddN0npU5INF0YYc0CsOMRsg6elcFs_TvsSCUaLsATkSQ9E1qmFlOUzgLPJZ1s9l_STmoEES2wwpQkh81YuxBlGEw0Z3poLlJCHBUr6HPgv6zzyYQ_5195qUX1iewUYZa6tVb4nvgPBqLFlMVPv_nk412LznkS2lAV9U5fQS3mbsJ0XK_Jc0sK2m596hJ151q0ckKRWtuQe4i_LOs4DM73qZL8WA8lAgMBAAECggEABODLykIUakENtOpsCLULXPK6Tmz8fXxqg6_XvHWf3C6XXzVaVARAVpfFLKd8Zpx7lxKAeVHZ-RWUSiFhS5B3WLai6JGIrXpi3ZZXIoRm0-BUJ0L7bwpGK_c4TnpboTB_EtWQGQQ-fZugilVT_2aF1Gp64MZhZMkUGEV1v-2M9NRj75LmfSvJ4E9kqSykC6NxIyI84wsbGq0jNBv6XvpdBk1MvQ6PzRYbbi1gPzSV9Hm29NCp8c-knFi31onvQDXNB7GhnIreCMq8dxr8ZkxhD-9tuuvmyXA9EeVVae41vn-TytpqQJX1Khz6I_rA7tWtTZhM9dQpoL_4g761iSUBbQKBgQDgk5yDxJG9_iKFMUk86F9JCfSYLSGryIgdWuVj5O0W6pF8EBkq4DIFQWsaWwx2oxdditEZalLi1Y0apZLE7TqYLsx8D8S6q_LDAOOI4p3cj1cUauRgMWqVeV5t9ACY_7goAtohxuWzgPYt4ocdpquDRkqRe6T9kKC2X0GPKitmGwKBgQC1ZgI2hsh-ct7xnvFlpmZ8N0Ix1P6kVKj2Ma2O3NP4HNrCx_RHfUsStioV5jw0V6l4PqlwZtLTN8eXUbEPae-fBDRgy2oG3EfkuH1IErovpr9LK25_qCofWokXTZCAt3fRjQIR-J1xK3ZuUqIDM37HHcUXnRigcdOpAYE1qdazvwKBgFa5KgvIcO-JoBMHQVz_7yvpaEcLxqDrw4RygXreAKCE3MGoBdAE28wjwxRebKWzvWYmITFLWc624NKVdeQOKD50dArEnBfqJskfIr7NpGB0ChCcZqyu6JXoVIrpWwG6Xoc08r9wa2uyNV7qx3qvzjPXhRxBPymcHDPQ_SQoCLJZAoGAcjr4rcmWvDouNs22iiKNay-JGcRdTrKZa9_AwbRCL35MLFiqddJq0i-wtPW1d-i0KaqcHNJDdQstPxcMfv5hDSwip8mwzP0usNOU4SwZ3yQMVpPVE8KcM_5ZUjlgBA6E_4rigNqkmr2Z6MNUjtuAvHb8xHADMBY-CbGO4nI_aBUCgYAxY3SQfiOm5dEHP0cv_gBRdiiVY5CEvwajLTknBkZMnKQqEh-dBIyrYe3PCoyxVD7-N18paChllpWpgyiXUWaPbTq8LgvfXPfnWVOmPt98sGKUjI_GAv1WeQ3pIUJA7Ri-AaoTHUQfkvIpqwGgatyoRHabkBajl-FcJ_wq12vjxg";

/// One of the three fixed keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Ed,
    Es,
    Rs,
}

impl Key {
    pub const ALL: [Key; 3] = [Key::Ed, Key::Es, Key::Rs];

    /// Pick a key from a fuzz byte.
    pub fn from_byte(b: u8) -> Key {
        Key::ALL[(b % 3) as usize]
    }

    pub fn alg(self) -> &'static str {
        match self {
            Key::Ed => "EdDSA",
            Key::Es => "ES256",
            Key::Rs => "RS256",
        }
    }

    pub fn kid(self) -> &'static str {
        match self {
            Key::Ed => "fuzz-ed",
            Key::Es => "fuzz-es",
            Key::Rs => "fuzz-rs",
        }
    }

    /// The public JWK (with `kid`, `alg` and `use`).
    pub fn jwk(self) -> &'static Value {
        static JWKS: OnceLock<[Value; 3]> = OnceLock::new();
        let all = JWKS.get_or_init(|| {
            let parse = |s: &str| serde_json::from_str::<Value>(s).expect("constant JWK");
            check_keys();
            [parse(ED_JWK), parse(ES_JWK), parse(RS_JWK)]
        });
        &all[self as usize]
    }

    /// The public JWK with only the members RFC 7638 needs (no `kid`, `alg`, `use`),
    /// as a DPoP proof carries it.
    pub fn bare_jwk(self) -> Value {
        let mut j = self.jwk().clone();
        if let Some(o) = j.as_object_mut() {
            for k in ["kid", "alg", "use"] {
                o.remove(k);
            }
        }
        j
    }

    /// Sign `msg` with the private half.
    pub fn sign(self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Key::Ed => ed().sign(msg).as_ref().to_vec(),
            Key::Es => es().sign(&rng, msg).expect("ES256 signing").as_ref().to_vec(),
            Key::Rs => {
                let k = rs();
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig).expect("RS256 signing");
                sig
            }
        }
    }

    /// A compact JWS of these exact header and payload bytes.
    pub fn jws(self, header: &[u8], payload: &[u8]) -> String {
        let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
        let sig = self.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig))
    }
}

/// The three public keys as a JWKS document.
pub fn jwks() -> &'static Value {
    static SET: OnceLock<Value> = OnceLock::new();
    SET.get_or_init(|| serde_json::json!({ "keys": Key::ALL.iter().map(|k| k.jwk().clone()).collect::<Vec<_>>() }))
}

fn b64(s: &str) -> Vec<u8> {
    B64.decode(s).expect("constant base64")
}

fn ed() -> &'static Ed25519KeyPair {
    static K: OnceLock<Ed25519KeyPair> = OnceLock::new();
    K.get_or_init(|| Ed25519KeyPair::from_seed_unchecked(&b64(ED_SEED)).expect("Ed25519 seed"))
}

fn es() -> &'static EcdsaKeyPair {
    static K: OnceLock<EcdsaKeyPair> = OnceLock::new();
    K.get_or_init(|| EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &b64(ES_PKCS8)).expect("P-256 PKCS#8"))
}

fn rs() -> &'static RsaKeyPair {
    static K: OnceLock<RsaKeyPair> = OnceLock::new();
    K.get_or_init(|| RsaKeyPair::from_pkcs8(&b64(RS_PKCS8)).expect("RSA PKCS#8"))
}

/// The constant JWKs are the public halves of the constant private keys.
fn check_keys() {
    let field = |jwk: &str, k: &str| b64(serde_json::from_str::<Value>(jwk).expect("JWK")[k].as_str().expect("member"));
    assert_eq!(ed().public_key().as_ref(), field(ED_JWK, "x").as_slice(), "Ed25519 JWK");
    let point = es().public_key().as_ref().to_vec();
    assert_eq!(point.get(1..33), Some(field(ES_JWK, "x").as_slice()), "P-256 JWK x");
    assert_eq!(point.get(33..65), Some(field(ES_JWK, "y").as_slice()), "P-256 JWK y");
    assert_eq!(rs().public_key().modulus().big_endian_without_leading_zero(), field(RS_JWK, "n").as_slice(), "RSA JWK n");
    assert_eq!(rs().public_key().exponent().big_endian_without_leading_zero(), field(RS_JWK, "e").as_slice(), "RSA JWK e");
}
