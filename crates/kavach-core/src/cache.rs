//! Per-instance read caches of rows that change rarely and are read on hot paths (an
//! agent's delegation chain and keys, an OAuth client's row), under one staleness
//! contract.
//!
//! An entry is served for at most [`FRESH_FOR`] after it was read, and only while the
//! instance's invalidation count ([`crate::sessions::Sessions::epoch`]) is the one taken
//! before the read began. Every change that a cached row could hide bumps that count on
//! this instance at once and, on PostgreSQL, on every other instance when it hears the
//! `NOTIFY` (an instance whose listener reconnects starts cold). So a change is seen on
//! every instance within one notification round trip, and within [`FRESH_FOR`] even when
//! a notification is missed or a second process (the CLI) shares one SQLite file.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// The longest a cached entry is served (the bound when a notification is missed).
pub const FRESH_FOR: Duration = Duration::from_millis(500);
/// Entries kept per cache before it starts over (bounded memory).
const MAX_ENTRIES: usize = 100_000;

/// One cached read: filled once by the first caller, awaited by the others (so a burst
/// of calls for a key whose entry just went stale makes one read, not one each). A read
/// that fails leaves it empty, for the next caller to try.
pub(crate) type Slot<T> = Arc<tokio::sync::OnceCell<T>>;

struct Stamp {
    epoch: u64,
    read_at: Instant,
}

impl Stamp {
    fn fresh(&self, epoch: u64) -> bool {
        self.epoch == epoch && self.read_at.elapsed() < FRESH_FOR
    }
}

/// Cached reads by key.
pub(crate) struct Slots<T>(RwLock<HashMap<String, (Slot<T>, Stamp)>>);

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots(RwLock::new(HashMap::new()))
    }
}

impl<T> Slots<T> {
    /// The slot for `key` that is fresh at `epoch` (the count taken before the read it
    /// holds or will hold began): the cached one, or a new empty one.
    pub(crate) fn slot(&self, key: &str, epoch: u64) -> Slot<T> {
        if let Some((slot, s)) = self.0.read().unwrap_or_else(PoisonError::into_inner).get(key)
            && s.fresh(epoch)
        {
            return slot.clone();
        }
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if let Some((slot, s)) = map.get(key)
            && s.fresh(epoch)
        {
            return slot.clone();
        }
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (_, s)| s.fresh(epoch));
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        let slot = Slot::default();
        map.insert(key.to_owned(), (slot.clone(), Stamp { epoch, read_at: Instant::now() }));
        slot
    }
}
