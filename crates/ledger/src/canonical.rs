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

use core::cmp::Ordering;
use core::fmt;

use serde::ser::{self, Serialize};
use serde::{Deserialize, Deserializer, Serializer};

use crate::error::CanonicalError;

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
    let tree = value.serialize(ValueSerializer { depth: 0 })?;
    let mut out = String::new();
    write_value(&mut out, &tree)?;
    Ok(CanonicalJson(out))
}

/// Parses JSON text (strict RFC 8259, duplicate keys rejected) and returns
/// its canonical form.
pub fn canonicalize_str(text: &str) -> Result<CanonicalJson, CanonicalError> {
    let tree = Parser::new(text).parse_document()?;
    let mut out = String::with_capacity(text.len());
    write_value(&mut out, &tree)?;
    Ok(CanonicalJson(out))
}

// ---------------------------------------------------------------------------
// Value tree and writer
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// RFC 8785 §3.2.3: compare keys as arrays of UTF-16 code units. This differs
/// from byte (UTF-8) order only for characters above U+FFFF versus
/// U+E000..U+FFFF, but it is the rule verifiers in JavaScript will follow.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn write_value(out: &mut String, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_number(*f)?),
        Value::Str(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<&(String, Value)> = members.iter().collect();
            sorted.sort_by(|a, b| utf16_cmp(&a.0, &b.0));
            if let Some(pair) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(CanonicalError::DuplicateKey {
                    key: pair[0].0.clone(),
                });
            }
            out.push('{');
            for (i, (key, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let v = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[v >> 4]));
                out.push(char::from(HEX[v & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Formats a finite `f64` the way ECMAScript's `Number.prototype.toString`
/// does (RFC 8785 §3.2.2.3). NaN and infinities are an error.
pub fn format_number(value: f64) -> Result<String, CanonicalError> {
    if !value.is_finite() {
        return Err(CanonicalError::NonFiniteNumber);
    }
    if value == 0.0 {
        // Both +0 and -0 (ECMAScript prints -0 as "0").
        return Ok("0".to_owned());
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, closest to
    // the value, as `d[.ddd]e<exp>`. ECMAScript picks the same digits except
    // on an exact tie between two shortest candidates (RFC 8785 Appendix B,
    // 1424953923781206.25), where it takes the even one; then only the
    // placement of the decimal point differs.
    let abs = value.abs();
    let sci = format!("{abs:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let mut exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.bytes().last().is_some_and(|d| d % 2 == 1)
        && let Some((even, e)) = tie_to_even(abs, digits.len())
    {
        digits = even;
        exponent = e;
    }
    let k = digits.len() as i32;
    // ECMAScript's n: the decimal point sits after n digits.
    let n = exponent + 1;

    let mut out = String::with_capacity(k as usize + 8);
    if value < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(core::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(core::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let e = n - 1;
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if e >= 0 { '+' } else { '-' });
        out.push_str(&e.unsigned_abs().to_string());
    }
    Ok(out)
}

/// ECMAScript breaks an exact tie between two shortest candidates towards
/// the even one; Rust's shortest formatting rounds ties up. A tie is only
/// possible when the exact binary value has exactly `k + 1` significant
/// decimal digits ending in 5; this returns the even candidate's digits and
/// exponent in that case. Only called when Rust's last digit is odd.
fn tie_to_even(abs: f64, k: usize) -> Option<(String, i32)> {
    let (significant, exponent) = match exact_decimal(abs) {
        Exact::Digits(digits, exponent) => (digits, exponent),
        Exact::TooLong => return None,
        Exact::Unknown => {
            // Rust's exact formatting prints every digit of the binary value
            // (at most 767 significant digits for a double).
            let exact = format!("{abs:.800e}");
            let (mantissa, exponent) = exact.split_once('e')?;
            let exponent: i32 = exponent.parse().ok()?;
            let all: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
            (all.trim_end_matches('0').to_owned(), exponent)
        }
    };
    let significant = significant.as_str();
    if significant.len() != k + 1 || !significant.ends_with('5') {
        return None;
    }
    // The value lies exactly halfway between `lower` and `lower + 1` (in
    // units of the k-th digit); pick whichever ends in an even digit.
    let lower = significant.get(..k)?;
    let lower_is_even = lower.bytes().last().is_some_and(|d| d % 2 == 0);
    let (mut candidate, mut candidate_exponent) = (lower.to_owned(), exponent);
    if !lower_is_even {
        let mut bytes = candidate.into_bytes();
        let mut carry = true;
        for b in bytes.iter_mut().rev() {
            if *b == b'9' {
                *b = b'0';
            } else {
                *b += 1;
                carry = false;
                break;
            }
        }
        if carry {
            bytes.insert(0, b'1');
            candidate_exponent += 1;
        }
        candidate = String::from_utf8(bytes).ok()?;
    }
    let candidate = candidate.trim_end_matches('0').to_owned();
    if candidate.is_empty() {
        return None;
    }
    // Only accept it if it really reads back as the same double.
    let (first, rest) = candidate.split_at(1);
    let text = format!("{first}.{rest}0e{candidate_exponent}");
    (text.parse::<f64>().ok()? == abs).then_some((candidate, candidate_exponent))
}

/// The exact decimal expansion of a positive finite double, when cheap.
enum Exact {
    /// Significant digits (no trailing zeros) and the decimal exponent of
    /// the first digit.
    Digits(String, i32),
    /// More than 19 significant digits: no tie with a ≤ 17-digit shortest
    /// form is possible.
    TooLong,
    /// Not computed here (huge integers); use the slow path.
    Unknown,
}

/// Writes `abs = m · 2^e` (m odd) exactly in decimal using 128-bit integers.
/// For `e < 0` the expansion is `m · 5^-e` shifted by `-e` decimal places
/// and ends in 5 (odd times odd), so it has as many significant digits as
/// `m · 5^-e`; beyond `5^27` that is more than 19.
fn exact_decimal(abs: f64) -> Exact {
    let bits = abs.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    if m == 0 {
        return Exact::Unknown;
    }
    let tz = m.trailing_zeros();
    m >>= tz;
    e += tz as i32;
    if e < 0 {
        let p = e.unsigned_abs();
        if p > 27 {
            return Exact::TooLong;
        }
        // m < 2^53 and 5^27 < 2^63, so the product fits in 116 bits.
        let n = u128::from(m) * 5u128.pow(p);
        let digits = n.to_string();
        let exponent = digits.len() as i32 - 1 - p as i32;
        Exact::Digits(digits, exponent)
    } else if e + (64 - m.leading_zeros() as i32) <= 127 {
        let mut n = u128::from(m) << e;
        let mut zeros = 0i32;
        while n % 10 == 0 {
            n /= 10;
            zeros += 1;
        }
        let digits = n.to_string();
        let exponent = digits.len() as i32 - 1 + zeros;
        Exact::Digits(digits, exponent)
    } else {
        Exact::Unknown
    }
}

// ---------------------------------------------------------------------------
// Strict JSON parser
// ---------------------------------------------------------------------------

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn error(&self, message: &str) -> CanonicalError {
        CanonicalError::Syntax {
            position: self.pos,
            message: message.to_owned(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, message: &str) -> Result<(), CanonicalError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(message))
        }
    }

    fn parse_document(mut self) -> Result<Value, CanonicalError> {
        self.skip_ws();
        let value = self.parse_value(0)?;
        self.skip_ws();
        if self.pos != self.bytes.len() {
            return Err(self.error("trailing characters after the JSON value"));
        }
        Ok(value)
    }

    fn parse_value(&mut self, depth: usize) -> Result<Value, CanonicalError> {
        match self.peek() {
            Some(b'{') => self.parse_object(depth + 1),
            Some(b'[') => self.parse_array(depth + 1),
            Some(b'"') => self.parse_string().map(Value::Str),
            Some(b't') => self.parse_literal("true", Value::Bool(true)),
            Some(b'f') => self.parse_literal("false", Value::Bool(false)),
            Some(b'n') => self.parse_literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.parse_number(),
            Some(_) => Err(self.error("expected a JSON value")),
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn parse_literal(&mut self, word: &str, value: Value) -> Result<Value, CanonicalError> {
        if self.bytes.get(self.pos..self.pos + word.len()) == Some(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("invalid literal"))
        }
    }

    fn parse_object(&mut self, depth: usize) -> Result<Value, CanonicalError> {
        if depth > MAX_DEPTH {
            return Err(CanonicalError::TooDeep { max: MAX_DEPTH });
        }
        self.expect(b'{', "expected '{'")?;
        let mut members: Vec<(String, Value)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.parse_string()?;
            self.skip_ws();
            self.expect(b':', "expected ':' after key")?;
            self.skip_ws();
            let value = self.parse_value(depth)?;
            members.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn parse_array(&mut self, depth: usize) -> Result<Value, CanonicalError> {
        if depth > MAX_DEPTH {
            return Err(CanonicalError::TooDeep { max: MAX_DEPTH });
        }
        self.expect(b'[', "expected '['")?;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.parse_value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn parse_hex4(&mut self) -> Result<u32, CanonicalError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.error("expected four hex digits after \\u")),
            };
            v = (v << 4) | u32::from(d);
            self.pos += 1;
        }
        Ok(v)
    }

    fn parse_string(&mut self) -> Result<String, CanonicalError> {
        self.expect(b'"', "expected '\"'")?;
        let mut out = String::new();
        let mut run_start = self.pos;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            match b {
                b'"' => {
                    out.push_str(self.slice(run_start, self.pos)?);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(self.slice(run_start, self.pos)?);
                    self.pos += 1;
                    self.parse_escape(&mut out)?;
                    run_start = self.pos;
                }
                0x00..=0x1f => return Err(self.error("unescaped control character in string")),
                // Any other byte, including UTF-8 continuation bytes: the
                // input is a `str`, so runs between ASCII delimiters are
                // valid UTF-8 and are copied whole.
                _ => self.pos += 1,
            }
        }
    }

    fn slice(&self, start: usize, end: usize) -> Result<&'a str, CanonicalError> {
        self.text
            .get(start..end)
            .ok_or_else(|| self.error("invalid UTF-8 boundary"))
    }

    fn parse_escape(&mut self, out: &mut String) -> Result<(), CanonicalError> {
        let Some(b) = self.peek() else {
            return Err(self.error("unterminated escape"));
        };
        self.pos += 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{08}',
            b'f' => '\u{0c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.parse_hex4()?;
                let code = match first {
                    0xd800..=0xdbff => {
                        // A high surrogate must be followed by an escaped low
                        // surrogate; lone surrogates are not Unicode text.
                        if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err(self.error("unpaired high surrogate"));
                        }
                        self.pos += 2;
                        let second = self.parse_hex4()?;
                        if !(0xdc00..=0xdfff).contains(&second) {
                            return Err(self.error("high surrogate not followed by low surrogate"));
                        }
                        0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
                    }
                    0xdc00..=0xdfff => return Err(self.error("unpaired low surrogate")),
                    other => other,
                };
                char::from_u32(code).ok_or_else(|| self.error("invalid code point"))?
            }
            _ => return Err(self.error("invalid escape")),
        };
        out.push(c);
        Ok(())
    }

    fn parse_number(&mut self) -> Result<Value, CanonicalError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.error("expected a digit")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("expected a digit after '.'"));
            }
            self.skip_digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("expected a digit in exponent"));
            }
            self.skip_digits();
        }
        let token = self.slice(start, self.pos)?;
        if integer && let Ok(i) = token.parse::<i128>() {
            return Ok(Value::Int(i));
        }
        match token.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            Ok(_) => Err(CanonicalError::NonFiniteNumber),
            Err(_) => Err(self.error("invalid number")),
        }
    }

    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// serde::Serializer building the value tree
// ---------------------------------------------------------------------------

struct ValueSerializer {
    depth: usize,
}

impl ValueSerializer {
    fn nested(&self) -> Result<ValueSerializer, CanonicalError> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            Err(CanonicalError::TooDeep { max: MAX_DEPTH })
        } else {
            Ok(ValueSerializer { depth })
        }
    }
}

fn float(value: f64) -> Result<Value, CanonicalError> {
    if value.is_finite() {
        Ok(Value::Float(value))
    } else {
        Err(CanonicalError::NonFiniteNumber)
    }
}

impl Serializer for ValueSerializer {
    type Ok = Value;
    type Error = CanonicalError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantSeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = VariantMapBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value, CanonicalError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, CanonicalError> {
        i128::try_from(v)
            .map(Value::Int)
            .map_err(|_| CanonicalError::IntegerOutOfRange)
    }
    fn serialize_f32(self, v: f32) -> Result<Value, CanonicalError> {
        float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, CanonicalError> {
        float(v)
    }
    fn serialize_char(self, v: char) -> Result<Value, CanonicalError> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, CanonicalError> {
        Ok(Value::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, CanonicalError> {
        // As serde_json: an array of numbers.
        Ok(Value::Array(
            v.iter().map(|&b| Value::Int(b.into())).collect(),
        ))
    }
    fn serialize_none(self) -> Result<Value, CanonicalError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, CanonicalError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, CanonicalError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, CanonicalError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, CanonicalError> {
        Ok(Value::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, CanonicalError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, CanonicalError> {
        let inner = value.serialize(self.nested()?)?;
        Ok(Value::Object(vec![(variant.to_owned(), inner)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, CanonicalError> {
        Ok(SeqBuilder {
            inner: self.nested()?,
            items: Vec::with_capacity(len.unwrap_or(0).min(1024)),
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSeqBuilder, CanonicalError> {
        // The variant object is one level and its array another.
        let seq = self.nested()?.serialize_seq(Some(len))?;
        Ok(VariantSeqBuilder { variant, seq })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder, CanonicalError> {
        Ok(MapBuilder {
            inner: self.nested()?,
            members: Vec::new(),
            pending_key: None,
        })
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<MapBuilder, CanonicalError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantMapBuilder, CanonicalError> {
        let map = self.nested()?.serialize_map(Some(len))?;
        Ok(VariantMapBuilder { variant, map })
    }
}

struct SeqBuilder {
    inner: ValueSerializer,
    items: Vec<Value>,
}

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        let v = value.serialize(ValueSerializer {
            depth: self.inner.depth,
        })?;
        self.items.push(v);
        Ok(())
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Array(self.items))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Array(self.items))
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Array(self.items))
    }
}

struct VariantSeqBuilder {
    variant: &'static str,
    seq: SeqBuilder,
}

impl ser::SerializeTupleVariant for VariantSeqBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        self.seq.push(value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Object(vec![(
            self.variant.to_owned(),
            Value::Array(self.seq.items),
        )]))
    }
}

struct MapBuilder {
    inner: ValueSerializer,
    members: Vec<(String, Value)>,
    pending_key: Option<String>,
}

impl MapBuilder {
    fn member<T: Serialize + ?Sized>(
        &mut self,
        key: String,
        value: &T,
    ) -> Result<(), CanonicalError> {
        let v = value.serialize(ValueSerializer {
            depth: self.inner.depth,
        })?;
        self.members.push((key, v));
        Ok(())
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CanonicalError> {
        self.pending_key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| CanonicalError::Custom("map value without a key".to_owned()))?;
        self.member(key, value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Object(self.members))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.member(key.to_owned(), value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Object(self.members))
    }
}

struct VariantMapBuilder {
    variant: &'static str,
    map: MapBuilder,
}

impl ser::SerializeStructVariant for VariantMapBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.map.member(key.to_owned(), value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Object(vec![(
            self.variant.to_owned(),
            Value::Object(self.map.members),
        )]))
    }
}

/// Serialises map keys: strings, chars, integers (as decimal strings, like
/// serde_json), unit variants and newtype wrappers of those.
struct KeySerializer;

fn not_a_string_key(found: &str) -> CanonicalError {
    CanonicalError::KeyMustBeString {
        found: found.to_owned(),
    }
}

impl Serializer for KeySerializer {
    type Ok = String;
    type Error = CanonicalError;
    type SerializeSeq = ser::Impossible<String, CanonicalError>;
    type SerializeTuple = ser::Impossible<String, CanonicalError>;
    type SerializeTupleStruct = ser::Impossible<String, CanonicalError>;
    type SerializeTupleVariant = ser::Impossible<String, CanonicalError>;
    type SerializeMap = ser::Impossible<String, CanonicalError>;
    type SerializeStruct = ser::Impossible<String, CanonicalError>;
    type SerializeStructVariant = ser::Impossible<String, CanonicalError>;

    fn serialize_bool(self, _v: bool) -> Result<String, CanonicalError> {
        Err(not_a_string_key("bool"))
    }
    fn serialize_i8(self, v: i8) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, _v: f32) -> Result<String, CanonicalError> {
        Err(not_a_string_key("float"))
    }
    fn serialize_f64(self, _v: f64) -> Result<String, CanonicalError> {
        Err(not_a_string_key("float"))
    }
    fn serialize_char(self, v: char) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, CanonicalError> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, CanonicalError> {
        Err(not_a_string_key("bytes"))
    }
    fn serialize_none(self) -> Result<String, CanonicalError> {
        Err(not_a_string_key("none"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, CanonicalError> {
        Err(not_a_string_key("option"))
    }
    fn serialize_unit(self) -> Result<String, CanonicalError> {
        Err(not_a_string_key("unit"))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, CanonicalError> {
        Err(not_a_string_key("unit struct"))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, CanonicalError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, CanonicalError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, CanonicalError> {
        Err(not_a_string_key("newtype variant"))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, CanonicalError> {
        Err(not_a_string_key("sequence"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, CanonicalError> {
        Err(not_a_string_key("tuple"))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, CanonicalError> {
        Err(not_a_string_key("tuple struct"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, CanonicalError> {
        Err(not_a_string_key("tuple variant"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, CanonicalError> {
        Err(not_a_string_key("map"))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, CanonicalError> {
        Err(not_a_string_key("struct"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, CanonicalError> {
        Err(not_a_string_key("struct variant"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_es6_form() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-1.5, "-1.5"),
            (100.0, "100"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (123.456, "123.456"),
            (-0.0, "0"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for &(value, want) in cases {
            assert_eq!(format_number(value).as_deref(), Ok(want), "{value:e}");
        }
        assert_eq!(
            format_number(f64::NAN),
            Err(CanonicalError::NonFiniteNumber)
        );
    }

    #[test]
    fn exact_decimal_agrees_with_exact_formatting() {
        let mut x = 0x0123_4567_89ab_cdef_u64;
        let mut samples = vec![
            0.5,
            f64::from_bits(0x4314_3ff3_c1cb_0959),
            2.0f64.powi(100),
            5e-324,
            0.1,
            1e22,
        ];
        for _ in 0..2000 {
            // xorshift: a spread of bit patterns, including huge and tiny.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(f64::from_bits(x >> 1));
            samples.push((x % 1_000_000) as f64 / 64.0);
        }
        for v in samples.into_iter().filter(|v| v.is_finite() && *v > 0.0) {
            let slow = format!("{v:.800e}");
            let (mantissa, exponent) = slow.split_once('e').expect("exponent");
            let all: String = mantissa.chars().filter(char::is_ascii_digit).collect();
            let digits = all.trim_end_matches('0').to_owned();
            let exponent: i32 = exponent.parse().expect("exponent");
            match exact_decimal(v) {
                Exact::Digits(d, e) => assert_eq!((d, e), (digits, exponent), "{v:e}"),
                Exact::TooLong => assert!(digits.len() > 19, "{v:e}"),
                Exact::Unknown => assert!(v > 1e37, "{v:e}"),
            }
        }
    }

    #[test]
    fn parser_rejects_bad_json() {
        for bad in [
            "",
            " ",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"a\u{1}\"",
            "tru",
            "nul",
            "[1] 2",
            "{'a':1}",
            "{\"a\" 1}",
            "NaN",
            "Infinity",
            "1e400",
            "-",
            "\"\\u12\"",
        ] {
            assert!(canonicalize_str(bad).is_err(), "accepted {bad:?}");
        }
    }

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

    #[test]
    fn big_integers_kept_exact() {
        assert_eq!(
            canonical_json(&u64::MAX).map(CanonicalJson::into_string),
            Ok("18446744073709551615".to_owned())
        );
        assert_eq!(
            canonicalize_str("-0").map(CanonicalJson::into_string),
            Ok("0".to_owned())
        );
        assert_eq!(
            canonicalize_str("1E2").map(CanonicalJson::into_string),
            Ok("100".to_owned())
        );
    }
}
