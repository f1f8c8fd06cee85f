//! Agents' outside input: resource patterns and concrete resources (from permission
//! bodies and decision requests), constraints (JSON from permission bodies, evaluated at
//! every decision), and the argument glob.
//!
//! Input: fields `pattern` 0xFF `wider pattern` 0xFF `resource` 0xFF `constraints JSON`
//! 0xFF `arguments JSON` 0xFF `glob` 0xFF `text`, after a mode byte (the IP and time).

#![no_main]

use kavach_fuzz::agents::Constraints;
use kavach_fuzz::agents::constraints::glob;
use kavach_fuzz::agents::pattern::{Pattern, check_resource};
use kavach_fuzz::{fields, mode};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let (m, rest) = mode(data);
    let f = fields(rest, 7);
    let (p, wider) = (Pattern::parse(&f[0]), Pattern::parse(&f[1]));
    if let Ok(p) = &p {
        let text = p.to_string();
        assert_eq!(Pattern::parse(&text).as_ref().ok(), Some(p), "{text:?} does not read back");
        assert!(p.within(p), "{text:?} is not within itself");
        assert!(p.within(&Pattern::parse("**").unwrap_or_else(|_| unreachable!())), "{text:?} is not within **");
    }
    let resource_ok = check_resource(&f[2]).is_ok();
    if resource_ok {
        let everything = Pattern::parse("**").unwrap_or_else(|_| unreachable!());
        assert!(everything.matches(&f[2]), "** must match {:?}", f[2]);
        let exact = Pattern::parse(&f[2]).unwrap_or_else(|e| panic!("a checked resource {:?} is a pattern: {}", f[2], e.message));
        assert!(exact.matches(&f[2]));
        if let (Ok(p), Ok(w)) = (&p, &wider)
            && p.within(w)
            && p.matches(&f[2])
        {
            assert!(w.matches(&f[2]), "{p} within {w} but {w} does not match {:?}", f[2]);
        }
    }
    if let Ok(c) = serde_json::from_str::<Constraints>(&f[3])
        && let Ok(checked) = c.check()
    {
        assert!(c.tightens(&c), "constraints tighten themselves");
        let args: Value = serde_json::from_str(&f[4]).unwrap_or(Value::Null);
        let ip = match m % 3 {
            0 => None,
            1 => Some(std::net::IpAddr::from([10, m, 0, 1])),
            _ => Some(std::net::IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(m)])),
        };
        let now = i64::from(m) * 3_600_000 * 7 + 1_796_256_000_000;
        let _ = checked.refuse(now, ip, &args, || m % 101);
        let _ = checked.needs_approval(|| m % 101);
    }
    let (g, t) = (&f[5], &f[6]);
    if g.chars().count() <= 256 && t.len() <= 4096 {
        let matched = glob(g, t);
        if !g.contains(['*', '?']) {
            assert_eq!(matched, g == t, "a glob without wildcards is equality");
        }
        if g.chars().all(|c| c == '*') && !g.is_empty() {
            assert!(matched, "only stars match everything");
        }
    }
});
