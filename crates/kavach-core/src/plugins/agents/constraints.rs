//! The constraints a permission carries, checked by the decision point. Everything here
//! is pure: the caller supplies the time, the client IP, the arguments and the trust
//! score; the rate counter is the one thing consumed, by the decision point, last.
//!
//! ```json
//! { "rate": "100/1h",
//!   "timeWindow": { "start": "22:00", "end": "06:00", "timeZone": "Europe/Paris", "days": ["mon", "tue"] },
//!   "ipAllow": ["10.0.0.0/8", "2001:db8::/32"],
//!   "arguments": { "path": { "prefix": "/srv/reports/" }, "/options/limit": { "max": 100 } },
//!   "requireApproval": false, "minTrust": 40, "approvalBelowTrust": 60 }
//! ```

use crate::error::{Code, Error, Result};
use crate::ratelimit::Rule;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A permission's constraints as stored (the JSON above).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Constraints {
    /// Calls per window (`"100/1h"`), counted atomically for every instance; only calls
    /// that pass every other check count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_window: Option<TimeWindow>,
    /// IPv4 and IPv6 addresses or CIDR blocks; the real client IP must be in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_allow: Option<Vec<String>>,
    /// Rules on the call's arguments, by top-level name or JSON Pointer (`/a/b`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<BTreeMap<String, ArgRule>>,
    /// Every call needs a human's approval (the identical call then passes).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_approval: bool,
    /// The agent's trust score (0-100) must be at least this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_trust: Option<u8>,
    /// Below this trust score, calls need approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_below_trust: Option<u8>,
}

/// Hours of the day, in a time zone, optionally on some days only. A window whose end
/// is before its start crosses midnight (`22:00`-`06:00`); its early hours belong to the
/// day it started on.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TimeWindow {
    /// `HH:MM`, inclusive.
    pub start: String,
    /// `HH:MM`, exclusive.
    pub end: String,
    /// An IANA name (`Europe/Paris`); default `UTC`.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// `mon` .. `sun`; default every day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<String>,
}

fn utc() -> String {
    "UTC".into()
}

/// Rules on one argument; every rule given must hold. Matching is plain comparison and
/// a linear glob (`*`, `?`): no regular expressions, so nothing can backtrack
/// catastrophically.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ArgRule {
    /// The argument may be absent (else its absence refuses the call).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub equals: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub one_of: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// `*` any run of characters, `?` one character.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub glob: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// In characters, for strings; in items, for lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
}

/// Why a constraint refused the call (the decision's reason code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    OutsideTimeWindow,
    IpNotAllowed,
    ArgumentNotAllowed,
    TrustTooLow,
}

/// Constraints parsed once, ready to check.
#[derive(Clone, Debug)]
pub struct Checked {
    pub rate: Option<Rule>,
    window: Option<Window>,
    nets: Option<Vec<ipnet::IpNet>>,
    arguments: Vec<(String, ArgRule)>,
    pub require_approval: bool,
    pub min_trust: Option<u8>,
    pub approval_below_trust: Option<u8>,
}

#[derive(Clone, Debug)]
struct Window {
    start: u16,
    end: u16,
    tz: jiff::tz::TimeZone,
    /// Bit 0 = Monday; 0 = every day.
    days: u8,
}

fn bad(msg: String) -> Error {
    Error::bad_request(Code::InvalidConstraints, msg)
}

fn minutes(hhmm: &str) -> Option<u16> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Arguments are at most this long (characters) when matched as text.
const MAX_TEXT: usize = 4096;

impl Constraints {
    /// Parse and check (every error is a 400 naming the constraint).
    pub fn check(&self) -> Result<Checked> {
        let rate = match &self.rate {
            Some(r) => {
                let rule = crate::options::parse_rule(r).map_err(|e| bad(format!("rate: {e}")))?;
                if rule.max == 0 || rule.window.is_zero() || rule.window.as_secs() > 31 * 86400 {
                    return Err(bad("rate: the count and the window must be above zero, the window at most 31 days".into()));
                }
                Some(rule)
            }
            None => None,
        };
        let window = match &self.time_window {
            Some(w) => {
                let (start, end) = match (minutes(&w.start), minutes(&w.end)) {
                    (Some(s), Some(e)) if s != e => (s, e),
                    (Some(_), Some(_)) => return Err(bad("timeWindow: start and end are the same time".into())),
                    _ => return Err(bad("timeWindow: start and end are HH:MM (00:00 to 23:59)".into())),
                };
                let tz = jiff::tz::TimeZone::get(&w.time_zone).map_err(|_| bad(format!("timeWindow: {:?} is not a known time zone", w.time_zone)))?;
                let mut days = 0u8;
                for d in &w.days {
                    let i = DAYS.iter().position(|x| x.eq_ignore_ascii_case(d)).ok_or_else(|| bad(format!("timeWindow: {d:?} is not a day (mon .. sun)")))?;
                    days |= 1 << i;
                }
                Some(Window { start, end, tz, days })
            }
            None => None,
        };
        let nets = match &self.ip_allow {
            Some(list) => {
                if list.is_empty() || list.len() > 256 {
                    return Err(bad("ipAllow: 1 to 256 addresses or CIDR blocks".into()));
                }
                let mut nets = Vec::with_capacity(list.len());
                for s in list {
                    let net = s
                        .parse::<ipnet::IpNet>()
                        .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| bad(format!("ipAllow: {s:?} is not an IP address or CIDR block")))?;
                    nets.push(net.trunc());
                }
                Some(nets)
            }
            None => None,
        };
        let mut arguments = Vec::new();
        for (name, rule) in self.arguments.iter().flatten() {
            if name.is_empty() || name.len() > 256 {
                return Err(bad(format!("arguments: {name:?} is not an argument name")));
            }
            if let Some(g) = &rule.glob
                && g.chars().count() > 256
            {
                return Err(bad(format!("arguments.{name}: the glob is longer than 256 characters")));
            }
            if let (Some(lo), Some(hi)) = (rule.min, rule.max)
                && lo > hi
            {
                return Err(bad(format!("arguments.{name}: min is above max")));
            }
            arguments.push((name.clone(), rule.clone()));
        }
        if arguments.len() > 64 {
            return Err(bad("arguments: at most 64 rules".into()));
        }
        for t in [self.min_trust, self.approval_below_trust].into_iter().flatten() {
            if t > 100 {
                return Err(bad("minTrust and approvalBelowTrust are scores from 0 to 100".into()));
            }
        }
        Ok(Checked {
            rate,
            window,
            nets,
            arguments,
            require_approval: self.require_approval,
            min_trust: self.min_trust,
            approval_below_trust: self.approval_below_trust,
        })
    }

    /// Is `self` at least as strict as `parent` (a delegated permission may only tighten)?
    /// Every constraint the parent sets must be present and no looser.
    pub fn tightens(&self, parent: &Constraints) -> bool {
        fn opt_eq<T: PartialEq>(p: &Option<T>, c: &Option<T>) -> bool {
            p.is_none() || p == c
        }
        let rate_ok = match (&parent.rate, &self.rate) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(p), Some(c)) => match (crate::options::parse_rule(p), crate::options::parse_rule(c)) {
                // The child's rate, spread over the parent's window, must not exceed it.
                (Ok(p), Ok(c)) => (c.max as u128) * p.window.as_millis() <= (p.max as u128) * c.window.as_millis().max(1) && c.window <= p.window,
                _ => false,
            },
        };
        let args_ok = parent.arguments.iter().flatten().all(|(k, v)| self.arguments.as_ref().and_then(|a| a.get(k)) == Some(v));
        rate_ok
            && opt_eq(&parent.time_window, &self.time_window)
            && opt_eq(&parent.ip_allow, &self.ip_allow)
            && args_ok
            && (!parent.require_approval || self.require_approval)
            && parent.min_trust.is_none_or(|p| self.min_trust.is_some_and(|c| c >= p))
            && parent.approval_below_trust.is_none_or(|p| self.approval_below_trust.is_some_and(|c| c >= p))
    }
}

impl Checked {
    /// Check everything but the rate and approval: `None` when the call may go on.
    /// `trust` is computed only when a trust constraint asks for it.
    pub fn refuse(&self, now_ms: i64, ip: Option<IpAddr>, args: &Value, trust: impl FnOnce() -> u8) -> Option<Refusal> {
        if let Some(w) = &self.window
            && !w.contains(now_ms)
        {
            return Some(Refusal::OutsideTimeWindow);
        }
        if let Some(nets) = &self.nets {
            // An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is an IPv4 client.
            let ok = ip.map(|ip| ip.to_canonical()).is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)));
            if !ok {
                return Some(Refusal::IpNotAllowed);
            }
        }
        if !self.arguments.iter().all(|(name, rule)| rule.allows(lookup(args, name))) {
            return Some(Refusal::ArgumentNotAllowed);
        }
        if let Some(min) = self.min_trust
            && trust() < min
        {
            return Some(Refusal::TrustTooLow);
        }
        None
    }

    /// Does the call need approval (always, or at this trust score)?
    pub fn needs_approval(&self, trust: impl FnOnce() -> u8) -> bool {
        self.require_approval || self.approval_below_trust.is_some_and(|t| trust() < t)
    }

    /// Does any constraint need the trust score?
    pub fn uses_trust(&self) -> bool {
        self.min_trust.is_some() || self.approval_below_trust.is_some()
    }
}

fn lookup<'a>(args: &'a Value, name: &str) -> Option<&'a Value> {
    if name.starts_with('/') { args.pointer(name) } else { args.get(name) }
}

impl Window {
    fn contains(&self, now_ms: i64) -> bool {
        let Ok(ts) = jiff::Timestamp::from_millisecond(now_ms) else { return false };
        let z = ts.to_zoned(self.tz.clone());
        let t = z.hour() as u16 * 60 + z.minute() as u16;
        let today = z.weekday().to_monday_zero_offset() as u8;
        let day_ok = |d: u8| self.days == 0 || self.days & (1 << d) != 0;
        if self.start < self.end {
            t >= self.start && t < self.end && day_ok(today)
        } else if t >= self.start {
            // The evening part of a window crossing midnight: it started today.
            day_ok(today)
        } else if t < self.end {
            // The early hours: the window started yesterday.
            day_ok((today + 6) % 7)
        } else {
            false
        }
    }
}

impl ArgRule {
    fn allows(&self, v: Option<&Value>) -> bool {
        let Some(v) = v else { return self.optional };
        if let Some(e) = &self.equals
            && e != v
        {
            return false;
        }
        if let Some(list) = &self.one_of
            && !list.contains(v)
        {
            return false;
        }
        let texts = [&self.prefix, &self.suffix, &self.contains, &self.glob];
        if texts.iter().any(|t| t.is_some()) {
            let Some(s) = v.as_str() else { return false };
            if s.len() > MAX_TEXT {
                return false;
            }
            if self.prefix.as_ref().is_some_and(|p| !s.starts_with(p.as_str()))
                || self.suffix.as_ref().is_some_and(|p| !s.ends_with(p.as_str()))
                || self.contains.as_ref().is_some_and(|p| !s.contains(p.as_str()))
                || self.glob.as_ref().is_some_and(|g| !glob(g, s))
            {
                return false;
            }
        }
        if self.min.is_some() || self.max.is_some() {
            let Some(n) = v.as_f64() else { return false };
            if self.min.is_some_and(|m| n < m) || self.max.is_some_and(|m| n > m) {
                return false;
            }
        }
        if let Some(max) = self.max_length {
            let len = match v {
                Value::String(s) => s.chars().count(),
                Value::Array(a) => a.len(),
                _ => return false,
            };
            if len > max {
                return false;
            }
        }
        true
    }
}

/// `*` (any run) and `?` (one character), matched greedily with one remembered star:
/// at most `pattern × text` steps, never exponential.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(v: Value) -> Checked {
        serde_json::from_value::<Constraints>(v).unwrap().check().unwrap()
    }

    /// 2026-12-03 (a Thursday) at hh:mm UTC, in ms.
    fn at(hh: i64, mm: i64) -> i64 {
        (1_796_256_000 + hh * 3600 + mm * 60) * 1000
    }

    #[test]
    fn time_windows_use_their_time_zone_and_may_cross_midnight() {
        assert_eq!(jiff::Timestamp::from_millisecond(at(0, 0)).unwrap().to_string(), "2026-12-03T00:00:00Z");
        let night = c(json!({"timeWindow": {"start": "22:00", "end": "06:00"}}));
        let args = json!({});
        let ok = |k: &Checked, t| k.refuse(t, None, &args, || 50).is_none();
        assert!(ok(&night, at(23, 0)), "KavachOS: a window crossing midnight never matched");
        assert!(ok(&night, at(2, 0)));
        assert!(!ok(&night, at(12, 0)));
        assert!(!ok(&night, at(6, 0)), "the end is exclusive");
        // 09:00-17:00 in Tokyo (UTC+9) is 00:00-08:00 UTC: not the server's local time.
        let tokyo = c(json!({"timeWindow": {"start": "09:00", "end": "17:00", "timeZone": "Asia/Tokyo"}}));
        assert!(ok(&tokyo, at(1, 0)));
        assert!(!ok(&tokyo, at(12, 0)));
        // Days: Thursday only; the early hours of Friday belong to Thursday's night.
        let thu = c(json!({"timeWindow": {"start": "22:00", "end": "06:00", "days": ["thu"]}}));
        assert!(ok(&thu, at(23, 0)));
        assert!(!ok(&thu, at(2, 0)), "02:00 Thursday belongs to Wednesday's night");
        assert!(ok(&thu, at(24 + 2, 0)), "02:00 Friday belongs to Thursday's night");
        for bad in [
            json!({"start": "9:00", "end": "17:00"}),
            json!({"start": "09:00", "end": "09:00"}),
            json!({"start": "09:00", "end": "17:00", "timeZone": "Mars/Olympus"}),
        ] {
            assert!(serde_json::from_value::<Constraints>(json!({"timeWindow": bad})).unwrap().check().is_err());
        }
    }

    #[test]
    fn ip_allow_lists_match_v4_v6_and_mapped_addresses() {
        let k = c(json!({"ipAllow": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]}));
        let ok = |ip: Option<&str>| k.refuse(0, ip.map(|s| s.parse().unwrap()), &json!({}), || 50).is_none();
        assert!(ok(Some("10.1.2.3")));
        assert!(ok(Some("2001:db8:1::5")));
        assert!(ok(Some("192.0.2.7")));
        assert!(ok(Some("::ffff:10.9.9.9")), "an IPv4 client through an IPv6 socket");
        assert!(!ok(Some("11.0.0.1")));
        assert!(!ok(Some("2001:db9::1")));
        assert!(!ok(None), "no client IP: refused, not allowed");
    }

    #[test]
    fn argument_rules_match_without_regular_expressions() {
        let k = c(json!({"arguments": {
            "path": {"prefix": "/srv/", "glob": "/srv/*.csv"},
            "limit": {"max": 100, "min": 1},
            "mode": {"oneOf": ["r", "w"]},
            "/opts/dry": {"equals": true, "optional": true}
        }}));
        let ok = |a: Value| k.refuse(0, None, &a, || 50).is_none();
        assert!(ok(json!({"path": "/srv/a.csv", "limit": 5, "mode": "r"})));
        assert!(!ok(json!({"path": "/etc/a.csv", "limit": 5, "mode": "r"})));
        assert!(!ok(json!({"path": "/srv/a.txt", "limit": 5, "mode": "r"})));
        assert!(!ok(json!({"path": "/srv/a.csv", "limit": 500, "mode": "r"})));
        assert!(!ok(json!({"path": "/srv/a.csv", "limit": "5", "mode": "r"})));
        assert!(!ok(json!({"path": "/srv/a.csv", "mode": "r"})), "a constrained argument that is missing refuses");
        assert!(!ok(json!({"path": "/srv/a.csv", "limit": 5, "mode": "x"})));
        assert!(ok(json!({"path": "/srv/a.csv", "limit": 5, "mode": "r", "opts": {"dry": true}})));
        assert!(!ok(json!({"path": "/srv/a.csv", "limit": 5, "mode": "r", "opts": {"dry": false}})));
    }

    #[test]
    fn glob_is_linear_on_hostile_input() {
        assert!(glob("a*b?d", "axxxbcd"));
        assert!(!glob("a*b?d", "axxxbd"));
        assert!(glob("*", ""));
        assert!(glob("**", "abc"));
        assert!(!glob("", "a"));
        // The input that makes a backtracking regex (a+)+b take exponential time.
        let text = "a".repeat(4000);
        let pat = format!("{}b", "*a".repeat(100));
        // Bounded by pattern × text steps: this returns at once (a backtracking engine would not).
        assert!(!glob(&pat, &text));
    }

    #[test]
    fn a_delegated_constraint_may_only_tighten() {
        let parse = |v: Value| serde_json::from_value::<Constraints>(v).unwrap();
        let parent = parse(json!({"rate": "100/1h", "requireApproval": true, "ipAllow": ["10.0.0.0/8"]}));
        assert!(parse(json!({"rate": "10/1h", "requireApproval": true, "ipAllow": ["10.0.0.0/8"]})).tightens(&parent));
        assert!(!parse(json!({"rate": "10/1h", "ipAllow": ["10.0.0.0/8"]})).tightens(&parent), "dropping approval");
        assert!(!parse(json!({"requireApproval": true, "ipAllow": ["10.0.0.0/8"]})).tightens(&parent), "dropping the rate");
        assert!(!parse(json!({"rate": "1000/1h", "requireApproval": true, "ipAllow": ["10.0.0.0/8"]})).tightens(&parent));
        assert!(!parse(json!({"rate": "10/1h", "requireApproval": true})).tightens(&parent), "dropping the IP list");
        assert!(parse(json!({"minTrust": 50})).tightens(&parse(json!({}))));
    }
}
