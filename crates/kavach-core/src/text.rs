//! Text rules shared by every input: characters that must never reach storage (NUL:
//! PostgreSQL refuses it in text), and invisible and bidirectional formatting
//! characters that make one string display as another (an email address that looks
//! like someone else's, a client name that reads backwards).

/// Bidirectional controls (Unicode's explicit embeddings, overrides, isolates and marks)
/// and invisible formatting characters (zero-width spaces and joiners, word joiners,
/// invisible operators, the byte-order mark, soft hyphens, tags, variation selectors).
pub fn is_invisible_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// `s` with its invisible and bidirectional formatting characters removed, for showing
/// text someone else chose (a client's name) where a user decides on it.
pub fn neutralize(s: &str) -> String {
    s.chars().filter(|c| !is_invisible_or_bidi(*c)).collect()
}

/// Does `s` hold a NUL character (which PostgreSQL cannot store in text)?
pub fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// Percent-encode for a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A duration for people: `2 days`, `1 hour`, `15 minutes`.
pub fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86400 == 0 && s >= 86400 => format!("{} day{}", s / 86400, if s == 86400 { "" } else { "s" }),
        s if s % 3600 == 0 && s >= 3600 => format!("{} hour{}", s / 3600, if s == 3600 { "" } else { "s" }),
        s => format!("{} minutes", s.div_ceil(60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_invisible_characters_are_found_and_removed() {
        assert_eq!(neutralize("Cla\u{200B}ude\u{202E}"), "Claude");
        assert_eq!(neutralize("\u{2067}evil\u{2069} app"), "evil app");
        assert!(is_invisible_or_bidi('\u{FEFF}') && is_invisible_or_bidi('\u{E0041}') && !is_invisible_or_bidi('é'));
        assert_eq!(neutralize("Café naïve"), "Café naïve");
        assert!(has_nul("a\0b") && !has_nul("ab"));
    }
}
