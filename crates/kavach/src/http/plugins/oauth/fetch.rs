//! Server-side fetches of URLs a client chose (Client ID Metadata Documents, a client's
//! `jwks_uri`), with SSRF protection: https only; loopback, private, link-local and other
//! special addresses refused after DNS resolution, and the connection pinned to the
//! checked address; no redirects; 200 only; a size cap (5 KB for metadata documents,
//! 64 KiB for key sets); 5 s timeout; HTTP caching honoured. `oauth.metadata_documents_insecure` (development only) allows http and
//! local addresses.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The largest key set read from a `jwks_uri`.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);
/// Without caching headers a document is kept this long; never longer than a day.
const DEFAULT_TTL_SECS: i64 = 300;
const MAX_TTL_SECS: i64 = 86400;
/// A fetched document is kept at least this long (seconds), whatever its caching headers
/// say, so no request can make the server fetch the same URL every time.
pub const MIN_TTL_SECS: i64 = 10;

/// Addresses a server-side fetch must never reach (SSRF).
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0xdb8)
                || a.to_ipv4_mapped().is_some_and(|v4| forbidden(IpAddr::V4(v4)))
                || (s[0] == 0x64 && s[1] == 0xff9b)
                // 6to4 and Teredo tunnel to IPv4 addresses; ::/96 is the deprecated IPv4-compatible form.
                || s[0] == 0x2002
                || (s[0] == 0x2001 && s[1] == 0)
                || s[..6] == [0; 6]
        }
    }
}

/// Fetch a JSON document of at most `max_bytes`: the JSON and how many seconds it may
/// be cached.
pub async fn fetch_json(url: &str, insecure: bool, max_bytes: usize) -> Result<(serde_json::Value, i64), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    if parsed.scheme() != "https" && !(insecure && parsed.scheme() == "http") {
        return Err("must be an https URL".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() || parsed.fragment().is_some() {
        return Err("must not contain credentials or a fragment".into());
    }
    if parsed.path().split('/').any(|seg| seg == "." || seg == "..") {
        return Err("must not contain dot segments".into());
    }
    let host = parsed.host_str().ok_or("has no host")?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = parsed.port_or_known_default().ok_or("has no port")?;
    let addrs: Vec<SocketAddr> = tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
        .await
        .map_err(|_| "DNS lookup timed out".to_owned())?
        .map_err(|e| format!("DNS lookup failed ({e})"))?
        .collect();
    let Some(addr) = addrs.first().copied() else { return Err("the host does not resolve".into()) };
    if !insecure && addrs.iter().any(|a| forbidden(a.ip())) {
        return Err("the host resolves to a loopback, private, link-local or otherwise reserved address".into());
    }
    // Connect to the address that was checked (no second lookup an attacker could change).
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A proxy from the environment would resolve the host itself, past the check above.
        .no_proxy()
        .timeout(TIMEOUT)
        .resolve(&host, addr)
        .build()
        .map_err(|e| e.to_string())?;
    let mut resp = client.get(parsed).header("accept", "application/json").send().await.map_err(|e| format!("fetch failed ({e})"))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(format!("answered {} (only 200 is accepted; redirects are not followed)", resp.status().as_u16()));
    }
    if resp.content_length().is_some_and(|n| n as usize > max_bytes) {
        return Err(format!("is larger than {max_bytes} bytes"));
    }
    let ttl = cache_ttl(resp.headers().get("cache-control").and_then(|v| v.to_str().ok()));
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("read failed ({e})"))? {
        body.extend_from_slice(&chunk);
        if body.len() > max_bytes {
            return Err(format!("is larger than {max_bytes} bytes"));
        }
    }
    if crate::http::body::json_has_nul(&body) {
        return Err("holds a NUL character".into());
    }
    let doc = serde_json::from_slice(&body).map_err(|e| format!("is not JSON ({e})"))?;
    Ok((doc, ttl))
}

/// Seconds a response may be cached, from its `Cache-Control`.
fn cache_ttl(cache_control: Option<&str>) -> i64 {
    let Some(cc) = cache_control else { return DEFAULT_TTL_SECS };
    let directives: Vec<String> = cc.split(',').map(|d| d.trim().to_ascii_lowercase()).collect();
    if directives.iter().any(|d| d == "no-store" || d == "no-cache") {
        return 0;
    }
    directives
        .iter()
        .find_map(|d| d.strip_prefix("max-age=").and_then(|v| v.trim_matches('"').parse::<i64>().ok()))
        .map(|s| s.clamp(0, MAX_TTL_SECS))
        .unwrap_or(DEFAULT_TTL_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_09_ssrf_targets_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
            "::7f00:1",
        ] {
            assert!(forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(!forbidden(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn mcp_09_http_caching_is_honoured() {
        assert_eq!(cache_ttl(None), DEFAULT_TTL_SECS);
        assert_eq!(cache_ttl(Some("public, max-age=60")), 60);
        assert_eq!(cache_ttl(Some("no-store")), 0);
        assert_eq!(cache_ttl(Some("max-age=99999999")), MAX_TTL_SECS);
    }
}
