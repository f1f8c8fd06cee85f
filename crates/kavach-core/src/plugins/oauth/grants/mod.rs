//! The token endpoint's grants, one file each. They extend [`super::tokens::Tokens`],
//! which authenticates the client and dispatches on `grant_type`.

mod authorization_code;
mod client_credentials;
mod device_code;
pub(crate) mod refresh_token;
