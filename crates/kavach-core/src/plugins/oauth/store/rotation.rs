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
use crate::error::{Error, Result};
use crate::store::{BeginWrite, Db, Ts};
use std::sync::OnceLock;
use tokio::sync::{mpsc, oneshot};

/// Rows per statement (five parameters each; well under both databases' limits).
const MAX_GROUP: usize = 256;

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

type Job = (Successor, oneshot::Sender<Result<bool>>);

pub(crate) struct Rotations {
    db: Db,
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
}

impl Rotations {
    pub(crate) fn new(db: Db) -> Self {
        Rotations { db, queue: OnceLock::new() }
    }

    /// Store `s` as the successor of its parent. False when the parent already has one
    /// (another request rotated it first).
    pub(crate) async fn insert(&self, s: Successor) -> Result<bool> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(self.db.clone(), rx));
            tx
        });
        let (done, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((s, _))) = queue.send((s, done)) {
            // The writer task is gone (its runtime ended): write this one directly.
            let token_hash = s.token_hash.clone();
            return Ok(insert_group(&self.db, &[&s]).await?.contains(&token_hash));
        }
        answer.await.map_err(|_| Error::internal("the refresh token writer stopped"))?
    }
}

async fn run(db: Db, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut jobs, MAX_GROUP).await > 0 {
        // In a fixed order: two PostgreSQL instances inserting groups that share parents
        // in opposite orders would otherwise wait on each other's unique-index entries.
        let mut rows: Vec<&Successor> = jobs.iter().map(|(s, _)| s).collect();
        rows.sort_unstable_by(|a, b| a.parent_hash.cmp(&b.parent_hash));
        let written = insert_group(&db, &rows).await;
        let n = rows.len();
        match written {
            Ok(inserted) => {
                for (s, done) in jobs.drain(..) {
                    let _ = done.send(Ok(inserted.contains(&s.token_hash)));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, rows = n, "writing refresh token successors failed");
                for (_, done) in jobs.drain(..) {
                    let _ = done.send(Err(Error::internal("could not store the refresh token")));
                }
            }
        }
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
