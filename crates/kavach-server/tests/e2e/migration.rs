//! Migration from better-auth and Clerk, against the real better-auth (npm,
//! pinned in tests/js/better-auth-peer) on PostgreSQL and SQLite.

use super::harness::*;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BA_SECRET: &str = "better-auth-old-secret-0123456789-abcdefgh";

/// A running better-auth server.
struct Peer {
    child: Child,
    base: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    fn start(env: &[(&str, &str)]) -> Peer {
        let work = npm_workspace("better-auth-peer", &["peer.mjs"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
        let mut c = Command::new("node");
        c.arg("peer.mjs").current_dir(&work).env("PORT", &port).env("BETTER_AUTH_SECRET", BA_SECRET).stdout(Stdio::piped()).stderr(Stdio::inherit());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("node");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(u) = line.strip_prefix("listening ") {
                    let _ = tx.send(u.to_owned());
                }
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(60)).expect("better-auth peer did not start");
        Peer { child, base }
    }

    async fn sign_up(&self, email: &str, password: &str) {
        let r = client()
            .post(format!("{}/sign-up/email", self.base))
            .header("origin", self.base.trim_end_matches("/api/auth"))
            .json(&json!({ "email": email, "password": password, "name": email.split('@').next().unwrap() }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "better-auth sign-up: {}", r.text().await.unwrap());
    }

    /// Sign in and return better-auth's session cookie (`name=value`).
    async fn sign_in(&self, email: &str, password: &str) -> String {
        let r = client()
            .post(format!("{}/sign-in/email", self.base))
            .header("origin", self.base.trim_end_matches("/api/auth"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .find(|c| c.starts_with("better-auth.session_token="))
            .expect("better-auth session cookie")
    }

    /// POST JSON as the signed-in browser would (better-auth's Origin check).
    async fn post(&self, path: &str, cookie: &str, body: Value) -> reqwest::Response {
        let origin = self.base.trim_end_matches("/api/auth");
        client().post(format!("{}{path}", self.base)).header("origin", origin).header("cookie", cookie).json(&body).send().await.unwrap()
    }

    async fn create_org(&self, cookie: &str) {
        let r = self.post("/organization/create", cookie, json!({ "name": "Acme", "slug": "acme" })).await;
        assert_eq!(r.status(), 200, "organization create: {}", r.text().await.unwrap());
        let r = self.post("/organization/invite-member", cookie, json!({ "email": "dave@example.com", "role": "admin" })).await;
        assert_eq!(r.status(), 200, "invite: {}", r.text().await.unwrap());
    }
}

async fn pg_db() -> Option<TestDb> {
    TestDb::postgres().await
}

async fn exec_pg(url: &str, sql: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&pool).await.unwrap_or_else(|e| panic!("{e}\n{sql}"));
    pool.close().await;
}

async fn password_of(db: &str, email: &str) -> String {
    let d = kavach_core::store::Db::connect(db).await.unwrap();
    let p: String = kavach_core::db!(&d, |pool| {
        sqlx::query_scalar("SELECT a.password FROM kavach_account a JOIN kavach_user u ON u.id = a.user_id WHERE u.email = $1 AND a.provider_id = 'credential'")
            .bind(email)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    d.close().await;
    p
}

/// The transition checks shared by both migration paths: the better-auth cookie
/// signs in and gets a Kavach cookie; the old password signs in and is rehashed;
/// the negative cases are refused.
async fn check_transition(kavach_db: &str, ba_cookie: &str, bob_cookie: &str, alice: &str, bob: &str) {
    // The rows are edited behind the server's back below: no session cache (it may serve
    // an entry for up to its TTL after such an edit, docs/sessions.md).
    let s = Server::start(
        kavach_db,
        &[("KAVACH_BETTER_AUTH_SECRET", BA_SECRET), ("KAVACH_REQUIRE_EMAIL_VERIFICATION", "false"), ("KAVACH_SESSION_CACHE_TTL", "0s")],
    );
    let r = get(&s, "/get-session", Some(ba_cookie)).await;
    let kavach_cookie = session_cookie(&r).expect("a Kavach cookie is issued in the same response");
    assert!(kavach_cookie.starts_with("kavach.session_token="));
    let (st, me) = json(r).await;
    assert_eq!((st, me["user"]["email"].as_str()), (200, Some(alice)), "{me}");
    // From now on the Kavach cookie alone is enough.
    let (_, me2) = json(get(&s, "/get-session", Some(&kavach_cookie)).await).await;
    assert_eq!(me2["user"]["id"], me["user"]["id"]);
    // The exchanged session continues the old one: it starts when the better-auth
    // session started (so an old cookie never yields a "fresh" session for sensitive
    // actions, and the absolute lifetime counts from the original sign-in).
    let d = kavach_core::store::Db::connect(kavach_db).await.unwrap();
    let started: kavach_core::store::Ts = kavach_core::db!(&d, |pool| {
        sqlx::query_scalar("SELECT created_at FROM kavach_session WHERE id = $1").bind(me["session"]["id"].as_str().unwrap()).fetch_one(pool).await.unwrap()
    });
    let sessions_of = |uid: String| {
        let d = d.clone();
        async move {
            kavach_core::db!(&d, |pool| {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM kavach_session WHERE user_id = $1").bind(uid).fetch_one(pool).await.unwrap()
            })
        }
    };
    let uid = me["user"]["id"].as_str().unwrap().to_owned();
    let before = sessions_of(uid.clone()).await;
    assert_eq!(me["session"]["createdAt"].as_str(), Some(started.to_iso().as_str()));
    // One old session becomes exactly one Kavach session: requests that carry only the old
    // cookie (parallel tabs during the window) all get that session's cookie again, and
    // no new session is made.
    for _ in 0..20 {
        let r = get(&s, "/get-session", Some(ba_cookie)).await;
        assert_eq!(session_cookie(&r).as_deref(), Some(kavach_cookie.as_str()), "the same Kavach session every time");
        assert_eq!(json(r).await.1["session"]["id"], me["session"]["id"]);
    }
    assert_eq!(sessions_of(uid.clone()).await, before, "20 requests with the old cookie made no new session");
    d.close().await;
    // Tampered signature, and a cookie signed with another secret: refused.
    let tampered = ba_cookie.replacen("%3D", "A%3D", 1).replacen("A%3DA%3D", "AA%3D", 1);
    let (token, _) = ba_cookie.split_once('=').unwrap().1.rsplit_once('.').unwrap();
    let forged = format!("better-auth.session_token={token}.{}", "A".repeat(43) + "%3D");
    for bad in [tampered.as_str(), forged.as_str()] {
        let r = get(&s, "/get-session", Some(bad)).await;
        assert!(session_cookie(&r).is_none());
        assert_eq!(json(r).await.1, Value::Null, "{bad}");
    }
    // A migrated session that expired, or was deleted, is refused.
    let (bob_token, _) = bob_cookie.split_once('=').unwrap().1.rsplit_once('.').unwrap();
    let bob_hash = kavach_core::crypto::token_hash(bob_token);
    let d = kavach_core::store::Db::connect(kavach_db).await.unwrap();
    // By user: a request with the old cookie re-keys the row (exchange), so its token changes.
    let expire = "UPDATE kavach_session SET expires_at = $1 WHERE token = $2 OR token = $3 OR user_id IN (SELECT id FROM kavach_user WHERE email = $4)";
    kavach_core::db!(&d, |pool| {
        sqlx::query(expire).bind(kavach_core::store::Ts(1)).bind(bob_token).bind(&bob_hash).bind(bob).execute(pool).await.unwrap();
    });
    assert_eq!(json(get(&s, "/get-session", Some(bob_cookie)).await).await.1, Value::Null, "expired migrated session");
    kavach_core::db!(&d, |pool| {
        sqlx::query(expire).bind(kavach_core::store::Ts::now().plus_secs(3600)).bind(bob_token).bind(&bob_hash).bind(bob).execute(pool).await.unwrap();
    });
    assert_ne!(json(get(&s, "/get-session", Some(bob_cookie)).await).await.1, Value::Null, "valid again once unexpired");
    kavach_core::db!(&d, |pool| {
        sqlx::query("UPDATE kavach_session SET created_at = $1 WHERE user_id IN (SELECT id FROM kavach_user WHERE email = $2)")
            .bind(kavach_core::store::Ts(1000))
            .bind(bob)
            .execute(pool)
            .await
            .unwrap();
    });
    assert_eq!(json(get(&s, "/get-session", Some(bob_cookie)).await).await.1, Value::Null, "past the absolute lifetime");
    kavach_core::db!(&d, |pool| {
        sqlx::query("DELETE FROM kavach_session WHERE user_id IN (SELECT id FROM kavach_user WHERE email = $1)").bind(bob).execute(pool).await.unwrap();
    });
    d.close().await;
    let r = get(&s, "/get-session", Some(bob_cookie)).await;
    assert!(session_cookie(&r).is_none());
    assert_eq!(json(r).await.1, Value::Null, "deleted migrated session");
    drop(s);
    let other =
        Server::start(kavach_db, &[("KAVACH_BETTER_AUTH_SECRET", "a-different-better-auth-secret-000000"), ("KAVACH_REQUIRE_EMAIL_VERIFICATION", "false")]);
    assert_eq!(json(get(&other, "/get-session", Some(ba_cookie)).await).await.1, Value::Null, "wrong old secret");
    drop(other);
    // The original password signs in to Kavach, and the hash becomes Argon2id; a wrong one does not rehash.
    let s = Server::start(kavach_db, &[("KAVACH_BETTER_AUTH_SECRET", BA_SECRET), ("KAVACH_REQUIRE_EMAIL_VERIFICATION", "false")]);
    let before = password_of(kavach_db, bob).await;
    assert!(before.contains(':') && !before.starts_with('$'), "better-auth scrypt hash: {before}");
    assert_eq!(sign_in(&s, bob, "not bob's password").await.status(), 401);
    assert_eq!(password_of(kavach_db, bob).await, before, "no rehash after a wrong password");
    assert_eq!(sign_in(&s, bob, "bob's original passphrase").await.status(), 200);
    assert!(password_of(kavach_db, bob).await.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert_eq!(sign_in(&s, bob, "bob's original passphrase").await.status(), 200, "and keeps working");
    // A banned user's old cookie is refused.
    drop(s);
    let ban = command(&temp_dir(), &[("KAVACH_DATABASE_URL", kavach_db), ("KAVACH_SECRET", SECRET)]).args(["user", "ban", alice]).output().unwrap();
    assert!(ban.status.success(), "{}", String::from_utf8_lossy(&ban.stderr));
    let s = Server::start(kavach_db, &[("KAVACH_BETTER_AUTH_SECRET", BA_SECRET), ("KAVACH_REQUIRE_EMAIL_VERIFICATION", "false")]);
    assert_eq!(json(get(&s, "/get-session", Some(ba_cookie)).await).await.1, Value::Null, "banned user refused");
    assert_eq!(json(get(&s, "/get-session", Some(&kavach_cookie)).await).await.1, Value::Null, "ban ends Kavach sessions too");
}

/// (a) The seed's own INSERT ... SELECT statements, unchanged, into Kavach's
/// PostgreSQL schema in the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn better_auth_seed_sql_runs_unchanged_postgres() {
    let Some(db) = pg_db().await else { return };
    let url = &db.url.to_owned();
    let peer = Peer::start(&[("DATABASE_URL", url), ("SNAKE_CASE", "1")]);
    peer.sign_up("alice@example.com", "alice's original passphrase").await;
    peer.sign_up("bob@example.com", "bob's original passphrase").await;
    let cookie = peer.sign_in("alice@example.com", "alice's original passphrase").await;
    let bob_cookie = peer.sign_in("bob@example.com", "bob's original passphrase").await;
    drop(peer);
    let out = command(&temp_dir(), &[("KAVACH_DATABASE_URL", url), ("KAVACH_SECRET", SECRET)]).arg("migrate").output().unwrap();
    assert!(out.status.success());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/migration");
    exec_pg(url, &std::fs::read_to_string(dir.join("better-auth-seed.sql")).unwrap()).await;
    exec_pg(url, &std::fs::read_to_string(dir.join("better-auth-passwords.sql")).unwrap()).await;
    // The session token was copied as is: the first use re-keys it to its hash.
    check_transition(url, &cookie, &bob_cookie, "alice@example.com", "bob@example.com").await;
    // The guide's statement hashes every other copied token at once (and is idempotent).
    let hash_tokens = std::fs::read_to_string(dir.join("better-auth-hash-tokens.sql")).unwrap();
    exec_pg(url, &hash_tokens).await;
    exec_pg(url, &hash_tokens).await;
    let d = kavach_core::store::Db::connect(url).await.unwrap();
    let plain: i64 = kavach_core::db!(&d, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM kavach_session k JOIN session s ON s.token = k.token").fetch_one(pool).await.unwrap()
    });
    assert_eq!(plain, 0, "no plain better-auth token remains in kavach_session");
    d.close().await;
    db.drop_db().await;
}

/// (b) `kavach import better-auth` from better-auth's own (camelCase) PostgreSQL
/// schema, into Kavach on SQLite and on PostgreSQL.
async fn import_from(source_url: &str, peer_env: &[(&str, &str)], target: &str) {
    let peer = Peer::start(peer_env);
    peer.sign_up("alice@example.com", "alice's original passphrase").await;
    peer.sign_up("bob@example.com", "bob's original passphrase").await;
    let cookie = peer.sign_in("alice@example.com", "alice's original passphrase").await;
    let bob_cookie = peer.sign_in("bob@example.com", "bob's original passphrase").await;
    peer.sign_up("carol@example.com", "carol's original passphrase").await;
    let carol_cookie = peer.sign_in("carol@example.com", "carol's original passphrase").await;
    peer.create_org(&cookie).await;
    drop(peer);
    let dir = temp_dir();
    let env = [("KAVACH_DATABASE_URL", target), ("KAVACH_SECRET", SECRET)];
    let run = |args: &[&str]| command(&dir, &env).args(["import", "better-auth", "--from", source_url]).args(args).output().unwrap();
    let dry = run(&["--dry-run", "--json"]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let report: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(report["dry_run"], true);
    let users = &report["tables"][0];
    assert_eq!((users["table"].as_str(), users["imported"].as_u64()), (Some("users"), Some(3)));
    let count = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let listed = command(&dir, &env).args(["user", "list", "--json"]).output().unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&listed.stdout).unwrap(), json!([]), "a dry run writes nothing");
    let first = run(&["--json"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let r: Value = serde_json::from_slice(&first.stdout).unwrap();
    let t = |name: &str| r["tables"].as_array().unwrap().iter().find(|t| t["table"] == name).cloned().unwrap();
    assert_eq!(t("users")["imported"], 3);
    assert_eq!(t("accounts")["imported"], 3, "three credential accounts");
    assert_eq!(t("sessions")["imported"], 6, "three sign-up sessions and three sign-ins");
    let imported = |name: &str| t(name)["imported"].as_u64();
    assert_eq!((imported("organizations"), imported("members"), imported("invitations")), (Some(1), Some(1), Some(1)), "{r}");
    let second = run(&[]);
    let text = count(&second);
    assert!(second.status.success());
    assert!(text.lines().filter(|l| l.contains("imported")).all(|l| l.contains("imported      0")), "second run changes nothing:\n{text}");
    // The organization came along: alice owns it, dave's invitation waits.
    let members = command(&dir, &env).args(["org", "members", "acme", "--json"]).output().unwrap();
    let members: Value = serde_json::from_slice(&members.stdout).unwrap();
    assert_eq!((members[0]["user"]["email"].as_str(), members[0]["role"].as_str()), (Some("alice@example.com"), Some("owner")), "{members}");
    check_transition(target, &cookie, &bob_cookie, "alice@example.com", "bob@example.com").await;
    // Signing out during the transition ends the migrated session and clears the old cookie.
    let s = Server::start(target, &[("KAVACH_BETTER_AUTH_SECRET", BA_SECRET), ("KAVACH_REQUIRE_EMAIL_VERIFICATION", "false")]);
    let kc = session_cookie(&get(&s, "/get-session", Some(&carol_cookie)).await).unwrap();
    let both = format!("{carol_cookie}; {kc}");
    let r = post(&s, "/sign-out", Some(&both), json!({})).await;
    assert!(r.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap().starts_with("better-auth.session_token=;")));
    assert_eq!(json(get(&s, "/get-session", Some(&carol_cookie)).await).await.1, Value::Null, "the old cookie no longer signs in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_better_auth_postgres_into_sqlite() {
    let Some(src) = pg_db().await else { return };
    let target = TestDb::sqlite().await;
    import_from(&src.url, &[("DATABASE_URL", &src.url)], &target.url).await;
    target.drop_db().await;
    src.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_better_auth_postgres_into_postgres() {
    let Some(src) = pg_db().await else { return };
    let Some(target) = pg_db().await else { return };
    import_from(&src.url, &[("DATABASE_URL", &src.url)], &target.url).await;
    target.drop_db().await;
    src.drop_db().await;
}

/// (c) The same import from a better-auth SQLite database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_better_auth_sqlite_into_sqlite() {
    let dir = temp_dir();
    let file = dir.join("better-auth.sqlite");
    let file = file.to_str().unwrap();
    let target = TestDb::sqlite().await;
    import_from(file, &[("SQLITE_PATH", file)], &target.url).await;
    target.drop_db().await;
}

#[tokio::test]
async fn import_better_auth_refuses_a_missing_or_foreign_source() {
    let target = TestDb::sqlite().await;
    let env = [("KAVACH_DATABASE_URL", target.url.as_str()), ("KAVACH_SECRET", SECRET)];
    let out = command(&temp_dir(), &env).args(["import", "better-auth", "--from", "/nonexistent/ba.sqlite"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file"));
    // A SQLite file without better-auth's tables.
    let other = TestDb::sqlite().await;
    let path = &other.url.trim_start_matches("sqlite://").to_owned();
    kavach_core::store::Db::connect(&other.url).await.unwrap().migrate().await.unwrap();
    let out = command(&temp_dir(), &env).args(["import", "better-auth", "--from", path]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no better-auth `user` table"), "{}", String::from_utf8_lossy(&out.stderr));
    other.drop_db().await;
    target.drop_db().await;
}

kavach_testkit::dual!(import_clerk_export, |db| {
    let dir = temp_dir();
    let env = [("KAVACH_DATABASE_URL", db), ("KAVACH_SECRET", SECRET)];
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/migration/clerk-users.json");
    // A malformed file: a clear error and nothing written.
    std::fs::write(dir.join("bad.json"), r#"[{"id": "user_x", "email_addresses": [], "created_at": "not a number"}]"#).unwrap();
    let out = command(&dir, &env).args(["import", "clerk", "--file", "bad.json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("user_x"), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = command(&dir, &env).args(["user", "list", "--json"]).output().unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&listed.stdout).unwrap(), json!([]));
    // The real import.
    let out = command(&dir, &env).args(["import", "clerk", "--json", "--file"]).arg(&fixture).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let users = &r["tables"][0];
    assert_eq!((users["read"].as_u64(), users["imported"].as_u64()), (Some(5), Some(4)), "{r}");
    assert!(users["skipped"][0]["reason"].as_str().unwrap().contains("no email"), "{r}");
    let accounts = &r["tables"][1];
    assert_eq!(accounts["imported"], 4, "google + github + two bcrypt passwords: {r}");
    assert!(accounts["skipped"][0]["reason"].as_str().unwrap().contains("scrypt_firebase"), "{r}");
    let listed: Value = serde_json::from_slice(&command(&dir, &env).args(["user", "list", "--json"]).output().unwrap().stdout).unwrap();
    let vera = listed.as_array().unwrap().iter().find(|u| u["id"] == "user_2aVerifiedBcrypt").unwrap().clone();
    assert_eq!((vera["email"].as_str(), vera["emailVerified"].as_bool(), vera["name"].as_str()), (Some("vera@example.com"), Some(true), Some("Vera Verified")));
    assert_eq!(vera["createdAt"], "2023-07-22T04:26:40.123Z");
    let quiet = listed.as_array().unwrap().iter().find(|u| u["id"] == "user_2bUnverifiedNoPassword").unwrap().clone();
    assert_eq!((quiet["emailVerified"].as_bool(), quiet["name"].as_str(), quiet["image"].clone()), (Some(false), Some("quiet_user"), Value::Null));
    // Metadata is kept.
    let d = kavach_core::store::Db::connect(db).await.unwrap();
    let meta: String =
        kavach_core::db!(&d, |pool| sqlx::query_scalar("SELECT metadata FROM kavach_user WHERE id = 'user_2aVerifiedBcrypt'").fetch_one(pool).await.unwrap());
    assert_eq!(serde_json::from_str::<Value>(&meta).unwrap(), json!({ "public": { "plan": "pro" }, "private": { "stripeCustomerId": "cus_123" } }));
    d.close().await;
    // Idempotent.
    let again = command(&dir, &env).args(["import", "clerk", "--json", "--file"]).arg(&fixture).output().unwrap();
    let r2: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!((r2["tables"][0]["imported"].as_u64(), r2["tables"][0]["already_present"].as_u64()), (Some(0), Some(4)));
    assert_eq!(r2["tables"][1]["imported"], 0);
    // Organizations and memberships, `org:` dropped; the creator (an `org:admin`) owns Acme,
    // and the earliest member owns the organization without a creator.
    let dir_of = |name: &str| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/migration").join(name);
    let import_orgs = || {
        command(&dir, &env)
            .args(["import", "clerk", "--json", "--organizations"])
            .arg(dir_of("clerk-organizations.json"))
            .arg("--memberships")
            .arg(dir_of("clerk-memberships.json"))
            .output()
            .unwrap()
    };
    let out = import_orgs();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = |name: &str| r["tables"].as_array().unwrap().iter().find(|t| t["table"] == name).cloned().unwrap();
    assert_eq!((t("organizations")["imported"].as_u64(), t("members")["imported"].as_u64()), (Some(2), Some(3)), "{r}");
    assert!(t("members")["skipped"][0]["reason"].as_str().unwrap().contains("user_2dPhoneOnly"), "the user without an email was not imported: {r}");
    let members = |org: &str| {
        let out = command(&dir, &env).args(["org", "members", org, "--json"]).output().unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let acme = members("acme-inc");
    let role_of = |m: &Value, email: &str| m.as_array().unwrap().iter().find(|x| x["user"]["email"] == email).map(|x| x["role"].clone());
    assert_eq!((role_of(&acme, "vera@example.com"), role_of(&acme, "unverified@example.com")), (Some(json!("owner")), Some(json!("member"))), "{acme}");
    let side = members("org_2bSideProject");
    assert_eq!(role_of(&side, "unverified@example.com"), Some(json!("owner")), "{side}");
    let r2: Value = serde_json::from_slice(&import_orgs().stdout).unwrap();
    assert!(r2["tables"].as_array().unwrap().iter().all(|t| t["imported"] == 0), "idempotent: {r2}");
    // The bcrypt user signs in with the Clerk password and is rehashed; the banned one is refused.
    let s = Server::start(db, &[]);
    assert!(password_of(db, "vera@example.com").await.starts_with("$2b$"));
    assert_eq!(sign_in(&s, "vera@example.com", "clerk user passwore").await.status(), 401);
    assert_eq!(sign_in(&s, "vera@example.com", "clerk user password").await.status(), 200);
    assert!(password_of(db, "vera@example.com").await.starts_with("$argon2id$"));
    let r = sign_in(&s, "bart@example.com", "hunter2hunter2").await;
    assert_eq!((r.status().as_u16(), json(r).await.1["code"].as_str().map(str::to_owned)), (403, Some("BANNED_USER".to_owned())));
    let _ = std::fs::remove_dir_all(dir);
});

/// The guide's token-hashing SQL computes exactly Kavach's token hash.
#[tokio::test]
async fn token_hashing_sql_matches_kavach() {
    let Some(db) = pg_db().await else { return };
    let d = kavach_core::store::Db::connect(&db.url).await.unwrap();
    d.migrate().await.unwrap();
    let token = "1PBCpY1Z2SQ9rMnswxSw5P1JDSTJKsWS";
    let sql = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/migration/better-auth-hash-tokens.sql")).unwrap();
    kavach_core::db!(&d, |pool| {
        sqlx::query("INSERT INTO kavach_user (id, email) VALUES ('u1', 'u1@example.com')").execute(pool).await.unwrap();
        sqlx::query("INSERT INTO kavach_session (id, user_id, token, expires_at) VALUES ('s1', 'u1', $1, now() + interval '1 day')")
            .bind(token)
            .execute(pool)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap();
        let (stored, origin): (String, String) = sqlx::query_as("SELECT token, origin FROM kavach_session WHERE id = 's1'").fetch_one(pool).await.unwrap();
        assert_eq!(stored, kavach_core::crypto::token_hash(token));
        assert_eq!(origin, "kavach", "a hashed row is no longer matched by its plain token");
    });
    d.close().await;
    db.drop_db().await;
}
