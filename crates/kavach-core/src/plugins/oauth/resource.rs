//! RFC 8707 resource indicators, canonicalised as the MCP authorization spec asks:
//! an absolute http(s) URI without fragment or query; scheme and host are
//! lower-cased; an empty path and `/` denote the same resource and are stored
//! without the slash; any other path is kept exactly (so `/mcp` and `/mcp/` differ).

use super::{OAuthError, OAuthErrorCode};

/// The canonical form of a `resource` parameter, or `invalid_target`.
pub fn canonical(resource: &str) -> Result<String, OAuthError> {
    let bad = |why: &str| Err(OAuthError::new(OAuthErrorCode::InvalidTarget, format!("resource {resource:?} {why}")));
    if resource.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains whitespace");
    }
    let Some((scheme, rest)) = resource.split_once("://") else { return bad("is not an absolute URI") };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return bad("must be an http(s) URI");
    }
    if rest.contains('#') {
        return bad("must not contain a fragment");
    }
    if rest.contains('?') {
        return bad("must not contain a query");
    }
    let (authority, path) = rest.find('/').map(|i| rest.split_at(i)).unwrap_or((rest, ""));
    if authority.is_empty() || authority.contains('@') {
        return bad("has no valid host");
    }
    let path = if path == "/" { "" } else { path };
    Ok(format!("{scheme}://{}{path}", authority.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn mcp_14_resource_canonicalisation() {
        assert_eq!(canonical("https://MCP.Example.com/mcp").unwrap(), "https://mcp.example.com/mcp");
        assert_eq!(canonical("HTTPS://mcp.example.com").unwrap(), "https://mcp.example.com");
        assert_eq!(canonical("https://mcp.example.com/").unwrap(), "https://mcp.example.com", "empty path and / are one resource");
        assert_eq!(canonical("https://mcp.example.com/mcp/").unwrap(), "https://mcp.example.com/mcp/", "other trailing slashes are significant");
        assert_eq!(canonical("http://localhost:8000/mcp").unwrap(), "http://localhost:8000/mcp");
        assert_eq!(canonical("https://mcp.example.com/MCP").unwrap(), "https://mcp.example.com/MCP", "paths keep their case");
        for bad in ["mcp.example.com", "ftp://x/y", "https://x/y#f", "https://x/y?q=1", "https:///y", "https://u@x/y", "https://x/ y"] {
            assert_eq!(canonical(bad).unwrap_err().error, "invalid_target", "{bad}");
        }
    }
}
