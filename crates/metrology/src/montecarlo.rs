//! Propagation of distributions by the Monte Carlo method (JCGM 101:2008).
//!
//! A user model `f(&[f64]) -> f64` is evaluated on M draws of the inputs.
//! The estimate is the mean, the standard uncertainty the standard deviation
//! (7.6); the probabilistically symmetric (7.7.2) and shortest (7.7.3)
//! coverage intervals come from the sorted values. The adaptive procedure of
//! 7.9 is available. Single-threaded and allocation-light (one `Vec<f64>` of
//! M outputs), so it runs unchanged in the browser.

use crate::error::{MetrologyError, Result, finite, non_negative, out, positive};
use crate::rng::Xoshiro256pp;
use serde::{Deserialize, Serialize};

/// Upper limit on M: the model values are kept for the coverage intervals,
/// and 10⁸ of them already take 800 MB (a browser tab has less).
pub const MAX_TRIALS: usize = 100_000_000;

/// Probability distribution of one input (JCGM 101 §6.4). Internally tagged
/// with `"kind"`, kebab-case. A `multivariate-normal` supplies `mean.len()`
/// consecutive inputs of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Input {
    /// Gaussian N(mean, sd²) (6.4.7).
    Normal { mean: f64, sd: f64 },
    /// Rectangular on mean ± half_width (6.4.2).
    Rectangular { mean: f64, half_width: f64 },
    /// Symmetric triangular on mean ± half_width (6.4.5).
    Triangular { mean: f64, half_width: f64 },
    /// Arcsine (U-shaped) on mean ± half_width (6.4.6).
    Arcsine { mean: f64, half_width: f64 },
    /// Scaled and shifted t: mean + scale·t_ν (6.4.9: for a Type A input,
    /// mean = x̄, scale = s/√n, ν = n − 1).
    StudentT { mean: f64, scale: f64, dof: f64 },
    /// A constant.
    Constant { value: f64 },
    /// Multivariate Gaussian (6.4.8) with a positive semi-definite covariance.
    MultivariateNormal {
        mean: Vec<f64>,
        covariance: Vec<Vec<f64>>,
    },
}

/// A coverage interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// Settings of the adaptive procedure (JCGM 101 7.9).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveOptions {
    /// Significant decimal digits of u(y) regarded as meaningful (7.9.2);
    /// the numerical tolerance is δ = ½·10^l for u(y) = c·10^l, c an
    /// n_dig-digit integer.
    pub n_dig: u32,
    /// Stop (unconverged) when this many trials have been made.
    pub max_trials: usize,
}

impl Default for AdaptiveOptions {
    fn default() -> Self {
        Self {
            n_dig: 2,
            max_trials: 10_000_000,
        }
    }
}

/// Settings of a Monte Carlo run; echoed in the result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McOptions {
    /// Number of trials M (ignored by the adaptive procedure, which uses
    /// batches of max(100/(1 − p), 10⁴)).
    pub trials: usize,
    pub seed: u64,
    /// Coverage probability p (0.95).
    pub coverage: f64,
    /// Use the adaptive procedure of JCGM 101 7.9 when set.
    #[serde(default)]
    pub adaptive: Option<AdaptiveOptions>,
}

impl Default for McOptions {
    fn default() -> Self {
        Self {
            trials: 1_000_000,
            seed: 1,
            coverage: 0.95,
            adaptive: None,
        }
    }
}

/// Report of the adaptive procedure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveReport {
    pub batches: usize,
    pub batch_size: usize,
    /// Numerical tolerance δ (7.9.2).
    pub tolerance: f64,
    /// Whether the results stabilised before `max_trials`.
    pub converged: bool,
}

/// Result of a Monte Carlo run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McResult {
    pub trials: usize,
    /// Estimate y = mean of the model values.
    pub estimate: f64,
    /// Standard uncertainty u(y) = standard deviation of the model values.
    pub u: f64,
    pub coverage: f64,
    /// Probabilistically symmetric interval (7.7.2).
    pub symmetric: Interval,
    /// Shortest interval (7.7.3).
    pub shortest: Interval,
    pub adaptive: Option<AdaptiveReport>,
    pub options: McOptions,
}

#[derive(Debug, Clone)]
enum Sampler {
    Normal(f64, f64),
    Rect(f64, f64),
    Tri(f64, f64),
    Arcsine(f64, f64),
    T(f64, f64, f64),
    Const(f64),
    Mvn { mean: Vec<f64>, chol: Vec<f64> },
}

/// Lower Cholesky factor (row-major n×n) of a symmetric PSD matrix; zero
/// pivots (semi-definite) give zero columns. Doubles as the PSD check: a
/// pivot below −1e-10·scale, or a zero pivot whose column is not zero too,
/// means the matrix is not positive semi-definite.
pub(crate) fn cholesky(cov: &[Vec<f64>], field: &str) -> Result<Vec<f64>> {
    let n = cov.len();
    for (i, row) in cov.iter().enumerate() {
        if row.len() != n {
            return Err(MetrologyError::length(field, n, row.len()));
        }
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(MetrologyError::non_finite(field, Some(i * n + j)));
        }
    }
    let a = |i: usize, j: usize| cov.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0.0);
    let scale = (0..n).map(|i| a(i, i).abs()).fold(0.0, f64::max);
    for i in 0..n {
        for j in 0..i {
            if (a(i, j) - a(j, i)).abs() > 1e-9 * scale.max(f64::MIN_POSITIVE) {
                return Err(MetrologyError::out_of_range(
                    field,
                    Some(i * n + j),
                    "a symmetric matrix",
                ));
            }
        }
    }
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let mut d = a(j, j);
        for k in 0..j {
            let v = l.get(j * n + k).copied().unwrap_or(0.0);
            d -= v * v;
        }
        if d < -1e-10 * scale {
            return Err(MetrologyError::NotPositiveSemiDefinite {
                what: field.to_owned(),
            });
        }
        let djj = if d > 1e-14 * scale { d.sqrt() } else { 0.0 };
        if let Some(x) = l.get_mut(j * n + j) {
            *x = djj;
        }
        for i in (j + 1)..n {
            let mut s = a(i, j);
            for k in 0..j {
                s -= l.get(i * n + k).copied().unwrap_or(0.0)
                    * l.get(j * n + k).copied().unwrap_or(0.0);
            }
            // With a zero pivot a PSD matrix has a zero column below it
            // (|s|² ≤ pivot·d_ii); the tolerance matches the pivot's.
            if djj == 0.0 && s.abs() > 1e-5 * scale {
                return Err(MetrologyError::NotPositiveSemiDefinite {
                    what: field.to_owned(),
                });
            }
            let v = if djj > 0.0 { s / djj } else { 0.0 };
            if let Some(x) = l.get_mut(i * n + j) {
                *x = v;
            }
        }
    }
    Ok(l)
}

fn build_samplers(inputs: &[Input]) -> Result<(Vec<Sampler>, usize)> {
    let mut out_s = Vec::with_capacity(inputs.len());
    let mut dim = 0;
    for (i, inp) in inputs.iter().enumerate() {
        let f = |name: &str, v: f64| -> Result<f64> {
            if v.is_finite() {
                Ok(v)
            } else {
                Err(MetrologyError::non_finite(name, Some(i)))
            }
        };
        let nn = |name: &str, v: f64| -> Result<f64> {
            let v = f(name, v)?;
            if v >= 0.0 {
                Ok(v)
            } else {
                Err(MetrologyError::non_positive(name, Some(i)))
            }
        };
        let s = match inp {
            Input::Normal { mean, sd } => {
                Sampler::Normal(f("inputs.mean", *mean)?, nn("inputs.sd", *sd)?)
            }
            Input::Rectangular { mean, half_width } => Sampler::Rect(
                f("inputs.mean", *mean)?,
                nn("inputs.half_width", *half_width)?,
            ),
            Input::Triangular { mean, half_width } => Sampler::Tri(
                f("inputs.mean", *mean)?,
                nn("inputs.half_width", *half_width)?,
            ),
            Input::Arcsine { mean, half_width } => Sampler::Arcsine(
                f("inputs.mean", *mean)?,
                nn("inputs.half_width", *half_width)?,
            ),
            Input::StudentT { mean, scale, dof } => {
                let d = f("inputs.dof", *dof)?;
                if d < 1.0 {
                    // JCGM 101 6.4.9: ν = n − 1 ≥ 1 for a Type A input; below 1
                    // the variates overflow too often to be useful.
                    return Err(MetrologyError::out_of_range(
                        "inputs.dof",
                        Some(i),
                        "dof >= 1",
                    ));
                }
                Sampler::T(f("inputs.mean", *mean)?, nn("inputs.scale", *scale)?, d)
            }
            Input::Constant { value } => Sampler::Const(f("inputs.value", *value)?),
            Input::MultivariateNormal { mean, covariance } => {
                if let Some(j) = mean.iter().position(|v| !v.is_finite()) {
                    return Err(MetrologyError::non_finite("inputs.mean", Some(j)));
                }
                if covariance.len() != mean.len() {
                    return Err(MetrologyError::length(
                        "inputs.covariance",
                        mean.len(),
                        covariance.len(),
                    ));
                }
                let chol = cholesky(covariance, "inputs.covariance")?;
                Sampler::Mvn {
                    mean: mean.clone(),
                    chol,
                }
            }
        };
        dim += match &s {
            Sampler::Mvn { mean, .. } => mean.len(),
            _ => 1,
        };
        out_s.push(s);
    }
    Ok((out_s, dim))
}

#[inline]
fn draw(samplers: &[Sampler], rng: &mut Xoshiro256pp, x: &mut [f64], z: &mut Vec<f64>) {
    let mut k = 0;
    for s in samplers {
        match s {
            Sampler::Normal(m, sd) => {
                if let Some(v) = x.get_mut(k) {
                    *v = m + sd * rng.normal();
                }
                k += 1;
            }
            Sampler::Rect(m, a) => {
                if let Some(v) = x.get_mut(k) {
                    *v = m + a * (2.0 * rng.next_f64() - 1.0);
                }
                k += 1;
            }
            Sampler::Tri(m, a) => {
                if let Some(v) = x.get_mut(k) {
                    *v = m + a * (rng.next_f64() + rng.next_f64() - 1.0);
                }
                k += 1;
            }
            Sampler::Arcsine(m, a) => {
                if let Some(v) = x.get_mut(k) {
                    *v = m + a * (core::f64::consts::TAU * rng.next_f64()).sin();
                }
                k += 1;
            }
            Sampler::T(m, sc, nu) => {
                if let Some(v) = x.get_mut(k) {
                    *v = m + sc * rng.student_t(*nu);
                }
                k += 1;
            }
            Sampler::Const(c) => {
                if let Some(v) = x.get_mut(k) {
                    *v = *c;
                }
                k += 1;
            }
            Sampler::Mvn { mean, chol } => {
                let n = mean.len();
                z.clear();
                z.extend((0..n).map(|_| rng.normal()));
                for (i, m) in mean.iter().enumerate() {
                    let row = chol.get(i * n..i * n + i + 1).unwrap_or(&[]);
                    let s: f64 = row.iter().zip(z.iter()).map(|(l, zz)| l * zz).sum();
                    if let Some(v) = x.get_mut(k + i) {
                        *v = m + s;
                    }
                }
                k += n;
            }
        }
    }
}

/// Mean and standard deviation (M − 1) of a slice.
fn mean_sd(y: &[f64]) -> (f64, f64) {
    let m = crate::stats::mean_raw(y);
    (m, crate::stats::variance_raw(y, m).sqrt())
}

/// Coverage intervals of sorted values (JCGM 101 7.7).
fn intervals(sorted: &[f64], p: f64) -> (Interval, Interval) {
    let m = sorted.len();
    let pm = p * m as f64;
    // q = pM if integer, else ⌊pM + ½⌋.
    let q = if pm.fract() == 0.0 {
        pm as usize
    } else {
        (pm + 0.5).floor() as usize
    };
    let q = q.clamp(1, m.saturating_sub(1).max(1));
    let mq = m.saturating_sub(q);
    // r = (M − q)/2 if integer, else ⌊(M − q + 1)/2⌋ (1-based).
    let r = mq.div_ceil(2);
    let r = r.clamp(1, mq.max(1));
    let at = |i: usize| sorted.get(i.saturating_sub(1)).copied().unwrap_or(0.0);
    let symmetric = Interval {
        low: at(r),
        high: at(r + q),
    };
    let mut best = (f64::INFINITY, 1usize);
    for r in 1..=mq.max(1) {
        let w = at(r + q) - at(r);
        if w < best.0 {
            best = (w, r);
        }
    }
    let shortest = Interval {
        low: at(best.1),
        high: at(best.1 + q),
    };
    (symmetric, shortest)
}

fn run_batch<F: FnMut(&[f64]) -> f64>(
    samplers: &[Sampler],
    rng: &mut Xoshiro256pp,
    x: &mut [f64],
    z: &mut Vec<f64>,
    model: &mut F,
    count: usize,
    ys: &mut Vec<f64>,
) -> Result<()> {
    for _ in 0..count {
        draw(samplers, rng, x, z);
        let y = model(x);
        if !y.is_finite() {
            return Err(MetrologyError::ModelNonFinite {
                evaluation: ys.len(),
            });
        }
        ys.push(y);
    }
    Ok(())
}

/// Numerical tolerance δ of JCGM 101 7.9.2 for u with n_dig digits.
fn numerical_tolerance(u: f64, n_dig: u32) -> f64 {
    if u.is_nan() || u <= 0.0 {
        return 0.0;
    }
    let l = u.log10().floor() as i32 - (n_dig as i32 - 1);
    0.5 * 10f64.powi(l)
}

/// Run the Monte Carlo method on `model` with the given inputs (the model
/// receives the inputs in order, a multivariate input contributing its
/// components). Returns the result and the sorted model values.
pub fn monte_carlo_with_values<F: FnMut(&[f64]) -> f64>(
    inputs: &[Input],
    mut model: F,
    options: &McOptions,
) -> Result<(McResult, Vec<f64>)> {
    let p = finite("coverage", options.coverage)?;
    if !(p > 0.0 && p < 1.0) {
        return Err(MetrologyError::out_of_range("coverage", None, "0 < p < 1"));
    }
    let (samplers, dim) = build_samplers(inputs)?;
    let mut rng = Xoshiro256pp::new(options.seed);
    let mut x = vec![0.0; dim];
    let mut z = Vec::new();
    let mut ys: Vec<f64>;
    let mut report = None;
    match options.adaptive {
        None => {
            if options.trials < 2 {
                return Err(MetrologyError::option("trials", "at least 2 trials"));
            }
            if options.trials > MAX_TRIALS {
                return Err(MetrologyError::option(
                    "trials",
                    "at most 100 000 000 trials",
                ));
            }
            ys = Vec::with_capacity(options.trials);
            run_batch(
                &samplers,
                &mut rng,
                &mut x,
                &mut z,
                &mut model,
                options.trials,
                &mut ys,
            )?;
        }
        Some(ad) => {
            if ad.n_dig == 0 || ad.n_dig > 15 {
                return Err(MetrologyError::option("adaptive.n_dig", "1..=15"));
            }
            let j = (100.0 / (1.0 - p)).ceil();
            let batch = if j.is_finite() && j < 1e8 {
                (j as usize).max(10_000)
            } else {
                10_000
            };
            if ad.max_trials < 2 * batch {
                return Err(MetrologyError::option(
                    "adaptive.max_trials",
                    "at least two batches",
                ));
            }
            if ad.max_trials > MAX_TRIALS {
                return Err(MetrologyError::option(
                    "adaptive.max_trials",
                    "at most 100 000 000 trials",
                ));
            }
            ys = Vec::with_capacity(batch * 10);
            // Per-batch results: mean, u, symmetric low/high, shortest low/high.
            let mut hist: Vec<[f64; 6]> = Vec::new();
            let mut converged = false;
            let mut tol = 0.0;
            loop {
                let start = ys.len();
                run_batch(
                    &samplers, &mut rng, &mut x, &mut z, &mut model, batch, &mut ys,
                )?;
                let b = ys.get_mut(start..).unwrap_or(&mut []);
                let (m, u) = mean_sd(b);
                b.sort_unstable_by(f64::total_cmp);
                let (s, sh) = intervals(b, p);
                hist.push([m, u, s.low, s.high, sh.low, sh.high]);
                let h = hist.len();
                if h >= 2 {
                    let (_, u_all) = mean_sd(&ys);
                    tol = numerical_tolerance(u_all, ad.n_dig);
                    let hf = h as f64;
                    let stable = (0..6).all(|c| {
                        let vals: Vec<f64> = hist
                            .iter()
                            .map(|r| r.get(c).copied().unwrap_or(0.0))
                            .collect();
                        let mean = vals.iter().sum::<f64>() / hf;
                        let ss: f64 = vals.iter().map(|v| (v - mean) * (v - mean)).sum();
                        let s_mean = (ss / (hf * (hf - 1.0))).sqrt();
                        2.0 * s_mean <= tol
                    });
                    if stable {
                        converged = true;
                        break;
                    }
                }
                if ys.len() + batch > ad.max_trials {
                    break;
                }
            }
            report = Some(AdaptiveReport {
                batches: hist.len(),
                batch_size: batch,
                tolerance: tol,
                converged,
            });
        }
    }
    let (estimate, u) = mean_sd(&ys);
    ys.sort_unstable_by(f64::total_cmp);
    let (symmetric, shortest) = intervals(&ys, p);
    let res = McResult {
        trials: ys.len(),
        estimate: out("Monte Carlo estimate", estimate)?,
        u: out("Monte Carlo u", u)?,
        coverage: p,
        symmetric,
        shortest,
        adaptive: report,
        options: *options,
    };
    Ok((res, ys))
}

/// Run the Monte Carlo method (see [`monte_carlo_with_values`]).
pub fn monte_carlo<F: FnMut(&[f64]) -> f64>(
    inputs: &[Input],
    model: F,
    options: &McOptions,
) -> Result<McResult> {
    monte_carlo_with_values(inputs, model, options).map(|r| r.0)
}

/// Standard uncertainty of a distribution input as used in the law of
/// propagation (for comparing GUF and MCM); multivariate inputs are rejected.
pub fn input_standard_uncertainty(input: &Input) -> Result<f64> {
    Ok(match input {
        Input::Normal { sd, .. } => non_negative("sd", *sd)?,
        Input::Rectangular { half_width, .. } => {
            non_negative("half_width", *half_width)? / 3f64.sqrt()
        }
        Input::Triangular { half_width, .. } => {
            non_negative("half_width", *half_width)? / 6f64.sqrt()
        }
        Input::Arcsine { half_width, .. } => non_negative("half_width", *half_width)? / 2f64.sqrt(),
        Input::StudentT { scale, dof, .. } => {
            let d = positive("dof", *dof)?;
            if d <= 2.0 {
                return Err(MetrologyError::out_of_range(
                    "dof",
                    None,
                    "dof > 2 for a finite variance",
                ));
            }
            non_negative("scale", *scale)? * (d / (d - 2.0)).sqrt()
        }
        Input::Constant { .. } => 0.0,
        Input::MultivariateNormal { .. } => {
            return Err(MetrologyError::option(
                "input",
                "multivariate input has no single u",
            ));
        }
    })
}
