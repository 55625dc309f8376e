//! SQLite's write-ahead log copied into the database file off the
//! writers' path.
//!
//! By default the commit that takes the log past 1 000 pages copies it into
//! the database file before it returns, so every few reading groups one of
//! them (and every reading in it) waited for a checkpoint. Commits now
//! checkpoint by themselves only past [`WAL_BACKSTOP_PAGES`], a backstop;
//! a background task runs a passive checkpoint (it never blocks a writer
//! or a reader) every [`EVERY`], so the log stays short and a writer
//! starts it over from the beginning once it has been copied.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Db, Store};

/// Log pages past which a commit checkpoints by itself (≈ 40 MiB): reached
/// only when the background task falls behind or stops.
pub(super) const WAL_BACKSTOP_PAGES: u32 = 10_000;
/// How often the background task checkpoints.
const EVERY: Duration = Duration::from_millis(250);

impl Store {
    /// Copy what the write-ahead log holds into the database file as far
    /// as readers allow, without waiting for anyone (SQLite; nothing to do
    /// on PostgreSQL). Returns the log's pages and those copied.
    pub async fn checkpoint(&self) -> Result<(i64, i64), sqlx::Error> {
        match &self.db {
            Db::Sqlite(p) => {
                let (_busy, log, copied): (i64, i64, i64) =
                    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                        .fetch_one(p)
                        .await?;
                Ok((log, copied))
            }
            Db::Postgres(_) => Ok((0, 0)),
        }
    }
}

/// Checkpoint in the background until `shutdown` (SQLite only).
pub fn spawn_checkpoints(store: Store, shutdown: CancellationToken, tasks: &TaskTracker) {
    if !matches!(store.db, Db::Sqlite(_)) {
        return;
    }
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let _timer = store.metrics.time("checkpoint");
            match store.checkpoint().await {
                Ok(_) => failing = false,
                // Said once per failing stretch, not four times a second.
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "background checkpoint failed");
                }
                Err(_) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::store::test_db;

    /// Commits leave the log to the background task: after twice SQLite's
    /// default threshold of writes the log still holds them all, and
    /// `checkpoint` copies them.
    #[tokio::test]
    async fn commits_leave_the_log_to_the_checkpoint() {
        let t = test_db::sqlite().await;
        let store = &t.store;
        let super::Db::Sqlite(pool) = &store.db else {
            panic!("sqlite");
        };
        sqlx::query("CREATE TABLE filler (b BLOB)")
            .execute(pool)
            .await
            .expect("create");
        // ≈ 2 000 pages: past SQLite's default threshold of 1 000.
        let insert = format!(
            "INSERT INTO filler (b) VALUES {}",
            vec!["(zeroblob(4000))"; 50].join(",")
        );
        for _ in 0..40 {
            sqlx::query(&insert).execute(pool).await.expect("insert");
        }
        // Had a commit checkpointed, the next would have started the log
        // over: it would hold a few hundred pages, not every write.
        let (log, copied) = store.checkpoint().await.expect("checkpoint");
        assert!(log > 1_500, "the log holds every write: {log} pages");
        assert_eq!(copied, log, "all of it copied");
        t.cleanup().await;
    }
}
