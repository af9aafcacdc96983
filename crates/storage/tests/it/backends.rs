//! The backends a test runs against, each with a fresh database.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use gamestore_storage::{DatabaseUrl, Storage};

/// The admin URL of a PostgreSQL cluster to test against, if any.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("GAMESTORE_TEST_POSTGRES").ok().filter(|url| !url.is_empty())
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
    format!("{}/{db}{query}", &base[..host_end])
}

async fn admin_client(admin_url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .expect("cannot connect to GAMESTORE_TEST_POSTGRES");
    tokio::spawn(connection);
    client
}

/// Runs `test` against a fresh SQLite database, then against a fresh
/// PostgreSQL database when one is configured. A panic in either fails the
/// test; the PostgreSQL database is dropped either way.
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Storage) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite(dir.path().join("lobby.db"));
    let db = Storage::open(&url).await.unwrap();
    assert_eq!(db.backend_name(), "sqlite");
    if let Err(panic) = tokio::spawn(test(db)).await {
        std::panic::resume_unwind(panic.into_panic());
    }

    let Some(admin_url) = postgres_admin_url() else {
        eprintln!("GAMESTORE_TEST_POSTGRES is not set: SQLite only");
        return;
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "gs_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    );
    let admin = admin_client(&admin_url).await;
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let url: DatabaseUrl = with_database(&admin_url, &name).parse().unwrap();
    let outcome = match Storage::open(&url).await {
        Ok(db) => {
            assert_eq!(db.backend_name(), "postgres");
            tokio::spawn(test(db)).await.map_err(|e| e.into_panic())
        }
        Err(e) => {
            Err(Box::new(format!("cannot open {url:?}: {e}")) as Box<dyn std::any::Any + Send>)
        }
    };
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn database_names_are_replaced() {
    assert_eq!(
        with_database("postgres://u@127.0.0.1:5/postgres", "x"),
        "postgres://u@127.0.0.1:5/x"
    );
    assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
    assert_eq!(
        with_database("postgres://u@h:5/p?sslmode=disable", "x"),
        "postgres://u@h:5/x?sslmode=disable"
    );
}
