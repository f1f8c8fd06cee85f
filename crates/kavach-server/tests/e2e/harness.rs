//! Starts the real `kavach` binary on a free port and talks to it over HTTP.

pub use kavach_testkit::TestDb;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const PW: &str = "correct horse battery staple";

pub struct Server {
    child: Child,
    pub addr: String,
    pub api: String,
    pub dir: PathBuf,
    /// What the server wrote to stderr (its log), when started with [`Server::start_capturing`].
    pub log: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
}

pub fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("kavach-e2e-{}", kavach_core::crypto::new_id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The server secret the tests start servers and CLI commands with.
pub const SECRET: &str = "e2e-test-secret-0123456789-abcdefghij";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kavach")
}

/// A `kavach` command with a clean environment in `dir`.
pub fn command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("KAVACH_") {
            c.env_remove(k);
        }
    }
    c.env("KAVACH_LOG", "warn");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

impl Server {
    /// Start `kavach serve` with `env` (database URL included) on a free port.
    pub fn start(db_url: &str, env: &[(&str, &str)]) -> Server {
        Self::start_in(temp_dir(), db_url, env)
    }

    pub fn start_in(dir: PathBuf, db_url: &str, env: &[(&str, &str)]) -> Server {
        Self::start_with(dir, db_url, env, false)
    }

    /// Like [`Server::start`], keeping the server's log lines in [`Server::log`].
    pub fn start_capturing(db_url: &str, env: &[(&str, &str)]) -> Server {
        Self::start_with(temp_dir(), db_url, env, true)
    }

    fn start_with(dir: PathBuf, db_url: &str, env: &[(&str, &str)], capture: bool) -> Server {
        let mut env: Vec<(&str, &str)> = env.to_vec();
        if !db_url.is_empty() {
            env.push(("KAVACH_DATABASE_URL", db_url));
        }
        if !env.iter().any(|(k, _)| *k == "KAVACH_SECRET") {
            env.push(("KAVACH_SECRET", SECRET));
        }
        let listen = env.iter().find(|(k, _)| *k == "KAVACH_LISTEN").map(|(_, v)| *v).unwrap_or("127.0.0.1:0");
        let mut child = command(&dir, &env)
            .args(["serve", "--listen", listen])
            .stdout(Stdio::piped())
            .stderr(if capture { Stdio::piped() } else { Stdio::inherit() })
            .spawn()
            .expect("start kavach");
        let log = child.stderr.take().map(|stderr| {
            let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
            lines
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut addr = None;
            for line in lines.by_ref() {
                let line = line.unwrap_or_default();
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    addr = Some(rest.trim().to_owned());
                }
                if let Some(rest) = line.trim().strip_prefix("API") {
                    let api = rest.split_whitespace().next().map(str::to_owned);
                    let _ = tx.send((addr.clone(), api));
                    break;
                }
            }
            for _ in lines {}
        });
        let (addr, api) = rx.recv_timeout(Duration::from_secs(30)).expect("kavach did not print its address");
        Server { child, addr: addr.unwrap(), api: api.unwrap(), dir, log }
    }

    /// API URL on 127.0.0.1 (the printed one uses the configured base URL).
    pub fn url(&self, path: &str) -> String {
        let base_path = self.api.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or_default();
        format!("http://{}{}{}", self.addr, base_path, path)
    }

    pub fn root(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn origin(&self) -> String {
        kavach_core::origin_of(&self.api).unwrap()
    }

    /// Kill the process with SIGKILL (what `Child::kill` sends on Unix): no graceful
    /// shutdown, nothing flushed. Returns how it ended.
    pub fn sigkill(&mut self) -> std::process::ExitStatus {
        self.child.kill().expect("SIGKILL kavach");
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// `name=value` of the session cookie set by a response.
pub fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        let pair = c.split(';').next()?.trim();
        (pair.contains("session_token=") && !pair.ends_with('=')).then(|| pair.to_owned())
    })
}

/// `name=value` of cookie `name` set by a response.
pub fn cookie_named(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        let pair = c.split(';').next()?.trim();
        (pair.starts_with(&format!("{name}=")) && !pair.ends_with('=')).then(|| pair.to_owned())
    })
}

pub fn set_cookie_header(r: &reqwest::Response) -> Option<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find(|c| c.contains("session_token=")).map(str::to_owned)
}

pub async fn json(r: reqwest::Response) -> (u16, serde_json::Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")))
}

/// POST JSON with the server's own Origin (as a browser on the app would).
pub async fn post(s: &Server, path: &str, cookie: Option<&str>, body: serde_json::Value) -> reqwest::Response {
    let mut rq = client().post(s.url(path)).header("origin", s.origin()).json(&body);
    if let Some(c) = cookie {
        rq = rq.header("cookie", c);
    }
    rq.send().await.unwrap()
}

pub async fn get(s: &Server, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut rq = client().get(s.url(path));
    if let Some(c) = cookie {
        rq = rq.header("cookie", c);
    }
    rq.send().await.unwrap()
}

/// Sign up (verification off) and return the session cookie.
pub async fn sign_up(s: &Server, email: &str) -> String {
    let r = post(s, "/sign-up/email", None, serde_json::json!({ "email": email, "password": PW, "name": "E2E" })).await;
    assert_eq!(r.status(), 200, "sign-up {email}");
    session_cookie(&r).expect("sign-up sets the session cookie")
}

pub async fn sign_in(s: &Server, email: &str, password: &str) -> reqwest::Response {
    post(s, "/sign-in/email", None, serde_json::json!({ "email": email, "password": password })).await
}

/// Run `script` of `tests/js/better-auth-client` (better-auth's own client, from npm)
/// against `s` with the extra environment `env`; it must exit 0 and print "checks passed".
/// Its output.
/// The TOTP code of the step `offset` steps from now, for the secret of `uri`.
pub fn totp_code(uri: &str, offset: i64) -> String {
    let secret = kavach_core::plugins::two_factor::totp::base32_decode(uri.split("secret=").nth(1).unwrap().split('&').next().unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    kavach_core::plugins::two_factor::Totp { digits: 6, period: 30, skew: 1 }.code_at(&secret, (now + offset * 30) as u64)
}

/// Turn TOTP on for the user of `cookie`; the `otpauth://` URI.
pub async fn totp_on(s: &Server, cookie: &str) -> String {
    let (status, v) = json(post(s, "/two-factor/enable", Some(cookie), serde_json::json!({ "password": PW })).await).await;
    assert_eq!(status, 200, "{v}");
    let uri = v["totpURI"].as_str().unwrap().to_owned();
    let (status, v) = json(post(s, "/two-factor/verify-totp", Some(cookie), serde_json::json!({ "code": totp_code(&uri, -1) })).await).await;
    assert_eq!(status, 200, "{v}");
    uri
}

/// A first factor's answer `r` for a user with TOTP on (secret in `uri`): a pending
/// sign-in, with no session cookie and no bearer token; the TOTP code then gives the
/// session, whose cookie is returned.
pub async fn pending_until_totp(s: &Server, r: reqwest::Response, uri: &str) -> String {
    assert_eq!(r.status(), 200);
    assert!(session_cookie(&r).is_none(), "no session cookie before the second factor");
    assert!(r.headers().get("set-auth-token").is_none(), "no bearer token either");
    let pending = cookie_named(&r, "kavach.two_factor").expect("the pending sign-in's cookie");
    let (_, v) = json(r).await;
    assert_eq!(v["twoFactorRedirect"], true, "{v}");
    let r = post(s, "/two-factor/verify-totp", Some(&pending), serde_json::json!({ "code": totp_code(uri, 0) })).await;
    session_cookie(&r).expect("the session after the code")
}

pub fn better_auth_client(s: &Server, script: &str, env: &[(&str, &str)]) -> String {
    let work = npm_workspace("better-auth-client", &[script, "browser.mjs"]);
    let out = std::process::Command::new("node")
        .arg(script)
        .env("KAVACH_API", s.url(""))
        .env("KAVACH_ORIGIN", s.origin())
        .envs(env.iter().copied())
        .current_dir(&work)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("checks passed"), "{stdout}");
    println!("{stdout}");
    stdout
}

/// A private copy of `tests/js/<name>` with its own node_modules (`npm ci` once;
/// reused while the lockfile is unchanged). Returns its folder.
pub fn npm_workspace(name: &str, files: &[&str]) -> PathBuf {
    let pkg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/js").join(name);
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&work).unwrap();
    // nextest runs tests as separate processes: one installs, the others wait.
    let _lock = DirLock::take(work.join(".install-lock"));
    let lock = std::fs::read(pkg.join("package-lock.json")).unwrap();
    // `.installed` is written after a successful install only: an interrupted one is redone.
    let stale = std::fs::read(work.join(".installed")).ok().as_deref() != Some(&lock[..]);
    std::fs::create_dir_all(&work).unwrap();
    // Another test may be running a script of this folder right now: replace each file
    // whole (a copy then a rename), so it never reads one half-written.
    let npmrc = pkg.join(".npmrc").exists().then_some(".npmrc");
    for f in files.iter().chain(&["package.json"]).chain(npmrc.as_ref()) {
        let part = work.join(format!("{f}.{}.part", std::process::id()));
        std::fs::copy(pkg.join(f), &part).unwrap();
        std::fs::rename(&part, work.join(f)).unwrap();
    }
    if stale {
        std::fs::copy(pkg.join("package-lock.json"), work.join("package-lock.json.new")).unwrap();
        std::fs::rename(work.join("package-lock.json.new"), work.join("package-lock.json")).unwrap();
        let st = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&work).status().expect("npm");
        assert!(st.success(), "npm ci in {} failed", work.display());
        std::fs::write(work.join(".installed"), &lock).unwrap();
    }
    work
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A lock file held by one process at a time (stale after 15 minutes).
pub struct DirLock(PathBuf);

impl DirLock {
    pub fn take(path: PathBuf) -> DirLock {
        let start = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return DirLock(path),
                Err(_) => {
                    let stale =
                        std::fs::metadata(&path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|e| e > Duration::from_secs(900));
                    if stale {
                        let _ = std::fs::remove_file(&path);
                    }
                    assert!(start.elapsed() < Duration::from_secs(1200), "waited too long for {}", path.display());
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// Debian's Chromium for the browser tests (`tests/js/browser`), installed once when
/// missing (as root, with apt: the machines this suite runs on are Debian).
pub fn chromium() -> &'static str {
    if std::path::Path::new(CHROMIUM).exists() {
        return CHROMIUM;
    }
    let _lock = DirLock::take(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("chromium-install-lock"));
    if !std::path::Path::new(CHROMIUM).exists() {
        let apt = |args: &[&str]| std::process::Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").status().is_ok_and(|s| s.success());
        let installed = apt(&["install", "-y", "-q", "--no-install-recommends", "chromium"])
            || (apt(&["update", "-q"]) && apt(&["install", "-y", "-q", "--no-install-recommends", "chromium"]));
        assert!(installed && std::path::Path::new(CHROMIUM).exists(), "Chromium is needed for the browser tests: `apt-get install chromium` (as root) failed");
    }
    CHROMIUM
}

/// Run the browser script `script` of `tests/js/browser` in Chromium with `env` (and
/// `CHROMIUM`); it must exit 0 and print `<name>: <checks> checks passed`. Its output.
pub fn browser_script(script: &str, env: &[(&str, &str)], checks: &str) -> String {
    let browser = chromium();
    let work = npm_workspace("browser", &[script, "lib.mjs"]);
    let out = std::process::Command::new("node").arg(script).env("CHROMIUM", browser).envs(env.iter().copied()).current_dir(&work).output().expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    assert!(stdout.contains(checks), "{stdout}");
    stdout
}
