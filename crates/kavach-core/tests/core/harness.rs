//! Test harness: every storage test runs once on SQLite (a temp file) and once on
//! PostgreSQL (a fresh database created for the test and dropped after).
//! PostgreSQL comes from KAVACH_TEST_PG (default postgres://postgres@127.0.0.1:5432/postgres);
//! if it is unreachable the PostgreSQL tests FAIL (set KAVACH_TEST_SKIP_PG=1 to skip them on purpose).

use kavach_core::email::{Email, Mailer, SendFuture, Templates};
use kavach_core::store::Db;
use kavach_core::{Core, Options};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct CaptureMailer(pub Arc<Mutex<Vec<Email>>>);

impl Mailer for CaptureMailer {
    fn send(&self, email: Email) -> SendFuture<'_> {
        self.0.lock().unwrap().push(email);
        Box::pin(async { Ok(()) })
    }
    fn describe(&self) -> String {
        "capture".into()
    }
}

impl CaptureMailer {
    /// Wait for a message to `to` whose subject contains `subject`, and return it.
    pub async fn wait_for(&self, to: &str, subject: &str) -> Email {
        for _ in 0..200 {
            if let Some(e) = self.0.lock().unwrap().iter().rev().find(|e| e.to == to && e.subject.contains(subject)).cloned() {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no email to {to} with subject containing {subject:?}; got {:?}", self.0.lock().unwrap().iter().map(|e| (&e.to, &e.subject)).collect::<Vec<_>>());
    }
    pub fn count_to(&self, to: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|e| e.to == to).count()
    }
}

/// The `token=` value of the first link in a message.
pub fn link_token(e: &Email) -> String {
    let i = e.text.find("token=").expect("a link with a token");
    e.text[i + 6..].split(|c: char| c == '&' || c.is_whitespace()).next().unwrap().to_owned()
}

/// The path segment after `/reset-password/` in a reset email.
pub fn reset_token(e: &Email) -> String {
    let i = e.text.find("/reset-password/").expect("a reset link");
    e.text[i + 16..].split(|c: char| c == '?' || c.is_whitespace()).next().unwrap().to_owned()
}

pub struct TestDb {
    pub url: String,
    pg_admin: Option<(String, String)>,
    dir: Option<std::path::PathBuf>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("kavach-test-{}", kavach_core::crypto::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        TestDb { url: format!("sqlite://{}", dir.join("k.db").display()), pg_admin: None, dir: Some(dir) }
    }

    pub async fn postgres() -> Option<TestDb> {
        if std::env::var("KAVACH_TEST_SKIP_PG").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPING PostgreSQL test: KAVACH_TEST_SKIP_PG=1");
            return None;
        }
        let admin = std::env::var("KAVACH_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("kavach_test_{}", kavach_core::crypto::new_id().to_lowercase());
        let pool = sqlx::PgPool::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for this test ({e}); start it or set KAVACH_TEST_SKIP_PG=1"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
        pool.close().await;
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
        Some(TestDb { url: format!("{base}/{name}"), pg_admin: Some((admin, name)), dir: None })
    }

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

pub fn options() -> Options {
    let mut o = Options { secrets: vec!["test-secret-0123456789-abcdefghijklmnop".into()], ..Options::default() };
    o.email_password.require_email_verification = false;
    o
}

pub struct T {
    pub core: Arc<Core>,
    pub mail: CaptureMailer,
    pub db: Db,
    pub url: String,
}

pub async fn core_on(url: &str, o: Options) -> T {
    let db = Db::connect(url).await.unwrap();
    db.migrate().await.unwrap();
    let mail = CaptureMailer::default();
    let core = Arc::new(Core::new(db.clone(), o, Arc::new(mail.clone()), Templates::load(None).unwrap(), None).unwrap());
    T { core, mail, db, url: url.to_owned() }
}

/// Run `$body` (an async block using `$t: T`) on SQLite and on PostgreSQL, as two tests.
#[macro_export]
macro_rules! dual {
    ($name:ident, $opts:expr, |$t:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(db: $crate::harness::TestDb) {
                {
                    let $t = $crate::harness::core_on(&db.url, $opts).await;
                    $body
                    $t.db.close().await;
                }
                db.drop_db().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::harness::TestDb::sqlite().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::harness::TestDb::postgres().await {
                    run(db).await;
                }
            }
        }
    };
}
