//! `kavach audit`: the security event log.

use super::Config;
use anyhow::{Result, anyhow};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exits with status 1 if a record was edited, deleted, inserted or reordered.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

pub async fn audit(cfg: Config, cmd: AuditCommand) -> Result<i32> {
    let AuditCommand::Verify { json } = cmd;
    let k = super::kavach(&cfg, false).await?;
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
