//! Every query of the magic-link capability.

use crate::db;
use crate::error::Result;
use crate::store::{BeginWrite, Db};
use crate::verification::{Purpose, consume_in_tx};

/// Consume the link's token: its JSON value, or `None` when unknown, used or expired.
pub(super) async fn consume(db: &Db, token: &str) -> Result<Option<serde_json::Value>> {
    Ok(db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let v = consume_in_tx!(tx, Purpose::MagicLink, token);
        tx.commit().await?;
        v
    }))
}
