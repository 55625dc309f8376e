//! Proficiency-testing rounds (ISO 13528:2022, ISO/IEC 17043): assigned value
//! and its uncertainty, the standard deviation for proficiency assessment
//! σ_pt, homogeneity and stability checks, and a whole-round evaluation that
//! records every setting it used.

use crate::error::{
    MetrologyError, Result, all_finite, at_least, finite, non_negative, out, positive,
};
use crate::robust::{self, AlgorithmAOptions, AlgorithmAResult};
use crate::scores::{self, Assigned, EnRule, LabResult, LabScores, ScoreOptions};
use crate::stats::{self, Summary};
use serde::{Deserialize, Serialize};

/// How the assigned value x_pt and u(x_pt) are obtained.
///
/// Serialised internally tagged with `"method"`, kebab-case:
/// `{"method":"given","x_pt":…,"u_x_pt":…}`, `{"method":"algorithm-a"}`,
/// `{"method":"median"}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum AssignedMethod {
    /// A reference value (formulation, certified reference material, expert
    /// laboratory), ISO 13528:2022 7.3–7.6, with its standard uncertainty.
    Given { x_pt: f64, u_x_pt: f64 },
    /// Consensus: robust average x* of Algorithm A, u = 1.25 s*/√p (7.7).
    AlgorithmA,
    /// Consensus: median, u = 1.25 nIQR/√p (the scale used for the median in
    /// ISO 13528:2022 Table E.5).
    Median,
}

/// How σ_pt is obtained (ISO 13528:2022 §8).
///
/// Serialised internally tagged with `"method"`, kebab-case.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum SigmaPtMethod {
    /// Fitness-for-purpose value set by the scheme (8.2).
    Given { sigma_pt: f64 },
    /// Horwitz equation σ = 0.02 c^0.8495 with c the mass fraction (8.4);
    /// `mass_fraction_per_unit` converts x_pt to a mass fraction (1e-6 for
    /// mg/kg, 1e-2 for %), and σ_pt is converted back to the unit of x_pt.
    Horwitz { mass_fraction_per_unit: f64 },
    /// From a precision experiment, σ_pt = √(σ_R² − σ_r²(1 − 1/m)) for the
    /// mean of m replicates (8.3).
    Precision {
        sigma_reproducibility: f64,
        sigma_repeatability: f64,
        replicates: u32,
    },
    /// The round's robust standard deviation: s* of Algorithm A (8.6).
    RobustSd,
}

/// Horwitz standard deviation for a mass fraction c (0 < c ≤ 1):
/// σ = 0.02·c^0.8495 (ISO 13528:2022 8.4; Horwitz 1982).
pub fn horwitz_sigma(mass_fraction: f64) -> Result<f64> {
    finite("mass_fraction", mass_fraction)?;
    if !(mass_fraction > 0.0 && mass_fraction <= 1.0) {
        return Err(MetrologyError::out_of_range(
            "mass_fraction",
            None,
            "0 < c <= 1",
        ));
    }
    out("Horwitz sigma", 0.02 * mass_fraction.powf(0.8495))
}

/// σ_pt from reproducibility and repeatability SDs for the mean of m
/// replicates: √(σ_R² − σ_r²(1 − 1/m)) (ISO 13528:2022 8.3).
pub fn sigma_from_precision(sigma_r_big: f64, sigma_r: f64, m: u32) -> Result<f64> {
    non_negative("sigma_reproducibility", sigma_r_big)?;
    non_negative("sigma_repeatability", sigma_r)?;
    if m == 0 {
        return Err(MetrologyError::out_of_range("replicates", None, "m >= 1"));
    }
    let v = sigma_r_big * sigma_r_big - sigma_r * sigma_r * (1.0 - 1.0 / f64::from(m));
    if v <= 0.0 {
        return Err(MetrologyError::out_of_range(
            "sigma_reproducibility",
            None,
            "sigma_R^2 > sigma_r^2 (1 - 1/m)",
        ));
    }
    out("sigma_pt", v.sqrt())
}

/// Options of a proficiency-testing round. Every setting is echoed in the
/// result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PtOptions {
    pub assigned: AssignedMethod,
    pub sigma_pt: SigmaPtMethod,
    pub en_rule: EnRule,
    pub algorithm_a: AlgorithmAOptions,
    /// k of U(x_pt) = k·u(x_pt) for En, and for participants that report no k.
    pub coverage_factor: f64,
}

impl Default for PtOptions {
    fn default() -> Self {
        Self {
            assigned: AssignedMethod::AlgorithmA,
            sigma_pt: SigmaPtMethod::RobustSd,
            en_rule: EnRule::Iso13528,
            algorithm_a: AlgorithmAOptions::default(),
            coverage_factor: 2.0,
        }
    }
}

/// Evaluation of a proficiency-testing round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PtRound {
    pub x_pt: f64,
    pub u_x_pt: f64,
    pub big_u_x_pt: f64,
    pub sigma_pt: f64,
    /// ISO 13528:2022 9.2.1: u(x_pt) ≤ 0.3 σ_pt means the uncertainty of the
    /// assigned value is negligible and z may be used; otherwise prefer z′.
    pub u_x_pt_negligible: bool,
    /// Classical and simple robust statistics of the participants' values.
    pub summary: Summary,
    /// Algorithm A on the participants' values (always computed; reported
    /// for information when not used).
    pub algorithm_a: AlgorithmAResult,
    pub scores: Vec<LabScores>,
    pub options: PtOptions,
}

/// Evaluate a round: assigned value, σ_pt, and every participant's scores.
pub fn evaluate_round(labs: &[LabResult], options: &PtOptions) -> Result<PtRound> {
    at_least("proficiency-testing round", 2, labs.len())?;
    positive("coverage_factor", options.coverage_factor)?;
    let values: Vec<f64> = labs.iter().map(|l| l.value).collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(MetrologyError::non_finite("labs.value", Some(i)));
    }
    let summary = stats::summary(&values)?;
    let alg_a = robust::algorithm_a(&values, &options.algorithm_a)?;
    let p = values.len() as f64;
    let (x_pt, u_x_pt) = match options.assigned {
        AssignedMethod::Given { x_pt, u_x_pt } => {
            (finite("x_pt", x_pt)?, non_negative("u_x_pt", u_x_pt)?)
        }
        AssignedMethod::AlgorithmA => (alg_a.x_star, alg_a.u_x_star),
        AssignedMethod::Median => (
            summary.median,
            out("u(x_pt)", 1.25 * summary.niqr / p.sqrt())?,
        ),
    };
    let sigma_pt = match options.sigma_pt {
        SigmaPtMethod::Given { sigma_pt } => positive("sigma_pt", sigma_pt)?,
        SigmaPtMethod::Horwitz {
            mass_fraction_per_unit,
        } => {
            positive("mass_fraction_per_unit", mass_fraction_per_unit)?;
            let c = out("mass fraction", x_pt * mass_fraction_per_unit)?;
            horwitz_sigma(c)? / mass_fraction_per_unit
        }
        SigmaPtMethod::Precision {
            sigma_reproducibility,
            sigma_repeatability,
            replicates,
        } => sigma_from_precision(sigma_reproducibility, sigma_repeatability, replicates)?,
        SigmaPtMethod::RobustSd => alg_a.s_star,
    };
    let sigma_pt = out("sigma_pt", sigma_pt)?;
    if sigma_pt <= 0.0 {
        return Err(MetrologyError::zero("sigma_pt"));
    }
    let big_u_x_pt = out("U(x_pt)", options.coverage_factor * u_x_pt)?;
    let assigned = Assigned {
        x_pt,
        u_x_pt,
        big_u_x_pt,
        sigma_pt,
    };
    let scores = scores::score_labs(
        labs,
        &assigned,
        &ScoreOptions {
            en_rule: options.en_rule,
            default_coverage_factor: options.coverage_factor,
        },
    )?;
    Ok(PtRound {
        x_pt,
        u_x_pt,
        big_u_x_pt,
        sigma_pt,
        u_x_pt_negligible: u_x_pt <= 0.3 * sigma_pt,
        summary,
        algorithm_a: alg_a,
        scores,
        options: *options,
    })
}

// ---------------------------------------------------------------------------
// Homogeneity and stability (ISO 13528:2022 Annex B)
// ---------------------------------------------------------------------------

/// Homogeneity check for g items measured in duplicate (ISO 13528:2022 B.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Homogeneity {
    pub g: usize,
    /// General average of all 2g results.
    pub mean: f64,
    /// Standard deviation of the item averages.
    pub s_x: f64,
    /// Within-item standard deviation √(Σ w_t²/(2g)), w_t = |x_t1 − x_t2|.
    pub s_w: f64,
    /// Between-item standard deviation √max(0, s_x² − s_w²/2).
    pub s_s: f64,
    pub sigma_pt: f64,
    /// Criterion 0.3 σ_pt (B.2.2).
    pub limit: f64,
    /// s_s ≤ 0.3 σ_pt.
    pub homogeneous: bool,
}

/// Homogeneity of g ≥ 2 items × 2 replicates against 0.3 σ_pt.
pub fn homogeneity(pairs: &[(f64, f64)], sigma_pt: f64) -> Result<Homogeneity> {
    positive("sigma_pt", sigma_pt)?;
    at_least("homogeneity", 2, pairs.len())?;
    for (i, (a, b)) in pairs.iter().enumerate() {
        if !a.is_finite() || !b.is_finite() {
            return Err(MetrologyError::non_finite("pairs", Some(i)));
        }
    }
    let g = pairs.len();
    let means: Vec<f64> = pairs.iter().map(|(a, b)| 0.5 * (a + b)).collect();
    let mean = out("mean", stats::mean_raw(&means))?;
    let s_x = out("s_x", stats::variance_raw(&means, mean).sqrt())?;
    let sw2: f64 = pairs.iter().map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / (2.0 * g as f64);
    let s_w = out("s_w", sw2.sqrt())?;
    let s_s = (s_x * s_x - 0.5 * sw2).max(0.0).sqrt();
    let limit = 0.3 * sigma_pt;
    Ok(Homogeneity {
        g,
        mean,
        s_x,
        s_w,
        s_s: out("s_s", s_s)?,
        sigma_pt,
        limit,
        homogeneous: s_s <= limit,
    })
}

/// Stability check (ISO 13528:2022 B.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stability {
    pub mean_homogeneity: f64,
    pub mean_stability: f64,
    /// |ȳ_hom − ȳ_stab|.
    pub difference: f64,
    pub limit: f64,
    /// difference ≤ 0.3 σ_pt.
    pub stable: bool,
}

/// Stability: the general average of the homogeneity study against the
/// average of the stability measurements, criterion 0.3 σ_pt.
pub fn stability(
    mean_homogeneity: f64,
    stability_values: &[f64],
    sigma_pt: f64,
) -> Result<Stability> {
    finite("mean_homogeneity", mean_homogeneity)?;
    positive("sigma_pt", sigma_pt)?;
    all_finite("stability_values", stability_values)?;
    at_least("stability", 1, stability_values.len())?;
    let m = out("mean", stats::mean_raw(stability_values))?;
    let d = out("difference", (mean_homogeneity - m).abs())?;
    let limit = 0.3 * sigma_pt;
    Ok(Stability {
        mean_homogeneity,
        mean_stability: m,
        difference: d,
        limit,
        stable: d <= limit,
    })
}
