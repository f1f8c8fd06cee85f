//! A real SMTP server for email tests: Python's aiosmtpd (installed by
//! scripts/test.sh), storing every message in a maildir.

use crate::harness::{Server, npm_workspace};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Smtp {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl Smtp {
    pub fn start() -> Smtp {
        let python = std::env::var("KAVACH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let maildir = super::harness::temp_dir().join("maildir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start aiosmtpd with {python} ({e}); run scripts/test.sh, which installs it"));
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Smtp { child, port, maildir };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not start on port {port} (is it installed? `{python} -m pip install aiosmtpd`)");
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.maildir.join(sub)) {
                let mut files: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
                files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
                for f in files {
                    if let Ok(raw) = std::fs::read_to_string(&f) {
                        out.push(decode(&raw));
                    }
                }
            }
        }
        out
    }

    /// The messages to `to` whose subject contains `subject`, oldest first.
    fn matching(&self, to: &str, subject: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| {
                m.lines().any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(to))
                    && m.lines().any(|l| l.starts_with("Subject:") && l.contains(subject))
            })
            .collect()
    }

    /// How many messages to `to` have `subject` in their subject so far.
    pub fn count(&self, to: &str, subject: &str) -> usize {
        self.matching(to, subject).len()
    }

    /// Wait for the newest message to `to` whose subject contains `subject`; returns headers + decoded body.
    pub async fn wait_for(&self, to: &str, subject: &str) -> String {
        self.wait_for_more(to, subject, 0).await
    }

    /// Like [`Self::wait_for`], once there are more than `seen` such messages.
    pub async fn wait_for_more(&self, to: &str, subject: &str, seen: usize) -> String {
        for _ in 0..300 {
            let all = self.matching(to, subject);
            if all.len() > seen
                && let Some(m) = all.into_iter().next_back()
            {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no new message to {to} about {subject:?} in {}", self.maildir.display());
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Undo the transfer encoding of a single-part message body.
fn decode(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let enc = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-transfer-encoding:").map(|v| v.trim().to_owned()));
    let body = match enc.as_deref() {
        Some("quoted-printable") => {
            let joined = body.replace("=\n", "");
            let b = joined.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'='
                    && i + 2 < b.len() + 1
                    && let Some(v) = std::str::from_utf8(&b[i + 1..(i + 3).min(b.len())]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    out.push(v);
                    i += 3;
                    continue;
                }
                out.push(b[i]);
                i += 1;
            }
            String::from_utf8_lossy(&out).into_owned()
        }
        Some("base64") => {
            use base64::Engine;
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(compact).unwrap_or_default()).into_owned()
        }
        _ => body.to_owned(),
    };
    format!("{head}\n\n{body}")
}

/// The first http(s) URL in a message body.
pub fn first_link(msg: &str) -> String {
    let i = msg.find("http://").or_else(|| msg.find("https://")).expect("a link in the message");
    msg[i..].split_whitespace().next().unwrap().to_owned()
}

/// Run `tests/js/better-auth-client/<script>` (better-auth's client from npm against the
/// server) for a flow that reads email: each line the script prints as
/// `CODE <to> <subject words>` is answered on its standard input with the code that ends
/// the next such message's subject, and `LINK <to> <subject words>` with the first link
/// of its body (pointed at the server's real address). Returns what the script printed.
pub async fn better_auth_client_reading_mail(s: &Server, mail: &Smtp, script: &str, env: &[(&str, &str)]) -> String {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    better_auth_client_asking(s, script, env, async |what: &str, rest: &str| {
        let (to, subject) = rest.split_once(' ').unwrap_or((rest, ""));
        let n = seen.entry(format!("{to}\0{subject}")).or_default();
        let msg = mail.wait_for_more(to, subject, *n).await;
        *n = mail.count(to, subject);
        match what {
            "LINK" => Some(first_link(&msg).replacen(&s.api, &s.url(""), 1)),
            "CODE" => {
                let subject_line = msg.lines().find(|l| l.starts_with("Subject:")).unwrap_or_default();
                Some(subject_line.rsplit(' ').next().unwrap_or_default().trim().to_owned())
            }
            _ => None,
        }
    })
    .await
}

/// Run a better-auth client script that asks the test for things: each line it prints as
/// `<WORD> <rest>` (an upper-case word) is handed to `answer`, and what it returns is
/// written to the script's standard input. Returns what the script printed.
pub async fn better_auth_client_asking(s: &Server, script: &str, env: &[(&str, &str)], mut answer: impl AsyncFnMut(&str, &str) -> Option<String>) -> String {
    use std::io::{BufRead, Write};
    let work = npm_workspace("better-auth-client", &[script, "browser.mjs"]);
    let mut child = std::process::Command::new("node")
        .arg(script)
        .env("KAVACH_API", s.url(""))
        .env("KAVACH_ORIGIN", s.origin())
        .envs(env.iter().copied())
        .current_dir(&work)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut printed = String::new();
    while let Some(line) = rx.recv().await {
        printed.push_str(&line);
        printed.push('\n');
        let Some((what, rest)) = line.split_once(' ').filter(|(w, _)| !w.is_empty() && w.bytes().all(|b| b.is_ascii_uppercase())) else { continue };
        if let Some(reply) = answer(what, rest).await {
            writeln!(stdin, "{reply}").unwrap();
        }
    }
    drop(stdin);
    let status = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert!(status.status.success(), "{script} failed:\n{printed}\n{}", String::from_utf8_lossy(&status.stderr));
    assert!(printed.contains("checks passed"), "{printed}");
    println!("{printed}");
    printed
}
