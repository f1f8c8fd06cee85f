//! Request bodies: JSON (and, where forms post, `application/x-www-form-urlencoded`)
//! with a size cap and clear 4xx answers for every way a body can be wrong.

use super::error::{ApiError, client_error};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use kavach_core::{Code, Kind};
use serde::de::DeserializeOwned;

/// Largest body accepted by the API, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// A JSON body (or a form body, with `FORM = true`).
pub struct Body<T, const FORM: bool = false>(pub T);

/// A body that may also come from an HTML form.
pub type JsonOrForm<T> = Body<T, true>;

impl<S: Send + Sync, T: DeserializeOwned, const FORM: bool> FromRequest<S> for Body<T, FORM> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .unwrap_or_default();
        let is_json = ct == "application/json" || (ct.starts_with("application/") && ct.ends_with("+json"));
        let is_form = FORM && ct == "application/x-www-form-urlencoded";
        if !is_json && !is_form {
            let expected = if FORM { "application/json or application/x-www-form-urlencoded" } else { "application/json" };
            return Err(client_error(Kind::UnsupportedMediaType, Code::UnsupportedMediaType, format!("Send the body as {expected}")));
        }
        let _ = state;
        let bytes = read_limited(req).await?;
        if is_form {
            return serde_urlencoded_from(&bytes).map(Body);
        }
        parse_json(&bytes).map(Body)
    }
}

async fn read_limited(req: Request) -> Result<Bytes, ApiError> {
    if let Some(len) = req.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
        && len > MAX_BODY
    {
        return Err(too_large());
    }
    axum::body::to_bytes(req.into_body(), MAX_BODY).await.map_err(|_| too_large())
}

fn too_large() -> ApiError {
    client_error(Kind::PayloadTooLarge, Code::BodyTooLarge, format!("The body is larger than {MAX_BODY} bytes"))
}

/// Does this JSON text hold a NUL character in a string or a key (a raw 0 byte or the
/// escape `\u0000`)? One pass over the bytes, honouring `\\` so that an escaped
/// backslash followed by `u0000` is not mistaken for the escape. It does not depend on
/// the text parsing as a `serde_json::Value` (numbers like `1e400` or lone surrogates
/// fail that parse but still reach typed structs).
pub fn json_has_nul(bytes: &[u8]) -> bool {
    // A raw NUL anywhere (also right after a backslash, which the scan below skips).
    if bytes.contains(&0) {
        return true;
    }
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' if bytes.get(i + 1..i + 6) == Some(b"u0000".as_slice()) => return true,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    false
}

/// The answer to text holding a NUL character (which no field accepts).
pub fn nul_refused() -> ApiError {
    client_error(Kind::BadRequest, Code::InvalidText, "Text must not contain NUL characters")
}

/// Parse JSON, telling syntax errors from shape errors. Text holding NUL characters
/// is refused.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if json_has_nul(bytes) {
        return Err(nul_refused());
    }
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => client_error(Kind::BadRequest, Code::ValidationError, e.to_string()),
            _ => client_error(Kind::BadRequest, Code::InvalidJson, format!("The body is not valid JSON: {e}")),
        }
    })
}

const BOOLEAN_FIELDS: &[&str] = &["rememberMe", "revokeOtherSessions"];

/// Forms carry strings only; map them into a JSON object and parse that, so the
/// same struct (and the same validation) serves both encodings.
fn serde_urlencoded_from<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|_| client_error(Kind::BadRequest, Code::InvalidForm, "The form body is not UTF-8"))?;
    let mut map = serde_json::Map::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k, true)?, percent_decode(v, true)?);
        // Forms carry strings; only the known boolean fields become booleans.
        let value = match (BOOLEAN_FIELDS.contains(&k.as_str()), v.as_str()) {
            (true, "true" | "on" | "1") => serde_json::Value::Bool(true),
            (true, "false" | "off" | "0") => serde_json::Value::Bool(false),
            _ => serde_json::Value::String(v),
        };
        map.insert(k, value);
    }
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| client_error(Kind::BadRequest, Code::ValidationError, e.to_string()))
}

/// Decode `%XX` (and `+` as a space in form bodies). A NUL character (`%00`) is refused:
/// no field accepts one.
pub fn percent_decode(s: &str, plus_as_space: bool) -> Result<String, ApiError> {
    let bad = || client_error(Kind::BadRequest, Code::InvalidEncoding, "Malformed percent-encoding");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' if plus_as_space => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                let byte = u8::from_str_radix(hex, 16).map_err(|_| bad())?;
                if byte == 0 {
                    return Err(nul_refused());
                }
                out.push(byte);
                i += 2;
            }
            0 => return Err(nul_refused()),
            _ => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// Query parameters, with a bad or missing parameter answered like a bad body field:
/// 400 `VALIDATION_ERROR` as JSON (axum's own `Query` answers in plain text).
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(QueryParams(v)),
            Err(e) => Err(client_error(Kind::BadRequest, Code::ValidationError, e.body_text())),
        }
    }
}

/// `deserialize_with` for a member where `null` means "remove" and absence "keep":
/// `None` (absent), `Some(None)` (null), `Some(Some(v))`. Use with `#[serde(default)]`.
pub(crate) fn null_removes<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `json_body` fuzz target: the NUL check only looked inside bodies that
    /// parse as a `serde_json::Value`, so `\u0000` got into typed bodies next to a number
    /// like `1e400`, a lone surrogate or a byte that is not UTF-8.
    #[test]
    fn json_nul_is_found_in_bodies_that_are_not_a_json_value() {
        for body in [
            br#"{"a":"\u0000","b":1e400}"#.as_slice(),
            br#"{"a":"\u0000","b":"\ud800"}"#,
            b"{\"a\":\"\\u0000\",\"b\":\"\xff\"}",
            b"{\"a\":\"x\x00\"}",
            br#"{"\u0000":1}"#,
            br#"{"a":"\\\u0000"}"#,
            b"{\"a\":\"\\\x00\"}",
        ] {
            assert!(json_has_nul(body), "{}", String::from_utf8_lossy(body));
            assert!(parse_json::<serde_json::Value>(body).is_err());
        }
        // An escaped backslash followed by `u0000` is text, not a NUL.
        for body in [br#"{"a":"\\u0000"}"#.as_slice(), br#"{"a":"u0000"}"#, br#"{"a":"\u0001"}"#, b"{}"] {
            assert!(!json_has_nul(body), "{}", String::from_utf8_lossy(body));
        }
    }
}
