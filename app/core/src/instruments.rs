//! Instruments in a live room, apart from the browser: the readings kept for
//! the live chart, the error E of the unit under test against the
//! reference, the chart's geometry (SVG path data), and what an agent's
//! reported state means for the person watching.
//!
//! # What it guarantees
//! - **Bounded memory**: each device keeps at most [`MAX_POINTS`] readings
//!   (the newest); a room open for hours holds no more than a minute's
//!   worth at 10 Hz per device.
//! - **Each reading once**: a trace takes a reading only when its `seq` is
//!   above the last one it took, so a replay after a reconnect (the log
//!   sends what the client may already have) never draws a point twice.
//! - **Bounded drawing**: a path never has more than two vertices per
//!   horizontal pixel of the plot ([`polyline`] keeps each column's lowest
//!   and highest value), however many readings the window holds; the app
//!   redraws on a timer, not per reading, so a slow link's burst of
//!   batches costs one redraw.
//! - **Never a panic on odd input**: non-finite values are skipped, an
//!   empty or flat series gets a sensible scale.

use std::collections::{HashMap, VecDeque};

use jiliang_protocol::devices::{AgentStatus, DeviceFault, DeviceReading};
use uuid::Uuid;

/// Readings kept per device for the chart.
pub const MAX_POINTS: usize = 1200;
/// A UUT reading is paired with the reference reading nearest in time, if
/// that one is at most this far away, seconds.
pub const PAIR_WINDOW_S: f64 = 2.0;
/// The chart shows this many seconds up to the newest reading.
pub const WINDOW_S: f64 = 120.0;

/// One reading, as the chart needs it: UTC seconds since the epoch and the
/// value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub t: f64,
    pub v: f64,
}

/// The newest readings of one device.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    points: VecDeque<Point>,
    last_seq: u64,
    /// Readings taken since the page opened (not only those kept).
    pub taken: u64,
}

impl Trace {
    /// Take the readings whose `seq` is above the last one taken; answers
    /// how many were new.
    pub fn push(&mut self, readings: &[DeviceReading]) -> usize {
        let mut added = 0;
        for r in readings {
            if r.seq <= self.last_seq {
                continue;
            }
            self.last_seq = r.seq;
            if !r.value.is_finite() {
                continue;
            }
            let t = r.t.unix_timestamp_nanos() as f64 / 1e9;
            self.points.push_back(Point { t, v: r.value });
            added += 1;
        }
        while self.points.len() > MAX_POINTS {
            self.points.pop_front();
        }
        self.taken += added as u64;
        added
    }

    pub fn points(&self) -> &VecDeque<Point> {
        &self.points
    }

    pub fn last(&self) -> Option<Point> {
        self.points.back().copied()
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The same readings with every value multiplied by `factor` (a
    /// reference drawn in the UUT's unit).
    pub fn scaled(&self, factor: f64) -> Trace {
        Trace {
            points: self
                .points
                .iter()
                .map(|p| Point {
                    t: p.t,
                    v: p.v * factor,
                })
                .collect(),
            last_seq: self.last_seq,
            taken: self.taken,
        }
    }
}

/// The traces of every device whose readings the room has seen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveReadings {
    traces: HashMap<Uuid, Trace>,
}

impl LiveReadings {
    pub fn push(&mut self, device_id: Uuid, readings: &[DeviceReading]) -> usize {
        self.traces.entry(device_id).or_default().push(readings)
    }

    pub fn trace(&self, device_id: Uuid) -> Option<&Trace> {
        self.traces.get(&device_id)
    }

    pub fn devices(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.traces.keys().copied()
    }
}

/// E = UUT − reference × `ref_factor` (the factor turning a reference
/// reading into the UUT's unit, 1 for the same unit), one point per UUT
/// reading that has a reference reading within [`PAIR_WINDOW_S`] of it
/// (the nearest one), at the UUT reading's time. Both traces are in time
/// order (agents stamp in order).
pub fn errors(uut: &Trace, reference: &Trace, ref_factor: f64) -> Vec<Point> {
    let refs = reference.points();
    let mut out = Vec::new();
    let mut j = 0;
    for p in uut.points() {
        // Advance to the last reference reading at or before p.t.
        while j + 1 < refs.len() && refs[j + 1].t <= p.t {
            j += 1;
        }
        let nearest = [refs.get(j), refs.get(j + 1)]
            .into_iter()
            .flatten()
            .min_by(|a, b| (a.t - p.t).abs().total_cmp(&(b.t - p.t).abs()));
        if let Some(r) = nearest
            && (r.t - p.t).abs() <= PAIR_WINDOW_S
        {
            out.push(Point {
                t: p.t,
                v: p.v - r.v * ref_factor,
            });
        }
    }
    out
}

/// Errors further than this many MPEs from zero are drawn at the edge of
/// the error plot instead of setting its scale. When the calibrator moves
/// to the next level, one channel has moved and the other not yet: a
/// transient of volts would otherwise flatten an error of millivolts and
/// its ±MPE band into one line for the two minutes it stays in view.
pub const ERROR_SCALE_MPES: f64 = 4.0;
/// Without an MPE: errors further than this many median absolute
/// deviations from the median are off scale (with at least
/// [`ROBUST_MIN_POINTS`] errors; 20 MADs is about 13 σ of normal noise).
pub const OUTLIER_MADS: f64 = 20.0;
pub const ROBUST_MIN_POINTS: usize = 20;

/// The error plot's range and how many of `errors` fall outside it: it
/// holds zero, ±`mpe` and every error within [`ERROR_SCALE_MPES`] MPEs
/// (without an MPE, within [`OUTLIER_MADS`] of the median; errors with no
/// spread at all, as a coarse resolution gives, all set the scale). `None`
/// when there is nothing to draw.
pub fn error_range(errors: &[Point], mpe: Option<f64>) -> Option<(Range, usize)> {
    let values: Vec<f64> = errors
        .iter()
        .map(|p| p.v)
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return None;
    }
    let mpe = mpe.filter(|m| m.is_finite() && *m > 0.0);
    let (lo, hi) = match mpe {
        Some(m) => (-ERROR_SCALE_MPES * m, ERROR_SCALE_MPES * m),
        None if values.len() >= ROBUST_MIN_POINTS => {
            let med = median(values.clone());
            let mad = median(values.iter().map(|v| (v - med).abs()).collect());
            if mad > 0.0 {
                (med - OUTLIER_MADS * mad, med + OUTLIER_MADS * mad)
            } else {
                (f64::NEG_INFINITY, f64::INFINITY)
            }
        }
        None => (f64::NEG_INFINITY, f64::INFINITY),
    };
    let on_scale = |v: &f64| (lo..=hi).contains(v);
    let off = values.iter().filter(|v| !on_scale(v)).count();
    let range = Range::of(
        values
            .iter()
            .copied()
            .filter(on_scale)
            .chain(mpe.into_iter().flat_map(|m| [m, -m]))
            .chain([0.0]),
    )?;
    Some((range, off))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `points` with each value held inside `y` (drawn at the plot's edge).
pub fn clamped(points: &[Point], y: Range) -> Vec<Point> {
    points
        .iter()
        .map(|p| Point {
            t: p.t,
            v: p.v.clamp(y.lo, y.hi),
        })
        .collect()
}

/// A linear range of data values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub lo: f64,
    pub hi: f64,
}

impl Range {
    /// The smallest range holding every finite value, widened by 8 % on
    /// each side; a flat series gets a small range around its value.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Range> {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for v in values.into_iter().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo > hi {
            return None;
        }
        let span = hi - lo;
        let pad = if span > 0.0 {
            span * 0.08
        } else if lo != 0.0 {
            lo.abs() * 1e-3
        } else {
            1e-3
        };
        Some(Range {
            lo: lo - pad,
            hi: hi + pad,
        })
    }

    /// Where `v` falls, 0 at `lo` and 1 at `hi`.
    fn frac(&self, v: f64) -> f64 {
        (v - self.lo) / (self.hi - self.lo)
    }
}

/// The drawing area of a chart, in SVG user units: the whole box and the
/// plot inside it (room for tick labels on the left and below).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
}

impl Frame {
    pub const fn new(width: f64, height: f64) -> Frame {
        Frame {
            width,
            height,
            left: 52.0,
            right: 6.0,
            top: 6.0,
            bottom: 18.0,
        }
    }

    pub fn plot_width(&self) -> f64 {
        self.width - self.left - self.right
    }

    pub fn plot_height(&self) -> f64 {
        self.height - self.top - self.bottom
    }

    pub fn x(&self, range: Range, t: f64) -> f64 {
        self.left + range.frac(t) * self.plot_width()
    }

    pub fn y(&self, range: Range, v: f64) -> f64 {
        self.top + (1.0 - range.frac(v)) * self.plot_height()
    }
}

fn num(v: f64) -> String {
    // One decimal is finer than a pixel; fewer bytes in the DOM.
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// SVG path data (`M x y L x y …`) of `points` (in time order) inside
/// `x` × `y`. Points outside the time range are left out. When more than
/// one point falls in a pixel column, only the column's first, lowest,
/// highest and last values are drawn, so the path stays short and its
/// shape (spikes included) stays true.
pub fn polyline<'a>(
    points: impl IntoIterator<Item = &'a Point>,
    x: Range,
    y: Range,
    frame: &Frame,
) -> String {
    let mut out = String::new();
    // The pixel column being collected: its x and its first, lowest,
    // highest and last y.
    let mut col: Option<Column> = None;
    for p in points {
        if !p.v.is_finite() || p.t < x.lo || p.t > x.hi {
            continue;
        }
        let px = frame.x(x, p.t).round();
        let py = frame.y(y, p.v);
        col = match col {
            Some(mut c) if c.x == px => {
                c.min = c.min.min(py);
                c.max = c.max.max(py);
                c.last = py;
                Some(c)
            }
            Some(done) => {
                done.draw(&mut out);
                Some(Column::new(px, py))
            }
            None => Some(Column::new(px, py)),
        };
    }
    if let Some(done) = col {
        done.draw(&mut out);
    }
    out
}

struct Column {
    x: f64,
    first: f64,
    min: f64,
    max: f64,
    last: f64,
}

impl Column {
    fn new(x: f64, y: f64) -> Column {
        Column {
            x,
            first: y,
            min: y,
            max: y,
            last: y,
        }
    }

    fn draw(&self, out: &mut String) {
        vertex(out, self.x, self.first);
        // The extremes in the order that keeps the line continuous.
        let (a, b) = if self.first <= self.last {
            (self.max, self.min)
        } else {
            (self.min, self.max)
        };
        let mut prev = self.first;
        for v in [a, b, self.last] {
            if v != prev {
                vertex(out, self.x, v);
                prev = v;
            }
        }
    }
}

fn vertex(out: &mut String, x: f64, y: f64) {
    out.push_str(if out.is_empty() { "M" } else { " L" });
    out.push_str(&num(x));
    out.push(' ');
    out.push_str(&num(y));
}

/// SVG path data of a closed band: `upper` from left to right, then
/// `lower` from right to left (each `(t, value)`, in time order).
pub fn band(upper: &[Point], lower: &[Point], x: Range, y: Range, frame: &Frame) -> String {
    let up = polyline(upper, x, y, frame);
    if up.is_empty() {
        return up;
    }
    let mut low: Vec<Point> = lower.to_vec();
    low.reverse();
    // Reversed points still need to be drawn as one continuous line: plot
    // them point by point (the band is smooth; no column thinning needed).
    let mut out = up;
    for p in low
        .iter()
        .filter(|p| p.v.is_finite() && p.t >= x.lo && p.t <= x.hi)
    {
        vertex(&mut out, frame.x(x, p.t), frame.y(y, p.v));
    }
    out.push_str(" Z");
    out
}

/// About `n` round tick values inside `range` (steps of 1, 2 or 5 × 10ⁿ),
/// with the number of decimals their labels need.
pub fn ticks(range: Range, n: usize) -> (Vec<f64>, usize) {
    let span = range.hi - range.lo;
    if !(span.is_finite() && span > 0.0) || n == 0 {
        return (Vec::new(), 0);
    }
    #[allow(clippy::cast_precision_loss)]
    let raw = span / n as f64;
    let mag = 10_f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (range.lo / step).ceil() * step;
    let mut out = Vec::new();
    let mut v = first;
    while v <= range.hi + step * 1e-9 && out.len() < 4 * n + 2 {
        // −0 prints as "-0".
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    (out, decimals)
}

/// A value with as many decimals as the device's resolution shows (six
/// significant digits when the resolution is unknown).
pub fn format_value(v: f64, resolution: Option<f64>) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    match resolution.filter(|r| r.is_finite() && *r > 0.0) {
        Some(r) => {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let d = (-r.log10().floor()).clamp(0.0, 12.0) as usize;
            format!("{v:.d$}")
        }
        None => {
            if v == 0.0 {
                return "0".to_owned();
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let d = (5.0 - v.abs().log10().floor()).clamp(0.0, 12.0) as usize;
            format!("{v:.d$}")
        }
    }
}

/// A decimal typed by a person: `,` is read as `.` (a phone's keypad may
/// offer only the comma); anything else that is not a finite number is
/// `None`.
pub fn parse_number(s: &str) -> Option<f64> {
    s.trim()
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

/// The instrument interface an agent command line is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentDriver {
    Scpi,
    Modbus,
    Serial,
}

impl AgentDriver {
    pub const ALL: [AgentDriver; 3] = [Self::Scpi, Self::Modbus, Self::Serial];

    pub fn key(self) -> &'static str {
        match self {
            Self::Scpi => "scpi",
            Self::Modbus => "modbus",
            Self::Serial => "serial",
        }
    }

    pub fn from_key(k: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.key() == k)
    }
}

/// The command line that runs the agent for a device: the contract's
/// `jiliang-agent run --server URL --token TOKEN --queue DIR --interval-ms
/// MS` and one driver, with an example instrument address for the lab to
/// replace. Double quotes around the query work in sh, cmd and PowerShell.
pub fn agent_command(server: &str, token: &str, driver: AgentDriver) -> String {
    let server = server.trim_end_matches('/');
    let instrument = match driver {
        AgentDriver::Scpi => r#"--scpi 192.168.1.20:5025 --query "MEAS:VOLT:DC?""#,
        AgentDriver::Modbus => "--modbus 192.168.1.21:502 --unit-id 1 --register 0 --type float32",
        AgentDriver::Serial => r#"--serial /dev/ttyUSB0 --baud 9600 --query "MEAS?""#,
    };
    format!(
        "jiliang-agent run --server {server} --token {token} --queue jiliang-queue --interval-ms 1000 {instrument}"
    )
}

/// How a device stands, for the person watching the room.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceState {
    /// The agent reports a fault of the instrument (or the way to it):
    /// the instrument is broken or unreachable, not the network.
    Fault(DeviceFault),
    /// The agent is connected and the instrument answers.
    Connected,
    /// The agent was seen in this room and is gone, or has never connected
    /// while the page was open although the device has an agent.
    Disconnected,
    /// No agent has ever connected: readings are typed in by hand.
    Manual,
}

impl DeviceState {
    /// Stable key for styles and tests.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Fault(_) => "fault",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::Manual => "manual",
        }
    }
}

/// The state of a device from what the room has heard about its agent
/// (`None`: no `device_status` yet) and whether any agent ever connected
/// with its token.
pub fn device_state(heard: Option<(bool, Option<&AgentStatus>)>, has_agent: bool) -> DeviceState {
    match heard {
        Some((true, Some(AgentStatus { fault: Some(f), .. }))) => DeviceState::Fault(f.clone()),
        Some((true, _)) => DeviceState::Connected,
        Some((false, _)) => DeviceState::Disconnected,
        None if has_agent => DeviceState::Disconnected,
        None => DeviceState::Manual,
    }
}

/// Seconds since the agent's last reading, now: the age it reported plus
/// the time since the report arrived (`reported_ms` and `now_ms` on the
/// same local clock).
pub fn reading_age_s(reported_age_s: Option<f64>, reported_ms: f64, now_ms: f64) -> Option<f64> {
    reported_age_s
        .filter(|a| a.is_finite())
        .map(|a| a + ((now_ms - reported_ms) / 1000.0).max(0.0))
}

/// The age to show: the younger of the agent's report (it reads the
/// instrument, so it knows even when nothing reached the room) and the last
/// reading the room received, whose `t` is on the room's clock. The agent
/// reports every few seconds, so its figure alone would climb between
/// reports while readings arrive every second.
pub fn freshest_age_s(from_agent: Option<f64>, from_room: Option<f64>) -> Option<f64> {
    match (from_agent, from_room) {
        (Some(a), Some(r)) => Some(a.min(r)),
        (a, r) => a.or(r),
    }
}

/// `3 s`, `2 min 05 s`, `1 h 04 min`.
pub fn age_text(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "—".to_owned();
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = s.floor() as u64;
    if whole < 60 {
        format!("{whole} s")
    } else if whole < 3600 {
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{} h {:02} min", whole / 3600, (whole % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(values: &[f64]) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Point { t: i as f64, v: *v })
            .collect()
    }

    /// A level change's transient (4 V) among errors of 3 mV with an MPE of
    /// 10 mV: the scale is the band's, the transient is off scale and drawn
    /// at the edge.
    #[test]
    fn a_transient_does_not_set_the_error_scale() {
        let e = pts(&[0.003, 0.0031, 4.0, 0.0029, -3.9, 0.003]);
        let (y, off) = error_range(&e, Some(0.01)).expect("range");
        assert_eq!(off, 2);
        assert!(y.lo <= -0.01 && y.hi >= 0.01, "{y:?}");
        assert!(y.hi < 0.02 && y.lo > -0.02, "{y:?}");
        let drawn = clamped(&e, y);
        assert_eq!(drawn[2].v, y.hi);
        assert_eq!(drawn[4].v, y.lo);
        assert_eq!(drawn[0].v, 0.003);
        // Errors within 4 MPEs keep their place: a failing instrument shows.
        let (y, off) = error_range(&pts(&[0.03, 0.031]), Some(0.01)).expect("range");
        assert_eq!(off, 0);
        assert!(y.hi >= 0.031);
    }

    #[test]
    fn without_an_mpe_outliers_are_judged_by_the_spread() {
        let mut v: Vec<f64> = (0..40).map(|i| 0.003 + f64::from(i % 5) * 1e-5).collect();
        v.push(4.0);
        let (y, off) = error_range(&pts(&v), None).expect("range");
        assert_eq!(off, 1);
        assert!(y.hi < 0.01, "{y:?}");
        // Too few errors to judge a spread: all of them set the scale.
        let (y, off) = error_range(&pts(&[0.003, 4.0]), None).expect("range");
        assert_eq!(off, 0);
        assert!(y.hi >= 4.0);
        // Identical errors (no spread): none is an outlier.
        let (_, off) = error_range(&pts(&[0.001; 30]), None).expect("range");
        assert_eq!(off, 0);
        assert!(error_range(&[], Some(0.01)).is_none());
        assert!(error_range(&pts(&[f64::NAN]), None).is_none());
    }

    use time::OffsetDateTime;

    fn reading(seq: u64, t: f64, value: f64) -> DeviceReading {
        #[allow(clippy::cast_possible_truncation)]
        let nanos = (t * 1e9) as i128;
        DeviceReading {
            seq,
            t: OffsetDateTime::from_unix_timestamp_nanos(nanos).expect("time"),
            value,
            unit: "V".into(),
            u_t: 0.001,
        }
    }

    #[test]
    fn a_trace_takes_each_seq_once_and_keeps_the_newest() {
        let mut tr = Trace::default();
        assert_eq!(tr.push(&[reading(1, 10.0, 1.0), reading(2, 11.0, 2.0)]), 2);
        // A replay after a reconnect: the old seqs are skipped.
        assert_eq!(tr.push(&[reading(2, 11.0, 2.0), reading(3, 12.0, 3.0)]), 1);
        assert_eq!(tr.points().len(), 3);
        assert_eq!(tr.last(), Some(Point { t: 12.0, v: 3.0 }));
        let many: Vec<_> = (4..4 + MAX_POINTS as u64)
            .map(|s| reading(s, s as f64, s as f64))
            .collect();
        tr.push(&many);
        assert_eq!(tr.points().len(), MAX_POINTS);
        assert_eq!(tr.points().front().map(|p| p.v), Some(4.0));
        assert_eq!(tr.taken, 3 + MAX_POINTS as u64);
        // A non-finite value advances the seq but draws nothing.
        let before = tr.points().len();
        tr.push(&[reading(9_999, 9_999.0, f64::NAN)]);
        assert_eq!(tr.points().len(), before);
        assert_eq!(tr.last_seq(), 9_999);
    }

    #[test]
    fn errors_pair_each_uut_reading_with_the_nearest_reference() {
        let mut uut = Trace::default();
        let mut reference = Trace::default();
        uut.push(&[
            reading(1, 100.0, 10.02),
            reading(2, 101.0, 10.05),
            reading(3, 110.0, 10.00),
        ]);
        reference.push(&[reading(1, 99.6, 10.00), reading(2, 101.2, 10.01)]);
        let e = errors(&uut, &reference, 1.0);
        // 110 s has no reference reading within 2 s.
        assert_eq!(e.len(), 2);
        assert!((e[0].v - 0.02).abs() < 1e-12);
        assert!((e[1].v - 0.04).abs() < 1e-12);
        assert!(errors(&uut, &Trace::default(), 1.0).is_empty());
        // A reference in mV against a UUT in V.
        let mut mv = Trace::default();
        mv.push(&[reading(1, 100.0, 10_000.0)]);
        assert!((errors(&uut, &mv, 1e-3)[0].v - 0.02).abs() < 1e-12);
    }

    #[test]
    fn ranges_are_padded_and_never_empty() {
        let r = Range::of([1.0, 3.0, f64::NAN]).expect("range");
        assert!(r.lo < 1.0 && r.hi > 3.0);
        let flat = Range::of([5.0, 5.0]).expect("flat");
        assert!(flat.hi > flat.lo);
        let zero = Range::of([0.0]).expect("zero");
        assert!(zero.hi > zero.lo);
        assert_eq!(Range::of([f64::INFINITY]), None);
    }

    #[test]
    fn a_dense_series_is_drawn_with_at_most_four_vertices_per_column() {
        let frame = Frame::new(360.0, 160.0);
        let pts: Vec<Point> = (0..10_000)
            .map(|i| Point {
                t: f64::from(i) / 100.0,
                v: (f64::from(i) * 0.7).sin(),
            })
            .collect();
        let x = Range { lo: 0.0, hi: 100.0 };
        let y = Range { lo: -1.0, hi: 1.0 };
        let d = polyline(&pts, x, y, &frame);
        let vertices = d.matches(['M', 'L']).count();
        assert!(
            vertices <= 4 * (frame.plot_width() as usize + 2),
            "{vertices}"
        );
        assert!(d.starts_with("M52 "), "{}", &d[..20]);
        // The extremes survive the thinning: the top and bottom of the plot.
        assert!(d.contains(&format!(" {}", num(frame.top))));
        assert!(d.contains(&format!(" {}", num(frame.height - frame.bottom))));
    }

    #[test]
    fn points_outside_the_window_are_left_out() {
        let frame = Frame::new(200.0, 100.0);
        let pts = [Point { t: -5.0, v: 0.0 }, Point { t: 5.0, v: 0.0 }];
        let d = polyline(
            &pts,
            Range { lo: 0.0, hi: 10.0 },
            Range { lo: -1.0, hi: 1.0 },
            &frame,
        );
        assert_eq!(d.matches('M').count(), 1);
        assert_eq!(d.matches('L').count(), 0);
        let b = band(
            &pts,
            &pts,
            Range { lo: 0.0, hi: 10.0 },
            Range { lo: -1.0, hi: 1.0 },
            &frame,
        );
        assert!(b.ends_with('Z'));
        assert_eq!(
            band(
                &[],
                &[],
                Range { lo: 0.0, hi: 1.0 },
                Range { lo: 0.0, hi: 1.0 },
                &frame
            ),
            ""
        );
    }

    #[test]
    fn ticks_are_round_numbers_inside_the_range() {
        let (t, d) = ticks(
            Range {
                lo: 9.93,
                hi: 10.07,
            },
            4,
        );
        assert!(!t.is_empty());
        assert!(t.iter().all(|v| (9.93..=10.07).contains(v)));
        assert_eq!(d, 2);
        let (t, d) = ticks(Range { lo: -0.3, hi: 0.3 }, 3);
        assert!(t.contains(&0.0));
        assert_eq!(d, 1);
        assert_eq!(ticks(Range { lo: 1.0, hi: 1.0 }, 4).0, Vec::<f64>::new());
    }

    #[test]
    fn values_follow_the_resolution() {
        assert_eq!(format_value(10.004_49, Some(0.001)), "10.004");
        assert_eq!(format_value(101.3, Some(0.01)), "101.30");
        assert_eq!(format_value(1.234_567_8, None), "1.23457");
        assert_eq!(format_value(f64::NAN, None), "—");
        assert_eq!(format_value(0.0, None), "0");
    }

    #[test]
    fn the_agent_command_follows_the_contract() {
        let c = agent_command("https://jl.example.cn/", "tok_abc", AgentDriver::Scpi);
        assert_eq!(
            c,
            r#"jiliang-agent run --server https://jl.example.cn --token tok_abc --queue jiliang-queue --interval-ms 1000 --scpi 192.168.1.20:5025 --query "MEAS:VOLT:DC?""#
        );
        assert!(
            agent_command("http://h", "t", AgentDriver::Modbus)
                .contains("--modbus 192.168.1.21:502 --unit-id 1 --register 0 --type float32")
        );
        for d in AgentDriver::ALL {
            assert_eq!(AgentDriver::from_key(d.key()), Some(d));
        }
    }

    #[test]
    fn numbers_typed_by_people() {
        assert_eq!(parse_number(" 0,001 "), Some(0.001));
        assert_eq!(parse_number("1e-3"), Some(0.001));
        assert_eq!(parse_number("-2.5"), Some(-2.5));
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number(""), None);
    }

    #[test]
    fn a_fault_is_the_devices_not_the_networks() {
        let fault = DeviceFault {
            kind: jiliang_protocol::devices::FaultKind::Timeout,
            message: "no answer in 2 s".into(),
        };
        let status = AgentStatus {
            queue_depth: 3,
            last_reading_age_s: Some(4.0),
            clock: None,
            fault: Some(fault.clone()),
            quarantined: 0,
        };
        assert_eq!(
            device_state(Some((true, Some(&status))), true),
            DeviceState::Fault(fault)
        );
        let ok = AgentStatus {
            fault: None,
            ..status.clone()
        };
        assert_eq!(
            device_state(Some((true, Some(&ok))), true),
            DeviceState::Connected
        );
        // A disconnected agent's last fault is history, not a device fault.
        assert_eq!(
            device_state(Some((false, Some(&status))), true),
            DeviceState::Disconnected
        );
        assert_eq!(device_state(None, true), DeviceState::Disconnected);
        assert_eq!(device_state(None, false), DeviceState::Manual);
        assert_eq!(DeviceState::Manual.key(), "manual");
    }

    #[test]
    fn the_age_keeps_ticking_between_reports() {
        assert_eq!(reading_age_s(Some(2.0), 1_000.0, 4_500.0), Some(5.5));
        assert_eq!(reading_age_s(None, 0.0, 1.0), None);
        assert_eq!(freshest_age_s(Some(4.2), Some(0.3)), Some(0.3));
        assert_eq!(
            freshest_age_s(Some(0.5), Some(9.0)),
            Some(0.5),
            "readings held up on the way: the agent knows better"
        );
        assert_eq!(freshest_age_s(None, Some(2.0)), Some(2.0));
        assert_eq!(freshest_age_s(Some(2.0), None), Some(2.0));
        assert_eq!(freshest_age_s(None, None), None);
        assert_eq!(age_text(5.5), "5 s");
        assert_eq!(age_text(125.0), "2 min 05 s");
        assert_eq!(age_text(3_840.0), "1 h 04 min");
        assert_eq!(age_text(f64::NAN), "—");
    }
}
