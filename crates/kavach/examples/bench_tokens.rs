//! Single-use inputs for the sign-in-method scenarios of `bench/run.sh` (`methods`):
//! magic-link tokens, email sign-in codes and passkey answers, made through the Rust API
//! on the database of a running Kavach (same secret and base URL), one file per wrk run,
//! so that every request of the benchmark verifies a fresh one.
//!
//! `bench_tokens <kind> <dir> <per-file> <files>` writes `<dir>/<kind>-<run>.txt` for run 0
//! to `<files> - 1`: for `magic`, a token per line; for `otp`, a JSON body `{email, otp}`
//! per line (each of its own existing user, made without a password); for `passkey`, `<cookie>\t<JSON body>` per line (the signed
//! challenge cookie and the answer of one of 16 software authenticators that keep no
//! counter, as synced passkeys do). Environment: KAVACH_DATABASE_URL,
//! KAVACH_SECRET, KAVACH_BASE_URL.

use kavach::core::plugins::{email_otp::EmailOtpOptions, magic_link::MagicLinkOptions, passkey::PasskeyOptions};
use kavach::core::{RequestContext, plugins::email_password::SignUp};
use kavach_testkit::CaptureMailer;
use kavach_testkit::authenticator::SoftAuthenticator;
use std::io::Write;
use std::sync::{Arc, Mutex};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let (kind, dir, per_file, files) = match &args[..] {
        [_, k, d, n, f] if ["magic", "otp", "passkey"].contains(&k.as_str()) => {
            (k.clone(), std::path::PathBuf::from(d), n.parse::<usize>()?, f.parse::<usize>()?)
        }
        _ => return Err("usage: bench_tokens magic|otp|passkey <dir> <per-file> <files>".into()),
    };
    let env = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
    let base = env("KAVACH_BASE_URL")?;
    let mail = Arc::new(Mutex::new(Vec::new()));
    let mut o = kavach::core::Options { secrets: vec![env("KAVACH_SECRET")?], base_url: base.clone(), ..Default::default() };
    o.magic_link = MagicLinkOptions { enabled: true, ..Default::default() };
    o.email_otp = EmailOtpOptions { enabled: true, ..Default::default() };
    o.passkey = PasskeyOptions { enabled: true, ..Default::default() };
    // The passkeys' user signs up with a session at once.
    o.email_password.require_email_verification = false;
    let k = kavach::Kavach::builder()
        .options(o)
        .database_url(env("KAVACH_DATABASE_URL")?)
        .mailer(CaptureMailer(mail.clone()))
        .background_tasks(false)
        .build()
        .await?;
    let ctx = RequestContext::default();
    let origin = kavach::core::origin_of(&base).ok_or("KAVACH_BASE_URL has no origin")?;

    // Passkeys of one user: 16 authenticators without counters.
    let n_keys = if kind == "passkey" { 16 } else { 0 };
    let email = format!("passkey-bench-{}@example.com", std::process::id());
    let up = k.email_password().sign_up(SignUp { email, password: "benchmark passphrase".into(), name: "Bench".into(), ..Default::default() }, &ctx).await?;
    let s = up.session.ok_or("no session at sign-up")?.session;
    let mut keys = Vec::new();
    for _ in 0..n_keys {
        let mut a = SoftAuthenticator::new();
        a.counterless = true;
        a.synced = true;
        let c = k.passkey().registration_options(&s, &up.user, None).await?;
        let answer = a.register(&c.options, &origin);
        k.passkey().register(&s, &c.token, &answer, None, &ctx).await?;
        keys.push(a);
    }

    let sent = |n: usize| -> Vec<kavach::core::email::Email> {
        mail.lock().map(|mut m| m.drain(..).collect::<Vec<_>>()).unwrap_or_default().into_iter().take(n).collect()
    };
    for run in 0..files {
        let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{kind}-{run}.txt")))?);
        match kind.as_str() {
            "magic" => {
                for i in 0..per_file {
                    let email = existing(&k, format!("magic-{run}-{i}@example.com")).await?;
                    let req = kavach::core::plugins::magic_link::LinkRequest { email, ..Default::default() };
                    k.magic_link().send(&req, &ctx).await?;
                }
                settle(&mail, per_file).await;
                for e in sent(per_file) {
                    writeln!(out, "{}", kavach_testkit::link_token(&e))?;
                }
            }
            "otp" => {
                for i in 0..per_file {
                    let email = existing(&k, format!("otp-{run}-{i}@example.com")).await?;
                    k.email_otp().send(&email, kavach::core::plugins::email_otp::OtpType::SignIn, &ctx).await?;
                }
                settle(&mail, per_file).await;
                for e in sent(per_file) {
                    let code = e.subject.rsplit(' ').next().unwrap_or_default();
                    writeln!(out, "{}", serde_json::json!({ "email": e.to, "otp": code }))?;
                }
            }
            _ => {
                for i in 0..per_file {
                    let c = k.passkey().authentication_options().await?;
                    let n = keys.len();
                    let answer = keys.get_mut(i % n).ok_or("no authenticator")?.authenticate(&c.options, &origin);
                    let set = kavach::http::cookies::set_signed(&k, kavach::http::cookies::PASSKEY, Some(&c.token), std::time::Duration::from_secs(300));
                    let cookie = set.to_str()?.split(';').next().unwrap_or_default().to_owned();
                    writeln!(out, "{cookie}\t{}", serde_json::json!({ "response": answer }))?;
                }
            }
        }
        out.flush()?;
    }
    Ok(())
}

/// A user with this verified address and no password (the measured sign-ins are of
/// existing users); the address.
async fn existing(k: &kavach::Kavach, email: String) -> Res<String> {
    let new = kavach::core::NewUser { email: email.clone(), name: "Bench".into(), password: None, email_verified: true, image: None };
    k.users().create(new, &RequestContext::default()).await?;
    Ok(email)
}

/// Wait until the `n` emails just sent were delivered to the capture mailer.
async fn settle(mail: &Arc<Mutex<Vec<kavach::core::email::Email>>>, n: usize) {
    for _ in 0..2000 {
        if mail.lock().map(|m| m.len()).unwrap_or(0) >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
