//! Test helpers for Kavach and for apps that embed it: a mailer that captures
//! messages, link extraction, and throw-away databases (a temp SQLite file, or a
//! fresh PostgreSQL database created for the test and dropped after).
//!
//! PostgreSQL comes from `KAVACH_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`; Kavach's own `scripts/test.sh` always
//! sets it, to a throwaway server it starts unless you set it). If it is unreachable,
//! [`TestDb::postgres`] panics, so PostgreSQL tests fail instead of silently
//! passing; `KAVACH_TEST_SKIP_PG=1` skips them on purpose.

use crate::email::{Email, Mailer, SendFuture};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct CaptureMailer(pub Arc<Mutex<Vec<Email>>>);

impl Mailer for CaptureMailer {
    fn send(&self, email: Email) -> SendFuture<'_> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(email);
        Box::pin(async { Ok(()) })
    }
    fn describe(&self) -> String {
        "capture".into()
    }
}

impl CaptureMailer {
    /// Wait for a message to `to` whose subject contains `subject`, and return it.
    #[allow(clippy::panic, reason = "test helper: no such message within 2 s fails the test")]
    pub async fn wait_for(&self, to: &str, subject: &str) -> Email {
        for _ in 0..200 {
            if let Some(e) = self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().rev().find(|e| e.to == to && e.subject.contains(subject)).cloned() {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "no email to {to} with subject containing {subject:?}; got {:?}",
            self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|e| (&e.to, &e.subject)).collect::<Vec<_>>()
        );
    }
    pub fn count_to(&self, to: &str) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|e| e.to == to).count()
    }
}

/// The `token=` value of the first link in a message.
#[allow(clippy::expect_used, reason = "test helper: a message without the link fails the test")]
pub fn link_token(e: &Email) -> String {
    let (_, rest) = e.text.split_once("token=").expect("a link with a token");
    rest.split(|c: char| c == '&' || c.is_whitespace()).next().unwrap_or_default().to_owned()
}

/// The path segment after `/reset-password/` in a reset email.
#[allow(clippy::expect_used, reason = "test helper: a message without the link fails the test")]
pub fn reset_token(e: &Email) -> String {
    let (_, rest) = e.text.split_once("/reset-password/").expect("a reset link");
    rest.split(|c: char| c == '?' || c.is_whitespace()).next().unwrap_or_default().to_owned()
}

pub struct TestDb {
    pub url: String,
    pg_admin: Option<(String, String)>,
    dir: Option<std::path::PathBuf>,
}

impl TestDb {
    #[allow(clippy::unwrap_used, reason = "test helper: a temporary directory that cannot be made fails the test")]
    pub async fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("kavach-test-{}", crate::crypto::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        TestDb { url: format!("sqlite://{}", dir.join("k.db").display()), pg_admin: None, dir: Some(dir) }
    }

    #[allow(
        clippy::unwrap_used,
        clippy::panic,
        reason = "test helper: an unreachable PostgreSQL fails the test (documented above), as does a database that cannot be created"
    )]
    pub async fn postgres() -> Option<TestDb> {
        if std::env::var("KAVACH_TEST_SKIP_PG").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPING PostgreSQL test: KAVACH_TEST_SKIP_PG=1");
            return None;
        }
        let admin = std::env::var("KAVACH_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("kavach_test_{}", crate::crypto::new_id().to_lowercase());
        let pool = sqlx::PgPool::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for this test ({e}); run the tests with ./scripts/test.sh (it starts a throwaway one), point KAVACH_TEST_PG at a server, or set KAVACH_TEST_SKIP_PG=1"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
        pool.close().await;
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
        Some(TestDb { url: format!("{base}/{name}"), pg_admin: Some((admin, name)), dir: None })
    }

    #[allow(clippy::unwrap_used, reason = "test helper: a database that cannot be dropped fails the test")]
    pub async fn drop_db(self) {
        if let Some((admin, name)) = &self.pg_admin {
            let pool = sqlx::PgPool::connect(admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&pool).await.unwrap();
            pool.close().await;
        }
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
