//! `kavach doctor`: check the configuration, database, Redis, email and secret.

use super::Config;
use anyhow::Result;
use kavach::Mode;

pub async fn doctor(cfg: Config) -> Result<i32> {
    let mut failures = 0;
    let mut report = |ok: bool, what: &str, detail: String| {
        println!("[{}] {what}: {detail}", if ok { " ok " } else { "FAIL" });
        if !ok {
            failures += 1;
        }
    };
    report(true, "config", cfg.source.as_ref().map(|p| format!("loaded {}", p.display())).unwrap_or_else(|| "defaults + environment".into()));
    report(true, "mode", format!("{:?}", cfg.options.mode));
    match &cfg.generated_secret {
        Some(p) => report(
            cfg.options.mode == Mode::Development,
            "secret",
            format!("generated development secret in {} (set KAVACH_SECRET for production)", p.display()),
        ),
        None => {
            let weak = cfg.options.secrets.iter().filter(|s| !kavach_core::secret_is_strong(s)).count();
            report(weak == 0, "secret", format!("{} configured, {weak} weak", cfg.options.secrets.len()));
        }
    }
    report(
        cfg.options.mode == Mode::Development || cfg.options.secure(),
        "base URL",
        format!("{}{}", cfg.options.base_url, if cfg.options.secure() { "" } else { " (http: cookies are not Secure; use https in production)" }),
    );
    match kavach_core::store::Db::connect(&cfg.database_url()).await {
        Ok(db) => {
            let ping = db.ping().await;
            report(ping.is_ok(), "database", format!("{} {}", db.backend(), kavach_core::redact_url(&cfg.database_url())));
            // Report only: `kavach migrate` (or `serve`) applies them.
            match db.pending_migrations().await {
                Ok(p) if p.is_empty() => report(true, "migrations", "up to date".into()),
                Ok(p) => report(true, "migrations", format!("pending {p:?}: `kavach serve` or `kavach migrate` applies them")),
                Err(e) => report(false, "migrations", e.to_string()),
            }
        }
        Err(e) => report(false, "database", e.to_string()),
    }
    if let Some(r) = &cfg.redis_url {
        match kavach_core::ratelimit::RateLimiter::redis(r).await {
            Ok(l) => report(l.peek("doctor", kavach_core::ratelimit::Rule::per_minute(1)).await.is_ok(), "redis", kavach_core::redact_url(r)),
            Err(e) => report(false, "redis", e.to_string()),
        }
    }
    match cfg.mailer() {
        Ok(m) => {
            let r = m.check().await;
            let ok = r.is_ok() && (cfg.email.smtp_url.is_some() || cfg.options.mode == Mode::Development);
            report(
                ok,
                "email",
                match r {
                    Ok(()) => m.describe(),
                    Err(e) => e.to_string(),
                },
            );
        }
        Err(e) => report(false, "email", e.to_string()),
    }
    if cfg.options.phone_number.enabled {
        match cfg.sms() {
            Ok(s) => report(cfg.sms.url.is_some() || cfg.options.mode == Mode::Development, "sms", s.describe()),
            Err(e) => report(false, "sms", e.to_string()),
        }
    }
    println!("{}", if failures == 0 { "everything looks fine" } else { "fix the items marked FAIL" });
    Ok(if failures == 0 { 0 } else { 1 })
}
