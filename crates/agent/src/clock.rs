//! The agent's idea of the server's clock, and the timestamp of a reading.
//!
//! A reading is stamped with the agent's wall clock at the middle of the
//! instrument exchange, corrected by the offset to the server's clock that
//! NTP-style pings over the agent socket estimate
//! ([`jiliang_protocol::timesync::ClockEstimator`]). Its uncertainty `u_t`
//! combines (root sum of squares) two half-widths:
//! - the offset's bound: half the best round trip, grown by
//!   [`ASSUMED_DRIFT`] times the age of that measurement;
//! - half the instrument exchange: the instrument sampled somewhere between
//!   sending the query and the reply.
//!
//! Before the first ping of this run, the last estimate persisted in the
//! queue directory (`clock.json`) is used, its bound grown by the drift
//! since it was measured; with no estimate at all, offset 0 with
//! [`UNSYNCED_U_MS`].
//!
//! It never steps the system clock and never panics on a clock that jumps:
//! ages are absolute differences.

use std::path::Path;

use jiliang_protocol::devices::ClockState;
use jiliang_protocol::timesync::{ClockEstimator, ClockSample};
use serde::{Deserialize, Serialize};

use crate::queue::{QueueError, read_json, write_atomic};

/// Drift assumed for the agent's clock between two measurements of the
/// offset: 100 ppm (8.6 s a day), twice the ±50 ppm tolerance of the quartz
/// in a PC's clock, to allow for temperature. An operating system that
/// keeps its own clock by NTP does much better; this bound does not assume
/// it does.
pub const ASSUMED_DRIFT: f64 = 100e-6;

/// The uncertainty of a timestamp when the offset was never measured: 60 s.
/// A PC clock left to itself is seldom more than a minute off; a larger
/// error would also take the reading outside the server's future
/// tolerance (10 s) and get it refused, so this figure is a statement, not
/// a guarantee.
pub const UNSYNCED_U_MS: f64 = 60_000.0;

/// Samples kept by the estimator (the best of them wins).
const WINDOW: usize = 8;

/// The estimate as persisted in `clock.json`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Persisted {
    pub offset_ms: f64,
    pub u_ms: f64,
    /// Agent wall clock (Unix ms) when it was measured.
    pub at_ms: f64,
}

#[derive(Debug, Clone)]
pub struct Clock {
    live: ClockEstimator,
    persisted: Option<Persisted>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Clock {
    pub fn new(persisted: Option<Persisted>) -> Self {
        Self {
            live: ClockEstimator::new(WINDOW),
            persisted: persisted
                .filter(|p| p.offset_ms.is_finite() && p.u_ms.is_finite() && p.at_ms.is_finite()),
        }
    }

    /// Load the persisted estimate of a queue directory (absent or
    /// unreadable: none, with a warning for the latter).
    pub fn load(dir: &Path) -> Self {
        match read_json::<Persisted>(&dir.join("clock.json")) {
            Ok(p) => Self::new(p),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring the persisted clock estimate");
                Self::new(None)
            }
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), QueueError> {
        let Some(p) = self.to_persist() else {
            return Ok(());
        };
        let json = serde_json::to_vec(&p).map_err(|e| QueueError::File {
            file: dir.join("clock.json"),
            source: std::io::Error::other(e),
        })?;
        write_atomic(dir, "clock.json", &json)
    }

    pub fn add(&mut self, sample: ClockSample) {
        self.live.add(sample);
    }

    pub fn has_live(&self) -> bool {
        !self.live.is_empty()
    }

    fn to_persist(&self) -> Option<Persisted> {
        self.live.best().map(|s| Persisted {
            offset_ms: s.offset_ms,
            u_ms: s.uncertainty_ms(),
            at_ms: s.at_ms,
        })
    }

    /// Offset (server − agent) and its bound, in ms, at agent time `now_ms`.
    pub fn offset(&self, now_ms: f64) -> (f64, f64) {
        if let Some(best) = self.live.best() {
            let age = (now_ms - best.at_ms).abs();
            return (best.offset_ms, best.uncertainty_ms() + ASSUMED_DRIFT * age);
        }
        if let Some(p) = self.persisted {
            let age = (now_ms - p.at_ms).abs();
            return (p.offset_ms, p.u_ms + ASSUMED_DRIFT * age);
        }
        (0.0, UNSYNCED_U_MS)
    }

    /// For the status frame: `None` until there is any estimate.
    pub fn state(&self, now_ms: f64) -> Option<ClockState> {
        if self.live.is_empty() && self.persisted.is_none() {
            return None;
        }
        let (offset_ms, u_ms) = self.offset(now_ms);
        Some(ClockState { offset_ms, u_ms })
    }

    /// Server time (Unix ms) of an exchange that started at agent time
    /// `start_ms` and took `exchange_ms`, with `u_t` in seconds.
    pub fn stamp(&self, start_ms: f64, exchange_ms: f64) -> (f64, f64) {
        let mid = start_ms + exchange_ms / 2.0;
        let (offset, u_offset) = self.offset(mid);
        let half_exchange = exchange_ms.max(0.0) / 2.0;
        let u_ms = u_offset.hypot(half_exchange);
        (mid + offset, u_ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(offset_ms: f64, delay_ms: f64, at_ms: f64) -> ClockSample {
        ClockSample {
            offset_ms,
            delay_ms,
            at_ms,
        }
    }

    #[test]
    fn unsynced_clock_is_offset_zero_with_a_large_uncertainty() {
        let c = Clock::default();
        let (t, u) = c.stamp(1_000_000.0, 4.0);
        assert_eq!(t, 1_000_002.0);
        assert!((u - UNSYNCED_U_MS.hypot(2.0) / 1000.0).abs() < 1e-12);
        assert_eq!(c.state(0.0), None);
    }

    #[test]
    fn live_estimate_corrects_and_combines_half_widths() {
        let mut c = Clock::default();
        c.add(sample(250.0, 6.0, 1_000_000.0));
        c.add(sample(240.0, 30.0, 1_000_100.0));
        // Best (least delay) sample: offset 250 ± 3 ms, measured at the
        // reading's middle → no drift term.
        let (t, u) = c.stamp(999_998.0, 4.0);
        assert_eq!(t, 1_000_250.0);
        assert!((u - (3.0f64.hypot(2.0)) / 1000.0).abs() < 1e-12);
        // An hour later the bound has grown by 100 ppm × 3600 s = 360 ms.
        let (_, u_ms) = c.offset(1_000_000.0 + 3_600_000.0);
        assert!((u_ms - 363.0).abs() < 1e-9);
    }

    #[test]
    fn persisted_estimate_serves_until_the_first_ping_and_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = Clock::default();
        c.add(sample(-12.5, 2.0, 5_000.0));
        c.save(dir.path()).expect("saves");
        let loaded = Clock::load(dir.path());
        assert!(!loaded.has_live());
        let s = loaded.state(5_000.0 + 10_000.0).expect("has an estimate");
        assert_eq!(s.offset_ms, -12.5);
        assert!((s.u_ms - (1.0 + ASSUMED_DRIFT * 10_000.0)).abs() < 1e-9);
        // An unreadable file is ignored, not fatal.
        std::fs::write(dir.path().join("clock.json"), b"{").expect("writes");
        assert_eq!(Clock::load(dir.path()).state(0.0), None);
    }
}
