//! The tamper-evident log's tables: leaves, the log's counter, signed tree
//! heads and the public keys that signed them.
//!
//! Leaves are appended only inside the transaction that stores their record
//! (`append_leaf!` in `tx`); this module reads them, and stores heads and
//! keys. What a head or a leaf means is `crate::ledger`'s business.

use jiliang_ledger::{CanonicalJson, Hash, Record, RecordKind, SignatureBytes, SignedTreeHead};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Store;
use super::rooms::events::IN_CHUNK;
use super::time::db_time;

/// A signed head as stored, with the public key that signed it — which is
/// this node's only if every node shares the key (or another node lost the
/// race to sign that size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredHead {
    pub head: SignedTreeHead,
    pub public_key: [u8; 32],
}

impl StoredHead {
    /// Hex SHA-256 of the signing key (the same as `key_fingerprint`).
    pub fn key_fingerprint(&self) -> String {
        fingerprint_of(&self.public_key)
    }
}

/// Hex SHA-256 of public key bytes, whatever their length.
pub fn fingerprint_of(key: &[u8]) -> String {
    jiliang_ledger::hash::sha256(key).to_hex()
}

/// The newest head signed by a key other than a given one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignHead {
    pub size: u64,
    pub timestamp_ms: u64,
    /// As stored; not necessarily 32 bytes.
    pub public_key: Vec<u8>,
}

/// One leaf as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLeaf {
    pub index: u64,
    pub kind: String,
    pub record_id: String,
    pub created_at_ms: u64,
    /// Canonical JSON: the exact bytes that were hashed.
    pub payload: String,
    /// As stored; not necessarily 32 bytes.
    pub leaf_hash: Vec<u8>,
}

impl StoredLeaf {
    /// The record this leaf holds, re-read from its stored parts (without
    /// checking it against `leaf_hash`).
    pub fn record(&self) -> Result<Record, String> {
        let kind = RecordKind::new(self.kind.clone()).map_err(|e| e.to_string())?;
        let payload =
            CanonicalJson::from_canonical(self.payload.clone()).map_err(|e| e.to_string())?;
        Record::from_parts(kind, self.record_id.clone(), self.created_at_ms, payload)
            .map_err(|e| e.to_string())
    }
}

#[derive(sqlx::FromRow)]
struct LeafRow {
    idx: i64,
    kind: String,
    record_id: String,
    created_at_ms: i64,
    payload: String,
    leaf_hash: Vec<u8>,
}

impl From<LeafRow> for StoredLeaf {
    fn from(r: LeafRow) -> Self {
        Self {
            // Negative values are never written; if tampered in, they read
            // as values no real leaf has, so verification names them.
            index: u64::try_from(r.idx).unwrap_or(u64::MAX),
            kind: r.kind,
            record_id: r.record_id,
            created_at_ms: u64::try_from(r.created_at_ms).unwrap_or(0),
            payload: r.payload,
            leaf_hash: r.leaf_hash,
        }
    }
}

const LEAF_COLUMNS: &str = "idx, kind, record_id, created_at_ms, payload, leaf_hash";

#[derive(sqlx::FromRow)]
struct HeadRow {
    size: i64,
    timestamp_ms: i64,
    root_hash: Vec<u8>,
    signature: Vec<u8>,
    public_key: Vec<u8>,
}

impl HeadRow {
    /// `None` for a row that cannot be a head (wrong lengths, negative numbers).
    fn decode(self) -> Option<StoredHead> {
        Some(StoredHead {
            head: SignedTreeHead {
                size: u64::try_from(self.size).ok()?,
                timestamp_ms: u64::try_from(self.timestamp_ms).ok()?,
                root_hash: Hash::from_slice(&self.root_hash).ok()?,
                signature: SignatureBytes(self.signature.as_slice().try_into().ok()?),
            },
            public_key: self.public_key.as_slice().try_into().ok()?,
        })
    }
}

const HEAD_COLUMNS: &str = "size, timestamp_ms, root_hash, signature, public_key";

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// The log's own counter: how many leaves were ever appended (`None` if
    /// its row is missing).
    pub async fn ledger_size(&self) -> Result<Option<u64>, sqlx::Error> {
        let size: Option<i64> = with_db!(self, "ledger.size", |p| sqlx::query_scalar(
            "SELECT size FROM ledger_state WHERE id = 1"
        )
        .fetch_optional(p)
        .await)?;
        Ok(size.and_then(|s| u64::try_from(s).ok()))
    }

    /// Leaf hashes from index `from` on, in order, at most `limit`.
    pub async fn ledger_leaf_hashes(
        &self,
        from: u64,
        limit: i64,
    ) -> Result<Vec<(u64, Vec<u8>)>, sqlx::Error> {
        let rows: Vec<(i64, Vec<u8>)> = with_db!(self, "ledger.leaf_hashes", |p| {
            sqlx::query_as(
                "SELECT idx, leaf_hash FROM ledger_leaves WHERE idx >= $1 ORDER BY idx LIMIT $2",
            )
            .bind(to_i64(from))
            .bind(limit)
            .fetch_all(p)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(i, h)| (u64::try_from(i).unwrap_or(u64::MAX), h))
            .collect())
    }

    /// Whole leaves after index `after` (from the first with `None`), in
    /// order, at most `limit`.
    pub async fn ledger_leaves(
        &self,
        after: Option<u64>,
        limit: i64,
    ) -> Result<Vec<StoredLeaf>, sqlx::Error> {
        let after = after.map_or(-1, to_i64);
        let sql = format!(
            "SELECT {LEAF_COLUMNS} FROM ledger_leaves WHERE idx > $1 ORDER BY idx LIMIT $2"
        );
        let rows: Vec<LeafRow> = with_db!(self, "ledger.leaves", |p| sqlx::query_as(&sql)
            .bind(after)
            .bind(limit)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The leaf of one record.
    pub async fn ledger_leaf(
        &self,
        kind: &str,
        record_id: &str,
    ) -> Result<Option<StoredLeaf>, sqlx::Error> {
        let sql =
            format!("SELECT {LEAF_COLUMNS} FROM ledger_leaves WHERE kind = $1 AND record_id = $2");
        let row: Option<LeafRow> = with_db!(self, "ledger.leaf", |p| sqlx::query_as(&sql)
            .bind(kind)
            .bind(record_id)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(Into::into))
    }

    /// The leaves of a session's events, in ledger order.
    pub async fn session_event_leaves(
        &self,
        session_id: Uuid,
    ) -> Result<Vec<StoredLeaf>, sqlx::Error> {
        let ids = self.session_event_ids(session_id).await?;
        let kind = RecordKind::ROOM_EVENT;
        let mut leaves = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let marks: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {LEAF_COLUMNS} FROM ledger_leaves WHERE kind = $1 AND record_id IN ({})",
                marks.join(", ")
            );
            let rows: Vec<LeafRow> = with_db!(self, "ledger.event_leaves", |p| {
                let mut q = sqlx::query_as(&sql).bind(kind.as_str());
                for id in chunk {
                    q = q.bind(id.to_string());
                }
                q.fetch_all(p).await
            })?;
            leaves.extend(rows.into_iter().map(StoredLeaf::from));
        }
        leaves.sort_by_key(|l| l.index);
        Ok(leaves)
    }

    /// Store a signed head unless one of that size exists (another node may
    /// have signed it first; both are valid, the stored one is served).
    pub async fn insert_ledger_head(
        &self,
        head: &SignedTreeHead,
        public_key: &[u8; 32],
    ) -> Result<(), sqlx::Error> {
        with_db!(self, "ledger.insert_head", |p| {
            sqlx::query(
                "INSERT INTO ledger_heads (size, timestamp_ms, root_hash, signature, public_key) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (size) DO NOTHING",
            )
            .bind(to_i64(head.size))
            .bind(to_i64(head.timestamp_ms))
            .bind(head.root_hash.0.to_vec())
            .bind(head.signature.0.to_vec())
            .bind(public_key.to_vec())
            .execute(p)
            .await
            .map(|_| ())
        })
    }

    /// The stored head of exactly `size`, if any.
    pub async fn ledger_head_at(&self, size: u64) -> Result<Option<StoredHead>, sqlx::Error> {
        let sql = format!("SELECT {HEAD_COLUMNS} FROM ledger_heads WHERE size = $1");
        let row: Option<HeadRow> = with_db!(self, "ledger.head_at", |p| sqlx::query_as(&sql)
            .bind(to_i64(size))
            .fetch_optional(p)
            .await)?;
        Ok(row.and_then(HeadRow::decode))
    }

    /// The head of the largest size.
    pub async fn latest_ledger_head(&self) -> Result<Option<StoredHead>, sqlx::Error> {
        let sql = format!("SELECT {HEAD_COLUMNS} FROM ledger_heads ORDER BY size DESC LIMIT 1");
        let row: Option<HeadRow> = with_db!(self, "ledger.latest_head", |p| sqlx::query_as(&sql)
            .fetch_optional(p)
            .await)?;
        Ok(row.and_then(HeadRow::decode))
    }

    /// The largest head signed by `public_key` whose size lies in
    /// `min_size..=max_size`.
    pub async fn ledger_head_of_key_between(
        &self,
        public_key: &[u8; 32],
        min_size: u64,
        max_size: u64,
    ) -> Result<Option<StoredHead>, sqlx::Error> {
        let sql = format!(
            "SELECT {HEAD_COLUMNS} FROM ledger_heads WHERE public_key = $1 AND size >= $2 AND size <= $3 \
             ORDER BY size DESC LIMIT 1"
        );
        let row: Option<HeadRow> = with_db!(self, "ledger.head_of_key", |p| sqlx::query_as(&sql)
            .bind(public_key.to_vec())
            .bind(to_i64(min_size))
            .bind(to_i64(max_size))
            .fetch_optional(p)
            .await)?;
        Ok(row.and_then(HeadRow::decode))
    }

    /// Every head that decodes, by size (a row that cannot be a head is
    /// left out).
    pub async fn ledger_heads(&self) -> Result<Vec<StoredHead>, sqlx::Error> {
        let sql = format!("SELECT {HEAD_COLUMNS} FROM ledger_heads ORDER BY size");
        let rows: Vec<HeadRow> = with_db!(self, "ledger.heads", |p| sqlx::query_as(&sql)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().filter_map(HeadRow::decode).collect())
    }

    /// The newest head (by timestamp, then size) signed by a key other than
    /// `ours`.
    pub async fn newest_foreign_ledger_head(
        &self,
        ours: &[u8; 32],
    ) -> Result<Option<ForeignHead>, sqlx::Error> {
        let row: Option<(i64, i64, Vec<u8>)> = with_db!(self, "ledger.foreign_head", |p| {
            sqlx::query_as(
                "SELECT size, timestamp_ms, public_key FROM ledger_heads WHERE public_key <> $1 \
                 ORDER BY timestamp_ms DESC, size DESC LIMIT 1",
            )
            .bind(ours.to_vec())
            .fetch_optional(p)
            .await
        })?;
        Ok(row.map(|(size, timestamp_ms, public_key)| ForeignHead {
            size: u64::try_from(size).unwrap_or(0),
            timestamp_ms: u64::try_from(timestamp_ms).unwrap_or(0),
            public_key,
        }))
    }

    /// Register a signing key (first registration time wins).
    pub async fn register_ledger_key(
        &self,
        public_key: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        with_db!(self, "ledger.register_key", |p| {
            sqlx::query(
                "INSERT INTO ledger_keys (public_key, created_at) VALUES ($1, $2) \
                 ON CONFLICT (public_key) DO NOTHING",
            )
            .bind(public_key.to_vec())
            .bind(db_time(at))
            .execute(p)
            .await
            .map(|_| ())
        })
    }

    /// When `public_key` was first registered, if it was.
    pub async fn ledger_key_registered_at(
        &self,
        public_key: &[u8; 32],
    ) -> Result<Option<OffsetDateTime>, sqlx::Error> {
        with_db!(self, "ledger.key_registered_at", |p| sqlx::query_scalar(
            "SELECT created_at FROM ledger_keys WHERE public_key = $1"
        )
        .bind(public_key.to_vec())
        .fetch_optional(p)
        .await)
    }

    /// Every registered key that is 32 bytes long.
    pub async fn ledger_keys(&self) -> Result<Vec<[u8; 32]>, sqlx::Error> {
        let keys: Vec<Vec<u8>> = with_db!(self, "ledger.keys", |p| sqlx::query_scalar(
            "SELECT public_key FROM ledger_keys"
        )
        .fetch_all(p)
        .await)?;
        Ok(keys
            .into_iter()
            .filter_map(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use jiliang_ledger::{MerkleTree, Record, RecordKind, SigningKey, TreeHead};

    use super::*;
    use crate::metrics::{BusMetrics, Metrics, RoomMetrics, Sampled};
    use crate::store::test_db::stores;
    use crate::store::testing;

    fn reading(i: u64) -> Record {
        Record::new(
            RecordKind::READING_BATCH,
            format!("r{i}"),
            1_764_000_000_000 + i,
            &serde_json::json!({"batch": i, "values": ["1.000", "1.001"]}),
        )
        .expect("record")
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn signed(key: &SigningKey, tree: &MerkleTree, size: u64, ts: u64) -> SignedTreeHead {
        TreeHead {
            size,
            timestamp_ms: ts,
            root_hash: tree.root_at(size).expect("root"),
        }
        .sign(key)
    }

    #[tokio::test]
    async fn leaves_heads_and_keys_round_trip() {
        for t in stores().await {
            let store = &t.store;
            assert_eq!(store.ledger_size().await.expect("size"), Some(0));
            assert_eq!(store.latest_ledger_head().await.expect("none"), None);
            let mut tree = MerkleTree::new();
            for i in 0..5 {
                let r = reading(i);
                testing::insert_leaf(store, None, &r).await.expect("leaf");
                tree.push(r.leaf_hash());
            }
            assert_eq!(store.ledger_size().await.expect("size"), Some(5));
            let hashes = store.ledger_leaf_hashes(2, 2).await.expect("hashes");
            assert_eq!(
                hashes,
                vec![
                    (2, reading(2).leaf_hash().0.to_vec()),
                    (3, reading(3).leaf_hash().0.to_vec())
                ],
                "{}",
                t.name
            );
            let page = store.ledger_leaves(Some(1), 2).await.expect("leaves");
            assert_eq!(page.iter().map(|l| l.index).collect::<Vec<_>>(), vec![2, 3]);
            assert_eq!(page[0].record().expect("record"), reading(2));
            assert_eq!(store.ledger_leaves(None, 100).await.expect("all").len(), 5);
            let one = store
                .ledger_leaf("reading_batch", "r4")
                .await
                .expect("leaf")
                .expect("present");
            assert_eq!((one.index, one.created_at_ms), (4, 1_764_000_000_004));
            assert_eq!(
                store
                    .ledger_leaf("reading_batch", "r9")
                    .await
                    .expect("none"),
                None
            );

            // Heads: the first of a size wins; lookups by size and by key.
            let (a, b) = (key(1), key(2));
            let (pa, pb) = (a.verifying_key().to_bytes(), b.verifying_key().to_bytes());
            let h3 = signed(&a, &tree, 3, 1_000);
            store.insert_ledger_head(&h3, &pa).await.expect("head");
            let rival = signed(&b, &tree, 3, 1_001);
            store
                .insert_ledger_head(&rival, &pb)
                .await
                .expect("ignored");
            let h5 = signed(&b, &tree, 5, 2_000);
            store.insert_ledger_head(&h5, &pb).await.expect("head");
            assert_eq!(
                store.ledger_head_at(3).await.expect("at"),
                Some(StoredHead {
                    head: h3,
                    public_key: pa
                }),
                "{}: the first head of a size stays",
                t.name
            );
            assert_eq!(store.ledger_head_at(4).await.expect("at"), None);
            assert_eq!(
                store
                    .latest_ledger_head()
                    .await
                    .expect("latest")
                    .map(|h| h.head),
                Some(h5)
            );
            assert_eq!(
                store
                    .ledger_head_of_key_between(&pa, 1, 5)
                    .await
                    .expect("of key")
                    .map(|h| h.head),
                Some(h3)
            );
            assert_eq!(
                store
                    .ledger_head_of_key_between(&pa, 4, 5)
                    .await
                    .expect("none"),
                None
            );
            assert_eq!(
                store
                    .ledger_heads()
                    .await
                    .expect("heads")
                    .iter()
                    .map(|h| h.head.size)
                    .collect::<Vec<_>>(),
                vec![3, 5]
            );
            assert_eq!(
                store
                    .newest_foreign_ledger_head(&pa)
                    .await
                    .expect("foreign"),
                Some(ForeignHead {
                    size: 5,
                    timestamp_ms: 2_000,
                    public_key: pb.to_vec()
                })
            );
            // Keys: the first registration time stays.
            let first = crate::clock::now();
            store.register_ledger_key(&pa, first).await.expect("key");
            store
                .register_ledger_key(&pa, first + time::Duration::hours(1))
                .await
                .expect("again");
            assert_eq!(
                store.ledger_key_registered_at(&pa).await.expect("at"),
                Some(first),
                "{}",
                t.name
            );
            assert_eq!(store.ledger_key_registered_at(&pb).await.expect("no"), None);
            assert_eq!(store.ledger_keys().await.expect("keys"), vec![pa]);
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn every_operation_is_timed_and_the_pool_is_reported() {
        for t in stores().await {
            let store = &t.store;
            let metrics = Metrics::new(
                store.metrics(),
                &RoomMetrics::default(),
                &BusMetrics::default(),
            );
            store.ledger_size().await.expect("size");
            store.ledger_size().await.expect("size");
            let text = metrics.render(&Sampled::default());
            assert!(
                text.contains("jiliang_db_query_duration_seconds_count{op=\"ledger.size\"} 2"),
                "{}: {text}",
                t.name
            );
            let pool = store.pool_stats();
            assert!(pool.max >= 8, "{}: {pool:?}", t.name);
            assert!(
                pool.in_use + pool.idle >= 1,
                "{}: the pool has opened",
                t.name
            );
            assert!(pool.in_use + pool.idle <= pool.max, "{pool:?}");
            t.cleanup().await;
        }
    }
}
