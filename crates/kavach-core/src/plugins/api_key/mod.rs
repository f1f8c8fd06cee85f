//! API keys (`[api_key]`, better-auth's `@better-auth/api-key`): `kavach.api_keys()`.
//! A user's long-lived secret for programs: shown once at creation, stored as
//! base64url(SHA-256(key)) only (the same hash as better-auth, so imported keys keep
//! working) and found by its unique index; the first characters are kept to recognise
//! it. Each key has optional permissions (`{ resource: [actions] }`), an expiry, a
//! remaining-uses counter (decremented atomically, optionally refilled) and a rate limit
//! (counted by the shared rate limiter). [`ApiKeys::verify`] checks all of it; with
//! `session_routes`, the `x-api-key` header signs requests to those routes in as the
//! key's owner. Fields that widen what a key may do (permissions, remaining uses, refill,
//! rate limit) are set from the Rust API or the CLI only, never from a request.

use crate::access::Permissions;
use crate::error::{Code, Error, Kind, Result};
use crate::ratelimit::Rule;
use crate::store::Ts;
use crate::users::User;
use crate::{Core, RequestContext, crypto, options};
use serde::{Deserialize, Serialize};
use std::time::Duration;

mod store;

/// `[api_key]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiKeyOptions {
    pub enabled: bool,
    /// Put in front of every new key that asks for no prefix (`"kv_"`). Default none.
    pub default_prefix: Option<String>,
    /// Random letters in a key (after the prefix), 32 to 128. Default 64.
    pub key_length: usize,
    /// The header a key is presented in. Default `x-api-key`.
    pub header: String,
    /// The routes where the header signs the request in as the key's owner (a session
    /// for that request only). Default `["/get-session"]`; `[]` turns it off.
    pub session_routes: Vec<String>,
    /// The shortest and longest lifetime a key may be created with. Default 1 day and
    /// 365 days.
    #[serde(deserialize_with = "options::duration")]
    pub min_expires_in: Duration,
    #[serde(deserialize_with = "options::duration")]
    pub max_expires_in: Duration,
    /// The lifetime of a key created without one (none: no expiry). Default none.
    #[serde(deserialize_with = "options::opt_duration")]
    pub default_expires_in: Option<Duration>,
    /// The per-key rate limit new keys get: at most `rate_limit_max` verifications per
    /// `rate_limit_window`. Default on, 10 a day (better-auth's defaults).
    pub rate_limit_enabled: bool,
    #[serde(deserialize_with = "options::duration")]
    pub rate_limit_window: Duration,
    pub rate_limit_max: u32,
    /// Keys must have a name. Default false.
    pub require_name: bool,
    /// Keys may carry metadata (a JSON object). Default true.
    pub enable_metadata: bool,
}

impl Default for ApiKeyOptions {
    fn default() -> Self {
        ApiKeyOptions {
            enabled: false,
            default_prefix: None,
            key_length: 64,
            header: "x-api-key".to_owned(),
            session_routes: vec!["/get-session".to_owned()],
            min_expires_in: Duration::from_secs(86400),
            max_expires_in: Duration::from_secs(365 * 86400),
            default_expires_in: None,
            rate_limit_enabled: true,
            rate_limit_window: Duration::from_secs(86400),
            rate_limit_max: 10,
            require_name: false,
            enable_metadata: true,
        }
    }
}

const MAX_NAME: usize = 32;
const MAX_PREFIX: usize = 32;

impl ApiKeyOptions {
    pub(crate) fn problems(&self) -> Option<String> {
        if !(32..=128).contains(&self.key_length) {
            return Some("api_key.key_length must be 32 to 128".to_owned());
        }
        if let Some(p) = &self.default_prefix
            && check_prefix(p).is_err()
        {
            return Some(format!("api_key.default_prefix = {p:?}: letters, digits, _ and -, at most {MAX_PREFIX}"));
        }
        if self.min_expires_in > self.max_expires_in {
            return Some("api_key.min_expires_in is above api_key.max_expires_in".to_owned());
        }
        if self.header.is_empty() || !self.header.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Some(format!("api_key.header = {:?} is not a header name", self.header));
        }
        (self.rate_limit_max == 0 || self.rate_limit_window.is_zero()).then(|| "api_key.rate_limit_max and rate_limit_window must be above zero".to_owned())
    }
}

fn check_prefix(p: &str) -> Result<()> {
    if p.is_empty() || p.len() > MAX_PREFIX || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(Error::bad_request(Code::InvalidPrefixLength, "The prefix must be 1 to 32 letters, digits, _ or -"));
    }
    Ok(())
}

fn check_name(n: &str) -> Result<()> {
    if n.is_empty() || n.chars().count() > MAX_NAME || n.chars().any(char::is_control) {
        return Err(Error::bad_request(Code::InvalidNameLength, "The name must be 1 to 32 characters"));
    }
    Ok(())
}

fn check_metadata(m: &serde_json::Value) -> Result<()> {
    if !m.is_object() {
        return Err(Error::bad_request(Code::InvalidMetadataType, "metadata must be an object"));
    }
    if m.to_string().len() > 8192 {
        return Err(Error::bad_request(Code::InvalidMetadataType, "metadata must be at most 8 KiB of JSON"));
    }
    Ok(())
}

/// An API key as listed (never the key itself). better-auth's field names.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    /// better-auth's configuration id (one configuration: `default`).
    pub config_id: &'static str,
    pub name: Option<String>,
    /// The key's first characters, to recognise it.
    pub start: Option<String>,
    pub prefix: Option<String>,
    /// The owner (better-auth 1.7 calls it `referenceId`; `userId` is the same).
    pub reference_id: String,
    pub user_id: String,
    pub enabled: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Ts>,
    /// Uses left (none: unlimited).
    pub remaining: Option<i64>,
    pub refill_amount: Option<i64>,
    /// Milliseconds between refills.
    pub refill_interval: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_refill_at: Option<Ts>,
    pub rate_limit_enabled: bool,
    /// Milliseconds.
    pub rate_limit_time_window: Option<i64>,
    pub rate_limit_max: Option<i64>,
    pub request_count: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_request: Option<Ts>,
    #[schema(value_type = Option<Object>)]
    pub permissions: Option<Permissions>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Ts,
}

impl ApiKey {
    /// The answer to a creation: the key's fields and `key`, the secret shown this once.
    pub fn with_secret(&self, secret: &str) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("key".to_owned(), serde_json::Value::String(secret.to_owned()));
        }
        v
    }
}

/// A new key. The first four fields may come from a request; the others widen what the
/// key may do and are for the Rust API and the CLI.
#[derive(Clone, Debug, Default)]
pub struct NewKey {
    pub name: Option<String>,
    pub expires_in: Option<Duration>,
    pub prefix: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub permissions: Option<Permissions>,
    pub remaining: Option<i64>,
    pub refill_amount: Option<i64>,
    pub refill_interval: Option<Duration>,
    pub rate_limit_enabled: Option<bool>,
    pub rate_limit_time_window: Option<Duration>,
    pub rate_limit_max: Option<u32>,
}

/// Changes to a key (`None`: unchanged). As for [`NewKey`], the fields after `metadata`
/// are for the Rust API and the CLI.
#[derive(Clone, Debug, Default)]
pub struct KeyChanges {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// `Some(None)`: no expiry.
    pub expires_in: Option<Option<Duration>>,
    pub metadata: Option<serde_json::Value>,
    /// `Some(None)`: no permissions.
    pub permissions: Option<Option<Permissions>>,
    pub remaining: Option<i64>,
    pub rate_limit_enabled: Option<bool>,
    pub rate_limit_time_window: Option<Duration>,
    pub rate_limit_max: Option<u32>,
}

/// `GET /api-key/list`.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    /// `createdAt` (default), `name` or `expiresAt`.
    pub sort_by: Option<String>,
    pub descending: bool,
}

/// A key that passed [`ApiKeys::verify`]: the key (after this use) and its owner.
#[derive(Clone, Debug)]
pub struct VerifiedKey {
    pub key: ApiKey,
    pub user: User,
}

/// `kavach.api_keys()`.
pub struct ApiKeys<'a>(pub(crate) &'a Core);

fn not_found() -> Error {
    Error::new(Kind::NotFound, Code::KeyNotFound, "API Key not found")
}

fn invalid() -> Error {
    Error::new(Kind::Unauthorized, Code::InvalidApiKey, "Invalid API key.")
}

impl ApiKeys<'_> {
    fn opts(&self) -> &ApiKeyOptions {
        &self.0.options.api_key
    }

    fn require_enabled(&self) -> Result<()> {
        if !self.opts().enabled {
            return Err(Error::bad_request(Code::ApiKeyDisabled, "API keys are not enabled on this server"));
        }
        Ok(())
    }

    fn check_expires_in(&self, d: Duration) -> Result<()> {
        if d < self.opts().min_expires_in {
            return Err(Error::bad_request(Code::ExpiresInIsTooSmall, "The expiresIn is smaller than the predefined minimum value."));
        }
        if d > self.opts().max_expires_in {
            return Err(Error::bad_request(Code::ExpiresInIsTooLarge, "The expiresIn is larger than the predefined maximum value."));
        }
        Ok(())
    }

    /// Create a key for `user`: the key as stored, and the key itself (shown this once).
    pub async fn create(&self, user: &User, new: NewKey, ctx: &RequestContext) -> Result<(ApiKey, String)> {
        self.require_enabled()?;
        let o = self.opts();
        match &new.name {
            Some(n) => check_name(n)?,
            None if o.require_name => return Err(Error::bad_request(Code::NameRequired, "API Key name is required.")),
            None => {}
        }
        if let Some(p) = &new.prefix {
            check_prefix(p)?;
        }
        if let Some(m) = &new.metadata {
            if !o.enable_metadata {
                return Err(Error::bad_request(Code::MetadataDisabled, "Metadata is disabled."));
            }
            check_metadata(m)?;
        }
        if let Some(d) = new.expires_in {
            self.check_expires_in(d)?;
        }
        if new.refill_amount.is_some() != new.refill_interval.is_some() {
            return Err(Error::bad_request(Code::RefillAmountAndIntervalRequired, "refillAmount and refillInterval go together"));
        }
        if new.remaining.is_some_and(|r| r < 0) || new.refill_amount.is_some_and(|r| r < 1) {
            return Err(Error::bad_request(Code::InvalidRemaining, "The remaining count is either too large or too small."));
        }
        let prefix = new.prefix.clone().or_else(|| o.default_prefix.clone());
        let key =
            format!("{}{}", prefix.as_deref().unwrap_or(""), crypto::random_string(o.key_length, b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"));
        let now = Ts::now();
        let expires_at = new.expires_in.or(o.default_expires_in).map(|d| now.plus_secs(d.as_secs() as i64));
        let row = ApiKey {
            id: crypto::new_id(),
            config_id: "default",
            name: new.name,
            start: Some(key.chars().take(6).collect()),
            prefix,
            reference_id: user.id.clone(),
            user_id: user.id.clone(),
            enabled: true,
            expires_at,
            remaining: new.remaining.or(new.refill_amount),
            refill_amount: new.refill_amount,
            refill_interval: new.refill_interval.map(|d| d.as_millis() as i64),
            last_refill_at: None,
            rate_limit_enabled: new.rate_limit_enabled.unwrap_or(o.rate_limit_enabled),
            rate_limit_time_window: Some(new.rate_limit_time_window.unwrap_or(o.rate_limit_window).as_millis() as i64),
            rate_limit_max: Some(i64::from(new.rate_limit_max.unwrap_or(o.rate_limit_max))),
            request_count: 0,
            last_request: None,
            permissions: new.permissions,
            metadata: new.metadata,
            created_at: now,
            updated_at: now,
        };
        store::insert(&self.0.db, &row, &crypto::token_hash(&key), ctx).await?;
        Ok((row, key))
    }

    /// One of `user_id`'s keys (`KEY_NOT_FOUND` for another user's).
    pub async fn get(&self, user_id: &str, id: &str) -> Result<ApiKey> {
        self.require_enabled()?;
        store::by_id(&self.0.db, id).await?.filter(|k| k.user_id == user_id).ok_or_else(not_found)
    }

    /// `user_id`'s keys, one page, and how many there are in all.
    pub async fn list(&self, user_id: &str, q: &ListQuery) -> Result<(Vec<ApiKey>, u64)> {
        self.require_enabled()?;
        let order = match q.sort_by.as_deref() {
            None | Some("createdAt") => "created_at",
            Some("name") => "name",
            Some("expiresAt") => "expires_at",
            Some(_) => return Err(Error::bad_request(Code::ValidationError, "sortBy must be createdAt, name or expiresAt")),
        };
        store::list(&self.0.db, user_id, order, q.descending, q.limit.map_or(1000, |l| l.min(1000)), q.offset.unwrap_or(0)).await
    }

    /// Change one of `user_id`'s keys.
    pub async fn update(&self, user_id: &str, id: &str, c: KeyChanges, ctx: &RequestContext) -> Result<ApiKey> {
        let mut key = self.get(user_id, id).await?;
        let mut changed = false;
        if let Some(n) = c.name {
            check_name(&n)?;
            key.name = Some(n);
            changed = true;
        }
        if let Some(e) = c.enabled {
            key.enabled = e;
            changed = true;
        }
        if let Some(exp) = c.expires_in {
            if let Some(d) = exp {
                self.check_expires_in(d)?;
            }
            key.expires_at = exp.map(|d| Ts::now().plus_secs(d.as_secs() as i64));
            changed = true;
        }
        if let Some(m) = c.metadata {
            if !self.opts().enable_metadata {
                return Err(Error::bad_request(Code::MetadataDisabled, "Metadata is disabled."));
            }
            check_metadata(&m)?;
            key.metadata = Some(m);
            changed = true;
        }
        if let Some(p) = c.permissions {
            key.permissions = p;
            changed = true;
        }
        if let Some(r) = c.remaining {
            if r < 0 {
                return Err(Error::bad_request(Code::InvalidRemaining, "The remaining count is either too large or too small."));
            }
            key.remaining = Some(r);
            changed = true;
        }
        if let Some(e) = c.rate_limit_enabled {
            key.rate_limit_enabled = e;
            changed = true;
        }
        if let Some(w) = c.rate_limit_time_window {
            key.rate_limit_time_window = Some(w.as_millis() as i64);
            changed = true;
        }
        if let Some(m) = c.rate_limit_max {
            key.rate_limit_max = Some(i64::from(m));
            changed = true;
        }
        if !changed {
            return Err(Error::bad_request(Code::NoValuesToUpdate, "No values to update."));
        }
        key.updated_at = Ts::now();
        store::update(&self.0.db, &key, ctx).await?;
        Ok(key)
    }

    /// Delete one of `user_id`'s keys.
    pub async fn delete(&self, user_id: &str, id: &str, ctx: &RequestContext) -> Result<()> {
        self.get(user_id, id).await?;
        store::delete(&self.0.db, id, user_id, ctx).await
    }

    /// Check a key as presented: it exists (by its hash), is enabled, not expired, its
    /// owner not banned, it has `required` (when given), a use left (the counter goes
    /// down atomically, refilled when its interval passed), and room under its rate
    /// limit. Each use is counted. Errors: `INVALID_API_KEY`, `KEY_DISABLED`,
    /// `KEY_EXPIRED` (401), `KEY_NOT_FOUND` for missing permissions (as better-auth),
    /// `USAGE_EXCEEDED` and `RATE_LIMITED` (429).
    pub async fn verify(&self, key: &str, required: Option<&Permissions>) -> Result<VerifiedKey> {
        self.require_enabled()?;
        if key.len() < 32 || key.len() > 256 {
            return Err(invalid());
        }
        let (mut found, user) = store::by_hash(&self.0.db, &crypto::token_hash(key)).await?.ok_or_else(invalid)?;
        let now = Ts::now();
        if !found.enabled {
            return Err(Error::new(Kind::Unauthorized, Code::KeyDisabled, "API Key is disabled"));
        }
        if found.expires_at.is_some_and(|e| e <= now) {
            return Err(Error::new(Kind::Unauthorized, Code::KeyExpired, "API Key has expired"));
        }
        if user.is_banned(now) {
            return Err(Error::forbidden(Code::BannedUser, "You have been banned from this application"));
        }
        if let Some(wanted) = required
            && !found.permissions.as_ref().is_some_and(|p| p.allows(wanted))
        {
            return Err(not_found());
        }
        if found.rate_limit_enabled
            && let (Some(window), Some(max)) = (found.rate_limit_time_window, found.rate_limit_max)
        {
            let rule = Rule { max: u32::try_from(max).unwrap_or(u32::MAX), window: Duration::from_millis(u64::try_from(window).unwrap_or(0)) };
            let d = self.0.limiter.hit(&format!("api-key:{}", found.id), rule).await?;
            if !d.allowed {
                return Err(Error::new(Kind::TooManyRequests { retry_after_secs: d.retry_after_secs }, Code::RateLimited, "Rate limit exceeded."));
            }
        }
        if found.remaining.is_some() {
            found.remaining = Some(
                store::use_one(&self.0.db, &found, now)
                    .await?
                    .ok_or_else(|| Error::new(Kind::TooManyRequests { retry_after_secs: 0 }, Code::UsageExceeded, "API Key has reached its usage limit"))?,
            );
        }
        store::touch(&self.0.db, &found.id, now).await?;
        found.request_count += 1;
        found.last_request = Some(now);
        Ok(VerifiedKey { key: found, user })
    }
}

impl Core {
    /// API keys (`[api_key]`).
    pub fn api_keys(&self) -> ApiKeys<'_> {
        ApiKeys(self)
    }
}

pub(crate) use store::purge_expired;
