//! `kavach serve`: migrate, listen, serve until SIGINT or SIGTERM.

use super::Config;
use anyhow::{Context, Result, anyhow};
use kavach::Mode;
use std::net::SocketAddr;
use std::time::Instant;

pub async fn serve(mut cfg: Config, listen: Option<SocketAddr>, started: Instant) -> Result<i32> {
    // The crypto library seeds its random generator from CPU jitter (and the OS) once per
    // process, about 50 ms; begin now, alongside the start-up work, rather than in the first
    // request that needs randomness (measured: the first answer came 50 ms after "ready").
    let _ = std::thread::Builder::new().name("kavach-rng-seed".into()).spawn(kavach_core::crypto::random_bytes::<1>);
    if let Some(l) = listen {
        cfg.listen = l;
    }
    if let Some(p) = &cfg.generated_secret {
        tracing::warn!("development mode: using the generated secret in {} (set KAVACH_SECRET for production)", p.display());
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    cfg.set_bound_address(addr);
    let k = super::kavach(&cfg, true).await?;
    // Relying parties fetch the key set at start-up: it has a key for every advertised
    // algorithm from the first start.
    k.keys().ensure().await.map_err(|e| anyhow!("{e}"))?;
    let o = k.options();
    let api = o.api_url("");
    println!("Kavach {} listening on http://{addr}", env!("CARGO_PKG_VERSION"));
    println!("  API       {api}   (docs: {api}/docs, OpenAPI: {api}/openapi.json)");
    println!("  database  {}", kavach_core::redact_url(&cfg.database_url()));
    println!("  email     {}", k.mailer().describe());
    if o.phone_number.enabled
        && let Ok(sms) = cfg.sms()
    {
        println!("  sms       {}", sms.describe());
    }
    println!("  mode      {:?}{}", o.mode, if o.mode == Mode::Development { " (set KAVACH_MODE=production for deployments)" } else { "" });
    println!("  ready in  {} ms", started.elapsed().as_millis());
    println!(
        "Next: create an account with\n  curl -H 'content-type: application/json' -d '{{\"email\":\"you@example.com\",\"password\":\"a long passphrase\",\"name\":\"You\"}}' {api}/sign-up/email"
    );
    if o.email_password.require_email_verification {
        println!("  then open the verification link from the email (development: {}/outbox).", cfg.data_dir.display());
    }
    let app = k.app().into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    // Token issuance records are written in groups in the background: write the last ones.
    k.flush_audit().await;
    k.db().close().await;
    tracing::info!("stopped");
    Ok(0)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
