//! The tests' PostgreSQL: the throwaway cluster `scripts/test.sh` starts
//! (`scripts/pg-throwaway.sh`), named by `HOOKLINE_TEST_DATABASE_URL` (an admin URL), and one
//! fresh database per test. Shared by the test binaries with `#[path]`.
#![allow(dead_code)]

use hookline::pg::Target;

/// The admin URL, or `None` (with a note) where no PostgreSQL is available outside CI.
pub fn admin_url() -> Option<String> {
    match std::env::var("HOOKLINE_TEST_DATABASE_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "CI=true but HOOKLINE_TEST_DATABASE_URL is unset: scripts/test.sh starts a throwaway \
             PostgreSQL with scripts/pg-throwaway.sh (install Debian's postgresql package)"
        ),
        _ => {
            eprintln!(
                "NOT RUN: no PostgreSQL (set HOOKLINE_TEST_DATABASE_URL, or run scripts/test.sh with Debian's postgresql installed)"
            );
            None
        }
    }
}

/// A fresh, empty database on the test cluster.
pub struct TestDb {
    admin: String,
    name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new(admin: &str) -> TestDb {
        let name = format!(
            "hl_test_{}",
            hookline::clock::random_token(12).to_lowercase()
        )
        .replace('-', "_");
        let client = connect_raw(admin).await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let mut url = url::Url::parse(admin).unwrap();
        url.set_path(&format!("/{name}"));
        TestDb {
            admin: admin.to_string(),
            name,
            url: url.to_string(),
        }
    }

    pub async fn drop(self) {
        let client = connect_raw(&self.admin).await;
        client
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .unwrap();
    }
}

pub async fn connect_raw(url: &str) -> tokio_postgres::Client {
    Target::parse(url).unwrap().connect().await.unwrap()
}
