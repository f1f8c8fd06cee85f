//! The token endpoint's writes, in groups: refresh token successors and the audit
//! events of issued tokens.
//!
//! Every refresh_token grant stores the presented token's successor, and every grant
//! records an `oauth.token.issued` event. Concurrent writes are gathered by one task
//! and written in one transaction: a single multi-row `INSERT ... ON CONFLICT DO
//! NOTHING RETURNING` for the successors and one multi-row append to the audit chain,
//! one commit for the group instead of one each (SQLite has a single writer;
//! PostgreSQL pays a WAL flush per commit). The UNIQUE `parent_hash` still admits
//! exactly one successor per token, within a group as across groups and instances;
//! `RETURNING token_hash` tells each caller whether its row went in, and only a
//! successor that went in has its issuance recorded. Nothing is answered before the
//! group committed.

use crate::audit::{self, Event};
use crate::db;
use crate::error::{Error, Result};
use crate::store::{BeginWrite, Db, Ts};
use std::sync::OnceLock;
use tokio::sync::{mpsc, oneshot};

/// Writes per group (five parameters per successor, ten per event: well under both
/// databases' limits).
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

/// One write of a group.
enum Write {
    /// A successor, and the event recorded if it goes in.
    Successor(Successor, Event),
    /// An event recorded in any case.
    Audit(Event),
}

type Job = (Write, oneshot::Sender<Result<bool>>);

pub(crate) struct Rotations {
    db: Db,
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
}

impl Rotations {
    pub(crate) fn new(db: Db) -> Self {
        Rotations { db, queue: OnceLock::new() }
    }

    /// Store `s` as the successor of its parent, and record `event` with it. False
    /// when the parent already has one (another request rotated it first).
    pub(crate) async fn insert(&self, s: Successor, event: Event) -> Result<bool> {
        self.submit(Write::Successor(s, event)).await
    }

    /// Record `event` with the next group.
    pub(crate) async fn audit(&self, event: Event) -> Result<()> {
        self.submit(Write::Audit(event)).await.map(|_| ())
    }

    async fn submit(&self, w: Write) -> Result<bool> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(self.db.clone(), rx));
            tx
        });
        let (done, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((w, _))) = queue.send((w, done)) {
            // The writer task is gone (its runtime ended): write this one directly.
            return Ok(write_group(&self.db, vec![w]).await?.first().copied().unwrap_or(false));
        }
        answer.await.map_err(|_| Error::internal("the token writer stopped"))?
    }
}

async fn run(db: Db, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut jobs, MAX_GROUP).await > 0 {
        let (writes, answers): (Vec<Write>, Vec<_>) = jobs.drain(..).unzip();
        let n = writes.len();
        match write_group(&db, writes).await {
            Ok(done) => {
                for (ok, answer) in done.into_iter().zip(answers) {
                    let _ = answer.send(Ok(ok));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = n, "writing issued tokens failed");
                for answer in answers {
                    let _ = answer.send(Err(Error::internal("could not store the issued token")));
                }
            }
        }
    }
}

/// Write a group in one transaction; for each write (in order), whether it went in
/// (successors that lost their race did not; events always do).
async fn write_group(db: &Db, writes: Vec<Write>) -> Result<Vec<bool>> {
    // In a fixed order: two PostgreSQL instances inserting groups that share parents
    // in opposite orders would otherwise wait on each other's unique-index entries.
    let mut rows: Vec<&Successor> = writes.iter().filter_map(|w| if let Write::Successor(s, _) = w { Some(s) } else { None }).collect();
    rows.sort_unstable_by(|a, b| a.parent_hash.cmp(&b.parent_hash));
    let mut sql = String::from("INSERT INTO kavach_oauth_refresh (token_hash, family_id, created_at, parent_hash, token_sealed) VALUES ");
    for i in 0..rows.len() {
        let p = i * 5;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("(${}, ${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4, p + 5));
    }
    sql.push_str(" ON CONFLICT DO NOTHING RETURNING token_hash");
    let inserted: Vec<String> = db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let inserted: Vec<String> = if rows.is_empty() {
            Vec::new()
        } else {
            // Only placeholders are generated; every value is bound.
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            for r in &rows {
                q = q.bind(&r.token_hash).bind(&r.family_id).bind(r.created_at).bind(&r.parent_hash).bind(&r.sealed);
            }
            q.fetch_all(&mut *tx).await?
        };
        let events: Vec<Event> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Audit(e) => Some(e.clone()),
                Write::Successor(s, e) => inserted.contains(&s.token_hash).then(|| e.clone()),
            })
            .collect();
        audit::append_many_in_tx!(tx, events);
        tx.commit().await?;
        inserted
    });
    Ok(writes
        .iter()
        .map(|w| match w {
            Write::Audit(_) => true,
            Write::Successor(s, _) => inserted.contains(&s.token_hash),
        })
        .collect())
}
