//! The room client's bookkeeping, apart from the socket that feeds it.
//!
//! # What it guarantees
//! - **Order, no gaps, no duplicates** ([`Sequencer`]): an event is applied
//!   only when `seq == applied + 1`; an older one is a duplicate and is
//!   dropped; a newer one is a gap, and the client must resume with
//!   `join {last_seq: applied}` so the server replays from its log.
//! - **Nothing typed is lost** ([`Outbox`]): every chat line keeps its
//!   `client_id` and stays until its own event comes back through the log;
//!   after each (re)connect, once the replay has caught up with the
//!   snapshot, every line not yet answered goes out again, in the order
//!   typed. The server stores a `client_id` once and answers a resend with
//!   the original `seq`, so resending is always safe; a line whose event
//!   shows up in the replay leaves before it would be resent. Two lines
//!   never share a `client_id`.
//! - **Reconnects spread out** ([`backoff_ms`]): exponential from 0.5 s to
//!   10 s, jittered over the upper half.
//!
//! Nothing here reads a clock or a random source: times and randomness are
//! passed in, so every rule is tested on the host.

mod outbox;
mod sequencer;

pub use outbox::{FLUSH_BURST, Outbox, Pending, RESEND_AFTER_MS, RESEND_PER_TICK};
pub use sequencer::{Offer, Sequencer};

use jiliang_protocol::rooms::MAX_CHAT_CHARS;

/// First reconnect delay and the cap, ms.
pub const BACKOFF_MIN_MS: f64 = 500.0;
pub const BACKOFF_MAX_MS: f64 = 10_000.0;

/// Delay before reconnect attempt `attempt` (1 for the first retry), ms.
/// `jitter` in [0, 1] (a random draw) places it in the upper half of the
/// step, so a lab full of phones that lost the same link do not all come
/// back in the same instant.
pub fn backoff_ms(attempt: u32, jitter: f64) -> f64 {
    let n = attempt.saturating_sub(1).min(10);
    let base = (BACKOFF_MIN_MS * f64::from(1_u32 << n)).min(BACKOFF_MAX_MS);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.5
    };
    base * (0.5 + 0.5 * jitter)
}

/// A chat line's `client_id` from 128 random bits: `c-` and 32 hex digits.
pub fn client_id(bytes: [u8; 16]) -> String {
    format!("c-{}", jiliang_ledger::hex::encode(&bytes))
}

/// The text to send for what was typed: trimmed, and `None` when that is
/// empty or longer than the protocol allows (counted in characters, as the
/// server counts).
pub fn chat_text(typed: &str) -> Option<&str> {
    let text = typed.trim();
    (!text.is_empty() && text.chars().count() <= MAX_CHAT_CHARS).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_within_its_jitter() {
        assert_eq!(backoff_ms(1, 1.0), 500.0);
        assert_eq!(backoff_ms(1, 0.0), 250.0);
        assert_eq!(backoff_ms(2, 1.0), 1_000.0);
        assert_eq!(backoff_ms(3, 1.0), 2_000.0);
        assert_eq!(backoff_ms(6, 1.0), 10_000.0);
        assert_eq!(
            backoff_ms(500, 1.0),
            10_000.0,
            "no overflow after many attempts"
        );
        // Attempt 0 (a reconnect before any failure) waits like the first.
        assert_eq!(backoff_ms(0, 1.0), 500.0);
        for attempt in 1..20 {
            let lo = backoff_ms(attempt, 0.0);
            let hi = backoff_ms(attempt, 1.0);
            assert!((lo - hi / 2.0).abs() < 1e-9, "jitter spans the upper half");
            let mid = backoff_ms(attempt, 0.3);
            assert!(lo < mid && mid < hi);
        }
    }

    #[test]
    fn backoff_ignores_a_broken_random_draw() {
        assert_eq!(backoff_ms(1, 7.0), 500.0);
        assert_eq!(backoff_ms(1, -1.0), 250.0);
        assert_eq!(backoff_ms(1, f64::NAN), 375.0);
    }

    #[test]
    fn client_ids_are_hex_of_all_the_bits() {
        let id = client_id([0xab; 16]);
        assert_eq!(id.len(), 34);
        assert_eq!(id, format!("c-{}", "ab".repeat(16)));
        assert_ne!(
            client_id([0; 16]),
            client_id({
                let mut b = [0; 16];
                b[15] = 1;
                b
            })
        );
    }

    #[test]
    fn chat_text_is_trimmed_and_bounded() {
        assert_eq!(chat_text("  零点已校准 \n"), Some("零点已校准"));
        assert_eq!(chat_text(" \t\n"), None);
        let longest = "测".repeat(MAX_CHAT_CHARS);
        assert_eq!(chat_text(&longest), Some(longest.as_str()));
        assert_eq!(chat_text(&format!("{longest}x")), None);
    }
}
