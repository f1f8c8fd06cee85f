//! `kavach clients`: OAuth clients of the authorization server.

use super::cli_ctx;
use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ClientsCommand {
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

pub async fn clients(k: &kavach::Kavach, cmd: ClientsCommand) -> Result<i32> {
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
                    let name: String = cl.metadata.get("client_name").and_then(|n| n.as_str()).unwrap_or("-").chars().take(24).collect();
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
            let mut meta = serde_json::Map::new();
            meta.insert("client_name".into(), name.into());
            meta.insert("redirect_uris".into(), redirect_uris.into());
            meta.insert("grant_types".into(), grants.into());
            meta.insert("token_endpoint_auth_method".into(), auth_method.into());
            if let Some(u) = jwks_uri {
                meta.insert("jwks_uri".into(), u.into());
            }
            if let Some(path) = jwks_file {
                let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                meta.insert("jwks".into(), serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?);
            }
            let meta = serde_json::Value::Object(meta);
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
