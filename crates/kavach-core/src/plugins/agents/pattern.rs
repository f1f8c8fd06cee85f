//! Resource patterns: `:`-separated segments, matched segment by segment.
//!
//! - a literal segment matches itself (case-sensitive);
//! - `*` matches exactly one segment, whatever it is, and never acts as a suffix
//!   (`mcp:*:read` matches `mcp:files:read`, not `mcp:files:x:read` nor `mcp:files`);
//! - `**`, only as the last segment, matches one or more remaining segments
//!   (`mcp:**` matches `mcp:files` and `mcp:files:read`, not `mcp` itself);
//! - the pattern `**` alone matches every resource.
//!
//! Segments are 1 to 128 characters of `a-z A-Z 0-9 _ - . / @ + = ~ %`; a resource has
//! at most 32 segments and 512 characters. Matching is linear in the number of segments.

use crate::error::{Code, Error, Result};

pub const MAX_SEGMENTS: usize = 32;
pub const MAX_LEN: usize = 512;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Lit(String),
    One,
}

/// A checked pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    segs: Vec<Seg>,
    /// Ends with `**`.
    rest: bool,
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./@+=~%".contains(&b))
}

fn invalid(code: Code, msg: String) -> Error {
    Error::bad_request(code, msg)
}

/// Check a concrete resource (no wildcards): the text a decision is asked about.
pub fn check_resource(resource: &str) -> Result<()> {
    let n = resource.split(':').count();
    if resource.len() > MAX_LEN || n > MAX_SEGMENTS || !resource.split(':').all(valid_segment) {
        return Err(invalid(
            Code::InvalidPermission,
            format!("{resource:?} is not a resource: 1 to {MAX_SEGMENTS} segments separated by ':', each of a-z A-Z 0-9 _ - . / @ + = ~ %"),
        ));
    }
    Ok(())
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern> {
        let bad = |why: &str| invalid(Code::InvalidResourcePattern, format!("{text:?} is not a resource pattern: {why}"));
        if text.len() > MAX_LEN {
            return Err(bad("too long"));
        }
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() > MAX_SEGMENTS {
            return Err(bad("too many segments"));
        }
        let last = parts.len() - 1;
        let mut segs = Vec::with_capacity(parts.len());
        let mut rest = false;
        for (i, p) in parts.iter().enumerate() {
            match *p {
                "**" if i == last => rest = true,
                "**" => return Err(bad("`**` may only be the last segment")),
                "*" => segs.push(Seg::One),
                s if s.contains('*') => return Err(bad("`*` stands alone in its segment (`a:*:b`), never inside one")),
                s if valid_segment(s) => segs.push(Seg::Lit(s.to_owned())),
                _ => return Err(bad("segments are separated by ':' and made of a-z A-Z 0-9 _ - . / @ + = ~ %")),
            }
        }
        Ok(Pattern { segs, rest })
    }

    /// Does the concrete `resource` match?
    pub fn matches(&self, resource: &str) -> bool {
        let mut it = resource.split(':');
        for seg in &self.segs {
            match (seg, it.next()) {
                (_, None) => return false,
                (Seg::One, Some(_)) => {}
                (Seg::Lit(l), Some(r)) if l == r => {}
                _ => return false,
            }
        }
        match it.next() {
            None => !self.rest,
            Some(_) => self.rest,
        }
    }

    /// Is every resource this pattern matches also matched by `wider`? (Used to check
    /// that a delegated or granted pattern asks for nothing more than what is held.)
    pub fn within(&self, wider: &Pattern) -> bool {
        // Walk both: each of our segments must be covered by wider's.
        let mut i = 0;
        for (j, w) in wider.segs.iter().enumerate() {
            match self.segs.get(j) {
                Some(s) => {
                    let ok = match (w, s) {
                        (Seg::One, _) => true,
                        (Seg::Lit(a), Seg::Lit(b)) => a == b,
                        (Seg::Lit(_), Seg::One) => false,
                    };
                    if !ok {
                        return false;
                    }
                    i = j + 1;
                }
                // We end (or continue with `**`) where wider still needs a segment.
                None => return false,
            }
        }
        let ours_left = self.segs.len() - i;
        if wider.rest {
            // Wider takes one or more further segments: we must have at least one.
            ours_left > 0 || self.rest
        } else {
            ours_left == 0 && !self.rest
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<&str> = self
            .segs
            .iter()
            .map(|s| match s {
                Seg::Lit(l) => l.as_str(),
                Seg::One => "*",
            })
            .collect();
        if self.rest {
            parts.push("**");
        }
        f.write_str(&parts.join(":"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn a_star_in_the_middle_never_acts_as_a_suffix() {
        let pat = p("mcp:*:read");
        assert!(pat.matches("mcp:files:read"));
        assert!(!pat.matches("mcp:files:x:read"), "KavachOS: a middle * matched the whole rest");
        assert!(!pat.matches("mcp:files:write"));
        assert!(!pat.matches("mcp:files"));
        assert!(!pat.matches("mcp"));
    }

    #[test]
    fn star_matches_exactly_one_segment_and_double_star_one_or_more() {
        assert!(p("mcp:*").matches("mcp:files"));
        assert!(!p("mcp:*").matches("mcp"), "KavachOS: mcp:* matched the bare mcp");
        assert!(!p("mcp:*").matches("mcp:files:read"));
        assert!(p("mcp:**").matches("mcp:files"));
        assert!(p("mcp:**").matches("mcp:files:read:x"));
        assert!(!p("mcp:**").matches("mcp"));
        assert!(p("**").matches("anything:at:all"));
        assert!(p("**").matches("one"));
        assert!(p("*").matches("one"));
        assert!(!p("*").matches("one:two"));
        assert!(p("tool:search").matches("tool:search"));
        assert!(!p("tool:search").matches("tool:Search"));
    }

    #[test]
    fn the_grammar_refuses_partial_wildcards_and_bad_segments() {
        for bad in ["mcp:fi*", "mcp:**:read", "", "a::b", "a b", "mcp:*x", &"a:".repeat(40)] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
        assert!(check_resource("mcp:files:read").is_ok());
        assert!(check_resource("mcp:*").is_err());
        assert!(check_resource("").is_err());
        assert_eq!(p("a:*:**").to_string(), "a:*:**");
    }

    #[test]
    fn within_is_the_subset_rule_of_patterns() {
        assert!(p("mcp:files:read").within(&p("mcp:*:read")));
        assert!(p("mcp:*:read").within(&p("mcp:**")));
        assert!(p("mcp:files:**").within(&p("mcp:**")));
        assert!(!p("mcp:**").within(&p("mcp:*")));
        assert!(!p("mcp:*").within(&p("mcp:files")));
        assert!(!p("mcp").within(&p("mcp:**")));
        assert!(p("mcp:a").within(&p("**")));
        assert!(p("**").within(&p("**")));
        assert!(!p("**").within(&p("mcp:**")));
        assert!(p("mcp:*:x").within(&p("mcp:*:x")));
        assert!(!p("mcp:*:x:y").within(&p("mcp:*:x")));
    }
}
