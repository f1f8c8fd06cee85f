//! Reading and checking [`Options`]: the serde helpers that let every option struct
//! deserialize straight from a configuration file (durations such as `"15m"`, rate-limit
//! rules such as `"10/1m"`, tables read as lists), the deployment [`Mode`], and
//! [`Options::validate`], the one place that refuses bad options, for the server's
//! loader and for `Kavach::builder()` alike.
//!
//! Errors name the key and the bad value (`oauth.code_ttl = 3600s: ...`).

use crate::error::{Error, Result};
use crate::plugins::migration::BetterAuthCookies;
use crate::ratelimit::Rule;
use crate::{Options, password, plugins};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How strict Kavach is about its configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Generated secrets and the development outbox are allowed. The default.
    #[default]
    #[serde(alias = "dev")]
    Development,
    /// Refuses a missing or weak secret, the development outbox (no mailer) and
    /// development allowances such as `oauth.metadata_documents_insecure`.
    #[serde(alias = "prod")]
    Production,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Mode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Mode::Development),
            "production" | "prod" => Ok(Mode::Production),
            _ => Err(format!("{s:?}: expected development or production")),
        }
    }
}

/// A duration written `30s`, `15m`, `1h`, `7d`, or a number of seconds (`"90"`).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a duration (examples: 30s, 15m, 1h, 7d)"))?;
    let mult = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        u => return Err(format!("{s:?} has an unknown unit {u:?} (use s, m, h or d)")),
    };
    n.checked_mul(mult).map(Duration::from_secs).ok_or_else(|| format!("{s:?} is too long"))
}

/// A rate-limit rule written `max/window`, e.g. `10/1m`.
pub fn parse_rule(s: &str) -> std::result::Result<Rule, String> {
    let (max, window) = s.split_once('/').ok_or_else(|| format!("{s:?} is not a rate-limit rule (example: 10/1m)"))?;
    let max: u32 = max.trim().parse().map_err(|_| format!("{s:?}: {max:?} is not a count"))?;
    Ok(Rule { max, window: parse_duration(window)? })
}

/// `deserialize_with` for a [`Duration`]: a string as [`parse_duration`] reads it, or an
/// integer number of seconds.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration such as \"30s\", \"15m\", \"1h\", \"7d\" or a number of seconds")
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> std::result::Result<Duration, E> {
            Ok(Duration::from_secs(n))
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> std::result::Result<Duration, E> {
            u64::try_from(n).map(Duration::from_secs).map_err(|_| E::custom(format!("{n} is not a duration (it is negative)")))
        }
        fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Duration, E> {
            parse_duration(s).map_err(E::custom)
        }
    }
    d.deserialize_any(V)
}

/// `deserialize_with` for an optional [`Duration`] (see [`duration`]); absent: `None`.
pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_rule(&s).map_err(de::Error::custom)
    }
}

/// `deserialize_with` for a list of pairs written as a table (`"key" = value`).
pub fn table_as_pairs<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Vec<(String, T)>, D::Error> {
    let map = std::collections::BTreeMap::<String, T>::deserialize(d)?;
    Ok(map.into_iter().collect())
}

/// `deserialize_with` for `Options::better_auth`, written `[external_auth.better_auth]`.
pub(crate) fn external_auth<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<BetterAuthCookies>, D::Error> {
    /// The `[external_auth]` table: the systems whose sessions are accepted during a migration.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ExternalAuth {
        #[serde(default)]
        better_auth: Option<BetterAuthCookies>,
    }
    Ok(ExternalAuth::deserialize(d)?.better_auth)
}

fn refuse<T>(message: String) -> Result<T> {
    Err(Error::config(message))
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

impl Options {
    /// Check the options as a whole: every refusal names its key and the bad value. In
    /// production mode also refuses a missing or weak secret and development allowances.
    /// `Kavach::builder().build()` and the configuration loader call it.
    pub fn validate(&self) -> Result<()> {
        let production = self.mode == Mode::Production;
        let u = self.base_url.trim_end_matches('/');
        if !(u.starts_with("http://") || u.starts_with("https://")) || crate::origin_of(u).is_none() {
            return refuse(format!("base_url = {:?}: expected an absolute http(s) URL such as https://auth.example.com", self.base_url));
        }
        let p = &self.base_path;
        if !p.is_empty() && (!p.starts_with('/') || p.contains(['?', '#', ' '])) {
            return refuse(format!("base_path = {p:?}: expected a path such as /api/kavach"));
        }
        for o in &self.trusted_origins {
            if crate::origin_of(o).as_deref() != Some(o.trim_end_matches('/').to_ascii_lowercase().as_str()) {
                return refuse(format!("trusted_origins: {o:?} is not an origin (example: https://app.example.com)"));
            }
        }
        self.validate_secrets(production)?;
        let (min, max) = (self.password.min_length, self.password.max_length);
        let lowest = password::LOWEST_MIN_LENGTH;
        if min < lowest {
            return refuse(format!(
                "password.min_length = {min}: must be at least {lowest} (NIST SP 800-63B-4; 15, the default, for passwords that are the only factor)"
            ));
        }
        if max < min {
            return refuse(format!("password.max_length = {max}: must be at least password.min_length ({min})"));
        }
        let longest = self.jwt.expires_in.max(self.oauth.access_token_ttl);
        if self.jwt.key_overlap <= longest {
            return refuse(format!(
                "jwt.key_overlap = {}: must be longer than jwt.expires_in and oauth.access_token_ttl (the same keys sign both; the longer is {}), \
                 or tokens would outlive the key that verifies them",
                secs(self.jwt.key_overlap),
                secs(longest)
            ));
        }
        if let Some(b) = &self.better_auth {
            if b.secrets.is_empty() {
                return refuse("external_auth.better_auth: set `secrets` (or KAVACH_BETTER_AUTH_SECRET) to better-auth's secret".into());
            }
            if b.cookie_name.is_empty() || b.cookie_name.contains([';', '=', ' ', ',']) {
                return refuse(format!("external_auth.better_auth.cookie_name = {:?}: not a cookie name", b.cookie_name));
            }
        }
        self.organization.validate().map_err(Error::config)?;
        self.admin.validate().map_err(Error::config)?;
        self.agents.validate().map_err(Error::config)?;
        if let Some(problem) = self
            .two_factor
            .problems()
            .into_iter()
            .next()
            .or_else(|| self.magic_link.problems())
            .or_else(|| self.email_otp.problems())
            .or_else(|| self.anonymous.problems())
            .or_else(|| self.phone_number.problems())
            .or_else(|| self.api_key.problems())
            .or_else(|| self.siwe.problems())
            .or_else(|| self.passkey.problems(&self.base_url))
            .or_else(|| self.one_tap.problems())
            .or_else(|| self.user.problems())
            .or_else(|| self.jwt.problems())
            .or_else(|| self.username.problems())
        {
            return refuse(problem);
        }
        self.validate_oauth(production)
    }

    fn validate_secrets(&self, production: bool) -> Result<()> {
        if self.secrets.is_empty() {
            return refuse(
                "no secret: set KAVACH_SECRET (32+ random characters, e.g. `openssl rand -base64 48`) or `secrets` in the config file \
                 (`.secret(...)` on the builder); production mode refuses to start without one"
                    .into(),
            );
        }
        for (i, s) in self.secrets.iter().enumerate() {
            if production && !crate::secret_is_strong(s) {
                return refuse(format!("secret #{} is weak: production needs 32+ characters with varied content (e.g. `openssl rand -base64 48`)", i + 1));
            }
            if s.len() < 16 {
                return refuse(format!("secret #{}: every secret must be at least 16 characters (32+ random characters recommended)", i + 1));
            }
        }
        Ok(())
    }

    fn validate_oauth(&self, production: bool) -> Result<()> {
        let o = &self.oauth;
        if production && o.metadata_documents_insecure {
            return refuse(
                "oauth.metadata_documents_insecure = true: a development allowance, production refuses it (it lets clients make the server fetch local addresses)"
                    .into(),
            );
        }
        for r in &o.resources {
            let uri = plugins::oauth::resource::canonical(&r.uri).map_err(|e| Error::config(format!("oauth.resources: {}", e.description)))?;
            if let Some(s) = r.scopes.iter().find(|s| s.is_empty() || s.contains(' ') || plugins::oauth::STANDARD_SCOPES.contains(&s.as_str())) {
                return refuse(format!("oauth.resources ({uri}): scope {s:?} is empty, has a space, or is a standard OpenID scope"));
            }
        }
        for (key, ttl) in
            [("access_token_ttl", o.access_token_ttl), ("refresh_token_ttl", o.refresh_token_ttl), ("code_ttl", o.code_ttl), ("par_ttl", o.par_ttl)]
        {
            if ttl.is_zero() {
                return refuse(format!("oauth.{key} = 0s: must be longer than 0s"));
            }
        }
        if o.code_ttl.as_secs() > 600 {
            return refuse(format!("oauth.code_ttl = {}: must be at most 10 minutes", secs(o.code_ttl)));
        }
        if o.par_ttl.as_secs() > 600 {
            return refuse(format!("oauth.par_ttl = {}: must be at most 10 minutes", secs(o.par_ttl)));
        }
        if o.unused_client_ttl.as_secs() < 60 {
            return refuse(format!(
                "oauth.unused_client_ttl = {}: must be at least 1m (a client needs time to complete its first grant)",
                secs(o.unused_client_ttl)
            ));
        }
        if !(512..=65536).contains(&o.metadata_document_max_bytes) {
            return refuse(format!("oauth.metadata_document_max_bytes = {}: must be between 512 and 65536", o.metadata_document_max_bytes));
        }
        // Within the grace window a reused refresh token is answered, not treated as theft:
        // a long window would switch reuse detection off.
        if o.refresh_grace.as_secs() > 300 {
            return refuse(format!("oauth.refresh_grace = {}: must be at most 5 minutes (reuse inside it is not detected)", secs(o.refresh_grace)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: impl FnOnce(&mut Options)) -> Result<()> {
        let mut o = Options { secrets: vec!["a-long-enough-development-secret".into()], ..Options::default() };
        f(&mut o);
        o.validate()
    }

    fn refusal(f: impl FnOnce(&mut Options)) -> String {
        match check(f) {
            Ok(()) => panic!("accepted"),
            Err(e) => e.message.into_owned(),
        }
    }

    #[test]
    fn durations_and_rules() {
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604800));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("7w").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("7 weeks").unwrap_err().contains("7 weeks"));
        assert!(parse_duration("99999999999999999999d").is_err());
        assert_eq!(parse_rule("10/1m").unwrap(), Rule::per_minute(10));
        assert!(parse_rule("ten").is_err());
    }

    #[test]
    fn defaults_with_a_secret_are_valid() {
        check(|_| {}).unwrap();
    }

    #[test]
    fn every_refusal_names_its_key_and_value() {
        let e = refusal(|o| o.base_url = "ftp://x".into());
        assert!(e.contains("base_url") && e.contains("ftp://x"), "{e}");
        let e = refusal(|o| o.base_path = "api".into());
        assert!(e.contains("base_path") && e.contains("api"), "{e}");
        let e = refusal(|o| o.trusted_origins = vec!["https://app.example.com/path".into()]);
        assert!(e.contains("trusted_origins") && e.contains("https://app.example.com/path"), "{e}");
        check(|o| o.trusted_origins = vec!["https://App.example.com/".into()]).unwrap();
        let e = refusal(|o| o.password.min_length = 6);
        assert!(e.contains("password.min_length = 6"), "{e}");
        let e = refusal(|o| o.password.max_length = 10);
        assert!(e.contains("password.max_length = 10"), "{e}");
        let e = refusal(|o| o.oauth.access_token_ttl = Duration::from_secs(7 * 86400));
        assert!(e.contains("jwt.key_overlap") && e.contains("oauth.access_token_ttl"), "keys outlived by OAuth tokens: {e}");
        let e = refusal(|o| o.oauth.refresh_grace = Duration::from_secs(86400));
        assert!(e.contains("oauth.refresh_grace = 86400s"), "{e}");
        let e = refusal(|o| o.oauth.code_ttl = Duration::ZERO);
        assert!(e.contains("oauth.code_ttl = 0s"), "{e}");
        let e = refusal(|o| o.oauth.code_ttl = Duration::from_secs(3600));
        assert!(e.contains("oauth.code_ttl = 3600s"), "{e}");
        let e = refusal(|o| o.oauth.unused_client_ttl = Duration::from_secs(1));
        assert!(e.contains("oauth.unused_client_ttl = 1s"), "{e}");
        let e = refusal(|o| o.oauth.metadata_document_max_bytes = 10);
        assert!(e.contains("oauth.metadata_document_max_bytes = 10"), "{e}");
        let e = refusal(|o| {
            o.oauth.resources = vec![plugins::oauth::ResourceDef { uri: "https://mcp.example.com/mcp".into(), name: None, scopes: vec!["openid".into()] }]
        });
        assert!(e.contains("oauth.resources") && e.contains("openid"), "{e}");
        let e = refusal(|o| o.better_auth = Some(BetterAuthCookies::default()));
        assert!(e.contains("external_auth.better_auth") && e.contains("secrets"), "{e}");
        let e = refusal(|o| o.better_auth = Some(BetterAuthCookies { secrets: vec!["s".into()], cookie_name: "a=b".into() }));
        assert!(e.contains("external_auth.better_auth.cookie_name") && e.contains("a=b"), "{e}");
        let e = refusal(|o| o.secrets = vec!["short".into()]);
        assert!(e.contains("16 characters"), "{e}");
    }

    #[test]
    fn production_refuses_missing_or_weak_secrets_and_development_allowances() {
        let e = refusal(|o| {
            o.mode = Mode::Production;
            o.secrets.clear();
        });
        assert!(e.contains("KAVACH_SECRET"), "{e}");
        let e = refusal(|o| {
            o.mode = Mode::Production;
            o.secrets = vec!["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into()];
        });
        assert!(e.contains("weak"), "{e}");
        let strong = |o: &mut Options| {
            o.mode = Mode::Production;
            o.secrets = vec!["Zq8v2LmN4xR7tY1uW3eK6oP9aS5dF0gH".into()];
        };
        check(strong).unwrap();
        let e = refusal(|o| {
            strong(o);
            o.oauth.metadata_documents_insecure = true;
        });
        assert!(e.contains("oauth.metadata_documents_insecure"), "{e}");
        // Development allows it.
        check(|o| o.oauth.metadata_documents_insecure = true).unwrap();
    }

    #[test]
    fn jwt_claims_cannot_replace_registered_claims_and_must_name_a_session_path() {
        let e = refusal(|o| {
            o.jwt.claims.insert("sub".into(), "user.id".into());
        });
        assert!(e.contains("\"sub\""), "{e}");
        let e = refusal(|o| {
            o.jwt.claims.insert("plan".into(), "secrets.server".into());
        });
        assert!(e.contains("jwt.claims.plan"), "{e}");
        check(|o| {
            o.jwt.claims.insert("plan".into(), "user.metadata.public.plan".into());
        })
        .unwrap();
    }

    #[test]
    fn modes_parse_by_name() {
        assert_eq!("prod".parse::<Mode>().unwrap(), Mode::Production);
        assert_eq!("Development".parse::<Mode>().unwrap(), Mode::Development);
        assert!("staging".parse::<Mode>().unwrap_err().contains("staging"));
    }
}
