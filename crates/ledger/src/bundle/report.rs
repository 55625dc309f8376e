//! What verifying a bundle says: every problem found, each at the place in
//! the bundle it concerns, so an auditor sees which record is wrong and
//! why. Plain data (serialisable) so the browser shows the same report as
//! the CLI.

use core::fmt;

use serde::{Deserialize, Serialize};

use super::BUNDLE_FORMAT_V1;
use crate::error::{CanonicalError, HexError, ProofError, RecordError};
use crate::hash::Hash;

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

/// The result of [`verify_bundle`](super::verify_bundle): every problem found, not just the first.
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
