//! Generated VP8 video as RTP: frames at 30 per second whose sizes give a
//! set bitrate, each packet with a valid VP8 payload descriptor (RFC 7741:
//! extended, 15-bit picture id) and each frame's first packet with a VP8
//! payload header (RFC 6386 §9.1), key frames with their start code and
//! dimensions. The picture is noise a decoder would reject past the
//! headers; what an SFU reads (descriptor, key frame bit, marker,
//! timestamps) is what a browser sends.

use std::time::Duration;

use rtc::rtp;

const FPS: u32 = 30;
/// A key frame every this many frames (two seconds), besides those asked for.
const GOP: u64 = 60;
/// A key frame is this many times an average frame (deltas make up for it).
const KEYFRAME_WEIGHT: u64 = 3;
/// Largest RTP payload: what Chromium keeps under a 1 200-byte packet.
const MAX_PAYLOAD: usize = 1_160;
/// RTP fixed header bytes, counted in the bitrate.
const RTP_HEADER: usize = 12;
/// VP8 payload descriptor: X, I with M (15-bit picture id).
const DESCRIPTOR: usize = 4;

pub struct Generator {
    /// RTP bytes (header and payload) of an average frame.
    frame_bytes: u64,
    ssrc: u32,
    payload_type: u8,
    seq: u16,
    timestamp: u32,
    picture_id: u16,
    frame: u64,
    /// Filler bytes, taken from for each packet's picture data.
    noise: Vec<u8>,
}

impl Generator {
    pub fn new(kbps: u32, ssrc: u32, payload_type: u8) -> Self {
        // xorshift: incompressible-looking filler without a dependency.
        let mut x: u32 = ssrc | 1;
        let noise = (0..MAX_PAYLOAD)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect();
        Self {
            frame_bytes: u64::from(kbps) * 1000 / 8 / u64::from(FPS),
            ssrc,
            payload_type,
            seq: (ssrc >> 8) as u16,
            timestamp: ssrc.rotate_left(7),
            picture_id: (ssrc >> 4) as u16 & 0x7fff,
            frame: 0,
            noise,
        }
    }

    pub fn frame_interval(&self) -> Duration {
        Duration::from_secs(1) / FPS
    }

    /// RTP bytes of the next frame: a key frame weighs `KEYFRAME_WEIGHT`
    /// average frames and the deltas of a GOP share the rest, so a GOP
    /// averages the bitrate.
    fn frame_size(&self, key: bool) -> usize {
        let bytes = if key {
            self.frame_bytes * KEYFRAME_WEIGHT
        } else {
            self.frame_bytes * (GOP - KEYFRAME_WEIGHT) / (GOP - 1)
        };
        usize::try_from(bytes).unwrap_or(usize::MAX)
    }

    /// The packets of the next frame; a key frame when `asked` or when the
    /// GOP starts.
    pub fn next_frame(&mut self, asked: bool) -> Vec<rtp::Packet> {
        let key = asked || self.frame.is_multiple_of(GOP);
        let size = self.frame_size(key);
        let count = size.div_ceil(MAX_PAYLOAD + RTP_HEADER).max(1);
        let payload_total = size.saturating_sub(count * RTP_HEADER);
        let mut packets = Vec::with_capacity(count);
        for i in 0..count {
            // The frame's payload split evenly, the remainder in the first.
            let mut len = payload_total / count;
            if i == 0 {
                len += payload_total % count;
            }
            let mut payload = Vec::with_capacity(len.max(DESCRIPTOR + 10));
            // X=1, S on the first packet of the frame, partition 0.
            payload.push(if i == 0 { 0x90 } else { 0x80 });
            payload.push(0x80); // I: a picture id follows
            payload.push(0x80 | (self.picture_id >> 8) as u8); // M: 15 bits
            payload.push(self.picture_id as u8);
            if i == 0 {
                // Payload header: first partition size (19 bits), show_frame,
                // version 0, P = 0 on a key frame.
                let part = u32::try_from(payload_total.min(0x7_ffff)).unwrap_or(0);
                let inter = u8::from(!key);
                payload.push((((part & 0x7) as u8) << 5) | 0x10 | inter);
                payload.push((part >> 3) as u8);
                payload.push((part >> 11) as u8);
                if key {
                    // Start code, then 640 × 360 (14-bit sizes, no scaling).
                    payload.extend_from_slice(&[0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
                }
            }
            let fill = len.saturating_sub(payload.len()).min(self.noise.len());
            payload.extend_from_slice(&self.noise[..fill]);
            packets.push(rtp::Packet {
                header: rtp::header::Header {
                    version: 2,
                    marker: i + 1 == count,
                    payload_type: self.payload_type,
                    sequence_number: self.seq,
                    timestamp: self.timestamp,
                    ssrc: self.ssrc,
                    ..Default::default()
                },
                payload: payload.into(),
            });
            self.seq = self.seq.wrapping_add(1);
        }
        self.timestamp = self.timestamp.wrapping_add(90_000 / FPS);
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        self.frame += 1;
        packets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp_bytes(p: &[rtp::Packet]) -> usize {
        p.iter().map(|p| RTP_HEADER + p.payload.len()).sum()
    }

    #[test]
    fn a_gop_averages_the_bitrate() {
        let mut g = Generator::new(500, 0x1234_5678, 96);
        let bytes: usize = (0..GOP).map(|_| rtp_bytes(&g.next_frame(false))).sum();
        let kbps = bytes as f64 * 8.0 / (GOP as f64 / f64::from(FPS)) / 1000.0;
        assert!((kbps - 500.0).abs() < 5.0, "{kbps} kbit/s");
    }

    #[test]
    fn frames_carry_vp8_descriptors_key_frames_and_markers() {
        let mut g = Generator::new(500, 7, 96);
        let key = g.next_frame(false);
        assert!(key.len() > 1, "a key frame spans packets");
        let first = &key[0].payload;
        assert_eq!(first[0] & 0x10, 0x10, "S on the first packet");
        assert_eq!(first[4] & 0x01, 0, "key frame");
        assert_eq!(&first[7..10], &[0x9d, 0x01, 0x2a], "start code");
        assert_eq!(key[1].payload[0] & 0x10, 0, "no S after the first");
        assert!(key.iter().all(|p| p.payload.len() <= MAX_PAYLOAD));
        assert_eq!(
            key.iter().filter(|p| p.header.marker).count(),
            1,
            "one marker"
        );
        assert!(key.last().is_some_and(|p| p.header.marker));
        let delta = g.next_frame(false);
        assert_eq!(delta[0].payload[4] & 0x01, 1, "inter frame");
        assert_eq!(
            delta[0].header.sequence_number,
            key.last()
                .map_or(0, |p| p.header.sequence_number.wrapping_add(1)),
            "sequence numbers run on"
        );
        assert_eq!(
            delta[0]
                .header
                .timestamp
                .wrapping_sub(key[0].header.timestamp),
            3000
        );
        let pid = |p: &rtp::Packet| (u16::from(p.payload[2] & 0x7f) << 8) | u16::from(p.payload[3]);
        assert_eq!(pid(&delta[0]), (pid(&key[0]) + 1) & 0x7fff);
        // Asked for: a key frame at once.
        let asked = g.next_frame(true);
        assert_eq!(asked[0].payload[4] & 0x01, 0);
    }
}
