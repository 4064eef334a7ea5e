-- SQLite's 0010 indexes a webhook's deliveries by status only while they are retrying or
-- failed, to spare its single writer an index entry per delivery stored and a move per
-- success. PostgreSQL has no single writer to spare and plans from its own statistics, so
-- it keeps `deliveries_webhook_status`; this version exists so the numbers stay shared.
SELECT 1;
