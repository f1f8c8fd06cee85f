//! Benchmark peer for `bench/run.sh`: the Rust port of better-auth (crate `better-auth`
//! =1.0.0-alpha.5) served by axum, with SeaORM over SQLite.
//!
//! Usage: `kavach-bench-peer-better-auth-rs PORT [DATABASE_URL]`
//!
//! * Routes live under `/api/auth` on `127.0.0.1:PORT` (`HOST` overrides the address).
//! * Plugins: email + password (sign-up enabled) and session management
//!   (`/get-session`, `/sign-out`, `/list-sessions`, ...). Nothing else.
//! * Rate limiting is switched off explicitly (the crate would turn it on under
//!   `NODE_ENV=production`).
//! * `DATABASE_URL` defaults to `sqlite://better-auth-rs.sqlite` in the working directory.
//!   A SQLite URL without query gets `?mode=rwc`, so the file is created when missing.
//! * The crate ships no migrator: the four core tables are declared below and created
//!   with `CREATE TABLE/INDEX IF NOT EXISTS` on every start. Table names and camelCase
//!   column names follow upstream better-auth.
//! * Prints `ready` on stdout (one line, flushed) once the listener is bound.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use better_auth::integrations::axum::AxumIntegration;
use better_auth::middleware::RateLimitConfig;
use better_auth::plugins::{EmailPasswordPlugin, SessionManagementPlugin};
use better_auth::seaorm::sea_orm::{ConnectionTrait, DbErr, Schema};
use better_auth::seaorm::{Database, DatabaseConnection, SeaOrmStore};
use better_auth::{AuthConfig, AuthSchema, BetterAuth};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ---------------------------------------------------------------------------------------------
// Entities: upstream better-auth's core schema. `rename_all` maps `email_verified` to the
// column `emailVerified` and so on, like upstream's Kysely schema.
// ---------------------------------------------------------------------------------------------

mod user {
    use better_auth::seaorm::sea_orm::entity::prelude::*;
    use better_auth::seaorm::{sea_orm, AuthEntity};

    #[derive(Clone, Debug, serde::Serialize, DeriveEntityModel, AuthEntity)]
    #[auth(role = "user")]
    #[sea_orm(table_name = "user", rename_all = "camelCase")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        #[sea_orm(unique)]
        pub email: String,
        pub email_verified: bool,
        pub image: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod session {
    use better_auth::seaorm::sea_orm::entity::prelude::*;
    use better_auth::seaorm::{sea_orm, AuthEntity};

    /// `row_presence`: a session is live while its row exists (upstream has no `active` column).
    #[derive(Clone, Debug, serde::Serialize, DeriveEntityModel, AuthEntity)]
    #[auth(role = "session", row_presence)]
    #[sea_orm(table_name = "session", rename_all = "camelCase")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub expires_at: DateTimeUtc,
        #[sea_orm(unique)]
        pub token: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub ip_address: Option<String>,
        pub user_agent: Option<String>,
        #[sea_orm(indexed)]
        pub user_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod account {
    use better_auth::seaorm::sea_orm::entity::prelude::*;
    use better_auth::seaorm::{sea_orm, AuthEntity};

    /// The `credential` account of a user holds the password hash (scrypt, upstream format).
    #[derive(Clone, Debug, serde::Serialize, DeriveEntityModel, AuthEntity)]
    #[auth(role = "account")]
    #[sea_orm(table_name = "account", rename_all = "camelCase")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub account_id: String,
        pub provider_id: String,
        #[sea_orm(indexed)]
        pub user_id: String,
        pub access_token: Option<String>,
        pub refresh_token: Option<String>,
        pub id_token: Option<String>,
        pub access_token_expires_at: Option<DateTimeUtc>,
        pub refresh_token_expires_at: Option<DateTimeUtc>,
        pub scope: Option<String>,
        pub password: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod verification {
    use better_auth::seaorm::sea_orm::entity::prelude::*;
    use better_auth::seaorm::{sea_orm, AuthEntity};

    /// Required by the schema; the enabled routes do not use it.
    #[derive(Clone, Debug, serde::Serialize, DeriveEntityModel, AuthEntity)]
    #[auth(role = "verification")]
    #[sea_orm(table_name = "verification", rename_all = "camelCase")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(indexed)]
        pub identifier: String,
        pub value: String,
        pub expires_at: DateTimeUtc,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

struct BenchSchema;

impl AuthSchema for BenchSchema {
    type User = user::Model;
    type Session = session::Model;
    type Account = account::Model;
    type Verification = verification::Model;
}

// ---------------------------------------------------------------------------------------------
// Start-up
// ---------------------------------------------------------------------------------------------

/// Dev-only signing secret (overridable with `BETTER_AUTH_SECRET`). The crate wants >= 32 chars.
const DEFAULT_SECRET: &str = "kavach-bench-peer-better-auth-rs-dev-secret-0123456789";
const DEFAULT_DATABASE_URL: &str = "sqlite://better-auth-rs.sqlite";

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// `sqlite://PATH` without options gets `mode=rwc` (create when missing); the file's parent
/// directory is created too. Other URLs pass through untouched.
fn prepare_database_url(url: &str) -> Result<String, BoxError> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(url.to_owned());
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let path = path.strip_prefix("//").unwrap_or(path);
    if !path.is_empty() && path != ":memory:" {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)?;
            }
        }
    }
    Ok(match query {
        Some(_) => url.to_owned(),
        None => format!("{url}?mode=rwc"),
    })
}

async fn create_schema(db: &DatabaseConnection) -> Result<(), DbErr> {
    let schema = Schema::new(db.get_database_backend());
    let tables = [
        schema.create_table_from_entity(user::Entity),
        schema.create_table_from_entity(session::Entity),
        schema.create_table_from_entity(account::Entity),
        schema.create_table_from_entity(verification::Entity),
    ];
    for mut table in tables {
        db.execute(table.if_not_exists()).await?;
    }
    let indexes = schema
        .create_index_from_entity(session::Entity)
        .into_iter()
        .chain(schema.create_index_from_entity(account::Entity))
        .chain(schema.create_index_from_entity(verification::Entity));
    for mut index in indexes {
        db.execute(index.if_not_exists()).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let port: u16 = match args.next().or_else(|| env_nonempty("PORT")) {
        Some(port) => port.parse().map_err(|e| format!("bad PORT {port:?}: {e}"))?,
        None => return Err("usage: kavach-bench-peer-better-auth-rs PORT [DATABASE_URL]".into()),
    };
    let database_url = args
        .next()
        .filter(|url| !url.is_empty())
        .or_else(|| env_nonempty("DATABASE_URL"))
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    let host = env_nonempty("HOST").unwrap_or_else(|| "127.0.0.1".to_owned());
    let secret = env_nonempty("BETTER_AUTH_SECRET").unwrap_or_else(|| DEFAULT_SECRET.to_owned());
    let addr: SocketAddr = format!("{host}:{port}").parse()?;

    let database_url = prepare_database_url(&database_url)?;
    let db = Database::connect(&database_url).await?;
    create_schema(&db).await?;

    // Origins trusted for mutating requests that carry a cookie: the base URL (derived) plus
    // the `localhost` spelling, which bench/run.sh uses in its Origin headers.
    let base_url = format!("http://{host}:{port}");
    let config = AuthConfig::new(secret)
        .base_url(base_url.as_str())
        .trusted_origin(format!("http://localhost:{port}"))
        .trusted_origin(format!("http://127.0.0.1:{port}"));
    let store = SeaOrmStore::<BenchSchema>::new(config.clone(), db);
    let auth = Arc::new(
        BetterAuth::<BenchSchema>::new(config)
            .store(store)
            .rate_limit(RateLimitConfig::new().enabled(false))
            .plugin(EmailPasswordPlugin::new().enable_signup(true))
            .plugin(SessionManagementPlugin::new())
            .build()
            .await?,
    );

    let app = axum::Router::new()
        .nest("/api/auth", auth.clone().axum_router())
        .with_state(auth);

    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!(
        "better-auth-rs peer (better-auth 1.0.0-alpha.5) on {base_url}/api/auth, database {}",
        database_url.split(':').next().unwrap_or("?")
    );
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "ready")?;
        stdout.flush()?;
    }
    axum::serve(listener, app).await?;
    Ok(())
}
