-- The claim query walks deliveries_due for a webhook's due work. Rows under a lease (an
-- attempt in flight) stayed in that index, so every claim stepped over them and read each
-- one's table row to check lease_until. Leased rows now leave the due index while leased and
-- sit in a small index of their own (in flight is bounded by the engine's concurrency), which
-- start-up's lease release and the in-flight gauge read.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries(webhook_id, next_attempt_at)
    WHERE next_attempt_at IS NOT NULL AND lease_until IS NULL;
CREATE INDEX deliveries_leased ON deliveries(lease_until) WHERE lease_until IS NOT NULL;
