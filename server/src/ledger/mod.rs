//! The server side of the tamper-evident log (`jiliang_ledger`).
//!
//! Every durable record is a leaf, appended in the same database
//! transaction as the record itself (see [`ledger_append!`]); a record that
//! exists is therefore always in the log, and the log never holds a record
//! that was rolled back. Each node keeps the Merkle tree in memory (rebuilt
//! from the leaf hashes at start, then followed from the database), signs a
//! tree head whenever the log has grown — at most every
//! `--ledger-interval-ms` — and answers proofs from it.
//!
//! # Layout
//! - [`key`]: the Ed25519 signing key file.
//! - [`records`]: how each kind of record becomes a leaf. Adding a kind is a
//!   constructor there and one `ledger_append!` where the record is stored.
//! - [`verify`]: full re-verification of a database (the `jiliang verify
//!   --database-url` command).

pub mod key;
pub mod records;
pub mod verify;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiliang_ledger::{
    Hash, MerkleTree, SignatureBytes, SignedTreeHead, SigningKey, TreeHead, VerifyingKey,
    key_fingerprint,
};
use tokio_util::sync::CancellationToken;

use crate::store::Store;
use crate::store::institutions::now;
use crate::with_db;

/// Append one [`jiliang_ledger::Record`] inside the caller's transaction
/// `$tx`, at the next index. Expands to statements using `?`, so the
/// caller's error type must accept `sqlx::Error`.
#[macro_export]
macro_rules! ledger_append {
    ($tx:ident, $record:expr) => {{
        let record: &jiliang_ledger::Record = $record;
        let idx: i64 = sqlx::query_scalar(
            "UPDATE ledger_state SET size = size + 1 WHERE id = 1 RETURNING size - 1",
        )
        .fetch_one(&mut *$tx)
        .await?;
        let created = i64::try_from(record.created_at_ms).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO ledger_leaves (idx, kind, record_id, created_at_ms, payload, leaf_hash) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(idx)
        .bind(record.kind.as_str())
        .bind(record.id())
        .bind(created)
        .bind(record.payload.as_str())
        .bind(record.leaf_hash().0.to_vec())
        .execute(&mut *$tx)
        .await?;
        idx
    }};
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("ledger key: {0}")]
    Key(#[from] key::KeyError),
    #[error("stored leaf {index} has a malformed hash")]
    BadLeafHash { index: u64 },
    #[error(
        "ledger key: the signed head at size {size} was signed by another key (fingerprint {theirs}) since this node's key ({ours}) was last used; every node must be given the same --ledger-key file (after a deliberate key change, start once with --ledger-accept-new-key)"
    )]
    ForeignKey {
        size: u64,
        theirs: String,
        ours: String,
    },
}

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

pub struct Ledger {
    store: Store,
    key: SigningKey,
    public: VerifyingKey,
    // Readers (proofs) vastly outnumber writers (the publisher); std locks,
    // never held across an await.
    tree: RwLock<MerkleTree>,
    latest: RwLock<Option<StoredHead>>,
    // One publish at a time per node: two racing ones would sign twice and
    // could leave the smaller head as the latest.
    publishing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ledger({})", self.fingerprint())
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn to_hash(bytes: &[u8], index: u64) -> Result<Hash, LedgerError> {
    Hash::from_slice(bytes).map_err(|_| LedgerError::BadLeafHash { index })
}

#[derive(sqlx::FromRow)]
struct HeadRow {
    size: i64,
    timestamp_ms: i64,
    root_hash: Vec<u8>,
    signature: Vec<u8>,
    public_key: Vec<u8>,
}

const HEAD_COLUMNS: &str = "size, timestamp_ms, root_hash, signature, public_key";

fn head_from(r: HeadRow) -> Option<StoredHead> {
    let sig: [u8; 64] = r.signature.as_slice().try_into().ok()?;
    Some(StoredHead {
        head: SignedTreeHead {
            size: u64::try_from(r.size).ok()?,
            timestamp_ms: u64::try_from(r.timestamp_ms).ok()?,
            root_hash: Hash::from_slice(&r.root_hash).ok()?,
            signature: SignatureBytes(sig),
        },
        public_key: r.public_key.as_slice().try_into().ok()?,
    })
}

fn fingerprint_of(key: &[u8]) -> String {
    jiliang_ledger::hash::sha256(key).to_hex()
}

fn unix_ms_now() -> u64 {
    records::unix_ms(now())
}

/// Refuse to sign next to heads of another key. Two nodes with different
/// keys would both sign heads of one log, and an export signed by one node
/// could carry a head signed by the other: unverifiable. A key change is
/// accepted once deliberately (`accept_new_key`); from then on only heads
/// of another key dated after this key was first registered count.
async fn check_key(
    store: &Store,
    public: &VerifyingKey,
    accept_new_key: bool,
) -> Result<(), LedgerError> {
    let ours = public.to_bytes().to_vec();
    let foreign: Option<(i64, i64, Vec<u8>)> = with_db!(store, |p| {
        sqlx::query_as(
            "SELECT size, timestamp_ms, public_key FROM ledger_heads WHERE public_key <> $1 \
             ORDER BY timestamp_ms DESC, size DESC LIMIT 1",
        )
        .bind(&ours)
        .fetch_optional(p)
        .await
    })?;
    let Some((size, timestamp_ms, theirs)) = foreign else {
        return Ok(());
    };
    let registered: Option<time::OffsetDateTime> = with_db!(store, |p| {
        sqlx::query_scalar("SELECT created_at FROM ledger_keys WHERE public_key = $1")
            .bind(&ours)
            .fetch_optional(p)
            .await
    })?;
    let foreign_ms = u64::try_from(timestamp_ms).unwrap_or(0);
    // Heads of another key from before this key joined: a key change
    // accepted earlier, not a second key signing now.
    if registered.is_some_and(|r| foreign_ms <= records::unix_ms(r)) {
        return Ok(());
    }
    let (theirs, ours) = (fingerprint_of(&theirs), key_fingerprint(public));
    let size = u64::try_from(size).unwrap_or(0);
    if accept_new_key {
        tracing::warn!(
            previous_key = %theirs, new_key = %ours, head_size = size,
            "the ledger key changed (accepted by --ledger-accept-new-key): heads from here on are signed by the new key; publish its fingerprint"
        );
        return Ok(());
    }
    Err(LedgerError::ForeignKey { size, theirs, ours })
}

impl Ledger {
    /// Load the key (creating it on first start), refuse it if the log's
    /// recent heads were signed by another key (see [`check_key`]), register
    /// its public half, rebuild the tree from the stored leaf hashes, and
    /// sign a head if the log has none for its current size.
    pub async fn open(
        store: Store,
        key_path: &std::path::Path,
        accept_new_key: bool,
    ) -> Result<Arc<Self>, LedgerError> {
        let key = key::load_or_create(key_path)?;
        let public = key.verifying_key();
        check_key(&store, &public, accept_new_key).await?;
        let now = now();
        with_db!(store, |p| {
            sqlx::query(
            "INSERT INTO ledger_keys (public_key, created_at) VALUES ($1, $2) ON CONFLICT (public_key) DO NOTHING"
        )
        .bind(public.to_bytes().to_vec())
        .bind(now)
        .execute(p)
        .await
        .map(|_| ())
        })?;
        let ledger = Arc::new(Self {
            store,
            key,
            public,
            tree: RwLock::new(MerkleTree::new()),
            latest: RwLock::new(None),
            publishing: tokio::sync::Mutex::new(()),
        });
        ledger.sync().await?;
        let sql = format!("SELECT {HEAD_COLUMNS} FROM ledger_heads ORDER BY size DESC LIMIT 1");
        let stored: Option<HeadRow> = with_db!(ledger.store, |p| {
            sqlx::query_as(&sql).fetch_optional(p).await
        })?;
        *write(&ledger.latest) = stored.and_then(head_from);
        ledger.publish().await?;
        Ok(ledger)
    }

    pub fn public_key(&self) -> &VerifyingKey {
        &self.public
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    pub fn fingerprint(&self) -> String {
        key_fingerprint(&self.public)
    }

    pub fn latest_head(&self) -> Option<SignedTreeHead> {
        read(&self.latest).map(|h| h.head)
    }

    /// The latest head with the key that signed it.
    pub fn latest_stored_head(&self) -> Option<StoredHead> {
        *read(&self.latest)
    }

    /// Raise the latest head; never lower it (a slower publisher, or a
    /// head read back late, must not hide records already covered).
    fn raise_latest(&self, head: StoredHead) {
        let mut latest = write(&self.latest);
        if latest.is_none_or(|l| l.head.size < head.head.size) {
            *latest = Some(head);
        }
    }

    /// Run `f` with the in-memory tree (for proofs and exports).
    pub fn with_tree<T>(&self, f: impl FnOnce(&MerkleTree) -> T) -> T {
        f(&read(&self.tree))
    }

    /// Bring the tree up to the database's leaves (ours and other nodes').
    pub async fn sync(&self) -> Result<u64, LedgerError> {
        loop {
            let have = read(&self.tree).len();
            let from = i64::try_from(have).unwrap_or(i64::MAX);
            let rows: Vec<(i64, Vec<u8>)> = with_db!(self.store, |p| {
                sqlx::query_as(
                "SELECT idx, leaf_hash FROM ledger_leaves WHERE idx >= $1 ORDER BY idx LIMIT 50000"
            )
            .bind(from)
            .fetch_all(p)
            .await
            })?;
            if rows.is_empty() {
                return Ok(have);
            }
            let mut tree = write(&self.tree);
            for (idx, hash) in rows {
                let idx = u64::try_from(idx).unwrap_or(u64::MAX);
                // A leaf whose transaction committed after a later one may
                // be missing for a moment: stop at the gap, retry next time.
                if idx != tree.len() {
                    return Ok(tree.len());
                }
                tree.push(to_hash(&hash, idx)?);
            }
        }
    }

    /// Sign and store a head if the log grew since the last one.
    pub async fn publish(&self) -> Result<Option<SignedTreeHead>, LedgerError> {
        let _one_at_a_time = self.publishing.lock().await;
        let size = self.sync().await?;
        if self.latest_head().is_some_and(|h| h.size >= size) {
            return Ok(None);
        }
        let root = read(&self.tree)
            .root_at(size)
            .map_err(|_| LedgerError::BadLeafHash { index: size })?;
        let ts = unix_ms_now();
        let head = TreeHead {
            size,
            timestamp_ms: ts,
            root_hash: root,
        }
        .sign(&self.key);
        let (s, t) = (
            i64::try_from(head.size).unwrap_or(i64::MAX),
            i64::try_from(head.timestamp_ms).unwrap_or(i64::MAX),
        );
        // Another node may have signed this size first; both heads are
        // valid, the stored one is the one everybody serves.
        with_db!(self.store, |p| {
            sqlx::query(
            "INSERT INTO ledger_heads (size, timestamp_ms, root_hash, signature, public_key) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (size) DO NOTHING"
        )
        .bind(s)
        .bind(t)
        .bind(head.root_hash.0.to_vec())
        .bind(head.signature.0.to_vec())
        .bind(self.public.to_bytes().to_vec())
        .execute(p)
        .await
        .map(|_| ())
        })?;
        let sql = format!("SELECT {HEAD_COLUMNS} FROM ledger_heads WHERE size = $1");
        let stored: Option<HeadRow> = with_db!(self.store, |p| sqlx::query_as(&sql)
            .bind(s)
            .fetch_optional(p)
            .await)?;
        let stored = stored.and_then(head_from).unwrap_or(StoredHead {
            head,
            public_key: self.public.to_bytes(),
        });
        if stored.public_key != self.public.to_bytes() {
            // Not refused at start (both nodes began at the same time, or
            // one runs with --ledger-accept-new-key): say it every time.
            tracing::error!(
                size = stored.head.size,
                other_key = %stored.key_fingerprint(),
                this_key = %self.fingerprint(),
                "another node signs this ledger with a different key; every node must use the same --ledger-key file"
            );
        }
        self.raise_latest(stored);
        Ok(Some(stored.head))
    }

    /// A signed head of exactly `size`, if one was published.
    pub async fn head_at(&self, size: u64) -> Result<Option<SignedTreeHead>, LedgerError> {
        let s = i64::try_from(size).unwrap_or(i64::MAX);
        let sql = format!("SELECT {HEAD_COLUMNS} FROM ledger_heads WHERE size = $1");
        let row: Option<HeadRow> = with_db!(self.store, |p| sqlx::query_as(&sql)
            .bind(s)
            .fetch_optional(p)
            .await)?;
        Ok(row.and_then(head_from).map(|h| h.head))
    }

    /// The largest head signed by this node's key that covers the first
    /// `needed` leaves and that this node's tree can prove against — what an
    /// export made here must be signed at. `None` while no such head exists
    /// yet (the records are newer than every head, or another key signed).
    pub async fn own_head_covering(
        &self,
        needed: u64,
    ) -> Result<Option<SignedTreeHead>, LedgerError> {
        let have = read(&self.tree).len();
        if let Some(h) = self.latest_stored_head()
            && h.public_key == self.public.to_bytes()
            && h.head.size >= needed
            && h.head.size <= have
        {
            return Ok(Some(h.head));
        }
        if needed > have {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {HEAD_COLUMNS} FROM ledger_heads WHERE public_key = $1 AND size >= $2 AND size <= $3 \
             ORDER BY size DESC LIMIT 1"
        );
        let row: Option<HeadRow> = with_db!(self.store, |p| sqlx::query_as(&sql)
            .bind(self.public.to_bytes().to_vec())
            .bind(i64::try_from(needed).unwrap_or(i64::MAX))
            .bind(i64::try_from(have).unwrap_or(i64::MAX))
            .fetch_optional(p)
            .await)?;
        Ok(row.and_then(head_from).map(|h| h.head))
    }

    /// Publish heads while records arrive, until `shutdown`.
    pub fn spawn_publisher(
        self: &Arc<Self>,
        every: Duration,
        shutdown: CancellationToken,
        tasks: &tokio_util::task::TaskTracker,
    ) {
        let ledger = self.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => {
                        if let Err(e) = ledger.publish().await {
                            tracing::warn!(error = %e, "publishing a tree head failed");
                        }
                    }
                }
            }
            // A last head, so a clean stop leaves every record covered.
            let _ = ledger.publish().await;
        });
    }
}
