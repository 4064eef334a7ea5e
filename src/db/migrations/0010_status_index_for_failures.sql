-- Schema v10: a webhook's deliveries are indexed by status only while they are retrying or
-- failed. `deliveries_webhook_status` held every delivery, so every delivery stored paid an
-- entry for "pending" and every success moved it to "succeeded": an insert and a delete on
-- the writer's path for each delivery, about a fifth of the SQL a delivery costs.
--
-- The searches that need a status the index no longer holds (pending, succeeded) walk
-- `deliveries_webhook` and check the status on the rows, within the span a search looks
-- through (src/db/hooks.rs). Most deliveries succeed, so those walks find their page soon.
--
-- Written with OR, not IN, as 0008 explains; a query may use the index only if its WHERE
-- holds this predicate as written (`hooks::FAILING` adds it).
DROP INDEX deliveries_webhook_status;
CREATE INDEX deliveries_webhook_failing ON deliveries(webhook_id, status, id)
    WHERE status = 'retrying' OR status = 'failed';
