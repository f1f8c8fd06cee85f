//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a
//! `client_id` that is an https URL names a JSON document describing the client. Kavach
//! fetches it with SSRF protection ([`super::fetch`]), honours its HTTP caching, checks
//! it, and stores the client.

use crate::Kavach;
use kavach_core::plugins::oauth::clients::{Client, check_document, is_document_url};
use kavach_core::plugins::oauth::tokens::internal;
use kavach_core::plugins::oauth::{OAuthError, OAuthErrorCode};
use kavach_core::store::Ts;

/// Make sure the client a metadata-document URL names is stored and fresh, and return
/// it (`known` is its row if the caller already read it). Other client ids pass through
/// untouched (and return `known`). An `http://` URL is refused with a reason, unless the
/// development allowance is on.
pub async fn ensure(k: &Kavach, client_id: &str, known: Option<Client>) -> Result<Option<Client>, OAuthError> {
    let o = &k.options().oauth;
    if !o.metadata_documents || !is_document_url(client_id, o.metadata_documents_insecure) {
        if o.metadata_documents && is_document_url(client_id, true) && known.is_none() {
            return Err(OAuthError::new(OAuthErrorCode::InvalidClient, format!("{client_id}: a client metadata document URL must use https")));
        }
        return Ok(known);
    }
    let fail = |why: String| OAuthError::new(OAuthErrorCode::InvalidClient, format!("client metadata document {client_id}: {why}"));
    if let Some(c) = &known
        && c.kind == "document"
        && c.cached_until.is_some_and(|until| until > Ts::now())
    {
        return Ok(known);
    }
    let (doc, ttl) = super::fetch::fetch_json(client_id, o.metadata_documents_insecure, o.metadata_document_max_bytes).await.map_err(fail)?;
    let meta = check_document(client_id, &doc).map_err(|e| fail(e.message.to_string()))?;
    k.clients().store_document(client_id, &meta, Ts::now().plus_secs(ttl.max(super::fetch::MIN_TTL_SECS))).await.map_err(internal)?;
    k.clients().get(client_id).await.map_err(internal)
}

/// [`ensure`] for a client id whose row has not been read yet.
pub async fn load(k: &Kavach, client_id: &str) -> Result<Option<Client>, OAuthError> {
    let known = k.clients().get(client_id).await.map_err(internal)?;
    ensure(k, client_id, known).await
}
