//! Key-comparison reference values (KCRV) and degrees of equivalence (DoE),
//! following the CIPM MRA technical supplement T.2 and the usual CC
//! guidance: weighted mean with the χ² consistency check (Cox 2002),
//! DerSimonian–Laird and Mandel–Paule random-effects means, arithmetic mean,
//! median and Algorithm A, plus an `auto` choice.
//!
//! Unilateral DoE: d_i = x_i − y. For a reference linear in the results,
//! y = Σ a_j x_j with independent results of variances v_j,
//! u²(d_i) = v_i(1 − 2a_i) + Σ a_j² v_j for a laboratory included in y
//! (weighted mean: u_i² − u²(y); arithmetic mean: u_i²(1 − 2/n) + u²(y)) and
//! v_i + u²(y) for an excluded one. U(d_i) = k·u(d_i) (k = 2 by default),
//! En_i = d_i/U(d_i).
//!
//! Random-effects means (DL, MP): the model is x_i = μ + b_i + e_i with
//! Var(b_i) = τ², so by default each result's variance is v_i = u_i² + τ²
//! ([`RandomEffectsDoe::WithTau2`]): u²(d_i) = u_i² + τ² − u²(y) for an
//! included lab, u_i² + τ² + u²(y) for an excluded one, with
//! u²(y) = 1/Σ(u_j² + τ²)⁻¹. The setting `without-tau2` treats each lab's
//! bias as fixed (v_i = u_i²) and keeps the random-effects weights a_j.
//!
//! Median and Algorithm A are not linear in the results; their DoE use
//! u²(d_i) = u_i² + u²(y) for every laboratory (correlation with y ignored,
//! which is conservative for an included lab whose influence on a robust
//! estimator is bounded).

use crate::error::{MetrologyError, Result, out, positive};
use crate::robust::{self, AlgorithmAOptions};
use crate::special;
use crate::stats;
use serde::{Deserialize, Serialize};

/// A participant's result in a key comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KcLab {
    pub id: String,
    pub value: f64,
    /// Standard uncertainty u(x_i) (> 0).
    pub u: f64,
    /// Whether the result contributes to the reference value (default true).
    /// Excluded laboratories still receive a DoE.
    #[serde(default = "default_true")]
    pub included: bool,
}

fn default_true() -> bool {
    true
}

/// Reference-value estimator. Serialised kebab-case: `"weighted-mean"`,
/// `"dersimonian-laird"`, `"mandel-paule"`, `"arithmetic-mean"`, `"median"`,
/// `"algorithm-a"`, `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KcrvMethod {
    WeightedMean,
    DersimonianLaird,
    MandelPaule,
    ArithmeticMean,
    Median,
    AlgorithmA,
    /// Weighted mean if the χ² test passes at `alpha`, otherwise
    /// DerSimonian–Laird; the result's `method_used` says which.
    #[default]
    Auto,
}

/// Uncertainty of an arithmetic-mean KCRV. Kebab-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArithmeticMeanUncertainty {
    /// CIPM convention u²(y) = Σu_i²/n² (propagation of the stated u_i).
    #[default]
    FromUncertainties,
    /// Experimental standard deviation of the mean, s/√n (needs n ≥ 2).
    FromSpread,
}

/// Uncertainty of a median KCRV. Kebab-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MedianUncertainty {
    /// u(y) = 1.25·nIQR/√n, ISO 13528:2022 7.7.3 with the robust SD of
    /// Table E.5 (0.0086 for E.3); the same convention as the PT module, so
    /// a median has one uncertainty whichever module computes it.
    #[default]
    Iso13528,
    /// u(y) = √(π/2)·MADe/√n ≈ 1.2533·MADe/√n, the large-sample ratio of the
    /// standard error of the median to that of the mean for normal data.
    Asymptotic,
}

/// Variance attributed to each result in the DoE of a random-effects KCRV.
/// Kebab-case: `"with-tau2"`, `"without-tau2"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RandomEffectsDoe {
    /// v_i = u_i² + τ².
    #[default]
    WithTau2,
    /// v_i = u_i² (lab bias treated as fixed).
    WithoutTau2,
}

/// Settings of a reference-value evaluation; echoed in the result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KcrvOptions {
    pub method: KcrvMethod,
    pub arithmetic_mean_uncertainty: ArithmeticMeanUncertainty,
    pub median_uncertainty: MedianUncertainty,
    pub random_effects_doe: RandomEffectsDoe,
    /// k for U(d_i) = k·u(d_i) (CIPM MRA: 2).
    pub coverage_factor: f64,
    /// Significance level of the χ² consistency check (0.05).
    pub alpha: f64,
    pub algorithm_a: AlgorithmAOptions,
}

impl Default for KcrvOptions {
    fn default() -> Self {
        Self {
            method: KcrvMethod::Auto,
            arithmetic_mean_uncertainty: ArithmeticMeanUncertainty::FromUncertainties,
            median_uncertainty: MedianUncertainty::Iso13528,
            random_effects_doe: RandomEffectsDoe::WithTau2,
            coverage_factor: 2.0,
            alpha: 0.05,
            algorithm_a: AlgorithmAOptions::default(),
        }
    }
}

/// χ² consistency check of the included results about their weighted mean
/// (Cox 2002, procedure A).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChiSquareTest {
    pub chi2_obs: f64,
    pub dof: usize,
    /// P(χ²_{N−1} > χ²_obs).
    pub p_value: f64,
    /// √(χ²_obs/(N − 1)).
    pub birge_ratio: f64,
    /// p_value ≥ alpha.
    pub consistent: bool,
    pub alpha: f64,
}

/// A unilateral degree of equivalence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnilateralDoe {
    pub id: String,
    pub included: bool,
    /// d_i = x_i − y.
    pub d: f64,
    pub u_d: f64,
    /// U(d_i) = k·u(d_i).
    pub big_u_d: f64,
    /// d_i/U(d_i); `None` when U(d_i) = 0 (a single included lab).
    pub en: Option<f64>,
}

/// A bilateral degree of equivalence d_ij = x_i − x_j.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BilateralDoe {
    pub i: usize,
    pub j: usize,
    pub id_i: String,
    pub id_j: String,
    pub d: f64,
    pub u_d: f64,
    /// k·√(u_i² + u_j²) (independent laboratories).
    pub big_u_d: f64,
    pub en: f64,
}

/// A reference value with its degrees of equivalence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kcrv {
    pub method_requested: KcrvMethod,
    /// The estimator actually used (differs from the request only for `auto`).
    pub method_used: KcrvMethod,
    pub value: f64,
    /// Standard uncertainty u(y).
    pub u: f64,
    pub n_included: usize,
    /// Between-laboratory variance τ² (DL and MP only).
    pub tau2: Option<f64>,
    /// Iterations of the Mandel–Paule solver.
    pub iterations: Option<usize>,
    /// χ² check about the weighted mean of the included labs (N ≥ 2).
    pub chi2: Option<ChiSquareTest>,
    /// Weights a_j of the linear estimators, per lab in input order
    /// (0 for excluded labs); `None` for median and Algorithm A.
    pub weights: Option<Vec<f64>>,
    pub doe: Vec<UnilateralDoe>,
    pub options: KcrvOptions,
}

fn validate(labs: &[KcLab]) -> Result<()> {
    for (i, l) in labs.iter().enumerate() {
        if !l.value.is_finite() {
            return Err(MetrologyError::non_finite("labs.value", Some(i)));
        }
        if !l.u.is_finite() {
            return Err(MetrologyError::non_finite("labs.u", Some(i)));
        }
        if l.u <= 0.0 {
            return Err(MetrologyError::non_positive("labs.u", Some(i)));
        }
    }
    Ok(())
}

/// Weighted mean of (x, u) with weights 1/(u² + τ²): (mean, Σw).
fn weighted(x: &[f64], u: &[f64], tau2: f64) -> (f64, f64) {
    let mut sw = 0.0;
    let mut swx = 0.0;
    for (xi, ui) in x.iter().zip(u) {
        let w = 1.0 / (ui * ui + tau2);
        sw += w;
        swx += w * xi;
    }
    (swx / sw, sw)
}

fn chi2_obs(x: &[f64], u: &[f64], y: f64) -> f64 {
    x.iter()
        .zip(u)
        .map(|(xi, ui)| ((xi - y) / ui) * ((xi - y) / ui))
        .sum()
}

/// χ² consistency check of (x_i, u_i) about their weighted mean.
pub fn chi_square_test(x: &[f64], u: &[f64], alpha: f64) -> Result<ChiSquareTest> {
    if x.len() != u.len() {
        return Err(MetrologyError::length("u", x.len(), u.len()));
    }
    crate::error::at_least("chi-square test", 2, x.len())?;
    crate::error::all_finite("x", x)?;
    crate::error::all_finite("u", u)?;
    if let Some(i) = u.iter().position(|&v| v <= 0.0) {
        return Err(MetrologyError::non_positive("u", Some(i)));
    }
    check_alpha(alpha)?;
    chi_square_raw(x, u, alpha)
}

fn check_alpha(alpha: f64) -> Result<()> {
    crate::error::finite("alpha", alpha)?;
    if alpha > 0.0 && alpha < 1.0 {
        Ok(())
    } else {
        Err(MetrologyError::out_of_range("alpha", None, "0 < alpha < 1"))
    }
}

fn chi_square_raw(x: &[f64], u: &[f64], alpha: f64) -> Result<ChiSquareTest> {
    let (y, _) = weighted(x, u, 0.0);
    let q = out("chi-square", chi2_obs(x, u, out("weighted mean", y)?))?;
    let dof = x.len() - 1;
    let p = special::chi2_sf_raw(q, dof as f64);
    Ok(ChiSquareTest {
        chi2_obs: q,
        dof,
        p_value: p,
        birge_ratio: (q / dof as f64).sqrt(),
        consistent: p >= alpha,
        alpha,
    })
}

/// DerSimonian–Laird moment estimate of τ² (DerSimonian & Laird 1986):
/// τ² = max(0, (Q − (n − 1))/(Σw − Σw²/Σw)), w = 1/u².
pub fn dersimonian_laird_tau2(x: &[f64], u: &[f64]) -> Result<f64> {
    if x.len() != u.len() {
        return Err(MetrologyError::length("u", x.len(), u.len()));
    }
    crate::error::at_least("DerSimonian-Laird", 2, x.len())?;
    crate::error::all_finite("x", x)?;
    crate::error::all_finite("u", u)?;
    if let Some(i) = u.iter().position(|&v| v <= 0.0) {
        return Err(MetrologyError::non_positive("u", Some(i)));
    }
    dl_tau2_raw(x, u)
}

fn dl_tau2_raw(x: &[f64], u: &[f64]) -> Result<f64> {
    let (y, sw) = weighted(x, u, 0.0);
    let q = chi2_obs(x, u, y);
    let sw2: f64 = u.iter().map(|ui| 1.0 / (ui * ui * ui * ui)).sum();
    let denom = sw - sw2 / sw;
    let n1 = (x.len() - 1) as f64;
    let t = if denom > 0.0 && q > n1 {
        (q - n1) / denom
    } else {
        0.0
    };
    out("tau^2", t)
}

/// Mandel–Paule F(τ²) = Σ w_i (x_i − μ)² − (n − 1) and its derivative.
fn mp_f(x: &[f64], u: &[f64], tau2: f64) -> (f64, f64) {
    let (mu, _) = weighted(x, u, tau2);
    let mut f = 0.0;
    let mut df = 0.0;
    for (xi, ui) in x.iter().zip(u) {
        let w = 1.0 / (ui * ui + tau2);
        let r2 = (xi - mu) * (xi - mu);
        f += w * r2;
        df -= w * w * r2;
    }
    (f - (x.len() - 1) as f64, df)
}

/// Mandel–Paule τ² (Paule & Mandel 1982): the τ² ≥ 0 solving
/// Σ (x_i − μ)²/(u_i² + τ²) = n − 1, τ² = 0 if the left side is already
/// ≤ n − 1 at τ² = 0. F is decreasing in τ², so the root is bracketed by
/// doubling and found by Newton steps safeguarded with bisection.
/// Returns (τ², iterations).
pub fn mandel_paule_tau2(x: &[f64], u: &[f64]) -> Result<(f64, usize)> {
    if x.len() != u.len() {
        return Err(MetrologyError::length("u", x.len(), u.len()));
    }
    crate::error::at_least("Mandel-Paule", 2, x.len())?;
    crate::error::all_finite("x", x)?;
    crate::error::all_finite("u", u)?;
    if let Some(i) = u.iter().position(|&v| v <= 0.0) {
        return Err(MetrologyError::non_positive("u", Some(i)));
    }
    mp_tau2_raw(x, u)
}

fn mp_tau2_raw(x: &[f64], u: &[f64]) -> Result<(f64, usize)> {
    let (f0, _) = mp_f(x, u, 0.0);
    if !f0.is_finite() {
        return Err(MetrologyError::overflow("Mandel-Paule"));
    }
    if f0 <= 0.0 {
        return Ok((0.0, 0));
    }
    let m = stats::mean_raw(x);
    let mut hi = stats::variance_raw(x, m);
    if hi.is_nan() || hi <= 0.0 || !hi.is_finite() {
        hi = f64::MIN_POSITIVE;
    }
    let mut lo = 0.0;
    let mut it = 0;
    while mp_f(x, u, hi).0 > 0.0 {
        lo = hi;
        hi *= 2.0;
        it += 1;
        if !hi.is_finite() || it > 2100 {
            return Err(MetrologyError::NoConvergence {
                what: "Mandel-Paule bracket".into(),
                iterations: it,
            });
        }
    }
    let mut t = 0.5 * (lo + hi);
    for _ in 0..300 {
        it += 1;
        let (f, df) = mp_f(x, u, t);
        if f == 0.0 {
            return Ok((t, it));
        }
        if f > 0.0 {
            lo = t;
        } else {
            hi = t;
        }
        let mut next = if df < 0.0 { t - f / df } else { f64::NAN };
        if !next.is_finite() || next <= lo || next >= hi {
            next = 0.5 * (lo + hi);
        }
        if (next - t).abs() <= 1e-15 * next.abs() || hi - lo <= 1e-15 * hi {
            return Ok((next, it));
        }
        t = next;
    }
    Ok((t, it))
}

/// Evaluate a reference value and the unilateral DoE of every laboratory.
pub fn reference_value(labs: &[KcLab], options: &KcrvOptions) -> Result<Kcrv> {
    validate(labs)?;
    positive("coverage_factor", options.coverage_factor)?;
    check_alpha(options.alpha)?;
    let inc: Vec<usize> = (0..labs.len())
        .filter(|&i| labs.get(i).is_some_and(|l| l.included))
        .collect();
    let n = inc.len();
    crate::error::at_least("included laboratories", 1, n)?;
    let x: Vec<f64> = inc
        .iter()
        .filter_map(|&i| labs.get(i))
        .map(|l| l.value)
        .collect();
    let u: Vec<f64> = inc
        .iter()
        .filter_map(|&i| labs.get(i))
        .map(|l| l.u)
        .collect();
    let chi2 = if n >= 2 {
        Some(chi_square_raw(&x, &u, options.alpha)?)
    } else {
        None
    };
    let method_used = match options.method {
        KcrvMethod::Auto => match &chi2 {
            Some(c) if !c.consistent => KcrvMethod::DersimonianLaird,
            _ => KcrvMethod::WeightedMean,
        },
        m => m,
    };

    // Linear estimators: weights a_j (over included labs), DoE variances v_j
    // and the u²(y) used in the DoE formula.
    struct Linear {
        a: Vec<f64>,
        v: Vec<f64>,
        uy2_doe: f64,
    }
    let mut tau2 = None;
    let mut iterations = None;
    let (value, uy, linear): (f64, f64, Option<Linear>) = match method_used {
        KcrvMethod::WeightedMean | KcrvMethod::Auto => {
            let (y, sw) = weighted(&x, &u, 0.0);
            let a = u.iter().map(|ui| 1.0 / (ui * ui) / sw).collect();
            let v = u.iter().map(|ui| ui * ui).collect();
            (
                y,
                1.0 / sw.sqrt(),
                Some(Linear {
                    a,
                    v,
                    uy2_doe: 1.0 / sw,
                }),
            )
        }
        KcrvMethod::DersimonianLaird | KcrvMethod::MandelPaule => {
            crate::error::at_least("random-effects reference value", 2, n)?;
            let t = if method_used == KcrvMethod::DersimonianLaird {
                dl_tau2_raw(&x, &u)?
            } else {
                let (t, it) = mp_tau2_raw(&x, &u)?;
                iterations = Some(it);
                t
            };
            tau2 = Some(t);
            let (y, sw) = weighted(&x, &u, t);
            let a: Vec<f64> = u.iter().map(|ui| 1.0 / (ui * ui + t) / sw).collect();
            let (v, uy2_doe) = match options.random_effects_doe {
                RandomEffectsDoe::WithTau2 => (u.iter().map(|ui| ui * ui + t).collect(), 1.0 / sw),
                RandomEffectsDoe::WithoutTau2 => {
                    let v: Vec<f64> = u.iter().map(|ui| ui * ui).collect();
                    let s = a.iter().zip(&v).map(|(aj, vj)| aj * aj * vj).sum();
                    (v, s)
                }
            };
            (y, 1.0 / sw.sqrt(), Some(Linear { a, v, uy2_doe }))
        }
        KcrvMethod::ArithmeticMean => {
            let y = stats::mean_raw(&x);
            let nf = n as f64;
            let uy = match options.arithmetic_mean_uncertainty {
                ArithmeticMeanUncertainty::FromUncertainties => {
                    u.iter().map(|ui| ui * ui).sum::<f64>().sqrt() / nf
                }
                ArithmeticMeanUncertainty::FromSpread => {
                    crate::error::at_least("arithmetic mean from spread", 2, n)?;
                    stats::variance_raw(&x, y).sqrt() / nf.sqrt()
                }
            };
            let a = vec![1.0 / nf; n];
            let v = u.iter().map(|ui| ui * ui).collect();
            (
                y,
                uy,
                Some(Linear {
                    a,
                    v,
                    uy2_doe: uy * uy,
                }),
            )
        }
        KcrvMethod::Median => {
            let s = stats::sorted(&x);
            let med = stats::median_sorted(&s);
            let uy = match options.median_uncertainty {
                MedianUncertainty::Iso13528 => robust::consensus_uncertainty(stats::niqr(&x)?, n),
                MedianUncertainty::Asymptotic => {
                    (core::f64::consts::PI / 2.0).sqrt() * stats::made_sorted(&s, med)
                        / (n as f64).sqrt()
                }
            };
            (med, uy, None)
        }
        KcrvMethod::AlgorithmA => {
            let r = robust::algorithm_a(&x, &options.algorithm_a)?;
            (r.x_star, r.u_x_star, None)
        }
    };
    let value = out("reference value", value)?;
    let uy = out("u(reference value)", uy)?;

    let k = options.coverage_factor;
    let mut weights = linear.as_ref().map(|_| vec![0.0; labs.len()]);
    let mut pos_of: Vec<Option<usize>> = vec![None; labs.len()];
    for (p, &i) in inc.iter().enumerate() {
        if let Some(slot) = pos_of.get_mut(i) {
            *slot = Some(p);
        }
    }
    let mut doe = Vec::with_capacity(labs.len());
    for (i, lab) in labs.iter().enumerate() {
        let pos = pos_of.get(i).copied().flatten();
        let ud2 = match (&linear, pos) {
            (Some(l), Some(p)) => {
                let ai = l.a.get(p).copied().unwrap_or(0.0);
                let vi = l.v.get(p).copied().unwrap_or(0.0);
                if let Some(w) = weights.as_mut().and_then(|w| w.get_mut(i)) {
                    *w = ai;
                }
                vi * (1.0 - 2.0 * ai) + l.uy2_doe
            }
            (Some(l), None) => lab.u * lab.u + tau_for_doe(tau2, options) + l.uy2_doe,
            (None, _) => lab.u * lab.u + uy * uy,
        };
        let u_d = out("u(d_i)", ud2.max(0.0).sqrt())?;
        let d = out("d_i", lab.value - value)?;
        let big_u_d = out("U(d_i)", k * u_d)?;
        doe.push(UnilateralDoe {
            id: lab.id.clone(),
            included: pos.is_some(),
            d,
            u_d,
            big_u_d,
            en: if big_u_d > 0.0 {
                Some(d / big_u_d)
            } else {
                None
            },
        });
    }
    Ok(Kcrv {
        method_requested: options.method,
        method_used,
        value,
        u: uy,
        n_included: n,
        tau2,
        iterations,
        chi2,
        weights,
        doe,
        options: *options,
    })
}

fn tau_for_doe(tau2: Option<f64>, options: &KcrvOptions) -> f64 {
    match (tau2, options.random_effects_doe) {
        (Some(t), RandomEffectsDoe::WithTau2) => t,
        _ => 0.0,
    }
}

/// Bilateral DoE for every pair i < j: d_ij = x_i − x_j,
/// U(d_ij) = k·√(u_i² + u_j²) (independent laboratories; CIPM MRA T.2).
pub fn bilateral_doe(labs: &[KcLab], coverage_factor: f64) -> Result<Vec<BilateralDoe>> {
    validate(labs)?;
    positive("coverage_factor", coverage_factor)?;
    let mut res = Vec::with_capacity(labs.len().saturating_mul(labs.len().saturating_sub(1)) / 2);
    for (i, a) in labs.iter().enumerate() {
        for (j, b) in labs.iter().enumerate().skip(i + 1) {
            let d = out("d_ij", a.value - b.value)?;
            let u_d = out("u(d_ij)", a.u.hypot(b.u))?;
            let big_u_d = out("U(d_ij)", coverage_factor * u_d)?;
            res.push(BilateralDoe {
                i,
                j,
                id_i: a.id.clone(),
                id_j: b.id.clone(),
                d,
                u_d,
                big_u_d,
                en: out("En_ij", d / big_u_d)?,
            });
        }
    }
    Ok(res)
}
