//! OAuth clients: RFC 7591 dynamic registration (accepting exactly what real MCP
//! clients send), RFC 7592 management with a registration access token, and
//! operator-registered confidential clients. Secrets and registration tokens are
//! random 256-bit values stored as SHA-256 only.

use super::redirect::check_registrable;
use super::store::clients as store;
use super::{OAuthError, OAuthErrorCode};
use crate::error::{Error, Result};
use crate::store::Ts;
use crate::{Core, crypto};
use serde_json::{Map, Value, json};

/// How a client came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// RFC 7591 registration by the client itself.
    Dynamic,
    /// Registered by an operator (CLI or admin API).
    Operator,
    /// Described by a Client ID Metadata Document at its `client_id` URL.
    MetadataDocument,
    /// An agent's own credentials (`client_id` = the agent's id): `client_credentials` only.
    Agent,
}

impl Origin {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Origin::Dynamic => "dynamic",
            Origin::Operator => "operator",
            Origin::MetadataDocument => "document",
            Origin::Agent => "agent",
        }
    }
}

/// A registered client.
#[derive(Clone, Debug)]
pub struct Client {
    pub client_id: String,
    pub kind: String,
    pub metadata: Value,
    pub disabled: bool,
    /// Authenticates at the token endpoint (any method but `none`).
    pub confidential: bool,
    /// SHA-256 of the client secret (`client_secret_*` methods only).
    secret_hash: Option<String>,
    /// The resources whose access tokens this client may introspect (`*`: all), set
    /// by an operator: a resource server's own client.
    pub introspects: Vec<String>,
    /// When it first completed a grant (dynamic clients that never do are purged).
    pub used_at: Option<Ts>,
    /// A metadata document's client: until when the stored copy is fresh.
    pub cached_until: Option<Ts>,
}

/// A client's row: client_id, kind, metadata, client_secret_hash, disabled, introspects,
/// used_at, cached_until.
pub(crate) type ClientRow = (String, String, String, Option<String>, bool, Option<String>, Option<Ts>, Option<Ts>);

impl Client {
    fn from_row((client_id, kind, metadata, secret_hash, disabled, introspects, used_at, cached_until): ClientRow) -> Client {
        let metadata: Value = serde_json::from_str(&metadata).unwrap_or(Value::Null);
        let confidential = str_member(&metadata, "token_endpoint_auth_method").is_some_and(|m| m != "none");
        let introspects = introspects.unwrap_or_default().split(' ').filter(|r| !r.is_empty()).map(str::to_owned).collect();
        Client { client_id, kind, metadata, disabled, confidential, secret_hash, introspects, used_at, cached_until }
    }

    /// May this client introspect access tokens issued for `resource` (their `aud`)?
    pub fn may_introspect(&self, resource: &str) -> bool {
        self.introspects.iter().any(|r| r == "*" || r == resource)
    }

    /// Is `secret` this client's secret? Constant time; false for clients without one.
    pub fn secret_matches(&self, secret: &str) -> bool {
        let presented = crypto::token_hash(secret);
        self.secret_hash.as_ref().is_some_and(|h| crypto::ct_eq(h.as_bytes(), presented.as_bytes()))
    }

    pub fn redirect_uris(&self) -> Vec<&str> {
        self.metadata.get("redirect_uris").and_then(Value::as_array).map(|a| a.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default()
    }
    pub fn auth_method(&self) -> &str {
        str_member(&self.metadata, "token_endpoint_auth_method").unwrap_or("client_secret_basic")
    }
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.metadata.get("grant_types").and_then(Value::as_array).is_some_and(|g| g.iter().any(|v| v == grant))
    }
}

/// The answer to a registration: the metadata plus the one-time secrets.
#[derive(Clone, Debug)]
pub struct Registered {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub registration_access_token: String,
    /// Everything registered, defaults included, as RFC 7591 returns it.
    pub metadata: Value,
}

const GRANTS: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
    super::grants::TOKEN_EXCHANGE,
    super::grants::CIBA,
];
const AUTH_METHODS: &[&str] = &["none", "client_secret_basic", "client_secret_post", "private_key_jwt"];
const MAX_REDIRECTS: usize = 20;

/// A string member of a JSON object (`None`: missing, not a string, or not an object).
fn str_member<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn invalid(code: OAuthErrorCode, msg: impl Into<String>) -> Error {
    Error::bad_request(code, msg.into())
}

fn string_field(meta: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>> {
    match meta.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= max && !s.chars().any(char::is_control) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(OAuthErrorCode::InvalidClientMetadata, format!("{key} must be a string of at most {max} characters"))),
    }
}

fn string_list(meta: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>> {
    match meta.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().filter(|s| s.len() <= 2048).map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| invalid(OAuthErrorCode::InvalidClientMetadata, format!("{key} must be an array of strings"))),
        Some(_) => Err(invalid(OAuthErrorCode::InvalidClientMetadata, format!("{key} must be an array"))),
    }
}

/// Validate client metadata and fill in RFC 7591's defaults.
pub fn normalize(meta: &Value) -> Result<Value> {
    normalized(meta).map(Value::Object)
}

/// [`normalize`], as the object it always is.
fn normalized(meta: &Value) -> Result<Map<String, Value>> {
    let m = meta.as_object().ok_or_else(|| invalid(OAuthErrorCode::InvalidClientMetadata, "the body must be a JSON object"))?;
    // Grant types Kavach does not support are dropped, and the registration answers with
    // the ones it accepted (RFC 7591 §2): clients list grants they could use elsewhere
    // (claude.ai's metadata document lists jwt-bearer).
    let asked = string_list(m, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
    let grant_types: Vec<String> = asked.iter().filter(|g| GRANTS.contains(&g.as_str())).cloned().collect();
    if grant_types.is_empty() {
        return Err(invalid(
            OAuthErrorCode::InvalidClientMetadata,
            format!(
                "none of the grant types {asked:?} is supported (supported: {}; implicit and password grants do not exist in OAuth 2.1)",
                GRANTS.join(", ")
            ),
        ));
    }
    let response_types = string_list(m, "response_types")?.unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(invalid(OAuthErrorCode::InvalidClientMetadata, "only the response type \"code\" is supported"));
    }
    let auth_method = string_field(m, "token_endpoint_auth_method", 64)?.unwrap_or_else(|| "client_secret_basic".into());
    if !AUTH_METHODS.contains(&auth_method.as_str()) {
        return Err(invalid(OAuthErrorCode::InvalidClientMetadata, format!("token_endpoint_auth_method {auth_method:?} is not supported")));
    }
    let redirect_uris = string_list(m, "redirect_uris")?.unwrap_or_default();
    let uses_redirects = grant_types.iter().any(|g| g == "authorization_code");
    if uses_redirects && redirect_uris.is_empty() {
        return Err(invalid(OAuthErrorCode::InvalidRedirectUri, "redirect_uris is required for the authorization_code grant"));
    }
    if redirect_uris.len() > MAX_REDIRECTS {
        return Err(invalid(OAuthErrorCode::InvalidRedirectUri, format!("at most {MAX_REDIRECTS} redirect URIs")));
    }
    for r in &redirect_uris {
        check_registrable(r).map_err(|e| invalid(e.error, e.description))?;
    }
    // Loopback and private-use-scheme redirects belong to native apps (RFC 8252): a client
    // that registers one is a native client, recorded and answered as such, whatever it
    // declared (the MCP TypeScript SDK v1 and VS Code declare nothing, Cursor declares
    // "web" with a cursor:// redirect). A client that declares itself a web application
    // and authenticates (a server-side app) gets https redirects only.
    let declared = string_field(m, "application_type", 16)?;
    if declared.as_deref().is_some_and(|t| t != "web" && t != "native") {
        return Err(invalid(OAuthErrorCode::InvalidClientMetadata, "application_type must be web or native"));
    }
    let native_redirect = redirect_uris.iter().find(|r| super::redirect::is_native_only(r));
    let application_type = match (declared.as_deref(), native_redirect) {
        (Some("web"), Some(r)) if auth_method != "none" => {
            return Err(invalid(
                OAuthErrorCode::InvalidRedirectUri,
                format!(
                    "{r}: loopback and custom-scheme redirect URIs are only for native clients (application_type \"native\"); a web application uses https"
                ),
            ));
        }
        (_, Some(_)) => "native".to_owned(),
        (Some(t), None) => t.to_owned(),
        (None, None) => "web".to_owned(),
    };
    let jwks_uri = string_field(m, "jwks_uri", 2048)?;
    let jwks = match m.get("jwks") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(o)) if o.get("keys").is_some_and(Value::is_array) => Some(v.clone()),
        Some(_) => return Err(invalid(OAuthErrorCode::InvalidClientMetadata, "jwks must be a JWK set ({\"keys\": [...]})")),
    };
    if jwks_uri.is_some() && jwks.is_some() {
        return Err(invalid(OAuthErrorCode::InvalidClientMetadata, "give jwks or jwks_uri, not both"));
    }
    if auth_method == "private_key_jwt" && jwks_uri.is_none() && jwks.is_none() {
        return Err(invalid(OAuthErrorCode::InvalidClientMetadata, "private_key_jwt needs jwks or jwks_uri"));
    }
    if let Some(u) = &jwks_uri
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        return Err(invalid(OAuthErrorCode::InvalidClientMetadata, "jwks_uri must be an https URL"));
    }
    let mut out = Map::new();
    out.insert("redirect_uris".into(), json!(redirect_uris));
    out.insert("grant_types".into(), json!(grant_types));
    out.insert("response_types".into(), json!(response_types));
    out.insert("token_endpoint_auth_method".into(), json!(auth_method));
    out.insert("application_type".into(), json!(application_type));
    for key in ["client_name", "client_uri", "logo_uri", "tos_uri", "policy_uri", "scope", "software_id", "software_version"] {
        if let Some(v) = string_field(m, key, 2048)? {
            out.insert(key.into(), json!(v));
        }
    }
    if let Some(c) = string_list(m, "contacts")? {
        out.insert("contacts".into(), json!(c));
    }
    if let Some(u) = jwks_uri {
        out.insert("jwks_uri".into(), json!(u));
    }
    if let Some(j) = jwks {
        out.insert("jwks".into(), j);
    }
    Ok(out)
}

/// Is this `client_id` a Client ID Metadata Document URL (https, with a path)?
/// `insecure` also accepts http (a development allowance).
pub fn is_document_url(client_id: &str, insecure: bool) -> bool {
    let rest = client_id.strip_prefix("https://").or_else(|| if insecure { client_id.strip_prefix("http://") } else { None });
    rest.and_then(|r| r.split_once('/')).is_some_and(|(host, path)| !host.is_empty() && !path.is_empty())
}

/// Validate a fetched Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-document):
/// its `client_id` is exactly the URL it came from, it names itself and its redirect URIs,
/// and it uses no shared secret. Returns the normalised metadata.
pub fn check_document(url: &str, doc: &Value) -> Result<Value> {
    let bad = |m: String| invalid(OAuthErrorCode::InvalidClientMetadata, m);
    let o = doc.as_object().ok_or_else(|| bad("the client metadata document is not a JSON object".into()))?;
    if o.get("client_id").and_then(Value::as_str) != Some(url) {
        return Err(bad(format!("the document's client_id must be exactly {url}")));
    }
    if !o.get("client_name").is_some_and(Value::is_string) {
        return Err(bad("the document has no client_name".into()));
    }
    if o.contains_key("client_secret") || o.contains_key("client_secret_expires_at") {
        return Err(bad("a client metadata document cannot carry a client secret".into()));
    }
    let mut meta = o.clone();
    meta.remove("client_id");
    meta.entry("token_endpoint_auth_method").or_insert_with(|| json!("none"));
    meta.entry("grant_types").or_insert_with(|| json!(["authorization_code", "refresh_token"]));
    let mut out = normalized(&Value::Object(meta))?;
    if !matches!(out.get("token_endpoint_auth_method").and_then(Value::as_str), Some("none" | "private_key_jwt")) {
        return Err(bad("a client metadata document may only use none or private_key_jwt".into()));
    }
    if out.get("redirect_uris").and_then(Value::as_array).is_none_or(|a| a.is_empty()) {
        return Err(invalid(OAuthErrorCode::InvalidRedirectUri, "the document lists no redirect_uris"));
    }
    out.insert("client_id".into(), json!(url));
    Ok(Value::Object(out))
}

/// Does this (normalized) metadata's method use a client secret (not `none`, not `private_key_jwt`)?
fn uses_secret(metadata: &Value) -> bool {
    matches!(str_member(metadata, "token_endpoint_auth_method"), Some("client_secret_basic" | "client_secret_post"))
}

/// `kavach.clients()`: the client registry. The rules are here; the queries in
/// `store/clients.rs`.
pub struct Clients<'a>(pub(crate) &'a Core);

impl Clients<'_> {
    /// Register a client (RFC 7591). Confidential clients (any method but `none`)
    /// get a secret; every client gets a registration access token (RFC 7592). The
    /// registration is recorded in the audit log (`ctx`: who asked).
    pub async fn register(&self, meta: &Value, origin: Origin, ctx: &crate::RequestContext) -> Result<Registered> {
        self.register_as(&format!("kc_{}", crypto::new_id()), meta, origin, ctx).await
    }

    /// [`Self::register`] with a chosen `client_id` (an agent's id).
    pub(crate) async fn register_as(&self, client_id: &str, meta: &Value, origin: Origin, ctx: &crate::RequestContext) -> Result<Registered> {
        let mut metadata = normalize(meta)?;
        let client_id = client_id.to_owned();
        let secret = uses_secret(&metadata).then(|| format!("kcs_{}", crypto::random_token()));
        let rat = format!("kcr_{}", crypto::random_token());
        let now = Ts::now();
        if let Some(obj) = metadata.as_object_mut() {
            obj.insert("client_id".into(), json!(client_id));
            obj.insert("client_id_issued_at".into(), json!(now.0 / 1000));
            if secret.is_some() {
                obj.insert("client_secret_expires_at".into(), json!(0));
            }
        }
        let event = crate::audit::Event::new(crate::audit::EventKind::OAuthClientRegistered, None, ctx)
            .with("client_id", &client_id)
            .with("kind", origin.as_str())
            .with("client_name", metadata.get("client_name"))
            .with("redirect_uris", metadata.get("redirect_uris"))
            .with("grant_types", metadata.get("grant_types"));
        let row = store::NewClient {
            client_id: &client_id,
            kind: origin.as_str(),
            secret_hash: secret.as_deref().map(crypto::token_hash),
            registration_token_hash: crypto::token_hash(&rat),
            metadata: &metadata,
        };
        store::insert(&self.0.db, &row, now, event).await?;
        let mut shown = metadata.clone();
        if let Some(o) = shown.as_object_mut() {
            if let Some(s) = &secret {
                o.insert("client_secret".into(), json!(s));
            }
            o.insert("registration_access_token".into(), json!(rat));
        }
        Ok(Registered { client_id, client_secret: secret, registration_access_token: rat, metadata: shown })
    }

    /// Until when the stored copy of a metadata document's client is fresh
    /// (`None`: not stored).
    pub async fn document_cached_until(&self, url: &str) -> Result<Option<Ts>> {
        store::document_cached_until(&self.0.db, url).await
    }

    /// Store (or refresh) a metadata document's client, checked by [`check_document`].
    /// An operator's `disabled` switch survives refreshes.
    pub async fn store_document(&self, url: &str, metadata: &Value, cached_until: Ts) -> Result<()> {
        store::upsert_document(&self.0.db, url, metadata, Ts::now(), cached_until).await?;
        self.0.sessions.client_changed(url).await;
        Ok(())
    }

    /// A `jwks_uri`'s key set as last fetched: (keys, fetched at, fresh until).
    pub async fn remote_jwks(&self, uri: &str) -> Result<Option<(Value, Ts, Ts)>> {
        let row = store::remote_jwks(&self.0.db, uri).await?;
        Ok(row.and_then(|(j, f, c)| serde_json::from_str(&j).ok().map(|j| (j, f, c))))
    }

    /// Store a key set fetched from `uri` (a JSON object with a `keys` array), fresh
    /// until `cached_until`.
    pub async fn store_remote_jwks(&self, uri: &str, jwks: &Value, cached_until: Ts) -> std::result::Result<(), OAuthError> {
        if !jwks.get("keys").is_some_and(Value::is_array) {
            return Err(OAuthError::new(OAuthErrorCode::InvalidClient, format!("{uri} is not a JWK set ({{\"keys\": [...]}})")));
        }
        store::upsert_remote_jwks(&self.0.db, uri, &jwks.to_string(), Ts::now(), cached_until).await.map_err(super::tokens::internal)
    }

    /// The keys a `private_key_jwt` client signs with: its registered `jwks`, or the
    /// stored copy of its `jwks_uri` (fetched by the HTTP layer).
    pub async fn signing_keys(&self, client: &Client) -> Result<Option<Value>> {
        if let Some(j) = client.metadata.get("jwks").filter(|j| j.is_object()) {
            return Ok(Some(j.clone()));
        }
        match client.metadata.get("jwks_uri").and_then(Value::as_str) {
            Some(uri) => Ok(self.remote_jwks(uri).await?.map(|(j, _, _)| j)),
            None => Ok(None),
        }
    }

    /// The client `client_id`, from this instance's cache when it was read recently
    /// (the staleness contract of [`crate::cache`]: every change below is broadcast).
    /// A missing client is never cached, so one registered on another instance is
    /// found at once.
    pub async fn get(&self, client_id: &str) -> Result<Option<Client>> {
        if client_id.len() > 2048 || client_id.chars().any(char::is_control) {
            return Ok(None);
        }
        if !self.0.sessions.caches() {
            return Ok(store::get(&self.0.db, client_id).await?.map(Client::from_row));
        }
        let slot = self.0.client_cache.slot(client_id, self.0.sessions.epoch());
        let read = slot.get_or_try_init(|| async {
            match store::get(&self.0.db, client_id).await {
                Ok(Some(row)) => Ok(std::sync::Arc::new(Client::from_row(row))),
                Ok(None) => Err(None),
                Err(e) => Err(Some(e)),
            }
        });
        match read.await {
            Ok(c) => Ok(Some(Client::clone(c))),
            Err(None) => Ok(None),
            Err(Some(e)) => Err(e),
        }
    }

    /// Is `secret` this (enabled, confidential) client's secret? Constant time.
    pub async fn authenticate(&self, client_id: &str, secret: &str) -> Result<bool> {
        Ok(self.get(client_id).await?.is_some_and(|c| !c.disabled && c.secret_matches(secret)))
    }

    /// Does `token` authorise RFC 7592 management of this client?
    pub async fn check_registration_token(&self, client_id: &str, token: &str) -> Result<bool> {
        let stored = store::registration_token_hash(&self.0.db, client_id).await?;
        let presented = crypto::token_hash(token);
        Ok(stored.is_some_and(|h| crypto::ct_eq(h.as_bytes(), presented.as_bytes())))
    }

    /// RFC 7592 update: replace the metadata (the client keeps its id and secret).
    pub async fn update(&self, client_id: &str, meta: &Value) -> Result<Value> {
        let mut metadata = normalize(meta)?;
        let Some(current) = self.get(client_id).await? else { return Err(Error::not_found(OAuthErrorCode::InvalidClient, "no such client")) };
        if (str_member(&metadata, "token_endpoint_auth_method") == Some("none")) == current.confidential {
            return Err(invalid(OAuthErrorCode::InvalidClientMetadata, "a client cannot switch between public and confidential; register a new one"));
        }
        // Its secret (or the lack of one) stays: a switch to or from a secret method would lock it out.
        if uses_secret(&metadata) != current.secret_hash.is_some() {
            return Err(invalid(
                OAuthErrorCode::InvalidClientMetadata,
                "a client cannot switch between a client secret and private_key_jwt; register a new one",
            ));
        }
        if let Some(obj) = metadata.as_object_mut() {
            obj.insert("client_id".into(), json!(client_id));
            for key in ["client_id_issued_at", "client_secret_expires_at"] {
                if let Some(v) = current.metadata.get(key) {
                    obj.insert(key.into(), v.clone());
                }
            }
        }
        store::update_metadata(&self.0.db, client_id, &metadata, Ts::now()).await?;
        self.0.sessions.client_changed(client_id).await;
        Ok(metadata)
    }

    /// Delete a client, its users' remembered consents, and revoke everything issued to it.
    pub async fn delete(&self, client_id: &str) -> Result<bool> {
        let deleted = store::delete(&self.0.db, client_id, Ts::now()).await?;
        self.0.sessions.client_changed(client_id).await;
        Ok(deleted)
    }

    /// Every client, newest first (for operators).
    pub async fn list(&self) -> Result<Vec<Client>> {
        Ok(store::list(&self.0.db).await?.into_iter().map(Client::from_row).collect())
    }

    /// Let a client introspect the access tokens of these resources (`*`: of every
    /// resource), replacing what it was allowed before (an operator action: the client
    /// of a resource server that checks tokens by RFC 7662 introspection). Resources
    /// are compared in canonical form. False when there is no such client.
    pub async fn set_introspection(&self, client_id: &str, resources: &[String]) -> Result<bool> {
        let mut canonical = Vec::new();
        for r in resources {
            if r == "*" {
                canonical.push(r.clone());
            } else {
                canonical.push(super::resource::canonical(r).map_err(|e| invalid(OAuthErrorCode::InvalidResource, e.description))?);
            }
        }
        let value = (!canonical.is_empty()).then(|| canonical.join(" "));
        let found = store::set_introspects(&self.0.db, client_id, value.as_deref(), Ts::now()).await?;
        self.0.sessions.client_changed(client_id).await;
        Ok(found)
    }

    /// Delete dynamically registered clients that never completed a grant within
    /// `unused_for` of registering (registrations abandoned half-way, or repeated).
    pub async fn purge_unused(&self, unused_for: std::time::Duration) -> Result<u64> {
        let cutoff = Ts::now().plus_secs(-(unused_for.as_secs() as i64));
        let n = store::delete_unused(&self.0.db, Origin::Dynamic.as_str(), cutoff).await?;
        if n > 0 {
            self.0.sessions.client_changed("*").await;
        }
        Ok(n)
    }

    /// Record that a client completed a grant (once: later calls change nothing).
    pub(crate) async fn mark_used(&self, client: &Client) -> Result<()> {
        if client.used_at.is_some() {
            return Ok(());
        }
        store::mark_used(&self.0.db, &client.client_id, Ts::now()).await?;
        self.marked_used(client);
        Ok(())
    }

    /// After a client's first grant marked it used: this instance's cached copy learns it
    /// (once per client; other instances' copies only make them repeat the update, which
    /// changes nothing, until they refresh).
    pub(crate) fn marked_used(&self, client: &Client) {
        if client.used_at.is_none() {
            self.0.sessions.forget(&format!("c:{}", client.client_id));
        }
    }

    /// Disable or re-enable a client (an admin action: it can no longer authenticate).
    /// Disabling also revokes every grant it holds, and cuts off the access tokens it
    /// already has, so its tokens die at once (for good: enabling it again does not
    /// bring them back). Tokens and grants that another instance, still serving its
    /// cached copy of the client (at most [`crate::cache::FRESH_FOR`]), issues after
    /// the change are cut off the same way.
    pub async fn set_disabled(&self, client_id: &str, disabled: bool) -> Result<bool> {
        let now = Ts::now();
        let cut_off = Ts(now.0 + crate::cache::FRESH_FOR.as_millis() as i64);
        let found = store::set_disabled(&self.0.db, client_id, disabled, now, cut_off).await?;
        self.0.sessions.client_changed(client_id).await;
        Ok(found)
    }
}
