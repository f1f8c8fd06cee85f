//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a
//! `client_id` that is an https URL names a JSON document describing the client. Kavach
//! fetches it with SSRF protection ([`super::fetch`]), honours its HTTP caching, checks
//! it, and stores the client.

use crate::Kavach;
use kavach_core::oauth::OAuthError;
use kavach_core::oauth::clients::{check_document, is_document_url};
use kavach_core::store::Ts;

/// Make sure the client a metadata-document URL names is stored and fresh. Other
/// client ids pass through untouched.
pub async fn ensure(k: &Kavach, client_id: &str) -> Result<(), OAuthError> {
    let o = &k.options().oauth;
    if !o.metadata_documents || !is_document_url(client_id, o.metadata_documents_insecure) {
        return Ok(());
    }
    let fail = |why: String| OAuthError::new("invalid_client", format!("client metadata document {client_id}: {why}"));
    match k.clients().document_cached_until(client_id).await {
        Ok(Some(until)) if until > Ts::now() => return Ok(()),
        Ok(_) => {}
        Err(e) => return Err(kavach_core::oauth::tokens::internal(e)),
    }
    let (doc, ttl) = super::fetch::fetch_json(client_id, o.metadata_documents_insecure).await.map_err(fail)?;
    let meta = check_document(client_id, &doc).map_err(|e| fail(e.message.to_string()))?;
    k.clients().store_document(client_id, &meta, Ts::now().plus_secs(ttl.max(super::fetch::MIN_TTL_SECS))).await.map_err(kavach_core::oauth::tokens::internal)
}

