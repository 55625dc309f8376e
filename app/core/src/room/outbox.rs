//! Chat lines waiting for the log, and when to send them (again).
//!
//! A line is *sent* (a `chat` frame went out), possibly *accepted* (the
//! server answered `accepted {client_id, seq}`), and *confirmed* when its
//! own event comes back through the log — only then does it leave. The
//! socket is passed in as a `send` callback that says whether the frame
//! went out, so a line is only marked sent when it was.

use serde::{Deserialize, Serialize};

/// An unanswered chat frame is sent again after this long, ms.
pub const RESEND_AFTER_MS: f64 = 5_000.0;
/// At most this many lines go out at once after a (re)connect (the server
/// allows a burst of 20 chats, then 5 a second).
pub const FLUSH_BURST: usize = 15;
/// At most this many unanswered lines are resent per housekeeping tick.
pub const RESEND_PER_TICK: usize = 3;
/// After a `rate_limited` or `unavailable` error, unanswered lines go again
/// this long later, ms.
const RETRY_AFTER_REFUSAL_MS: f64 = 1_000.0;

/// A chat line waiting for the log. Also the storage format (a JSON list of
/// these per person and room), so a reload while offline keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub client_id: String,
    pub text: String,
    /// Local clock when typed (ms since the epoch).
    pub created_ms: f64,
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    line: Pending,
    sent_ms: Option<f64>,
    accepted: Option<u64>,
}

/// The lines not yet seen in the log, in the order typed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outbox {
    entries: Vec<Entry>,
}

impl Outbox {
    /// Lines kept from an earlier page; a repeated `client_id` (a storage
    /// write raced by another tab) is kept once.
    pub fn restore(lines: Vec<Pending>) -> Self {
        let mut outbox = Self::default();
        for line in lines {
            outbox.push(line, None);
        }
        outbox
    }

    /// The stored form; garbage (another version, a hand edit) is an empty
    /// outbox rather than a broken room.
    pub fn from_json(json: &str) -> Self {
        Self::restore(serde_json::from_str(json).unwrap_or_default())
    }

    /// The form to store; `None` when empty (remove the stored copy).
    pub fn to_json(&self) -> Option<String> {
        if self.entries.is_empty() {
            return None;
        }
        serde_json::to_string(&self.lines()).ok()
    }

    /// The lines, in the order typed (for the page).
    pub fn lines(&self) -> Vec<Pending> {
        self.entries.iter().map(|e| e.line.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queue a line, sent at `sent_ms` if it already went out. False (and
    /// nothing queued) when a line with its `client_id` is already waiting.
    pub fn push(&mut self, line: Pending, sent_ms: Option<f64>) -> bool {
        if self
            .entries
            .iter()
            .any(|e| e.line.client_id == line.client_id)
        {
            return false;
        }
        self.entries.push(Entry {
            line,
            sent_ms,
            accepted: None,
        });
        true
    }

    /// The server stored `client_id` as event `seq`: no more resends, but
    /// the line stays until the event itself arrives.
    pub fn accepted(&mut self, client_id: &str, seq: u64) -> bool {
        match self
            .entries
            .iter_mut()
            .find(|e| e.line.client_id == client_id)
        {
            Some(e) => {
                e.accepted = Some(seq);
                true
            }
            None => false,
        }
    }

    /// The event of `client_id` came through the log: the line leaves.
    /// True when it was here (the stored copy must be rewritten).
    pub fn confirmed(&mut self, client_id: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.line.client_id != client_id);
        self.entries.len() != before
    }

    /// The replay after a (re)connect has caught up: send every line not
    /// yet accepted, in order, at most [`FLUSH_BURST`] of them. Returns how
    /// many went out.
    pub fn flush(&mut self, now_ms: f64, mut send: impl FnMut(&Pending) -> bool) -> usize {
        let mut sent = 0;
        for e in &mut self.entries {
            if sent >= FLUSH_BURST {
                break;
            }
            if e.accepted.is_some() {
                continue;
            }
            if send(&e.line) {
                e.sent_ms = Some(now_ms);
                sent += 1;
            }
        }
        sent
    }

    /// Housekeeping: lines never sent, or sent [`RESEND_AFTER_MS`] ago and
    /// still unanswered (a refused burst, a lost frame), go again — at most
    /// [`RESEND_PER_TICK`], oldest first. Returns how many went out.
    pub fn resend_due(&mut self, now_ms: f64, mut send: impl FnMut(&Pending) -> bool) -> usize {
        let mut sent = 0;
        for e in &mut self.entries {
            if sent >= RESEND_PER_TICK {
                break;
            }
            let waiting = e.sent_ms.is_some_and(|t| now_ms - t < RESEND_AFTER_MS);
            if e.accepted.is_some() || waiting {
                continue;
            }
            if send(&e.line) {
                e.sent_ms = Some(now_ms);
                sent += 1;
            }
        }
        sent
    }

    /// The server refused a chat for load (`rate_limited`, `unavailable`)
    /// without saying which: every sent, unanswered line becomes due a
    /// second from now (a resend is idempotent).
    pub fn refused(&mut self, now_ms: f64) {
        let due_as_if_sent = now_ms - RESEND_AFTER_MS + RETRY_AFTER_REFUSAL_MS;
        for e in &mut self.entries {
            if e.accepted.is_none() && e.sent_ms.is_some() {
                e.sent_ms = Some(due_as_if_sent);
            }
        }
    }

    /// Empty the outbox (the session ended: these lines can no longer be
    /// added to its record), returning them in order.
    pub fn drain(&mut self) -> Vec<Pending> {
        self.entries.drain(..).map(|e| e.line).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u32) -> Pending {
        Pending {
            client_id: format!("c-{n}"),
            text: format!("line {n}"),
            created_ms: f64::from(n),
        }
    }

    fn ids(v: &[Pending]) -> Vec<&str> {
        v.iter().map(|p| p.client_id.as_str()).collect()
    }

    /// A socket that records what it sent.
    fn recorder(log: &mut Vec<String>) -> impl FnMut(&Pending) -> bool + '_ {
        |p| {
            log.push(p.client_id.clone());
            true
        }
    }

    #[test]
    fn lines_keep_the_order_typed_and_leave_when_confirmed() {
        let mut o = Outbox::default();
        for n in 1..=3 {
            assert!(o.push(line(n), None));
        }
        assert!(o.confirmed("c-2"));
        assert_eq!(ids(&o.lines()), ["c-1", "c-3"]);
        assert!(!o.confirmed("c-2"), "confirming twice changes nothing");
        assert!(!o.confirmed("c-someone-else"));
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn a_client_id_waits_only_once() {
        let mut o = Outbox::default();
        assert!(o.push(line(1), None));
        assert!(!o.push(line(1), Some(5.0)));
        assert_eq!(o.len(), 1);
        let restored = Outbox::restore(vec![line(1), line(2), line(1)]);
        assert_eq!(ids(&restored.lines()), ["c-1", "c-2"]);
    }

    #[test]
    fn flush_sends_every_unaccepted_line_in_order() {
        let mut o = Outbox::restore(vec![line(1), line(2), line(3)]);
        assert!(o.accepted("c-2", 7));
        let mut sent = Vec::new();
        assert_eq!(o.flush(100.0, recorder(&mut sent)), 2);
        assert_eq!(sent, ["c-1", "c-3"], "an accepted line is not sent again");
    }

    #[test]
    fn flush_resends_even_lines_sent_a_moment_ago() {
        // After a reconnect the old socket's frames may never have arrived.
        let mut o = Outbox::default();
        o.push(line(1), Some(99.0));
        let mut sent = Vec::new();
        assert_eq!(o.flush(100.0, recorder(&mut sent)), 1);
    }

    #[test]
    fn flush_is_bounded_by_the_burst() {
        let mut o = Outbox::restore((1..=40).map(line).collect());
        let mut sent = Vec::new();
        assert_eq!(o.flush(0.0, recorder(&mut sent)), FLUSH_BURST);
        assert_eq!(sent.first().map(String::as_str), Some("c-1"));
        assert_eq!(sent.len(), FLUSH_BURST);
        // The rest go out through resends, oldest unsent first.
        let mut more = Vec::new();
        assert_eq!(o.resend_due(1.0, recorder(&mut more)), RESEND_PER_TICK);
        assert_eq!(more, ["c-16", "c-17", "c-18"]);
    }

    #[test]
    fn a_send_that_fails_leaves_the_line_unsent() {
        let mut o = Outbox::restore(vec![line(1)]);
        assert_eq!(o.flush(0.0, |_| false), 0);
        // Still due at the next tick, at any time.
        let mut sent = Vec::new();
        assert_eq!(o.resend_due(1.0, recorder(&mut sent)), 1);
    }

    #[test]
    fn unanswered_lines_go_again_after_the_resend_delay() {
        let mut o = Outbox::default();
        o.push(line(1), Some(1_000.0));
        o.push(line(2), Some(1_000.0));
        o.accepted("c-2", 5);
        let mut sent = Vec::new();
        assert_eq!(
            o.resend_due(1_000.0 + RESEND_AFTER_MS - 1.0, recorder(&mut sent)),
            0
        );
        assert_eq!(
            o.resend_due(1_000.0 + RESEND_AFTER_MS, recorder(&mut sent)),
            1
        );
        assert_eq!(
            sent,
            ["c-1"],
            "accepted lines wait for their event, not a resend"
        );
        // Just resent: not again until the delay has passed once more.
        assert_eq!(
            o.resend_due(1_000.0 + RESEND_AFTER_MS + 10.0, recorder(&mut sent)),
            0
        );
    }

    #[test]
    fn a_refusal_brings_the_resend_forward_to_a_second() {
        let mut o = Outbox::default();
        o.push(line(1), Some(10_000.0));
        o.push(line(2), None);
        o.refused(10_000.0);
        let mut sent = Vec::new();
        // Unsent lines are due anyway; the refused one waits a second.
        assert_eq!(o.resend_due(10_500.0, recorder(&mut sent)), 1);
        assert_eq!(sent, ["c-2"]);
        sent.clear();
        assert_eq!(o.resend_due(11_000.0, recorder(&mut sent)), 1);
        assert_eq!(sent, ["c-1"]);
    }

    #[test]
    fn storage_round_trips_and_survives_garbage() {
        let o = Outbox::restore(vec![line(1), line(2)]);
        let json = o.to_json().expect("not empty");
        assert_eq!(Outbox::from_json(&json).lines(), o.lines());
        // The stored shape is the page's list of lines (older pages wrote it).
        assert!(
            json.starts_with(r#"[{"client_id":"c-1","text":"line 1","created_ms":1.0}"#),
            "{json}"
        );
        assert!(Outbox::from_json("{not json").is_empty());
        assert!(Outbox::from_json(r#"{"client_id":"c-1"}"#).is_empty());
        assert_eq!(Outbox::default().to_json(), None);
    }

    #[test]
    fn draining_returns_everything_in_order() {
        let mut o = Outbox::restore(vec![line(1), line(2)]);
        o.accepted("c-1", 3);
        assert_eq!(ids(&o.drain()), ["c-1", "c-2"]);
        assert!(o.is_empty());
    }
}
