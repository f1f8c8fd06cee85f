//! The trust score: 0 to 100 from the agent's history, with the factors that made it.
//!
//! ```text
//! 50                                    a new agent starts in the middle
//! + volume    up to +20                 2 points per doubling of allowed calls
//! + age       up to +15                 half a point per day
//! + clean     +15                       100+ calls and no incident of any kind
//! - denials   up to -40                 deny rate × 40, weighted by how much history there is
//! - refused approvals  -10 each, up to -30
//! - budget breaches    -5 each, up to -20
//! - anomalies          -10 each, up to -30
//! - delegation depth   -5 per hop
//! ```
//!
//! Levels: `untrusted` below 20, `limited` below 40, `standard` below 60, `trusted`
//! below 80, `elevated` from 80: every level is reachable (a new root agent is
//! `standard`; a month of clean use makes it `elevated`).
//!
//! The counters are added to in memory per instance and written in groups
//! ([`Tally`]), so a decision does not write them; a score adds this instance's pending
//! counts to the stored ones (other instances' arrive within a second).

use super::Agent;
use crate::db;
use crate::error::Result;
use crate::store::{BeginWrite, Db, Ts};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// The stored counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub allowed: i64,
    pub denied: i64,
    pub approvals_refused: i64,
    pub budget_breaches: i64,
    pub anomalies: i64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Counter {
    Allowed,
    Denied,
    ApprovalsRefused,
    BudgetBreaches,
    Anomalies,
}

/// One part of the score.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Factor {
    pub factor: &'static str,
    /// The input (a count, a rate, days).
    pub value: f64,
    /// What it added to or took from the score.
    pub points: i32,
}

#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Trust {
    pub agent_id: String,
    /// 0 to 100.
    pub score: u8,
    /// `untrusted`, `limited`, `standard`, `trusted` or `elevated`.
    pub level: &'static str,
    pub factors: Vec<Factor>,
}

pub fn level(score: u8) -> &'static str {
    match score {
        0..20 => "untrusted",
        20..40 => "limited",
        40..60 => "standard",
        60..80 => "trusted",
        _ => "elevated",
    }
}

impl std::ops::Add for Stats {
    type Output = Stats;
    fn add(self, o: Stats) -> Stats {
        Stats {
            allowed: self.allowed + o.allowed,
            denied: self.denied + o.denied,
            approvals_refused: self.approvals_refused + o.approvals_refused,
            budget_breaches: self.budget_breaches + o.budget_breaches,
            anomalies: self.anomalies + o.anomalies,
        }
    }
}

pub fn score(a: &Agent, s: &Stats, now: Ts) -> Trust {
    let mut factors = Vec::new();
    let mut push = |factor, value: f64, points: f64| {
        let points = points.round() as i32;
        factors.push(Factor { factor, value, points });
        points
    };
    let volume = (s.allowed + s.denied).max(0) as f64;
    let mut total = 50;
    total += push("volume", s.allowed as f64, ((1.0 + s.allowed.max(0) as f64).log2() * 2.0).min(20.0));
    let days = ((now.0 - a.created_at.0).max(0) as f64) / 86_400_000.0;
    total += push("ageDays", (days * 10.0).round() / 10.0, (days / 2.0).min(15.0));
    let incidents = s.approvals_refused + s.budget_breaches + s.anomalies;
    let clean = volume >= 100.0 && incidents == 0 && s.denied == 0;
    total += push("clean", if clean { 1.0 } else { 0.0 }, if clean { 15.0 } else { 0.0 });
    let rate = if volume > 0.0 { s.denied as f64 / volume } else { 0.0 };
    let confidence = volume / (volume + 20.0);
    total += push("denyRate", (rate * 1000.0).round() / 1000.0, -(rate * 40.0 * confidence));
    total += push("approvalsRefused", s.approvals_refused as f64, -((10 * s.approvals_refused).min(30) as f64));
    total += push("budgetBreaches", s.budget_breaches as f64, -((5 * s.budget_breaches).min(20) as f64));
    total += push("anomalies", s.anomalies as f64, -((10 * s.anomalies).min(30) as f64));
    total += push("delegationDepth", a.depth as f64, -(5.0 * a.depth as f64));
    let score = total.clamp(0, 100) as u8;
    Trust { agent_id: a.id.clone(), score, level: level(score), factors }
}

/// Counters added to in memory, written in groups (one upsert per agent), with the
/// time each agent was last active.
#[derive(Default)]
pub(crate) struct Tally(Mutex<HashMap<String, (Stats, Option<Ts>)>>);

impl Tally {
    /// The agent acted now (written as `last_active_at` with the next group).
    pub(crate) fn touch(&self, agent: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.entry(agent.to_owned()).or_default().1 = Some(Ts::now());
        }
    }

    pub(crate) fn add(&self, agent: &str, c: Counter) {
        let Ok(mut m) = self.0.lock() else { return };
        let s = &mut m.entry(agent.to_owned()).or_default().0;
        match c {
            Counter::Allowed => s.allowed += 1,
            Counter::Denied => s.denied += 1,
            Counter::ApprovalsRefused => s.approvals_refused += 1,
            Counter::BudgetBreaches => s.budget_breaches += 1,
            Counter::Anomalies => s.anomalies += 1,
        }
    }

    /// This instance's counts not written yet, for `agent`.
    pub(crate) fn pending(&self, agent: &str) -> Stats {
        self.0.lock().ok().and_then(|m| m.get(agent).map(|e| e.0)).unwrap_or_default()
    }

    /// Write this instance's pending counts.
    pub(crate) async fn flush(&self, db: &Db) -> Result<()> {
        let pending: Vec<(String, (Stats, Option<Ts>))> = match self.0.lock() {
            Ok(mut m) if !m.is_empty() => m.drain().collect(),
            _ => return Ok(()),
        };
        let sql = "INSERT INTO kavach_agent_stats (agent_id, allowed, denied, approvals_refused, budget_breaches, anomalies) \
                   SELECT id, $2, $3, $4, $5, $6 FROM kavach_agent WHERE id = $1 \
                   ON CONFLICT (agent_id) DO UPDATE SET allowed = kavach_agent_stats.allowed + $2, denied = kavach_agent_stats.denied + $3, \
                   approvals_refused = kavach_agent_stats.approvals_refused + $4, budget_breaches = kavach_agent_stats.budget_breaches + $5, \
                   anomalies = kavach_agent_stats.anomalies + $6";
        db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            for (id, (s, active)) in &pending {
                if let Some(t) = active {
                    sqlx::query("UPDATE kavach_agent SET last_active_at = $2 WHERE id = $1").bind(id).bind(*t).execute(&mut *tx).await?;
                }
                if *s == Stats::default() {
                    continue;
                }
                sqlx::query(sql)
                    .bind(id)
                    .bind(s.allowed)
                    .bind(s.denied)
                    .bind(s.approvals_refused)
                    .bind(s.budget_breaches)
                    .bind(s.anomalies)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(days_old: i64, depth: u32) -> Agent {
        let now = Ts::now();
        Agent {
            id: "a".into(),
            name: "a".into(),
            agent_type: super::super::AgentType::Autonomous,
            status: super::super::Status::Active,
            owner_user_id: Some("u".into()),
            owner_organization_id: None,
            created_by: None,
            parent_id: None,
            root_id: "a".into(),
            depth,
            max_depth: 3,
            expires_at: None,
            metadata: serde_json::json!({}),
            created_at: Ts(now.0 - days_old * 86_400_000),
            updated_at: now,
            last_active_at: None,
        }
    }

    #[test]
    fn every_trust_level_is_reachable() {
        let now = Ts::now();
        let stats = |allowed, denied, refused, breaches, anomalies| Stats { allowed, denied, approvals_refused: refused, budget_breaches: breaches, anomalies };
        let mut seen = std::collections::BTreeSet::new();
        let cases = [
            (agent(0, 0), stats(0, 0, 0, 0, 0), "standard"),
            (agent(60, 0), stats(1_000_000, 0, 0, 0, 0), "elevated"),
            (agent(10, 0), stats(500, 20, 0, 0, 0), "trusted"),
            (agent(0, 2), stats(10, 10, 1, 0, 0), "limited"),
            (agent(0, 3), stats(10, 1000, 3, 4, 3), "untrusted"),
        ];
        for (a, s, want) in cases {
            let t = score(&a, &s, now);
            assert_eq!(t.level, want, "{t:?}");
            seen.insert(t.level);
        }
        assert_eq!(seen.len(), 5, "KavachOS: 'elevated' was unreachable (the maximum score was 85)");
        let top = score(&agent(60, 0), &stats(1_000_000, 0, 0, 0, 0), now);
        assert_eq!(top.score, 100);
    }

    #[test]
    fn denials_weigh_by_their_rate_not_their_count() {
        let now = Ts::now();
        let a = agent(10, 0);
        let few = score(&a, &Stats { allowed: 1_000_000, denied: 5, ..Default::default() }, now);
        let most = score(&a, &Stats { allowed: 5, denied: 5, ..Default::default() }, now);
        assert!(few.score > most.score + 20, "five denials in a million calls are not five in ten: {few:?} {most:?}");
    }
}
