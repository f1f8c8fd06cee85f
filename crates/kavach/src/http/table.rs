//! The route table: every endpoint of the API is declared once, by the capability it
//! belongs to, with what the rest of the HTTP layer needs to know about it. The router,
//! the default rate limits and the validation of configured ones, the metrics' route
//! labels, the session middleware, the login-CSRF check, the CORS answers and the
//! OpenAPI document are all derived from these tables.

use crate::Kavach;
use axum::http::Method;
use axum::routing::MethodRouter;
use kavach_core::Options;
use kavach_core::ratelimit::Rule;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (sign-up, discovery documents, hosted pages that sign in).
    Public,
    /// A signed-in user (cookie or bearer session token): without one the middleware
    /// answers 401 before the handler runs.
    Session,
    /// An OAuth client authenticating itself (token, PAR, revocation, introspection, device).
    Client,
    /// An OAuth access token (userinfo).
    AccessToken,
    /// A client's registration access token (RFC 7592).
    RegistrationToken,
}

/// One endpoint.
pub struct Route {
    /// Below the base path, in axum's syntax (`/oauth2/register/{client_id}`).
    pub path: &'static str,
    pub method: Method,
    pub access: Access,
    /// Resolve the session cookie before the handler (also for public routes that
    /// behave differently when signed in). Machine endpoints never read it.
    pub session: bool,
    /// Answered with permissive CORS (no credentials) and CORS preflights: endpoints
    /// browser-based OAuth clients call cross-origin. Never the pages.
    pub cors: bool,
    /// The default limit per client IP (`rate_limit.routes` overrides it by path).
    pub rate_limit: Option<Rule>,
    /// Login CSRF: checked against the Origin even without cookies (signing a victim
    /// into the attacker's account).
    pub login: bool,
    /// An anonymous user (`[anonymous]`) may call it. Off for every other route that
    /// needs a session: they need a real identity (`403 ANONYMOUS_USER_NOT_ALLOWED`).
    pub anonymous: bool,
    /// Served only when this holds for the options (a route a capability's setting
    /// switches off, like open client registration).
    pub when: fn(&Options) -> bool,
    /// The handler.
    pub handler: fn() -> MethodRouter<Kavach>,
}

impl Route {
    /// A route with the defaults: public, no session, no CORS, no limit.
    pub const fn new(method: Method, path: &'static str, handler: fn() -> MethodRouter<Kavach>) -> Route {
        Route { path, method, access: Access::Public, session: false, cors: false, rate_limit: None, login: false, anonymous: false, when: |_| true, handler }
    }
    /// An anonymous user may call it (see [`Route::anonymous`]).
    pub const fn anonymous(mut self) -> Route {
        self.anonymous = true;
        self
    }
    /// Needs a signed-in user (and reads the session).
    pub const fn signed_in(mut self) -> Route {
        self.access = Access::Session;
        self.session = true;
        self
    }
    /// Reads the session when there is one.
    pub const fn reads_session(mut self) -> Route {
        self.session = true;
        self
    }
    pub const fn access(mut self, a: Access) -> Route {
        self.access = a;
        self
    }
    pub const fn cors(mut self) -> Route {
        self.cors = true;
        self
    }
    pub const fn limit(mut self, per_minute: u32) -> Route {
        self.rate_limit = Some(Rule::per_minute(per_minute));
        self
    }
    pub const fn login(mut self) -> Route {
        self.login = true;
        self
    }
    pub const fn when(mut self, when: fn(&Options) -> bool) -> Route {
        self.when = when;
        self
    }
}

/// A capability's HTTP side: its routes and its part of the OpenAPI document.
pub struct Capability {
    /// The name of its configuration table and of its folders in every layer.
    pub name: &'static str,
    /// Whether it is switched on.
    pub enabled: fn(&Options) -> bool,
    /// The capabilities it needs switched on too (by name); checked at start.
    pub requires: &'static [&'static str],
    pub routes: fn() -> Vec<Route>,
    pub openapi: fn() -> utoipa::openapi::OpenApi,
}

/// Every capability with routes, the kernel first.
pub fn capabilities() -> &'static [Capability] {
    &[
        super::kernel::CAPABILITY,
        super::plugins::email_password::CAPABILITY,
        super::plugins::oauth::CAPABILITY,
        super::plugins::organization::CAPABILITY,
        super::plugins::admin::CAPABILITY,
        super::plugins::agents::CAPABILITY,
        super::plugins::audit::CAPABILITY,
        super::plugins::two_factor::CAPABILITY,
        super::plugins::magic_link::CAPABILITY,
        super::plugins::email_otp::CAPABILITY,
        super::plugins::anonymous::CAPABILITY,
        super::plugins::phone_number::CAPABILITY,
        super::plugins::api_key::CAPABILITY,
        super::plugins::username::CAPABILITY,
        super::plugins::siwe::CAPABILITY,
        super::plugins::passkey::CAPABILITY,
        super::plugins::one_tap::CAPABILITY,
    ]
}

/// The routes of the enabled capabilities.
pub fn routes(o: &Options) -> Vec<Route> {
    capabilities().iter().filter(|c| (c.enabled)(o)).flat_map(|c| (c.routes)()).filter(|r| (r.when)(o)).collect()
}

/// Every route of every capability, enabled or not (for validating configuration).
pub fn all_routes() -> Vec<Route> {
    capabilities().iter().flat_map(|c| (c.routes)()).collect()
}

/// Does `path` (below the base path) match the route template `template`?
pub fn matches(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') && ts.ends_with('}') && !ps.is_empty() => {}
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

/// The per-request facts of the route a path names, looked up once per request.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    /// The template (`/reset-password/{token}`): the metrics' and logs' label.
    pub template: &'static str,
    pub access: Access,
    pub session: bool,
    pub login: bool,
    /// An anonymous user may call it (every method of the path allows it).
    pub anonymous: bool,
}

/// The table of a running server, built once: the facts by template, and the rate
/// limits in force (defaults overridden by `rate_limit.routes`).
pub struct Table {
    /// Templates without parameters, found by the path itself (one hash per request).
    exact: std::collections::HashMap<&'static str, Facts>,
    /// Templates with parameters, tried in order when no exact one matches.
    templated: Vec<Facts>,
    limits: Vec<(&'static str, Rule)>,
}

impl Table {
    pub fn new(o: &Options) -> Table {
        let mut facts: Vec<Facts> = Vec::new();
        let mut limits: Vec<(&'static str, Rule)> = Vec::new();
        for r in routes(o) {
            // Several methods share a path: the first declaration's facts stand for it,
            // except that reading the session or a login check on any method counts.
            match facts.iter_mut().find(|f| f.template == r.path) {
                Some(f) => {
                    f.session |= r.session;
                    f.login |= r.login;
                    f.anonymous &= r.anonymous;
                }
                None => facts.push(Facts { template: r.path, access: r.access, session: r.session, login: r.login, anonymous: r.anonymous }),
            }
            let configured = o.rate_limit.routes.iter().find(|(p, _)| p == r.path).map(|(_, rule)| *rule);
            if let Some(rule) = configured.or(r.rate_limit)
                && !limits.iter().any(|(p, _)| *p == r.path)
            {
                limits.push((r.path, rule));
            }
        }
        // Exact templates before ones with parameters, so `/oauth2/register` never
        // matches as `/oauth2/register/{client_id}`.
        let (templated, exact): (Vec<Facts>, Vec<Facts>) = facts.into_iter().partition(|f| f.template.contains('{'));
        Table { exact: exact.into_iter().map(|f| (f.template, f)).collect(), templated, limits }
    }

    /// The facts of the route `path` names, if any.
    pub fn facts(&self, path: &str) -> Option<Facts> {
        self.exact.get(path).or_else(|| self.templated.iter().find(|f| matches(f.template, path))).copied()
    }

    /// The per-IP limit of a route template.
    pub fn limit(&self, template: &str) -> Option<Rule> {
        self.limits.iter().find(|(p, _)| *p == template).map(|(_, r)| *r)
    }
}

/// Check `rate_limit.routes` against the table: every configured path must be a route
/// (a typo would otherwise silently leave a route unlimited).
pub fn validate(o: &Options) -> Result<(), String> {
    check_requirements(capabilities(), o)?;
    let all = all_routes();
    for (path, _) in &o.rate_limit.routes {
        if !all.iter().any(|r| r.path == path) {
            let known: Vec<&str> = all.iter().map(|r| r.path).collect();
            return Err(format!("rate_limit.routes: {path:?} is not a Kavach route (one of: {})", known.join(", ")));
        }
    }
    if o.api_key.enabled {
        for path in &o.api_key.session_routes {
            match all.iter().find(|r| r.path == path) {
                Some(r) if r.session => {}
                Some(_) => return Err(format!("api_key.session_routes: {path:?} does not read a session")),
                None => return Err(format!("api_key.session_routes: {path:?} is not a Kavach route")),
            }
        }
    }
    Ok(())
}

/// Every enabled capability's requirements are enabled: `[admin] enabled = true` with
/// `[organization] enabled = false`, say, is refused at start rather than half working.
pub fn check_requirements(caps: &[Capability], o: &Options) -> Result<(), String> {
    for c in caps.iter().filter(|c| (c.enabled)(o)) {
        for need in c.requires {
            match caps.iter().find(|d| d.name == *need) {
                Some(d) if (d.enabled)(o) => {}
                Some(_) => return Err(format!("[{}] needs [{need}]: set [{need}] enabled = true, or switch [{}] off", c.name, c.name)),
                None => return Err(format!("[{}] needs [{need}], which this build does not have", c.name)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capability_whose_requirement_is_off_is_refused() {
        let none = || utoipa::openapi::OpenApiBuilder::new().build();
        let caps = [
            Capability { name: "email_password", enabled: |o| o.email_password.enabled, requires: &[], routes: Vec::new, openapi: none },
            Capability { name: "oauth", enabled: |o| o.oauth.enabled, requires: &["email_password"], routes: Vec::new, openapi: none },
        ];
        let mut o = Options::default();
        assert!(check_requirements(&caps, &o).is_ok());
        o.email_password.enabled = false;
        let e = check_requirements(&caps, &o).unwrap_err();
        assert!(e.contains("[oauth] needs [email_password]"), "{e}");
        o.oauth.enabled = false;
        assert!(check_requirements(&caps, &o).is_ok(), "a switched-off capability needs nothing");
        let orphan = [Capability { name: "admin", enabled: |_| true, requires: &["organization"], routes: Vec::new, openapi: none }];
        assert!(check_requirements(&orphan, &o).unwrap_err().contains("does not have"));
        assert!(check_requirements(capabilities(), &Options::default()).is_ok());
    }

    #[test]
    fn templates_match_their_paths_only() {
        assert!(matches("/reset-password/{token}", "/reset-password/abc"));
        assert!(!matches("/reset-password/{token}", "/reset-password/"));
        assert!(!matches("/reset-password/{token}", "/reset-password/a/b"));
        assert!(matches("/sign-in/email", "/sign-in/email"));
        assert!(!matches("/sign-in/email", "/sign-in/email/x"));
    }

    #[test]
    fn every_path_and_method_is_declared_once() {
        let all = all_routes();
        for (i, r) in all.iter().enumerate() {
            assert!(r.path.starts_with('/'), "{}", r.path);
            assert!(!all.iter().skip(i + 1).any(|o| o.path == r.path && o.method == r.method), "{} {} declared twice", r.method, r.path);
        }
    }

    #[test]
    fn the_openapi_document_has_exactly_the_served_routes() {
        let o = Options::default();
        let doc = crate::http::openapi::build(&o);
        let served = routes(&o);
        for r in &served {
            let item = doc.paths.paths.get(r.path).unwrap_or_else(|| panic!("{} is not in the OpenAPI document", r.path));
            let op = match r.method.as_str() {
                "GET" => &item.get,
                "POST" => &item.post,
                "PUT" => &item.put,
                "DELETE" => &item.delete,
                _ => &item.patch,
            };
            assert!(op.is_some(), "{} {} has no OpenAPI operation", r.method, r.path);
        }
        let ops: usize = doc.paths.paths.values().map(|i| [&i.get, &i.post, &i.put, &i.delete, &i.patch].iter().filter(|o| o.is_some()).count()).sum();
        assert_eq!(ops, served.len(), "operations without a route");
        // A switched-off capability's routes are neither served nor described.
        let mut off = Options::default();
        off.oauth.enabled = false;
        assert!(!crate::http::openapi::build(&off).paths.paths.keys().any(|p| p.starts_with("/oauth2/")));
        assert!(routes(&off).iter().all(|r| !r.path.starts_with("/oauth2/")));
    }
}
