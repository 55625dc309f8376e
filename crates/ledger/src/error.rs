//! Typed errors, one enum per concern.
//!
//! Every fallible function in the crate returns one of these; nothing panics
//! on bad input. They derive serde so the CLI and the browser page can show
//! them as structured JSON as well as through `Display`.

use serde::{Deserialize, Serialize};

use crate::hash::Hash;

/// A hex string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum HexError {
    /// Hex needs two characters per byte.
    #[error("hex string has odd length {len}")]
    OddLength {
        /// Length of the text in bytes.
        len: usize,
    },
    /// Only `0-9` and `a-f` are accepted.
    #[error("invalid hex character {found:?} at position {position} (only 0-9 and a-f)")]
    InvalidChar {
        /// Byte offset of the offending character.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// Valid hex, but the wrong number of bytes for a hash, key or signature.
    #[error("expected {expected} bytes, got {actual}")]
    WrongLength {
        /// Required length in bytes.
        expected: usize,
        /// Decoded length in bytes.
        actual: usize,
    },
}

/// A proof could not be produced or did not verify (RFC 9162 §2.1.3, §2.1.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ProofError {
    /// The leaf index is not inside the tree (this includes every index of an
    /// empty tree).
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size it was checked against.
        size: u64,
    },
    /// A tree size larger than the tree that is asked to produce it.
    #[error("tree size {size} is larger than the {available} leaves available")]
    SizeBeyondTree {
        /// The size asked for.
        size: u64,
        /// How many leaves exist.
        available: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    OldSizeGreater {
        /// First (older) tree size.
        old_size: u64,
        /// Second (newer) tree size.
        new_size: u64,
    },
    /// The proof has the wrong number of hashes for the sizes it claims.
    #[error("proof has {actual} hashes, expected {expected}")]
    WrongProofLength {
        /// Length implied by the index and sizes.
        expected: u64,
        /// Length received.
        actual: u64,
    },
    /// The root rebuilt from an inclusion proof is not the expected root.
    #[error("inclusion proof leads to root {computed}, expected {expected}")]
    RootMismatch {
        /// The trusted root.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
    /// The consistency proof does not lead to the old root.
    #[error("consistency proof leads to old root {computed}, expected {expected}")]
    OldRootMismatch {
        /// The trusted old root.
        expected: Hash,
        /// The old root the proof leads to.
        computed: Hash,
    },
    /// The consistency proof does not lead to the new root.
    #[error("consistency proof leads to new root {computed}, expected {expected}")]
    NewRootMismatch {
        /// The trusted new root.
        expected: Hash,
        /// The new root the proof leads to.
        computed: Hash,
    },
}

/// A signed tree head could not be verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum SignatureError {
    /// The 32 bytes are not a usable Ed25519 public key.
    #[error("invalid Ed25519 public key")]
    InvalidPublicKey,
    /// The signature does not match the message and key.
    #[error("signature does not verify with the given public key")]
    BadSignature,
}

/// A JSON value could not be canonicalised (see [`crate::canonical`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum CanonicalError {
    /// NaN and the infinities have no JSON form (RFC 8785 §3.2.2.3).
    #[error("non-finite number (NaN or infinity) cannot be canonicalised")]
    NonFiniteNumber,
    /// A 128-bit integer above `i128::MAX`.
    #[error("integer out of the supported range")]
    IntegerOutOfRange,
    /// Object keys must serialise as strings (integers and chars are
    /// converted, as serde_json does).
    #[error("object key must be a string, got {found}")]
    KeyMustBeString {
        /// What the key serialised as.
        found: String,
    },
    /// The same key twice in one object (I-JSON, RFC 7493 §2.3).
    #[error("duplicate object key {key:?}")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// Nesting deeper than [`crate::canonical::MAX_DEPTH`].
    #[error("nesting deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// JSON text that does not parse (strict RFC 8259).
    #[error("invalid JSON at byte {position}: {message}")]
    Syntax {
        /// Byte offset of the problem.
        position: usize,
        /// What was wrong there.
        message: String,
    },
    /// Valid JSON that is not in canonical form.
    #[error("JSON text is not in canonical form")]
    NotCanonical,
    /// An error raised by a `Serialize` implementation.
    #[error("serialisation failed: {0}")]
    Custom(String),
}

impl serde::ser::Error for CanonicalError {
    fn custom<T: core::fmt::Display>(msg: T) -> Self {
        Self::Custom(msg.to_string())
    }
}

/// A record does not satisfy the leaf framing rules (see [`crate::record`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum RecordError {
    /// Kinds are `[a-z_]{1,32}`.
    #[error("record kind {kind:?} is not 1 to 32 characters of a-z and _")]
    InvalidKind {
        /// The rejected kind.
        kind: String,
    },
    /// Ids are 1 to 128 bytes of UTF-8 without control characters.
    #[error("record id {id:?} is invalid: {reason}")]
    InvalidId {
        /// The rejected id.
        id: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The payload could not be canonicalised.
    #[error("record payload: {0}")]
    Payload(#[from] CanonicalError),
}

/// An export bundle could not be built (the server side of [`crate::bundle`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum BundleError {
    /// A proof could not be generated from the tree.
    #[error("proof generation failed: {0}")]
    Proof(#[from] ProofError),
    /// The tree head does not describe the tree the bundle is built from.
    #[error("tree head (size {size}) does not match the tree's root at that size")]
    HeadDoesNotMatchTree {
        /// Size of the tree head.
        size: u64,
    },
    /// A record's leaf hash is not the leaf stored at its index.
    #[error("record at index {index} does not match the leaf stored at that index")]
    RecordDoesNotMatchTree {
        /// The record's index.
        index: u64,
    },
    /// A pre-built bundle record whose `leaf_hash` is not valid hex.
    #[error("record at index {index} has a malformed leaf hash: {error}")]
    MalformedLeafHash {
        /// The record's index.
        index: u64,
        /// Why.
        error: HexError,
    },
    /// Records must be given in strictly increasing index order.
    #[error("record index {index} does not follow {previous} (strictly increasing order required)")]
    RecordsOutOfOrder {
        /// The offending index.
        index: u64,
        /// The index before it.
        previous: u64,
    },
    /// A full-scope bundle needs every record `0..size`.
    #[error("a full export needs all {size} records, got {count}")]
    IncompleteFullExport {
        /// Tree size.
        size: u64,
        /// Records given.
        count: u64,
    },
}
