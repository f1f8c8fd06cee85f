//! Agents over HTTP: every agents endpoint refuses callers without credentials, the
//! AuthZEN endpoints driven by an outside script written against the specification, the
//! IP allow-list on the real client IP, an approval answered by the owner letting the
//! identical call through, delegation by the agent itself, the CLI, and revocation
//! enforced across two instances on one PostgreSQL (measured).

use crate::harness::*;
use crate::{NO_VERIFY, dual};
use kavach_testkit::TestDb;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A configuration file with agents and organizations on; its path.
fn config() -> String {
    let path = temp_dir().join("kavach.toml");
    std::fs::write(&path, "[agents]\nenabled = true\n[organization]\nenabled = true\n").unwrap();
    path.to_str().unwrap().to_owned()
}

fn start(db: &str, cfg: &str) -> Server {
    Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", cfg), ("KAVACH_RATE_LIMIT", "off")])
}

/// Run a `kavach` CLI command; its exit code and stdout.
fn cli(db: &str, cfg: &str, args: &[&str]) -> (i32, String) {
    let out = command(&temp_dir(), &[("KAVACH_DATABASE_URL", db), ("KAVACH_SECRET", SECRET), ("KAVACH_CONFIG", cfg)]).args(args).output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(code != 2, "kavach {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (code, String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn ok(r: reqwest::Response) -> Value {
    let (status, body) = json(r).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A request with the agent's key.
async fn as_agent(s: &Server, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> reqwest::Response {
    let mut rq = client().request(method, s.url(path)).bearer_auth(key);
    if let Some(b) = body {
        rq = rq.json(&b);
    }
    rq.send().await.unwrap()
}

/// Create an agent for the signed-in `cookie` with `permissions`: (id, key).
async fn create_agent(s: &Server, cookie: &str, permissions: Value) -> (String, String) {
    let created = ok(post(s, "/agents", Some(cookie), json!({ "name": "researcher", "permissions": permissions })).await).await;
    (created["agent"]["id"].as_str().unwrap().to_owned(), created["key"].as_str().unwrap().to_owned())
}

/// Ask the AuthZEN endpoint about the agent itself, with its key: (decision, context).
async fn evaluate(s: &Server, key: &str, agent: &str, action: &str, resource: (&str, &str), args: Value) -> (bool, Value) {
    let body = json!({ "subject": { "type": "agent", "id": agent }, "action": { "name": action }, "resource": { "type": resource.0, "id": resource.1, "properties": args } });
    let v = ok(as_agent(s, reqwest::Method::POST, "/access/v1/evaluation", key, Some(body)).await).await;
    (v["decision"].as_bool().unwrap(), v["context"].clone())
}

dual!(authzen_an_outside_client_written_against_the_specification_drives_the_decision_endpoint, |db| {
    let cfg = config();
    // The metadata names the PDP by the base URL: make it the address the script uses.
    let port = free_port();
    let (listen, base) = (format!("127.0.0.1:{port}"), format!("http://127.0.0.1:{port}"));
    let s = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off"), ("KAVACH_LISTEN", &listen), ("KAVACH_BASE_URL", &base)]);
    let alice = sign_up(&s, "alice@example.com").await;
    let perms = json!([
        { "resource": "tool:search", "actions": ["tools/call"] },
        { "resource": "docs:**", "actions": ["read"] },
        { "effect": "deny", "resource": "docs:secret:**", "actions": ["read"] },
    ]);
    let (id, key) = create_agent(&s, &alice, perms).await;
    let work = npm_workspace("authzen", &["authzen-flow.mjs"]);
    let out = std::process::Command::new("node")
        .arg("authzen-flow.mjs")
        .env("PDP", s.url("").trim_end_matches('/'))
        .env("AGENT_KEY", &key)
        .env("AGENT_ID", &id)
        .current_dir(&work)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "AuthZEN checks failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.starts_with("PASS")).count(), 15, "{stdout}");
});

dual!(unauthenticated_agent_routes_every_agents_endpoint_refuses_callers_without_credentials, |db| {
    let cfg = config();
    let s = start(db, &cfg);
    let alice = sign_up(&s, "alice@example.com").await;
    let mallory = sign_up(&s, "mallory@example.com").await;
    let (id, key) = create_agent(&s, &alice, json!([{ "resource": "tool:**", "actions": ["tools/call"] }])).await;
    let pending = json!({ "subject": { "type": "agent", "id": id }, "action": { "name": "tools/call" }, "resource": { "type": "tool", "id": "x" } });
    let routes: Vec<(reqwest::Method, String, Value)> = vec![
        (reqwest::Method::POST, "/agents".into(), json!({ "name": "x" })),
        (reqwest::Method::GET, "/agents".into(), Value::Null),
        (reqwest::Method::GET, format!("/agents/{id}"), Value::Null),
        (reqwest::Method::PATCH, format!("/agents/{id}"), json!({ "name": "pwned" })),
        (reqwest::Method::DELETE, format!("/agents/{id}"), Value::Null),
        (reqwest::Method::POST, format!("/agents/{id}/suspend"), Value::Null),
        (reqwest::Method::POST, format!("/agents/{id}/activate"), Value::Null),
        (reqwest::Method::POST, format!("/agents/{id}/revoke"), Value::Null),
        (reqwest::Method::GET, format!("/agents/{id}/keys"), Value::Null),
        (reqwest::Method::POST, format!("/agents/{id}/keys"), json!({ "rotate": true })),
        (reqwest::Method::DELETE, format!("/agents/{id}/keys/k"), Value::Null),
        (reqwest::Method::GET, format!("/agents/{id}/permissions"), Value::Null),
        (reqwest::Method::POST, format!("/agents/{id}/permissions"), json!({ "permissions": [{ "resource": "**", "actions": ["*"] }] })),
        (reqwest::Method::DELETE, format!("/agents/{id}/permissions/p"), Value::Null),
        (reqwest::Method::POST, format!("/agents/{id}/delegate"), json!({ "name": "sub" })),
        (reqwest::Method::GET, format!("/agents/{id}/trust"), Value::Null),
        (reqwest::Method::POST, format!("/agents/{id}/cost"), json!({ "amount": 1 })),
        (reqwest::Method::GET, "/agent-approvals".into(), Value::Null),
        (reqwest::Method::GET, "/agent-approvals/apr_x".into(), Value::Null),
        (reqwest::Method::POST, "/agent-approvals/apr_x/approve".into(), json!({})),
        (reqwest::Method::POST, "/agent-approvals/apr_x/deny".into(), Value::Null),
        (reqwest::Method::POST, "/agent-budgets".into(), json!({ "agentId": id, "callsPerDay": 1 })),
        (reqwest::Method::GET, format!("/agent-budgets?agentId={id}"), Value::Null),
        (reqwest::Method::DELETE, "/agent-budgets/b".into(), Value::Null),
        (reqwest::Method::POST, "/access/v1/evaluation".into(), pending.clone()),
        (reqwest::Method::POST, "/access/v1/evaluations".into(), pending.clone()),
    ];
    let send = |m: reqwest::Method, path: String, body: Value, auth: Option<(&'static str, String)>| {
        let url = s.url(&path);
        let origin = s.origin();
        async move {
            let mut rq = client().request(m, url).header("origin", origin);
            if !body.is_null() {
                rq = rq.json(&body);
            }
            if let Some((h, v)) = auth {
                rq = rq.header(h, v);
            }
            rq.send().await.unwrap().status().as_u16()
        }
    };
    let mut refused = 0;
    for (m, path, body) in &routes {
        // No credentials; a made-up agent key; a made-up client.
        for auth in [None, Some(("authorization", "Bearer kv_forged".to_owned())), Some(("authorization", "Basic bm9wZTpub3Bl".to_owned()))] {
            let status = send(m.clone(), path.clone(), body.clone(), auth.clone()).await;
            assert_eq!(status, 401, "{m} {path} with {auth:?}");
            refused += 1;
        }
        // Another user: the agent is not theirs (404, or 403 for the decision endpoints).
        if path.contains(&id) || path.starts_with("/access") {
            let status = send(m.clone(), path.clone(), body.clone(), Some(("cookie", mallory.clone()))).await;
            assert!(matches!(status, 403 | 404), "{m} {path} as another user: {status}");
            refused += 1;
        }
    }
    // The agent's own key manages nothing (it reads itself, delegates, asks about itself).
    for (m, path, body) in
        [(reqwest::Method::POST, format!("/agents/{id}/suspend"), Value::Null), (reqwest::Method::POST, "/agents".into(), json!({ "name": "y" }))]
    {
        let status = send(m.clone(), path.clone(), body, Some(("authorization", format!("Bearer {key}")))).await;
        assert_eq!(status, 401, "{m} {path} with the agent's key");
        refused += 1;
    }
    assert_eq!(ok(get(&s, &format!("/agents/{id}"), Some(&alice)).await).await["status"], "active", "nothing changed");
    println!("{refused} refusals");
});

dual!(ip_allow_list_always_denying_through_http_the_real_client_ip_decides, |db| {
    let cfg = config();
    let s = start(db, &cfg);
    let alice = sign_up(&s, "alice@example.com").await;
    let perms = json!([
        { "resource": "tool:local", "actions": ["tools/call"], "constraints": { "ipAllow": ["127.0.0.0/8", "::1"] } },
        { "resource": "tool:office", "actions": ["tools/call"], "constraints": { "ipAllow": ["10.0.0.0/8"] } },
    ]);
    let (id, key) = create_agent(&s, &alice, perms).await;
    assert!(evaluate(&s, &key, &id, "tools/call", ("tool", "local"), json!({})).await.0, "KavachOS denied every call through HTTP");
    let (allowed, ctx) = evaluate(&s, &key, &id, "tools/call", ("tool", "office"), json!({})).await;
    assert_eq!((allowed, ctx["reason"].as_str()), (false, Some("IP_NOT_ALLOWED")));
    // A forged X-Forwarded-For from an untrusted peer changes nothing.
    let body = json!({ "subject": { "type": "agent", "id": id }, "action": { "name": "tools/call" }, "resource": { "type": "tool", "id": "office" } });
    let r = client().post(s.url("/access/v1/evaluation")).bearer_auth(&key).header("x-forwarded-for", "10.1.2.3").json(&body).send().await.unwrap();
    assert_eq!(ok(r).await["decision"], false);
});

dual!(an_approval_answered_by_the_owner_lets_the_identical_call_through_and_a_delegate_acts_with_its_own_key, |db| {
    let cfg = config();
    let s = start(db, &cfg);
    let alice = sign_up(&s, "alice@example.com").await;
    let perms = json!([
        { "resource": "tool:transfer", "actions": ["tools/call"], "constraints": { "requireApproval": true } },
        { "resource": "tool:search", "actions": ["tools/call"], "constraints": { "rate": "100/1m" } },
    ]);
    let (id, key) = create_agent(&s, &alice, perms).await;
    let args = json!({ "amount": 250, "to": "acct-9" });
    let (allowed, ctx) = evaluate(&s, &key, &id, "tools/call", ("tool", "transfer"), args.clone()).await;
    assert_eq!((allowed, ctx["outcome"].as_str(), ctx["reason"].as_str()), (false, Some("pending"), Some("APPROVAL_REQUIRED")));
    let approval = ctx["approval_id"].as_str().unwrap().to_owned();
    // The agent sees its request; it cannot answer it.
    let mine = ok(as_agent(&s, reqwest::Method::GET, &format!("/agent-approvals/{approval}"), &key, None).await).await;
    assert_eq!(mine["status"], "pending");
    let r = as_agent(&s, reqwest::Method::POST, &format!("/agent-approvals/{approval}/approve"), &key, Some(json!({}))).await;
    assert_eq!(r.status(), 401);
    let listed = ok(get(&s, "/agent-approvals", Some(&alice)).await).await;
    assert_eq!(listed[0]["id"], approval.as_str());
    ok(post(&s, &format!("/agent-approvals/{approval}/approve"), Some(&alice), json!({})).await).await;
    let (allowed, ctx) = evaluate(&s, &key, &id, "tools/call", ("tool", "transfer"), args.clone()).await;
    assert_eq!((allowed, ctx["reason"].as_str()), (true, Some("APPROVED")));
    assert!(!evaluate(&s, &key, &id, "tools/call", ("tool", "transfer"), args).await.0, "used once");
    // The agent delegates a narrower slice to a sub-agent with its own key.
    let sub = json!({ "name": "sub", "permissions": [{ "resource": "tool:search", "actions": ["tools/call"], "constraints": { "rate": "10/1m" } }] });
    let created = ok(as_agent(&s, reqwest::Method::POST, &format!("/agents/{id}/delegate"), &key, Some(sub)).await).await;
    let (sub_id, sub_key) = (created["agent"]["id"].as_str().unwrap().to_owned(), created["key"].as_str().unwrap().to_owned());
    let (allowed, ctx) = evaluate(&s, &sub_key, &sub_id, "tools/call", ("tool", "search"), json!({})).await;
    assert!(allowed, "{ctx}");
    assert_eq!(ctx["act"], json!([id]));
    let (allowed, ctx) = evaluate(&s, &sub_key, &sub_id, "tools/call", ("tool", "transfer"), json!({})).await;
    assert_eq!((allowed, ctx["reason"].as_str()), (false, Some("NO_MATCHING_PERMISSION")));
    // A looser slice is refused.
    let loose = json!({ "name": "loose", "permissions": [{ "resource": "tool:*", "actions": ["tools/call"] }] });
    assert_eq!(as_agent(&s, reqwest::Method::POST, &format!("/agents/{id}/delegate"), &key, Some(loose)).await.status(), 403);
});

dual!(the_agent_cli_creates_checks_and_approves, |db| {
    let cfg = config();
    let s = start(db, &cfg);
    sign_up(&s, "alice@example.com").await;
    let (code, out) = cli(db, &cfg, &["agent", "create", "--owner", "alice@example.com", "--name", "ops", "--allow", "tool:search=tools/call", "--json"]);
    assert_eq!(code, 0);
    let created: Value = serde_json::from_str(&out).unwrap();
    let id = created["agent"]["id"].as_str().unwrap().to_owned();
    let pf = temp_dir().join("perms.json");
    std::fs::write(&pf, r#"[{"resource": "tool:deploy", "actions": ["tools/call"], "constraints": {"requireApproval": true}}]"#).unwrap();
    assert_eq!(cli(db, &cfg, &["agent", "grant", &id, "--permissions-file", pf.to_str().unwrap()]).0, 0);
    assert_eq!(cli(db, &cfg, &["agent", "check", &id, "--action", "tools/call", "--resource", "tool:search"]).0, 0);
    assert_eq!(cli(db, &cfg, &["agent", "check", &id, "--action", "tools/call", "--resource", "tool:rm"]).0, 1);
    let (code, out) = cli(db, &cfg, &["agent", "check", &id, "--action", "tools/call", "--resource", "tool:deploy", "--json"]);
    assert_eq!(code, 3, "{out}");
    let approval = serde_json::from_str::<Value>(&out).unwrap()["approvalId"].as_str().unwrap().to_owned();
    assert!(cli(db, &cfg, &["agent", "approvals"]).1.contains(&approval));
    assert_eq!(cli(db, &cfg, &["agent", "approve", &approval]).0, 0);
    assert_eq!(cli(db, &cfg, &["agent", "check", &id, "--action", "tools/call", "--resource", "tool:deploy"]).0, 0);
    assert!(cli(db, &cfg, &["agent", "rotate-key", &id]).1.contains("kv_"));
    assert!(cli(db, &cfg, &["agent", "revoke", &id]).1.contains("revoked"));
    assert_eq!(cli(db, &cfg, &["agent", "check", &id, "--action", "tools/call", "--resource", "tool:search"]).0, 1);
    assert!(cli(db, &cfg, &["agent", "list", "--owner", "alice@example.com"]).1.contains("revoked"));
    assert_eq!(cli(db, &cfg, &["audit", "verify"]).0, 0, "the audit chain verifies");
});

/// Revoking a parent, suspending an agent, banning the owner and deleting the owning
/// organization on instance A: how long until instance B refuses the agent (and every
/// delegate below)? Measured 3 times each; every one under a second.
#[tokio::test]
async fn cascading_revocation_is_enforced_across_instances_within_a_second_postgres() {
    let Some(pg) = TestDb::postgres().await else { return };
    let db = pg.url.as_str();
    let cfg = config();
    let a = start(db, &cfg);
    let b = start(db, &cfg);
    let sub = json!({ "name": "sub", "permissions": [{ "resource": "tool:**", "actions": ["tools/call"] }] });
    let mut times: Vec<(String, Duration)> = Vec::new();
    // Poll B until it refuses the agent; the time from the change on A.
    let refused_after = |key: String, id: String, started: Instant| {
        let b = &b;
        async move {
            let body = json!({ "subject": { "type": "agent", "id": id }, "action": { "name": "tools/call" }, "resource": { "type": "tool", "id": "x" } });
            loop {
                // Refused: the key no longer authenticates (401), or the decision is no.
                let (status, v) = json(as_agent(b, reqwest::Method::POST, "/access/v1/evaluation", &key, Some(body.clone())).await).await;
                if status == 401 || v["decision"] == false {
                    return started.elapsed();
                }
                assert!(started.elapsed() < Duration::from_secs(1), "B still allows the agent after 1 s");
            }
        }
    };
    for round in 0..15 {
        let owner = sign_up(&a, &format!("owner{round}@example.com")).await;
        let tool = json!([{ "resource": "tool:**", "actions": ["tools/call"] }]);
        // Every fifth round, the root agent belongs to an organization of the owner.
        let org = if round % 5 == 4 {
            let o = ok(post(&a, "/organization/create", Some(&owner), json!({ "name": "Org", "slug": format!("org-{round}") })).await).await;
            Some(o["id"].as_str().unwrap().to_owned())
        } else {
            None
        };
        let (root, root_key) = match &org {
            Some(o) => {
                let body = json!({ "name": "researcher", "organizationId": o, "permissions": tool });
                let created = ok(post(&a, "/agents", Some(&owner), body).await).await;
                assert_eq!(created["agent"]["ownerOrganizationId"], o.as_str(), "{created}");
                (created["agent"]["id"].as_str().unwrap().to_owned(), created["key"].as_str().unwrap().to_owned())
            }
            None => create_agent(&a, &owner, tool).await,
        };
        let child = ok(as_agent(&a, reqwest::Method::POST, &format!("/agents/{root}/delegate"), &root_key, Some(sub.clone())).await).await;
        let (cid, ckey) = (child["agent"]["id"].as_str().unwrap().to_owned(), child["key"].as_str().unwrap().to_owned());
        let grand = ok(as_agent(&a, reqwest::Method::POST, &format!("/agents/{cid}/delegate"), &ckey, Some(sub.clone())).await).await;
        let (gid, gkey) = (grand["agent"]["id"].as_str().unwrap().to_owned(), grand["key"].as_str().unwrap().to_owned());
        assert!(evaluate(&b, &gkey, &gid, "tools/call", ("tool", "x"), json!({})).await.0);
        let (kind, started) = match round % 5 {
            0 => {
                let t = Instant::now();
                ok(post(&a, &format!("/agents/{root}/revoke"), Some(&owner), Value::Null).await).await;
                ("revoke the root", t)
            }
            1 => {
                let t = Instant::now();
                ok(post(&a, &format!("/agents/{cid}/suspend"), Some(&owner), Value::Null).await).await;
                ("suspend the middle", t)
            }
            2 => {
                let uid = ok(get(&a, "/get-session", Some(&owner)).await).await["user"]["id"].as_str().unwrap().to_owned();
                let t = Instant::now();
                let (code, _) = cli(db, &cfg, &["user", "ban", &uid]);
                assert_eq!(code, 0);
                ("ban the owner (CLI)", t)
            }
            3 => {
                let t = Instant::now();
                ok(post(&a, "/delete-user", Some(&owner), json!({ "password": PW })).await).await;
                ("delete the owner", t)
            }
            _ => {
                let t = Instant::now();
                ok(post(&a, "/organization/delete", Some(&owner), json!({ "organizationId": org })).await).await;
                ("remove the owning organization", t)
            }
        };
        // Everything below the change is refused on B, through a key or a decision.
        let took = refused_after(gkey.clone(), gid.clone(), started).await;
        times.push((kind.to_owned(), took));
        let r = as_agent(&b, reqwest::Method::GET, &format!("/agents/{gid}"), &gkey, None).await;
        assert_eq!(r.status(), 401, "{kind}: the delegate's key no longer authenticates on B");
    }
    let mut all: Vec<Duration> = times.iter().map(|(_, d)| *d).collect();
    all.sort();
    println!("cascade enforced on the other instance: min {:?}, median {:?}, max {:?}", all[0], all[all.len() / 2], all[all.len() - 1]);
    for (k, d) in &times {
        println!("  {k}: {d:?}");
    }
    pg.drop_db().await;
}

/// An agent's client secret: (id, secret) of its OAuth client.
async fn agent_client(s: &Server, cookie: &str, agent: &str) -> String {
    let (status, c) = json(post(s, &format!("/agents/{agent}/oauth-client"), Some(cookie), json!({})).await).await;
    assert_eq!(status, 200, "{c}");
    c["clientSecret"].as_str().unwrap().to_owned()
}

/// POST the token endpoint as `agent` (client_secret_basic); (status, body).
async fn token_as(s: &Server, agent: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Value) {
    use crate::oauth::FormOf;
    json(client().post(s.url("/oauth2/token")).basic_auth(agent, Some(secret)).form_of(form).send().await.unwrap()).await
}

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";

// Landscape tests 25-27 (research/agent-auth-landscape.md §4.E) with RFC 8693 token
// exchange: may_act enforced (Keycloak #50690: "the outcome does not depend on may_act"),
// attenuation at every hop with nested `act` for three parties and `act` in introspection,
// a subject token from one chain refused with an actor from another, and cascading
// revocation of every token issued from a revoked link.
dual!(rfc8693_token_exchange_may_act_attenuation_nested_act_and_cascading_revocation, |db| {
    use crate::oauth::{As, FormOf, RESOURCE};
    let a = As::start(db, RESOURCE, "[agents]\nenabled = true\n").await;
    let s = &a.s;
    let tool = json!([{ "resource": "tool:**", "actions": ["tools/call"] }]);
    let (root, _) = create_agent(s, &a.cookie, tool.clone()).await;
    let sub = json!({ "name": "sub", "permissions": tool });
    let child = ok(post(s, &format!("/agents/{root}/delegate"), Some(&a.cookie), sub.clone()).await).await["agent"]["id"].as_str().unwrap().to_owned();
    let grand = ok(post(s, &format!("/agents/{child}/delegate"), Some(&a.cookie), sub.clone()).await).await["agent"]["id"].as_str().unwrap().to_owned();
    let (other, _) = create_agent(s, &a.cookie, json!([])).await;
    let secret = |id: String| {
        let cookie = a.cookie.clone();
        async move { agent_client(s, &cookie, &id).await }
    };
    let (rs, cs, gs, os) = (secret(root.clone()).await, secret(child.clone()).await, secret(grand.clone()).await, secret(other.clone()).await);
    let cc = |id: String, sec: String, extra: Vec<(&'static str, String)>| async move {
        let mut form = vec![("grant_type", "client_credentials".to_owned()), ("resource", RESOURCE.to_owned()), ("scope", "mcp:tools".to_owned())];
        form.extend(extra);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        token_as(s, &id, &sec, &form).await
    };
    let exchange = |id: String, sec: String, subject: String, extra: Vec<(&'static str, String)>| async move {
        let mut form = vec![("grant_type", EXCHANGE.to_owned()), ("subject_token", subject), ("subject_token_type", AT.to_owned())];
        form.extend(extra);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        token_as(s, &id, &sec, &form).await
    };
    let at = |v: &Value| v["access_token"].as_str().unwrap_or_else(|| panic!("{v}")).to_owned();
    let (status, t_root) = cc(root.clone(), rs.clone(), vec![]).await;
    assert_eq!(status, 200, "{t_root}");
    let t_root = at(&t_root);
    // One hop: the delegate acts for the root; `act` names it.
    let (status, t_child) = exchange(child.clone(), cs.clone(), t_root.clone(), vec![]).await;
    assert_eq!(status, 200, "{t_child}");
    assert_eq!(t_child["issued_token_type"], AT);
    let t_child = at(&t_child);
    // Two hops: nested act for three parties.
    let (status, t_grand) = exchange(grand.clone(), gs.clone(), t_child.clone(), vec![]).await;
    assert_eq!(status, 200, "{t_grand}");
    let t_grand = at(&t_grand);
    let (rs_id, rs_secret) = a.operator_client().await;
    let env = a.cli_env.clone();
    let rid = rs_id.clone();
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert!(command(&temp_dir(), &env).args(["clients", "introspect", &rid, "--resource", RESOURCE]).status().unwrap().success());
    })
    .await
    .unwrap();
    let introspect = |t: String| {
        let (id, sec) = (rs_id.clone(), rs_secret.clone());
        async move { json(client().post(s.url("/oauth2/introspect")).basic_auth(&id, Some(&sec)).form_of(&[("token", t.as_str())]).send().await.unwrap()).await.1 }
    };
    let seen = introspect(t_grand.clone()).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["sub"], root.as_str(), "the subject stays the root");
    assert_eq!(seen["act"], json!({ "sub": grand, "act": { "sub": child } }), "nested act, most recent actor outermost");
    // A chain-crossing actor is refused: `other` holds no delegation from the root.
    let (status, e) = exchange(other.clone(), os.clone(), t_root.clone(), vec![]).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    // Re-exchanging a delegated token keeps the actor checks: the root cannot act for its own delegate's token,
    // and the child cannot act again on the token it already acts in.
    let (status, e) = exchange(root.clone(), rs.clone(), t_child.clone(), vec![]).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    let (status, _) = exchange(child.clone(), cs.clone(), t_grand.clone(), vec![]).await;
    assert_eq!(status, 400, "an ancestor cannot take back a descendant's token by exchange");
    // may_act (test 25): the root's token names the child alone; the grandchild, a delegate
    // of the root too, is refused; the child passes.
    let (status, t_may) = cc(root.clone(), rs.clone(), vec![("may_act", child.clone())]).await;
    assert_eq!(status, 200, "{t_may}");
    let t_may = at(&t_may);
    let (status, e) = exchange(grand.clone(), gs.clone(), t_may.clone(), vec![]).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "may_act not enforced: {e}");
    assert_eq!(exchange(child.clone(), cs.clone(), t_may.clone(), vec![]).await.0, 200);
    let (status, _) = cc(root.clone(), rs.clone(), vec![("may_act", other.clone())]).await;
    assert_eq!(status, 400, "may_act must name a delegate");
    // Attenuation (test 26): the scope only narrows; the audience cannot change.
    let (status, e) = exchange(child.clone(), cs.clone(), t_root.clone(), vec![("scope", "mcp:tools mcp:admin".into())]).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_scope")), "{e}");
    let (status, e) = exchange(child.clone(), cs.clone(), t_root.clone(), vec![("resource", "https://elsewhere.example/api".into())]).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_target")), "{e}");
    // A forged actor token is refused.
    let (status, _) = exchange(child.clone(), cs.clone(), t_root.clone(), vec![("actor_token", t_root.clone()), ("actor_token_type", AT.into())]).await;
    assert_eq!(status, 400, "the root's token is not the child's actor token");
    // CIBA over HTTP (test 28 in full: kavach-core's ciba test): the metadata names the
    // endpoint; a request gives an auth_req_id, polling it says pending, then slow down.
    let (_, md) = json(client().get(s.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
    assert_eq!(md["backchannel_token_delivery_modes_supported"], json!(["poll"]));
    let details = r#"[{"type":"payment","amount":"10.00","currency":"EUR"}]"#;
    let r = client()
        .post(md["backchannel_authentication_endpoint"].as_str().unwrap())
        .basic_auth(&root, Some(&rs))
        .form_of(&[("authorization_details", details), ("resource", RESOURCE), ("scope", "mcp:tools")])
        .send()
        .await
        .unwrap();
    let (status, started) = json(r).await;
    assert_eq!(status, 200, "{started}");
    let poll = [("grant_type", "urn:openid:params:grant-type:ciba".to_owned()), ("auth_req_id", started["auth_req_id"].as_str().unwrap().to_owned())];
    let poll: Vec<(&str, &str)> = poll.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(token_as(s, &root, &rs, &poll).await.1["error"], "authorization_pending");
    assert_eq!(token_as(s, &root, &rs, &poll).await.1["error"], "slow_down");
    // Cascading revocation (test 27): revoking the child kills every token issued from it
    // (its own exchange and the grandchild's), and refuses new exchanges below it.
    ok(post(s, &format!("/agents/{child}/revoke"), Some(&a.cookie), Value::Null).await).await;
    assert_eq!(introspect(t_child.clone()).await, json!({ "active": false }));
    assert_eq!(introspect(t_grand.clone()).await, json!({ "active": false }));
    assert_eq!(introspect(t_root.clone()).await["active"], true, "the root is unaffected");
    let (status, e) = exchange(grand.clone(), gs.clone(), t_root.clone(), vec![]).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")), "{e}");
});

dual!(max_actions_bypass_through_http_an_ephemeral_token_spends_its_actions_on_the_decision_endpoint, |db| {
    let cfg = config();
    let s = start(db, &cfg);
    let alice = sign_up(&s, "alice@example.com").await;
    let (id, key) = create_agent(&s, &alice, json!([{ "resource": "tool:**", "actions": ["tools/call"] }])).await;
    // The agent opens a session for one task with its own key.
    let created = ok(as_agent(
        &s,
        reqwest::Method::POST,
        &format!("/agents/{id}/sessions"),
        &key,
        Some(json!({ "task": "summarise", "maxActions": 2, "ttlSeconds": 60 })),
    )
    .await)
    .await;
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("kve_"));
    // A session cannot open another.
    let r = as_agent(&s, reqwest::Method::POST, &format!("/agents/{id}/sessions"), &token, Some(json!({}))).await;
    assert_eq!(r.status(), 403);
    assert!(evaluate(&s, &token, &id, "tools/call", ("tool", "a"), json!({})).await.0);
    assert!(evaluate(&s, &token, &id, "tools/call", ("tool", "b"), json!({})).await.0);
    // Spent: the token no longer authenticates anywhere.
    let body = json!({ "subject": { "type": "agent", "id": id }, "action": { "name": "tools/call" }, "resource": { "type": "tool", "id": "c" } });
    assert_eq!(as_agent(&s, reqwest::Method::POST, "/access/v1/evaluation", &token, Some(body)).await.status(), 401);
    assert!(evaluate(&s, &key, &id, "tools/call", ("tool", "c"), json!({})).await.0, "the agent's own key is not the session");
});

// The audit trail of agents over HTTP: an auditor role reads and exports without
// managing anything, the reads are themselves audited, a plain user is refused, the CSV
// export streams every record (no cap), and a signed checkpoint verifies with the CLI.
dual!(an_auditor_reads_and_exports_the_trail_and_the_reads_are_audited, |db| {
    let path = temp_dir().join("kavach.toml");
    let conf = "[agents]\nenabled = true\n[admin]\nenabled = true\n[admin.roles.auditor]\naudit = [\"read\", \"export\"]\n";
    std::fs::write(&path, conf).unwrap();
    let cfg = path.to_str().unwrap().to_owned();
    let s = start(db, &cfg);
    let alice = sign_up(&s, "alice@example.com").await;
    let auditor = sign_up(&s, "auditor@example.com").await;
    assert_eq!(cli(db, &cfg, &["user", "set-role", "auditor@example.com", "auditor"]).0, 0);
    let (id, key) = create_agent(&s, &alice, json!([{ "resource": "tool:**", "actions": ["tools/call"] }])).await;
    for i in 0..30 {
        evaluate(&s, &key, &id, "tools/call", ("tool", if i % 2 == 0 { "a" } else { "b" }), json!({})).await;
    }
    // A plain user is refused; the auditor manages nothing.
    assert_eq!(get(&s, "/audit/events", Some(&alice)).await.status(), 403);
    assert_eq!(post(&s, &format!("/agents/{id}/suspend"), Some(&auditor), Value::Null).await.status(), 404);
    // Pages of 7 agent decisions: 30 in all, each once, with the agent and the act chain.
    let mut after: Option<i64> = None;
    let mut seen = 0;
    loop {
        let cursor = after.map(|a| format!("&after={a}")).unwrap_or_default();
        let page = ok(get(&s, &format!("/audit/events?kind=agent.decision&agentId={id}&limit=7{cursor}"), Some(&auditor)).await).await;
        for e in page["events"].as_array().unwrap() {
            assert_eq!(e["data"]["agentId"], id.as_str());
            assert_eq!(e["data"]["act"], json!([]));
            seen += 1;
        }
        match page["nextCursor"].as_i64() {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, 30);
    // The export streams everything as CSV.
    let r = get(&s, "/audit/export?format=csv&kind=agent.*", Some(&auditor)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("seq,id,createdAt,kind,"));
    assert_eq!(csv.matches("agent.decision").count(), 30);
    // Reading and exporting were recorded, by whom.
    let reads = ok(get(&s, "/audit/events?kind=audit.*&limit=1000", Some(&auditor)).await).await;
    let kinds: Vec<&str> = reads["events"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"audit.read") && kinds.contains(&"audit.exported"), "{kinds:?}");
    // A checkpoint from the API verifies with the CLI.
    let cp = ok(get(&s, "/audit/checkpoint", Some(&auditor)).await).await["checkpoint"].as_str().unwrap().to_owned();
    let f = temp_dir().join("checkpoint.jws");
    std::fs::write(&f, &cp).unwrap();
    let (code, out) = cli(db, &cfg, &["audit", "verify", "--checkpoint", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("checkpoint holds"), "{out}");
    let (code, out) = cli(db, &cfg, &["audit", "export", "--format", "jsonl", "--agent", &id]);
    assert_eq!(code, 0);
    assert!(out.lines().count() >= 31, "every decision and the creation: {}", out.lines().count());
});

// An agent that asks for a DPoP-bound token (RFC 9449) gets one bound to its key: the
// token names the agent and carries `cnf.jkt`; the resource-server verifier accepts it
// only with a fresh proof from that key, never as a plain Bearer token. Without a proof
// the agent gets a Bearer token: binding is the agent's choice.
dual!(an_agent_asks_for_a_dpop_bound_token_and_only_its_key_can_use_it, |db| {
    use crate::oauth::{FormOf, claims, dpop_proof, jkt_of, send_with_proof, with_resource_server};
    use aws_lc_rs::signature::Ed25519KeyPair;
    let (a, resource) = with_resource_server(db, "[agents]\nenabled = true\n").await;
    let (agent, _) = create_agent(&a.s, &a.cookie, json!([{ "resource": "tool:**", "actions": ["tools/call"] }])).await;
    let secret = agent_client(&a.s, &a.cookie, &agent).await;
    let (key, other) = (Ed25519KeyPair::generate().unwrap(), Ed25519KeyPair::generate().unwrap());
    let token_url = format!("{}/oauth2/token", a.issuer());
    let form = [("grant_type", "client_credentials"), ("resource", resource.as_str()), ("scope", "mcp:tools")];
    let grant = |proof: Option<String>| {
        let (s, agent, secret) = (&a.s, &agent, &secret);
        async move { send_with_proof(client().post(s.url("/oauth2/token")).basic_auth(agent, Some(secret)).form_of(&form), proof).await }
    };
    let (status, plain, _) = grant(None).await;
    assert_eq!((status, plain["token_type"].as_str()), (200, Some("Bearer")), "{plain}");
    assert!(claims(plain["access_token"].as_str().unwrap()).1.get("cnf").is_none());
    // The server's nonce first (RFC 9449 §8), then the bound token.
    let (status, e, nonce) = grant(Some(dpop_proof(&key, "POST", &token_url, None, None))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("use_dpop_nonce")), "{e}");
    let n = nonce.expect("a DPoP-Nonce header");
    let (status, t, _) = grant(Some(dpop_proof(&key, "POST", &token_url, None, Some(&n)))).await;
    assert_eq!((status, t["token_type"].as_str()), (200, Some("DPoP")), "{t}");
    let at = t["access_token"].as_str().unwrap().to_owned();
    let c = claims(&at).1;
    assert_eq!(c["cnf"]["jkt"], jkt_of(&key).as_str(), "bound to the agent's key");
    assert_eq!(c["agent"]["id"], agent.as_str(), "the token names the agent: {c}");
    assert_eq!(c["client_id"], agent.as_str());
    // At the resource server.
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });
    let r = client().post(&resource).bearer_auth(&at).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401, "a DPoP-bound agent token used as Bearer");
    let p = dpop_proof(&other, "POST", &resource, Some(&at), None);
    let r = client().post(&resource).header("authorization", format!("DPoP {at}")).header("dpop", p).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401, "a proof from another key");
    let p = dpop_proof(&key, "POST", &resource, Some(&at), None);
    let r = client().post(&resource).header("authorization", format!("DPoP {at}")).header("dpop", &p).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "the agent's own key");
    let r = client().post(&resource).header("authorization", format!("DPoP {at}")).header("dpop", &p).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401, "a replayed proof");
});
