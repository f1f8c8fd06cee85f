//! `kavach audit`: the security event log: verify the chain (and a checkpoint kept off the
//! box), make a signed checkpoint, export records.

use super::Config;
use anyhow::{Result, anyhow};
use clap::Subcommand;
use kavach_core::audit::{self, Query};
use std::io::Write;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exits with status 1 if a record was edited, deleted, inserted or reordered.
    Verify {
        #[arg(long)]
        json: bool,
        /// Also check a checkpoint kept off the box (`kavach audit checkpoint`): signed by
        /// this server and its record still in the chain with the same hash.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<std::path::PathBuf>,
    },
    /// Print a signed checkpoint of the chain's head (a JWS): keep it somewhere else.
    Checkpoint,
    /// Write records to stdout, oldest first, a page at a time (no row cap).
    Export {
        /// `jsonl` (default) or `csv` (RFC 4180).
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// One kind, or a family: `agent.*`.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        agent: Option<String>,
        /// RFC 3339 times.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
    },
}

pub async fn audit(cfg: Config, cmd: AuditCommand) -> Result<i32> {
    let k = super::kavach(&cfg, false).await?;
    match cmd {
        AuditCommand::Verify { json, checkpoint } => {
            let report = audit::verify(k.db()).await.map_err(|e| anyhow!("{e}"))?;
            let held = match checkpoint {
                Some(f) => Some(k.check_audit_checkpoint(&std::fs::read_to_string(&f)?).await.map_err(|e| anyhow!("{e}"))?),
                None => None,
            };
            if json {
                let cp = held.as_ref().map(|h| match h {
                    Ok((seq, hash)) => serde_json::json!({ "ok": true, "seq": seq, "hash": hash }),
                    Err(why) => serde_json::json!({ "ok": false, "problem": why }),
                });
                let mut v = serde_json::to_value(&report)?;
                if let (Some(cp), Some(o)) = (cp, v.as_object_mut()) {
                    o.insert("checkpoint".into(), cp);
                }
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if report.ok() {
                println!("audit log intact: {} records; head {} {}", report.records, report.head_seq, report.head_hash);
                if held.is_none() {
                    println!("(keep a checkpoint somewhere else: kavach audit checkpoint; a later verify --checkpoint proves nothing before it changed)");
                }
            } else {
                println!("audit log BROKEN: {} records, {} problems", report.records, report.problems.len());
                for p in &report.problems {
                    println!("  - {p}");
                }
            }
            match &held {
                Some(Ok((seq, _))) if !json => println!("checkpoint holds: record {seq} is in the chain, unchanged"),
                Some(Err(why)) if !json => println!("checkpoint FAILS: {why}"),
                _ => {}
            }
            Ok(if report.ok() && held.as_ref().is_none_or(|h| h.is_ok()) { 0 } else { 1 })
        }
        AuditCommand::Checkpoint => {
            println!("{}", k.audit_checkpoint().await.map_err(|e| anyhow!("{e}"))?);
            Ok(0)
        }
        AuditCommand::Export { format, kind, user, agent, since, until } => {
            let csv = match format.as_str() {
                "jsonl" => false,
                "csv" => true,
                f => return Err(anyhow!("--format {f:?}: jsonl or csv")),
            };
            let mut q = Query { kind, user_id: user, agent_id: agent, since, until, after: None, limit: Some(1000) };
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            if csv {
                out.write_all(audit::CSV_HEADER.as_bytes())?;
            }
            loop {
                let (recs, next) = audit::query(k.db(), &q).await.map_err(|e| anyhow!("{}", e.message))?;
                for r in &recs {
                    if csv {
                        out.write_all(audit::csv_line(r).as_bytes())?;
                    } else {
                        writeln!(out, "{}", serde_json::to_string(r)?)?;
                    }
                }
                match next {
                    Some(after) => q.after = Some(after),
                    None => break,
                }
            }
            out.flush()?;
            Ok(0)
        }
    }
}
