//! One error type for the whole core. Every error has a stable upper-snake `code`
//! (better-auth compatible where better-auth has one), a human `message`, and a
//! [`Kind`] that the HTTP layer maps to a status code. Internal errors never leak
//! their details to clients.

use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Unprocessable,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests {
        retry_after_secs: u64,
    },
    /// Bad configuration: refused at start, or by the CLI.
    Config,
    /// A bug or an unavailable dependency (database down). Logged, answered with 500/503.
    Internal,
    Unavailable,
}

#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub code: Cow<'static, str>,
    pub message: Cow<'static, str>,
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Error { kind, code: code.into(), message: message.into(), source: None }
    }
    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::BadRequest, code, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(Kind::Unauthorized, "UNAUTHORIZED", "Sign in first")
    }
    pub fn forbidden(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::Forbidden, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::NotFound, code, message)
    }
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::new(Kind::TooManyRequests { retry_after_secs }, "TOO_MANY_REQUESTS", "Too many requests. Please try again later.")
    }
    pub fn config(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::Config, "CONFIG", message)
    }
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::Internal, "INTERNAL_ERROR", message)
    }
    pub fn invalid_credentials() -> Self {
        Self::new(Kind::Unauthorized, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password")
    }
    pub fn invalid_token() -> Self {
        Self::bad_request("INVALID_TOKEN", "The token is invalid or has expired")
    }
    pub fn with_source(mut self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(e));
        self
    }
    /// Is this the caller's fault (4xx)?
    pub fn is_client_error(&self) -> bool {
        !matches!(self.kind, Kind::Internal | Kind::Unavailable | Kind::Config)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(s) = &self.source {
            write!(f, " ({s})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        // The last line of defence for text PostgreSQL cannot store (a NUL character:
        // SQLSTATE 22021); the HTTP layer refuses it before it gets here.
        if let sqlx::Error::Database(d) = &e
            && d.code().as_deref() == Some("22021")
        {
            return Error::bad_request("INVALID_TEXT", "Text must not contain NUL characters").with_source(e);
        }
        let kind = match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => Kind::Unavailable,
            _ => Kind::Internal,
        };
        Error::new(kind, "DATABASE_ERROR", "database error").with_source(e)
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::new(Kind::Unavailable, "REDIS_ERROR", "rate-limit store unavailable").with_source(e)
    }
}
