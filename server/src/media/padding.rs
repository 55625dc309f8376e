//! Padding-only packets (a browser's bandwidth probes, sent on the media
//! SSRC when RTX is not negotiated, as here) are dropped on the
//! publisher's leg: they mean nothing to a subscriber. Each one dropped
//! would leave a hole in the sequence numbers that every subscriber's
//! browser counts as a lost packet (its loss then grades the link down and
//! may talk the page down to audio only) and asks for again with NACKs
//! that can never be answered. So the numbers after a dropped packet move
//! down to close the hole, per SSRC, also for a packet that arrives late
//! (it moves by the padding dropped before it, not after).

use std::collections::VecDeque;

/// How many dropped sequence numbers are kept one by one, for packets
/// that arrive late; older ones only count.
const WINDOW: usize = 512;

/// One SSRC's dropped padding.
#[derive(Debug, Default)]
pub struct PaddingGaps {
    /// The highest extended sequence number seen (a 16-bit number counted
    /// on across wraps), once one was seen.
    highest: Option<u64>,
    /// Dropped packets older than `recent`.
    before: u64,
    /// Extended numbers of the latest dropped packets, ascending.
    recent: VecDeque<u64>,
}

impl PaddingGaps {
    /// A padding-only packet with this number is dropped.
    pub fn drop_packet(&mut self, seq: u16) {
        let ext = self.extend(seq);
        let at = self.recent.partition_point(|&d| d < ext);
        if self.recent.get(at) == Some(&ext) {
            return;
        }
        self.recent.insert(at, ext);
        if self.recent.len() > WINDOW {
            self.recent.pop_front();
            self.before += 1;
        }
    }

    /// The number a forwarded packet goes on with.
    pub fn forward(&mut self, seq: u16) -> u16 {
        let ext = self.extend(seq);
        let shift = self.before + self.recent.partition_point(|&d| d < ext) as u64;
        // Truncation is the point: RTP numbers are the low 16 bits.
        ext.wrapping_sub(shift) as u16
    }

    /// `seq` as an extended number: the one nearest the highest seen.
    fn extend(&mut self, seq: u16) -> u64 {
        let Some(highest) = self.highest else {
            // Start a wrap up, so a packet just before the first one still
            // has a number.
            let ext = (1 << 16) + u64::from(seq);
            self.highest = Some(ext);
            return ext;
        };
        let delta = seq.wrapping_sub(highest as u16);
        let ext = if delta < 0x8000 {
            highest + u64::from(delta)
        } else {
            highest.saturating_sub(u64::from(delta.wrapping_neg()))
        };
        self.highest = Some(highest.max(ext));
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_after_dropped_padding_move_down_to_close_the_hole() {
        let mut g = PaddingGaps::default();
        assert_eq!(g.forward(100), 100);
        g.drop_packet(101);
        g.drop_packet(102);
        assert_eq!(g.forward(103), 101);
        assert_eq!(g.forward(104), 102);
        g.drop_packet(105);
        assert_eq!(g.forward(106), 103);
    }

    #[test]
    fn a_late_packet_moves_only_by_the_padding_before_it() {
        let mut g = PaddingGaps::default();
        assert_eq!(g.forward(10), 10);
        g.drop_packet(12);
        assert_eq!(g.forward(13), 12);
        // 11 came late: no padding before it was dropped.
        assert_eq!(g.forward(11), 11);
        // A retransmission of 13 gets the number 13 went out with.
        assert_eq!(g.forward(13), 12);
    }

    #[test]
    fn numbers_wrap() {
        let mut g = PaddingGaps::default();
        assert_eq!(g.forward(65_534), 65_534);
        g.drop_packet(65_535);
        assert_eq!(g.forward(0), 65_535);
        g.drop_packet(1);
        assert_eq!(g.forward(2), 0);
        // Late, from before the wrap.
        assert_eq!(g.forward(65_534), 65_534);
    }

    #[test]
    fn without_padding_numbers_pass_unchanged() {
        let mut g = PaddingGaps::default();
        for seq in (0..=u16::MAX).chain(0..100) {
            assert_eq!(g.forward(seq), seq);
        }
    }

    #[test]
    fn long_runs_of_padding_keep_counting_past_the_window() {
        let mut g = PaddingGaps::default();
        let mut seq = 0u16;
        assert_eq!(g.forward(seq), 0);
        let mut out = 0u16;
        for _ in 0..2_000 {
            seq = seq.wrapping_add(1);
            g.drop_packet(seq);
            seq = seq.wrapping_add(1);
            out = out.wrapping_add(1);
            assert_eq!(g.forward(seq), out);
        }
    }

    #[test]
    fn a_padding_packet_seen_twice_counts_once() {
        let mut g = PaddingGaps::default();
        assert_eq!(g.forward(1), 1);
        g.drop_packet(2);
        g.drop_packet(2);
        assert_eq!(g.forward(3), 2);
    }
}
