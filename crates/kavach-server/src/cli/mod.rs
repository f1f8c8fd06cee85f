//! The command line: the clap definitions and the dispatch to one module per command group.

mod agent;
mod api_key;
mod audit;
mod clients;
mod doctor;
mod import;
mod keys;
mod migrate;
mod org;
mod passkey;
mod serve;
mod user;

use anyhow::{Result, anyhow};
use clap::{Parser, Subcommand};
use kavach::LogFormat;
use kavach_core::RequestContext;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

/// The loaded configuration (`kavach::Settings`: the library's loader).
pub(crate) type Config = kavach::Settings;

/// Kavach: authentication and authorization for humans and AI agents.
///
/// Configuration comes from a TOML file (`--config`, `KAVACH_CONFIG`, or
/// `./kavach.toml` when present) and KAVACH_* environment variables, for example
/// KAVACH_SECRET (comma-separated: the first signs, all are accepted),
/// KAVACH_DATABASE_URL, KAVACH_BASE_URL, KAVACH_MODE and KAVACH_SMTP_URL. Every key
/// and every variable: docs/configuration.md#environment-variables.
#[derive(Parser)]
#[command(name = "kavach", version, about, long_about)]
pub struct Cli {
    /// Path to a TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start the server (applies pending migrations first).
    Serve {
        /// Address to listen on (overrides `listen` / KAVACH_LISTEN). Port 0 picks a free port.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Organizations and their members ([organization]).
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// AI agents: create, list, suspend, revoke, rotate keys, grant, check, approve ([agents]).
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// The security event log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Check the configuration, database, email delivery and secret, and say what to fix.
    Doctor,
    /// JWT signing keys (published at {base}/jwks).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Copy users, accounts and sessions from better-auth or Clerk (idempotent, one transaction).
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// OAuth clients of the authorization server.
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// API keys: create with permissions, uses and rate limits; list, disable, delete ([api_key]).
    #[command(subcommand)]
    ApiKey(api_key::ApiKeyCommand),
    /// Passkeys of a user: list them, delete a lost one ([passkey]).
    #[command(subcommand)]
    Passkey(passkey::PasskeyCommand),
}

fn init_logging(filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let _ = if json { fmt.json().with_current_span(true).try_init() } else { fmt.try_init() };
}

/// Parse the command line, run the command, and give the exit status.
pub async fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

async fn run(cli: Cli) -> Result<i32> {
    let started = Instant::now();
    let cfg = Config::load(cli.config.as_deref()).map_err(|e| anyhow!("{}", e.message))?;
    init_logging(&cfg.log, cfg.log_format == LogFormat::Json);
    match cli.command {
        Command::Serve { listen } => serve::serve(cfg, listen, started).await,
        Command::Migrate => migrate::migrate(&cfg).await,
        Command::User(cmd) => user::user(cfg, cmd).await,
        Command::Org(cmd) => org::org(cfg, cmd).await,
        Command::Agent(cmd) => agent::agent(cfg, cmd).await,
        Command::Audit(cmd) => audit::audit(cfg, cmd).await,
        Command::Doctor => doctor::doctor(cfg).await,
        Command::Keys(cmd) => keys::keys(cfg, cmd).await,
        Command::Clients(cmd) => clients::clients(&kavach(&cfg, false).await?, cmd).await,
        Command::Import(cmd) => import::import(cfg, cmd).await,
        Command::ApiKey(cmd) => api_key::api_key(cfg, cmd).await,
        Command::Passkey(cmd) => passkey::passkey(cfg, cmd).await,
    }
}

/// A handle for the configuration, built as an embedding app would build it.
async fn kavach(cfg: &Config, background: bool) -> Result<kavach::Kavach> {
    kavach::Kavach::builder().settings(cfg.clone()).background_tasks(background).build().await.map_err(|e| anyhow!("{}", e))
}

/// A duration argument (`7d`, `12h`, `90`).
fn duration(s: &str) -> Result<std::time::Duration> {
    kavach_core::options::parse_duration(s).map_err(|e| anyhow!("{e}"))
}

fn cli_ctx() -> RequestContext {
    RequestContext { user_agent: Some(format!("kavach-cli/{}", env!("CARGO_PKG_VERSION"))), ..Default::default() }
}
