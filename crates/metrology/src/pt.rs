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
    let (x_pt, u_x_pt) = match options.assigned {
        AssignedMethod::Given { x_pt, u_x_pt } => {
            (finite("x_pt", x_pt)?, non_negative("u_x_pt", u_x_pt)?)
        }
        AssignedMethod::AlgorithmA => (alg_a.x_star, alg_a.u_x_star),
        AssignedMethod::Median => (
            summary.median,
            out(
                "u(x_pt)",
                robust::consensus_uncertainty(summary.niqr, values.len()),
            )?,
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
        u_x_pt_negligible: scores::u_x_pt_is_negligible(u_x_pt, sigma_pt),
        summary,
        algorithm_a: alg_a,
        scores,
        options: *options,
    })
}

// ---------------------------------------------------------------------------
// Homogeneity and stability (ISO 13528:2022 Annex B)
// ---------------------------------------------------------------------------

/// Which homogeneity criterion decides. Kebab-case: `"basic"`,
/// `"expanded"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HomogeneityCriterion {
    /// s_s ≤ 0.3 σ_pt (ISO 13528 B.2.2).
    #[default]
    Basic,
    /// s_s ≤ √(F1·(0.3 σ_pt)² + F2·s_w²) (ISO 13528 B.2.3), which allows for
    /// the sampling error and repeatability of the homogeneity study itself.
    Expanded,
}

/// Where F1 and F2 came from. Kebab-case: `"table"`, `"computed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FactorsSource {
    /// ISO 13528:2015 Table B.2 (duplicates, 7 ≤ g ≤ 20).
    Table,
    /// From their definition (any other g or number of replicates).
    Computed,
}

/// F1 and F2 of ISO 13528:2015 Table B.2 for g = 7…20 items in duplicate.
/// The same values appear in Thompson (2000) and in ISO 13528:2022; a test
/// recomputes each from its definition (see [`homogeneity_factors`]).
const HOMOGENEITY_TABLE: [(usize, f64, f64); 14] = [
    (7, 2.10, 1.43),
    (8, 2.01, 1.25),
    (9, 1.94, 1.11),
    (10, 1.88, 1.01),
    (11, 1.83, 0.93),
    (12, 1.79, 0.86),
    (13, 1.75, 0.80),
    (14, 1.72, 0.75),
    (15, 1.69, 0.71),
    (16, 1.67, 0.68),
    (17, 1.64, 0.64),
    (18, 1.62, 0.62),
    (19, 1.60, 0.59),
    (20, 1.59, 0.57),
];

/// F1 and F2 of the expanded homogeneity criterion for g items × m
/// replicates, and whether they are the published table's.
///
/// For m = 2 and 7 ≤ g ≤ 20 the published (two-decimal) table is used so a
/// result matches a hand calculation. Otherwise they are computed from the
/// definitions behind that table (Fearn & Thompson 2001): F1 = χ²_{0.95}(g −
/// 1)/(g − 1) and F2 = (F_{0.95}(g − 1, g(m − 1)) − 1)/m, which reproduce
/// every table entry to its two decimals.
pub fn homogeneity_factors(g: usize, m: usize) -> Result<(f64, f64, FactorsSource)> {
    at_least("homogeneity items", 2, g)?;
    at_least("homogeneity replicates", 2, m)?;
    if m == 2
        && let Some(&(_, f1, f2)) = HOMOGENEITY_TABLE.iter().find(|r| r.0 == g)
    {
        return Ok((f1, f2, FactorsSource::Table));
    }
    let (f1, f2) = homogeneity_factors_computed(g, m);
    Ok((out("F1", f1)?, out("F2", f2)?, FactorsSource::Computed))
}

pub(crate) fn homogeneity_factors_computed(g: usize, m: usize) -> (f64, f64) {
    let d1 = (g - 1) as f64;
    let d2 = (g * (m - 1)) as f64;
    let f1 = crate::special::chi2_quantile_raw(0.95, d1) / d1;
    let f2 = (crate::special::f_quantile_raw(0.95, d1, d2) - 1.0) / m as f64;
    (f1, f2)
}

/// Homogeneity check of g items measured m times each (ISO 13528:2022 B.3,
/// one-way analysis of variance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Homogeneity {
    /// Number of items g.
    pub g: usize,
    /// Replicates per item m.
    pub m: usize,
    /// General average of all g·m results.
    pub mean: f64,
    /// Standard uncertainty of the general average, s_x/√g (used by the
    /// stability check that allows for uncertainty).
    pub u_mean: f64,
    /// Standard deviation of the item averages.
    pub s_x: f64,
    /// Within-item standard deviation √(Σ s_t²/g) (for duplicates
    /// √(Σ w_t²/(2g)), w_t = |x_t1 − x_t2|).
    pub s_w: f64,
    /// Between-item standard deviation √max(0, s_x² − s_w²/m).
    pub s_s: f64,
    pub sigma_pt: f64,
    /// The criterion that decided `homogeneous`.
    pub criterion: HomogeneityCriterion,
    /// Limit of the applied criterion.
    pub limit: f64,
    /// 0.3 σ_pt (B.2.2).
    pub basic_limit: f64,
    /// √(F1·(0.3 σ_pt)² + F2·s_w²) (B.2.3).
    pub expanded_limit: f64,
    pub f1: f64,
    pub f2: f64,
    pub factors_source: FactorsSource,
    /// s_s ≤ `limit`.
    pub homogeneous: bool,
}

/// Homogeneity of g ≥ 2 items × 2 replicates against 0.3 σ_pt (the basic
/// criterion); see [`homogeneity_with`] for more replicates and the expanded
/// criterion.
pub fn homogeneity(pairs: &[(f64, f64)], sigma_pt: f64) -> Result<Homogeneity> {
    let items: Vec<Vec<f64>> = pairs.iter().map(|&(a, b)| vec![a, b]).collect();
    homogeneity_with(&items, sigma_pt, HomogeneityCriterion::Basic)
}

/// Homogeneity of g ≥ 2 items, each measured the same number m ≥ 2 of
/// times, under the chosen criterion (both limits are always reported).
pub fn homogeneity_with(
    items: &[Vec<f64>],
    sigma_pt: f64,
    criterion: HomogeneityCriterion,
) -> Result<Homogeneity> {
    positive("sigma_pt", sigma_pt)?;
    at_least("homogeneity", 2, items.len())?;
    let m = items.first().map_or(0, Vec::len);
    at_least("homogeneity replicates per item", 2, m)?;
    for (i, item) in items.iter().enumerate() {
        if item.len() != m {
            // A balanced design: the formulas (and F1, F2) assume equal m.
            return Err(MetrologyError::length("items", m, item.len()));
        }
        if item.iter().any(|v| !v.is_finite()) {
            return Err(MetrologyError::non_finite("items", Some(i)));
        }
    }
    let g = items.len();
    let (gf, mf) = (g as f64, m as f64);
    let means: Vec<f64> = items.iter().map(|t| stats::mean_raw(t)).collect();
    let mean = out("mean", stats::mean_raw(&means))?;
    let s_x = out("s_x", stats::variance_raw(&means, mean).sqrt())?;
    let sw2 = items
        .iter()
        .zip(&means)
        .map(|(t, &mt)| stats::variance_raw(t, mt))
        .sum::<f64>()
        / gf;
    let s_w = out("s_w", sw2.sqrt())?;
    let s_s = out("s_s", (s_x * s_x - sw2 / mf).max(0.0).sqrt())?;
    let basic_limit = 0.3 * sigma_pt;
    let (f1, f2, factors_source) = homogeneity_factors(g, m)?;
    let expanded_limit = out(
        "expanded homogeneity limit",
        (f1 * basic_limit * basic_limit + f2 * sw2).sqrt(),
    )?;
    let limit = match criterion {
        HomogeneityCriterion::Basic => basic_limit,
        HomogeneityCriterion::Expanded => expanded_limit,
    };
    Ok(Homogeneity {
        g,
        m,
        mean,
        u_mean: out("u(mean)", s_x / gf.sqrt())?,
        s_x,
        s_w,
        s_s,
        sigma_pt,
        criterion,
        limit,
        basic_limit,
        expanded_limit,
        f1,
        f2,
        factors_source,
        homogeneous: s_s <= limit,
    })
}

/// Which stability criterion decides. Kebab-case: `"basic"`,
/// `"with-uncertainty"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StabilityCriterion {
    /// |ȳ1 − ȳ2| ≤ 0.3 σ_pt (ISO 13528 B.5).
    #[default]
    Basic,
    /// |ȳ1 − ȳ2| ≤ 0.3 σ_pt + 2√(u²(ȳ1) + u²(ȳ2)) (ISO 13528 B.5), when
    /// the measurement uncertainty of the two averages is not negligible.
    WithUncertainty,
}

/// Stability check (ISO 13528:2022 B.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stability {
    pub mean_homogeneity: f64,
    pub mean_stability: f64,
    /// |ȳ_hom − ȳ_stab|.
    pub difference: f64,
    /// u(ȳ_hom) and u(ȳ_stab); null with the basic criterion when not
    /// supplied.
    pub u_mean_homogeneity: Option<f64>,
    pub u_mean_stability: Option<f64>,
    /// The criterion that decided `stable`.
    pub criterion: StabilityCriterion,
    /// 0.3 σ_pt, plus 2√(u²(ȳ1) + u²(ȳ2)) with uncertainty.
    pub limit: f64,
    /// difference ≤ limit.
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
    stability_check(
        (mean_homogeneity, None),
        (m, None),
        sigma_pt,
        StabilityCriterion::Basic,
    )
}

/// Stability allowing for the uncertainty of both averages: the
/// homogeneity study's average with its u (e.g. [`Homogeneity::u_mean`])
/// against the stability measurements, whose average has u = s/√n (needs
/// n ≥ 2).
pub fn stability_with_uncertainty(
    mean_homogeneity: f64,
    u_mean_homogeneity: f64,
    stability_values: &[f64],
    sigma_pt: f64,
) -> Result<Stability> {
    all_finite("stability_values", stability_values)?;
    at_least("stability with uncertainty", 2, stability_values.len())?;
    let m = out("mean", stats::mean_raw(stability_values))?;
    let n = stability_values.len() as f64;
    let u = out(
        "u(stability mean)",
        stats::variance_raw(stability_values, m).sqrt() / n.sqrt(),
    )?;
    stability_check(
        (mean_homogeneity, Some(u_mean_homogeneity)),
        (m, Some(u)),
        sigma_pt,
        StabilityCriterion::WithUncertainty,
    )
}

/// Stability from two averages with optional standard uncertainties
/// (required for [`StabilityCriterion::WithUncertainty`]).
pub fn stability_check(
    homogeneity: (f64, Option<f64>),
    stability: (f64, Option<f64>),
    sigma_pt: f64,
    criterion: StabilityCriterion,
) -> Result<Stability> {
    let (y1, u1) = homogeneity;
    let (y2, u2) = stability;
    finite("mean_homogeneity", y1)?;
    finite("mean_stability", y2)?;
    positive("sigma_pt", sigma_pt)?;
    if let Some(u) = u1 {
        non_negative("u_mean_homogeneity", u)?;
    }
    if let Some(u) = u2 {
        non_negative("u_mean_stability", u)?;
    }
    let d = out("difference", (y1 - y2).abs())?;
    let limit = match criterion {
        StabilityCriterion::Basic => 0.3 * sigma_pt,
        StabilityCriterion::WithUncertainty => {
            let (Some(a), Some(b)) = (u1, u2) else {
                return Err(MetrologyError::InvalidOption {
                    option: "criterion".into(),
                    reason: "with-uncertainty needs u of both averages".into(),
                });
            };
            out("stability limit", 0.3 * sigma_pt + 2.0 * a.hypot(b))?
        }
    };
    Ok(Stability {
        mean_homogeneity: y1,
        mean_stability: y2,
        difference: d,
        u_mean_homogeneity: u1,
        u_mean_stability: u2,
        criterion,
        limit,
        stable: d <= limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ISO 13528:2022 E.2: ten items in duplicate.
    fn e2_items() -> Vec<Vec<f64>> {
        [
            (0.185, 0.194),
            (0.187, 0.189),
            (0.182, 0.186),
            (0.188, 0.196),
            (0.191, 0.181),
            (0.188, 0.180),
            (0.187, 0.196),
            (0.177, 0.186),
            (0.179, 0.187),
            (0.188, 0.196),
        ]
        .iter()
        .map(|&(a, b)| vec![a, b])
        .collect()
    }

    #[test]
    fn expanded_homogeneity_criterion_by_hand() {
        // Σw² = 619e-6 → s_w² = 619e-6/20 = 3.095e-5; (0.3·0.02807)² =
        // 7.0913241e-5; F1 = 1.88, F2 = 1.01 for g = 10:
        // 1.88·7.0913241e-5 + 1.01·3.095e-5 = 1.645763931e-4 → 0.01282873.
        let h = homogeneity_with(&e2_items(), 0.02807, HomogeneityCriterion::Expanded)
            .expect("homogeneity");
        assert_eq!((h.g, h.m), (10, 2));
        assert_eq!(
            (h.f1, h.f2, h.factors_source),
            (1.88, 1.01, FactorsSource::Table)
        );
        assert!((h.s_w * h.s_w - 3.095e-5).abs() < 1e-15);
        assert!((h.expanded_limit - 1.645_763_931e-4f64.sqrt()).abs() < 1e-10);
        assert!((h.expanded_limit - 0.012_828_73).abs() < 1e-8);
        assert_eq!(h.limit, h.expanded_limit);
        assert!((h.basic_limit - 0.008_421).abs() < 1e-15);
        assert_eq!(h.criterion, HomogeneityCriterion::Expanded);
        assert!(h.homogeneous);
        // The basic criterion reports the same statistics, a different limit.
        let b = homogeneity(
            &e2_items().iter().map(|t| (t[0], t[1])).collect::<Vec<_>>(),
            0.02807,
        )
        .expect("basic");
        assert_eq!(b.criterion, HomogeneityCriterion::Basic);
        assert_eq!(b.limit, b.basic_limit);
        assert_eq!(b.s_s, h.s_s);
        // A σ_pt so small that only the expanded criterion passes:
        // s_s = 0.000601 > 0.3·0.0019 = 0.00057, but
        // √(1.88·0.00057² + 1.01·3.095e-5) = 0.005645.
        let tight = homogeneity_with(&e2_items(), 0.0019, HomogeneityCriterion::Basic).expect("b");
        assert!(!tight.homogeneous);
        let loose =
            homogeneity_with(&e2_items(), 0.0019, HomogeneityCriterion::Expanded).expect("e");
        assert!(loose.homogeneous);
        assert!((loose.limit - 0.005_645_4).abs() < 1e-6, "{}", loose.limit);
    }

    #[test]
    fn homogeneity_with_three_replicates_is_a_one_way_anova() {
        // Item means 2, 3, 5 (grand mean 10/3): s_x² = (16/9 + 1/9 + 25/9)/2
        // = 7/3; every within-item variance is 1, so s_w² = 1 and
        // s_s² = 7/3 − 1/3 = 2.
        let items = vec![
            vec![1.0, 2.0, 3.0],
            vec![2.0, 3.0, 4.0],
            vec![4.0, 5.0, 6.0],
        ];
        let h = homogeneity_with(&items, 10.0, HomogeneityCriterion::Expanded).expect("h");
        assert_eq!((h.g, h.m), (3, 3));
        assert!((h.mean - 10.0 / 3.0).abs() < 1e-15);
        assert!((h.s_x * h.s_x - 7.0 / 3.0).abs() < 1e-14);
        assert!((h.s_w - 1.0).abs() < 1e-15);
        assert!((h.s_s - 2f64.sqrt()).abs() < 1e-14);
        assert!((h.u_mean - (7.0f64 / 9.0).sqrt()).abs() < 1e-14);
        // g = 3 is outside the table: F1 = χ²_0.95(2)/2 = −ln 0.05 = 2.995732;
        // F2 = (F_0.95(2, 6) − 1)/3 with F_0.95(2, 6) = 3·(0.05^(−1/3) − 1)
        // = 5.143253 (closed form for d1 = 2).
        assert_eq!(h.factors_source, FactorsSource::Computed);
        assert!((h.f1 - 2.995_732_274).abs() < 1e-8, "{}", h.f1);
        let f = 3.0 * (0.05f64.powf(-1.0 / 3.0) - 1.0);
        assert!((h.f2 - (f - 1.0) / 3.0).abs() < 1e-9, "{}", h.f2);
        // Limit √(F1·9 + F2·1) = 5.3270 > s_s: homogeneous.
        assert!((h.limit - (9.0 * h.f1 + h.f2).sqrt()).abs() < 1e-12);
        assert!(h.homogeneous);
        // Unbalanced designs are refused.
        assert!(matches!(
            homogeneity_with(
                &[vec![1.0, 2.0], vec![1.0]],
                1.0,
                HomogeneityCriterion::Basic
            ),
            Err(MetrologyError::LengthMismatch { .. })
        ));
        assert!(
            homogeneity_with(&[vec![1.0], vec![2.0]], 1.0, HomogeneityCriterion::Basic).is_err()
        );
    }

    #[test]
    fn published_factors_follow_from_their_definition() {
        for &(g, f1, f2) in &HOMOGENEITY_TABLE {
            let (c1, c2) = homogeneity_factors_computed(g, 2);
            assert!((c1 - f1).abs() <= 0.005 + 1e-12, "g={g}: F1 {c1} vs {f1}");
            assert!((c2 - f2).abs() <= 0.005 + 1e-12, "g={g}: F2 {c2} vs {f2}");
        }
        assert_eq!(
            homogeneity_factors(21, 2).expect("21").2,
            FactorsSource::Computed
        );
        assert_eq!(
            homogeneity_factors(10, 3).expect("m3").2,
            FactorsSource::Computed
        );
    }

    #[test]
    fn stability_allowing_for_uncertainty_by_hand() {
        let h = homogeneity_with(&e2_items(), 0.02807, HomogeneityCriterion::Basic).expect("h");
        // s_x² = 1.58361e-5 (E.2) → u(ȳ1) = √(1.58361e-5/10) = 0.00125842.
        assert!((h.u_mean - 0.001_258_42).abs() < 1e-8, "{}", h.u_mean);
        let values = [0.191, 0.198, 0.190, 0.196];
        // ȳ2 = 0.19375; Σ(y − ȳ)² = 4.475e-5 → s² = 1.491667e-5,
        // u(ȳ2) = √(1.491667e-5/4) = 0.00193111.
        // Limit 0.008421 + 2·√(0.00125842² + 0.00193111²) = 0.0130309.
        let s = stability_with_uncertainty(h.mean, h.u_mean, &values, 0.02807).expect("s");
        assert_eq!(s.criterion, StabilityCriterion::WithUncertainty);
        assert!((s.mean_stability - 0.19375).abs() < 1e-15);
        assert!((s.u_mean_stability.expect("u2") - 0.001_931_11).abs() < 1e-8);
        assert!((s.limit - 0.013_030_9).abs() < 1e-7, "{}", s.limit);
        assert!(s.stable);
        // A drift of 0.009 fails the basic criterion (0.3σ_pt = 0.008421) but
        // not the one allowing for u.
        let basic = stability_check(
            (0.2, Some(0.00125842)),
            (0.209, Some(0.00193111)),
            0.02807,
            StabilityCriterion::Basic,
        )
        .expect("basic");
        assert!(!basic.stable && (basic.limit - 0.008421).abs() < 1e-15);
        let with_u = stability_check(
            (0.2, Some(0.00125842)),
            (0.209, Some(0.00193111)),
            0.02807,
            StabilityCriterion::WithUncertainty,
        )
        .expect("with u");
        assert!(with_u.stable);
        assert!(matches!(
            stability_check(
                (0.2, None),
                (0.2, Some(0.1)),
                1.0,
                StabilityCriterion::WithUncertainty
            ),
            Err(MetrologyError::InvalidOption { .. })
        ));
        assert!(stability_with_uncertainty(0.2, 0.001, &[0.2], 1.0).is_err());
    }
}
