//! The EIP-4361 message, parsed strictly: the lines in the order of the specification's
//! ABNF, every field checked for its syntax (authority, EIP-55 address, absolute URI,
//! version 1, decimal chain id, alphanumeric nonce, RFC 3339 times, resources). Pure:
//! what the fields must equal (domain, nonce, chain, times) is checked by the caller.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A parsed Sign-In with Ethereum message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The scheme before the domain, when the message has one (`https`).
    pub scheme: Option<String>,
    /// The RFC 3986 authority asking for the sign-in (`example.com`, `localhost:3000`).
    pub domain: String,
    /// The signing account's 20 bytes.
    pub address: [u8; 20],
    pub statement: Option<String>,
    pub uri: String,
    pub chain_id: u64,
    pub nonce: String,
    pub issued_at: OffsetDateTime,
    pub expiration_time: Option<OffsetDateTime>,
    pub not_before: Option<OffsetDateTime>,
    pub request_id: Option<String>,
    pub resources: Vec<String>,
}

impl Message {
    /// The message's text in the specification's layout (what a wallet is asked to sign).
    pub fn to_text(&self) -> String {
        let time = |t: &OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        let mut out = String::new();
        if let Some(s) = &self.scheme {
            out.push_str(s);
            out.push_str("://");
        }
        out.push_str(&format!("{}{HEADER_SUFFIX}\n{}\n\n", self.domain, checksummed(&self.address)));
        if let Some(st) = &self.statement {
            out.push_str(st);
            out.push('\n');
        }
        out.push_str(&format!("\nURI: {}\nVersion: 1\nChain ID: {}\nNonce: {}\nIssued At: {}", self.uri, self.chain_id, self.nonce, time(&self.issued_at)));
        if let Some(t) = &self.expiration_time {
            out.push_str(&format!("\nExpiration Time: {}", time(t)));
        }
        if let Some(t) = &self.not_before {
            out.push_str(&format!("\nNot Before: {}", time(t)));
        }
        if let Some(r) = &self.request_id {
            out.push_str(&format!("\nRequest ID: {r}"));
        }
        if !self.resources.is_empty() {
            out.push_str("\nResources:");
            for r in &self.resources {
                out.push_str(&format!("\n- {r}"));
            }
        }
        out
    }
}

const HEADER_SUFFIX: &str = " wants you to sign in with your Ethereum account:";
/// Longer messages are refused before parsing (a real one is a few hundred bytes).
pub const MAX_LEN: usize = 8192;

/// Why a message does not parse (the field at fault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub &'static str);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the message's {} is not valid EIP-4361", self.0)
    }
}

/// Parse `text` (lines end with LF; a CR before it is refused).
pub fn parse(text: &str) -> Result<Message, ParseError> {
    if text.len() > MAX_LEN || text.contains('\r') || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ParseError("text"));
    }
    let mut lines = text.split('\n').peekable();
    let header = lines.next().and_then(|l| l.strip_suffix(HEADER_SUFFIX)).ok_or(ParseError("first line"))?;
    let (scheme, domain) = match header.split_once("://") {
        Some((s, d)) => (Some(s), d),
        None => (None, header),
    };
    if let Some(s) = scheme
        && !is_scheme(s)
    {
        return Err(ParseError("scheme"));
    }
    if !is_authority(domain) {
        return Err(ParseError("domain"));
    }
    let address = parse_address(lines.next().ok_or(ParseError("address"))?).ok_or(ParseError("address"))?;
    if lines.next() != Some("") {
        return Err(ParseError("layout"));
    }
    // `[ statement LF ] LF`: a statement line then an empty one, or the empty line alone.
    // The older layout without the second empty line (no statement) is accepted too.
    let statement = match lines.peek().copied() {
        Some("") => {
            lines.next();
            None
        }
        Some(l) if l.starts_with("URI: ") => None,
        Some(l) => {
            lines.next();
            if lines.next() != Some("") {
                return Err(ParseError("statement"));
            }
            Some(l.to_owned())
        }
        None => return Err(ParseError("layout")),
    };
    let mut field = |name: &'static str| lines.next().and_then(|l| l.strip_prefix(name)).ok_or(ParseError(name.trim_end_matches([':', ' '])));
    let uri = field("URI: ")?;
    if !is_uri(uri) {
        return Err(ParseError("URI"));
    }
    if field("Version: ")? != "1" {
        return Err(ParseError("Version"));
    }
    let chain = field("Chain ID: ")?;
    let chain_id = (!chain.is_empty() && chain.len() <= 19 && chain.bytes().all(|b| b.is_ascii_digit()) && !chain.starts_with('0'))
        .then(|| chain.parse::<u64>().ok())
        .flatten()
        .ok_or(ParseError("Chain ID"))?;
    let nonce = field("Nonce: ")?;
    if nonce.len() < 8 || nonce.len() > 256 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ParseError("Nonce"));
    }
    let issued_at = time_of(field("Issued At: ")?).ok_or(ParseError("Issued At"))?;
    let mut m = Message {
        scheme: scheme.map(str::to_owned),
        domain: domain.to_owned(),
        address,
        statement,
        uri: uri.to_owned(),
        chain_id,
        nonce: nonce.to_owned(),
        issued_at,
        expiration_time: None,
        not_before: None,
        request_id: None,
        resources: Vec::new(),
    };
    // The optional fields, each at most once and in the specification's order.
    let mut next = lines.next();
    if let Some(v) = next.and_then(|l| l.strip_prefix("Expiration Time: ")) {
        m.expiration_time = Some(time_of(v).ok_or(ParseError("Expiration Time"))?);
        next = lines.next();
    }
    if let Some(v) = next.and_then(|l| l.strip_prefix("Not Before: ")) {
        m.not_before = Some(time_of(v).ok_or(ParseError("Not Before"))?);
        next = lines.next();
    }
    if let Some(v) = next.and_then(|l| l.strip_prefix("Request ID: ")) {
        if v.chars().any(char::is_whitespace) {
            return Err(ParseError("Request ID"));
        }
        m.request_id = Some(v.to_owned());
        next = lines.next();
    }
    if next == Some("Resources:") {
        next = lines.next();
        while let Some(r) = next.and_then(|l| l.strip_prefix("- ")) {
            if !is_uri(r) {
                return Err(ParseError("Resources"));
            }
            m.resources.push(r.to_owned());
            next = lines.next();
        }
    }
    match next {
        None => Ok(m),
        Some(_) => Err(ParseError("end")),
    }
}

fn time_of(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

fn is_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic()) && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

/// An RFC 3986 authority without user information: a host (name, IPv4 or bracketed IPv6)
/// and an optional port.
pub fn is_authority(s: &str) -> bool {
    let (host, port) = match s.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip6, "")) if ip6.parse::<std::net::Ipv6Addr>().is_ok() => (None, None),
            Some((ip6, after)) if ip6.parse::<std::net::Ipv6Addr>().is_ok() => match after.strip_prefix(':') {
                Some(p) => (None, Some(p)),
                None => return false,
            },
            _ => return false,
        },
        None => match s.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(s), None),
        },
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|c| c.is_ascii_digit()) && p.parse::<u16>().is_ok());
    let host_ok = host.is_none_or(|h| {
        !h.is_empty()
            && h.len() <= 253
            && h.split('.').all(|label| !label.is_empty() && label.len() <= 63 && label.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
    });
    port_ok && host_ok
}

/// An absolute URI: a scheme, then printable ASCII without spaces.
fn is_uri(s: &str) -> bool {
    s.len() <= 2048
        && s.split_once(':').is_some_and(|(scheme, rest)| is_scheme(scheme) && !rest.is_empty())
        && s.bytes().all(|c| c.is_ascii_graphic() && !matches!(c, b'<' | b'>' | b'"' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'))
}

/// `0x` and 40 hex digits; a mixed-case address must carry a valid EIP-55 checksum.
pub fn parse_address(s: &str) -> Option<[u8; 20]> {
    let hex = s.strip_prefix("0x")?;
    if hex.len() != 40 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    let mixed = hex.bytes().any(|c| c.is_ascii_lowercase()) && hex.bytes().any(|c| c.is_ascii_uppercase());
    if mixed && checksummed(&out) != s {
        return None;
    }
    Some(out)
}

/// The EIP-55 form of an address: `0x` and hex digits, a letter upper-cased where the
/// matching nibble of keccak256(lower-case hex) is 8 or more.
pub fn checksummed(address: &[u8; 20]) -> String {
    let lower: String = address.iter().map(|b| format!("{b:02x}")).collect();
    let hash = super::signature::keccak256(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = hash.get(i / 2).map_or(0, |h| if i % 2 == 0 { h >> 4 } else { h & 0x0f });
        out.push(if nibble >= 8 { c.to_ascii_uppercase() } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

    fn sample(statement: Option<&str>, tail: &str) -> String {
        let st = statement.map(|s| format!("{s}\n")).unwrap_or_default();
        format!(
            "example.com wants you to sign in with your Ethereum account:\n{ADDR}\n\n{st}\nURI: https://example.com/login\nVersion: 1\nChain ID: 1\nNonce: abcdEFGH1234\nIssued At: 2026-12-04T10:00:00.000Z{tail}"
        )
    }

    #[test]
    fn eip55_checksums_of_the_specification() {
        for a in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let bytes = parse_address(a).unwrap();
            assert_eq!(checksummed(&bytes), a);
        }
        assert!(parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").is_some(), "all lower case has no checksum");
        assert!(parse_address("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").is_none(), "a wrong checksum");
        assert!(parse_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe").is_none());
    }

    #[test]
    fn the_layouts_with_and_without_a_statement_parse() {
        let m = parse(&sample(Some("Sign in to Example"), "")).unwrap();
        assert_eq!(m.statement.as_deref(), Some("Sign in to Example"));
        assert_eq!((m.domain.as_str(), m.chain_id, m.nonce.as_str()), ("example.com", 1, "abcdEFGH1234"));
        assert_eq!(parse(&sample(None, "")).unwrap().statement, None);
        // The legacy layout: one empty line, no statement.
        let legacy = sample(None, "").replacen("\n\n\n", "\n\n", 1);
        assert_eq!(parse(&legacy).unwrap().statement, None);
        let full = sample(
            None,
            "\nExpiration Time: 2026-12-04T10:10:00Z\nNot Before: 2026-12-04T09:59:00Z\nRequest ID: r-1\nResources:\n- ipfs://bafy\n- https://example.com/a",
        );
        let m = parse(&full).unwrap();
        assert!(m.expiration_time.is_some() && m.not_before.is_some());
        assert_eq!(m.resources.len(), 2);
        assert_eq!(parse(&m.to_text()), Ok(m.clone()), "the text of a message parses to it");
        assert_eq!(parse(&format!("https://{}", sample(None, ""))).unwrap().scheme.as_deref(), Some("https"));
    }

    #[test]
    fn malformed_fields_are_refused_by_name() {
        let ok = sample(None, "");
        for (from, to, field) in [
            ("Version: 1", "Version: 2", "Version"),
            ("Chain ID: 1", "Chain ID: 01", "Chain ID"),
            ("Chain ID: 1", "Chain ID: -1", "Chain ID"),
            ("Nonce: abcdEFGH1234", "Nonce: abc", "Nonce"),
            ("Nonce: abcdEFGH1234", "Nonce: abcd-EFGH-1234", "Nonce"),
            ("2026-12-04T10:00:00.000Z", "yesterday", "Issued At"),
            ("URI: https://example.com/login", "URI: not a uri", "URI"),
            ("example.com wants", "exa mple.com wants", "domain"),
            ("wants you to sign in", "wants you to log in", "first line"),
            ("example.com wants", "user@example.com wants", "domain"),
            ("example.com wants", "example.com:99999 wants", "domain"),
            ("\nURI:", "\nNonce: x\nURI:", "URI"),
        ] {
            assert_eq!(parse(&ok.replacen(from, to, 1)).map(|_| ()), Err(ParseError(field)), "{from} -> {to}");
        }
        assert!(parse(&ok.replace('\n', "\r\n")).is_err());
        assert_eq!(parse(&format!("{ok}\nExtra: 1")).map(|_| ()), Err(ParseError("end")));
        assert_eq!(parse(&format!("{ok}\n")).map(|_| ()), Err(ParseError("end")));
        assert!(parse(&ok.replacen(ADDR, "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", 1)).is_err());
    }
}
