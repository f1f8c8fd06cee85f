//! `kavach import`: users, accounts, sessions and organizations from better-auth or Clerk.

use super::{Config, cli_ctx};
use anyhow::{Result, anyhow};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// From a better-auth database: users (with their admin role), credential and social
    /// accounts, active sessions, pending password resets, and organizations with their
    /// members, invitations, teams and roles.
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
    /// From Clerk Backend API exports (JSON arrays, or {"data": [...]}): users, and
    /// optionally organizations and their memberships (`org:` role prefixes dropped).
    Clerk {
        /// The users export (`GET /v1/users`).
        #[arg(long, value_name = "FILE", required_unless_present_any = ["organizations", "memberships"])]
        file: Option<PathBuf>,
        /// The organizations export (`GET /v1/organizations`).
        #[arg(long, value_name = "FILE")]
        organizations: Option<PathBuf>,
        /// The memberships export (`GET /v1/organizations/{id}/memberships` of each, as one array).
        #[arg(long, value_name = "FILE")]
        memberships: Option<PathBuf>,
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
        ImportCommand::Clerk { file, organizations, memberships, dry_run, json } => {
            let files = kavach_core::plugins::migration::import::clerk::Files {
                users: file.as_deref(),
                organizations: organizations.as_deref(),
                memberships: memberships.as_deref(),
            };
            (kavach_core::plugins::migration::import::clerk::import_files(&k, files, dry_run, &cli_ctx()).await, json)
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
