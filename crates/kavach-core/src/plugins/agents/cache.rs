//! What a decision reads about an agent, kept per instance: the delegation chain (with
//! each owner's ban), the chain's permissions (parsed once) and the budgets that apply,
//! and which agent each key belongs to. A decision then reads nothing from the database
//! before it writes its audit record.
//!
//! Staleness contract: an entry is served for at most [`FRESH_FOR`] after it was read.
//! Every change that can stop or narrow an agent (its status, deletion, keys,
//! permissions, budgets; its owner's ban or deletion; a change to its organization or
//! the organization's removal) drops every entry on this instance at once and, on
//! PostgreSQL, on every other instance when it hears the `NOTIFY` (an instance whose
//! listener reconnects starts cold). So a revoked agent is refused on every instance
//! within one notification round trip, and within [`FRESH_FOR`] even when a
//! notification is missed or a second process shares one SQLite file. Counters (rates,
//! budgets spent, session actions) and approvals are never cached.

use super::store::{self, Link};
use super::{Budget, Permission};
use crate::Core;
use crate::error::Result;
use crate::store::Ts;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// The longest a cached entry is served (the bound when a notification is missed).
pub const FRESH_FOR: Duration = Duration::from_millis(500);
/// Entries kept before the cache starts over (bounded memory).
const MAX_ENTRIES: usize = 100_000;

/// What a decision about one agent reads.
pub(crate) struct View {
    /// The agent first, then its delegators up to the root.
    pub chain: Vec<Link>,
    /// The permissions of every agent of the chain.
    pub perms: Vec<Permission>,
    /// The budgets of every agent of the chain and of the agent's owner.
    pub budgets: Vec<Budget>,
}

/// One cached read: filled once by the first caller, awaited by the others (so a burst
/// of calls for an agent whose entry just went stale makes one read, not one each).
type Slot<T> = Arc<tokio::sync::OnceCell<T>>;

struct Stamp {
    epoch: u64,
    read_at: Instant,
}

impl Stamp {
    fn fresh(&self, epoch: u64) -> bool {
        self.epoch == epoch && self.read_at.elapsed() < FRESH_FOR
    }
}

type Slots<T> = RwLock<HashMap<String, (Slot<T>, Stamp)>>;

#[derive(Default)]
pub(crate) struct Cache {
    /// Agent → its view (`None`: no such agent).
    views: Slots<Option<Arc<View>>>,
    /// Key hash → (agent, the key's expiry), or `None` for no such key.
    keys: Slots<Option<(String, Option<Ts>)>>,
}

/// The slot for `key` that is fresh at `epoch` (the epoch taken before the read it
/// holds or will hold began): the cached one, or a new empty one.
fn slot<T>(map: &Slots<T>, key: &str, epoch: u64) -> Slot<T> {
    if let Some((slot, s)) = map.read().unwrap_or_else(PoisonError::into_inner).get(key)
        && s.fresh(epoch)
    {
        return slot.clone();
    }
    let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
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

async fn read_view(core: &Core, agent_id: &str) -> Result<Option<Arc<View>>> {
    let chain = store::chain(&core.db, agent_id).await?;
    if chain.is_empty() {
        return Ok(None);
    }
    let ids: Vec<&str> = chain.iter().map(|l| l.agent.id.as_str()).collect();
    let perms = store::permissions(&core.db, &ids).await?;
    let budgets = store::budgets_for_chain(&core.db, &chain).await?;
    Ok(Some(Arc::new(View { chain, perms, budgets })))
}

impl Cache {
    /// The view of `agent_id`: `None` when no such agent exists.
    pub(crate) async fn view(&self, core: &Core, agent_id: &str) -> Result<Option<Arc<View>>> {
        if !core.sessions.caches() {
            return read_view(core, agent_id).await;
        }
        // The epoch is taken before the read: a read that an invalidation overtakes is
        // stamped with the old epoch and never served again.
        let slot = slot(&self.views, agent_id, core.sessions.agent_epoch());
        slot.get_or_try_init(|| read_view(core, agent_id)).await.cloned()
    }

    /// The agent a key (by its hash) belongs to, unless the key expired.
    pub(crate) async fn key_agent(&self, core: &Core, hash: &str) -> Result<Option<String>> {
        let found = if core.sessions.caches() {
            let slot = slot(&self.keys, hash, core.sessions.agent_epoch());
            slot.get_or_try_init(|| store::key_agent(&core.db, hash)).await?.clone()
        } else {
            store::key_agent(&core.db, hash).await?
        };
        let now = Ts::now();
        Ok(found.filter(|(_, expires)| expires.is_none_or(|e| e > now)).map(|(agent, _)| agent))
    }
}
