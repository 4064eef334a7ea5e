//! What the storage modules' tests share: a migrated database with two workspaces, and the
//! query plan of a statement.

use rusqlite::Connection;

/// A fresh, migrated data directory with workspaces 1 and 2 ("a", "b") and one webhook each
/// (ids 1 and 2, every event type).
pub fn two_workspaces() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let c = super::open_and_migrate(dir.path()).unwrap();
    c.execute_batch(
        "INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'a', 'a', 0), (2, 'b', 'b', 0);
         INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
           VALUES (1, 1, 'https://a.example/h', '[\"*\"]', '[]', 0, x'00', 0, 0),
                  (2, 2, 'https://b.example/h', '[\"*\"]', '[]', 0, x'00', 0, 0);",
    )
    .unwrap();
    (dir, c)
}

/// SQLite's plan for `sql` with these arguments, its steps joined by ` | `.
pub fn plan<P: rusqlite::Params>(c: &Connection, sql: &str, args: P) -> String {
    let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let plan: Vec<String> = st
        .query_map(args, |r| r.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    plan.join(" | ")
}
