//! Opus out of RTP (RFC 7587: one Opus packet per RTP payload) into an Ogg
//! file (RFC 7845), the granule position following the RTP timestamps so
//! that lost packets leave gaps in time rather than shift what follows.

use std::io::{self, Write};

/// An Ogg Opus stream being written.
pub struct OggOpusWriter<W: Write> {
    w: W,
    serial: u32,
    page: u32,
    /// The last packet, held back so the stream's last page can carry the
    /// end-of-stream flag.
    pending: Option<(Vec<u8>, u64)>,
    /// Samples (at 48 kHz) written, up to the end of the pending packet.
    granule: u64,
}

const FLAG_BOS: u8 = 0x02;
const FLAG_EOS: u8 = 0x04;

impl<W: Write> OggOpusWriter<W> {
    pub fn new(w: W, channels: u8, serial: u32) -> io::Result<Self> {
        let mut s = Self {
            w,
            serial,
            page: 0,
            pending: None,
            granule: 0,
        };
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1);
        head.push(channels);
        // No pre-skip: the browser's encoder delay (a few ms) is kept.
        head.extend_from_slice(&0u16.to_le_bytes());
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&0u16.to_le_bytes());
        head.push(0);
        s.page(&head, FLAG_BOS, 0)?;
        let vendor = b"jiliang";
        let mut tags = Vec::new();
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor);
        tags.extend_from_slice(&0u32.to_le_bytes());
        s.page(&tags, 0, 0)?;
        Ok(s)
    }

    /// Packet `packet` ending at sample `end` (48 kHz, from the stream's
    /// start). Ends must grow.
    pub fn write_packet(&mut self, packet: &[u8], end: u64) -> io::Result<()> {
        if end <= self.granule && self.pending.is_some() {
            return Ok(());
        }
        if let Some((p, g)) = self.pending.take() {
            self.page(&p, 0, g)?;
        }
        self.granule = end;
        self.pending = Some((packet.to_vec(), end));
        Ok(())
    }

    /// Samples written so far.
    pub fn samples(&self) -> u64 {
        self.granule
    }

    pub fn finish(mut self) -> io::Result<W> {
        if let Some((p, g)) = self.pending.take() {
            self.page(&p, FLAG_EOS, g)?;
        }
        self.w.flush()?;
        Ok(self.w)
    }

    /// One page holding one packet.
    fn page(&mut self, packet: &[u8], flags: u8, granule: u64) -> io::Result<()> {
        // Lacing: 255s then the remainder (a 0 when the length is a
        // multiple of 255); a packet over 255 * 255 bytes does not fit a
        // page, and Opus packets are far smaller.
        let segments = packet.len() / 255 + 1;
        if segments > 255 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "Opus packet too large for one Ogg page",
            ));
        }
        let mut page = Vec::with_capacity(27 + segments + packet.len());
        page.extend_from_slice(b"OggS");
        page.push(0);
        page.push(flags);
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&self.serial.to_le_bytes());
        page.extend_from_slice(&self.page.to_le_bytes());
        page.extend_from_slice(&[0; 4]);
        page.push(segments as u8);
        page.extend(std::iter::repeat_n(255u8, segments - 1));
        page.push((packet.len() % 255) as u8);
        page.extend_from_slice(packet);
        let crc = crc32(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        self.w.write_all(&page)?;
        self.page += 1;
        Ok(())
    }
}

/// Ogg's CRC-32: polynomial 0x04c11db7, not reflected, initial value 0.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Samples (48 kHz) in an Opus packet, from its TOC byte (RFC 6716 §3.1).
pub fn opus_samples(p: &[u8]) -> Option<u64> {
    let toc = *p.first()?;
    let config = usize::from(toc >> 3);
    let per_frame: u64 = match config {
        0..=11 => [480, 960, 1920, 2880][config % 4],
        12..=15 => [480, 960][config % 2],
        _ => [120, 240, 480, 960][config % 4],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*p.get(1)? & 0x3f),
    };
    Some(per_frame * frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_a_valid_crc_and_the_last_one_ends_the_stream() {
        let mut w = OggOpusWriter::new(Vec::new(), 2, 7).expect("headers");
        w.write_packet(&[0xfc, 0xff, 0xfe], 960).expect("packet");
        w.write_packet(&[0xfc, 0x01], 1920).expect("packet");
        // Not later than the last: dropped.
        w.write_packet(&[0xfc, 0x02], 1920).expect("packet");
        let bytes = w.finish().expect("finish");
        let mut pages = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            assert_eq!(&bytes[at..at + 4], b"OggS");
            let n = usize::from(bytes[at + 26]);
            let body: usize = bytes[at + 27..at + 27 + n]
                .iter()
                .map(|&b| usize::from(b))
                .sum();
            let end = at + 27 + n + body;
            let mut page = bytes[at..end].to_vec();
            let stored = u32::from_le_bytes([page[22], page[23], page[24], page[25]]);
            page[22..26].copy_from_slice(&[0; 4]);
            assert_eq!(crc32(&page), stored);
            pages.push((
                bytes[at + 5],
                u64::from_le_bytes(bytes[at + 6..at + 14].try_into().expect("8")),
            ));
            at = end;
        }
        assert_eq!(
            pages,
            vec![(FLAG_BOS, 0), (0, 0), (0, 960), (FLAG_EOS, 1920)]
        );
        // The known CRC of "123456789" for this polynomial (CRC-32/MPEG-2
        // without the final inversion and initial all-ones: 0x89a1897f).
        assert_eq!(crc32(b"123456789"), 0x89a1_897f);
    }

    #[test]
    fn opus_packet_durations() {
        // CELT 20 ms, one frame.
        assert_eq!(opus_samples(&[0xf8]), Some(960));
        // SILK 20 ms, two frames.
        assert_eq!(opus_samples(&[0x09]), Some(1920));
        // Code 3: count in the next byte.
        assert_eq!(opus_samples(&[0xfb, 0x03]), Some(2880));
        assert_eq!(opus_samples(&[]), None);
    }
}
