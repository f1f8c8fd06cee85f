//! `kavach api-key`: create keys for a user with what only the operator may set
//! (permissions, a number of uses, a rate limit), list, disable and delete them.

use super::user::find_user;
use super::{Config, cli_ctx, duration};
use anyhow::{Result, anyhow};
use clap::Subcommand;
use kavach_core::access::Permissions;
use kavach_core::plugins::api_key::{KeyChanges, ListQuery, NewKey};

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key for a user (by id or email); the key is printed this once.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: Option<String>,
        /// Lifetime (`30d`, `12h`); default: `api_key.default_expires_in`, else none.
        #[arg(long, value_parser = duration)]
        expires_in: Option<std::time::Duration>,
        #[arg(long)]
        prefix: Option<String>,
        /// What the key may do, as JSON: `{"files":["read","write"]}`.
        #[arg(long)]
        permissions: Option<String>,
        /// How many times the key may be used.
        #[arg(long)]
        remaining: Option<i64>,
        /// At most this many uses per `--rate-limit-window` (default from `[api_key]`).
        #[arg(long)]
        rate_limit_max: Option<u32>,
        #[arg(long, value_parser = duration)]
        rate_limit_window: Option<std::time::Duration>,
        /// No per-key rate limit.
        #[arg(long)]
        no_rate_limit: bool,
        #[arg(long)]
        json: bool,
    },
    /// List a user's keys (never the keys themselves).
    List {
        #[arg(long)]
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Turn a key off (it stays listed) or back on.
    Disable {
        id: String,
        #[arg(long)]
        user: String,
        /// Turn it back on instead.
        #[arg(long)]
        enable: bool,
    },
    /// Delete a key.
    Delete {
        id: String,
        #[arg(long)]
        user: String,
    },
}

pub async fn api_key(cfg: Config, cmd: ApiKeyCommand) -> Result<i32> {
    let k = super::kavach(&cfg, false).await?;
    let keys = k.api_keys();
    let ctx = cli_ctx();
    let fail = |e: kavach_core::Error| anyhow!("{}", e.message);
    match cmd {
        ApiKeyCommand::Create { user, name, expires_in, prefix, permissions, remaining, rate_limit_max, rate_limit_window, no_rate_limit, json } => {
            let u = find_user(&k, &user).await?;
            let permissions = match permissions {
                Some(p) => Some(Permissions::parse(&serde_json::from_str(&p).map_err(|e| anyhow!("--permissions is not JSON: {e}"))?).map_err(fail)?),
                None => None,
            };
            let new = NewKey {
                name,
                expires_in,
                prefix,
                permissions,
                remaining,
                rate_limit_enabled: no_rate_limit.then_some(false),
                rate_limit_max,
                rate_limit_time_window: rate_limit_window,
                ..Default::default()
            };
            let (key, secret) = keys.create(&u, new, &ctx).await.map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&key.with_secret(&secret))?);
            } else {
                println!("created key {} for {}", key.id, u.email);
                println!("{secret}");
                println!("(shown this once: store it now)");
            }
        }
        ApiKeyCommand::List { user, json } => {
            let u = find_user(&k, &user).await?;
            let (list, total) = keys.list(&u.id, &ListQuery::default()).await.map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<32}  {:<8}  {:<8}  {:<24}  NAME", "ID", "START", "ENABLED", "EXPIRES");
                for key in &list {
                    let expires = key.expires_at.map(|t| t.to_iso()).unwrap_or_else(|| "never".into());
                    println!(
                        "{:<32}  {:<8}  {:<8}  {:<24}  {}",
                        key.id,
                        key.start.as_deref().unwrap_or(""),
                        key.enabled,
                        expires,
                        key.name.as_deref().unwrap_or("")
                    );
                }
                println!("{total} key(s) of {}", u.email);
            }
        }
        ApiKeyCommand::Disable { id, user, enable } => {
            let u = find_user(&k, &user).await?;
            keys.update(&u.id, &id, KeyChanges { enabled: Some(enable), ..Default::default() }, &ctx).await.map_err(fail)?;
            println!("key {id} {}", if enable { "enabled" } else { "disabled" });
        }
        ApiKeyCommand::Delete { id, user } => {
            let u = find_user(&k, &user).await?;
            keys.delete(&u.id, &id, &ctx).await.map_err(fail)?;
            println!("key {id} deleted");
        }
    }
    Ok(0)
}
