//! Lower-case hex encoding and strict decoding.
//!
//! Every hash, key and signature in an export travels as hex. Decoding is
//! strict on purpose: only `0-9a-f`, even length, and (for fixed-size values)
//! the exact length. Accepting upper case as well would give one byte string
//! two spellings inside a bundle, which is harmless for the bytes but makes
//! "is this the same export?" a harder question than it needs to be.
//!
//! This module never panics, whatever the input.

use crate::error::HexError;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Encodes bytes as lower-case hex, two characters per byte.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes lower-case hex into bytes.
///
/// Rejects odd lengths and any character outside `0-9a-f` (including upper
/// case, whitespace and a `0x` prefix), naming the first offending position.
pub fn decode(text: &str) -> Result<Vec<u8>, HexError> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(HexError::OddLength { len: bytes.len() });
    }
    let mut out = Vec::with_capacity(bytes.len() / 2);
    for (pair_index, pair) in bytes.chunks_exact(2).enumerate() {
        let position = pair_index * 2;
        let hi = nibble(text, pair[0], position)?;
        let lo = nibble(text, pair[1], position + 1)?;
        out.push((hi << 4) | lo);
    }
    Ok(out)
}

/// Decodes lower-case hex into exactly `N` bytes (a hash, key or signature).
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let bytes = decode(text)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| HexError::WrongLength {
        expected: N,
        actual: bytes.len(),
    })
}

fn nibble(text: &str, byte: u8, position: usize) -> Result<u8, HexError> {
    match byte {
        b'0'..=b'9' => Ok(byte - b'0'),
        b'a'..=b'f' => Ok(byte - b'a' + 10),
        _ => Err(HexError::InvalidChar {
            position,
            // `position` may fall inside a multi-byte character; report the
            // character that contains it rather than a lone byte.
            found: char_at_byte(text, position),
        }),
    }
}

fn char_at_byte(text: &str, position: usize) -> char {
    text.char_indices()
        .take_while(|&(start, _)| start <= position)
        .last()
        .map_or(char::REPLACEMENT_CHARACTER, |(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data = [0x00, 0x01, 0x7f, 0x80, 0xab, 0xff];
        assert_eq!(encode(&data), "00017f80abff");
        assert_eq!(decode("00017f80abff"), Ok(data.to_vec()));
        assert_eq!(decode(""), Ok(vec![]));
    }

    #[test]
    fn strictness() {
        assert_eq!(decode("abc"), Err(HexError::OddLength { len: 3 }));
        assert_eq!(
            decode("AB"),
            Err(HexError::InvalidChar {
                position: 0,
                found: 'A'
            })
        );
        assert_eq!(
            decode("0x"),
            Err(HexError::InvalidChar {
                position: 1,
                found: 'x'
            })
        );
        // A two-byte UTF-8 character inside an even-length string.
        assert_eq!(
            decode("aéb"),
            Err(HexError::InvalidChar {
                position: 1,
                found: 'é'
            })
        );
        assert_eq!(
            decode_array::<2>("001122"),
            Err(HexError::WrongLength {
                expected: 2,
                actual: 3
            })
        );
        assert_eq!(decode_array::<2>("0011"), Ok([0x00, 0x11]));
    }
}
