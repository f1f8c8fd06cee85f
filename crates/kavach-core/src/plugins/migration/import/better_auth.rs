//! `kavach import better-auth --from <sqlite path | postgres URL>`: reads
//! better-auth's `user`, `account`, `session` and `verification` tables, the
//! organization plugin's (`organization`, `member`, `invitation`, `team`, `teamMember`,
//! `organizationRole`), the passkey plugin's `passkey` and the SIWE plugin's
//! `walletAddress` (camelCase
//! columns as better-auth creates them, or snake_case as some adapters map them)
//! and writes them into Kavach's tables.

use super::{AccountRow, Batch, PasskeyRow, PluginFields, Report, SessionRow, Skipped, UserRow, VerificationRow, WalletRow};
use crate::error::{Code, Error, Result};
use crate::store::{Db, Ts};
use crate::{Core, RequestContext, db};
use sqlx::Row;
use std::collections::HashSet;

/// Read a column of either database as text, bool or timestamp, whatever its declared type.
trait Flex {
    fn text(&self, col: &str) -> Result<Option<String>>;
    fn flag(&self, col: &str) -> Result<Option<bool>>;
    fn time(&self, col: &str) -> Result<Option<Ts>>;
    fn int(&self, col: &str) -> Result<Option<i64>>;
}

fn bad(col: &str) -> Error {
    Error::bad_request(Code::ImportBadValue, format!("column {col} has a value of an unexpected type"))
}

impl Flex for sqlx::sqlite::SqliteRow {
    fn int(&self, col: &str) -> Result<Option<i64>> {
        match self.try_get::<Option<i64>, _>(col) {
            Ok(v) => Ok(v),
            Err(_) => self.text(col)?.map(|s| s.trim().parse::<i64>().map_err(|_| bad(col))).transpose(),
        }
    }
    fn text(&self, col: &str) -> Result<Option<String>> {
        self.try_get::<Option<String>, _>(col).or_else(|_| self.try_get::<Option<i64>, _>(col).map(|v| v.map(|n| n.to_string()))).map_err(|_| bad(col))
    }
    fn flag(&self, col: &str) -> Result<Option<bool>> {
        if let Ok(v) = self.try_get::<Option<i64>, _>(col) {
            return Ok(v.map(|n| n != 0));
        }
        Ok(self.text(col)?.map(|s| matches!(s.as_str(), "1" | "true" | "t")))
    }
    fn time(&self, col: &str) -> Result<Option<Ts>> {
        if let Ok(v) = self.try_get::<Option<i64>, _>(col) {
            return Ok(v.map(super::from_number));
        }
        if let Ok(v) = self.try_get::<Option<f64>, _>(col) {
            return Ok(v.map(|f| super::from_number(f as i64)));
        }
        match self.text(col)? {
            Some(s) => super::parse_ts(&s).map(Some).ok_or_else(|| bad(col)),
            None => Ok(None),
        }
    }
}

impl Flex for sqlx::postgres::PgRow {
    fn int(&self, col: &str) -> Result<Option<i64>> {
        if let Ok(v) = self.try_get::<Option<i64>, _>(col) {
            return Ok(v);
        }
        if let Ok(v) = self.try_get::<Option<i32>, _>(col) {
            return Ok(v.map(i64::from));
        }
        self.text(col)?.map(|s| s.trim().parse::<i64>().map_err(|_| bad(col))).transpose()
    }
    fn text(&self, col: &str) -> Result<Option<String>> {
        self.try_get::<Option<String>, _>(col).map_err(|_| bad(col))
    }
    fn flag(&self, col: &str) -> Result<Option<bool>> {
        self.try_get::<Option<bool>, _>(col).map_err(|_| bad(col))
    }
    fn time(&self, col: &str) -> Result<Option<Ts>> {
        if let Ok(v) = self.try_get::<Option<time::OffsetDateTime>, _>(col) {
            return Ok(v.map(Ts::from_offset));
        }
        if let Ok(v) = self.try_get::<Option<time::PrimitiveDateTime>, _>(col) {
            return Ok(v.map(|p| Ts::from_offset(p.assume_utc())));
        }
        match self.try_get::<Option<String>, _>(col) {
            Ok(Some(s)) => super::parse_ts(&s).map(Some).ok_or_else(|| bad(col)),
            Ok(None) => Ok(None),
            Err(_) => self.try_get::<Option<i64>, _>(col).map(|v| v.map(super::from_number)).map_err(|_| bad(col)),
        }
    }
}

/// The columns of a source table, to resolve camelCase or snake_case names.
struct Columns(HashSet<String>);

fn snake(camel: &str) -> String {
    let mut s = String::new();
    // `credentialID` is `credential_id`, not `credential_i_d`.
    let camel = camel.replace("ID", "Id");
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

impl Columns {
    /// The source column for better-auth field `field` (camelCase), if present.
    fn get(&self, field: &str) -> Option<String> {
        [field.to_owned(), snake(field)].into_iter().find(|c| self.0.contains(c))
    }
    /// `"col" AS "field"` for a SELECT list, or NULL when the column is absent.
    fn select(&self, fields: &[&str]) -> String {
        fields
            .iter()
            .map(|f| match self.get(f) {
                Some(c) => format!("\"{c}\" AS \"{f}\""),
                None => format!("NULL AS \"{f}\""),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn columns(src: &Db, table: &str) -> Result<Option<Columns>> {
    let names: Vec<String> = match src {
        Db::Sqlite(pool) => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA table_info(\"{table}\")"))).fetch_all(pool).await?;
            rows.iter().map(|r| r.try_get::<String, _>("name")).collect::<Result<_, _>>()?
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT column_name::text FROM information_schema.columns WHERE table_name = $1 AND table_schema = current_schema()")
                .bind(table)
                .fetch_all(pool)
                .await?
        }
    };
    Ok((!names.is_empty()).then(|| Columns(names.into_iter().collect())))
}

fn require(cols: &Columns, table: &str, fields: &[&str]) -> Result<()> {
    for f in fields {
        if cols.get(f).is_none() {
            return Err(Error::bad_request(
                Code::ImportSourceInvalid,
                format!("the {table} table has no {f} (or {}) column: is this a better-auth database?", snake(f)),
            ));
        }
    }
    Ok(())
}

/// Connect to a better-auth database given as a SQLite path, a `sqlite:` URL or a PostgreSQL URL.
pub async fn connect_source(from: &str) -> Result<Db> {
    let url = if from.starts_with("postgres://") || from.starts_with("postgresql://") || from.starts_with("sqlite:") {
        from.to_owned()
    } else {
        if !std::path::Path::new(from).exists() {
            return Err(Error::config(format!("{from}: no such file (give a better-auth SQLite file or a postgres:// URL)")));
        }
        format!("sqlite://{from}")
    };
    Db::connect_read_only(&url).await
}

/// Import a better-auth database into `core`'s database.
pub async fn import(core: &Core, from: &str, dry_run: bool, ctx: &RequestContext) -> Result<Report> {
    let src = connect_source(from).await?;
    let mut report = Report { source: format!("better-auth at {}", crate::redact_url(from)), dry_run, tables: vec![] };
    let batch = read(&src).await;
    src.close().await;
    super::super::store::write(core, batch?, &mut report, ctx).await?;
    if !dry_run {
        core.sessions.forget_all();
    }
    Ok(report)
}

async fn read(src: &Db) -> Result<Batch> {
    let mut batch = Batch::default();
    let ucols =
        columns(src, "user").await?.ok_or_else(|| Error::bad_request(Code::ImportSourceInvalid, "no better-auth `user` table in the source database"))?;
    require(&ucols, "user", &["id", "email", "emailVerified", "createdAt"])?;
    let fields = [
        "id",
        "email",
        "name",
        "emailVerified",
        "image",
        "createdAt",
        "updatedAt",
        "banned",
        "banReason",
        "banExpires",
        "role",
        "username",
        "displayUsername",
        "phoneNumber",
        "phoneNumberVerified",
        "isAnonymous",
    ];
    let sql = format!("SELECT {} FROM \"user\"", ucols.select(&fields));
    let skipped_users = &mut batch.skipped_users;
    db!(src, |pool| {
        for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
            let id = r.text("id")?.unwrap_or_default();
            let raw_email = r.text("email")?.unwrap_or_default();
            let email = match crate::users::normalize_email(&raw_email) {
                Ok(e) => e,
                Err(_) => {
                    skipped_users.push(Skipped { id, reason: format!("invalid email {raw_email:?}") });
                    continue;
                }
            };
            let created_at = r.time("createdAt")?.unwrap_or_else(Ts::now);
            batch.users.push(UserRow {
                id,
                email,
                name: r.text("name")?.unwrap_or_default(),
                email_verified: r.flag("emailVerified")?.unwrap_or(false),
                image: r.text("image")?,
                created_at,
                updated_at: r.time("updatedAt")?.unwrap_or(created_at),
                banned: r.flag("banned")?.unwrap_or(false),
                ban_reason: r.text("banReason")?,
                ban_expires: r.time("banExpires")?,
                metadata: None,
                // better-auth writes `user` for everyone; Kavach reads no role as that default.
                role: r.text("role")?.filter(|x| !x.is_empty() && x != "user"),
                plugin: PluginFields {
                    // better-auth stores usernames lower-cased already, as Kavach does.
                    username: r.text("username")?.map(|u| u.trim().to_lowercase()).filter(|u| !u.is_empty()),
                    display_username: r.text("displayUsername")?,
                    phone_number: r.text("phoneNumber")?.and_then(|p| crate::plugins::phone_number::normalize_phone(&p).ok()),
                    phone_number_verified: r.flag("phoneNumberVerified")?.unwrap_or(false),
                    is_anonymous: r.flag("isAnonymous")?.unwrap_or(false),
                },
            });
        }
    });
    if let Some(acols) = columns(src, "account").await? {
        require(&acols, "account", &["id", "userId", "providerId", "accountId"])?;
        let fields = [
            "id",
            "userId",
            "providerId",
            "accountId",
            "accessToken",
            "refreshToken",
            "idToken",
            "scope",
            "accessTokenExpiresAt",
            "refreshTokenExpiresAt",
            "password",
            "createdAt",
            "updatedAt",
        ];
        let sql = format!("SELECT {} FROM account", acols.select(&fields));
        db!(src, |pool| {
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
                let password = r.text("password")?;
                if password.as_deref().is_some_and(|p| !crate::legacy::recognizes(p)) {
                    batch.skipped_accounts.push(Skipped {
                        id: r.text("id")?.unwrap_or_default(),
                        reason: "the password hash is in a format Kavach does not verify (customised better-auth hashing?): the user sets a new one with password reset".into(),
                    });
                    continue;
                }
                batch.accounts.push(AccountRow {
                    id: r.text("id")?.unwrap_or_default(),
                    user_id: r.text("userId")?.unwrap_or_default(),
                    provider_id: r.text("providerId")?.unwrap_or_default(),
                    provider_account_id: r.text("accountId")?.unwrap_or_default(),
                    access_token: r.text("accessToken")?,
                    refresh_token: r.text("refreshToken")?,
                    id_token: r.text("idToken")?,
                    scope: r.text("scope")?,
                    expires_at: r.time("accessTokenExpiresAt")?,
                    refresh_token_expires_at: r.time("refreshTokenExpiresAt")?,
                    password,
                    created_at: r.time("createdAt")?,
                    updated_at: r.time("updatedAt")?,
                });
            }
        });
    }
    if let Some(scols) = columns(src, "session").await? {
        require(&scols, "session", &["id", "userId", "token", "expiresAt"])?;
        let fields = [
            "id",
            "userId",
            "token",
            "expiresAt",
            "ipAddress",
            "userAgent",
            "createdAt",
            "updatedAt",
            "activeOrganizationId",
            "activeTeamId",
            "impersonatedBy",
        ];
        let sql = format!("SELECT {} FROM session", scols.select(&fields));
        db!(src, |pool| {
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
                let created_at = r.time("createdAt")?.unwrap_or_else(Ts::now);
                batch.sessions.push(SessionRow {
                    id: r.text("id")?.unwrap_or_default(),
                    user_id: r.text("userId")?.unwrap_or_default(),
                    token: r.text("token")?.unwrap_or_default(),
                    expires_at: r.time("expiresAt")?.unwrap_or(Ts(0)),
                    ip_address: r.text("ipAddress")?.filter(|s| !s.is_empty()),
                    user_agent: r.text("userAgent")?,
                    created_at,
                    updated_at: r.time("updatedAt")?.unwrap_or(created_at),
                    active_organization_id: r.text("activeOrganizationId")?,
                    active_team_id: r.text("activeTeamId")?,
                    impersonated_by: r.text("impersonatedBy")?,
                });
            }
        });
    }
    if let Some(vcols) = columns(src, "verification").await? {
        require(&vcols, "verification", &["id", "identifier", "value", "expiresAt"])?;
        let sql = format!("SELECT {} FROM verification", vcols.select(&["id", "identifier", "value", "expiresAt"]));
        db!(src, |pool| {
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
                let id = r.text("id")?.unwrap_or_default();
                let identifier = r.text("identifier")?.unwrap_or_default();
                match identifier.strip_prefix("reset-password:") {
                    Some(token) => batch.verifications.push(VerificationRow {
                        id,
                        identifier: crate::verification::identifier(crate::verification::Purpose::ResetPassword, token),
                        value: serde_json::json!({ "userId": r.text("value")?.unwrap_or_default() }).to_string(),
                        expires_at: r.time("expiresAt")?.unwrap_or(Ts(0)),
                    }),
                    None => batch.skipped_verifications.push(Skipped {
                        id,
                        reason: "only password-reset tokens carry over (better-auth's email links are signed JWTs: users ask for a new link)".into(),
                    }),
                }
            }
        });
    }
    batch.orgs = read_orgs(src).await?;
    read_passkeys(src, &mut batch).await?;
    read_wallets(src, &mut batch).await?;
    Ok(batch)
}

/// The passkey plugin's `passkey` table: each COSE public key made into the credential
/// Kavach verifies, so users keep signing in with the passkeys they have.
async fn read_passkeys(src: &Db, batch: &mut Batch) -> Result<()> {
    let Some(cols) = columns(src, "passkey").await? else { return Ok(()) };
    require(&cols, "passkey", &["id", "userId", "credentialID", "publicKey"])?;
    let fields = ["id", "name", "userId", "credentialID", "publicKey", "counter", "deviceType", "backedUp", "transports", "createdAt"];
    let sql = format!("SELECT {} FROM passkey", cols.select(&fields));
    db!(src, |pool| {
        for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
            let id = r.text("id")?.unwrap_or_default();
            let credential_id = r.text("credentialID")?.unwrap_or_default();
            let counter = r.int("counter")?.unwrap_or(0);
            let backed_up = r.flag("backedUp")?.unwrap_or(false);
            let device_type = r.text("deviceType")?.filter(|d| d == "multiDevice").unwrap_or_else(|| "singleDevice".to_owned());
            let transports = r.text("transports")?.filter(|t| !t.is_empty());
            let public_key = r.text("publicKey")?.unwrap_or_default();
            let imported = crate::plugins::passkey::Imported {
                credential_id: &credential_id,
                public_key: &public_key,
                counter,
                backed_up,
                multi_device: device_type == "multiDevice",
                transports: transports.as_deref(),
            };
            match imported.credential() {
                Ok((credential_id, credential)) => batch.passkeys.push(PasskeyRow {
                    id,
                    user_id: r.text("userId")?.unwrap_or_default(),
                    name: r.text("name")?,
                    credential_id,
                    credential,
                    counter,
                    device_type,
                    backed_up,
                    transports,
                    created_at: r.time("createdAt")?.unwrap_or_else(Ts::now),
                }),
                Err(why) => batch.skipped_passkeys.push(Skipped { id, reason: why }),
            }
        }
    });
    Ok(())
}

/// The SIWE plugin's `walletAddress` table, addresses in their EIP-55 form.
async fn read_wallets(src: &Db, batch: &mut Batch) -> Result<()> {
    let Some((name, cols)) = table(src, &["walletAddress", "wallet_address"]).await? else { return Ok(()) };
    require(&cols, name, &["id", "userId", "address", "chainId"])?;
    let sql = format!("SELECT {} FROM \"{name}\"", cols.select(&["id", "userId", "address", "chainId", "isPrimary", "createdAt"]));
    db!(src, |pool| {
        for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
            let id = r.text("id")?.unwrap_or_default();
            let raw = r.text("address")?.unwrap_or_default();
            let chain_id = r.int("chainId")?.unwrap_or(0);
            let Some(bytes) = crate::plugins::siwe::message::parse_address(raw.trim()) else {
                batch.skipped_wallets.push(Skipped { id, reason: format!("{raw:?} is not an Ethereum address") });
                continue;
            };
            if chain_id <= 0 {
                batch.skipped_wallets.push(Skipped { id, reason: format!("{chain_id} is not a chain id") });
                continue;
            }
            batch.wallets.push(WalletRow {
                id,
                user_id: r.text("userId")?.unwrap_or_default(),
                address: crate::plugins::siwe::message::checksummed(&bytes),
                chain_id,
                is_primary: r.flag("isPrimary")?.unwrap_or(false),
                created_at: r.time("createdAt")?.unwrap_or_else(Ts::now),
            });
        }
    });
    Ok(())
}

/// The first of `names` that is a table of the source, with its columns.
async fn table(src: &Db, names: &[&'static str]) -> Result<Option<(&'static str, Columns)>> {
    for n in names {
        if let Some(c) = columns(src, n).await? {
            return Ok(Some((n, c)));
        }
    }
    Ok(None)
}

/// The organization plugin's tables: organizations, members, invitations, teams, team
/// members and roles defined per organization (each when the source has it).
async fn read_orgs(src: &Db) -> Result<super::Orgs> {
    use super::{InvitationRow, MemberRow, OrgRoleRow, OrgRow, TeamMemberRow, TeamRow, object_text};
    let mut o = super::Orgs::default();
    if let Some((t, c)) = table(src, &["organization"]).await? {
        require(&c, t, &["id", "name", "slug"])?;
        let sql = format!("SELECT {} FROM \"{t}\"", c.select(&["id", "name", "slug", "logo", "metadata", "createdAt"]));
        db!(src, |pool| {
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
                let id = r.text("id")?.unwrap_or_default();
                let slug = r.text("slug")?.unwrap_or_default().to_lowercase();
                if !crate::plugins::organization::valid_slug(&slug) {
                    o.skipped.push(("organizations", Skipped { id, reason: format!("the slug {slug:?} is not 1-64 of a-z, 0-9 and -") }));
                    continue;
                }
                o.organizations.push(OrgRow {
                    id,
                    name: r.text("name")?.unwrap_or_default(),
                    slug,
                    logo: r.text("logo")?,
                    metadata: object_text(r.text("metadata")?),
                    created_at: r.time("createdAt")?.unwrap_or_else(Ts::now),
                });
            }
        });
    }
    if let Some((t, c)) = table(src, &["member"]).await? {
        require(&c, t, &["id", "organizationId", "userId", "role"])?;
        let sql = format!("SELECT {} FROM \"{t}\"", c.select(&["id", "organizationId", "userId", "role", "createdAt"]));
        db!(src, |pool| {
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
                o.members.push(MemberRow {
                    id: r.text("id")?.unwrap_or_default(),
                    organization_id: r.text("organizationId")?.unwrap_or_default(),
                    user_id: r.text("userId")?.unwrap_or_default(),
                    role: r.text("role")?.unwrap_or_else(|| "member".into()),
                    created_at: r.time("createdAt")?.unwrap_or_else(Ts::now),
                });
            }
        });
    }
    if let Some((t, c)) = table(src, &["team"]).await? {
        require(&c, t, &["id", "organizationId", "name"])?;
        let sql = format!("SELECT {} FROM \"{t}\"", c.select(&["id", "organizationId", "name", "createdAt", "updatedAt"]));
        db!(src, |pool| {
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
                let created_at = r.time("createdAt")?.unwrap_or_else(Ts::now);
                o.teams.push(TeamRow {
                    id: r.text("id")?.unwrap_or_default(),
                    organization_id: r.text("organizationId")?.unwrap_or_default(),
                    name: r.text("name")?.unwrap_or_default(),
                    created_at,
                    updated_at: r.time("updatedAt")?.unwrap_or(created_at),
                });
            }
        });
    }
    if let Some((t, c)) = table(src, &["teamMember", "team_member"]).await? {
        require(&c, t, &["id", "teamId", "userId"])?;
        let sql = format!("SELECT {} FROM \"{t}\"", c.select(&["id", "teamId", "userId", "createdAt"]));
        db!(src, |pool| {
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
                o.team_members.push(TeamMemberRow {
                    id: r.text("id")?.unwrap_or_default(),
                    team_id: r.text("teamId")?.unwrap_or_default(),
                    user_id: r.text("userId")?.unwrap_or_default(),
                    created_at: r.time("createdAt")?.unwrap_or_else(Ts::now),
                });
            }
        });
    }
    if let Some((t, c)) = table(src, &["invitation"]).await? {
        require(&c, t, &["id", "organizationId", "email", "status", "expiresAt", "inviterId"])?;
        let fields = ["id", "organizationId", "email", "role", "teamId", "status", "inviterId", "expiresAt", "createdAt"];
        let sql = format!("SELECT {} FROM \"{t}\"", c.select(&fields));
        db!(src, |pool| {
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
                let id = r.text("id")?.unwrap_or_default();
                let raw = r.text("email")?.unwrap_or_default();
                let Ok(email) = crate::users::normalize_email(&raw) else {
                    o.skipped.push(("invitations", Skipped { id, reason: format!("invalid email {raw:?}") }));
                    continue;
                };
                // A comma-separated list of teams (better-auth): Kavach keeps one.
                let team_id = r.text("teamId")?.and_then(|t| t.split(',').map(str::trim).find(|x| !x.is_empty()).map(str::to_owned));
                let created_at = r.time("createdAt")?.unwrap_or_else(Ts::now);
                o.invitations.push(InvitationRow {
                    id,
                    organization_id: r.text("organizationId")?.unwrap_or_default(),
                    email,
                    role: r.text("role")?.unwrap_or_else(|| "member".into()),
                    team_id,
                    status: r.text("status")?.unwrap_or_else(|| "pending".into()),
                    inviter_id: r.text("inviterId")?.unwrap_or_default(),
                    expires_at: r.time("expiresAt")?.unwrap_or(created_at),
                    created_at,
                });
            }
        });
    }
    if let Some((t, c)) = table(src, &["organizationRole", "organization_role"]).await? {
        require(&c, t, &["id", "organizationId", "role", "permission"])?;
        let sql = format!("SELECT {} FROM \"{t}\"", c.select(&["id", "organizationId", "role", "permission", "createdAt", "updatedAt"]));
        db!(src, |pool| {
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
                let id = r.text("id")?.unwrap_or_default();
                let text = r.text("permission")?.unwrap_or_default();
                let Ok(p) = crate::access::Permissions::from_json(&text) else {
                    o.skipped.push(("roles", Skipped { id, reason: "its permission is not { resource: [actions] } of valid names".into() }));
                    continue;
                };
                let created_at = r.time("createdAt")?.unwrap_or_else(Ts::now);
                o.roles.push(OrgRoleRow {
                    id,
                    organization_id: r.text("organizationId")?.unwrap_or_default(),
                    role: r.text("role")?.unwrap_or_default(),
                    permission: p.to_json(),
                    created_at,
                    updated_at: r.time("updatedAt")?.unwrap_or(created_at),
                });
            }
        });
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    #[test]
    fn snake_case_names_of_better_auth_fields_as_adapters_map_them() {
        assert_eq!(super::snake("userId"), "user_id");
        assert_eq!(super::snake("credentialID"), "credential_id");
        assert_eq!(super::snake("phoneNumberVerified"), "phone_number_verified");
    }
}
