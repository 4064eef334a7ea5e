//! What retention removes besides old events: expired idempotency keys, sessions, setup,
//! portal, invitation and reset links, and old notices.

use super::{Db, DbError};

impl Db {
    /// Removes what expired by `now`, and what ended before `cutoff` (the retention period).
    pub async fn expire_tokens(&self, now: i64, cutoff: i64) -> Result<(), DbError> {
        self.write(move |c| {
            c.execute(
                "DELETE FROM idempotency_keys WHERE created_at < ?1",
                [now - super::hooks::IDEMPOTENCY_TTL_MS],
            )?;
            c.execute("DELETE FROM sessions WHERE expires_at < ?1", [now])?;
            // Links expired an hour ago (a late visitor still hears "expired"), ended sessions.
            super::portal::purge_expired(c, now - 3_600_000)?;
            c.execute(
                "DELETE FROM setup_tokens WHERE expires_at < ?1 OR used_at IS NOT NULL",
                [now],
            )?;
            // Spent or expired invitation and reset links, once they are past retention.
            super::invites::purge_ended(c, cutoff)?;
            // Notices still waiting to be emailed are kept whatever their age.
            c.execute(
                "DELETE FROM notifications WHERE created_at < ?1 AND due_at IS NULL",
                [cutoff],
            )?;
            Ok(())
        })
        .await
    }
}
