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
            role: None,
            banned: u.banned,
            ban_reason: u.banned.then(|| "banned in Clerk".to_owned()),
            ban_expires: None,
            metadata,
            plugin: super::PluginFields {
                username: u.username.as_deref().map(|n| n.trim().to_lowercase()).filter(|n| !n.is_empty()),
                display_username: u.username,
                ..Default::default()
            },
        });
    }
    Ok((batch, values.len()))
}

/// An organization of the Backend API (`GET /v1/organizations`).
#[derive(Deserialize)]
struct ClerkOrg {
    id: String,
    name: String,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default, alias = "imageUrl")]
    image_url: Option<String>,
    #[serde(default, alias = "hasImage")]
    has_image: Option<bool>,
    #[serde(default, alias = "publicMetadata")]
    public_metadata: serde_json::Value,
    #[serde(default, alias = "privateMetadata")]
    private_metadata: serde_json::Value,
    #[serde(default, alias = "createdBy")]
    created_by: Option<String>,
    #[serde(alias = "createdAt")]
    created_at: i64,
}

/// A membership of the Backend API (`GET /v1/organizations/{id}/memberships`, or the
/// instance-wide `GET /v1/organization_memberships`).
#[derive(Deserialize)]
struct ClerkMembership {
    id: String,
    role: String,
    organization: IdRef,
    #[serde(alias = "publicUserData")]
    public_user_data: UserRef,
    #[serde(default, alias = "createdAt")]
    created_at: Option<i64>,
}

#[derive(Deserialize)]
struct IdRef {
    id: String,
}

#[derive(Deserialize)]
struct UserRef {
    #[serde(alias = "userId")]
    user_id: String,
}

/// The entries of an export: a JSON array, or a page `{ "data": [...] }`.
fn entries(text: &str, what: &str) -> Result<Vec<serde_json::Value>> {
    let file: File = serde_json::from_str(text).map_err(|e| malformed(format!("not a Clerk {what} export (a JSON array): {e}")))?;
    Ok(match file {
        File::List(v) | File::Page { data: v } => v,
    })
}

/// Clerk's role keys without the `org:` prefix (`org:admin` → `admin`).
fn plain_role(role: &str) -> String {
    role.strip_prefix("org:").unwrap_or(role).to_owned()
}

/// Parse the organizations and memberships exports. Kavach organizations keep an owner:
/// where no membership maps to `owner`, the creator's membership (else the earliest
/// `admin`, else the earliest) becomes `owner`.
fn parse_orgs(orgs: Option<&str>, memberships: Option<&str>) -> Result<super::Orgs> {
    use super::{MemberRow, OrgRow};
    let mut o = super::Orgs::default();
    let mut creators = std::collections::HashMap::new();
    for (i, v) in entries(orgs.unwrap_or("[]"), "organization")?.into_iter().enumerate() {
        let org: ClerkOrg = serde_json::from_value(v).map_err(|e| malformed(format!("organization entry {i} is not a Clerk organization: {e}")))?;
        let slug = org.slug.clone().filter(|s| crate::plugins::organization::valid_slug(s)).unwrap_or_else(|| {
            let base = crate::plugins::organization::slugify(&org.name);
            // A made-up slug is kept unique with the end of Clerk's id.
            let tail: String = org.id.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect::<String>().to_lowercase();
            format!("{base}-{}", tail.chars().filter(char::is_ascii_alphanumeric).collect::<String>())
        });
        let empty = |v: &serde_json::Value| v.is_null() || v.as_object().is_some_and(|m| m.is_empty());
        let kept = !empty(&org.public_metadata) || !empty(&org.private_metadata);
        let metadata = kept.then(|| serde_json::json!({ "public": org.public_metadata, "private": org.private_metadata }).to_string());
        if let Some(c) = &org.created_by {
            creators.insert(org.id.clone(), c.clone());
        }
        o.organizations.push(OrgRow {
            id: org.id,
            name: org.name,
            slug,
            logo: org.image_url.filter(|_| org.has_image != Some(false)),
            metadata,
            created_at: super::from_number(org.created_at),
        });
    }
    for (i, v) in entries(memberships.unwrap_or("[]"), "organization membership")?.into_iter().enumerate() {
        let m: ClerkMembership =
            serde_json::from_value(v).map_err(|e| malformed(format!("membership entry {i} is not a Clerk organization membership: {e}")))?;
        o.members.push(MemberRow {
            id: m.id,
            organization_id: m.organization.id,
            user_id: m.public_user_data.user_id,
            role: plain_role(&m.role),
            created_at: m.created_at.map(super::from_number).unwrap_or_else(Ts::now),
        });
    }
    let org_ids: Vec<String> = o.members.iter().map(|m| m.organization_id.clone()).collect();
    for org_id in org_ids {
        let of_org = |m: &&mut MemberRow| m.organization_id == org_id;
        if o.members.iter_mut().filter(of_org).any(|m| m.role == "owner") {
            continue;
        }
        let creator = creators.get(&org_id).cloned();
        let mut candidates: Vec<&mut MemberRow> = o.members.iter_mut().filter(of_org).collect();
        candidates.sort_by_key(|m| (Some(&m.user_id) != creator.as_ref(), m.role != "admin", m.created_at));
        if let Some(first) = candidates.into_iter().next() {
            first.role = "owner".into();
        }
    }
    Ok(o)
}

/// Import a Clerk user export file into `core`'s database.
pub async fn import(core: &Core, path: &std::path::Path, dry_run: bool, ctx: &RequestContext) -> Result<Report> {
    import_files(core, Files { users: Some(path), ..Default::default() }, dry_run, ctx).await
}

/// The export files of one Clerk import (each optional).
#[derive(Default, Clone, Copy)]
pub struct Files<'a> {
    /// `GET /v1/users`.
    pub users: Option<&'a std::path::Path>,
    /// `GET /v1/organizations`.
    pub organizations: Option<&'a std::path::Path>,
    /// The organizations' memberships (`GET /v1/organizations/{id}/memberships`, concatenated).
    pub memberships: Option<&'a std::path::Path>,
}

/// Import Clerk's users, organizations and memberships exports, in one transaction.
pub async fn import_files(core: &Core, files: Files<'_>, dry_run: bool, ctx: &RequestContext) -> Result<Report> {
    let read = |p: Option<&std::path::Path>| -> Result<Option<String>> {
        p.map(|p| std::fs::read_to_string(p).map_err(|e| Error::config(format!("cannot read {}: {e}", p.display())))).transpose()
    };
    let (users, orgs, memberships) = (read(files.users)?, read(files.organizations)?, read(files.memberships)?);
    let mut batch = match &users {
        Some(text) => parse(text)?.0,
        None => Batch::default(),
    };
    batch.orgs = parse_orgs(orgs.as_deref(), memberships.as_deref())?;
    let names: Vec<String> = [files.users, files.organizations, files.memberships].iter().flatten().map(|p| p.display().to_string()).collect();
    let mut report = Report { source: format!("Clerk export {}", names.join(", ")), dry_run, tables: vec![] };
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
    fn organizations_keep_an_owner_and_lose_the_org_prefix() {
        let orgs = r#"[{"object": "organization", "id": "org_1", "name": "Acme", "slug": "acme", "created_by": "user_b", "created_at": 1700000000000,
                         "public_metadata": {"plan": "pro"}, "private_metadata": {}},
                        {"id": "org_2", "name": "No Slug", "slug": null, "created_at": 1700000000000}]"#;
        let members = r#"{"data": [
            {"id": "orgmem_1", "role": "org:admin", "organization": {"id": "org_1"}, "public_user_data": {"user_id": "user_a"}, "created_at": 1},
            {"id": "orgmem_2", "role": "org:admin", "organization": {"id": "org_1"}, "public_user_data": {"user_id": "user_b"}, "created_at": 2},
            {"id": "orgmem_3", "role": "org:member", "organization": {"id": "org_2"}, "publicUserData": {"userId": "user_c"}, "createdAt": 3}]}"#;
        let o = super::parse_orgs(Some(orgs), Some(members)).unwrap();
        let role = |id: &str| o.members.iter().find(|m| m.id == id).map(|m| m.role.clone()).unwrap();
        assert_eq!((role("orgmem_1"), role("orgmem_2"), role("orgmem_3")), ("admin".into(), "owner".into(), "owner".into()));
        let meta: serde_json::Value = serde_json::from_str(o.organizations[0].metadata.as_deref().unwrap()).unwrap();
        assert_eq!(meta, serde_json::json!({"public": {"plan": "pro"}, "private": {}}));
        assert!(o.organizations[1].slug.starts_with("no-slug-"), "{}", o.organizations[1].slug);
        assert!(super::parse_orgs(Some("[{\"id\": 1}]"), None).is_err());
    }

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
