//! Fixed-window rate limiting shared by every instance: counters live in the
//! database (`kavach_rate_limit`, one atomic upsert per hit) or, when a Redis URL
//! is configured, in Redis (one atomic script per hit). Nothing is per-process.

use crate::db;
use crate::error::Result;
use crate::store::{Db, Ts};
use std::time::Duration;

/// At most `max` hits per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub max: u32,
    pub window: Duration,
}

impl Rule {
    pub const fn per_minute(max: u32) -> Rule {
        Rule { max, window: Duration::from_secs(60) }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub count: u64,
    /// Seconds until the window resets.
    pub retry_after_secs: u64,
}

#[derive(Clone)]
enum Backend {
    Db(Db),
    Redis(redis::aio::ConnectionManager),
}

/// The limiter. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    backend: Backend,
}

const HIT_SQL: &str = "INSERT INTO kavach_rate_limit (key, count, window_start) VALUES ($1, $4, $2) \
    ON CONFLICT (key) DO UPDATE SET \
      count = CASE WHEN kavach_rate_limit.window_start <= $3 THEN $4 ELSE kavach_rate_limit.count + $4 END, \
      window_start = CASE WHEN kavach_rate_limit.window_start <= $3 THEN $2 ELSE kavach_rate_limit.window_start END \
    RETURNING count, window_start";

const REDIS_HIT: &str = r"
local c = redis.call('INCRBY', KEYS[1], ARGV[2])
if c == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {c, ttl}";

const REDIS_UNDO: &str = r"
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c > 0 then return redis.call('DECR', KEYS[1]) end
return 0";

fn decision(count: u64, max: u32, remaining_ms: i64) -> Decision {
    Decision { allowed: count <= max as u64, count, retry_after_secs: (remaining_ms.max(0) as u64).div_ceil(1000).max(1) }
}

impl RateLimiter {
    pub fn database(db: Db) -> Self {
        RateLimiter { backend: Backend::Db(db) }
    }

    /// Connect to Redis at `url` (`redis://host:port/db`).
    pub async fn redis(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(|e| crate::Error::config(format!("invalid Redis URL {}: {e}", crate::redact_url(url))))?;
        let conn = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(|e| crate::Error::config(format!("cannot connect to Redis at {}: {e}", crate::redact_url(url))))?;
        Ok(RateLimiter { backend: Backend::Redis(conn) })
    }

    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Db(_) => "database",
            Backend::Redis(_) => "redis",
        }
    }

    fn key(key: &str) -> String {
        format!("kavach:rl:{key}")
    }

    /// Count one hit against `key` and say whether it is within `rule`.
    pub async fn hit(&self, key: &str, rule: Rule) -> Result<Decision> {
        self.add(key, 1, rule).await
    }

    /// Add `n` (at least 1) to `key`'s count in `rule`'s window, atomically.
    pub async fn add(&self, key: &str, n: i64, rule: Rule) -> Result<Decision> {
        let n = n.max(1);
        let window_ms = rule.window.as_millis() as i64;
        match &self.backend {
            Backend::Db(db) => {
                let now = Ts::now().0;
                let (count, start): (i64, i64) =
                    db!(db, |pool| { sqlx::query_as(HIT_SQL).bind(key).bind(now).bind(now - window_ms).bind(n).fetch_one(pool).await? });
                Ok(decision(count as u64, rule.max, start + window_ms - now))
            }
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                let (count, ttl): (i64, i64) = redis::Script::new(REDIS_HIT).key(Self::key(key)).arg(window_ms).arg(n).invoke_async(&mut conn).await?;
                Ok(decision(count as u64, rule.max, ttl))
            }
        }
    }

    /// The current count without adding a hit; `allowed` says whether one more would pass.
    pub async fn peek(&self, key: &str, rule: Rule) -> Result<Decision> {
        let window_ms = rule.window.as_millis() as i64;
        let (count, remaining) = match &self.backend {
            Backend::Db(db) => {
                let now = Ts::now().0;
                let row: Option<(i64, i64)> = db!(db, |pool| {
                    sqlx::query_as("SELECT count, window_start FROM kavach_rate_limit WHERE key = $1").bind(key).fetch_optional(pool).await?
                });
                match row {
                    Some((c, start)) if start > now - window_ms => (c as u64, start + window_ms - now),
                    _ => (0, 0),
                }
            }
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                let (c, ttl): (Option<i64>, i64) = redis::pipe().get(Self::key(key)).pttl(Self::key(key)).query_async(&mut conn).await?;
                (c.unwrap_or(0).max(0) as u64, ttl)
            }
        };
        Ok(Decision { allowed: count < rule.max as u64, count, retry_after_secs: (remaining.max(0) as u64).div_ceil(1000).max(1) })
    }

    /// Give back one hit (a call counted before a later check refused it).
    pub async fn undo(&self, key: &str) -> Result<()> {
        match &self.backend {
            Backend::Db(db) => db!(db, |pool| {
                sqlx::query("UPDATE kavach_rate_limit SET count = count - 1 WHERE key = $1 AND count > 0").bind(key).execute(pool).await?;
            }),
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                let _: i64 = redis::Script::new(REDIS_UNDO).key(Self::key(key)).invoke_async(&mut conn).await?;
            }
        }
        Ok(())
    }

    pub async fn reset(&self, key: &str) -> Result<()> {
        match &self.backend {
            Backend::Db(db) => db!(db, |pool| {
                sqlx::query("DELETE FROM kavach_rate_limit WHERE key = $1").bind(key).execute(pool).await?;
            }),
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                let _: i64 = redis::cmd("DEL").arg(Self::key(key)).query_async(&mut conn).await?;
            }
        }
        Ok(())
    }

    /// Drop database counters whose window ended long ago (run periodically).
    pub async fn purge(&self, older_than: Duration) -> Result<u64> {
        match &self.backend {
            Backend::Db(db) => db!(db, |pool| {
                Ok(sqlx::query("DELETE FROM kavach_rate_limit WHERE window_start < $1")
                    .bind(Ts::now().0 - older_than.as_millis() as i64)
                    .execute(pool)
                    .await?
                    .rows_affected())
            }),
            Backend::Redis(_) => Ok(0),
        }
    }
}
