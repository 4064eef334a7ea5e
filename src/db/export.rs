//! Reading a whole SQLite installation for `hookline migrate-to-postgres` (see
//! `store::copy`): every table of [`TABLES`], in that order, in one read transaction (one
//! snapshot), in batches of rows as plain values, each table followed by its row count and
//! id sum for the check after the copy.

use std::path::Path;

use rusqlite::types::ValueRef;

use crate::store::types::{Cell, CopyBatch as Batch, COPY_TABLES as TABLES};

/// Rows per batch.
const BATCH: usize = 2000;

/// Opens the data directory's database (bringing it to the latest schema first, after a
/// backup, as a start would) and sends every table through `send`, which returns false when
/// the receiving side gave up.
pub fn export(data_dir: &Path, mut send: impl FnMut(Batch) -> bool) -> anyhow::Result<()> {
    let path = super::db_path(data_dir);
    if !path.exists() {
        anyhow::bail!(
            "no Hookline database at {}: point --data-dir (HOOKLINE_DATA_DIR) at the data directory to move",
            path.display()
        );
    }
    let mut c = super::open_and_migrate(data_dir)?;
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;
    let unknown: Vec<String> = tx
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|t| !TABLES.contains(&t.as_str()))
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!("this Hookline does not know the tables {unknown:?}: is the database from a newer version?");
    }
    for &table in TABLES {
        let columns: Vec<String> = tx
            .prepare(&format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if columns.is_empty() {
            anyhow::bail!("the SQLite database has no table {table}");
        }
        let has_id = columns.iter().any(|c| c == "id");
        let order = if has_id { " ORDER BY id" } else { "" };
        let list = columns.join(", ");
        let mut st = tx.prepare(&format!("SELECT {list} FROM {table}{order}"))?;
        let mut rows = st.query([])?;
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(columns.len());
            for (i, name) in columns.iter().enumerate() {
                // A lease means "in flight in that process": none is, after the move.
                if name == "lease_until" {
                    row.push(Cell::Null);
                    continue;
                }
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Real(v) => Cell::Real(v),
                    ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
                });
            }
            batch.push(row);
            if batch.len() == BATCH
                && !send(Batch::Rows {
                    table,
                    columns: columns.clone(),
                    rows: std::mem::take(&mut batch),
                })
            {
                return Ok(());
            }
        }
        if !batch.is_empty()
            && !send(Batch::Rows {
                table,
                columns: columns.clone(),
                rows: batch,
            })
        {
            return Ok(());
        }
        let sum = if has_id { "coalesce(sum(id), 0)" } else { "0" };
        let (rows, id_sum): (i64, i64) =
            tx.query_row(&format!("SELECT count(*), {sum} FROM {table}"), [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        if !send(Batch::End {
            table,
            rows,
            id_sum,
        }) {
            return Ok(());
        }
    }
    Ok(())
}
