//! RFC 8628 device authorization grant, for headless agents and CLIs: the device asks
//! for a device code and a short user code, the user enters the code on Kavach's page,
//! signs in and approves, and the device polls the token endpoint (with `slow_down`
//! enforced) until it gets its tokens, once.

use super::OAuthError;
use super::clients::Client;
use super::tokens::{NewFamily, Tokens, err, internal};
use crate::audit::{self, Event};
use crate::error::Result;
use crate::store::Ts;
use crate::users::User;
use crate::{RequestContext, crypto, db};
use serde_json::Value;
use std::collections::HashMap;

pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Letters without vowels (no words) and without look-alikes: 20^8 codes.
const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const TTL_SECS: i64 = 600;
const INTERVAL_SECS: i64 = 5;

/// What the device shows its user.
#[derive(Debug)]
pub struct DeviceStart {
    pub device_code: String,
    pub user_code: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// A pending device request, as the approval page shows it.
#[derive(Debug, Clone)]
pub struct DeviceRequest {
    pub client_id: String,
    pub scope: Vec<String>,
    pub resource: Option<String>,
}

fn new_user_code() -> String {
    let bytes = crypto::random_bytes::<8>();
    let code: String = bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect();
    format!("{}-{}", &code[..4], &code[4..])
}

/// The canonical form of what a user typed: upper case, no dashes or spaces.
pub fn normalize_user_code(typed: &str) -> String {
    typed.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

impl Tokens<'_> {
    fn user_code_hash(&self, typed: &str) -> String {
        self.0.secrets.keyed_hash(&format!("device-user-code\0{}", normalize_user_code(typed)))
    }

    /// `POST /oauth2/device_authorization`.
    pub async fn device_authorization(&self, client: &Client, form: &HashMap<String, String>) -> std::result::Result<DeviceStart, OAuthError> {
        if !client.allows_grant(GRANT) {
            return Err(err("unauthorized_client", "this client is not registered for the device_code grant"));
        }
        let (scope, resource) = self.0.authorize().scope_and_resource(form.get("scope").map(String::as_str), form.get("resource").map(String::as_str))?;
        let device_code = crypto::random_token();
        let user_code = new_user_code();
        let now = Ts::now();
        let r: Result<()> = async {
            db!(&self.0.db, |pool| {
                sqlx::query(
                    "INSERT INTO kavach_oauth_device (device_code_hash, user_code_hash, client_id, scope, resource, status, interval_secs, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(crypto::token_hash(&device_code))
                .bind(self.user_code_hash(&user_code))
                .bind(&client.client_id)
                .bind(scope.join(" "))
                .bind(&resource)
                .bind("pending")
                .bind(INTERVAL_SECS)
                .bind(now)
                .bind(now.plus_secs(TTL_SECS))
                .execute(pool)
                .await?;
            });
            Ok(())
        }
        .await;
        r.map_err(internal)?;
        Ok(DeviceStart { device_code, user_code, expires_in: TTL_SECS, interval: INTERVAL_SECS })
    }

    /// The pending request a user code names (unexpired, not yet decided).
    pub async fn device_request(&self, typed: &str) -> Result<Option<DeviceRequest>> {
        let row: Option<(String, String, Option<String>)> = db!(&self.0.db, |pool| {
            sqlx::query_as("SELECT client_id, scope, resource FROM kavach_oauth_device WHERE user_code_hash = $1 AND status = $2 AND expires_at > $3")
                .bind(self.user_code_hash(typed))
                .bind("pending")
                .bind(Ts::now())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(client_id, scope, resource)| DeviceRequest {
            client_id,
            scope: scope.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            resource,
        }))
    }

    /// The signed-in user approves or denies a pending request. False when the code is
    /// unknown, expired or already decided.
    pub async fn device_decide(&self, typed: &str, user: &User, auth_time: i64, approve: bool, ctx: &RequestContext) -> Result<bool> {
        let status = if approve { "approved" } else { "denied" };
        let n = db!(&self.0.db, |pool| {
            sqlx::query(
                "UPDATE kavach_oauth_device SET status = $1, user_id = $2, auth_time = $3 WHERE user_code_hash = $4 AND status = $5 AND expires_at > $6",
            )
            .bind(status)
            .bind(&user.id)
            .bind(Ts(auth_time * 1000))
            .bind(self.user_code_hash(typed))
            .bind("pending")
            .bind(Ts::now())
            .execute(pool)
            .await?
            .rows_affected()
        });
        if n == 1 {
            audit::append(&self.0.db, Event::new(if approve { "oauth.device.approved" } else { "oauth.device.denied" }, Some(&user.id), ctx)).await?;
        }
        Ok(n == 1)
    }

    /// The token endpoint's device_code grant: pending, slow_down, denied, expired, or
    /// the tokens (once).
    pub(crate) async fn device_grant(
        &self,
        client: &Client,
        form: &HashMap<String, String>,
        jkt: Option<&str>,
        ctx: &RequestContext,
    ) -> std::result::Result<Value, OAuthError> {
        let code = form.get("device_code").ok_or_else(|| err("invalid_request", "device_code is required"))?;
        let hash = crypto::token_hash(code);
        type Row = (String, String, Option<String>, String, Option<String>, Option<Ts>, i64, Option<Ts>, Ts);
        let row: Option<Row> = db!(&self.0.db, |pool| {
            sqlx::query_as(
                "SELECT client_id, scope, resource, status, user_id, auth_time, interval_secs, last_poll_at, expires_at FROM kavach_oauth_device WHERE device_code_hash = $1",
            )
            .bind(&hash)
            .fetch_optional(pool)
            .await
            .map_err(crate::Error::from)
            .map_err(internal)?
        });
        let (client_id, scope, resource, status, user_id, auth_time, interval, last_poll, expires) =
            row.ok_or_else(|| err("invalid_grant", "unknown device_code"))?;
        if client_id != client.client_id {
            return Err(err("invalid_grant", "this device_code was issued to another client"));
        }
        let now = Ts::now();
        if expires < now {
            return Err(err("expired_token", "the device code has expired; start again"));
        }
        match status.as_str() {
            "denied" => return Err(err("access_denied", "the user denied the request")),
            "redeemed" => return Err(err("invalid_grant", "the device code was already used")),
            _ => {}
        }
        // Polling faster than the interval: slow_down, and the interval grows by 5 s.
        let too_fast = last_poll.is_some_and(|t| now.0 - t.0 < interval * 1000);
        db!(&self.0.db, |pool| {
            sqlx::query("UPDATE kavach_oauth_device SET last_poll_at = $1, interval_secs = interval_secs + $2 WHERE device_code_hash = $3")
                .bind(now)
                .bind(if too_fast { 5i64 } else { 0i64 })
                .bind(&hash)
                .execute(pool)
                .await
                .map_err(crate::Error::from)
                .map_err(internal)?;
        });
        if too_fast {
            return Err(err("slow_down", "polling too often: wait longer between requests"));
        }
        if status == "pending" {
            return Err(err("authorization_pending", "the user has not approved the request yet"));
        }
        let (Some(user_id), Some(auth_time)) = (user_id, auth_time) else { return Err(err("invalid_grant", "the device request is incomplete")) };
        let user = self.live_user(&user_id).await?;
        let family_id = crypto::new_id();
        let nf = NewFamily {
            id: &family_id,
            client_id: &client.client_id,
            user_id: &user_id,
            scope: &scope,
            resource: resource.as_deref(),
            auth_time,
            dpop_jkt: jkt,
        };
        let claim = "UPDATE kavach_oauth_device SET status = 'redeemed', last_poll_at = $1 WHERE device_code_hash = $2 AND status = 'approved'";
        let scopes: Vec<String> = scope.split(' ').map(str::to_owned).collect();
        self.redeem(client, GRANT, claim, &hash, &nf, &user, &scopes, None, ctx).await?.ok_or_else(|| err("invalid_grant", "the device code was already used"))
    }

    /// Delete expired device requests.
    pub(crate) async fn purge_devices(&self) -> Result<()> {
        db!(&self.0.db, |pool| {
            sqlx::query("DELETE FROM kavach_oauth_device WHERE expires_at < $1").bind(Ts::now().plus_secs(-86400)).execute(pool).await?;
        });
        Ok(())
    }
}
