//! Configuration: defaults, then a TOML file (`kavach.toml` if present, or
//! `--config`), then environment variables. Every error names the bad value and
//! where it came from.

use anyhow::{Context, Result, anyhow, bail};
use kavach::Cidr;
use kavach_core::password::PasswordPolicy;
use kavach_core::ratelimit::Rule;
use kavach_core::{EmailPasswordOptions, Options, RateLimitOptions, SessionOptions};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Development,
    Production,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct File {
    pub mode: Mode,
    pub listen: String,
    pub base_url: Option<String>,
    pub base_path: String,
    pub database_url: Option<String>,
    pub secrets: Vec<String>,
    pub redis_url: Option<String>,
    pub trusted_origins: Vec<String>,
    pub trusted_proxies: Vec<String>,
    pub data_dir: PathBuf,
    pub app_name: String,
    pub log: String,
    /// `text` (default) or `json` (one JSON object per line).
    pub log_format: String,
    pub email: EmailFile,
    pub email_password: EmailPasswordFile,
    pub session: SessionFile,
    pub jwt: JwtFile,
    pub rate_limit: RateLimitFile,
    pub external_auth: ExternalAuthFile,
    pub oauth: OAuthFile,
}

/// The OAuth 2.1 / OpenID Connect authorization server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthFile {
    /// Serve the authorization server. Default true.
    pub enabled: bool,
    pub access_token_ttl: DurationValue,
    pub refresh_token_ttl: DurationValue,
    pub refresh_grace: DurationValue,
    pub code_ttl: DurationValue,
    pub access_token_alg: String,
    pub dynamic_registration: bool,
    pub dynamic_client_credentials: bool,
    pub metadata_documents: bool,
    pub metadata_documents_insecure: bool,
    pub dpop_nonces: bool,
    pub unused_client_ttl: DurationValue,
    pub metadata_document_max_bytes: usize,
    pub resources: Vec<ResourceFile>,
    pub scope_descriptions: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceFile {
    pub uri: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl Default for OAuthFile {
    fn default() -> Self {
        let d = kavach_core::plugins::oauth::OAuthOptions::default();
        OAuthFile {
            enabled: d.enabled,
            access_token_ttl: DurationValue(d.access_token_ttl),
            refresh_token_ttl: DurationValue(d.refresh_token_ttl),
            refresh_grace: DurationValue(d.refresh_grace),
            code_ttl: DurationValue(d.code_ttl),
            access_token_alg: d.access_token_alg.as_str().into(),
            dynamic_registration: d.dynamic_registration,
            dynamic_client_credentials: d.dynamic_client_credentials,
            metadata_documents: d.metadata_documents,
            metadata_documents_insecure: d.metadata_documents_insecure,
            dpop_nonces: d.dpop_nonces,
            unused_client_ttl: DurationValue(d.unused_client_ttl),
            metadata_document_max_bytes: d.metadata_document_max_bytes,
            resources: vec![],
            scope_descriptions: Default::default(),
        }
    }
}

impl OAuthFile {
    fn resolve(self, production: bool) -> Result<kavach_core::plugins::oauth::OAuthOptions> {
        if production && self.metadata_documents_insecure {
            bail!(
                "oauth.metadata_documents_insecure is a development allowance: production refuses it (it lets clients make the server fetch local addresses)"
            );
        }
        let Some(alg) = kavach_core::Alg::parse(&self.access_token_alg) else {
            bail!("oauth.access_token_alg = {:?}: expected EdDSA, ES256 or RS256", self.access_token_alg)
        };
        let mut resources = Vec::new();
        for r in self.resources {
            let uri = kavach_core::plugins::oauth::resource::canonical(&r.uri).map_err(|e| anyhow!("oauth.resources: {}", e.description))?;
            if let Some(s) = r.scopes.iter().find(|s| s.is_empty() || s.contains(' ') || kavach_core::plugins::oauth::STANDARD_SCOPES.contains(&s.as_str())) {
                bail!("oauth.resources ({uri}): scope {s:?} is empty, has a space, or is a standard OpenID scope");
            }
            resources.push(kavach_core::plugins::oauth::ResourceDef { uri, name: r.name, scopes: r.scopes });
        }
        if self.code_ttl.0.as_secs() > 600 {
            bail!("oauth.code_ttl must be at most 10 minutes");
        }
        for (key, ttl) in [("access_token_ttl", self.access_token_ttl.0), ("refresh_token_ttl", self.refresh_token_ttl.0), ("code_ttl", self.code_ttl.0)] {
            if ttl.is_zero() {
                bail!("oauth.{key} must be longer than 0s");
            }
        }
        // Within the grace window a reused refresh token is answered, not treated as theft:
        // a long window would switch reuse detection off.
        if self.unused_client_ttl.0.as_secs() < 60 {
            bail!("oauth.unused_client_ttl must be at least 1m (a client needs time to complete its first grant)");
        }
        if !(512..=65536).contains(&self.metadata_document_max_bytes) {
            bail!("oauth.metadata_document_max_bytes must be between 512 and 65536");
        }
        if self.refresh_grace.0.as_secs() > 300 {
            bail!("oauth.refresh_grace must be at most 5 minutes (reuse inside it is not detected)");
        }
        Ok(kavach_core::plugins::oauth::OAuthOptions {
            enabled: self.enabled,
            resources,
            scope_descriptions: self.scope_descriptions.into_iter().collect(),
            access_token_ttl: self.access_token_ttl.0,
            refresh_token_ttl: self.refresh_token_ttl.0,
            refresh_grace: self.refresh_grace.0,
            code_ttl: self.code_ttl.0,
            access_token_alg: alg,
            dynamic_registration: self.dynamic_registration,
            dynamic_client_credentials: self.dynamic_client_credentials,
            metadata_documents: self.metadata_documents,
            metadata_documents_insecure: self.metadata_documents_insecure,
            dpop_nonces: self.dpop_nonces,
            unused_client_ttl: self.unused_client_ttl.0,
            metadata_document_max_bytes: self.metadata_document_max_bytes,
            ..Default::default()
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtFile {
    pub expires_in: DurationValue,
    pub key_overlap: DurationValue,
    pub rotate_every: DurationValue,
}

impl Default for JwtFile {
    fn default() -> Self {
        let d = kavach_core::JwtOptions::default();
        JwtFile { expires_in: DurationValue(d.expires_in), key_overlap: DurationValue(d.key_overlap), rotate_every: DurationValue(d.rotate_every) }
    }
}

/// Sessions of the system Kavach replaces, accepted during a transition window.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExternalAuthFile {
    pub better_auth: Option<BetterAuthFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BetterAuthFile {
    /// better-auth's BETTER_AUTH_SECRET (several while it was being rotated).
    pub secrets: Vec<String>,
    pub cookie_name: String,
}

impl Default for BetterAuthFile {
    fn default() -> Self {
        BetterAuthFile { secrets: vec![], cookie_name: "better-auth.session_token".into() }
    }
}

impl Default for File {
    fn default() -> Self {
        File {
            mode: Mode::Development,
            listen: "127.0.0.1:3000".into(),
            base_url: None,
            base_path: "/api/kavach".into(),
            database_url: None,
            secrets: vec![],
            redis_url: None,
            trusted_origins: vec![],
            trusted_proxies: vec![],
            data_dir: "kavach-data".into(),
            app_name: "Kavach".into(),
            log: "info".into(),
            log_format: "text".into(),
            email: Default::default(),
            email_password: Default::default(),
            session: Default::default(),
            jwt: Default::default(),
            rate_limit: Default::default(),
            external_auth: Default::default(),
            oauth: Default::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailFile {
    pub from: String,
    /// `smtp://user:pass@host:587?tls=required`, `smtps://host:465`; empty = development outbox.
    pub smtp_url: Option<String>,
    pub templates_dir: Option<PathBuf>,
}

impl Default for EmailFile {
    fn default() -> Self {
        EmailFile { from: "Kavach <no-reply@localhost>".into(), smtp_url: None, templates_dir: None }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailPasswordFile {
    pub enabled: bool,
    pub require_email_verification: bool,
    pub auto_sign_in: bool,
    pub auto_sign_in_after_verification: bool,
    pub min_password_length: usize,
    pub max_password_length: usize,
    pub reject_common_passwords: bool,
    pub reset_token_ttl: DurationValue,
    pub verification_token_ttl: DurationValue,
}

impl Default for EmailPasswordFile {
    fn default() -> Self {
        let d = EmailPasswordOptions::default();
        let p = PasswordPolicy::default();
        EmailPasswordFile {
            enabled: d.enabled,
            require_email_verification: d.require_email_verification,
            auto_sign_in: d.auto_sign_in,
            auto_sign_in_after_verification: d.auto_sign_in_after_verification,
            min_password_length: p.min_length,
            max_password_length: p.max_length,
            reject_common_passwords: p.reject_common,
            reset_token_ttl: DurationValue(d.reset_token_ttl),
            verification_token_ttl: DurationValue(d.verification_token_ttl),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionFile {
    pub expires_in: DurationValue,
    pub update_age: DurationValue,
    pub absolute_lifetime: DurationValue,
    pub fresh_age: DurationValue,
    pub cache_ttl: DurationValue,
}

impl Default for SessionFile {
    fn default() -> Self {
        let d = SessionOptions::default();
        SessionFile {
            expires_in: DurationValue(d.expires_in),
            update_age: DurationValue(d.update_age),
            absolute_lifetime: DurationValue(d.absolute_lifetime),
            fresh_age: DurationValue(d.fresh_age),
            cache_ttl: DurationValue(d.cache_ttl),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitFile {
    pub enabled: bool,
    /// Per client IP and route, e.g. `"/sign-in/email" = "10/1m"`. Replaces the defaults for the routes named.
    pub routes: std::collections::BTreeMap<String, RuleValue>,
    pub account_failures: RuleValue,
    /// Emails to one address, e.g. `"5/15m"`.
    pub per_recipient: RuleValue,
}

impl Default for RateLimitFile {
    fn default() -> Self {
        let d = RateLimitOptions::default();
        RateLimitFile { enabled: true, routes: Default::default(), account_failures: RuleValue(d.account_failures), per_recipient: RuleValue(d.per_recipient) }
    }
}

/// A duration written as `30s`, `15m`, `1h`, `7d`, or a number of seconds.
#[derive(Clone, Copy, Debug)]
pub struct DurationValue(pub Duration);

pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| anyhow!("{s:?} is not a duration (examples: 30s, 15m, 1h, 7d)"))?;
    let mult = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        u => bail!("{s:?} has an unknown unit {u:?} (use s, m, h or d)"),
    };
    Ok(Duration::from_secs(n * mult))
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(DurationValue(Duration::from_secs(n))),
            Raw::S(s) => parse_duration(&s).map(DurationValue).map_err(serde::de::Error::custom),
        }
    }
}

/// A rate-limit rule written as `max/window`, e.g. `10/1m`.
#[derive(Clone, Copy, Debug)]
pub struct RuleValue(pub Rule);

pub fn parse_rule(s: &str) -> Result<Rule> {
    let (max, window) = s.split_once('/').ok_or_else(|| anyhow!("{s:?} is not a rate-limit rule (example: 10/1m)"))?;
    let max: u32 = max.trim().parse().map_err(|_| anyhow!("{s:?}: {max:?} is not a count"))?;
    Ok(Rule { max, window: parse_duration(window)? })
}

impl<'de> Deserialize<'de> for RuleValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_rule(&s).map(RuleValue).map_err(serde::de::Error::custom)
    }
}

/// The resolved configuration.
pub struct Config {
    pub mode: Mode,
    pub listen: SocketAddr,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub smtp_url: Option<String>,
    pub templates_dir: Option<PathBuf>,
    pub email_from: String,
    pub data_dir: PathBuf,
    pub trusted_proxies: Vec<Cidr>,
    pub log: String,
    /// Log lines as JSON objects.
    pub log_json: bool,
    pub options: Options,
    /// `base_url` was given (otherwise it follows the listen address).
    pub base_url_explicit: bool,
    /// Set when a development secret was generated or loaded from the data dir.
    pub generated_secret: Option<PathBuf>,
    pub source: Option<PathBuf>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_bool(name: &str) -> Result<Option<bool>> {
    match env(name).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("1" | "true" | "on" | "yes") => Ok(Some(true)),
        Some("0" | "false" | "off" | "no") => Ok(Some(false)),
        Some(v) => bail!("{name}={v:?}: expected true or false"),
    }
}

fn list(v: &str) -> Vec<String> {
    v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

impl Config {
    /// Load from `path` (or `./kavach.toml` when it exists), then the environment.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let path = path.map(Path::to_path_buf).or_else(|| env("KAVACH_CONFIG").map(PathBuf::from)).or_else(|| {
            let p = PathBuf::from("kavach.toml");
            p.exists().then_some(p)
        });
        let mut f: File = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("cannot read config file {}", p.display()))?;
                toml::from_str(&text).map_err(|e| anyhow!("config file {}: {e}", p.display()))?
            }
            None => File::default(),
        };
        // Environment overrides.
        if let Some(v) = env("KAVACH_MODE") {
            f.mode = match v.as_str() {
                "development" | "dev" => Mode::Development,
                "production" | "prod" => Mode::Production,
                _ => bail!("KAVACH_MODE={v:?}: expected development or production"),
            };
        }
        if let Some(v) = env("KAVACH_LISTEN") {
            f.listen = v;
        }
        if let Some(v) = env("KAVACH_BASE_URL") {
            f.base_url = Some(v);
        }
        if let Some(v) = env("KAVACH_BASE_PATH") {
            f.base_path = v;
        }
        if let Some(v) = env("KAVACH_DATABASE_URL") {
            f.database_url = Some(v);
        }
        if let Some(v) = env("KAVACH_SECRET") {
            f.secrets = list(&v);
        }
        if let Some(v) = env("KAVACH_REDIS_URL") {
            f.redis_url = Some(v);
        }
        if let Some(v) = env("KAVACH_SMTP_URL") {
            f.email.smtp_url = Some(v);
        }
        if let Some(v) = env("KAVACH_EMAIL_FROM") {
            f.email.from = v;
        }
        if let Some(v) = env("KAVACH_TRUSTED_ORIGINS") {
            f.trusted_origins = list(&v);
        }
        if let Some(v) = env("KAVACH_TRUSTED_PROXIES") {
            f.trusted_proxies = list(&v);
        }
        if let Some(v) = env("KAVACH_DATA_DIR") {
            f.data_dir = v.into();
        }
        if let Some(v) = env("KAVACH_LOG") {
            f.log = v;
        }
        if let Some(v) = env("KAVACH_LOG_FORMAT") {
            f.log_format = v;
        }
        if let Some(v) = env_bool("KAVACH_REQUIRE_EMAIL_VERIFICATION")? {
            f.email_password.require_email_verification = v;
        }
        if let Some(v) = env_bool("KAVACH_RATE_LIMIT")? {
            f.rate_limit.enabled = v;
        }
        if let Some(v) = env("KAVACH_BETTER_AUTH_SECRET") {
            f.external_auth.better_auth.get_or_insert_with(Default::default).secrets = list(&v);
        }
        if let Some(v) = env("KAVACH_BETTER_AUTH_COOKIE") {
            f.external_auth.better_auth.get_or_insert_with(Default::default).cookie_name = v;
        }
        if let Some(v) = env("KAVACH_SESSION_CACHE_TTL") {
            f.session.cache_ttl = DurationValue(parse_duration(&v).context("KAVACH_SESSION_CACHE_TTL")?);
        }
        Self::resolve(f, path)
    }

    fn resolve(f: File, source: Option<PathBuf>) -> Result<Config> {
        let log_json = match f.log_format.as_str() {
            "text" => false,
            "json" => true,
            other => bail!("log_format = {other:?}: expected text or json"),
        };
        let listen: SocketAddr = f.listen.parse().map_err(|_| anyhow!("listen = {:?}: not an address:port (example: 127.0.0.1:3000)", f.listen))?;
        let base_url_explicit = f.base_url.is_some();
        let base_url = match f.base_url {
            Some(u) => {
                let u = u.trim_end_matches('/').to_owned();
                if !(u.starts_with("http://") || u.starts_with("https://")) || kavach_core::origin_of(&u).is_none() {
                    bail!("base_url = {u:?}: expected an absolute http(s) URL such as https://auth.example.com");
                }
                u
            }
            None => {
                let host = if listen.ip().is_unspecified() || listen.ip().is_loopback() { "localhost".to_owned() } else { listen.ip().to_string() };
                format!("http://{host}:{}", listen.port())
            }
        };
        if !f.base_path.is_empty() && (!f.base_path.starts_with('/') || f.base_path.contains(['?', '#', ' '])) {
            bail!("base_path = {:?}: expected a path such as /api/kavach", f.base_path);
        }
        for o in &f.trusted_origins {
            if kavach_core::origin_of(o).as_deref() != Some(o.trim_end_matches('/').to_ascii_lowercase().as_str()) {
                bail!("trusted_origins: {o:?} is not an origin (example: https://app.example.com)");
            }
        }
        let trusted_proxies = f.trusted_proxies.iter().map(|p| p.parse::<Cidr>().map_err(|e| anyhow!("trusted_proxies: {e}"))).collect::<Result<Vec<_>>>()?;
        let lowest = kavach_core::password::LOWEST_MIN_LENGTH;
        if f.email_password.min_password_length < lowest || f.email_password.max_password_length < f.email_password.min_password_length {
            bail!(
                "email_password: min_password_length must be at least {lowest} (NIST SP 800-63B-4; 15, the default, for passwords that are the only factor) and at most max_password_length"
            );
        }
        if let Some(url) = &f.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            bail!("redis_url = {url:?}: expected redis://host:port");
        }
        let database_url = f.database_url.unwrap_or_else(|| format!("sqlite://{}", f.data_dir.join("kavach.db").display()));

        let mut generated_secret = None;
        let secrets = if f.secrets.is_empty() {
            if f.mode == Mode::Production {
                bail!(
                    "no secret: set KAVACH_SECRET (32+ random characters, e.g. `openssl rand -base64 48`) or `secrets` in the config file; production mode refuses to start without one"
                );
            }
            let path = f.data_dir.join("secret");
            let s = match std::fs::read_to_string(&path) {
                Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
                _ => {
                    std::fs::create_dir_all(&f.data_dir).with_context(|| format!("cannot create data_dir {}", f.data_dir.display()))?;
                    let s = kavach_core::crypto::random_token() + &kavach_core::crypto::random_token();
                    write_private(&path, &s)?;
                    s
                }
            };
            generated_secret = Some(path);
            vec![s]
        } else {
            f.secrets
        };
        if f.mode == Mode::Production {
            for (i, s) in secrets.iter().enumerate() {
                if !kavach_core::secret_is_strong(s) {
                    bail!("secret #{} is weak: production needs 32+ characters with varied content (e.g. `openssl rand -base64 48`)", i + 1);
                }
            }
        } else if secrets.iter().any(|s| s.len() < 16) {
            bail!("every secret must be at least 16 characters");
        }

        let mut rl = RateLimitOptions {
            enabled: f.rate_limit.enabled,
            account_failures: f.rate_limit.account_failures.0,
            per_recipient: f.rate_limit.per_recipient.0,
            ..Default::default()
        };
        // Overrides of the route table's defaults, checked against it below.
        rl.routes = f.rate_limit.routes.into_iter().map(|(route, rule)| (route, rule.0)).collect();
        if f.jwt.key_overlap.0 <= f.jwt.expires_in.0.max(f.oauth.access_token_ttl.0) {
            bail!(
                "jwt.key_overlap must be longer than jwt.expires_in and oauth.access_token_ttl (the same keys sign both), \
                 or tokens would outlive the key that verifies them"
            );
        }
        let better_auth = match f.external_auth.better_auth {
            Some(b) if b.secrets.is_empty() => bail!("external_auth.better_auth: set `secrets` (or KAVACH_BETTER_AUTH_SECRET) to better-auth's secret"),
            Some(b) if b.cookie_name.is_empty() || b.cookie_name.contains([';', '=', ' ', ',']) => {
                bail!("external_auth.better_auth.cookie_name = {:?}: not a cookie name", b.cookie_name)
            }
            Some(b) => Some(kavach_core::plugins::migration::BetterAuthCookies { secrets: b.secrets, cookie_name: b.cookie_name }),
            None => None,
        };
        let oauth = f.oauth.resolve(matches!(f.mode, Mode::Production))?;
        let ep = &f.email_password;
        let options = Options {
            oauth,
            base_url,
            base_path: f.base_path.trim_end_matches('/').to_owned(),
            secrets,
            trusted_origins: f.trusted_origins,
            app_name: f.app_name,
            session: SessionOptions {
                expires_in: f.session.expires_in.0,
                update_age: f.session.update_age.0,
                absolute_lifetime: f.session.absolute_lifetime.0,
                fresh_age: f.session.fresh_age.0,
                cache_ttl: f.session.cache_ttl.0,
            },
            jwt: kavach_core::JwtOptions { expires_in: f.jwt.expires_in.0, key_overlap: f.jwt.key_overlap.0, rotate_every: f.jwt.rotate_every.0 },
            password: PasswordPolicy { min_length: ep.min_password_length, max_length: ep.max_password_length, reject_common: ep.reject_common_passwords },
            email_password: EmailPasswordOptions {
                enabled: ep.enabled,
                require_email_verification: ep.require_email_verification,
                auto_sign_in: ep.auto_sign_in,
                auto_sign_in_after_verification: ep.auto_sign_in_after_verification,
                reset_token_ttl: ep.reset_token_ttl.0,
                verification_token_ttl: ep.verification_token_ttl.0,
            },
            rate_limit: rl,
            better_auth,
        };
        kavach::http::table::validate(&options).map_err(|e| anyhow!(e))?;
        kavach_core::email::parse_mailbox(&f.email.from).map_err(|e| anyhow!("email.from: {}", e.message))?;
        if f.mode == Mode::Production && f.email.smtp_url.is_none() {
            bail!(
                "no SMTP URL: production mode refuses the development outbox (it keeps sign-in links on disk and in the logs); set KAVACH_SMTP_URL or email.smtp_url"
            );
        }
        Ok(Config {
            mode: f.mode,
            listen,
            database_url,
            redis_url: f.redis_url,
            smtp_url: f.email.smtp_url,
            templates_dir: f.email.templates_dir,
            email_from: f.email.from,
            data_dir: f.data_dir,
            trusted_proxies,
            log: f.log,
            log_json,
            options,
            generated_secret,
            base_url_explicit,
            source,
        })
    }

    /// Follow the real listen address when no base URL was configured.
    pub fn set_bound_address(&mut self, addr: SocketAddr) {
        self.listen = addr;
        if !self.base_url_explicit {
            let host = if addr.ip().is_unspecified() || addr.ip().is_loopback() { "localhost".to_owned() } else { addr.ip().to_string() };
            self.options.base_url = format!("http://{host}:{}", addr.port());
        }
    }

    /// The mailer this configuration asks for.
    pub fn mailer(&self) -> Result<std::sync::Arc<dyn kavach::Mailer>> {
        Ok(match &self.smtp_url {
            Some(url) => std::sync::Arc::new(kavach::SmtpMailer::new(url, &self.email_from).map_err(|e| anyhow!("{}", e.message))?),
            None => std::sync::Arc::new(kavach::DevMailer::new(self.data_dir.join("outbox"))),
        })
    }

    /// A handle for this configuration.
    pub async fn kavach(&self, background: bool) -> Result<kavach::Kavach> {
        let mut b =
            kavach::Kavach::builder().database_url(&self.database_url).options(self.options.clone()).mailer_arc(self.mailer()?).background_tasks(background);
        if let Some(d) = &self.templates_dir {
            b = b.templates_dir(d);
        }
        if let Some(r) = &self.redis_url {
            b = b.redis_url(r);
        }
        for p in &self.trusted_proxies {
            b = b.trusted_proxy(*p);
        }
        b.build().await.map_err(|e| anyhow!("{}", e))
    }
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
    };
    #[cfg(not(unix))]
    let file = std::fs::File::create(path);
    file.and_then(|mut f| f.write_all(contents.as_bytes())).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(toml_text: &str) -> Result<Config> {
        let mut f: File = toml::from_str(toml_text).map_err(|e| anyhow!("{e}"))?;
        f.data_dir = std::env::temp_dir().join(format!("kavach-cfg-{}", kavach_core::crypto::new_id()));
        Config::resolve(f, None)
    }

    #[test]
    fn durations_and_rules() {
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604800));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("7w").unwrap_err().to_string().contains("unknown unit"));
        assert_eq!(parse_rule("10/1m").unwrap(), Rule::per_minute(10));
        assert!(parse_rule("ten").is_err());
    }

    #[test]
    fn errors_name_the_bad_value() {
        let e = from("listen = \"nope\"").err().unwrap().to_string();
        assert!(e.contains("listen") && e.contains("nope"), "{e}");
        let e = from("base_url = \"ftp://x\"").err().unwrap().to_string();
        assert!(e.contains("base_url"), "{e}");
        let e = from("sesion = {}").err().unwrap().to_string();
        assert!(e.contains("sesion"), "{e}");
        let e = from("[session]\nexpires_in = \"7 weeks\"").err().unwrap().to_string();
        assert!(e.contains("expires_in") || e.contains("7 weeks"), "{e}");
        let e = from("trusted_proxies = [\"10.0.0.0/99\"]").err().unwrap().to_string();
        assert!(e.contains("10.0.0.0/99"), "{e}");
        let e = from("[rate_limit.routes]\n\"/sign-in/emial\" = \"5/1m\"").err().unwrap().to_string();
        assert!(e.contains("/sign-in/emial") && e.contains("not a Kavach route"), "{e}");
        let e = from("trusted_origins = [\"https://app.example.com/path\"]").err().unwrap().to_string();
        assert!(e.contains("https://app.example.com/path"), "{e}");
        assert!(from("trusted_origins = [\"https://App.example.com/\"]").is_ok());
        let e = from("[email]\nfrom = \"not a mailbox\"").err().unwrap().to_string();
        assert!(e.contains("email.from"), "{e}");
        let e = from("[oauth]\naccess_token_ttl = \"7d\"").err().unwrap().to_string();
        assert!(e.contains("jwt.key_overlap") && e.contains("oauth.access_token_ttl"), "keys outlived by OAuth tokens: {e}");
        let e = from("[oauth]\nrefresh_grace = \"1d\"").err().unwrap().to_string();
        assert!(e.contains("oauth.refresh_grace"), "{e}");
        let e = from("[oauth]\ncode_ttl = \"0s\"").err().unwrap().to_string();
        assert!(e.contains("oauth.code_ttl"), "{e}");
        let e = from("[oauth]\ncode_ttl = \"1h\"").err().unwrap().to_string();
        assert!(e.contains("oauth.code_ttl"), "{e}");
        let e = from("[oauth]\naccess_token_alg = \"HS256\"").err().unwrap().to_string();
        assert!(e.contains("oauth.access_token_alg"), "{e}");
        let e = from("[[oauth.resources]]\nuri = \"https://mcp.example.com/mcp\"\nscopes = [\"openid\"]").err().unwrap().to_string();
        assert!(e.contains("oauth.resources"), "{e}");
        let e = from("mode = \"production\"\nsecrets = [\"Zq8v2LmN4xR7tY1uW3eK6oP9aS5dF0gH\"]\n[email]\nsmtp_url = \"smtp://mail:25\"\n[oauth]\nmetadata_documents_insecure = true")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("metadata_documents_insecure"), "{e}");
    }

    #[test]
    fn production_refuses_missing_or_weak_secrets() {
        let e = from("mode = \"production\"").err().unwrap().to_string();
        assert!(e.contains("KAVACH_SECRET"), "{e}");
        let e = from("mode = \"production\"\nsecrets = [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]").err().unwrap().to_string();
        assert!(e.contains("weak"), "{e}");
        let e = from("mode = \"production\"\nsecrets = [\"Zq8v2LmN4xR7tY1uW3eK6oP9aS5dF0gH\"]").err().unwrap().to_string();
        assert!(e.contains("SMTP"), "{e}");
        assert!(from("mode = \"production\"\nsecrets = [\"Zq8v2LmN4xR7tY1uW3eK6oP9aS5dF0gH\"]\n[email]\nsmtp_url = \"smtp://mail:25\"").is_ok());
    }

    #[test]
    fn development_generates_and_keeps_a_secret() {
        let c = from("").unwrap();
        let path = c.generated_secret.clone().unwrap();
        let again = Config::resolve(File { data_dir: c.data_dir.clone(), ..File::default() }, None).unwrap();
        assert_eq!(c.options.secrets, again.options.secrets);
        assert!(std::fs::read_to_string(&path).unwrap().len() >= 64);
        std::fs::remove_dir_all(&c.data_dir).unwrap();
    }
}
