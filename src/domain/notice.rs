//! What a failure or disable notice says, and the settings notices are stored under. Pure:
//! the storage backends and the notifier share it (`crate::notify` stores and sends them).

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
             You get at most one email per hour for this webhook; notices that come in meanwhile follow in the next one.\n",
            if self.webhook_name.is_empty() { "(unnamed)" } else { &self.webhook_name },
            self.webhook_url,
            self.event_type,
            self.event_id,
            self.last_error,
        )
    }
}

/// What the recorder needs to store notices.
#[derive(Debug, Clone)]
pub struct NoticeSettings {
    /// Base URL for the links in a notice.
    pub public_url: String,
    /// Whether notices can be emailed at all (`HOOKLINE_SMTP_URL` is set).
    pub smtp_configured: bool,
    /// Least time between two emails about one webhook.
    pub interval_ms: i64,
}
