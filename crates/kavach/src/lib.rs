//! Kavach for Rust apps: build a [`Kavach`] handle with [`Kavach::builder`], mount
//! [`Kavach::router`] under any path, protect your own routes with
//! [`Kavach::require_auth`] and read the caller with the [`extract`] extractors.
//!
//! ```no_run
//! # async fn run() -> Result<(), kavach::Error> {
//! let kavach = kavach::Kavach::builder()
//!     .database_url("sqlite://app-data/auth.db")
//!     .secret("a-long-random-secret-from-your-vault-0123456789")
//!     .base_url("http://localhost:3000")
//!     .build()
//!     .await?;
//! let app: axum::Router = axum::Router::new().nest("/api/kavach", kavach.router());
//! # let _ = app; Ok(()) }
//! ```
//!
//! Architecture invariant: this crate only translates HTTP to calls on
//! [`kavach_core::Core`]; no domain rule lives here.

pub mod auth;
pub mod config;
pub mod extract;
pub mod hooks;
pub mod http;
pub mod jwks;
pub mod resource;
pub mod siwe;
pub mod sms;

pub use auth::Auth;
pub use config::{EmailSettings, LogFormat, Settings};
pub use extract::{OptionalSession, RequireAuthLayer, RequireUser, Session};
pub use http::client_ip::Cidr;
pub use http::error::ApiError as Error;
pub use http::guard::OriginCheckLayer;
pub use http::session::SessionLayer;
pub use kavach_core as core;
pub use kavach_core::email::{DevMailer, Email, Mailer, SmtpMailer};
pub use kavach_core::password::PasswordPolicy;
pub use kavach_core::plugins::admin::AdminOptions;
pub use kavach_core::plugins::migration::BetterAuthCookies;
pub use kavach_core::plugins::oauth::{OAuthOptions, ResourceDef};
pub use kavach_core::plugins::organization::OrganizationOptions;
pub use kavach_core::{EmailPasswordOptions, JwtOptions, Kind, Mode, Options, RateLimitOptions, RequestContext, SessionOptions, User};

/// `Result` with [`Error`], which handlers can return directly (it is an HTTP answer).
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The Rust snippets of the user docs, compiled (and run, where they are not just items)
/// by `cargo test --doc -p kavach`, so the docs cannot drift from the API. A test
/// (`tests/embed.rs`) checks that every page of `docs/` with a Rust snippet is listed here.
#[cfg(doctest)]
mod docs {
    #[doc = include_str!("../../../docs/embedding.md")]
    mod embedding {}
    #[doc = include_str!("../../../docs/resource-server.md")]
    mod resource_server {}
    #[doc = include_str!("../../../docs/migrate-from-clerk.md")]
    mod migrate_from_clerk {}
    #[doc = include_str!("../../../docs/organizations.md")]
    mod organizations {}
    #[doc = include_str!("../../../docs/admin.md")]
    mod admin {}
    #[doc = include_str!("../../../docs/agents.md")]
    mod agents {}
    #[doc = include_str!("../../../docs/two-factor.md")]
    mod two_factor {}
    #[doc = include_str!("../../../docs/email-otp.md")]
    mod email_otp {}
    #[doc = include_str!("../../../docs/anonymous.md")]
    mod anonymous {}
    #[doc = include_str!("../../../docs/phone-number.md")]
    mod phone_number {}
    #[doc = include_str!("../../../docs/api-keys.md")]
    mod api_keys {}
    #[doc = include_str!("../../../docs/siwe.md")]
    mod siwe {}
    #[doc = include_str!("../../../docs/passkey.md")]
    mod passkey {}
    #[doc = include_str!("../../../docs/one-tap.md")]
    mod one_tap {}
    #[doc = include_str!("../../../docs/jwt.md")]
    mod jwt {}
    #[doc = include_str!("../../../docs/sessions.md")]
    mod sessions {}
}

use kavach_core::Core;
use kavach_core::email::Templates;
use kavach_core::ratelimit::RateLimiter;
use kavach_core::store::Db;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

/// The handle: cheap to clone, shared by every request. Derefs to [`Core`], so
/// `kavach.users()`, `kavach.sessions()`, `kavach.email_password()` and the rest give
/// the typed Rust API; [`Kavach::auth`] reads the session of a request's headers.
#[derive(Clone)]
pub struct Kavach {
    inner: Arc<Inner>,
}

struct Inner {
    core: Arc<Core>,
    trusted_proxies: Vec<Cidr>,
    metrics: http::metrics::Metrics,
    openapi: std::sync::OnceLock<String>,
    /// The OAuth discovery document, rendered once (the options do not change).
    discovery: std::sync::OnceLock<axum::body::Bytes>,
    pages: http::templates::PageTemplates,
    table: http::table::Table,
    hooks: hooks::Hooks,
    _background: Vec<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in &self._background {
            t.abort();
        }
    }
}

impl Kavach {
    /// The hooks the embedding app gave the builder.
    pub(crate) fn hooks(&self) -> &hooks::Hooks {
        &self.inner.hooks
    }
}

impl Deref for Kavach {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.inner.core
    }
}

impl Kavach {
    pub fn builder() -> KavachBuilder {
        KavachBuilder::default()
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.inner.core
    }

    /// Session calls on a request's headers (cookie or bearer token), for middleware,
    /// WebSocket upgrades and anything that is not an extractor:
    /// `kavach.auth().get_session(&headers).await?`.
    pub fn auth(&self) -> Auth<'_> {
        Auth { kavach: self }
    }

    /// Who is calling (client IP, trusted-proxy aware, and user agent), from a
    /// request's extensions (the socket peer, with `into_make_service_with_connect_info`)
    /// and headers. The [`extract::Context`] extractor gives the same.
    pub fn request_context(&self, extensions: &axum::http::Extensions, headers: &axum::http::HeaderMap) -> RequestContext {
        http::context_of(self, extensions, headers)
    }

    /// A layer for the app's own routes: a state-changing request (not GET, HEAD or
    /// OPTIONS) that carries cookies must come from the base URL's origin or a trusted
    /// origin (`Origin`, else `Referer`), or it gets a `403` (CSRF defence). Requests
    /// without cookies (bearer tokens) pass. Kavach's own routes already do this.
    pub fn origin_check(&self) -> OriginCheckLayer {
        OriginCheckLayer { kavach: self.clone() }
    }

    pub fn trusted_proxies(&self) -> &[Cidr] {
        &self.inner.trusted_proxies
    }

    pub fn metrics(&self) -> &http::metrics::Metrics {
        &self.inner.metrics
    }

    /// The API routes (`/sign-in/email`, `/get-session`, ...). Nest it under the
    /// configured base path: `Router::new().nest("/api/kavach", kavach.router())`.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        http::api_router(self.clone())
    }

    /// `/healthz`, `/readyz` and `/metrics`, to mount at the root.
    pub fn ops_router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        http::ops::router(self.clone())
    }

    /// Everything a standalone server serves: the API under the base path plus the ops routes.
    pub fn app(&self) -> axum::Router {
        let base = self.options().base_path.trim_end_matches('/').to_owned();
        let api = self.router();
        let app = if base.is_empty() { api } else { axum::Router::new().nest(&base, api) };
        app.merge(self.ops_router()).merge(self.well_known_router()).fallback(http::not_found)
    }

    /// The authorization server's discovery documents at the origin's root
    /// (`/.well-known/oauth-authorization-server{base_path}` and
    /// `/.well-known/openid-configuration{base_path}`). [`Kavach::app`] includes it;
    /// merge it at the root when you mount [`Kavach::router`] yourself.
    pub fn well_known_router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        let oauth = if self.options().oauth.enabled { http::plugins::oauth::well_known_router(self) } else { axum::Router::new() };
        if self.options().agents.enabled { oauth.merge(http::plugins::agents::well_known_router(self)) } else { oauth }
    }

    /// A layer that lets only signed-in requests through: `401` JSON for APIs,
    /// or a redirect to `sign_in_url?next=<path>` for pages when configured with
    /// [`RequireAuthLayer::redirect_to`].
    pub fn require_auth(&self) -> RequireAuthLayer {
        RequireAuthLayer::new(self.clone())
    }

    /// A layer that resolves the session of every request it wraps, without refusing
    /// any: the [`extract`] extractors then read it from the request, and a session
    /// whose expiry slid forward gets its cookie re-issued (an extractor alone cannot
    /// set a cookie, so without a layer the expiry does not slide).
    pub fn session_layer(&self) -> SessionLayer {
        SessionLayer { kavach: self.clone() }
    }

    /// The route table of this server's enabled capabilities.
    pub fn route_table(&self) -> &http::table::Table {
        &self.inner.table
    }

    /// The hosted pages' templates.
    pub fn page_templates(&self) -> &http::templates::PageTemplates {
        &self.inner.pages
    }

    /// The authorization server's discovery document (RFC 8414 / OpenID Connect), as JSON.
    pub(crate) fn discovery_json(&self) -> axum::body::Bytes {
        self.inner.discovery.get_or_init(|| http::plugins::oauth::metadata::document(self).to_string().into()).clone()
    }

    /// The OpenAPI document of the API, generated from the code.
    pub fn openapi_json(&self) -> &str {
        self.inner.openapi.get_or_init(|| http::openapi::document(self.options()))
    }
}

/// Builds a [`Kavach`]. Only the secret is required; the database defaults to a
/// SQLite file `kavach-data/kavach.db` and mail to a development outbox (refused in
/// production mode).
///
/// Every capability's options are set the same way, each by its own setter
/// ([`session`](Self::session), [`jwt`](Self::jwt), [`email_password`](Self::email_password),
/// [`password_policy`](Self::password_policy), [`rate_limit`](Self::rate_limit),
/// [`oauth`](Self::oauth), [`organization`](Self::organization), [`admin`](Self::admin), [`agents`](Self::agents),
/// [`better_auth_cookies`](Self::better_auth_cookies)), in any
/// order: a setter replaces its own part only. [`settings`](Self::settings) (a loaded
/// configuration, see [`Settings`]) and [`options`](Self::options) give the starting
/// point those setters override. [`build`](Self::build) checks the result with
/// [`Options::validate`], the same refusals as the `kavach` binary.
#[derive(Default)]
pub struct KavachBuilder {
    settings: Option<Settings>,
    base: Option<Options>,
    database_url: Option<String>,
    mode: Option<Mode>,
    secrets: Vec<String>,
    base_url: Option<String>,
    base_path: Option<String>,
    trusted_origins: Vec<String>,
    app_name: Option<String>,
    session: Option<SessionOptions>,
    jwt: Option<JwtOptions>,
    password: Option<PasswordPolicy>,
    email_password: Option<EmailPasswordOptions>,
    rate_limit: Option<RateLimitOptions>,
    oauth: Option<OAuthOptions>,
    organization: Option<kavach_core::plugins::organization::OrganizationOptions>,
    admin: Option<kavach_core::plugins::admin::AdminOptions>,
    agents: Option<kavach_core::plugins::agents::AgentOptions>,
    two_factor: Option<kavach_core::plugins::two_factor::TwoFactorOptions>,
    magic_link: Option<kavach_core::plugins::magic_link::MagicLinkOptions>,
    email_otp: Option<kavach_core::plugins::email_otp::EmailOtpOptions>,
    anonymous: Option<kavach_core::plugins::anonymous::AnonymousOptions>,
    anonymous_link: Option<kavach_core::plugins::anonymous::LinkHook>,
    phone_number: Option<kavach_core::plugins::phone_number::PhoneNumberOptions>,
    api_key: Option<kavach_core::plugins::api_key::ApiKeyOptions>,
    siwe: Option<kavach_core::plugins::siwe::SiweOptions>,
    passkey: Option<kavach_core::plugins::passkey::PasskeyOptions>,
    one_tap: Option<kavach_core::plugins::one_tap::OneTapOptions>,
    hooks: hooks::Hooks,
    sms: Option<Arc<dyn kavach_core::sms::SmsSender>>,
    username: Option<kavach_core::plugins::username::UsernameOptions>,
    better_auth: Option<BetterAuthCookies>,
    mailer: Option<Arc<dyn Mailer>>,
    templates_dir: Option<PathBuf>,
    redis_url: Option<String>,
    trusted_proxies: Vec<Cidr>,
    migrate: Option<bool>,
    background: Option<bool>,
    legacy: Vec<kavach_core::password::LegacyVerifier>,
}

impl KavachBuilder {
    /// Start from a loaded configuration ([`Settings::load`]): its options, database,
    /// Redis, trusted proxies, email templates and mailer (SMTP, or the development outbox
    /// in its `data_dir`). Every other setter overrides it, whatever the order of calls.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = Some(settings);
        self
    }
    /// [`settings`](Self::settings) with [`Settings::from_env`]: the configuration file
    /// (`KAVACH_CONFIG` or `./kavach.toml`) and the `KAVACH_*` environment variables, read
    /// as the `kavach` binary reads them. `build()` then applies the binary's checks, once
    /// the builder's own secret, mailer and setters are in (so `.mailer(..)` can supply
    /// production's mailer, and `.secret(..)` replaces a generated development secret).
    pub fn from_env(self) -> Result<Self> {
        Ok(self.settings(Settings::read_env()?))
    }
    /// The base options: every part a setter does not set comes from `o` instead of the
    /// defaults. It wipes nothing: the per-capability setters and
    /// [`base_url`](Self::base_url) and friends override it whether they are called before
    /// or after, and [`secret`](Self::secret) and [`trusted_origin`](Self::trusted_origin)
    /// add to its lists. It cannot be combined with [`settings`](Self::settings) /
    /// [`from_env`](Self::from_env), which give the base options themselves: `build()`
    /// refuses the pair rather than drop one.
    pub fn options(mut self, o: Options) -> Self {
        self.base = Some(o);
        self
    }
    /// `sqlite://path/file.db` or `postgres://user@host/db`.
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }
    /// Development (default) or production: production refuses a missing or weak secret,
    /// the development outbox and development allowances (see [`Options::validate`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }
    /// Add a secret, after those of the base options. The first one signs; later ones are
    /// still accepted (rotation). A development secret the settings generated (no secret
    /// configured) is dropped once the builder is given one.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secrets.push(secret.into());
        self
    }
    pub fn secrets(mut self, secrets: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.secrets.extend(secrets.into_iter().map(Into::into));
        self
    }
    /// Public origin, e.g. `https://auth.example.com`: decides cookie security and links in emails.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }
    /// Where the router is mounted (default `/api/kavach`): used in links and OpenAPI.
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        self.base_path = Some(path.into());
        self
    }
    /// Add an origin allowed to make cookie-authenticated writes.
    pub fn trusted_origin(mut self, origin: impl Into<String>) -> Self {
        self.trusted_origins.push(origin.into());
        self
    }
    /// Proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxy(mut self, cidr: Cidr) -> Self {
        self.trusted_proxies.push(cidr);
        self
    }
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = Some(name.into());
        self
    }
    /// Sessions: expiry, renewal, freshness, cache (`[session]`).
    pub fn session(mut self, s: SessionOptions) -> Self {
        self.session = Some(s);
        self
    }
    /// Session JWTs and signing keys (`[jwt]`).
    pub fn jwt(mut self, j: JwtOptions) -> Self {
        self.jwt = Some(j);
        self
    }
    /// Email + password sign-up and sign-in (`[email_password]`).
    pub fn email_password(mut self, o: EmailPasswordOptions) -> Self {
        self.email_password = Some(o);
        self
    }
    /// Password rules (`[password]`).
    pub fn password_policy(mut self, p: PasswordPolicy) -> Self {
        self.password = Some(p);
        self
    }
    /// Rate limits (`[rate_limit]`).
    pub fn rate_limit(mut self, r: RateLimitOptions) -> Self {
        self.rate_limit = Some(r);
        self
    }
    /// The OAuth 2.1 / OpenID Connect authorization server (`[oauth]`).
    pub fn oauth(mut self, o: OAuthOptions) -> Self {
        self.oauth = Some(o);
        self
    }
    /// Organizations, members, roles, invitations and teams (`[organization]`).
    pub fn organization(mut self, o: kavach_core::plugins::organization::OrganizationOptions) -> Self {
        self.organization = Some(o);
        self
    }
    /// The operators' capability: users, bans, impersonation (`[admin]`).
    pub fn admin(mut self, a: kavach_core::plugins::admin::AdminOptions) -> Self {
        self.admin = Some(a);
        self
    }
    /// AI agents: identities, keys, permissions, decisions, delegation, approvals, budgets (`[agents]`).
    pub fn agents(mut self, a: kavach_core::plugins::agents::AgentOptions) -> Self {
        self.agents = Some(a);
        self
    }
    /// Two-factor authentication (`[two_factor]`): TOTP, backup codes, codes by email, trusted devices.
    pub fn two_factor(mut self, t: kavach_core::plugins::two_factor::TwoFactorOptions) -> Self {
        self.two_factor = Some(t);
        self
    }
    /// Sign-in by a single-use link sent by email (`[magic_link]`).
    pub fn magic_link(mut self, m: kavach_core::plugins::magic_link::MagicLinkOptions) -> Self {
        self.magic_link = Some(m);
        self
    }
    /// Codes by email: sign-in, verification, password reset, email change (`[email_otp]`).
    pub fn email_otp(mut self, e: kavach_core::plugins::email_otp::EmailOtpOptions) -> Self {
        self.email_otp = Some(e);
        self
    }
    /// Anonymous users (`[anonymous]`).
    pub fn anonymous(mut self, a: kavach_core::plugins::anonymous::AnonymousOptions) -> Self {
        self.anonymous = Some(a);
        self
    }
    /// What happens when an anonymous user signs in or up (`[anonymous]`): the hook gets
    /// the anonymous user and the account, and moves the app's data before the anonymous
    /// user is deleted. An error keeps the anonymous user.
    pub fn on_anonymous_link<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(kavach_core::plugins::anonymous::LinkAccount) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = kavach_core::Result<()>> + Send + 'static,
    {
        self.anonymous_link = Some(Arc::new(move |l| Box::pin(hook(l))));
        self
    }
    /// Phone numbers: codes by text message, sign-in by number (`[phone_number]`).
    pub fn phone_number(mut self, p: kavach_core::plugins::phone_number::PhoneNumberOptions) -> Self {
        self.phone_number = Some(p);
        self
    }
    /// Where phone-number codes go out (default: `[sms]` of the settings, else the
    /// development outbox).
    pub fn sms(mut self, sender: impl kavach_core::sms::SmsSender) -> Self {
        self.sms = Some(Arc::new(sender));
        self
    }
    /// API keys for programs, with permissions, expiry, uses and rate limits (`[api_key]`).
    pub fn api_key(mut self, a: kavach_core::plugins::api_key::ApiKeyOptions) -> Self {
        self.api_key = Some(a);
        self
    }
    /// Sign-In with Ethereum (`[siwe]`): nonces, EIP-4361 messages, signatures checked
    /// (contract wallets through `rpc_urls`), wallets linked to users.
    pub fn siwe(mut self, s: kavach_core::plugins::siwe::SiweOptions) -> Self {
        self.siwe = Some(s);
        self
    }
    /// Google One Tap (`[one_tap]`): ID tokens verified against Google's keys (fetched
    /// from `jwks_url` and cached), signing in or creating the Google account's user.
    pub fn one_tap(mut self, o: kavach_core::plugins::one_tap::OneTapOptions) -> Self {
        self.one_tap = Some(o);
        self
    }
    /// Passkeys (`[passkey]`, WebAuthn): registration, usernameless sign-in, list, rename,
    /// delete; the RP id and origins from the options.
    pub fn passkey(mut self, p: kavach_core::plugins::passkey::PasskeyOptions) -> Self {
        self.passkey = Some(p);
        self
    }
    /// Extra claims in session JWTs (`/token`): better-auth's `jwt({ customClaims })`. The
    /// hook gets the session and user and returns claims to add; the registered ones
    /// (`iss`, `sub`, `exp`, …) cannot be replaced. Runs after `[jwt.claims]`.
    pub fn jwt_claims<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Arc<kavach_core::SessionWithUser>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = kavach_core::Result<serde_json::Map<String, serde_json::Value>>> + Send + 'static,
    {
        self.hooks.jwt_claims = Some(Arc::new(move |s| Box::pin(hook(s))));
        self
    }
    /// Extra fields in `/get-session`'s answer: better-auth's `customSession`. The hook gets
    /// the session and user and returns top-level fields to add (`session` and `user`
    /// stay Kavach's).
    pub fn custom_session<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Arc<kavach_core::SessionWithUser>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = kavach_core::Result<serde_json::Map<String, serde_json::Value>>> + Send + 'static,
    {
        self.hooks.custom_session = Some(Arc::new(move |s| Box::pin(hook(s))));
        self
    }
    /// Usernames besides emails (`[username]`).
    pub fn username(mut self, u: kavach_core::plugins::username::UsernameOptions) -> Self {
        self.username = Some(u);
        self
    }
    pub fn mailer(mut self, m: impl Mailer) -> Self {
        self.mailer = Some(Arc::new(m));
        self
    }
    pub fn mailer_arc(mut self, m: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(m);
        self
    }
    /// A folder whose files replace the built-in email templates of the same name.
    pub fn templates_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.templates_dir = Some(dir.into());
        self
    }
    /// Keep rate-limit counters in Redis instead of the database.
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(url.into());
        self
    }
    /// Accept another system's password hashes (`(stored_hash, password) -> matches`);
    /// Kavach already knows Argon2, bcrypt, better-auth scrypt and PBKDF2-SHA256.
    /// A match signs the user in and replaces the hash with Argon2id.
    pub fn legacy_verifier(mut self, f: impl Fn(&str, &str) -> bool + Send + Sync + 'static) -> Self {
        self.legacy.push(std::sync::Arc::new(f));
        self
    }

    /// Accept better-auth session cookies (signed with one of `secrets`) for sessions
    /// migrated into Kavach, exchanging them for Kavach sessions. See
    /// docs/migrate-from-better-auth.md.
    pub fn better_auth_cookies(mut self, secrets: impl IntoIterator<Item = impl Into<String>>, cookie_name: Option<&str>) -> Self {
        let mut c = BetterAuthCookies { secrets: secrets.into_iter().map(Into::into).collect(), ..Default::default() };
        if let Some(n) = cookie_name {
            c.cookie_name = n.to_owned();
        }
        self.better_auth = Some(c);
        self
    }

    /// Apply migrations on build (default true).
    pub fn migrate(mut self, yes: bool) -> Self {
        self.migrate = Some(yes);
        self
    }
    /// Run periodic purges and the cache-invalidation listener (default true).
    pub fn background_tasks(mut self, yes: bool) -> Self {
        self.background = Some(yes);
        self
    }

    /// The options [`build`](Self::build) would use: the base (from
    /// [`options`](Self::options), else [`settings`](Self::settings), else the defaults)
    /// with every setter applied. Not yet checked: see [`Options::validate`].
    pub fn resolved_options(&self) -> Options {
        let mut o = match (&self.base, &self.settings) {
            (Some(o), _) => o.clone(),
            (None, Some(s)) => s.options.clone(),
            (None, None) => Options::default(),
        };
        if let Some(m) = self.mode {
            o.mode = m;
        }
        // A secret the settings generated for development is a stand-in: it goes when the
        // builder brings its own, and in production (which needs a configured one).
        if self.settings.as_ref().is_some_and(|s| s.generated_secret.is_some()) && (!self.secrets.is_empty() || o.mode == Mode::Production) {
            o.secrets.clear();
        }
        o.secrets.extend(self.secrets.iter().cloned());
        if let Some(u) = &self.base_url {
            o.base_url = u.clone();
        }
        if let Some(p) = &self.base_path {
            o.base_path = p.clone();
        }
        o.base_url = o.base_url.trim_end_matches('/').to_owned();
        o.base_path = o.base_path.trim_end_matches('/').to_owned();
        o.trusted_origins.extend(self.trusted_origins.iter().cloned());
        if let Some(n) = &self.app_name {
            o.app_name = n.clone();
        }
        if let Some(s) = &self.session {
            o.session = s.clone();
        }
        if let Some(j) = &self.jwt {
            o.jwt = j.clone();
        }
        if let Some(p) = &self.password {
            o.password = p.clone();
        }
        if let Some(e) = &self.email_password {
            o.email_password = e.clone();
        }
        if let Some(r) = &self.rate_limit {
            o.rate_limit = r.clone();
        }
        if let Some(a) = &self.oauth {
            o.oauth = a.clone();
        }
        if let Some(g) = &self.organization {
            o.organization = g.clone();
        }
        if let Some(a) = &self.admin {
            o.admin = a.clone();
        }
        if let Some(a) = &self.agents {
            o.agents = a.clone();
        }
        if let Some(t) = &self.two_factor {
            o.two_factor = t.clone();
        }
        if let Some(m) = &self.magic_link {
            o.magic_link = m.clone();
        }
        if let Some(e) = &self.email_otp {
            o.email_otp = e.clone();
        }
        if let Some(a) = &self.anonymous {
            o.anonymous = a.clone();
        }
        if let Some(p) = &self.phone_number {
            o.phone_number = p.clone();
        }
        if let Some(s) = &self.siwe {
            o.siwe = s.clone();
        }
        if let Some(p) = &self.passkey {
            o.passkey = p.clone();
        }
        if let Some(t) = &self.one_tap {
            o.one_tap = t.clone();
        }
        if let Some(a) = &self.api_key {
            o.api_key = a.clone();
        }
        if let Some(u) = &self.username {
            o.username = u.clone();
        }
        if let Some(b) = &self.better_auth {
            o.better_auth = Some(b.clone());
        }
        o
    }

    /// Check the options ([`Options::validate`] and the rate-limit routes against the
    /// route table; in production mode, refuse the development outbox), connect, migrate,
    /// and start the background tasks.
    pub async fn build(self) -> Result<Kavach> {
        if self.base.is_some() && self.settings.is_some() {
            return Err(kavach_core::Error::config(
                "Kavach::builder(): options(..) and settings(..)/from_env() both give the base options; use one of them (the per-capability setters override either)",
            )
            .into());
        }
        let options = self.resolved_options();
        options.validate()?;
        http::table::validate(&options).map_err(kavach_core::Error::config)?;
        if let Some(s) = &self.settings {
            s.check_deployment()?;
        }
        let settings = self.settings;
        let mailer = match (self.mailer, &settings) {
            (Some(m), _) => Some(m),
            (None, Some(s)) => Some(s.mailer()?),
            (None, None) => None,
        };
        if options.mode == Mode::Production && mailer.as_ref().is_none_or(|m| m.is_development()) {
            return Err(kavach_core::Error::config(config::NO_SMTP).into());
        }
        let sms = match (self.sms, &settings) {
            (Some(s), _) => Some(s),
            (None, Some(s)) => Some(s.sms()?),
            (None, None) => None,
        };
        if options.mode == Mode::Production && options.phone_number.enabled && sms.as_ref().is_none_or(|s| s.is_development()) {
            return Err(kavach_core::Error::config(config::NO_SMS).into());
        }
        let from_settings = |f: fn(&Settings) -> Option<String>| settings.as_ref().and_then(f);
        let url = self.database_url.or_else(|| from_settings(|s| Some(s.database_url()))).unwrap_or_else(|| "sqlite://kavach-data/kavach.db".into());
        let redis_url = self.redis_url.or_else(|| from_settings(|s| s.redis_url.clone()));
        let templates_dir = self.templates_dir.or_else(|| settings.as_ref().and_then(|s| s.email.templates_dir.clone()));
        let mut trusted_proxies = settings.as_ref().map(|s| s.trusted_proxies.clone()).unwrap_or_default();
        trusted_proxies.extend(self.trusted_proxies);
        let db = Db::connect(&url).await?;
        if self.migrate.unwrap_or(true) {
            db.migrate().await?;
        }
        let limiter = match &redis_url {
            Some(u) => Some(RateLimiter::redis(u).await?),
            None => None,
        };
        let templates = Templates::load(templates_dir.as_deref())?;
        let pages = http::templates::PageTemplates::load(templates_dir.as_deref().map(|d| d.join("pages")).as_deref())?;
        let mailer = mailer.unwrap_or_else(|| Arc::new(DevMailer::new("kavach-data/outbox")));
        let table = http::table::Table::new(&options);
        let rpc_urls = options.siwe.rpc_urls.clone();
        let google_keys = options.one_tap.enabled.then(|| options.one_tap.jwks_url.clone());
        let mut core = Core::new(db, options, mailer, templates, limiter)?.with_legacy_verifiers(self.legacy);
        if let Some(hook) = self.anonymous_link {
            core = core.with_anonymous_link(hook);
        }
        core = core.with_sms(sms.unwrap_or_else(|| Arc::new(kavach_core::sms::DevSms::new("kavach-data/outbox"))));
        if !rpc_urls.is_empty() {
            core = core.with_contract_wallets(Arc::new(siwe::RpcWallets::new(&rpc_urls)?));
        }
        if let Some(url) = google_keys {
            core = core.with_one_tap_keys(Arc::new(jwks::JwksCache::new(url, jwks::http_client())));
        }
        let core = Arc::new(core);
        let background = if self.background.unwrap_or(true) { core.spawn_background().into_iter().map(|h| h.abort_handle()).collect() } else { vec![] };
        Ok(Kavach {
            inner: Arc::new(Inner {
                core,
                trusted_proxies,
                metrics: Default::default(),
                openapi: Default::default(),
                discovery: Default::default(),
                pages,
                table,
                hooks: self.hooks,
                _background: background,
            }),
        })
    }
}
