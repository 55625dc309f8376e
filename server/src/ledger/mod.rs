//! The server side of the tamper-evident log (`jiliang_ledger`).
//!
//! Every durable record is a leaf, appended in the same database
//! transaction as the record itself (by the store operation that stores
//! the record); a record that
//! exists is therefore always in the log, and the log never holds a record
//! that was rolled back. Each node keeps the Merkle tree in memory (rebuilt
//! from the leaf hashes at start, then followed from the database), signs a
//! tree head whenever the log has grown — at most every
//! `--ledger-interval-ms` — and answers proofs from it.
//!
//! # Layout
//! - [`key`]: the Ed25519 signing key file.
//! - [`records`]: how each kind of record becomes a leaf. Adding a kind is a
//!   constructor there and one `append_leaf!` in the store operation that
//!   stores the record.
//! - [`verify`]: full re-verification of a database (the `jiliang verify
//!   --database-url` command).
//!
//! # Checked against its own signatures
//! A node never signs over a log that disagrees with a head already signed.
//! At start the tree is rebuilt from the stored leaf hashes and its root at
//! the latest signed head's size compared with that head (whose signature
//! is checked too); on every sync a head newer than the last one checked
//! is compared the same way. On a mismatch — a leaf hash changed, a leaf
//! removed or replaced, a head altered — the node refuses to sign, logs
//! why, and `/readyz` reports the ledger not ready (503), until the stored
//! log matches again: the node re-reads it from scratch every
//! [`RECHECK_EVERY`] (an operator restores the rows from a backup, or
//! investigates with `jiliang verify --database-url`).
//!
//! No SQL here: the tables are read and written through `crate::store`.

pub mod key;
pub mod records;
pub mod verify;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiliang_ledger::{
    Hash, MerkleTree, SignedTreeHead, SigningKey, TreeHead, VerifyingKey, key_fingerprint,
};
use tokio_util::sync::CancellationToken;

use crate::clock::now;
use crate::store::Store;
pub use crate::store::ledger::StoredHead;
use crate::store::ledger::fingerprint_of;

/// Leaf hashes read per query while following the log.
const SYNC_PAGE: i64 = 50_000;
/// How often a node whose log disagrees with its signed heads looks again.
pub const RECHECK_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("ledger key: {0}")]
    Key(#[from] key::KeyError),
    #[error("stored leaf {index} has a malformed hash")]
    BadLeafHash { index: u64 },
    #[error(
        "the stored log disagrees with the signed tree head at size {size}: {why}; refusing to sign until it matches again (restore the ledger tables from a backup; `jiliang verify --database-url` names the rows)"
    )]
    Mismatch { size: u64, why: String },
    #[error(
        "ledger key: the signed head at size {size} was signed by another key (fingerprint {theirs}) since this node's key ({ours}) was last used; every node must be given the same --ledger-key file (after a deliberate key change, start once with --ledger-accept-new-key)"
    )]
    ForeignKey {
        size: u64,
        theirs: String,
        ours: String,
    },
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
    /// Why the stored log disagrees with a signed head, while it does: no
    /// head is signed meanwhile.
    fault: RwLock<Option<String>>,
    /// The size of the largest signed head the tree was compared with.
    checked: RwLock<u64>,
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

fn unix_ms_now() -> u64 {
    records::unix_ms(now())
}

/// Whether `tree`'s root at `head`'s size is the signed root, and the
/// signature holds: `Err(why)` if not.
fn compare(tree: &MerkleTree, head: &StoredHead) -> Result<(), String> {
    let h = &head.head;
    if let Err(e) = h.verify_with_key_bytes(&head.public_key) {
        return Err(format!("the stored head's signature does not verify ({e})"));
    }
    match tree.root_at(h.size) {
        Ok(root) if root == h.root_hash => Ok(()),
        Ok(root) => Err(format!(
            "the stored leaves give root {} but the head signed {}",
            root.to_hex(),
            h.root_hash.to_hex()
        )),
        Err(e) => Err(format!("cannot compute the root ({e})")),
    }
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
    let ours = public.to_bytes();
    let Some(foreign) = store.newest_foreign_ledger_head(&ours).await? else {
        return Ok(());
    };
    let registered = store.ledger_key_registered_at(&ours).await?;
    // Heads of another key from before this key joined: a key change
    // accepted earlier, not a second key signing now.
    if registered.is_some_and(|r| foreign.timestamp_ms <= records::unix_ms(r)) {
        return Ok(());
    }
    let (theirs, ours) = (fingerprint_of(&foreign.public_key), key_fingerprint(public));
    let size = foreign.size;
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
        store.register_ledger_key(&public.to_bytes(), now()).await?;
        let ledger = Arc::new(Self {
            store,
            key,
            public,
            tree: RwLock::new(MerkleTree::new()),
            latest: RwLock::new(None),
            publishing: tokio::sync::Mutex::new(()),
            fault: RwLock::new(None),
            checked: RwLock::new(0),
        });
        ledger.sync().await?;
        *write(&ledger.latest) = ledger.store.latest_ledger_head().await?;
        // A mismatch does not stop the node (its rooms and records still
        // serve); it stops signing and says so in /readyz.
        match ledger.publish().await {
            Ok(_) | Err(LedgerError::Mismatch { .. }) => {}
            Err(e) => return Err(e),
        }
        Ok(ledger)
    }

    /// Why the ledger is not ready (the stored log disagrees with a signed
    /// head), or `None`.
    pub fn fault(&self) -> Option<String> {
        read(&self.fault).clone()
    }

    /// Compare the tree with the latest stored signed head if the tree
    /// covers it and it was not compared before.
    async fn check_heads(&self) -> Result<(), LedgerError> {
        let Some(head) = self.store.latest_ledger_head().await? else {
            return Ok(());
        };
        let size = head.head.size;
        if size <= *read(&self.checked) && read(&self.fault).is_none() {
            return Ok(());
        }
        let outcome = {
            let tree = read(&self.tree);
            if size > tree.len() {
                // Leaves still arriving (another node signed ahead of this
                // node's last sync): compared once they are here.
                return Ok(());
            }
            compare(&tree, &head)
        };
        match outcome {
            Ok(()) => {
                let mut checked = write(&self.checked);
                *checked = (*checked).max(size);
                *write(&self.fault) = None;
                Ok(())
            }
            Err(why) => {
                let e = LedgerError::Mismatch { size, why };
                let text = e.to_string();
                if read(&self.fault).as_deref() != Some(text.as_str()) {
                    tracing::error!(error = %text, "ledger integrity check failed");
                }
                *write(&self.fault) = Some(text);
                Err(e)
            }
        }
    }

    /// Rebuild the tree from the stored leaves from scratch and compare it
    /// with the latest signed head again: how a node recovers once an
    /// operator restored the log. Returns whether the ledger is sound.
    pub async fn recheck(&self) -> Result<bool, LedgerError> {
        let _one_at_a_time = self.publishing.lock().await;
        let mut fresh = MerkleTree::new();
        'pages: loop {
            let rows = self
                .store
                .ledger_leaf_hashes(fresh.len(), SYNC_PAGE)
                .await?;
            if rows.is_empty() {
                break;
            }
            for (idx, hash) in rows {
                // A gap: a leaf still committing; the rest comes with syncs.
                if idx != fresh.len() {
                    break 'pages;
                }
                fresh.push(to_hash(&hash, idx)?);
            }
        }
        *write(&self.tree) = fresh;
        *write(&self.checked) = 0;
        // The fault stays until the check passes: readiness never reports
        // a sound ledger halfway through a recheck.
        let was = self.fault();
        match self.check_heads().await {
            Ok(()) => {
                if was.is_some() {
                    tracing::info!(
                        "the stored ledger matches its signed heads again; signing resumes"
                    );
                }
                Ok(true)
            }
            Err(LedgerError::Mismatch { .. }) => Ok(false),
            Err(e) => Err(e),
        }
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

    /// Leaves in this node's tree (as of its last sync with the database).
    pub fn tree_size(&self) -> u64 {
        read(&self.tree).len()
    }

    /// Run `f` with the in-memory tree (for proofs and exports).
    pub fn with_tree<T>(&self, f: impl FnOnce(&MerkleTree) -> T) -> T {
        f(&read(&self.tree))
    }

    /// Bring the tree up to the database's leaves (ours and other nodes').
    pub async fn sync(&self) -> Result<u64, LedgerError> {
        loop {
            let have = read(&self.tree).len();
            let rows = self.store.ledger_leaf_hashes(have, SYNC_PAGE).await?;
            if rows.is_empty() {
                return Ok(have);
            }
            let mut tree = write(&self.tree);
            for (idx, hash) in rows {
                // A leaf whose transaction committed after a later one may
                // be missing for a moment: stop at the gap, retry next time.
                if idx != tree.len() {
                    return Ok(tree.len());
                }
                tree.push(to_hash(&hash, idx)?);
            }
        }
    }

    /// Sign and store a head if the log grew since the last one — unless
    /// the stored log disagrees with a head already signed.
    pub async fn publish(&self) -> Result<Option<SignedTreeHead>, LedgerError> {
        let _one_at_a_time = self.publishing.lock().await;
        let size = self.sync().await?;
        self.check_heads().await?;
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
        // Another node may have signed this size first; both heads are
        // valid, the stored one is the one everybody serves.
        self.store
            .insert_ledger_head(&head, &self.public.to_bytes())
            .await?;
        let stored = self.store.ledger_head_at(head.size).await?;
        let stored = stored.unwrap_or(StoredHead {
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
        Ok(self.store.ledger_head_at(size).await?.map(|h| h.head))
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
        let head = self
            .store
            .ledger_head_of_key_between(&self.public.to_bytes(), needed, have)
            .await?;
        Ok(head.map(|h| h.head))
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
            // The first check was at start: the next is due a period later.
            let mut recheck = tokio::time::interval_at(
                tokio::time::Instant::now() + RECHECK_EVERY,
                RECHECK_EVERY,
            );
            recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => {
                        match ledger.publish().await {
                            Ok(_) => {}
                            // Logged once by the check, and in /readyz.
                            Err(LedgerError::Mismatch { .. }) => {}
                            Err(e) => tracing::warn!(error = %e, "publishing a tree head failed"),
                        }
                    }
                    _ = recheck.tick(), if ledger.fault().is_some() => {
                        if let Err(e) = ledger.recheck().await {
                            tracing::warn!(error = %e, "re-checking the ledger failed");
                        }
                    }
                }
            }
            // A last head, so a clean stop leaves every record covered.
            let _ = ledger.publish().await;
        });
    }
}
