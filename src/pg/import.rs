//! Copying a SQLite installation into an empty PostgreSQL database (`hookline
//! migrate-to-postgres`, see `store::copy`): one transaction, `COPY … FROM STDIN (FORMAT
//! binary)` per table with its ids kept, each value converted to its column's type (integer
//! flags to booleans, the latency JSON to `BIGINT[]`), the identity sequences moved past the
//! copied ids, and every table's count and id sum compared with the source's before the
//! commit. A target that holds any row is refused.

use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{PgError, Target};
use crate::store::types::{Cell, Copied, CopyBatch as Batch, COPY_TABLES as TABLES};

type Error = anyhow::Error;

/// Refuses a database with any Hookline row in it.
async fn refuse_non_empty(c: &tokio_postgres::Client) -> Result<(), Error> {
    let mut found = Vec::new();
    for table in TABLES
        .iter()
        .chain(&["hookline_nodes", "login_attempts", "rate_events"])
    {
        let any: bool = c
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
            .await?
            .get(0);
        if any {
            found.push(*table);
        }
    }
    if !found.is_empty() {
        anyhow::bail!(
            "the target database is not empty ({} hold rows): move into a fresh database \
             (DROP DATABASE and CREATE DATABASE, or a new one), with every Hookline node on it stopped",
            found.join(", ")
        );
    }
    Ok(())
}

/// The COPY under way: (table, its writer, its columns with their types, rows so far).
type Copying = (
    &'static str,
    std::pin::Pin<Box<BinaryCopyInWriter>>,
    Vec<(String, Type)>,
    i64,
);

/// One value for a column of type `ty`.
fn value(
    table: &str,
    column: &str,
    ty: &Type,
    cell: Cell,
) -> Result<Box<dyn ToSql + Sync + Send>, Error> {
    let wrong = |cell: &Cell| anyhow::anyhow!("{table}.{column}: cannot store {cell:?} as {ty}");
    Ok(match (ty, cell) {
        (t, Cell::Null) if *t == Type::INT8 => Box::new(None::<i64>),
        (t, Cell::Null) if *t == Type::BOOL => Box::new(None::<bool>),
        (t, Cell::Null) if *t == Type::TEXT => Box::new(None::<String>),
        (t, Cell::Null) if *t == Type::BYTEA => Box::new(None::<Vec<u8>>),
        (t, Cell::Null) if *t == Type::FLOAT8 => Box::new(None::<f64>),
        (t, Cell::Null) if *t == Type::INT8_ARRAY => Box::new(None::<Vec<i64>>),
        (t, Cell::Int(v)) if *t == Type::INT8 => Box::new(v),
        (t, Cell::Int(v)) if *t == Type::BOOL => Box::new(v != 0),
        (t, Cell::Int(v)) if *t == Type::FLOAT8 => Box::new(v as f64),
        (t, Cell::Int(v)) if *t == Type::TEXT => Box::new(v.to_string()),
        (t, Cell::Real(v)) if *t == Type::FLOAT8 => Box::new(v),
        (t, Cell::Text(s)) if *t == Type::TEXT => Box::new(s),
        (t, Cell::Text(s)) if *t == Type::BYTEA => Box::new(s.into_bytes()),
        (t, Cell::Blob(b)) if *t == Type::BYTEA => Box::new(b),
        (t, Cell::Text(s)) if *t == Type::INT8_ARRAY => {
            let v: Vec<i64> = serde_json::from_str(&s).map_err(|e| {
                anyhow::anyhow!("{table}.{column}: not a JSON list of integers ({e})")
            })?;
            Box::new(v)
        }
        (_, cell) => return Err(wrong(&cell)),
    })
}

/// Copies what `rx` brings into the empty database at `target` (migrating its schema first)
/// and checks it; `progress` hears each table's rows as they go. Returns the check, table by
/// table; nothing is committed unless every table matches.
pub async fn import(
    target: &Target,
    mut rx: mpsc::Receiver<Batch>,
    mut progress: impl FnMut(&str, i64),
) -> Result<Vec<Copied>, Error> {
    let mut client = target.connect().await?;
    super::migrate(&mut client).await?;
    refuse_non_empty(&client).await?;
    let tx = client.transaction().await.map_err(PgError::from)?;
    let mut report: Vec<Copied> = Vec::new();
    let mut open: Option<Copying> = None;
    while let Some(batch) = rx.recv().await {
        match batch {
            Batch::Rows {
                table,
                columns,
                rows,
            } => {
                if open.as_ref().is_none_or(|(t, ..)| *t != table) {
                    let list = columns.join(", ");
                    let types: Vec<Type> = tx
                        .prepare(&format!("SELECT {list} FROM {table} LIMIT 0"))
                        .await?
                        .columns()
                        .iter()
                        .map(|c| c.type_().clone())
                        .collect();
                    let sink = tx
                        .copy_in(&format!("COPY {table} ({list}) FROM STDIN (FORMAT binary)"))
                        .await?;
                    let writer = Box::pin(BinaryCopyInWriter::new(sink, &types));
                    let named = columns.into_iter().zip(types).collect();
                    open = Some((table, writer, named, 0));
                }
                let (_, writer, named, count) = open.as_mut().expect("opened above");
                for row in rows {
                    let values = row
                        .into_iter()
                        .zip(named.iter())
                        .map(|(cell, (name, ty))| value(table, name, ty, cell))
                        .collect::<Result<Vec<_>, _>>()?;
                    let refs: Vec<&(dyn ToSql + Sync)> = values
                        .iter()
                        .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                        .collect();
                    writer.as_mut().write(&refs).await?;
                    *count += 1;
                }
                progress(table, *count);
            }
            Batch::End {
                table,
                rows,
                id_sum,
            } => {
                if let Some((t, mut writer, ..)) = open.take() {
                    debug_assert_eq!(t, table);
                    writer.as_mut().finish().await?;
                }
                let has_id: bool = tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM information_schema.columns
                          WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'id')",
                        &[&table],
                    )
                    .await?
                    .get(0);
                let sum = if has_id {
                    "coalesce(sum(id), 0)::bigint"
                } else {
                    "0::bigint"
                };
                let got = tx
                    .query_one(&format!("SELECT count(*), {sum} FROM {table}"), &[])
                    .await?;
                if has_id {
                    // New rows get ids past the copied ones.
                    tx.execute(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 1), max(id) IS NOT NULL) FROM {table}"
                        ),
                        &[],
                    )
                    .await?;
                }
                progress(table, got.get(0));
                report.push(Copied {
                    table,
                    source_rows: rows,
                    source_id_sum: id_sum,
                    target_rows: got.get(0),
                    target_id_sum: got.get(1),
                });
            }
        }
    }
    if report.len() != TABLES.len() {
        anyhow::bail!(
            "the copy stopped after {} of {} tables; nothing was committed",
            report.len(),
            TABLES.len()
        );
    }
    if report.iter().all(Copied::matches) {
        tx.commit().await?;
        // Statistics for the planner now, rather than when autovacuum gets round to it: until
        // then it plans the queue's statements as if every table were empty.
        client
            .batch_execute("ANALYZE")
            .await
            .map_err(PgError::from)?;
    } else {
        tx.rollback().await?;
    }
    Ok(report)
}
