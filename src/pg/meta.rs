//! `hookline_meta` on PostgreSQL (see `store::meta`).

use super::PgStore;
use crate::store::types::StoreError;

type Result<T> = std::result::Result<T, StoreError>;

impl PgStore {
    pub async fn meta_get(&self, name: String) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .await?
            .query_opt("SELECT value FROM hookline_meta WHERE name = $1", &[&name])
            .await?
            .map(|r| r.get(0)))
    }

    pub async fn meta_put_new(&self, name: String, value: Vec<u8>) -> Result<Vec<u8>> {
        let c = self.conn().await?;
        c.execute(
            "INSERT INTO hookline_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &value],
        )
        .await?;
        Ok(
            c.query_one("SELECT value FROM hookline_meta WHERE name = $1", &[&name])
                .await?
                .get(0),
        )
    }

    pub async fn webhook_secret_sample(&self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .await?
            .query_opt("SELECT secret_enc FROM webhooks LIMIT 1", &[])
            .await?
            .map(|r| r.get(0)))
    }
}
