//! Test harness: the options the core tests start from. Every storage test runs once on
//! SQLite and once on PostgreSQL through `kavach_testkit::dual!`.

use kavach_core::Options;
pub use kavach_testkit::*;

pub fn options() -> Options {
    let mut o = Options { secrets: vec!["test-secret-0123456789-abcdefghijklmnop".into()], ..Options::default() };
    o.email_password.require_email_verification = false;
    o
}
