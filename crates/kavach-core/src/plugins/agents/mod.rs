//! The agents capability (`[agents]`): AI agents as identities of their own, owned by a
//! user or an organization, with API keys, permissions checked by one decision point,
//! delegation to sub-agents, approvals that let the identical call through, budgets and
//! a trust score: `kavach.agents()`.
//!
//! Who may do what (every method takes a [`Manager`]):
//! - the server (Rust API, CLI) may do anything;
//! - a user manages the agents they own; in an organization, its roles decide
//!   (`agent: create | read | update | delete`); a platform admin (`[admin]`) holds
//!   `agent: read | manage` over every agent;
//! - an agent may read only itself, and may delegate to a sub-agent of its own;
//! - anyone else gets `AGENT_NOT_FOUND`, whether or not the agent exists.
//!
//! Types (each has an effect): `autonomous` (the default) may delegate; `service` (a
//! backend's identity) may not delegate; `delegated` is what delegation creates: it has
//! a parent, its rights are its own permissions *and* its parent's at every check, and
//! it never outlives its parent.

use crate::access::Permissions;
use crate::error::{Code, Error, Result};
use crate::store::Ts;
use crate::users::{User, check_name};
use crate::{Core, RequestContext, crypto};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

mod anomaly;
mod cache;
pub mod constraints;
mod decide;
pub mod pattern;
mod store;
mod trust;

pub use crate::cache::FRESH_FOR;
pub(crate) use anomaly::Anomalies;
pub(crate) use cache::Cache;
pub use constraints::{ArgRule, Constraints, TimeWindow};
pub use decide::{Call, Decision, Reason, Verdict, approval_url};
pub(crate) use trust::Tally;
pub use trust::{Factor, Trust};

/// `[agents]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentOptions {
    /// Off by default.
    pub enabled: bool,
    /// Agents one user or organization may have (revoked ones do not count). Default 50.
    pub max_per_owner: u32,
    /// Permissions per agent. Default 100.
    pub max_permissions: u32,
    /// After a key rotation, the old key keeps working this long. Default 24 hours.
    #[serde(deserialize_with = "crate::options::duration")]
    pub key_grace: Duration,
    /// The deepest delegation chain any owner may set (an owner's policy, set when a root
    /// agent is created, is at most this). Default 3.
    pub max_delegation_depth: u32,
    /// How long an approval request waits for an answer. Default 15 minutes.
    #[serde(deserialize_with = "crate::options::duration")]
    pub approval_ttl: Duration,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            enabled: false,
            max_per_owner: 50,
            max_permissions: 100,
            key_grace: Duration::from_secs(24 * 3600),
            max_delegation_depth: 3,
            approval_ttl: Duration::from_secs(15 * 60),
        }
    }
}

impl AgentOptions {
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        if self.max_per_owner == 0 || self.max_permissions == 0 || self.approval_ttl.is_zero() {
            return Err("agents: max_per_owner, max_permissions and approval_ttl must be above zero".into());
        }
        if self.max_delegation_depth > 8 {
            return Err("agents.max_delegation_depth is at most 8".into());
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentType {
    #[default]
    Autonomous,
    Delegated,
    Service,
}

impl AgentType {
    pub const fn as_str(self) -> &'static str {
        match self {
            AgentType::Autonomous => "autonomous",
            AgentType::Delegated => "delegated",
            AgentType::Service => "service",
        }
    }
    fn parse(s: &str) -> AgentType {
        match s {
            "delegated" => AgentType::Delegated,
            "service" => AgentType::Service,
            _ => AgentType::Autonomous,
        }
    }
}

/// `active`, `suspended` (may be activated again), `revoked` (final) or `expired`
/// (computed from `expiresAt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Suspended,
    Revoked,
    Expired,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Revoked => "revoked",
            Status::Expired => "expired",
        }
    }
}

/// An agent.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub agent_type: AgentType,
    pub status: Status,
    /// The owning user, or none when an organization owns it.
    pub owner_user_id: Option<String>,
    pub owner_organization_id: Option<String>,
    /// The user who created it (none: the server).
    pub created_by: Option<String>,
    /// The delegating agent, for a delegated agent.
    pub parent_id: Option<String>,
    /// The first agent of the delegation chain (itself for a root).
    pub root_id: String,
    /// 0 for a root, 1 for its delegates, ...
    pub depth: u32,
    /// The owner's delegation policy: how deep the chain below the root may go.
    pub max_depth: u32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Ts>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Ts,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_active_at: Option<Ts>,
}

impl Agent {
    /// `allow`-able now? (status, expiry; the chain is checked by the decision point).
    pub fn usable(&self, now: Ts) -> bool {
        self.status == Status::Active && self.expires_at.is_none_or(|e| e > now)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

/// A permission to grant: a resource pattern ([`pattern`]), actions (`*`: any), and
/// constraints. A `deny` permission refuses what it matches, whatever allows it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewPermission {
    #[serde(default)]
    pub effect: Effect,
    pub resource: String,
    pub actions: Vec<String>,
    #[serde(default)]
    pub constraints: Constraints,
    /// Seconds until the permission lapses (for a delegate: capped by the one it came from).
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// A granted permission.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    pub id: String,
    pub agent_id: String,
    pub effect: Effect,
    pub resource: String,
    pub actions: Vec<String>,
    pub constraints: Constraints,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Ts>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
}

/// An API key as listed (the key itself is shown once, when made).
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub id: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
    /// Set once the key was rotated (the end of its grace period).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Ts>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Ts>,
}

/// [`Agents::create`] and [`Agents::delegate`].
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct NewAgent {
    pub name: String,
    #[serde(rename = "type")]
    pub agent_type: AgentType,
    /// An organization to own it (the caller needs `agent: create` there); none: the
    /// caller owns it. The server must name an owner (`owner_user_id` or this).
    pub organization_id: Option<String>,
    /// For the server only (the Rust API, the CLI): the owning user.
    #[serde(skip)]
    pub owner_user_id: Option<String>,
    /// Seconds until it expires (for a delegate: capped by its parent's expiry).
    pub expires_in: Option<u64>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub permissions: Vec<NewPermission>,
    /// The owner's delegation policy for this root agent: at most `[agents]
    /// max_delegation_depth` (the default). Ignored for a delegate (inherited).
    pub max_delegation_depth: Option<u32>,
}

/// A new agent and its one-time API key.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub agent: Agent,
    /// `kv_...`: shown once, stored only as a hash.
    pub key: String,
    pub permissions: Vec<Permission>,
}

/// [`Agents::update`].
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentUpdate {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// An approval request.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub id: String,
    pub agent_id: String,
    pub action: String,
    pub resource: String,
    #[schema(value_type = Object)]
    pub arguments: Value,
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
    /// Calls the approval still lets through.
    pub uses_left: i64,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Ts,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub valid_until: Option<Ts>,
    pub decided_by: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
}

/// [`Agents::approve`]: what the approver grants. By default one use of the identical call.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Grant {
    /// How many identical calls pass (1 to 1000). Default 1.
    pub uses: Option<u32>,
    /// For how many seconds identical calls pass (up to 30 days; with it, `uses`
    /// defaults to 1000).
    pub valid_for: Option<u64>,
}

/// [`Agents::register_client`]: how the agent authenticates at the token endpoint. With
/// `jwks` or `jwks_uri`, `private_key_jwt` (RFC 7523: Kavach holds only the public key);
/// without, a client secret (`client_secret_basic`), shown once.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientCredentials {
    /// The agent's public keys (`{"keys": [...]}`).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// Where its public keys are published (https).
    pub jwks_uri: Option<String>,
}

/// An agent's OAuth client: its `client_id` is the agent's id.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentClient {
    pub client_id: String,
    /// `private_key_jwt` or `client_secret_basic`.
    pub token_endpoint_auth_method: String,
    /// With `client_secret_basic`: shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// What a budget does once a limit is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BudgetAction {
    /// Allow, and record `agent.budget_exceeded` once per period.
    Warn,
    /// Allow one call a minute beyond the limit.
    Throttle,
    /// Refuse (`BUDGET_EXCEEDED`) until the period ends.
    #[default]
    Block,
    /// Refuse, and suspend the agent.
    Suspend,
}

impl BudgetAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            BudgetAction::Warn => "warn",
            BudgetAction::Throttle => "throttle",
            BudgetAction::Block => "block",
            BudgetAction::Suspend => "suspend",
        }
    }
    fn parse(s: &str) -> BudgetAction {
        match s {
            "warn" => BudgetAction::Warn,
            "throttle" => BudgetAction::Throttle,
            "suspend" => BudgetAction::Suspend,
            _ => BudgetAction::Block,
        }
    }
}

/// A budget: for one agent, or for every agent of an owner. Days and months are UTC
/// calendar periods; cost is in integer micro-units, reported with
/// [`Agents::report_cost`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Budget {
    #[serde(skip_deserializing)]
    pub id: String,
    /// The agent it limits (none: every agent of the owner below).
    pub agent_id: Option<String>,
    /// The owning organization whose agents it limits (with no `agentId`; none: the caller's own agents).
    pub organization_id: Option<String>,
    #[serde(skip_deserializing)]
    pub owner_user_id: Option<String>,
    pub calls_per_day: Option<i64>,
    pub calls_per_month: Option<i64>,
    pub cost_per_day: Option<i64>,
    pub cost_per_month: Option<i64>,
    pub action: BudgetAction,
}

/// Who is acting on agents.
#[derive(Clone, Copy, Debug)]
pub enum Manager<'a> {
    /// The server (Rust API, CLI): anything.
    Server,
    /// A signed-in user.
    User(&'a User),
    /// An agent (authenticated by its key): itself only, and its own delegates.
    Agent(&'a Agent),
}

impl Manager<'_> {
    fn user_id(&self) -> Option<&str> {
        match self {
            Manager::User(u) => Some(&u.id),
            _ => None,
        }
    }
}

/// What a manager wants to do with an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Read,
    Update,
    Delete,
}

impl Act {
    fn org_action(self) -> &'static str {
        match self {
            Act::Read => "read",
            Act::Update => "update",
            Act::Delete => "delete",
        }
    }
}

pub(crate) fn not_found() -> Error {
    Error::not_found(Code::AgentNotFound, "No such agent")
}

fn bad(code: Code, msg: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::bad_request(code, msg)
}

/// The prefix of every agent key.
pub const KEY_PREFIX: &str = "kv_";
/// The action of an approval request made by OpenID CIBA (its arguments are the request).
pub const CIBA_ACTION: &str = "oauth/ciba";

/// The prefix of every ephemeral session token.
pub const SESSION_PREFIX: &str = "kve_";

/// Is `token` shaped as an agent key (`kv_` + 43) or an ephemeral session token
/// (`kve_` + 43)? Session tokens are 43 characters bare, so the shapes never meet: the
/// session layer leaves these to the agents routes instead of looking them up.
pub fn is_agent_credential(token: &str) -> bool {
    let body = |p: &str| token.strip_prefix(p).is_some_and(|rest| rest.len() == 43);
    body(KEY_PREFIX) || body(SESSION_PREFIX)
}

/// [`Agents::create_session`]: a short-lived token for one task.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TaskSession {
    /// What the task is (recorded; at most 256 characters).
    pub task: Option<String>,
    /// Seconds it lives: 1 to 3600, default 300 (and never past the agent's expiry).
    pub ttl_seconds: Option<u64>,
    /// Decisions it may be allowed, at most; none: no cap.
    pub max_actions: Option<i64>,
}

/// A new ephemeral session and its one-time token.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskSessionCreated {
    pub id: String,
    pub agent_id: String,
    /// `kve_...`: shown once, stored only as a hash. The agent sends it as its bearer credential.
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Ts,
    pub max_actions: Option<i64>,
}

fn new_key() -> (String, String, String) {
    let key = format!("{KEY_PREFIX}{}", crypto::random_token());
    let prefix: String = key.chars().take(11).collect();
    (crypto::token_hash(&key), prefix, key)
}

/// `kavach.agents()`.
pub struct Agents<'a>(pub(crate) &'a Core);

impl Agents<'_> {
    fn opts(&self) -> &AgentOptions {
        &self.0.options.agents
    }

    fn enabled(&self) -> Result<()> {
        if self.opts().enabled { Ok(()) } else { Err(Error::forbidden(Code::AgentsDisabled, "Agents are not enabled ([agents] enabled = true)")) }
    }

    /// May `m` do `act` on `agent`? Refusals read as "no such agent".
    async fn allowed(&self, m: Manager<'_>, agent: &Agent, act: Act) -> Result<()> {
        let ok = match m {
            Manager::Server => true,
            Manager::Agent(a) => act == Act::Read && a.id == agent.id,
            Manager::User(u) => {
                if agent.owner_user_id.as_deref() == Some(u.id.as_str()) {
                    true
                } else if let Some(org) = &agent.owner_organization_id
                    && self.org_allows(u, org, act.org_action()).await
                {
                    true
                } else {
                    self.platform_allows(u, if act == Act::Read { "read" } else { "manage" })
                }
            }
        };
        if ok { Ok(()) } else { Err(not_found()) }
    }

    async fn org_allows(&self, u: &User, org: &str, action: &str) -> bool {
        let wanted = Permissions::of(&[("agent", &[action])]);
        self.0.options.organization.enabled && matches!(self.0.organizations().has_permission(&u.id, org, &wanted).await, Ok(true))
    }

    fn platform_allows(&self, u: &User, action: &str) -> bool {
        self.0.options.admin.enabled && self.0.admin().permissions(u).is_ok_and(|p| p.can("agent", action))
    }

    /// The agent, if `m` may read it.
    pub async fn get(&self, m: Manager<'_>, id: &str) -> Result<Agent> {
        self.enabled()?;
        let a = store::agent(&self.0.db, id).await?.ok_or_else(not_found)?;
        self.allowed(m, &a, Act::Read).await?;
        Ok(a)
    }

    /// Agents owned by the caller (a user), or by `organization_id` (needs `agent: read`
    /// there); the server and platform admins list any owner's, or every agent.
    pub async fn list(&self, m: Manager<'_>, organization_id: Option<&str>, user_id: Option<&str>) -> Result<Vec<Agent>> {
        self.enabled()?;
        let admin = match m {
            Manager::Server => true,
            Manager::User(u) => self.platform_allows(u, "read"),
            Manager::Agent(a) => return Ok(vec![a.clone()]),
        };
        match (organization_id, user_id, m) {
            (Some(org), _, Manager::User(u)) if !admin && !self.org_allows(u, org, "read").await => {
                Err(Error::forbidden(Code::AgentActionNotAllowed, "You may not see this organization's agents"))
            }
            (Some(org), _, _) => store::list(&self.0.db, "owner_organization_id", Some(org)).await,
            (None, Some(uid), _) if admin => store::list(&self.0.db, "owner_user_id", Some(uid)).await,
            (None, None, Manager::Server) => store::list(&self.0.db, "id", None).await,
            (None, _, _) => match m.user_id() {
                Some(uid) => store::list(&self.0.db, "owner_user_id", Some(uid)).await,
                None => store::list(&self.0.db, "id", None).await,
            },
        }
    }

    /// Create a root agent with its permissions and first key.
    pub async fn create(&self, m: Manager<'_>, new: NewAgent, ctx: &RequestContext) -> Result<Created> {
        self.enabled()?;
        if new.agent_type == AgentType::Delegated {
            return Err(bad(Code::InvalidAgent, "A delegated agent is made by delegation (POST /agents/{id}/delegate)"));
        }
        let (owner_user, owner_org) = match (m, &new.organization_id) {
            (Manager::Agent(_), _) => return Err(Error::forbidden(Code::AgentActionNotAllowed, "An agent creates sub-agents by delegation")),
            (Manager::User(u), Some(org)) => {
                if !self.org_allows(u, org, "create").await {
                    return Err(Error::forbidden(Code::AgentActionNotAllowed, "You may not create agents for this organization"));
                }
                (None, Some(org.clone()))
            }
            (Manager::User(u), None) => (Some(u.id.clone()), None),
            (Manager::Server, Some(org)) => (None, Some(org.clone())),
            (Manager::Server, None) => match &new.owner_user_id {
                Some(uid) => (Some(uid.clone()), None),
                None => return Err(bad(Code::InvalidAgent, "An agent needs an owner: a user id or an organization id")),
            },
        };
        let max_depth = new.max_delegation_depth.unwrap_or(self.opts().max_delegation_depth);
        if max_depth > self.opts().max_delegation_depth {
            return Err(bad(Code::InvalidAgent, format!("maxDelegationDepth is at most {}", self.opts().max_delegation_depth)));
        }
        let now = Ts::now();
        let agent = Agent { agent_type: new.agent_type, max_depth, ..new_agent(m, &new, (owner_user, owner_org), None, now)? };
        let perms = self.checked_permissions(&agent.id, &new.permissions, None).await?;
        self.insert(agent, perms, ctx, crate::audit::EventKind::AgentCreated).await
    }

    /// Delegate: make a sub-agent of `parent_id` holding a subset of its rights. Each
    /// permission must be within one of the parent's (pattern, actions) with constraints
    /// at least as strict; the expiry is capped by the parent's; the depth by the root
    /// owner's policy. At every later check the sub-agent's rights are its own *and*
    /// every ancestor's, so narrowing a parent narrows its delegates at once.
    pub async fn delegate(&self, m: Manager<'_>, parent_id: &str, new: NewAgent, ctx: &RequestContext) -> Result<Created> {
        self.enabled()?;
        let parent = store::agent(&self.0.db, parent_id).await?.ok_or_else(not_found)?;
        match m {
            Manager::Agent(a) if a.id == parent.id => {}
            Manager::Agent(_) => return Err(not_found()),
            _ => self.allowed(m, &parent, Act::Update).await?,
        }
        let now = Ts::now();
        let chain = store::chain(&self.0.db, &parent.id).await?;
        if let Some(reason) = decide::chain_refusal(&chain, now) {
            return Err(Error::forbidden(Code::DelegationNotAllowed, format!("The delegating agent cannot act ({})", reason.as_str())));
        }
        if parent.agent_type == AgentType::Service {
            return Err(Error::forbidden(Code::DelegationNotAllowed, "A service agent does not delegate"));
        }
        if parent.depth + 1 > parent.max_depth {
            return Err(Error::forbidden(
                Code::DelegationTooDeep,
                format!("The owner's policy allows delegation chains {} deep; this one would be {}", parent.max_depth, parent.depth + 1),
            ));
        }
        let owner = (parent.owner_user_id.clone(), parent.owner_organization_id.clone());
        let agent = new_agent(m, &new, owner, Some(&parent), now)?;
        let held = store::permissions(&self.0.db, &[parent.id.as_str()]).await?;
        let perms = self.checked_permissions(&agent.id, &new.permissions, Some(&held)).await?;
        self.insert(agent, perms, ctx, crate::audit::EventKind::AgentDelegated).await
    }

    async fn insert(&self, agent: Agent, perms: Vec<Permission>, ctx: &RequestContext, kind: crate::audit::EventKind) -> Result<Created> {
        let (hash, prefix, key) = new_key();
        if !store::insert(&self.0.db, &agent, &perms, (&crypto::new_id(), &hash, &prefix), self.opts().max_per_owner, ctx, kind).await? {
            return Err(Error::forbidden(Code::TooManyAgents, format!("An owner may have at most {} agents", self.opts().max_per_owner)));
        }
        Ok(Created { agent, key, permissions: perms })
    }

    /// Check permissions to grant; with `held` (a delegation), each must be within one of them.
    async fn checked_permissions(&self, agent_id: &str, list: &[NewPermission], held: Option<&[Permission]>) -> Result<Vec<Permission>> {
        if list.len() > self.opts().max_permissions as usize {
            return Err(bad(Code::InvalidPermission, format!("At most {} permissions per agent", self.opts().max_permissions)));
        }
        let now = Ts::now();
        let mut out = Vec::with_capacity(list.len());
        for p in list {
            let pat = pattern::Pattern::parse(&p.resource)?;
            if p.actions.is_empty() || p.actions.len() > 64 || p.actions.iter().any(|a| !valid_action(a)) {
                return Err(bad(Code::InvalidPermission, "actions: 1 to 64 action names (1-64 of a-z A-Z 0-9 _ - . : /), or \"*\" for any".to_owned()));
            }
            let checked = p.constraints.check()?;
            if p.effect == Effect::Deny && p.constraints != Constraints::default() {
                return Err(bad(Code::InvalidConstraints, "A deny permission has no constraints: it always refuses what it matches"));
            }
            let _ = checked;
            let mut expires_at = expiry(now, p.expires_in, None)?;
            if let Some(held) = held
                && p.effect == Effect::Allow
            {
                let cover = held.iter().filter(|h| h.effect == Effect::Allow && h.expires_at.is_none_or(|e| e > now)).find(|h| {
                    pattern::Pattern::parse(&h.resource).is_ok_and(|hp| pat.within(&hp))
                        && (h.actions.iter().any(|a| a == "*") || p.actions.iter().all(|a| a != "*" && h.actions.contains(a)))
                        && p.constraints.tightens(&h.constraints)
                });
                let Some(cover) = cover else {
                    return Err(Error::forbidden(
                        Code::DelegationNotAllowed,
                        format!(
                            "{} on {} is not within what the delegating agent holds (constraints are inherited and may only be tightened)",
                            p.actions.join(","),
                            p.resource
                        ),
                    ));
                };
                // A delegated permission never outlives the one it came from.
                expires_at = match (expires_at, cover.expires_at) {
                    (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
                    (a, b) => a.or(b),
                };
            }
            out.push(Permission {
                id: crypto::new_id(),
                agent_id: agent_id.to_owned(),
                effect: p.effect,
                resource: pat.to_string(),
                actions: p.actions.clone(),
                constraints: p.constraints.clone(),
                expires_at,
                created_at: now,
            });
        }
        Ok(out)
    }

    /// Rename, or replace the metadata.
    pub async fn update(&self, m: Manager<'_>, id: &str, u: AgentUpdate, ctx: &RequestContext) -> Result<Agent> {
        let a = self.get(m, id).await?;
        self.allowed(m, &a, Act::Update).await?;
        let name = u.name.as_deref().map(check_agent_name).transpose()?;
        let metadata = u.metadata.map(|v| check_metadata(Some(v))).transpose()?;
        store::update(&self.0.db, &a, name.as_deref(), metadata.as_ref(), m.user_id(), ctx).await?;
        self.0.sessions.agents_changed().await;
        store::agent(&self.0.db, id).await?.ok_or_else(not_found)
    }

    /// Suspend (reversible), activate again, or revoke (final; every delegate below is
    /// revoked with it, in the same transaction). A decision checks the whole chain, so
    /// a suspended parent stops its delegates at once, on every instance.
    pub async fn set_status(&self, m: Manager<'_>, id: &str, status: Status, ctx: &RequestContext) -> Result<Agent> {
        let a = self.get(m, id).await?;
        self.allowed(m, &a, Act::Update).await?;
        if a.status == Status::Revoked {
            return Err(bad(Code::AgentRevoked, "A revoked agent stays revoked"));
        }
        if status == Status::Expired {
            return Err(bad(Code::InvalidAgent, "The status is active, suspended or revoked"));
        }
        store::set_status(&self.0.db, &a, status, m.user_id(), ctx).await?;
        self.0.sessions.agents_changed().await;
        store::agent(&self.0.db, id).await?.ok_or_else(not_found)
    }

    /// Delete the agent, its delegates, keys, permissions and approvals.
    pub async fn delete(&self, m: Manager<'_>, id: &str, ctx: &RequestContext) -> Result<()> {
        let a = self.get(m, id).await?;
        self.allowed(m, &a, Act::Delete).await?;
        store::delete(&self.0.db, &a, m.user_id(), ctx).await?;
        self.0.sessions.agents_changed().await;
        Ok(())
    }

    // ---- keys ----

    /// A new key for the agent; with `rotate`, the others stop working after
    /// `[agents] key_grace`. The key is returned once.
    pub async fn new_key(&self, m: Manager<'_>, id: &str, rotate: bool, ctx: &RequestContext) -> Result<String> {
        let a = self.get(m, id).await?;
        self.allowed(m, &a, Act::Update).await?;
        let (hash, prefix, key) = new_key();
        let grace = rotate.then(|| Ts::now().plus_secs(self.opts().key_grace.as_secs() as i64));
        store::insert_key(&self.0.db, &a, (&crypto::new_id(), &hash, &prefix), grace, m.user_id(), ctx).await?;
        self.0.sessions.agents_changed().await;
        Ok(key)
    }

    pub async fn keys(&self, m: Manager<'_>, id: &str) -> Result<Vec<KeyInfo>> {
        self.get(m, id).await?;
        store::keys(&self.0.db, id).await
    }

    /// Remove one key at once.
    pub async fn revoke_key(&self, m: Manager<'_>, id: &str, key_id: &str, ctx: &RequestContext) -> Result<()> {
        let a = self.get(m, id).await?;
        self.allowed(m, &a, Act::Update).await?;
        if !store::delete_key(&self.0.db, &a, key_id, m.user_id(), ctx).await? {
            return Err(Error::not_found(Code::NotFound, "No such key"));
        }
        self.0.sessions.agents_changed().await;
        Ok(())
    }

    /// An ephemeral session for one task: a token that acts as the agent until it expires,
    /// whose every allowed decision counts against `max_actions` (one atomic counter, so
    /// every path that authorizes with it consumes it). Made by a manager or by the agent
    /// itself.
    pub async fn create_session(&self, m: Manager<'_>, id: &str, t: TaskSession, ctx: &RequestContext) -> Result<TaskSessionCreated> {
        let a = self.get(m, id).await?;
        if !matches!(m, Manager::Agent(_)) {
            self.allowed(m, &a, Act::Update).await?;
        }
        let ttl = t.ttl_seconds.unwrap_or(300);
        if !(1..=3600).contains(&ttl) || t.max_actions.is_some_and(|n| !(1..=1_000_000).contains(&n)) {
            return Err(bad(Code::ValidationError, "ttlSeconds is 1 to 3600; maxActions 1 to 1000000"));
        }
        if let Some(task) = &t.task {
            check_name(task)?;
        }
        let now = Ts::now();
        let expires_at = expiry(now, Some(ttl), a.expires_at)?.unwrap_or(now);
        let token = format!("{SESSION_PREFIX}{}", crypto::random_token());
        let sid = crypto::new_id();
        store::insert_session(&self.0.db, &a, &sid, &crypto::token_hash(&token), t.task.as_deref(), t.max_actions, expires_at, m.user_id(), ctx).await?;
        Ok(TaskSessionCreated { id: sid, agent_id: a.id, token, expires_at, max_actions: t.max_actions })
    }

    /// The agent and session an ephemeral session token belongs to, if the session is
    /// live (not expired, actions left) and the agent's chain can act now.
    pub async fn authenticate_session(&self, token: &str) -> Result<Option<(Agent, String)>> {
        if !self.opts().enabled || !token.starts_with(SESSION_PREFIX) || !is_agent_credential(token) {
            return Ok(None);
        }
        let Some((sid, agent_id)) = store::live_session(&self.0.db, &crypto::token_hash(token), Ts::now()).await? else { return Ok(None) };
        Ok(self.acting(&agent_id).await?.map(|a| (a, sid)))
    }

    /// The agent a key belongs to, if the key and every agent of its chain can act now
    /// (otherwise `None`: the caller answers 401).
    pub async fn authenticate(&self, key: &str) -> Result<Option<Agent>> {
        if !self.opts().enabled || !key.starts_with(KEY_PREFIX) || !is_agent_credential(key) {
            return Ok(None);
        }
        let Some(agent_id) = self.0.agent_cache.key_agent(self.0, &crypto::token_hash(key)).await? else { return Ok(None) };
        self.acting(&agent_id).await
    }

    /// The agent, if every agent of its chain can act now.
    async fn acting(&self, agent_id: &str) -> Result<Option<Agent>> {
        let Some(v) = self.0.agent_cache.view(self.0, agent_id).await? else { return Ok(None) };
        if decide::chain_refusal(&v.chain, Ts::now()).is_some() {
            return Ok(None);
        }
        Ok(v.chain.first().map(|l| l.agent.clone()))
    }

    // ---- OAuth credentials ----

    /// Give the agent OAuth credentials: a client whose `client_id` is the agent's id,
    /// for the `client_credentials` grant (RFC 9068 access tokens naming the agent, its
    /// owner and its delegation chain; DPoP-bound when the agent sends a proof).
    pub async fn register_client(&self, m: Manager<'_>, id: &str, c: ClientCredentials, ctx: &RequestContext) -> Result<AgentClient> {
        let a = self.get(m, id).await?;
        self.allowed(m, &a, Act::Update).await?;
        if self.0.clients().get(id).await?.is_some() {
            return Err(bad(Code::InvalidAgent, "The agent already has OAuth credentials: remove them first (DELETE /agents/{id}/oauth-client)"));
        }
        let method = if c.jwks.is_some() || c.jwks_uri.is_some() { "private_key_jwt" } else { "client_secret_basic" };
        let grants = ["client_credentials", crate::plugins::oauth::grants::TOKEN_EXCHANGE, crate::plugins::oauth::grants::CIBA];
        let mut meta = serde_json::json!({ "client_name": a.name, "grant_types": grants, "token_endpoint_auth_method": method });
        if let Some(o) = meta.as_object_mut() {
            if let Some(j) = c.jwks {
                o.insert("jwks".into(), j);
            }
            if let Some(u) = c.jwks_uri {
                o.insert("jwks_uri".into(), Value::String(u));
            }
        }
        let r = self.0.clients().register_as(id, &meta, crate::plugins::oauth::clients::Origin::Agent, ctx).await?;
        Ok(AgentClient { client_id: r.client_id, token_endpoint_auth_method: method.into(), client_secret: r.client_secret })
    }

    /// Remove the agent's OAuth credentials (its access tokens stop working).
    pub async fn remove_client(&self, m: Manager<'_>, id: &str) -> Result<()> {
        let a = self.get(m, id).await?;
        self.allowed(m, &a, Act::Update).await?;
        match self.0.clients().get(id).await? {
            Some(c) if c.kind == "agent" => {
                self.0.clients().delete(id).await?;
                Ok(())
            }
            _ => Err(Error::not_found(Code::NotFound, "The agent has no OAuth credentials")),
        }
    }

    /// The claims an access token of agent `id` carries, if its chain can act now
    /// (otherwise the reason it cannot).
    pub(crate) async fn token_claims(&self, id: &str) -> Result<std::result::Result<Value, Reason>> {
        let Some(v) = self.0.agent_cache.view(self.0, id).await? else { return Ok(Err(Reason::AgentRevoked)) };
        let chain = &v.chain;
        if let Some(r) = decide::chain_refusal(chain, Ts::now()) {
            return Ok(Err(r));
        }
        let Some(first) = chain.first() else { return Ok(Err(Reason::AgentRevoked)) };
        let a = &first.agent;
        let mut v = serde_json::json!({ "id": a.id, "type": a.agent_type.as_str() });
        if let Some(o) = v.as_object_mut() {
            if let Some(u) = &a.owner_user_id {
                o.insert("owner_user_id".into(), Value::String(u.clone()));
            }
            if let Some(g) = &a.owner_organization_id {
                o.insert("owner_organization_id".into(), Value::String(g.clone()));
            }
            let up: Vec<Value> = chain.iter().skip(1).map(|l| Value::String(l.agent.id.clone())).collect();
            if !up.is_empty() {
                o.insert("delegation_chain".into(), Value::Array(up));
            }
        }
        Ok(Ok(v))
    }

    // ---- permissions ----

    pub async fn permissions(&self, m: Manager<'_>, id: &str) -> Result<Vec<Permission>> {
        self.get(m, id).await?;
        store::permissions(&self.0.db, &[id]).await
    }

    /// Grant more permissions (for a delegate: within its parent's, as at delegation).
    pub async fn grant(&self, m: Manager<'_>, id: &str, list: &[NewPermission], ctx: &RequestContext) -> Result<Vec<Permission>> {
        let a = self.get(m, id).await?;
        self.allowed(m, &a, Act::Update).await?;
        let held = match &a.parent_id {
            Some(p) => Some(store::permissions(&self.0.db, &[p.as_str()]).await?),
            None => None,
        };
        let perms = self.checked_permissions(id, list, held.as_deref()).await?;
        store::insert_permissions(&self.0.db, &a, &perms, self.opts().max_permissions, m.user_id(), ctx).await?;
        self.0.sessions.agents_changed().await;
        Ok(perms)
    }

    /// Withdraw one permission (its delegates lose it at their next check).
    pub async fn withdraw(&self, m: Manager<'_>, id: &str, permission_id: &str, ctx: &RequestContext) -> Result<()> {
        let a = self.get(m, id).await?;
        self.allowed(m, &a, Act::Update).await?;
        if store::delete_permission(&self.0.db, &a, permission_id, m.user_id(), ctx).await? {
            self.0.sessions.agents_changed().await;
            Ok(())
        } else {
            Err(Error::not_found(Code::NotFound, "No such permission"))
        }
    }

    // ---- approvals ----

    /// Approval requests of the agents `m` may manage (pending first), or of one agent.
    pub async fn approvals(&self, m: Manager<'_>, agent_id: Option<&str>) -> Result<Vec<Approval>> {
        self.enabled()?;
        match agent_id {
            Some(id) => {
                self.get(m, id).await?;
                store::approvals_of(&self.0.db, Some(("id", id))).await
            }
            None => match m {
                Manager::Server => store::approvals_of(&self.0.db, None).await,
                Manager::Agent(a) => store::approvals_of(&self.0.db, Some(("id", &a.id))).await,
                Manager::User(u) => {
                    let mut all = store::approvals_of(&self.0.db, Some(("owner_user_id", &u.id))).await?;
                    for org in store::member_orgs(&self.0.db, &u.id).await? {
                        if self.org_allows(u, &org, "update").await {
                            all.extend(store::approvals_of(&self.0.db, Some(("owner_organization_id", &org))).await?);
                        }
                    }
                    Ok(all)
                }
            },
        }
    }

    /// A CIBA request of agent `agent_id`: a pending approval request bound to the hash of
    /// `arguments` (its `authorization_details`, scope and resource), the owner notified;
    /// `(auth_req_id, expiry)`.
    pub(crate) async fn ciba_approval(&self, agent_id: &str, arguments: &Value) -> Result<(String, Ts)> {
        self.enabled()?;
        let chain = store::chain(&self.0.db, agent_id).await?;
        if let Some(r) = decide::chain_refusal(&chain, Ts::now()) {
            return Err(Error::forbidden(Code::AgentActionNotAllowed, format!("The agent cannot act ({})", r.as_str())));
        }
        let agent = chain.into_iter().next().map(|l| l.agent).ok_or_else(not_found)?;
        let call = Call { action: CIBA_ACTION, resource: "oauth:ciba", arguments, ip: None, session: None };
        decide::request_approval(self.0, &agent, &call).await
    }

    /// An approval request, whoever asks (the token endpoint checks whose it is).
    pub(crate) async fn approval_row(&self, id: &str) -> Result<Option<Approval>> {
        store::approval(&self.0.db, id).await
    }

    /// Use an approved request once; false when it has no use left.
    pub(crate) async fn use_approval(&self, id: &str) -> Result<bool> {
        store::consume_approval(&self.0.db, id, Ts::now()).await
    }

    /// One approval request: its agent may read it (to poll), its managers too.
    pub async fn approval(&self, m: Manager<'_>, id: &str) -> Result<Approval> {
        self.enabled()?;
        let ap = store::approval(&self.0.db, id).await?.ok_or_else(approval_not_found)?;
        self.get(m, &ap.agent_id).await.map_err(|_| approval_not_found())?;
        Ok(ap)
    }

    /// Approve a pending request: the identical call (same action, resource and
    /// arguments) then passes, once or as `grant` says. Only a user who manages the
    /// agent (or the server) approves; an agent never approves anything.
    pub async fn approve(&self, m: Manager<'_>, id: &str, grant: Grant, ctx: &RequestContext) -> Result<Approval> {
        self.decide_approval(m, id, Some(grant), ctx).await
    }

    /// Refuse a pending request (it counts against the agent's trust score).
    pub async fn deny(&self, m: Manager<'_>, id: &str, ctx: &RequestContext) -> Result<Approval> {
        self.decide_approval(m, id, None, ctx).await
    }

    async fn decide_approval(&self, m: Manager<'_>, id: &str, grant: Option<Grant>, ctx: &RequestContext) -> Result<Approval> {
        self.enabled()?;
        if matches!(m, Manager::Agent(_)) {
            return Err(Error::forbidden(Code::AgentActionNotAllowed, "An agent cannot answer an approval request"));
        }
        let ap = store::approval(&self.0.db, id).await?.ok_or_else(approval_not_found)?;
        let a = store::agent(&self.0.db, &ap.agent_id).await?.ok_or_else(approval_not_found)?;
        self.allowed(m, &a, Act::Update).await.map_err(|_| approval_not_found())?;
        let now = Ts::now();
        let (uses, until) = match &grant {
            Some(g) => {
                if g.uses.is_some_and(|u| u == 0 || u > 1000) || g.valid_for.is_some_and(|s| s == 0 || s > 30 * 86400) {
                    return Err(bad(Code::ValidationError, "uses is 1 to 1000; validFor is 1 second to 30 days"));
                }
                // Without a window, the approval stays usable as long as a request waits for one.
                let window = g.valid_for.unwrap_or(self.opts().approval_ttl.as_secs());
                let uses = g.uses.unwrap_or(if g.valid_for.is_some() { 1000 } else { 1 });
                (i64::from(uses), Some(now.plus_secs(window as i64)))
            }
            None => (0, None),
        };
        let status = if grant.is_some() { "approved" } else { "denied" };
        if !store::answer_approval(&self.0.db, &a, &ap, status, uses, until, m.user_id(), now, ctx).await? {
            return Err(bad(Code::ApprovalNotPending, "This approval request is no longer pending (answered or expired)"));
        }
        if grant.is_none() {
            self.0.agent_tally.add(&ap.agent_id, trust::Counter::ApprovalsRefused);
        }
        store::approval(&self.0.db, id).await?.ok_or_else(approval_not_found)
    }

    // ---- budgets ----

    /// Set a budget on one agent (`agent_id`) or on every agent of an owner (the
    /// caller's own, or `organization_id`'s with `agent: update` there).
    pub async fn set_budget(&self, m: Manager<'_>, mut b: Budget, ctx: &RequestContext) -> Result<Budget> {
        self.enabled()?;
        if [b.calls_per_day, b.calls_per_month, b.cost_per_day, b.cost_per_month].iter().all(Option::is_none) {
            return Err(bad(Code::ValidationError, "A budget sets at least one of callsPerDay, callsPerMonth, costPerDay, costPerMonth"));
        }
        if [b.calls_per_day, b.calls_per_month, b.cost_per_day, b.cost_per_month].iter().flatten().any(|n| *n < 0) {
            return Err(bad(Code::ValidationError, "Budget limits are not negative"));
        }
        match (&b.agent_id, &b.organization_id, m) {
            (Some(id), _, _) => {
                let a = self.get(m, id).await?;
                self.allowed(m, &a, Act::Update).await?;
                b.organization_id = None;
            }
            (None, Some(org), Manager::User(u)) => {
                if !self.org_allows(u, org, "update").await && !self.platform_allows(u, "manage") {
                    return Err(Error::forbidden(Code::AgentActionNotAllowed, "You may not set this organization's budgets"));
                }
            }
            (None, None, Manager::User(u)) => b.owner_user_id = Some(u.id.clone()),
            (None, Some(_), Manager::Server) => {}
            (None, None, Manager::Server) if b.owner_user_id.is_some() => {}
            _ => return Err(bad(Code::ValidationError, "A budget names an agent, an organization or (for the server) a user")),
        }
        b.id = crypto::new_id();
        store::insert_budget(&self.0.db, &b, m.user_id(), ctx).await?;
        self.0.sessions.agents_changed().await;
        Ok(b)
    }

    /// Budgets that apply to an agent (its own and its owner's).
    pub async fn budgets(&self, m: Manager<'_>, agent_id: &str) -> Result<Vec<Budget>> {
        let a = self.get(m, agent_id).await?;
        store::budgets_for(&self.0.db, &a).await
    }

    pub async fn delete_budget(&self, m: Manager<'_>, id: &str, ctx: &RequestContext) -> Result<()> {
        self.enabled()?;
        let b = store::budget(&self.0.db, id).await?.ok_or_else(|| Error::not_found(Code::NotFound, "No such budget"))?;
        let ok = match (&b.agent_id, &b.organization_id, &b.owner_user_id, m) {
            (_, _, _, Manager::Server) => true,
            (_, _, _, Manager::Agent(_)) => false,
            (Some(id), _, _, _) => match store::agent(&self.0.db, id).await? {
                Some(a) => self.allowed(m, &a, Act::Update).await.is_ok(),
                None => false,
            },
            (None, Some(org), _, Manager::User(u)) => self.org_allows(u, org, "update").await || self.platform_allows(u, "manage"),
            (None, None, Some(owner), Manager::User(u)) => *owner == u.id || self.platform_allows(u, "manage"),
            _ => false,
        };
        if !ok {
            return Err(Error::not_found(Code::NotFound, "No such budget"));
        }
        store::delete_budget(&self.0.db, id, m.user_id(), ctx).await?;
        self.0.sessions.agents_changed().await;
        Ok(())
    }

    /// Record cost (integer micro-units) an agent's call incurred: reported by the agent
    /// itself or by whoever manages it. It counts against cost budgets.
    pub async fn report_cost(&self, m: Manager<'_>, agent_id: &str, micros: i64) -> Result<()> {
        let a = self.get(m, agent_id).await?;
        if !(0..=1_000_000_000_000).contains(&micros) {
            return Err(bad(Code::ValidationError, "cost is 0 to 10^12 micro-units"));
        }
        let budgets = store::budgets_for(&self.0.db, &a).await?;
        decide::add_cost(self.0, &budgets, micros).await
    }

    // ---- trust ----

    /// The agent's trust score with the factors that made it.
    pub async fn trust(&self, m: Manager<'_>, id: &str) -> Result<Trust> {
        let a = self.get(m, id).await?;
        self.trust_of(&a).await
    }

    /// The score from the stored counters and this instance's pending ones: no write, so
    /// a decision that needs the score does not wait for one.
    pub(crate) async fn trust_of(&self, a: &Agent) -> Result<Trust> {
        let stats = store::stats(&self.0.db, &a.id).await? + self.0.agent_tally.pending(&a.id);
        Ok(trust::score(a, &stats, Ts::now()))
    }

    // ---- decisions ----

    /// The actions agent `agent_id`'s permissions (and every ancestor's) allow on
    /// `resource`, before the constraints of the moment; a deny wins (AuthZEN action search).
    pub async fn allowed_actions(&self, agent_id: &str, resource: &str) -> Result<Vec<String>> {
        self.enabled()?;
        pattern::check_resource(resource)?;
        decide::search(self.0, agent_id, None, Some(resource), None).await
    }

    /// The literal resources of type `kind` (their first segment) agent `agent_id` may do
    /// `action` on, as for [`Self::allowed_actions`] (AuthZEN resource search).
    pub async fn allowed_resources(&self, agent_id: &str, action: &str, kind: &str) -> Result<Vec<String>> {
        self.enabled()?;
        decide::search(self.0, agent_id, Some(action), None, Some(kind)).await
    }

    /// Decide whether agent `agent_id` may do `call`: allowed, denied or pending
    /// approval, with a reason code and the id of the audit record that holds it. Every
    /// permission of the agent and of every agent it was delegated from is considered;
    /// an explicit deny wins. Nothing but the decision's own counters is consumed, and
    /// only by a call that is allowed.
    pub async fn decide(&self, agent_id: &str, call: &Call<'_>, ctx: &RequestContext) -> Result<Decision> {
        self.enabled()?;
        decide::decide(self.0, agent_id, call, ctx).await
    }
}

/// A new active agent: a root (of its own chain, depth 0), or a delegate of `parent`
/// (its chain, one deeper, its depth policy, its expiry as a cap).
fn new_agent(m: Manager<'_>, new: &NewAgent, owner: (Option<String>, Option<String>), parent: Option<&Agent>, now: Ts) -> Result<Agent> {
    let id = crypto::new_id();
    Ok(Agent {
        name: check_agent_name(&new.name)?,
        agent_type: AgentType::Delegated,
        status: Status::Active,
        owner_user_id: owner.0,
        owner_organization_id: owner.1,
        created_by: m.user_id().map(str::to_owned),
        parent_id: parent.map(|p| p.id.clone()),
        root_id: parent.map_or_else(|| id.clone(), |p| p.root_id.clone()),
        depth: parent.map_or(0, |p| p.depth + 1),
        max_depth: parent.map_or(0, |p| p.max_depth),
        expires_at: expiry(now, new.expires_in, parent.and_then(|p| p.expires_at))?,
        metadata: check_metadata(new.metadata.clone())?,
        created_at: now,
        updated_at: now,
        last_active_at: None,
        id,
    })
}

fn approval_not_found() -> Error {
    Error::not_found(Code::ApprovalNotFound, "No such approval request")
}

fn valid_action(a: &str) -> bool {
    a == "*" || (!a.is_empty() && a.len() <= 64 && a.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b)))
}

fn check_agent_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(bad(Code::InvalidName, "An agent needs a name"));
    }
    check_name(name)?;
    if name.chars().any(crate::text::is_invisible_or_bidi) {
        return Err(bad(Code::InvalidName, "The name has invisible or bidirectional characters"));
    }
    Ok(name.to_owned())
}

fn check_metadata(v: Option<Value>) -> Result<Value> {
    match v {
        None | Some(Value::Null) => Ok(Value::Object(Default::default())),
        Some(v @ Value::Object(_)) if v.to_string().len() <= 8192 => Ok(v),
        Some(_) => Err(bad(Code::ValidationError, "metadata is a JSON object of at most 8 KiB")),
    }
}

/// `now + expires_in`, capped by `cap` (the parent's expiry).
fn expiry(now: Ts, expires_in: Option<u64>, cap: Option<Ts>) -> Result<Option<Ts>> {
    let asked = match expires_in {
        Some(0) => return Err(bad(Code::ValidationError, "expiresIn is at least one second")),
        Some(s) if s > 10 * 365 * 86400 => return Err(bad(Code::ValidationError, "expiresIn is at most ten years")),
        Some(s) => Some(now.plus_secs(s as i64)),
        None => None,
    };
    Ok(match (asked, cap) {
        (Some(a), Some(c)) => Some(if a.0 < c.0 { a } else { c }),
        (a, c) => a.or(c),
    })
}
