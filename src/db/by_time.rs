//! Time windows as id ranges, found without an index on creation times.
//!
//! Events and deliveries get their ids in the order they are stored, and their creation
//! times as they are published, so the two grow together: out of order only by how long a
//! publish waited for the writer (milliseconds; seconds at worst under a disk stall). So the
//! first row of a window is found by bisecting the ids, a seek per step (about 20 for a
//! million rows), instead of keeping an index on `created_at` that every stored event and
//! delivery paid for in the writer.
//!
//! The bisection looks [`DISORDER_MS`] beyond the window's edge, so a row stored a little out
//! of order is still inside the id range found; callers check every row's time anyway. The
//! price: a range holds up to a minute of rows beyond each edge, checked and left out, and a
//! window ending less than a minute ago has no row past its end to stop at, so its scan starts
//! from the newest row.

use rusqlite::{params_from_iter, Connection};

use super::DbError;

/// How far out of order creation times may be stored (see the module's text): far beyond
/// any writer queue a publish waits in.
pub const DISORDER_MS: i64 = 60_000;

/// The first row created at or after `at`, among rows with ids `first..=last`, found by
/// bisection: `row_from(id)` answers the first (id, creation time) at or after `id` (never
/// past `last`). `None`: no row is.
///
/// With times out of order by at most [`DISORDER_MS`], `first_at(at - DISORDER_MS)` is at or
/// before every row created at or after `at`, and every row at or after
/// `first_at(at + DISORDER_MS)` was created at or after `at`.
pub fn first_at(
    at: i64,
    (first, last): (i64, i64),
    mut row_from: impl FnMut(i64) -> Result<(i64, i64), DbError>,
) -> Result<Option<i64>, DbError> {
    let (id, t) = row_from(first)?;
    if t >= at {
        return Ok(Some(id));
    }
    let (end, t) = row_from(last)?;
    if t < at {
        return Ok(None);
    }
    // A row before `at` is below `low`; `answer` is at or after `at`; rows with ids in
    // [low, high) are not looked at yet.
    let (mut low, mut high, mut answer) = (id + 1, end, end);
    while low < high {
        let mid = low + (high - low) / 2;
        let (id, t) = row_from(mid)?;
        if id >= high {
            // No row in [mid, high).
            high = mid;
        } else if t >= at {
            answer = id;
            high = mid;
        } else {
            low = id + 1;
        }
    }
    Ok(Some(answer))
}

/// The workspace's lowest and highest delivery ids (through `deliveries_workspace`).
const DELIVERY_ENDS: [&str; 2] = [
    "SELECT min(id) FROM deliveries WHERE workspace_id = ?1",
    "SELECT max(id) FROM deliveries WHERE workspace_id = ?1",
];
/// The workspace's first delivery at or after an id: one seek in `deliveries_workspace`.
const DELIVERY_FROM: &str = "SELECT id, created_at FROM deliveries WHERE workspace_id = ?1 AND id >= ?2 ORDER BY id LIMIT 1";
/// The lowest and highest event ids.
const EVENT_ENDS: [&str; 2] = ["SELECT min(id) FROM events", "SELECT max(id) FROM events"];
/// The first event at or after an id: one seek by rowid.
const EVENT_FROM: &str = "SELECT id, created_at FROM events WHERE id >= ?1 ORDER BY id LIMIT 1";

/// Where a time window's scan of the workspace's deliveries starts: an id at or before every
/// one created at or after `since`; `None` if there is none.
pub fn first_delivery_from(
    conn: &Connection,
    workspace_id: i64,
    since: i64,
) -> Result<Option<i64>, DbError> {
    first_delivery_at(conn, workspace_id, since.saturating_sub(DISORDER_MS))
}

/// Where a time window's scan of the workspace's deliveries ends: every one from this id on
/// was created at or after `until`; `None` if no such id is known.
pub fn first_delivery_past(
    conn: &Connection,
    workspace_id: i64,
    until: i64,
) -> Result<Option<i64>, DbError> {
    first_delivery_at(conn, workspace_id, until.saturating_add(DISORDER_MS))
}

/// Where a time window's scan of the events (any workspace) starts: an id at or before every
/// event created at or after `since`; `None` if there is none.
pub fn first_event_from(conn: &Connection, since: i64) -> Result<Option<i64>, DbError> {
    first_event_at(conn, since.saturating_sub(DISORDER_MS))
}

/// Where a time window's scan of the events ends: every event from this id on was created at
/// or after `until`; `None` if no such id is known.
pub fn first_event_past(conn: &Connection, until: i64) -> Result<Option<i64>, DbError> {
    first_event_at(conn, until.saturating_add(DISORDER_MS))
}

/// The workspace's first delivery created at or after `at` (see [`first_at`]).
fn first_delivery_at(
    conn: &Connection,
    workspace_id: i64,
    at: i64,
) -> Result<Option<i64>, DbError> {
    first_row_at(conn, &DELIVERY_ENDS, DELIVERY_FROM, &[workspace_id], at)
}

/// The first event created at or after `at`, in any workspace (see [`first_at`]).
fn first_event_at(conn: &Connection, at: i64) -> Result<Option<i64>, DbError> {
    first_row_at(conn, &EVENT_ENDS, EVENT_FROM, &[], at)
}

/// [`first_at`] over the rows `ends` (lowest and highest id) and `from` (the first row at or
/// after an id, its last parameter) find, both given `scope` first.
fn first_row_at(
    conn: &Connection,
    ends: &[&str; 2],
    from: &str,
    scope: &[i64],
    at: i64,
) -> Result<Option<i64>, DbError> {
    let end = |sql: &str| -> Result<Option<i64>, DbError> {
        Ok(conn
            .prepare_cached(sql)?
            .query_row(params_from_iter(scope), |r| r.get(0))?)
    };
    let (Some(first), Some(last)) = (end(ends[0])?, end(ends[1])?) else {
        return Ok(None);
    };
    let mut row = conn.prepare_cached(from)?;
    first_at(at, (first, last), |id| {
        Ok(
            row.query_row(params_from_iter(scope.iter().chain([&id])), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `first_at` over rows (id, time), checked against a walk of every row.
    fn check(rows: &[(i64, i64)], at: i64) {
        let walk = rows.iter().find(|r| r.1 >= at).map(|r| r.0);
        let mut probes = 0;
        let found = first_at(at, (rows[0].0, rows[rows.len() - 1].0), |id| {
            probes += 1;
            Ok(*rows.iter().find(|r| r.0 >= id).unwrap())
        })
        .unwrap();
        assert_eq!(found, walk, "at {at} in {rows:?}");
        assert!(probes <= 2 + 64, "{probes} probes");
    }

    #[test]
    fn finds_the_first_row_at_or_after_a_time_over_sparse_ids() {
        // Ids with gaps (other workspaces' rows), times growing, some equal.
        let rows: Vec<(i64, i64)> = (0..300)
            .map(|i| (i * i + 3 * i + 7, 1_000 + (i / 3) * 10))
            .collect();
        for at in [
            0, 999, 1_000, 1_001, 1_005, 1_010, 1_500, 1_990, 1_991, 5_000,
        ] {
            check(&rows, at);
        }
        check(&[(5, 100)], 100);
        check(&[(5, 100)], 101);
        check(&[(5, 100), (6, 200)], 150);
        check(&[(1, 100), (i64::MAX / 2, 200)], 150);
    }

    #[test]
    fn a_few_rows_out_of_order_stay_inside_the_range_found_with_the_margin() {
        // Times out of order by up to 300 ms (well within DISORDER_MS).
        let rows: Vec<(i64, i64)> = (1..2_000)
            .map(|i| (i * 2, 100_000 + i * 50 + if i % 7 == 0 { -300 } else { 0 }))
            .collect();
        let bounds = (rows[0].0, rows[rows.len() - 1].0);
        let probe = |id: i64| Ok(*rows.iter().find(|r| r.0 >= id).unwrap());
        for at in [100_000, 120_010, 150_000, 199_000] {
            let since = first_at(at - DISORDER_MS, bounds, probe).unwrap();
            let until = first_at(at + DISORDER_MS, bounds, probe).unwrap();
            for &(id, t) in &rows {
                if t >= at {
                    assert!(
                        since.is_some_and(|s| id >= s),
                        "{id} at {t} before {since:?}"
                    );
                }
                if until.is_some_and(|u| id >= u) {
                    assert!(t >= at, "{id} at {t} after {until:?}, before {at}");
                }
            }
        }
    }

    /// Rows (id, workspace, created_at) in two workspaces, stored as the writer would.
    fn stored() -> (tempfile::TempDir, Connection, Vec<(i64, i64, i64)>) {
        let (dir, c) = crate::db::test_support::two_workspaces();
        let mut rows = Vec::new();
        for i in 1..=400i64 {
            // Workspace 2 publishes in bursts; every third row is stamped 1.5 s before the row
            // ahead of it.
            let ws = if i % 5 < 2 { 2 } else { 1 };
            let at = 1_000_000 + i * 1_000 - if i % 3 == 0 { 1_500 } else { 0 };
            c.execute(
                "INSERT INTO events (id, public_id, workspace_id, type, body, created_at) VALUES (?1, 'evt_' || ?1, ?2, 't', '{}', ?3)",
                rusqlite::params![i, ws, at],
            )
            .unwrap();
            c.execute(
                "INSERT INTO deliveries (id, workspace_id, webhook_id, event_id, event_type, status, created_at, updated_at)
                 VALUES (?1, ?2, ?2, ?1, 't', 'pending', ?3, ?3)",
                rusqlite::params![i, ws, at],
            )
            .unwrap();
            rows.push((i, ws, at));
        }
        (dir, c, rows)
    }

    /// What the callers rely on: a window's scan from `*_from(since)` misses no row created
    /// at or after `since`, and every row from `*_past(until)` on was created at or after
    /// `until`; over two workspaces' rows stored up to 1.5 s out of order.
    #[test]
    fn windows_found_by_time_miss_no_row_and_cut_none_too_early() {
        let (_dir, c, rows) = stored();
        // Every quarter second across the rows' times, and beyond both ends.
        for at in (0..1_700).map(|i| 999_000 + i * 250) {
            let check = |ws: Option<i64>, from: Option<i64>, past: Option<i64>| {
                for &(id, w, t) in rows.iter().filter(|r| ws.is_none_or(|ws| ws == r.1)) {
                    if t >= at {
                        assert!(
                            from.is_some_and(|f| id >= f),
                            "{w}: {id} at {t} before {from:?}"
                        );
                    }
                    if past.is_some_and(|p| id >= p) {
                        assert!(t >= at, "{w}: {id} at {t} from {past:?} on, before {at}");
                    }
                }
            };
            for ws in [1, 2] {
                check(
                    Some(ws),
                    first_delivery_from(&c, ws, at).unwrap(),
                    first_delivery_past(&c, ws, at).unwrap(),
                );
            }
            check(
                None,
                first_event_from(&c, at).unwrap(),
                first_event_past(&c, at).unwrap(),
            );
        }
        assert_eq!(
            first_delivery_from(&c, 3, 0).unwrap(),
            None,
            "a workspace without any"
        );
        // Past the last row's time plus the margin, nothing is left.
        assert_eq!(first_event_from(&c, 1_500_000).unwrap(), None);
    }

    #[test]
    fn every_statement_seeks_and_none_scans() {
        let (_dir, c, _) = stored();
        for sql in DELIVERY_ENDS
            .iter()
            .chain(&EVENT_ENDS)
            .chain(&[DELIVERY_FROM, EVENT_FROM])
        {
            let n = sql.matches('?').count();
            let plan =
                crate::db::test_support::plan(&c, sql, rusqlite::params_from_iter(vec![1i64; n]));
            assert!(
                !plan.contains("SCAN") && !plan.contains("TEMP B-TREE"),
                "{sql}: {plan}"
            );
            if sql.contains("deliveries") {
                assert!(plan.contains("deliveries_workspace"), "{sql}: {plan}");
            }
        }
    }
}
