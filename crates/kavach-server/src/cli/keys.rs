//! `kavach keys`: the JWT signing keys.

use super::Config;
use anyhow::{Result, anyhow, bail};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum KeysCommand {
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

pub async fn keys(cfg: Config, cmd: KeysCommand) -> Result<i32> {
    let k = super::kavach(&cfg, false).await?;
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
                Some(o) => super::duration(&o)?,
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
