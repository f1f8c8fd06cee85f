//! Test harness: every storage test runs once on SQLite (a temp file) and once on
//! PostgreSQL (a fresh database), through [`kavach_core::testkit`].

use kavach_core::email::Templates;
use kavach_core::store::Db;
pub use kavach_core::testkit::*;
use kavach_core::{Core, Options};
use std::sync::Arc;

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
