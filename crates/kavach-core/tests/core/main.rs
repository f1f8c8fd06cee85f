//! Core behaviour on SQLite and PostgreSQL. One integration-test binary, one file per
//! capability (and per part of the kernel); the helpers they share are here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, clippy::string_slice, reason = "tests")]

mod admin;
mod agents;
mod anonymous;
mod api_key;
mod audit;
mod email_otp;
mod email_password;
mod fields;
mod harness;
mod jwt;
mod magic_link;
mod migration;
mod oauth;
mod one_tap;
mod organization;
mod passkey;
mod phone_number;
mod ratelimit;
mod sessions;
mod siwe;
mod store;
mod two_factor;
mod username;
mod users;

use harness::{core_on, link_token, options, reset_token};
use kavach_core::plugins::email_password::SignUp;
use kavach_core::ratelimit::Rule;
use kavach_core::store::Db;
use kavach_core::{NewUser, RequestContext};
use kavach_testkit::dual;
use std::time::Duration;

fn ctx() -> RequestContext {
    RequestContext { ip: Some("192.0.2.1".parse().unwrap()), user_agent: Some("test".into()), ..Default::default() }
}

fn sign_up(email: &str, password: &str) -> SignUp {
    SignUp { email: email.into(), password: password.into(), name: "Test".into(), ..Default::default() }
}

const PW: &str = "correct horse battery staple";

async fn exec(db: &Db, sql: &str) {
    kavach_core::db!(db, |pool| {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(pool).await.unwrap();
    });
}

async fn scalar_text(db: &Db, sql: &str) -> Option<String> {
    kavach_core::db!(db, |pool| { sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_optional(pool).await.unwrap() })
}

/// Every audit kind recorded, oldest first.
async fn audit_kinds(db: &Db) -> Vec<String> {
    kavach_core::db!(db, |pool| { sqlx::query_scalar::<_, String>("SELECT kind FROM kavach_audit_event ORDER BY seq").fetch_all(pool).await.unwrap() })
}
