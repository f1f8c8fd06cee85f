//! Storage: one code base, two databases. Every query is plain SQL with `$N`
//! placeholders that runs unchanged on SQLite and PostgreSQL; [`db!`] expands a
//! block once per backend so each arm is type-checked against its driver.

pub(crate) mod group;
mod migrate;
mod time;

pub use self::time::{ExactTs, Ts};
pub use migrate::{MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE, Migration};

use crate::error::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// A connection pool to one of the two supported databases.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run `$body` with `$pool` bound to the concrete pool of whichever backend `$db` is.
#[macro_export]
#[doc(hidden)]
macro_rules! db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

impl Db {
    /// Connect to `url`: `sqlite:path` / `sqlite://path` (created if missing, WAL) or
    /// `postgres://...`. Does not run migrations.
    pub async fn connect(url: &str) -> Result<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url).map_err(|e| Error::config(format!("invalid PostgreSQL URL: {e}")))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .map_err(|e| Error::config(format!("cannot connect to PostgreSQL: {e}")))?;
            Ok(Db::Postgres(pool))
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            if path.is_empty() {
                return Err(Error::config("sqlite URL has no path (example: sqlite://kavach-data/kavach.db)"));
            }
            let memory = path == ":memory:" || path.contains("mode=memory");
            let opts = if memory {
                SqliteConnectOptions::from_str(url).map_err(|e| Error::config(format!("invalid SQLite URL: {e}")))?
            } else {
                if let Some(dir) = std::path::Path::new(path).parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir).map_err(|e| Error::config(format!("cannot create database directory {}: {e}", dir.display())))?;
                }
                SqliteConnectOptions::new().filename(path)
            };
            let opts = opts
                .create_if_missing(true)
                .journal_mode(if memory { SqliteJournalMode::Memory } else { SqliteJournalMode::Wal })
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Checkpoints run in the background (`Core::spawn_background`, every
                // CHECKPOINT_EVERY), never inside a request's commit, where copying the
                // WAL held every writer for ~100 ms; this bound is the backstop for a
                // process without that task (the CLI).
                .pragma("wal_autocheckpoint", "10000");
            // Opening a WAL database can meet SQLITE_BUSY without the busy handler being
            // consulted (while another process recovers the WAL index): retry briefly.
            let mut attempt = 0;
            loop {
                // No ping before each acquire: a SQLite connection is a file handle in
                // this process, already pinged when it went back to the pool, and each
                // ping is one more round trip to the connection's thread per query.
                let pool = SqlitePoolOptions::new()
                    .max_connections(if memory { 1 } else { 8 })
                    .min_connections(1)
                    .test_before_acquire(false)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(opts.clone())
                    .await;
                match pool {
                    Ok(pool) => return Ok(Db::Sqlite(pool)),
                    Err(e) if attempt < 50 && is_busy(&e) => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(20 * attempt.min(10))).await;
                    }
                    Err(e) => return Err(Error::config(format!("cannot open SQLite database {path}: {e}"))),
                }
            }
        } else {
            Err(Error::config(format!("unsupported database URL {url:?}: use sqlite://path/to/file.db or postgres://user@host/db")))
        }
    }

    /// Copy what the WAL holds into a SQLite database file without holding up writers
    /// or readers (a passive checkpoint); nothing on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<()> {
        if let Db::Sqlite(pool) = self {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(pool).await?;
        }
        Ok(())
    }

    /// Open another system's database to read from it: SQLite files read-only (never
    /// created, journal mode untouched), PostgreSQL as usual.
    pub async fn connect_read_only(url: &str) -> Result<Db> {
        let Some(rest) = url.strip_prefix("sqlite:") else { return Db::connect(url).await };
        let path = rest.trim_start_matches("//");
        if !std::path::Path::new(path).exists() {
            return Err(Error::config(format!("{path}: no such file")));
        }
        let opts = SqliteConnectOptions::new().filename(path).read_only(true).busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(|e| Error::config(format!("cannot open SQLite database {path}: {e}")))?;
        Ok(Db::Sqlite(pool))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Apply pending migrations. Safe when several instances start at once:
    /// PostgreSQL takes an advisory lock, SQLite an immediate write lock.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        migrate::run(self).await
    }

    /// Versions of the migrations this binary has that the database has not applied.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>> {
        let all = match self {
            Db::Sqlite(_) => MIGRATIONS_SQLITE,
            Db::Postgres(_) => MIGRATIONS_POSTGRES,
        };
        let applied: Vec<i64> = db!(self, |pool| {
            let exists: Option<(String,)> = match self {
                Db::Sqlite(_) => {
                    sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'kavach_migration'").fetch_optional(pool).await?
                }
                Db::Postgres(_) => {
                    sqlx::query_as("SELECT CAST(to_regclass('kavach_migration') AS TEXT) WHERE to_regclass('kavach_migration') IS NOT NULL")
                        .fetch_optional(pool)
                        .await?
                }
            };
            if exists.is_none() { vec![] } else { sqlx::query_scalar("SELECT version FROM kavach_migration").fetch_all(pool).await? }
        });
        Ok(all.iter().map(|m| m.version).filter(|v| !applied.contains(v)).collect())
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        db!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        db!(self, |pool| pool.close().await)
    }
}

fn is_busy(e: &sqlx::Error) -> bool {
    // SQLITE_BUSY (5) and SQLITE_LOCKED (6), including their extended codes.
    matches!(e, sqlx::Error::Database(d) if d.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|n| matches!(n & 0xff, 5 | 6)))
}

/// Start a transaction that will write. On SQLite this is `BEGIN IMMEDIATE`, which
/// takes the write lock up front, so read-then-write transactions never fail on a
/// lock upgrade; on PostgreSQL it is a plain `BEGIN`.
///
/// SQLite has one writer at a time. Writers of this process also queue for their turn
/// here, one queue per database file (fairly, without sleeping) instead of meeting SQLITE_BUSY and SQLite's
/// sleep-and-retry busy handler, which stretches tail latency under concurrent writes.
/// Waiting for the turn is bounded: after two seconds the transaction starts anyway and
/// SQLite's own locking decides (so a write started inside another cannot deadlock).
/// How often a running server checkpoints a SQLite WAL (see [`Db::checkpoint`]).
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

pub trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(&self) -> impl std::future::Future<Output = sqlx::Result<WriteTx<Self::Db>>> + Send;
    /// The writer's turn for one autocommit statement (hold it while it runs): on
    /// SQLite the same queue as [`BeginWrite::begin_write`], on PostgreSQL nothing.
    fn write_turn(&self) -> impl std::future::Future<Output = Option<tokio::sync::OwnedMutexGuard<()>>> + Send;
}

/// A write transaction (see [`BeginWrite`]): use it as the connection (`&mut *tx`),
/// then `commit` (dropping it rolls back).
pub struct WriteTx<DB: sqlx::Database> {
    tx: sqlx::Transaction<'static, DB>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> std::ops::Deref for WriteTx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

impl<DB: sqlx::Database> WriteTx<DB> {
    /// The placeholders of a multi-row `VALUES` list for this database (see [`values_list`]).
    pub fn values_list(&self, rows: usize, cols: usize) -> String {
        values_list(DB::NAME == "SQLite", rows, cols)
    }
    pub async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }
    pub async fn rollback(self) -> sqlx::Result<()> {
        self.tx.rollback().await
    }
}

/// The placeholders of a multi-row `VALUES` list, `rows` tuples of `cols`: anonymous `?` on
/// SQLite, numbered `$n` on PostgreSQL. SQLite keeps numbered parameters in a list it
/// searches by name when it parses each one and by number when each is bound, so a
/// statement's cost grows with the square of their count: for groups of up to 256 audit
/// records (2,560 parameters) that search took about a quarter of the process's time under
/// client_credentials load. Anonymous ones are numbered in order with no search.
pub fn values_list(sqlite: bool, rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            if sqlite {
                sql.push('?');
            } else {
                sql.push_str(&format!("${}", r * cols + c + 1));
            }
        }
        sql.push(')');
    }
    sql
}

/// One writer queue per SQLite database file in this process (separate databases do
/// not wait for each other).
static SQLITE_WRITERS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, std::sync::Arc<tokio::sync::Mutex<()>>>>> =
    std::sync::LazyLock::new(Default::default);

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> sqlx::Result<WriteTx<sqlx::Sqlite>> {
        let turn = self.write_turn().await;
        Ok(WriteTx { tx: self.begin_with("BEGIN IMMEDIATE").await?, _turn: turn })
    }
    async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        let queue = {
            let mut writers = SQLITE_WRITERS.lock().unwrap_or_else(|e| e.into_inner());
            writers.entry(self.connect_options().get_filename().to_path_buf()).or_default().clone()
        };
        tokio::time::timeout(Duration::from_secs(2), queue.lock_owned()).await.ok()
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> sqlx::Result<WriteTx<sqlx::Postgres>> {
        Ok(WriteTx { tx: self.begin().await?, _turn: None })
    }
    async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        None
    }
}

#[cfg(test)]
mod values_list_tests {
    use super::values_list;

    #[test]
    fn sqlite_gets_anonymous_parameters_and_postgres_numbered_ones() {
        assert_eq!(values_list(true, 2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(values_list(false, 2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_list(true, 1, 1), "(?)");
    }
}
