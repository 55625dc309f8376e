//! Performance scores of ISO 13528:2022 §9 and their classification.
//!
//! * z  = (x − x_pt)/σ_pt (9.4)
//! * z′ = (x − x_pt)/√(σ_pt² + u²(x_pt)) (9.5)
//! * ζ  = (x − x_pt)/√(u²(x) + u²(x_pt)) (9.6), u(x) = U(x)/k with each
//!   laboratory's own k
//! * En = (x − x_pt)/√(U²(x) + U²(x_pt)) (9.7)
//! * D % = 100 (x − x_pt)/x_pt (9.3)

use crate::error::{MetrologyError, Result, finite, non_negative, out, positive};
use serde::{Deserialize, Serialize};

/// Classification of z, z′ and ζ scores (ISO 13528:2022 9.4.1,
/// ISO/IEC 17043 B.4.1): |z| ≤ 2 satisfactory, 2 < |z| < 3 questionable
/// (warning signal), |z| ≥ 3 unsatisfactory (action signal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ZClass {
    Satisfactory,
    Questionable,
    Unsatisfactory,
}

/// Classify a z-type score.
pub fn classify_z(z: f64) -> ZClass {
    let a = z.abs();
    if a <= 2.0 {
        ZClass::Satisfactory
    } else if a < 3.0 {
        ZClass::Questionable
    } else {
        // NaN cannot reach here from this crate; treat it as a signal anyway.
        ZClass::Unsatisfactory
    }
}

/// Largest u(x_pt)/σ_pt at which the uncertainty of the assigned value is
/// negligible (ISO 13528:2022 9.2.1).
pub const NEGLIGIBLE_U_X_PT: f64 = 0.3;

/// Whether u(x_pt) is negligible against σ_pt, u(x_pt) ≤ 0.3 σ_pt
/// (ISO 13528:2022 9.2.1): then z is the score to judge by; otherwise z′,
/// which allows for u(x_pt) (9.5).
pub fn u_x_pt_is_negligible(u_x_pt: f64, sigma_pt: f64) -> bool {
    u_x_pt <= NEGLIGIBLE_U_X_PT * sigma_pt
}

/// Where the En boundary |En| = 1 falls; a per-scheme setting.
///
/// Serialised kebab-case: `"iso13528"`, `"jjf1117"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnRule {
    /// ISO 13528:2022 9.7.2: |En| ≥ 1 is an action signal, so only
    /// |En| < 1 is satisfactory.
    #[default]
    Iso13528,
    /// ISO/IEC 17043 B.4.1.1 and JJF 1117 (计量比对): |En| ≤ 1 is
    /// satisfactory (满意), |En| > 1 unsatisfactory.
    Jjf1117,
}

/// En verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnVerdict {
    Satisfactory,
    Unsatisfactory,
}

/// Classify an En number under the scheme's boundary rule.
pub fn classify_en(en: f64, rule: EnRule) -> EnVerdict {
    let a = en.abs();
    let ok = match rule {
        EnRule::Iso13528 => a < 1.0,
        EnRule::Jjf1117 => a <= 1.0,
    };
    if ok {
        EnVerdict::Satisfactory
    } else {
        EnVerdict::Unsatisfactory
    }
}

/// z score (ISO 13528:2022 9.4).
pub fn z_score(x: f64, x_pt: f64, sigma_pt: f64) -> Result<f64> {
    finite("x", x)?;
    finite("x_pt", x_pt)?;
    positive("sigma_pt", sigma_pt)?;
    out("z", (x - x_pt) / sigma_pt)
}

/// z′ score (ISO 13528:2022 9.5), for when u(x_pt) is not negligible.
pub fn z_prime_score(x: f64, x_pt: f64, sigma_pt: f64, u_x_pt: f64) -> Result<f64> {
    finite("x", x)?;
    finite("x_pt", x_pt)?;
    positive("sigma_pt", sigma_pt)?;
    non_negative("u_x_pt", u_x_pt)?;
    out("z'", (x - x_pt) / sigma_pt.hypot(u_x_pt))
}

/// ζ score (ISO 13528:2022 9.6) from standard uncertainties.
pub fn zeta_score(x: f64, u_x: f64, x_pt: f64, u_x_pt: f64) -> Result<f64> {
    finite("x", x)?;
    finite("x_pt", x_pt)?;
    non_negative("u_x", u_x)?;
    non_negative("u_x_pt", u_x_pt)?;
    let d = u_x.hypot(u_x_pt);
    if d == 0.0 {
        return Err(MetrologyError::zero("sqrt(u^2(x) + u^2(x_pt))"));
    }
    out("zeta", (x - x_pt) / d)
}

/// En number (ISO 13528:2022 9.7) from expanded uncertainties.
pub fn en_score(x: f64, big_u_x: f64, x_pt: f64, big_u_x_pt: f64) -> Result<f64> {
    finite("x", x)?;
    finite("x_pt", x_pt)?;
    non_negative("U_x", big_u_x)?;
    non_negative("U_x_pt", big_u_x_pt)?;
    let d = big_u_x.hypot(big_u_x_pt);
    if d == 0.0 {
        return Err(MetrologyError::zero("sqrt(U^2(x) + U^2(x_pt))"));
    }
    out("En", (x - x_pt) / d)
}

/// Percentage difference D % (ISO 13528:2022 9.3).
pub fn d_percent(x: f64, x_pt: f64) -> Result<f64> {
    finite("x", x)?;
    finite("x_pt", x_pt)?;
    if x_pt == 0.0 {
        return Err(MetrologyError::zero("x_pt"));
    }
    out("D%", 100.0 * (x - x_pt) / x_pt)
}

/// One participant's reported result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabResult {
    pub id: String,
    pub value: f64,
    /// Expanded uncertainty U(x) as reported, if any.
    #[serde(default)]
    pub expanded_uncertainty: Option<f64>,
    /// The laboratory's own coverage factor; `None` means the scheme default
    /// (see [`ScoreOptions::default_coverage_factor`]).
    #[serde(default)]
    pub coverage_factor: Option<f64>,
}

/// The assigned value and the standard deviation for proficiency assessment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Assigned {
    pub x_pt: f64,
    /// Standard uncertainty u(x_pt).
    pub u_x_pt: f64,
    /// Expanded uncertainty U(x_pt) used for En (normally k·u(x_pt)).
    pub big_u_x_pt: f64,
    pub sigma_pt: f64,
}

/// Settings for scoring.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreOptions {
    pub en_rule: EnRule,
    /// k used for participants that report U without k (default 2).
    pub default_coverage_factor: f64,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        Self {
            en_rule: EnRule::Iso13528,
            default_coverage_factor: 2.0,
        }
    }
}

/// All scores of one participant. Scores that need an uncertainty the
/// participant did not report are `None`; D % is `None` when x_pt = 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabScores {
    pub id: String,
    pub value: f64,
    pub d_percent: Option<f64>,
    pub z: f64,
    pub z_class: ZClass,
    pub z_prime: f64,
    pub z_prime_class: ZClass,
    pub zeta: Option<f64>,
    pub zeta_class: Option<ZClass>,
    pub en: Option<f64>,
    pub en_verdict: Option<EnVerdict>,
}

/// Score every participant against an assigned value.
///
/// Errors name the participant's index (`labs[i]`).
pub fn score_labs(
    labs: &[LabResult],
    assigned: &Assigned,
    options: &ScoreOptions,
) -> Result<Vec<LabScores>> {
    finite("x_pt", assigned.x_pt)?;
    non_negative("u_x_pt", assigned.u_x_pt)?;
    non_negative("U_x_pt", assigned.big_u_x_pt)?;
    positive("sigma_pt", assigned.sigma_pt)?;
    positive("default_coverage_factor", options.default_coverage_factor)?;
    let mut res = Vec::with_capacity(labs.len());
    for (i, lab) in labs.iter().enumerate() {
        if !lab.value.is_finite() {
            return Err(MetrologyError::non_finite("labs.value", Some(i)));
        }
        let u_pair = match lab.expanded_uncertainty {
            None => None,
            Some(big_u) => {
                if !big_u.is_finite() {
                    return Err(MetrologyError::non_finite(
                        "labs.expanded_uncertainty",
                        Some(i),
                    ));
                }
                if big_u <= 0.0 {
                    return Err(MetrologyError::non_positive(
                        "labs.expanded_uncertainty",
                        Some(i),
                    ));
                }
                let k = lab
                    .coverage_factor
                    .unwrap_or(options.default_coverage_factor);
                if !k.is_finite() {
                    return Err(MetrologyError::non_finite("labs.coverage_factor", Some(i)));
                }
                if k <= 0.0 {
                    return Err(MetrologyError::out_of_range(
                        "labs.coverage_factor",
                        Some(i),
                        "k > 0",
                    ));
                }
                Some((big_u, big_u / k))
            }
        };
        let x = lab.value;
        let a = assigned;
        let z = z_score(x, a.x_pt, a.sigma_pt)?;
        let z_prime = z_prime_score(x, a.x_pt, a.sigma_pt, a.u_x_pt)?;
        let (zeta, en) = match u_pair {
            Some((big_u, u)) => (
                Some(zeta_score(x, u, a.x_pt, a.u_x_pt)?),
                Some(en_score(x, big_u, a.x_pt, a.big_u_x_pt)?),
            ),
            None => (None, None),
        };
        res.push(LabScores {
            id: lab.id.clone(),
            value: x,
            d_percent: d_percent(x, a.x_pt).ok(),
            z,
            z_class: classify_z(z),
            z_prime,
            z_prime_class: classify_z(z_prime),
            zeta,
            zeta_class: zeta.map(classify_z),
            en,
            en_verdict: en.map(|e| classify_en(e, options.en_rule)),
        });
    }
    Ok(res)
}
