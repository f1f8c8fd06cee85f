//! Refresh token rotation, written in groups.
//!
//! Every refresh_token grant stores the presented token's successor. Concurrent
//! rotations are gathered by one task per core and written with a single multi-row
//! `INSERT ... ON CONFLICT DO NOTHING RETURNING`: one statement and one commit for the
//! group instead of one each (SQLite has a single writer; PostgreSQL pays a WAL flush
//! per commit). The UNIQUE `parent_hash` still admits exactly one successor per token,
//! within a group as across groups and instances; `RETURNING token_hash` tells each
//! caller whether its row went in.

use crate::db;
use crate::error::Result;
use crate::store::group::{Batch, Group};
use crate::store::{BeginWrite, Db, Ts};

/// A successor refresh token, as stored.
#[derive(Debug)]
pub(crate) struct Successor {
    pub token_hash: String,
    pub family_id: String,
    pub created_at: Ts,
    pub parent_hash: String,
    /// The token itself, sealed, for the public-client grace window.
    pub sealed: Option<String>,
}

/// The grouped writer of successors ([`crate::store::group`]).
pub(crate) struct Rotations(Group<Successors>);

pub(crate) struct Successors;

impl Batch for Successors {
    type Item = Successor;
    /// Whether the row went in.
    type Out = bool;
    async fn write(&self, db: &Db, items: &[Successor]) -> Result<Vec<bool>> {
        // In a fixed order: two PostgreSQL instances inserting groups that share parents
        // in opposite orders would otherwise wait on each other's unique-index entries.
        let mut rows: Vec<&Successor> = items.iter().collect();
        rows.sort_unstable_by(|a, b| a.parent_hash.cmp(&b.parent_hash));
        let inserted = insert_group(db, &rows).await?;
        Ok(items.iter().map(|s| inserted.contains(&s.token_hash)).collect())
    }
}

impl Rotations {
    pub(crate) fn new(db: Db) -> Self {
        Rotations(Group::new(db, Successors))
    }

    /// Store `s` as the successor of its parent. False when the parent already has one
    /// (another request rotated it first).
    pub(crate) async fn insert(&self, s: Successor) -> Result<bool> {
        self.0.write(s).await
    }
}

/// Insert `rows` in one statement; the token hashes that went in.
async fn insert_group(db: &Db, rows: &[&Successor]) -> Result<Vec<String>> {
    let sql = format!(
        "INSERT INTO kavach_oauth_refresh (token_hash, family_id, created_at, parent_hash, token_sealed) VALUES {} ON CONFLICT DO NOTHING RETURNING token_hash",
        crate::store::values_list(matches!(db, Db::Sqlite(_)), rows.len(), 5)
    );
    Ok(db!(db, |pool| {
        // Only placeholders are generated; every value is bound.
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
        for r in rows {
            q = q.bind(&r.token_hash).bind(&r.family_id).bind(r.created_at).bind(&r.parent_hash).bind(&r.sealed);
        }
        let _turn = pool.write_turn().await;
        q.fetch_all(pool).await?
    }))
}
