//! `kavach import clerk --file clerk-users.json`: the user objects of Clerk's
//! Backend API (`GET /v1/users`, as the seed's export script writes them: a JSON
//! array, or `{ "data": [...] }`). Keeps Clerk's ids; imports the primary email
//! and its verification status, names, image, external accounts (without tokens:
//! Clerk does not export them), password digests when present (bcrypt from
//! Clerk; anything Kavach's legacy verifiers know), ban status, millisecond
//! timestamps, and public and private metadata.

use super::{AccountRow, Batch, Report, Skipped, UserRow};
use crate::error::{Code, Error, Result};
use crate::store::Ts;
use crate::{Core, RequestContext};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(untagged)]
enum File {
    List(Vec<serde_json::Value>),
    Page { data: Vec<serde_json::Value> },
}

/// The Backend API's snake_case fields; the camelCase names of the JavaScript
/// SDK's `User` objects (what `JSON.stringify(user)` writes) are accepted too.
#[derive(Deserialize)]
struct ClerkUser {
    id: String,
    #[serde(default, alias = "primaryEmailAddressId")]
    primary_email_address_id: Option<String>,
    #[serde(default, alias = "emailAddresses")]
    email_addresses: Vec<EmailAddress>,
    #[serde(default, alias = "firstName")]
    first_name: Option<String>,
    #[serde(default, alias = "lastName")]
    last_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default, alias = "imageUrl")]
    image_url: Option<String>,
    #[serde(default, alias = "profileImageUrl")]
    profile_image_url: Option<String>,
    #[serde(default, alias = "hasImage")]
    has_image: Option<bool>,
    #[serde(default, alias = "externalAccounts")]
    external_accounts: Vec<ExternalAccount>,
    #[serde(default, alias = "passwordDigest")]
    password_digest: Option<String>,
    #[serde(default, alias = "passwordHasher")]
    password_hasher: Option<String>,
    #[serde(default, alias = "publicMetadata")]
    public_metadata: serde_json::Value,
    #[serde(default, alias = "privateMetadata")]
    private_metadata: serde_json::Value,
    #[serde(default)]
    banned: bool,
    #[serde(alias = "createdAt")]
    created_at: i64,
    #[serde(default, alias = "updatedAt")]
    updated_at: Option<i64>,
}

#[derive(Deserialize)]
struct EmailAddress {
    #[serde(default)]
    id: Option<String>,
    #[serde(alias = "emailAddress")]
    email_address: String,
    #[serde(default)]
    verification: Option<Verification>,
}

#[derive(Deserialize)]
struct Verification {
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct ExternalAccount {
    #[serde(default)]
    id: Option<String>,
    provider: String,
    #[serde(default, alias = "providerUserId")]
    provider_user_id: Option<String>,
    #[serde(default, alias = "approvedScopes")]
    approved_scopes: Option<String>,
    #[serde(default, alias = "createdAt")]
    created_at: Option<i64>,
    #[serde(default, alias = "updatedAt")]
    updated_at: Option<i64>,
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::bad_request(Code::ImportFileInvalid, msg.into())
}

/// Parse an export; a file that is not a Clerk user list is refused whole.
fn parse(text: &str) -> Result<(Batch, usize)> {
    let file: File = serde_json::from_str(text).map_err(|e| malformed(format!("not a Clerk user export (a JSON array of users): {e}")))?;
    let values = match file {
        File::List(v) | File::Page { data: v } => v,
    };
    let mut batch = Batch::default();
    for (i, v) in values.iter().enumerate() {
        if !v.is_object() {
            return Err(malformed(format!("entry {i} is not a user object")));
        }
        let u: ClerkUser = serde_json::from_value(v.clone())
            .map_err(|e| malformed(format!("entry {i} ({}) is not a Clerk user: {e}", v.get("id").and_then(|x| x.as_str()).unwrap_or("no id"))))?;
        let primary = u.email_addresses.iter().find(|e| e.id.is_some() && e.id == u.primary_email_address_id).or_else(|| u.email_addresses.first());
        let Some(primary) = primary else {
            batch.skipped_users.push(Skipped { id: u.id, reason: "no email address (phone-only or web3-only Clerk users are not imported)".into() });
            continue;
        };
        let email = match crate::users::normalize_email(&primary.email_address) {
            Ok(e) => e,
            Err(_) => {
                batch.skipped_users.push(Skipped { id: u.id, reason: format!("invalid email {:?}", primary.email_address) });
                continue;
            }
        };
        let verified = primary.verification.as_ref().and_then(|v| v.status.as_deref()) == Some("verified");
        let name =
            [u.first_name.as_deref(), u.last_name.as_deref()].into_iter().flatten().map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
        let name = if name.is_empty() { u.username.clone().unwrap_or_default() } else { name };
        let image = if u.has_image == Some(false) { None } else { u.image_url.clone().or(u.profile_image_url.clone()) };
        let created_at = Ts(u.created_at);
        let empty = |v: &serde_json::Value| v.is_null() || v.as_object().is_some_and(|o| o.is_empty());
        let metadata = (!empty(&u.public_metadata) || !empty(&u.private_metadata))
            .then(|| serde_json::json!({ "public": u.public_metadata, "private": u.private_metadata }).to_string());
        for ea in &u.external_accounts {
            let provider = ea.provider.strip_prefix("oauth_").unwrap_or(&ea.provider).to_owned();
            let Some(puid) = ea.provider_user_id.clone().filter(|p| !p.is_empty()) else {
                batch.skipped_accounts.push(Skipped {
                    id: ea.id.clone().unwrap_or_else(|| format!("{}:{provider}", u.id)),
                    reason: "external account without provider_user_id".into(),
                });
                continue;
            };
            batch.accounts.push(AccountRow {
                id: ea.id.clone().unwrap_or_else(|| format!("clerk_{}_{provider}", u.id)),
                user_id: u.id.clone(),
                provider_id: provider,
                provider_account_id: puid,
                scope: ea.approved_scopes.clone(),
                created_at: ea.created_at.map(Ts),
                updated_at: ea.updated_at.map(Ts),
                ..Default::default()
            });
        }
        if let Some(digest) = u.password_digest.as_deref().filter(|d| !d.is_empty()) {
            if crate::legacy::recognizes(digest) {
                batch.accounts.push(AccountRow {
                    id: format!("clerk_password_{}", u.id),
                    user_id: u.id.clone(),
                    provider_id: "credential".into(),
                    provider_account_id: u.id.clone(),
                    password: Some(digest.to_owned()),
                    created_at: Some(created_at),
                    ..Default::default()
                });
            } else {
                batch.skipped_accounts.push(Skipped {
                    id: format!("clerk_password_{}", u.id),
                    reason: format!(
                        "password digest from hasher {:?} is not a format Kavach verifies: the user sets a new password with password reset",
                        u.password_hasher.as_deref().unwrap_or("unknown")
                    ),
                });
            }
        }
        batch.users.push(UserRow {
            id: u.id,
            email,
            name,
            email_verified: verified,
            image,
            created_at,
            updated_at: u.updated_at.map(Ts).unwrap_or(created_at),
            banned: u.banned,
            ban_reason: u.banned.then(|| "banned in Clerk".to_owned()),
            ban_expires: None,
            metadata,
        });
    }
    Ok((batch, values.len()))
}

/// Import a Clerk user export file into `core`'s database.
pub async fn import(core: &Core, path: &std::path::Path, dry_run: bool, ctx: &RequestContext) -> Result<Report> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::config(format!("cannot read {}: {e}", path.display())))?;
    let (batch, _) = parse(&text)?;
    let mut report = Report { source: format!("Clerk export {}", path.display()), dry_run, tables: vec![] };
    super::super::store::write(core, batch, &mut report, ctx).await?;
    if !dry_run {
        core.sessions.forget_all();
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn malformed_files_are_refused_whole() {
        assert_eq!(parse("not json").unwrap_err().code, "IMPORT_FILE_INVALID");
        assert_eq!(parse("{\"users\": []}").unwrap_err().code, "IMPORT_FILE_INVALID");
        assert_eq!(parse("[1, 2]").unwrap_err().code, "IMPORT_FILE_INVALID");
        let e = parse(r#"[{"id": "user_1", "created_at": "yesterday"}]"#).unwrap_err();
        assert!(e.message.contains("user_1"), "{}", e.message);
    }

    #[test]
    fn the_javascript_sdk_shape_is_accepted() {
        let (b, _) = parse(
            r#"[{"id": "user_js", "primaryEmailAddressId": "e1", "emailAddresses": [{"id": "e1", "emailAddress": "js@x.io",
               "verification": {"status": "verified"}}], "firstName": "Jay", "lastName": "Ess", "publicMetadata": {},
               "privateMetadata": {}, "externalAccounts": [{"id": "ea", "provider": "oauth_google", "providerUserId": "g1"}],
               "createdAt": 1700000000000, "updatedAt": 1700000000001}]"#,
        )
        .unwrap();
        assert_eq!((b.users[0].email.as_str(), b.users[0].name.as_str(), b.users[0].email_verified), ("js@x.io", "Jay Ess", true));
        assert_eq!(b.users[0].metadata, None, "empty metadata is not stored");
        assert_eq!(b.accounts[0].provider_account_id, "g1");
    }

    #[test]
    fn primary_email_names_and_providers() {
        let (b, n) = parse(
            r#"{"data": [{"id": "user_a", "primary_email_address_id": "idn_2",
              "email_addresses": [{"id": "idn_1", "email_address": "old@x.io", "verification": {"status": "verified"}},
                                  {"id": "idn_2", "email_address": "Main@X.io", "verification": {"status": "unverified"}}],
              "first_name": "Ada", "last_name": null, "image_url": "https://img/a", "has_image": true,
              "external_accounts": [{"id": "eac_1", "provider": "oauth_github", "provider_user_id": "42"}],
              "created_at": 1700000000123, "updated_at": 1700000000456}]}"#,
        )
        .unwrap();
        assert_eq!(n, 1);
        let u = &b.users[0];
        assert_eq!((u.email.as_str(), u.email_verified, u.name.as_str()), ("main@x.io", false, "Ada"));
        assert_eq!((u.created_at.0, u.updated_at.0), (1700000000123, 1700000000456));
        assert_eq!((b.accounts[0].provider_id.as_str(), b.accounts[0].provider_account_id.as_str()), ("github", "42"));
    }
}
