//! Readings typed in by hand that wait for the server, and the time each
//! is stamped with when it finally goes.
//!
//! # What it guarantees
//! - **Nothing typed is lost.** Every entry waits here — kept in the
//!   browser's storage per person and device, so a reload while offline
//!   keeps it — until the server has answered it, stored or refused.
//! - **Each is stored once.** An entry's `key` is chosen once, when it is
//!   typed, and travels with every resend; the server stores a key once and
//!   answers a resend with what it stored the first time.
//! - **In the order typed.** Entries go one at a time, oldest first: the
//!   server numbers a device's readings as they arrive.
//! - **Honest times.** A reading sent at once is stamped by the server
//!   (the protocol's untimed entry). One that waited carries the time it
//!   was typed, on the server's clock when the room has measured the
//!   offset; without an offset it is stamped on arrival with an
//!   uncertainty that covers the wait.
//!
//! What it never does: decide about the network. The app says when an
//! entry went out and what came back.

use jiliang_protocol::devices::{ManualReading, UNTIMED_MANUAL_U_T_S};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// An entry sent within this long of being typed is stamped by the server
/// on arrival, as one typed online always was, ms.
pub const PROMPT_MS: f64 = 2_000.0;
/// A failed send is tried again after this long, ms (sooner on the
/// browser's `online` event).
pub const RETRY_MS: f64 = 5_000.0;

/// One reading typed in and not yet answered. Also the storage format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    /// The idempotency key, chosen when typed.
    pub key: String,
    pub value: f64,
    pub unit: String,
    /// The browser's clock when typed, ms since the epoch.
    pub typed_ms: f64,
    /// The room's clock offset (server minus browser, ms) and its
    /// uncertainty when typed, if it had been measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_ms: Option<(f64, f64)>,
}

impl Queued {
    /// The reading to send at `now_ms` (browser clock); `offset` is the
    /// room's current estimate, used when the entry has none of its own.
    pub fn reading(&self, now_ms: f64, offset: Option<(f64, f64)>) -> ManualReading {
        let waited_ms = (now_ms - self.typed_ms).max(0.0);
        let timed = self
            .offset_ms
            .or(offset)
            .and_then(|(off, u)| server_time(self.typed_ms + off).map(|t| (t, u)));
        let (t, u_t) = match timed {
            _ if waited_ms < PROMPT_MS => (None, None),
            // The person read the display a moment before pressing the
            // button (the untimed entry's allowance), plus the clock's own
            // uncertainty.
            Some((t, u)) => (Some(t), Some(UNTIMED_MANUAL_U_T_S + u / 1_000.0)),
            // No clock to convert with: stamped on arrival, the wait added
            // to the uncertainty.
            None => (None, Some(UNTIMED_MANUAL_U_T_S + waited_ms / 1_000.0)),
        };
        ManualReading {
            value: self.value,
            unit: self.unit.clone(),
            t,
            u_t,
        }
    }
}

fn server_time(ms: f64) -> Option<OffsetDateTime> {
    if !ms.is_finite() {
        return None;
    }
    // Whole nanoseconds are far below any clock's uncertainty here.
    #[allow(clippy::cast_possible_truncation)]
    let nanos = (ms * 1_000_000.0) as i128;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// What the server said about the entry in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Stored now or before (a resend): the entry leaves.
    Stored,
    /// Refused for what it says (4xx): the entry leaves, the person is
    /// told; sending it again would be refused again.
    Refused,
    /// No answer, or one that says "later" (network, 5xx, 429): it stays
    /// and goes again.
    Later,
}

impl Answer {
    /// The answer an HTTP status means; `None` when nothing came back.
    pub fn of_status(status: Option<u16>) -> Self {
        match status {
            Some(200..=299) => Self::Stored,
            // Timeouts, rate limits and server trouble pass; a login that
            // ended comes back (the queue is the person's own).
            Some(401 | 408 | 429) | Some(500..) | None => Self::Later,
            Some(_) => Self::Refused,
        }
    }
}

/// The entries of one person and device, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManualQueue {
    entries: Vec<Queued>,
    /// The key of the entry on its way, if any.
    in_flight: Option<String>,
    /// When the last send failed (browser clock, ms).
    failed_ms: Option<f64>,
}

impl ManualQueue {
    /// The stored form; garbage (another version, a hand edit) is an empty
    /// queue rather than a broken room. A repeated key is kept once.
    pub fn from_json(json: &str) -> Self {
        let stored: Vec<Queued> = serde_json::from_str(json).unwrap_or_default();
        let mut q = Self::default();
        for e in stored {
            q.push(e);
        }
        q
    }

    /// The form to store; `None` when empty (remove the stored copy).
    pub fn to_json(&self) -> Option<String> {
        if self.entries.is_empty() {
            return None;
        }
        serde_json::to_string(&self.entries).ok()
    }

    pub fn entries(&self) -> &[Queued] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Add a typed entry; `false` (nothing added) for a key already here.
    pub fn push(&mut self, e: Queued) -> bool {
        if self.entries.iter().any(|x| x.key == e.key) {
            return false;
        }
        self.entries.push(e);
        true
    }

    /// The entry to send now, if one may go: the oldest, when nothing is
    /// on its way and the last failure is `RETRY_MS` old (or `now_ms` is
    /// `None`: the link just came back, try at once). Marks it in flight.
    pub fn next(&mut self, now_ms: Option<f64>) -> Option<Queued> {
        if self.in_flight.is_some() {
            return None;
        }
        if let (Some(now), Some(failed)) = (now_ms, self.failed_ms)
            && now - failed < RETRY_MS
        {
            return None;
        }
        let e = self.entries.first()?.clone();
        self.in_flight = Some(e.key.clone());
        Some(e)
    }

    /// The server's answer about `key` (sent by [`Self::next`]) at
    /// `now_ms`. Returns the entry when it leaves the queue.
    pub fn answered(&mut self, key: &str, answer: Answer, now_ms: f64) -> Option<Queued> {
        if self.in_flight.as_deref() == Some(key) {
            self.in_flight = None;
        }
        match answer {
            Answer::Later => {
                self.failed_ms = Some(now_ms);
                None
            }
            Answer::Stored | Answer::Refused => {
                self.failed_ms = None;
                let i = self.entries.iter().position(|e| e.key == key)?;
                Some(self.entries.remove(i))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, typed_ms: f64) -> Queued {
        Queued {
            key: key.to_owned(),
            value: 101.5,
            unit: "kPa".to_owned(),
            typed_ms,
            offset_ms: None,
        }
    }

    #[test]
    fn entries_go_one_at_a_time_in_the_order_typed() {
        let mut q = ManualQueue::default();
        assert!(q.push(entry("a", 1.0)));
        assert!(q.push(entry("b", 2.0)));
        assert!(!q.push(entry("a", 3.0)), "a key is queued once");
        let first = q.next(Some(10.0)).expect("the oldest goes");
        assert_eq!(first.key, "a");
        assert_eq!(q.next(Some(10.0)), None, "one at a time");
        assert_eq!(
            q.answered("a", Answer::Stored, 20.0).map(|e| e.key),
            Some("a".to_owned())
        );
        assert_eq!(q.next(Some(20.0)).map(|e| e.key), Some("b".to_owned()));
    }

    #[test]
    fn a_failed_send_keeps_the_entry_and_its_key_and_waits() {
        let mut q = ManualQueue::default();
        q.push(entry("a", 1.0));
        let e = q.next(Some(100.0)).expect("goes");
        assert_eq!(q.answered(&e.key, Answer::Later, 100.0), None);
        assert_eq!(q.next(Some(100.0 + RETRY_MS - 1.0)), None, "waits");
        let again = q.next(Some(100.0 + RETRY_MS)).expect("goes again");
        assert_eq!(again.key, "a", "with the same key: stored once");
        q.answered("a", Answer::Later, 200.0);
        assert!(q.next(None).is_some(), "the link came back: at once");
    }

    #[test]
    fn a_refused_entry_leaves_and_the_next_one_goes() {
        let mut q = ManualQueue::default();
        q.push(entry("a", 1.0));
        q.push(entry("b", 2.0));
        q.next(Some(5.0));
        assert!(q.answered("a", Answer::Refused, 6.0).is_some());
        assert_eq!(q.next(Some(6.0)).map(|e| e.key), Some("b".to_owned()));
    }

    #[test]
    fn statuses_mean_stored_refused_or_later() {
        assert_eq!(Answer::of_status(Some(201)), Answer::Stored);
        assert_eq!(Answer::of_status(Some(200)), Answer::Stored);
        for s in [400, 403, 404, 409, 422] {
            assert_eq!(Answer::of_status(Some(s)), Answer::Refused, "{s}");
        }
        for s in [Some(401), Some(408), Some(429), Some(500), Some(503), None] {
            assert_eq!(Answer::of_status(s), Answer::Later, "{s:?}");
        }
    }

    #[test]
    fn the_stored_form_survives_a_reload_and_garbage_is_empty() {
        let mut q = ManualQueue::default();
        q.push(Queued {
            offset_ms: Some((-1_500.0, 20.0)),
            ..entry("a", 1_700_000_000_000.0)
        });
        q.push(entry("b", 1_700_000_001_000.0));
        let back = ManualQueue::from_json(&q.to_json().expect("not empty"));
        assert_eq!(back.entries(), q.entries());
        assert!(ManualQueue::from_json("{oops").is_empty());
        assert_eq!(ManualQueue::default().to_json(), None);
    }

    #[test]
    fn a_prompt_entry_is_stamped_by_the_server() {
        let r = entry("a", 1_000.0).reading(1_000.0 + PROMPT_MS - 1.0, Some((5.0, 1.0)));
        assert_eq!((r.t, r.u_t), (None, None));
    }

    #[test]
    fn an_entry_that_waited_carries_its_time_on_the_server_clock() {
        let typed = 1_700_000_000_000.0;
        let e = Queued {
            offset_ms: Some((-2_000.0, 40.0)),
            ..entry("a", typed)
        };
        // Typed 10 minutes ago; the room's offset now differs, the entry's
        // own (measured when typed) wins.
        let r = e.reading(typed + 600_000.0, Some((9_999.0, 1.0)));
        let t = r.t.expect("timed");
        assert_eq!(t.unix_timestamp(), 1_699_999_998);
        assert_eq!(r.u_t, Some(UNTIMED_MANUAL_U_T_S + 0.04));
        // Without its own, the room's current one.
        let r = entry("b", typed).reading(typed + 600_000.0, Some((1_000.0, 10.0)));
        assert_eq!(r.t.map(|t| t.unix_timestamp()), Some(1_700_000_001));
        assert_eq!(r.u_t, Some(UNTIMED_MANUAL_U_T_S + 0.01));
    }

    #[test]
    fn without_a_clock_the_wait_goes_into_the_uncertainty() {
        let r = entry("a", 0.0).reading(600_000.0, None);
        assert_eq!(r.t, None);
        assert_eq!(r.u_t, Some(UNTIMED_MANUAL_U_T_S + 600.0));
    }
}
