//! Moving in from another system: the better-auth cookie transition (sessions migrated
//! into `kavach_session` keep working, and become Kavach sessions) and the importers
//! (`kavach import better-auth`, `kavach import clerk`).

mod better_auth_cookies;
pub mod import;
mod store;

pub use better_auth_cookies::{BetterAuthCookies, External};
