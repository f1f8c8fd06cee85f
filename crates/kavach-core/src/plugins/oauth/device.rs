//! RFC 8628 device authorization grant, for headless agents and CLIs: the device asks
//! for a device code and a short user code, the user enters the code on Kavach's page,
//! signs in and approves, and the device polls the token endpoint (with `slow_down`
//! enforced) until it gets its tokens, once.

use super::clients::Client;
use super::store::device as store;
use super::tokens::{Tokens, err, internal};
use super::{OAuthError, OAuthErrorCode};
use crate::audit::{self, Event};
use crate::error::Result;
use crate::store::Ts;
use crate::users::User;
use crate::{RequestContext, crypto};
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
    let mut code = String::with_capacity(bytes.len() + 1);
    for (i, b) in bytes.iter().enumerate() {
        if i == 4 {
            code.push('-');
        }
        // Always Some: the index is taken modulo the alphabet's length.
        code.extend(ALPHABET.get(usize::from(*b) % ALPHABET.len()).map(|&c| char::from(c)));
    }
    code
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
            return Err(err(OAuthErrorCode::UnauthorizedClient, "this client is not registered for the device_code grant"));
        }
        let (scope, resource) = self.0.authorize().scope_and_resource(form.get("scope").map(String::as_str), form.get("resource").map(String::as_str))?;
        let device_code = crypto::random_token();
        let user_code = new_user_code();
        let now = Ts::now();
        let row = store::NewDevice {
            device_code_hash: crypto::token_hash(&device_code),
            user_code_hash: self.user_code_hash(&user_code),
            client_id: &client.client_id,
            scope: scope.join(" "),
            resource: resource.as_deref(),
            interval_secs: INTERVAL_SECS,
        };
        store::insert(&self.0.db, &row, now, now.plus_secs(TTL_SECS)).await.map_err(internal)?;
        Ok(DeviceStart { device_code, user_code, expires_in: TTL_SECS, interval: INTERVAL_SECS })
    }

    /// The pending request a user code names (unexpired, not yet decided).
    pub async fn device_request(&self, typed: &str) -> Result<Option<DeviceRequest>> {
        let row = store::pending(&self.0.db, &self.user_code_hash(typed), Ts::now()).await?;
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
        let n = store::decide(&self.0.db, &self.user_code_hash(typed), status, &user.id, Ts(auth_time * 1000), Ts::now()).await?;
        if n == 1 {
            audit::append(
                &self.0.db,
                Event::new(
                    if approve { crate::audit::EventKind::OAuthDeviceApproved } else { crate::audit::EventKind::OAuthDeviceDenied },
                    Some(&user.id),
                    ctx,
                ),
            )
            .await?;
        }
        Ok(n == 1)
    }

    /// Delete expired device requests.
    pub(crate) async fn purge_devices(&self) -> Result<()> {
        store::purge(&self.0.db, Ts::now().plus_secs(-86400)).await
    }
}
