-- SQLite's 0009 drops its indexes on events' and deliveries' creation times and finds time
-- windows by bisecting ids instead, which holds where one writer hands out the ids in the
-- order it stores rows. Here several nodes take ids from one sequence, stamp times by their
-- own clocks and commit in any order, so ids and times need not grow together: the indexes
-- stay, and this version exists so the numbers stay shared.
SELECT 1;
