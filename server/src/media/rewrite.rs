//! One continuous stream out of several simulcast layers: each layer has
//! its own SSRC, sequence numbers, timestamps and (VP8) picture ids, and a
//! subscriber must see one stream whatever layer it gets. A switch happens
//! only at the start of a keyframe of the new layer; from there on the
//! new layer's numbers are shifted so they continue where the old layer's
//! stopped (RFC 7667 §3.7, as mediasoup and LiveKit do).

use std::time::Instant;

use rtc::rtp;

/// What a VP8 payload descriptor (RFC 7741 §4.2) says, and where its
/// picture id and TL0PICIDX are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vp8 {
    /// First packet of a keyframe.
    pub keyframe_start: bool,
    /// Offset and value of a 15-bit picture id (7-bit ones are left as is).
    picture_id: Option<(usize, u16)>,
    /// Offset and value of TL0PICIDX.
    tl0: Option<(usize, u8)>,
}

impl Vp8 {
    /// Parse a VP8 RTP payload's descriptor; `None` if it is too short.
    pub fn parse(p: &[u8]) -> Option<Self> {
        let first = *p.first()?;
        let extended = first & 0x80 != 0;
        let start = first & 0x10 != 0 && first & 0x07 == 0;
        let mut at = 1;
        let mut vp8 = Vp8::default();
        if extended {
            let x = *p.get(at)?;
            at += 1;
            if x & 0x80 != 0 {
                let b = *p.get(at)?;
                if b & 0x80 != 0 {
                    let lo = *p.get(at + 1)?;
                    vp8.picture_id = Some((at, (u16::from(b & 0x7f) << 8) | u16::from(lo)));
                    at += 2;
                } else {
                    at += 1;
                }
            }
            if x & 0x40 != 0 {
                vp8.tl0 = Some((at, *p.get(at)?));
                at += 1;
            }
            if x & 0x30 != 0 {
                at += 1;
            }
        }
        // The VP8 payload header: bit 0 clear on a key frame (RFC 6386 §9.1).
        let header = *p.get(at)?;
        vp8.keyframe_start = start && header & 0x01 == 0;
        Some(vp8)
    }
}

/// Rewrites one subscriber's copy of a track.
#[derive(Debug, Clone, Default)]
pub struct Rewriter {
    /// Layer being forwarded (`None`: nothing yet).
    layer: Option<u8>,
    seq_delta: u16,
    ts_delta: u32,
    pid_delta: u16,
    tl0_delta: u8,
    /// First sequence number of the current layer: older ones are dropped.
    first_seq: u16,
    /// Last output values, to continue from after a switch.
    last: Option<Last>,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u16,
    ts: u32,
    pid: Option<u16>,
    tl0: Option<u8>,
    at: Instant,
}

impl Rewriter {
    /// The layer forwarded now.
    pub fn layer(&self) -> Option<u8> {
        self.layer
    }

    /// Forward `layer` from `pkt` on (the first packet of a keyframe of
    /// that layer, or of a stream without layers). `clock_rate` turns the
    /// time since the last packet sent into a timestamp step.
    pub fn switch(
        &mut self,
        layer: u8,
        pkt: &rtp::Packet,
        vp8: Option<Vp8>,
        clock_rate: u32,
        now: Instant,
    ) {
        self.layer = Some(layer);
        self.first_seq = pkt.header.sequence_number;
        let Some(last) = self.last else {
            return;
        };
        self.seq_delta = last
            .seq
            .wrapping_add(1)
            .wrapping_sub(pkt.header.sequence_number);
        let elapsed = now.saturating_duration_since(last.at);
        let step = u32::try_from(elapsed.as_millis().saturating_mul(u128::from(clock_rate)) / 1000)
            .unwrap_or(u32::MAX)
            .max(1);
        self.ts_delta = last
            .ts
            .wrapping_add(step)
            .wrapping_sub(pkt.header.timestamp);
        if let Some(v) = vp8 {
            if let (Some(last_pid), Some((_, pid))) = (last.pid, v.picture_id) {
                self.pid_delta = last_pid.wrapping_add(1).wrapping_sub(pid) & 0x7fff;
            }
            if let (Some(last_tl0), Some((_, tl0))) = (last.tl0, v.tl0) {
                self.tl0_delta = last_tl0.wrapping_add(1).wrapping_sub(tl0);
            }
        }
    }

    /// Rewrite a packet of the current layer in place; `false`: drop it
    /// (it precedes the switch).
    pub fn rewrite(&mut self, pkt: &mut rtp::Packet, vp8: Option<Vp8>, now: Instant) -> bool {
        let since_switch = pkt.header.sequence_number.wrapping_sub(self.first_seq);
        if since_switch >= 0x8000 {
            return false;
        }
        // The base follows the stream: a fixed one would make the layer's
        // packets look older than the switch after 32 768 of them (ten
        // minutes of video), and drop everything for as long again.
        if since_switch > 0x4000 {
            self.first_seq = pkt.header.sequence_number.wrapping_sub(0x4000);
        }
        pkt.header.sequence_number = pkt.header.sequence_number.wrapping_add(self.seq_delta);
        pkt.header.timestamp = pkt.header.timestamp.wrapping_add(self.ts_delta);
        let mut pid = None;
        let mut tl0 = None;
        if let Some(v) = vp8 {
            pid = v
                .picture_id
                .map(|(_, p)| p.wrapping_add(self.pid_delta) & 0x7fff);
            tl0 = v.tl0.map(|(_, t)| t.wrapping_add(self.tl0_delta));
            if self.pid_delta != 0 || self.tl0_delta != 0 {
                let mut bytes = pkt.payload.to_vec();
                if let (Some((at, _)), Some(p)) = (v.picture_id, pid) {
                    bytes[at] = 0x80 | (p >> 8) as u8;
                    bytes[at + 1] = (p & 0xff) as u8;
                }
                if let (Some((at, _)), Some(t)) = (v.tl0, tl0) {
                    bytes[at] = t;
                }
                pkt.payload = bytes.into();
            }
        }
        // Later numbers only: a reordered packet must not move the base.
        let newer = self.last.is_none_or(|l| {
            pkt.header
                .sequence_number
                .wrapping_sub(l.seq)
                .wrapping_sub(1)
                < 0x8000
        });
        if newer {
            self.last = Some(Last {
                seq: pkt.header.sequence_number,
                ts: pkt.header.timestamp,
                pid: pid.or(self.last.and_then(|l| l.pid)),
                tl0: tl0.or(self.last.and_then(|l| l.tl0)),
                at: now,
            });
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A VP8 packet with a 15-bit picture id and TL0PICIDX.
    fn vp8(seq: u16, ts: u32, pid: u16, tl0: u8, keyframe_start: bool) -> rtp::Packet {
        let first = if keyframe_start { 0x90 } else { 0x80 };
        let header_byte = if keyframe_start { 0x00 } else { 0x01 };
        let payload = vec![
            first,
            0xc0,
            0x80 | (pid >> 8) as u8,
            (pid & 0xff) as u8,
            tl0,
            header_byte,
            0xaa,
        ];
        rtp::Packet {
            header: rtp::header::Header {
                sequence_number: seq,
                timestamp: ts,
                ..Default::default()
            },
            payload: payload.into(),
        }
    }

    #[test]
    fn vp8_descriptors_parse() {
        let k = Vp8::parse(&vp8(1, 1, 0x1234, 7, true).payload).expect("parses");
        assert!(k.keyframe_start);
        assert_eq!(k.picture_id, Some((2, 0x1234)));
        assert_eq!(k.tl0, Some((4, 7)));
        let d = Vp8::parse(&vp8(1, 1, 5, 7, false).payload).expect("parses");
        assert!(!d.keyframe_start);
        // Minimal descriptor, key frame.
        assert!(Vp8::parse(&[0x10, 0x00]).expect("parses").keyframe_start);
        // A continuation packet of a key frame is not its start.
        assert!(!Vp8::parse(&[0x00, 0x00]).expect("parses").keyframe_start);
        assert_eq!(Vp8::parse(&[]), None);
        assert_eq!(Vp8::parse(&[0x80, 0x80, 0x81]), None, "truncated");
    }

    #[test]
    fn a_switch_continues_the_numbers_of_the_previous_layer() {
        let t0 = Instant::now();
        let mut r = Rewriter::default();
        // High layer: forwarded unchanged.
        let mut p = vp8(1000, 90_000, 300, 10, true);
        let v = Vp8::parse(&p.payload);
        r.switch(1, &p, v, 90_000, t0);
        assert!(r.rewrite(&mut p, v, t0));
        assert_eq!(
            (p.header.sequence_number, p.header.timestamp),
            (1000, 90_000)
        );
        let mut p = vp8(1001, 93_000, 301, 11, false);
        let v = Vp8::parse(&p.payload);
        assert!(r.rewrite(&mut p, v, t0));
        // Switch to the low layer, 100 ms later, on its keyframe.
        let t1 = t0 + Duration::from_millis(100);
        let mut p = vp8(50_000, 7_000, 9, 200, true);
        let v = Vp8::parse(&p.payload);
        r.switch(0, &p, v, 90_000, t1);
        assert_eq!(r.layer(), Some(0));
        assert!(r.rewrite(&mut p, v, t1));
        assert_eq!(p.header.sequence_number, 1002);
        assert_eq!(p.header.timestamp, 93_000 + 9_000);
        let out = Vp8::parse(&p.payload).expect("parses");
        assert_eq!(out.picture_id.map(|x| x.1), Some(302));
        assert_eq!(out.tl0.map(|x| x.1), Some(12));
        assert!(out.keyframe_start, "the rest of the payload is intact");
        // The next one follows; one from before the switch is dropped.
        let mut p = vp8(50_001, 10_000, 10, 200, false);
        let v = Vp8::parse(&p.payload);
        assert!(r.rewrite(&mut p, v, t1));
        assert_eq!(p.header.sequence_number, 1003);
        assert_eq!(p.header.timestamp, 93_000 + 9_000 + 3_000);
        let mut old = vp8(49_999, 4_000, 8, 200, false);
        let v = Vp8::parse(&old.payload);
        assert!(!r.rewrite(&mut old, v, t1));
    }

    #[test]
    fn numbers_wrap() {
        let t0 = Instant::now();
        let mut r = Rewriter::default();
        let mut p = vp8(u16::MAX, u32::MAX - 10, 0x7fff, 255, true);
        let v = Vp8::parse(&p.payload);
        r.switch(1, &p, v, 90_000, t0);
        assert!(r.rewrite(&mut p, v, t0));
        let mut p = vp8(3, 5, 1, 0, true);
        let v = Vp8::parse(&p.payload);
        r.switch(0, &p, v, 90_000, t0);
        assert!(r.rewrite(&mut p, v, t0));
        assert_eq!(p.header.sequence_number, 0);
        assert_eq!(p.header.timestamp, (u32::MAX - 10).wrapping_add(1));
        let out = Vp8::parse(&p.payload).expect("parses");
        assert_eq!(out.picture_id.map(|x| x.1), Some(0));
        assert_eq!(out.tl0.map(|x| x.1), Some(0));
    }

    #[test]
    fn a_layer_forwarded_for_long_keeps_passing() {
        let t0 = Instant::now();
        let mut r = Rewriter::default();
        let mut p = vp8(100, 0, 0, 0, true);
        let v = Vp8::parse(&p.payload);
        r.switch(1, &p, v, 90_000, t0);
        assert!(r.rewrite(&mut p, v, t0));
        // Past the whole sequence-number space and more, packet by packet.
        for n in 1..=150_000u32 {
            let seq = 100u16.wrapping_add(n as u16);
            let mut p = vp8(seq, n * 3000, (n & 0x7fff) as u16, 0, false);
            let v = Vp8::parse(&p.payload);
            assert!(r.rewrite(&mut p, v, t0), "packet {n} passes");
            assert_eq!(p.header.sequence_number, seq);
        }
        // A packet reordered by a few places still passes; one from long
        // ago does not.
        let latest = 100u16.wrapping_add(150_000u32 as u16);
        let mut late = vp8(latest.wrapping_sub(5), 0, 0, 0, false);
        let v = Vp8::parse(&late.payload);
        assert!(r.rewrite(&mut late, v, t0));
        let mut ancient = vp8(latest.wrapping_sub(0x6000), 0, 0, 0, false);
        let v = Vp8::parse(&ancient.payload);
        assert!(!r.rewrite(&mut ancient, v, t0));
    }
}
