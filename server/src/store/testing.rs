//! Hooks for integration tests that play a tamperer or another node: they
//! write around every rule the store keeps (a changed byte, a dropped row,
//! a trigger that makes inserts fail, a leaf committed out of order).
//!
//! The server never calls them, and nothing outside tests may: they exist
//! so that tests can reach the database without the pool leaving the store.

use jiliang_ledger::Record;

use super::Store;

/// Run one SQL statement as is.
#[doc(hidden)]
pub async fn execute(store: &Store, sql: &str) -> Result<u64, sqlx::Error> {
    with_db!(store, "testing.execute", |p| sqlx::query(sql)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
}

/// Store one leaf in its own transaction: at the log's next index, moving
/// its counter, as a record's own transaction does (`index: None`), or at
/// `index` without touching the counter, as another node's transaction
/// would that commits out of order.
#[doc(hidden)]
pub async fn insert_leaf(
    store: &Store,
    index: Option<u64>,
    record: &Record,
) -> Result<(), sqlx::Error> {
    with_db!(store, "testing.insert_leaf", |p| {
        let mut tx = p.begin().await?;
        match index {
            None => {
                append_leaf!(tx, record);
            }
            Some(index) => {
                sqlx::query(
                    "INSERT INTO ledger_leaves (idx, kind, record_id, created_at_ms, payload, leaf_hash) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(i64::try_from(index).unwrap_or(i64::MAX))
                .bind(record.kind.as_str())
                .bind(record.id())
                .bind(i64::try_from(record.created_at_ms).unwrap_or(i64::MAX))
                .bind(record.payload.as_str())
                .bind(record.leaf_hash().0.to_vec())
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await
    })
}

/// Run one query as is and count the rows it returns (benchmarks time
/// queries the server no longer runs, to show the difference).
#[doc(hidden)]
pub async fn fetch_rows(store: &Store, sql: &str) -> Result<usize, sqlx::Error> {
    with_db!(store, "testing.fetch_rows", |p| sqlx::query(sql)
        .fetch_all(p)
        .await
        .map(|r| r.len()))
}
