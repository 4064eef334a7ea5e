-- Schema v5: the delivery history at scale (issue 17): workspace-wide lists, time windows,
-- bulk retries and replays as background jobs.

-- Workspace-wide lists walk this newest first; time windows become id ranges through the
-- second (ids and creation times grow together), so a six-hour window of a month of history
-- is found without scanning the rest.
CREATE INDEX deliveries_workspace ON deliveries(workspace_id, id);
CREATE INDEX deliveries_workspace_created ON deliveries(workspace_id, created_at);

-- A replayed delivery names the job that made it; one per (job, event, webhook), so a job
-- resumed after a crash never sends an event twice.
ALTER TABLE deliveries ADD COLUMN job_id INTEGER;
CREATE UNIQUE INDEX deliveries_replay ON deliveries(job_id, event_id, webhook_id) WHERE job_id IS NOT NULL;

-- Bulk retries and replays: they run in the background in small batches and survive
-- restarts (`cursor` is the last row handled; `total` was counted when the job was made).
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    webhook_id    INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('bulk_retry', 'replay')),
    params        TEXT NOT NULL,   -- JSON: the window and filters the job was made with
    state         TEXT NOT NULL CHECK (state IN ('running', 'done', 'cancelled', 'failed')),
    total         INTEGER NOT NULL,
    done          INTEGER NOT NULL DEFAULT 0,
    cursor        INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    created_by    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER
);
CREATE INDEX jobs_workspace ON jobs(workspace_id, id);
CREATE INDEX jobs_running ON jobs(state) WHERE state = 'running';

-- Per webhook and hour: what its attempts came to, kept in the same write as the attempts
-- (so exact under crashes). Response times are counted in fixed buckets (`latency`, a JSON
-- array of counts, bucket i holding durations up to LATENCY_BOUNDS[i] ms) for p50 and p95.
CREATE TABLE webhook_stats (
    webhook_id  INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    hour        INTEGER NOT NULL,  -- unix ms of the hour's start
    succeeded   INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    latency     TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (webhook_id, hour)
) WITHOUT ROWID;

-- The last eight days of existing attempts, so the charts have a history from the start.
INSERT INTO webhook_stats (webhook_id, hour, succeeded, failed, attempts, latency)
SELECT d.webhook_id, (a.started_at / 3600000) * 3600000,
       SUM(ok), COUNT(*) - SUM(ok), COUNT(*),
       json_array(COALESCE(SUM(a.duration_ms <= 5), 0),
           COALESCE(SUM(a.duration_ms > 5 AND a.duration_ms <= 10), 0),
           COALESCE(SUM(a.duration_ms > 10 AND a.duration_ms <= 25), 0),
           COALESCE(SUM(a.duration_ms > 25 AND a.duration_ms <= 50), 0),
           COALESCE(SUM(a.duration_ms > 50 AND a.duration_ms <= 100), 0),
           COALESCE(SUM(a.duration_ms > 100 AND a.duration_ms <= 250), 0),
           COALESCE(SUM(a.duration_ms > 250 AND a.duration_ms <= 500), 0),
           COALESCE(SUM(a.duration_ms > 500 AND a.duration_ms <= 1000), 0),
           COALESCE(SUM(a.duration_ms > 1000 AND a.duration_ms <= 2500), 0),
           COALESCE(SUM(a.duration_ms > 2500 AND a.duration_ms <= 5000), 0),
           COALESCE(SUM(a.duration_ms > 5000 AND a.duration_ms <= 10000), 0),
           COALESCE(SUM(a.duration_ms > 10000 AND a.duration_ms <= 30000), 0),
           COALESCE(SUM(a.duration_ms > 30000 AND a.duration_ms <= 60000), 0),
           COALESCE(SUM(a.duration_ms > 60000), 0))
FROM (SELECT *, (COALESCE(response_status BETWEEN 200 AND 299, 0) AND error IS NULL) AS ok FROM attempts) a
JOIN deliveries d ON d.id = a.delivery_id
WHERE a.started_at >= (CAST(strftime('%s', 'now') AS INTEGER) - 8 * 86400) * 1000
GROUP BY d.webhook_id, a.started_at / 3600000;
