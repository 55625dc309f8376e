//! RFC 6962 / RFC 9162 hashing with SHA-256.
//!
//! The two hash inputs are domain-separated by a one-byte prefix so that a
//! leaf can never be passed off as an interior node or the other way round
//! (RFC 9162 §2.1.1, the second-preimage defence):
//!
//! - leaf hash: `SHA-256(0x00 || leaf data)`
//! - node hash: `SHA-256(0x01 || left || right)`
//! - the root of the empty tree is `SHA-256("")`.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::error::HexError;
use crate::hex;

/// Length in bytes of every hash in the log (SHA-256).
pub const HASH_LEN: usize = 32;

/// A SHA-256 value: a leaf hash, a node hash or a tree root.
///
/// Serialised as 64 lower-case hex characters (in every serde format, so a
/// hash reads the same in JSON, in logs and in the database).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    /// Wraps raw bytes.
    pub const fn from_bytes(bytes: [u8; HASH_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// Parses exactly 64 lower-case hex characters.
    pub fn from_hex(text: &str) -> Result<Self, HexError> {
        hex::decode_array(text).map(Self)
    }

    /// Copies from a slice that must be exactly 32 bytes long (for example a
    /// database BLOB column).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HexError> {
        <[u8; HASH_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| HexError::WrongLength {
                expected: HASH_LEN,
                actual: bytes.len(),
            })
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<[u8; HASH_LEN]> for Hash {
    fn from(bytes: [u8; HASH_LEN]) -> Self {
        Self(bytes)
    }
}

impl From<Hash> for [u8; HASH_LEN] {
    fn from(hash: Hash) -> Self {
        hash.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl FromStr for Hash {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Root hash of the empty tree: `SHA-256("")` (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = Hash([
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

/// Leaf hash: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    Hash(h.finalize().into())
}

/// Interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    // One contiguous buffer: a single `update` call is measurably faster than
    // three for 65 bytes, and this is the hot path of tree building.
    let mut buf = [0u8; 1 + 2 * HASH_LEN];
    buf[0] = 0x01;
    buf[1..=HASH_LEN].copy_from_slice(&left.0);
    buf[1 + HASH_LEN..].copy_from_slice(&right.0);
    Hash(Sha256::digest(buf).into())
}

/// Plain SHA-256, for fingerprints and digests outside the tree.
pub fn sha256(data: &[u8]) -> Hash {
    Hash(Sha256::digest(data).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(sha256(b""), EMPTY_ROOT);
    }

    #[test]
    fn serde_is_hex() {
        let h = leaf_hash(b"");
        let json = serde_json::to_string(&h).ok();
        assert_eq!(
            json.as_deref(),
            Some("\"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\"")
        );
        let back: Result<Hash, _> = serde_json::from_str(json.as_deref().unwrap_or(""));
        assert_eq!(back.ok(), Some(h));
        assert!(serde_json::from_str::<Hash>("\"00\"").is_err());
    }

    #[test]
    fn from_slice_checks_length() {
        assert!(Hash::from_slice(&[0; 31]).is_err());
        assert_eq!(Hash::from_slice(&[7; 32]), Ok(Hash([7; 32])));
    }
}
