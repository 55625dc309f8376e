//! Full re-verification of a stored log against its signed heads.
//!
//! The server (or an auditor with a database dump) streams every stored
//! record in index order: for each it gives the hash recomputed from the
//! record's canonical bytes and the leaf hash stored next to it. The
//! [`LogVerifier`] reports, in the order found:
//!
//! - "record at index i: content altered" (recomputed ≠ stored hash),
//! - "index i missing (gap)" and out-of-order or duplicated indices,
//! - "root at size n does not match signed head" for every signed head,
//!   rebuilding the tree from the *recomputed* hashes, so a record altered
//!   together with its stored hash is still caught by the heads,
//! - heads beyond the end of the stored log (truncation) and bad head
//!   signatures.
//!
//! After a gap the tree cannot be rebuilt past it (positions would shift), so
//! heads beyond the gap are reported as unverifiable rather than guessed at;
//! per-record content checks continue to the end.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::hash::{Hash, leaf_hash};
use crate::record::Record;
use crate::sth::SignedTreeHead;
use crate::tree::MerkleTree;

/// One stored leaf, as the server reads it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The stored index.
    pub index: u64,
    /// The leaf hash recomputed from the stored content.
    pub content_hash: Hash,
    /// The leaf hash stored alongside (if the store keeps one).
    pub recorded_leaf_hash: Option<Hash>,
}

impl LogEntry {
    /// Entry for a stored record.
    pub fn from_record(index: u64, record: &Record, recorded_leaf_hash: Option<Hash>) -> Self {
        Self {
            index,
            content_hash: record.leaf_hash(),
            recorded_leaf_hash,
        }
    }

    /// Entry for raw stored leaf data.
    pub fn from_leaf_data(index: u64, data: &[u8], recorded_leaf_hash: Option<Hash>) -> Self {
        Self {
            index,
            content_hash: leaf_hash(data),
            recorded_leaf_hash,
        }
    }
}

/// A finding of the log audit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum LogProblem {
    /// The content no longer hashes to the stored leaf hash.
    #[error(
        "record at index {index}: content altered (stored leaf hash {recorded}, content hashes to {computed})"
    )]
    ContentAltered {
        /// The record's index.
        index: u64,
        /// Stored leaf hash.
        recorded: Hash,
        /// Hash of the stored content.
        computed: Hash,
    },
    /// Indices `from..=to` are absent.
    #[error("{} missing (gap)", index_range(*from, *to))]
    Missing {
        /// First missing index.
        from: u64,
        /// Last missing index.
        to: u64,
    },
    /// An index at or below one already seen: reordered or duplicated.
    #[error("record at index {index} out of order or duplicated (expected index {expected})")]
    OutOfOrder {
        /// The index found.
        index: u64,
        /// The index expected at this point.
        expected: u64,
    },
    /// The rebuilt root differs from the signed one.
    #[error(
        "root at size {size} does not match signed head (signed {signed}, rebuilt {computed}): a record at {} was altered, reordered or removed",
        index_range(*since, size.saturating_sub(1))
    )]
    RootMismatch {
        /// Head size.
        size: u64,
        /// Signed root.
        signed: Hash,
        /// Root rebuilt from the stored records.
        computed: Hash,
        /// The largest smaller head that does match (0 if none): the change
        /// is at an index in `since..size`. Heads are all a database keeps
        /// of the original leaves, so this range is as close as the heads
        /// alone can point.
        since: u64,
    },
    /// A head's signature does not verify.
    #[error("signed head at size {size} has an invalid signature")]
    BadHeadSignature {
        /// Head size.
        size: u64,
    },
    /// A head covers more records than the log holds without gaps.
    #[error(
        "signed head at size {size} cannot be checked: only the first {verifiable} records are present without gaps"
    )]
    HeadBeyondLog {
        /// Head size.
        size: u64,
        /// Length of the gap-free prefix of the stored log.
        verifiable: u64,
    },
    /// A head for a larger tree is dated before a head for a smaller one.
    #[error(
        "signed head at size {size} is dated {timestamp_ms}, before the head at size {earlier_size} ({earlier_timestamp_ms})"
    )]
    HeadTimeRegression {
        /// The larger head's size.
        size: u64,
        /// Its time.
        timestamp_ms: u64,
        /// The smaller head's size.
        earlier_size: u64,
        /// Its (later) time.
        earlier_timestamp_ms: u64,
    },
}

impl LogProblem {
    /// The earliest ledger index this finding implicates, for putting
    /// findings in log order; `None` for findings about a head alone.
    pub fn first_index(&self) -> Option<u64> {
        match self {
            Self::ContentAltered { index, .. } | Self::OutOfOrder { index, .. } => Some(*index),
            Self::Missing { from, .. } => Some(*from),
            Self::RootMismatch { since, .. } => Some(*since),
            Self::HeadBeyondLog { verifiable, .. } => Some(*verifiable),
            Self::BadHeadSignature { .. } | Self::HeadTimeRegression { .. } => None,
        }
    }
}

/// "index 4" or "indices 4..=6".
pub(crate) fn index_range(from: u64, to: u64) -> String {
    if from == to {
        format!("index {from}")
    } else {
        format!("indices {from}..={to}")
    }
}

/// The result of a log audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogReport {
    /// True when nothing was found.
    pub ok: bool,
    /// Entries examined.
    pub entries_seen: u64,
    /// Length of the gap-free, in-order prefix the tree was rebuilt from.
    pub verified_size: u64,
    /// Root of that prefix.
    pub verified_root: Hash,
    /// Heads examined.
    pub heads_checked: u64,
    /// Findings in the order found (records first, in stream order, then
    /// heads by size).
    pub problems: Vec<LogProblem>,
}

impl LogReport {
    /// The first finding, if any.
    pub fn first_problem(&self) -> Option<&LogProblem> {
        self.problems.first()
    }
}

/// Streaming log audit (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct LogVerifier {
    tree: MerkleTree,
    next_index: u64,
    gap: bool,
    entries_seen: u64,
    heads: Vec<SignedTreeHead>,
    problems: Vec<LogProblem>,
}

impl LogVerifier {
    /// A fresh audit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next stored entry, in stored index order.
    pub fn push(&mut self, entry: LogEntry) {
        self.entries_seen += 1;
        let LogEntry {
            index,
            content_hash,
            recorded_leaf_hash,
        } = entry;
        if let Some(recorded) = recorded_leaf_hash
            && recorded != content_hash
        {
            self.problems.push(LogProblem::ContentAltered {
                index,
                recorded,
                computed: content_hash,
            });
        }
        if index < self.next_index {
            self.problems.push(LogProblem::OutOfOrder {
                index,
                expected: self.next_index,
            });
            return;
        }
        if index > self.next_index {
            self.problems.push(LogProblem::Missing {
                from: self.next_index,
                to: index - 1,
            });
            self.gap = true;
        }
        self.next_index = index.saturating_add(1);
        if !self.gap {
            self.tree.push(content_hash);
        }
    }

    /// Feeds a stored record.
    pub fn push_record(&mut self, index: u64, record: &Record, recorded_leaf_hash: Option<Hash>) {
        self.push(LogEntry::from_record(index, record, recorded_leaf_hash));
    }

    /// Queues a signed head to check at [`LogVerifier::finish`].
    pub fn add_head(&mut self, head: SignedTreeHead) {
        self.heads.push(head);
    }

    /// The tree rebuilt so far (the gap-free prefix).
    pub fn tree(&self) -> &MerkleTree {
        &self.tree
    }

    /// Checks the queued heads (signatures with `key`, if given) and
    /// returns the report.
    pub fn finish(mut self, key: Option<&VerifyingKey>) -> LogReport {
        let mut heads = core::mem::take(&mut self.heads);
        heads.sort_by_key(|h| (h.size, h.timestamp_ms));
        let mut latest: Option<(u64, u64)> = None; // (size, timestamp) with max timestamp so far
        // Largest head size whose root the stored records reproduce.
        let mut last_good = 0u64;
        for head in &heads {
            if let Some(key) = key
                && head.verify(key).is_err()
            {
                self.problems
                    .push(LogProblem::BadHeadSignature { size: head.size });
            }
            if let Some((earlier_size, earlier_ts)) = latest
                && head.size > earlier_size
                && head.timestamp_ms < earlier_ts
            {
                self.problems.push(LogProblem::HeadTimeRegression {
                    size: head.size,
                    timestamp_ms: head.timestamp_ms,
                    earlier_size,
                    earlier_timestamp_ms: earlier_ts,
                });
            }
            if latest.is_none_or(|(_, ts)| head.timestamp_ms >= ts) {
                latest = Some((head.size, head.timestamp_ms));
            }
            match self.tree.root_at(head.size) {
                Ok(computed) if computed == head.root_hash => last_good = last_good.max(head.size),
                Ok(computed) => self.problems.push(LogProblem::RootMismatch {
                    size: head.size,
                    signed: head.root_hash,
                    computed,
                    since: last_good,
                }),
                Err(_) => self.problems.push(LogProblem::HeadBeyondLog {
                    size: head.size,
                    verifiable: self.tree.len(),
                }),
            }
        }
        LogReport {
            ok: self.problems.is_empty(),
            entries_seen: self.entries_seen,
            verified_size: self.tree.len(),
            verified_root: self.tree.root(),
            heads_checked: heads.len() as u64,
            problems: self.problems,
        }
    }
}

/// One-shot audit: feeds `entries` in order, then checks `heads`.
pub fn verify_log<I>(entries: I, heads: &[SignedTreeHead], key: Option<&VerifyingKey>) -> LogReport
where
    I: IntoIterator<Item = LogEntry>,
{
    let mut verifier = LogVerifier::new();
    for entry in entries {
        verifier.push(entry);
    }
    for head in heads {
        verifier.add_head(*head);
    }
    verifier.finish(key)
}
