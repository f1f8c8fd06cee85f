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

// KavachOS applied its `actions` filter after limit and offset, so pages were wrong, and
// capped exports at 10,000 rows with malformed CSV: here filters run in SQL before the
// limit, the cursor walks every matching record exactly once, and CSV quotes per RFC 4180.
dual!(audit_query_filters_run_before_the_limit_so_every_page_is_exact, options(), |t| {
    use kavach_core::audit::{self, Event, EventKind, Query};
    let ctx = kavach_core::RequestContext::default();
    for i in 0..25 {
        let kind = if i % 3 == 0 { EventKind::AgentDecision } else { EventKind::SignInFailure };
        let e = Event::new(kind, Some("u1"), &ctx).with("agentId", if i % 2 == 0 { "agentA" } else { "agentB" }).with("note", "a, \"quoted\"\nline");
        audit::append(&t.db, e).await.unwrap();
    }
    let q = |kind: Option<&str>, agent: Option<&str>, after: Option<i64>| Query {
        kind: kind.map(str::to_owned),
        agent_id: agent.map(str::to_owned),
        after,
        limit: Some(2),
        ..Default::default()
    };
    // agent.* and agentA: i in {0, 6, 12, 18, 24} → 5 records, walked two at a time.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (recs, next) = audit::query(&t.db, &q(Some("agent.*"), Some("agentA"), after)).await.unwrap();
        assert!(recs.len() <= 2);
        seen.extend(recs.iter().map(|r| r.seq));
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    let (all, _) = audit::query(&t.db, &Query { kind: Some("sign_in.failure".into()), limit: Some(1000), ..Default::default() }).await.unwrap();
    assert_eq!(all.len(), 16);
    // Bad filters are 400s.
    for bad in [
        Query { limit: Some(0), ..Default::default() },
        Query { kind: Some("x' OR 1=1".into()), ..Default::default() },
        Query { since: Some("yesterday".into()), ..Default::default() },
    ] {
        assert_eq!(audit::query(&t.db, &bad).await.unwrap_err().code, "VALIDATION_ERROR");
    }
    // RFC 4180: the field with a comma, quotes and a newline is quoted, quotes doubled.
    let line = audit::csv_line(&all[0]);
    assert!(line.ends_with("\r\n"));
    assert!(line.contains(r#""{""agentId"":""agentB"",""note"":""a, \""quoted\""\nline""}""#), "{line}");
});

dual!(a_signed_checkpoint_held_off_the_box_proves_the_chain_up_to_it, options(), |t| {
    let ctx = kavach_core::RequestContext::default();
    for _ in 0..3 {
        kavach_core::audit::append(&t.db, kavach_core::audit::Event::new(kavach_core::audit::EventKind::SignInFailure, None, &ctx)).await.unwrap();
    }
    let cp = t.core.audit_checkpoint().await.unwrap();
    assert_eq!(t.core.check_audit_checkpoint(&cp).await.unwrap().unwrap().0, 3);
    // A forged checkpoint (another signer's, or edited) does not verify.
    let mut forged = cp.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    assert!(t.core.check_audit_checkpoint(&forged).await.unwrap().is_err());
    // Rewriting the chain up to the checkpoint is caught by it even if the rewriter fixed every hash after.
    exec(&t.db, "UPDATE kavach_audit_event SET hash = 'rewritten' WHERE seq = 3").await;
    let why = t.core.check_audit_checkpoint(&cp).await.unwrap().unwrap_err();
    assert!(why.contains("record 3"), "{why}");
});
