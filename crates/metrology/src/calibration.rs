//! Calibration of a unit under test (UUT) against a reference standard in a
//! live session: per test point the indication error, its expanded
//! uncertainty, the JJF 1094 verdict against the MPE and two normalised
//! errors, and the fold that builds all of it from the session's log.
//!
//! # Per test point (nominal value x₀, n readings of each side)
//! * x̄_UUT, x̄_ref: arithmetic means of the readings counted for the point
//!   (the reference's converted into the comparison unit).
//! * E = x̄_UUT − x̄_ref (示值误差).
//! * u(E) by the GUM law of propagation (JCGM 100 §5.1, JJF 1059.1 §4.4),
//!   all inputs uncorrelated, sensitivity 1:
//!   u²(E) = s²_UUT/n_UUT + s²_ref/n_ref + (U_cert/k_cert)² + (δ/(2√3))²
//!   — two Type A terms (s/√n, ν = n − 1, GUM 4.2), the reference
//!   certificate (Type B, normal, ν = ∞, GUM 4.3.3) and the UUT resolution δ
//!   (rectangular with half-width δ/2, ν = ∞, GUM F.2.2.1).
//! * ν_eff by Welch–Satterthwaite (GUM G.4.1); k = t_0.975(ν_eff) (ν_eff
//!   truncated, JJF 1059.1 4.5.3) or a fixed k by setting; U(E) = k·u(E).
//! * Verdict (合格/不合格/待定): [`crate::conformity::assess_with_mpev`]
//!   with Δ = E, U95 = U(E) and MPEV the MPE evaluated at the **nominal**
//!   value x₀ (so the ±MPE band of a point is fixed before its readings
//!   arrive, as on a verification record).
//! * `en_mpe` = E / MPEV — the normalised error against the MPE. This is
//!   the product's "En against the MPE": the fraction of the permissible
//!   error used by the error, signed; |en_mpe| ≤ 1 is within the MPE when
//!   the uncertainty is negligible (JJF 1094 §5.3.1 compares |Δ| with MPEV).
//! * `en_u` = E / U(E) — the ISO 13528:2022 9.7 form applied to the UUT
//!   against the reference (x_pt = x̄_ref, U(E) taking both sides): whether
//!   the error is significant at all, classified by
//!   [`crate::scores::EnRule`]. Absent when U(E) = 0.
//!
//! With a single reading on a side (n = 1) no Type A evaluation is possible:
//! its term is left out (`s` absent, u_A = 0), which the result shows.
//!
//! # The fold
//! [`CalibrationFold`] takes the session log's comparison inputs in log
//! order — the setup, each test point's start, each batch of readings of
//! either channel — and keeps per point the readings it counts and the
//! result so far. The browser calls it on every new event and the server
//! calls it to store the finished comparison, so both show the same numbers
//! by construction. Which readings count: after a point starts, each
//! channel's readings taken (`t`) no earlier than the start, in log order,
//! until `readings_per_point` of that channel are in; the rest are ignored.
//! Starting a point again discards what it had collected.

use serde::{Deserialize, Serialize};

use crate::budget::{self, CoverageRule, DofRounding};
use crate::conformity::{self, Conformity, ConformityOptions, Mpe, Verdict};
use crate::error::{MetrologyError, Result, finite, non_negative, out, positive};
use crate::scores::{EnRule, EnVerdict, classify_en};
use crate::stats;

/// Most test points of one comparison (so that `comparison_finished`,
/// which lists every point, stays well inside a room frame).
pub const MAX_POINTS: usize = 50;
/// Most readings per point and channel.
pub const MAX_READINGS_PER_POINT: u32 = 1000;

/// The certificate data of the reference standard, in the comparison unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RefCertificate {
    /// Expanded uncertainty U stated on the certificate.
    pub expanded: f64,
    /// Its coverage factor k.
    pub k: f64,
}

/// What a comparison computes and how. Values are in `unit`, the unit of
/// the UUT; reference readings are multiplied by `ref_factor` first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationSpec {
    /// UCUM code of the comparison (the UUT's unit).
    pub unit: String,
    /// Factor turning a reference reading into `unit` (1 when the units are
    /// the same; see [`crate::ucum::scale_factor`]).
    #[serde(default = "one")]
    pub ref_factor: f64,
    /// Nominal values of the test points, in order.
    pub points: Vec<f64>,
    /// Readings of each channel counted per point.
    pub readings_per_point: u32,
    pub mpe: Mpe,
    pub ref_certificate: RefCertificate,
    /// Resolution δ of the UUT (0: not counted).
    pub resolution: f64,
    #[serde(default)]
    pub coverage: CoverageRule,
    #[serde(default)]
    pub dof_rounding: DofRounding,
    #[serde(default)]
    pub conformity: ConformityOptions,
    #[serde(default)]
    pub en_rule: EnRule,
}

fn one() -> f64 {
    1.0
}

impl CalibrationSpec {
    /// Check every field: finite numbers, 1..=[`MAX_POINTS`] points,
    /// 1..=[`MAX_READINGS_PER_POINT`] readings per point, a positive MPE
    /// at every nominal value, a usable coverage rule and decision ratio.
    /// Errors name the field (and the point's index).
    pub fn validate(&self) -> Result<()> {
        positive("ref_factor", self.ref_factor)?;
        if self.points.is_empty() || self.points.len() > MAX_POINTS {
            return Err(MetrologyError::out_of_range(
                "points",
                None,
                &format!("1 to {MAX_POINTS} test points"),
            ));
        }
        if self.readings_per_point == 0 || self.readings_per_point > MAX_READINGS_PER_POINT {
            return Err(MetrologyError::out_of_range(
                "readings_per_point",
                None,
                &format!("1 to {MAX_READINGS_PER_POINT}"),
            ));
        }
        non_negative("ref_certificate.expanded", self.ref_certificate.expanded)?;
        positive("ref_certificate.k", self.ref_certificate.k)?;
        non_negative("resolution", self.resolution)?;
        positive("conformity.ratio", self.conformity.ratio)?;
        budget::coverage_factor_for(&self.coverage, f64::INFINITY, self.dof_rounding)?;
        for (i, &x) in self.points.iter().enumerate() {
            if !x.is_finite() {
                return Err(MetrologyError::non_finite("points", Some(i)));
            }
            let m = conformity::mpev(&self.mpe, x)?;
            if m <= 0.0 {
                return Err(MetrologyError::out_of_range(
                    "mpe",
                    Some(i),
                    "a positive MPE at the nominal value of every test point",
                ));
            }
        }
        Ok(())
    }

    /// Standard uncertainty of the reference certificate, U/k.
    pub fn u_certificate(&self) -> Result<f64> {
        Ok(
            non_negative("ref_certificate.expanded", self.ref_certificate.expanded)?
                / positive("ref_certificate.k", self.ref_certificate.k)?,
        )
    }

    /// Standard uncertainty of the UUT resolution, δ/(2√3).
    pub fn u_resolution(&self) -> Result<f64> {
        Ok(non_negative("resolution", self.resolution)? / (2.0 * 3f64.sqrt()))
    }
}

/// Type A evaluation of one channel at one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelStats {
    pub n: usize,
    pub mean: f64,
    /// Experimental standard deviation; absent for n = 1.
    pub s: Option<f64>,
    /// s/√n; 0 for n = 1 (no Type A evaluation possible).
    pub u_a: f64,
    /// n − 1; ∞ for n = 1 (the term is absent).
    #[serde(with = "crate::dof_serde")]
    pub dof: f64,
}

fn channel(field: &str, values: &[f64]) -> Result<ChannelStats> {
    crate::error::all_finite(field, values)?;
    crate::error::at_least(field, 1, values.len())?;
    let n = values.len();
    let mean = out(field, stats::mean_raw(values))?;
    if n == 1 {
        return Ok(ChannelStats {
            n,
            mean,
            s: None,
            u_a: 0.0,
            dof: f64::INFINITY,
        });
    }
    let s = out(field, stats::variance_raw(values, mean).sqrt())?;
    Ok(ChannelStats {
        n,
        mean,
        s: Some(s),
        u_a: s / (n as f64).sqrt(),
        dof: (n - 1) as f64,
    })
}

/// The result at one test point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    pub nominal: f64,
    pub uut: ChannelStats,
    /// In the comparison unit.
    pub reference: ChannelStats,
    /// U_cert/k_cert.
    pub u_cert: f64,
    /// δ/(2√3).
    pub u_resolution: f64,
    /// u(E).
    pub u_c: f64,
    #[serde(with = "crate::dof_serde")]
    pub nu_eff: f64,
    /// ν used for k (after rounding).
    #[serde(with = "crate::dof_serde")]
    pub nu_for_k: f64,
    pub k: f64,
    /// E = x̄_UUT − x̄_ref.
    pub e: f64,
    /// U(E) = k·u(E).
    pub big_u: f64,
    /// MPE at the nominal value.
    pub mpev: f64,
    /// E / MPEV.
    pub en_mpe: f64,
    /// E / U(E); absent when U(E) = 0.
    pub en_u: Option<f64>,
    pub en_u_verdict: Option<EnVerdict>,
    /// The JJF 1094 decision (its `verdict` is 合格/不合格/待定).
    pub conformity: Conformity,
}

impl PointResult {
    pub fn verdict(&self) -> Verdict {
        self.conformity.verdict
    }
}

/// Evaluate one test point from the UUT readings and the reference readings
/// (already in the comparison unit). Needs at least one reading per side.
pub fn evaluate_point(
    spec: &CalibrationSpec,
    nominal: f64,
    uut: &[f64],
    reference: &[f64],
) -> Result<PointResult> {
    finite("nominal", nominal)?;
    let u = channel("uut readings", uut)?;
    let r = channel("reference readings", reference)?;
    let u_cert = spec.u_certificate()?;
    let u_res = spec.u_resolution()?;
    let terms = [
        (u.u_a, u.dof),
        (r.u_a, r.dof),
        (u_cert, f64::INFINITY),
        (u_res, f64::INFINITY),
    ];
    let u_c = out("u(E)", terms.iter().map(|(x, _)| x * x).sum::<f64>().sqrt())?;
    let nu_eff = budget::welch_satterthwaite_raw(u_c, terms.iter().copied());
    let (k, nu_for_k) = budget::coverage_factor_for(&spec.coverage, nu_eff, spec.dof_rounding)?;
    let big_u = out("U(E)", k * u_c)?;
    let e = out("E", u.mean - r.mean)?;
    let mpev = conformity::mpev(&spec.mpe, nominal)?;
    let conformity = conformity::assess_with_mpev(e, big_u, mpev, &spec.conformity)?;
    let en_mpe = out("E/MPEV", e / mpev)?;
    let en_u = if big_u > 0.0 {
        Some(out("E/U(E)", e / big_u)?)
    } else {
        None
    };
    Ok(PointResult {
        nominal,
        uut: u,
        reference: r,
        u_cert,
        u_resolution: u_res,
        u_c,
        nu_eff,
        nu_for_k,
        k,
        e,
        big_u,
        mpev,
        en_mpe,
        en_u,
        en_u_verdict: en_u.map(|x| classify_en(x, spec.en_rule)),
        conformity,
    })
}

/// Which side of the comparison a reading belongs to. `"uut"`, `"ref"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Channel {
    #[serde(rename = "uut")]
    Uut,
    #[serde(rename = "ref")]
    Ref,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uut => "uut",
            Self::Ref => "ref",
        }
    }
}

/// One reading as the fold sees it: the device's own sequence number, UTC
/// time in microseconds since the epoch, the value in the device's unit and
/// the uncertainty of the time in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalReading {
    pub seq: u64,
    pub t_us: i64,
    pub value: f64,
    pub u_t: f64,
}

/// Where a test point stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointStatus {
    /// Not started.
    Pending,
    /// Started; fewer than `readings_per_point` on some side.
    Collecting,
    /// Every reading of both sides is in.
    Complete,
}

/// A test point in the fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointState {
    pub index: usize,
    pub nominal: f64,
    pub status: PointStatus,
    /// When the point (last) started, µs since the epoch.
    pub started_at_us: Option<i64>,
    /// The UUT readings counted, in log order.
    pub uut: Vec<CalReading>,
    /// The reference readings counted (in the reference's unit).
    pub reference: Vec<CalReading>,
    /// The result over the readings so far (provisional until `Complete`);
    /// absent while a side has no reading.
    pub result: Option<PointResult>,
    /// Why there is no result although both sides have readings.
    pub error: Option<MetrologyError>,
}

/// One input of the fold, taken from the session log in log order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FoldInput<'a> {
    /// The comparison's settings. Ignored once a point has started.
    Setup(&'a CalibrationSpec),
    /// Test point `index` starts at `at_us` (µs since the epoch).
    PointStart { index: usize, at_us: i64 },
    /// Readings of one channel, in the order stored.
    Readings {
        channel: Channel,
        readings: &'a [CalReading],
    },
}

/// The comparison built from the log: settings, current point, and per
/// point the readings counted and the result so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CalibrationFold {
    spec: Option<CalibrationSpec>,
    current: Option<usize>,
    points: Vec<PointState>,
}

impl CalibrationFold {
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one input; returns the index of the point it changed, if any.
    pub fn apply(&mut self, input: FoldInput<'_>) -> Option<usize> {
        match input {
            FoldInput::Setup(spec) => {
                if self.started() {
                    return None;
                }
                self.points = spec
                    .points
                    .iter()
                    .enumerate()
                    .map(|(index, &nominal)| PointState {
                        index,
                        nominal,
                        status: PointStatus::Pending,
                        started_at_us: None,
                        uut: Vec::new(),
                        reference: Vec::new(),
                        result: None,
                        error: None,
                    })
                    .collect();
                self.spec = Some(spec.clone());
                self.current = None;
                None
            }
            FoldInput::PointStart { index, at_us } => {
                let p = self.points.get_mut(index)?;
                p.status = PointStatus::Collecting;
                p.started_at_us = Some(at_us);
                p.uut.clear();
                p.reference.clear();
                p.result = None;
                p.error = None;
                self.current = Some(index);
                Some(index)
            }
            FoldInput::Readings { channel, readings } => {
                let index = self.current?;
                let spec = self.spec.as_ref()?;
                let n = spec.readings_per_point as usize;
                let p = self.points.get_mut(index)?;
                let start = p.started_at_us.unwrap_or(i64::MIN);
                let side = match channel {
                    Channel::Uut => &mut p.uut,
                    Channel::Ref => &mut p.reference,
                };
                let before = side.len();
                for r in readings {
                    if side.len() >= n {
                        break;
                    }
                    // Taken before the point started (an agent's backlog),
                    // or already counted: not this point's.
                    if r.t_us < start || side.last().is_some_and(|l| r.seq <= l.seq) {
                        continue;
                    }
                    side.push(*r);
                }
                if side.len() == before {
                    return None;
                }
                Self::evaluate(spec, p);
                Some(index)
            }
        }
    }

    fn evaluate(spec: &CalibrationSpec, p: &mut PointState) {
        let n = spec.readings_per_point as usize;
        if p.uut.len() >= n && p.reference.len() >= n {
            p.status = PointStatus::Complete;
        }
        if p.uut.is_empty() || p.reference.is_empty() {
            p.result = None;
            p.error = None;
            return;
        }
        let uut: Vec<f64> = p.uut.iter().map(|r| r.value).collect();
        let reference: Vec<f64> = p
            .reference
            .iter()
            .map(|r| r.value * spec.ref_factor)
            .collect();
        match evaluate_point(spec, p.nominal, &uut, &reference) {
            Ok(r) => {
                p.result = Some(r);
                p.error = None;
            }
            Err(e) => {
                p.result = None;
                p.error = Some(e);
            }
        }
    }

    pub fn spec(&self) -> Option<&CalibrationSpec> {
        self.spec.as_ref()
    }

    /// The point readings count for now.
    pub fn current(&self) -> Option<usize> {
        self.current
    }

    pub fn points(&self) -> &[PointState] {
        &self.points
    }

    /// Whether any point has started (the settings are fixed from then on).
    pub fn started(&self) -> bool {
        self.points.iter().any(|p| p.started_at_us.is_some())
    }

    /// The overall verdict once every point is complete: 不合格 if any
    /// point fails, else 待定 if any is indeterminate, else 合格. `None`
    /// while a point is incomplete or has no result.
    pub fn verdict(&self) -> Option<Verdict> {
        if self.points.is_empty() {
            return None;
        }
        let mut any_indeterminate = false;
        let mut any_fail = false;
        for p in &self.points {
            if p.status != PointStatus::Complete {
                return None;
            }
            match p.result.as_ref()?.verdict() {
                Verdict::Fail => any_fail = true,
                Verdict::Indeterminate => any_indeterminate = true,
                Verdict::Pass => {}
            }
        }
        Some(if any_fail {
            Verdict::Fail
        } else if any_indeterminate {
            Verdict::Indeterminate
        } else {
            Verdict::Pass
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CalibrationSpec {
        CalibrationSpec {
            unit: "V".into(),
            ref_factor: 1.0,
            points: vec![10.0, 20.0],
            readings_per_point: 3,
            mpe: Mpe::Absolute { value: 0.05 },
            ref_certificate: RefCertificate {
                expanded: 0.004,
                k: 2.0,
            },
            resolution: 0.01,
            coverage: CoverageRule::default(),
            dof_rounding: DofRounding::Truncate,
            conformity: ConformityOptions::default(),
            en_rule: EnRule::Iso13528,
        }
    }

    fn close(got: f64, want: f64, tol: f64) {
        assert!((got - want).abs() <= tol, "got {got}, want {want} ± {tol}");
    }

    /// By hand:
    /// UUT 10.01, 10.03, 10.02: x̄ = 10.02, s = 0.01, u_A = 0.01/√3 = 0.005 773 5 (ν 2).
    /// Ref 10.000, 10.002, 10.001: x̄ = 10.001, s = 0.001, u_A = 0.000 577 35 (ν 2).
    /// Certificate 0.004/2 = 0.002; resolution 0.01/(2√3) = 0.002 886 75.
    /// u² = 3.333 33e-5 + 3.333 33e-7 + 4e-6 + 8.333 33e-6 = 4.6e-5, u = 0.006 782 33.
    /// ν_eff = (4.6e-5)² / ((3.333 33e-5)²/2 + (3.333 33e-7)²/2)
    ///       = 2.116e-9 / 5.556 11e-10 = 3.808 4 → 3; t_0.975(3) = 3.182 446.
    /// U = 3.182 446 × 0.006 782 33 = 0.021 584 4. E = 10.02 − 10.001 = 0.019.
    /// MPEV 0.05, U > MPEV/3 → guard band: acceptance 0.05 − 0.021 584 = 0.028 416;
    /// |E| = 0.019 ≤ 0.028 416 → 合格. E/MPEV = 0.38; E/U = 0.880 26.
    #[test]
    fn a_point_by_hand() {
        let r = evaluate_point(
            &spec(),
            10.0,
            &[10.01, 10.03, 10.02],
            &[10.000, 10.002, 10.001],
        )
        .expect("evaluates");
        close(r.uut.mean, 10.02, 1e-12);
        close(r.reference.mean, 10.001, 1e-12);
        close(r.uut.s.expect("s"), 0.01, 1e-12);
        close(r.u_cert, 0.002, 1e-15);
        close(r.u_resolution, 0.002_886_751_3, 1e-10);
        close(r.u_c, 4.6e-5f64.sqrt(), 1e-12);
        close(r.nu_eff, 3.808_4, 1e-4);
        assert_eq!(r.nu_for_k, 3.0);
        close(r.k, 3.182_446, 1e-6);
        close(r.big_u, 0.021_584_4, 1e-7);
        close(r.e, 0.019, 1e-12);
        close(r.en_mpe, 0.38, 1e-10);
        close(r.en_u.expect("en_u"), 0.880_26, 1e-5);
        assert_eq!(r.en_u_verdict, Some(EnVerdict::Satisfactory));
        assert_eq!(r.verdict(), Verdict::Pass);
        assert_eq!(r.conformity.rule, conformity::AppliedRule::GuardBand);
    }

    /// By hand, fixed k = 2 and MPE ±0.5 % of reading at 20 V (MPEV 0.1):
    /// UUT 20.14 ×3 (s = 0 → u_A = 0, ν 2), ref 20.00 ×3 (same).
    /// u² = 0.002² + 0.002 886 75² = 4e-6 + 8.333 33e-6 = 1.233 33e-5, u = 0.003 511 88;
    /// ν_eff = ∞ (the only finite-ν terms are 0). U = 0.007 023 77 ≤ 0.1/3 → simple rule;
    /// |E| = 0.14 > 0.1 → 不合格. E/MPEV = 1.4.
    #[test]
    fn zero_spread_and_fixed_k() {
        let mut s = spec();
        s.coverage = CoverageRule::Fixed { k: 2.0 };
        s.mpe = Mpe::Relative { percent: 0.5 };
        let r = evaluate_point(&s, 20.0, &[20.14; 3], &[20.0; 3]).expect("evaluates");
        assert_eq!(r.uut.s, Some(0.0));
        assert!(r.nu_eff.is_infinite());
        close(r.u_c, (4e-6f64 + 1e-4 / 12.0).sqrt(), 1e-12);
        close(r.big_u, 0.007_023_77, 1e-8);
        close(r.mpev, 0.1, 1e-15);
        close(r.en_mpe, 1.4, 1e-9);
        assert_eq!(r.conformity.rule, conformity::AppliedRule::Simple);
        assert_eq!(r.verdict(), Verdict::Fail);
    }

    /// n = 1 on both sides: no Type A term. u = √(0.002² + 0.002 886 75²) = 0.003 511 88,
    /// ν_eff = ∞, k = t_0.975(∞) = 1.959 964, U = 0.006 883 2 ≤ 0.05/3 → simple rule:
    /// E = 0.06 > 0.05 → 不合格; E = 0.04 → 合格.
    /// With a certificate of U = 0.03 (k = 2): u = √(0.015² + 8.333 33e-6) = 0.015 275 3,
    /// U = 0.029 939 0 > 0.05/3 → guard band [0.020 061, 0.079 939]:
    /// E = 0.06 → 待定, E = 0.01 → 合格, E = 0.09 → 不合格.
    #[test]
    fn single_readings_leave_type_a_out() {
        let s = spec();
        let r = evaluate_point(&s, 10.0, &[10.06], &[10.0]).expect("evaluates");
        assert_eq!(r.uut.s, None);
        assert_eq!(r.uut.u_a, 0.0);
        assert!(r.nu_eff.is_infinite());
        close(r.k, 1.959_964, 1e-6);
        close(r.big_u, 0.006_883_2, 1e-7);
        assert_eq!(r.conformity.rule, conformity::AppliedRule::Simple);
        assert_eq!(r.verdict(), Verdict::Fail);
        let pass = evaluate_point(&s, 10.0, &[10.04], &[10.0]).expect("evaluates");
        assert_eq!(pass.verdict(), Verdict::Pass);
        let mut wide = spec();
        wide.ref_certificate.expanded = 0.03;
        let at = |e: f64| evaluate_point(&wide, 10.0, &[10.0 + e], &[10.0]).expect("evaluates");
        close(at(0.06).big_u, 0.029_939_0, 1e-7);
        assert_eq!(at(0.06).verdict(), Verdict::Indeterminate);
        assert_eq!(at(0.01).verdict(), Verdict::Pass);
        assert_eq!(at(0.09).verdict(), Verdict::Fail);
    }

    #[test]
    fn bad_specs_are_named() {
        let mut s = spec();
        s.points = vec![1.0, f64::NAN];
        assert_eq!(
            s.validate(),
            Err(MetrologyError::non_finite("points", Some(1)))
        );
        let mut s = spec();
        s.mpe = Mpe::Relative { percent: 1.0 };
        s.points = vec![0.0];
        assert!(
            matches!(s.validate(), Err(MetrologyError::OutOfRange { field, index: Some(0), .. }) if field == "mpe")
        );
        let mut s = spec();
        s.readings_per_point = 0;
        assert!(s.validate().is_err());
        let mut s = spec();
        s.ref_certificate.k = 0.0;
        assert!(s.validate().is_err());
        let mut s = spec();
        s.resolution = f64::INFINITY;
        assert!(s.validate().is_err());
        let mut s = spec();
        s.points.clear();
        assert!(s.validate().is_err());
        assert_eq!(spec().validate(), Ok(()));
    }

    fn r(seq: u64, t_us: i64, value: f64) -> CalReading {
        CalReading {
            seq,
            t_us,
            value,
            u_t: 0.001,
        }
    }

    #[test]
    fn the_fold_counts_readings_per_point_and_channel() {
        let s = spec();
        let mut f = CalibrationFold::new();
        assert_eq!(f.apply(FoldInput::Setup(&s)), None);
        // Readings before any point: ignored.
        assert_eq!(
            f.apply(FoldInput::Readings {
                channel: Channel::Uut,
                readings: &[r(1, 5, 9.0)]
            }),
            None
        );
        assert_eq!(
            f.apply(FoldInput::PointStart {
                index: 0,
                at_us: 100
            }),
            Some(0)
        );
        // A backlog reading taken before the start is not counted.
        f.apply(FoldInput::Readings {
            channel: Channel::Uut,
            readings: &[r(2, 99, 99.0), r(3, 100, 10.01), r(4, 110, 10.03)],
        });
        assert_eq!(f.points()[0].uut.len(), 2);
        // Reference missing: incomplete, no result, no crash.
        assert_eq!(f.points()[0].status, PointStatus::Collecting);
        assert!(f.points()[0].result.is_none());
        f.apply(FoldInput::Readings {
            channel: Channel::Ref,
            readings: &[r(1, 105, 10.000), r(2, 115, 10.002)],
        });
        assert!(f.points()[0].result.is_some(), "provisional result");
        f.apply(FoldInput::Readings {
            channel: Channel::Uut,
            readings: &[r(5, 120, 10.02), r(6, 130, 50.0)],
        });
        f.apply(FoldInput::Readings {
            channel: Channel::Ref,
            readings: &[r(2, 115, 10.002), r(3, 125, 10.001), r(4, 135, 50.0)],
        });
        let p = &f.points()[0];
        assert_eq!(p.status, PointStatus::Complete);
        assert_eq!(p.uut.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(
            p.reference.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        let want = evaluate_point(&s, 10.0, &[10.01, 10.03, 10.02], &[10.000, 10.002, 10.001])
            .expect("evaluates");
        assert_eq!(p.result.as_ref(), Some(&want));
        // Settings are fixed once a point started.
        let mut other = s.clone();
        other.readings_per_point = 9;
        f.apply(FoldInput::Setup(&other));
        assert_eq!(f.spec(), Some(&s));
        assert_eq!(f.verdict(), None, "point 1 not done");
        // Out-of-range point: ignored.
        assert_eq!(
            f.apply(FoldInput::PointStart {
                index: 7,
                at_us: 200
            }),
            None
        );
        f.apply(FoldInput::PointStart {
            index: 1,
            at_us: 200,
        });
        f.apply(FoldInput::Readings {
            channel: Channel::Uut,
            readings: &[r(7, 200, 20.0), r(8, 201, 20.0), r(9, 202, 20.0)],
        });
        f.apply(FoldInput::Readings {
            channel: Channel::Ref,
            readings: &[r(5, 200, 20.0), r(6, 201, 20.0), r(7, 202, 20.0)],
        });
        assert_eq!(f.verdict(), Some(Verdict::Pass));
        // Starting a point again collects it afresh.
        f.apply(FoldInput::PointStart {
            index: 0,
            at_us: 300,
        });
        assert!(f.points()[0].uut.is_empty());
        assert_eq!(f.verdict(), None);
    }

    #[test]
    fn the_reference_is_converted_into_the_comparison_unit() {
        let mut s = spec();
        s.ref_factor = 1e-3; // reference in mV
        s.readings_per_point = 1;
        let mut f = CalibrationFold::new();
        f.apply(FoldInput::Setup(&s));
        f.apply(FoldInput::PointStart { index: 0, at_us: 0 });
        f.apply(FoldInput::Readings {
            channel: Channel::Uut,
            readings: &[r(1, 1, 10.02)],
        });
        f.apply(FoldInput::Readings {
            channel: Channel::Ref,
            readings: &[r(1, 1, 10_000.0)],
        });
        let res = f.points()[0].result.as_ref().expect("result");
        close(res.e, 0.02, 1e-12);
        assert_eq!(f.points()[0].reference[0].value, 10_000.0, "kept as read");
    }

    #[test]
    fn results_round_trip_through_json() {
        let r = evaluate_point(&spec(), 10.0, &[10.06], &[10.0]).expect("evaluates");
        let json = serde_json::to_string(&r).expect("serialises");
        assert!(json.contains(r#""nu_eff":"inf""#), "{json}");
        let back: PointResult = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, r);
        let spec_json = r#"{"unit":"V","points":[10],"readings_per_point":5,
            "mpe":{"form":"absolute","value":0.05},
            "ref_certificate":{"expanded":0.004,"k":2},"resolution":0.001}"#;
        let s: CalibrationSpec = serde_json::from_str(spec_json).expect("defaults fill in");
        assert_eq!(s.ref_factor, 1.0);
        assert_eq!(s.coverage, CoverageRule::default());
        assert_eq!(s.validate(), Ok(()));
    }
}
