//! SQL from a test, on whichever backend the app runs: for the few things no endpoint does
//! (moving a row's clock into the past, counting rows to prove nothing was stored).
//!
//! One statement is written once, in the SQL both backends speak: `?1`, `?2` … parameters
//! (sent as `$1`, `$2` … to PostgreSQL), `TRUE`/`FALSE` for flags. Values come back the same
//! from both: integers and flags as `i64` (a flag is 0 or 1, as in SQLite), text as strings,
//! blobs as lowercase hex, NULL as `Value::Null`.

use serde_json::Value;

use crate::helpers::TestApp;

/// A parameter of a test's statement.
#[derive(Clone, Debug)]
pub enum P {
    I(i64),
    T(String),
    B(Vec<u8>),
}

impl From<i64> for P {
    fn from(v: i64) -> P {
        P::I(v)
    }
}
impl From<&str> for P {
    fn from(v: &str) -> P {
        P::T(v.to_string())
    }
}
impl From<String> for P {
    fn from(v: String) -> P {
        P::T(v)
    }
}
impl From<Vec<u8>> for P {
    fn from(v: Vec<u8>) -> P {
        P::B(v)
    }
}

/// `?N` → `$N`, outside quoted text.
fn to_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for ch in sql.chars() {
        match ch {
            '\'' => {
                quoted = !quoted;
                out.push(ch);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(ch),
        }
    }
    out
}

impl TestApp {
    /// Runs one statement and returns its rows, each a list of column values.
    pub async fn sql(&self, sql: &str, params: &[P]) -> Vec<Vec<Value>> {
        match &self.pg_url {
            Some(url) => {
                let client = crate::pg_cluster::connect_raw(url).await;
                let sql = to_postgres(sql);
                let args: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> = params
                    .iter()
                    .map(|p| -> Box<dyn tokio_postgres::types::ToSql + Sync + Send> {
                        match p {
                            P::I(v) => Box::new(*v),
                            P::T(v) => Box::new(v.clone()),
                            P::B(v) => Box::new(v.clone()),
                        }
                    })
                    .collect();
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
                    .iter()
                    .map(|b| b.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                let rows = client
                    .query(&sql, &refs)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
                rows.iter().map(pg_row).collect()
            }
            None => {
                let sql = sql.to_string();
                let params = params.to_vec();
                self.db
                    .write(move |c| {
                        let args = rusqlite::params_from_iter(params.iter().map(|p| match p {
                            P::I(v) => rusqlite::types::Value::Integer(*v),
                            P::T(v) => rusqlite::types::Value::Text(v.clone()),
                            P::B(v) => rusqlite::types::Value::Blob(v.clone()),
                        }));
                        let mut st = c.prepare(&sql)?;
                        let n = st.column_count();
                        let mut rows = st.query(args)?;
                        let mut out = Vec::new();
                        while let Some(r) = rows.next()? {
                            out.push(
                                (0..n)
                                    .map(|i| sqlite_value(r.get_ref(i).unwrap()))
                                    .collect(),
                            );
                        }
                        Ok(out)
                    })
                    .await
                    .unwrap()
            }
        }
    }

    /// Runs a statement for its effect.
    pub async fn sql_run(&self, sql: &str, params: &[P]) {
        self.sql(sql, params).await;
    }

    /// The first column of the only row, an integer (a count, an id, a time).
    pub async fn sql_i64(&self, sql: &str, params: &[P]) -> i64 {
        let rows = self.sql(sql, params).await;
        assert_eq!(rows.len(), 1, "{sql}: one row expected, got {rows:?}");
        rows[0][0]
            .as_i64()
            .unwrap_or_else(|| panic!("{sql}: an integer expected, got {:?}", rows[0][0]))
    }

    /// The first column of the only row, text.
    pub async fn sql_text(&self, sql: &str, params: &[P]) -> String {
        let rows = self.sql(sql, params).await;
        assert_eq!(rows.len(), 1, "{sql}: one row expected, got {rows:?}");
        rows[0][0]
            .as_str()
            .unwrap_or_else(|| panic!("{sql}: text expected, got {:?}", rows[0][0]))
            .to_string()
    }
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => f.into(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => hex::encode(b).into(),
    }
}

fn pg_row(row: &tokio_postgres::Row) -> Vec<Value> {
    use tokio_postgres::types::Type;
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, col)| {
            let t = col.type_();
            let v: Option<Value> = if *t == Type::INT8 {
                row.get::<_, Option<i64>>(i).map(Into::into)
            } else if *t == Type::INT4 {
                row.get::<_, Option<i32>>(i).map(|v| i64::from(v).into())
            } else if *t == Type::INT2 {
                row.get::<_, Option<i16>>(i).map(|v| i64::from(v).into())
            } else if *t == Type::BOOL {
                row.get::<_, Option<bool>>(i).map(|v| i64::from(v).into())
            } else if *t == Type::FLOAT8 {
                row.get::<_, Option<f64>>(i).map(Into::into)
            } else if *t == Type::TEXT || *t == Type::VARCHAR || *t == Type::NAME {
                row.get::<_, Option<String>>(i).map(Into::into)
            } else if *t == Type::BYTEA {
                row.get::<_, Option<Vec<u8>>>(i)
                    .map(|b| hex::encode(b).into())
            } else {
                panic!(
                    "column {} is {t}: cast it in the test's SQL (to bigint or text)",
                    col.name()
                )
            };
            v.unwrap_or(Value::Null)
        })
        .collect()
}
