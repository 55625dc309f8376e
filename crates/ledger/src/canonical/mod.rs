//! Canonical JSON, so the same record content always hashes to the same leaf.
//!
//! The form follows RFC 8785 (JSON Canonicalization Scheme, JCS):
//!
//! - no whitespace between tokens;
//! - object members sorted by their keys compared as UTF-16 code units
//!   (RFC 8785 §3.2.3), duplicate keys rejected (I-JSON, RFC 7493 §2.3);
//! - strings escape only `"`, `\`, and control characters below U+0020
//!   (`\b \t \n \f \r` by name, the rest as `\u00xx` with lower-case hex);
//!   everything else, including non-ASCII and U+2028/U+2029, is literal UTF-8
//!   (RFC 8785 §3.2.2.2);
//! - floating-point numbers use the ECMAScript `Number.prototype.toString`
//!   rendering of the shortest round-trip digits (RFC 8785 §3.2.2.3), taken
//!   from Rust's shortest `{:e}` formatting (with exact ties broken to the
//!   even digit, as ECMAScript does) and placed with the ECMAScript
//!   exponent rules (plain notation for 1e-6 ≤ |x| < 1e21, otherwise
//!   `d.ddde±n`); `-0` becomes `0`;
//! - NaN and the infinities are rejected.
//!
//! # Divergence from RFC 8785
//!
//! Integers (`i8`..`i128`, `u8`..`u128` up to `i128::MAX`, and integer JSON
//! tokens without fraction or exponent) are written as their exact decimal
//! digits. RFC 8785 treats every number as an IEEE-754 double, so for
//! integers beyond ±2^53 it would write the nearest double instead (for
//! example `18446744073709551615` becomes `18446744073709552000`). Keeping
//! the exact digits means a `u64` counter is never silently changed by
//! hashing it; within ±2^53 (every realistic metrology value) the output is
//! byte-identical to RFC 8785. `f32` values are widened to `f64` first.
//!
//! The crate does not depend on `serde_json` at runtime: [`canonical_json`]
//! is a small `serde::Serializer` that builds an internal value tree, and
//! [`canonicalize_str`] is a small strict RFC 8259 parser, so both the server
//! (from its Rust types) and verifiers (from stored text) reach the same
//! bytes. Nesting is limited to [`MAX_DEPTH`] levels so hostile input cannot
//! exhaust the stack.
//!
//! # Layout
//! - this module: [`CanonicalJson`] and the two ways in,
//!   [`canonical_json`] (from a Rust value) and [`canonicalize_str`] (from
//!   JSON text).
//! - `value`: the value tree both build and the writer that turns it into
//!   canonical text (member order, string escapes).
//! - `number`: [`format_number`], ECMAScript's shortest number form.
//! - `parser`: the strict RFC 8259 parser behind [`canonicalize_str`].
//! - `serializer`: the `serde::Serializer` behind [`canonical_json`].
//!
//! Nothing here may panic on any input, allocate without bound from a
//! hostile depth, or depend on `serde_json`.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::CanonicalError;

mod number;
mod parser;
mod serializer;
mod value;

pub use number::format_number;

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 128;

/// Text that is known to be canonical JSON (the invariant is enforced by
/// every constructor, including deserialisation).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CanonicalJson(String);

impl CanonicalJson {
    /// Canonicalises any serialisable value. Same as [`canonical_json`].
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> Result<Self, CanonicalError> {
        canonical_json(value)
    }

    /// Parses JSON text and returns its canonical form. Same as
    /// [`canonicalize_str`].
    pub fn parse(text: &str) -> Result<Self, CanonicalError> {
        canonicalize_str(text)
    }

    /// Accepts text only if it is already exactly canonical (for stored
    /// payloads that must not be silently rewritten).
    pub fn from_canonical(text: impl Into<String>) -> Result<Self, CanonicalError> {
        let text = text.into();
        let canonical = canonicalize_str(&text)?;
        if canonical.0 == text {
            Ok(canonical)
        } else {
            Err(CanonicalError::NotCanonical)
        }
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The canonical UTF-8 bytes (what is hashed).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Unwraps the text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for CanonicalJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CanonicalJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CanonicalJson({})", self.0)
    }
}

impl AsRef<str> for CanonicalJson {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<CanonicalJson> for String {
    fn from(value: CanonicalJson) -> Self {
        value.0
    }
}

impl TryFrom<String> for CanonicalJson {
    type Error = CanonicalError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::from_canonical(value)
    }
}

/// Serialised as a JSON *string* holding the canonical text, so the exact
/// bytes survive any round trip through other JSON tools.
impl Serialize for CanonicalJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CanonicalJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_canonical(text).map_err(serde::de::Error::custom)
    }
}

/// Canonical JSON of any `Serialize` value (RFC 8785 with the integer
/// divergence documented in the module docs).
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<CanonicalJson, CanonicalError> {
    let tree = value.serialize(serializer::ValueSerializer::root())?;
    let mut out = String::new();
    value::write_value(&mut out, &tree)?;
    Ok(CanonicalJson(out))
}

/// Parses JSON text (strict RFC 8259, duplicate keys rejected) and returns
/// its canonical form.
pub fn canonicalize_str(text: &str) -> Result<CanonicalJson, CanonicalError> {
    let tree = parser::Parser::new(text).parse_document()?;
    let mut out = String::with_capacity(text.len());
    value::write_value(&mut out, &tree)?;
    Ok(CanonicalJson(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_rejected() {
        assert_eq!(
            canonicalize_str(r#"{"a":1,"a":2}"#),
            Err(CanonicalError::DuplicateKey { key: "a".into() })
        );
    }

    #[test]
    fn depth_is_limited() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(
            canonicalize_str(&deep),
            Err(CanonicalError::TooDeep { max: MAX_DEPTH })
        );
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(canonicalize_str(&ok).is_ok());
    }
}
