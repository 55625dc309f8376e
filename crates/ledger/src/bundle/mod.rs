//! The export bundle: what the server hands out and what the CLI
//! (`jiliang verify EXPORT`) and the browser verification page check.
//!
//! # Layout
//! - this module: the format (the types below, [`export_message`], and
//!   building and signing a bundle from the log's tree).
//! - `verify`: [`verify_bundle`] and [`verify_bundle_with_key`], which check
//!   a bundle and never panic, whatever it holds.
//! - `report`: what verification says: a [`Report`] of [`Failure`]s, each a
//!   [`Problem`] at a [`Location`].
//!
//! # Format `jiliang-ledger-export/1` (JSON)
//!
//! ```json
//! {
//!   "format": "jiliang-ledger-export/1",
//!   "public_key": "<64 hex: Ed25519 public key>",
//!   "tree_head": {"size": 3, "timestamp_ms": 1700000000000,
//!                 "root_hash": "<64 hex>", "signature": "<128 hex>"},
//!   "scope": "selection",
//!   "records": [
//!     {"index": 1, "kind": "certificate", "id": "0190...",
//!      "created_at_ms": 1700000000000,
//!      "payload": "{\"serial\":\"A-17\",\"u\":0.02}",
//!      "leaf_hash": "<64 hex>",
//!      "inclusion_proof": ["<64 hex>", "<64 hex>"]}
//!   ],
//!   "consistency": [{"from": {"size": 2, "...": "..."}, "proof": ["<64 hex>"]}],
//!   "export_signature": "<128 hex>"
//! }
//! ```
//!
//! Design choices:
//!
//! - **Payload as a string.** `payload` holds the canonical JSON *text*, so
//!   a verifier hashes exactly the bytes that were committed and needs no
//!   JSON parser (this crate has none at runtime beyond the small one used
//!   to check canonical form). Anything that re-encodes the bundle keeps the
//!   string intact.
//! - **Hex as plain strings.** Every hash, key and signature is a `String` in
//!   these types and is decoded during verification, so a damaged field is
//!   reported against the record it belongs to instead of making the whole
//!   file unreadable.
//! - **Scope.** `"full"`: the records are every leaf `0..size` in order; the
//!   verifier rebuilds the root from them, so inclusion proofs may be left
//!   out (they are checked if present). `"selection"`: any subset in
//!   increasing index order, each with its inclusion proof.
//! - **Export signature.** Inclusion proofs show each record is in the log,
//!   but not that the bundle still holds every record the server put in it.
//!   The server therefore also signs a manifest of the selection (version 1):
//!
//!   ```text
//!   b"jiliang-export-v1\n"      18 bytes
//!   STH message v1              63 bytes (binds the manifest to the head)
//!   scope                       1 byte: 0x01 full, 0x02 selection
//!   record count                u64 big-endian
//!   manifest digest             SHA-256 over, for each record in bundle order,
//!                               index (u64 big-endian) || leaf hash (32 bytes)
//!   ```
//!
//!   so deleting, adding or reordering records breaks it.
//! - **Consistency.** Optional proofs that the bundle's head extends earlier
//!   signed heads (for example the head printed on a certificate).
//!
//! Signatures only show that *some* key signed; pin the log's key with
//! [`verify_bundle_with_key`] (or compare [`Report::key_fingerprint`] with
//! the fingerprint the institution publishes), or a forger could re-sign a

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{BundleError, HexError, ProofError};
use crate::hash::{Hash, leaf_hash};
use crate::hex;
use crate::record::{Record, frame_leaf_v1};
use crate::sth::{SignatureBytes, SignedTreeHead, TreeHead, sign_message};
use crate::tree::MerkleTree;

mod report;
mod verify;

pub use report::{Failure, Location, Problem, Report};
pub use verify::{verify_bundle, verify_bundle_with_key};

/// The `format` string of version 1.
pub const BUNDLE_FORMAT_V1: &str = "jiliang-ledger-export/1";

/// Domain and version tag of the export manifest message.
pub const EXPORT_PREFIX_V1: &[u8; 18] = b"jiliang-export-v1\n";

/// Which records a bundle claims to contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every leaf `0..size`, in order.
    Full,
    /// Any subset, in strictly increasing index order, with proofs.
    Selection,
}

impl Scope {
    pub(crate) fn tag(self) -> u8 {
        match self {
            Scope::Full => 0x01,
            Scope::Selection => 0x02,
        }
    }
}

/// A signed tree head as it appears in a bundle (hex kept as text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleTreeHead {
    /// Number of leaves.
    pub size: u64,
    /// Signing time, ms since the Unix epoch, UTC.
    pub timestamp_ms: u64,
    /// 64 hex characters.
    pub root_hash: String,
    /// 128 hex characters.
    pub signature: String,
}

impl From<&SignedTreeHead> for BundleTreeHead {
    fn from(sth: &SignedTreeHead) -> Self {
        Self {
            size: sth.size,
            timestamp_ms: sth.timestamp_ms,
            root_hash: sth.root_hash.to_hex(),
            signature: sth.signature.to_hex(),
        }
    }
}

impl BundleTreeHead {
    /// Decodes the hex fields; on failure names the field.
    pub fn parse(&self) -> Result<SignedTreeHead, (&'static str, HexError)> {
        let root_hash = Hash::from_hex(&self.root_hash).map_err(|e| ("root_hash", e))?;
        let signature = SignatureBytes::from_hex(&self.signature).map_err(|e| ("signature", e))?;
        Ok(SignedTreeHead {
            size: self.size,
            timestamp_ms: self.timestamp_ms,
            root_hash,
            signature,
        })
    }
}

/// One record in a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    /// Leaf index in the log.
    pub index: u64,
    /// Record kind (`[a-z_]{1,32}`).
    pub kind: String,
    /// Record id.
    pub id: String,
    /// Creation time, ms since the Unix epoch, UTC.
    pub created_at_ms: u64,
    /// The canonical JSON text of the payload, hashed byte for byte.
    pub payload: String,
    /// The leaf hash as recorded by the server (64 hex).
    pub leaf_hash: String,
    /// Inclusion proof against the bundle's tree head, leaf level first.
    /// May be omitted in a full-scope bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_proof: Vec<String>,
}

impl BundleRecord {
    /// Builds the bundle form of a record with its inclusion proof.
    pub fn from_record(index: u64, record: &Record, inclusion_proof: &[Hash]) -> Self {
        Self {
            index,
            kind: record.kind.as_str().to_owned(),
            id: record.id().to_owned(),
            created_at_ms: record.created_at_ms,
            payload: record.payload.as_str().to_owned(),
            leaf_hash: record.leaf_hash().to_hex(),
            inclusion_proof: inclusion_proof.iter().map(Hash::to_hex).collect(),
        }
    }

    /// The leaf hash recomputed from the fields (version-1 framing), whether
    /// or not the fields are valid.
    pub fn computed_leaf_hash(&self) -> Hash {
        leaf_hash(&frame_leaf_v1(
            &self.kind,
            &self.id,
            self.created_at_ms,
            self.payload.as_bytes(),
        ))
    }
}

/// A consistency proof from an earlier signed head to the bundle's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleConsistency {
    /// The earlier signed head.
    pub from: BundleTreeHead,
    /// RFC 9162 consistency path from `from.size` to the bundle head's size.
    pub proof: Vec<String>,
}

impl BundleConsistency {
    /// Builds the bundle form.
    pub fn new(from: &SignedTreeHead, proof: &[Hash]) -> Self {
        Self {
            from: from.into(),
            proof: proof.iter().map(Hash::to_hex).collect(),
        }
    }
}

/// An export bundle (see the module docs for the JSON shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// Always [`BUNDLE_FORMAT_V1`] for this version.
    pub format: String,
    /// The log's Ed25519 public key, 64 hex.
    pub public_key: String,
    /// The signed head every proof refers to.
    pub tree_head: BundleTreeHead,
    /// Whether the records are the whole log or a selection.
    pub scope: Scope,
    /// The records, in strictly increasing index order.
    pub records: Vec<BundleRecord>,
    /// Optional proofs that `tree_head` extends earlier heads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consistency: Vec<BundleConsistency>,
    /// Signature over the export manifest (module docs), 128 hex.
    pub export_signature: String,
}

/// The export manifest message (version 1) for a head, scope and the
/// `(index, leaf hash)` list in bundle order.
pub fn export_message<I>(head: &TreeHead, scope: Scope, entries: I) -> Vec<u8>
where
    I: IntoIterator<Item = (u64, Hash)>,
{
    let mut digest = Sha256::new();
    let mut count = 0u64;
    for (index, leaf) in entries {
        digest.update(index.to_be_bytes());
        digest.update(leaf.0);
        count += 1;
    }
    let digest: [u8; 32] = digest.finalize().into();
    let mut msg = Vec::with_capacity(18 + 63 + 1 + 8 + 32);
    msg.extend_from_slice(EXPORT_PREFIX_V1);
    msg.extend_from_slice(&head.signing_message());
    msg.push(scope.tag());
    msg.extend_from_slice(&count.to_be_bytes());
    msg.extend_from_slice(&digest);
    msg
}

impl Bundle {
    /// Assembles and signs a bundle from parts the caller has already built
    /// (records with their proofs). Fails only if a record's `leaf_hash` is
    /// not valid hex.
    pub fn assemble(
        key: &SigningKey,
        head: &SignedTreeHead,
        scope: Scope,
        records: Vec<BundleRecord>,
        consistency: Vec<BundleConsistency>,
    ) -> Result<Self, BundleError> {
        let mut entries = Vec::with_capacity(records.len());
        for r in &records {
            let leaf =
                Hash::from_hex(&r.leaf_hash).map_err(|error| BundleError::MalformedLeafHash {
                    index: r.index,
                    error,
                })?;
            entries.push((r.index, leaf));
        }
        let message = export_message(&head.head(), scope, entries);
        Ok(Self {
            format: BUNDLE_FORMAT_V1.to_owned(),
            public_key: hex::encode(key.verifying_key().as_bytes()),
            tree_head: head.into(),
            scope,
            records,
            consistency,
            export_signature: sign_message(key, &message).to_hex(),
        })
    }

    /// Builds a bundle from the log's tree: checks that `head` and every
    /// record match the tree, generates inclusion proofs (selection scope)
    /// and consistency proofs from each of `earlier_heads`, and signs.
    ///
    /// `records` must be in strictly increasing index order; for
    /// [`Scope::Full`] they must be exactly the indices `0..head.size`.
    pub fn from_tree<'a, I>(
        tree: &MerkleTree,
        key: &SigningKey,
        head: &SignedTreeHead,
        scope: Scope,
        records: I,
        earlier_heads: &[SignedTreeHead],
    ) -> Result<Self, BundleError>
    where
        I: IntoIterator<Item = (u64, &'a Record)>,
    {
        if tree.root_at(head.size)? != head.root_hash {
            return Err(BundleError::HeadDoesNotMatchTree { size: head.size });
        }
        let mut out = Vec::new();
        let mut previous: Option<u64> = None;
        for (index, record) in records {
            if let Some(previous) = previous
                && index <= previous
            {
                return Err(BundleError::RecordsOutOfOrder { index, previous });
            }
            previous = Some(index);
            if index >= head.size {
                return Err(ProofError::IndexOutOfRange {
                    index,
                    size: head.size,
                }
                .into());
            }
            if tree.leaf_hash(index) != Some(record.leaf_hash()) {
                return Err(BundleError::RecordDoesNotMatchTree { index });
            }
            let proof = match scope {
                Scope::Full => Vec::new(),
                Scope::Selection => tree.inclusion_proof(index, head.size)?,
            };
            out.push(BundleRecord::from_record(index, record, &proof));
        }
        if scope == Scope::Full {
            let count = out.len() as u64;
            // Strictly increasing indices below `size`: complete iff the
            // count equals the size.
            if count != head.size {
                return Err(BundleError::IncompleteFullExport {
                    size: head.size,
                    count,
                });
            }
        }
        let mut consistency = Vec::with_capacity(earlier_heads.len());
        for from in earlier_heads {
            if tree.root_at(from.size)? != from.root_hash {
                return Err(BundleError::HeadDoesNotMatchTree { size: from.size });
            }
            let proof = tree.consistency_proof(from.size, head.size)?;
            consistency.push(BundleConsistency::new(from, &proof));
        }
        Self::assemble(key, head, scope, out, consistency)
    }
}
