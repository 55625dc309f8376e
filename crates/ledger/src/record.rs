//! Records and their leaf framing: the exact bytes a log leaf commits to.
//!
//! # Leaf data, version 1
//!
//! ```text
//! b"jiliang-leaf-v1\0"           16 bytes, domain and version tag
//! kind                           1..=32 bytes of [a-z_]
//! 0x00
//! id                             1..=128 bytes of UTF-8, no control characters
//! 0x00
//! created_at_ms                  8 bytes, u64 big-endian, ms since the Unix epoch (UTC)
//! payload                        canonical JSON (see `canonical`), UTF-8, to the end
//! ```
//!
//! The leaf hash is then `SHA-256(0x00 || leaf data)` (RFC 9162 §2.1.1).
//!
//! Why this shape: the version tag lets a future framing coexist with old
//! leaves; `kind` and `id` cannot contain NUL, so their terminators make the
//! split unambiguous; the time is fixed-width binary so no textual time
//! format (with its many spellings of the same instant) enters the hash; the
//! payload comes last and needs no length because it runs to the end.
//! `created_at` is milliseconds rather than RFC 3339 text for the same
//! reason; [`crate::format_rfc3339_ms`] renders it for people.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::canonical::{CanonicalJson, canonical_json};
use crate::error::RecordError;
use crate::hash::{Hash, leaf_hash};

/// Domain and version tag that starts every version-1 leaf.
pub const LEAF_PREFIX_V1: &[u8; 16] = b"jiliang-leaf-v1\0";

/// Longest record kind, in bytes.
pub const MAX_KIND_LEN: usize = 32;

/// Longest record id, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// What a record is: `[a-z_]{1,32}`.
///
/// Known kinds are associated constants; a new kind needs no change here:
/// `RecordKind::new("calibration_plan")?` (or a `const` of your own built
/// with [`RecordKind::new`] at start-up).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordKind(std::borrow::Cow<'static, str>);

impl RecordKind {
    /// A room event (join, leave, hand-over, ...).
    pub const ROOM_EVENT: Self = Self::known("room_event");
    /// A batch of instrument readings.
    pub const READING_BATCH: Self = Self::known("reading_batch");
    /// The result of an inter-laboratory comparison.
    pub const COMPARISON_RESULT: Self = Self::known("comparison_result");
    /// An original (raw) measurement record.
    pub const RAW_RECORD: Self = Self::known("raw_record");
    /// A proficiency-testing round report.
    pub const ROUND_REPORT: Self = Self::known("round_report");
    /// A calibration certificate.
    pub const CERTIFICATE: Self = Self::known("certificate");
    /// A certificate's change of status (revoked or superseded; id = its
    /// number): the status is as tamper-evident as the issue.
    pub const CERTIFICATE_STATUS: Self = Self::known("certificate_status");
    /// A recorded file of a live session (WebM; the payload names its
    /// SHA-256, so the file itself is as tamper-evident as the record).
    pub const RECORDING: Self = Self::known("recording");

    /// Every kind with a constant above.
    pub const KNOWN: [Self; 8] = [
        Self::ROOM_EVENT,
        Self::READING_BATCH,
        Self::COMPARISON_RESULT,
        Self::RAW_RECORD,
        Self::ROUND_REPORT,
        Self::CERTIFICATE,
        Self::CERTIFICATE_STATUS,
        Self::RECORDING,
    ];

    const fn known(kind: &'static str) -> Self {
        Self(std::borrow::Cow::Borrowed(kind))
    }

    /// Validates `[a-z_]{1,32}`.
    pub fn new(kind: impl Into<String>) -> Result<Self, RecordError> {
        let kind = kind.into();
        if is_valid_kind(&kind) {
            Ok(Self(std::borrow::Cow::Owned(kind)))
        } else {
            Err(RecordError::InvalidKind { kind })
        }
    }

    /// The kind as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// True for `[a-z_]{1,32}`.
pub fn is_valid_kind(kind: &str) -> bool {
    (1..=MAX_KIND_LEN).contains(&kind.len())
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// Checks an id: 1..=128 bytes, no control characters (so no NUL).
pub fn validate_id(id: &str) -> Result<(), RecordError> {
    let reason = if id.is_empty() {
        "empty"
    } else if id.len() > MAX_ID_LEN {
        "longer than 128 bytes"
    } else if id.chars().any(char::is_control) {
        "contains a control character"
    } else {
        return Ok(());
    };
    Err(RecordError::InvalidId {
        id: id.to_owned(),
        reason: reason.to_owned(),
    })
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordKind({})", self.0)
    }
}

impl TryFrom<String> for RecordKind {
    type Error = RecordError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<RecordKind> for String {
    fn from(value: RecordKind) -> Self {
        value.0.into_owned()
    }
}

impl core::str::FromStr for RecordKind {
    type Err = RecordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// One measurement record as committed to the log.
///
/// All fields are validated on construction and on deserialisation, so a
/// `Record` always has a well-defined leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRecord")]
pub struct Record {
    /// What the record is.
    pub kind: RecordKind,
    /// Its id (a UUIDv7 string in Jiliang, but any valid id is accepted).
    id: String,
    /// Creation time, milliseconds since the Unix epoch, UTC.
    pub created_at_ms: u64,
    /// The content as canonical JSON.
    pub payload: CanonicalJson,
}

#[derive(Deserialize)]
struct RawRecord {
    kind: RecordKind,
    id: String,
    created_at_ms: u64,
    payload: CanonicalJson,
}

impl TryFrom<RawRecord> for Record {
    type Error = RecordError;
    fn try_from(raw: RawRecord) -> Result<Self, Self::Error> {
        Self::from_parts(raw.kind, raw.id, raw.created_at_ms, raw.payload)
    }
}

impl Record {
    /// Builds a record, canonicalising `payload` from any `Serialize` value.
    pub fn new<T: Serialize + ?Sized>(
        kind: RecordKind,
        id: impl Into<String>,
        created_at_ms: u64,
        payload: &T,
    ) -> Result<Self, RecordError> {
        Self::from_parts(kind, id, created_at_ms, canonical_json(payload)?)
    }

    /// Builds a record from an already canonical payload (for example one
    /// read back from the database with [`CanonicalJson::from_canonical`]).
    pub fn from_parts(
        kind: RecordKind,
        id: impl Into<String>,
        created_at_ms: u64,
        payload: CanonicalJson,
    ) -> Result<Self, RecordError> {
        let id = id.into();
        validate_id(&id)?;
        Ok(Self {
            kind,
            id,
            created_at_ms,
            payload,
        })
    }

    /// The record id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The version-1 leaf data (see the module docs for the layout).
    pub fn leaf_data(&self) -> Vec<u8> {
        frame_leaf_v1(
            self.kind.as_str(),
            &self.id,
            self.created_at_ms,
            self.payload.as_bytes(),
        )
    }

    /// `SHA-256(0x00 || leaf data)`: the value stored in the log.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.leaf_data())
    }
}

/// Version-1 framing of raw parts, without validation. Verifiers use this to
/// hash exactly the bytes they were given, and validate separately, so a
/// malformed field is reported as such rather than hiding a hash mismatch.
pub(crate) fn frame_leaf_v1(kind: &str, id: &str, created_at_ms: u64, payload: &[u8]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(LEAF_PREFIX_V1.len() + kind.len() + id.len() + 10 + payload.len());
    out.extend_from_slice(LEAF_PREFIX_V1);
    out.extend_from_slice(kind.as_bytes());
    out.push(0);
    out.extend_from_slice(id.as_bytes());
    out.push(0);
    out.extend_from_slice(&created_at_ms.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        for kind in RecordKind::KNOWN {
            assert_eq!(RecordKind::new(kind.as_str()), Ok(kind.clone()));
        }
        for bad in ["", "Room", "a-b", "é", "a b", &"a".repeat(33)] {
            assert!(RecordKind::new(bad).is_err(), "{bad:?}");
        }
        assert!(RecordKind::new("a".repeat(32)).is_ok());
        let json = serde_json::to_string(&RecordKind::CERTIFICATE).expect("serialise");
        assert_eq!(json, "\"certificate\"");
        assert!(serde_json::from_str::<RecordKind>("\"Bad\"").is_err());
    }

    #[test]
    fn ids() {
        assert!(validate_id("0190a4b2-7c1e-7d3f-9a10-1234567890ab").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("a\0b").is_err());
        assert!(validate_id("a\nb").is_err());
        assert!(validate_id(&"x".repeat(129)).is_err());
    }

    #[test]
    fn leaf_framing_is_exact() {
        let record =
            Record::new(RecordKind::CERTIFICATE, "c1", 0x0102, &[1, 2]).expect("valid record");
        let mut want = b"jiliang-leaf-v1\0certificate\0c1\0".to_vec();
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x01, 0x02]);
        want.extend_from_slice(b"[1,2]");
        assert_eq!(record.leaf_data(), want);
        assert_eq!(record.leaf_hash(), leaf_hash(&want));
    }

    #[test]
    fn deserialisation_validates() {
        let ok = r#"{"kind":"certificate","id":"c1","created_at_ms":1,"payload":"{\"a\":1}"}"#;
        assert!(serde_json::from_str::<Record>(ok).is_ok());
        let bad_payload =
            r#"{"kind":"certificate","id":"c1","created_at_ms":1,"payload":"{\"a\": 1}"}"#;
        assert!(serde_json::from_str::<Record>(bad_payload).is_err());
        let bad_id = r#"{"kind":"certificate","id":"","created_at_ms":1,"payload":"1"}"#;
        assert!(serde_json::from_str::<Record>(bad_id).is_err());
    }
}
