//! The command line: users, the audit log, production refusals.

use crate::*;

fn run_cli(dir: &std::path::Path, db: &str, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut c = command(dir, &[("KAVACH_DATABASE_URL", db), ("KAVACH_SECRET", "cli-test-secret-0123456789-abcdefghij")]);
    c.args(args).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

dual!(cli_manages_users_and_verifies_the_audit_log, |db| {
    let dir = temp_dir();
    let (code, out, err) = run_cli(&dir, db, &["migrate"], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_cli(
        &dir,
        db,
        &["user", "create", "--email", "Cli@Example.com", "--name", "Cli", "--password-stdin", "--verified"],
        Some("a command line passphrase\n"),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("cli@example.com"));
    let (code, _, err) = run_cli(&dir, db, &["user", "create", "--email", "weak@example.com", "--password", "1qaz2wsx3edc4rfv"], None);
    assert_eq!(code, 2);
    assert!(err.contains("commonly used"), "{err}");
    let (code, out, _) = run_cli(&dir, db, &["user", "list", "--json"], None);
    assert_eq!(code, 0);
    let users: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
    let id = users[0]["id"].as_str().unwrap().to_owned();
    // The created user signs in over HTTP.
    let s = Server::start(db, &[]);
    assert_eq!(sign_in(&s, "cli@example.com", "a command line passphrase").await.status(), 200);
    drop(s);
    let (code, out, _) = run_cli(&dir, db, &["user", "show", "cli@example.com"], None);
    assert_eq!(code, 0);
    assert!(out.contains(&id) && out.contains("sessions        1"), "{out}");
    let (code, out, _) = run_cli(&dir, db, &["audit", "verify"], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"));
    let (code, _, err) = run_cli(&dir, db, &["user", "delete", &id], None);
    assert_eq!(code, 2, "no confirmation without --yes");
    assert!(err.contains("--yes"));
    let (code, out, _) = run_cli(&dir, db, &["user", "delete", &id, "--yes"], None);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run_cli(&dir, db, &["user", "show", &id], None);
    assert_ne!(code, 0, "{out}");
    // Tamper with the log behind Kavach's back.
    let d = kavach_core::store::Db::connect(db).await.unwrap();
    kavach_core::db!(&d, |pool| {
        sqlx::query("UPDATE kavach_audit_event SET user_id = 'someone-else' WHERE seq = 2").execute(pool).await.unwrap();
    });
    d.close().await;
    let (code, out, _) = run_cli(&dir, db, &["audit", "verify"], None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN") && out.contains("record 2"), "{out}");
    let (code, out, _) = run_cli(&dir, db, &["doctor"], None);
    assert_eq!(code, 0, "{out}");
    let _ = std::fs::remove_dir_all(dir);
});

#[test]
fn production_refuses_a_missing_or_weak_secret() {
    let dir = temp_dir();
    let out = command(&dir, &[("KAVACH_MODE", "production")]).args(["serve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KAVACH_SECRET"));
    let out = command(&dir, &[("KAVACH_MODE", "production"), ("KAVACH_SECRET", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]).args(["serve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("weak"));
    let out = command(&dir, &[("KAVACH_LISTEN", "not-an-address")]).args(["migrate"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-an-address"));
    let help = command(&dir, &[]).args(["--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for cmd in ["serve", "migrate", "user", "audit", "doctor", "KAVACH_SECRET"] {
        assert!(help.contains(cmd), "{cmd} in --help");
    }
    let _ = std::fs::remove_dir_all(dir);
}
