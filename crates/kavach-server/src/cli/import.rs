//! `kavach import`: users, accounts and sessions from better-auth or Clerk.

use super::{Config, cli_ctx};
use anyhow::{Result, anyhow};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ImportCommand {
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

pub async fn import(cfg: Config, cmd: ImportCommand) -> Result<i32> {
    let k = super::kavach(&cfg, false).await?;
    let (report, json) = match cmd {
        ImportCommand::BetterAuth { from, dry_run, json } => {
            (kavach_core::plugins::migration::import::better_auth::import(&k, &from, dry_run, &cli_ctx()).await, json)
        }
        ImportCommand::Clerk { file, dry_run, json } => (kavach_core::plugins::migration::import::clerk::import(&k, &file, dry_run, &cli_ctx()).await, json),
    };
    let report = report.map_err(|e| anyhow!("{}", e.message))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(0)
}
