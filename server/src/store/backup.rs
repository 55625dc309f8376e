//! Consistent online copies of the embedded database.
//!
//! `VACUUM INTO` reads the database inside one read transaction, so the copy
//! is the database as of one instant — every room event with its ledger
//! leaf, never one without the other — while the server goes on writing
//! (WAL readers do not block the writer). The copy is a compact, ordinary
//! SQLite file (no `-wal` beside it) that a server opens as it is.
//! PostgreSQL has its own tools (`pg_dump`, base backups); see
//! docs/OPERATIONS.md.

use std::path::Path;

use super::{Db, Store, StoreError};

impl Store {
    /// Writes a consistent copy of the SQLite database to `target`, which
    /// must not exist yet. PostgreSQL: [`StoreError::Unsupported`].
    pub async fn backup_into(&self, target: &Path) -> Result<(), StoreError> {
        let Db::Sqlite(pool) = &self.db else {
            return Err(StoreError::Unsupported(
                "jiliang backup copies SQLite databases; back PostgreSQL up with pg_dump (docs/OPERATIONS.md)",
            ));
        };
        let target = target.to_str().ok_or(StoreError::Unsupported(
            "the backup path must be valid UTF-8",
        ))?;
        let _timer = self.metrics.time("backup_into");
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(pool)
            .await?;
        Ok(())
    }
}
