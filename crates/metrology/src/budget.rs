//! Uncertainty budgets by the law of propagation of uncertainty (GUM
//! JCGM 100:2008 §5, JJF 1059.1-2012 §4): Type A and Type B evaluation,
//! combined standard uncertainty with correlations, Welch–Satterthwaite
//! effective degrees of freedom, coverage factors and expanded uncertainty,
//! and the rounding of a result for display.

use crate::error::{MetrologyError, Result, all_finite, at_least, finite, out, positive};
use crate::special;
use crate::stats;
use serde::{Deserialize, Serialize};

/// How the coverage factor k is chosen.
///
/// Serialised internally tagged with `"method"`, kebab-case:
/// `{"method":"student-t","coverage":0.95}` or `{"method":"fixed","k":2.0}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum CoverageRule {
    /// k = t_{(1+p)/2}(ν_eff) (GUM G.6.4, JJF 1059.1 4.5.3).
    StudentT { coverage: f64 },
    /// A fixed k (e.g. 2, GUM 6.3.3 / JJF 1059.1 4.5.2).
    Fixed { k: f64 },
}

impl Default for CoverageRule {
    fn default() -> Self {
        Self::StudentT { coverage: 0.95 }
    }
}

/// What is done to ν_eff before looking up t. Kebab-case: `"truncate"`,
/// `"exact"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DofRounding {
    /// Truncate to the next lower integer (GUM G.4.1 note 1, JJF 1059.1).
    /// ν_eff < 1 is kept as is rather than truncated to 0.
    #[default]
    Truncate,
    /// Use the real ν_eff (t quantile for non-integer ν).
    Exact,
}

pub(crate) fn check_dof_value(field: &str, index: Option<usize>, nu: f64) -> Result<f64> {
    if nu.is_nan() {
        return Err(MetrologyError::non_finite(field, index));
    }
    if nu > 0.0 {
        Ok(nu)
    } else {
        Err(MetrologyError::out_of_range(
            field,
            index,
            "degrees of freedom > 0 (or inf)",
        ))
    }
}

fn round_dof(nu: f64, rounding: DofRounding) -> f64 {
    match rounding {
        DofRounding::Exact => nu,
        DofRounding::Truncate => {
            if nu.is_infinite() || nu < 1.0 {
                nu
            } else {
                nu.floor()
            }
        }
    }
}

/// k and the degrees of freedom used for it, for a rule and ν_eff.
pub fn coverage_factor_for(
    rule: &CoverageRule,
    nu_eff: f64,
    rounding: DofRounding,
) -> Result<(f64, f64)> {
    check_dof_value("nu_eff", None, nu_eff)?;
    let nu = round_dof(nu_eff, rounding);
    match *rule {
        CoverageRule::StudentT { coverage } => {
            finite("coverage", coverage)?;
            if !(coverage > 0.0 && coverage < 1.0) {
                return Err(MetrologyError::out_of_range("coverage", None, "0 < p < 1"));
            }
            Ok((special::t_coverage_factor_raw(coverage, nu), nu))
        }
        CoverageRule::Fixed { k } => Ok((positive("k", k)?, nu)),
    }
}

/// Welch–Satterthwaite ν_eff = u_c⁴/Σ u_i⁴/ν_i over (u_i, ν_i) with u_i the
/// contributions c_i·u(x_i); terms with ν = ∞ drop out; no finite term (or
/// u_c = 0) gives ∞. Computed as 1/Σ (u_i/u_c)⁴/ν_i to avoid overflow.
pub(crate) fn welch_satterthwaite_raw(u_c: f64, terms: impl Iterator<Item = (f64, f64)>) -> f64 {
    if u_c <= 0.0 {
        return f64::INFINITY;
    }
    let mut den = 0.0;
    for (u, nu) in terms {
        if nu.is_finite() {
            let r = u / u_c;
            den += r * r * r * r / nu;
        }
    }
    if den > 0.0 { 1.0 / den } else { f64::INFINITY }
}

/// Welch–Satterthwaite effective degrees of freedom of contributions
/// `(c_i u_i, ν_i)` (GUM G.4.1); ν = ∞ allowed.
pub fn welch_satterthwaite(contributions: &[(f64, f64)]) -> Result<f64> {
    for (i, &(u, nu)) in contributions.iter().enumerate() {
        if !u.is_finite() {
            return Err(MetrologyError::non_finite("contributions.u", Some(i)));
        }
        check_dof_value("contributions.dof", Some(i), nu)?;
    }
    let uc = contributions.iter().map(|(u, _)| u * u).sum::<f64>().sqrt();
    let uc = out("u_c", uc)?;
    Ok(welch_satterthwaite_raw(
        uc,
        contributions.iter().map(|&(u, nu)| (u.abs(), nu)),
    ))
}

/// Type A evaluation of a series of repeated observations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeA {
    pub n: usize,
    pub mean: f64,
    /// Experimental standard deviation s (n − 1).
    pub s: f64,
    /// u = s/√n, the standard uncertainty of the mean (GUM 4.2.3).
    pub u: f64,
    /// ν = n − 1.
    pub dof: f64,
}

/// Type A evaluation of the mean of n ≥ 2 observations.
pub fn type_a(samples: &[f64]) -> Result<TypeA> {
    all_finite("samples", samples)?;
    at_least("Type A evaluation", 2, samples.len())?;
    let n = samples.len();
    let mean = out("mean", stats::mean_raw(samples))?;
    let s = out("s", stats::variance_raw(samples, mean).sqrt())?;
    Ok(TypeA {
        n,
        mean,
        s,
        u: s / (n as f64).sqrt(),
        dof: (n - 1) as f64,
    })
}

/// Type B evaluation: a distribution of the possible values
/// (GUM 4.3, JJF 1059.1 4.3.3). Internally tagged with `"kind"`, kebab-case.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TypeB {
    /// Rectangular (uniform) on ±a: u = a/√3.
    Rectangular { half_width: f64 },
    /// Symmetric triangular on ±a: u = a/√6.
    Triangular { half_width: f64 },
    /// Arcsine (U-shaped) on ±a: u = a/√2.
    Arcsine { half_width: f64 },
    /// From a certificate: u = U/k.
    Normal { expanded: f64, k: f64 },
    /// Already a standard uncertainty.
    Standard { u: f64 },
}

impl TypeB {
    /// The standard uncertainty of the distribution.
    pub fn standard_uncertainty(&self) -> Result<f64> {
        let nn = crate::error::non_negative;
        Ok(match *self {
            TypeB::Rectangular { half_width } => nn("half_width", half_width)? / 3f64.sqrt(),
            TypeB::Triangular { half_width } => nn("half_width", half_width)? / 6f64.sqrt(),
            TypeB::Arcsine { half_width } => nn("half_width", half_width)? / 2f64.sqrt(),
            TypeB::Normal { expanded, k } => nn("expanded", expanded)? / positive("k", k)?,
            TypeB::Standard { u } => nn("u", u)?,
        })
    }
}

/// One line of a budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub name: String,
    /// Standard uncertainty u(x_i) of the input (≥ 0).
    pub u: f64,
    /// Sensitivity coefficient c_i = ∂f/∂x_i (default 1).
    #[serde(default = "one")]
    pub c: f64,
    /// Degrees of freedom ν_i (default ∞; `"inf"` in JSON).
    #[serde(with = "crate::dof_serde", default = "crate::dof_serde::infinite")]
    pub dof: f64,
}

fn one() -> f64 {
    1.0
}

impl Contribution {
    /// A contribution with c = 1 and ν = ∞.
    pub fn new(name: impl Into<String>, u: f64) -> Self {
        Self {
            name: name.into(),
            u,
            c: 1.0,
            dof: f64::INFINITY,
        }
    }
    /// Builder: sensitivity coefficient.
    pub fn with_c(mut self, c: f64) -> Self {
        self.c = c;
        self
    }
    /// Builder: degrees of freedom.
    pub fn with_dof(mut self, dof: f64) -> Self {
        self.dof = dof;
        self
    }
    /// From a Type A evaluation (u = s/√n, ν = n − 1).
    pub fn from_type_a(name: impl Into<String>, a: &TypeA) -> Self {
        Self::new(name, a.u).with_dof(a.dof)
    }
    /// From a Type B distribution, ν = ∞ unless set with [`Self::with_dof`].
    pub fn from_type_b(name: impl Into<String>, b: &TypeB) -> Result<Self> {
        Ok(Self::new(name, b.standard_uncertainty()?))
    }
}

/// Correlation coefficient r(x_i, x_j) between two contributions (indices
/// into the budget's list).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    pub i: usize,
    pub j: usize,
    pub r: f64,
}

/// Settings of a budget evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct BudgetOptions {
    pub dof_rounding: DofRounding,
    /// Rule for the reported `k` and `big_u` (k95/k99 are always given).
    pub coverage: CoverageRule,
}

/// An uncertainty budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Budget {
    pub contributions: Vec<Contribution>,
    #[serde(default)]
    pub correlations: Vec<Correlation>,
}

/// One evaluated line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContributionResult {
    pub name: String,
    pub u: f64,
    pub c: f64,
    #[serde(with = "crate::dof_serde")]
    pub dof: f64,
    /// |c_i u_i|, the contribution u_i(y) in the output's unit.
    pub abs_cu: f64,
    /// (c_i u_i)²/u_c². Sums to 1 without correlations; with correlations the
    /// cross terms are not attributed to any line.
    pub share: f64,
}

/// An evaluated budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetResult {
    pub u_c: f64,
    /// Welch–Satterthwaite ν_eff (`"inf"` in JSON when infinite). With
    /// correlations the formula is applied to the correlated u_c as is, an
    /// approximation outside the formula's assumptions.
    #[serde(with = "crate::dof_serde")]
    pub nu_eff: f64,
    /// ν after [`DofRounding`], used for every k below.
    #[serde(with = "crate::dof_serde")]
    pub nu_for_k: f64,
    pub k95: f64,
    pub big_u95: f64,
    pub k99: f64,
    pub big_u99: f64,
    /// k and U by `options.coverage`.
    pub k: f64,
    pub big_u: f64,
    pub lines: Vec<ContributionResult>,
    pub options: BudgetOptions,
}

impl Budget {
    /// Evaluate: u_c² = Σ(c_i u_i)² + 2Σ_{i<j} c_i c_j u_i u_j r_ij (GUM 5.2.2),
    /// ν_eff (GUM G.4.1), k95, k99 and the chosen k.
    pub fn evaluate(&self, options: &BudgetOptions) -> Result<BudgetResult> {
        at_least("budget contributions", 1, self.contributions.len())?;
        for (i, c) in self.contributions.iter().enumerate() {
            if !c.u.is_finite() {
                return Err(MetrologyError::non_finite("contributions.u", Some(i)));
            }
            if c.u < 0.0 {
                return Err(MetrologyError::non_positive("contributions.u", Some(i)));
            }
            if !c.c.is_finite() {
                return Err(MetrologyError::non_finite("contributions.c", Some(i)));
            }
            check_dof_value("contributions.dof", Some(i), c.dof)?;
        }
        let n = self.contributions.len();
        let mut seen: Vec<(usize, usize)> = Vec::with_capacity(self.correlations.len());
        for (k, r) in self.correlations.iter().enumerate() {
            if r.i >= n || r.j >= n || r.i == r.j {
                return Err(MetrologyError::out_of_range(
                    "correlations",
                    Some(k),
                    "two different contribution indices",
                ));
            }
            if !r.r.is_finite() {
                return Err(MetrologyError::non_finite("correlations.r", Some(k)));
            }
            if r.r.abs() > 1.0 {
                return Err(MetrologyError::out_of_range(
                    "correlations.r",
                    Some(k),
                    "-1 <= r <= 1",
                ));
            }
            seen.push((r.i.min(r.j), r.i.max(r.j)));
        }
        let mut sorted_pairs = seen.clone();
        sorted_pairs.sort_unstable();
        if let Some(w) = sorted_pairs.windows(2).find(|w| w.first() == w.get(1)) {
            let dup = w.first().copied().unwrap_or((0, 0));
            let k = seen.iter().rposition(|&p| p == dup);
            return Err(MetrologyError::out_of_range(
                "correlations",
                k,
                "each pair at most once",
            ));
        }
        if !self.correlations.is_empty() {
            // Each r_ij within ±1 is not enough: together they must form a
            // positive semi-definite matrix (r12 = r13 = 0.9 with r23 = −0.9
            // is impossible), or u_c² can be wrong without turning negative.
            let mut r = vec![vec![0.0; n]; n];
            for (i, row) in r.iter_mut().enumerate() {
                if let Some(d) = row.get_mut(i) {
                    *d = 1.0;
                }
            }
            for c in &self.correlations {
                for (a, b) in [(c.i, c.j), (c.j, c.i)] {
                    if let Some(v) = r.get_mut(a).and_then(|row| row.get_mut(b)) {
                        *v = c.r;
                    }
                }
            }
            crate::montecarlo::cholesky(&r, "correlation matrix of the budget")?;
        }
        let cu: Vec<f64> = self.contributions.iter().map(|c| c.c * c.u).collect();
        let diag: f64 = cu.iter().map(|v| v * v).sum();
        let mut cross = 0.0;
        for r in &self.correlations {
            let a = cu.get(r.i).copied().unwrap_or(0.0);
            let b = cu.get(r.j).copied().unwrap_or(0.0);
            cross += 2.0 * r.r * a * b;
        }
        let mut uc2 = out("u_c^2", diag + cross)?;
        if uc2 < 0.0 {
            if uc2 > -1e-12 * diag {
                uc2 = 0.0;
            } else {
                return Err(MetrologyError::NotPositiveSemiDefinite {
                    what: "correlation matrix of the budget".into(),
                });
            }
        }
        let u_c = out("u_c", uc2.sqrt())?;
        let nu_eff = welch_satterthwaite_raw(
            u_c,
            cu.iter()
                .zip(&self.contributions)
                .map(|(v, c)| (v.abs(), c.dof)),
        );
        let (k95, nu_for_k) = coverage_factor_for(
            &CoverageRule::StudentT { coverage: 0.95 },
            nu_eff,
            options.dof_rounding,
        )?;
        let (k99, _) = coverage_factor_for(
            &CoverageRule::StudentT { coverage: 0.99 },
            nu_eff,
            options.dof_rounding,
        )?;
        let (k, _) = coverage_factor_for(&options.coverage, nu_eff, options.dof_rounding)?;
        let lines = self
            .contributions
            .iter()
            .zip(&cu)
            .map(|(c, v)| ContributionResult {
                name: c.name.clone(),
                u: c.u,
                c: c.c,
                dof: c.dof,
                abs_cu: v.abs(),
                share: if uc2 > 0.0 { v * v / uc2 } else { 0.0 },
            })
            .collect();
        Ok(BudgetResult {
            u_c,
            nu_eff,
            nu_for_k,
            k95,
            big_u95: out("U95", k95 * u_c)?,
            k99,
            big_u99: out("U99", k99 * u_c)?,
            k,
            big_u: out("U", k * u_c)?,
            lines,
            options: *options,
        })
    }
}

// ---------------------------------------------------------------------------
// Rounding for display
// ---------------------------------------------------------------------------

/// Rounding of the last kept digit. Kebab-case: `"half-even"`, `"half-up"`,
/// `"up"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoundingMode {
    /// Round half to even (GB/T 8170 四舍六入五留双, the rule JJF 1059.1 refers
    /// to).
    #[default]
    HalfEven,
    /// Round half away from zero.
    HalfUp,
    /// Round the uncertainty's magnitude up (GUM 7.2.6 permits rounding an
    /// uncertainty up); the value is then rounded half-even.
    Up,
}

/// A result rounded for display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rounded {
    pub value: f64,
    pub uncertainty: f64,
    /// Number of decimal places kept (negative: rounded to tens, hundreds…).
    pub decimals: i32,
    pub value_text: String,
    pub uncertainty_text: String,
    pub mode: RoundingMode,
}

fn round_to(x: f64, decimals: i32, mode: RoundingMode) -> f64 {
    // Scale by an exact power of ten in the direction that keeps it an
    // integer where possible.
    let (s, unscale): (f64, Box<dyn Fn(f64) -> f64>) = if decimals >= 0 {
        let p = 10f64.powi(decimals);
        (x * p, Box::new(move |v| v / p))
    } else {
        let p = 10f64.powi(-decimals);
        (x / p, Box::new(move |v| v * p))
    };
    let a = s.abs();
    let fl = a.floor();
    let frac = a - fl;
    // Treat a fraction within 1e-9 of ½ as an exact tie: the decimal input
    // 0.0345 is stored as 0.034499999…
    let tie = (frac - 0.5).abs() <= 1e-9 * a.max(1.0);
    let r = match mode {
        RoundingMode::Up => {
            if frac <= 1e-9 * a.max(1.0) {
                fl
            } else {
                fl + 1.0
            }
        }
        RoundingMode::HalfUp => {
            if tie || frac > 0.5 {
                fl + 1.0
            } else {
                fl
            }
        }
        RoundingMode::HalfEven => {
            if tie {
                if fl % 2.0 == 0.0 { fl } else { fl + 1.0 }
            } else if frac > 0.5 {
                fl + 1.0
            } else {
                fl
            }
        }
    };
    unscale(r.copysign(s))
}

/// Round an uncertainty to `sig_digits` significant digits (normally 2, GUM
/// 7.2.6, JJF 1059.1 5.3.8) and the value to the same decimal place.
pub fn round_result(
    value: f64,
    uncertainty: f64,
    sig_digits: u32,
    mode: RoundingMode,
) -> Result<Rounded> {
    finite("value", value)?;
    positive("uncertainty", uncertainty)?;
    if sig_digits == 0 || sig_digits > 15 {
        return Err(MetrologyError::out_of_range("sig_digits", None, "1..=15"));
    }
    let e = uncertainty.log10().floor() as i32;
    let decimals = sig_digits as i32 - 1 - e;
    let u = round_to(uncertainty, decimals, mode);
    let value_mode = if mode == RoundingMode::Up {
        RoundingMode::HalfEven
    } else {
        mode
    };
    let v = round_to(value, decimals, value_mode);
    let text = |x: f64| {
        if decimals >= 0 {
            format!("{:.*}", decimals as usize, x)
        } else {
            format!("{x:.0}")
        }
    };
    Ok(Rounded {
        value: out("rounded value", v)?,
        uncertainty: out("rounded uncertainty", u)?,
        decimals,
        value_text: text(v),
        uncertainty_text: text(u),
        mode,
    })
}
