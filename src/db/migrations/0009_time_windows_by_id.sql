-- Schema v9: time windows become id ranges by bisecting the ids (src/db/by_time.rs), since
-- ids and creation times grow together. These two indexes on creation times were kept only
-- for that, and every event and delivery stored paid for an entry in each in the writer.
DROP INDEX deliveries_workspace_created;
DROP INDEX events_created;
