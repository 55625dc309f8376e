//! Applying the room log strictly in order.
//!
//! After `join {last_seq}` the server sends a snapshot (where the log stands
//! now, `last_seq`) and replays every event after the client's `last_seq`,
//! then live events follow. The sequencer decides for each event whether to
//! apply it, drop it or resume, and says when the replay has caught up with
//! the snapshot (the moment the outbox may go out behind it).

/// What to do with an incoming event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Apply it; it is now the last applied event.
    Apply {
        /// The snapshot already counted this event (a replayed join or
        /// leave is already in the snapshot's participant list).
        replayed: bool,
        /// With this event the replay has caught up with the snapshot.
        caught_up: bool,
    },
    /// Already applied: drop it.
    Duplicate,
    /// Events between were missed: drop the socket and resume from
    /// `expected - 1`.
    Gap { expected: u64, got: u64 },
}

/// The position in the log: what has been applied, what the snapshot said,
/// what the server has been told.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sequencer {
    applied: u64,
    snapshot_seq: u64,
    acked: u64,
}

impl Sequencer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last applied `seq` (0 before any): what `join` resumes from.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// A snapshot arrived saying the log stands at `last_seq`. True when
    /// nothing is left to replay (the outbox may go out at once).
    pub fn snapshot(&mut self, last_seq: u64) -> bool {
        self.snapshot_seq = last_seq;
        self.caught_up()
    }

    /// Every event the latest snapshot announced has been applied.
    pub fn caught_up(&self) -> bool {
        self.applied >= self.snapshot_seq
    }

    /// Decide about event `seq`; on [`Offer::Apply`] it counts as applied.
    pub fn offer(&mut self, seq: u64) -> Offer {
        if seq <= self.applied {
            return Offer::Duplicate;
        }
        let expected = self.applied + 1;
        if seq != expected {
            return Offer::Gap { expected, got: seq };
        }
        self.applied = seq;
        Offer::Apply {
            replayed: seq <= self.snapshot_seq,
            caught_up: seq == self.snapshot_seq,
        }
    }

    /// Applied events the server has not been told about.
    pub fn unacked(&self) -> u64 {
        self.applied - self.acked
    }

    /// The `seq` to acknowledge, if anything new was applied since the last.
    pub fn ack_due(&self) -> Option<u64> {
        (self.applied > self.acked).then_some(self.applied)
    }

    /// An `ack {seq}` went out.
    pub fn acked(&mut self, seq: u64) {
        self.acked = self.acked.max(seq.min(self.applied));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(replayed: bool, caught_up: bool) -> Offer {
        Offer::Apply {
            replayed,
            caught_up,
        }
    }

    #[test]
    fn applies_in_order_from_the_start() {
        let mut s = Sequencer::new();
        assert!(s.snapshot(0), "an empty log has nothing to replay");
        assert_eq!(s.offer(1), apply(false, false));
        assert_eq!(s.offer(2), apply(false, false));
        assert_eq!(s.applied(), 2);
    }

    #[test]
    fn older_and_repeated_events_are_duplicates() {
        let mut s = Sequencer::new();
        s.snapshot(0);
        s.offer(1);
        s.offer(2);
        assert_eq!(s.offer(2), Offer::Duplicate);
        assert_eq!(s.offer(1), Offer::Duplicate);
        assert_eq!(s.offer(0), Offer::Duplicate);
        assert_eq!(s.applied(), 2, "a duplicate changes nothing");
        assert_eq!(s.offer(3), apply(false, false));
    }

    #[test]
    fn a_gap_is_reported_and_nothing_is_applied() {
        let mut s = Sequencer::new();
        s.snapshot(0);
        s.offer(1);
        assert_eq!(
            s.offer(3),
            Offer::Gap {
                expected: 2,
                got: 3
            }
        );
        assert_eq!(s.applied(), 1, "resume from what was applied");
        // The replay after resuming fills the gap.
        assert!(!s.snapshot(3));
        assert_eq!(s.offer(2), apply(true, false));
        assert_eq!(s.offer(3), apply(true, true));
        assert!(s.caught_up());
    }

    #[test]
    fn the_replay_catches_up_exactly_at_the_snapshot() {
        let mut s = Sequencer::new();
        assert!(!s.snapshot(3), "three events to replay");
        assert_eq!(s.offer(1), apply(true, false));
        assert!(!s.caught_up());
        assert_eq!(s.offer(2), apply(true, false));
        assert_eq!(s.offer(3), apply(true, true));
        assert!(s.caught_up());
        // A live event after the replay is neither replayed nor a catch-up.
        assert_eq!(s.offer(4), apply(false, false));
    }

    #[test]
    fn a_reconnect_resumes_where_it_stopped() {
        let mut s = Sequencer::new();
        s.snapshot(2);
        s.offer(1);
        s.offer(2);
        // The socket dropped; the new join says last_seq = applied.
        assert_eq!(s.applied(), 2);
        // Nothing happened meanwhile: caught up at once.
        assert!(s.snapshot(2));
        // Two events happened meanwhile: they are replayed first.
        assert!(!s.snapshot(4));
        assert_eq!(s.offer(3), apply(true, false));
        assert_eq!(s.offer(4), apply(true, true));
    }

    #[test]
    fn acks_cover_what_was_applied_once() {
        let mut s = Sequencer::new();
        s.snapshot(0);
        assert_eq!(s.ack_due(), None);
        for seq in 1..=5 {
            s.offer(seq);
        }
        assert_eq!(s.unacked(), 5);
        assert_eq!(s.ack_due(), Some(5));
        s.acked(5);
        assert_eq!((s.unacked(), s.ack_due()), (0, None));
        // An ack never runs ahead of what was applied, nor backwards.
        s.acked(99);
        s.offer(6);
        assert_eq!(s.ack_due(), Some(6));
        s.acked(2);
        assert_eq!(s.unacked(), 1);
    }
}
