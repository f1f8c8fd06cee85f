//! `kavach agent`: the operator's side of agents ([agents]): create them for a user or
//! an organization, list and show them, suspend, activate and revoke, rotate keys, grant
//! permissions, ask the decision point, answer approvals, set budgets. These act as the
//! server (no permission check); every change is audited like its HTTP twin.

use super::user::find_user;
use super::{Config, cli_ctx};
use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use kavach_core::plugins::agents::{
    AgentType, Budget, BudgetAction, Call, ClientCredentials, Effect, Grant, Manager, NewAgent, NewPermission, Status, TaskSession, Verdict,
};
use kavach_core::plugins::organization::Actor;
use kavach_core::plugins::organization::Organization;

#[derive(Subcommand)]
pub enum AgentCommand {
    /// Create an agent owned by a user (id or email) or an organization (id or slug);
    /// prints its id and its key (shown once).
    Create {
        #[arg(long)]
        name: String,
        /// The owning user (id or email).
        #[arg(long, conflicts_with = "org", required_unless_present = "org")]
        owner: Option<String>,
        /// The owning organization (id or slug).
        #[arg(long)]
        org: Option<String>,
        /// `autonomous` (default) or `service`.
        #[arg(long, default_value = "autonomous")]
        r#type: String,
        #[command(flatten)]
        perms: PermissionArgs,
        /// Seconds until the agent expires.
        #[arg(long)]
        expires_in: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// List agents (of one user or organization, or all), newest first.
    List {
        #[arg(long, conflicts_with = "org")]
        owner: Option<String>,
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show an agent with its permissions, keys and trust score.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Suspend an agent (and so its delegates) until it is activated.
    Suspend { id: String },
    /// Activate a suspended agent.
    Activate { id: String },
    /// Revoke an agent and every delegate below it (final).
    Revoke { id: String },
    /// A new key; the old ones keep working for `[agents] key_grace`. Prints the key.
    RotateKey { id: String },
    /// OAuth credentials for the `client_credentials` grant (client_id = the agent's id):
    /// `private_key_jwt` with the agent's public keys, else a client secret (printed once).
    OauthClient {
        id: String,
        /// A JWK set file (`{"keys": [...]}`) with the agent's public key.
        #[arg(long, conflicts_with = "jwks_uri")]
        jwks_file: Option<std::path::PathBuf>,
        /// Where the agent publishes its public keys (https).
        #[arg(long)]
        jwks_uri: Option<String>,
    },
    /// An ephemeral session for one task: prints its token (`kve_...`, shown once).
    Session {
        id: String,
        /// Seconds it lives (1 to 3600).
        #[arg(long, default_value_t = 300)]
        ttl: u64,
        /// Allowed decisions it may take, at most.
        #[arg(long)]
        max_actions: Option<i64>,
        /// What the task is.
        #[arg(long)]
        task: Option<String>,
    },
    /// Grant permissions (`--allow`, `--deny`, `--permissions-file` as for create).
    Grant {
        id: String,
        #[command(flatten)]
        perms: PermissionArgs,
    },
    /// Ask the decision point (the decision is recorded like any other). Exit status:
    /// 0 allowed, 1 denied, 3 pending approval.
    Check {
        id: String,
        #[arg(long)]
        action: String,
        #[arg(long)]
        resource: String,
        /// The call's arguments, a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
        /// The agent's client IP, for `ipAllow` constraints.
        #[arg(long)]
        ip: Option<std::net::IpAddr>,
        #[arg(long)]
        json: bool,
    },
    /// Approval requests (of one agent, or all), pending first.
    Approvals {
        id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending request: the identical call then passes.
    Approve {
        approval: String,
        /// How many identical calls pass. Default 1.
        #[arg(long)]
        uses: Option<u32>,
        /// For how long identical calls pass (`1h`, `7d`).
        #[arg(long, value_parser = parse_duration)]
        valid_for: Option<std::time::Duration>,
    },
    /// Refuse a pending request.
    Deny { approval: String },
    /// Set a budget on an agent, or on every agent of a user or organization.
    Budget {
        /// The agent (or use --owner / --org).
        #[arg(long, conflicts_with_all = ["owner", "org"])]
        agent: Option<String>,
        #[arg(long, conflicts_with = "org")]
        owner: Option<String>,
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        calls_per_day: Option<i64>,
        #[arg(long)]
        calls_per_month: Option<i64>,
        /// Integer micro-units.
        #[arg(long)]
        cost_per_day: Option<i64>,
        #[arg(long)]
        cost_per_month: Option<i64>,
        /// `warn`, `throttle`, `block` (default) or `suspend`.
        #[arg(long, default_value = "block")]
        action: String,
    },
}

/// Permissions on the command line.
#[derive(clap::Args)]
pub struct PermissionArgs {
    /// A permission: `RESOURCE_PATTERN=ACTION[,ACTION...]` (repeat), e.g. `tool:search=tools/call`.
    #[arg(long = "allow", value_name = "PATTERN=ACTIONS")]
    allow: Vec<String>,
    /// An explicit deny, same form (a deny wins over any allow).
    #[arg(long = "deny", value_name = "PATTERN=ACTIONS")]
    deny: Vec<String>,
    /// Permissions as a JSON list (`[{"resource", "actions", "constraints", "effect"}]`), added to --allow/--deny.
    #[arg(long = "permissions-file", value_name = "FILE")]
    permissions_file: Option<std::path::PathBuf>,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    kavach_core::options::parse_duration(s)
}

/// `PATTERN=ACTION[,ACTION]` lists and a JSON file, as permissions.
fn permissions(args: &PermissionArgs) -> Result<Vec<NewPermission>> {
    let mut out = Vec::new();
    for (effect, list) in [(Effect::Allow, &args.allow), (Effect::Deny, &args.deny)] {
        for p in list {
            let (resource, actions) = p.split_once('=').ok_or_else(|| anyhow!("{p:?}: write PATTERN=ACTION[,ACTION...]"))?;
            out.push(NewPermission {
                effect,
                resource: resource.trim().to_owned(),
                actions: actions.split(',').map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect(),
                constraints: Default::default(),
                expires_in: None,
            });
        }
    }
    if let Some(f) = &args.permissions_file {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let more: Vec<NewPermission> = serde_json::from_str(&text).with_context(|| format!("{}: a JSON list of permissions", f.display()))?;
        out.extend(more);
    }
    Ok(out)
}

async fn org_of(k: &kavach::Kavach, id_or_slug: &str) -> Result<Organization> {
    k.organizations().resolve(Actor::Server, id_or_slug).await.map_err(|e| anyhow!("{}", e.message))
}

pub async fn agent(cfg: Config, cmd: AgentCommand) -> Result<i32> {
    let k = super::kavach(&cfg, false).await?;
    if !k.options().agents.enabled {
        return Err(anyhow!("agents are not enabled: set [agents] enabled = true in the configuration file"));
    }
    let agents = k.agents();
    let ctx = cli_ctx();
    let fail = |e: kavach_core::Error| anyhow!("{}", e.message);
    let m = Manager::Server;
    let code = match cmd {
        AgentCommand::Create { name, owner, org, r#type, perms, expires_in, json } => {
            let agent_type = match r#type.as_str() {
                "autonomous" => AgentType::Autonomous,
                "service" => AgentType::Service,
                t => return Err(anyhow!("--type {t:?}: autonomous or service (a delegated agent is made by delegation)")),
            };
            let (owner_user_id, organization_id) = match (owner, org) {
                (Some(u), _) => (Some(find_user(&k, &u).await?.id), None),
                (None, Some(o)) => (None, Some(org_of(&k, &o).await?.id)),
                (None, None) => return Err(anyhow!("--owner or --org is required")),
            };
            let perms = permissions(&perms)?;
            let new = NewAgent { name, agent_type, organization_id, owner_user_id, expires_in, permissions: perms, ..Default::default() };
            let c = agents.create(m, new, &ctx).await.map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                println!("created agent {} ({}) with {} permission(s)", c.agent.id, c.agent.name, c.permissions.len());
                println!("key (shown once): {}", c.key);
            }
            0
        }
        AgentCommand::List { owner, org, json } => {
            let list = match (owner, org) {
                (Some(u), _) => agents.list(m, None, Some(&find_user(&k, &u).await?.id)).await,
                (None, Some(o)) => agents.list(m, Some(&org_of(&k, &o).await?.id), None).await,
                (None, None) => agents.list(m, None, None).await,
            }
            .map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<32}  {:<10}  {:<10}  {:<32}  NAME", "ID", "TYPE", "STATUS", "OWNER");
                for a in &list {
                    let owner = a.owner_user_id.as_deref().or(a.owner_organization_id.as_deref()).unwrap_or("");
                    println!("{:<32}  {:<10}  {:<10}  {:<32}  {}", a.id, a.agent_type.as_str(), a.status.as_str(), owner, a.name);
                }
                println!("{} agent(s)", list.len());
            }
            0
        }
        AgentCommand::Show { id, json } => {
            let a = agents.get(m, &id).await.map_err(fail)?;
            let perms = agents.permissions(m, &id).await.map_err(fail)?;
            let keys = agents.keys(m, &id).await.map_err(fail)?;
            let trust = agents.trust(m, &id).await.map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "agent": a, "permissions": perms, "keys": keys, "trust": trust }))?);
            } else {
                println!("{}", serde_json::to_string_pretty(&a)?);
                for p in &perms {
                    let effect = if p.effect == Effect::Deny { "deny " } else { "allow" };
                    println!("{effect} {} {} {}", p.resource, p.actions.join(","), serde_json::to_string(&p.constraints)?);
                }
                for key in &keys {
                    println!("key {} {}... created {}", key.id, key.prefix, key.created_at.to_iso());
                }
                println!("trust {} ({})", trust.score, trust.level);
            }
            0
        }
        AgentCommand::Suspend { id } => status(&k, &id, Status::Suspended).await?,
        AgentCommand::Activate { id } => status(&k, &id, Status::Active).await?,
        AgentCommand::Revoke { id } => status(&k, &id, Status::Revoked).await?,
        AgentCommand::RotateKey { id } => {
            let key = agents.new_key(m, &id, true, &ctx).await.map_err(fail)?;
            println!("new key (shown once): {key}");
            println!("the previous keys stop working in {}", kavach_core::text::human_duration(k.options().agents.key_grace));
            0
        }
        AgentCommand::OauthClient { id, jwks_file, jwks_uri } => {
            let jwks = match jwks_file {
                Some(f) => Some(serde_json::from_str(&std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?)?),
                None => None,
            };
            let c = agents.register_client(m, &id, ClientCredentials { jwks, jwks_uri }, &ctx).await.map_err(fail)?;
            println!("client_id {} ({})", c.client_id, c.token_endpoint_auth_method);
            if let Some(s) = &c.client_secret {
                println!("client_secret (shown once): {s}");
            }
            0
        }
        AgentCommand::Session { id, ttl, max_actions, task } => {
            let s = agents.create_session(m, &id, TaskSession { task, ttl_seconds: Some(ttl), max_actions }, &ctx).await.map_err(fail)?;
            println!("session {} until {} (token, shown once): {}", s.id, s.expires_at.to_iso(), s.token);
            0
        }
        AgentCommand::Grant { id, perms } => {
            let perms = permissions(&perms)?;
            if perms.is_empty() {
                return Err(anyhow!("nothing to grant: give --allow, --deny or --permissions-file"));
            }
            let granted = agents.grant(m, &id, &perms, &ctx).await.map_err(fail)?;
            println!("granted {} permission(s) to {id}", granted.len());
            0
        }
        AgentCommand::Check { id, action, resource, args, ip, json } => {
            let arguments: serde_json::Value = serde_json::from_str(&args).context("--args is a JSON object")?;
            let d = agents.decide(&id, &Call { action: &action, resource: &resource, arguments: &arguments, ip, session: None }, &ctx).await.map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                let what = match d.decision {
                    Verdict::Allowed => "allowed",
                    Verdict::Denied => "denied",
                    Verdict::Pending => "pending approval",
                };
                println!("{what} ({}), audit record {}", d.reason.as_str(), d.audit_id);
                if let Some(a) = &d.approval_id {
                    println!("approval request {a}: kavach agent approve {a}");
                }
            }
            match d.decision {
                Verdict::Allowed => 0,
                Verdict::Denied => 1,
                Verdict::Pending => 3,
            }
        }
        AgentCommand::Approvals { id, json } => {
            let list = agents.approvals(m, id.as_deref()).await.map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<40}  {:<9}  {:<32}  ACTION RESOURCE", "ID", "STATUS", "AGENT");
                for a in &list {
                    println!("{:<40}  {:<9}  {:<32}  {} {}", a.id, a.status, a.agent_id, a.action, a.resource);
                }
                println!("{} request(s)", list.len());
            }
            0
        }
        AgentCommand::Approve { approval, uses, valid_for } => {
            let a = agents.approve(m, &approval, Grant { uses, valid_for: valid_for.map(|d| d.as_secs()) }, &ctx).await.map_err(fail)?;
            println!("approved {} ({} use(s) until {})", a.id, a.uses_left, a.valid_until.map(|t| t.to_iso()).unwrap_or_default());
            0
        }
        AgentCommand::Deny { approval } => {
            let a = agents.deny(m, &approval, &ctx).await.map_err(fail)?;
            println!("denied {}", a.id);
            0
        }
        AgentCommand::Budget { agent, owner, org, calls_per_day, calls_per_month, cost_per_day, cost_per_month, action } => {
            let action = match action.as_str() {
                "warn" => BudgetAction::Warn,
                "throttle" => BudgetAction::Throttle,
                "block" => BudgetAction::Block,
                "suspend" => BudgetAction::Suspend,
                a => return Err(anyhow!("--action {a:?}: warn, throttle, block or suspend")),
            };
            let mut b = Budget { agent_id: agent, calls_per_day, calls_per_month, cost_per_day, cost_per_month, action, ..Default::default() };
            if let Some(u) = owner {
                b.owner_user_id = Some(find_user(&k, &u).await?.id);
            }
            if let Some(o) = org {
                b.organization_id = Some(org_of(&k, &o).await?.id);
            }
            let b = agents.set_budget(m, b, &ctx).await.map_err(fail)?;
            println!("budget {} set ({})", b.id, b.action.as_str());
            0
        }
    };
    k.flush_audit().await;
    Ok(code)
}

async fn status(k: &kavach::Kavach, id: &str, s: Status) -> Result<i32> {
    let a = k.agents().set_status(Manager::Server, id, s, &cli_ctx()).await.map_err(|e| anyhow!("{}", e.message))?;
    println!("agent {} is {}", a.id, a.status.as_str());
    Ok(0)
}
