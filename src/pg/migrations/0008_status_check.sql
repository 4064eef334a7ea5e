-- SQLite's 0008 writes the CHECK on deliveries.status with OR instead of IN, because SQLite
-- builds a temporary b-tree of an IN list for every row it checks. PostgreSQL checks an IN
-- list directly, so nothing changes here: this version exists so the numbers stay shared.
SELECT 1;
