//! Group commit: the writes of many concurrent requests in one transaction.
//!
//! A request that must write durably before it answers (a session and its audit record,
//! a single-use token consumed) hands its write to the [`Group`] of that kind of write and
//! waits. One writer task per group and process takes every write waiting when it starts
//! a transaction (up to [`GROUP_MAX`]), writes them with a few multi-row statements,
//! commits, and answers each: a write is acknowledged only once it is committed, exactly
//! as when each request committed its own transaction. Under load the transactions grow
//! with the number of requests waiting, so the database's single writer (SQLite) and the
//! audit chain's head row are taken once per group rather than once per request; with
//! one request at a time a group is that one write (no waiting window is added).
//!
//! When a group's transaction fails, each of its writes is tried again on its own, so
//! one write that cannot be made (a foreign key gone meanwhile) fails only its own
//! request.

use super::Db;
use crate::error::{Code, Error, Kind, Result};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Writes per transaction at most.
pub(crate) const GROUP_MAX: usize = 256;

/// One kind of grouped write.
pub(crate) trait Batch: Send + Sync + 'static {
    type Item: Send + 'static;
    type Out: Send + 'static;
    /// Write `items` in one transaction and commit; one answer per item, in order.
    fn write(&self, db: &Db, items: &[Self::Item]) -> impl Future<Output = Result<Vec<Self::Out>>> + Send;
}

type Waiting<B> = (<B as Batch>::Item, oneshot::Sender<Result<<B as Batch>::Out>>);

/// The writer of one kind of write (see the module's documentation).
pub(crate) struct Group<B: Batch> {
    db: Db,
    batch: Arc<B>,
    /// The writer task's queue, started on first use in the caller's runtime (and again
    /// if that runtime has gone, as between tests).
    sender: Mutex<Option<mpsc::Sender<Waiting<B>>>>,
}

impl<B: Batch> Group<B> {
    pub(crate) fn new(db: Db, batch: B) -> Self {
        Group { db, batch: Arc::new(batch), sender: Mutex::new(None) }
    }

    fn sender(&self) -> mpsc::Sender<Waiting<B>> {
        let mut s = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        match &*s {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let (tx, rx) = mpsc::channel(GROUP_MAX * 4);
                tokio::spawn(run(self.db.clone(), self.batch.clone(), rx));
                *s = Some(tx.clone());
                tx
            }
        }
    }

    /// Write `item` with whatever else is waiting; its answer once committed.
    pub(crate) async fn write(&self, item: B::Item) -> Result<B::Out> {
        let (done, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((item, _))) = self.sender().send((item, done)).await {
            // The writer's runtime ended while this was sent: nothing was written yet.
            return one(&*self.batch, &self.db, item).await;
        }
        // No answer: the writer task ended mid-transaction (its runtime is shutting down);
        // whether the write committed is unknown.
        answer.await.unwrap_or_else(|_| Err(Error::new(Kind::Unavailable, Code::DatabaseError, "The write was interrupted: try again")))
    }
}

async fn one<B: Batch>(batch: &B, db: &Db, item: B::Item) -> Result<B::Out> {
    let mut out = batch.write(db, std::slice::from_ref(&item)).await?;
    out.pop().ok_or_else(|| Error::internal("a grouped write gave no answer"))
}

async fn run<B: Batch>(db: Db, batch: Arc<B>, mut rx: mpsc::Receiver<Waiting<B>>) {
    let mut waiting = Vec::with_capacity(GROUP_MAX);
    while rx.recv_many(&mut waiting, GROUP_MAX).await > 0 {
        let (items, answers): (Vec<B::Item>, Vec<_>) = waiting.drain(..).unzip();
        match batch.write(&db, &items).await {
            Ok(outs) if outs.len() == items.len() => {
                for (a, o) in answers.into_iter().zip(outs) {
                    let _ = a.send(Ok(o));
                }
            }
            Ok(_) => {
                for a in answers {
                    let _ = a.send(Err(Error::internal("a grouped write gave the wrong number of answers")));
                }
            }
            Err(e) if items.len() == 1 => {
                if let Some(a) = answers.into_iter().next() {
                    let _ = a.send(Err(e));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, writes = items.len(), "a grouped write failed: each write alone");
                for (item, a) in items.into_iter().zip(answers) {
                    let _ = a.send(one(&*batch, &db, item).await);
                }
            }
        }
    }
}
