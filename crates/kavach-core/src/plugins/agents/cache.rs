//! What a decision reads about an agent, kept per instance: the delegation chain (with
//! each owner's ban), the chain's permissions (parsed once) and the budgets that apply,
//! and which agent each key belongs to. A decision then reads nothing from the database
//! before it writes its audit record.
//!
//! Staleness: the contract of [`crate::cache`]. Every change that can stop or narrow an
//! agent (its status, deletion, keys, permissions, budgets; its owner's ban or deletion;
//! a change to its organization or the organization's removal) drops every entry, so a
//! revoked agent is refused on every instance within one notification round trip, and
//! within [`crate::cache::FRESH_FOR`] even when a notification is missed. Counters
//! (rates, budgets spent, session actions) and approvals are never cached.

use super::store::{self, Link};
use super::{Budget, Permission};
use crate::Core;
use crate::cache::Slots;
use crate::error::Result;
use crate::store::Ts;
use std::sync::Arc;

/// What a decision about one agent reads.
pub(crate) struct View {
    /// The agent first, then its delegators up to the root.
    pub chain: Vec<Link>,
    /// The permissions of every agent of the chain.
    pub perms: Vec<Permission>,
    /// The budgets of every agent of the chain and of the agent's owner.
    pub budgets: Vec<Budget>,
}

#[derive(Default)]
pub(crate) struct Cache {
    /// Agent → its view (`None`: no such agent).
    views: Slots<Option<Arc<View>>>,
    /// Key hash → (agent, the key's expiry), or `None` for no such key.
    keys: Slots<Option<(String, Option<Ts>)>>,
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
        let slot = self.views.slot(agent_id, core.sessions.epoch());
        slot.get_or_try_init(|| read_view(core, agent_id)).await.cloned()
    }

    /// The agent a key (by its hash) belongs to, unless the key expired.
    pub(crate) async fn key_agent(&self, core: &Core, hash: &str) -> Result<Option<String>> {
        let found = if core.sessions.caches() {
            let slot = self.keys.slot(hash, core.sessions.epoch());
            slot.get_or_try_init(|| store::key_agent(&core.db, hash)).await?.clone()
        } else {
            store::key_agent(&core.db, hash).await?
        };
        let now = Ts::now();
        Ok(found.filter(|(_, expires)| expires.is_none_or(|e| e > now)).map(|(agent, _)| agent))
    }
}
