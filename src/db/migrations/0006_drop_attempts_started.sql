-- Schema v6: no query reads attempts by start time (retention deletes whole events, and their
-- attempts go with their deliveries through attempts_delivery), yet every attempt paid for
-- an entry in this index in the SQLite writer.
DROP INDEX attempts_started;
