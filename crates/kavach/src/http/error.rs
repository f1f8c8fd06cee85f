//! Turning core errors into HTTP answers: `{ "code", "message" }` with the status
//! of the error's kind. Internal details are logged, never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kavach_core::{Code, Error, Kind};

/// The body of every error answer of Kavach's own endpoints (OAuth endpoints answer
/// RFC 6749's `{ error, error_description }`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable: `INVALID_EMAIL_OR_PASSWORD`, `UNAUTHORIZED`, ... (Kavach's are
    /// [`kavach_core::Code`]; an embedder's handlers may add their own)
    pub code: String,
    /// For humans; may change.
    pub message: String,
}

/// The error an embedder's handlers return: a [`kavach_core::Error`] that is also an
/// HTTP answer (`impl IntoResponse`), with the JSON body and status Kavach's own
/// endpoints give (`{ "code", "message" }`; internal details are logged, never sent).
/// Exported as `kavach::Error`, so `async fn h(..) -> kavach::Result<Json<T>>` works
/// with `?` on every Kavach call. It derefs to the core error (`kind`, `code`, `message`).
#[derive(Debug)]
pub struct ApiError(pub Error);

impl ApiError {
    /// An error of `kind` with a stable `code` (`"PROJECT_NOT_FOUND"`) and a message for humans.
    pub fn new(kind: Kind, code: impl Into<std::borrow::Cow<'static, str>>, message: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        ApiError(Error::new(kind, code, message))
    }
    /// Keep the cause (logged for 5xx answers, never sent).
    pub fn with_source(self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError(self.0.with_source(e))
    }
    /// The core error.
    pub fn into_inner(self) -> Error {
        self.0
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        e.0
    }
}

impl std::ops::Deref for ApiError {
    type Target = Error;
    fn deref(&self) -> &Error {
        &self.0
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

pub fn status_of(kind: Kind) -> StatusCode {
    match kind {
        Kind::BadRequest => StatusCode::BAD_REQUEST,
        Kind::Unauthorized => StatusCode::UNAUTHORIZED,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Kind::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Kind::Config | Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = status_of(e.kind);
        let (code, message) = if e.is_client_error() {
            (e.code.to_string(), e.message.to_string())
        } else {
            tracing::error!(error = %e, "request failed");
            if status == StatusCode::SERVICE_UNAVAILABLE {
                (Code::ServiceUnavailable.as_str().to_owned(), "A dependency is unavailable; try again shortly".to_owned())
            } else {
                (Code::InternalError.as_str().to_owned(), "Internal error".to_owned())
            }
        };
        let mut resp = (status, Json(serde_json::json!({ "code": code, "message": message }))).into_response();
        if let Kind::TooManyRequests { retry_after_secs } = e.kind {
            let v = HeaderValue::from(retry_after_secs);
            resp.headers_mut().insert("retry-after", v.clone());
            resp.headers_mut().insert("x-retry-after", v);
        }
        resp
    }
}

/// A 4xx with one of Kavach's codes and a message.
pub fn client_error(kind: Kind, code: Code, message: impl Into<String>) -> ApiError {
    ApiError(Error::new(kind, code, message.into()))
}
