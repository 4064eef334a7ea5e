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

/// The parts of a webhook, its workspace and an event that a notice names, as a backend
/// reads them in the attempt's write.
#[derive(Debug, Clone)]
pub struct NoticeContext {
    pub webhook_name: String,
    pub webhook_url: String,
    pub notification_email: Option<String>,
    pub workspace_slug: String,
    pub last_notified_at: Option<i64>,
    pub event_public_id: String,
    pub event_type: String,
}

/// What happened, for [`compose`].
#[derive(Debug, Clone)]
pub struct NoticeCause {
    pub kind: NoticeKind,
    pub webhook_id: i64,
    pub delivery_id: i64,
    pub last_error: String,
    pub disabled_reason: Option<String>,
    pub now: i64,
}

/// A notice as it is stored: what it says, to whom, and when it may be emailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub recipient: Option<String>,
    pub subject: String,
    pub body: String,
    /// When it may be emailed (at once, or once the webhook's interval since its last email
    /// is over); `None` when it will not be, and `error` says why.
    pub due_at: Option<i64>,
    pub error: Option<&'static str>,
}

/// Writes the notice for `cause` and decides when it may go out: without a recipient or SMTP
/// it is stored as not sent, with the reason. The same on every storage backend.
pub fn compose(ctx: NoticeContext, settings: &NoticeSettings, cause: NoticeCause) -> Composed {
    let NoticeCause {
        kind,
        webhook_id,
        delivery_id,
        last_error,
        disabled_reason,
        now,
    } = cause;
    let notice = Notice {
        kind,
        webhook_id,
        webhook_name: ctx.webhook_name,
        webhook_url: ctx.webhook_url,
        workspace_slug: ctx.workspace_slug,
        event_id: ctx.event_public_id,
        event_type: ctx.event_type,
        delivery_id,
        last_error,
        disabled_reason,
    };
    let subject = notice.subject();
    let body = notice.body(&settings.public_url);
    let (due_at, error) = match (&ctx.notification_email, settings.smtp_configured) {
        (None, _) => (
            None,
            Some("not sent: the webhook has no notification email"),
        ),
        (Some(_), false) => (None, Some("not sent: HOOKLINE_SMTP_URL is not configured")),
        (Some(_), true) => (
            Some(
                ctx.last_notified_at
                    .map_or(now, |t| now.max(t + settings.interval_ms)),
            ),
            None,
        ),
    };
    if let Some(e) = error {
        tracing::warn!(webhook_id, kind = kind.as_str(), error = e, subject = %subject, "notification not emailed");
    } else if due_at.is_some_and(|d| d > now) {
        tracing::info!(
            webhook_id,
            kind = kind.as_str(),
            "notification deferred: the owner was emailed within the hour"
        );
    }
    Composed {
        recipient: ctx.notification_email,
        subject,
        body,
        due_at,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(email: Option<&str>, last: Option<i64>) -> NoticeContext {
        NoticeContext {
            webhook_name: String::new(),
            webhook_url: "https://x.io/h".into(),
            notification_email: email.map(str::to_string),
            workspace_slug: "acme".into(),
            last_notified_at: last,
            event_public_id: "evt_1".into(),
            event_type: "a.b".into(),
        }
    }

    fn settings(smtp: bool) -> NoticeSettings {
        NoticeSettings {
            public_url: "https://hooks.example".into(),
            smtp_configured: smtp,
            interval_ms: 3_600_000,
        }
    }

    fn cause(now: i64) -> NoticeCause {
        NoticeCause {
            kind: NoticeKind::DeliveryFailed,
            webhook_id: 7,
            delivery_id: 9,
            last_error: "HTTP 500".into(),
            disabled_reason: None,
            now,
        }
    }

    #[test]
    fn a_notice_is_due_at_once_later_or_never_with_the_reason() {
        let now = 10_000_000;
        let c = compose(ctx(Some("ops@x.io"), None), &settings(true), cause(now));
        assert_eq!((c.due_at, c.error), (Some(now), None));
        assert_eq!(c.recipient.as_deref(), Some("ops@x.io"));
        assert_eq!(c.subject, "[Hookline] Delivery to https://x.io/h failed");
        assert!(c.body.contains("https://hooks.example/w/acme/deliveries/9"));
        // Emailed ten minutes ago: it waits for the rest of the hour.
        let c = compose(
            ctx(Some("ops@x.io"), Some(now - 600_000)),
            &settings(true),
            cause(now),
        );
        assert_eq!(c.due_at, Some(now + 3_000_000));
        let c = compose(ctx(None, None), &settings(true), cause(now));
        assert_eq!(
            (c.due_at, c.error),
            (
                None,
                Some("not sent: the webhook has no notification email")
            )
        );
        let c = compose(ctx(Some("ops@x.io"), None), &settings(false), cause(now));
        assert_eq!(
            (c.due_at, c.error),
            (None, Some("not sent: HOOKLINE_SMTP_URL is not configured"))
        );
    }
}
