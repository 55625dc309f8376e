//! Which simulcast layer a subscriber gets, from that subscriber's own
//! feedback: the loss its browser reports for the forwarded stream
//! (receiver reports) and, where it sends one, its bandwidth estimate
//! (REMB). Each subscriber has its own [`LayerChoice`] per video track, so
//! one slow subscriber never lowers anyone else's picture.
//!
//! Hysteresis in time, not in reports: Chromium sends a report with
//! every NACK and REMB, several a second on a lossy link (measured: ~4.5 a
//! second per subscriber on a 300 kbit/s link), each covering a short and
//! noisy stretch. So the loss is smoothed over about a second, weighted by
//! the time each report covers; down after [`DOWN_AFTER`] of bad, up only
//! after [`UP_AFTER`] of clean, and that wait doubles after an upgrade that
//! failed soon (up to [`UP_AFTER_MAX`]). The first [`START_GRACE`] of a
//! forwarder is not judged: its first reports count packets of the start
//! (sent while the leg's DTLS was still being set up) as lost.
//!
//! The estimate only ever lowers the layer. A receiver's estimate cannot
//! say that the high layer would fit while it gets the low one: Chromium's
//! rate control never lets it rise much above what arrives (about 1.5
//! times, i.e. ~200 kbit/s on the low layer, however fast the link).
//! Requiring a high estimate before going up would keep a subscriber on
//! the low layer for good after one bad moment; going up is therefore a try
//! after a clean stretch, undone by the next bad stretch. For the same
//! reason a low estimate counts only once the high layer has been forwarded
//! for [`ESTIMATE_SETTLE`], and only with some loss (≥ 2 %): the
//! estimate is delay-based, and a receiver's busy CPU delays packets too.
//! It climbs about 8 % a second
//! (measured: 143 → 199 kbit/s in 4 s), so from the low layer's rate to the
//! high layer's takes ten seconds or more, at the start of a stream as
//! after a try.

use std::time::{Duration, Instant};

/// A simulcast layer: the low one is the browser's `rid` "l" (a quarter
/// of the resolution), the high one "h". A stream without simulcast is
/// forwarded as the high layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    Low = 0,
    High = 1,
}

impl Layer {
    /// The layer of a `rid` (`None`: no simulcast).
    pub fn of_rid(rid: Option<&str>) -> Self {
        match rid {
            Some("l" | "q") => Self::Low,
            _ => Self::High,
        }
    }

    /// Its name on `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::High => "high",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn other(self) -> Self {
        match self {
            Self::Low => Self::High,
            Self::High => Self::Low,
        }
    }
}

/// What a subscriber's browser said in one RTCP report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Feedback {
    /// Fraction of the stream's packets lost since the last report (0‥1).
    pub loss: Option<f64>,
    /// The subscriber's estimate of what it can receive, per video track,
    /// kbit/s.
    pub estimate_kbps: Option<f64>,
    /// What was forwarded to it on this track since its last report, kbit/s.
    pub sending_kbps: Option<f64>,
}

/// Loss at which the high layer is too much for the subscriber.
const DOWN_LOSS: f64 = 0.08;
/// Loss under which the high layer may be tried again.
const UP_LOSS: f64 = 0.02;
/// An estimate under this does not carry the high layer (the browser caps
/// it at 500 kbit/s; with headroom for audio)...
const DOWN_KBPS: f64 = 350.0;
/// ... unless the high layer is sent slower than that (a still picture):
/// an estimate still under this share of what is sent is short of it.
/// (Chromium's estimate sits near 1.5 times what arrives on a link with
/// room to spare, and falls to ~0.85 times what gets through once the
/// link is full.)
const DOWN_SHARE: f64 = 0.7;
/// The time constant of the smoothed loss.
const SMOOTHING: Duration = Duration::from_secs(1);
/// A forwarder's first reports are not judged for this long.
pub const START_GRACE: Duration = Duration::from_secs(3);
/// On the high layer this long before its estimate counts.
pub const ESTIMATE_SETTLE: Duration = Duration::from_secs(15);
/// Bad this long before going down.
pub const DOWN_AFTER: Duration = Duration::from_secs(1);
/// Clean this long before going up, at first.
pub const UP_AFTER: Duration = Duration::from_secs(10);
/// The longest wait before going up.
pub const UP_AFTER_MAX: Duration = Duration::from_secs(80);

/// One subscriber's layer of one track.
#[derive(Debug, Clone)]
pub struct LayerChoice {
    layer: Layer,
    started: Instant,
    /// The loss, smoothed over about [`SMOOTHING`].
    loss: f64,
    /// The last report with a loss figure.
    last: Option<Instant>,
    bad_since: Option<Instant>,
    good_since: Option<Instant>,
    up_after: Duration,
    /// The last upgrade.
    up_at: Option<Instant>,
    /// When the high layer was chosen (or the start).
    high_since: Instant,
}

impl LayerChoice {
    /// A forwarder that starts at `now`, on the high layer.
    pub fn new(now: Instant) -> Self {
        Self {
            layer: Layer::High,
            started: now,
            loss: 0.0,
            last: None,
            bad_since: None,
            good_since: None,
            up_after: UP_AFTER,
            up_at: None,
            high_since: now,
        }
    }

    #[cfg(test)]
    pub fn layer(&self) -> Layer {
        self.layer
    }

    /// Take in a report that came at `now`; the layer to forward afterwards.
    pub fn report(&mut self, f: Feedback, now: Instant) -> Layer {
        if now.saturating_duration_since(self.started) < START_GRACE {
            return self.layer;
        }
        if let Some(l) = f.loss {
            // Each report weighs by the time it covers.
            let covers = self
                .last
                .map_or(SMOOTHING, |t| now.saturating_duration_since(t));
            self.last = Some(now);
            let weight = 1.0 - (-covers.as_secs_f64() / SMOOTHING.as_secs_f64()).exp();
            self.loss += (l.clamp(0.0, 1.0) - self.loss) * weight;
        } else if f.estimate_kbps.is_none() {
            return self.layer;
        }
        let short_of = f
            .sending_kbps
            .map_or(DOWN_KBPS, |s| (s * DOWN_SHARE).min(DOWN_KBPS));
        // A low estimate counts only with some loss: a receiver busy
        // decoding delays packets enough for Chromium's delay-based
        // estimate to fall (measured: 170 kbit/s while 350 arrived without
        // loss, on a loaded machine).
        let low_estimate = now.saturating_duration_since(self.high_since) >= ESTIMATE_SETTLE
            && self.loss >= UP_LOSS
            && f.estimate_kbps.is_some_and(|e| e < short_of);
        let bad = self.loss >= DOWN_LOSS || low_estimate;
        // Not the estimate: see the module documentation.
        let good = f.loss.is_some() && self.loss < UP_LOSS;
        match self.layer {
            Layer::High if bad => {
                let since = *self.bad_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= DOWN_AFTER {
                    if self
                        .up_at
                        .is_some_and(|t| now.saturating_duration_since(t) <= self.up_after * 2)
                    {
                        self.up_after = (self.up_after * 2).min(UP_AFTER_MAX);
                    }
                    self.up_at = None;
                    self.bad_since = None;
                    self.good_since = None;
                    self.layer = Layer::Low;
                }
            }
            Layer::High => self.bad_since = None,
            Layer::Low if good => {
                let since = *self.good_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= self.up_after {
                    self.good_since = None;
                    self.up_at = Some(now);
                    self.high_since = now;
                    self.layer = Layer::High;
                }
            }
            Layer::Low => self.good_since = None,
        }
        self.layer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(l: f64) -> Feedback {
        Feedback {
            loss: Some(l),
            ..Feedback::default()
        }
    }

    /// A choice started long enough ago to be judged, and a clock.
    struct Run {
        c: LayerChoice,
        now: Instant,
    }

    impl Run {
        fn new() -> Self {
            let t0 = Instant::now();
            Self {
                c: LayerChoice::new(t0),
                now: t0 + START_GRACE,
            }
        }

        /// `f` reported every `every` for `for_` (at least once); the last
        /// layer.
        fn during(&mut self, f: Feedback, every: Duration, for_: Duration) -> Layer {
            let end = self.now + for_;
            loop {
                self.now += every;
                let layer = self.c.report(f, self.now);
                if self.now >= end {
                    return layer;
                }
            }
        }

        fn once(&mut self, f: Feedback) -> Layer {
            self.during(f, Duration::from_secs(1), Duration::ZERO)
        }
    }

    const SECOND: Duration = Duration::from_secs(1);
    const FIFTH: Duration = Duration::from_millis(200);

    #[test]
    fn rids_map_to_layers() {
        assert_eq!(Layer::of_rid(Some("l")), Layer::Low);
        assert_eq!(Layer::of_rid(Some("h")), Layer::High);
        assert_eq!(Layer::of_rid(None), Layer::High);
        assert_eq!(Layer::Low.other(), Layer::High);
    }

    #[test]
    fn the_start_is_not_judged() {
        let t0 = Instant::now();
        let mut c = LayerChoice::new(t0);
        for ms in (200..3000).step_by(200) {
            assert_eq!(
                c.report(loss(0.4), t0 + Duration::from_millis(ms)),
                Layer::High
            );
        }
    }

    #[test]
    fn goes_down_after_a_bad_second_and_not_for_a_blip() {
        let mut r = Run::new();
        assert_eq!(r.during(loss(0.0), SECOND, 5 * SECOND), Layer::High);
        // One lossy report covering a fifth of a second is noise.
        assert_eq!(r.during(loss(0.0), FIFTH, SECOND), Layer::High);
        assert_eq!(r.during(loss(0.3), FIFTH, Duration::ZERO), Layer::High);
        assert_eq!(r.during(loss(0.0), FIFTH, 3 * SECOND), Layer::High);
        // Reports alternating 40 % and nothing (a full link, reported
        // often): down within about two seconds.
        let mut down_after = None;
        for i in 0..20 {
            let l = if i % 2 == 0 { 0.4 } else { 0.0 };
            if r.during(loss(l), FIFTH, Duration::ZERO) == Layer::Low {
                down_after = Some(i);
                break;
            }
        }
        let n = down_after.expect("went down");
        assert!((5..=12).contains(&n), "after {n} reports");
        // Reports without figures change nothing.
        assert_eq!(r.once(Feedback::default()), Layer::Low);
    }

    #[test]
    fn goes_up_only_after_a_clean_stretch_and_waits_longer_after_a_failure() {
        let mut r = Run::new();
        assert_eq!(r.during(loss(0.3), SECOND, 2 * SECOND), Layer::Low);
        // The smoothed loss falls under 2 % after a few clean seconds; then
        // ten more are needed.
        assert_eq!(r.during(loss(0.0), SECOND, 9 * SECOND), Layer::Low);
        // Loss in between starts the count again.
        assert_eq!(r.during(loss(0.1), SECOND, SECOND), Layer::Low);
        assert_eq!(r.during(loss(0.0), SECOND, 10 * SECOND), Layer::Low);
        assert_eq!(r.during(loss(0.0), SECOND, 3 * SECOND), Layer::High);
        // It fails at once: down, and the next wait is twice as long.
        assert_eq!(r.during(loss(0.3), SECOND, 2 * SECOND), Layer::Low);
        assert_eq!(r.during(loss(0.0), SECOND, 20 * SECOND), Layer::Low);
        assert_eq!(r.during(loss(0.0), SECOND, 6 * SECOND), Layer::High);
    }

    #[test]
    fn an_estimate_lowers_the_layer_once_settled_but_never_holds_it_down() {
        let mut r = Run::new();
        let congested = Feedback {
            loss: Some(0.03),
            estimate_kbps: Some(240.0),
            sending_kbps: Some(480.0),
        };
        let capped = Feedback {
            loss: Some(0.0),
            ..congested
        };
        // Climbing at first: it lowers nothing.
        assert_eq!(r.during(congested, SECOND, 10 * SECOND), Layer::High);
        assert_eq!(r.during(congested, SECOND, 5 * SECOND), Layer::Low);
        // On the low layer the estimate follows what arrives: a clean
        // stretch still tries the high layer.
        assert_eq!(r.during(capped, SECOND, UP_AFTER + 3 * SECOND), Layer::High);
        // Without any loss a low estimate is not trusted.
        let mut r = Run::new();
        assert_eq!(r.during(capped, SECOND, 60 * SECOND), Layer::High);
        // A high layer sent slowly (a still picture) is judged against
        // what is sent: 300 kbit/s carries 200 kbit/s.
        let mut r = Run::new();
        let still = Feedback {
            loss: Some(0.03),
            estimate_kbps: Some(300.0),
            sending_kbps: Some(200.0),
        };
        assert_eq!(r.during(still, SECOND, 60 * SECOND), Layer::High);
        // Reports with an estimate and no loss figure are no clean stretch.
        let mut r = Run::new();
        assert_eq!(r.during(loss(0.5), SECOND, 2 * SECOND), Layer::Low);
        let estimate_only = Feedback {
            loss: None,
            estimate_kbps: Some(2000.0),
            sending_kbps: None,
        };
        assert_eq!(r.during(estimate_only, SECOND, 60 * SECOND), Layer::Low);
    }

    #[test]
    fn each_subscriber_chooses_alone() {
        let mut slow = Run::new();
        let mut fast = Run::new();
        slow.during(loss(0.25), SECOND, 5 * SECOND);
        fast.during(loss(0.0), SECOND, 5 * SECOND);
        assert_eq!(slow.c.layer(), Layer::Low);
        assert_eq!(fast.c.layer(), Layer::High);
    }
}
