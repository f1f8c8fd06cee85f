//! `kavach user`: create, list, show, ban, unban, set the role or additional fields of, list the sessions of, and delete users.

use super::{Config, cli_ctx};
use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use kavach_core::NewUser;
use std::io::Read;

#[derive(Subcommand)]
pub enum UserCommand {
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
    /// Turn a user's two-factor authentication off (they lost their device and their
    /// backup codes): the secret, backup codes and trusted devices go; recorded in the audit log.
    TwoFactorReset { user: String },
    /// Set the platform role (`admin` makes an operator of the admin capability; several
    /// roles separated by commas). Works whether or not [admin] is enabled.
    SetRole { user: String, role: String },
    /// Set an additional field (`[user.additional_fields]`), also one requests cannot set
    /// (`input = false`). The value is JSON (`'"pro"'`, `42`, `true`, `'["a","b"]'`), or
    /// `null` to remove it.
    SetField { user: String, field: String, value: String },
    /// List a user's sessions (impersonation sessions show who opened them).
    Sessions {
        user: String,
        /// End them all.
        #[arg(long)]
        revoke: bool,
        #[arg(long)]
        json: bool,
    },
    /// Delete a user (and their sessions and accounts) by id or email.
    Delete {
        user: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

pub(super) async fn find_user(k: &kavach::Kavach, id_or_email: &str) -> Result<kavach_core::User> {
    let found = if id_or_email.contains('@') { k.users().get_by_email(id_or_email).await } else { k.users().get(id_or_email).await };
    found.map_err(|e| anyhow!("{e}"))?.ok_or_else(|| anyhow!("no user {id_or_email:?}"))
}

fn print_user(u: &kavach_core::User) {
    println!("id              {}", u.id);
    println!("email           {}", u.email);
    println!("name            {}", u.name);
    println!("email verified  {}", u.email_verified);
    println!("image           {}", u.image.as_deref().unwrap_or("-"));
    println!("role            {}", u.role.as_deref().unwrap_or("user (default)"));
    if u.banned {
        println!("banned          until {}", u.ban_expires.map(|t| t.to_iso()).unwrap_or_else(|| "unbanned".into()));
    }
    for (k, v) in &u.fields {
        println!("{:<16}{v}", k);
    }
    println!("created         {}", u.created_at.to_iso());
    println!("updated         {}", u.updated_at.to_iso());
}

pub async fn user(cfg: Config, cmd: UserCommand) -> Result<i32> {
    let k = super::kavach(&cfg, false).await?;
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
                Some(d) => Some(kavach_core::store::Ts::now().plus_secs(super::duration(&d)?.as_secs() as i64)),
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
        UserCommand::TwoFactorReset { user } => {
            let u = find_user(&k, &user).await?;
            k.two_factor().reset(&u.id, &cli_ctx()).await.map_err(|e| anyhow!("{e}"))?;
            println!("two-factor authentication is off for {} <{}>", u.id, u.email);
        }
        UserCommand::SetRole { user, role } => {
            let u = find_user(&k, &user).await?;
            let u =
                k.admin().set_role(kavach_core::plugins::admin::Operator::Server, &u.id, &[role], &cli_ctx()).await.map_err(|e| anyhow!("{}", e.message))?;
            println!("{} <{}> now has the role {}", u.id, u.email, u.role.as_deref().unwrap_or("-"));
        }
        UserCommand::SetField { user, field, value } => {
            let u = find_user(&k, &user).await?;
            let value: serde_json::Value = serde_json::from_str(&value).map_err(|e| anyhow!("the value is not JSON ({e}); quote strings: '\"pro\"'"))?;
            let changes = serde_json::Map::from_iter([(field.clone(), value)]);
            let u = k.users().update_fields(&u.id, &changes, &cli_ctx()).await.map_err(|e| anyhow!("{}", e.message))?;
            println!("{} <{}>: {field} = {}", u.id, u.email, u.fields.get(&field).map(|v| v.to_string()).unwrap_or_else(|| "(none)".into()));
        }
        UserCommand::Sessions { user, revoke, json } => {
            let u = find_user(&k, &user).await?;
            if revoke {
                let n = k.admin().revoke_user_sessions(kavach_core::plugins::admin::Operator::Server, &u.id, &cli_ctx()).await.map_err(|e| anyhow!("{e}"))?;
                println!("revoked {n} session(s) of {}", u.email);
                return Ok(0);
            }
            let sessions = k.sessions().list(&u.id).await.map_err(|e| anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&sessions)?);
            } else {
                println!("{:<32}  {:<24}  {:<24}  {:<16}  NOTE", "ID", "CREATED", "EXPIRES", "IP");
                for s in &sessions {
                    let note = s.impersonated_by.as_deref().map(|a| format!("impersonated by {a}")).unwrap_or_default();
                    println!(
                        "{:<32}  {:<24}  {:<24}  {:<16}  {note}",
                        s.id,
                        s.created_at.to_iso(),
                        s.expires_at.to_iso(),
                        s.ip_address.as_deref().unwrap_or("-")
                    );
                }
                println!("{} session(s)", sessions.len());
            }
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
