//! The optional capabilities' HTTP sides, one module per capability, named as its
//! folder in `kavach_core::plugins` and its configuration table. Each declares its
//! routes once ([`crate::http::table::Capability`]) and is listed in
//! [`crate::http::table::capabilities`].

pub mod admin;
pub mod agents;
pub mod anonymous;
pub mod api_key;
pub mod audit;
pub mod email_otp;
pub mod email_password;
pub mod magic_link;
pub mod oauth;
pub mod one_tap;
pub mod organization;
pub mod passkey;
pub mod phone_number;
pub mod siwe;
pub mod two_factor;
pub mod username;
