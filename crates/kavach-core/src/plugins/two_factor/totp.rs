//! TOTP (RFC 6238 over RFC 4226's HOTP, HMAC-SHA-1 as every authenticator app
//! expects), the base32 of the secret (RFC 4648, no padding) and the `otpauth://` URI
//! authenticator apps read from a QR code. Pure functions: the time and the secret come
//! from the caller.

use aws_lc_rs::hmac;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(symbol(buffer >> bits));
        }
    }
    if bits > 0 {
        out.push(symbol(buffer << (5 - bits)));
    }
    out
}

/// The base32 symbol of the low five bits of `v`.
fn symbol(v: u32) -> char {
    char::from(ALPHABET.get((v & 31) as usize).copied().unwrap_or(b'A'))
}

/// Decode base32 (case-insensitive, spaces and padding ignored); `None` on any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for c in text.bytes().filter(|c| *c != b' ' && *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// HOTP (RFC 4226 §5.3): the `digits`-digit code of `counter`.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = mac.last().map_or(0, |b| usize::from(b & 0x0f));
    let word = mac.get(offset..offset + 4).and_then(|w| <[u8; 4]>::try_from(w).ok()).map_or(0, |w| u32::from_be_bytes(w) & 0x7fff_ffff);
    let modulus = 10u32.pow(digits.min(9));
    format!("{:0width$}", word % modulus, width = digits as usize)
}

/// The TOTP settings every code of a deployment shares.
#[derive(Clone, Copy, Debug)]
pub struct Totp {
    pub digits: u32,
    /// Seconds per step (30).
    pub period: u64,
    /// Steps accepted on either side of the current one, for clock drift (1).
    pub skew: u64,
}

impl Totp {
    /// The time step of `unix_secs`.
    pub fn step(&self, unix_secs: u64) -> u64 {
        unix_secs / self.period.max(1)
    }

    /// The code of the step that contains `unix_secs`.
    pub fn code_at(&self, secret: &[u8], unix_secs: u64) -> String {
        hotp(secret, self.step(unix_secs), self.digits)
    }

    /// The step whose code `code` is, within the skew around `unix_secs`, compared in
    /// constant time; `None` if none matches. The caller refuses a step at or below the
    /// last one accepted (a code is good once).
    pub fn matching_step(&self, secret: &[u8], code: &str, unix_secs: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != self.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = self.step(unix_secs);
        let mut found = None;
        for step in now.saturating_sub(self.skew)..=now + self.skew {
            // Every candidate is computed and compared: the time taken says nothing about which matched.
            if crate::crypto::ct_eq(hotp(secret, step, self.digits).as_bytes(), code.as_bytes()) && found.is_none() {
                found = Some(step);
            }
        }
        found
    }

    /// The `otpauth://totp/` URI of Google's Key Uri Format, which authenticator apps scan.
    pub fn uri(&self, secret: &[u8], issuer: &str, account: &str) -> String {
        let label = format!("{}:{}", enc(issuer), enc(account));
        format!("otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={}&period={}", base32_encode(secret), enc(issuer), self.digits, self.period)
    }
}

/// Percent-encoding of a URI component (RFC 3986 unreserved characters kept).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let t = Totp { digits: 8, period: 30, skew: 1 };
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(t.code_at(RFC_SECRET, time), code, "at {time}");
        }
    }

    #[test]
    fn rfc4226_appendix_d_hotp_vectors() {
        let expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (i, code) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, i as u64, 6), *code);
        }
    }

    #[test]
    fn codes_match_within_the_skew_only_and_name_their_step() {
        let t = Totp { digits: 6, period: 30, skew: 1 };
        let now = 1_700_000_000;
        let step = t.step(now);
        let current = t.code_at(RFC_SECRET, now);
        assert_eq!(t.matching_step(RFC_SECRET, &current, now), Some(step));
        let previous = t.code_at(RFC_SECRET, now - 30);
        assert_eq!(t.matching_step(RFC_SECRET, &previous, now), Some(step - 1));
        let old = t.code_at(RFC_SECRET, now - 90);
        assert_eq!(t.matching_step(RFC_SECRET, &old, now), None);
        assert_eq!(t.matching_step(RFC_SECRET, "12345", now), None);
        assert_eq!(t.matching_step(RFC_SECRET, "12345a", now), None);
    }

    #[test]
    fn base32_round_trips_and_matches_rfc4648() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        for n in 0..40usize {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
            assert_eq!(base32_decode(&base32_encode(&data)).unwrap(), data);
        }
        assert!(base32_decode("A1").is_none());
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let t = Totp { digits: 6, period: 30, skew: 1 };
        let uri = t.uri(b"foobar", "My App", "ann@example.com");
        assert_eq!(uri, "otpauth://totp/My%20App:ann%40example.com?secret=MZXW6YTBOI&issuer=My%20App&algorithm=SHA1&digits=6&period=30");
    }
}
