//! The `notifications` table: every failure and disable notice, emailed or not. A notice that
//! may not be emailed yet (its webhook's owner was told within the interval) waits with
//! `due_at` set; further notices of the same kind for the same webhook are counted in the
//! waiting one (`repeats`) instead of piling up, and that one email reports them. Only a
//! notice still waiting for its time takes repeats: one that is due may be in the middle of
//! being sent, and a repeat counted into it then would be lost.

use rusqlite::{params, Connection, OptionalExtension};

use super::DbError;
use crate::domain::notice::{NoticeCause, NoticeKind, NoticeSettings};

pub use crate::domain::notice::NoticeContext;

pub fn context(
    c: &Connection,
    webhook_id: i64,
    delivery_id: i64,
) -> Result<Option<NoticeContext>, DbError> {
    Ok(c.query_row(
        "SELECT w.name, w.url, w.notification_email, s.slug, w.last_notified_at, e.public_id, e.type
         FROM webhooks w JOIN workspaces s ON s.id = w.workspace_id
         JOIN deliveries d ON d.id = ?2 JOIN events e ON e.id = d.event_id
         WHERE w.id = ?1",
        params![webhook_id, delivery_id],
        |r| {
            Ok(NoticeContext {
                webhook_name: r.get(0)?,
                webhook_url: r.get(1)?,
                notification_email: r.get(2)?,
                workspace_slug: r.get(3)?,
                last_notified_at: r.get(4)?,
                event_public_id: r.get(5)?,
                event_type: r.get(6)?,
            })
        },
    )
    .optional()?)
}

/// A notice to store.
pub struct NewNotice<'a> {
    pub webhook_id: i64,
    pub delivery_id: i64,
    pub kind: &'a str,
    pub recipient: Option<&'a str>,
    pub subject: &'a str,
    pub body: &'a str,
    pub now: i64,
    /// When it may be emailed; `None` when it will not be (`error` says why).
    pub due_at: Option<i64>,
    pub error: Option<&'a str>,
}

/// Stores a notice. One that is to be emailed while another of its kind waits for the same
/// webhook is folded into that one. Returns whether a new notice now waits to be emailed.
pub fn store(c: &Connection, n: &NewNotice) -> Result<bool, DbError> {
    if n.due_at.is_some() {
        let folded = c
            .prepare_cached(
                "UPDATE notifications SET repeats = repeats + 1
                 WHERE webhook_id = ?1 AND kind = ?2 AND due_at > ?3",
            )?
            .execute(params![n.webhook_id, n.kind, n.now])?;
        if folded > 0 {
            return Ok(false);
        }
    }
    c.prepare_cached(
        "INSERT INTO notifications (webhook_id, delivery_id, kind, recipient, subject, body, created_at, due_at, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        n.webhook_id,
        n.delivery_id,
        n.kind,
        n.recipient,
        n.subject,
        n.body,
        n.now,
        n.due_at,
        n.error
    ])?;
    Ok(n.due_at.is_some())
}

/// When the next waiting notice falls due.
pub fn next_due(c: &Connection) -> Result<Option<i64>, DbError> {
    Ok(c.query_row(
        "SELECT min(due_at) FROM notifications WHERE due_at IS NOT NULL",
        [],
        |r| r.get(0),
    )?)
}

/// A notice waiting to be emailed.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub id: i64,
    pub webhook_id: i64,
    pub kind: String,
    pub recipient: Option<String>,
    pub subject: String,
    pub body: String,
    pub repeats: i64,
    pub send_attempts: i64,
    /// The webhook's last email, to keep to one an interval.
    pub last_notified_at: Option<i64>,
}

/// Every notice due by `now`, grouped by webhook (oldest first within each).
pub fn due(c: &Connection, now: i64) -> Result<Vec<Waiting>, DbError> {
    let mut st = c.prepare_cached(
        "SELECT n.id, n.webhook_id, n.kind, n.recipient, n.subject, n.body, n.repeats, n.send_attempts,
                w.last_notified_at
         FROM notifications n JOIN webhooks w ON w.id = n.webhook_id
         WHERE n.due_at IS NOT NULL AND n.due_at <= ?1 ORDER BY n.webhook_id, n.id",
    )?;
    let rows = st
        .query_map([now], |r| {
            Ok(Waiting {
                id: r.get(0)?,
                webhook_id: r.get(1)?,
                kind: r.get(2)?,
                recipient: r.get(3)?,
                subject: r.get(4)?,
                body: r.get(5)?,
                repeats: r.get(6)?,
                send_attempts: r.get(7)?,
                last_notified_at: r.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The notices were emailed at `now`, each with the `repeats` it had when it was read: they
/// are done, and the webhook's interval restarts. One that took more repeats meanwhile (it
/// should not: see the module) keeps waiting with those, so none goes unreported.
pub fn mark_sent(
    c: &Connection,
    webhook_id: i64,
    sent: &[(i64, i64)],
    now: i64,
) -> Result<(), DbError> {
    let mut done = c.prepare_cached(
        "UPDATE notifications SET sent_at = ?2, due_at = NULL, error = NULL, send_attempts = send_attempts + 1
         WHERE id = ?1 AND repeats = ?3",
    )?;
    let mut left =
        c.prepare_cached("UPDATE notifications SET repeats = repeats - ?2 - 1 WHERE id = ?1")?;
    for &(id, repeats) in sent {
        if done.execute(params![id, now, repeats])? == 0 {
            left.execute(params![id, repeats])?;
        }
    }
    c.prepare_cached("UPDATE webhooks SET last_notified_at = ?2 WHERE id = ?1")?
        .execute(params![webhook_id, now])?;
    Ok(())
}

/// Sending failed with `error`: try again at `retry_at`, or give up (`None`, the error kept).
pub fn mark_failed(
    c: &Connection,
    ids: &[i64],
    error: &str,
    retry_at: Option<i64>,
) -> Result<(), DbError> {
    let mut st = c.prepare_cached(
        "UPDATE notifications SET error = ?2, due_at = ?3, send_attempts = send_attempts + 1 WHERE id = ?1",
    )?;
    for id in ids {
        st.execute(params![id, error, retry_at])?;
    }
    Ok(())
}

/// Not yet: the webhook's owner was emailed too recently; wait until `at`.
pub fn postpone(c: &Connection, ids: &[i64], at: i64) -> Result<(), DbError> {
    let mut st = c.prepare_cached("UPDATE notifications SET due_at = ?2 WHERE id = ?1")?;
    for id in ids {
        st.execute(params![id, at])?;
    }
    Ok(())
}

/// Stores the notice that a delivery failed for good or its webhook was disabled, inside the
/// caller's write (the attempt's record), so a crash cannot lose it. It is due at once, or
/// when the webhook's interval since its last email is over; without a recipient or SMTP it
/// is stored as not sent, with the reason. Returns whether the notifier has new work.
#[allow(clippy::too_many_arguments)]
pub fn enqueue(
    c: &Connection,
    settings: &NoticeSettings,
    kind: NoticeKind,
    webhook_id: i64,
    delivery_id: i64,
    last_error: &str,
    disabled_reason: Option<String>,
    now: i64,
) -> Result<bool, DbError> {
    let Some(ctx) = context(c, webhook_id, delivery_id)? else {
        return Ok(false); // deleted meanwhile
    };
    let n = crate::domain::notice::compose(
        ctx,
        settings,
        NoticeCause {
            kind,
            webhook_id,
            delivery_id,
            last_error: last_error.to_string(),
            disabled_reason,
            now,
        },
    );
    store(
        c,
        &NewNotice {
            webhook_id,
            delivery_id,
            kind: kind.as_str(),
            recipient: n.recipient.as_deref(),
            subject: &n.subject,
            body: &n.body,
            now,
            due_at: n.due_at,
            error: n.error,
        },
    )
}

impl super::Db {
    pub async fn notices_due(&self, now: i64) -> Result<Vec<Waiting>, DbError> {
        self.read(move |c| due(c, now)).await
    }

    pub async fn notices_next_due(&self) -> Result<Option<i64>, DbError> {
        self.read(next_due).await
    }

    pub async fn notices_postpone(&self, ids: Vec<i64>, at: i64) -> Result<(), DbError> {
        self.write(move |c| postpone(c, &ids, at)).await
    }

    pub async fn notices_mark_failed(
        &self,
        ids: Vec<i64>,
        error: String,
        retry_at: Option<i64>,
    ) -> Result<(), DbError> {
        self.write(move |c| mark_failed(c, &ids, &error, retry_at))
            .await
    }

    pub async fn notices_mark_sent(
        &self,
        webhook_id: i64,
        sent: Vec<(i64, i64)>,
        now: i64,
    ) -> Result<(), DbError> {
        self.write(move |c| mark_sent(c, webhook_id, &sent, now))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        c.execute_batch(
            "INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'a', 'a', 0);
             INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
                 VALUES (1, 1, 'https://x.io', '[\"*\"]', '[]', 0, x'00', 0, 0);",
        )
        .unwrap();
        (dir, c)
    }

    fn notice(now: i64, due_at: i64) -> NewNotice<'static> {
        NewNotice {
            webhook_id: 1,
            delivery_id: 1,
            kind: "delivery_failed",
            recipient: Some("ops@example.com"),
            subject: "s",
            body: "b",
            now,
            due_at: Some(due_at),
            error: None,
        }
    }

    fn rows(c: &Connection) -> Vec<(Option<i64>, i64, bool)> {
        c.prepare("SELECT due_at, repeats, sent_at IS NOT NULL FROM notifications ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn repeats_fold_only_into_a_notice_still_waiting_for_its_time() {
        let (_d, c) = seed();
        // Waiting until 5000: a repeat at 1000 folds in.
        assert!(store(&c, &notice(0, 5000)).unwrap());
        assert!(!store(&c, &notice(1000, 1000)).unwrap());
        assert_eq!(rows(&c), [(Some(5000), 1, false)]);
        // At 5000 it is due (perhaps being sent): a repeat then is a notice of its own.
        assert!(store(&c, &notice(5000, 9000)).unwrap());
        assert_eq!(rows(&c), [(Some(5000), 1, false), (Some(9000), 0, false)]);
    }

    #[test]
    fn a_repeat_counted_while_sending_keeps_waiting() {
        let (_d, c) = seed();
        store(&c, &notice(0, 5000)).unwrap();
        let read = due(&c, 6000).unwrap();
        assert_eq!((read.len(), read[0].repeats), (1, 0));
        // Counted in after it was read (which the store's guard prevents, but must not
        // lose a repeat if it ever happens).
        c.execute("UPDATE notifications SET repeats = repeats + 2", [])
            .unwrap();
        mark_sent(&c, 1, &[(read[0].id, read[0].repeats)], 6000).unwrap();
        assert_eq!(rows(&c), [(Some(5000), 1, false)], "one left to report");
        let again = due(&c, 7000).unwrap();
        mark_sent(&c, 1, &[(again[0].id, again[0].repeats)], 7000).unwrap();
        assert_eq!(rows(&c), [(None, 1, true)]);
    }
}
