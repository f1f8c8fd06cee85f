//! Sign-In with Ethereum (`[siwe]`, EIP-4361; better-auth's `siwe()`): `kavach.siwe()`.
//! The server hands out a nonce (stored as its SHA-256, single use, on every instance);
//! the wallet signs a message naming it; [`Siwe::verify`] parses the message strictly
//! ([`message`]), consumes the nonce, checks the domain, chain and times, and checks the
//! signature for real: the signer recovered from the EIP-191 hash must be the message's
//! address, or, for a contract wallet, the contract must accept it through EIP-1271
//! (`isValidSignature`, over the chain's JSON-RPC endpoint, [`ContractWallets`]). The
//! wallet's user is signed in through [`Core::complete_sign_in`] (two-factor applies),
//! and created on first use when sign-up is allowed. A signed-in user links more wallets.

use crate::error::{Code, Error, Kind, Result};
use crate::plugins::two_factor::SignInStep;
use crate::sessions::Session;
use crate::store::Ts;
use crate::users::{self, User};
use crate::verification::{self, Purpose};
use crate::{Core, RequestContext, options};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub mod message;
pub mod signature;
pub(crate) mod store;

pub use message::Message;

/// `[siwe]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiweOptions {
    pub enabled: bool,
    /// The domain (RFC 3986 authority, `host[:port]`) a message must name: the site the
    /// wallet signs in to. Default: the base URL's.
    pub domain: Option<String>,
    /// The chains accepted (EIP-155 ids). Empty (the default): any.
    pub chain_ids: Vec<u64>,
    /// How long a nonce can be used, and how old a message's `Issued At` may be.
    /// Default 15 minutes.
    #[serde(deserialize_with = "options::duration")]
    pub nonce_ttl: Duration,
    /// Create the user when an unknown wallet signs in. Default true.
    pub allow_sign_up: bool,
    /// A new wallet's sign-in must give an email address (kept unverified). Default false.
    pub email_required: bool,
    /// The domain of the placeholder addresses of users created without one
    /// (`<address>@<domain>`). Default `siwe.placeholder.invalid` (RFC 6761).
    pub email_domain: String,
    /// JSON-RPC endpoints by chain id (`"1" = "https://..."`), through which contract
    /// wallets' signatures are checked (EIP-1271). Without one for its chain, only
    /// accounts' own keys sign in.
    pub rpc_urls: BTreeMap<String, String>,
}

impl Default for SiweOptions {
    fn default() -> Self {
        SiweOptions {
            enabled: false,
            domain: None,
            chain_ids: vec![],
            nonce_ttl: Duration::from_secs(900),
            allow_sign_up: true,
            email_required: false,
            email_domain: "siwe.placeholder.invalid".to_owned(),
            rpc_urls: BTreeMap::new(),
        }
    }
}

impl SiweOptions {
    pub(crate) fn problems(&self) -> Option<String> {
        if self.nonce_ttl < Duration::from_secs(30) || self.nonce_ttl > Duration::from_secs(3600) {
            return Some("siwe.nonce_ttl must be between 30s and 1h".to_owned());
        }
        if let Some(d) = &self.domain
            && !message::is_authority(d)
        {
            return Some(format!("siwe.domain = {d:?} is not a host[:port]"));
        }
        if self.chain_ids.contains(&0) {
            return Some("siwe.chain_ids: 0 is not a chain id".to_owned());
        }
        if users::normalize_email(&format!("0x00@{}", self.email_domain)).is_err() {
            return Some(format!("siwe.email_domain = {:?} does not make valid addresses", self.email_domain));
        }
        for (chain, url) in &self.rpc_urls {
            if chain.parse::<u64>().map_or(true, |c| c == 0) {
                return Some(format!("siwe.rpc_urls: {chain:?} is not a chain id"));
            }
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Some(format!("siwe.rpc_urls.{chain} = {url:?} is not an http(s) URL"));
            }
        }
        None
    }

    /// The domain messages must name.
    pub fn expected_domain(&self, base_url: &str) -> String {
        let d = self.domain.clone().unwrap_or_else(|| {
            let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
            rest.split(['/', '?', '#']).next().unwrap_or(rest).to_owned()
        });
        d.to_ascii_lowercase()
    }
}

/// A wallet linked to a user.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Wallet {
    /// The EIP-55 form.
    pub address: String,
    pub chain_id: u64,
    /// The wallet the user was created with (or their first).
    pub is_primary: bool,
    pub created_at: Ts,
}

/// What a contract wallet says of a signature.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<bool>> + Send + 'a>>;

/// Contract wallets' signatures (EIP-1271): asks the contract at `address` on chain
/// `chain_id` whether `signature` is valid for `hash` (`isValidSignature` returning
/// `0x1626ba7e`). The standalone server's implementation calls `[siwe] rpc_urls`.
pub trait ContractWallets: Send + Sync + 'static {
    /// `None`: no endpoint for this chain.
    fn is_valid_signature<'a>(&'a self, chain_id: u64, address: &'a [u8; 20], hash: &'a [u8; 32], signature: &'a [u8]) -> Option<CheckFuture<'a>>;
}

/// `POST /siwe/verify`.
#[derive(Clone, Debug, Default)]
pub struct VerifyRequest {
    /// The EIP-4361 message the wallet signed, exactly.
    pub message: String,
    /// `0x` and the signature's hex digits.
    pub signature: String,
    /// An address for a user this sign-in creates (kept unverified; ignored when taken).
    pub email: Option<String>,
}

/// A wallet's sign-in.
#[derive(Debug)]
pub struct Verified {
    pub step: SignInStep,
    pub wallet: Wallet,
    /// The sign-in created the user.
    pub new_user: bool,
}

fn mismatch() -> Error {
    Error::new(Kind::Unauthorized, Code::SiweMessageMismatch, "Unauthorized: SIWE message does not match the expected nonce, domain, address, or chain ID")
}

/// `kavach.siwe()`.
pub struct Siwe<'a>(pub(crate) &'a Core);

impl Siwe<'_> {
    fn opts(&self) -> &SiweOptions {
        &self.0.options.siwe
    }

    fn require_enabled(&self) -> Result<()> {
        if !self.opts().enabled {
            return Err(Error::bad_request(Code::SiweDisabled, "Sign-In with Ethereum is not enabled on this server"));
        }
        Ok(())
    }

    /// A new nonce for a message: 32 alphanumeric characters, usable once within `nonce_ttl`.
    pub async fn nonce(&self) -> Result<String> {
        self.require_enabled()?;
        let nonce = crate::crypto::hex(&crate::crypto::random_bytes::<16>());
        verification::store(&self.0.db, Purpose::SiweNonce, &nonce, &serde_json::json!({}), self.opts().nonce_ttl).await?;
        Ok(nonce)
    }

    /// Check a signed message: its syntax, its nonce (consumed whatever follows), its
    /// domain, chain and times, then the signature. Returns the message.
    pub async fn check(&self, text: &str, signature: &str) -> Result<Message> {
        self.require_enabled()?;
        let m = message::parse(text).map_err(|e| Error::bad_request(Code::InvalidSiweMessage, e.to_string()))?;
        if verification::consume(self.0, Purpose::SiweNonce, &m.nonce).await?.is_none() {
            return Err(Error::new(Kind::Unauthorized, Code::InvalidOrExpiredNonce, "Unauthorized: Invalid or expired nonce"));
        }
        let o = self.opts();
        let domain_ok = m.domain.eq_ignore_ascii_case(&o.expected_domain(&self.0.options.base_url));
        if !domain_ok || !(o.chain_ids.is_empty() || o.chain_ids.contains(&m.chain_id)) {
            return Err(mismatch());
        }
        let now = time::OffsetDateTime::now_utc();
        let skew = time::Duration::seconds(60);
        if m.expiration_time.is_some_and(|t| now >= t) || m.issued_at < now - time::Duration::try_from(o.nonce_ttl).unwrap_or(time::Duration::HOUR) - skew {
            return Err(Error::new(Kind::Unauthorized, Code::SiweMessageExpired, "Unauthorized: SIWE message has expired"));
        }
        if m.not_before.is_some_and(|t| now < t) || m.issued_at > now + skew {
            return Err(Error::new(Kind::Unauthorized, Code::SiweMessageNotYetValid, "Unauthorized: SIWE message is not yet valid"));
        }
        let bad_signature = || Error::new(Kind::Unauthorized, Code::InvalidSiweSignature, "Unauthorized: Invalid SIWE signature");
        let sig = signature::decode_hex(signature).ok_or_else(bad_signature)?;
        let hash = signature::personal_message_hash(text.as_bytes());
        if signature::recover_address(&hash, &sig) == Some(m.address) {
            return Ok(m);
        }
        let contract_ok = match self.0.contract_wallets.as_ref().and_then(|c| c.is_valid_signature(m.chain_id, &m.address, &hash, &sig)) {
            Some(check) => check.await?,
            None => false,
        };
        if contract_ok { Ok(m) } else { Err(bad_signature()) }
    }

    /// Sign in with a signed message: the wallet's user (found on this chain, else on
    /// any chain, the new chain then linked), or a new user when sign-up is allowed. A
    /// user with two-factor on gets a pending sign-in.
    pub async fn verify(&self, req: &VerifyRequest, ctx: &RequestContext) -> Result<Verified> {
        self.require_enabled()?;
        let email = match req.email.as_deref() {
            Some(e) => Some(users::normalize_email(e)?),
            None if self.opts().email_required => {
                return Err(Error::bad_request(Code::InvalidEmail, "Email is required to sign in with a new wallet"));
            }
            None => None,
        };
        let m = self.check(&req.message, &req.signature).await?;
        let address = message::checksummed(&m.address);
        let (user, new_user) = match self.owner_linking_chain(&address, m.chain_id, ctx).await? {
            Some(u) => (u, false),
            None if self.opts().allow_sign_up => match self.create_user(&address, m.chain_id, email.as_deref(), ctx).await {
                Ok(u) => (u, true),
                // Another request created it meanwhile.
                Err(e) if e.is(Code::WalletAlreadyLinked) => (self.owner_linking_chain(&address, m.chain_id, ctx).await?.ok_or(e)?, false),
                Err(e) => return Err(e),
            },
            None => return Err(Error::forbidden(Code::SignUpDisabled, "Sign-up is not allowed: ask for an account first")),
        };
        let wallet = store::wallet(&self.0.db, &user.id, &address, m.chain_id).await?.ok_or_else(|| Error::internal("the wallet just linked is gone"))?;
        let step = self.0.complete_sign_in(user, "siwe", ctx).await?;
        Ok(Verified { step, wallet, new_user })
    }

    /// The wallet's user, linking this chain to them when they had the address on
    /// another chain only.
    async fn owner_linking_chain(&self, address: &str, chain_id: u64, ctx: &RequestContext) -> Result<Option<User>> {
        let Some((user, exact)) = store::owner(&self.0.db, address, chain_id).await? else { return Ok(None) };
        if !exact {
            store::link(&self.0.db, &user.id, address, chain_id, ctx).await?;
        }
        Ok(Some(user))
    }

    async fn create_user(&self, address: &str, chain_id: u64, email: Option<&str>, ctx: &RequestContext) -> Result<User> {
        let placeholder = format!("{}@{}", address.to_ascii_lowercase(), self.opts().email_domain);
        // An address someone else holds is never claimed (nor linked): the placeholder then.
        let candidates =
            [email.map(str::to_owned), Some(placeholder.clone()), Some(format!("{}.{}", crate::crypto::new_id().to_ascii_lowercase(), placeholder))];
        for candidate in candidates.into_iter().flatten() {
            let row = users::UserRow { email: &candidate, name: address, wallet: Some((address, chain_id)), ..Default::default() };
            if let Some(u) = users::insert_user(self.0, row, ctx).await? {
                return Ok(u);
            }
        }
        Err(Error::internal("no free address for a new wallet's user"))
    }

    /// Link the wallet that signed `text` to the signed-in user (a session younger than
    /// `session.fresh_age`). Linking a wallet the user has is a no-op; one another user
    /// has is refused (`409 WALLET_ALREADY_LINKED`).
    pub async fn link(&self, session: &Session, text: &str, signature: &str, ctx: &RequestContext) -> Result<Wallet> {
        self.require_enabled()?;
        self.0.users().confirm_fresh(session, None, "to link a wallet").await?;
        let m = self.check(text, signature).await?;
        let address = message::checksummed(&m.address);
        if let Some((owner, _)) = store::owner(&self.0.db, &address, m.chain_id).await?
            && owner.id != session.user_id
        {
            return Err(taken());
        }
        if store::wallet(&self.0.db, &session.user_id, &address, m.chain_id).await?.is_none() {
            store::link(&self.0.db, &session.user_id, &address, m.chain_id, ctx).await?;
        }
        store::wallet(&self.0.db, &session.user_id, &address, m.chain_id).await?.ok_or_else(|| Error::internal("the wallet just linked is gone"))
    }

    /// The user's wallets, the primary first.
    pub async fn wallets(&self, user_id: &str) -> Result<Vec<Wallet>> {
        self.require_enabled()?;
        store::wallets(&self.0.db, user_id).await
    }

    /// Unlink a wallet of the signed-in user (a fresh session). The last wallet of a user
    /// with no password, no verified address and no passkey is kept: it is their only way in.
    pub async fn unlink(&self, session: &Session, address: &str, chain_id: u64, ctx: &RequestContext) -> Result<()> {
        self.require_enabled()?;
        self.0.users().confirm_fresh(session, None, "to unlink a wallet").await?;
        let bytes = message::parse_address(address).ok_or_else(|| Error::bad_request(Code::InvalidSiweMessage, "Not an Ethereum address"))?;
        let address = message::checksummed(&bytes);
        let user = users::find_by_id(&self.0.db, &session.user_id).await?.ok_or_else(Error::unauthorized)?;
        let has_password = users::password_hash(&self.0.db, &user.id).await?.is_some();
        let keep_one = !has_password && !user.email_verified && !crate::plugins::passkey::store::has_passkey(&self.0.db, &user.id).await?;
        match store::unlink(&self.0.db, &user.id, &address, chain_id, keep_one, ctx).await? {
            store::Unlinked::Yes => Ok(()),
            store::Unlinked::NotFound => Err(Error::not_found(Code::WalletNotFound, "No such wallet on this account")),
            store::Unlinked::LastWay => Err(Error::new(
                Kind::Conflict,
                Code::LastSignInMethod,
                "This wallet is the account's only way to sign in: add a password or verify an email address first",
            )),
        }
    }
}

pub(crate) fn taken() -> Error {
    Error::new(Kind::Conflict, Code::WalletAlreadyLinked, "This wallet is linked to another account")
}

impl Core {
    /// Sign-In with Ethereum (`[siwe]`).
    pub fn siwe(&self) -> Siwe<'_> {
        Siwe(self)
    }

    /// Check contract wallets' signatures through `wallets` (EIP-1271).
    pub fn with_contract_wallets(mut self, wallets: std::sync::Arc<dyn ContractWallets>) -> Self {
        self.contract_wallets = Some(wallets);
        self
    }
}
