//! Random secrets (session tokens, one-time links, CSRF tokens) and the
//! hashes under which they are stored.

use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 random bytes as 64 lower-case hex characters: 256 bits, unguessable,
/// safe in a URL and a cookie.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    jiliang_ledger::hex::encode(&bytes)
}

/// What the database keeps instead of the token itself.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Tokens we issue are exactly 64 hex characters; anything else is rejected
/// before touching the database.
pub fn looks_like_token(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Compare secrets without leaking, through timing, how much of a guess was
/// right. A hand-written fold may be compiled into an early exit; `subtle`
/// hides the bytes from the optimiser. Lengths are not secret (every token
/// we issue has a fixed length), so unequal lengths answer at once.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_hash_stably() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert!(looks_like_token(&a));
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert!(!looks_like_token("abc"));
        assert!(!looks_like_token(&"g".repeat(64)));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
