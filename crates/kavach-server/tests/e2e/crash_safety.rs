//! Crash safety: the real binary is killed with SIGKILL in the middle of a concurrent
//! write load, twice (the second time on the database the first crash left), then started
//! again on the same database.
//!
//! What a 2xx answer promised survives: each acknowledged sign-up signs in, each
//! acknowledged session still authenticates unless it was ended, each acknowledged
//! revocation stays revoked, each acknowledged password change is in force. Writes cut
//! off by the kill are all or nothing: a sign-up is a whole account or none (the email is
//! free again), a password change came with the end of the account's sessions or did not
//! happen. Every state change has its audit record (they commit together), and
//! `kavach audit verify` passes on the database the crash left and after the restart.
//!
//! What makes it fail: answering before the transaction commits (or committing from a
//! background task), one write split over several transactions (a user without a password,
//! a new password while the old sessions live on), a revocation kept only in the session
//! cache, an audit record written outside its state change's transaction, a chain broken by
//! a half-written append.
//!
//! The process dies, not the machine: what the database handed to the OS is kept. This
//! proves "acknowledged means committed", not durability through a power cut (fsync).

use crate::harness::*;
use kavach_testkit::dual;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NEW_PW: &str = "a brand new passphrase after the change";
const WORKERS: usize = 8;
/// The kill comes once this many accounts went through their whole sequence (per round).
const KILL_AFTER: usize = 6;
const ENV: [(&str, &str); 2] = [("KAVACH_REQUIRE_EMAIL_VERIFICATION", "false"), ("KAVACH_RATE_LIMIT", "false")];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Outcome {
    /// Not sent, or refused at connect: it never reached the server.
    #[default]
    NotSent,
    /// Sent, and no whole answer came back: the kill cut it off. Either state may be found.
    Cut,
    /// Answered with a 2xx.
    Acked,
}

/// One account's writes, in order: sign up (session 1), sign in (session 2), revoke
/// session 2 from session 1, change the password from session 1 (which ends every session
/// of the account and starts session 3).
#[derive(Clone, Debug, Default)]
struct Account {
    email: String,
    sign_up: Outcome,
    session1: Option<String>,
    sign_in: Outcome,
    session2: Option<String>,
    revoke: Outcome,
    change: Outcome,
    session3: Option<String>,
}

struct Load {
    round: usize,
    api: String,
    origin: String,
    accounts: Mutex<Vec<Account>>,
    /// Non-2xx answers during the load: a bug (nothing is wrong with these requests).
    refused: Mutex<Vec<String>>,
}

impl Load {
    fn update(&self, i: usize, f: impl FnOnce(&mut Account)) {
        f(&mut self.accounts.lock().unwrap()[i]);
    }

    fn done(&self) -> usize {
        self.accounts.lock().unwrap().iter().filter(|a| a.change == Outcome::Acked).count()
    }

    /// Which of the four kinds of write are waiting for their answer right now.
    fn in_flight(&self) -> [bool; 4] {
        let accounts = self.accounts.lock().unwrap();
        let any = |f: fn(&Account) -> Outcome| accounts.iter().any(|a| f(a) == Outcome::Cut);
        [any(|a| a.sign_up), any(|a| a.sign_in), any(|a| a.revoke), any(|a| a.change)]
    }

    /// POST; `Err(outcome)` when no whole answer came back (the server is gone).
    async fn post(&self, c: &reqwest::Client, path: &str, cookie: Option<&str>, body: Value) -> Result<(u16, Option<String>, Value), Outcome> {
        let mut rq = c.post(format!("{}{path}", self.api)).header("origin", &self.origin).json(&body);
        if let Some(cookie) = cookie {
            rq = rq.header("cookie", cookie);
        }
        let r = rq.send().await.map_err(|e| if e.is_connect() { Outcome::NotSent } else { Outcome::Cut })?;
        let status = r.status().as_u16();
        let cookie = session_cookie(&r);
        let text = r.text().await.map_err(|_| Outcome::Cut)?;
        Ok((status, cookie, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Run account after account until the server goes away.
    async fn worker(self: Arc<Self>, w: usize) {
        let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(30)).build().unwrap();
        // Staggered, so that the workers are at different steps when the kill comes.
        tokio::time::sleep(Duration::from_millis(30 * w as u64)).await;
        for n in 0.. {
            let email = format!("crash-{}-{w}-{n}@example.com", self.round);
            let i = {
                let mut accounts = self.accounts.lock().unwrap();
                accounts.push(Account { email: email.clone(), ..Default::default() });
                accounts.len() - 1
            };
            // Each step: mark it sent, send it, record the answer; stop at the first missing one.
            macro_rules! step {
                ($field:ident, $path:expr, $cookie:expr, $body:expr) => {{
                    self.update(i, |a| a.$field = Outcome::Cut);
                    match self.post(&c, $path, $cookie, $body).await {
                        Err(o) => return self.update(i, |a| a.$field = o),
                        Ok((status, cookie, body)) if (200..300).contains(&status) => {
                            self.update(i, |a| a.$field = Outcome::Acked);
                            (cookie, body)
                        }
                        Ok((status, _, body)) => {
                            self.update(i, |a| a.$field = Outcome::Cut);
                            return self.refused.lock().unwrap().push(format!("{} {email}: {status} {body}", $path));
                        }
                    }
                }};
            }
            let (s1, _) = step!(sign_up, "/sign-up/email", None, json!({ "email": email, "password": PW, "name": "Crash" }));
            let s1 = s1.expect("sign-up sets the session cookie");
            self.update(i, |a| a.session1 = Some(s1.clone()));
            let (s2, body) = step!(sign_in, "/sign-in/email", None, json!({ "email": email, "password": PW }));
            self.update(i, |a| a.session2 = s2);
            let token2 = body["token"].as_str().expect("sign-in returns the session token").to_owned();
            step!(revoke, "/revoke-session", Some(&s1), json!({ "token": token2 }));
            let (s3, _) = step!(change, "/change-password", Some(&s1), json!({ "currentPassword": PW, "newPassword": NEW_PW, "revokeOtherSessions": true }));
            self.update(i, |a| a.session3 = s3);
        }
    }
}

/// `kavach audit verify` on `db` passes.
fn audit_verify(db: &str, when: &str) {
    let dir = temp_dir();
    let out = command(&dir, &[("KAVACH_DATABASE_URL", db), ("KAVACH_SECRET", SECRET)]).args(["audit", "verify"]).output().unwrap();
    let _ = std::fs::remove_dir_all(dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("intact"),
        "kavach audit verify {when}: {:?}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether `cookie` still authenticates as `email`.
async fn alive(s: &Server, cookie: &str, email: &str) -> bool {
    let (status, me) = json(get(s, "/get-session", Some(cookie)).await).await;
    assert_eq!(status, 200);
    if me.is_null() {
        return false;
    }
    assert_eq!(me["user"]["email"], email, "a session of {email} authenticates as someone else");
    true
}

/// One round: start kavach on `db`, run the load, SIGKILL it in the middle, check the
/// audit chain on what the crash left. Returns what the load sent and what came back.
async fn load_and_kill(db: &str, round: usize) -> Vec<Account> {
    let mut s = Server::start(db, &ENV);
    let load = Arc::new(Load { round, api: s.url(""), origin: s.origin(), accounts: Mutex::default(), refused: Mutex::default() });
    let workers: Vec<_> = (0..WORKERS).map(|w| tokio::spawn(load.clone().worker(w))).collect();
    let load_started = Instant::now();
    // Kill once enough accounts went through every step, at a moment when all four kinds of
    // write are in flight (or, if that moment does not come within a second, anyway).
    let mut ready: Option<Instant> = None;
    while load_started.elapsed() < Duration::from_secs(12) && load.refused.lock().unwrap().is_empty() {
        if ready.is_none() && load.done() >= KILL_AFTER {
            ready = Some(Instant::now());
        }
        if ready.is_some_and(|t| t.elapsed() > Duration::from_secs(1) || load.in_flight() == [true; 4]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let in_flight = load.in_flight();
    let status = s.sigkill();
    let load_time = load_started.elapsed();
    for w in workers {
        tokio::time::timeout(Duration::from_secs(40), w).await.expect("a load worker hung after the kill").unwrap();
    }
    assert_eq!(status.signal(), Some(9), "kavach died of SIGKILL, not something else: {status:?}");
    let refused = load.refused.lock().unwrap().clone();
    assert!(refused.is_empty(), "writes refused under load (before the kill): {refused:#?}");
    let accounts = load.accounts.lock().unwrap().clone();
    let count = |f: fn(&Account) -> Outcome, o: Outcome| accounts.iter().filter(|a| f(a) == o).count();
    let cut = accounts.iter().filter(|a| [a.sign_up, a.sign_in, a.revoke, a.change].contains(&Outcome::Cut)).count();
    let summary = format!(
        "round {round}: {} accounts in {load_time:?}; acknowledged: {} sign-ups, {} sign-ins, {} revocations, {} password changes; \
         cut off by the kill: {} sign-ups, {} sign-ins, {} revocations, {} password changes (in flight at the kill: {in_flight:?})",
        accounts.len(),
        count(|a| a.sign_up, Outcome::Acked),
        count(|a| a.sign_in, Outcome::Acked),
        count(|a| a.revoke, Outcome::Acked),
        count(|a| a.change, Outcome::Acked),
        count(|a| a.sign_up, Outcome::Cut),
        count(|a| a.sign_in, Outcome::Cut),
        count(|a| a.revoke, Outcome::Cut),
        count(|a| a.change, Outcome::Cut),
    );
    println!("{summary}");
    assert!(load.done() >= KILL_AFTER, "the load was too slow to prove anything: {summary}");
    assert!(cut > 0, "the kill did not land in the middle of a write: {summary}");
    drop(s);
    audit_verify(db, &format!("on the database crash {round} left"));
    accounts
}

dual!(acknowledged_writes_survive_sigkill_mid_load_cut_writes_are_all_or_nothing_and_the_audit_chain_verifies, |db| {
    let started = Instant::now();
    // Two crashes: the second hits a database that recovered from the first.
    let mut accounts = load_and_kill(db, 0).await;
    accounts.extend(load_and_kill(db, 1).await);

    // The database as the crashes left it.
    let d = kavach_core::store::Db::connect(db).await.unwrap();
    let users: Vec<(String, String)> = kavach_core::db!(&d, |pool| sqlx::query_as("SELECT id, email FROM kavach_user").fetch_all(pool).await.unwrap());
    let records: Vec<(Option<String>, String)> =
        kavach_core::db!(&d, |pool| sqlx::query_as("SELECT user_id, kind FROM kavach_audit_event").fetch_all(pool).await.unwrap());
    d.close().await;
    let user_of: HashMap<String, String> = users.iter().map(|(id, email)| (email.clone(), id.clone())).collect();
    for (_, email) in &users {
        assert!(accounts.iter().any(|a| &a.email == email), "a user nobody signed up: {email}");
    }

    let s = Server::start(db, &ENV);
    for a in &accounts {
        let e = a.email.as_str();
        let Some(id) = user_of.get(e) else {
            assert_ne!(a.sign_up, Outcome::Acked, "acknowledged sign-up of {e} was lost");
            // Cut off before it committed: nothing of it remains, the email is free.
            if a.sign_up == Outcome::Cut {
                let r = post(&s, "/sign-up/email", None, json!({ "email": e, "password": PW, "name": "Again" })).await;
                assert_eq!(r.status(), 200, "{e}: no user after a cut-off sign-up, yet the email is taken (half a sign-up)");
            }
            continue;
        };
        assert_ne!(a.sign_up, Outcome::NotSent, "{e} exists but was never sent");
        let recorded = |kind: &str| records.iter().filter(|(u, k)| u.as_deref() == Some(id) && k == kind).count();
        assert_eq!(recorded("user.created"), 1, "{e}: one user.created record with the user");

        // The password: the new one exactly when the change committed, with its record.
        let old_pw = sign_in(&s, e, PW).await.status() == 200;
        let new_pw = sign_in(&s, e, NEW_PW).await.status() == 200;
        assert!(old_pw != new_pw, "{e}: exactly one of the two passwords must work (old {old_pw}, new {new_pw}): {a:?}");
        match a.change {
            Outcome::Acked => assert!(new_pw, "{e}: acknowledged password change was lost"),
            Outcome::NotSent => assert!(old_pw, "{e}: password changed without a request"),
            Outcome::Cut => {}
        }
        assert_eq!(recorded("password.changed"), usize::from(new_pw), "{e}: password.changed record and new password commit together");

        // Sessions: the change ended session 1 in the same transaction, or nothing did.
        if let Some(s1) = &a.session1 {
            assert_eq!(alive(&s, s1, e).await, !new_pw, "{e}: session 1 must live exactly when the password did not change: {a:?}");
        }
        match &a.session2 {
            Some(s2) => {
                let lives = alive(&s, s2, e).await;
                match a.revoke {
                    Outcome::Acked => assert!(!lives, "{e}: acknowledged revocation of session 2 was lost"),
                    Outcome::NotSent => assert!(lives, "{e}: acknowledged sign-in session was lost (nothing revoked it)"),
                    Outcome::Cut => {}
                }
                assert_eq!(recorded("session.revoked"), usize::from(!lives), "{e}: session.revoked record and revocation commit together");
            }
            None => assert_eq!(recorded("session.revoked"), 0, "{e}"),
        }
        if let Some(s3) = &a.session3 {
            assert!(alive(&s, s3, e).await, "{e}: the session issued by the acknowledged password change was lost");
        }
    }
    audit_verify(db, "after the restart and the checks");
    drop(s);
    println!("{} accounts checked after the restart; whole test {:?}", accounts.len(), started.elapsed());
});
