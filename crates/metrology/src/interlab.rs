//! The evaluation of an interlaboratory comparison, whole: participants and
//! options in, the report out. `jiliang compare`, the server's comparison
//! rounds and the browser all call [`evaluate`], so a round gives the same
//! figures and verdicts wherever it is computed; the report's JSON is the
//! one `jiliang compare --format json` prints (docs/CLI.md).
//!
//! Three evaluations, chosen from the options and the data:
//!
//! * **Key comparison** (every participant states an uncertainty and the
//!   reference is a consensus): [`reference_value`] with the requested
//!   estimator: χ² consistency, τ for the random-effects means, and the
//!   CIPM degrees of equivalence d_i, u(d_i) (which account for a lab's
//!   correlation with a linear reference value it is part of),
//!   U(d_i) = k·u(d_i), En_i = d_i/U(d_i).
//! * **Consensus from values** (`median`, `algorithm-a` or
//!   `arithmetic-mean` when some participant states no uncertainty, as in
//!   a PT round like ISO 13528 E.3): the location and u(x_pt) of
//!   ISO 13528 (median with 1.25·nIQR/√p as in Table E.5, Algorithm A with
//!   1.25·s*/√p, mean with s/√p); then scored as below.
//! * **Assigned value** ([`Reference::Assigned`]): ISO 13528 §9 scores
//!   against x_pt, with U(x_pt) = k·u(x_pt).
//!
//! In the last two, d = x − x_pt, u(d) = √(u² + u²(x_pt)) (so ζ = d/u(d)),
//! U(d) = √(U² + U²(x_pt)) with each participant's own U (so En = d/U(d)).
//!
//! ζ is d/u(d) in every path. In the key-comparison path that is the CIPM
//! u(d_i) (τ² and the lab's correlation with the reference included), so
//! ζ = k·En and the two scores never contradict each other; the ISO 13528
//! formula d/√(u² + u²(x_pt)) assumes a reference independent of the lab,
//! which a weighted or random-effects mean of the labs is not.
//!
//! The verdict is the En verdict under the En rule when En exists;
//! otherwise, with σ_pt, the classification of z if u(x_pt) ≤ 0.3 σ_pt and
//! of z′ if not ([`u_x_pt_is_negligible`]); otherwise none.
//! `verdict_score` says which score it was.
//!
//! Like the rest of the crate this never panics and never returns a
//! non-finite number: a report that would hold one is
//! [`CompareError::Overflow`].

use serde::{Deserialize, Serialize};

use crate::error::{MetrologyError, finite, positive};
use crate::reference::{KcLab, KcrvMethod, KcrvOptions, reference_value};
use crate::robust::{self, AlgorithmAOptions, AlgorithmAResult, algorithm_a};
use crate::scores::{
    EnRule, EnVerdict, ZClass, classify_en, classify_z, d_percent, en_score, u_x_pt_is_negligible,
    z_prime_score, z_score, zeta_score,
};
use crate::stated::Uncertainty;
use crate::stats;

/// Coverage factor of U(reference) and U(d) unless the options say
/// otherwise (CIPM MRA, ISO 13528: 2).
pub const DEFAULT_COVERAGE_FACTOR: f64 = 2.0;

/// One participant's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    /// What reports call the participant: its code in a round (`"L04"`),
    /// its name in a CSV (`"NIM"`). Unique within a comparison.
    pub lab: String,
    /// A stable identifier (a round's participant id), echoed in the
    /// report; absent for a CSV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub value: f64,
    /// The stated uncertainty (see [`crate::stated::reconcile`]); `None`
    /// when the participant states none.
    #[serde(default)]
    pub uncertainty: Option<Uncertainty>,
    /// Left out of the reference value (still scored), and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded: Option<Exclusion>,
}

impl Participant {
    /// A participant with a result and nothing else.
    pub fn new(lab: impl Into<String>, value: f64) -> Self {
        Self {
            lab: lab.into(),
            id: None,
            value,
            uncertainty: None,
            excluded: None,
        }
    }
}

/// Why a participant is left out of the reference value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Exclusion {
    /// In the coordinator's words; echoed in the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the participants are compared against. Internally tagged with
/// `"kind"`, kebab-case: `{"kind":"consensus","method":"auto"}`,
/// `{"kind":"assigned","value":0.044,"u":0.0041}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reference {
    /// A consensus of the included participants by this estimator.
    Consensus { method: KcrvMethod },
    /// A given assigned value x_pt with its standard uncertainty u(x_pt) > 0.
    Assigned { value: f64, u: f64 },
}

impl Default for Reference {
    fn default() -> Self {
        Self::Consensus {
            method: KcrvMethod::Auto,
        }
    }
}

/// Settings of an evaluation; the report echoes them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CompareOptions {
    pub reference: Reference,
    /// Standard deviation for proficiency assessment σ_pt > 0: gives z and
    /// z′ (without it they are null).
    #[serde(default)]
    pub sigma_pt: Option<f64>,
    #[serde(default)]
    pub en_rule: EnRule,
    /// k of U(reference) and U(d) (> 0).
    pub coverage_factor: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            reference: Reference::default(),
            sigma_pt: None,
            en_rule: EnRule::Iso13528,
            coverage_factor: DEFAULT_COVERAGE_FACTOR,
        }
    }
}

/// The method a report names: a reference-value estimator or `assigned`.
/// Kebab-case, as `--method` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodName {
    WeightedMean,
    DersimonianLaird,
    MandelPaule,
    ArithmeticMean,
    Median,
    AlgorithmA,
    Auto,
    Assigned,
}

impl MethodName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WeightedMean => "weighted-mean",
            Self::DersimonianLaird => "dersimonian-laird",
            Self::MandelPaule => "mandel-paule",
            Self::ArithmeticMean => "arithmetic-mean",
            Self::Median => "median",
            Self::AlgorithmA => "algorithm-a",
            Self::Auto => "auto",
            Self::Assigned => "assigned",
        }
    }
}

impl core::fmt::Display for MethodName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<KcrvMethod> for MethodName {
    fn from(m: KcrvMethod) -> Self {
        match m {
            KcrvMethod::WeightedMean => Self::WeightedMean,
            KcrvMethod::DersimonianLaird => Self::DersimonianLaird,
            KcrvMethod::MandelPaule => Self::MandelPaule,
            KcrvMethod::ArithmeticMean => Self::ArithmeticMean,
            KcrvMethod::Median => Self::Median,
            KcrvMethod::AlgorithmA => Self::AlgorithmA,
            KcrvMethod::Auto => Self::Auto,
        }
    }
}

/// A participant's verdict. Kebab-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Satisfactory,
    Questionable,
    Unsatisfactory,
}

/// The score a verdict classifies. Snake_case: `"en"`, `"z"`, `"z_prime"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictScore {
    En,
    Z,
    ZPrime,
}

/// The evaluation. Field names and order are the JSON of
/// `jiliang compare --format json`; `id` and `exclusion_reason` of a lab
/// appear only when the input had them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    /// The estimator used (differs from `method_requested` only for `auto`).
    pub method: MethodName,
    pub method_requested: MethodName,
    pub en_rule: EnRule,
    pub sigma_pt: Option<f64>,
    pub reference: ReferenceValue,
    /// χ² check of the included participants (key-comparison path only).
    pub consistency: Option<Consistency>,
    /// √τ² for DerSimonian–Laird and Mandel–Paule.
    pub tau: Option<f64>,
    /// Algorithm A, when it gave the reference value.
    pub robust: Option<Robust>,
    /// In input order.
    pub labs: Vec<LabReport>,
}

/// The reference value x_pt (or KCRV) and its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReferenceValue {
    pub value: f64,
    /// Standard uncertainty.
    pub u: f64,
    #[serde(rename = "U")]
    pub big_u: f64,
    pub k: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Consistency {
    pub chi2: f64,
    pub dof: usize,
    pub p_value: f64,
    pub birge_ratio: f64,
    pub consistent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Robust {
    pub x_star: f64,
    pub s_star: f64,
    pub iterations: usize,
    /// False when Algorithm A stopped at its iteration limit before the
    /// stopping rule was met.
    pub converged: bool,
}

impl From<&AlgorithmAResult> for Robust {
    fn from(a: &AlgorithmAResult) -> Self {
        Self {
            x_star: a.x_star,
            s_star: a.s_star,
            iterations: a.iterations,
            converged: a.converged,
        }
    }
}

/// One participant's degree of equivalence and scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabReport {
    pub lab: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub value: f64,
    /// Standard uncertainty as stated (u, or U/k).
    pub u: Option<f64>,
    /// Part of the reference value.
    pub included: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusion_reason: Option<String>,
    pub d: f64,
    pub u_d: Option<f64>,
    #[serde(rename = "U_d")]
    pub big_u_d: Option<f64>,
    pub en: Option<f64>,
    pub z: Option<f64>,
    pub z_prime: Option<f64>,
    pub zeta: Option<f64>,
    /// D % = 100·d/reference (null when the reference is 0).
    pub d_percent: Option<f64>,
    pub verdict: Option<Verdict>,
    pub verdict_score: Option<VerdictScore>,
}

/// Why a comparison cannot be evaluated. The first three are outcomes a
/// caller words for its own users (the CLI names flags and rows); the rest
/// is an input or arithmetic problem of the crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareError {
    /// A consensus needs at least two participants in it.
    #[error("{method} needs at least 2 participants in the reference value, found {found}")]
    TooFewInReference { method: MethodName, found: usize },
    /// The method weighs results by their uncertainty, and participant
    /// `index` states none.
    #[error("participants[{index}] states no uncertainty, but {method} needs every participant's")]
    MissingUncertainty { index: usize, method: MethodName },
    /// A figure of the report does not fit in a double.
    #[error("the values are too large to evaluate (a result overflows)")]
    Overflow,
    /// Two participants have the same `lab`.
    #[error("participants[{index}]: {lab:?} appears twice (first as participants[{first}])")]
    DuplicateLab {
        lab: String,
        index: usize,
        first: usize,
    },
    #[error(transparent)]
    Metrology(#[from] MetrologyError),
}

/// Evaluates a comparison (see the module documentation).
pub fn evaluate(
    participants: &[Participant],
    options: &CompareOptions,
) -> Result<CompareReport, CompareError> {
    validate(participants, options)?;
    let k = options.coverage_factor;
    let report = match options.reference {
        Reference::Assigned { value, u } => Ok(CompareReport {
            method: MethodName::Assigned,
            method_requested: MethodName::Assigned,
            en_rule: options.en_rule,
            sigma_pt: options.sigma_pt,
            reference: reference(value, u, k),
            consistency: None,
            tau: None,
            robust: None,
            labs: score_against(participants, value, u, options)?,
        }),
        Reference::Consensus { method } => consensus(participants, method, options),
    }?;
    if all_finite(&report) {
        Ok(report)
    } else {
        Err(CompareError::Overflow)
    }
}

fn validate(participants: &[Participant], options: &CompareOptions) -> Result<(), CompareError> {
    positive("coverage_factor", options.coverage_factor)?;
    if let Some(s) = options.sigma_pt {
        positive("sigma_pt", s)?;
    }
    let assigned = matches!(options.reference, Reference::Assigned { .. });
    if let Reference::Assigned { value, u } = options.reference {
        finite("reference.value", value)?;
        positive("reference.u", u)?;
    }
    for (i, p) in participants.iter().enumerate() {
        if !p.value.is_finite() {
            return Err(MetrologyError::non_finite("participants.value", Some(i)).into());
        }
        if let Some(s) = &p.uncertainty {
            for (field, v) in [
                ("participants.uncertainty.u", s.u),
                ("participants.uncertainty.big_u", s.big_u),
                ("participants.uncertainty.k", s.k),
            ] {
                if !v.is_finite() {
                    return Err(MetrologyError::non_finite(field, Some(i)).into());
                }
                if v <= 0.0 {
                    return Err(MetrologyError::non_positive(field, Some(i)).into());
                }
            }
        }
        if p.excluded.is_some() && assigned {
            return Err(MetrologyError::option(
                "participants.excluded",
                "an assigned value is not computed from the participants, so none can be left out of it",
            )
            .into());
        }
        if let Some(first) = participants.iter().take(i).position(|q| q.lab == p.lab) {
            return Err(CompareError::DuplicateLab {
                lab: p.lab.clone(),
                index: i,
                first,
            });
        }
    }
    Ok(())
}

fn consensus(
    participants: &[Participant],
    requested: KcrvMethod,
    options: &CompareOptions,
) -> Result<CompareReport, CompareError> {
    let found = participants.iter().filter(|p| p.excluded.is_none()).count();
    if found < 2 {
        return Err(CompareError::TooFewInReference {
            method: requested.into(),
            found,
        });
    }
    let weighs_by_uncertainty = matches!(
        requested,
        KcrvMethod::WeightedMean
            | KcrvMethod::DersimonianLaird
            | KcrvMethod::MandelPaule
            | KcrvMethod::Auto
    );
    match participants.iter().position(|p| p.uncertainty.is_none()) {
        None => key_comparison(participants, requested, options),
        Some(index) if weighs_by_uncertainty => Err(CompareError::MissingUncertainty {
            index,
            method: requested.into(),
        }),
        Some(_) => consensus_from_values(participants, requested, options),
    }
}

fn reference(value: f64, u: f64, k: f64) -> ReferenceValue {
    ReferenceValue {
        value,
        u,
        big_u: k * u,
        k,
    }
}

/// The verdict and the score it classifies. En first; otherwise z, or z′
/// when u(x_pt) is not negligible against σ_pt; otherwise none.
fn verdict(
    en: Option<f64>,
    z: Option<f64>,
    z_prime: Option<f64>,
    u_ref: f64,
    sigma_pt: Option<f64>,
    rule: EnRule,
) -> (Option<Verdict>, Option<VerdictScore>) {
    if let Some(en) = en {
        let v = match classify_en(en, rule) {
            EnVerdict::Satisfactory => Verdict::Satisfactory,
            EnVerdict::Unsatisfactory => Verdict::Unsatisfactory,
        };
        return (Some(v), Some(VerdictScore::En));
    }
    let (score, which) = if sigma_pt.is_some_and(|s| u_x_pt_is_negligible(u_ref, s)) {
        (z, VerdictScore::Z)
    } else {
        (z_prime, VerdictScore::ZPrime)
    };
    match score {
        Some(v) => {
            let class = match classify_z(v) {
                ZClass::Satisfactory => Verdict::Satisfactory,
                ZClass::Questionable => Verdict::Questionable,
                ZClass::Unsatisfactory => Verdict::Unsatisfactory,
            };
            (Some(class), Some(which))
        }
        None => (None, None),
    }
}

/// z and z′ against (x_ref, u_ref) when σ_pt is given.
fn z_scores(
    x: f64,
    x_ref: f64,
    u_ref: f64,
    sigma_pt: Option<f64>,
) -> Result<(Option<f64>, Option<f64>), MetrologyError> {
    let Some(s) = sigma_pt else {
        return Ok((None, None));
    };
    Ok((
        Some(z_score(x, x_ref, s)?),
        Some(z_prime_score(x, x_ref, s, u_ref)?),
    ))
}

/// ISO 13528 §9 scores of every participant against (x_pt, u(x_pt)),
/// U(x_pt) = k·u(x_pt).
fn score_against(
    participants: &[Participant],
    x_pt: f64,
    u_pt: f64,
    options: &CompareOptions,
) -> Result<Vec<LabReport>, MetrologyError> {
    let big_u_pt = options.coverage_factor * u_pt;
    participants
        .iter()
        .map(|p| {
            let x = p.value;
            let u = p.uncertainty.map(|s| s.u);
            let big_u = p.uncertainty.map(|s| s.big_u);
            let (z, z_prime) = z_scores(x, x_pt, u_pt, options.sigma_pt)?;
            let zeta = u.map(|u| zeta_score(x, u, x_pt, u_pt)).transpose()?;
            let en = big_u
                .map(|big| en_score(x, big, x_pt, big_u_pt))
                .transpose()?;
            let (verdict, verdict_score) =
                verdict(en, z, z_prime, u_pt, options.sigma_pt, options.en_rule);
            Ok(LabReport {
                lab: p.lab.clone(),
                id: p.id.clone(),
                value: x,
                u,
                included: p.excluded.is_none(),
                exclusion_reason: exclusion_reason(p),
                d: x - x_pt,
                u_d: u.map(|u| u.hypot(u_pt)),
                big_u_d: big_u.map(|big| big.hypot(big_u_pt)),
                en,
                z,
                z_prime,
                zeta,
                d_percent: d_percent(x, x_pt).ok(),
                verdict,
                verdict_score,
            })
        })
        .collect()
}

fn exclusion_reason(p: &Participant) -> Option<String> {
    p.excluded.as_ref().and_then(|e| e.reason.clone())
}

fn included_values(participants: &[Participant]) -> Vec<f64> {
    participants
        .iter()
        .filter(|p| p.excluded.is_none())
        .map(|p| p.value)
        .collect()
}

fn key_comparison(
    participants: &[Participant],
    requested: KcrvMethod,
    options: &CompareOptions,
) -> Result<CompareReport, CompareError> {
    let kc: Vec<KcLab> = participants
        .iter()
        .map(|p| KcLab {
            id: p.lab.clone(),
            value: p.value,
            u: p.uncertainty.map_or(0.0, |s| s.u),
            included: p.excluded.is_none(),
        })
        .collect();
    let kcrv_options = KcrvOptions {
        method: requested,
        coverage_factor: options.coverage_factor,
        ..KcrvOptions::default()
    };
    let r = reference_value(&kc, &kcrv_options)?;
    let robust = if r.method_used == KcrvMethod::AlgorithmA {
        let a = algorithm_a(&included_values(participants), &kcrv_options.algorithm_a)?;
        Some(Robust::from(&a))
    } else {
        None
    };
    let mut labs = Vec::with_capacity(participants.len());
    for (p, doe) in participants.iter().zip(&r.doe) {
        let x = p.value;
        let (z, z_prime) = z_scores(x, r.value, r.u, options.sigma_pt)?;
        // ζ = d/u(d) with the CIPM u(d) (see the module documentation); none
        // only when u(d) = 0, where En is none too.
        let zeta = (doe.u_d > 0.0).then(|| doe.d / doe.u_d);
        let (verdict, verdict_score) =
            verdict(doe.en, z, z_prime, r.u, options.sigma_pt, options.en_rule);
        labs.push(LabReport {
            lab: p.lab.clone(),
            id: p.id.clone(),
            value: x,
            u: p.uncertainty.map(|s| s.u),
            included: doe.included,
            exclusion_reason: exclusion_reason(p),
            d: doe.d,
            u_d: Some(doe.u_d),
            big_u_d: Some(doe.big_u_d),
            en: doe.en,
            z,
            z_prime,
            zeta,
            d_percent: d_percent(x, r.value).ok(),
            verdict,
            verdict_score,
        });
    }
    Ok(CompareReport {
        method: r.method_used.into(),
        method_requested: requested.into(),
        en_rule: options.en_rule,
        sigma_pt: options.sigma_pt,
        reference: reference(r.value, r.u, options.coverage_factor),
        consistency: r.chi2.map(|c| Consistency {
            chi2: c.chi2_obs,
            dof: c.dof,
            p_value: c.p_value,
            birge_ratio: c.birge_ratio,
            consistent: c.consistent,
        }),
        tau: r.tau2.map(f64::sqrt),
        robust,
        labs,
    })
}

fn consensus_from_values(
    participants: &[Participant],
    requested: KcrvMethod,
    options: &CompareOptions,
) -> Result<CompareReport, CompareError> {
    let x = included_values(participants);
    let mut robust = None;
    let (value, u) = match requested {
        KcrvMethod::Median => {
            let s = stats::summary(&x)?;
            (s.median, robust::consensus_uncertainty(s.niqr, x.len()))
        }
        KcrvMethod::AlgorithmA => {
            let a = algorithm_a(&x, &AlgorithmAOptions::default())?;
            robust = Some(Robust::from(&a));
            (a.x_star, a.u_x_star)
        }
        // The arithmetic mean; the estimators that weigh by uncertainty
        // never reach here (see `consensus`).
        _ => {
            let m = stats::mean(&x)?;
            let s = stats::std_dev(&x)?;
            (m, s / (x.len() as f64).sqrt())
        }
    };
    Ok(CompareReport {
        method: requested.into(),
        method_requested: requested.into(),
        en_rule: options.en_rule,
        sigma_pt: options.sigma_pt,
        reference: reference(value, u, options.coverage_factor),
        consistency: None,
        tau: None,
        robust,
        labs: score_against(participants, value, u, options)?,
    })
}

/// Every number of the report is finite (JSON has no NaN or ∞).
fn all_finite(r: &CompareReport) -> bool {
    let mut all = vec![r.reference.value, r.reference.u, r.reference.big_u];
    if let Some(c) = &r.consistency {
        all.extend([c.chi2, c.p_value, c.birge_ratio]);
    }
    all.extend(r.tau);
    if let Some(a) = &r.robust {
        all.extend([a.x_star, a.s_star]);
    }
    for l in &r.labs {
        all.push(l.d);
        all.extend(
            [
                l.u,
                l.u_d,
                l.big_u_d,
                l.en,
                l.z,
                l.z_prime,
                l.zeta,
                l.d_percent,
            ]
            .into_iter()
            .flatten(),
        );
    }
    all.iter().all(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_u(lab: &str, value: f64, u: f64) -> Participant {
        Participant {
            uncertainty: Some(Uncertainty {
                u,
                big_u: 2.0 * u,
                k: 2.0,
            }),
            ..Participant::new(lab, value)
        }
    }

    #[test]
    fn the_verdict_uses_z_prime_when_u_x_pt_is_not_negligible() {
        use Verdict::*;
        let rule = EnRule::Iso13528;
        // u(x_pt) = 0.3 σ_pt exactly: negligible, z decides.
        assert_eq!(
            verdict(None, Some(2.5), Some(1.9), 0.3, Some(1.0), rule),
            (Some(Questionable), Some(VerdictScore::Z))
        );
        // u(x_pt) > 0.3 σ_pt: z′ decides.
        assert_eq!(
            verdict(None, Some(2.5), Some(1.9), 0.31, Some(1.0), rule),
            (Some(Satisfactory), Some(VerdictScore::ZPrime))
        );
        // En always wins; nothing to classify without σ_pt.
        assert_eq!(
            verdict(Some(0.5), Some(4.0), Some(4.0), 0.0, Some(1.0), rule),
            (Some(Satisfactory), Some(VerdictScore::En))
        );
        assert_eq!(verdict(None, None, None, 0.1, None, rule), (None, None));
    }

    #[test]
    fn a_round_keeps_ids_and_exclusion_reasons() {
        let mut labs = vec![
            with_u("L01", 10.0, 0.1),
            with_u("L02", 10.2, 0.1),
            with_u("L03", 10.1, 0.1),
            with_u("L04", 12.0, 0.1),
        ];
        for (i, l) in labs.iter_mut().enumerate() {
            l.id = Some(format!("0190a4b2-0000-7000-8000-00000000000{i}"));
        }
        labs[3].excluded = Some(Exclusion {
            reason: Some("sample damaged in transit".into()),
        });
        let r = evaluate(&labs, &CompareOptions::default()).expect("evaluates");
        assert_eq!(r.method, MethodName::WeightedMean);
        assert_eq!(r.method_requested, MethodName::Auto);
        assert!((r.reference.value - 10.1).abs() < 1e-12);
        let l4 = &r.labs[3];
        assert!(!l4.included);
        assert_eq!(
            l4.exclusion_reason.as_deref(),
            Some("sample damaged in transit")
        );
        assert_eq!(l4.verdict, Some(Verdict::Unsatisfactory));
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(
            json["labs"][3]["id"],
            "0190a4b2-0000-7000-8000-000000000003"
        );
        assert_eq!(
            json["labs"][3]["exclusion_reason"],
            "sample damaged in transit"
        );
        // A CSV-style input has neither, and the keys are absent.
        let plain: Vec<Participant> = labs
            .iter()
            .map(|l| Participant {
                id: None,
                excluded: None,
                ..l.clone()
            })
            .collect();
        let json = serde_json::to_value(evaluate(&plain, &CompareOptions::default()).expect("ok"))
            .expect("json");
        let keys: Vec<&String> = json["labs"][0]
            .as_object()
            .expect("object")
            .keys()
            .collect();
        assert!(!keys.iter().any(|k| *k == "id" || *k == "exclusion_reason"));
        let back: CompareReport = serde_json::from_value(json.clone()).expect("deserialises");
        assert_eq!(serde_json::to_value(back).expect("json"), json);
    }

    #[test]
    fn outcomes_a_caller_words_itself() {
        let two = [with_u("A", 1.0, 0.1), Participant::new("B", 1.1)];
        let auto = CompareOptions::default();
        assert_eq!(
            evaluate(&two, &auto),
            Err(CompareError::MissingUncertainty {
                index: 1,
                method: MethodName::Auto
            })
        );
        let median = CompareOptions {
            reference: Reference::Consensus {
                method: KcrvMethod::Median,
            },
            ..auto
        };
        assert!(evaluate(&two, &median).is_ok(), "a median needs no u");
        let mut one_left = two.clone();
        one_left[0].excluded = Some(Exclusion::default());
        assert_eq!(
            evaluate(&one_left, &median),
            Err(CompareError::TooFewInReference {
                method: MethodName::Median,
                found: 1
            })
        );
        let assigned = CompareOptions {
            reference: Reference::Assigned { value: 1.0, u: 0.1 },
            ..auto
        };
        assert!(matches!(
            evaluate(&one_left, &assigned),
            Err(CompareError::Metrology(
                MetrologyError::InvalidOption { .. }
            ))
        ));
        let twice = [with_u("A", 1.0, 0.1), with_u("A", 1.1, 0.1)];
        assert!(matches!(
            evaluate(&twice, &auto),
            Err(CompareError::DuplicateLab {
                index: 1,
                first: 0,
                ..
            })
        ));
        let huge = [Participant::new("A", 1e308), Participant::new("B", -1e308)];
        let far = CompareOptions {
            reference: Reference::Assigned {
                value: 1e308,
                u: 1.0,
            },
            ..auto
        };
        assert_eq!(evaluate(&huge, &far), Err(CompareError::Overflow));
        let bad_u = [Participant {
            uncertainty: Some(Uncertainty {
                u: 0.0,
                big_u: 0.0,
                k: 2.0,
            }),
            ..Participant::new("A", 1.0)
        }];
        assert!(matches!(
            evaluate(&bad_u, &assigned),
            Err(CompareError::Metrology(
                MetrologyError::NonPositiveUncertainty { .. }
            ))
        ));
    }

    #[test]
    fn options_spell_as_documented() {
        let o = CompareOptions {
            reference: Reference::Assigned {
                value: 0.044,
                u: 0.0041,
            },
            sigma_pt: Some(0.0066),
            en_rule: EnRule::Jjf1117,
            coverage_factor: 2.0,
        };
        let json = serde_json::to_value(o).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "reference": {"kind": "assigned", "value": 0.044, "u": 0.0041},
                "sigma_pt": 0.0066, "en_rule": "jjf1117", "coverage_factor": 2.0
            })
        );
        assert_eq!(
            serde_json::to_value(Reference::default()).expect("json"),
            serde_json::json!({"kind": "consensus", "method": "auto"})
        );
        let back: CompareOptions = serde_json::from_value(json).expect("back");
        assert_eq!(back, o);
    }
}
