//! The export bundle: what the server hands out and what the CLI
//! (`jiliang verify EXPORT`) and the browser verification page check.
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
//! whole altered bundle with a key of their own.

use core::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::canonical::CanonicalJson;
use crate::error::{
    BundleError, CanonicalError, HexError, ProofError, RecordError, SignatureError,
};
use crate::hash::{Hash, leaf_hash};
use crate::hex;
use crate::proof::{verify_consistency, verify_inclusion};
use crate::record::{Record, frame_leaf_v1, validate_id};
use crate::sth::{
    SignatureBytes, SignedTreeHead, TreeHead, format_rfc3339_ms, key_fingerprint,
    key_fingerprint_short, sign_message, verify_signature, verifying_key_from_bytes,
};
use crate::tree::MerkleTree;

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
    fn tag(self) -> u8 {
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

// ---------------------------------------------------------------------------
// Verification report
// ---------------------------------------------------------------------------

/// Where in the bundle a problem was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum Location {
    /// The bundle as a whole.
    Bundle,
    /// The `public_key` field.
    PublicKey,
    /// The `tree_head`.
    TreeHead,
    /// `records[position]`.
    Record {
        /// Position in the `records` array.
        position: u64,
        /// The record's claimed leaf index.
        index: u64,
        /// The record's id.
        id: String,
    },
    /// `consistency[position]`.
    Consistency {
        /// Position in the `consistency` array.
        position: u64,
        /// Size of the earlier head.
        from_size: u64,
    },
    /// The `export_signature`.
    ExportSignature,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Bundle => f.write_str("bundle"),
            Location::PublicKey => f.write_str("public key"),
            Location::TreeHead => f.write_str("tree head"),
            Location::Record {
                position,
                index,
                id,
            } => write!(f, "records[{position}] (index {index}, id {id:?})"),
            Location::Consistency {
                position,
                from_size,
            } => write!(f, "consistency[{position}] (from size {from_size})"),
            Location::ExportSignature => f.write_str("export signature"),
        }
    }
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Problem {
    /// The `format` field is not one this version understands.
    #[error("unsupported format {found:?} (expected {BUNDLE_FORMAT_V1:?})")]
    UnsupportedFormat {
        /// The value found.
        found: String,
    },
    /// A hex field could not be decoded.
    #[error("malformed hex in {field}: {error}")]
    MalformedHex {
        /// Which field, e.g. `inclusion_proof[2]`.
        field: String,
        /// Why.
        error: HexError,
    },
    /// The public key is not a valid Ed25519 key.
    #[error("invalid Ed25519 public key")]
    InvalidPublicKey,
    /// The bundle's key is not the key the verifier trusts.
    #[error("bundle is signed by key {found}, but the trusted key is {expected}")]
    UntrustedKey {
        /// Short fingerprint of the trusted key.
        expected: String,
        /// Short fingerprint of the bundle's key.
        found: String,
    },
    /// A signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A signature could not be checked because something it covers is
    /// malformed.
    #[error("signature not checked: {reason}")]
    Unverifiable {
        /// Why.
        reason: String,
    },
    /// The record's kind or id breaks the framing rules.
    #[error("invalid record: {error}")]
    InvalidRecord {
        /// Why.
        error: RecordError,
    },
    /// The payload is not canonical JSON (the hash is still checked).
    #[error("payload is not canonical JSON: {error}")]
    PayloadNotCanonical {
        /// Why.
        error: CanonicalError,
    },
    /// The content does not hash to the recorded leaf hash: altered content.
    #[error("content altered: leaf hash recorded as {recorded}, content hashes to {computed}")]
    LeafHashMismatch {
        /// The `leaf_hash` field.
        recorded: Hash,
        /// Hash of the record's fields.
        computed: Hash,
    },
    /// The index is not below the tree size.
    #[error("index {index} is outside the tree of size {size}")]
    IndexOutOfRange {
        /// The record's index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// Indices must strictly increase: this one repeats or goes back.
    #[error(
        "index {index} is out of order (after index {previous}): records reordered or duplicated"
    )]
    OutOfOrder {
        /// This record's index.
        index: u64,
        /// The highest index before it.
        previous: u64,
    },
    /// A full export lacks these indices.
    #[error("{} missing from a full export", crate::audit::index_range(*from, *to))]
    MissingRecords {
        /// First missing index.
        from: u64,
        /// Last missing index.
        to: u64,
    },
    /// The inclusion proof does not verify.
    #[error("inclusion proof fails: {error}")]
    InclusionProof {
        /// Why.
        error: ProofError,
    },
    /// A selection record carries no inclusion proof although the tree has
    /// more than one leaf.
    #[error("inclusion proof missing")]
    MissingInclusionProof,
    /// The consistency proof does not verify.
    #[error("consistency proof fails: {error}")]
    ConsistencyProof {
        /// Why.
        error: ProofError,
    },
    /// The root rebuilt from all records of a full export differs from the
    /// signed root.
    #[error("root rebuilt from the records is {computed}, signed head says {signed}")]
    RootMismatch {
        /// The signed root.
        signed: Hash,
        /// The rebuilt root.
        computed: Hash,
    },
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Where.
    pub location: Location,
    /// What.
    pub problem: Problem,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.problem)
    }
}

/// The result of [`verify_bundle`]: every problem found, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// True when `failures` is empty.
    pub ok: bool,
    /// Short fingerprint of the key used to check signatures (the trusted
    /// key if one was given, otherwise the bundle's), if it parsed.
    pub key_fingerprint: Option<String>,
    /// Full SHA-256 fingerprint of the same key.
    pub key_fingerprint_full: Option<String>,
    /// The head's tree size.
    pub tree_size: u64,
    /// The head's root hash as given.
    pub root_hash: String,
    /// The head's time as RFC 3339.
    pub timestamp: Option<String>,
    /// How many records the bundle holds.
    pub records_total: u64,
    /// How many records have no failure of their own.
    pub records_ok: u64,
    /// Everything that failed.
    pub failures: Vec<Failure>,
}

impl Report {
    /// Failures located at the record with leaf index `index`.
    pub fn failures_for_index(&self, index: u64) -> impl Iterator<Item = &Failure> {
        self.failures.iter().filter(
            move |f| matches!(&f.location, Location::Record { index: i, .. } if *i == index),
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: tree size {}, root {}, signed {}",
            if self.ok { "OK" } else { "FAILED" },
            self.tree_size,
            self.root_hash,
            self.timestamp.as_deref().unwrap_or("(time out of range)")
        )?;
        if let Some(fp) = &self.key_fingerprint {
            writeln!(f, "key fingerprint: {fp}")?;
        }
        writeln!(
            f,
            "records: {} of {} verified",
            self.records_ok, self.records_total
        )?;
        for failure in &self.failures {
            writeln!(f, "- {failure}")?;
        }
        Ok(())
    }
}

/// Verifies a bundle using the public key it carries. Check
/// [`Report::key_fingerprint`] against the published one, or use
/// [`verify_bundle_with_key`].
pub fn verify_bundle(bundle: &Bundle) -> Report {
    Verifier::new(bundle, None).run()
}

/// Verifies a bundle against a trusted key: all signatures are checked with
/// `trusted`, and a bundle carrying a different key is reported.
pub fn verify_bundle_with_key(bundle: &Bundle, trusted: &VerifyingKey) -> Report {
    Verifier::new(bundle, Some(trusted)).run()
}

struct Verifier<'a> {
    bundle: &'a Bundle,
    trusted: Option<&'a VerifyingKey>,
    failures: Vec<Failure>,
}

impl<'a> Verifier<'a> {
    fn new(bundle: &'a Bundle, trusted: Option<&'a VerifyingKey>) -> Self {
        Self {
            bundle,
            trusted,
            failures: Vec::new(),
        }
    }

    fn fail(&mut self, location: Location, problem: Problem) {
        self.failures.push(Failure { location, problem });
    }

    fn run(mut self) -> Report {
        let bundle = self.bundle;
        if bundle.format != BUNDLE_FORMAT_V1 {
            self.fail(
                Location::Bundle,
                Problem::UnsupportedFormat {
                    found: bundle.format.clone(),
                },
            );
        }

        let key = self.check_key();
        let head = self.check_head(key.as_ref());
        let leaf_hashes = self.check_records(head.as_ref());
        self.check_full_scope(head.as_ref(), &leaf_hashes);
        self.check_export_signature(key.as_ref(), head.as_ref());
        self.check_consistency(key.as_ref(), head.as_ref());

        let failing_positions: std::collections::BTreeSet<u64> = self
            .failures
            .iter()
            .filter_map(|f| match f.location {
                Location::Record { position, .. } => Some(position),
                _ => None,
            })
            .collect();
        let records_total = bundle.records.len() as u64;
        Report {
            ok: self.failures.is_empty(),
            key_fingerprint: key.as_ref().map(key_fingerprint_short),
            key_fingerprint_full: key.as_ref().map(key_fingerprint),
            tree_size: bundle.tree_head.size,
            root_hash: bundle.tree_head.root_hash.clone(),
            timestamp: format_rfc3339_ms(bundle.tree_head.timestamp_ms),
            records_total,
            records_ok: records_total.saturating_sub(failing_positions.len() as u64),
            failures: self.failures,
        }
    }

    /// The key to check signatures with: the trusted one if given.
    fn check_key(&mut self) -> Option<VerifyingKey> {
        let parsed = match hex::decode_array::<32>(&self.bundle.public_key) {
            Err(error) => {
                self.fail(
                    Location::PublicKey,
                    Problem::MalformedHex {
                        field: "public_key".to_owned(),
                        error,
                    },
                );
                None
            }
            Ok(bytes) => match verifying_key_from_bytes(&bytes) {
                Ok(key) => Some(key),
                Err(SignatureError::InvalidPublicKey | SignatureError::BadSignature) => {
                    self.fail(Location::PublicKey, Problem::InvalidPublicKey);
                    None
                }
            },
        };
        match self.trusted {
            Some(trusted) => {
                if parsed.as_ref() != Some(trusted) {
                    let found = parsed
                        .as_ref()
                        .map_or_else(|| "(unreadable)".to_owned(), key_fingerprint_short);
                    self.fail(
                        Location::PublicKey,
                        Problem::UntrustedKey {
                            expected: key_fingerprint_short(trusted),
                            found,
                        },
                    );
                }
                Some(*trusted)
            }
            None => parsed,
        }
    }

    /// The head, if its fields decode (its root is used for the proofs even
    /// when the signature fails, so record-level findings are still listed).
    fn check_head(&mut self, key: Option<&VerifyingKey>) -> Option<SignedTreeHead> {
        match self.bundle.tree_head.parse() {
            Err((field, error)) => {
                self.fail(
                    Location::TreeHead,
                    Problem::MalformedHex {
                        field: format!("tree_head.{field}"),
                        error,
                    },
                );
                None
            }
            Ok(head) => {
                match key {
                    Some(key) => {
                        if head.verify(key).is_err() {
                            self.fail(Location::TreeHead, Problem::BadSignature);
                        }
                    }
                    None => self.fail(
                        Location::TreeHead,
                        Problem::Unverifiable {
                            reason: "no usable public key".to_owned(),
                        },
                    ),
                }
                Some(head)
            }
        }
    }

    /// Checks each record; returns the recomputed leaf hashes in bundle
    /// order.
    fn check_records(&mut self, head: Option<&SignedTreeHead>) -> Vec<Hash> {
        let bundle = self.bundle;
        let size = bundle.tree_head.size;
        let mut computed_hashes = Vec::with_capacity(bundle.records.len());
        let mut highest: Option<u64> = None;
        for (position, record) in bundle.records.iter().enumerate() {
            let location = Location::Record {
                position: position as u64,
                index: record.index,
                id: record.id.clone(),
            };

            // Framing rules. The hash below is computed regardless, so an
            // invalid field never masks altered content.
            if let Err(error) = crate::record::RecordKind::new(record.kind.as_str()) {
                self.fail(location.clone(), Problem::InvalidRecord { error });
            }
            if let Err(error) = validate_id(&record.id) {
                self.fail(location.clone(), Problem::InvalidRecord { error });
            }
            if let Err(error) = CanonicalJson::from_canonical(record.payload.as_str()) {
                self.fail(location.clone(), Problem::PayloadNotCanonical { error });
            }

            let computed = record.computed_leaf_hash();
            computed_hashes.push(computed);
            match Hash::from_hex(&record.leaf_hash) {
                Err(error) => self.fail(
                    location.clone(),
                    Problem::MalformedHex {
                        field: "leaf_hash".to_owned(),
                        error,
                    },
                ),
                Ok(recorded) if recorded != computed => self.fail(
                    location.clone(),
                    Problem::LeafHashMismatch { recorded, computed },
                ),
                Ok(_) => {}
            }

            if let Some(previous) = highest
                && record.index <= previous
            {
                self.fail(
                    location.clone(),
                    Problem::OutOfOrder {
                        index: record.index,
                        previous,
                    },
                );
            }
            highest = Some(highest.map_or(record.index, |h| h.max(record.index)));

            if record.index >= size {
                self.fail(
                    location.clone(),
                    Problem::IndexOutOfRange {
                        index: record.index,
                        size,
                    },
                );
                continue;
            }

            let mut proof = Vec::with_capacity(record.inclusion_proof.len());
            let mut proof_ok = true;
            for (i, text) in record.inclusion_proof.iter().enumerate() {
                match Hash::from_hex(text) {
                    Ok(h) => proof.push(h),
                    Err(error) => {
                        proof_ok = false;
                        self.fail(
                            location.clone(),
                            Problem::MalformedHex {
                                field: format!("inclusion_proof[{i}]"),
                                error,
                            },
                        );
                    }
                }
            }
            // Full exports are checked by rebuilding the root; their proofs
            // are optional but checked when present.
            let check_proof = bundle.scope == Scope::Selection || !proof.is_empty();
            if let (true, true, Some(head)) = (proof_ok, check_proof, head) {
                if bundle.scope == Scope::Selection && proof.is_empty() && size > 1 {
                    self.fail(location.clone(), Problem::MissingInclusionProof);
                } else if let Err(error) =
                    verify_inclusion(&computed, record.index, size, &proof, &head.root_hash)
                {
                    self.fail(location.clone(), Problem::InclusionProof { error });
                }
            }
        }
        computed_hashes
    }

    /// Full scope: every index `0..size` present, and the rebuilt root equal
    /// to the signed one.
    fn check_full_scope(&mut self, head: Option<&SignedTreeHead>, computed: &[Hash]) {
        if self.bundle.scope != Scope::Full {
            return;
        }
        let size = self.bundle.tree_head.size;
        let mut indices: Vec<u64> = self
            .bundle
            .records
            .iter()
            .map(|r| r.index)
            .filter(|&i| i < size)
            .collect();
        indices.sort_unstable();
        indices.dedup();
        let mut expected = 0u64;
        for &i in indices.iter().chain(core::iter::once(&size)) {
            if i > expected {
                self.fail(
                    Location::Bundle,
                    Problem::MissingRecords {
                        from: expected,
                        to: i - 1,
                    },
                );
            }
            expected = i.saturating_add(1);
        }
        // The rebuild is only meaningful when the records are exactly
        // `0..size` in order; otherwise the problems above already say why.
        let in_order = self
            .bundle
            .records
            .iter()
            .enumerate()
            .all(|(pos, r)| r.index == pos as u64);
        if let (true, true, Some(head)) = (in_order, computed.len() as u64 == size, head) {
            let root = crate::tree::root_from_leaf_hashes(computed);
            if root != head.root_hash {
                self.fail(
                    Location::TreeHead,
                    Problem::RootMismatch {
                        signed: head.root_hash,
                        computed: root,
                    },
                );
            }
        }
    }

    fn check_export_signature(
        &mut self,
        key: Option<&VerifyingKey>,
        head: Option<&SignedTreeHead>,
    ) {
        let signature = match SignatureBytes::from_hex(&self.bundle.export_signature) {
            Ok(s) => s,
            Err(error) => {
                self.fail(
                    Location::ExportSignature,
                    Problem::MalformedHex {
                        field: "export_signature".to_owned(),
                        error,
                    },
                );
                return;
            }
        };
        // The manifest covers the leaf hashes as the server recorded them.
        let recorded: Option<Vec<(u64, Hash)>> = self
            .bundle
            .records
            .iter()
            .map(|r| Hash::from_hex(&r.leaf_hash).ok().map(|h| (r.index, h)))
            .collect();
        let (Some(key), Some(head), Some(entries)) = (key, head, recorded) else {
            self.fail(
                Location::ExportSignature,
                Problem::Unverifiable {
                    reason: "public key, tree head or a leaf hash is unreadable".to_owned(),
                },
            );
            return;
        };
        let message = export_message(&head.head(), self.bundle.scope, entries);
        if verify_signature(key, &message, &signature).is_err() {
            self.fail(Location::ExportSignature, Problem::BadSignature);
        }
    }

    fn check_consistency(&mut self, key: Option<&VerifyingKey>, head: Option<&SignedTreeHead>) {
        let bundle = self.bundle;
        for (position, entry) in bundle.consistency.iter().enumerate() {
            let location = Location::Consistency {
                position: position as u64,
                from_size: entry.from.size,
            };
            let from = match entry.from.parse() {
                Ok(from) => from,
                Err((field, error)) => {
                    self.fail(
                        location,
                        Problem::MalformedHex {
                            field: format!("from.{field}"),
                            error,
                        },
                    );
                    continue;
                }
            };
            if let Some(key) = key
                && from.verify(key).is_err()
            {
                self.fail(location.clone(), Problem::BadSignature);
            }
            let mut proof = Vec::with_capacity(entry.proof.len());
            let mut proof_ok = true;
            for (i, text) in entry.proof.iter().enumerate() {
                match Hash::from_hex(text) {
                    Ok(h) => proof.push(h),
                    Err(error) => {
                        proof_ok = false;
                        self.fail(
                            location.clone(),
                            Problem::MalformedHex {
                                field: format!("proof[{i}]"),
                                error,
                            },
                        );
                    }
                }
            }
            if let (true, Some(head)) = (proof_ok, head)
                && let Err(error) = verify_consistency(
                    from.size,
                    head.size,
                    &from.root_hash,
                    &head.root_hash,
                    &proof,
                )
            {
                self.fail(location, Problem::ConsistencyProof { error });
            }
        }
    }
}
