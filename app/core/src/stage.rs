//! What a room's media panel shows large: who holds the floor (from the
//! audio levels the browser measures once a second), and which video tile
//! is the big one.
//!
//! - [`SpeakerDetector`] names the active speaker with hysteresis: someone
//!   else takes the floor only after being clearly louder for
//!   [`SWITCH_AFTER`] samples in a row, never sooner than [`HOLD_AT_LEAST`]
//!   samples after the last change, and a speaker who falls silent keeps
//!   the floor until someone else speaks (the big tile never goes blank or
//!   flickers between two people talking over each other).
//! - [`featured`] picks the big tile: an expert's screen share, else any
//!   screen share, else the active speaker's camera, else the tile that was
//!   big before, else the first camera. One's own previews are never big
//!   while anyone else is shown: a person does not need to watch themself
//!   speak.
//!
//! No clock here: one [`SpeakerDetector::sample`] per statistics read.

use std::collections::HashMap;

/// Below this level (RMS of the decoded audio, 0‥1, as `getStats`'
/// `totalAudioEnergy` over `totalSamplesDuration` gives it: about
/// −40 dBFS) a second is silence: a quiet lab's background after the
/// browser's noise suppression, or a muted microphone (zeros).
pub const SPEAKING_LEVEL: f64 = 0.01;
/// A challenger must be this much louder than a floor holder who still
/// speaks (two people talking at once do not swap the tile every second).
pub const LOUDER_BY: f64 = 1.5;
/// Samples in a row a challenger must lead before taking the floor.
pub const SWITCH_AFTER: u32 = 2;
/// Samples after a change before the next one may happen.
pub const HOLD_AT_LEAST: u32 = 3;

/// Who holds the floor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpeakerDetector {
    levels: HashMap<String, f64>,
    current: Option<String>,
    /// The last holder of the floor other than the person at this browser.
    other: Option<String>,
    challenger: Option<(String, u32)>,
    since_change: u32,
}

impl SpeakerDetector {
    /// The person holding the floor (maybe the person at this browser).
    pub fn speaker(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// The last person other than `me` who held the floor: whose camera a
    /// page shows large (one's own voice must not enlarge one's preview).
    pub fn featured_speaker(&self) -> Option<&str> {
        self.other.as_deref()
    }

    /// The level of `who` in the last sample (0 when not heard).
    pub fn level(&self, who: &str) -> f64 {
        self.levels.get(who).copied().unwrap_or(0.0)
    }

    /// Take one second's levels in: `(person, level)`, the person at this
    /// browser (`me`) among them when their microphone is on. Someone
    /// absent from `levels` was silent. Returns whether the floor changed.
    pub fn sample(&mut self, me: Option<&str>, levels: &[(String, f64)]) -> bool {
        self.levels = levels
            .iter()
            .filter(|(_, l)| l.is_finite())
            .map(|(k, l)| (k.clone(), l.clamp(0.0, 1.0)))
            .collect();
        self.since_change = self.since_change.saturating_add(1);
        let loudest = self
            .levels
            .iter()
            .filter(|(_, l)| **l >= SPEAKING_LEVEL)
            // Ties go to the smaller key, so the choice does not depend on
            // the map's order.
            .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(k, l)| (k.clone(), *l));
        let Some((who, level)) = loudest else {
            self.challenger = None;
            return false;
        };
        let Some(current) = self.current.clone() else {
            // The first voice takes the floor at once.
            self.take_floor(me, who);
            return true;
        };
        if who == current {
            self.challenger = None;
            return false;
        }
        let held = self.level(&current);
        if held >= SPEAKING_LEVEL && level < held * LOUDER_BY {
            self.challenger = None;
            return false;
        }
        let count = match &self.challenger {
            Some((c, n)) if *c == who => n + 1,
            _ => 1,
        };
        if count >= SWITCH_AFTER && self.since_change >= HOLD_AT_LEAST {
            self.take_floor(me, who);
            return true;
        }
        self.challenger = Some((who, count));
        false
    }

    fn take_floor(&mut self, me: Option<&str>, who: String) {
        if me != Some(who.as_str()) {
            self.other = Some(who.clone());
        }
        self.current = Some(who);
        self.challenger = None;
        self.since_change = 0;
    }

    /// Forget people who are no longer heard at all (they left or stopped
    /// their microphone).
    pub fn retain(&mut self, present: impl Fn(&str) -> bool) {
        if self.current.as_deref().is_some_and(|c| !present(c)) {
            self.current = None;
        }
        if self.other.as_deref().is_some_and(|c| !present(c)) {
            self.other = None;
        }
        if self.challenger.as_ref().is_some_and(|(c, _)| !present(c)) {
            self.challenger = None;
        }
        self.levels.retain(|k, _| present(k));
    }
}

/// A video tile that could be shown large.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The tile's key (its stream id).
    pub key: &'a str,
    /// Whose video it is.
    pub person: &'a str,
    pub screen: bool,
    /// The person is an expert or runs the session.
    pub expert: bool,
    /// One's own preview.
    pub local: bool,
}

/// The key of the tile to show large among `tiles` (in display order),
/// given the featured speaker and the tile that was large before.
pub fn featured<'a>(
    tiles: &[Candidate<'a>],
    speaker: Option<&str>,
    before: Option<&str>,
) -> Option<&'a str> {
    let remote = || tiles.iter().filter(|t| !t.local);
    remote()
        .find(|t| t.screen && t.expert)
        .or_else(|| remote().find(|t| t.screen))
        .or_else(|| remote().find(|t| Some(t.person) == speaker))
        .or_else(|| remote().find(|t| Some(t.key) == before))
        .or_else(|| remote().next())
        // Alone with a camera: the preview helps aim it at the instrument.
        .or_else(|| tiles.iter().find(|t| !t.screen))
        .map(|t| t.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
        pairs.iter().map(|(k, l)| ((*k).to_owned(), *l)).collect()
    }

    /// Feed the same levels `n` times; the speaker after each sample.
    fn run(
        d: &mut SpeakerDetector,
        me: Option<&str>,
        pairs: &[(&str, f64)],
        n: usize,
    ) -> Vec<Option<String>> {
        (0..n)
            .map(|_| {
                d.sample(me, &levels(pairs));
                d.speaker().map(str::to_owned)
            })
            .collect()
    }

    #[test]
    fn the_first_voice_takes_the_floor_and_silence_keeps_it() {
        let mut d = SpeakerDetector::default();
        assert_eq!(d.speaker(), None);
        assert!(
            !d.sample(None, &levels(&[("a", 0.001), ("b", 0.0)])),
            "background noise is not speech"
        );
        assert_eq!(d.speaker(), None);
        assert!(d.sample(None, &levels(&[("a", 0.05), ("b", 0.0)])));
        assert_eq!(d.speaker(), Some("a"));
        // Everybody silent: a keeps the floor (the big tile stays).
        for s in run(&mut d, None, &[("a", 0.0), ("b", 0.002)], 10) {
            assert_eq!(s.as_deref(), Some("a"));
        }
    }

    #[test]
    fn a_new_speaker_takes_over_only_after_leading_for_a_while() {
        let mut d = SpeakerDetector::default();
        run(&mut d, None, &[("a", 0.05)], 5);
        // One loud second of b (a cough) changes nothing.
        run(&mut d, None, &[("a", 0.0), ("b", 0.2)], 1);
        assert_eq!(d.speaker(), Some("a"));
        run(&mut d, None, &[("a", 0.05)], 1);
        assert_eq!(d.speaker(), Some("a"));
        // b speaks on while a is quiet: b has the floor after two seconds.
        let seen = run(&mut d, None, &[("a", 0.0), ("b", 0.05)], 2);
        assert_eq!(seen[0].as_deref(), Some("a"));
        assert_eq!(seen[1].as_deref(), Some("b"));
        // Right after a change, a cannot take it back at once.
        let seen = run(&mut d, None, &[("a", 0.05), ("b", 0.0)], 4);
        assert_eq!(
            seen.iter().map(|s| s.as_deref()).collect::<Vec<_>>(),
            [Some("b"), Some("b"), Some("a"), Some("a")],
        );
    }

    #[test]
    fn two_people_talking_at_once_do_not_swap_the_floor() {
        let mut d = SpeakerDetector::default();
        run(&mut d, None, &[("a", 0.05)], 5);
        // b about as loud as a (within LOUDER_BY): a keeps it.
        for s in run(&mut d, None, &[("a", 0.05), ("b", 0.07)], 20) {
            assert_eq!(s.as_deref(), Some("a"));
        }
        // b much louder for long enough: b.
        let seen = run(&mut d, None, &[("a", 0.03), ("b", 0.2)], 3);
        assert_eq!(seen.last().cloned().flatten().as_deref(), Some("b"));
    }

    #[test]
    fn ones_own_voice_holds_the_floor_but_the_big_tile_stays_on_the_last_other() {
        let mut d = SpeakerDetector::default();
        run(&mut d, Some("me"), &[("a", 0.05), ("me", 0.0)], 3);
        assert_eq!((d.speaker(), d.featured_speaker()), (Some("a"), Some("a")));
        run(&mut d, Some("me"), &[("a", 0.0), ("me", 0.08)], 3);
        assert_eq!((d.speaker(), d.featured_speaker()), (Some("me"), Some("a")));
        run(&mut d, Some("me"), &[("b", 0.08), ("me", 0.0)], 4);
        assert_eq!((d.speaker(), d.featured_speaker()), (Some("b"), Some("b")));
    }

    #[test]
    fn people_who_leave_are_forgotten_and_bad_levels_ignored() {
        let mut d = SpeakerDetector::default();
        run(&mut d, None, &[("a", 0.05)], 2);
        d.retain(|k| k != "a");
        assert_eq!((d.speaker(), d.featured_speaker()), (None, None));
        run(&mut d, None, &[("a", f64::NAN), ("b", f64::INFINITY)], 2);
        assert_eq!(d.speaker(), None, "not-a-number levels are no voice");
        assert_eq!(d.level("a"), 0.0);
        run(&mut d, None, &[("b", 7.0)], 1);
        assert_eq!((d.speaker(), d.level("b")), (Some("b"), 1.0));
    }

    fn cand<'a>(
        key: &'a str,
        person: &'a str,
        screen: bool,
        expert: bool,
        local: bool,
    ) -> Candidate<'a> {
        Candidate {
            key,
            person,
            screen,
            expert,
            local,
        }
    }

    #[test]
    fn an_experts_screen_share_beats_everything() {
        let tiles = [
            cand("me:camera", "me", false, false, true),
            cand("t:camera", "t", false, false, false),
            cand("t:screen", "t", true, false, false),
            cand("e:camera", "e", false, true, false),
            cand("e:screen", "e", true, true, false),
        ];
        assert_eq!(
            featured(&tiles, Some("t"), Some("t:camera")),
            Some("e:screen")
        );
        // Without it, anyone's screen share.
        assert_eq!(featured(&tiles[..4], Some("e"), None), Some("t:screen"));
    }

    #[test]
    fn else_the_speaker_then_what_was_big_then_the_first_camera() {
        let tiles = [
            cand("me:camera", "me", false, false, true),
            cand("a:camera", "a", false, false, false),
            cand("b:camera", "b", false, false, false),
        ];
        assert_eq!(
            featured(&tiles, Some("b"), Some("a:camera")),
            Some("b:camera")
        );
        // The speaker has no camera: the big tile stays where it was.
        assert_eq!(
            featured(&tiles, Some("c"), Some("b:camera")),
            Some("b:camera")
        );
        assert_eq!(
            featured(&tiles, None, Some("gone:camera")),
            Some("a:camera")
        );
        // Oneself speaking never enlarges one's own preview.
        assert_eq!(featured(&tiles, Some("me"), None), Some("a:camera"));
        // Alone: one's own camera (not one's own screen share).
        let alone = [
            cand("me:screen", "me", true, true, true),
            cand("me:camera", "me", false, true, true),
        ];
        assert_eq!(featured(&alone, None, None), Some("me:camera"));
        assert_eq!(featured(&alone[..1], None, None), None);
        assert_eq!(featured(&[], Some("a"), Some("a:camera")), None);
    }
}
