//! Storage: one `Store` over SQLite (embedded default) or PostgreSQL (scale-out).
//!
//! ALL SQL of the server lives in this module. Both backends run the same
//! SQL text: statements use `$1`-style parameters, which SQLite and
//! PostgreSQL both accept, and only portable types (UUID, text, integers,
//! doubles, booleans, timestamps) cross the boundary. Where the dialects
//! differ (DDL), each backend has its own `migrations/` folder. Query code is
//! written once and compiled for both pools by `with_db!`, which also times
//! every operation (`jiliang_db_query_duration_seconds{op}`).
//!
//! # Layout
//! - [`institutions`], [`users`], [`auth_sessions`] (logins), [`tokens`],
//!   [`throttle`], [`audit`]: accounts and who may do what.
//! - [`rooms`]: live sessions, help requests, room events and their appends.
//! - [`ledger`]: leaves, signed heads and keys of the tamper-evident log.
//! - [`devices`]: instruments, their agent tokens, their readings (stored
//!   exactly once, each batch with its ledger leaf and room events).
//! - [`media`]: which node hosts each room's media (leases).
//! - [`recordings`]: recorded sessions and their WebM files (each with its
//!   `recording` leaf).
//! - [`rounds`]: comparison rounds, their labs, results, attachments and
//!   published reports (each with its `round_report` leaf).
//! - `tx`: statements run inside another operation's transaction (a record
//!   and its ledger leaf commit together or not at all).
//! - [`testing`]: hooks for tests that tamper with the database.
//!
//! The pool is private to this module: nothing outside it sees a
//! connection, a transaction or a line of SQL. This module must never hold
//! a lock across an `.await` or cache rows: the database is the source of
//! truth for every node.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::metrics::StoreMetrics;

/// Run the same code against whichever pool the store holds, timed as
/// operation `$op` (a name from this module's source: label values stay
/// bounded). The body is compiled once per backend, so it must only use
/// types both support. Private to the store: defined before the submodules
/// so that they, and nothing else, can use it.
macro_rules! with_db {
    ($store:expr, $op:literal, |$pool:ident| $body:expr) => {{
        let store: &$crate::store::Store = &$store;
        let _timer = store.metrics.time($op);
        match &store.db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    }};
}

// Macros for statements inside a caller's transaction; must come before the
// modules that use them.
#[macro_use]
mod tx;

pub mod audit;
pub mod auth_sessions;
mod backup;
pub mod certificates;
pub mod checkpoint;
pub mod comparisons;
pub mod devices;
pub mod institutions;
pub mod ledger;
mod marks;
pub mod media;
pub mod recordings;
pub mod rooms;
pub mod rounds;
pub mod secrets;
pub mod testing;
pub mod throttle;
pub mod time;
pub mod tokens;
pub mod users;

#[cfg(test)]
pub(crate) mod test_db;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    metrics: StoreMetrics,
    /// SQLite has one writer at a time, and its busy handler is not a
    /// queue: writers that wait for the lock retry at random, so under a
    /// stream of long write transactions (reading batches) one can wait past
    /// `busy_timeout` and fail with "database is locked". Long writers take
    /// their turn here first, in order (a tokio mutex is fair), and hold it
    /// across their transaction. Unused with PostgreSQL.
    write_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// How the connection pool is used right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("invalid database URL: {0}")]
    InvalidUrl(sqlx::Error),
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

impl Store {
    /// Connect without migrating (see [`Store::migrate`]).
    ///
    /// PostgreSQL URLs may name a schema with `?options[search_path]=NAME`
    /// (tests isolate themselves that way).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // A database that does not answer within this time is treated as down;
        // start-up then fails with one clear line instead of hanging.
        let acquire = Duration::from_secs(5);
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(StoreError::InvalidUrl)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before the room log fans the
                // event out. With WAL, NORMAL survives a process crash but a
                // power loss can drop the last commits — events clients have
                // already seen, whose sequence numbers would then be handed
                // out again. The writer batches, so it is one fsync per batch
                // (docs/BENCHMARKS.md, "Durable ledger rate").
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                // Rows come back from the connection's worker thread
                // through a channel of this many; at sqlx's default (50) a
                // group's read of its thousand devices can stop the worker
                // twenty times to wait for the (busy) async side to drain.
                .row_buffer_size(4096)
                // The reading groups' multi-row statements come in a few
                // recurring shapes per table (`store::devices::group`);
                // sqlx's default of 100 would evict them.
                .statement_cache_capacity(400)
                // Checkpoints run in the background (`checkpoint`), not in
                // whichever commit crosses 1 000 pages.
                .pragma(
                    "wal_autocheckpoint",
                    checkpoint::WAL_BACKSTOP_PAGES.to_string(),
                );
            ensure_parent_dir(options.get_filename())?;
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                // A ping before each use is one more round trip to the
                // connection's thread per query; a local file does not go
                // stale the way a network connection does.
                .test_before_acquire(false)
                .acquire_timeout(acquire)
                .connect_with(options)
                .await
                .map_err(StoreError::Connect)?;
            Ok(Self::with(Db::Sqlite(pool)))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(StoreError::InvalidUrl)?;
            // One direct attempt first: a pool only reports "timed out", while
            // the connection itself says why (refused, unknown host, auth).
            match tokio::time::timeout(acquire, PgConnection::connect_with(&options)).await {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                }
                Ok(Err(e)) => return Err(StoreError::Connect(e)),
                Err(_) => {
                    return Err(StoreError::Connect(sqlx::Error::PoolTimedOut));
                }
            }
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(acquire)
                .connect_with(options)
                .await
                .map_err(StoreError::Connect)?;
            Ok(Self::with(Db::Postgres(pool)))
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// Connect and bring the schema up to date: what `serve` does at start.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    fn with(db: Db) -> Self {
        Self {
            db,
            metrics: StoreMetrics::default(),
            write_turn: std::sync::Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Wait for this process's turn to write (SQLite only; see
    /// `write_turn`). Hold the guard until the transaction has committed.
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.db {
            Db::Sqlite(_) => Some(self.write_turn.lock().await),
            Db::Postgres(_) => None,
        }
    }

    /// The store's query-latency instruments (registered by `Metrics`).
    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// Connections of the pool in use and idle, and its maximum.
    pub fn pool_stats(&self) -> PoolStats {
        let (size, idle, max) = match &self.db {
            Db::Sqlite(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            Db::Postgres(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        PoolStats {
            in_use: size.saturating_sub(idle),
            idle,
            max,
        }
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// How to open a transaction that reads before it writes. On SQLite a
    /// deferred transaction that another connection commits under then
    /// fails to upgrade ("database is locked", SQLITE_BUSY_SNAPSHOT) without
    /// waiting; IMMEDIATE takes the write lock first, so it waits its turn
    /// (busy_timeout) instead.
    fn begin_write(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// Apply pending migrations. Safe to run concurrently from several nodes:
    /// sqlx takes an advisory lock on PostgreSQL.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(p) => sqlx::migrate!("migrations/sqlite").run(p).await?,
            Db::Postgres(p) => sqlx::migrate!("migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// Round-trip a trivial query; returns how long it took.
    pub async fn ping(&self) -> Result<Duration, sqlx::Error> {
        let start = Instant::now();
        with_db!(self, "ping", |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(start.elapsed())
    }

    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

fn ensure_parent_dir(file: &Path) -> Result<(), StoreError> {
    let s = file.to_string_lossy();
    if s.is_empty() || s == ":memory:" {
        return Ok(());
    }
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Hide a password in a URL before it reaches a log or an error line.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}://{}:***{}", &url[..scheme_end], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://bob:hunter2@db:5432/x"),
            "postgres://bob:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://bob@db/x"), "postgres://bob@db/x");
        assert_eq!(redact_url("sqlite://./data/j.db"), "sqlite://./data/j.db");
    }

    #[tokio::test]
    async fn unknown_scheme_is_a_clear_error() {
        let e = Store::connect("mysql://x").await.expect_err("must fail");
        assert!(e.to_string().contains("unsupported database URL"), "{e}");
    }
}
