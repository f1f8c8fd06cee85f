//! The audit chain: tamper detection, concurrent appends, verification.

use crate::*;

dual!(audit_chain_detects_tampering, options(), |t| {
    for i in 0..4 {
        t.core.email_password().sign_up(sign_up(&format!("au{i}@example.com"), PW), &ctx()).await.unwrap();
    }
    t.core.email_password().sign_in("au1@example.com", "wrong password", &ctx()).await.unwrap_err();
    let r = kavach_core::audit::verify(&t.db).await.unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    assert!(r.records >= 9, "sign-ups, sessions and the failure are recorded: {}", r.records);
    let kinds: Vec<String> = kavach_core::audit::page(&t.db, 0, 100).await.unwrap().into_iter().map(|r| r.kind).collect();
    for k in ["user.created", "sign_in.success", "sign_in.failure"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    // Edit.
    exec(&t.db, "UPDATE kavach_audit_event SET kind = 'nothing' WHERE seq = 3").await;
    let r = kavach_core::audit::verify(&t.db).await.unwrap();
    assert!(!r.ok() && r.problems.iter().any(|p| p.contains("record 3") && p.contains("edited")), "{:?}", r.problems);
});

dual!(audit_chain_detects_delete_insert_reorder_and_truncation, options(), |t| {
    for i in 0..3 {
        t.core.email_password().sign_up(sign_up(&format!("ch{i}@example.com"), PW), &ctx()).await.unwrap();
    }
    assert!(kavach_core::audit::verify(&t.db).await.unwrap().ok());
    let recs = kavach_core::audit::page(&t.db, 0, 1000).await.unwrap();
    let last = recs.last().unwrap().seq;
    // Reorder: swap the contents of two records.
    exec(&t.db, "UPDATE kavach_audit_event SET seq = -1 WHERE seq = 2").await;
    exec(&t.db, "UPDATE kavach_audit_event SET seq = 2 WHERE seq = 3").await;
    exec(&t.db, "UPDATE kavach_audit_event SET seq = 3 WHERE seq = -1").await;
    assert!(!kavach_core::audit::verify(&t.db).await.unwrap().ok(), "reorder");
    exec(&t.db, "UPDATE kavach_audit_event SET seq = -1 WHERE seq = 2").await;
    exec(&t.db, "UPDATE kavach_audit_event SET seq = 2 WHERE seq = 3").await;
    exec(&t.db, "UPDATE kavach_audit_event SET seq = 3 WHERE seq = -1").await;
    assert!(kavach_core::audit::verify(&t.db).await.unwrap().ok(), "restored");
    // Insert a forged record in the middle (a gap is made by shifting).
    exec(&t.db, "UPDATE kavach_audit_event SET seq = seq + 1000 WHERE seq >= 3").await;
    exec(&t.db, "INSERT INTO kavach_audit_event (seq, id, created_at, kind, data, prev_hash, hash) SELECT 3, 'forged', created_at, 'user.created', '{}', hash, hash FROM kavach_audit_event WHERE seq = 2").await;
    assert!(!kavach_core::audit::verify(&t.db).await.unwrap().ok(), "insert");
    exec(&t.db, "DELETE FROM kavach_audit_event WHERE id = 'forged'").await;
    exec(&t.db, "UPDATE kavach_audit_event SET seq = seq - 1000 WHERE seq >= 1003").await;
    assert!(kavach_core::audit::verify(&t.db).await.unwrap().ok(), "restored");
    // Delete from the middle.
    exec(&t.db, "DELETE FROM kavach_audit_event WHERE seq = 2").await;
    assert!(!kavach_core::audit::verify(&t.db).await.unwrap().ok(), "delete");
    // Truncate the tail only (the chain before it is intact, the head disagrees).
    let t2 = harness::core_on(&kavach_testkit::TestDb::sqlite().await.url, options()).await;
    t2.core.email_password().sign_up(sign_up("tail@example.com", PW), &ctx()).await.unwrap();
    let last2 = kavach_core::audit::page(&t2.db, 0, 1000).await.unwrap().last().unwrap().seq;
    exec(&t2.db, &format!("DELETE FROM kavach_audit_event WHERE seq = {last2}")).await;
    let r = kavach_core::audit::verify(&t2.db).await.unwrap();
    assert!(!r.ok() && r.problems[0].contains("head"), "truncation: {:?}", r.problems);
    let _ = last;
});

dual!(concurrent_appends_never_fork_the_chain, options(), |t| {
    let mut hs = Vec::new();
    for i in 0..20 {
        let db = t.db.clone();
        hs.push(tokio::spawn(async move {
            let c = RequestContext::default();
            kavach_core::audit::append(&db, kavach_core::audit::Event::new(kavach_core::audit::EventKind::Import, None, &c).with("i", i)).await.unwrap();
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    let r = kavach_core::audit::verify(&t.db).await.unwrap();
    assert!(r.ok() && r.records == 20, "{r:?}");
});

// Finding 11: tampering that used to pass or crash the verifier.
dual!(review_11_audit_verify_reports_a_deleted_head_and_sub_millisecond_edits, options(), |t| {
    for i in 0..2 {
        t.core.email_password().sign_up(sign_up(&format!("tamper{i}@example.com"), PW), &ctx()).await.unwrap();
    }
    assert!(kavach_core::audit::verify(&t.db).await.unwrap().ok());
    // An edit of created_at below what a millisecond reading shows (PostgreSQL keeps
    // microseconds; SQLite stores milliseconds, so its smallest edit is one).
    match &t.db {
        kavach_core::store::Db::Postgres(_) => {
            exec(&t.db, "UPDATE kavach_audit_event SET created_at = created_at + interval '7 microseconds' WHERE seq = 2").await
        }
        kavach_core::store::Db::Sqlite(_) => exec(&t.db, "UPDATE kavach_audit_event SET created_at = created_at + 1 WHERE seq = 2").await,
    }
    let r = kavach_core::audit::verify(&t.db).await.unwrap();
    assert!(r.problems.iter().any(|p| p.contains("record 2") && p.contains("edited")), "{:?}", r.problems);
    exec(&t.db, "DELETE FROM kavach_audit_head").await;
    let r = kavach_core::audit::verify(&t.db).await.expect("a missing head is a finding, not a failure");
    assert!(!r.ok() && r.problems.iter().any(|p| p.contains("head row") && p.contains("deleted")), "{:?}", r.problems);
});
