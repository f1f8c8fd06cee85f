//! Agents: identities, keys, the decision point and its constraints, delegation,
//! approvals, budgets, trust. Each test that rules out a defect of the TypeScript
//! original (research/kavachos.md §4, §11) is named after it.

use crate::*;
use kavach_core::plugins::agents::{
    Budget, BudgetAction, Call, Constraints, Created, Effect, Grant, Manager, NewAgent, NewPermission, Reason, Status, Verdict,
};
use kavach_core::plugins::organization::{Actor, AddMember, NewOrganization};
use kavach_core::{Code, Core, User};
use serde_json::{Value, json};

fn agents_on() -> kavach_core::Options {
    let mut o = options();
    o.agents.enabled = true;
    o.organization.enabled = true;
    o
}

async fn user(t: &kavach_testkit::T, email: &str) -> User {
    let new = NewUser { email: email.into(), name: "U".into(), password: Some(PW.into()), email_verified: true, image: None };
    t.core.users().create(new, &ctx()).await.unwrap()
}

fn allow(resource: &str, actions: &[&str], constraints: Value) -> NewPermission {
    NewPermission {
        effect: Effect::Allow,
        resource: resource.into(),
        actions: actions.iter().map(|s| (*s).to_owned()).collect(),
        constraints: serde_json::from_value::<Constraints>(constraints).unwrap(),
        expires_in: None,
    }
}

fn deny(resource: &str, actions: &[&str]) -> NewPermission {
    NewPermission { effect: Effect::Deny, ..allow(resource, actions, json!({})) }
}

async fn agent_of(t: &kavach_testkit::T, owner: &User, perms: Vec<NewPermission>) -> Created {
    let new = NewAgent { name: "researcher".into(), permissions: perms, ..Default::default() };
    t.core.agents().create(Manager::User(owner), new, &ctx()).await.unwrap()
}

fn call<'a>(action: &'a str, resource: &'a str, args: &'a Value) -> Call<'a> {
    Call { action, resource, arguments: args, ip: Some("192.0.2.1".parse().unwrap()), session: None }
}

async fn decide(core: &Core, agent: &str, action: &str, resource: &str, args: Value) -> (Verdict, Reason, Option<String>) {
    let d = core.agents().decide(agent, &call(action, resource, &args), &ctx()).await.unwrap();
    (d.decision, d.reason, d.approval_id)
}

fn code(e: kavach_core::Error) -> Code {
    Code::parse(&e.code).unwrap_or_else(|| panic!("not a Kavach code: {}", e.code))
}

dual!(first_match_only_evaluation_every_matching_permission_is_considered_and_an_explicit_deny_wins, agents_on(), |t| {
    let alice = user(&t, "alice@example.com").await;
    let a = agent_of(
        &t,
        &alice,
        vec![
            // The first match is limited to another network; the second is not.
            allow("tool:*", &["tools/call"], json!({"ipAllow": ["10.0.0.0/8"]})),
            allow("tool:search", &["tools/call"], json!({})),
            allow("docs:**", &["read"], json!({})),
            deny("docs:secret:**", &["read"]),
        ],
    )
    .await;
    let id = &a.agent.id;
    let d = |action: &'static str, resource: &'static str| decide(&t.core, id, action, resource, json!({}));
    assert_eq!(d("tools/call", "tool:search").await.0, Verdict::Allowed, "KavachOS took the first match only");
    assert_eq!(d("tools/call", "tool:delete").await.1, Reason::IpNotAllowed);
    assert_eq!(d("read", "docs:public:readme").await.0, Verdict::Allowed);
    assert_eq!(d("read", "docs:secret:plans").await.1, Reason::ExplicitDeny, "a deny wins over a matching allow");
    assert_eq!(d("write", "docs:public:readme").await.1, Reason::NoMatchingPermission);
    assert_eq!(d("read", "docs").await.1, Reason::NoMatchingPermission, "docs:** needs a segment after docs");
    // Each decision carries the id of its audit record, which names the agent and the call.
    let dec = t.core.agents().decide(id, &call("read", "docs:x", &json!({})), &ctx()).await.unwrap();
    let rec = scalar_text(&t.db, &format!("SELECT data FROM kavach_audit_event WHERE id = '{}'", dec.audit_id)).await.unwrap();
    let rec: Value = serde_json::from_str(&rec).unwrap();
    assert_eq!((rec["agentId"].as_str(), rec["decision"].as_str(), rec["resource"].as_str()), (Some(id.as_str()), Some("allowed"), Some("docs:x")));
    assert!(kavach_core::audit::verify(&t.db).await.unwrap().ok());
});

dual!(ip_allow_list_always_denying_it_reads_the_real_client_ip, agents_on(), |t| {
    let alice = user(&t, "alice@example.com").await;
    let a = agent_of(&t, &alice, vec![allow("tool:search", &["tools/call"], json!({"ipAllow": ["192.0.2.0/24", "2001:db8::/32"]}))]).await;
    let ask = |ip: Option<&str>| {
        let args = json!({});
        let core = t.core.clone();
        let id = a.agent.id.clone();
        let ip = ip.map(|s| s.parse().unwrap());
        async move {
            core.agents()
                .decide(&id, &Call { action: "tools/call", resource: "tool:search", arguments: &args, ip, session: None }, &ctx())
                .await
                .unwrap()
                .reason
        }
    };
    assert_eq!(ask(Some("192.0.2.77")).await, Reason::Allowed, "KavachOS: the IP allow-list always denied through HTTP");
    assert_eq!(ask(Some("2001:db8::9")).await, Reason::Allowed);
    assert_eq!(ask(Some("198.51.100.1")).await, Reason::IpNotAllowed);
    assert_eq!(ask(None).await, Reason::IpNotAllowed, "no IP: refused");
});

dual!(quota_consumed_by_denied_calls_and_non_atomic_counters_rate_is_exact_under_concurrency, agents_on(), |t| {
    let alice = user(&t, "alice@example.com").await;
    let a = agent_of(&t, &alice, vec![allow("tool:search", &["tools/call"], json!({"rate": "50/1h", "arguments": {"q": {"maxLength": 10}}}))]).await;
    let id = a.agent.id.clone();
    // Calls refused by another constraint use none of the quota.
    for _ in 0..20 {
        assert_eq!(decide(&t.core, &id, "tools/call", "tool:search", json!({"q": "far too long a query"})).await.1, Reason::ArgumentNotAllowed);
    }
    // 80 concurrent calls: exactly 50 pass, on one counter shared by every instance.
    let mut tasks = Vec::new();
    for _ in 0..80 {
        let (core, id) = (t.core.clone(), id.clone());
        tasks.push(tokio::spawn(async move { decide(&core, &id, "tools/call", "tool:search", json!({"q": "ok"})).await.1 }));
    }
    let mut allowed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Reason::Allowed => allowed += 1,
            r => assert_eq!(r, Reason::RateLimited),
        }
    }
    assert_eq!(allowed, 50, "KavachOS: denied calls used quota, and the counter was read-then-written");
});

dual!(budgets_scoped_globally_a_budget_holds_its_owner_only_and_500_concurrent_calls_overshoot_nothing, agents_on(), |t| {
    let (alice, bob) = (user(&t, "alice@example.com").await, user(&t, "bob@example.com").await);
    let a = agent_of(&t, &alice, vec![allow("tool:**", &["tools/call"], json!({}))]).await;
    let b = agent_of(&t, &bob, vec![allow("tool:**", &["tools/call"], json!({}))]).await;
    // Alice's budget for all her agents: 100 calls a day, then block.
    let budget = Budget { calls_per_day: Some(100), action: BudgetAction::Block, ..Default::default() };
    t.core.agents().set_budget(Manager::User(&alice), budget, &ctx()).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let (core, id) = (t.core.clone(), a.agent.id.clone());
        tasks.push(tokio::spawn(async move { decide(&core, &id, "tools/call", "tool:x", json!({})).await.1 }));
    }
    let mut allowed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Reason::Allowed => allowed += 1,
            r => assert_eq!(r, Reason::BudgetExceeded),
        }
    }
    assert!(allowed <= 101, "{allowed} calls passed a budget of 100 (at most 1% over)");
    assert_eq!(allowed, 100);
    // Bob's agent is not Alice's: KavachOS applied owner-scoped budgets to every agent.
    assert_eq!(decide(&t.core, &b.agent.id, "tools/call", "tool:x", json!({})).await.0, Verdict::Allowed);
    // A suspend budget suspends the agent.
    let c = agent_of(&t, &bob, vec![allow("tool:**", &["tools/call"], json!({}))]).await;
    let budget = Budget { agent_id: Some(c.agent.id.clone()), calls_per_day: Some(1), action: BudgetAction::Suspend, ..Default::default() };
    t.core.agents().set_budget(Manager::User(&bob), budget, &ctx()).await.unwrap();
    assert_eq!(decide(&t.core, &c.agent.id, "tools/call", "tool:x", json!({})).await.0, Verdict::Allowed);
    assert_eq!(decide(&t.core, &c.agent.id, "tools/call", "tool:x", json!({})).await.1, Reason::BudgetExceeded);
    assert_eq!(t.core.agents().get(Manager::Server, &c.agent.id).await.unwrap().status, Status::Suspended);
    // Reported cost counts against a cost budget.
    let d = agent_of(&t, &bob, vec![allow("tool:**", &["tools/call"], json!({}))]).await;
    let budget = Budget { agent_id: Some(d.agent.id.clone()), cost_per_day: Some(1_000), action: BudgetAction::Block, ..Default::default() };
    t.core.agents().set_budget(Manager::User(&bob), budget, &ctx()).await.unwrap();
    t.core.agents().report_cost(Manager::User(&bob), &d.agent.id, 999).await.unwrap();
    assert_eq!(decide(&t.core, &d.agent.id, "tools/call", "tool:x", json!({})).await.0, Verdict::Allowed);
    t.core.agents().report_cost(Manager::User(&bob), &d.agent.id, 1).await.unwrap();
    assert_eq!(decide(&t.core, &d.agent.id, "tools/call", "tool:x", json!({})).await.1, Reason::BudgetExceeded);
});

dual!(approval_that_never_lets_the_call_through_the_identical_call_passes_once_approved, agents_on(), |t| {
    let alice = user(&t, "alice@example.com").await;
    let a = agent_of(&t, &alice, vec![allow("tool:transfer", &["tools/call"], json!({"requireApproval": true}))]).await;
    let id = &a.agent.id;
    let args = json!({"amount": 100, "to": "acct-1"});
    let (v, r, approval) = decide(&t.core, id, "tools/call", "tool:transfer", args.clone()).await;
    assert_eq!((v, r), (Verdict::Pending, Reason::ApprovalRequired));
    let approval = approval.unwrap();
    // Asking again waits for the same request; a different call is a different request.
    assert_eq!(decide(&t.core, id, "tools/call", "tool:transfer", args.clone()).await.2.as_deref(), Some(approval.as_str()));
    let other = decide(&t.core, id, "tools/call", "tool:transfer", json!({"amount": 100000, "to": "acct-1"})).await.2.unwrap();
    assert_ne!(other, approval, "approving X cannot authorise Y");
    // Only a manager answers; an agent never approves.
    let bob = user(&t, "bob@example.com").await;
    assert_eq!(code(t.core.agents().approve(Manager::User(&bob), &approval, Grant::default(), &ctx()).await.unwrap_err()), Code::ApprovalNotFound);
    let me = t.core.agents().get(Manager::Server, id).await.unwrap();
    assert!(t.core.agents().approve(Manager::Agent(&me), &approval, Grant::default(), &ctx()).await.is_err());
    t.core.agents().approve(Manager::User(&alice), &approval, Grant::default(), &ctx()).await.unwrap();
    assert_eq!(code(t.core.agents().approve(Manager::User(&alice), &approval, Grant::default(), &ctx()).await.unwrap_err()), Code::ApprovalNotPending);
    // The identical call passes, once; the other call still waits.
    assert_eq!(decide(&t.core, id, "tools/call", "tool:transfer", json!({"to": "acct-1", "amount": 100})).await.1, Reason::Approved);
    assert_eq!(decide(&t.core, id, "tools/call", "tool:transfer", args.clone()).await.0, Verdict::Pending, "single use");
    assert_eq!(decide(&t.core, id, "tools/call", "tool:transfer", json!({"amount": 100000, "to": "acct-1"})).await.0, Verdict::Pending);
    // A grant of three uses lets three identical calls through.
    let next = decide(&t.core, id, "tools/call", "tool:transfer", args.clone()).await.2.unwrap();
    t.core.agents().approve(Manager::User(&alice), &next, Grant { uses: Some(3), valid_for: None }, &ctx()).await.unwrap();
    for _ in 0..3 {
        assert_eq!(decide(&t.core, id, "tools/call", "tool:transfer", args.clone()).await.1, Reason::Approved);
    }
    assert_eq!(decide(&t.core, id, "tools/call", "tool:transfer", args.clone()).await.0, Verdict::Pending);
    // A refusal counts against trust.
    let last = decide(&t.core, id, "tools/call", "tool:transfer", args.clone()).await.2.unwrap();
    t.core.agents().deny(Manager::User(&alice), &last, &ctx()).await.unwrap();
    let trust = t.core.agents().trust(Manager::User(&alice), id).await.unwrap();
    assert!(trust.factors.iter().any(|f| f.factor == "approvalsRefused" && f.value == 1.0), "{trust:?}");
    assert!(audit_kinds(&t.db).await.iter().any(|k| k == "agent.approval_requested"));
});

dual!(constraints_dropped_on_delegation_caller_chosen_depth_and_uncapped_expiry_are_refused, agents_on(), |t| {
    let alice = user(&t, "alice@example.com").await;
    let mut new = NewAgent {
        name: "planner".into(),
        expires_in: Some(3600),
        max_delegation_depth: Some(2),
        permissions: vec![allow("tool:*", &["tools/call"], json!({"requireApproval": true})), allow("docs:**", &["read"], json!({"rate": "10/1m"}))],
        ..Default::default()
    };
    let root = t.core.agents().create(Manager::User(&alice), new.clone(), &ctx()).await.unwrap();
    let agents = t.core.agents();
    // Dropping the approval or the rate is refused (KavachOS stored only resource and actions).
    new.name = "sub".into();
    new.permissions = vec![allow("tool:search", &["tools/call"], json!({}))];
    assert_eq!(code(agents.delegate(Manager::User(&alice), &root.agent.id, new.clone(), &ctx()).await.unwrap_err()), Code::DelegationNotAllowed);
    new.permissions = vec![allow("docs:public:**", &["read"], json!({"rate": "100/1m"}))];
    assert_eq!(code(agents.delegate(Manager::User(&alice), &root.agent.id, new.clone(), &ctx()).await.unwrap_err()), Code::DelegationNotAllowed);
    // More than the parent holds is refused too.
    new.permissions = vec![allow("billing:**", &["read"], json!({}))];
    assert_eq!(code(agents.delegate(Manager::User(&alice), &root.agent.id, new.clone(), &ctx()).await.unwrap_err()), Code::DelegationNotAllowed);
    // Tightened: allowed. The child asks for a longer life than the parent has: capped.
    new.expires_in = Some(10 * 86400);
    new.max_delegation_depth = Some(8);
    new.permissions =
        vec![allow("tool:search", &["tools/call"], json!({"requireApproval": true})), allow("docs:public:**", &["read"], json!({"rate": "5/1m"}))];
    let child = agents.delegate(Manager::User(&alice), &root.agent.id, new.clone(), &ctx()).await.unwrap();
    assert_eq!(child.agent.expires_at, root.agent.expires_at, "KavachOS did not cap a delegate's expiry by its parent's");
    assert_eq!((child.agent.depth, child.agent.max_depth), (1, 2), "the depth policy is the root owner's, not the caller's");
    // The child itself (with its key) delegates one more hop; a third is beyond the policy.
    let me = agents.authenticate(&child.key).await.unwrap().unwrap();
    new.permissions = vec![allow("docs:public:a", &["read"], json!({"rate": "1/1m"}))];
    let grandchild = agents.delegate(Manager::Agent(&me), &child.agent.id, new.clone(), &ctx()).await.unwrap();
    assert_eq!(grandchild.agent.depth, 2);
    assert_eq!(code(agents.delegate(Manager::User(&alice), &grandchild.agent.id, new.clone(), &ctx()).await.unwrap_err()), Code::DelegationTooDeep);
    // The delegate's calls: the inherited approval applies; the chain is in the decision.
    let d = agents.decide(&child.agent.id, &call("tools/call", "tool:search", &json!({})), &ctx()).await.unwrap();
    assert_eq!(d.decision, Verdict::Pending, "the parent's approval requirement holds for the delegate");
    let d = agents.decide(&grandchild.agent.id, &call("read", "docs:public:a", &json!({})), &ctx()).await.unwrap();
    assert_eq!((d.decision, d.delegation_chain.clone()), (Verdict::Allowed, vec![child.agent.id.clone(), root.agent.id.clone()]));
    // Attenuation at every check: withdrawing the parent's permission withdraws it below.
    let perms = agents.permissions(Manager::User(&alice), &root.agent.id).await.unwrap();
    let docs = perms.iter().find(|p| p.resource == "docs:**").unwrap();
    agents.withdraw(Manager::User(&alice), &root.agent.id, &docs.id, &ctx()).await.unwrap();
    assert_eq!(decide(&t.core, &grandchild.agent.id, "read", "docs:public:a", json!({})).await.1, Reason::DelegationExceeded);
});

dual!(chains_survive_revocation_revoking_or_suspending_a_parent_stops_every_delegate, agents_on(), |t| {
    let alice = user(&t, "alice@example.com").await;
    let root = agent_of(&t, &alice, vec![allow("tool:**", &["tools/call"], json!({}))]).await;
    let agents = t.core.agents();
    let sub = NewAgent { name: "sub".into(), permissions: vec![allow("tool:**", &["tools/call"], json!({}))], ..Default::default() };
    let child = agents.delegate(Manager::User(&alice), &root.agent.id, sub.clone(), &ctx()).await.unwrap();
    let grandchild = agents.delegate(Manager::User(&alice), &child.agent.id, sub.clone(), &ctx()).await.unwrap();
    let ok = |id: String| {
        let core = t.core.clone();
        async move { decide(&core, &id, "tools/call", "tool:x", json!({})).await.1 }
    };
    assert_eq!(ok(grandchild.agent.id.clone()).await, Reason::Allowed);
    // Suspending the parent stops the chain below at once; activating it resumes it.
    agents.set_status(Manager::User(&alice), &root.agent.id, Status::Suspended, &ctx()).await.unwrap();
    assert_eq!(ok(grandchild.agent.id.clone()).await, Reason::DelegatorInactive);
    assert!(agents.authenticate(&grandchild.key).await.unwrap().is_none(), "its key no longer authenticates");
    agents.set_status(Manager::User(&alice), &root.agent.id, Status::Active, &ctx()).await.unwrap();
    assert_eq!(ok(grandchild.agent.id.clone()).await, Reason::Allowed);
    // Revoking the middle revokes everything below it, for good.
    agents.set_status(Manager::User(&alice), &child.agent.id, Status::Revoked, &ctx()).await.unwrap();
    assert_eq!(agents.get(Manager::Server, &grandchild.agent.id).await.unwrap().status, Status::Revoked);
    assert_eq!(ok(grandchild.agent.id.clone()).await, Reason::AgentRevoked);
    assert_eq!(ok(root.agent.id.clone()).await, Reason::Allowed);
    assert_eq!(code(agents.set_status(Manager::User(&alice), &child.agent.id, Status::Active, &ctx()).await.unwrap_err()), Code::AgentRevoked);
    // Banning the owner stops every agent of theirs; unbanning brings them back.
    t.core.users().ban(&alice.id, Some("abuse"), None, &ctx()).await.unwrap();
    assert_eq!(ok(root.agent.id.clone()).await, Reason::OwnerBanned);
    t.core.users().unban(&alice.id, &ctx()).await.unwrap();
    assert_eq!(ok(root.agent.id.clone()).await, Reason::Allowed);
    // Deleting the owner deletes the agents.
    t.core.users().delete(&alice.id, &ctx()).await.unwrap();
    assert_eq!(code(agents.get(Manager::Server, &root.agent.id).await.unwrap_err()), Code::AgentNotFound);
});

dual!(unauthenticated_agent_routes_and_owner_from_the_body_managers_only_see_their_agents, agents_on(), |t| {
    let (alice, bob, carol, dave) =
        (user(&t, "alice@example.com").await, user(&t, "bob@example.com").await, user(&t, "carol@example.com").await, user(&t, "dave@example.com").await);
    let agents = t.core.agents();
    let mine = agent_of(&t, &alice, vec![]).await;
    // Another user sees nothing, whether the agent exists or not.
    assert_eq!(code(agents.get(Manager::User(&bob), &mine.agent.id).await.unwrap_err()), Code::AgentNotFound);
    assert_eq!(code(agents.get(Manager::User(&bob), "nope").await.unwrap_err()), Code::AgentNotFound);
    assert!(agents.list(Manager::User(&bob), None, None).await.unwrap().is_empty());
    // A signed-in caller cannot name another owner: the owner is the caller.
    let forged = NewAgent { name: "x".into(), owner_user_id: Some(bob.id.clone()), ..Default::default() };
    let made = agents.create(Manager::User(&alice), forged, &ctx()).await.unwrap();
    assert_eq!(made.agent.owner_user_id.as_deref(), Some(alice.id.as_str()));
    // An agent reads only itself and manages nothing.
    let me = agents.authenticate(&mine.key).await.unwrap().unwrap();
    assert!(agents.get(Manager::Agent(&me), &mine.agent.id).await.is_ok());
    assert_eq!(code(agents.get(Manager::Agent(&me), &made.agent.id).await.unwrap_err()), Code::AgentNotFound);
    assert!(agents.set_status(Manager::Agent(&me), &mine.agent.id, Status::Revoked, &ctx()).await.is_err());
    // In an organization, roles decide: an admin manages, a member does not create.
    let org = t.core.organizations().create(Actor::User(&carol), NewOrganization { name: "Acme".into(), ..Default::default() }, &ctx()).await.unwrap();
    for (u, role) in [(&bob, "admin"), (&dave, "member")] {
        let add = AddMember { organization_id: org.id.clone(), user_id: u.id.clone(), role: vec![role.into()], team_id: None };
        t.core.organizations().add_member(Actor::Server, add, &ctx()).await.unwrap();
    }
    let new = NewAgent { name: "acme-bot".into(), organization_id: Some(org.id.clone()), ..Default::default() };
    assert_eq!(code(agents.create(Manager::User(&dave), new.clone(), &ctx()).await.unwrap_err()), Code::AgentActionNotAllowed);
    assert_eq!(code(agents.create(Manager::User(&alice), new.clone(), &ctx()).await.unwrap_err()), Code::AgentActionNotAllowed, "not a member");
    let bot = agents.create(Manager::User(&carol), new, &ctx()).await.unwrap();
    agents.set_status(Manager::User(&bob), &bot.agent.id, Status::Suspended, &ctx()).await.unwrap();
    assert_eq!(code(agents.set_status(Manager::User(&dave), &bot.agent.id, Status::Active, &ctx()).await.unwrap_err()), Code::AgentNotFound);
    assert_eq!(agents.list(Manager::User(&bob), Some(&org.id), None).await.unwrap().len(), 1);
    assert_eq!(code(agents.list(Manager::User(&alice), Some(&org.id), None).await.unwrap_err()), Code::AgentActionNotAllowed);
    // Removing the organization removes its agents.
    t.core.organizations().delete(Actor::User(&carol), &org.id, &ctx()).await.unwrap();
    assert_eq!(code(agents.get(Manager::Server, &bot.agent.id).await.unwrap_err()), Code::AgentNotFound);
});

dual!(keys_are_stored_hashed_found_by_index_and_rotate_with_a_grace_period, agents_on(), |t| {
    let alice = user(&t, "alice@example.com").await;
    let a = agent_of(&t, &alice, vec![]).await;
    let agents = t.core.agents();
    assert!(a.key.starts_with("kv_") && a.key.len() == 46, "{}", a.key);
    let stored = scalar_text(&t.db, "SELECT token_hash FROM kavach_agent_key").await.unwrap();
    assert!(!stored.contains(&a.key[3..]), "the key is not stored");
    assert_eq!(agents.authenticate(&a.key).await.unwrap().unwrap().id, a.agent.id);
    assert!(agents.authenticate("kv_not-a-key").await.unwrap().is_none());
    // Rotation: the old key keeps working during the grace period (24 hours by default).
    let new = agents.new_key(Manager::User(&alice), &a.agent.id, true, &ctx()).await.unwrap();
    assert!(agents.authenticate(&a.key).await.unwrap().is_some());
    assert!(agents.authenticate(&new).await.unwrap().is_some());
    // Once the grace period is over, only the new key works.
    exec(&t.db, "UPDATE kavach_agent_key SET expires_at = created_at WHERE expires_at IS NOT NULL").await;
    // A change made behind Kavach's back (no notification) is seen once the cache's bound is over.
    tokio::time::sleep(kavach_core::plugins::agents::FRESH_FOR).await;
    assert!(agents.authenticate(&a.key).await.unwrap().is_none());
    assert!(agents.authenticate(&new).await.unwrap().is_some());
    let keys = agents.keys(Manager::User(&alice), &a.agent.id).await.unwrap();
    assert_eq!(keys.len(), 2);
    // An expired agent cannot authenticate, and reads as expired.
    exec(&t.db, &format!("UPDATE kavach_agent SET expires_at = created_at WHERE id = '{}'", a.agent.id)).await;
    tokio::time::sleep(kavach_core::plugins::agents::FRESH_FOR).await;
    assert!(agents.authenticate(&new).await.unwrap().is_none());
    assert_eq!(agents.get(Manager::Server, &a.agent.id).await.unwrap().status, Status::Expired);
    assert_eq!(decide(&t.core, &a.agent.id, "read", "x", json!({})).await.1, Reason::AgentExpired);
});

dual!(unreachable_trust_levels_and_an_unused_score_trust_gates_decisions, agents_on(), |t| {
    let alice = user(&t, "alice@example.com").await;
    let a = agent_of(&t, &alice, vec![allow("tool:**", &["tools/call"], json!({"minTrust": 45})), allow("admin:**", &["tools/call"], json!({"minTrust": 90}))])
        .await;
    let id = &a.agent.id;
    let trust = t.core.agents().trust(Manager::User(&alice), id).await.unwrap();
    assert_eq!((trust.score, trust.level), (50, "standard"), "{trust:?}");
    assert_eq!(decide(&t.core, id, "tools/call", "tool:x", json!({})).await.0, Verdict::Allowed);
    assert_eq!(decide(&t.core, id, "tools/call", "admin:x", json!({})).await.1, Reason::TrustTooLow, "KavachOS never used the score");
    // Many denials lower the score below the first permission's floor.
    for _ in 0..40 {
        decide(&t.core, id, "write", "nothing", json!({})).await;
    }
    let trust = t.core.agents().trust(Manager::User(&alice), id).await.unwrap();
    assert!(trust.score < 45, "{trust:?}");
    assert_eq!(decide(&t.core, id, "tools/call", "tool:x", json!({})).await.1, Reason::TrustTooLow);
});

dual!(bad_agent_input_is_a_clear_400_and_nothing_is_written, agents_on(), |t| {
    let alice = user(&t, "alice@example.com").await;
    let agents = t.core.agents();
    let bad = |perm: NewPermission| NewAgent { name: "x".into(), permissions: vec![perm], ..Default::default() };
    let cases = [
        (allow("mcp:fi*", &["read"], json!({})), Code::InvalidResourcePattern),
        (allow("mcp:**:x", &["read"], json!({})), Code::InvalidResourcePattern),
        (allow("mcp", &[], json!({})), Code::InvalidPermission),
        (allow("mcp", &["a b"], json!({})), Code::InvalidPermission),
        (allow("mcp", &["read"], json!({"timeWindow": {"start": "09:00", "end": "17:00", "timeZone": "Mars/Base"}})), Code::InvalidConstraints),
        (allow("mcp", &["read"], json!({"ipAllow": ["10.0.0.0/33"]})), Code::InvalidConstraints),
        (allow("mcp", &["read"], json!({"rate": "10/90d"})), Code::InvalidConstraints),
        (NewPermission { constraints: serde_json::from_value(json!({"requireApproval": true})).unwrap(), ..deny("mcp", &["read"]) }, Code::InvalidConstraints),
    ];
    for (perm, want) in cases {
        assert_eq!(code(agents.create(Manager::User(&alice), bad(perm.clone()), &ctx()).await.unwrap_err()), want, "{perm:?}");
    }
    let e = agents.create(Manager::User(&alice), NewAgent { name: " ".into(), ..Default::default() }, &ctx()).await.unwrap_err();
    assert_eq!(code(e), Code::InvalidName);
    assert!(agents.list(Manager::User(&alice), None, None).await.unwrap().is_empty(), "nothing half-written");
    let a = agent_of(&t, &alice, vec![]).await;
    let e = agents.decide(&a.agent.id, &call("read", "a:*", &json!({})), &ctx()).await.unwrap_err();
    assert_eq!(code(e), Code::InvalidPermission);
    let e = agents.decide(&a.agent.id, &call("*", "a", &json!({})), &ctx()).await.unwrap_err();
    assert_eq!(code(e), Code::InvalidAction);
    let e = agents.decide(&a.agent.id, &call("read", "a", &json!([1])), &ctx()).await.unwrap_err();
    assert_eq!(code(e), Code::ValidationError);
});

fn two_per_owner() -> kavach_core::Options {
    let mut o = agents_on();
    o.agents.max_per_owner = 2;
    o
}

dual!(the_per_owner_limit_holds_and_revoked_agents_do_not_count, two_per_owner(), |t| {
    let alice = user(&t, "alice@example.com").await;
    let first = agent_of(&t, &alice, vec![]).await;
    agent_of(&t, &alice, vec![]).await;
    let e = t.core.agents().create(Manager::User(&alice), NewAgent { name: "third".into(), ..Default::default() }, &ctx()).await.unwrap_err();
    assert_eq!(code(e), Code::TooManyAgents);
    t.core.agents().set_status(Manager::User(&alice), &first.agent.id, Status::Revoked, &ctx()).await.unwrap();
    agent_of(&t, &alice, vec![]).await;
});

dual!(max_actions_bypass_every_path_that_authorizes_uses_the_one_atomic_counter, agents_on(), |t| {
    use kavach_core::plugins::agents::TaskSession;
    let alice = user(&t, "alice@example.com").await;
    let a = agent_of(&t, &alice, vec![allow("tool:**", &["tools/call"], json!({}))]).await;
    let agents = t.core.agents();
    let s = agents.create_session(Manager::User(&alice), &a.agent.id, TaskSession { max_actions: Some(5), ..Default::default() }, &ctx()).await.unwrap();
    assert!(s.token.starts_with("kve_"));
    let (me, sid) = agents.authenticate_session(&s.token).await.unwrap().unwrap();
    assert_eq!((me.id.as_str(), sid.as_str()), (a.agent.id.as_str(), s.id.as_str()));
    // Refused calls use no action.
    let none = json!({});
    let with = |action: &'static str| {
        let (core, id, sid) = (t.core.clone(), a.agent.id.clone(), sid.clone());
        async move {
            let args = json!({});
            core.agents().decide(&id, &Call { action, resource: "tool:x", arguments: &args, ip: None, session: Some(&sid) }, &ctx()).await.unwrap().reason
        }
    };
    assert_eq!(with("write").await, Reason::NoMatchingPermission);
    // 20 concurrent calls: exactly 5 pass (KavachOS: a non-atomic counter, skipped by authorizeByToken).
    let mut tasks = Vec::new();
    for _ in 0..20 {
        tasks.push(tokio::spawn(with("tools/call")));
    }
    let mut allowed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Reason::Allowed => allowed += 1,
            r => assert_eq!(r, Reason::SessionExhausted),
        }
    }
    assert_eq!(allowed, 5);
    // Spent: its token no longer authenticates.
    assert!(agents.authenticate_session(&s.token).await.unwrap().is_none());
    // Expired: the same.
    let s2 = agents.create_session(Manager::User(&alice), &a.agent.id, TaskSession::default(), &ctx()).await.unwrap();
    assert!(agents.authenticate_session(&s2.token).await.unwrap().is_some());
    exec(&t.db, &format!("UPDATE kavach_agent_session SET expires_at = created_at WHERE id = '{}'", s2.id)).await;
    assert!(agents.authenticate_session(&s2.token).await.unwrap().is_none());
    let d = agents
        .decide(&a.agent.id, &Call { action: "tools/call", resource: "tool:x", arguments: &none, ip: None, session: Some(&s2.id) }, &ctx())
        .await
        .unwrap();
    assert_eq!(d.reason, Reason::SessionExhausted, "an expired session's calls are refused");
    // Bounds, and a session cannot outlive its agent.
    for bad in [
        TaskSession { ttl_seconds: Some(0), ..Default::default() },
        TaskSession { ttl_seconds: Some(3601), ..Default::default() },
        TaskSession { max_actions: Some(0), ..Default::default() },
    ] {
        assert_eq!(code(agents.create_session(Manager::User(&alice), &a.agent.id, bad, &ctx()).await.unwrap_err()), Code::ValidationError);
    }
});

fn with_resource() -> kavach_core::Options {
    let mut o = agents_on();
    o.oauth.resources =
        vec![kavach_core::plugins::oauth::ResourceDef { uri: "https://mcp.example.com/mcp".into(), name: None, scopes: vec!["mcp:tools".into()] }];
    o
}

// Landscape test 28: CIBA (poll mode) approvals bound to the hash of the exact
// authorization_details, an auth_req_id single use and expiring, slow_down for polling
// faster than the interval; the token carries exactly what was approved.
dual!(ciba_rar_approvals_are_bound_to_the_exact_authorization_details_single_use_and_expiring, with_resource(), |t| {
    use kavach_core::plugins::agents::ClientCredentials;
    use std::collections::HashMap;
    let alice = user(&t, "alice@example.com").await;
    let a = agent_of(&t, &alice, vec![]).await;
    t.core.agents().register_client(Manager::User(&alice), &a.agent.id, ClientCredentials::default(), &ctx()).await.unwrap();
    let client = t.core.clients().get(&a.agent.id).await.unwrap().unwrap();
    let form = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<HashMap<String, String>>();
    let x = r#"[{"type":"payment","amount":"250.00","currency":"EUR","creditor":"acct-9"}]"#;
    let y = r#"[{"type":"payment","amount":"99999.00","currency":"EUR","creditor":"acct-666"}]"#;
    let ask = |details: &'static str| {
        let (core, client) = (t.core.clone(), client.clone());
        async move {
            let f = form(&[
                ("authorization_details", details),
                ("resource", "https://mcp.example.com/mcp"),
                ("scope", "mcp:tools"),
                ("binding_message", "pay invoice 42"),
            ]);
            core.tokens().ciba_request(&client, &f).await.unwrap()
        }
    };
    let (rx, ry) = (ask(x).await, ask(y).await);
    assert_eq!(rx["interval"], 5);
    let (idx, idy) = (rx["auth_req_id"].as_str().unwrap().to_owned(), ry["auth_req_id"].as_str().unwrap().to_owned());
    assert_ne!(idx, idy);
    let poll = |id: String| {
        let (core, client) = (t.core.clone(), client.clone());
        async move {
            let f = form(&[("grant_type", "urn:openid:params:grant-type:ciba"), ("auth_req_id", &id)]);
            core.tokens().grant(&client, &f, None, &ctx()).await.map_err(|e| e.error.as_str().to_owned())
        }
    };
    let unthrottle = |id: String| {
        let core = t.core.clone();
        async move { core.limiter().reset(&format!("ciba-poll:{id}")).await.unwrap() }
    };
    assert_eq!(poll(idx.clone()).await.unwrap_err(), "authorization_pending");
    assert_eq!(poll(idx.clone()).await.unwrap_err(), "slow_down", "polled faster than the interval");
    // The owner approves X only; Y stays pending (approving X cannot authorise Y).
    t.core.agents().approve(Manager::User(&alice), &idx, Default::default(), &ctx()).await.unwrap();
    unthrottle(idx.clone()).await;
    let tok = poll(idx.clone()).await.unwrap();
    let details: serde_json::Value = serde_json::from_str(x).unwrap();
    assert_eq!(tok["authorization_details"], details);
    let claims = kavach_core::jwt::peek(tok["access_token"].as_str().unwrap()).unwrap().1;
    assert_eq!(claims.get("authorization_details"), Some(&details), "the token carries exactly what was approved");
    unthrottle(idx.clone()).await;
    assert_eq!(poll(idx.clone()).await.unwrap_err(), "invalid_grant", "auth_req_id is single use");
    unthrottle(idy.clone()).await;
    assert_eq!(poll(idy.clone()).await.unwrap_err(), "authorization_pending");
    // Expiry, and denial.
    exec(&t.db, &format!("UPDATE kavach_agent_approval SET expires_at = created_at WHERE id = '{idy}'")).await;
    unthrottle(idy.clone()).await;
    assert_eq!(poll(idy.clone()).await.unwrap_err(), "expired_token");
    let rz = ask(r#"[{"type":"account_information"}]"#).await;
    let idz = rz["auth_req_id"].as_str().unwrap().to_owned();
    t.core.agents().deny(Manager::User(&alice), &idz, &ctx()).await.unwrap();
    assert_eq!(poll(idz).await.unwrap_err(), "access_denied");
    // Another agent's auth_req_id is unknown to this one; malformed details are refused.
    let b = agent_of(&t, &alice, vec![]).await;
    t.core.agents().register_client(Manager::User(&alice), &b.agent.id, ClientCredentials::default(), &ctx()).await.unwrap();
    let other = t.core.clients().get(&b.agent.id).await.unwrap().unwrap();
    let f = form(&[("grant_type", "urn:openid:params:grant-type:ciba"), ("auth_req_id", &idx)]);
    assert_eq!(t.core.tokens().grant(&other, &f, None, &ctx()).await.unwrap_err().error.as_str(), "invalid_grant");
    let bad = form(&[("authorization_details", r#"{"type":"x"}"#), ("resource", "https://mcp.example.com/mcp")]);
    assert_eq!(t.core.tokens().ciba_request(&client, &bad).await.unwrap_err().error.as_str(), "invalid_request");
});

dual!(anomaly_signals_a_burst_a_new_network_and_a_new_resource_emit_events_and_lower_trust, agents_on(), |t| {
    let alice = user(&t, "alice@example.com").await;
    let a = agent_of(&t, &alice, vec![allow("tool:**", &["tools/call"], json!({}))]).await;
    let id = a.agent.id.clone();
    let at = |ip: &'static str, resource: &'static str| {
        let (core, id) = (t.core.clone(), id.clone());
        async move {
            let args = json!({});
            let call = Call { action: "tools/call", resource, arguments: &args, ip: Some(ip.parse().unwrap()), session: None };
            core.agents().decide(&id, &call, &ctx()).await.unwrap().reason
        }
    };
    // The burst below must fall in one minute with its history (the rate baseline is per minute).
    let into_minute = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 60;
    if into_minute > 50 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - into_minute)).await;
    }
    // A history: 60 calls from one network on one tool; then the stats are written.
    for _ in 0..60 {
        assert_eq!(at("10.1.1.5", "tool:search").await, Reason::Allowed);
    }
    t.core.flush_audit().await;
    let signals = |t: &kavach_testkit::T| {
        let db = t.db.clone();
        async move {
            kavach_core::db!(&db, |pool| {
                sqlx::query_scalar::<_, String>("SELECT data FROM kavach_audit_event WHERE kind = 'agent.anomaly' ORDER BY seq").fetch_all(pool).await.unwrap()
            })
        }
    };
    let before = t.core.agents().trust(Manager::User(&alice), &id).await.unwrap().score;
    // A new network, and a new resource.
    at("203.0.113.9", "tool:search").await;
    at("10.1.1.5", "tool:delete_all").await;
    // A burst: 150 calls in a minute from an agent whose average is far below.
    for _ in 0..150 {
        at("10.1.1.5", "tool:search").await;
    }
    t.core.flush_audit().await;
    let seen = signals(&t).await.join("\n");
    for s in ["\"signal\":\"new_network\"", "\"detail\":\"203.0.113.0/24\"", "\"signal\":\"new_resource\"", "\"signal\":\"rate\""] {
        assert!(seen.contains(s), "{s} missing from {seen}");
    }
    assert_eq!(seen.matches("\"signal\":\"rate\"").count(), 1, "at most once a minute");
    let trust = t.core.agents().trust(Manager::User(&alice), &id).await.unwrap();
    assert!(trust.factors.iter().any(|f| f.factor == "anomalies" && f.value == 2.0), "{trust:?}");
    assert!(trust.score < before, "{before} -> {trust:?}");
});

dual!(budget_warn_and_throttle_approval_windows_and_approval_below_a_trust_floor, agents_on(), |t| {
    let alice = user(&t, "alice@example.com").await;
    let agents = t.core.agents();
    // warn: over the limit the calls pass, and the breach is recorded once.
    let w = agent_of(&t, &alice, vec![allow("tool:**", &["tools/call"], json!({}))]).await;
    let b = Budget { agent_id: Some(w.agent.id.clone()), calls_per_day: Some(2), action: BudgetAction::Warn, ..Default::default() };
    agents.set_budget(Manager::User(&alice), b, &ctx()).await.unwrap();
    for _ in 0..5 {
        assert_eq!(decide(&t.core, &w.agent.id, "tools/call", "tool:x", json!({})).await.0, Verdict::Allowed);
    }
    assert_eq!(audit_kinds(&t.db).await.iter().filter(|k| *k == "agent.budget_exceeded").count(), 1);
    // throttle: beyond the limit, one call a minute.
    let th = agent_of(&t, &alice, vec![allow("tool:**", &["tools/call"], json!({}))]).await;
    let b = Budget { agent_id: Some(th.agent.id.clone()), calls_per_day: Some(1), action: BudgetAction::Throttle, ..Default::default() };
    agents.set_budget(Manager::User(&alice), b, &ctx()).await.unwrap();
    let reasons: Vec<Reason> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(decide(&t.core, &th.agent.id, "tools/call", "tool:x", json!({})).await.1);
        }
        v
    };
    assert_eq!(reasons, vec![Reason::Allowed, Reason::Allowed, Reason::BudgetThrottled, Reason::BudgetThrottled]);
    // An approval for a time window lets the identical call through while it lasts.
    let ap = agent_of(&t, &alice, vec![allow("tool:deploy", &["tools/call"], json!({"requireApproval": true}))]).await;
    let id = decide(&t.core, &ap.agent.id, "tools/call", "tool:deploy", json!({})).await.2.unwrap();
    agents.approve(Manager::User(&alice), &id, Grant { uses: None, valid_for: Some(3600) }, &ctx()).await.unwrap();
    for _ in 0..5 {
        assert_eq!(decide(&t.core, &ap.agent.id, "tools/call", "tool:deploy", json!({})).await.1, Reason::Approved);
    }
    exec(&t.db, &format!("UPDATE kavach_agent_approval SET valid_until = created_at WHERE id = '{id}'")).await;
    assert_eq!(decide(&t.core, &ap.agent.id, "tools/call", "tool:deploy", json!({})).await.0, Verdict::Pending, "the window ended");
    // Below a trust floor, calls need approval; above it they pass.
    let tr = agent_of(&t, &alice, vec![allow("tool:**", &["tools/call"], json!({"approvalBelowTrust": 45}))]).await;
    assert_eq!(decide(&t.core, &tr.agent.id, "tools/call", "tool:x", json!({})).await.0, Verdict::Allowed, "a new agent scores 50");
    for _ in 0..40 {
        decide(&t.core, &tr.agent.id, "write", "nothing", json!({})).await;
    }
    assert_eq!(decide(&t.core, &tr.agent.id, "tools/call", "tool:x", json!({})).await.0, Verdict::Pending, "trust fell below 45");
});
