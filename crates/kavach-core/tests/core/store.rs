//! The store: migrations (idempotent, safe when run concurrently, fresh databases) and text the databases refuse.

use crate::*;

dual!(migrations_are_idempotent_and_safe_concurrently, options(), |t| {
    assert!(t.db.migrate().await.unwrap().is_empty(), "second run applies nothing");
    let (a, b) = (Db::connect(&t.url).await.unwrap(), Db::connect(&t.url).await.unwrap());
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    assert!(ra.unwrap().is_empty() && rb.unwrap().is_empty());
    let n = scalar_text(&t.db, "SELECT CAST(COUNT(*) AS TEXT) FROM kavach_migration").await.unwrap();
    assert_eq!(n, kavach_core::store::MIGRATIONS_SQLITE.len().to_string());
});

mod fresh_migrations {
    use kavach_core::store::Db;
    use kavach_testkit::TestDb;

    async fn race(url: &str) {
        let (a, b) = (Db::connect(url).await.unwrap(), Db::connect(url).await.unwrap());
        let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.len() + rb.len(), kavach_core::store::MIGRATIONS_SQLITE.len(), "each migration applied exactly once: {ra:?} {rb:?}");
        a.close().await;
        b.close().await;
    }

    #[tokio::test]
    async fn two_instances_starting_at_once_sqlite() {
        let db = TestDb::sqlite().await;
        race(&db.url).await;
        db.drop_db().await;
    }

    #[tokio::test]
    async fn two_instances_starting_at_once_postgres() {
        if let Some(db) = TestDb::postgres().await {
            race(&db.url).await;
            db.drop_db().await;
        }
    }
}

// Finding 6: PostgreSQL cannot store NUL in text; such input is a client error there too.
dual!(review_06_text_with_nul_is_a_client_error_on_both_databases, options(), |t| {
    for r in [t.core.users().get("a\u{0}b").await.map(|u| u.is_none()), t.core.clients().set_introspection("kc_\u{0}", &[]).await.map(|f| !f)] {
        match r {
            Ok(nothing) => assert!(nothing),
            Err(e) => assert!(e.is_client_error() && e.code == "INVALID_TEXT", "{e}"),
        }
    }
});
