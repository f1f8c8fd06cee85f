//! Reading configuration: built-in defaults, then a TOML file (`--config`, or
//! `KAVACH_CONFIG`, or `./kavach.toml` when it exists), then `KAVACH_*` environment
//! variables, then the checks (the core's [`Options::validate`], the route table's, and
//! the deployment's: production refuses the development outbox). The `kavach` binary
//! uses this loader; an app embedding Kavach gets the same one with
//! `Kavach::builder().from_env()?` or [`Settings::load`].
//!
//! The file's sections deserialize straight into the core's option structs; the keys
//! that are not core options (where to listen, the database, Redis, SMTP, the data
//! folder, logging) are [`Settings`]' own. Every error names the bad value and where it
//! came from (`config file kavach.toml: session.expires_in: "7 weeks" has an unknown
//! unit ...`, `KAVACH_LISTEN="nope": ...`).

use crate::Cidr;
use kavach_core::email::Mailer;
use kavach_core::options::{Mode, parse_duration};
use kavach_core::{Error, Options, Result};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What production mode says when mail would go to the development outbox.
pub(crate) const NO_SMTP: &str = "no SMTP URL: production mode refuses the development outbox (it keeps sign-in links on disk and in the logs); \
     set KAVACH_SMTP_URL or email.smtp_url (or give Kavach::builder() a mailer)";

/// What production mode says when phone-number codes would go to the development outbox.
pub(crate) const NO_SMS: &str = "no SMS URL: production mode refuses the development outbox for [phone_number] codes; \
     set KAVACH_SMS_URL or sms.url (or give Kavach::builder() an SMS sender)";

/// The keys of the file that are deployment settings, not core options.
const DEPLOYMENT_KEYS: &[&str] = &["listen", "database_url", "redis_url", "trusted_proxies", "data_dir", "log", "log_format", "email", "sms"];

/// A loaded configuration: the core's [`Options`] plus the deployment settings.
/// Hand it to [`crate::KavachBuilder::settings`].
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The core's options: every key of the file but the deployment keys below.
    #[serde(skip)]
    pub options: Options,
    /// `listen`: the address the server listens on. Default `127.0.0.1:3000`.
    #[serde(deserialize_with = "listen")]
    pub listen: SocketAddr,
    /// `database_url`; default `sqlite://<data_dir>/kavach.db` (see [`Settings::database_url`]).
    pub database_url: Option<String>,
    /// `redis_url`: rate-limit counters in Redis instead of the database.
    pub redis_url: Option<String>,
    /// `trusted_proxies`: addresses or CIDR blocks whose `X-Forwarded-For` is believed.
    #[serde(deserialize_with = "cidrs")]
    pub trusted_proxies: Vec<Cidr>,
    /// `data_dir`: the default SQLite database, the development secret and outbox.
    pub data_dir: PathBuf,
    /// `log`: a `tracing` filter. Default `info`.
    pub log: String,
    /// `log_format`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// `[email]`: how mail is sent.
    pub email: EmailSettings,
    /// `[sms]`: how phone-number codes are sent.
    pub sms: SmsSettings,
    /// `base_url` was given (otherwise it follows the listen address).
    #[serde(skip)]
    pub base_url_explicit: bool,
    /// Set when a development secret was generated or read from `<data_dir>/secret`.
    #[serde(skip)]
    pub generated_secret: Option<PathBuf>,
    /// The file read, if any.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `[email]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSettings {
    /// The sender mailbox. Default `Kavach <no-reply@localhost>`.
    pub from: String,
    /// `smtp://user:pass@host:587?tls=required`, `smtps://host:465`; none: the development outbox.
    pub smtp_url: Option<String>,
    /// A folder whose files replace the built-in email templates (and, in `pages/`, the pages').
    pub templates_dir: Option<PathBuf>,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings { from: "Kavach <no-reply@localhost>".into(), smtp_url: None, templates_dir: None }
    }
}

/// `[sms]`: the provider phone-number codes go out through (`[phone_number]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsSettings {
    /// The provider's message URL (Twilio:
    /// `https://api.twilio.com/2010-04-01/Accounts/<SID>/Messages.json`); none: the
    /// development outbox.
    pub url: Option<String>,
    /// The sender: a number in E.164 form or a sender name the provider allows.
    pub from: String,
    /// `twilio` (a form, the default) or `json`.
    pub format: crate::sms::SmsFormat,
    /// HTTP Basic user (Twilio: the account SID).
    pub username: Option<String>,
    /// HTTP Basic password (Twilio: the auth token); better from `KAVACH_SMS_PASSWORD`.
    pub password: Option<String>,
    /// A bearer token instead (`KAVACH_SMS_TOKEN`).
    pub token: Option<String>,
}

/// The shape of log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            options: Options::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: None,
            redis_url: None,
            trusted_proxies: vec![],
            data_dir: "kavach-data".into(),
            log: "info".into(),
            log_format: LogFormat::Text,
            email: EmailSettings::default(),
            sms: SmsSettings::default(),
            base_url_explicit: false,
            generated_secret: None,
            source: None,
        }
    }
}

fn parse_listen(s: &str) -> std::result::Result<SocketAddr, String> {
    s.trim().parse().map_err(|_| format!("{s:?}: not an address:port (example: 127.0.0.1:3000)"))
}

fn listen<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<SocketAddr, D::Error> {
    parse_listen(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn cidrs<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<Cidr>, D::Error> {
    Vec::<String>::deserialize(d)?.iter().map(|s| s.parse::<Cidr>().map_err(serde::de::Error::custom)).collect()
}

fn config_error(source: &str, message: impl std::fmt::Display) -> Error {
    Error::config(format!("{source}: {message}"))
}

/// Deserialize `value`, naming the key of an error (`session.expires_in: ...`).
fn deserialize<T: DeserializeOwned>(value: toml::Table) -> std::result::Result<T, String> {
    serde_path_to_error::deserialize(toml::Value::Table(value)).map_err(|e| {
        let mut path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let inner = inner.trim_end();
        // An unknown key is named by the message: name the table it is in.
        if inner.starts_with("unknown field") {
            path = path.rsplit_once('.').map(|(table, _)| table.to_owned()).unwrap_or_default();
        }
        if path.is_empty() || path == "." { inner.to_owned() } else { format!("{path}: {inner}") }
    })
}

/// Keys renamed since the first releases, still accepted: `[email_password]`'s
/// `min_password_length`, `max_password_length` and `reject_common_passwords` are
/// `[password]`'s `min_length`, `max_length` and `reject_common`.
fn rename_old_keys(table: &mut toml::Table) -> std::result::Result<(), String> {
    let Some(toml::Value::Table(ep)) = table.get_mut("email_password") else { return Ok(()) };
    let mut moved = toml::Table::new();
    for (old, new) in [("min_password_length", "min_length"), ("max_password_length", "max_length"), ("reject_common_passwords", "reject_common")] {
        if let Some(v) = ep.remove(old) {
            moved.insert(new.into(), v);
        }
    }
    if moved.is_empty() {
        return Ok(());
    }
    match table.entry("password").or_insert_with(|| toml::Value::Table(toml::Table::new())) {
        toml::Value::Table(p) => {
            for (k, v) in moved {
                if p.contains_key(&k) {
                    return Err(format!("password.{k} is set twice (also by its old name in [email_password])"));
                }
                p.insert(k, v);
            }
            Ok(())
        }
        _ => Err("password: expected a table".into()),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn list(v: &str) -> Vec<String> {
    v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

impl Settings {
    /// Load the configuration: defaults, then the TOML file at `path` (or `KAVACH_CONFIG`,
    /// or `./kavach.toml` when it exists), then the `KAVACH_*` environment variables, then
    /// the checks. In development with no secret, a generated one is kept in
    /// `<data_dir>/secret`.
    pub fn load(path: Option<&Path>) -> Result<Settings> {
        Self::load_with(path, &env_var)
    }

    /// [`Settings::load`] with no explicit file: `KAVACH_CONFIG`, `./kavach.toml`, the environment.
    pub fn from_env() -> Result<Settings> {
        Self::load(None)
    }

    /// Read a TOML text (no environment, no checks yet: see [`Settings::finish`]).
    pub fn from_toml(text: &str) -> Result<Settings> {
        Self::parse(text).map_err(Error::config)
    }

    fn parse(text: &str) -> std::result::Result<Settings, String> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        rename_old_keys(&mut table)?;
        let mut deployment = toml::Table::new();
        for key in DEPLOYMENT_KEYS {
            if let Some(v) = table.remove(*key) {
                deployment.insert((*key).to_owned(), v);
            }
        }
        let base_url_explicit = table.contains_key("base_url");
        let mut settings: Settings = deserialize(deployment)?;
        settings.options = deserialize(table)
            .map_err(|e| if e.starts_with("unknown field") { format!("{e} (or a deployment key: {})", DEPLOYMENT_KEYS.join(", ")) } else { e })?;
        settings.base_url_explicit = base_url_explicit;
        Ok(settings)
    }

    pub(crate) fn load_with(path: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings> {
        let s = Self::read_with(path, env)?;
        s.validate()?;
        Ok(s)
    }

    /// The file and the environment, completed (see [`Settings::complete`]) but not yet
    /// checked: for [`crate::KavachBuilder::from_env`], whose `build()` checks the result
    /// once the builder's own secret, mailer and setters are in.
    pub(crate) fn read_env() -> Result<Settings> {
        Self::read_with(None, &env_var)
    }

    fn read_with(path: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings> {
        let path = path.map(Path::to_path_buf).or_else(|| env("KAVACH_CONFIG").map(PathBuf::from)).or_else(|| {
            let p = PathBuf::from("kavach.toml");
            p.exists().then_some(p)
        });
        let mut s = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| Error::config(format!("cannot read config file {}: {e}", p.display())))?;
                Self::parse(&text).map_err(|e| config_error(&format!("config file {}", p.display()), e))?
            }
            None => Settings::default(),
        };
        s.source = path;
        s.apply_env(env)?;
        s.complete()?;
        Ok(s)
    }

    /// Apply the `KAVACH_*` variables `env` gives (an empty value counts as unset).
    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let bad = |name: &str, v: &str, why: &str| Error::config(format!("{name}={v:?}: {why}"));
        let boolean = |name: &str| -> Result<Option<bool>> {
            match env(name) {
                None => Ok(None),
                Some(v) => match v.to_ascii_lowercase().as_str() {
                    "1" | "true" | "on" | "yes" => Ok(Some(true)),
                    "0" | "false" | "off" | "no" => Ok(Some(false)),
                    _ => Err(bad(name, &v, "expected true or false")),
                },
            }
        };
        let o = &mut self.options;
        if let Some(v) = env("KAVACH_MODE") {
            o.mode = v.parse::<Mode>().map_err(|e| config_error("KAVACH_MODE", e))?;
        }
        if let Some(v) = env("KAVACH_LISTEN") {
            self.listen = parse_listen(&v).map_err(|e| config_error("KAVACH_LISTEN", e))?;
        }
        if let Some(v) = env("KAVACH_BASE_URL") {
            o.base_url = v;
            self.base_url_explicit = true;
        }
        if let Some(v) = env("KAVACH_BASE_PATH") {
            o.base_path = v;
        }
        if let Some(v) = env("KAVACH_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = env("KAVACH_SECRET") {
            o.secrets = list(&v);
        }
        if let Some(v) = env("KAVACH_REDIS_URL") {
            self.redis_url = Some(v);
        }
        if let Some(v) = env("KAVACH_SMTP_URL") {
            self.email.smtp_url = Some(v);
        }
        if let Some(v) = env("KAVACH_EMAIL_FROM") {
            self.email.from = v;
        }
        if let Some(v) = env("KAVACH_SMS_URL") {
            self.sms.url = Some(v);
        }
        if let Some(v) = env("KAVACH_SMS_PASSWORD") {
            self.sms.password = Some(v);
        }
        if let Some(v) = env("KAVACH_SMS_TOKEN") {
            self.sms.token = Some(v);
        }
        if let Some(v) = env("KAVACH_TRUSTED_ORIGINS") {
            o.trusted_origins = list(&v);
        }
        if let Some(v) = env("KAVACH_TRUSTED_PROXIES") {
            self.trusted_proxies =
                list(&v).iter().map(|p| p.parse::<Cidr>()).collect::<std::result::Result<_, _>>().map_err(|e| config_error("KAVACH_TRUSTED_PROXIES", e))?;
        }
        if let Some(v) = env("KAVACH_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = env("KAVACH_LOG") {
            self.log = v;
        }
        if let Some(v) = env("KAVACH_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(bad("KAVACH_LOG_FORMAT", &v, "expected text or json")),
            };
        }
        if let Some(v) = boolean("KAVACH_REQUIRE_EMAIL_VERIFICATION")? {
            o.email_password.require_email_verification = v;
        }
        if let Some(v) = boolean("KAVACH_RATE_LIMIT")? {
            o.rate_limit.enabled = v;
        }
        if let Some(v) = env("KAVACH_BETTER_AUTH_SECRET") {
            o.better_auth.get_or_insert_with(Default::default).secrets = list(&v);
        }
        if let Some(v) = env("KAVACH_BETTER_AUTH_COOKIE") {
            o.better_auth.get_or_insert_with(Default::default).cookie_name = v;
        }
        if let Some(v) = env("KAVACH_SESSION_CACHE_TTL") {
            o.session.cache_ttl = parse_duration(&v).map_err(|e| config_error("KAVACH_SESSION_CACHE_TTL", e))?;
        }
        Ok(())
    }

    /// Complete and check the settings: [`Settings::complete`], then
    /// [`Settings::validate`]. [`Settings::load`] calls it.
    pub fn finish(&mut self) -> Result<()> {
        self.complete()?;
        self.validate()
    }

    /// Complete the settings: trailing slashes go, the base URL follows the listen address
    /// unless one was given, and in development a secret is generated when none is set
    /// (kept in `<data_dir>/secret`, and named in `generated_secret`).
    pub fn complete(&mut self) -> Result<()> {
        let o = &mut self.options;
        o.base_url = o.base_url.trim_end_matches('/').to_owned();
        o.base_path = o.base_path.trim_end_matches('/').to_owned();
        if !self.base_url_explicit {
            o.base_url = url_of(self.listen);
        }
        if o.secrets.is_empty() && o.mode == Mode::Development {
            let path = self.data_dir.join("secret");
            let secret = match std::fs::read_to_string(&path) {
                Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
                _ => {
                    std::fs::create_dir_all(&self.data_dir).map_err(|e| Error::config(format!("cannot create data_dir {}: {e}", self.data_dir.display())))?;
                    let s = kavach_core::crypto::random_token() + &kavach_core::crypto::random_token();
                    write_private(&path, &s)?;
                    s
                }
            };
            o.secrets = vec![secret];
            self.generated_secret = Some(path);
        }
        Ok(())
    }

    /// Every check: the core's options, the route table, and the deployment settings.
    pub fn validate(&self) -> Result<()> {
        self.options.validate()?;
        crate::http::table::validate(&self.options).map_err(Error::config)?;
        self.check_deployment()?;
        if self.options.mode == Mode::Production && self.email.smtp_url.is_none() {
            return Err(Error::config(NO_SMTP));
        }
        if self.options.mode == Mode::Production && self.options.phone_number.enabled && self.sms.url.is_none() {
            return Err(Error::config(NO_SMS));
        }
        Ok(())
    }

    /// The checks of the deployment settings (not of the core's options).
    pub(crate) fn check_deployment(&self) -> Result<()> {
        kavach_core::email::parse_mailbox(&self.email.from).map_err(|e| config_error("email.from", e.message))?;
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(Error::config(format!("redis_url = {:?}: expected redis://host:port", kavach_core::redact_url(url))));
        }
        Ok(())
    }

    /// The database URL: `database_url`, or the SQLite file `<data_dir>/kavach.db`.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("kavach.db").display()))
    }

    /// Follow the real listen address (port 0 picks one) when no base URL was configured.
    pub fn set_bound_address(&mut self, addr: SocketAddr) {
        self.listen = addr;
        if !self.base_url_explicit {
            self.options.base_url = url_of(addr);
        }
    }

    /// The SMS sender these settings ask for: the provider's HTTP API, or the development
    /// outbox in `<data_dir>/outbox`.
    pub fn sms(&self) -> Result<Arc<dyn kavach_core::sms::SmsSender>> {
        let s = &self.sms;
        Ok(match &s.url {
            Some(url) => {
                let auth = match (&s.username, &s.password, &s.token) {
                    (Some(u), Some(p), None) => crate::sms::SmsAuth::Basic { username: u.clone(), password: p.clone() },
                    (None, None, Some(t)) => crate::sms::SmsAuth::Bearer(t.clone()),
                    (None, None, None) => crate::sms::SmsAuth::None,
                    _ => return Err(Error::config("[sms]: give username and password (HTTP Basic), or token (Bearer), not both")),
                };
                if s.from.is_empty() {
                    return Err(Error::config("[sms] from: the sender number or name is required with sms.url"));
                }
                Arc::new(crate::sms::HttpSms::new(url, &s.from, s.format, auth)?)
            }
            None => Arc::new(kavach_core::sms::DevSms::new(self.data_dir.join("outbox"))),
        })
    }

    /// The mailer these settings ask for: SMTP, or the development outbox in `<data_dir>/outbox`.
    pub fn mailer(&self) -> Result<Arc<dyn Mailer>> {
        Ok(match &self.email.smtp_url {
            Some(url) => Arc::new(kavach_core::email::SmtpMailer::new(url, &self.email.from)?),
            None => Arc::new(kavach_core::email::DevMailer::new(self.data_dir.join("outbox"))),
        })
    }
}

/// `http://localhost:PORT` for a loopback or unspecified address, else `http://IP:PORT`.
fn url_of(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() || addr.ip().is_loopback() { "localhost".to_owned() } else { addr.ip().to_string() };
    format!("http://{host}:{}", addr.port())
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
    file.and_then(|mut f| f.write_all(contents.as_bytes())).map_err(|e| Error::config(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("kavach-cfg-{}", kavach_core::crypto::new_id()))
    }

    /// Load `toml_text` as the config file, with `vars` as the whole environment.
    fn load(toml_text: &str, vars: &[(&str, &str)]) -> Result<Settings> {
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("kavach.toml");
        std::fs::write(&file, format!("data_dir = {:?}\n{toml_text}", dir.join("data").display().to_string())).unwrap();
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::load_with(Some(&file), &|name| vars.get(name).cloned())
    }

    fn from(toml_text: &str) -> Result<Settings> {
        load(toml_text, &[])
    }

    fn err(r: Result<Settings>) -> String {
        match r {
            Ok(_) => panic!("accepted"),
            Err(e) => e.message.into_owned(),
        }
    }

    const STRONG: &str = "secrets = [\"Zq8v2LmN4xR7tY1uW3eK6oP9aS5dF0gH\"]\n";

    #[test]
    fn errors_name_the_bad_value() {
        let e = err(from("listen = \"nope\""));
        assert!(e.contains("listen") && e.contains("nope"), "{e}");
        let e = err(from("base_url = \"ftp://x\""));
        assert!(e.contains("base_url") && e.contains("ftp://x"), "{e}");
        let e = err(from("[session]\nexpires_in = \"7 weeks\""));
        assert!(e.contains("session.expires_in") && e.contains("7 weeks"), "{e}");
        let e = err(from("trusted_proxies = [\"10.0.0.0/99\"]"));
        assert!(e.contains("trusted_proxies") && e.contains("10.0.0.0/99"), "{e}");
        let e = err(from("[rate_limit.routes]\n\"/sign-in/emial\" = \"5/1m\""));
        assert!(e.contains("/sign-in/emial") && e.contains("not a Kavach route"), "{e}");
        let e = err(from("[rate_limit.routes]\n\"/sign-in/email\" = \"lots\""));
        assert!(e.contains("rate_limit.routes") && e.contains("lots"), "{e}");
        let e = err(from("trusted_origins = [\"https://app.example.com/path\"]"));
        assert!(e.contains("https://app.example.com/path"), "{e}");
        assert!(from("trusted_origins = [\"https://App.example.com/\"]").is_ok());
        let e = err(from("[email]\nfrom = \"not a mailbox\""));
        assert!(e.contains("email.from"), "{e}");
        let e = err(from("[oauth]\naccess_token_ttl = \"7d\""));
        assert!(e.contains("jwt.key_overlap") && e.contains("oauth.access_token_ttl"), "keys outlived by OAuth tokens: {e}");
        let e = err(from("[oauth]\nrefresh_grace = \"1d\""));
        assert!(e.contains("oauth.refresh_grace"), "{e}");
        let e = err(from("[oauth]\ncode_ttl = \"0s\""));
        assert!(e.contains("oauth.code_ttl"), "{e}");
        let e = err(from("[oauth]\ncode_ttl = \"1h\""));
        assert!(e.contains("oauth.code_ttl"), "{e}");
        let e = err(from("[oauth]\naccess_token_alg = \"HS256\""));
        assert!(e.contains("oauth.access_token_alg") && e.contains("HS256"), "{e}");
        let e = err(from("[[oauth.resources]]\nuri = \"https://mcp.example.com/mcp\"\nscopes = [\"openid\"]"));
        assert!(e.contains("oauth.resources"), "{e}");
        let e = err(from("[password]\nmin_length = 4"));
        assert!(e.contains("password.min_length = 4"), "{e}");
        let e = err(from("log_format = \"xml\""));
        assert!(e.contains("log_format") && e.contains("xml"), "{e}");
        let e = err(from("redis_url = \"http://cache\""));
        assert!(e.contains("redis_url"), "{e}");
        let e = err(from("[external_auth.better_auth]\ncookie_name = \"x\""));
        assert!(e.contains("external_auth.better_auth") && e.contains("secrets"), "{e}");
        let e = err(from(&format!("mode = \"production\"\n{STRONG}[email]\nsmtp_url = \"smtp://mail:25\"\n[oauth]\nmetadata_documents_insecure = true")));
        assert!(e.contains("metadata_documents_insecure"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let e = err(from("sesion = {}"));
        assert!(e.contains("sesion") && e.contains("listen"), "{e}");
        let e = err(from("[session]\nexpire_in = \"1d\""));
        assert!(e.contains("expire_in") && e.contains("session"), "{e}");
        let e = err(from("[email]\nsmtp = \"smtp://mail\""));
        assert!(e.contains("email") && e.contains("smtp"), "{e}");
        let e = err(from("[external_auth.better_auht]\nsecrets = [\"x\"]"));
        assert!(e.contains("better_auht"), "{e}");
    }

    #[test]
    fn the_file_reads_into_the_core_options() {
        let s = from(
            "app_name = \"Example\"\nbase_url = \"https://auth.example.com/\"\nbase_path = \"/auth/\"\n\
             [session]\nexpires_in = \"2d\"\ncache_ttl = 0\n[jwt]\nexpires_in = \"5m\"\n[password]\nmin_length = 12\n\
             [email_password]\nreset_token_ttl = \"30m\"\n[rate_limit]\naccount_failures = \"5/15m\"\n[rate_limit.routes]\n\"/sign-in/email\" = \"20/1m\"\n\
             [oauth]\naccess_token_alg = \"ES256\"\n[[oauth.resources]]\nuri = \"https://mcp.example.com/mcp\"\nscopes = [\"notes:read\"]\n\
             [oauth.scope_descriptions]\n\"notes:read\" = \"Read your notes\"\n[external_auth.better_auth]\nsecrets = [\"better-auth-secret\"]\n",
        )
        .unwrap();
        let o = &s.options;
        assert_eq!(o.app_name, "Example");
        assert_eq!((o.base_url.as_str(), o.base_path.as_str()), ("https://auth.example.com", "/auth"));
        assert_eq!(o.session.expires_in.as_secs(), 2 * 86400);
        assert!(o.session.cache_ttl.is_zero());
        assert_eq!(o.jwt.expires_in.as_secs(), 300);
        assert_eq!(o.password.min_length, 12);
        assert_eq!(o.email_password.reset_token_ttl.as_secs(), 1800);
        assert_eq!(o.rate_limit.account_failures.max, 5);
        assert_eq!(o.rate_limit.routes, vec![("/sign-in/email".to_owned(), kavach_core::ratelimit::Rule::per_minute(20))]);
        assert_eq!(o.oauth.access_token_alg, kavach_core::Alg::ES256);
        assert_eq!(o.oauth.resources.first().map(|r| r.scopes.clone()), Some(vec!["notes:read".to_owned()]));
        assert_eq!(o.oauth.describe("notes:read"), "Read your notes");
        assert_eq!(o.better_auth.as_ref().map(|b| b.cookie_name.as_str()), Some("better-auth.session_token"));
    }

    #[test]
    fn old_password_keys_are_still_read() {
        let s = from("[email_password]\nmin_password_length = 16\nreject_common_passwords = false\nauto_sign_in = false").unwrap();
        assert_eq!(s.options.password.min_length, 16);
        assert!(!s.options.password.reject_common);
        assert!(!s.options.email_password.auto_sign_in);
        let e = err(from("[email_password]\nmin_password_length = 16\n[password]\nmin_length = 20"));
        assert!(e.contains("password.min_length"), "{e}");
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let s = load(
            "listen = \"127.0.0.1:4000\"\nsecrets = [\"from-the-file-0123456789\"]\n[session]\ncache_ttl = \"10s\"\n[rate_limit]\nenabled = true",
            &[
                ("KAVACH_LISTEN", "0.0.0.0:5000"),
                ("KAVACH_SECRET", "from-the-environment-0123, older-secret-0123456789"),
                ("KAVACH_SESSION_CACHE_TTL", "0"),
                ("KAVACH_RATE_LIMIT", "off"),
                ("KAVACH_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
                ("KAVACH_BASE_PATH", ""),
            ],
        )
        .unwrap();
        assert_eq!(s.listen.port(), 5000);
        assert_eq!(s.options.base_url, "http://localhost:5000", "the base URL follows the listen address");
        assert_eq!(s.options.secrets, vec!["from-the-environment-0123", "older-secret-0123456789"]);
        assert!(s.options.session.cache_ttl.is_zero());
        assert!(!s.options.rate_limit.enabled);
        assert_eq!(s.trusted_proxies.len(), 2);
        assert_eq!(s.options.base_path, "/api/kavach", "an empty variable counts as unset");
        let e = err(load("", &[("KAVACH_LISTEN", "not-an-address")]));
        assert!(e.contains("KAVACH_LISTEN") && e.contains("not-an-address"), "{e}");
        let e = err(load("", &[("KAVACH_RATE_LIMIT", "maybe")]));
        assert!(e.contains("KAVACH_RATE_LIMIT") && e.contains("maybe"), "{e}");
        let e = err(load("", &[("KAVACH_MODE", "staging")]));
        assert!(e.contains("KAVACH_MODE") && e.contains("staging"), "{e}");
        let e = err(load("", &[("KAVACH_BETTER_AUTH_COOKIE", "ba.session")]));
        assert!(e.contains("KAVACH_BETTER_AUTH_SECRET"), "{e}");
    }

    #[test]
    fn production_refuses_missing_or_weak_secrets() {
        let e = err(from("mode = \"production\""));
        assert!(e.contains("KAVACH_SECRET"), "{e}");
        let e = err(from("mode = \"production\"\nsecrets = [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]"));
        assert!(e.contains("weak"), "{e}");
        let e = err(from(&format!("mode = \"production\"\n{STRONG}")));
        assert!(e.contains("SMTP"), "{e}");
        let e = err(load(STRONG, &[("KAVACH_MODE", "prod")]));
        assert!(e.contains("SMTP"), "{e}");
        let s = from(&format!("mode = \"production\"\n{STRONG}[email]\nsmtp_url = \"smtp://mail:25\"")).unwrap();
        assert_eq!(s.options.mode, Mode::Production);
    }

    #[test]
    fn development_generates_and_keeps_a_secret() {
        let s = from("").unwrap();
        let path = s.generated_secret.clone().unwrap();
        let mut again = Settings { data_dir: s.data_dir.clone(), ..Settings::default() };
        again.finish().unwrap();
        assert_eq!(s.options.secrets, again.options.secrets);
        assert!(std::fs::read_to_string(&path).unwrap().len() >= 64);
        std::fs::remove_dir_all(s.data_dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn builder_setters_merge_in_any_order() {
        use crate::{Kavach, OAuthOptions, SessionOptions};
        let secret = "a-long-enough-development-secret";
        let base = Options { app_name: "Base".into(), ..Options::default() };
        for o in [
            Kavach::builder().secret(secret).options(base.clone()).resolved_options(),
            Kavach::builder().options(base.clone()).secret(secret).resolved_options(),
        ] {
            assert_eq!((o.app_name.as_str(), o.secrets.as_slice()), ("Base", [secret.to_owned()].as_slice()), "options() keeps the secret");
        }
        let oauth = OAuthOptions { access_token_ttl: std::time::Duration::from_secs(600), ..OAuthOptions::default() };
        let session = SessionOptions { expires_in: std::time::Duration::from_secs(3600), ..SessionOptions::default() };
        for o in [
            Kavach::builder().oauth(oauth.clone()).session(session.clone()).options(base.clone()).resolved_options(),
            Kavach::builder().options(base.clone()).session(session.clone()).oauth(oauth.clone()).resolved_options(),
        ] {
            assert_eq!(o.oauth.access_token_ttl.as_secs(), 600);
            assert_eq!(o.session.expires_in.as_secs(), 3600);
            assert_eq!(o.app_name, "Base");
        }
        // Settings are a base too: setters override them whatever the order.
        let settings = from("app_name = \"From the file\"\n[session]\nexpires_in = \"2d\"").unwrap();
        let o = Kavach::builder().session(session.clone()).settings(settings.clone()).resolved_options();
        assert_eq!((o.app_name.as_str(), o.session.expires_in.as_secs()), ("From the file", 3600));
        std::fs::remove_dir_all(settings.data_dir.parent().unwrap()).unwrap();
    }

    async fn build_error(b: crate::KavachBuilder) -> String {
        // Refused before the database is opened.
        match b.migrate(false).background_tasks(false).database_url("sqlite://never-opened/k.db").build().await {
            Ok(_) => panic!("built"),
            Err(e) => e.message.to_string(),
        }
    }

    #[tokio::test]
    async fn the_builder_gives_the_binarys_refusals() {
        use crate::{DevMailer, Kavach};
        let strong = "Zq8v2LmN4xR7tY1uW3eK6oP9aS5dF0gH";
        let e = build_error(Kavach::builder().mode(Mode::Production).secret(strong)).await;
        assert!(e.contains("no SMTP URL") && e.contains("development outbox"), "no mailer: {e}");
        let e = build_error(Kavach::builder().mode(Mode::Production).secret(strong).mailer(DevMailer::new("outbox"))).await;
        assert!(e.contains("no SMTP URL") && e.contains("development outbox"), "DevMailer: {e}");
        let e = build_error(Kavach::builder().mode(Mode::Production).secret("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")).await;
        assert!(e.contains("weak"), "{e}");
        let e =
            build_error(Kavach::builder().secret(strong).oauth(crate::OAuthOptions { code_ttl: std::time::Duration::from_secs(3600), ..Default::default() }))
                .await;
        assert!(e.contains("oauth.code_ttl"), "{e}");
        let mut rl = crate::RateLimitOptions::default();
        rl.routes.push(("/sign-in/emial".into(), kavach_core::ratelimit::Rule::per_minute(5)));
        let e = build_error(Kavach::builder().secret(strong).rate_limit(rl)).await;
        assert!(e.contains("/sign-in/emial"), "{e}");
        // The same settings with SMTP (a test mailer here) are accepted.
        let db = kavach_testkit::TestDb::sqlite().await;
        let ok = Kavach::builder()
            .mode(Mode::Production)
            .secret(strong)
            .mailer(kavach_testkit::CaptureMailer::default())
            .migrate(true)
            .background_tasks(false)
            .database_url(&db.url)
            .build()
            .await;
        assert!(ok.is_ok(), "{:?}", ok.err());
    }

    /// Found in review: `options(..)` after `from_env()` dropped the loaded mode, secrets
    /// and base URL; a development secret the settings generated passed in production;
    /// a builder secret did not sign ahead of the generated one.
    #[tokio::test]
    async fn the_builder_combines_settings_without_dropping_or_weakening_them() {
        use crate::Kavach;
        let strong = "Zq8v2LmN4xR7tY1uW3eK6oP9aS5dF0gH";
        let mut settings = from("").unwrap();
        settings.complete().unwrap();
        assert!(settings.generated_secret.is_some());
        let e = build_error(Kavach::builder().settings(settings.clone()).options(Options::default())).await;
        assert!(e.contains("options(..) and settings(..)"), "{e}");
        // Production with only the generated development secret: refused like the binary.
        let e = build_error(Kavach::builder().settings(settings.clone()).mode(Mode::Production).mailer(kavach_testkit::CaptureMailer::default())).await;
        assert!(e.contains("KAVACH_SECRET"), "{e}");
        // A builder secret replaces the generated one (and signs).
        let o = Kavach::builder().settings(settings.clone()).secret(strong).resolved_options();
        assert_eq!(o.secrets, vec![strong.to_owned()]);
        // A configured secret stays first; the builder's is added for rotation.
        let mut configured = from("secrets = [\"configured-secret-0123456789abcdef\"]").unwrap();
        configured.complete().unwrap();
        let o = Kavach::builder().settings(configured.clone()).secret(strong).resolved_options();
        assert_eq!(o.secrets, vec!["configured-secret-0123456789abcdef".to_owned(), strong.to_owned()]);
        // Deployment checks run for settings that were never validated.
        let mut bad = configured.clone();
        bad.redis_url = Some("http://cache:6379".into());
        let e = build_error(Kavach::builder().settings(bad)).await;
        assert!(e.contains("redis_url"), "{e}");
        std::fs::remove_dir_all(settings.data_dir.parent().unwrap()).unwrap();
        std::fs::remove_dir_all(configured.data_dir.parent().unwrap()).ok();
    }
}
