//! The `kavach` binary: configuration, CLI and the HTTP server.

mod config;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use config::{Config, Mode};
use kavach_core::{NewUser, RequestContext};
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

/// Kavach: authentication and authorization for humans and AI agents.
///
/// Configuration comes from a TOML file (`--config`, `KAVACH_CONFIG`, or
/// `./kavach.toml` when present) and environment variables: KAVACH_SECRET
/// (comma-separated: the first signs, all are accepted), KAVACH_DATABASE_URL,
/// KAVACH_BASE_URL, KAVACH_BASE_PATH, KAVACH_LISTEN, KAVACH_REDIS_URL,
/// KAVACH_SMTP_URL, KAVACH_EMAIL_FROM, KAVACH_MODE, KAVACH_TRUSTED_ORIGINS,
/// KAVACH_TRUSTED_PROXIES, KAVACH_DATA_DIR, KAVACH_LOG. See docs/configuration.md.
#[derive(Parser)]
#[command(name = "kavach", version, about, long_about)]
struct Cli {
    /// Path to a TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    User(UserCommand),
    /// The security event log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check the configuration, database, email delivery and secret, and say what to fix.
    Doctor,
    /// JWT signing keys (published at {base}/jwks).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Copy users, accounts and sessions from better-auth or Clerk (idempotent, one transaction).
    #[command(subcommand)]
    Import(ImportCommand),
    /// OAuth clients of the authorization server.
    #[command(subcommand)]
    Clients(ClientsCommand),
}

#[derive(Subcommand)]
enum ClientsCommand {
    /// List clients: id, name, kind, authentication method, disabled.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Register a client (confidential by default); prints its secret once.
    Create {
        #[arg(long)]
        name: String,
        /// A redirect URI (repeat for several).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// A grant type (repeat; default authorization_code and refresh_token).
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// none, client_secret_basic (default), client_secret_post, private_key_jwt.
        #[arg(long, default_value = "client_secret_basic")]
        auth_method: String,
        /// private_key_jwt: the URL of the client's public keys (a JWK set, fetched when needed).
        #[arg(long, value_name = "URL", conflicts_with = "jwks_file")]
        jwks_uri: Option<String>,
        /// private_key_jwt: a file holding the client's public keys (a JWK set).
        #[arg(long, value_name = "PATH")]
        jwks_file: Option<std::path::PathBuf>,
        /// Let this client introspect access tokens issued for RESOURCE (repeat; `*` for
        /// every resource): the client of a resource server that checks tokens by RFC 7662.
        #[arg(long = "introspect", value_name = "RESOURCE")]
        introspect: Vec<String>,
    },
    /// Set which resources' access tokens a client may introspect (RFC 7662), replacing
    /// what it had; none: only its own tokens.
    Introspect {
        client_id: String,
        /// A resource URI (repeat), or `*` for every resource.
        #[arg(long = "resource", value_name = "RESOURCE")]
        resources: Vec<String>,
    },
    /// Show a client's registered metadata.
    Show {
        client_id: String,
    },
    /// Stop a client from authenticating or starting authorizations.
    Disable {
        client_id: String,
    },
    Enable {
        client_id: String,
    },
    /// Delete a client and revoke every token issued to it.
    Delete {
        client_id: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List signing keys: id, algorithm, active, created, published until.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Replace the active keys; old ones stay published for the overlap, so tokens in flight keep verifying.
    Rotate {
        /// How long retired keys stay published (default: jwt.key_overlap).
        #[arg(long, value_name = "DURATION")]
        overlap: Option<String>,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// From a better-auth database: users, credential and social accounts, active sessions,
    /// pending password resets (organizations are reported, not imported yet).
    BetterAuth {
        /// A better-auth SQLite file, or a postgres:// URL.
        #[arg(long, value_name = "PATH_OR_URL")]
        from: String,
        /// Report what would be imported, write nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// From a Clerk Backend API user export (JSON array of users, or {"data": [...]}).
    Clerk {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user with a password (read from --password or stdin).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        /// The password (visible in the process list: prefer --password-stdin).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Mark the email as verified.
        #[arg(long)]
        verified: bool,
        #[arg(long)]
        json: bool,
    },
    /// List users, newest first.
    List {
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
        #[arg(long)]
        json: bool,
    },
    /// Show one user by id or email.
    Show {
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Ban a user (by id or email): ends every session and refuses sign-in while the ban lasts.
    Ban {
        user: String,
        #[arg(long)]
        reason: Option<String>,
        /// How long, e.g. 7d or 12h (default: until unbanned).
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
    },
    /// Lift a ban.
    Unban { user: String },
    /// Delete a user (and their sessions and accounts) by id or email.
    Delete {
        user: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; exits with status 1 if a record was edited, deleted, inserted or reordered.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

fn init_logging(filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let _ = if json { fmt.json().with_current_span(true).try_init() } else { fmt.try_init() };
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let code = match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> Result<i32> {
    let started = Instant::now();
    let mut cfg = Config::load(cli.config.as_deref())?;
    init_logging(&cfg.log, cfg.log_json);
    match cli.command {
        Command::Serve { listen } => {
            if let Some(l) = listen {
                cfg.listen = l;
            }
            serve(cfg, started).await?;
            Ok(0)
        }
        Command::Migrate => {
            let db = kavach_core::store::Db::connect(&cfg.database_url).await.map_err(|e| anyhow!("{e}"))?;
            let applied = db.migrate().await.map_err(|e| anyhow!("{e}"))?;
            if applied.is_empty() {
                println!("{}: schema is up to date", db.backend());
            } else {
                println!("{}: applied migrations {:?}", db.backend(), applied);
            }
            Ok(0)
        }
        Command::User(cmd) => user(cfg, cmd).await,
        Command::Audit(AuditCommand::Verify { json }) => {
            let k = cfg.kavach(false).await?;
            let report = kavach_core::audit::verify(k.db()).await.map_err(|e| anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if report.ok() {
                println!("audit log intact: {} records; head {} {}", report.records, report.head_seq, report.head_hash);
                println!("(keep the head hash somewhere else: a later verify proves nothing before it was changed)");
            } else {
                println!("audit log BROKEN: {} records, {} problems", report.records, report.problems.len());
                for p in &report.problems {
                    println!("  - {p}");
                }
            }
            Ok(if report.ok() { 0 } else { 1 })
        }
        Command::Doctor => doctor(cfg).await,
        Command::Keys(cmd) => {
            let k = cfg.kavach(false).await?;
            match cmd {
                KeysCommand::List { json } => {
                    let keys = k.keys().list().await.map_err(|e| anyhow!("{e}"))?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&keys)?);
                    } else {
                        println!("{:<32}  {:<6}  {:<6}  {:<24}  PUBLISHED UNTIL", "KID", "ALG", "ACTIVE", "CREATED");
                        for key in &keys {
                            let until = key.expires_at.map(|t| t.to_iso()).unwrap_or_else(|| "-".into());
                            println!("{:<32}  {:<6}  {:<6}  {:<24}  {until}", key.kid, key.alg.as_str(), key.active, key.created_at.to_iso());
                        }
                        if keys.is_empty() {
                            println!("no keys yet: `kavach serve` creates them at its first start (or `kavach keys rotate`)");
                        }
                    }
                }
                KeysCommand::Rotate { overlap } => {
                    let overlap = match overlap {
                        Some(o) => config::parse_duration(&o)?,
                        None => cfg.options.jwt.key_overlap,
                    };
                    let longest = cfg.options.jwt.expires_in.max(cfg.options.oauth.access_token_ttl);
                    if overlap <= longest {
                        bail!("--overlap must be longer than the longest token lifetime (jwt.expires_in, oauth.access_token_ttl: {longest:?})");
                    }
                    let kids = k.keys().rotate(overlap).await.map_err(|e| anyhow!("{e}"))?;
                    println!("new active keys: {}; retired keys stay published for {}s", kids.join(", "), overlap.as_secs());
                }
            }
            Ok(0)
        }
        Command::Clients(cmd) => clients(&cfg.kavach(false).await?, cmd).await,
        Command::Import(cmd) => {
            let k = cfg.kavach(false).await?;
            let (report, json) = match cmd {
                ImportCommand::BetterAuth { from, dry_run, json } => {
                    (kavach_core::plugins::migration::import::better_auth::import(&k, &from, dry_run, &cli_ctx()).await, json)
                }
                ImportCommand::Clerk { file, dry_run, json } => {
                    (kavach_core::plugins::migration::import::clerk::import(&k, &file, dry_run, &cli_ctx()).await, json)
                }
            };
            let report = report.map_err(|e| anyhow!("{}", e.message))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            Ok(0)
        }
    }
}

async fn serve(mut cfg: Config, started: Instant) -> Result<()> {
    if let Some(p) = &cfg.generated_secret {
        tracing::warn!("development mode: using the generated secret in {} (set KAVACH_SECRET for production)", p.display());
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    cfg.set_bound_address(addr);
    let k = cfg.kavach(true).await?;
    // Relying parties fetch the key set at start-up: it has a key for every advertised
    // algorithm from the first start.
    k.keys().ensure().await.map_err(|e| anyhow!("{e}"))?;
    let o = k.options();
    let api = o.api_url("");
    println!("Kavach {} listening on http://{addr}", env!("CARGO_PKG_VERSION"));
    println!("  API       {api}   (docs: {api}/docs, OpenAPI: {api}/openapi.json)");
    println!("  database  {}", kavach_core::redact_url(&cfg.database_url));
    println!("  email     {}", k.mailer().describe());
    println!("  mode      {:?}{}", cfg.mode, if cfg.mode == Mode::Development { " (set KAVACH_MODE=production for deployments)" } else { "" });
    println!("  ready in  {} ms", started.elapsed().as_millis());
    println!(
        "Next: create an account with\n  curl -H 'content-type: application/json' -d '{{\"email\":\"you@example.com\",\"password\":\"a long passphrase\",\"name\":\"You\"}}' {api}/sign-up/email"
    );
    if o.email_password.require_email_verification {
        println!("  then open the verification link from the email (development: {}/outbox).", cfg.data_dir.display());
    }
    let app = k.app().into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    // Token issuance records are written in groups in the background: write the last ones.
    k.flush_audit().await;
    k.db().close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

fn cli_ctx() -> RequestContext {
    RequestContext { ip: None, user_agent: Some(format!("kavach-cli/{}", env!("CARGO_PKG_VERSION"))) }
}

async fn find_user(k: &kavach::Kavach, id_or_email: &str) -> Result<kavach_core::User> {
    let found = if id_or_email.contains('@') { k.users().get_by_email(id_or_email).await } else { k.users().get(id_or_email).await };
    found.map_err(|e| anyhow!("{e}"))?.ok_or_else(|| anyhow!("no user {id_or_email:?}"))
}

fn print_user(u: &kavach_core::User) {
    println!("id              {}", u.id);
    println!("email           {}", u.email);
    println!("name            {}", u.name);
    println!("email verified  {}", u.email_verified);
    println!("image           {}", u.image.as_deref().unwrap_or("-"));
    if u.banned {
        println!("banned          until {}", u.ban_expires.map(|t| t.to_iso()).unwrap_or_else(|| "unbanned".into()));
    }
    println!("created         {}", u.created_at.to_iso());
    println!("updated         {}", u.updated_at.to_iso());
}

async fn user(cfg: Config, cmd: UserCommand) -> Result<i32> {
    let k = cfg.kavach(false).await?;
    match cmd {
        UserCommand::Create { email, name, password, password_stdin, verified, json } => {
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                Some(s.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                password
            };
            if password.is_none() {
                bail!("give a password with --password-stdin (or --password)");
            }
            let u = k
                .users()
                .create(NewUser { email, name, password, email_verified: verified, image: None }, &cli_ctx())
                .await
                .map_err(|e| anyhow!("{}", e.message))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&u)?);
            } else {
                println!("created user {} <{}>", u.id, u.email);
            }
        }
        UserCommand::List { limit, offset, json } => {
            let users = k.users().list(limit, offset).await.map_err(|e| anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                println!("{:<32}  {:<8}  {:<24}  EMAIL", "ID", "VERIFIED", "CREATED");
                for u in &users {
                    println!("{:<32}  {:<8}  {:<24}  {}{}", u.id, u.email_verified, u.created_at.to_iso(), u.email, if u.banned { "  (banned)" } else { "" });
                }
                let total = k.users().count().await.map_err(|e| anyhow!("{e}"))?;
                println!("{} of {total} users", users.len());
            }
        }
        UserCommand::Show { user, json } => {
            let u = find_user(&k, &user).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&u)?);
            } else {
                print_user(&u);
                let sessions = k.sessions().list(&u.id).await.map_err(|e| anyhow!("{e}"))?;
                println!("sessions        {}", sessions.len());
            }
        }
        UserCommand::Ban { user, reason, duration } => {
            let u = find_user(&k, &user).await?;
            let until = match duration {
                Some(d) => Some(kavach_core::store::Ts::now().plus_secs(config::parse_duration(&d)?.as_secs() as i64)),
                None => None,
            };
            k.users().ban(&u.id, reason.as_deref(), until, &cli_ctx()).await.map_err(|e| anyhow!("{e}"))?;
            println!("banned {} <{}>{}", u.id, u.email, until.map(|t| format!(" until {}", t.to_iso())).unwrap_or_default());
        }
        UserCommand::Unban { user } => {
            let u = find_user(&k, &user).await?;
            k.users().unban(&u.id, &cli_ctx()).await.map_err(|e| anyhow!("{e}"))?;
            println!("unbanned {} <{}>", u.id, u.email);
        }
        UserCommand::Delete { user, yes } => {
            let u = find_user(&k, &user).await?;
            if !yes {
                use std::io::IsTerminal;
                if !std::io::stdin().is_terminal() {
                    bail!("refusing to delete {} without --yes (no terminal to confirm on)", u.email);
                }
                eprint!("Delete {} <{}> and all their sessions? Type the email to confirm: ", u.id, u.email);
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                if line.trim() != u.email {
                    println!("not deleted");
                    return Ok(1);
                }
            }
            k.users().delete(&u.id, &cli_ctx()).await.map_err(|e| anyhow!("{e}"))?;
            println!("deleted user {} <{}>", u.id, u.email);
        }
    }
    Ok(0)
}

async fn doctor(cfg: Config) -> Result<i32> {
    let mut failures = 0;
    let mut report = |ok: bool, what: &str, detail: String| {
        println!("[{}] {what}: {detail}", if ok { " ok " } else { "FAIL" });
        if !ok {
            failures += 1;
        }
    };
    report(true, "config", cfg.source.as_ref().map(|p| format!("loaded {}", p.display())).unwrap_or_else(|| "defaults + environment".into()));
    report(true, "mode", format!("{:?}", cfg.mode));
    match &cfg.generated_secret {
        Some(p) => {
            report(cfg.mode == Mode::Development, "secret", format!("generated development secret in {} (set KAVACH_SECRET for production)", p.display()))
        }
        None => {
            let weak = cfg.options.secrets.iter().filter(|s| !kavach_core::secret_is_strong(s)).count();
            report(weak == 0, "secret", format!("{} configured, {weak} weak", cfg.options.secrets.len()));
        }
    }
    report(
        cfg.mode == Mode::Development || cfg.options.secure(),
        "base URL",
        format!("{}{}", cfg.options.base_url, if cfg.options.secure() { "" } else { " (http: cookies are not Secure; use https in production)" }),
    );
    match kavach_core::store::Db::connect(&cfg.database_url).await {
        Ok(db) => {
            let ping = db.ping().await;
            report(ping.is_ok(), "database", format!("{} {}", db.backend(), kavach_core::redact_url(&cfg.database_url)));
            // Report only: `kavach migrate` (or `serve`) applies them.
            match db.pending_migrations().await {
                Ok(p) if p.is_empty() => report(true, "migrations", "up to date".into()),
                Ok(p) => report(true, "migrations", format!("pending {p:?}: `kavach serve` or `kavach migrate` applies them")),
                Err(e) => report(false, "migrations", e.to_string()),
            }
        }
        Err(e) => report(false, "database", e.to_string()),
    }
    if let Some(r) = &cfg.redis_url {
        match kavach_core::ratelimit::RateLimiter::redis(r).await {
            Ok(l) => report(l.peek("doctor", kavach_core::ratelimit::Rule::per_minute(1)).await.is_ok(), "redis", kavach_core::redact_url(r)),
            Err(e) => report(false, "redis", e.to_string()),
        }
    }
    match cfg.mailer() {
        Ok(m) => {
            let r = m.check().await;
            let ok = r.is_ok() && (cfg.smtp_url.is_some() || cfg.mode == Mode::Development);
            report(
                ok,
                "email",
                match r {
                    Ok(()) => m.describe(),
                    Err(e) => e.to_string(),
                },
            );
        }
        Err(e) => report(false, "email", e.to_string()),
    }
    println!("{}", if failures == 0 { "everything looks fine" } else { "fix the items marked FAIL" });
    Ok(if failures == 0 { 0 } else { 1 })
}

async fn clients(k: &kavach::Kavach, cmd: ClientsCommand) -> Result<i32> {
    let c = k.clients();
    let e = |e: kavach::core::Error| anyhow!("{e}");
    match cmd {
        ClientsCommand::List { json } => {
            let list = c.list().await.map_err(e)?;
            if json {
                let out: Vec<_> = list
                    .iter()
                    .map(|c| serde_json::json!({ "client_id": c.client_id, "kind": c.kind, "disabled": c.disabled, "metadata": c.metadata }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("{:<36}  {:<24}  {:<8}  {:<20}  DISABLED", "CLIENT ID", "NAME", "KIND", "AUTH METHOD");
                for cl in &list {
                    let name: String = cl.metadata["client_name"].as_str().unwrap_or("-").chars().take(24).collect();
                    println!("{:<36}  {:<24}  {:<8}  {:<20}  {}", cl.client_id, name, cl.kind, cl.auth_method(), cl.disabled);
                }
                if list.is_empty() {
                    println!("no clients yet");
                }
            }
            Ok(0)
        }
        ClientsCommand::Create { name, redirect_uris, grants, auth_method, jwks_uri, jwks_file, introspect } => {
            if (jwks_uri.is_some() || jwks_file.is_some()) && auth_method != "private_key_jwt" {
                bail!("--jwks-uri and --jwks-file are for --auth-method private_key_jwt (the keys would go unused)");
            }
            let grants = if grants.is_empty() { vec!["authorization_code".to_owned(), "refresh_token".to_owned()] } else { grants };
            let mut meta =
                serde_json::json!({ "client_name": name, "redirect_uris": redirect_uris, "grant_types": grants, "token_endpoint_auth_method": auth_method });
            if let Some(u) = jwks_uri {
                meta["jwks_uri"] = serde_json::json!(u);
            }
            if let Some(path) = jwks_file {
                let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                meta["jwks"] = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
            }
            let reg = c.register(&meta, kavach::core::plugins::oauth::clients::Origin::Operator, &cli_ctx()).await.map_err(e)?;
            if !introspect.is_empty() {
                c.set_introspection(&reg.client_id, &introspect).await.map_err(e)?;
            }
            println!("client_id:     {}", reg.client_id);
            if let Some(s) = &reg.client_secret {
                println!("client_secret: {s}");
                println!("(shown once: only its hash is stored)");
            }
            Ok(0)
        }
        ClientsCommand::Introspect { client_id, resources } => {
            if c.set_introspection(&client_id, &resources).await.map_err(e)? {
                match resources.is_empty() {
                    true => println!("{client_id} may introspect only its own tokens"),
                    false => println!("{client_id} may introspect access tokens for: {}", resources.join(", ")),
                }
                Ok(0)
            } else {
                eprintln!("no client {client_id}");
                Ok(1)
            }
        }
        ClientsCommand::Show { client_id } => match c.get(&client_id).await.map_err(e)? {
            Some(cl) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "kind": cl.kind, "disabled": cl.disabled, "introspects": cl.introspects, "metadata": cl.metadata })
                    )?
                );
                Ok(0)
            }
            None => {
                eprintln!("no client {client_id}");
                Ok(1)
            }
        },
        ClientsCommand::Disable { client_id } | ClientsCommand::Enable { client_id } if c.get(&client_id).await.map_err(e)?.is_none() => {
            eprintln!("no client {client_id}");
            Ok(1)
        }
        ClientsCommand::Disable { client_id } => {
            c.set_disabled(&client_id, true).await.map_err(e)?;
            println!("disabled {client_id}");
            Ok(0)
        }
        ClientsCommand::Enable { client_id } => {
            c.set_disabled(&client_id, false).await.map_err(e)?;
            println!("enabled {client_id}");
            Ok(0)
        }
        ClientsCommand::Delete { client_id } => {
            if c.delete(&client_id).await.map_err(e)? {
                println!("deleted {client_id}; every token issued to it is revoked");
                Ok(0)
            } else {
                eprintln!("no client {client_id}");
                Ok(1)
            }
        }
    }
}
