//! Text messages through a provider's HTTP API (`[sms]`): Twilio's Messages API (a form
//! with `To`, `From`, `Body` and HTTP Basic authentication), which other providers
//! (Vonage's SMS API, Plivo, Telnyx's Twilio-compatible endpoint) also accept, or a plain
//! JSON body `{ "to", "from", "text" }` for a relay of your own.

use kavach_core::email::SendFuture;
use kavach_core::sms::{Sms, SmsSender};
use kavach_core::{Code, Error, Kind};
use serde::Deserialize;

/// The body a provider expects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsFormat {
    /// `application/x-www-form-urlencoded` `To`, `From`, `Body` (Twilio's Messages API).
    #[default]
    Twilio,
    /// `application/json` `{ "to", "from", "text" }`.
    Json,
}

/// How the sender authenticates to the provider.
#[derive(Clone, Debug)]
pub enum SmsAuth {
    None,
    /// HTTP Basic (Twilio: the account SID and the auth token).
    Basic {
        username: String,
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

/// Sends each message with one POST to the provider's URL; a status other than 2xx is
/// an error (logged by the caller; the request that asked for the code does not wait).
pub struct HttpSms {
    client: reqwest::Client,
    url: String,
    from: String,
    format: SmsFormat,
    auth: SmsAuth,
}

impl HttpSms {
    pub fn new(url: &str, from: &str, format: SmsFormat, auth: SmsAuth) -> kavach_core::Result<Self> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(Error::config(format!("sms.url = {:?}: expected an http(s) URL", kavach_core::redact_url(url))));
        }
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| Error::config(format!("cannot build the SMS HTTP client: {e}")))?;
        Ok(HttpSms { client, url: url.to_owned(), from: from.to_owned(), format, auth })
    }
}

impl SmsSender for HttpSms {
    fn send(&self, sms: Sms) -> SendFuture<'_> {
        Box::pin(async move {
            let req = self.client.post(&self.url);
            let req = match self.format {
                SmsFormat::Twilio => {
                    let enc = kavach_core::text::url_encode;
                    let body = format!("To={}&From={}&Body={}", enc(&sms.to), enc(&self.from), enc(&sms.text));
                    req.header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(body)
                }
                SmsFormat::Json => req.json(&serde_json::json!({ "to": sms.to, "from": self.from, "text": sms.text })),
            };
            let req = match &self.auth {
                SmsAuth::None => req,
                SmsAuth::Basic { username, password } => req.basic_auth(username, Some(password)),
                SmsAuth::Bearer(token) => req.bearer_auth(token),
            };
            let failed = |what: String| Error::new(Kind::Unavailable, Code::SmsNotConfigured, "SMS delivery failed").with_source(std::io::Error::other(what));
            let resp = req.send().await.map_err(|e| failed(format!("{}: {e}", kavach_core::redact_url(&self.url))))?;
            if !resp.status().is_success() {
                return Err(failed(format!("{} answered {}", kavach_core::redact_url(&self.url), resp.status())));
            }
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!("SMS over HTTP {} ({:?})", kavach_core::redact_url(&self.url), self.format)
    }
}
