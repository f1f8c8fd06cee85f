//! Anomaly signals, checked after every decision that was not refused at the chain:
//! - `rate`: the agent's calls in the current minute are far above its own baseline (more
//!   than ten times its moving average, and at least 100): once a minute at most;
//! - `new_network`: a call from a network (an IPv4 /24, an IPv6 /48) the agent was never
//!   seen from, once it has a history (50 decisions or more);
//! - `new_resource`: a resource the agent never asked about, once it has a history.
//!
//! Each emits an `agent.anomaly` event; `rate` and `new_network` also count against the
//! agent's trust score (a new resource alone is what exploring agents do). What was seen is
//! remembered in the shared counters (`kavach_rate_limit` or Redis, for 90 days), checked
//! through a per-instance memory of what this instance already saw, so a steady agent costs
//! no extra write; the rate baseline is per instance.

use super::trust::Counter;
use crate::audit::{Event, EventKind};
use crate::ratelimit::Rule;
use crate::{Core, RequestContext};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// Decisions before `new_network` and `new_resource` are signalled.
const HISTORY: i64 = 50;
/// Entries this instance remembers before it starts over (bounded memory).
const MAX_SEEN: usize = 100_000;
const SEEN_FOR: Duration = Duration::from_secs(90 * 86400);

#[derive(Default)]
pub(crate) struct Anomalies {
    seen: Mutex<HashSet<String>>,
    /// agent → (current minute, calls in it, moving average per minute, minute last signalled)
    rates: Mutex<HashMap<String, (i64, u64, f64, i64)>>,
}

fn network(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

impl Anomalies {
    /// Has this instance (or, asked once, any instance) seen `key`? Remembers it.
    async fn first_time(&self, core: &Core, key: String) -> crate::Result<bool> {
        {
            let Ok(mut seen) = self.seen.lock() else { return Ok(false) };
            if seen.contains(&key) {
                return Ok(false);
            }
            if seen.len() >= MAX_SEEN {
                seen.clear();
            }
            seen.insert(key.clone());
        }
        let d = core.limiter.hit(&key, Rule { max: u32::MAX, window: SEEN_FOR }).await?;
        Ok(d.count == 1)
    }

    /// The rate signal for one call now: true when it is the first far above the baseline this minute.
    fn rate(&self, agent: &str, now_ms: i64) -> bool {
        let Ok(mut rates) = self.rates.lock() else { return false };
        if rates.len() >= MAX_SEEN {
            rates.clear();
        }
        let minute = now_ms / 60_000;
        let e = rates.entry(agent.to_owned()).or_insert((minute, 0, 0.0, -1));
        if e.0 != minute {
            // Fold the finished minutes into the moving average (empty minutes count as 0).
            let gap = (minute - e.0).clamp(1, 60) as i32;
            e.2 = e.2 * 0.8f64.powi(gap) + e.1 as f64 * 0.2 * 0.8f64.powi(gap - 1);
            e.0 = minute;
            e.1 = 0;
        }
        e.1 += 1;
        let far = e.1 >= 100 && e.1 as f64 > 10.0 * e.2.max(1.0);
        if far && e.3 != minute {
            e.3 = minute;
            return true;
        }
        false
    }
}

/// Check the signals for a call of `agent` (with `history` decisions recorded so far).
pub(super) async fn check(core: &Core, agent: &super::Agent, resource: &str, ip: Option<IpAddr>, ctx: &RequestContext) -> crate::Result<()> {
    let a = &core.agent_anomalies;
    let mut signals: Vec<(&str, String, bool)> = Vec::new();
    if a.rate(&agent.id, crate::store::Ts::now().0) {
        signals.push(("rate", "calls this minute are more than ten times the agent's average".into(), true));
    }
    let fresh_net = match ip {
        Some(ip) => a.first_time(core, format!("agent-net:{}:{}", agent.id, network(ip))).await?.then(|| network(ip)),
        None => None,
    };
    let fresh_res = a.first_time(core, format!("agent-res:{}:{}", agent.id, crate::crypto::sha256_hex(resource.as_bytes()))).await?;
    if fresh_net.is_some() || fresh_res {
        // Only an agent with a history has a normal to depart from.
        let stats = super::store::stats(&core.db, &agent.id).await? + core.agent_tally.pending(&agent.id);
        if stats.allowed + stats.denied >= HISTORY {
            if let Some(n) = fresh_net {
                signals.push(("new_network", n, true));
            }
            if fresh_res {
                signals.push(("new_resource", resource.to_owned(), false));
            }
        }
    }
    for (signal, detail, counts) in signals {
        if counts {
            core.agent_tally.add(&agent.id, Counter::Anomalies);
        }
        let e =
            Event::new(EventKind::AgentAnomaly, agent.owner_user_id.as_deref(), ctx).with("agentId", &agent.id).with("signal", signal).with("detail", detail);
        core.audit_queue.push(e).await;
    }
    Ok(())
}
