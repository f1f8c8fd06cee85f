//! OAuth client metadata: `clients::normalize` (RFC 7591 registration bodies) and
//! `clients::check_document` (Client ID Metadata Documents), on arbitrary JSON and on
//! structured documents generated with `arbitrary`.
//!
//! Input: `mode byte`, then
//! - even mode: fields `document URL` 0xFF `JSON`;
//! - odd mode: bytes for `arbitrary` (a metadata object of known and unknown values).

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use kavach_fuzz::oauth::clients::{check_document, is_document_url, normalize};
use kavach_fuzz::oauth::redirect::{check_registrable, is_native_only};
use kavach_fuzz::{mode, raw_fields};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

// Every grant a client may register (the token exchange of RFC 8693 and OpenID CIBA for agents too).
const GRANTS: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:openid:params:grant-type:ciba",
];
const AUTH_METHODS: &[&str] = &["none", "client_secret_basic", "client_secret_post", "private_key_jwt"];

#[derive(Arbitrary, Debug)]
enum Text {
    Known(u8),
    Free(String),
}

const KNOWN: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
    "implicit",
    "password",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "code",
    "token",
    "none",
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "web",
    "native",
    "",
];

impl Text {
    fn get(&self) -> String {
        match self {
            Text::Known(i) => KNOWN[*i as usize % KNOWN.len()].to_owned(),
            Text::Free(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Uri {
    Https(String, String),
    Loopback(u8, Option<u32>, String),
    Custom(String, String),
    Free(String),
}

impl Uri {
    fn get(&self) -> String {
        match self {
            Uri::Https(host, path) => format!("https://{host}/{path}"),
            Uri::Loopback(h, port, path) => {
                let host = ["127.0.0.1", "[::1]", "localhost", "LOCALHOST", "127.0.0.2"][*h as usize % 5];
                match port {
                    Some(p) => format!("http://{host}:{p}/{path}"),
                    None => format!("http://{host}/{path}"),
                }
            }
            Uri::Custom(scheme, rest) => format!("{scheme}:{rest}"),
            Uri::Free(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Field<T> {
    Absent,
    Null,
    Value(T),
    Number(i64),
    Object,
}

impl<T> Field<T> {
    fn put(&self, m: &mut Map<String, Value>, key: &str, f: impl Fn(&T) -> Value) {
        match self {
            Field::Absent => {}
            Field::Null => {
                m.insert(key.into(), Value::Null);
            }
            Field::Value(v) => {
                m.insert(key.into(), f(v));
            }
            Field::Number(n) => {
                m.insert(key.into(), json!(n));
            }
            Field::Object => {
                m.insert(key.into(), json!({}));
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Meta {
    client_id: Field<bool>,
    client_name: Field<String>,
    grant_types: Field<Vec<Text>>,
    response_types: Field<Vec<Text>>,
    token_endpoint_auth_method: Field<Text>,
    redirect_uris: Field<Vec<Uri>>,
    application_type: Field<Text>,
    jwks_uri: Field<Uri>,
    jwks: Field<Option<Vec<u8>>>,
    scope: Field<String>,
    contacts: Field<Vec<String>>,
    client_secret: Field<String>,
    introspects: Field<String>,
    extra: Vec<(String, String)>,
}

impl Meta {
    fn to_json(&self, url: &str) -> Value {
        let mut m = Map::new();
        // client_id: the document URL (true) or something else (false).
        self.client_id.put(&mut m, "client_id", |same| if *same { json!(url) } else { json!(format!("{url}#other")) });
        self.client_name.put(&mut m, "client_name", |s| json!(s));
        self.grant_types.put(&mut m, "grant_types", |g| json!(g.iter().map(Text::get).collect::<Vec<_>>()));
        self.response_types.put(&mut m, "response_types", |g| json!(g.iter().map(Text::get).collect::<Vec<_>>()));
        self.token_endpoint_auth_method.put(&mut m, "token_endpoint_auth_method", |t| json!(t.get()));
        self.redirect_uris.put(&mut m, "redirect_uris", |r| json!(r.iter().map(Uri::get).collect::<Vec<_>>()));
        self.application_type.put(&mut m, "application_type", |t| json!(t.get()));
        self.jwks_uri.put(&mut m, "jwks_uri", |u| json!(u.get()));
        self.jwks.put(&mut m, "jwks", |k| match k {
            Some(bytes) => json!({ "keys": bytes.iter().map(|b| json!({ "kty": "OKP", "kid": b.to_string() })).collect::<Vec<_>>() }),
            None => json!({ "keys": "not an array" }),
        });
        self.scope.put(&mut m, "scope", |s| json!(s));
        self.contacts.put(&mut m, "contacts", |c| json!(c));
        self.client_secret.put(&mut m, "client_secret", |s| json!(s));
        self.introspects.put(&mut m, "introspects", |s| json!(s));
        for (k, v) in &self.extra {
            m.entry(k.clone()).or_insert_with(|| json!(v));
        }
        Value::Object(m)
    }
}

/// What every normalised metadata object satisfies.
fn check_normalized(out: &Value) {
    let o = out.as_object().expect("normalize returns an object");
    let strs = |k: &str| -> Vec<&str> { o[k].as_array().unwrap_or_else(|| panic!("{k} is an array")).iter().map(|v| v.as_str().expect("strings")).collect() };
    let grants = strs("grant_types");
    assert!(!grants.is_empty() && grants.iter().all(|g| GRANTS.contains(g)), "grant_types {grants:?}");
    assert!(strs("response_types").iter().all(|r| *r == "code"));
    let method = o["token_endpoint_auth_method"].as_str().expect("auth method");
    assert!(AUTH_METHODS.contains(&method), "auth method {method}");
    let redirects = strs("redirect_uris");
    assert!(redirects.len() <= 20);
    for r in &redirects {
        assert!(check_registrable(r).is_ok(), "normalize kept an unregistrable redirect {r:?}");
    }
    if grants.contains(&"authorization_code") {
        assert!(!redirects.is_empty(), "authorization_code without redirect_uris");
    }
    let app = o["application_type"].as_str().expect("application_type");
    assert!(app == "web" || app == "native");
    if redirects.iter().any(|r| is_native_only(r)) {
        assert_eq!(app, "native", "a client with native redirects is native");
    }
    if method == "private_key_jwt" {
        assert!(o.contains_key("jwks") || o.contains_key("jwks_uri"), "private_key_jwt without keys");
    }
    assert!(!(o.contains_key("jwks") && o.contains_key("jwks_uri")));
    // Operator-only and secret attributes never come from a body.
    for k in ["client_secret", "client_secret_expires_at", "introspects", "client_id", "registration_access_token"] {
        assert!(!o.contains_key(k), "normalize kept {k}");
    }
    // Normalising again changes nothing.
    assert_eq!(normalize(out).ok().as_ref(), Some(out), "normalize is not idempotent on {out}");
}

fn check(url: &str, doc: &Value) {
    match normalize(doc) {
        Ok(out) => check_normalized(&out),
        Err(e) => assert!(e.is_client_error(), "{e:?}"),
    }
    match check_document(url, doc) {
        Ok(out) => {
            assert_eq!(doc["client_id"].as_str(), Some(url), "accepted a document whose client_id is not its URL");
            assert_eq!(out["client_id"].as_str(), Some(url));
            assert!(doc["client_name"].is_string(), "a document names itself");
            assert!(doc.get("client_secret").is_none() && doc.get("client_secret_expires_at").is_none());
            assert!(matches!(out["token_endpoint_auth_method"].as_str(), Some("none" | "private_key_jwt")));
            assert!(out["redirect_uris"].as_array().is_some_and(|a| !a.is_empty()));
            let mut inner = out.clone();
            inner.as_object_mut().expect("object").remove("client_id");
            check_normalized(&inner);
            // The same document at any other URL is refused.
            for other in [format!("{url}/"), format!("{url}x"), url.to_uppercase(), String::new()] {
                if other != url {
                    assert!(check_document(&other, doc).is_err(), "document for {url:?} accepted at {other:?}");
                }
            }
        }
        Err(e) => assert!(e.is_client_error(), "{e:?}"),
    }
    for insecure in [false, true] {
        if is_document_url(url, insecure) {
            assert!(url.starts_with("https://") || (insecure && url.starts_with("http://")), "{url:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (m, rest) = mode(data);
    if m % 2 == 0 {
        let f = raw_fields(rest);
        let url = String::from_utf8_lossy(f.first().copied().unwrap_or_default()).into_owned();
        let Some(doc) = f.get(1).and_then(|j| serde_json::from_slice::<Value>(j).ok()) else { return };
        check(&url, &doc);
    } else {
        let mut u = Unstructured::new(rest);
        let Ok(url) = <String as Arbitrary>::arbitrary(&mut u) else { return };
        let url = if m & 2 == 2 { format!("https://client.example/{url}") } else { url };
        let Ok(meta) = Meta::arbitrary(&mut u) else { return };
        check(&url, &meta.to_json(&url));
    }
});
