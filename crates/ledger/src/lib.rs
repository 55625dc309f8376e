//! Tamper-evident log for Jiliang measurement records.
//!
//! Readings, results, certificates and room events become leaves of an
//! append-only Merkle log hashed as in RFC 6962 / RFC 9162; the server signs
//! tree heads with Ed25519; anyone holding an export can check, in the CLI or
//! in the browser, that each record is in the log unaltered and that the log
//! was only ever appended to.
//!
//! # Layout
//! - [`hash`]: leaf/node hashing and the [`Hash`](struct@Hash) type (RFC 9162 §2.1.1).
//! - [`tree`]: the in-memory append-only [`MerkleTree`] and slice functions
//!   for callers that already hold leaf hashes.
//! - [`proof`]: inclusion and consistency proofs, generation and
//!   verification (RFC 9162 §2.1.3, §2.1.4).
//! - [`sth`]: signed tree heads, the signed message format, key helpers.
//! - [`canonical`]: canonical JSON (RFC 8785 style) without `serde_json`.
//! - [`record`]: the [`Record`] type and its versioned leaf framing.
//! - [`bundle`]: the export bundle format and [`verify_bundle`].
//! - [`audit`]: full re-verification of a stored log ([`verify_log`]).
//! - [`hex`]: strict lower-case hex.
//! - [`error`]: the typed errors.
//!
//! # Byte formats (all versioned; see each module)
//! - leaf data: `b"jiliang-leaf-v1\0" || kind || 0x00 || id || 0x00 ||
//!   created_at_ms (u64 BE) || canonical JSON payload` ([`record`]);
//!   leaf hash `SHA-256(0x00 || leaf data)`.
//! - signed tree head message: `b"jiliang-sth-v1\n" || size (u64 BE) ||
//!   timestamp_ms (u64 BE) || root (32 bytes)` ([`sth`]).
//! - export manifest message: `b"jiliang-export-v1\n" || STH message ||
//!   scope byte || record count (u64 BE) || SHA-256 of (index || leaf hash)*`
//!   ([`bundle`]).
//!
//! # Example
//!
//! ```
//! use jiliang_ledger::{
//!     Bundle, MerkleTree, Record, RecordKind, Scope, TreeHead, signing_key_from_seed,
//!     verify_bundle_with_key, verify_inclusion,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Server side: the seed comes from the server's key store.
//! let key = signing_key_from_seed(&[7; 32]);
//! let mut tree = MerkleTree::new();
//! let record = Record::new(
//!     RecordKind::CERTIFICATE,
//!     "0190a4b2-7c1e-7d3f-9a10-000000000001",
//!     1_700_000_000_000,
//!     &[("serial", "A-17")],
//! )?;
//! let index = tree.push(record.leaf_hash());
//! tree.push_data(b"another leaf");
//! let head = TreeHead { size: tree.len(), timestamp_ms: 1_700_000_060_000, root_hash: tree.root() }
//!     .sign(&key);
//!
//! // Anyone: an inclusion proof against the signed head.
//! let proof = tree.inclusion_proof(index, head.size)?;
//! head.verify(&key.verifying_key())?;
//! verify_inclusion(&record.leaf_hash(), index, head.size, &proof, &head.root_hash)?;
//!
//! // Or a whole export bundle, checked against the published key.
//! let bundle = Bundle::from_tree(&tree, &key, &head, Scope::Selection, [(index, &record)], &[])?;
//! let report = verify_bundle_with_key(&bundle, &key.verifying_key());
//! assert!(report.ok, "{report}");
//! # Ok(())
//! # }
//! ```
//!
//! This crate must never do I/O, read a clock, draw randomness or panic on
//! any input: it is compiled into the server, the CLI and the browser
//! (`wasm32-unknown-unknown`), and all three must reach the same bytes and
//! the same verdicts. Times and keys are always passed in.

pub mod audit;
pub mod bundle;
pub mod canonical;
pub mod error;
pub mod hash;
pub mod hex;
pub mod proof;
pub mod record;
pub mod sth;
pub mod tree;

pub use audit::{LogEntry, LogProblem, LogReport, LogVerifier, verify_log};
pub use bundle::{
    BUNDLE_FORMAT_V1, Bundle, BundleConsistency, BundleRecord, BundleTreeHead, Failure, Location,
    Problem, Report, Scope, verify_bundle, verify_bundle_with_key,
};
pub use canonical::{CanonicalJson, canonical_json, canonicalize_str};
pub use error::{BundleError, CanonicalError, HexError, ProofError, RecordError, SignatureError};
pub use hash::{EMPTY_ROOT, HASH_LEN, Hash, leaf_hash, node_hash};
pub use proof::{
    ConsistencyProof, InclusionProof, consistency_proof_len, inclusion_proof_len,
    root_from_inclusion_proof, verify_consistency, verify_inclusion,
};
pub use record::{Record, RecordKind};
pub use sth::{
    KeyParseError, SignatureBytes, SignedTreeHead, TreeHead, format_rfc3339_ms, key_fingerprint,
    key_fingerprint_short, signing_key_from_seed, verifying_key_from_bytes, verifying_key_from_hex,
};
pub use tree::{
    MerkleTree, consistency_proof_from_leaf_hashes, inclusion_proof_from_leaf_hashes,
    root_from_leaf_hashes,
};

/// Re-exported so callers need not depend on `ed25519-dalek` directly.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
