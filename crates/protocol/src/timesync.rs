//! NTP-style clock synchronisation over a socket.
//!
//! The client stamps `t0` when it sends a ping; the server stamps `t1` when it
//! receives it and `t2` when it answers; the client stamps `t3` on receipt.
//! Offset θ = ((t1 − t0) + (t2 − t3)) / 2 and delay δ = (t3 − t0) − (t2 − t1).
//! With asymmetric paths the true offset lies within θ ± δ/2, so half the
//! round trip is a hard bound on the error, which is what we report as its
//! uncertainty. Among recent samples the one with the smallest delay is the
//! least disturbed by queueing, so it wins (as in NTP's clock filter).
//!
//! All times are milliseconds since the Unix epoch (UTC) as `f64`, which keeps
//! microsecond resolution for centuries and is what browsers produce.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Client → server.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimePing {
    /// Chosen by the client to match the answer.
    pub id: u64,
    /// Client clock at send.
    pub t0: f64,
}

/// Server → client.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimePong {
    pub id: u64,
    pub t0: f64,
    /// Server UTC at receipt.
    pub t1: f64,
    /// Server UTC at reply.
    pub t2: f64,
}

/// `GET /api/v1/time`: a plain read of the server's UTC clock. For an
/// offset estimate use the socket, which measures the round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerTime {
    /// Milliseconds since the Unix epoch, UTC.
    pub unix_ms: f64,
    /// The same instant, RFC 3339.
    pub utc: String,
    /// Where the server's time comes from, in words (e.g. the host's
    /// disciplined realtime clock).
    pub source: String,
}

/// Frames a client may send on the time socket (`/api/v1/time/ws`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimeClientFrame {
    Ping(TimePing),
}

/// Frames the server sends on the time socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimeServerFrame {
    Pong(TimePong),
    Error(crate::ErrorBody),
}

/// One completed exchange.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockSample {
    /// Server clock minus client clock, ms.
    pub offset_ms: f64,
    /// Round trip without the server's processing time, ms.
    pub delay_ms: f64,
    /// Client time at which the sample was taken.
    pub at_ms: f64,
}

impl ClockSample {
    /// `None` for impossible stamps (non-finite, or a negative round trip).
    pub fn from_exchange(pong: &TimePong, t3: f64) -> Option<Self> {
        let TimePong { t0, t1, t2, .. } = *pong;
        if ![t0, t1, t2, t3].iter().all(|t| t.is_finite()) {
            return None;
        }
        let delay = (t3 - t0) - (t2 - t1);
        if delay < 0.0 || t2 < t1 {
            return None;
        }
        Some(Self {
            offset_ms: ((t1 - t0) + (t2 - t3)) / 2.0,
            delay_ms: delay,
            at_ms: t3,
        })
    }

    /// Half the round trip: the bound on the offset error.
    pub fn uncertainty_ms(&self) -> f64 {
        self.delay_ms / 2.0
    }
}

/// Keeps the last `window` samples and estimates from the best of them.
#[derive(Debug, Clone)]
pub struct ClockEstimator {
    window: usize,
    samples: VecDeque<ClockSample>,
}

impl ClockEstimator {
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            samples: VecDeque::new(),
        }
    }

    pub fn add(&mut self, sample: ClockSample) {
        if self.samples.len() == self.window {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// The minimum-delay sample of the window.
    pub fn best(&self) -> Option<ClockSample> {
        self.samples
            .iter()
            .copied()
            .min_by(|a, b| a.delay_ms.total_cmp(&b.delay_ms))
    }

    /// Server UTC for a client clock reading, with its uncertainty (ms).
    pub fn to_server_time(&self, client_ms: f64) -> Option<(f64, f64)> {
        self.best()
            .map(|s| (client_ms + s.offset_ms, s.uncertainty_ms()))
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

impl Default for ClockEstimator {
    fn default() -> Self {
        Self::new(8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pong(t0: f64, t1: f64, t2: f64) -> TimePong {
        TimePong { id: 1, t0, t1, t2 }
    }

    #[test]
    fn frames_are_tagged_json() {
        let f: TimeClientFrame =
            serde_json::from_str(r#"{"type":"ping","id":7,"t0":1.5}"#).expect("parses");
        assert_eq!(f, TimeClientFrame::Ping(TimePing { id: 7, t0: 1.5 }));
        let out = serde_json::to_string(&TimeServerFrame::Pong(pong(1.0, 2.0, 3.0))).expect("ok");
        assert_eq!(out, r#"{"type":"pong","id":1,"t0":1.0,"t1":2.0,"t2":3.0}"#);
    }

    #[test]
    fn symmetric_path_recovers_offset_exactly() {
        // Client is 100 ms behind the server; 20 ms each way; 1 ms processing.
        let s = ClockSample::from_exchange(&pong(1000.0, 1120.0, 1121.0), 1041.0).expect("valid");
        assert!((s.offset_ms - 100.0).abs() < 1e-9);
        assert!((s.delay_ms - 40.0).abs() < 1e-9);
        assert!((s.uncertainty_ms() - 20.0).abs() < 1e-9);
    }

    #[test]
    fn impossible_stamps_are_rejected() {
        assert!(ClockSample::from_exchange(&pong(1000.0, 1100.0, 1090.0), 1050.0).is_none());
        assert!(ClockSample::from_exchange(&pong(1000.0, 1000.0, 1000.0), 990.0).is_none());
        assert!(ClockSample::from_exchange(&pong(f64::NAN, 1.0, 1.0), 2.0).is_none());
    }

    #[test]
    fn minimum_delay_sample_wins_and_window_slides() {
        let mut est = ClockEstimator::new(3);
        for (delay, offset) in [(50.0, 7.0), (10.0, 3.0), (80.0, 9.0)] {
            est.add(ClockSample {
                offset_ms: offset,
                delay_ms: delay,
                at_ms: 0.0,
            });
        }
        assert_eq!(est.best().map(|s| s.offset_ms), Some(3.0));
        est.add(ClockSample {
            offset_ms: 5.0,
            delay_ms: 60.0,
            at_ms: 0.0,
        });
        est.add(ClockSample {
            offset_ms: 6.0,
            delay_ms: 70.0,
            at_ms: 0.0,
        });
        // The 10 ms sample has slid out of the 3-sample window.
        assert_eq!(est.len(), 3);
        assert_eq!(est.best().map(|s| s.offset_ms), Some(5.0));
        let (t, u) = est.to_server_time(1000.0).expect("has samples");
        assert_eq!((t, u), (1005.0, 30.0));
    }
}
