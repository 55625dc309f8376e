//! Signed tree heads (STH): the server's Ed25519 signature over a tree size,
//! root and time.
//!
//! # Signed message, version 1
//!
//! ```text
//! b"jiliang-sth-v1\n"     15 bytes, domain and version tag
//! size                    u64 big-endian
//! timestamp_ms            u64 big-endian, ms since the Unix epoch, UTC
//! root_hash               32 bytes
//! ```
//!
//! 63 bytes in total, signed with plain Ed25519 (RFC 8032). The tag keeps
//! these signatures from ever being valid for another Jiliang message signed
//! with the same key (the export manifest uses `jiliang-export-v1\n`), and
//! fixes the layout so it can be versioned. Verification uses
//! `verify_strict`, which rejects small-order keys and malleable signatures,
//! so one head has exactly one valid signature encoding per key.
//!
//! Key *generation* needs randomness and lives in the server; this crate only
//! builds a [`SigningKey`] from 32 seed bytes, so it stays free of `getrandom`
//! and builds for `wasm32-unknown-unknown`.

use core::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{HexError, SignatureError};
use crate::hash::{Hash, sha256};
use crate::hex;

/// Domain and version tag of the signed tree head message.
pub const STH_PREFIX_V1: &[u8; 15] = b"jiliang-sth-v1\n";

/// Length of the version-1 signed message.
pub const STH_MESSAGE_LEN: usize = 15 + 8 + 8 + 32;

/// An Ed25519 signature, serialised as 128 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignatureBytes(pub [u8; 64]);

impl SignatureBytes {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// Parses exactly 128 lower-case hex characters.
    pub fn from_hex(text: &str) -> Result<Self, HexError> {
        hex::decode_array(text).map(Self)
    }
}

impl fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureBytes({})", self.to_hex())
    }
}

impl fmt::Display for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for SignatureBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SignatureBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// An unsigned tree head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    /// Number of leaves.
    pub size: u64,
    /// Time of signing, milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: u64,
    /// `MTH` of the first `size` leaves.
    pub root_hash: Hash,
}

impl TreeHead {
    /// The exact bytes that are signed (version 1, see the module docs).
    pub fn signing_message(&self) -> [u8; STH_MESSAGE_LEN] {
        let mut msg = [0u8; STH_MESSAGE_LEN];
        msg[..15].copy_from_slice(STH_PREFIX_V1);
        msg[15..23].copy_from_slice(&self.size.to_be_bytes());
        msg[23..31].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        msg[31..].copy_from_slice(&self.root_hash.0);
        msg
    }

    /// Signs the head.
    pub fn sign(self, key: &SigningKey) -> SignedTreeHead {
        let signature = key.sign(&self.signing_message());
        SignedTreeHead {
            size: self.size,
            timestamp_ms: self.timestamp_ms,
            root_hash: self.root_hash,
            signature: SignatureBytes(signature.to_bytes()),
        }
    }
}

/// A tree head with the log's Ed25519 signature.
///
/// JSON: `{"size": 3, "timestamp_ms": 1700000000000, "root_hash": "<64 hex>",
/// "signature": "<128 hex>"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTreeHead {
    /// Number of leaves.
    pub size: u64,
    /// Time of signing, milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: u64,
    /// `MTH` of the first `size` leaves.
    pub root_hash: Hash,
    /// Ed25519 signature over [`TreeHead::signing_message`].
    pub signature: SignatureBytes,
}

impl SignedTreeHead {
    /// The head without its signature.
    pub fn head(&self) -> TreeHead {
        TreeHead {
            size: self.size,
            timestamp_ms: self.timestamp_ms,
            root_hash: self.root_hash,
        }
    }

    /// Verifies the signature with `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), SignatureError> {
        verify_signature(key, &self.head().signing_message(), &self.signature)
    }

    /// Verifies the signature with 32 raw public-key bytes.
    pub fn verify_with_key_bytes(&self, key: &[u8; 32]) -> Result<(), SignatureError> {
        self.verify(&verifying_key_from_bytes(key)?)
    }
}

/// Builds a signing key from its 32-byte seed (RFC 8032 private key).
pub fn signing_key_from_seed(seed: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(seed)
}

/// Parses 32 raw public-key bytes.
pub fn verifying_key_from_bytes(key: &[u8; 32]) -> Result<VerifyingKey, SignatureError> {
    VerifyingKey::from_bytes(key).map_err(|_| SignatureError::InvalidPublicKey)
}

/// Parses a public key from 64 lower-case hex characters.
pub fn verifying_key_from_hex(text: &str) -> Result<VerifyingKey, KeyParseError> {
    let bytes = hex::decode_array::<32>(text).map_err(KeyParseError::Hex)?;
    verifying_key_from_bytes(&bytes).map_err(KeyParseError::Key)
}

/// Why a hex public key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "error", rename_all = "snake_case")]
pub enum KeyParseError {
    /// Not 64 lower-case hex characters.
    #[error("public key: {0}")]
    Hex(HexError),
    /// Not a valid Ed25519 point.
    #[error("public key: {0}")]
    Key(SignatureError),
}

pub(crate) fn verify_signature(
    key: &VerifyingKey,
    message: &[u8],
    signature: &SignatureBytes,
) -> Result<(), SignatureError> {
    let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(message, &signature)
        .map_err(|_| SignatureError::BadSignature)
}

pub(crate) fn sign_message(key: &SigningKey, message: &[u8]) -> SignatureBytes {
    SignatureBytes(key.sign(message).to_bytes())
}

/// Full key fingerprint: hex of SHA-256 of the 32 public-key bytes.
pub fn key_fingerprint(key: &VerifyingKey) -> String {
    sha256(key.as_bytes()).to_hex()
}

/// Short fingerprint for people: the first 16 hex characters of
/// [`key_fingerprint`] in groups of four, e.g. `3f2a:91c0:77de:0b15`.
/// 64 bits: enough to tell keys apart by eye, not a security parameter.
pub fn key_fingerprint_short(key: &VerifyingKey) -> String {
    let full = key_fingerprint(key);
    let mut out = String::with_capacity(19);
    for (i, c) in full.chars().take(16).enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(':');
        }
        out.push(c);
    }
    out
}

/// Renders milliseconds since the Unix epoch as RFC 3339 UTC with
/// millisecond precision, e.g. `2023-11-14T22:13:20.000Z`. `None` past the
/// year 9999, which RFC 3339 cannot express.
pub fn format_rfc3339_ms(ms: u64) -> Option<String> {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z"
    ))
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's `civil_from_days`, unsigned since we start at 1970).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::EMPTY_ROOT;

    fn key() -> SigningKey {
        signing_key_from_seed(&[7u8; 32])
    }

    #[test]
    fn message_layout() {
        let head = TreeHead {
            size: 0x0102,
            timestamp_ms: 0x0304,
            root_hash: EMPTY_ROOT,
        };
        let msg = head.signing_message();
        assert_eq!(&msg[..15], b"jiliang-sth-v1\n");
        assert_eq!(&msg[15..23], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&msg[23..31], &[0, 0, 0, 0, 0, 0, 3, 4]);
        assert_eq!(&msg[31..], EMPTY_ROOT.as_bytes());
    }

    #[test]
    fn sign_and_verify() {
        let sk = key();
        let vk = sk.verifying_key();
        let sth = TreeHead {
            size: 5,
            timestamp_ms: 1_700_000_000_000,
            root_hash: EMPTY_ROOT,
        }
        .sign(&sk);
        assert_eq!(sth.verify(&vk), Ok(()));
        assert_eq!(sth.verify_with_key_bytes(vk.as_bytes()), Ok(()));

        let mut other = sth;
        other.size += 1;
        assert_eq!(other.verify(&vk), Err(SignatureError::BadSignature));
        let other_key = signing_key_from_seed(&[8u8; 32]).verifying_key();
        assert_eq!(sth.verify(&other_key), Err(SignatureError::BadSignature));

        let json = serde_json::to_string(&sth).expect("serialise");
        let back: SignedTreeHead = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, sth);
    }

    #[test]
    fn fingerprints() {
        let vk = key().verifying_key();
        assert_eq!(key_fingerprint(&vk).len(), 64);
        let short = key_fingerprint_short(&vk);
        assert_eq!(short.len(), 19);
        assert!(key_fingerprint(&vk).starts_with(&short.replace(':', "")));
        assert!(verifying_key_from_hex("zz").is_err());
        assert_eq!(verifying_key_from_hex(&hex::encode(vk.as_bytes())), Ok(vk));
    }

    #[test]
    fn rfc3339() {
        assert_eq!(
            format_rfc3339_ms(0).as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
        assert_eq!(
            format_rfc3339_ms(1_700_000_000_123).as_deref(),
            Some("2023-11-14T22:13:20.123Z")
        );
        assert_eq!(
            format_rfc3339_ms(951_782_400_000).as_deref(),
            Some("2000-02-29T00:00:00.000Z")
        );
        assert_eq!(
            format_rfc3339_ms(253_402_300_799_999).as_deref(),
            Some("9999-12-31T23:59:59.999Z")
        );
        assert_eq!(format_rfc3339_ms(253_402_300_800_000), None);
        assert_eq!(format_rfc3339_ms(u64::MAX), None);
    }
}
