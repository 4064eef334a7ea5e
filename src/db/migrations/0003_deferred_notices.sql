-- Notices are never dropped: one that may not be emailed yet (the webhook's owner was told
-- within the hour) waits with due_at set, and the notifier emails it when the hour is over.
-- Further failures of the same kind while one waits are folded into it (repeats), so a
-- webhook failing thousands of times an hour still waits with one row per kind.
ALTER TABLE notifications ADD COLUMN delivery_id INTEGER;
ALTER TABLE notifications ADD COLUMN due_at INTEGER;
ALTER TABLE notifications ADD COLUMN repeats INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN send_attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX notifications_due ON notifications(due_at) WHERE due_at IS NOT NULL;
