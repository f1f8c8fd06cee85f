//! `kavach org`: create organizations, list them, list and add members, and invite.
//! These act as the server (no permission check): the operator's tool.

use super::user::find_user;
use super::{Config, cli_ctx};
use anyhow::{Result, anyhow};
use clap::Subcommand;
use kavach_core::plugins::organization::{Actor, AddMember, NewOrganization};

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organization owned by a user (by id or email).
    Create {
        #[arg(long)]
        name: String,
        /// The owner (id or email).
        #[arg(long)]
        owner: String,
        /// Default: made from the name.
        #[arg(long)]
        slug: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List organizations, newest first (or those of one user).
    List {
        /// Only this user's organizations (id or email).
        #[arg(long)]
        user: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// List an organization's members (by id or slug).
    Members {
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// Add a user (id or email) to an organization with a role, without an invitation.
    AddMember {
        org: String,
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Invite an email address on behalf of a member (id or email) who may invite; the
    /// invitation email goes out as from the web.
    Invite {
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "member")]
        role: String,
        /// The inviting member (id or email).
        #[arg(long = "as")]
        inviter: String,
    },
}

pub async fn org(cfg: Config, cmd: OrgCommand) -> Result<i32> {
    let k = super::kavach(&cfg, false).await?;
    let orgs = k.organizations();
    let ctx = cli_ctx();
    let fail = |e: kavach_core::Error| anyhow!("{}", e.message);
    match cmd {
        OrgCommand::Create { name, owner, slug, json } => {
            let u = find_user(&k, &owner).await?;
            let o = orgs.create(Actor::Server, NewOrganization { name, slug, owner_id: Some(u.id), ..Default::default() }, &ctx).await.map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&o)?);
            } else {
                println!("created organization {} ({}) owned by {}", o.id, o.slug, u.email);
            }
        }
        OrgCommand::List { user, limit, json } => {
            let list = match user {
                Some(u) => orgs.list_for_user(&find_user(&k, &u).await?.id).await,
                None => orgs.list_all(limit, 0).await,
            }
            .map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<32}  {:<24}  {:<24}  NAME", "ID", "SLUG", "CREATED");
                for o in &list {
                    println!("{:<32}  {:<24}  {:<24}  {}", o.id, o.slug, o.created_at.to_iso(), o.name);
                }
                println!("{} organization(s)", list.len());
            }
        }
        OrgCommand::Members { org, json } => {
            let o = orgs.resolve(Actor::Server, &org).await.map_err(fail)?;
            let (members, total) = orgs.members(Actor::Server, &o.id, 10_000, 0).await.map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&members)?);
            } else {
                println!("{:<32}  {:<16}  EMAIL", "USER", "ROLE");
                for m in &members {
                    println!("{:<32}  {:<16}  {}", m.user_id, m.role, m.user.email);
                }
                println!("{total} member(s) of {}", o.slug);
            }
        }
        OrgCommand::AddMember { org, user, role } => {
            let o = orgs.resolve(Actor::Server, &org).await.map_err(fail)?;
            let u = find_user(&k, &user).await?;
            let m = orgs
                .add_member(Actor::Server, AddMember { organization_id: o.id.clone(), user_id: u.id, role: vec![role], team_id: None }, &ctx)
                .await
                .map_err(fail)?;
            println!("{} is now {} of {}", u.email, m.role, o.slug);
        }
        OrgCommand::Invite { org, email, role, inviter } => {
            let o = orgs.resolve(Actor::Server, &org).await.map_err(fail)?;
            let by = find_user(&k, &inviter).await?;
            let inv = orgs
                .invite(
                    Actor::User(&by),
                    kavach_core::plugins::organization::Invite { organization_id: o.id, email, role: vec![role], team_id: None, resend: false },
                    &ctx,
                )
                .await
                .map_err(fail)?;
            // The email goes out in the background: give it a moment before the process ends.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            println!("invited {} as {} (invitation {}, expires {})", inv.email, inv.role, inv.id, inv.expires_at.to_iso());
        }
    }
    Ok(0)
}
