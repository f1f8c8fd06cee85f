//! `kavach passkey`: the operator's view of a user's passkeys: list them, delete one the
//! user lost (no fresh session needed; audited as `passkey.deleted`).

use super::user::find_user;
use super::{Config, cli_ctx};
use anyhow::{Result, anyhow};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum PasskeyCommand {
    /// List a user's passkeys (by user id or email).
    List {
        #[arg(long)]
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a passkey of a user (a lost or stolen device).
    Delete {
        id: String,
        #[arg(long)]
        user: String,
    },
}

pub async fn passkey(cfg: Config, cmd: PasskeyCommand) -> Result<i32> {
    let k = super::kavach(&cfg, false).await?;
    let fail = |e: kavach_core::Error| anyhow!("{}", e.message);
    match cmd {
        PasskeyCommand::List { user, json } => {
            let u = find_user(&k, &user).await?;
            let list = k.passkey().list(&u.id).await.map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<32}  {:<12}  {:<8}  {:<24}  NAME", "ID", "DEVICE", "COUNTER", "LAST USED");
                for p in &list {
                    let used = p.last_used_at.map(|t| t.to_iso()).unwrap_or_else(|| "never".into());
                    println!("{:<32}  {:<12}  {:<8}  {:<24}  {}", p.id, p.device_type, p.counter, used, p.name.as_deref().unwrap_or(""));
                }
                println!("{} passkey(s) of {}", list.len(), u.email);
            }
        }
        PasskeyCommand::Delete { id, user } => {
            let u = find_user(&k, &user).await?;
            k.passkey().delete_as_operator(&u.id, &id, &cli_ctx()).await.map_err(fail)?;
            println!("passkey {id} of {} deleted", u.email);
        }
    }
    Ok(0)
}
