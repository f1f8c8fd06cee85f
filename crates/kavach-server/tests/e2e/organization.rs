//! Organizations over HTTP: better-auth's organization and admin clients, tenant
//! isolation on every organization endpoint, invitations by real SMTP with the hosted
//! page, and role changes and bans across two instances.

use crate::harness::*;
use crate::smtp::Smtp;
use crate::{NO_VERIFY, dual};
use kavach_testkit::TestDb;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ON: &str = "[organization]\nenabled = true\ndynamic_roles = true\n[admin]\nenabled = true\n";

/// A configuration file with both capabilities on; its path.
fn config(extra: &str) -> String {
    let dir = temp_dir();
    let path = dir.join("kavach.toml");
    std::fs::write(&path, format!("{ON}{extra}")).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Run a `kavach` CLI command against the server's database; its stdout.
fn cli(db: &str, cfg: &str, args: &[&str]) -> String {
    let out = command(&temp_dir(), &[("KAVACH_DATABASE_URL", db), ("KAVACH_SECRET", SECRET), ("KAVACH_CONFIG", cfg)]).args(args).output().unwrap();
    assert!(out.status.success(), "kavach {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn ok(r: reqwest::Response) -> Value {
    let (status, body) = json(r).await;
    assert_eq!(status, 200, "{body}");
    body
}

dual!(better_auth_organization_and_admin_clients_work_against_kavach, |db| {
    let cfg = config("");
    let s = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    cli(db, &cfg, &["user", "create", "--email", "root@example.com", "--password", PW, "--verified"]);
    assert!(cli(db, &cfg, &["user", "set-role", "root@example.com", "admin"]).contains("admin"));
    better_auth_client(&s, "org-admin.mjs", &[("ADMIN_EMAIL", "root@example.com"), ("ADMIN_PASSWORD", PW)]);
});

dual!(tenant_isolation_every_organization_endpoint_refuses_other_tenants, |db| {
    let cfg = config("");
    let s = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    let (alice, bob, carol, nobody, mallory) = (
        sign_up(&s, "alice@example.com").await,
        sign_up(&s, "bob@example.com").await,
        sign_up(&s, "carol@example.com").await,
        sign_up(&s, "nobody@example.com").await,
        sign_up(&s, "mallory@example.com").await,
    );
    let a = ok(post(&s, "/organization/create", Some(&alice), json!({ "name": "Alpha", "slug": "alpha" })).await).await;
    let b = ok(post(&s, "/organization/create", Some(&mallory), json!({ "name": "Beta Secret", "slug": "beta-secret" })).await).await;
    cli(db, &cfg, &["org", "add-member", "alpha", "--user", "bob@example.com", "--role", "admin"]);
    cli(db, &cfg, &["org", "add-member", "alpha", "--user", "carol@example.com", "--role", "member"]);
    let bid = b["id"].as_str().unwrap();
    let team = ok(post(&s, "/organization/create-team", Some(&mallory), json!({ "name": "Beta Team", "organizationId": bid })).await).await;
    let tid = team["id"].as_str().unwrap();
    let inv =
        ok(post(&s, "/organization/invite-member", Some(&mallory), json!({ "email": "beta-guest@example.com", "role": "member", "organizationId": bid }))
            .await)
        .await;
    let iid = inv["id"].as_str().unwrap();
    ok(post(&s, "/organization/create-role", Some(&mallory), json!({ "role": "beta-role", "permission": { "member": ["update"] }, "organizationId": bid }))
        .await)
    .await;
    let mallory_id = ok(get(&s, "/get-session", Some(&mallory)).await).await["user"]["id"].as_str().unwrap().to_owned();
    let posts: Vec<(&str, Value)> = vec![
        ("/organization/update", json!({ "organizationId": bid, "data": { "name": "Pwned" } })),
        ("/organization/delete", json!({ "organizationId": bid })),
        ("/organization/set-active", json!({ "organizationId": bid })),
        ("/organization/set-active", json!({ "organizationSlug": "beta-secret" })),
        ("/organization/leave", json!({ "organizationId": bid })),
        ("/organization/invite-member", json!({ "email": "x@example.com", "role": "member", "organizationId": bid })),
        ("/organization/cancel-invitation", json!({ "invitationId": iid })),
        ("/organization/accept-invitation", json!({ "invitationId": iid })),
        ("/organization/reject-invitation", json!({ "invitationId": iid })),
        ("/organization/remove-member", json!({ "memberIdOrEmail": "mallory@example.com", "organizationId": bid })),
        ("/organization/update-member-role", json!({ "memberId": mallory_id, "role": "member", "organizationId": bid })),
        ("/organization/has-permission", json!({ "permissions": { "member": ["create"] }, "organizationId": bid })),
        ("/organization/create-team", json!({ "name": "t", "organizationId": bid })),
        ("/organization/update-team", json!({ "teamId": tid, "data": { "name": "x" } })),
        ("/organization/remove-team", json!({ "teamId": tid, "organizationId": bid })),
        ("/organization/set-active-team", json!({ "teamId": tid })),
        ("/organization/add-team-member", json!({ "teamId": tid, "userId": mallory_id, "organizationId": bid })),
        ("/organization/remove-team-member", json!({ "teamId": tid, "userId": mallory_id, "organizationId": bid })),
        ("/organization/create-role", json!({ "role": "x", "permission": { "ac": ["read"] }, "organizationId": bid })),
        ("/organization/update-role", json!({ "roleName": "beta-role", "data": { "permission": { "ac": ["read"] } }, "organizationId": bid })),
        ("/organization/delete-role", json!({ "roleName": "beta-role", "organizationId": bid })),
    ];
    let gets = [
        format!("/organization/get-organization?organizationId={bid}"),
        "/organization/get-organization?organizationSlug=beta-secret".to_owned(),
        format!("/organization/get-full-organization?organizationId={bid}"),
        format!("/organization/list-members?organizationId={bid}"),
        format!("/organization/list-invitations?organizationId={bid}"),
        format!("/organization/get-invitation?id={iid}"),
        format!("/organization/get-active-member-role?organizationId={bid}&userId={mallory_id}"),
        format!("/organization/list-teams?organizationId={bid}"),
        format!("/organization/list-team-members?teamId={tid}"),
        format!("/organization/list-roles?organizationId={bid}"),
        format!("/organization/get-role?organizationId={bid}&roleName=beta-role"),
    ];
    let mut checked = 0;
    for (who, cookie) in [("member of A", &carol), ("admin of A", &bob), ("no membership", &nobody)] {
        for (path, body) in &posts {
            let r = post(&s, path, Some(cookie), body.clone()).await;
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            assert!([400, 403, 404].contains(&status), "{who}: POST {path} answered {status}: {text}");
            assert!(!text.contains("Beta") && !text.contains("mallory") && !text.contains("beta-guest"), "{who}: POST {path} leaks: {text}");
            checked += 1;
        }
        for path in &gets {
            let r = get(&s, path, Some(cookie)).await;
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            assert!([400, 403, 404].contains(&status), "{who}: GET {path} answered {status}: {text}");
            assert!(!text.contains("Beta") && !text.contains("mallory") && !text.contains("beta-guest"), "{who}: GET {path} leaks: {text}");
            checked += 1;
        }
    }
    // B is untouched, and A's own admin still works in A.
    let full = ok(get(&s, &format!("/organization/get-full-organization?organizationId={bid}"), Some(&mallory)).await).await;
    assert_eq!(
        (full["name"].as_str(), full["members"].as_array().map(Vec::len), full["invitations"].as_array().map(Vec::len)),
        (Some("Beta Secret"), Some(1), Some(1))
    );
    assert_eq!(full["teams"].as_array().map(Vec::len), Some(1));
    let aid = a["id"].as_str().unwrap();
    ok(post(&s, "/organization/has-permission", Some(&bob), json!({ "permissions": { "member": ["create"] }, "organizationId": aid })).await).await;
    println!("{checked} cross-tenant requests refused without revealing the other organization");
});

dual!(admin_routes_refuse_non_admins, |db| {
    let cfg = config("");
    let s = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    let plain = sign_up(&s, "plain@example.com").await;
    sign_up(&s, "victim@example.com").await;
    let victim = cli(db, &cfg, &["user", "show", "victim@example.com", "--json"]);
    let vid = serde_json::from_str::<Value>(&victim).unwrap()["id"].as_str().unwrap().to_owned();
    let u = json!({ "userId": vid });
    let posts = [
        ("/admin/create-user", json!({ "email": "new@example.com", "password": PW, "name": "n" })),
        ("/admin/update-user", json!({ "userId": vid, "data": { "name": "x" } })),
        ("/admin/remove-user", u.clone()),
        ("/admin/set-role", json!({ "userId": vid, "role": "admin" })),
        ("/admin/set-user-password", json!({ "userId": vid, "newPassword": "another long passphrase" })),
        ("/admin/ban-user", u.clone()),
        ("/admin/unban-user", u.clone()),
        ("/admin/list-user-sessions", u.clone()),
        ("/admin/revoke-user-session", json!({ "sessionToken": "x" })),
        ("/admin/revoke-user-sessions", u.clone()),
        ("/admin/impersonate-user", u.clone()),
    ];
    for (path, body) in posts {
        let (status, body) = json(post(&s, path, Some(&plain), body).await).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("YOU_ARE_NOT_ALLOWED_TO_PERFORM_THIS_ADMIN_ACTION")), "{path}");
    }
    for path in ["/admin/list-users", &format!("/admin/get-user?id={vid}")] {
        assert_eq!(get(&s, path, Some(&plain)).await.status(), 403, "{path}");
        assert_eq!(get(&s, path, None).await.status(), 401, "{path} without a session");
    }
    let r = ok(post(&s, "/admin/has-permission", Some(&plain), json!({ "permissions": { "user": ["list"] } })).await).await;
    assert_eq!(r, json!({ "success": false, "error": null }));
    assert_eq!(json(post(&s, "/admin/stop-impersonating", Some(&plain), json!({})).await).await.1["code"], "YOU_ARE_NOT_IMPERSONATING");
    // The victim is unchanged.
    assert!(!cli(db, &cfg, &["user", "show", "victim@example.com"]).contains("banned"));
});

dual!(invitation_by_real_smtp_through_the_hosted_page, |db| {
    let smtp = Smtp::start();
    let cfg = config("");
    let s = Server::start(db, &[("KAVACH_CONFIG", &cfg), ("KAVACH_SMTP_URL", &smtp.url()), ("KAVACH_RATE_LIMIT", "off")]);
    for e in ["owner@example.com", "guest@example.com"] {
        cli(db, &cfg, &["user", "create", "--email", e, "--password", PW, "--verified"]);
    }
    let owner = session_cookie(&sign_in(&s, "owner@example.com", PW).await).unwrap();
    let org = ok(post(&s, "/organization/create", Some(&owner), json!({ "name": "Gamma" })).await).await;
    ok(post(&s, "/organization/invite-member", Some(&owner), json!({ "email": "guest@example.com", "role": "admin" })).await).await;
    let mail = smtp.wait_for("guest@example.com", "invited you to Gamma").await;
    let link = mail.split_whitespace().find(|w| w.contains("/organization/invitation/")).unwrap().to_owned();
    // Not signed in: the page offers a sign-in form.
    let page = client().get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Gamma") && html.contains("name=\"password\""), "{html}");
    // Sign in through the page, then accept.
    let form = format!("action=sign-in&email=guest%40example.com&password={}", PW.replace(' ', "+"));
    let form_post = |body: String| client().post(&link).header("origin", s.origin()).header("content-type", "application/x-www-form-urlencoded").body(body);
    let r = form_post(form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let guest = session_cookie(&r).expect("signed in by the page");
    let html = r.text().await.unwrap();
    assert!(html.contains("value=\"accept\""), "{html}");
    let r = form_post("action=accept".into()).header("cookie", &guest).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("member of Gamma"));
    // Single use: the link now says so.
    assert_eq!(client().get(&link).send().await.unwrap().status(), 400);
    let role = ok(get(&s, &format!("/organization/get-active-member-role?organizationId={}", org["id"].as_str().unwrap()), Some(&guest)).await).await;
    assert_eq!(role["role"], "admin");
});

/// Role changes and bans made on one instance hold on the next request to the other
/// (two instances on one PostgreSQL): measured and printed.
#[tokio::test]
async fn role_changes_and_bans_take_effect_on_the_next_request_across_instances_postgres() {
    let Some(pg) = TestDb::postgres().await else { return };
    let db = pg.url.as_str();
    let cfg = config("");
    let a = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    let b = Server::start(db, &[NO_VERIFY, ("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    cli(db, &cfg, &["user", "create", "--email", "root@example.com", "--password", PW, "--verified"]);
    cli(db, &cfg, &["user", "set-role", "root@example.com", "admin"]);
    let root = session_cookie(&sign_in(&a, "root@example.com", PW).await).unwrap();
    let owner = sign_up(&a, "owner@example.com").await;
    let worker = sign_up(&b, "worker@example.com").await;
    let org = ok(post(&a, "/organization/create", Some(&owner), json!({ "name": "Delta" })).await).await;
    let oid = org["id"].as_str().unwrap().to_owned();
    cli(db, &cfg, &["org", "add-member", &oid, "--user", "worker@example.com", "--role", "admin"]);
    let can_invite = || async {
        let r = post(&b, "/organization/has-permission", Some(&worker), json!({ "permissions": { "invitation": ["create"] }, "organizationId": oid })).await;
        ok(r).await["success"].as_bool().unwrap()
    };
    assert!(can_invite().await);
    // Demote on A; ask B.
    let wid = ok(get(&b, "/get-session", Some(&worker)).await).await["user"]["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    ok(post(&a, "/organization/update-member-role", Some(&owner), json!({ "memberId": wid, "role": "member", "organizationId": oid })).await).await;
    let mut tries = 0;
    while can_invite().await {
        tries += 1;
        assert!(started.elapsed() < Duration::from_secs(1), "role change not seen on the other instance after {tries} requests");
    }
    println!("role change on A seen by B after {tries} extra requests, {:?}", started.elapsed());
    assert_eq!(tries, 0, "a role change holds on the very next request");
    // Ban on A; B refuses the session on the next request.
    assert!(!ok(get(&b, "/get-session", Some(&worker)).await).await.is_null());
    let started = Instant::now();
    ok(post(&a, "/admin/ban-user", Some(&root), json!({ "userId": wid, "banReason": "test" })).await).await;
    let (status, body) = json(get(&b, "/get-session", Some(&worker)).await).await;
    println!("ban on A enforced by B on the next request, {:?}", started.elapsed());
    assert_eq!((status, body), (200, Value::Null));
    pg.drop_db().await;
}
