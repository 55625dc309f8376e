//! A media link's health and the mode it can carry, from the browser's
//! `getStats` once a second.
//!
//! - [`LinkMeter`] smooths the raw samples (loss and round-trip time as
//!   moving averages, so one unlucky second is not a verdict) and grades
//!   them: a [`LinkQuality`] for tiles and the best [`MediaMode`] the link
//!   carries.
//! - [`ModeController`] turns those grades into the mode the connection
//!   runs in, with hysteresis: down one step after a few bad seconds in a
//!   row, up one step only after a much longer good stretch, and that
//!   stretch doubles each time an upgrade fails soon after (so a link on
//!   the edge does not flap). The person can pin a mode; a pin holds until
//!   the person changes it.
//!
//! No clock here: one call per sample, the app calls once a second.

use jiliang_protocol::rooms::{LinkQuality, MediaMode};

/// One second of the browser's statistics, as the app reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkSample {
    /// Packets lost over packets expected during the second, all RTP
    /// streams both ways (0‥1); `None` when no media flowed.
    pub loss: Option<f64>,
    /// The selected candidate pair's current round-trip time, ms.
    pub rtt_ms: Option<f64>,
    /// The browser's estimate of what it may send
    /// (`availableOutgoingBitrate`), kbit/s.
    pub available_kbps: Option<f64>,
}

/// Weight of a new sample in the moving averages.
const ALPHA: f64 = 0.3;
/// How much of an old loss figure fades per second without packets.
const FADE: f64 = 0.1;

/// The grades, by threshold. Video needs little loss (a lost packet costs
/// a frame, and a keyframe after a burst), a round trip NACKs can still
/// repair and room for the low layer plus audio; audio survives far more.
const VIDEO_MAX_LOSS: f64 = 0.03;
const VIDEO_MAX_RTT_MS: f64 = 500.0;
const VIDEO_MIN_KBPS: f64 = 150.0;
const AUDIO_MAX_LOSS: f64 = 0.20;
const AUDIO_MAX_RTT_MS: f64 = 1500.0;
const AUDIO_MIN_KBPS: f64 = 40.0;
const GOOD_MAX_LOSS: f64 = 0.01;
const GOOD_MAX_RTT_MS: f64 = 250.0;
const GOOD_MIN_KBPS: f64 = 500.0;

/// Smoothed link statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkMeter {
    loss: Option<f64>,
    rtt_ms: Option<f64>,
    available_kbps: Option<f64>,
}

fn blend(old: Option<f64>, new: Option<f64>) -> Option<f64> {
    match (old, new) {
        (Some(o), Some(n)) => Some(o + ALPHA * (n - o)),
        (None, n) => n,
        (o, None) => o,
    }
}

impl LinkMeter {
    /// Take a sample in. A second without packets says nothing about
    /// loss: the last figure fades slowly instead (in data-only mode nothing
    /// flows, and a loss measured before must not pin the link there
    /// forever; the next step up measures again).
    pub fn add(&mut self, s: LinkSample) {
        self.loss = match s.loss {
            Some(l) => blend(self.loss, Some(l.clamp(0.0, 1.0))),
            None => self.loss.map(|l| l * (1.0 - FADE)),
        };
        self.rtt_ms = blend(self.rtt_ms, s.rtt_ms.filter(|r| *r >= 0.0));
        // The estimate is already smoothed by the browser: the latest wins.
        if let Some(a) = s.available_kbps.filter(|a| *a >= 0.0) {
            self.available_kbps = Some(a);
        }
    }

    /// Whether anything was measured yet.
    pub fn is_empty(&self) -> bool {
        self.loss.is_none() && self.rtt_ms.is_none() && self.available_kbps.is_none()
    }

    /// The smoothed loss (0‥1), if any media flowed.
    pub fn loss(&self) -> Option<f64> {
        self.loss
    }

    fn within(&self, max_loss: f64, max_rtt: f64, min_kbps: f64) -> bool {
        self.loss.is_none_or(|l| l < max_loss)
            && self.rtt_ms.is_none_or(|r| r < max_rtt)
            && self.available_kbps.is_none_or(|a| a >= min_kbps)
    }

    /// The best mode the link carries now.
    pub fn carries(&self) -> MediaMode {
        if self.within(VIDEO_MAX_LOSS, VIDEO_MAX_RTT_MS, VIDEO_MIN_KBPS) {
            MediaMode::Video
        } else if self.within(AUDIO_MAX_LOSS, AUDIO_MAX_RTT_MS, AUDIO_MIN_KBPS) {
            MediaMode::Audio
        } else {
            MediaMode::Data
        }
    }

    /// The grade a tile shows: good with room to spare, fair while video
    /// still fits, poor below that.
    pub fn quality(&self) -> LinkQuality {
        if self.within(GOOD_MAX_LOSS, GOOD_MAX_RTT_MS, GOOD_MIN_KBPS) {
            LinkQuality::Good
        } else if self.carries() == MediaMode::Video {
            LinkQuality::Fair
        } else {
            LinkQuality::Poor
        }
    }
}

/// Bad samples in a row before the mode steps down.
pub const DEGRADE_AFTER: u32 = 3;
/// Good samples in a row before the mode steps up, at first.
pub const UPGRADE_AFTER: u32 = 15;
/// The longest wait before an upgrade (after failed ones).
pub const UPGRADE_AFTER_MAX: u32 = 120;

/// The mode a connection runs in.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeController {
    meter: LinkMeter,
    auto: MediaMode,
    pinned: Option<MediaMode>,
    bad: u32,
    good: u32,
    upgrade_after: u32,
    /// Samples since the last automatic upgrade (`None`: none yet).
    since_upgrade: Option<u32>,
}

impl Default for ModeController {
    fn default() -> Self {
        Self {
            meter: LinkMeter::default(),
            auto: MediaMode::Video,
            pinned: None,
            bad: 0,
            good: 0,
            upgrade_after: UPGRADE_AFTER,
            since_upgrade: None,
        }
    }
}

impl ModeController {
    /// The mode to run in: the pinned one, else the automatic one.
    pub fn mode(&self) -> MediaMode {
        self.pinned.unwrap_or(self.auto)
    }

    /// What the automatic choice would be.
    pub fn auto_mode(&self) -> MediaMode {
        self.auto
    }

    /// The mode the person chose (`None`: automatic).
    pub fn pinned(&self) -> Option<MediaMode> {
        self.pinned
    }

    /// Pin a mode, or (`None`) go back to the automatic choice.
    pub fn pin(&mut self, mode: Option<MediaMode>) {
        self.pinned = mode;
    }

    /// The smoothed statistics.
    pub fn meter(&self) -> &LinkMeter {
        &self.meter
    }

    /// How long (samples) a good stretch must last now before an upgrade.
    pub fn upgrade_after(&self) -> u32 {
        self.upgrade_after
    }

    /// Take one sample in; the mode to run in afterwards.
    pub fn sample(&mut self, s: LinkSample) -> MediaMode {
        if s == LinkSample::default() {
            return self.mode();
        }
        self.meter.add(s);
        if let Some(n) = self.since_upgrade.as_mut() {
            *n = n.saturating_add(1);
        }
        let carries = self.meter.carries();
        if carries < self.auto {
            self.good = 0;
            self.bad += 1;
            if self.bad >= DEGRADE_AFTER {
                self.bad = 0;
                // An upgrade that failed soon: wait twice as long next time.
                if self
                    .since_upgrade
                    .is_some_and(|n| n <= self.upgrade_after * 2)
                {
                    self.upgrade_after = (self.upgrade_after * 2).min(UPGRADE_AFTER_MAX);
                }
                self.since_upgrade = None;
                self.auto = self.auto.lower();
            }
        } else if carries > self.auto {
            self.bad = 0;
            self.good += 1;
            if self.good >= self.upgrade_after {
                self.good = 0;
                self.auto = self.auto.higher();
                self.since_upgrade = Some(0);
            }
        } else {
            self.bad = 0;
            self.good = 0;
            // A long stable stretch forgives earlier failed upgrades.
            if self
                .since_upgrade
                .is_some_and(|n| n > UPGRADE_AFTER_MAX * 2)
            {
                self.upgrade_after = UPGRADE_AFTER;
            }
        }
        self.mode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean() -> LinkSample {
        LinkSample {
            loss: Some(0.0),
            rtt_ms: Some(2.0),
            available_kbps: Some(2_000.0),
        }
    }

    fn lossy(loss: f64) -> LinkSample {
        LinkSample {
            loss: Some(loss),
            rtt_ms: Some(150.0),
            available_kbps: Some(280.0),
        }
    }

    #[test]
    fn grades_follow_the_thresholds() {
        let mut m = LinkMeter::default();
        assert!(m.is_empty());
        assert_eq!(m.carries(), MediaMode::Video, "nothing known: no verdict");
        m.add(clean());
        assert_eq!(
            (m.carries(), m.quality()),
            (MediaMode::Video, LinkQuality::Good)
        );
        let mut m = LinkMeter::default();
        m.add(lossy(0.02));
        assert_eq!(
            (m.carries(), m.quality()),
            (MediaMode::Video, LinkQuality::Fair)
        );
        let mut m = LinkMeter::default();
        m.add(lossy(0.05));
        assert_eq!(
            (m.carries(), m.quality()),
            (MediaMode::Audio, LinkQuality::Poor)
        );
        let mut m = LinkMeter::default();
        m.add(LinkSample {
            loss: Some(0.0),
            rtt_ms: Some(2_000.0),
            available_kbps: None,
        });
        assert_eq!(m.carries(), MediaMode::Data);
        let mut m = LinkMeter::default();
        m.add(LinkSample {
            available_kbps: Some(100.0),
            ..clean()
        });
        assert_eq!(m.carries(), MediaMode::Audio, "too little room for video");
    }

    #[test]
    fn one_bad_second_is_smoothed_away() {
        let mut m = LinkMeter::default();
        for _ in 0..10 {
            m.add(clean());
        }
        m.add(lossy(0.08));
        assert_eq!(m.carries(), MediaMode::Video);
        assert!(m.loss().is_some_and(|l| l > 0.02 && l < 0.03));
        // A second without media keeps most of the loss known so far.
        m.add(LinkSample {
            loss: None,
            ..clean()
        });
        assert!(m.loss().is_some_and(|l| l > 0.02));
    }

    #[test]
    fn degrades_after_a_few_bad_seconds_one_step_at_a_time() {
        let mut c = ModeController::default();
        for _ in 0..5 {
            assert_eq!(c.sample(clean()), MediaMode::Video);
        }
        // 5 % loss: the average crosses 3 % on the 3rd sample, then three
        // bad samples in a row are needed.
        let modes: Vec<MediaMode> = (0..8).map(|_| c.sample(lossy(0.05))).collect();
        let first_audio = modes.iter().position(|m| *m == MediaMode::Audio);
        assert!(
            first_audio.is_some_and(|i| (3..=6).contains(&i)),
            "{modes:?}"
        );
        // The link carries audio: it stays there.
        for _ in 0..60 {
            assert_eq!(c.sample(lossy(0.05)), MediaMode::Audio);
        }
        // Much worse: data only.
        let mut last = MediaMode::Audio;
        for _ in 0..20 {
            last = c.sample(lossy(0.5));
        }
        assert_eq!(last, MediaMode::Data);
        // Data only: nothing flows, so no loss is measured; with a sane
        // round trip the link is tried with audio again, later.
        let quiet = LinkSample {
            loss: None,
            rtt_ms: Some(150.0),
            available_kbps: None,
        };
        let mut n = 0;
        while c.sample(quiet) == MediaMode::Data {
            n += 1;
            assert!(n < 120, "stuck in data only");
        }
        assert!(n >= UPGRADE_AFTER as usize, "tried again after {n}");
        assert_eq!(c.mode(), MediaMode::Audio);
    }

    #[test]
    fn upgrades_only_after_a_long_good_stretch_and_backs_off_when_it_fails() {
        let mut c = ModeController::default();
        while c.sample(lossy(0.1)) != MediaMode::Audio {}
        // Short good stretches never upgrade.
        for _ in 0..3 {
            for _ in 0..10 {
                assert_eq!(c.sample(clean()), MediaMode::Audio);
            }
            for _ in 0..3 {
                c.sample(lossy(0.1));
            }
        }
        let mut n = 0;
        while c.sample(clean()) != MediaMode::Video {
            n += 1;
            assert!(n < 200, "never upgraded");
        }
        assert!(n + 1 >= UPGRADE_AFTER as usize, "upgraded after {n}");
        // The upgrade fails at once: back down, and the next wait is longer.
        while c.sample(lossy(0.1)) != MediaMode::Audio {}
        assert_eq!(c.upgrade_after(), UPGRADE_AFTER * 2);
        let mut n = 0;
        while c.sample(clean()) != MediaMode::Video {
            n += 1;
        }
        assert!(n + 1 >= (UPGRADE_AFTER * 2) as usize, "upgraded after {n}");
    }

    #[test]
    fn a_pinned_mode_sticks_until_changed() {
        let mut c = ModeController::default();
        c.pin(Some(MediaMode::Data));
        for _ in 0..50 {
            assert_eq!(c.sample(clean()), MediaMode::Data);
        }
        assert_eq!(c.auto_mode(), MediaMode::Video);
        c.pin(Some(MediaMode::Video));
        for _ in 0..50 {
            assert_eq!(c.sample(lossy(0.3)), MediaMode::Video, "pinned wins");
        }
        assert_eq!(
            c.auto_mode(),
            MediaMode::Data,
            "the automatic choice went on"
        );
        c.pin(None);
        assert_eq!(c.mode(), MediaMode::Data);
        // Empty samples (no peer connection yet) change nothing.
        assert_eq!(c.sample(LinkSample::default()), MediaMode::Data);
    }
}
