//! Every query of passkeys on `kavach_passkey` (the ceremony states are single-use
//! verification rows, `verification::consume`). The credential itself (public key,
//! counter, flags) is webauthn-rs's `Passkey`, stored as JSON in `public_key`.

use super::Passkey;
use crate::error::{Code, Error, Kind, Result};
use crate::store::{BeginWrite, Db, Ts};
use crate::{RequestContext, audit, db};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::Row;
use webauthn_rs::prelude::{Credential, Passkey as WebauthnPasskey};

const COLUMNS: &str = "id, name, user_id, credential_id, counter, device_type, backed_up, transports, created_at, last_used_at";

macro_rules! passkey_from_row {
    ($r:expr) => {
        Passkey {
            id: $r.try_get("id")?,
            name: $r.try_get("name")?,
            user_id: $r.try_get("user_id")?,
            credential_id: $r.try_get("credential_id")?,
            counter: $r.try_get::<i64, _>("counter")?.max(0) as u64,
            device_type: $r.try_get("device_type")?,
            backed_up: $r.try_get("backed_up")?,
            transports: $r.try_get("transports")?,
            created_at: $r.try_get("created_at")?,
            last_used_at: $r.try_get("last_used_at")?,
        }
    };
}

/// A stored passkey with its credential, and the user handle its authenticator returns
/// (none for a passkey imported from better-auth).
pub(crate) struct Stored {
    pub passkey: Passkey,
    pub credential: WebauthnPasskey,
    pub user_handle: Option<Vec<u8>>,
}

fn parse_credential(json: &str) -> Result<WebauthnPasskey> {
    serde_json::from_str(json).map_err(|e| Error::internal("a stored passkey does not parse").with_source(e))
}

fn credential_json(pk: &WebauthnPasskey) -> Result<String> {
    serde_json::to_string(pk).map_err(|e| Error::internal("serialising a passkey").with_source(e))
}

/// The credentials of a user (to exclude them from a new registration).
pub(crate) async fn credentials(db: &Db, user_id: &str) -> Result<Vec<WebauthnPasskey>> {
    let rows: Vec<(String,)> =
        db!(db, |pool| { sqlx::query_as("SELECT public_key FROM kavach_passkey WHERE user_id = $1").bind(user_id).fetch_all(pool).await? });
    rows.iter().map(|(j,)| parse_credential(j)).collect()
}

/// Insert a new passkey of `user_id`, with its audit record. A credential id registered
/// before (to anyone) is refused.
pub(crate) async fn insert(db: &Db, user_id: &str, name: Option<&str>, pk: &WebauthnPasskey, ctx: &RequestContext) -> Result<Passkey> {
    let cred: Credential = pk.clone().into();
    let transports = cred.transports.as_ref().map(|ts| {
        ts.iter().map(|t| serde_json::to_value(t).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()).collect::<Vec<_>>().join(",")
    });
    let p = Passkey {
        id: crate::crypto::new_id(),
        name: name.map(str::to_owned),
        user_id: user_id.to_owned(),
        credential_id: URL_SAFE_NO_PAD.encode(pk.cred_id()),
        counter: u64::from(cred.counter),
        device_type: if cred.backup_eligible { "multiDevice" } else { "singleDevice" }.to_owned(),
        backed_up: cred.backup_state,
        transports,
        created_at: Ts::now(),
        last_used_at: None,
    };
    let json = credential_json(pk)?;
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO kavach_passkey (id, name, user_id, credential_id, public_key, counter, device_type, backed_up, transports, created_at, user_handle) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.user_id)
        .bind(&p.credential_id)
        .bind(&json)
        .bind(p.counter as i64)
        .bind(&p.device_type)
        .bind(p.backed_up)
        .bind(&p.transports)
        .bind(p.created_at)
        .bind(URL_SAFE_NO_PAD.encode(super::user_handle(user_id).as_bytes()))
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                return Err(Error::new(Kind::Conflict, Code::PreviouslyRegistered, "Previously registered: this passkey is already registered"));
            }
            r => r?,
        };
        audit::append_in_tx!(
            tx,
            audit::Event::new(audit::EventKind::PasskeyAdded, Some(user_id), ctx).with("passkeyId", &p.id).with("deviceType", &p.device_type)
        );
        tx.commit().await?;
    });
    Ok(p)
}

/// The passkey with this credential id.
pub(crate) async fn by_credential_id(db: &Db, cred_id: &[u8]) -> Result<Option<Stored>> {
    let sql = format!("SELECT {COLUMNS}, public_key, user_handle FROM kavach_passkey WHERE credential_id = $1");
    let id = URL_SAFE_NO_PAD.encode(cred_id);
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&id).fetch_optional(pool).await? {
            Some(r) => {
                let json: String = r.try_get("public_key")?;
                let handle: Option<String> = r.try_get("user_handle")?;
                let user_handle = handle
                    .map(|h| URL_SAFE_NO_PAD.decode(h).map_err(|e| Error::internal("a stored user handle does not decode").with_source(e)))
                    .transpose()?;
                Ok(Some(Stored { passkey: passkey_from_row!(r), credential: parse_credential(&json)?, user_handle }))
            }
            None => Ok(None),
        }
    })
}

/// Record a sign-in with the passkey: its updated credential and use time. With a
/// counter (non-zero), only if the stored one is still lower, so of two sign-ins with the
/// same counter value one passes. Returns whether it was recorded.
pub(crate) async fn record_use(db: &Db, id: &str, pk: &WebauthnPasskey, counter: u32) -> Result<bool> {
    let cred: Credential = pk.clone().into();
    let json = credential_json(pk)?;
    let n = db!(db, |pool| {
        // Behind the process's other writers (SQLite), not in SQLite's sleeping busy handler.
        let _turn = pool.write_turn().await;
        sqlx::query("UPDATE kavach_passkey SET public_key = $1, counter = $2, backed_up = $3, last_used_at = $4 WHERE id = $5 AND ($2 = 0 OR counter < $2)")
            .bind(&json)
            .bind(i64::from(counter))
            .bind(cred.backup_state)
            .bind(Ts::now())
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(n == 1)
}

pub(crate) async fn list(db: &Db, user_id: &str) -> Result<Vec<Passkey>> {
    let sql = format!("SELECT {COLUMNS} FROM kavach_passkey WHERE user_id = $1 ORDER BY created_at, id");
    db!(db, |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(pool).await?;
        rows.iter().map(|r| Ok(passkey_from_row!(r))).collect()
    })
}

/// Rename a passkey of the user; `None` when they have none with this id.
pub(crate) async fn rename(db: &Db, user_id: &str, id: &str, name: &str, ctx: &RequestContext) -> Result<Option<Passkey>> {
    let sql = format!("SELECT {COLUMNS} FROM kavach_passkey WHERE id = $1");
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let n = sqlx::query("UPDATE kavach_passkey SET name = $1 WHERE id = $2 AND user_id = $3")
            .bind(name)
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(&mut *tx).await?;
        audit::append_in_tx!(tx, audit::Event::new(audit::EventKind::PasskeyRenamed, Some(user_id), ctx).with("passkeyId", id));
        tx.commit().await?;
        Ok(Some(passkey_from_row!(r)))
    })
}

/// The user has a passkey: a way in besides wallets.
pub(crate) async fn has_passkey(db: &Db, user_id: &str) -> Result<bool> {
    let (n,): (i64,) = db!(db, |pool| { sqlx::query_as("SELECT COUNT(*) FROM kavach_passkey WHERE user_id = $1").bind(user_id).fetch_one(pool).await? });
    Ok(n > 0)
}

pub(crate) enum Deleted {
    Yes,
    NotFound,
    /// `keep_one` and it is the user's last passkey.
    LastWay,
}

/// Delete a passkey of `user_id` (of anyone with `None`); with `keep_one`, not the user's last one
/// (counted under the user's row lock, so two deletes cannot both pass).
pub(crate) async fn delete(db: &Db, user_id: Option<&str>, id: &str, keep_one: bool, ctx: &RequestContext) -> Result<Deleted> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let owner: Option<(String,)> = sqlx::query_as("SELECT user_id FROM kavach_passkey WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
        let Some((owner,)) = owner.filter(|(o,)| user_id.is_none_or(|u| u == o)) else { return Ok(Deleted::NotFound) };
        sqlx::query("UPDATE kavach_user SET updated_at = updated_at WHERE id = $1").bind(&owner).execute(&mut *tx).await?;
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kavach_passkey WHERE user_id = $1").bind(&owner).fetch_one(&mut *tx).await?;
        if keep_one && count <= 1 {
            return Ok(Deleted::LastWay);
        }
        sqlx::query("DELETE FROM kavach_passkey WHERE id = $1").bind(id).execute(&mut *tx).await?;
        audit::append_in_tx!(tx, audit::Event::new(audit::EventKind::PasskeyDeleted, Some(&owner), ctx).with("passkeyId", id));
        tx.commit().await?;
        Ok(Deleted::Yes)
    })
}
