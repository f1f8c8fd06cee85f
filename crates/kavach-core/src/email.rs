//! Outgoing email: a [`Mailer`] trait with an SMTP implementation (lettre, one URL
//! configures it) and a development implementation that writes each message to the
//! log and to an outbox folder. Messages are rendered from text templates that an
//! operator can replace by putting files of the same name in a templates folder.

use crate::error::{Code, Error, Result};
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

/// One message to send.
#[derive(Clone, Debug)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Something that delivers email. Implement it to use your own provider.
pub trait Mailer: Send + Sync + 'static {
    fn send(&self, email: Email) -> SendFuture<'_>;
    /// Check that delivery can work (used by `kavach doctor`).
    fn check(&self) -> SendFuture<'_> {
        Box::pin(async { Ok(()) })
    }
    fn describe(&self) -> String;
    /// True for the development outbox ([`DevMailer`]), which production mode refuses:
    /// it keeps live sign-in links on disk and in the logs.
    fn is_development(&self) -> bool {
        false
    }
}

/// SMTP delivery configured by a URL: `smtp://user:pass@host:587?tls=required`
/// (STARTTLS), `smtps://host:465` (implicit TLS) or `smtp://localhost:2525` (plain,
/// for local relays and tests).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    url_redacted: String,
}

pub fn parse_mailbox(from: &str) -> Result<Mailbox> {
    from.parse::<Mailbox>().map_err(|e| Error::config(format!("invalid email sender {from:?}: {e} (example: \"Kavach <no-reply@example.com>\")")))
}

impl SmtpMailer {
    pub fn new(url: &str, from: &str) -> Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| Error::config(format!("invalid SMTP URL {}: {e}", crate::redact_url(url))))?
            .timeout(Some(std::time::Duration::from_secs(15)))
            .build();
        Ok(SmtpMailer { transport, from: parse_mailbox(from)?, url_redacted: crate::redact_url(url) })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, email: Email) -> SendFuture<'_> {
        Box::pin(async move {
            let to: Mailbox = email.to.parse().map_err(|_| Error::bad_request(Code::InvalidEmail, "Invalid email address"))?;
            let msg = lettre::Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(email.subject)
                .header(ContentType::TEXT_PLAIN)
                .body(email.text)
                .map_err(|e| Error::internal("could not build the email").with_source(e))?;
            self.transport.send(msg).await.map_err(|e| Error::new(crate::error::Kind::Unavailable, Code::SmtpError, "email delivery failed").with_source(e))?;
            Ok(())
        })
    }

    fn check(&self) -> SendFuture<'_> {
        Box::pin(async move {
            match self.transport.test_connection().await {
                Ok(true) => Ok(()),
                Ok(false) => Err(Error::config(format!("SMTP server {} did not accept a connection", self.url_redacted))),
                Err(e) => Err(Error::config(format!("cannot reach SMTP server {}: {e}", self.url_redacted))),
            }
        })
    }

    fn describe(&self) -> String {
        format!("SMTP {}", self.url_redacted)
    }
}

/// Development delivery: each message is logged and written to `outbox/` as a
/// text file, so a newcomer can open the links without an SMTP server.
pub struct DevMailer {
    outbox: PathBuf,
}

impl DevMailer {
    pub fn new(outbox: impl Into<PathBuf>) -> Self {
        DevMailer { outbox: outbox.into() }
    }
    pub fn outbox(&self) -> &Path {
        &self.outbox
    }
}

impl Mailer for DevMailer {
    fn send(&self, email: Email) -> SendFuture<'_> {
        Box::pin(async move {
            tokio::fs::create_dir_all(&self.outbox)
                .await
                .map_err(|e| Error::internal(format!("cannot create outbox {}", self.outbox.display())).with_source(e))?;
            let safe_to: String = email.to.chars().map(|c| if c.is_ascii_alphanumeric() || c == '@' || c == '.' { c } else { '_' }).collect();
            let name = format!("{}-{}.txt", crate::store::Ts::now().0, safe_to);
            let path = self.outbox.join(name);
            let body = format!("To: {}\nSubject: {}\n\n{}", email.to, email.subject, email.text);
            tokio::fs::write(&path, &body).await.map_err(|e| Error::internal(format!("cannot write {}", path.display())).with_source(e))?;
            tracing::info!(to = %email.to, subject = %email.subject, file = %path.display(), "development mailer: message written to the outbox\n{}", email.text);
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!("development outbox {}", self.outbox.display())
    }

    fn is_development(&self) -> bool {
        true
    }
}

/// The built-in templates; a file with the same name in the templates folder wins.
const BUILTIN: &[(&str, &str)] = &[
    ("verify-email.txt", include_str!("../templates/email/verify-email.txt")),
    ("reset-password.txt", include_str!("../templates/email/reset-password.txt")),
    ("change-email.txt", include_str!("../templates/email/change-email.txt")),
    ("account-exists.txt", include_str!("../templates/email/account-exists.txt")),
    ("email-change-requested.txt", include_str!("../templates/email/email-change-requested.txt")),
    ("invitation.txt", include_str!("../templates/email/invitation.txt")),
    ("agent-approval.txt", include_str!("../templates/email/agent-approval.txt")),
    ("two-factor-otp.txt", include_str!("../templates/email/two-factor-otp.txt")),
    ("magic-link.txt", include_str!("../templates/email/magic-link.txt")),
    ("email-otp.txt", include_str!("../templates/email/email-otp.txt")),
];

/// Add built-in templates to `env`, each replaced by a file of the same name in `dir`
/// when there is one (`kind` names them in errors). Shared by the email templates and
/// the hosted pages.
pub fn add_templates(env: &mut minijinja::Environment<'static>, builtin: &[(&str, &str)], dir: Option<&Path>, kind: &str) -> Result<()> {
    for (name, source) in builtin {
        let source = match dir.map(|d| d.join(name)).filter(|p| p.exists()) {
            Some(p) => std::fs::read_to_string(&p).map_err(|e| Error::config(format!("cannot read {kind} template {}: {e}", p.display())))?,
            None => (*source).to_owned(),
        };
        env.add_template_owned(name.to_string(), source).map_err(|e| Error::config(format!("{kind} template {name} is invalid: {e}")))?;
    }
    Ok(())
}

/// Renders email templates: `Subject: ...` on the first line, a blank line, the body.
pub struct Templates {
    env: minijinja::Environment<'static>,
}

impl Templates {
    /// Load the built-in templates, overridden by files in `dir` if given.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        add_templates(&mut env, BUILTIN, dir, "email")?;
        Ok(Templates { env })
    }

    pub fn render(&self, name: &str, to: &str, ctx: minijinja::Value) -> Result<Email> {
        let out =
            self.env.get_template(name).and_then(|t| t.render(ctx)).map_err(|e| Error::internal(format!("email template {name} failed to render: {e}")))?;
        let (subject, text) = match out.strip_prefix("Subject:") {
            Some(rest) => {
                let (s, body) = rest.split_once('\n').unwrap_or((rest, ""));
                (s.trim().to_owned(), body.trim_start_matches('\n').to_owned())
            }
            None => (String::from("Message"), out),
        };
        Ok(Email { to: to.to_owned(), subject, text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_render() {
        let t = Templates::load(None).unwrap();
        for (name, _) in BUILTIN {
            let e = t
                .render(
                    name,
                    "a@example.com",
                    minijinja::context! { app_name => "Kavach", name => "Ann", email => "a@example.com",
                    new_email => "b@example.com", url => "http://x/y?token=1", reset_url => "http://x/r", expires_in => "1 hour" },
                )
                .unwrap();
            assert!(!e.subject.is_empty() && !e.subject.contains('{'), "{name}: {}", e.subject);
            assert!(!e.text.contains("{{"), "{name}");
        }
    }

    #[test]
    fn operator_templates_override() {
        let dir = std::env::temp_dir().join(format!("kavach-tpl-{}", crate::crypto::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("verify-email.txt"), "Subject: Custom {{ app_name }}\n\nClick {{ url }}").unwrap();
        let t = Templates::load(Some(&dir)).unwrap();
        let e = t.render("verify-email.txt", "a@x.io", minijinja::context! { app_name => "Acme", url => "U" }).unwrap();
        assert_eq!(e.subject, "Custom Acme");
        assert_eq!(e.text, "Click U");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn smtp_urls_are_redacted() {
        assert_eq!(crate::redact_url("smtp://user:pw@mail.example.com:587"), "smtp://user:***@mail.example.com:587");
        assert_eq!(crate::redact_url("smtp://localhost:25"), "smtp://localhost:25");
        assert_eq!(crate::redact_url("postgres://h/db?user=k&password=pw&sslmode=require"), "postgres://h/db?user=k&password=***&sslmode=require");
    }
}
