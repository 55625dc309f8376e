//! Small shared pieces: CRC-32 for queue records, exponential backoff with
//! jitter, wall-clock conversions, text clipping for messages.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320), the checksum of zip and
/// PNG: it catches every torn or bit-flipped queue record of our size.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// A cheap generator for jitter (not for anything secret): xorshift64*,
/// seeded from the clock and the process id.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Self((nanos ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

/// Exponential backoff: `base`, 2·`base`, 4·`base`, … up to `max`, each
/// delay drawn uniformly from its upper half so that many agents cut off
/// together do not come back in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    jitter: Jitter,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            attempt: 0,
            jitter: Jitter::new(),
        }
    }

    /// The next delay; each call doubles the ceiling until `max`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(0.5 + 0.5 * self.jitter.unit())
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Milliseconds since the Unix epoch of a wall-clock instant (negative
/// before 1970, which no agent clock should be, but it must not panic).
pub fn unix_ms(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

pub fn now_ms() -> f64 {
    unix_ms(SystemTime::now())
}

/// UTC time from Unix milliseconds; `None` outside the years 1970–9999.
pub fn datetime_from_ms(ms: f64) -> Option<OffsetDateTime> {
    if !ms.is_finite() || !(0.0..253_402_300_800_000.0).contains(&ms) {
        return None;
    }
    // Whole milliseconds and the fraction apart: `ms × 1e6` would round to
    // the f64 grid (256 ns at today's dates).
    let whole = ms.floor();
    let nanos = whole as i128 * 1_000_000 + ((ms - whole) * 1e6).round() as i128;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// At most `max` characters of `s`, for messages quoting what a device
/// sent; control characters are escaped so a log line stays one line.
pub fn clip(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Bytes from a device as text for a message: invalid UTF-8 shown as `\xNN`.
pub fn clip_bytes(b: &[u8], max: usize) -> String {
    let text: String = b
        .iter()
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect();
    clip(&text, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn backoff_doubles_to_its_ceiling_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<_> = (0..8).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let ceiling = Duration::from_millis(100 * (1 << i)).min(Duration::from_secs(1));
            assert!(*d >= ceiling / 2 && *d <= ceiling, "{i}: {d:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn times_convert_both_ways() {
        let t = datetime_from_ms(1_764_144_123_456.5).expect("in range");
        assert_eq!(t.unix_timestamp_nanos(), 1_764_144_123_456_500_000);
        assert!(datetime_from_ms(f64::NAN).is_none());
        assert!(datetime_from_ms(-1.0).is_none());
    }

    #[test]
    fn clipping_escapes_controls() {
        assert_eq!(clip("ab\ncd", 10), "ab\\ncd");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip_bytes(b"\xff1\r", 10), "\\xff1\\r");
    }
}
