//! Live comparison of a unit under test against a reference standard, per
//! test point (JJF 1117 计量比对; the En criterion of ISO/IEC 17043 B.4).
//!
//! * Single values: E = x_lab − x_ref, U(E) = √(U_lab² + U_ref²),
//!   En = E/U(E).
//! * Repeated paired readings d_k = x_lab,k − x_ref,k: Type A
//!   u_A = s_d/√n (ν = n − 1) combined with the Type B uncertainties of the
//!   two sides, ν_eff by Welch–Satterthwaite (GUM G.4.1), U = k·u with
//!   k = t_p(ν_eff) or a fixed k.
//! * Pairing of two reading streams by UTC timestamp. Timestamps are `i64`
//!   **microseconds since the Unix epoch (UTC)**; integer time keeps pairing
//!   exact and reproducible across platforms (no float rounding of epoch
//!   seconds). Unpaired readings of both sides are always reported.

use crate::budget::{self, CoverageRule, DofRounding};
use crate::error::{MetrologyError, Result, finite, non_negative, out};
use crate::scores::{EnRule, EnVerdict, classify_en};
use serde::{Deserialize, Serialize};

/// Comparison at one test point from single values with expanded
/// uncertainties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointComparison {
    /// E = x_lab − x_ref (示值误差).
    pub e: f64,
    /// U(E) = √(U_lab² + U_ref²).
    pub big_u_e: f64,
    /// En = E/U(E).
    pub en: f64,
    pub verdict: EnVerdict,
    pub en_rule: EnRule,
}

/// E, U(E) and En at one test point (the two results are independent).
pub fn compare_point(
    x_lab: f64,
    big_u_lab: f64,
    x_ref: f64,
    big_u_ref: f64,
    en_rule: EnRule,
) -> Result<PointComparison> {
    finite("x_lab", x_lab)?;
    finite("x_ref", x_ref)?;
    non_negative("U_lab", big_u_lab)?;
    non_negative("U_ref", big_u_ref)?;
    let e = out("E", x_lab - x_ref)?;
    let big_u_e = out("U(E)", big_u_lab.hypot(big_u_ref))?;
    if big_u_e == 0.0 {
        return Err(MetrologyError::zero("U(E)"));
    }
    let en = out("En", e / big_u_e)?;
    Ok(PointComparison {
        e,
        big_u_e,
        en,
        verdict: classify_en(en, en_rule),
        en_rule,
    })
}

/// One reading of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// UTC timestamp, microseconds since 1970-01-01T00:00:00Z.
    pub t_us: i64,
    pub value: f64,
}

/// A pair of readings matched in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// Index into the laboratory stream as given.
    pub lab_index: usize,
    /// Index into the reference stream as given.
    pub ref_index: usize,
    pub t_lab_us: i64,
    pub t_ref_us: i64,
    /// t_lab − t_ref in microseconds.
    pub dt_us: i64,
    pub lab_value: f64,
    pub ref_value: f64,
    /// d = lab_value − ref_value.
    pub difference: f64,
}

/// Result of pairing two streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pairing {
    pub tolerance_us: i64,
    /// Pairs in order of laboratory time.
    pub pairs: Vec<Pair>,
    /// Indices (as given) of laboratory readings without a partner, in time
    /// order.
    pub unpaired_lab: Vec<usize>,
    /// Indices (as given) of reference readings without a partner, in time
    /// order.
    pub unpaired_ref: Vec<usize>,
}

fn time_order(field: &str, r: &[Reading]) -> Result<Vec<(i64, usize)>> {
    if let Some(i) = r.iter().position(|x| !x.value.is_finite()) {
        return Err(MetrologyError::non_finite(field, Some(i)));
    }
    let mut v: Vec<(i64, usize)> = r.iter().enumerate().map(|(i, x)| (x.t_us, i)).collect();
    v.sort_unstable();
    Ok(v)
}

/// Nearest element of `rem` (ranks into `order`, ascending) to time `t`,
/// preferring the lower rank on equal distance. Returns (position in `rem`,
/// distance).
fn nearest(order: &[(i64, usize)], rem: &[usize], t: i64) -> Option<(usize, u64)> {
    let time = |r: usize| order.get(r).map_or(0, |x| x.0);
    let pos = rem.partition_point(|&r| time(r) < t);
    let mut best: Option<(usize, u64, usize)> = None; // (pos, dist, rank)
    let mut consider = |p: usize| {
        if let Some(&r) = rem.get(p) {
            let d = time(r).abs_diff(t);
            let better = match best {
                None => true,
                Some((_, bd, br)) => (d, r) < (bd, br),
            };
            if better {
                best = Some((p, d, r));
            }
        }
    };
    if pos > 0 {
        // Start of the run of equal times just before t: lowest rank there.
        let tprev = rem.get(pos - 1).map_or(0, |&r| time(r));
        let start = rem.partition_point(|&r| time(r) < tprev);
        consider(start);
    }
    consider(pos);
    best.map(|(p, d, _)| (p, d))
}

/// Pair two reading streams by timestamp.
///
/// Each pair joins readings that are each other's nearest remaining reading
/// on the other side, with |t_lab − t_ref| ≤ `tolerance_us` (inclusive);
/// every reading is used at most once. Rounds of mutual-nearest matching are
/// repeated on the remaining readings until none is added. With ties broken
/// by time order, the closest remaining pair is always mutual, so this equals
/// greedy closest-first matching. Inputs need not be sorted; indices in the
/// result refer to the slices as given. Each round costs O((n + m) log).
pub fn pair_readings(lab: &[Reading], reference: &[Reading], tolerance_us: i64) -> Result<Pairing> {
    if tolerance_us < 0 {
        return Err(MetrologyError::out_of_range("tolerance_us", None, ">= 0"));
    }
    let tol = tolerance_us as u64;
    let lo = time_order("lab.value", lab)?;
    let ro = time_order("reference.value", reference)?;
    let mut lab_rem: Vec<usize> = (0..lo.len()).collect();
    let mut ref_rem: Vec<usize> = (0..ro.len()).collect();
    let mut matched: Vec<(usize, usize)> = Vec::new(); // (lab rank, ref rank)
    loop {
        if lab_rem.is_empty() || ref_rem.is_empty() {
            break;
        }
        let lab_best: Vec<Option<usize>> = lab_rem
            .iter()
            .map(|&r| {
                let t = lo.get(r).map_or(0, |x| x.0);
                nearest(&ro, &ref_rem, t)
                    .filter(|&(_, d)| d <= tol)
                    .map(|(p, _)| p)
            })
            .collect();
        let ref_best: Vec<Option<usize>> = ref_rem
            .iter()
            .map(|&r| {
                let t = ro.get(r).map_or(0, |x| x.0);
                nearest(&lo, &lab_rem, t)
                    .filter(|&(_, d)| d <= tol)
                    .map(|(p, _)| p)
            })
            .collect();
        let mut lab_used = vec![false; lab_rem.len()];
        let mut ref_used = vec![false; ref_rem.len()];
        let mut added = 0;
        for (lp, best) in lab_best.iter().enumerate() {
            if let Some(rp) = *best
                && ref_best.get(rp).copied().flatten() == Some(lp)
                && let (Some(&lr), Some(&rr)) = (lab_rem.get(lp), ref_rem.get(rp))
            {
                matched.push((lr, rr));
                if let Some(u) = lab_used.get_mut(lp) {
                    *u = true;
                }
                if let Some(u) = ref_used.get_mut(rp) {
                    *u = true;
                }
                added += 1;
            }
        }
        if added == 0 {
            break;
        }
        let mut k = 0;
        lab_rem.retain(|_| {
            let keep = !lab_used.get(k).copied().unwrap_or(false);
            k += 1;
            keep
        });
        let mut k = 0;
        ref_rem.retain(|_| {
            let keep = !ref_used.get(k).copied().unwrap_or(false);
            k += 1;
            keep
        });
    }
    matched.sort_unstable();
    let mut pairs = Vec::with_capacity(matched.len());
    for (lr, rr) in matched {
        let (Some(&(tl, li)), Some(&(tr, ri))) = (lo.get(lr), ro.get(rr)) else {
            continue;
        };
        let (Some(a), Some(b)) = (lab.get(li), reference.get(ri)) else {
            continue;
        };
        let dt = i64::try_from(i128::from(tl) - i128::from(tr)).unwrap_or(i64::MAX);
        let difference = a.value - b.value;
        if !difference.is_finite() {
            return Err(MetrologyError::overflow("reading difference"));
        }
        pairs.push(Pair {
            lab_index: li,
            ref_index: ri,
            t_lab_us: tl,
            t_ref_us: tr,
            dt_us: dt,
            lab_value: a.value,
            ref_value: b.value,
            difference,
        });
    }
    let unpaired_lab = lab_rem
        .iter()
        .filter_map(|&r| lo.get(r).map(|x| x.1))
        .collect();
    let unpaired_ref = ref_rem
        .iter()
        .filter_map(|&r| ro.get(r).map(|x| x.1))
        .collect();
    Ok(Pairing {
        tolerance_us,
        pairs,
        unpaired_lab,
        unpaired_ref,
    })
}

/// A Type B standard uncertainty with its degrees of freedom (∞ allowed;
/// serialised as the string `"inf"`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TypeBInput {
    pub u: f64,
    #[serde(with = "crate::dof_serde", default = "crate::dof_serde::infinite")]
    pub dof: f64,
}

impl TypeBInput {
    /// A Type B uncertainty with ν = ∞.
    pub fn exact(u: f64) -> Self {
        Self {
            u,
            dof: f64::INFINITY,
        }
    }
}

/// Settings of a paired-readings comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedOptions {
    pub coverage: CoverageRule,
    pub dof_rounding: DofRounding,
    pub en_rule: EnRule,
}

impl Default for PairedOptions {
    fn default() -> Self {
        Self {
            coverage: CoverageRule::default(),
            dof_rounding: DofRounding::Truncate,
            en_rule: EnRule::Iso13528,
        }
    }
}

/// Evaluation of repeated paired differences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedResult {
    pub n: usize,
    /// Mean difference d̄ (the error E at this point).
    pub mean_d: f64,
    pub s_d: f64,
    /// u_A = s_d/√n.
    pub u_a: f64,
    pub dof_a: f64,
    pub u_b_lab: TypeBInput,
    pub u_b_ref: TypeBInput,
    /// u(d̄) = √(u_A² + u_B,lab² + u_B,ref²).
    pub u_c: f64,
    #[serde(with = "crate::dof_serde")]
    pub nu_eff: f64,
    /// Degrees of freedom used for k (after rounding).
    #[serde(with = "crate::dof_serde")]
    pub nu_for_k: f64,
    pub k: f64,
    /// U = k·u_c.
    pub big_u: f64,
    /// d̄/U; `None` when U = 0.
    pub en: Option<f64>,
    pub en_verdict: Option<EnVerdict>,
    pub options: PairedOptions,
}

/// Evaluate repeated paired differences d_k (n ≥ 2).
pub fn paired_differences(
    d: &[f64],
    u_b_lab: TypeBInput,
    u_b_ref: TypeBInput,
    options: &PairedOptions,
) -> Result<PairedResult> {
    crate::error::all_finite("differences", d)?;
    crate::error::at_least("paired differences", 2, d.len())?;
    non_negative("u_b_lab.u", u_b_lab.u)?;
    non_negative("u_b_ref.u", u_b_ref.u)?;
    budget::check_dof_value("u_b_lab.dof", None, u_b_lab.dof)?;
    budget::check_dof_value("u_b_ref.dof", None, u_b_ref.dof)?;
    let n = d.len();
    let mean_d = out("mean difference", crate::stats::mean_raw(d))?;
    let s_d = out("s_d", crate::stats::variance_raw(d, mean_d).sqrt())?;
    let u_a = s_d / (n as f64).sqrt();
    let dof_a = (n - 1) as f64;
    let terms = [
        (u_a, dof_a),
        (u_b_lab.u, u_b_lab.dof),
        (u_b_ref.u, u_b_ref.dof),
    ];
    let u_c2: f64 = terms.iter().map(|(u, _)| u * u).sum();
    let u_c = out("u_c", u_c2.sqrt())?;
    let nu_eff = budget::welch_satterthwaite_raw(u_c, terms.iter().copied());
    let (k, nu_for_k) =
        budget::coverage_factor_for(&options.coverage, nu_eff, options.dof_rounding)?;
    let big_u = out("U", k * u_c)?;
    let en = if big_u > 0.0 {
        Some(out("En", mean_d / big_u)?)
    } else {
        None
    };
    Ok(PairedResult {
        n,
        mean_d,
        s_d,
        u_a,
        dof_a,
        u_b_lab,
        u_b_ref,
        u_c,
        nu_eff,
        nu_for_k,
        k,
        big_u,
        en,
        en_verdict: en.map(|e| classify_en(e, options.en_rule)),
        options: *options,
    })
}

/// Pairing plus the paired-difference evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamComparison {
    pub pairing: Pairing,
    pub result: PairedResult,
}

/// Pair two streams and evaluate the differences. Fails with
/// [`MetrologyError::TooFew`] when fewer than two pairs are found; call
/// [`pair_readings`] to show the pairing in that case.
pub fn compare_streams(
    lab: &[Reading],
    reference: &[Reading],
    tolerance_us: i64,
    u_b_lab: TypeBInput,
    u_b_ref: TypeBInput,
    options: &PairedOptions,
) -> Result<StreamComparison> {
    let pairing = pair_readings(lab, reference, tolerance_us)?;
    let d: Vec<f64> = pairing.pairs.iter().map(|p| p.difference).collect();
    let result = paired_differences(&d, u_b_lab, u_b_ref, options)?;
    Ok(StreamComparison { pairing, result })
}
