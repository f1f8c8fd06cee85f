//! The token endpoint's grants, one file each. They extend [`super::tokens::Tokens`],
//! which authenticates the client and dispatches on `grant_type`.

mod authorization_code;
mod ciba;
mod client_credentials;
mod device_code;
pub(crate) mod refresh_token;
mod token_exchange;

/// OpenID CIBA's grant type (poll mode).
pub const CIBA: &str = "urn:openid:params:grant-type:ciba";

/// RFC 8693's grant type.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
