//! Finished comparisons: one row each, stored with its `raw_record` ledger
//! leaf in one transaction (see `server/src/comparison/`). Their settings
//! and readings are in the room log; the row keeps the record's content so
//! that verification can re-derive the leaf.

use std::collections::HashMap;

use jiliang_ledger::{Record, RecordKind};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::Store;
use crate::store::ledger::StoredLeaf;
use crate::store::rooms::events::IN_CHUNK;
use crate::store::time::db_time;

/// A comparison to store.
#[derive(Debug, Clone)]
pub struct NewComparison<'a> {
    pub id: Uuid,
    pub session_id: Uuid,
    pub finished_by: Uuid,
    pub finished_at: OffsetDateTime,
    /// `pass`, `fail`, `indeterminate`, or `None` (a point incomplete).
    pub verdict: Option<&'a str>,
    /// The record content as JSON (what `record` was made from).
    pub content: &'a str,
    pub record: &'a Record,
}

/// A stored comparison row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredComparison {
    pub id: Uuid,
    pub session_id: Uuid,
    pub finished_at: OffsetDateTime,
    pub content: String,
}

/// What became of [`Store::insert_comparison`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Stored, with its leaf at this ledger index.
    New(u64),
    /// A comparison with this id was stored before; nothing changed.
    Exists,
}

impl Store {
    /// Store a finished comparison and its ledger leaf together, once per id.
    pub async fn insert_comparison(&self, c: &NewComparison<'_>) -> Result<Inserted, sqlx::Error> {
        let begin = self.begin_write();
        let _turn = self.write_turn().await;
        with_db!(self, "comparisons.insert", |p| {
            let mut tx = p.begin_with(begin).await?;
            let exists: Option<Uuid> =
                sqlx::query_scalar("SELECT id FROM comparisons WHERE id = $1")
                    .bind(c.id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_some() {
                return Ok(Inserted::Exists);
            }
            sqlx::query(
                "INSERT INTO comparisons (id, session_id, finished_by, finished_at, verdict, record) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(c.id)
            .bind(c.session_id)
            .bind(c.finished_by)
            .bind(db_time(c.finished_at))
            .bind(c.verdict)
            .bind(c.content)
            .execute(&mut *tx)
            .await?;
            let idx: i64 = append_leaf!(tx, c.record);
            tx.commit().await?;
            Ok(Inserted::New(u64::try_from(idx).unwrap_or(0)))
        })
    }

    /// The session a stored comparison belongs to.
    pub async fn comparison_session(&self, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
        with_db!(self, "comparisons.session", |p| sqlx::query_scalar(
            "SELECT session_id FROM comparisons WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await)
    }

    /// The stored comparisons with these ids, by id (for verification).
    pub async fn comparisons_by_id(
        &self,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, StoredComparison>, sqlx::Error> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, session_id, finished_at, record FROM comparisons WHERE id IN ({})",
                marks.join(", ")
            );
            let rows: Vec<(Uuid, Uuid, OffsetDateTime, String)> =
                with_db!(self, "comparisons.by_id", |p| {
                    let mut q = sqlx::query_as(&sql);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    q.fetch_all(p).await
                })?;
            for (id, session_id, finished_at, content) in rows {
                out.insert(
                    id,
                    StoredComparison {
                        id,
                        session_id,
                        finished_at,
                        content,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Ids of stored comparisons after `after` (id order), at most `limit`.
    pub async fn comparison_ids_after(
        &self,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Uuid>, sqlx::Error> {
        let after = after.unwrap_or(Uuid::nil());
        with_db!(self, "comparisons.ids_after", |p| sqlx::query_scalar(
            "SELECT id FROM comparisons WHERE id > $1 ORDER BY id LIMIT $2"
        )
        .bind(after)
        .bind(limit)
        .fetch_all(p)
        .await)
    }

    /// The ledger leaves of a session's finished comparisons, in ledger order.
    pub async fn session_comparison_leaves(
        &self,
        session_id: Uuid,
    ) -> Result<Vec<StoredLeaf>, sqlx::Error> {
        let ids: Vec<Uuid> = with_db!(self, "comparisons.of_session", |p| sqlx::query_scalar(
            "SELECT id FROM comparisons WHERE session_id = $1 ORDER BY finished_at, id"
        )
        .bind(session_id)
        .fetch_all(p)
        .await)?;
        let kind = RecordKind::RAW_RECORD;
        let mut leaves = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(leaf) = self.ledger_leaf(kind.as_str(), &id.to_string()).await? {
                leaves.push(leaf);
            }
        }
        leaves.sort_by_key(|l| l.index);
        Ok(leaves)
    }
}
