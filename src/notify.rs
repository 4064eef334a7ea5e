//! Notification email (seed 001): the webhook's `notification_email` is told when a delivery
//! fails for good and when the webhook is disabled, at most once an hour per webhook. Every
//! notice is also stored (table `notifications`) and logged, so it is visible without SMTP.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    DeliveryFailed,
    WebhookDisabled,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::DeliveryFailed => "delivery_failed",
            NoticeKind::WebhookDisabled => "webhook_disabled",
        }
    }
}

/// What a notice says.
#[derive(Debug, Clone)]
pub struct Notice {
    pub kind: NoticeKind,
    pub webhook_id: i64,
    pub webhook_name: String,
    pub webhook_url: String,
    pub workspace_slug: String,
    pub event_id: String,
    pub event_type: String,
    pub delivery_id: i64,
    pub last_error: String,
    pub disabled_reason: Option<String>,
}

impl Notice {
    pub fn subject(&self) -> String {
        let name = if self.webhook_name.is_empty() {
            &self.webhook_url
        } else {
            &self.webhook_name
        };
        match self.kind {
            NoticeKind::DeliveryFailed => format!("[Hookline] Delivery to {name} failed"),
            NoticeKind::WebhookDisabled => format!("[Hookline] Webhook {name} was disabled"),
        }
    }

    pub fn body(&self, public_url: &str) -> String {
        let link = format!(
            "{public_url}/w/{}/deliveries/{}",
            self.workspace_slug, self.delivery_id
        );
        let webhook_link = format!(
            "{public_url}/w/{}/webhooks/{}",
            self.workspace_slug, self.webhook_id
        );
        let head = match self.kind {
            NoticeKind::DeliveryFailed => "A webhook delivery failed on every attempt and will not be retried.".to_string(),
            NoticeKind::WebhookDisabled => format!(
                "A webhook was disabled: {}. No events are sent to it until it is switched on again.",
                self.disabled_reason.as_deref().unwrap_or("too many failures")
            ),
        };
        format!(
            "{head}\n\nWebhook:    {} ({})\nEvent:      {} ({})\nLast error: {}\n\nDelivery:   {link}\nWebhook:    {webhook_link}\n\n\
             You can retry the delivery from its page once the receiver is fixed.\n\
             You get at most one such email per hour for this webhook.\n",
            if self.webhook_name.is_empty() { "(unnamed)" } else { &self.webhook_name },
            self.webhook_url,
            self.event_type,
            self.event_id,
            self.last_error,
        )
    }
}

/// Sends notices over SMTP when `HOOKLINE_SMTP_URL` is set.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    pub public_url: String,
}

impl Mailer {
    pub fn new(config: &Config, public_url: &str) -> anyhow::Result<Mailer> {
        let transport = match &config.smtp_url {
            None => None,
            Some(u) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(u.as_str())
                    .map_err(|e| anyhow::anyhow!("HOOKLINE_SMTP_URL: {e}"))?
                    .timeout(Some(std::time::Duration::from_secs(20)))
                    .build(),
            ),
        };
        let from = match &config.smtp_from {
            Some(f) => f.clone(),
            None => {
                let host = url::Url::parse(public_url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_default();
                let host = if host.contains('.') {
                    host
                } else {
                    "localhost.localdomain".into()
                };
                format!("hookline@{host}")
            }
        };
        let from: Mailbox = format!("Hookline <{from}>")
            .parse()
            .map_err(|e| anyhow::anyhow!("HOOKLINE_SMTP_FROM: {e}"))?;
        Ok(Mailer {
            transport,
            from,
            public_url: public_url.to_string(),
        })
    }

    pub fn configured(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends one email. `Err` carries a message for the notification record.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), String> {
        let Some(t) = &self.transport else {
            return Err("not sent: HOOKLINE_SMTP_URL is not configured".into());
        };
        let to: Mailbox = to.parse().map_err(|e| format!("bad recipient {to}: {e}"))?;
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body)
            .map_err(|e| format!("building the email: {e}"))?;
        t.send(msg)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}
