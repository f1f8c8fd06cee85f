//! Passkeys (`[passkey]`, WebAuthn Level 3; better-auth's `passkey()`): `kavach.passkey()`.
//! The cryptography and the ceremony checks are kanidm's `webauthn-rs`: the challenge, the
//! origin (one of `origins`), the RP id hash, user verification (always required: a passkey
//! is two factors by itself), the signature and the signature counter. Kavach keeps the
//! ceremony state in the database between the two requests (a single-use verification
//! row, so a challenge works once on every instance), the credentials in `kavach_passkey`,
//! and signs the user in.
//!
//! Sign-in is usernameless: the options name no credential, the authenticator offers the
//! discoverable ones it holds for the RP id (or the browser's autofill does, conditional
//! UI), and its answer carries the credential id and user handle. The user handle is
//! derived from the user id (a SHA-256 prefix), so it names no one to the authenticator;
//! it is kept with the passkey and compared at sign-in.

use crate::error::{Code, Error, Kind, Result};
use crate::plugins::two_factor::SignInStep;
use crate::sessions::Session;
use crate::store::Ts;
use crate::users::{self, User};
use crate::verification::{self, Purpose};
use crate::{Core, RequestContext, audit, options};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
    WebauthnError,
};

pub(crate) mod store;

/// `[passkey]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeyOptions {
    pub enabled: bool,
    /// The relying party id: the registrable domain passkeys are bound to (`example.com`
    /// serves `https://app.example.com` and `https://example.com`). Default: the base URL's
    /// host. Changing it orphans every passkey registered under the old one.
    pub rp_id: Option<String>,
    /// The name authenticators show. Default: "Kavach".
    pub rp_name: String,
    /// The origins pages that use passkeys are served from (`https://app.example.com`),
    /// each within `rp_id`. Default: the base URL's origin.
    pub origins: Vec<String>,
    /// How long a registration or sign-in ceremony may take. Default 5 minutes.
    #[serde(deserialize_with = "options::duration")]
    pub challenge_ttl: Duration,
}

impl Default for PasskeyOptions {
    fn default() -> Self {
        PasskeyOptions { enabled: false, rp_id: None, rp_name: "Kavach".to_owned(), origins: vec![], challenge_ttl: Duration::from_secs(300) }
    }
}

impl PasskeyOptions {
    pub(crate) fn problems(&self, base_url: &str) -> Option<String> {
        if !self.enabled {
            return None;
        }
        if self.challenge_ttl < Duration::from_secs(30) || self.challenge_ttl > Duration::from_secs(3600) {
            return Some("passkey.challenge_ttl must be between 30s and 1h".to_owned());
        }
        self.webauthn(base_url).err()
    }

    /// The relying party id in use.
    pub fn effective_rp_id(&self, base_url: &str) -> Option<String> {
        match &self.rp_id {
            Some(id) => Some(id.to_ascii_lowercase()),
            None => Url::parse(base_url).ok()?.host_str().map(str::to_ascii_lowercase),
        }
    }

    /// The ceremony checker for this configuration; an error names what is wrong.
    pub(crate) fn webauthn(&self, base_url: &str) -> std::result::Result<Webauthn, String> {
        let rp_id = self.effective_rp_id(base_url).ok_or_else(|| format!("passkey: the base URL {base_url:?} has no host to be the rp_id"))?;
        if rp_id.parse::<std::net::IpAddr>().is_ok() || rp_id.starts_with('[') {
            return Err(format!(
                "passkey: the rp_id {rp_id:?} is an IP address, which browsers refuse: set passkey.rp_id (and base_url) to a domain name (`localhost` in development)"
            ));
        }
        let origins: Vec<String> = if self.origins.is_empty() { vec![base_url.to_owned()] } else { self.origins.clone() };
        let mut urls = vec![];
        for o in &origins {
            let u = Url::parse(o).map_err(|e| format!("passkey.origins: {o:?} is not a URL ({e})"))?;
            let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
            if !(host == rp_id || host.ends_with(&format!(".{rp_id}"))) {
                return Err(format!("passkey.origins: {o:?} is not within rp_id {rp_id:?}"));
            }
            if u.scheme() != "https" && !(u.scheme() == "http" && (host == "localhost" || host.ends_with(".localhost"))) {
                return Err(format!("passkey.origins: {o:?} must be https (http only on localhost)"));
            }
            urls.push(u);
        }
        let first = urls.first().ok_or("passkey.origins is empty")?;
        let mut b = WebauthnBuilder::new(&rp_id, first).map_err(|e| format!("passkey: rp_id {rp_id:?} with origin {first}: {e}"))?;
        for u in urls.iter().skip(1) {
            b = b.append_allowed_origin(u);
        }
        b.rp_name(&self.rp_name).timeout(self.challenge_ttl).build().map_err(|e| format!("passkey: {e}"))
    }
}

/// A registered passkey, as better-auth's passkey list shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Passkey {
    pub id: String,
    pub name: Option<String>,
    pub user_id: String,
    /// The credential id, base64url.
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// The authenticator's signature counter (0: it keeps none, as synced passkeys).
    pub counter: u64,
    /// `singleDevice`, or `multiDevice` when the credential may be synced (backup eligible).
    pub device_type: String,
    /// The credential is backed up (synced) now.
    pub backed_up: bool,
    /// The transports the authenticator said it can use (`internal`, `usb`, `hybrid`, ...).
    pub transports: Option<String>,
    pub created_at: Ts,
    pub last_used_at: Option<Ts>,
}

/// Options for the browser (`navigator.credentials.create` or `.get`, as
/// `PublicKeyCredentialCreationOptionsJSON` / `...RequestOptionsJSON`), and the token that
/// names the ceremony's state (the HTTP layer keeps it in a signed cookie).
#[derive(Debug)]
pub struct Challenge {
    pub options: Value,
    pub token: String,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "ceremony", rename_all = "camelCase")]
enum Ceremony {
    Registration { user_id: String, state: PasskeyRegistration, name: Option<String> },
    Authentication { state: DiscoverableAuthentication },
}

fn challenge_not_found() -> Error {
    Error::bad_request(Code::ChallengeNotFound, "Challenge not found: start again (a challenge is used once, within passkey.challenge_ttl)")
}

fn auth_failed(why: &str) -> Error {
    Error::new(Kind::Unauthorized, Code::AuthenticationFailed, format!("Authentication failed: {why}"))
}

fn passkey_not_found() -> Error {
    Error::not_found(Code::PasskeyNotFound, "Passkey not found")
}

/// The WebAuthn user handle of a user: 16 bytes derived from the user id.
pub fn user_handle(user_id: &str) -> Uuid {
    let h = crate::crypto::sha256(format!("kavach-passkey-user-handle:{user_id}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(h.get(..16).unwrap_or(&[0; 16]));
    Uuid::from_bytes(b)
}

/// A passkey name: trimmed, 1 to 100 characters.
fn checked_name(name: Option<&str>) -> Result<Option<String>> {
    match name.map(str::trim) {
        None => Ok(None),
        Some(n) if n.is_empty() || n.chars().count() > 100 => Err(Error::bad_request(Code::InvalidPasskeyName, "A passkey name is 1 to 100 characters")),
        Some(n) => Ok(Some(n.to_owned())),
    }
}

/// `kavach.passkey()`.
pub struct Passkeys<'a>(pub(crate) &'a Core);

impl Passkeys<'_> {
    fn webauthn(&self) -> Result<&Webauthn> {
        match &self.0.webauthn {
            Some(w) if self.0.options.passkey.enabled => Ok(w),
            _ => Err(Error::bad_request(Code::PasskeyDisabled, "Passkeys are not enabled on this server")),
        }
    }

    fn ttl(&self) -> Duration {
        self.0.options.passkey.challenge_ttl
    }

    /// Start adding a passkey to the signed-in user (a fresh session): options for
    /// `navigator.credentials.create`, excluding the passkeys the user has, asking for a
    /// discoverable credential and user verification.
    pub async fn registration_options(&self, session: &Session, user: &User, name: Option<&str>) -> Result<Challenge> {
        let w = self.webauthn()?;
        let name = checked_name(name)?;
        self.0.users().confirm_fresh(session, None, "to add a passkey").await?;
        let exclude = store::credentials(&self.0.db, &user.id).await?.into_iter().map(|p| p.cred_id().clone()).collect::<Vec<_>>();
        let account = user.username.clone().unwrap_or_else(|| user.email.clone());
        let display = if user.name.is_empty() { account.clone() } else { user.name.clone() };
        let (ccr, state) = w
            .start_passkey_registration(user_handle(&user.id), &account, &display, Some(exclude))
            .map_err(|e| Error::internal("starting a passkey registration").with_source(e))?;
        let mut options = serde_json::to_value(&ccr.public_key).map_err(|e| Error::internal("passkey options").with_source(e))?;
        // A discoverable credential where the authenticator can make one (better-auth's
        // `residentKey: "preferred"`): it is what usernameless sign-in finds.
        if let Some(sel) = options.get_mut("authenticatorSelection").and_then(Value::as_object_mut) {
            sel.insert("residentKey".to_owned(), json!("preferred"));
            sel.insert("requireResidentKey".to_owned(), json!(false));
        }
        let ceremony = Ceremony::Registration { user_id: user.id.clone(), state, name };
        let token = self.store_ceremony(&ceremony).await?;
        Ok(Challenge { options, token })
    }

    async fn store_ceremony(&self, c: &Ceremony) -> Result<String> {
        let value = serde_json::to_value(c).map_err(|e| Error::internal("passkey ceremony state").with_source(e))?;
        verification::create(&self.0.db, Purpose::PasskeyChallenge, &value, self.ttl()).await
    }

    async fn take_ceremony(&self, token: &str) -> Result<Ceremony> {
        let v = verification::consume(self.0, Purpose::PasskeyChallenge, token).await?.ok_or_else(challenge_not_found)?;
        serde_json::from_value(v).map_err(|_| challenge_not_found())
    }

    /// Finish adding a passkey: `response` is the browser's `RegistrationResponseJSON`.
    /// The challenge (named by `token`) is used up whatever the outcome.
    pub async fn register(&self, session: &Session, token: &str, response: &Value, name: Option<&str>, ctx: &RequestContext) -> Result<Passkey> {
        let w = self.webauthn()?;
        let Ceremony::Registration { user_id, state, name: first_name } = self.take_ceremony(token).await? else { return Err(challenge_not_found()) };
        if user_id != session.user_id {
            return Err(challenge_not_found());
        }
        self.0.users().confirm_fresh(session, None, "to add a passkey").await?;
        let name = match checked_name(name)? {
            Some(n) => Some(n),
            None => first_name,
        };
        let failed = |why: String| Error::bad_request(Code::FailedToVerifyRegistration, format!("Failed to verify registration: {why}"));
        let reg: RegisterPublicKeyCredential = serde_json::from_value(response.clone()).map_err(|e| failed(format!("not a registration response ({e})")))?;
        let pk = w.finish_passkey_registration(&reg, &state).map_err(|e| failed(describe(&e)))?;
        store::insert(&self.0.db, &user_id, name.as_deref(), &pk, ctx).await
    }

    /// Start a sign-in: options for `navigator.credentials.get` naming no credential (the
    /// authenticator offers its discoverable ones; `mediation: "conditional"` in the page
    /// puts them in the browser's autofill).
    pub async fn authentication_options(&self) -> Result<Challenge> {
        let w = self.webauthn()?;
        let (rcr, state) = w.start_discoverable_authentication().map_err(|e| Error::internal("starting a passkey sign-in").with_source(e))?;
        let options = serde_json::to_value(&rcr.public_key).map_err(|e| Error::internal("passkey options").with_source(e))?;
        let token = self.store_ceremony(&Ceremony::Authentication { state }).await?;
        Ok(Challenge { options, token })
    }

    /// Sign in with the browser's `AuthenticationResponseJSON`. The passkey verified with
    /// user verification is both factors: the user gets a session even with two-factor on.
    /// A signature counter that did not grow (a cloned authenticator, or an answer used
    /// twice) refuses the sign-in and is audited (`passkey.counter_regressed`).
    pub async fn authenticate(&self, token: &str, response: &Value, ctx: &RequestContext) -> Result<SignInStep> {
        let w = self.webauthn()?;
        let Ceremony::Authentication { state } = self.take_ceremony(token).await? else { return Err(challenge_not_found()) };
        let cred: PublicKeyCredential = serde_json::from_value(response.clone()).map_err(|e| auth_failed(&format!("not an authentication response ({e})")))?;
        let Some(row) = store::by_credential_id(&self.0.db, cred.get_credential_id()).await? else {
            return Err(Error::new(Kind::Unauthorized, Code::PasskeyNotFound, "Passkey not found"));
        };
        // The user handle the authenticator stored must be the one given at registration
        // (a passkey imported from better-auth has none on record: its credential id binds it).
        if let Some(h) = &row.user_handle
            && cred.get_user_unique_id() != Some(h.as_slice())
        {
            return Err(auth_failed("the answer's user handle is not the passkey's user's"));
        }
        let stored: Credential = row.credential.clone().into();
        let result = match w.finish_discoverable_authentication_v2(&cred, state, &stored) {
            Ok(r) => r,
            Err(WebauthnError::CredentialPossibleCompromise) => return Err(self.counter_regressed(&row.passkey, stored.counter, None, ctx).await),
            Err(e) => return Err(auth_failed(&describe(&e))),
        };
        let mut updated = row.credential.clone();
        updated.update_credential(&result);
        if !store::record_use(&self.0.db, &row.passkey.id, &updated, result.counter()).await? {
            // Another sign-in with this counter value got there first: the same answer twice.
            return Err(self.counter_regressed(&row.passkey, stored.counter, Some(result.counter()), ctx).await);
        }
        let user = users::find_by_id(&self.0.db, &row.passkey.user_id).await?.ok_or_else(|| auth_failed("the passkey's user is gone"))?;
        self.0.complete_sign_in_with(user, "passkey", false, ctx).await
    }

    async fn counter_regressed(&self, p: &Passkey, stored: u32, seen: Option<u32>, ctx: &RequestContext) -> Error {
        let ev = audit::Event::new(audit::EventKind::PasskeyCounterRegressed, Some(&p.user_id), ctx)
            .with("passkeyId", &p.id)
            .with("storedCounter", stored)
            .with("seenCounter", seen);
        if let Err(e) = audit::append(&self.0.db, ev).await {
            tracing::error!(error = %e, "auditing a passkey counter regression");
        }
        auth_failed("the passkey's signature counter did not increase (a cloned authenticator, or a replayed answer)")
    }

    /// The user's passkeys, oldest first.
    pub async fn list(&self, user_id: &str) -> Result<Vec<Passkey>> {
        self.webauthn()?;
        store::list(&self.0.db, user_id).await
    }

    /// Rename one of the user's passkeys.
    pub async fn rename(&self, user_id: &str, id: &str, name: &str, ctx: &RequestContext) -> Result<Passkey> {
        self.webauthn()?;
        let name = checked_name(Some(name))?.ok_or_else(|| Error::bad_request(Code::InvalidPasskeyName, "A passkey name is 1 to 100 characters"))?;
        store::rename(&self.0.db, user_id, id, &name, ctx).await?.ok_or_else(passkey_not_found)
    }

    /// Delete one of the signed-in user's passkeys (a fresh session). A user's last way in
    /// stays: the last passkey of a user with no password, no verified address and no
    /// wallet cannot be deleted.
    pub async fn delete(&self, session: &Session, id: &str, ctx: &RequestContext) -> Result<()> {
        self.webauthn()?;
        self.0.users().confirm_fresh(session, None, "to delete a passkey").await?;
        let user = users::find_by_id(&self.0.db, &session.user_id).await?.ok_or_else(Error::unauthorized)?;
        let has_password = users::password_hash(&self.0.db, &user.id).await?.is_some();
        let other_ways = has_password || user.email_verified || !crate::plugins::siwe::store::wallets(&self.0.db, &user.id).await?.is_empty();
        match store::delete(&self.0.db, Some(&user.id), id, !other_ways, ctx).await? {
            store::Deleted::Yes => Ok(()),
            store::Deleted::NotFound => Err(passkey_not_found()),
            store::Deleted::LastWay => Err(Error::new(
                Kind::Conflict,
                Code::LastSignInMethod,
                "This passkey is the account's only way to sign in: add a password or verify an email address first",
            )),
        }
    }

    /// Delete a passkey of the user as the operator (a lost or stolen device): no fresh
    /// session needed, and even their last way in (they recover by email or the operator).
    pub async fn delete_as_operator(&self, user_id: &str, id: &str, ctx: &RequestContext) -> Result<()> {
        match store::delete(&self.0.db, Some(user_id), id, false, ctx).await? {
            store::Deleted::Yes => Ok(()),
            _ => Err(passkey_not_found()),
        }
    }
}

/// A passkey as better-auth's `passkey` table keeps it, to import: the credential id
/// (base64url), the COSE public key (`publicKey`, base64), the counter and the flags.
/// (Public for the fuzz target `passkey_import`; the importer is its user.)
pub struct Imported<'a> {
    pub credential_id: &'a str,
    pub public_key: &'a str,
    pub counter: i64,
    pub backed_up: bool,
    pub multi_device: bool,
    /// Comma-separated, as better-auth stores them.
    pub transports: Option<&'a str>,
}

impl Imported<'_> {
    /// The credential id (base64url, unpadded) and the credential as Kavach stores it, or
    /// why it cannot be imported.
    pub fn credential(&self) -> std::result::Result<(String, String), String> {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        use webauthn_rs_core::proto::{AttestationFormat, COSEKey, ParsedAttestation, RegisteredExtensions, UserVerificationPolicy};
        let trimmed = self.credential_id.trim().trim_end_matches('=');
        let id = URL_SAFE_NO_PAD
            .decode(trimmed)
            .or_else(|_| STANDARD.decode(self.credential_id.trim()))
            .map_err(|_| "the credential id is not base64url".to_owned())?;
        let cose = STANDARD
            .decode(self.public_key.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(self.public_key.trim().trim_end_matches('=')))
            .map_err(|_| "the public key is not base64".to_owned())?;
        let value: serde_cbor_2::Value = serde_cbor_2::from_slice(&cose).map_err(|_| "the public key is not a COSE key (CBOR)".to_owned())?;
        let key = COSEKey::try_from(&value).map_err(|e| format!("the public key is not a COSE key Kavach verifies ({e:?})"))?;
        let transports = self
            .transports
            .map(|t| t.split(',').filter_map(|x| serde_json::from_value(serde_json::Value::String(x.trim().to_owned())).ok()).collect::<Vec<_>>());
        let cred = Credential {
            cred_id: id.clone(),
            cred: key,
            counter: u32::try_from(self.counter.max(0)).unwrap_or(u32::MAX),
            transports,
            // better-auth asked for user verification as "preferred"; Kavach requires it at
            // every sign-in.
            user_verified: true,
            backup_eligible: self.multi_device,
            backup_state: self.backed_up,
            registration_policy: UserVerificationPolicy::Preferred,
            extensions: RegisteredExtensions::none(),
            attestation: ParsedAttestation::default(),
            attestation_format: AttestationFormat::None,
        };
        let pk: webauthn_rs::prelude::Passkey = cred.into();
        let json = serde_json::to_string(&pk).map_err(|e| format!("serialising the credential: {e}"))?;
        Ok((URL_SAFE_NO_PAD.encode(&id), json))
    }
}

/// What went wrong in a ceremony, for the error message (webauthn-rs's error names the
/// check: `InvalidRPOrigin`, `InvalidRPIDHash`, `UserNotVerified`, `MismatchedChallenge`, ...).
fn describe(e: &WebauthnError) -> String {
    format!("{e:?}")
}

impl Core {
    /// Passkeys (`[passkey]`).
    pub fn passkey(&self) -> Passkeys<'_> {
        Passkeys(self)
    }
}
