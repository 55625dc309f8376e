//! The public face of the record log (`/api/v1/ledger/…`): the latest
//! signed tree head and the RFC 6962 proofs. They reveal hashes only, so
//! anyone may ask; record exports themselves are `jiliang_ledger::Bundle`
//! documents, defined by the ledger crate.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/ledger/head`: a signed tree head and the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeadView {
    pub size: u64,
    pub timestamp_ms: u64,
    /// RFC 3339 rendering of `timestamp_ms`.
    pub timestamp: String,
    /// Hex SHA-256 Merkle root (RFC 6962).
    pub root_hash: String,
    /// Hex Ed25519 signature over the v1 head message.
    pub signature: String,
    /// Hex Ed25519 public key that signed this head (stored with it: on a
    /// cluster, whichever node signed the size first).
    pub public_key: String,
    /// Hex SHA-256 of that public key.
    pub key_fingerprint: String,
}

/// Query of `GET /api/v1/ledger/proof/inclusion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct InclusionParams {
    /// Leaf index.
    pub index: u64,
    /// Tree size (a signed head's); default the latest.
    pub size: Option<u64>,
}

/// `GET /api/v1/ledger/proof/inclusion`: where a leaf sits in a signed tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InclusionView {
    pub index: u64,
    pub size: u64,
    pub leaf_hash: String,
    /// RFC 6962 audit path, hex, leaf to root.
    pub proof: Vec<String>,
}

/// Query of `GET /api/v1/ledger/proof/consistency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ConsistencyParams {
    pub old_size: u64,
    /// Default the latest signed size.
    pub size: Option<u64>,
}

/// `GET /api/v1/ledger/proof/consistency`: the log of `size` only appended
/// to the log of `old_size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsistencyView {
    pub old_size: u64,
    pub size: u64,
    /// RFC 6962 consistency proof, hex.
    pub proof: Vec<String>,
}
