//! `hookline_meta` on SQLite (see `store::meta`).

use rusqlite::{params, OptionalExtension};

use super::DbError;

impl super::Db {
    pub async fn meta_get(&self, name: String) -> Result<Option<Vec<u8>>, DbError> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT value FROM hookline_meta WHERE name = ?1",
                [&name],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    pub async fn meta_put_new(&self, name: String, value: Vec<u8>) -> Result<Vec<u8>, DbError> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO hookline_meta (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                params![name, value],
            )?;
            Ok(c.query_row(
                "SELECT value FROM hookline_meta WHERE name = ?1",
                [&name],
                |r| r.get(0),
            )?)
        })
        .await
    }

    pub async fn webhook_secret_sample(&self) -> Result<Option<Vec<u8>>, DbError> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT secret_enc FROM webhooks LIMIT 1", [], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }
}
