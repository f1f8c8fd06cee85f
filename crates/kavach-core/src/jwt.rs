//! Signed JWTs and the JWKS that publishes their keys. Keys are asymmetric
//! (EdDSA/Ed25519 by default, ES256, RS256 for OpenID Connect clients), generated
//! on first use, stored in `kavach_jwks` with the private half sealed by a key
//! derived from the server secret, and rotated with overlap: a retired key stays
//! published until `expires_at`, so tokens signed with it keep verifying.
//!
//! Instances read keys through a cache refreshed every 30 s: after a rotation on
//! another instance, this one signs with the previous key for at most that long,
//! and that key is still published, so nothing in flight breaks.

use crate::crypto::Secrets;
use crate::error::{Error, Result};
use crate::store::{BeginWrite, Db, Ts};
use crate::{crypto, db};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
// The cache lock guards a plain `Option<Arc<_>>` replaced in one assignment: nothing
// can panic while it is held, and a poisoned lock would still hold a whole value.
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// A JWS algorithm Kavach signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Alg {
    EdDSA,
    ES256,
    RS256,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::EdDSA, Alg::ES256, Alg::RS256];
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::EdDSA => "EdDSA",
            Alg::ES256 => "ES256",
            Alg::RS256 => "RS256",
        }
    }
    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

enum Signer {
    Ed(Ed25519KeyPair),
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl Signer {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let rng = SystemRandom::new();
        let fail = |_| Error::internal("signing failed");
        Ok(match self {
            Signer::Ed(k) => k.sign(msg).as_ref().to_vec(),
            Signer::Ec(k) => k.sign(&rng, msg).map_err(fail)?.as_ref().to_vec(),
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig).map_err(fail)?;
                sig
            }
        })
    }
}

/// A generated key: its public JWK and PKCS#8 private key.
fn generate(alg: Alg, kid: &str) -> Result<(serde_json::Value, Vec<u8>)> {
    let fail = |_| Error::internal("key generation failed");
    // The common members, then the key type's own, in that order.
    let jwk = |kty: &str, fields: &[(&str, String)]| {
        let mut jwk = serde_json::Map::new();
        for (k, v) in [("kty", kty), ("kid", kid), ("alg", alg.as_str()), ("use", "sig")] {
            jwk.insert(k.to_owned(), v.into());
        }
        for (k, v) in fields {
            jwk.insert((*k).to_owned(), v.as_str().into());
        }
        serde_json::Value::Object(jwk)
    };
    Ok(match alg {
        Alg::EdDSA => {
            let k = Ed25519KeyPair::generate().map_err(fail)?;
            let jwk = jwk("OKP", &[("crv", "Ed25519".into()), ("x", B64.encode(k.public_key().as_ref()))]);
            (jwk, k.to_pkcs8().map_err(fail)?.as_ref().to_vec())
        }
        Alg::ES256 => {
            let k = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).map_err(fail)?;
            // An uncompressed P-256 point: 0x04, then x and y (32 bytes each).
            let Some((x, y)) = k.public_key().as_ref().get(1..65).and_then(|xy| xy.split_at_checked(32)) else {
                return Err(Error::internal("key generation failed: unexpected P-256 public key length"));
            };
            let jwk = jwk("EC", &[("crv", "P-256".into()), ("x", B64.encode(x)), ("y", B64.encode(y))]);
            (jwk, k.to_pkcs8v1().map_err(fail)?.as_ref().to_vec())
        }
        Alg::RS256 => {
            use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
            let k = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(fail)?;
            let jwk = jwk(
                "RSA",
                &[
                    ("n", B64.encode(k.public_key().modulus().big_endian_without_leading_zero())),
                    ("e", B64.encode(k.public_key().exponent().big_endian_without_leading_zero())),
                ],
            );
            let der: Pkcs8V1Der = k.as_der().map_err(fail)?;
            (jwk, der.as_ref().to_vec())
        }
    })
}

fn load_signer(alg: Alg, pkcs8: &[u8]) -> Result<Signer> {
    let fail = |_| Error::internal("stored signing key is unreadable");
    Ok(match alg {
        Alg::EdDSA => Signer::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(fail)?),
        Alg::ES256 => Signer::Ec(EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(fail)?),
        Alg::RS256 => Signer::Rsa(RsaKeyPair::from_pkcs8(pkcs8).map_err(fail)?),
    })
}

/// A signing key as listed by `kavach keys list`.
#[derive(Clone, Debug, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: Alg,
    pub active: bool,
    pub created_at: Ts,
    pub expires_at: Option<Ts>,
}

struct Loaded {
    at: Instant,
    jwks: Arc<str>,
    /// The same set, parsed, for verifying this server's own tokens.
    set: serde_json::Value,
    signers: Vec<(Alg, String, Arc<Signer>)>,
}

/// The key ring of one instance.
pub struct Keys {
    db: Db,
    secrets: Secrets,
    cache: RwLock<Option<Arc<Loaded>>>,
    /// The algorithms this server signs with: the published set always has a key for each.
    required: Vec<Alg>,
    /// Held while reloading for an unknown key id, so a burst reloads once.
    reload: tokio::sync::Mutex<()>,
    /// How many times the key set was read from the database.
    reads: std::sync::atomic::AtomicU64,
}

const CACHE_TTL: Duration = Duration::from_secs(30);

fn context(kid: &str) -> String {
    format!("kavach_jwks:{kid}")
}

impl Keys {
    pub(crate) fn new(db: Db, secrets: Secrets, required: Vec<Alg>) -> Self {
        Keys { db, secrets, cache: RwLock::new(None), required, reload: tokio::sync::Mutex::new(()), reads: Default::default() }
    }

    /// Make sure every algorithm this server signs with has an active key (created
    /// now if missing), so the published key set is complete from the first start.
    pub async fn ensure(&self) -> Result<()> {
        let loaded = self.loaded().await?;
        let missing: Vec<Alg> = self.required.iter().copied().filter(|a| !loaded.signers.iter().any(|(s, _, _)| s == a)).collect();
        for alg in missing {
            // Another instance may create it at the same moment: the unique index on the
            // active key per algorithm keeps one.
            self.create(alg, None).await?;
        }
        Ok(())
    }

    fn forget(&self) {
        *self.cache.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    async fn loaded(&self) -> Result<Arc<Loaded>> {
        if let Some(l) = self.cache.read().unwrap_or_else(PoisonError::into_inner).as_ref().filter(|l| l.at.elapsed() < CACHE_TTL) {
            return Ok(l.clone());
        }
        self.reload().await
    }

    /// Read the key set from the database and replace the cached one (which stays in
    /// place, for concurrent readers, until the new one is ready).
    async fn reload(&self) -> Result<Arc<Loaded>> {
        let now = Ts::now();
        self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rows: Vec<(String, String, String, String, bool)> = db!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT id, alg, public_jwk, private_key, active FROM kavach_jwks WHERE active OR expires_at IS NULL OR expires_at > $1 ORDER BY created_at DESC",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
        });
        let mut keys = Vec::new();
        let mut signers = Vec::new();
        for (kid, alg, jwk, private, active) in rows {
            let Some(alg) = Alg::parse(&alg) else { continue };
            keys.push(serde_json::from_str::<serde_json::Value>(&jwk).map_err(|_| Error::internal("stored JWK is not JSON"))?);
            if active {
                let pkcs8 = self.secrets.open(&private, &context(&kid)).ok_or_else(|| {
                    Error::config(format!("signing key {kid} cannot be decrypted: was the secret it was sealed with removed from KAVACH_SECRET?"))
                })?;
                signers.push((alg, kid, Arc::new(load_signer(alg, &pkcs8)?)));
            }
        }
        let set = serde_json::json!({ "keys": keys });
        let jwks: Arc<str> = set.to_string().into();
        let l = Arc::new(Loaded { at: Instant::now(), jwks, set, signers });
        *self.cache.write().unwrap_or_else(PoisonError::into_inner) = Some(l.clone());
        Ok(l)
    }

    /// Insert a new active key for `alg` unless one exists (or, with `replace`,
    /// retire the current one, published until `now + overlap`; with a cutoff, only
    /// if the current one was created before it, so concurrent schedulers rotate once).
    async fn create(&self, alg: Alg, replace: Option<(Duration, Option<Ts>)>) -> Result<Option<String>> {
        let kid = crypto::new_id();
        let (jwk, pkcs8) = tokio::task::spawn_blocking({
            let kid = kid.clone();
            move || generate(alg, &kid)
        })
        .await
        .map_err(|e| Error::internal("key generation task failed").with_source(e))??;
        let sealed = self.secrets.seal(&pkcs8, &context(&kid));
        let now = Ts::now();
        db!(&self.db, |pool| {
            let mut tx = pool.begin_write().await?;
            if let Some((overlap, cutoff)) = replace {
                let retired = sqlx::query("UPDATE kavach_jwks SET active = $1, expires_at = $2 WHERE alg = $3 AND active AND created_at < $4")
                    .bind(false)
                    .bind(now.plus_secs(overlap.as_secs() as i64))
                    .bind(alg.as_str())
                    .bind(cutoff.unwrap_or(now.plus_secs(60)))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if cutoff.is_some() && retired == 0 {
                    return Ok(None);
                }
            }
            sqlx::query(
                "INSERT INTO kavach_jwks (id, alg, public_jwk, private_key, active, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(&kid)
            .bind(alg.as_str())
            .bind(jwk.to_string())
            .bind(&sealed)
            .bind(true)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        self.forget();
        Ok(Some(kid))
    }

    /// Verify a token signed by this server (see [`verify`]). A key id this instance
    /// has not seen (made on another instance in the last 30 s) reloads the keys, at
    /// most once every 2 s, so random key ids cannot turn into database reads.
    pub async fn verify(&self, token: &str, leeway: i64) -> Result<std::result::Result<(serde_json::Value, Claims), &'static str>> {
        let loaded = self.loaded().await?;
        match verify(token, &loaded.set, leeway) {
            Err("unknown kid") if loaded.at.elapsed() >= Duration::from_secs(2) => {
                // One reload for a burst: whoever waited here uses the set the first one loaded.
                let _one = self.reload.lock().await;
                let current = self.cache.read().unwrap_or_else(PoisonError::into_inner).clone();
                let fresh = match current {
                    Some(c) if c.at > loaded.at => c,
                    _ => self.reload().await?,
                };
                Ok(verify(token, &fresh.set, leeway))
            }
            other => Ok(other),
        }
    }

    /// How many times this instance read the key set from the database (for tests and
    /// diagnostics: a burst of unknown key ids must not turn into a burst of reads).
    pub fn reads(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The public keys, as a JWKS document (`{"keys": [...]}`). Never empty: keys for
    /// the algorithms this server signs with are created first if they do not exist.
    pub async fn jwks(&self) -> Result<Arc<str>> {
        let loaded = self.loaded().await?;
        if self.required.iter().all(|a| loaded.signers.iter().any(|(s, _, _)| s == a)) {
            return Ok(loaded.jwks.clone());
        }
        self.ensure().await?;
        Ok(self.loaded().await?.jwks.clone())
    }

    /// Sign `claims` with the active key for `alg` (created on first use).
    /// `typ` is the JOSE header type (`JWT`, `at+jwt`).
    pub async fn sign(&self, alg: Alg, typ: &str, claims: &serde_json::Value) -> Result<String> {
        let mut loaded = self.loaded().await?;
        if !loaded.signers.iter().any(|(a, _, _)| *a == alg) {
            self.create(alg, None).await?;
            loaded = self.loaded().await?;
        }
        let (_, kid, signer) = loaded.signers.iter().find(|(a, _, _)| *a == alg).ok_or_else(|| Error::internal("no signing key"))?;
        let header = serde_json::json!({ "alg": alg.as_str(), "kid": kid, "typ": typ });
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let sig = signer.sign(input.as_bytes())?;
        Ok(format!("{input}.{}", B64.encode(sig)))
    }

    /// Replace the active key of every algorithm in use (and EdDSA); old keys stay
    /// published for `overlap`, so tokens they signed keep verifying.
    pub async fn rotate(&self, overlap: Duration) -> Result<Vec<String>> {
        let mut algs: Vec<Alg> = self.list().await?.into_iter().filter(|k| k.active).map(|k| k.alg).collect();
        if algs.is_empty() {
            algs.push(Alg::EdDSA);
        }
        let mut kids = Vec::new();
        for alg in algs {
            kids.extend(self.create(alg, Some((overlap, None))).await?);
        }
        Ok(kids)
    }

    /// Rotate every active key older than `max_age` (the scheduled rotation). Only
    /// one instance wins: retiring is conditional on the key's age, in the same
    /// transaction as the insert.
    pub async fn rotate_if_older_than(&self, max_age: Duration, overlap: Duration) -> Result<bool> {
        let cutoff = Ts::now().plus_secs(-(max_age.as_secs() as i64));
        let mut rotated = false;
        for k in self.list().await?.into_iter().filter(|k| k.active && k.created_at < cutoff) {
            rotated |= self.create(k.alg, Some((overlap, Some(cutoff)))).await?.is_some();
        }
        Ok(rotated)
    }

    pub async fn list(&self) -> Result<Vec<KeyInfo>> {
        let rows: Vec<(String, String, bool, Ts, Option<Ts>)> = db!(&self.db, |pool| {
            sqlx::query_as("SELECT id, alg, active, created_at, expires_at FROM kavach_jwks ORDER BY created_at DESC").fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(kid, alg, active, created_at, expires_at)| Some(KeyInfo { kid, alg: Alg::parse(&alg)?, active, created_at, expires_at }))
            .collect())
    }

    /// Delete keys no longer published.
    pub async fn purge(&self) -> Result<u64> {
        db!(&self.db, |pool| {
            Ok(sqlx::query("DELETE FROM kavach_jwks WHERE active = $1 AND expires_at < $2").bind(false).bind(Ts::now()).execute(pool).await?.rows_affected())
        })
    }
}

/// A verified token's claims.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// Verify a compact JWS against a JWKS document: known `kid`, the key's own
/// algorithm (no `alg: none`, no algorithm confusion), a valid signature, and
/// `exp`/`nbf` with at most `leeway` seconds of skew. Audience and issuer are the
/// caller's to check.
pub fn verify(token: &str, jwks: &serde_json::Value, leeway: i64) -> std::result::Result<(serde_json::Value, Claims), &'static str> {
    let h = token.split('.').next().ok_or("malformed token")?;
    let header: serde_json::Value = B64.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or("malformed header")?;
    let keys = jwks.get("keys").and_then(|k| k.as_array()).ok_or("no keys")?;
    // Without a `kid`, only a set of exactly one key can say which key signed.
    let jwk = match (header.get("kid").and_then(|k| k.as_str()), keys.as_slice()) {
        (Some(kid), _) => keys.iter().find(|k| k.get("kid").is_some_and(|k| k == kid)).ok_or("unknown kid")?,
        (None, [only]) => only,
        (None, _) => return Err("no kid"),
    };
    let (header, claims) = verify_with_key(token, jwk)?;
    let now = Ts::now().0 / 1000;
    let exp = claims.get("exp").and_then(|v| v.as_i64()).ok_or("no exp")?;
    if now > exp.saturating_add(leeway) {
        return Err("expired");
    }
    if claims.get("nbf").and_then(|v| v.as_i64()).is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
        return Err("not yet valid");
    }
    Ok((header, claims))
}

/// Verify a compact JWS's signature with one public JWK (the key decides the
/// algorithm) and return its header and claims. No time checks.
pub fn verify_with_key(token: &str, jwk: &serde_json::Value) -> std::result::Result<(serde_json::Value, Claims), &'static str> {
    let mut parts = token.split('.');
    let (h, p, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => (h, p, s),
        _ => return Err("malformed token"),
    };
    let header: serde_json::Value = B64.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or("malformed header")?;
    let alg = header.get("alg").and_then(|a| a.as_str()).ok_or("no alg")?;
    // The key decides the algorithm (no `alg: none`, no confusion): its `alg`, or for
    // keys published without one (clients' JWKS), the one algorithm its type allows.
    let member = |k: &str| jwk.get(k).and_then(|v| v.as_str());
    let key_alg = match (member("alg"), member("kty"), member("crv")) {
        (Some(a), _, _) => a,
        (None, Some("OKP"), Some("Ed25519")) => "EdDSA",
        (None, Some("EC"), Some("P-256")) => "ES256",
        (None, Some("RSA"), _) => "RS256",
        _ => return Err("unsupported key"),
    };
    if key_alg != alg {
        return Err("algorithm does not match the key");
    }
    let sig = B64.decode(s).map_err(|_| "malformed signature")?;
    // The signing input: everything before the last '.' (the token has exactly three parts).
    let (msg, _) = token.rsplit_once('.').ok_or("malformed token")?;
    let field = |k: &str| member(k).and_then(|v| B64.decode(v).ok()).ok_or("malformed key");
    let ok = match Alg::parse(alg).ok_or("unsupported algorithm")? {
        Alg::EdDSA => signature::UnparsedPublicKey::new(&signature::ED25519, field("x")?).verify(msg.as_bytes(), &sig).is_ok(),
        Alg::ES256 => {
            let mut point = vec![4u8];
            point.extend(field("x")?);
            point.extend(field("y")?);
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(msg.as_bytes(), &sig).is_ok()
        }
        Alg::RS256 => {
            signature::RsaPublicKeyComponents { n: field("n")?, e: field("e")? }.verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg.as_bytes(), &sig).is_ok()
        }
    };
    if !ok {
        return Err("bad signature");
    }
    let claims: Claims = B64.decode(p).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or("malformed claims")?;
    Ok((header, claims))
}

/// A JWT's header and claims, decoded but NOT verified: only for choosing the key (or
/// the client) to verify it with.
pub fn peek(token: &str) -> Option<(Claims, Claims)> {
    let part = |p: &str| serde_json::from_slice(&B64.decode(p).ok()?).ok();
    let mut parts = token.split('.');
    Some((part(parts.next()?)?, part(parts.next()?)?))
}
