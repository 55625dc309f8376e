//! Robust estimators of ISO 13528:2022 Annex C: Algorithm A (C.3, location and
//! scale) and Algorithm S (C.4, pooled standard deviation).
//!
//! Both are iterative winsorisations. The standard leaves the stopping rule
//! as "no change in the third significant figure"; full convergence is offered
//! as a setting and the rule used is recorded in the result.

use crate::error::{MetrologyError, Result, all_finite, at_least, out};
use crate::special;
use crate::stats::{self, MADE_FACTOR};
use serde::{Deserialize, Serialize};

/// When Algorithm A or S stops iterating.
///
/// Serialised kebab-case: `"third-significant-figure"`, `"full-convergence"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoppingRule {
    /// ISO 13528:2022 C.3.1: stop when there is no change "in the third
    /// significant figure of the robust standard deviation and of the
    /// equivalent figure in the robust average": s* (w* for S) rounded to
    /// three significant figures, and x* rounded to the same decimal place
    /// as that figure of s*, are equal before and after an iteration (the
    /// newer values are reported unrounded). Rounding x* at a place set by
    /// s* (not by x*'s own magnitude) keeps the rule location-equivariant:
    /// shifting every value by a whole number of those units changes neither
    /// s* nor the number of iterations.
    #[default]
    ThirdSignificantFigure,
    /// Iterate to numerical convergence: successive changes below
    /// 1e-12·s* + 1e-14·|x*|.
    FullConvergence,
}

/// Options of Algorithm A.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlgorithmAOptions {
    pub stopping: StoppingRule,
    /// Upper bound on iterations (default 1000); reaching it is reported
    /// through `converged = false`, not as an error.
    pub max_iterations: usize,
}

impl Default for AlgorithmAOptions {
    fn default() -> Self {
        Self {
            stopping: StoppingRule::ThirdSignificantFigure,
            max_iterations: 1000,
        }
    }
}

/// Result of Algorithm A.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlgorithmAResult {
    /// Robust average x*.
    pub x_star: f64,
    /// Robust standard deviation s*.
    pub s_star: f64,
    /// Number of participants p.
    pub n: usize,
    /// Iterations performed (0 when all values are equal).
    pub iterations: usize,
    /// Whether the stopping rule was met within `max_iterations`.
    pub converged: bool,
    /// True when the initial MADe was 0 and the start used the ordinary SD
    /// (ISO 13528:2022 C.3.1 note).
    pub started_from_sd: bool,
    /// Standard uncertainty of x* as an assigned value, 1.25·s*/√p
    /// (ISO 13528:2022 7.7.3).
    pub u_x_star: f64,
    pub options: AlgorithmAOptions,
}

/// Standard uncertainty of a consensus value from p results with robust
/// standard deviation `robust_sd`: u(x_pt) = 1.25·s*/√p (ISO 13528:2022
/// 7.7.3; 1.25 is the efficiency penalty of a robust estimator against the
/// mean). The one place this factor lives: Algorithm A, the median of a PT
/// round and the median reference value all use it.
pub fn consensus_uncertainty(robust_sd: f64, p: usize) -> f64 {
    1.25 * robust_sd / (p as f64).sqrt()
}

/// Round to `digits` significant figures (0 stays 0).
pub(crate) fn round_sig(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let e = v.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits - 1 - e);
    if !scale.is_finite() || scale == 0.0 {
        return v;
    }
    (v * scale).round() / scale
}

fn same_3sf(a: f64, b: f64) -> bool {
    round_sig(a, 3) == round_sig(b, 3)
}

/// `a` and `b` agree when rounded to the decimal place of the third
/// significant figure of `scale` (the "equivalent figure" of ISO 13528 C.3.1).
/// With `scale` = 0 there is no such place and only equality counts.
fn same_at_third_figure_of(a: f64, b: f64, scale: f64) -> bool {
    let s = round_sig(scale, 3).abs();
    if s == 0.0 || !s.is_finite() {
        return a == b;
    }
    // Place of the third significant figure: 10^(e − 2) with e the exponent
    // of s. Divide by a power of ten ≥ 1 or multiply by one (exact up to
    // 1e22), never by an inexact 10^−k.
    let place = s.log10().floor() as i32 - 2;
    let units = |v: f64| {
        if place >= 0 {
            (v / 10f64.powi(place)).round()
        } else {
            (v * 10f64.powi(-place)).round()
        }
    };
    units(a) == units(b)
}

/// ISO 13528:2022 Algorithm A (C.3): robust average and standard deviation.
///
/// Start: x* = median, s* = 1.483·median|x_i − x*| (the ordinary SD if that
/// is 0). Iterate: δ = 1.5 s*, winsorise to [x* − δ, x* + δ],
/// x* = mean, s* = 1.134·SD of the winsorised values.
/// Needs p ≥ 2 values.
pub fn algorithm_a(x: &[f64], options: &AlgorithmAOptions) -> Result<AlgorithmAResult> {
    all_finite("values", x)?;
    at_least("Algorithm A", 2, x.len())?;
    let n = x.len();
    let s = stats::sorted(x);
    let mut xs = stats::median_sorted(&s);
    let mut ss = MADE_FACTOR * {
        let mut dev: Vec<f64> = s.iter().map(|v| (v - xs).abs()).collect();
        dev.sort_unstable_by(f64::total_cmp);
        stats::median_sorted(&dev)
    };
    drop(s);
    let mut started_from_sd = false;
    if ss == 0.0 {
        let m = stats::mean_raw(x);
        ss = stats::variance_raw(x, m).sqrt();
        started_from_sd = true;
    }
    out("initial s*", ss)?;
    let mut iterations = 0;
    let mut converged = ss == 0.0;
    let nf = n as f64;
    while !converged && iterations < options.max_iterations {
        iterations += 1;
        let delta = 1.5 * ss;
        let lo = xs - delta;
        let hi = xs + delta;
        // Winsorised mean and SD without storing the winsorised copy.
        let mut sum = 0.0;
        for v in x {
            sum += v.clamp(lo, hi);
        }
        let nx = sum / nf;
        let mut ssq = 0.0;
        for v in x {
            let d = v.clamp(lo, hi) - nx;
            ssq += d * d;
        }
        let ns = 1.134 * (ssq / (nf - 1.0)).sqrt();
        if !nx.is_finite() || !ns.is_finite() {
            return Err(MetrologyError::overflow("Algorithm A"));
        }
        converged = match options.stopping {
            StoppingRule::ThirdSignificantFigure => {
                same_3sf(ns, ss) && same_at_third_figure_of(nx, xs, ns)
            }
            StoppingRule::FullConvergence => {
                let tol = 1e-12 * ns + 1e-14 * nx.abs();
                ((nx - xs).abs() <= tol && (ns - ss).abs() <= tol) || (nx == xs && ns == ss)
            }
        };
        xs = nx;
        ss = ns;
    }
    Ok(AlgorithmAResult {
        x_star: xs,
        s_star: ss,
        n,
        iterations,
        converged,
        started_from_sd,
        u_x_star: out("u(x*)", consensus_uncertainty(ss, n))?,
        options: *options,
    })
}

// ---------------------------------------------------------------------------
// Algorithm S
// ---------------------------------------------------------------------------

/// Limit factor η and adjustment factor ξ of Algorithm S for ν = 1…10
/// (ISO 13528:2022 Table C.2, from ISO 5725-5).
const ALGORITHM_S_TABLE: [(f64, f64); 10] = [
    (1.645, 1.097),
    (1.517, 1.054),
    (1.444, 1.039),
    (1.395, 1.032),
    (1.359, 1.027),
    (1.332, 1.024),
    (1.310, 1.021),
    (1.292, 1.019),
    (1.277, 1.018),
    (1.264, 1.017),
];

/// (η, ξ) for Algorithm S with ν degrees of freedom.
///
/// For integer ν ≤ 10 the published table is used. Otherwise the factors are
/// computed from their definition (ISO 5725-5 §6.3): η² = χ²_ν;0.90 / ν
/// (winsorising at the 90 % point of the SD's distribution) and
/// ξ = 1/√E[min(w²/σ², η²)], where
/// E[min(W, c)] = P(χ²_{ν+2} < νc) + c·P(χ²_ν > νc) for W = χ²_ν/ν.
/// The computed η reproduce the table to its three decimals and ξ within
/// 0.001 (the published ξ for ν = 6 and 10 are 0.0006 above the values the
/// definition gives).
pub fn algorithm_s_factors(nu: f64) -> Result<(f64, f64)> {
    crate::error::finite("nu", nu)?;
    if nu <= 0.0 {
        return Err(MetrologyError::out_of_range("nu", None, "nu > 0"));
    }
    if nu.fract() == 0.0
        && nu <= 10.0
        && let Some(&f) = ALGORITHM_S_TABLE.get(nu as usize - 1)
    {
        return Ok(f);
    }
    let (eta, xi) = algorithm_s_factors_computed(nu);
    Ok((out("eta", eta)?, out("xi", xi)?))
}

pub(crate) fn algorithm_s_factors_computed(nu: f64) -> (f64, f64) {
    let c_nu = special::chi2_quantile_raw(0.90, nu);
    let eta2 = c_nu / nu;
    let below = special::gamma_pq_raw(0.5 * (nu + 2.0), 0.5 * c_nu).0;
    let above = special::gamma_pq_raw(0.5 * nu, 0.5 * c_nu).1;
    let e = below + eta2 * above;
    (eta2.sqrt(), 1.0 / e.sqrt())
}

/// Options of Algorithm S.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlgorithmSOptions {
    /// Degrees of freedom of each standard deviation (1 for ranges of
    /// duplicates).
    pub dof: f64,
    pub stopping: StoppingRule,
    pub max_iterations: usize,
}

impl Default for AlgorithmSOptions {
    fn default() -> Self {
        Self {
            dof: 1.0,
            stopping: StoppingRule::ThirdSignificantFigure,
            max_iterations: 1000,
        }
    }
}

/// Result of Algorithm S.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlgorithmSResult {
    /// Robust pooled value w*.
    pub w_star: f64,
    pub eta: f64,
    pub xi: f64,
    pub n: usize,
    pub iterations: usize,
    pub converged: bool,
    pub options: AlgorithmSOptions,
}

/// ISO 13528:2022 Algorithm S (C.4): robust pooled standard deviation (or
/// range) of p standard deviations w_i each with ν degrees of freedom.
///
/// Start w* = median(w_i); iterate ψ = η·w*, w_i* = min(w_i, ψ),
/// w* = ξ·√(Σ w_i*²/p).
pub fn algorithm_s(w: &[f64], options: &AlgorithmSOptions) -> Result<AlgorithmSResult> {
    all_finite("values", w)?;
    at_least("Algorithm S", 1, w.len())?;
    if let Some(i) = w.iter().position(|&v| v < 0.0) {
        return Err(MetrologyError::out_of_range(
            "values",
            Some(i),
            "standard deviations >= 0",
        ));
    }
    let (eta, xi) = algorithm_s_factors(options.dof)?;
    let n = w.len();
    let mut ws = stats::median_sorted(&stats::sorted(w));
    let mut iterations = 0;
    let mut converged = ws == 0.0;
    while !converged && iterations < options.max_iterations {
        iterations += 1;
        let psi = eta * ws;
        let ssq: f64 = w.iter().map(|&v| v.min(psi) * v.min(psi)).sum();
        let nw = xi * (ssq / n as f64).sqrt();
        if !nw.is_finite() {
            return Err(MetrologyError::overflow("Algorithm S"));
        }
        converged = match options.stopping {
            StoppingRule::ThirdSignificantFigure => same_3sf(nw, ws),
            StoppingRule::FullConvergence => (nw - ws).abs() <= 1e-13 * nw,
        };
        ws = nw;
    }
    Ok(AlgorithmSResult {
        w_star: ws,
        eta,
        xi,
        n,
        iterations,
        converged,
        options: *options,
    })
}
