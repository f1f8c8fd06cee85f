//! The key ring: signing, verification, rotation, reloads.

use crate::*;

mod jwt_keys {
    use super::*;
    use base64::Engine;
    use kavach_core::jwt::{Alg, verify};
    use serde_json::json;

    fn claims(exp_in: i64) -> serde_json::Value {
        let now = kavach_core::store::Ts::now().0 / 1000;
        json!({ "sub": "u1", "iat": now, "exp": now + exp_in })
    }

    async fn jwks(t: &kavach_testkit::T) -> serde_json::Value {
        serde_json::from_str(&t.core.keys().jwks().await.unwrap()).unwrap()
    }

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    kavach_testkit::dual!(sign_verify_and_refuse_forgeries, options(), |t| {
        assert!(t.core.keys().list().await.unwrap().is_empty(), "keys are created on first use");
        for alg in Alg::ALL {
            let tok = t.core.keys().sign(alg, "JWT", &claims(60)).await.unwrap();
            let (h, c) = verify(&tok, &jwks(&t).await, 60).unwrap();
            assert_eq!((h["alg"].as_str(), h["typ"].as_str(), c["sub"].as_str()), (Some(alg.as_str()), Some("JWT"), Some("u1")));
        }
        assert_eq!(jwks(&t).await["keys"].as_array().unwrap().len(), 3);
        let tok = t.core.keys().sign(Alg::EdDSA, "at+jwt", &claims(60)).await.unwrap();
        let set = jwks(&t).await;
        let parts: Vec<&str> = tok.split('.').collect();
        // Tampered claims.
        let forged = format!("{}.{}.{}", parts[0], b64(&json!({ "sub": "admin" })), parts[2]);
        assert_eq!(verify(&forged, &set, 60).unwrap_err(), "bad signature");
        // alg: none, and algorithm confusion (an EdDSA key presented as RS256).
        let header: serde_json::Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let none = format!("{}.{}.", b64(&json!({ "alg": "none", "kid": header["kid"] })), parts[1]);
        assert!(verify(&none, &set, 60).is_err());
        let confused = format!("{}.{}.{}", b64(&json!({ "alg": "RS256", "kid": header["kid"] })), parts[1], parts[2]);
        assert_eq!(verify(&confused, &set, 60).unwrap_err(), "algorithm does not match the key");
        let unknown = format!("{}.{}.{}", b64(&json!({ "alg": "EdDSA", "kid": "nope" })), parts[1], parts[2]);
        assert_eq!(verify(&unknown, &set, 60).unwrap_err(), "unknown kid");
        let expired = t.core.keys().sign(Alg::EdDSA, "JWT", &claims(-120)).await.unwrap();
        assert_eq!(verify(&expired, &set, 60).unwrap_err(), "expired");
        assert!(verify(&t.core.keys().sign(Alg::EdDSA, "JWT", &claims(-30)).await.unwrap(), &set, 60).is_ok(), "within leeway");
        // Found by the `jwt` fuzz target: `exp` or `nbf` near i64::MAX overflowed the
        // leeway addition (a panic in debug builds, a wrapped comparison in release).
        let far = json!({ "sub": "u1", "exp": i64::MAX, "nbf": i64::MAX - 1 });
        let far = t.core.keys().sign(Alg::EdDSA, "JWT", &far).await.unwrap();
        assert_eq!(verify(&far, &set, 60).unwrap_err(), "not yet valid");
        assert!(verify(&expired, &set, i64::MAX).is_ok(), "a leeway of i64::MAX saturates");
        let forever = t.core.keys().sign(Alg::EdDSA, "JWT", &json!({ "sub": "u1", "exp": i64::MAX })).await.unwrap();
        assert!(verify(&forever, &set, 60).is_ok());
        // Private keys are sealed: the column is not a PKCS#8 document, and another secret cannot load them.
        let stored: Vec<(String,)> = kavach_core::db!(&t.db, |pool| sqlx::query_as("SELECT private_key FROM kavach_jwks").fetch_all(pool).await.unwrap());
        for (pk,) in &stored {
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(pk).unwrap();
            use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
            assert!(
                Ed25519KeyPair::from_pkcs8(&raw).is_err()
                    && EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &raw).is_err()
                    && RsaKeyPair::from_pkcs8(&raw).is_err(),
                "no stored key (EdDSA, ES256, RS256) is a readable PKCS#8 document"
            );
        }
        let mut other = options();
        other.secrets = vec!["a-completely-different-secret-0123456789".into()];
        let stranger = harness::core_on(&t.url, other).await;
        let e = stranger.core.keys().sign(Alg::EdDSA, "JWT", &claims(60)).await.unwrap_err();
        assert!(e.message.contains("cannot be decrypted"), "{e}");
        // A rotated secret list (new first, old kept) still opens them.
        let mut rotated = options();
        rotated.secrets = vec!["the-new-secret-0123456789-abcdefghijkl".into(), options().secrets[0].clone()];
        let after = harness::core_on(&t.url, rotated).await;
        after.core.keys().sign(Alg::EdDSA, "JWT", &claims(60)).await.unwrap();
    });

    kavach_testkit::dual!(rotation_keeps_old_tokens_valid_for_the_overlap, options(), |t| {
        let before = t.core.keys().sign(Alg::EdDSA, "JWT", &claims(60)).await.unwrap();
        let new = t.core.keys().rotate(Duration::from_secs(1)).await.unwrap();
        assert_eq!(new.len(), 1);
        let after = t.core.keys().sign(Alg::EdDSA, "JWT", &claims(60)).await.unwrap();
        assert_ne!(before.split('.').next(), after.split('.').next(), "a new kid signs");
        let set = jwks(&t).await;
        let eddsa = |set: &serde_json::Value| set["keys"].as_array().unwrap().iter().filter(|k| k["alg"] == "EdDSA").count();
        assert_eq!(eddsa(&set), 2, "{set}");
        assert!(verify(&before, &set, 60).is_ok() && verify(&after, &set, 60).is_ok(), "no downtime for tokens in flight");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        t.core.keys().purge().await.unwrap();
        // (the cache is per instance: a fresh core sees the current set)
        let fresh = harness::core_on(&t.url, options()).await;
        let set = serde_json::from_str::<serde_json::Value>(&fresh.core.keys().jwks().await.unwrap()).unwrap();
        assert_eq!(eddsa(&set), 1, "the retired key is gone after its overlap");
        assert_eq!(verify(&before, &set, 60).unwrap_err(), "unknown kid");
        // Scheduled rotation from two instances at once rotates once.
        let other = harness::core_on(&t.url, options()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let keys_before = t.core.keys().list().await.unwrap();
        let algs: std::collections::HashSet<_> = keys_before.iter().filter(|k| k.active).map(|k| k.alg.as_str()).collect();
        let (a, b) = tokio::join!(
            t.core.keys().rotate_if_older_than(Duration::from_millis(200), Duration::from_secs(3600)),
            other.core.keys().rotate_if_older_than(Duration::from_millis(200), Duration::from_secs(3600))
        );
        assert!(a.unwrap() || b.unwrap());
        let after = t.core.keys().list().await.unwrap();
        assert_eq!(after.len() - keys_before.len(), algs.len(), "each algorithm's key was rotated exactly once, across both instances");
        for alg in &algs {
            assert_eq!(after.iter().filter(|k| k.active && k.alg.as_str() == *alg).count(), 1, "{alg}");
        }
    });
}

// Finding 18: relying parties fetch the keys at start-up: the key set is never empty.
dual!(review_18_the_key_set_has_every_advertised_algorithm_from_the_start, options(), |t| {
    let set: serde_json::Value = serde_json::from_str(&t.core.keys().jwks().await.unwrap()).unwrap();
    let algs: std::collections::BTreeSet<&str> = set["keys"].as_array().unwrap().iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["EdDSA", "RS256"].into_iter().collect(), "session and access tokens (EdDSA), ID tokens (RS256)");
});

// Finding 21: a burst of unknown key ids reloads the signing keys once.
dual!(review_21_a_burst_of_unknown_key_ids_reloads_the_keys_once, options(), |t| {
    t.core.keys().jwks().await.unwrap();
    let before = t.core.keys().reads();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    use base64::Engine;
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let forged: Vec<String> = (0..16)
        .map(|i| {
            format!("{}.{}.c2ln", b64(serde_json::json!({ "alg": "EdDSA", "kid": format!("unknown-{i}") })), b64(serde_json::json!({ "exp": 9999999999u64 })))
        })
        .collect();
    let keys = t.core.keys();
    let results = futures_util::future::join_all(forged.iter().map(|tok| keys.verify(tok, 0))).await;
    assert!(results.iter().all(|r| matches!(r, Ok(Err("unknown kid")))));
    assert_eq!(t.core.keys().reads() - before, 1, "sixteen unknown key ids, one read of the key set");
});
