//! The session cookie (`kavach.session_token`, `__Secure-` on https) and bearer
//! tokens. The cookie holds `token.base64(HMAC-SHA256(secret, token))`,
//! percent-encoded as better-auth does; the signature lets forged values be
//! refused without a database read, and secret rotation keeps old cookies valid.

use super::body::percent_decode;
use axum::http::{HeaderMap, HeaderValue, header};
use kavach_core::Core;

pub const COOKIE_NAME: &str = "kavach.session_token";
pub const SECURE_COOKIE_NAME: &str = "__Secure-kavach.session_token";
/// Set (signed `true`) when the user signed in with `rememberMe: false`, so renewed
/// session cookies stay browser-session cookies (better-auth's `dont_remember`).
pub const DONT_REMEMBER: &str = "kavach.dont_remember";
pub const SECURE_DONT_REMEMBER: &str = "__Secure-kavach.dont_remember";

pub fn cookie_name(core: &Core) -> &'static str {
    if core.options().secure() { SECURE_COOKIE_NAME } else { COOKIE_NAME }
}

fn dont_remember_name(core: &Core) -> &'static str {
    if core.options().secure() { SECURE_DONT_REMEMBER } else { DONT_REMEMBER }
}

/// Did the user ask not to be remembered on this browser?
pub fn dont_remember(core: &Core, headers: &HeaderMap) -> bool {
    cookie(headers, dont_remember_name(core))
        .and_then(|v| percent_decode(v, false).ok())
        .is_some_and(|v| core.secrets().verify_signed_token(&v) == Some("true"))
}

/// `Set-Cookie` for the `dont_remember` marker (`on`) or its removal.
pub fn set_dont_remember(core: &Core, on: bool) -> HeaderValue {
    let value = if on { encode_value(&core.secrets().sign_token("true")) } else { String::new() };
    let mut c = format!("{}={value}; Path=/; HttpOnly; SameSite=Lax", dont_remember_name(core));
    if !on {
        c.push_str("; Max-Age=0");
    }
    if core.options().secure() {
        c.push_str("; Secure");
    }
    header_value(&c)
}

/// The raw value of cookie `name`, if present.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v.trim().trim_matches('"'))
    })
}

/// Where a token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Cookie,
    Bearer,
    /// An API key (`[api_key]`) on one of `api_key.session_routes`: a session for this
    /// request only, whose `token` is empty.
    ApiKey,
}

/// A session token as presented, its signature not yet checked.
pub struct Presented {
    pub token: String,
    pub source: Source,
    /// The base64 signature, for signed forms (`token.signature`).
    pub signature: Option<String>,
}

impl Presented {
    /// Does the signature verify (true for bare bearer tokens, which carry none)?
    pub fn authentic(&self, core: &Core) -> bool {
        self.signature.as_deref().is_none_or(|sig| core.secrets().verify_signature(&self.token, sig))
    }
}

/// The session token carried by the request, without checking its signature yet:
/// see [`Presented::authentic`] and [`session_token`].
pub fn presented_token(core: &Core, headers: &HeaderMap) -> Option<Presented> {
    let signed = |value: &str, source| {
        let (token, sig) = value.rsplit_once('.')?;
        (!token.is_empty()).then(|| Presented { token: token.to_owned(), source, signature: Some(sig.to_owned()) })
    };
    if let Some(b) = super::authorization(headers, "Bearer") {
        let decoded = if b.contains('%') { percent_decode(b, false).ok()? } else { b.to_owned() };
        if decoded.contains('.') {
            return signed(&decoded, Source::Bearer);
        }
        // An agent's key or session token is not a session: the agents routes read it.
        if !decoded.is_empty() && decoded.len() <= 256 && !kavach_core::plugins::agents::is_agent_credential(&decoded) {
            return Some(Presented { token: decoded, source: Source::Bearer, signature: None });
        }
        return None;
    }
    let raw = cookie(headers, cookie_name(core))?;
    let decoded = if raw.contains('%') { std::borrow::Cow::Owned(percent_decode(raw, false).ok()?) } else { std::borrow::Cow::Borrowed(raw) };
    signed(&decoded, Source::Cookie)
}

/// The session token carried by the request, with its signature checked: the
/// signed cookie, or `Authorization: Bearer` with the signed form or the bare token.
pub fn session_token(core: &Core, headers: &HeaderMap) -> Option<(String, Source)> {
    let p = presented_token(core, headers)?;
    p.authentic(core).then_some((p.token, p.source))
}

/// `encodeURIComponent` for the characters a signed token can contain.
fn encode_value(v: &str) -> String {
    v.replace('%', "%25").replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}

/// `Set-Cookie` for a new session token. Without `persistent`, a browser-session cookie.
pub fn set_session_cookie(core: &Core, token: &str, persistent: bool) -> HeaderValue {
    let o = core.options();
    let mut c = format!("{}={}; Path=/; HttpOnly; SameSite=Lax", cookie_name(core), encode_value(&core.secrets().sign_token(token)));
    if persistent {
        c.push_str(&format!("; Max-Age={}", o.session.expires_in.as_secs()));
    }
    if o.secure() {
        c.push_str("; Secure");
    }
    header_value(&c)
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session_cookie(core: &Core) -> HeaderValue {
    let mut c = format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0", cookie_name(core));
    if core.options().secure() {
        c.push_str("; Secure");
    }
    header_value(&c)
}

/// Does the response already set the session cookie?
pub fn sets_session_cookie(core: &Core, headers: &HeaderMap) -> bool {
    let name = cookie_name(core).as_bytes();
    headers.get_all(header::SET_COOKIE).iter().any(|v| v.as_bytes().strip_prefix(name).is_some_and(|rest| rest.starts_with(b"=")))
}

/// A `Set-Cookie` value. Every part is checked text (a configured cookie name, a
/// base64url token, fixed attributes); should one still not be a header value, the
/// cookie is dropped with an error in the log rather than the request failing.
fn header_value(c: &str) -> HeaderValue {
    HeaderValue::from_str(c).unwrap_or_else(|_| {
        tracing::error!("a cookie is not a valid header value; not sent");
        HeaderValue::from_static("")
    })
}

/// While an admin impersonates a user, their own session token waits here (signed,
/// with the `dont_remember` choice), to come back on `/admin/stop-impersonating`.
pub const ADMIN_SESSION: &str = "kavach.admin_session";
pub const SECURE_ADMIN_SESSION: &str = "__Secure-kavach.admin_session";

fn admin_session_name(core: &Core) -> &'static str {
    if core.options().secure() { SECURE_ADMIN_SESSION } else { ADMIN_SESSION }
}

/// `Set-Cookie` keeping the admin's session token during an impersonation, or (`None`)
/// removing it.
pub fn set_admin_session(core: &Core, token: Option<&str>, dont_remember: bool) -> HeaderValue {
    let mut c = match token {
        Some(t) => format!(
            "{}={}; Path=/; HttpOnly; SameSite=Lax",
            admin_session_name(core),
            encode_value(&core.secrets().sign_token(&format!("{t}:{}", if dont_remember { "true" } else { "" })))
        ),
        None => format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0", admin_session_name(core)),
    };
    if core.options().secure() {
        c.push_str("; Secure");
    }
    header_value(&c)
}

/// The admin's waiting session token and whether they asked not to be remembered, if the
/// cookie is there and its signature verifies.
pub fn admin_session(core: &Core, headers: &HeaderMap) -> Option<(String, bool)> {
    let raw = cookie(headers, admin_session_name(core))?;
    let decoded = percent_decode(raw, false).ok()?;
    // The signature is over "<token>:<dont_remember>"; the last '.' separates it.
    let (payload, sig) = decoded.rsplit_once('.')?;
    if !core.secrets().verify_signature(payload, sig) {
        return None;
    }
    let (token, dont) = payload.rsplit_once(':')?;
    (!token.is_empty()).then(|| (token.to_owned(), dont == "true"))
}

/// A pending sign-in waiting for its second factor (`[two_factor]`): its token, signed.
pub const TWO_FACTOR: &str = "kavach.two_factor";
/// A trusted device (`[two_factor]`): its token, signed; the server can revoke it.
pub const TRUST_DEVICE: &str = "kavach.trust_device";
/// The signed token naming a passkey ceremony in progress (`[passkey]`; better-auth's
/// `better-auth-passkey`).
pub const PASSKEY: &str = "kavach.passkey";

/// `name`, with the `__Secure-` prefix on https.
fn prefixed(core: &Core, name: &str) -> String {
    if core.options().secure() { format!("__Secure-{name}") } else { name.to_owned() }
}

/// `Set-Cookie` for a signed token under `name` (`TWO_FACTOR`, `TRUST_DEVICE`) that lives
/// `max_age`, or (`None`) its removal.
pub fn set_signed(core: &Core, name: &str, token: Option<&str>, max_age: std::time::Duration) -> HeaderValue {
    let mut c = match token {
        Some(t) => {
            format!("{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}", prefixed(core, name), encode_value(&core.secrets().sign_token(t)), max_age.as_secs())
        }
        None => format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0", prefixed(core, name)),
    };
    if core.options().secure() {
        c.push_str("; Secure");
    }
    header_value(&c)
}

/// The token of the signed cookie `name`, if present and its signature verifies.
pub fn signed(core: &Core, headers: &HeaderMap, name: &str) -> Option<String> {
    let raw = cookie(headers, &prefixed(core, name))?;
    let decoded = percent_decode(raw, false).ok()?;
    core.secrets().verify_signed_token(&decoded).map(str::to_owned)
}
