//! Conformity assessment of an indication error against a maximum
//! permissible error (MPE), JJF 1094-2002 (测量仪器特性评定) §5.3; ILAC-G8
//! calls these decision rules.
//!
//! With U95 the expanded uncertainty (p ≈ 95 %) of the error Δ and MPEV the
//! magnitude of the MPE at the reading:
//! * if U95 ≤ MPEV/3 the uncertainty is negligible: |Δ| ≤ MPEV → pass
//!   (合格), otherwise fail (不合格);
//! * otherwise guard bands apply: |Δ| ≤ MPEV − U95 → pass,
//!   |Δ| ≥ MPEV + U95 → fail, in between indeterminate (待定).

use crate::error::{MetrologyError, Result, finite, non_negative, out, positive};
use serde::{Deserialize, Serialize};

/// Form of a maximum permissible error. Internally tagged with `"form"`,
/// kebab-case, e.g. `{"form":"reading-plus-range","reading_percent":0.05,
/// "range_percent":0.01,"range":100.0}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "kebab-case")]
pub enum Mpe {
    /// ±value (e.g. ±0.02 mm).
    Absolute { value: f64 },
    /// ±percent % of the reading.
    Relative { percent: f64 },
    /// Fiducial error / accuracy class: ±percent % of the fiducial value
    /// `span` (full scale or range).
    Fiducial { percent: f64, span: f64 },
    /// ±(a % of reading + b % of range).
    ReadingPlusRange {
        reading_percent: f64,
        range_percent: f64,
        range: f64,
    },
    /// ±(a % of reading + n digits), one digit = `resolution`.
    ReadingPlusDigits {
        reading_percent: f64,
        digits: f64,
        resolution: f64,
    },
}

/// The maximum permissible error value MPEV (a magnitude) at `reading`.
///
/// `reading` is the indication at which the MPE is specified (percentages of
/// reading use |reading|).
pub fn mpev(mpe: &Mpe, reading: f64) -> Result<f64> {
    finite("reading", reading)?;
    let nn = non_negative;
    let r = reading.abs();
    let v = match *mpe {
        Mpe::Absolute { value } => nn("value", value)?,
        Mpe::Relative { percent } => nn("percent", percent)? / 100.0 * r,
        Mpe::Fiducial { percent, span } => nn("percent", percent)? / 100.0 * nn("span", span)?,
        Mpe::ReadingPlusRange {
            reading_percent,
            range_percent,
            range,
        } => {
            nn("reading_percent", reading_percent)? / 100.0 * r
                + nn("range_percent", range_percent)? / 100.0 * nn("range", range)?
        }
        Mpe::ReadingPlusDigits {
            reading_percent,
            digits,
            resolution,
        } => {
            nn("reading_percent", reading_percent)? / 100.0 * r
                + nn("digits", digits)? * nn("resolution", resolution)?
        }
    };
    out("MPEV", v)
}

/// Which decision rule to use. Kebab-case: `"jjf1094"`, `"guard-band"`,
/// `"simple"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionPolicy {
    /// JJF 1094: simple acceptance when U95 ≤ MPEV/ratio, guard bands
    /// otherwise.
    #[default]
    Jjf1094,
    /// Always use guard bands (ILAC-G8 guarded acceptance with w = U95).
    GuardBand,
    /// Always simple acceptance (ILAC-G8 "shared risk").
    Simple,
}

/// The rule that was applied. Kebab-case: `"simple"`, `"guard-band"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppliedRule {
    /// U95 ≤ MPEV/3 (or policy `simple`): |Δ| ≤ MPEV.
    Simple,
    /// MPEV − U95 / MPEV + U95 limits.
    GuardBand,
}

/// Verdict. Kebab-case: `"pass"` (合格), `"fail"` (不合格),
/// `"indeterminate"` (待定).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    Indeterminate,
}

/// Settings of a conformity decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConformityOptions {
    pub policy: DecisionPolicy,
    /// The ratio MPEV/U95 at or above which the uncertainty is negligible
    /// (JJF 1094: 3).
    pub ratio: f64,
}

impl Default for ConformityOptions {
    fn default() -> Self {
        Self {
            policy: DecisionPolicy::Jjf1094,
            ratio: 3.0,
        }
    }
}

/// A conformity decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conformity {
    /// Indication error Δ.
    pub error: f64,
    pub u95: f64,
    pub mpev: f64,
    /// U95 ≤ MPEV/ratio.
    pub uncertainty_negligible: bool,
    pub rule: AppliedRule,
    /// Acceptance limit: MPEV (simple) or MPEV − U95 (guard band; may be
    /// negative, then nothing passes).
    pub acceptance_limit: f64,
    /// Rejection limit: MPEV (simple) or MPEV + U95.
    pub rejection_limit: f64,
    pub verdict: Verdict,
    pub options: ConformityOptions,
}

/// Decide conformity of error `error` with expanded uncertainty `u95`
/// against `mpev`.
///
/// Comparisons allow a relative slack of 1e-12·MPEV so that a value exactly
/// on a limit as written in decimal (e.g. Δ = 0.3 against 0.1 + 0.2) is
/// treated as on the limit.
pub fn assess_with_mpev(
    error: f64,
    u95: f64,
    mpev: f64,
    options: &ConformityOptions,
) -> Result<Conformity> {
    finite("error", error)?;
    non_negative("u95", u95)?;
    positive("mpev", mpev)?;
    positive("ratio", options.ratio)?;
    let negligible = u95 <= mpev / options.ratio;
    let rule = match options.policy {
        DecisionPolicy::Jjf1094 if negligible => AppliedRule::Simple,
        DecisionPolicy::Simple => AppliedRule::Simple,
        _ => AppliedRule::GuardBand,
    };
    let a = error.abs();
    let slack = 1e-12 * mpev;
    let (acc, rej) = match rule {
        AppliedRule::Simple => (mpev, mpev),
        AppliedRule::GuardBand => (mpev - u95, mpev + u95),
    };
    let verdict = match rule {
        AppliedRule::Simple => {
            if a <= acc + slack {
                Verdict::Pass
            } else {
                Verdict::Fail
            }
        }
        AppliedRule::GuardBand => {
            if a <= acc + slack {
                Verdict::Pass
            } else if a >= rej - slack {
                Verdict::Fail
            } else {
                Verdict::Indeterminate
            }
        }
    };
    if !rej.is_finite() {
        return Err(MetrologyError::overflow("MPEV + U95"));
    }
    Ok(Conformity {
        error,
        u95,
        mpev,
        uncertainty_negligible: negligible,
        rule,
        acceptance_limit: acc,
        rejection_limit: rej,
        verdict,
        options: *options,
    })
}

/// Decide conformity against an MPE evaluated at `reading`.
pub fn assess(
    error: f64,
    u95: f64,
    mpe: &Mpe,
    reading: f64,
    options: &ConformityOptions,
) -> Result<Conformity> {
    let m = mpev(mpe, reading)?;
    assess_with_mpev(error, u95, m, options)
}
