//! Versioned migrations, embedded in the binary, one folder per backend with the
//! same versions. Applied by the server at start and by `kavach migrate`.

use super::{Db, Ts};
use crate::error::{Error, Result};
use sqlx::Connection;

pub struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

/// Both backends' migration lists from one table: version, description, file stem
/// (the same file name in `migrations/sqlite/` and `migrations/postgres/`).
macro_rules! migrations {
    ($($version:literal, $description:literal, $file:literal;)*) => {
        pub const MIGRATIONS_SQLITE: &[Migration] = &[
            $(Migration { version: $version, description: $description, sql: include_str!(concat!("../../migrations/sqlite/", $file, ".sql")) },)*
        ];
        pub const MIGRATIONS_POSTGRES: &[Migration] = &[
            $(Migration { version: $version, description: $description, sql: include_str!(concat!("../../migrations/postgres/", $file, ".sql")) },)*
        ];
    };
}

migrations! {
    1, "foundation", "0001_foundation";
    2, "ban and metadata", "0002_ban_and_metadata";
    3, "signing keys", "0003_signing_keys";
    4, "oauth clients", "0004_oauth_clients";
    5, "oauth grants", "0005_oauth_grants";
    6, "client metadata documents", "0006_client_metadata_documents";
    7, "device codes", "0007_device_codes";
    8, "dpop", "0008_dpop";
    9, "client jwks cache", "0009_client_jwks";
    10, "client token cutoff and indexes", "0010_client_cutoff_and_indexes";
    11, "session origin, client use and introspection rights", "0011_review_hardening";
    12, "organizations", "0012_organization";
    13, "admin", "0013_admin";
    14, "agents", "0014_agents";
    15, "agent sessions", "0015_agent_sessions";
    16, "two-factor", "0016_two_factor";
    17, "username", "0017_username";
    18, "otp", "0018_otp";
    19, "anonymous", "0019_anonymous";
    20, "phone number", "0020_phone_number";
    21, "api keys", "0021_api_key";
    22, "sign-in with ethereum", "0022_siwe";
    23, "additional user fields", "0023_additional_fields";
    24, "passkeys", "0024_passkey";
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS kavach_migration (
    version BIGINT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at BIGINT NOT NULL)";

/// Any fixed number: the key of the PostgreSQL advisory lock that serialises migrators.
const PG_LOCK_KEY: i64 = 0x4b41_5641_4348; // "KAVACH"

fn checksum(sql: &str) -> String {
    crate::crypto::sha256_hex(sql.as_bytes())
}

pub(super) async fn run(db: &Db) -> Result<Vec<i64>> {
    let mut applied = Vec::new();
    match db {
        Db::Postgres(pool) => {
            let mut conn = pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock($1)").bind(PG_LOCK_KEY).execute(&mut *conn).await?;
            let result: Result<()> = async {
                sqlx::query(CREATE_TABLE).execute(&mut *conn).await?;
                for m in MIGRATIONS_POSTGRES {
                    let row: Option<(String,)> =
                        sqlx::query_as("SELECT checksum FROM kavach_migration WHERE version = $1").bind(m.version).fetch_optional(&mut *conn).await?;
                    if let Some((sum,)) = row {
                        verify_checksum(m, &sum)?;
                        continue;
                    }
                    let mut tx = conn.begin().await?;
                    sqlx::raw_sql(m.sql).execute(&mut *tx).await.map_err(|e| migration_failed(m, e))?;
                    sqlx::query("INSERT INTO kavach_migration (version, description, checksum, applied_at) VALUES ($1, $2, $3, $4)")
                        .bind(m.version)
                        .bind(m.description)
                        .bind(checksum(m.sql))
                        .bind(Ts::now().0)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    applied.push(m.version);
                }
                Ok(())
            }
            .await;
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(PG_LOCK_KEY).execute(&mut *conn).await?;
            result?;
        }
        Db::Sqlite(pool) => {
            let mut conn = pool.acquire().await?;
            sqlx::query(CREATE_TABLE).execute(&mut *conn).await?;
            for m in MIGRATIONS_SQLITE {
                // BEGIN IMMEDIATE takes the write lock first, so two processes cannot
                // both decide that the same migration is pending.
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT checksum FROM kavach_migration WHERE version = $1").bind(m.version).fetch_optional(&mut *tx).await?;
                if let Some((sum,)) = row {
                    verify_checksum(m, &sum)?;
                    tx.rollback().await?;
                    continue;
                }
                sqlx::raw_sql(m.sql).execute(&mut *tx).await.map_err(|e| migration_failed(m, e))?;
                sqlx::query("INSERT INTO kavach_migration (version, description, checksum, applied_at) VALUES ($1, $2, $3, $4)")
                    .bind(m.version)
                    .bind(m.description)
                    .bind(checksum(m.sql))
                    .bind(Ts::now().0)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                applied.push(m.version);
            }
        }
    }
    Ok(applied)
}

fn verify_checksum(m: &Migration, stored: &str) -> Result<()> {
    if stored != checksum(m.sql) {
        return Err(Error::config(format!(
            "migration {} ({}) was changed after it was applied: the database and this binary disagree",
            m.version, m.description
        )));
    }
    Ok(())
}

fn migration_failed(m: &Migration, e: sqlx::Error) -> Error {
    Error::config(format!("migration {} ({}) failed: {e}", m.version, m.description))
}
