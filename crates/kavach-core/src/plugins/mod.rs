//! The optional capabilities (better-auth calls them plugins, and so do the seeds:
//! `plugins: [organization(), twoFactor()]`), one folder each: `mod.rs` is the facade
//! the Rust API exposes and its options, pure rules sit in their own files, and SQL
//! only in the folder's `store` module. The kernel (errors, crypto, keys, email, rate
//! limits, users, sessions, verification tokens, passwords, storage, the audit log)
//! stays flat in the crate root.

pub mod admin;
pub mod agents;
pub mod anonymous;
pub mod api_key;
pub mod email_otp;
pub mod email_password;
pub mod magic_link;
pub mod migration;
pub mod oauth;
pub mod one_tap;
pub mod organization;
pub mod passkey;
pub mod phone_number;
pub mod siwe;
pub mod two_factor;
pub mod username;
