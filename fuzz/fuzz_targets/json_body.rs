//! JSON request bodies: `body::parse_json` (into a `serde_json::Value` and into a
//! typed body like the API's) and `json_has_nul`.
//!
//! Input: the body, as is.

#![no_main]

use kavach_fuzz::body::{json_has_nul, parse_json};
use kavach_fuzz::value_has_nul;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::Value;

/// A body of the shape the API reads (sign-in).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct SignIn {
    email: String,
    password: String,
    #[serde(default)]
    remember_me: Option<bool>,
    #[serde(default)]
    callback_url: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

/// Whether any string or key of a JSON text holds a NUL, counting every member of an
/// object, also one a later duplicate key replaces (a `serde_json::Value` keeps only the
/// last, so it cannot tell).
struct AnyNul(bool);

impl<'de> Deserialize<'de> for AnyNul {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = AnyNul;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_str<E>(self, s: &str) -> Result<AnyNul, E> {
                Ok(AnyNul(s.contains('\0')))
            }
            fn visit_bool<E>(self, _: bool) -> Result<AnyNul, E> {
                Ok(AnyNul(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<AnyNul, E> {
                Ok(AnyNul(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<AnyNul, E> {
                Ok(AnyNul(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<AnyNul, E> {
                Ok(AnyNul(false))
            }
            fn visit_unit<E>(self) -> Result<AnyNul, E> {
                Ok(AnyNul(false))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<AnyNul, A::Error> {
                let mut any = false;
                while let Some(AnyNul(n)) = a.next_element()? {
                    any |= n;
                }
                Ok(AnyNul(any))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<AnyNul, A::Error> {
                let mut any = false;
                while let Some((AnyNul(k), AnyNul(v))) = a.next_entry()? {
                    any |= k || v;
                }
                Ok(AnyNul(any))
            }
        }
        d.deserialize_any(V)
    }
}

fuzz_target!(|data: &[u8]| {
    let has_nul = json_has_nul(data);
    let reference = serde_json::from_slice::<Value>(data);
    let blank = data.iter().all(u8::is_ascii_whitespace);

    // json_has_nul is exact: a raw NUL byte, or a JSON text whose value holds one.
    if data.contains(&0) {
        assert!(has_nul, "a raw NUL byte is not seen");
    } else if let Ok(v) = &reference {
        // Exact against every string and key of the text, duplicates included: a NUL in a
        // member that a duplicate key overwrites is refused too (and nothing that holds one
        // gets through).
        let any = serde_json::from_slice::<AnyNul>(data).map(|a| a.0).unwrap_or(true);
        assert_eq!(has_nul, any, "json_has_nul disagrees with the strings of the text");
        if value_has_nul(v) {
            assert!(has_nul, "a NUL in the parsed value is not seen");
        }
    }

    match parse_json::<Value>(data) {
        Ok(v) => {
            assert!(!has_nul, "parse_json accepted text json_has_nul refuses");
            assert!(!value_has_nul(&v), "parse_json let a NUL through");
            if blank {
                assert_eq!(v, Value::Object(Default::default()), "an empty body is {{}}");
            } else {
                assert_eq!(Some(&v), reference.as_ref().ok(), "parse_json differs from serde_json");
            }
        }
        Err(e) => {
            let e = e.0;
            assert!(e.is_client_error(), "a malformed body is a 4xx: {e:?}");
            assert!(matches!(e.code.as_ref(), "INVALID_JSON" | "VALIDATION_ERROR" | "INVALID_TEXT"), "code {}", e.code);
            assert!(has_nul || (!blank && reference.is_err()), "parse_json refused a valid body: {e:?}");
            assert_eq!(e.code == "INVALID_TEXT", has_nul);
        }
    }

    match parse_json::<SignIn>(data) {
        Ok(b) => {
            assert!(!has_nul);
            assert!(!b.email.contains('\0') && !b.password.contains('\0'));
            assert!(b.scopes.iter().all(|s| !s.contains('\0')));
        }
        Err(e) => assert!(e.0.is_client_error(), "a malformed body is a 4xx: {:?}", e.0),
    }
});
