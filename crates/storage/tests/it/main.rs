//! The storage suite: every test runs against each backend there is, SQLite
//! always and PostgreSQL when `GAMESTORE_TEST_POSTGRES` holds an admin URL
//! (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); each run gets a
//! database of its own, dropped at the end.

mod backends;
mod suite;
