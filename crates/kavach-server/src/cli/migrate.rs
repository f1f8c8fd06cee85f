//! `kavach migrate`: apply pending database migrations.

use super::Config;
use anyhow::{Result, anyhow};

pub async fn migrate(cfg: &Config) -> Result<i32> {
    let db = kavach_core::store::Db::connect(&cfg.database_url()).await.map_err(|e| anyhow!("{e}"))?;
    let applied = db.migrate().await.map_err(|e| anyhow!("{e}"))?;
    if applied.is_empty() {
        println!("{}: schema is up to date", db.backend());
    } else {
        println!("{}: applied migrations {:?}", db.backend(), applied);
    }
    Ok(0)
}
