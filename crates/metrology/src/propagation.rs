//! Law of propagation of uncertainty for multi-output models (GUM 5.2 and
//! H.2; JCGM 102 for the matrix form): V_y = J V_x Jᵀ with the Jacobian J
//! from analytic sensitivities or central differences, and the sample
//! covariance of repeated simultaneous observations.

use crate::error::{MetrologyError, Result, all_finite, at_least, out};
use serde::{Deserialize, Serialize};

/// Output estimates, sensitivities and their uncertainty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Propagation {
    /// y = f(x).
    pub outputs: Vec<f64>,
    /// `J[i][j]` = ∂y_i/∂x_j.
    pub jacobian: Vec<Vec<f64>>,
    /// V_y = J V_x Jᵀ.
    pub covariance: Vec<Vec<f64>>,
    /// u(y_i) = √`V_y[i][i]`.
    pub u: Vec<f64>,
    /// r(y_i, y_j); off-diagonal 0 where a u is 0.
    pub correlation: Vec<Vec<f64>>,
    /// Finite-difference steps h_j (empty for analytic Jacobians).
    pub steps: Vec<f64>,
}

fn check_cov(cov: &[Vec<f64>], n: usize) -> Result<()> {
    if cov.len() != n {
        return Err(MetrologyError::length("covariance", n, cov.len()));
    }
    for (i, row) in cov.iter().enumerate() {
        if row.len() != n {
            return Err(MetrologyError::length("covariance", n, row.len()));
        }
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(MetrologyError::non_finite("covariance", Some(i * n + j)));
        }
        if row.get(i).copied().unwrap_or(0.0) < 0.0 {
            return Err(MetrologyError::non_positive("covariance diagonal", Some(i)));
        }
    }
    Ok(())
}

fn get(m: &[Vec<f64>], i: usize, j: usize) -> f64 {
    m.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0.0)
}

/// Correlation matrix of a covariance matrix (0 off the diagonal where a
/// variance is 0).
pub(crate) fn correlation_of(cov: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = cov.len();
    let u: Vec<f64> = (0..n).map(|i| get(cov, i, i).max(0.0).sqrt()).collect();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    if i == j {
                        1.0
                    } else {
                        let d = u.get(i).copied().unwrap_or(0.0) * u.get(j).copied().unwrap_or(0.0);
                        if d > 0.0 {
                            (get(cov, i, j) / d).clamp(-1.0, 1.0)
                        } else {
                            0.0
                        }
                    }
                })
                .collect()
        })
        .collect()
}

/// Propagate with a known Jacobian (m outputs × n inputs).
pub fn propagate_with_jacobian(
    outputs: Vec<f64>,
    jacobian: Vec<Vec<f64>>,
    cov: &[Vec<f64>],
) -> Result<Propagation> {
    let n = cov.len();
    check_cov(cov, n)?;
    all_finite("outputs", &outputs)?;
    if jacobian.len() != outputs.len() {
        return Err(MetrologyError::length(
            "jacobian",
            outputs.len(),
            jacobian.len(),
        ));
    }
    for (i, row) in jacobian.iter().enumerate() {
        if row.len() != n {
            return Err(MetrologyError::length("jacobian", n, row.len()));
        }
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(MetrologyError::non_finite("jacobian", Some(i * n + j)));
        }
    }
    let m = outputs.len();
    // JV (m×n) then (JV)Jᵀ.
    let jv: Vec<Vec<f64>> = jacobian
        .iter()
        .map(|jr| {
            (0..n)
                .map(|k| {
                    jr.iter()
                        .enumerate()
                        .map(|(l, jl)| jl * get(cov, l, k))
                        .sum()
                })
                .collect()
        })
        .collect();
    let mut vy = vec![vec![0.0; m]; m];
    for (i, row) in vy.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            let s: f64 = (0..n).map(|k| get(&jv, i, k) * get(&jacobian, j, k)).sum();
            *cell = out("output covariance", s)?;
        }
    }
    // Symmetrise against rounding.
    for i in 0..m {
        for j in 0..i {
            let a = 0.5 * (get(&vy, i, j) + get(&vy, j, i));
            if let Some(c) = vy.get_mut(i).and_then(|r| r.get_mut(j)) {
                *c = a;
            }
            if let Some(c) = vy.get_mut(j).and_then(|r| r.get_mut(i)) {
                *c = a;
            }
        }
    }
    let u: Vec<f64> = (0..m).map(|i| get(&vy, i, i).max(0.0).sqrt()).collect();
    let correlation = correlation_of(&vy);
    Ok(Propagation {
        outputs,
        jacobian,
        covariance: vy,
        u,
        correlation,
        steps: Vec::new(),
    })
}

fn eval<F: FnMut(&[f64]) -> Vec<f64>>(
    f: &mut F,
    x: &[f64],
    m: Option<usize>,
    evaluation: usize,
) -> Result<Vec<f64>> {
    let y = f(x);
    if let Some(m) = m
        && y.len() != m
    {
        return Err(MetrologyError::length("model outputs", m, y.len()));
    }
    if y.iter().any(|v| !v.is_finite()) {
        return Err(MetrologyError::ModelNonFinite { evaluation });
    }
    Ok(y)
}

/// Propagate input means `x` with covariance `cov` through `f`, with the
/// Jacobian from central differences.
///
/// Step h_j = ε^{1/3}·max(|x_j|, u(x_j)) (ε^{1/3} ≈ 6.1e-6 balances the
/// O(h²) truncation against the O(ε/h) rounding error of a central
/// difference); ε^{1/3} itself if both are 0. Uses 2n + 1 evaluations.
pub fn propagate<F: FnMut(&[f64]) -> Vec<f64>>(
    x: &[f64],
    cov: &[Vec<f64>],
    mut f: F,
) -> Result<Propagation> {
    all_finite("x", x)?;
    at_least("inputs", 1, x.len())?;
    let n = x.len();
    check_cov(cov, n)?;
    let y0 = eval(&mut f, x, None, 0)?;
    at_least("model outputs", 1, y0.len())?;
    let m = y0.len();
    let cbrt_eps = f64::EPSILON.cbrt();
    let mut jac = vec![vec![0.0; n]; m];
    let mut steps = Vec::with_capacity(n);
    let mut xp = x.to_vec();
    for (j, &xj) in x.iter().enumerate() {
        let scale = xj.abs().max(get(cov, j, j).max(0.0).sqrt());
        let mut h = if scale > 0.0 {
            cbrt_eps * scale
        } else {
            cbrt_eps
        };
        // Make the step exactly representable relative to x_j.
        let hi = xj + h;
        h = hi - xj;
        if h == 0.0 || !h.is_finite() {
            return Err(MetrologyError::overflow("finite-difference step"));
        }
        if let Some(v) = xp.get_mut(j) {
            *v = xj + h;
        }
        let yp = eval(&mut f, &xp, Some(m), 2 * j + 1)?;
        if let Some(v) = xp.get_mut(j) {
            *v = xj - h;
        }
        let ym = eval(&mut f, &xp, Some(m), 2 * j + 2)?;
        if let Some(v) = xp.get_mut(j) {
            *v = xj;
        }
        for (i, row) in jac.iter_mut().enumerate() {
            let d =
                (yp.get(i).copied().unwrap_or(0.0) - ym.get(i).copied().unwrap_or(0.0)) / (2.0 * h);
            if let Some(c) = row.get_mut(j) {
                *c = out("sensitivity", d)?;
            }
        }
        steps.push(h);
    }
    let mut p = propagate_with_jacobian(y0, jac, cov)?;
    p.steps = steps;
    Ok(p)
}

/// Means and covariance matrix of the means of n ≥ 2 simultaneous
/// observations (rows: observations, columns: quantities):
/// u(x̄_i, x̄_j) = s(x_i, x_j)/n (GUM 5.2.3, H.2.2).
pub fn mean_and_covariance_of_mean(observations: &[Vec<f64>]) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    at_least("observations", 2, observations.len())?;
    let q = observations.first().map_or(0, Vec::len);
    at_least("quantities", 1, q)?;
    for (i, row) in observations.iter().enumerate() {
        if row.len() != q {
            return Err(MetrologyError::length("observations", q, row.len()));
        }
        if row.iter().any(|v| !v.is_finite()) {
            return Err(MetrologyError::non_finite("observations", Some(i)));
        }
    }
    let n = observations.len() as f64;
    let means: Vec<f64> = (0..q)
        .map(|j| {
            observations
                .iter()
                .map(|r| r.get(j).copied().unwrap_or(0.0))
                .sum::<f64>()
                / n
        })
        .collect();
    let mut cov = vec![vec![0.0; q]; q];
    for (i, row) in cov.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            let mi = means.get(i).copied().unwrap_or(0.0);
            let mj = means.get(j).copied().unwrap_or(0.0);
            let s: f64 = observations
                .iter()
                .map(|r| {
                    (r.get(i).copied().unwrap_or(0.0) - mi)
                        * (r.get(j).copied().unwrap_or(0.0) - mj)
                })
                .sum();
            *cell = out("covariance", s / (n - 1.0) / n)?;
        }
    }
    for (j, m) in means.iter().enumerate() {
        if !m.is_finite() {
            return Err(MetrologyError::NonFiniteResult {
                what: format!("mean of quantity {j}"),
            });
        }
    }
    Ok((means, cov))
}

/// Summary of model outputs computed per observation (GUM H.2.4,
/// "approach 2").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationPropagation {
    /// Mean of f over the observations.
    pub means: Vec<f64>,
    /// Experimental standard deviation of the mean, s/√n.
    pub u: Vec<f64>,
    /// Covariance of the means (sample covariance / n).
    pub covariance: Vec<Vec<f64>>,
    pub correlation: Vec<Vec<f64>>,
}

/// Evaluate f on each observation and summarise the outputs as repeated
/// observations (GUM H.2.4).
pub fn propagate_per_observation<F: FnMut(&[f64]) -> Vec<f64>>(
    observations: &[Vec<f64>],
    mut f: F,
) -> Result<ObservationPropagation> {
    at_least("observations", 2, observations.len())?;
    let mut outs = Vec::with_capacity(observations.len());
    let mut m = None;
    for (i, row) in observations.iter().enumerate() {
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(MetrologyError::non_finite(
                "observations",
                Some(i * row.len() + j),
            ));
        }
        let y = eval(&mut f, row, m, i)?;
        m = Some(y.len());
        outs.push(y);
    }
    let (means, covariance) = mean_and_covariance_of_mean(&outs)?;
    let u = (0..means.len())
        .map(|i| get(&covariance, i, i).max(0.0).sqrt())
        .collect();
    let correlation = correlation_of(&covariance);
    Ok(ObservationPropagation {
        means,
        u,
        covariance,
        correlation,
    })
}
