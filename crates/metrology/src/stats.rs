//! Descriptive and robust summary statistics: mean, standard deviation,
//! median, linearly interpolated quantiles, MADe and nIQR (ISO 13528:2022
//! §C.2).
//!
//! All functions take a slice, reject non-finite elements (naming the index)
//! and never panic. Sorting uses `f64::total_cmp` on a copy; the caller's
//! slice is never reordered.

use crate::error::{MetrologyError, Result, all_finite, at_least, out};
use serde::{Deserialize, Serialize};

/// Factor that makes the median absolute deviation a consistent estimator of
/// σ for normal data (ISO 13528:2022 C.2.2: 1.483 ≈ 1/Φ⁻¹(0.75)).
pub const MADE_FACTOR: f64 = 1.483;
/// Factor that makes the interquartile range a consistent estimator of σ for
/// normal data (ISO 13528:2022 C.2.3: 0.7413 ≈ 1/(2Φ⁻¹(0.75))).
pub const NIQR_FACTOR: f64 = 0.7413;

/// Arithmetic mean (n ≥ 1).
pub fn mean(x: &[f64]) -> Result<f64> {
    all_finite("values", x)?;
    at_least("mean", 1, x.len())?;
    out("mean", mean_raw(x))
}

/// Mean computed as a sum scaled up-front so that values near f64::MAX do
/// not overflow needlessly.
pub(crate) fn mean_raw(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    if n == 0.0 {
        return 0.0;
    }
    let s: f64 = x.iter().sum();
    if s.is_finite() {
        s / n
    } else {
        x.iter().map(|v| v / n).sum()
    }
}

/// Sample variance with the n − 1 denominator (two-pass, n ≥ 2).
pub(crate) fn variance_raw(x: &[f64], m: f64) -> f64 {
    let n = x.len();
    if n < 2 {
        return 0.0;
    }
    let ss: f64 = x.iter().map(|v| (v - m) * (v - m)).sum();
    ss / (n as f64 - 1.0)
}

/// Sample standard deviation with the n − 1 denominator (n ≥ 2).
pub fn std_dev(x: &[f64]) -> Result<f64> {
    all_finite("values", x)?;
    at_least("standard deviation", 2, x.len())?;
    let m = out("mean", mean_raw(x))?;
    out("standard deviation", variance_raw(x, m).sqrt())
}

/// A sorted copy of the data (caller has checked finiteness).
pub(crate) fn sorted(x: &[f64]) -> Vec<f64> {
    let mut v = x.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// Median of sorted data (empty → 0; callers check length first).
pub(crate) fn median_sorted(s: &[f64]) -> f64 {
    let n = s.len();
    if n == 0 {
        return 0.0;
    }
    let mid = n / 2;
    let hi = s.get(mid).copied().unwrap_or(0.0);
    if n % 2 == 1 {
        hi
    } else {
        let lo = s.get(mid - 1).copied().unwrap_or(hi);
        lo + 0.5 * (hi - lo)
    }
}

/// Median (n ≥ 1).
pub fn median(x: &[f64]) -> Result<f64> {
    all_finite("values", x)?;
    at_least("median", 1, x.len())?;
    Ok(median_sorted(&sorted(x)))
}

/// Quantile of sorted data by linear interpolation between order statistics
/// at position h = (n − 1)p (Hyndman–Fan type 7, the default of R and of
/// spreadsheet `QUARTILE`). This is the definition that reproduces the
/// published nIQR = 0.0402 of ISO 13528:2022 Table E.5; types 5, 6 and 8
/// give 0.0423.
pub(crate) fn quantile_sorted(s: &[f64], p: f64) -> f64 {
    let n = s.len();
    if n == 0 {
        return 0.0;
    }
    let h = (n as f64 - 1.0) * p.clamp(0.0, 1.0);
    let lo = h.floor();
    let frac = h - lo;
    let i = (lo as usize).min(n - 1);
    let a = s.get(i).copied().unwrap_or(0.0);
    let b = s.get((i + 1).min(n - 1)).copied().unwrap_or(a);
    a + frac * (b - a)
}

/// Quantile with linear interpolation (Hyndman–Fan type 7, h = (n − 1)p;
/// the definition that reproduces nIQR = 0.0402 of ISO 13528 Table E.5),
/// `0 ≤ p ≤ 1`.
pub fn quantile(x: &[f64], p: f64) -> Result<f64> {
    all_finite("values", x)?;
    crate::error::finite("p", p)?;
    if !(0.0..=1.0).contains(&p) {
        return Err(MetrologyError::out_of_range("p", None, "0 <= p <= 1"));
    }
    at_least("quantile", 1, x.len())?;
    out("quantile", quantile_sorted(&sorted(x), p))
}

/// MADe = 1.483 · median |x_i − median| of data already sorted, with its
/// median.
pub(crate) fn made_sorted(s: &[f64], med: f64) -> f64 {
    let mut dev: Vec<f64> = s.iter().map(|v| (v - med).abs()).collect();
    dev.sort_unstable_by(f64::total_cmp);
    MADE_FACTOR * median_sorted(&dev)
}

/// Scaled median absolute deviation MADe (ISO 13528:2022 C.2.2).
pub fn made(x: &[f64]) -> Result<f64> {
    all_finite("values", x)?;
    at_least("MADe", 1, x.len())?;
    let s = sorted(x);
    out("MADe", made_sorted(&s, median_sorted(&s)))
}

/// Normalised interquartile range nIQR = 0.7413 (Q3 − Q1) with quartiles by
/// linear interpolation (ISO 13528:2022 C.2.3; type 7, see [`quantile`]).
pub fn niqr(x: &[f64]) -> Result<f64> {
    all_finite("values", x)?;
    at_least("nIQR", 1, x.len())?;
    let s = sorted(x);
    out("nIQR", niqr_sorted(&s))
}

pub(crate) fn niqr_sorted(s: &[f64]) -> f64 {
    NIQR_FACTOR * (quantile_sorted(s, 0.75) - quantile_sorted(s, 0.25))
}

/// Summary of a data set: classical and simple robust statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for n = 1.
    pub sd: f64,
    pub median: f64,
    pub made: f64,
    pub niqr: f64,
    pub min: f64,
    pub max: f64,
}

/// Mean, SD, median, MADe, nIQR, min and max in one pass over a sorted copy.
pub fn summary(x: &[f64]) -> Result<Summary> {
    all_finite("values", x)?;
    at_least("summary", 1, x.len())?;
    let s = sorted(x);
    let m = out("mean", mean_raw(x))?;
    let med = median_sorted(&s);
    Ok(Summary {
        n: x.len(),
        mean: m,
        sd: out("standard deviation", variance_raw(x, m).sqrt())?,
        median: med,
        made: out("MADe", made_sorted(&s, med))?,
        niqr: out("nIQR", niqr_sorted(&s))?,
        min: s.first().copied().unwrap_or(0.0),
        max: s.last().copied().unwrap_or(0.0),
    })
}
