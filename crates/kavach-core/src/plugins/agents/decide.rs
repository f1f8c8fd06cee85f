//! The decision point: one function every path that authorizes an agent's action goes
//! through (the HTTP AuthZEN endpoints, the resource-server verifier, the Rust API).
//!
//! 1. The chain: the agent and every agent it was delegated from must be usable (status,
//!    expiry, owner not banned); a refusal names the first link that is not.
//! 2. Every link is evaluated on its own permissions: all that match the resource and
//!    action are considered; a matching `deny` refuses; an `allow` whose constraints
//!    (time window, IP, arguments, trust) hold is a candidate. A link with no candidate
//!    refuses, with the reason of the constraint that failed (a delegate's ancestor
//!    lacking the right: `DELEGATION_EXCEEDED`).
//! 3. If at some link every candidate needs approval, the call needs an approval bound
//!    to the hash of (agent, action, resource, arguments): an approved one is used, else
//!    a pending request is made (or the existing one returned).
//! 4. Only then is anything consumed: each link's rate counter (the first candidate
//!    whose window has room), the budgets, the approval; a refusal at any step gives
//!    back what the earlier steps took, so a refused call uses no quota.
//! 5. The decision is written to the audit log (group commit, durable) before it is
//!    returned with the record's id.

use super::cache::View;
use super::store::{self, Link};
use super::trust::Counter;
use super::{Agent, Budget, BudgetAction, Effect, Permission, Status, not_found, pattern};
use crate::audit::{Event, EventKind};
use crate::error::{Code, Error, Result};
use crate::ratelimit::Rule;
use crate::store::Ts;
use crate::{Core, RequestContext, crypto};
use serde::Serialize;
use serde_json::Value;
use std::net::IpAddr;
use std::time::Duration;

/// What an agent asks to do.
#[derive(Clone, Debug)]
pub struct Call<'a> {
    /// `tools/call`, `read`, ...
    pub action: &'a str,
    /// A concrete resource (`tool:search`, `docs:public:readme`).
    pub resource: &'a str,
    /// The call's arguments (a JSON object, or null).
    pub arguments: &'a Value,
    /// The real client IP of the agent's request (for `ipAllow`).
    pub ip: Option<IpAddr>,
    /// The ephemeral session the agent acts in (its token was the credential): an allowed
    /// call uses one of its actions.
    pub session: Option<&'a str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allowed,
    Denied,
    Pending,
}

/// Why: a stable code (docs/agents.md lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    Allowed,
    Approved,
    ExplicitDeny,
    NoMatchingPermission,
    DelegationExceeded,
    OutsideTimeWindow,
    IpNotAllowed,
    ArgumentNotAllowed,
    TrustTooLow,
    RateLimited,
    BudgetExceeded,
    BudgetThrottled,
    ApprovalRequired,
    AgentSuspended,
    AgentRevoked,
    AgentExpired,
    OwnerBanned,
    DelegatorInactive,
    SessionExhausted,
}

impl Reason {
    pub const ALL: &'static [Reason] = &[
        Reason::Allowed,
        Reason::Approved,
        Reason::ExplicitDeny,
        Reason::NoMatchingPermission,
        Reason::DelegationExceeded,
        Reason::OutsideTimeWindow,
        Reason::IpNotAllowed,
        Reason::ArgumentNotAllowed,
        Reason::TrustTooLow,
        Reason::RateLimited,
        Reason::BudgetExceeded,
        Reason::BudgetThrottled,
        Reason::ApprovalRequired,
        Reason::AgentSuspended,
        Reason::AgentRevoked,
        Reason::AgentExpired,
        Reason::OwnerBanned,
        Reason::DelegatorInactive,
        Reason::SessionExhausted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Allowed => "ALLOWED",
            Reason::Approved => "APPROVED",
            Reason::ExplicitDeny => "EXPLICIT_DENY",
            Reason::NoMatchingPermission => "NO_MATCHING_PERMISSION",
            Reason::DelegationExceeded => "DELEGATION_EXCEEDED",
            Reason::OutsideTimeWindow => "OUTSIDE_TIME_WINDOW",
            Reason::IpNotAllowed => "IP_NOT_ALLOWED",
            Reason::ArgumentNotAllowed => "ARGUMENT_NOT_ALLOWED",
            Reason::TrustTooLow => "TRUST_TOO_LOW",
            Reason::RateLimited => crate::error::Code::RateLimited.as_str(),
            Reason::BudgetExceeded => "BUDGET_EXCEEDED",
            Reason::BudgetThrottled => "BUDGET_THROTTLED",
            Reason::ApprovalRequired => "APPROVAL_REQUIRED",
            Reason::AgentSuspended => "AGENT_SUSPENDED",
            Reason::AgentRevoked => "AGENT_REVOKED",
            Reason::AgentExpired => "AGENT_EXPIRED",
            Reason::OwnerBanned => "OWNER_BANNED",
            Reason::DelegatorInactive => "DELEGATOR_INACTIVE",
            Reason::SessionExhausted => "SESSION_EXHAUSTED",
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A decision.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub decision: Verdict,
    #[schema(value_type = String)]
    pub reason: Reason,
    /// The audit record that holds this decision.
    pub audit_id: String,
    pub agent_id: String,
    /// The agents the right was delegated through, nearest first (empty for a root).
    pub delegation_chain: Vec<String>,
    /// The agent's permission that allowed the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission_id: Option<String>,
    /// The approval request a pending decision waits for (or the one that allowed it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// For a pending decision: the hosted page where the owner answers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_url: Option<String>,
    /// For `RATE_LIMITED` and `BUDGET_THROTTLED`: seconds until a call may pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.decision == Verdict::Allowed
    }
}

struct Outcome {
    verdict: Verdict,
    reason: Reason,
    permission_id: Option<String>,
    approval_id: Option<String>,
    retry_after: Option<u64>,
}

impl Outcome {
    fn deny(reason: Reason) -> Outcome {
        Outcome { verdict: Verdict::Denied, reason, permission_id: None, approval_id: None, retry_after: None }
    }
    fn pending(approval_id: String) -> Outcome {
        Outcome { verdict: Verdict::Pending, reason: Reason::ApprovalRequired, permission_id: None, approval_id: Some(approval_id), retry_after: None }
    }
}

/// Why the chain cannot act now, if it cannot (first link first).
pub(super) fn chain_refusal(chain: &[Link], now: Ts) -> Option<Reason> {
    for (i, l) in chain.iter().enumerate() {
        let a = &l.agent;
        let reason = if l.owner_banned {
            Reason::OwnerBanned
        } else if a.status == Status::Revoked {
            Reason::AgentRevoked
        } else if a.status == Status::Suspended {
            Reason::AgentSuspended
        } else if !a.usable(now) {
            Reason::AgentExpired
        } else {
            continue;
        };
        return Some(if i == 0 || reason == Reason::OwnerBanned { reason } else { Reason::DelegatorInactive });
    }
    if chain.is_empty() { Some(Reason::AgentRevoked) } else { None }
}

struct Candidate {
    id: String,
    rate: Option<Rule>,
}

enum LinkResult {
    Refused(Reason),
    /// Candidates that need no approval, and those that do.
    Candidates(Vec<Candidate>, Vec<Candidate>),
}

fn evaluate_link(perms: &[&Permission], call: &Call<'_>, now: Ts, trust: u8) -> LinkResult {
    let mut refusal: Option<Reason> = None;
    let (mut plain, mut gated) = (Vec::new(), Vec::new());
    let mut denied = false;
    for p in perms {
        if p.expires_at.is_some_and(|e| e <= now) || !p.actions.iter().any(|a| a == "*" || a == call.action) {
            continue;
        }
        if !pattern::Pattern::parse(&p.resource).is_ok_and(|pat| pat.matches(call.resource)) {
            continue;
        }
        if p.effect == Effect::Deny {
            denied = true;
            continue;
        }
        let Ok(c) = p.constraints.check() else { continue };
        if let Some(r) = c.refuse(now.0, call.ip, call.arguments, || trust) {
            refusal.get_or_insert(match r {
                super::constraints::Refusal::OutsideTimeWindow => Reason::OutsideTimeWindow,
                super::constraints::Refusal::IpNotAllowed => Reason::IpNotAllowed,
                super::constraints::Refusal::ArgumentNotAllowed => Reason::ArgumentNotAllowed,
                super::constraints::Refusal::TrustTooLow => Reason::TrustTooLow,
            });
            continue;
        }
        let cand = Candidate { id: p.id.clone(), rate: c.rate };
        if c.needs_approval(|| trust) { gated.push(cand) } else { plain.push(cand) }
    }
    if denied {
        return LinkResult::Refused(Reason::ExplicitDeny);
    }
    if plain.is_empty() && gated.is_empty() {
        return LinkResult::Refused(refusal.unwrap_or(Reason::NoMatchingPermission));
    }
    LinkResult::Candidates(plain, gated)
}

/// JSON with object keys sorted, so equal arguments hash equally.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys.iter().map(|k| format!("{}:{}", Value::String((*k).clone()), m.get(*k).map(canonical).unwrap_or_default())).collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// The hash an approval is bound to: this agent, this action, this resource, these arguments.
pub(super) fn request_hash(agent_id: &str, call: &Call<'_>) -> String {
    crypto::sha256_hex(format!("{}\n{}\n{}\n{}", agent_id, call.action, call.resource, canonical(call.arguments)).as_bytes())
}

fn check_call(call: &Call<'_>) -> Result<()> {
    pattern::check_resource(call.resource)?;
    if call.action.is_empty() || call.action == "*" || !super::valid_action(call.action) {
        return Err(Error::bad_request(Code::InvalidAction, "The action is 1-64 of a-z A-Z 0-9 _ - . : /"));
    }
    if !(call.arguments.is_object() || call.arguments.is_null()) || call.arguments.to_string().len() > 64 * 1024 {
        return Err(Error::bad_request(Code::ValidationError, "The arguments are a JSON object of at most 64 KiB"));
    }
    Ok(())
}

pub(super) async fn decide(core: &Core, agent_id: &str, call: &Call<'_>, ctx: &RequestContext) -> Result<Decision> {
    check_call(call)?;
    let now = Ts::now();
    let view = core.agent_cache.view(core, agent_id).await?.ok_or_else(not_found)?;
    let chain = &view.chain;
    let refusal = chain_refusal(chain, now);
    let outcome = match refusal {
        Some(r) => Outcome::deny(r),
        None => evaluate(core, &view, call, now).await?,
    };
    // An agent that cannot act has no behaviour to judge.
    let checked = refusal.is_none();
    let decision = record(core, chain, call, outcome, ctx).await?;
    // The decision is made and recorded: a failure to look for anomalies does not undo it.
    if checked
        && let Some(l) = chain.first()
        && let Err(e) = super::anomaly::check(core, &l.agent, call.resource, call.ip, ctx).await
    {
        tracing::warn!(error = %e, agent = %l.agent.id, "anomaly signals could not be checked");
    }
    Ok(decision)
}

async fn evaluate(core: &Core, view: &View, call: &Call<'_>, now: Ts) -> Result<Outcome> {
    let (chain, perms) = (&view.chain, &view.perms);
    let agent = &chain.first().ok_or_else(not_found)?.agent;
    let uses_trust = perms.iter().any(|p| p.constraints.min_trust.is_some() || p.constraints.approval_below_trust.is_some());
    let trust = if uses_trust { core.agents().trust_of(agent).await?.score } else { 50 };
    let mut links = Vec::with_capacity(chain.len());
    for (i, l) in chain.iter().enumerate() {
        let own: Vec<&Permission> = perms.iter().filter(|p| p.agent_id == l.agent.id).collect();
        match evaluate_link(&own, call, now, trust) {
            LinkResult::Refused(Reason::NoMatchingPermission) if i > 0 => return Ok(Outcome::deny(Reason::DelegationExceeded)),
            LinkResult::Refused(r) => return Ok(Outcome::deny(r)),
            LinkResult::Candidates(plain, gated) => links.push((plain, gated)),
        }
    }
    let needs_approval = links.iter().any(|(plain, _)| plain.is_empty());
    let hash = request_hash(&agent.id, call);
    let approval = if needs_approval {
        match store::usable_approval(&core.db, &agent.id, &hash, now).await? {
            Some(id) => Some(id),
            None => return pending(core, agent, call, &hash, now).await,
        }
    } else {
        None
    };
    // Consume: rates, then budgets, then the approval; undo on any refusal.
    let mut taken: Vec<String> = Vec::new();
    let mut permission_id = None;
    for (i, (plain, gated)) in links.iter().enumerate() {
        let cands = if plain.is_empty() { gated } else { plain };
        let mut chosen = None;
        let mut retry = 0;
        for c in cands {
            match c.rate {
                None => {
                    chosen = Some(c.id.clone());
                    break;
                }
                Some(rule) => {
                    let key = format!("agent-rate:{}", c.id);
                    let d = core.limiter.hit(&key, rule).await?;
                    if d.allowed {
                        taken.push(key);
                        chosen = Some(c.id.clone());
                        break;
                    }
                    core.limiter.undo(&key).await?;
                    retry = retry.max(d.retry_after_secs);
                }
            }
        }
        match chosen {
            Some(id) if i == 0 => permission_id = Some(id),
            Some(_) => {}
            None => {
                give_back(core, &taken).await?;
                return Ok(Outcome { retry_after: Some(retry), ..Outcome::deny(Reason::RateLimited) });
            }
        }
    }
    if let Some(refused) = charge_budgets(core, agent, &view.budgets, &mut taken, now).await? {
        give_back(core, &taken).await?;
        core.agent_tally.add(&agent.id, Counter::BudgetBreaches);
        return Ok(refused);
    }
    if let Some(sid) = call.session
        && !store::consume_session(&core.db, sid, &agent.id, now).await?
    {
        give_back(core, &taken).await?;
        return Ok(Outcome::deny(Reason::SessionExhausted));
    }
    let mut reason = Reason::Allowed;
    if let Some(id) = &approval {
        if !store::consume_approval(&core.db, id, now).await? {
            // Another call used the approval's last use first.
            give_back(core, &taken).await?;
            if let Some(sid) = call.session {
                store::give_back_session(&core.db, sid).await?;
            }
            return pending(core, agent, call, &hash, now).await;
        }
        reason = Reason::Approved;
    }
    Ok(Outcome { verdict: Verdict::Allowed, reason, permission_id, approval_id: approval, retry_after: None })
}

/// Does one link's permissions allow `action` on `resource`, before the constraints that
/// depend on the moment (time, IP, arguments, trust, rates, approvals)? A deny wins.
fn link_allows(perms: &[&Permission], action: &str, resource: &str, now: Ts) -> bool {
    let matching = |p: &&&Permission| {
        p.expires_at.is_none_or(|e| e > now)
            && p.actions.iter().any(|a| a == "*" || a == action)
            && pattern::Pattern::parse(&p.resource).is_ok_and(|pat| pat.matches(resource))
    };
    let mut any = false;
    for p in perms.iter().filter(matching) {
        if p.effect == Effect::Deny {
            return false;
        }
        any = true;
    }
    any
}

/// What a search answers: the actions (`search = None`) an agent's permissions allow on
/// `resource`, or the literal resources of type `search` it may do `action` on. Static:
/// the chain must be able to act, every link must allow it, and a deny wins; constraints
/// that depend on the moment are not applied (the decision applies them).
pub(super) async fn search(core: &Core, agent_id: &str, action: Option<&str>, resource: Option<&str>, kind: Option<&str>) -> Result<Vec<String>> {
    let now = Ts::now();
    let view = core.agent_cache.view(core, agent_id).await?.ok_or_else(not_found)?;
    let (chain, perms) = (&view.chain, &view.perms);
    if chain_refusal(chain, now).is_some() {
        return Ok(vec![]);
    }
    let links: Vec<Vec<&Permission>> = chain.iter().map(|l| perms.iter().filter(|p| p.agent_id == l.agent.id).collect()).collect();
    let all_allow = |action: &str, resource: &str| links.iter().all(|own| link_allows(own, action, resource, now));
    let own = links.first().map(Vec::as_slice).unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    match (action, resource, kind) {
        // Actions on a resource: the named actions of the agent's own permissions that pass.
        (None, Some(r), _) => {
            for p in own.iter().filter(|p| p.effect == Effect::Allow) {
                for a in p.actions.iter().filter(|a| *a != "*") {
                    if !out.contains(a) && all_allow(a, r) {
                        out.push(a.clone());
                    }
                }
            }
        }
        // Resources of a type for an action: the literal resources its permissions name.
        (Some(a), None, Some(t)) => {
            for p in own.iter().filter(|p| p.effect == Effect::Allow && !p.resource.contains('*')) {
                if p.resource.split(':').next() == Some(t) && !out.contains(&p.resource) && all_allow(a, &p.resource) {
                    out.push(p.resource.clone());
                }
            }
        }
        _ => {}
    }
    out.sort();
    Ok(out)
}

async fn give_back(core: &Core, taken: &[String]) -> Result<()> {
    for key in taken {
        core.limiter.undo(key).await?;
    }
    Ok(())
}

/// Approval requests one agent may have waiting at once (beyond: `RATE_LIMITED`, so an
/// agent cannot flood its owner's inbox).
const MAX_PENDING: i64 = 20;

/// The pending approval request for this exact call: the existing one, or a new one
/// (recorded as `agent.approval_requested`, and emailed to the owner with a link to the
/// hosted review page).
async fn pending(core: &Core, agent: &Agent, call: &Call<'_>, hash: &str, now: Ts) -> Result<Outcome> {
    let ttl = core.options.agents.approval_ttl;
    match pending_request(core, agent, call, hash, now).await? {
        Some((id, _)) => Ok(Outcome::pending(id)),
        None => Ok(Outcome { retry_after: Some(ttl.as_secs()), ..Outcome::deny(Reason::RateLimited) }),
    }
}

/// A pending approval request for `call` outside a decision (CIBA): `(id, expiry)`.
pub(super) async fn request_approval(core: &Core, agent: &Agent, call: &Call<'_>) -> Result<(String, Ts)> {
    let now = Ts::now();
    let hash = request_hash(&agent.id, call);
    let ttl = core.options.agents.approval_ttl.as_secs() as i64;
    match pending_request(core, agent, call, &hash, now).await? {
        Some((id, _)) => Ok((id, now.plus_secs(ttl))),
        None => Err(Error::bad_request(Code::ValidationError, format!("The agent has {MAX_PENDING} requests waiting already"))),
    }
}

/// The pending request (existing or new; a new one is emailed to the owner), or `None`
/// when the agent has [`MAX_PENDING`] waiting.
async fn pending_request(core: &Core, agent: &Agent, call: &Call<'_>, hash: &str, now: Ts) -> Result<Option<(String, bool)>> {
    let ttl = core.options.agents.approval_ttl;
    let Some((id, new)) = store::pending_approval(&core.db, agent, call, hash, now, now.plus_secs(ttl.as_secs() as i64), MAX_PENDING).await? else {
        return Ok(None);
    };
    if new {
        // The owner, or for an organization's agent the user who created it.
        let to = match agent.owner_user_id.as_deref().or(agent.created_by.as_deref()) {
            Some(u) => core.users().get(u).await?,
            None => None,
        };
        if let Some(u) = to {
            let args = serde_json::to_string_pretty(call.arguments).unwrap_or_default();
            core.send_email(
                "agent-approval.txt",
                &u.email,
                minijinja::context! { app_name => &core.options.app_name, agent => &agent.name, action => call.action, resource => call.resource,
                arguments => args, url => approval_url(core, &id), expires_in => crate::text::human_duration(ttl) },
            );
        }
    }
    Ok(Some((id, new)))
}

/// The hosted page where an approval request is answered.
pub fn approval_url(core: &Core, id: &str) -> String {
    core.options.api_url(&format!("/agent-approvals/{id}/review"))
}

fn utc_periods(now: Ts) -> (String, String) {
    let t = now.to_offset();
    (format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day()), format!("{:04}-{:02}", t.year(), t.month() as u8))
}

const DAY: Duration = Duration::from_secs(2 * 86400);
const MONTH: Duration = Duration::from_secs(32 * 86400);

fn rule(limit: i64, window: Duration) -> Rule {
    Rule { max: u32::try_from(limit).unwrap_or(u32::MAX), window }
}

/// Count the call against every budget; `Some(refusal)` when one refuses it.
async fn charge_budgets(core: &Core, agent: &Agent, budgets: &[Budget], taken: &mut Vec<String>, now: Ts) -> Result<Option<Outcome>> {
    if budgets.is_empty() {
        return Ok(None);
    }
    let (day, month) = utc_periods(now);
    for b in budgets {
        let mut over = false;
        for (limit, period, window) in [(b.calls_per_day, &day, DAY), (b.calls_per_month, &month, MONTH)] {
            let Some(limit) = limit else { continue };
            let key = format!("agent-budget:{}:calls:{period}", b.id);
            let d = core.limiter.hit(&key, rule(limit, window)).await?;
            taken.push(key);
            if d.count as i64 > limit {
                over = true;
                if d.count as i64 == limit + 1 {
                    exceeded(core, agent, b, "calls", period).await?;
                }
            }
        }
        for (limit, period, window) in [(b.cost_per_day, &day, DAY), (b.cost_per_month, &month, MONTH)] {
            let Some(limit) = limit else { continue };
            let spent = core.limiter.peek(&format!("agent-budget:{}:cost:{period}", b.id), rule(limit, window)).await?;
            if spent.count as i64 >= limit {
                over = true;
            }
        }
        if !over {
            continue;
        }
        match b.action {
            BudgetAction::Warn => {}
            BudgetAction::Throttle => {
                let key = format!("agent-budget:{}:throttle", b.id);
                let d = core.limiter.hit(&key, Rule::per_minute(1)).await?;
                taken.push(key);
                if !d.allowed {
                    return Ok(Some(Outcome { retry_after: Some(d.retry_after_secs), ..Outcome::deny(Reason::BudgetThrottled) }));
                }
            }
            BudgetAction::Block => return Ok(Some(Outcome::deny(Reason::BudgetExceeded))),
            BudgetAction::Suspend => {
                store::set_status(&core.db, agent, Status::Suspended, None, &RequestContext::default()).await?;
                core.sessions.agents_changed().await;
                return Ok(Some(Outcome::deny(Reason::BudgetExceeded)));
            }
        }
    }
    Ok(None)
}

async fn exceeded(core: &Core, agent: &Agent, b: &Budget, what: &str, period: &str) -> Result<()> {
    let e = Event::new(EventKind::AgentBudgetExceeded, agent.owner_user_id.as_deref(), &RequestContext::default())
        .with("agentId", &agent.id)
        .with("budgetId", &b.id)
        .with("limit", what)
        .with("period", period)
        .with("action", b.action.as_str());
    core.audit_queue.append(e).await
}

/// Add reported cost to the cost counters of `budgets`.
pub(super) async fn add_cost(core: &Core, budgets: &[Budget], micros: i64) -> Result<()> {
    let (day, month) = utc_periods(Ts::now());
    for b in budgets {
        for (limit, period, window) in [(b.cost_per_day, &day, DAY), (b.cost_per_month, &month, MONTH)] {
            if let Some(limit) = limit {
                core.limiter.add(&format!("agent-budget:{}:cost:{period}", b.id), micros, rule(limit, window)).await?;
            }
        }
    }
    Ok(())
}

async fn record(core: &Core, chain: &[Link], call: &Call<'_>, o: Outcome, ctx: &RequestContext) -> Result<Decision> {
    let agent = &chain.first().ok_or_else(not_found)?.agent;
    let delegation_chain: Vec<String> = chain.iter().skip(1).map(|l| l.agent.id.clone()).collect();
    let verdict = match o.verdict {
        Verdict::Allowed => "allowed",
        Verdict::Denied => "denied",
        Verdict::Pending => "pending",
    };
    let e = Event::new(EventKind::AgentDecision, agent.owner_user_id.as_deref(), ctx)
        .with("agentId", &agent.id)
        .with_some("organizationId", agent.owner_organization_id.as_deref())
        .with("act", &delegation_chain)
        .with("action", call.action)
        .with("resource", call.resource)
        .with("argumentsHash", crypto::sha256_hex(canonical(call.arguments).as_bytes()))
        .with("decision", verdict)
        .with("reason", o.reason.as_str())
        .with_some("permissionId", o.permission_id.as_deref())
        .with_some("approvalId", o.approval_id.as_deref());
    let audit_id = e.id.clone();
    core.audit_queue.append(e).await?;
    match o.verdict {
        Verdict::Allowed => core.agent_tally.add(&agent.id, Counter::Allowed),
        Verdict::Denied => core.agent_tally.add(&agent.id, Counter::Denied),
        Verdict::Pending => {}
    }
    core.agent_tally.touch(&agent.id);
    Ok(Decision {
        decision: o.verdict,
        reason: o.reason,
        audit_id,
        agent_id: agent.id.clone(),
        delegation_chain,
        permission_id: o.permission_id,
        approval_url: (o.verdict == Verdict::Pending).then(|| o.approval_id.as_deref().map(|a| approval_url(core, a))).flatten(),
        approval_id: o.approval_id,
        retry_after: o.retry_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_reason_code_is_documented_and_every_documented_one_exists() {
        let documented = crate::error::doc_table_names(include_str!("../../../../../docs/agents.md"), Some("Reason codes"));
        let code: std::collections::BTreeSet<String> = Reason::ALL.iter().map(|r| r.as_str().to_owned()).collect();
        assert_eq!(code, documented, "docs/agents.md's reason codes and Reason disagree");
    }

    #[test]
    fn equal_arguments_hash_equally_whatever_their_key_order() {
        let a = json!({"b": 1, "a": {"y": [1, {"q": 2, "p": 1}], "x": "s"}});
        let b = json!({"a": {"x": "s", "y": [1, {"p": 1, "q": 2}]}, "b": 1});
        assert_eq!(canonical(&a), canonical(&b));
        let call = |args: &'static Value| Call { action: "tools/call", resource: "tool:x", arguments: args, ip: None, session: None };
        static A: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| json!({"n": 1}));
        static B: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| json!({"n": 2}));
        assert_ne!(request_hash("ag", &call(&A)), request_hash("ag", &call(&B)), "approving X cannot authorise Y");
    }
}
