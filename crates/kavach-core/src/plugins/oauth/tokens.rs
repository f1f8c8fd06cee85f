//! The token endpoint and what hangs off it: client authentication (`none`,
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt`), the
//! authorization_code, refresh_token and client_credentials grants, RFC 9068 JWT
//! access tokens, OpenID Connect ID tokens and userinfo, RFC 7009 revocation and
//! RFC 7662 introspection.
//!
//! Everything issued from one authorization is a *family*. A replayed code or a
//! reused refresh token (outside the grace window) revokes the family: its refresh
//! tokens stop working at once, and its access tokens introspect as inactive.
//! Access tokens are self-contained JWTs (`jti` = `<family>.<random>`), so resource
//! servers can verify them offline; revocation is visible through introspection.

use super::authorize::Params;
use super::clients::Client;
use super::store::tokens as store;
use super::{OAuthError, OAuthErrorCode};
use crate::audit::Event;
use crate::error::Result;
use crate::store::Ts;
use crate::{Alg, Core, RequestContext, crypto, jwt};
use serde_json::{Value, json};

/// The description of a DPoP-bound access token presented as a Bearer token (answered
/// with a `DPoP` challenge, RFC 9449 §7.1).
pub const DPOP_BOUND_AS_BEARER: &str = "this token is DPoP-bound: present it with the DPoP scheme and a proof";
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client credentials a request presented (from the `Authorization: Basic`
/// header and the form).
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub basic: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
}

impl Credentials {
    pub fn from_form(basic: Option<(String, String)>, form: &Params) -> Self {
        Credentials {
            basic,
            client_id: form.get("client_id").cloned(),
            client_secret: form.get("client_secret").cloned(),
            assertion_type: form.get("client_assertion_type").cloned(),
            assertion: form.get("client_assertion").cloned(),
        }
    }
}

/// Set a member of a JSON object built here (with `json!({...})`): inserted, or
/// replaced if present. Anything but an object is left as it is (none reaches here).
fn set(obj: &mut Value, key: &str, value: Value) {
    if let Some(o) = obj.as_object_mut() {
        o.insert(key.to_owned(), value);
    }
}

pub(crate) fn err(code: OAuthErrorCode, msg: impl Into<String>) -> OAuthError {
    OAuthError::new(code, msg)
}

/// A server-side failure as an OAuth error: logged here, shown as a generic message.
pub fn internal(e: crate::Error) -> OAuthError {
    tracing::error!(error = %e, "token endpoint failure");
    err(OAuthErrorCode::ServerError, "the server could not complete the request")
}

/// An access token that verified and is still active.
#[derive(Clone, Debug)]
pub struct ActiveToken {
    pub claims: jwt::Claims,
}

impl ActiveToken {
    pub fn scopes(&self) -> Vec<&str> {
        self.claims.get("scope").and_then(Value::as_str).map(|s| s.split(' ').collect()).unwrap_or_default()
    }
}

/// A new grant family, as stored.
pub(crate) struct NewFamily<'r> {
    pub id: &'r str,
    pub client_id: &'r str,
    pub user_id: &'r str,
    pub scope: &'r str,
    pub resource: Option<&'r str>,
    pub auth_time: Ts,
    pub dpop_jkt: Option<&'r str>,
}

pub(crate) struct Family<'r> {
    pub id: Option<&'r str>,
    pub user_id: Option<&'r str>,
    pub auth_time: Option<i64>,
    pub scope: String,
    pub resource: Option<&'r str>,
    /// The DPoP key the access token is bound to.
    pub jkt: Option<&'r str>,
}

pub struct Tokens<'a>(pub(crate) &'a Core);

impl Tokens<'_> {
    fn issuer(&self) -> String {
        self.0.options.issuer()
    }

    /// Authenticate the client of a token, revocation, introspection or PAR request.
    /// `audience` is the endpoint's URL (accepted, like the issuer, as a client
    /// assertion's `aud`).
    pub async fn authenticate(&self, c: &Credentials, audience: &str) -> std::result::Result<Client, OAuthError> {
        self.authenticate_known(c, audience, None).await
    }

    /// [`Self::authenticate`] with the client's row already read (`known`), so it is
    /// not read again.
    pub async fn authenticate_known(&self, c: &Credentials, audience: &str, known: Option<Client>) -> std::result::Result<Client, OAuthError> {
        let methods = [c.basic.is_some(), c.client_secret.is_some(), c.assertion.is_some()].iter().filter(|b| **b).count();
        if methods > 1 {
            return Err(err(OAuthErrorCode::InvalidRequest, "use exactly one client authentication method"));
        }
        let bad = || err(OAuthErrorCode::InvalidClient, "client authentication failed");
        if let Some((id, secret)) =
            c.basic.as_ref().map(|(i, s)| (i.as_str(), s.as_str())).or_else(|| Some((c.client_id.as_deref()?, c.client_secret.as_deref()?)))
        {
            if c.basic.is_some() && c.client_id.as_deref().is_some_and(|f| f != id) {
                return Err(err(OAuthErrorCode::InvalidRequest, "client_id in the form differs from the Basic credentials"));
            }
            let client = self.client_named(id, &known).await?.filter(|c| !c.disabled).ok_or_else(bad)?;
            if !matches!(client.auth_method(), "client_secret_basic" | "client_secret_post") || !client.secret_matches(secret) {
                return Err(bad());
            }
            return Ok(client);
        }
        if let Some(assertion) = &c.assertion {
            if c.assertion_type.as_deref() != Some(ASSERTION_TYPE) {
                return Err(err(OAuthErrorCode::InvalidRequest, format!("client_assertion_type must be {ASSERTION_TYPE}")));
            }
            let (_, unverified) = jwt::peek(assertion).ok_or_else(|| err(OAuthErrorCode::InvalidClient, "client assertion refused: malformed"))?;
            let iss = unverified.get("iss").and_then(Value::as_str).unwrap_or_default();
            let client = self.client_named(iss, &known).await?;
            return self.authenticate_assertion(assertion, c.client_id.as_deref(), audience, client).await;
        }
        let id = c.client_id.as_deref().ok_or_else(|| err(OAuthErrorCode::InvalidClient, "client authentication is required"))?;
        let client = self.client_named(id, &known).await?.filter(|c| !c.disabled).ok_or_else(bad)?;
        if client.auth_method() != "none" {
            return Err(bad());
        }
        Ok(client)
    }

    /// The client `id`: `known` when it is that one, otherwise read.
    async fn client_named(&self, id: &str, known: &Option<Client>) -> std::result::Result<Option<Client>, OAuthError> {
        match known {
            Some(k) if k.client_id == id => Ok(Some(k.clone())),
            _ => self.0.clients().get(id).await.map_err(internal),
        }
    }

    /// RFC 7523 `private_key_jwt`: a JWT signed by a key in the client's registered
    /// `jwks`, `iss` = `sub` = client_id, `aud` this server, short-lived, single use.
    async fn authenticate_assertion(
        &self,
        assertion: &str,
        form_id: Option<&str>,
        audience: &str,
        client: Option<Client>,
    ) -> std::result::Result<Client, OAuthError> {
        let bad = |why: &str| err(OAuthErrorCode::InvalidClient, format!("client assertion refused: {why}"));
        let (_, unverified) = jwt::peek(assertion).ok_or_else(|| bad("malformed"))?;
        let id = unverified.get("iss").and_then(Value::as_str).ok_or_else(|| bad("no iss"))?;
        if form_id.is_some_and(|f| f != id) {
            return Err(bad("client_id differs from the assertion's issuer"));
        }
        let client = client.filter(|c| !c.disabled && c.client_id == id).ok_or_else(|| bad("unknown client"))?;
        if client.auth_method() != "private_key_jwt" {
            return Err(bad("the client is not registered for private_key_jwt"));
        }
        let keys = self.0.clients().signing_keys(&client).await.map_err(internal)?.ok_or_else(|| bad("the client's jwks_uri has not been fetched"))?;
        let (_, claims) = jwt::verify(assertion, &keys, 30).map_err(bad)?;
        if claims.get("sub").and_then(Value::as_str) != Some(id) {
            return Err(bad("sub must equal iss"));
        }
        let issuer = self.issuer();
        let aud_ok = |a: &Value| a.as_str().is_some_and(|a| a == issuer || a == audience || a == self.0.options.api_url("/oauth2/token"));
        let aud = claims.get("aud").ok_or_else(|| bad("no aud"))?;
        if !(aud_ok(aud) || aud.as_array().is_some_and(|a| a.iter().any(aud_ok))) {
            return Err(bad("aud does not name this server"));
        }
        let exp = claims.get("exp").and_then(Value::as_i64).ok_or_else(|| bad("no exp"))?;
        if exp - Ts::now().0 / 1000 > 600 {
            return Err(bad("lifetime over 10 minutes"));
        }
        let jti = claims.get("jti").and_then(Value::as_str).ok_or_else(|| bad("no jti"))?;
        if !self.remember_jti(&format!("assertion:{id}:{jti}"), exp + 60).await.map_err(internal)? {
            return Err(bad("replayed"));
        }
        Ok(client)
    }

    /// Record a `jti` until `exp`; false if it was already recorded.
    pub(crate) async fn remember_jti(&self, jti: &str, exp: i64) -> Result<bool> {
        store::remember_jti(&self.0.db, jti, Ts(exp * 1000)).await
    }

    /// The authorization server's current DPoP nonce (send it as `DPoP-Nonce`), when
    /// nonces are required.
    pub fn dpop_nonce(&self) -> Option<String> {
        self.0.options.oauth.dpop_nonces.then(|| super::dpop::nonce(&self.0.secrets, &self.issuer(), Ts::now().0 / 1000))
    }

    /// Check a DPoP proof (RFC 9449), its nonce when nonces are required (the error is
    /// then `use_dpop_nonce`: answer with [`Self::dpop_nonce`]), and record its `jti`
    /// (replays are refused, across instances). Returns the key's thumbprint.
    pub async fn check_dpop(&self, proof: &str, method: &str, url: &str, access_token: Option<&str>) -> std::result::Result<String, OAuthError> {
        let bad = |m: &str| err(OAuthErrorCode::InvalidDpopProof, m.to_owned());
        let now = Ts::now().0 / 1000;
        let p = super::dpop::check(proof, method, url, access_token, now).map_err(bad)?;
        if self.0.options.oauth.dpop_nonces && !p.nonce.as_deref().is_some_and(|n| super::dpop::nonce_valid(&self.0.secrets, &self.issuer(), n, now)) {
            return Err(err(OAuthErrorCode::UseDpopNonce, "the DPoP proof must carry the server's current nonce (sent in the DPoP-Nonce header)"));
        }
        let key = format!("dpop:{}:{}", p.jkt, p.jti);
        if !self.remember_jti(&key, p.iat + super::dpop::MAX_AGE + 60).await.map_err(internal)? {
            return Err(bad("the DPoP proof was already used"));
        }
        Ok(p.jkt)
    }

    /// The token endpoint: run the grant in `form` for an authenticated client. `dpop`
    /// is the request's DPoP proof, if any: the tokens are then bound to its key.
    pub async fn grant(&self, client: &Client, form: &Params, dpop: Option<&str>, ctx: &RequestContext) -> std::result::Result<Value, OAuthError> {
        let grant = form.get("grant_type").map(String::as_str).ok_or_else(|| err(OAuthErrorCode::InvalidRequest, "grant_type is required"))?;
        let jkt = match dpop {
            Some(p) => Some(self.check_dpop(p, "POST", &self.0.options.api_url("/oauth2/token"), None).await?),
            None => None,
        };
        let jkt = jkt.as_deref();
        match grant {
            "authorization_code" | "refresh_token" | "client_credentials" | super::device::GRANT | super::grants::TOKEN_EXCHANGE | super::grants::CIBA
                if !client.allows_grant(grant) =>
            {
                Err(err(OAuthErrorCode::UnauthorizedClient, format!("this client is not registered for the {grant} grant")))
            }
            "authorization_code" => self.authorization_code(client, form, jkt, ctx).await,
            "refresh_token" => self.refresh(client, form, jkt, ctx).await,
            "client_credentials" => self.client_credentials(client, form, jkt, ctx).await,
            super::device::GRANT => self.device_grant(client, form, jkt, ctx).await,
            super::grants::TOKEN_EXCHANGE => self.token_exchange(client, form, jkt, ctx).await,
            super::grants::CIBA => self.ciba(client, form, jkt, ctx).await,
            other => Err(err(OAuthErrorCode::UnsupportedGrantType, format!("grant_type {other:?} is not supported"))),
        }
    }

    /// Redeem an approved authorization (a code, a device code): claim it and start its
    /// family ([`Self::start_family`]), then answer with its tokens (and an ID token for
    /// `openid`). `None` when the claim lost: it was already redeemed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn redeem(
        &self,
        client: &Client,
        grant: &str,
        claim: &'static str,
        key: &str,
        nf: &NewFamily<'_>,
        user: &crate::User,
        scopes: &[String],
        nonce: Option<&str>,
        ctx: &RequestContext,
    ) -> std::result::Result<Option<Value>, OAuthError> {
        let refresh = client.allows_grant("refresh_token").then(crypto::random_token);
        let event = issued(client, grant, Some(nf.id), Some(nf.user_id), nf.scope, nf.resource, ctx).with("refresh_token", refresh.is_some());
        if !self.start_family(client, claim, key, nf, refresh.as_deref(), event).await.map_err(internal)? {
            return Ok(None);
        }
        let auth_time = nf.auth_time.0 / 1000;
        let fam = Family {
            id: Some(nf.id),
            user_id: Some(nf.user_id),
            auth_time: Some(auth_time),
            scope: nf.scope.to_owned(),
            resource: nf.resource,
            jkt: nf.dpop_jkt,
        };
        let mut body = self.respond(client, &fam, refresh.as_deref()).await?;
        if scopes.iter().any(|s| s == "openid") {
            set(&mut body, "id_token", json!(self.id_token(client, user, scopes, Some(auth_time), nonce).await?));
        }
        Ok(Some(body))
    }

    /// In one transaction: claim the grant with `claim` (an UPDATE with `$1` = now and
    /// `$2` = `key` that must change exactly one row), create the family and its first
    /// refresh token, record `event`, and note that the client completed a grant.
    /// False when the claim lost (already used).
    pub(crate) async fn start_family(
        &self,
        client: &Client,
        claim: &'static str,
        key: &str,
        f: &NewFamily<'_>,
        refresh: Option<&str>,
        event: Event,
    ) -> Result<bool> {
        let now = Ts::now();
        let expires = now.plus_secs(self.0.options.oauth.refresh_token_ttl.as_secs() as i64);
        let refresh_hash = refresh.map(crypto::token_hash);
        let started = store::start_family(
            &self.0.db,
            claim,
            key,
            f,
            refresh_hash.as_deref(),
            (client.used_at.is_none()).then_some(client.client_id.as_str()),
            now,
            expires,
            event,
        )
        .await?;
        if started {
            self.0.clients().marked_used(client);
        }
        Ok(started)
    }

    /// A code came back a second time: the family it created is revoked (RFC 9700 §4.2.4).
    pub(crate) async fn code_replayed(&self, family_id: &str, client_id: &str, ctx: &RequestContext) -> std::result::Result<(), OAuthError> {
        self.revoke_family(family_id, |n| {
            Event::new(crate::audit::EventKind::OAuthCodeReplayed, None, ctx).with("client_id", client_id).with("family", family_id).with("revoked", n)
        })
        .await
        .map_err(internal)?;
        Ok(())
    }

    /// Revoke a grant family and record `event` (given how many families were revoked:
    /// 0 when it already was) in the same transaction.
    pub(crate) async fn revoke_family(&self, family_id: &str, event: impl FnOnce(u64) -> Event) -> Result<u64> {
        store::revoke_family(&self.0.db, family_id, Ts::now(), event).await
    }

    pub(crate) async fn live_user(&self, user_id: &str) -> std::result::Result<crate::User, OAuthError> {
        match self.0.users().get(user_id).await.map_err(internal)? {
            Some(u) if !u.is_banned(Ts::now()) => Ok(u),
            _ => Err(err(OAuthErrorCode::InvalidGrant, "the user of this grant no longer exists or is banned")),
        }
    }

    pub(crate) async fn respond(&self, client: &Client, fam: &Family<'_>, refresh: Option<&str>) -> std::result::Result<Value, OAuthError> {
        self.respond_with(client, fam, refresh, &[]).await
    }

    /// [`Self::respond`], the access token carrying `extra` claims too (an agent's `agent`,
    /// `act` and `may_act`).
    pub(crate) async fn respond_with(
        &self,
        client: &Client,
        fam: &Family<'_>,
        refresh: Option<&str>,
        extra: &[(&str, Value)],
    ) -> std::result::Result<Value, OAuthError> {
        Ok(self.respond_with_jti(client, fam, refresh, extra).await?.0)
    }

    /// [`Self::respond_with`], and the access token's `jti` (for the audit record).
    pub(crate) async fn respond_with_jti(
        &self,
        client: &Client,
        fam: &Family<'_>,
        refresh: Option<&str>,
        extra: &[(&str, Value)],
    ) -> std::result::Result<(Value, String), OAuthError> {
        let o = &self.0.options.oauth;
        let now = Ts::now().0 / 1000;
        let ttl = o.access_token_ttl.as_secs() as i64;
        let jti = match fam.id {
            Some(f) => format!("{f}.{}", crypto::new_id()),
            None => crypto::new_id(),
        };
        let mut claims = json!({
            "iss": self.issuer(),
            "sub": fam.user_id.unwrap_or(&client.client_id),
            "aud": fam.resource.unwrap_or(&client.client_id),
            "client_id": client.client_id,
            "scope": fam.scope,
            "iat": now,
            "exp": now + ttl,
            "jti": &jti,
        });
        if let Some(t) = fam.auth_time {
            set(&mut claims, "auth_time", json!(t));
        }
        if let Some(k) = fam.jkt {
            set(&mut claims, "cnf", json!({ "jkt": k }));
        }
        for (k, v) in extra {
            set(&mut claims, k, v.clone());
        }
        let at = self.0.keys.sign(o.access_token_alg, "at+jwt", &claims).await.map_err(internal)?;
        let token_type = if fam.jkt.is_some() { "DPoP" } else { "Bearer" };
        let mut body = json!({ "access_token": at, "token_type": token_type, "expires_in": ttl, "scope": fam.scope });
        if let Some(rt) = refresh {
            set(&mut body, "refresh_token", json!(rt));
        }
        Ok((body, jti))
    }

    pub(crate) async fn id_token(
        &self,
        client: &Client,
        user: &crate::User,
        scope: &[String],
        auth_time: Option<i64>,
        nonce: Option<&str>,
    ) -> std::result::Result<String, OAuthError> {
        let now = Ts::now().0 / 1000;
        let mut claims = json!({
            "iss": self.issuer(),
            "sub": user.id,
            "aud": client.client_id,
            "iat": now,
            "exp": now + self.0.options.oauth.access_token_ttl.as_secs() as i64,
        });
        if let Some(t) = auth_time {
            set(&mut claims, "auth_time", json!(t));
        }
        if let Some(n) = nonce {
            set(&mut claims, "nonce", json!(n));
        }
        for (k, v) in user_claims(user, scope) {
            set(&mut claims, k, v);
        }
        self.0.keys.sign(Alg::RS256, "JWT", &claims).await.map_err(internal)
    }

    /// Verify one of our access tokens and check it has not been revoked.
    pub async fn active(&self, token: &str) -> Result<Option<ActiveToken>> {
        let Ok((header, claims)) = self.0.keys.verify(token, 0).await? else { return Ok(None) };
        if header.get("typ").and_then(Value::as_str) != Some("at+jwt") || claims.get("iss").and_then(Value::as_str) != Some(self.issuer().as_str()) {
            return Ok(None);
        }
        let jti = claims.get("jti").and_then(Value::as_str).unwrap_or_default();
        let family = jti.split_once('.').map(|(f, _)| f);
        let client_id = claims.get("client_id").and_then(Value::as_str).unwrap_or_default();
        let issued = Ts(claims.get("iat").and_then(Value::as_i64).unwrap_or(0) * 1000);
        // One round trip: not revoked by itself; its grant family (if any) alive, and the
        // family's user still there and not banned; and its client still there, enabled,
        // and not cut off since (client_credentials tokens have no family and no user).
        let (revoked, family_alive, client_alive) =
            store::liveness(&self.0.db, &format!("at:{jti}"), family.unwrap_or_default(), client_id, issued, Ts::now()).await?;
        let alive = revoked == 0 && (family.is_none() || family_alive == 1) && client_alive == 1;
        // An agent's token lives only while the agent and every agent above it can act.
        if alive && claims.contains_key("agent") && self.0.agents().token_claims(client_id).await?.is_err() {
            return Ok(None);
        }
        Ok(alive.then_some(ActiveToken { claims }))
    }

    /// RFC 7009. Unknown tokens and other clients' tokens are ignored (200 either way).
    pub async fn revoke(&self, client: &Client, token: &str, ctx: &RequestContext) -> std::result::Result<(), OAuthError> {
        let family = store::refresh_family(&self.0.db, &crypto::token_hash(token)).await.map_err(internal)?;
        if let Some((family, owner, user)) = family {
            if owner == client.client_id {
                self.revoke_family(&family, |_| {
                    Event::new(crate::audit::EventKind::OAuthTokenRevoked, user.as_deref(), ctx).with("client_id", &owner).with("family", &family)
                })
                .await
                .map_err(internal)?;
            }
            return Ok(());
        }
        if let Some(at) = self.active(token).await.map_err(internal)?
            && at.claims.get("client_id").and_then(Value::as_str) == Some(client.client_id.as_str())
        {
            let jti = at.claims.get("jti").and_then(Value::as_str).unwrap_or_default();
            let exp = at.claims.get("exp").and_then(Value::as_i64).unwrap_or_default();
            self.remember_jti(&format!("at:{jti}"), exp).await.map_err(internal)?;
        }
        Ok(())
    }

    /// RFC 7662, for an authenticated confidential client. Dead tokens get exactly
    /// `{"active": false}`. An access token is described only to the resource server
    /// it was issued for (a client an operator allowed to introspect its `aud`, see
    /// [`super::clients::Clients::set_introspection`]) and to the client it was issued
    /// to (which holds it and can read its claims anyway); to anyone else it is
    /// `{"active": false}` (RFC 7662 §4). Refresh tokens are only described to their
    /// own client.
    pub async fn introspect(&self, caller: &Client, token: &str) -> std::result::Result<Value, OAuthError> {
        if !caller.confidential {
            return Err(err(OAuthErrorCode::InvalidClient, "introspection needs an authenticated confidential client"));
        }
        if let Some(at) = self.active(token).await.map_err(internal)? {
            let aud = at.claims.get("aud").and_then(Value::as_str).unwrap_or_default();
            let own = at.claims.get("client_id").and_then(Value::as_str) == Some(caller.client_id.as_str());
            if !own && !caller.may_introspect(aud) {
                return Ok(json!({ "active": false }));
            }
            let token_type = if at.claims.contains_key("cnf") { "DPoP" } else { "Bearer" };
            let mut out = json!({ "active": true, "token_type": token_type });
            for k in ["scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "auth_time", "cnf", "agent", "act"] {
                if let Some(v) = at.claims.get(k) {
                    set(&mut out, k, v.clone());
                }
            }
            return Ok(out);
        }
        let row = store::refresh_description(&self.0.db, &crypto::token_hash(token)).await.map_err(internal)?;
        match row {
            Some((client_id, user_id, scope, expires, None, None, created, resource)) if client_id == caller.client_id && expires > Ts::now() => {
                let mut out = json!({ "active": true, "token_type": "refresh_token", "client_id": client_id, "scope": scope,
                    "exp": expires.0 / 1000, "iat": created.0 / 1000, "iss": self.issuer() });
                if let Some(u) = user_id {
                    set(&mut out, "sub", json!(u));
                }
                if let Some(r) = resource {
                    set(&mut out, "aud", json!(r));
                }
                Ok(out)
            }
            _ => Ok(json!({ "active": false })),
        }
    }

    /// OpenID Connect userinfo for an access token with the `openid` scope. `dpop` is
    /// (proof, method, URL) when the request used the DPoP scheme.
    pub async fn userinfo(&self, token: &str, dpop: Option<(&str, &str, &str)>) -> std::result::Result<Value, OAuthError> {
        let at =
            self.active(token).await.map_err(internal)?.ok_or_else(|| err(OAuthErrorCode::InvalidToken, "the access token is invalid, expired or revoked"))?;
        let bound = at.claims.get("cnf").and_then(|c| c.get("jkt")).and_then(Value::as_str);
        match (bound, dpop) {
            (None, None) => {}
            (Some(b), Some((proof, method, url))) => {
                let jkt = self.check_dpop(proof, method, url, Some(token)).await.map_err(|e| {
                    if matches!(e.error, OAuthErrorCode::UseDpopNonce | OAuthErrorCode::ServerError) {
                        e
                    } else {
                        err(OAuthErrorCode::InvalidToken, e.description)
                    }
                })?;
                if jkt != b {
                    return Err(err(OAuthErrorCode::InvalidToken, "the DPoP proof is not from the key the token is bound to"));
                }
            }
            (Some(_), None) => return Err(err(OAuthErrorCode::InvalidToken, DPOP_BOUND_AS_BEARER)),
            (None, Some(_)) => return Err(err(OAuthErrorCode::InvalidToken, "this token is not DPoP-bound: present it as a Bearer token")),
        }
        let scopes: Vec<String> = at.scopes().into_iter().map(str::to_owned).collect();
        if !scopes.iter().any(|s| s == "openid") {
            return Err(err(OAuthErrorCode::InsufficientScope, "userinfo needs the openid scope"));
        }
        let sub = at.claims.get("sub").and_then(Value::as_str).unwrap_or_default();
        // A database failure stays a server error: clients must not drop a good token over it.
        let user = self
            .live_user(sub)
            .await
            .map_err(|e| if e.error == OAuthErrorCode::ServerError { e } else { err(OAuthErrorCode::InvalidToken, "the user no longer exists") })?;
        let mut out = json!({ "sub": user.id });
        for (k, v) in user_claims(&user, &scopes) {
            set(&mut out, k, v);
        }
        Ok(out)
    }

    /// Delete expired codes, pushed requests, families (with their refresh tokens) and
    /// remembered token ids.
    pub async fn purge(&self) -> Result<()> {
        let now = Ts::now();
        let old = now.plus_secs(-86400);
        store::purge(&self.0.db, now, old, now.plus_secs(-(self.0.options.oauth.refresh_grace.as_secs() as i64) - 60)).await?;
        self.purge_devices().await
    }
}

/// The `oauth.token.issued` audit event of a grant.
pub(crate) fn issued(
    client: &Client,
    grant: &str,
    family: Option<&str>,
    user: Option<&str>,
    scope: &str,
    resource: Option<&str>,
    ctx: &RequestContext,
) -> Event {
    Event::new(crate::audit::EventKind::OAuthTokenIssued, user, ctx)
        .with("client_id", &client.client_id)
        .with("grant", grant)
        .with("family", family)
        .with("scope", scope)
        .with("resource", resource)
}

/// The OpenID Connect claims a user's scopes release.
fn user_claims(user: &crate::User, scope: &[String]) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    if scope.iter().any(|s| s == "email") {
        out.push(("email", json!(user.email)));
        out.push(("email_verified", json!(user.email_verified)));
    }
    if scope.iter().any(|s| s == "profile") {
        out.push(("name", json!(user.name)));
        if let Some(i) = &user.image {
            out.push(("picture", json!(i)));
        }
        out.push(("updated_at", json!(user.updated_at.0 / 1000)));
    }
    out
}
