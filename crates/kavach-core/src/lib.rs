//! Kavach core: the domain (users, sessions, email + password), storage on SQLite
//! and PostgreSQL, crypto, rate limiting, email and the security event log.
//!
//! Architecture invariant: this crate knows nothing about HTTP frameworks. The
//! `kavach` crate translates HTTP to calls on [`Core`].

pub mod access;
pub mod audit;
pub mod cache;
pub mod crypto;
pub mod email;
pub mod error;
pub mod fields;
pub mod jwt;
pub mod legacy;
pub mod options;
mod otp;
pub mod password;
pub mod plugins;
pub mod ratelimit;
pub mod sessions;
pub mod sms;
pub mod store;
pub mod text;
pub mod users;
mod verification;

pub use error::{Code, Error, Kind, Result};
pub use jwt::Alg;
pub use options::Mode;
pub use sessions::{NewSession, Session, SessionOptions, SessionWithUser};
pub use users::{NewUser, User};

use crate::email::{Mailer, Templates};
use crate::password::{Hasher, PasswordPolicy};
use crate::ratelimit::{RateLimiter, Rule};
use crate::store::Db;
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Who is asking: recorded on sessions and in the audit log.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The token of the request's trusted-device cookie (`[two_factor]`), if any: a
    /// sign-in from a trusted device of the user skips the second factor.
    pub trusted_device: Option<String>,
    /// The request's current session token (read when `[anonymous]` is on): a sign-in
    /// made from an anonymous user's session links that user to the account signed in.
    pub session_token: Option<String>,
}

/// A completed sign-in: the user and their new session.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub user: User,
    pub session: NewSession,
}

/// Email + password behaviour (`[email_password]` in the configuration file).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailPasswordOptions {
    pub enabled: bool,
    /// Users must verify their email before they can sign in. Default true. With it,
    /// sign-up answers the same whether or not the email was already registered.
    pub require_email_verification: bool,
    /// Sign the user in right after sign-up (when verification is not required).
    pub auto_sign_in: bool,
    /// Sign the user in when they follow a verification link.
    pub auto_sign_in_after_verification: bool,
    #[serde(deserialize_with = "options::duration")]
    pub reset_token_ttl: Duration,
    #[serde(deserialize_with = "options::duration")]
    pub verification_token_ttl: Duration,
}

impl Default for EmailPasswordOptions {
    fn default() -> Self {
        EmailPasswordOptions {
            enabled: true,
            require_email_verification: true,
            auto_sign_in: true,
            auto_sign_in_after_verification: false,
            reset_token_ttl: Duration::from_secs(3600),
            verification_token_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// JWTs minted for sessions (`GET /token`) and the signing keys behind them (`[jwt]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtOptions {
    /// Lifetime of a session JWT. Default 15 minutes.
    #[serde(deserialize_with = "options::duration")]
    pub expires_in: Duration,
    /// How long a retired key stays published after a rotation. Must exceed the
    /// longest token lifetime. Default 2 days.
    #[serde(deserialize_with = "options::duration")]
    pub key_overlap: Duration,
    /// Rotate keys automatically when the active one is this old. Default 30 days.
    #[serde(deserialize_with = "options::duration")]
    pub rotate_every: Duration,
    /// `[jwt.claims]`: extra claims of session JWTs (`/token`), each read from the
    /// session's JSON by a dotted path: `role = "user.role"`,
    /// `org = "session.activeOrganizationId"`, `plan = "user.metadata.public.plan"`.
    pub claims: std::collections::BTreeMap<String, String>,
}

impl JwtOptions {
    pub(crate) fn problems(&self) -> Option<String> {
        const RESERVED: &[&str] = &["iss", "aud", "sub", "iat", "nbf", "exp", "jti", "sid"];
        self.claims.iter().find_map(|(claim, path)| {
            if RESERVED.contains(&claim.as_str()) || claim.is_empty() {
                return Some(format!("jwt.claims: {claim:?} is a claim Kavach sets itself"));
            }
            let ok = (path.starts_with("user.") || path.starts_with("session.")) && path.split('.').all(|p| !p.is_empty());
            (!ok).then(|| format!("jwt.claims.{claim} = {path:?}: a path into the session, like \"user.role\" or \"session.activeOrganizationId\""))
        })
    }
}

impl Default for JwtOptions {
    fn default() -> Self {
        JwtOptions {
            expires_in: Duration::from_secs(15 * 60),
            key_overlap: Duration::from_secs(2 * 86400),
            rotate_every: Duration::from_secs(30 * 86400),
            claims: Default::default(),
        }
    }
}

/// Rate-limit rules (`[rate_limit]`). Routes are matched on the path below the base path.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitOptions {
    pub enabled: bool,
    /// Per client IP and route: overrides of the defaults each route declares in the
    /// HTTP route table (`kavach::http::table`), by route template (`/sign-in/email`).
    /// In a file: a table, `"/sign-in/email" = "10/1m"`.
    #[serde(deserialize_with = "options::table_as_pairs")]
    pub routes: Vec<(String, Rule)>,
    /// Failed sign-ins per account (email) before further attempts are refused.
    pub account_failures: Rule,
    /// Emails to one address (verification, password reset, email change, sign-up
    /// notices), whoever asks and whether or not the address has an account.
    pub per_recipient: Rule,
}

impl Default for RateLimitOptions {
    fn default() -> Self {
        RateLimitOptions {
            enabled: true,
            routes: vec![],
            account_failures: Rule { max: 10, window: Duration::from_secs(15 * 60) },
            per_recipient: Rule { max: 5, window: Duration::from_secs(15 * 60) },
        }
    }
}

/// Everything the core needs to know. Built by `kavach::Kavach::builder()`, or read
/// from a configuration file by `kavach::Settings` (this struct is the file's layout, less
/// the deployment-only keys). Checked by [`Options::validate`].
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Development (the default) or production: production refuses weak secrets, the
    /// development outbox and development allowances.
    pub mode: Mode,
    /// Public origin of the server, e.g. `https://auth.example.com`. Its scheme decides cookie security.
    pub base_url: String,
    /// Where the API lives below the origin. Default `/api/kavach`.
    pub base_path: String,
    /// Secrets, current first. Sign with the first, accept all (rotation).
    pub secrets: Vec<String>,
    /// Origins allowed to make cookie-authenticated writes, besides the base URL's own.
    pub trusted_origins: Vec<String>,
    pub app_name: String,
    pub session: SessionOptions,
    pub jwt: JwtOptions,
    pub password: PasswordPolicy,
    pub email_password: EmailPasswordOptions,
    pub rate_limit: RateLimitOptions,
    /// Accept better-auth session cookies of migrated sessions (transition window).
    /// In a file: `[external_auth.better_auth]`.
    #[serde(rename = "external_auth", deserialize_with = "options::external_auth")]
    pub better_auth: Option<plugins::migration::BetterAuthCookies>,
    /// The OAuth 2.1 / OpenID Connect authorization server.
    pub oauth: plugins::oauth::OAuthOptions,
    /// Organizations, members, roles, invitations and teams.
    pub organization: plugins::organization::OrganizationOptions,
    /// Operators: users, bans, impersonation.
    pub admin: plugins::admin::AdminOptions,
    /// AI agents: identities, keys, permissions, decisions, delegation, approvals, budgets.
    pub agents: plugins::agents::AgentOptions,
    /// Two-factor authentication: TOTP, backup codes, codes by email, trusted devices.
    pub two_factor: plugins::two_factor::TwoFactorOptions,
    /// Sign-in by a single-use link sent by email.
    pub magic_link: plugins::magic_link::MagicLinkOptions,
    pub email_otp: plugins::email_otp::EmailOtpOptions,
    pub anonymous: plugins::anonymous::AnonymousOptions,
    pub phone_number: plugins::phone_number::PhoneNumberOptions,
    pub api_key: plugins::api_key::ApiKeyOptions,
    /// Sign-In with Ethereum (EIP-4361).
    pub siwe: plugins::siwe::SiweOptions,
    /// Passkeys (WebAuthn).
    pub passkey: plugins::passkey::PasskeyOptions,
    /// Google One Tap.
    pub one_tap: plugins::one_tap::OneTapOptions,
    /// The user object: additional fields (`[user.additional_fields.<name>]`).
    pub user: fields::UserOptions,
    /// Usernames besides emails: sign-in with a username, availability, reserved names.
    pub username: plugins::username::UsernameOptions,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Development,
            base_url: "http://localhost:3000".into(),
            base_path: "/api/kavach".into(),
            secrets: vec![],
            trusted_origins: vec![],
            app_name: "Kavach".into(),
            session: SessionOptions::default(),
            jwt: JwtOptions::default(),
            password: PasswordPolicy::default(),
            email_password: EmailPasswordOptions::default(),
            rate_limit: RateLimitOptions::default(),
            better_auth: None,
            oauth: plugins::oauth::OAuthOptions::default(),
            organization: plugins::organization::OrganizationOptions::default(),
            admin: plugins::admin::AdminOptions::default(),
            agents: plugins::agents::AgentOptions::default(),
            two_factor: plugins::two_factor::TwoFactorOptions::default(),
            magic_link: plugins::magic_link::MagicLinkOptions::default(),
            email_otp: plugins::email_otp::EmailOtpOptions::default(),
            anonymous: plugins::anonymous::AnonymousOptions::default(),
            phone_number: plugins::phone_number::PhoneNumberOptions::default(),
            api_key: plugins::api_key::ApiKeyOptions::default(),
            siwe: plugins::siwe::SiweOptions::default(),
            passkey: plugins::passkey::PasskeyOptions::default(),
            one_tap: plugins::one_tap::OneTapOptions::default(),
            user: fields::UserOptions::default(),
            username: plugins::username::UsernameOptions::default(),
        }
    }
}

impl Options {
    /// `https` base URL: cookies get `Secure` and the `__Secure-` prefix.
    pub fn secure(&self) -> bool {
        self.base_url.starts_with("https://")
    }
    /// Absolute URL of an API path, e.g. `api_url("/verify-email")`.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer())
    }
    /// The OAuth / OpenID Connect issuer: the base URL plus the base path, with no
    /// trailing slash. Byte-identical in metadata, `iss` parameters and tokens.
    pub fn issuer(&self) -> String {
        format!("{}{}", self.base_url.trim_end_matches('/'), self.base_path.trim_end_matches('/'))
    }
    /// The origin (scheme://host[:port]) of the base URL.
    pub fn origin(&self) -> String {
        origin_of(&self.base_url).unwrap_or_else(|| self.base_url.clone())
    }
}

/// `scheme://host[:port]` of an absolute URL, lower-cased; `None` if it is not one.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    if scheme.is_empty() || host.is_empty() || host.contains('@') {
        return None;
    }
    Some(format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase()))
}

/// A URL safe to print: the password in `user:password@` is replaced by `***`.
pub fn redact_url(url: &str) -> String {
    // The userinfo ends at the last '@' after the scheme.
    let url = match url.split_once("://").and_then(|(scheme, rest)| Some((scheme, rest.rsplit_once('@')?))) {
        Some((scheme, (userinfo, host))) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    };
    // A password can also travel in the query (`postgres://h/db?password=...`).
    match url.split_once('?') {
        Some((base, query)) => {
            let q: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_owned(),
                })
                .collect();
            format!("{base}?{}", q.join("&"))
        }
        None => url,
    }
}

/// Check a secret for production use: long and varied enough.
pub fn secret_is_strong(secret: &str) -> bool {
    let distinct = secret.chars().collect::<std::collections::HashSet<_>>().len();
    secret.len() >= 32 && distinct >= 12
}

/// The core: one per process (or per embedding app). Share it behind an `Arc`.
pub struct Core {
    pub(crate) db: Db,
    pub(crate) options: Options,
    pub(crate) secrets: crypto::Secrets,
    pub(crate) hasher: Hasher,
    pub(crate) limiter: RateLimiter,
    pub(crate) mailer: Arc<dyn Mailer>,
    /// The anonymous-user link hook (`[anonymous]`), if the embedding app gave one.
    pub(crate) anonymous_link: Option<plugins::anonymous::LinkHook>,
    /// Where phone-number codes go out (`[phone_number]`); none: those routes answer 503.
    pub(crate) sms: Option<Arc<dyn sms::SmsSender>>,
    /// Checks contract wallets' signatures (`[siwe]`, EIP-1271), if configured.
    pub(crate) contract_wallets: Option<Arc<dyn plugins::siwe::ContractWallets>>,
    /// The WebAuthn ceremony checker (`[passkey]`), built once from the configuration.
    pub(crate) webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// Google's keys for One Tap ID tokens (`[one_tap]`).
    pub(crate) one_tap_keys: Option<Arc<dyn plugins::one_tap::IdTokenKeys>>,
    pub(crate) templates: Templates,
    pub(crate) sessions: Arc<sessions::Sessions>,
    pub(crate) keys: Arc<jwt::Keys>,
    /// The better-auth secrets, prepared once (the cookie transition checks them per request).
    pub(crate) better_auth_secrets: Option<crypto::Secrets>,
    /// Refresh token successors, written in groups.
    pub(crate) rotations: plugins::oauth::store::rotation::Rotations,
    /// High-volume audit records (token issuance), written in groups in the background.
    pub(crate) audit_queue: audit::Queue,
    /// Single-use tokens and codes consumed, in groups.
    pub(crate) single_use: store::group::Group<verification::SingleUse>,
    /// The organization roles of the configuration (built-in ones included), built once:
    /// permission checks read them on every request.
    pub(crate) org_roles: std::collections::BTreeMap<String, access::Permissions>,
    /// Agents' decision counters and last-active times, written in groups.
    pub(crate) agent_tally: plugins::agents::Tally,
    /// What each agent was seen doing (anomaly signals).
    pub(crate) agent_anomalies: plugins::agents::Anomalies,
    pub(crate) agent_cache: plugins::agents::Cache,
    /// OAuth clients' rows, read by every token, revocation and introspection request.
    pub(crate) client_cache: cache::Slots<Arc<plugins::oauth::clients::Client>>,
}

impl Core {
    /// Assemble a core over a migrated database. `limiter` defaults to the database.
    pub fn new(db: Db, options: Options, mailer: Arc<dyn Mailer>, templates: Templates, limiter: Option<RateLimiter>) -> Result<Core> {
        if options.secrets.is_empty() {
            return Err(Error::config("at least one secret is required"));
        }
        if options.secrets.iter().any(|s| s.len() < 16) {
            return Err(Error::config("every secret must be at least 16 characters (32+ random characters recommended)"));
        }
        let mut options = options;
        // Resources are compared in canonical form on every request: canonicalise them once.
        for r in &mut options.oauth.resources {
            r.uri = plugins::oauth::resource::canonical(&r.uri).map_err(|e| Error::config(format!("oauth resource {:?}: {}", r.uri, e.description)))?;
        }
        let secrets = crypto::Secrets::new(&options.secrets);
        let limiter = limiter.unwrap_or_else(|| RateLimiter::database(db.clone()));
        let sessions = Arc::new(sessions::Sessions::new(db.clone(), options.session.clone()));
        // Session JWTs (EdDSA), access tokens, and OpenID Connect ID tokens (RS256).
        let mut algs = vec![Alg::EdDSA, options.oauth.access_token_alg, Alg::RS256];
        algs.dedup();
        let keys = Arc::new(jwt::Keys::new(db.clone(), secrets.clone(), algs));
        let better_auth_secrets = options.better_auth.as_ref().filter(|b| !b.secrets.is_empty()).map(|b| crypto::Secrets::new(&b.secrets));
        let rotations = plugins::oauth::store::rotation::Rotations::new(db.clone());
        let audit_queue = audit::Queue::new(db.clone());
        let single_use = store::group::Group::new(db.clone(), verification::SingleUse);
        let org_roles = options.organization.static_roles();
        let webauthn = match options.passkey.enabled {
            true => Some(Arc::new(options.passkey.webauthn(&options.base_url).map_err(Error::config)?)),
            false => None,
        };
        Ok(Core {
            db,
            options,
            secrets,
            hasher: Hasher::default(),
            limiter,
            mailer,
            anonymous_link: None,
            sms: None,
            contract_wallets: None,
            webauthn,
            one_tap_keys: None,
            templates,
            sessions,
            keys,
            better_auth_secrets,
            rotations,
            audit_queue,
            single_use,
            org_roles,
            agent_tally: plugins::agents::Tally::default(),
            agent_anomalies: plugins::agents::Anomalies::default(),
            agent_cache: plugins::agents::Cache::default(),
            client_cache: cache::Slots::default(),
        })
    }

    /// Accept password hashes in formats Kavach does not know; a match is rehashed
    /// to Argon2id, as for the built-in legacy formats.
    pub fn with_legacy_verifiers(mut self, verifiers: Vec<password::LegacyVerifier>) -> Self {
        self.hasher = self.hasher.with_legacy(verifiers);
        self
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
    pub fn options(&self) -> &Options {
        &self.options
    }
    pub fn secrets(&self) -> &crypto::Secrets {
        &self.secrets
    }
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }
    pub fn mailer(&self) -> &dyn Mailer {
        &*self.mailer
    }
    pub fn sessions(&self) -> &sessions::Sessions {
        &self.sessions
    }

    /// The JWT signing keys and the JWKS.
    pub fn keys(&self) -> &jwt::Keys {
        &self.keys
    }

    /// Email + password: sign-up, sign-in, verification, password change and reset.
    pub fn email_password(&self) -> plugins::email_password::EmailPassword<'_> {
        plugins::email_password::EmailPassword(self)
    }

    /// Sessions from the system Kavach replaces (the better-auth cookie transition).
    pub fn external(&self) -> plugins::migration::External<'_> {
        plugins::migration::External(self)
    }

    /// OAuth clients (RFC 7591/7592 registration and authentication).
    pub fn clients(&self) -> plugins::oauth::clients::Clients<'_> {
        plugins::oauth::clients::Clients(self)
    }

    /// The authorization server: authorization requests, consent, codes.
    pub fn authorize(&self) -> plugins::oauth::authorize::Authorize<'_> {
        plugins::oauth::authorize::Authorize(self)
    }

    /// The token endpoint's grants, revocation, introspection and userinfo.
    pub fn tokens(&self) -> plugins::oauth::tokens::Tokens<'_> {
        plugins::oauth::tokens::Tokens(self)
    }

    /// Organizations, members, invitations, teams and roles (`[organization]`).
    pub fn organizations(&self) -> plugins::organization::Organizations<'_> {
        plugins::organization::Organizations(self)
    }

    /// The operators' capability: users, roles, bans, sessions, impersonation (`[admin]`).
    pub fn admin(&self) -> plugins::admin::Admin<'_> {
        plugins::admin::Admin(self)
    }

    /// AI agents: identities, keys, permissions, the decision point, delegation,
    /// approvals, budgets and trust (`[agents]`).
    pub fn agents(&self) -> plugins::agents::Agents<'_> {
        plugins::agents::Agents(self)
    }

    /// User administration (CLI, admins, embedders).
    pub fn users(&self) -> users::Users<'_> {
        users::Users(self)
    }

    /// A signed statement of the audit chain's head (a compact JWS by the EdDSA signing key,
    /// `typ` `kavach-audit-checkpoint+jwt`, claims `iss`, `iat`, `seq`, `hash`): keep it off
    /// the box; [`Core::check_audit_checkpoint`] later proves the chain up to it is intact.
    pub async fn audit_checkpoint(&self) -> Result<String> {
        let (seq, hash) = audit::head(&self.db).await?.ok_or_else(|| Error::internal("the audit head row is missing"))?;
        let now = store::Ts::now().0 / 1000;
        // `exp` only because JWS verification wants one: a checkpoint does not go stale.
        let claims = serde_json::json!({ "iss": self.options.issuer(), "iat": now, "exp": now + 100 * 365 * 86400, "seq": seq, "hash": hash });
        self.keys.sign(Alg::EdDSA, "kavach-audit-checkpoint+jwt", &claims).await
    }

    /// Check a checkpoint from [`Core::audit_checkpoint`]: signed by one of this server's
    /// keys (a retired key too, while it is published) and its record still in the chain
    /// with the same hash. `Ok(Err(why))` when it does not hold.
    pub async fn check_audit_checkpoint(&self, checkpoint: &str) -> Result<std::result::Result<(i64, String), String>> {
        let (header, claims) = match self.keys.verify(checkpoint.trim(), 0).await? {
            Ok(v) => v,
            Err(e) => return Ok(Err(format!("the checkpoint's signature does not verify ({e})"))),
        };
        if header.get("typ").and_then(|t| t.as_str()) != Some("kavach-audit-checkpoint+jwt") {
            return Ok(Err("not an audit checkpoint".into()));
        }
        let (Some(seq), Some(hash)) = (claims.get("seq").and_then(|v| v.as_i64()), claims.get("hash").and_then(|v| v.as_str())) else {
            return Ok(Err("the checkpoint names no record".into()));
        };
        if seq > 0 && !audit::has_record(&self.db, seq, hash).await? {
            return Ok(Err(format!("record {seq} no longer has the hash the checkpoint holds: the chain was rewritten or cut")));
        }
        Ok(Ok((seq, hash.to_owned())))
    }

    /// Wait until every queued audit record (token issuance, written in groups in the
    /// background) is in the database. `kavach serve` calls it when it stops; an embedding
    /// app calls it at shutdown.
    pub async fn flush_audit(&self) {
        self.audit_queue.flush().await;
        if let Err(e) = self.agent_tally.flush(&self.db).await {
            tracing::warn!(error = %e, "agent counters could not be written");
        }
    }

    /// Start the background work: periodic purges of expired rows and, on
    /// PostgreSQL, the listener for cross-instance cache invalidation.
    pub fn spawn_background(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        let core = self.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(600));
            loop {
                tick.tick().await;
                if let Err(e) = core.purge_expired().await {
                    tracing::warn!(error = %e, "periodic purge failed");
                }
                let j = &core.options.jwt;
                if let Err(e) = core.keys.rotate_if_older_than(j.rotate_every, j.key_overlap).await {
                    tracing::warn!(error = %e, "scheduled key rotation failed");
                }
            }
        }));
        if self.options.agents.enabled {
            let core = self.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    if let Err(e) = core.agent_tally.flush(&core.db).await {
                        tracing::warn!(error = %e, "agent counters could not be written");
                    }
                }
            }));
        }
        if let Db::Sqlite(_) = &self.db {
            let db = self.db.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(store::CHECKPOINT_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = db.checkpoint().await {
                        tracing::warn!(error = %e, "SQLite checkpoint failed");
                    }
                }
            }));
        }
        if let Db::Postgres(pool) = &self.db {
            let (pool, sessions) = (pool.clone(), self.sessions.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    match sqlx::postgres::PgListener::connect_with(&pool).await {
                        Ok(mut l) => {
                            if l.listen(sessions::NOTIFY_CHANNEL).await.is_ok() {
                                sessions.forget_all();
                                loop {
                                    match l.try_recv().await {
                                        Ok(Some(n)) => sessions.forget(n.payload()),
                                        // The connection dropped (it reconnects on the next call):
                                        // notifications may have been missed, so start cold.
                                        Ok(None) => sessions.forget_all(),
                                        Err(_) => break,
                                    }
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cache invalidation listener cannot connect"),
                    }
                    sessions.forget_all();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }));
        }
        tasks
    }

    /// Delete expired sessions, verification tokens, one-time codes, pending sign-ins and
    /// trusted devices,
    /// and old rate-limit counters.
    pub async fn purge_expired(&self) -> Result<()> {
        self.sessions.purge_expired().await?;
        verification::purge_expired(&self.db).await?;
        let rl = &self.options.rate_limit;
        let longest = rl.routes.iter().map(|(_, r)| r.window).chain([rl.account_failures.window, rl.per_recipient.window]).max();
        // Agents' rate and budget counters live up to a month (a rate window is at most 31 days).
        let floor = if self.options.agents.enabled { Duration::from_secs(33 * 86400) } else { Duration::from_secs(86400) };
        self.limiter.purge(longest.unwrap_or_default().max(floor)).await?;
        self.keys.purge().await?;
        self.tokens().purge().await?;
        self.clients().purge_unused(self.options.oauth.unused_client_ttl).await?;
        plugins::two_factor::store::purge_expired(&self.db).await?;
        otp::purge_expired(self).await?;
        plugins::anonymous::purge_unreachable(&self.db).await?;
        plugins::api_key::purge_expired(&self.db).await?;
        Ok(())
    }

    /// Check that a redirect target is a path on this site or a trusted origin.
    pub fn check_callback_url(&self, url: &str) -> Result<()> {
        let refuse = || Err(Error::forbidden(Code::InvalidCallbackUrl, "The callback URL is not on a trusted origin"));
        // Browsers drop tabs and newlines and read `\` as `/` when they parse a URL,
        // so "/\t/evil.com" would become "//evil.com": refuse them outright.
        if url.len() > 2048 || url.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
            return refuse();
        }
        if url.starts_with('/') && !url.starts_with("//") {
            return Ok(());
        }
        match crate::origin_of(url) {
            Some(o) if self.is_trusted_origin(&o) => Ok(()),
            _ => refuse(),
        }
    }

    /// Is `origin` the base URL's origin or one of the trusted origins?
    pub fn is_trusted_origin(&self, origin: &str) -> bool {
        let o = &self.options;
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        origin == o.origin() || o.trusted_origins.iter().any(|t| t.trim_end_matches('/').eq_ignore_ascii_case(&origin))
    }

    /// What a user's new password must not be made of (see
    /// [`password::PasswordPolicy::check`]): their email and name, the app's name and
    /// the service's host.
    pub(crate) fn password_context<'a>(&'a self, email: &'a str, name: &'a str) -> [&'a str; 4] {
        let host = self.options.base_url.split_once("://").map(|(_, r)| r).unwrap_or("").split(['/', ':']).next().unwrap_or("");
        [email, name, &self.options.app_name, host]
    }

    /// Count an email about to go to `to` against the per-recipient limit, whether or
    /// not one is really sent (so the answer tells nothing about the address): 429 when
    /// the address got its share.
    pub(crate) async fn recipient_allowed(&self, to: &str) -> Result<()> {
        let rl = &self.options.rate_limit;
        if !rl.enabled {
            return Ok(());
        }
        let d = self.limiter.hit(&format!("mail-to:{}", self.secrets.keyed_hash(to)), rl.per_recipient).await?;
        if d.allowed { Ok(()) } else { Err(Error::too_many_requests(d.retry_after_secs)) }
    }

    /// Render and send an email in the background: the request does not wait for
    /// SMTP, and its timing does not depend on whether a message was sent.
    pub(crate) fn send_email(&self, template: &'static str, to: &str, ctx: minijinja::Value) {
        self.send_email_if(true, template, to, ctx)
    }

    /// [`Self::send_email`] when `send`; otherwise render it all the same and drop it,
    /// so answering for an address that gets no message costs the same work.
    pub(crate) fn send_email_if(&self, send: bool, template: &'static str, to: &str, ctx: minijinja::Value) {
        match self.templates.render(template, to, ctx) {
            Ok(_) if !send => {}
            Ok(email) => {
                let mailer = self.mailer.clone();
                tokio::spawn(async move {
                    let to = email.to.clone();
                    if let Err(e) = mailer.send(email).await {
                        tracing::error!(error = %e, %to, template, "email delivery failed");
                    }
                });
            }
            Err(e) => tracing::error!(error = %e, template, "email not sent"),
        }
    }
}
