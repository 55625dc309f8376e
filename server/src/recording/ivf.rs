//! VP8 out of RTP (RFC 7741) into an IVF file: whole frames only, from a
//! keyframe on, each with its presentation time in milliseconds.

use std::io::{self, Seek, SeekFrom, Write};

/// The IVF file header is 32 bytes; each frame has a 12-byte header.
const HEADER_LEN: u16 = 32;

/// An IVF file of VP8 frames with a millisecond time base.
pub struct IvfWriter<W: Write + Seek> {
    w: W,
    frames: u32,
    size: Option<(u16, u16)>,
}

impl<W: Write + Seek> IvfWriter<W> {
    pub fn new(mut w: W) -> io::Result<Self> {
        let mut h = Vec::with_capacity(usize::from(HEADER_LEN));
        h.extend_from_slice(b"DKIF");
        h.extend_from_slice(&0u16.to_le_bytes()); // version
        h.extend_from_slice(&HEADER_LEN.to_le_bytes());
        h.extend_from_slice(b"VP80");
        h.extend_from_slice(&0u16.to_le_bytes()); // width, set at the end
        h.extend_from_slice(&0u16.to_le_bytes()); // height
        h.extend_from_slice(&1000u32.to_le_bytes()); // time base: 1/1000 s
        h.extend_from_slice(&1u32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes()); // frame count, set at the end
        h.extend_from_slice(&0u32.to_le_bytes());
        w.write_all(&h)?;
        Ok(Self {
            w,
            frames: 0,
            size: None,
        })
    }

    /// One whole VP8 frame at `pts_ms`.
    pub fn write_frame(&mut self, pts_ms: u64, frame: &[u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "frame over 4 GiB"))?;
        if self.size.is_none() {
            self.size = keyframe_size(frame);
        }
        self.w.write_all(&len.to_le_bytes())?;
        self.w.write_all(&pts_ms.to_le_bytes())?;
        self.w.write_all(frame)?;
        self.frames += 1;
        Ok(())
    }

    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Fill in the size and frame count; the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        let (width, height) = self.size.unwrap_or((0, 0));
        self.w.seek(SeekFrom::Start(12))?;
        self.w.write_all(&width.to_le_bytes())?;
        self.w.write_all(&height.to_le_bytes())?;
        self.w.seek(SeekFrom::Start(24))?;
        self.w.write_all(&self.frames.to_le_bytes())?;
        self.w.seek(SeekFrom::End(0))?;
        self.w.flush()?;
        Ok(self.w)
    }
}

/// Width and height of a VP8 keyframe (RFC 6386 §9.1), if it is one.
fn keyframe_size(frame: &[u8]) -> Option<(u16, u16)> {
    if frame.len() < 10 || frame[0] & 0x01 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    Some((w, h))
}

/// What one RTP packet completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Vp8Out {
    Nothing,
    /// A whole frame: its RTP timestamp, bytes, whether a keyframe.
    Frame {
        timestamp: u32,
        data: Vec<u8>,
        keyframe: bool,
    },
    /// A packet was lost: frames are dropped until the next keyframe;
    /// ask the publisher for one.
    NeedKeyframe,
}

/// Reassembles VP8 frames from a stream's RTP packets, in order. A gap in
/// sequence numbers breaks the frame it falls in and every frame after it
/// until a keyframe (they would decode against a picture never written).
#[derive(Debug, Default)]
pub struct Vp8Frames {
    next_seq: Option<u16>,
    frame: Option<(u32, Vec<u8>)>,
    /// A keyframe has been written since the last loss.
    synced: bool,
}

impl Vp8Frames {
    pub fn push(&mut self, seq: u16, timestamp: u32, marker: bool, payload: &[u8]) -> Vp8Out {
        let mut lost = false;
        if let Some(next) = self.next_seq {
            // Older than expected: a duplicate or too late; either way gone.
            if (seq.wrapping_sub(next) as i16) < 0 {
                return Vp8Out::Nothing;
            }
            lost = seq != next;
        }
        self.next_seq = Some(seq.wrapping_add(1));
        if lost {
            self.frame = None;
            self.synced = false;
        }
        let Some((start, offset)) = descriptor(payload) else {
            self.frame = None;
            self.synced = false;
            return Vp8Out::NeedKeyframe;
        };
        let data = &payload[offset..];
        if start {
            self.frame = Some((timestamp, data.to_vec()));
        } else if let Some((ts, f)) = &mut self.frame {
            if *ts == timestamp {
                f.extend_from_slice(data);
            } else {
                self.frame = None;
            }
        }
        let mut out = if lost {
            Vp8Out::NeedKeyframe
        } else {
            Vp8Out::Nothing
        };
        if marker && let Some((ts, f)) = self.frame.take() {
            let keyframe = f.first().is_some_and(|b| b & 0x01 == 0);
            if keyframe {
                self.synced = true;
            }
            if self.synced && !f.is_empty() {
                out = Vp8Out::Frame {
                    timestamp: ts,
                    data: f,
                    keyframe,
                };
            }
        }
        out
    }

    /// Whether frames are being written (a keyframe came since the last
    /// loss).
    pub fn synced(&self) -> bool {
        self.synced
    }
}

/// Whether a VP8 payload starts a frame (S bit, partition 0), and where
/// the VP8 data starts after the payload descriptor.
fn descriptor(p: &[u8]) -> Option<(bool, usize)> {
    let first = *p.first()?;
    let start = first & 0x10 != 0 && first & 0x07 == 0;
    let mut at = 1;
    if first & 0x80 != 0 {
        let x = *p.get(at)?;
        at += 1;
        if x & 0x80 != 0 {
            at += if *p.get(at)? & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1;
        }
        if x & 0x30 != 0 {
            at += 1;
        }
    }
    (at < p.len()).then_some((start, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_reassembled_and_a_loss_waits_for_a_keyframe() {
        let mut f = Vp8Frames::default();
        // An inter frame before any keyframe: nothing.
        assert_eq!(f.push(1, 100, true, &[0x10, 0x01, 0xaa]), Vp8Out::Nothing);
        // A keyframe in two packets (extended descriptor, 15-bit picture id).
        assert_eq!(
            f.push(2, 200, false, &[0x90, 0x80, 0x80, 0x01, 0x00, 0x01]),
            Vp8Out::Nothing
        );
        assert_eq!(
            f.push(3, 200, true, &[0x80, 0x80, 0x80, 0x01, 0x02]),
            Vp8Out::Frame {
                timestamp: 200,
                data: vec![0x00, 0x01, 0x02],
                keyframe: true
            }
        );
        assert_eq!(
            f.push(4, 300, true, &[0x10, 0x01, 0xbb]),
            Vp8Out::Frame {
                timestamp: 300,
                data: vec![0x01, 0xbb],
                keyframe: false
            }
        );
        // A duplicate is ignored.
        assert_eq!(f.push(4, 300, true, &[0x10, 0x01]), Vp8Out::Nothing);
        // Packet 5 lost: a keyframe is needed, inter frames are dropped.
        assert_eq!(f.push(6, 400, true, &[0x10, 0x01]), Vp8Out::NeedKeyframe);
        assert!(!f.synced());
        assert_eq!(f.push(7, 500, true, &[0x10, 0x01]), Vp8Out::Nothing);
        assert!(matches!(
            f.push(8, 600, true, &[0x10, 0x00, 0x07]),
            Vp8Out::Frame { keyframe: true, .. }
        ));
    }

    #[test]
    fn the_ivf_header_gets_the_size_and_count() {
        let mut w = IvfWriter::new(std::io::Cursor::new(Vec::new())).expect("header");
        let key = [0x50, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        w.write_frame(0, &key).expect("frame");
        w.write_frame(33, &[0x01, 0x02]).expect("frame");
        let bytes = w.finish().expect("finish").into_inner();
        assert_eq!(&bytes[0..4], b"DKIF");
        assert_eq!(u16::from_le_bytes([bytes[12], bytes[13]]), 640);
        assert_eq!(u16::from_le_bytes([bytes[14], bytes[15]]), 480);
        assert_eq!(
            u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]),
            2
        );
        assert_eq!(bytes.len(), 32 + 12 + 10 + 12 + 2);
        // The second frame's pts.
        let at = 32 + 12 + 10 + 4;
        assert_eq!(bytes[at], 33);
    }
}
