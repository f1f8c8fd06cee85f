//! What an embedding app adds to Kavach's answers: extra JWT claims at `/token`
//! (better-auth's `jwt({ customClaims })`; for the standalone server, `[jwt.claims]`) and
//! extra fields in `/get-session` (better-auth's `customSession`). Given to the builder.

use kavach_core::SessionWithUser;
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The future a hook returns.
pub type HookFuture = Pin<Box<dyn Future<Output = kavach_core::Result<Map<String, Value>>> + Send>>;

/// Gets the signed-in session and user; returns the fields to add.
pub type SessionHook = Arc<dyn Fn(Arc<SessionWithUser>) -> HookFuture + Send + Sync>;

/// The claims of a session JWT that a hook or a mapping may not replace.
pub const RESERVED_CLAIMS: &[&str] = &["iss", "aud", "sub", "iat", "nbf", "exp", "jti", "sid"];

#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub jwt_claims: Option<SessionHook>,
    pub custom_session: Option<SessionHook>,
}

/// `[jwt.claims]`: each claim's value read from the session's JSON (`user.role`,
/// `session.activeOrganizationId`) or the user's metadata (`user.metadata.public.plan`);
/// a path that leads nowhere gives no claim.
pub(crate) async fn mapped_claims(k: &crate::Kavach, data: &SessionWithUser, into: &mut Map<String, Value>) -> kavach_core::Result<()> {
    let mapping = &k.options().jwt.claims;
    if mapping.is_empty() {
        return Ok(());
    }
    let mut source = serde_json::to_value(data).map_err(|e| kavach_core::Error::internal("serialising the session").with_source(e))?;
    if mapping.values().any(|p| p.starts_with("user.metadata.") || p == "user.metadata") {
        let metadata = k.users().metadata(&data.user.id).await?.unwrap_or(Value::Null);
        if let Some(user) = source.get_mut("user").and_then(Value::as_object_mut) {
            user.insert("metadata".to_owned(), metadata);
        }
    }
    for (claim, path) in mapping {
        let found = path.split('.').try_fold(&source, |v, key| v.get(key));
        if let Some(v) = found.filter(|v| !v.is_null()) {
            into.insert(claim.clone(), v.clone());
        }
    }
    Ok(())
}
