//! Which simulcast layer a subscriber gets, from that subscriber's own
//! feedback: the loss its browser reports for the forwarded stream
//! (receiver reports) and, where it sends one, its bandwidth estimate
//! (REMB). Each subscriber has its own [`LayerChoice`] per video track, so
//! one slow subscriber never lowers anyone else's picture.
//!
//! Hysteresis as in the browser's mode choice: down after two bad reports
//! in a row, up only after a long clean stretch, and that stretch doubles
//! after an upgrade that failed soon (up to [`UP_AFTER_MAX`]).

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
}

/// Loss at which the high layer is too much for the subscriber.
const DOWN_LOSS: f64 = 0.08;
/// Loss under which the high layer may be tried again.
const UP_LOSS: f64 = 0.02;
/// An estimate under this does not carry the high layer (the browser caps
/// it at 500 kbit/s; with headroom for audio).
const DOWN_KBPS: f64 = 350.0;
/// An estimate at least this carries it.
const UP_KBPS: f64 = 550.0;
/// Bad reports in a row before going down.
const DOWN_AFTER: u32 = 2;
/// Good reports in a row before going up, at first (browsers report
/// about once a second).
pub const UP_AFTER: u32 = 10;
/// The longest wait before going up.
pub const UP_AFTER_MAX: u32 = 80;

/// One subscriber's layer of one track.
#[derive(Debug, Clone)]
pub struct LayerChoice {
    layer: Layer,
    bad: u32,
    good: u32,
    up_after: u32,
    /// Reports since the last upgrade.
    since_up: Option<u32>,
}

impl Default for LayerChoice {
    fn default() -> Self {
        Self {
            layer: Layer::High,
            bad: 0,
            good: 0,
            up_after: UP_AFTER,
            since_up: None,
        }
    }
}

impl LayerChoice {
    #[cfg(test)]
    pub fn layer(&self) -> Layer {
        self.layer
    }

    /// Take a report in; the layer to forward afterwards.
    pub fn report(&mut self, f: Feedback) -> Layer {
        if f.loss.is_none() && f.estimate_kbps.is_none() {
            return self.layer;
        }
        if let Some(n) = self.since_up.as_mut() {
            *n = n.saturating_add(1);
        }
        let bad = f.loss.is_some_and(|l| l >= DOWN_LOSS)
            || f.estimate_kbps.is_some_and(|e| e < DOWN_KBPS);
        let good =
            f.loss.is_none_or(|l| l < UP_LOSS) && f.estimate_kbps.is_none_or(|e| e >= UP_KBPS);
        match self.layer {
            Layer::High if bad => {
                self.bad += 1;
                if self.bad >= DOWN_AFTER {
                    self.bad = 0;
                    self.good = 0;
                    if self.since_up.is_some_and(|n| n <= self.up_after * 2) {
                        self.up_after = (self.up_after * 2).min(UP_AFTER_MAX);
                    }
                    self.since_up = None;
                    self.layer = Layer::Low;
                }
            }
            Layer::High => self.bad = 0,
            Layer::Low if good => {
                self.good += 1;
                if self.good >= self.up_after {
                    self.good = 0;
                    self.since_up = Some(0);
                    self.layer = Layer::High;
                }
            }
            Layer::Low => self.good = 0,
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
            estimate_kbps: None,
        }
    }

    #[test]
    fn rids_map_to_layers() {
        assert_eq!(Layer::of_rid(Some("l")), Layer::Low);
        assert_eq!(Layer::of_rid(Some("h")), Layer::High);
        assert_eq!(Layer::of_rid(None), Layer::High);
        assert_eq!(Layer::Low.other(), Layer::High);
    }

    #[test]
    fn starts_high_and_goes_down_after_two_bad_reports() {
        let mut c = LayerChoice::default();
        assert_eq!(c.layer(), Layer::High);
        assert_eq!(c.report(loss(0.0)), Layer::High);
        assert_eq!(c.report(loss(0.2)), Layer::High, "one bad report is noise");
        assert_eq!(c.report(loss(0.0)), Layer::High);
        assert_eq!(c.report(loss(0.2)), Layer::High);
        assert_eq!(c.report(loss(0.2)), Layer::Low);
        // A low estimate alone is enough too.
        let mut c = LayerChoice::default();
        let low = Feedback {
            loss: Some(0.0),
            estimate_kbps: Some(200.0),
        };
        c.report(low);
        assert_eq!(c.report(low), Layer::Low);
        // Reports without figures change nothing.
        assert_eq!(c.report(Feedback::default()), Layer::Low);
    }

    #[test]
    fn goes_up_only_after_a_clean_stretch_and_waits_longer_after_a_failure() {
        let mut c = LayerChoice::default();
        c.report(loss(0.3));
        c.report(loss(0.3));
        assert_eq!(c.layer(), Layer::Low);
        for _ in 0..UP_AFTER - 1 {
            assert_eq!(c.report(loss(0.0)), Layer::Low);
        }
        // Loss in between starts the count again.
        assert_eq!(c.report(loss(0.05)), Layer::Low);
        for _ in 0..UP_AFTER - 1 {
            assert_eq!(c.report(loss(0.0)), Layer::Low);
        }
        assert_eq!(c.report(loss(0.0)), Layer::High);
        // It fails at once: down, and the next wait is twice as long.
        c.report(loss(0.3));
        assert_eq!(c.report(loss(0.3)), Layer::Low);
        for _ in 0..UP_AFTER * 2 - 1 {
            assert_eq!(c.report(loss(0.0)), Layer::Low);
        }
        assert_eq!(c.report(loss(0.0)), Layer::High);
        // A good estimate is needed when there is one.
        let mut c = LayerChoice::default();
        c.report(loss(0.3));
        c.report(loss(0.3));
        let tight = Feedback {
            loss: Some(0.0),
            estimate_kbps: Some(400.0),
        };
        for _ in 0..100 {
            assert_eq!(c.report(tight), Layer::Low);
        }
    }

    #[test]
    fn each_subscriber_chooses_alone() {
        let mut slow = LayerChoice::default();
        let mut fast = LayerChoice::default();
        for _ in 0..5 {
            slow.report(loss(0.25));
            fast.report(loss(0.0));
        }
        assert_eq!(slow.layer(), Layer::Low);
        assert_eq!(fast.layer(), Layer::High);
    }
}
