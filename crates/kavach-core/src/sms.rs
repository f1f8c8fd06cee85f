//! Text messages (`[phone_number]` codes): the [`SmsSender`] trait, the development
//! outbox, and the message the codes go out in. The HTTP sender that talks to a
//! provider's API lives in the `kavach` crate (it owns the HTTP client).

use crate::email::SendFuture;
use crate::error::Error;
use std::path::PathBuf;

/// A text message to a phone number in E.164 form.
#[derive(Clone, Debug)]
pub struct Sms {
    pub to: String,
    pub text: String,
}

/// Something that delivers text messages. Implement it to use your own provider.
pub trait SmsSender: Send + Sync + 'static {
    fn send(&self, sms: Sms) -> SendFuture<'_>;
    fn describe(&self) -> String;
    /// True for the development outbox ([`DevSms`]), which production mode refuses.
    fn is_development(&self) -> bool {
        false
    }
}

/// Development delivery: each message is logged and written to `outbox/` as a text
/// file named after the number, so a newcomer reads the codes without a provider.
pub struct DevSms {
    outbox: PathBuf,
}

impl DevSms {
    pub fn new(outbox: impl Into<PathBuf>) -> Self {
        DevSms { outbox: outbox.into() }
    }
}

impl SmsSender for DevSms {
    fn send(&self, sms: Sms) -> SendFuture<'_> {
        Box::pin(async move {
            tokio::fs::create_dir_all(&self.outbox)
                .await
                .map_err(|e| Error::internal(format!("cannot create outbox {}", self.outbox.display())).with_source(e))?;
            let safe_to: String = sms.to.chars().filter(char::is_ascii_digit).collect();
            let path = self.outbox.join(format!("{}-sms-{safe_to}.txt", crate::store::Ts::now().0));
            tokio::fs::write(&path, format!("To: {}\n\n{}", sms.to, sms.text))
                .await
                .map_err(|e| Error::internal(format!("cannot write {}", path.display())).with_source(e))?;
            tracing::info!(to = %sms.to, file = %path.display(), "development SMS sender: message written to the outbox\n{}", sms.text);
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!("development SMS outbox {}", self.outbox.display())
    }

    fn is_development(&self) -> bool {
        true
    }
}

impl crate::Core {
    /// Send a text message in the background (the request does not wait for the
    /// provider, and its timing does not tell whether one was sent); with `send` false,
    /// nothing goes out. Errors without a sender: the caller checked first.
    pub(crate) fn send_sms_if(&self, send: bool, to: &str, text: String) {
        let Some(sender) = self.sms.clone().filter(|_| send) else { return };
        let sms = Sms { to: to.to_owned(), text };
        tokio::spawn(async move {
            let to = sms.to.clone();
            if let Err(e) = sender.send(sms).await {
                tracing::error!(error = %e, %to, "SMS delivery failed");
            }
        });
    }
}
