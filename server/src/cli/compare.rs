//! `jiliang compare`: a reference value (or a given assigned value) and each
//! laboratory's degree of equivalence and performance scores, from a CSV of
//! results. All the statistics are the `jiliang-metrology` crate's; this
//! module reads the file, picks the evaluation and formats the answer.
//!
//! Three evaluations, chosen from the flags and the data:
//!
//! * **Key comparison** (every lab states an uncertainty and no
//!   `--assigned`): `reference::reference_value` with the requested
//!   estimator: χ² consistency, τ for the random-effects means, and the
//!   CIPM degrees of equivalence d_i, u(d_i) (which account for a lab's
//!   correlation with a linear reference value it is part of), U(d_i) =
//!   2u(d_i), En_i = d_i/U(d_i).
//! * **Consensus from values** (`median`, `algorithm-a` or
//!   `arithmetic-mean` when some lab states no uncertainty, as in a PT round
//!   like ISO 13528 E.3): the location and u(x_pt) of ISO 13528 (median with
//!   1.25·nIQR/√p as in Table E.5, Algorithm A with 1.25·s*/√p, mean with
//!   s/√p); then scored as below.
//! * **Assigned value** (`--assigned X --assigned-u U`): ISO 13528 §9
//!   scores against x_pt, with U(x_pt) = 2u(x_pt).
//!
//! In the last two, d = x − x_pt, u(d) = √(u² + u²(x_pt)) (so ζ = d/u(d)),
//! U(d) = √(U² + U²(x_pt)) with each lab's own U (so En = d/U(d)).
//!
//! ζ is d/u(d) in every path. In the key-comparison path that is the CIPM
//! u(d_i) (τ² and the lab's correlation with the reference included), so
//! ζ = k·En and the two scores never contradict each other; the ISO 13528
//! formula d/√(u² + u²(x_pt)) assumes a reference independent of the lab,
//! which a weighted or random-effects mean of the labs is not.
//!
//! `verdict` is the En verdict under `--en-rule` when En exists; otherwise,
//! with `--sigma-pt`, the classification of z if u(x_pt) ≤ 0.3 σ_pt and of
//! z′ if not (ISO 13528 9.5: the assigned value's uncertainty is then not
//! negligible); otherwise null. `verdict_score` says which score it was.

use std::collections::HashMap;

use jiliang_metrology::MetrologyError;
use jiliang_metrology::reference::{KcLab, Kcrv, KcrvMethod, KcrvOptions, reference_value};
use jiliang_metrology::robust::{AlgorithmAOptions, AlgorithmAResult, algorithm_a};
use jiliang_metrology::scores::{
    EnRule, EnVerdict, ZClass, classify_en, classify_z, d_percent, en_score, z_prime_score,
    z_score, zeta_score,
};
use jiliang_metrology::stats;
use serde::Serialize;

use super::Failure;
use super::csv::{Case, Csv, quoted};
use super::table::{self, Align};
use crate::config::{CompareArgs, CompareMethod, EnRuleArg, OutputFormat};

/// Coverage factor of U(reference) and of U(d) in the key-comparison path.
const K: f64 = 2.0;

/// The JSON document (see docs/CLI.md).
#[derive(Debug, Serialize)]
pub struct Report {
    /// The estimator used: a `--method` name, or `assigned`.
    pub method: &'static str,
    /// What was asked for (differs from `method` only for `auto`).
    pub method_requested: &'static str,
    pub en_rule: &'static str,
    pub sigma_pt: Option<f64>,
    pub reference: Reference,
    pub consistency: Option<Consistency>,
    /// √τ² for DerSimonian–Laird and Mandel–Paule.
    pub tau: Option<f64>,
    pub robust: Option<Robust>,
    pub labs: Vec<LabReport>,
}

#[derive(Debug, Serialize)]
pub struct Reference {
    pub value: f64,
    /// Standard uncertainty.
    pub u: f64,
    #[serde(rename = "U")]
    pub big_u: f64,
    pub k: f64,
}

#[derive(Debug, Serialize)]
pub struct Consistency {
    pub chi2: f64,
    pub dof: usize,
    pub p_value: f64,
    pub birge_ratio: f64,
    pub consistent: bool,
}

#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
pub struct LabReport {
    pub lab: String,
    pub value: f64,
    /// Standard uncertainty as stated (u, or U/k).
    pub u: Option<f64>,
    /// Part of the reference value.
    pub included: bool,
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
    pub verdict: Option<&'static str>,
    /// The score the verdict classifies: `en`, `z`, `z_prime`, or null.
    pub verdict_score: Option<&'static str>,
}

/// One row of the input.
#[derive(Debug)]
struct Lab {
    id: String,
    line: usize,
    value: f64,
    /// Standard uncertainty.
    u: Option<f64>,
    /// Expanded uncertainty (U as given, or k·u).
    big_u: Option<f64>,
    included: bool,
}

pub fn run(args: &CompareArgs) -> Result<String, Failure> {
    let csv = Csv::read(&args.input)?;
    let mut labs = read_labs(&csv)?;
    let report = evaluate(&csv, &mut labs, args)?;
    check_finite(&report, csv.name())?;
    match args.format {
        OutputFormat::Json => serde_json::to_string_pretty(&report)
            .map(|s| s + "\n")
            .map_err(|e| Failure::input(format!("cannot write JSON: {e}"))),
        OutputFormat::Text => Ok(render(&report, &labs)),
    }
}

fn read_labs(csv: &Csv) -> Result<Vec<Lab>, Failure> {
    let lab_col = csv.require("lab", Case::Insensitive)?;
    let value_col = csv.require("value", Case::Insensitive)?;
    let u_col = csv.column("u", Case::Sensitive)?;
    let big_u_col = csv.column("U", Case::Sensitive)?;
    let k_col = csv.column("k", Case::Insensitive)?;
    let dof_col = csv.column("dof", Case::Insensitive)?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut labs = Vec::with_capacity(csv.rows().len());
    for row in csv.rows() {
        let id = csv.text(row, Some(lab_col));
        if id.is_empty() {
            return Err(csv.error(row, lab_col, "empty; every row needs a lab name"));
        }
        if let Some(first) = seen.insert(id.to_owned(), row.line) {
            return Err(csv.error(
                row,
                lab_col,
                format!("{} appears twice (first in row {first})", quoted(id)),
            ));
        }
        let value = csv.number(row, value_col)?;
        let positive = |col, v: Option<f64>| match v {
            Some(x) if x <= 0.0 => Err(csv.error(
                row,
                col,
                format!("uncertainty must be greater than 0, got {x}"),
            )),
            _ => Ok(v),
        };
        let u = match u_col {
            Some(c) => positive(c, csv.optional_number(row, Some(c))?)?,
            None => None,
        };
        let big_u = match big_u_col {
            Some(c) => positive(c, csv.optional_number(row, Some(c))?)?,
            None => None,
        };
        let k = match k_col {
            Some(c) => match csv.optional_number(row, Some(c))? {
                Some(k) if k <= 0.0 => {
                    return Err(csv.error(
                        row,
                        c,
                        format!("coverage factor must be greater than 0, got {k}"),
                    ));
                }
                Some(k) => k,
                None => K,
            },
            None => K,
        };
        // Validated although not used yet: a typo here is still a typo.
        csv.dof(row, dof_col)?;
        let (u, big_u) = match (u, big_u) {
            (Some(_), Some(_)) => {
                let col = big_u_col.unwrap_or(lab_col);
                return Err(csv.error(
                    row,
                    col,
                    "both u and U are given; give one (u is standard, U = k·u expanded)",
                ));
            }
            (Some(u), None) => (Some(u), Some(k * u)),
            (None, Some(big)) => (Some(big / k), Some(big)),
            (None, None) => (None, None),
        };
        labs.push(Lab {
            id: id.to_owned(),
            line: row.line,
            value,
            u,
            big_u,
            included: true,
        });
    }
    if labs.is_empty() {
        return Err(Failure::input(format!(
            "{}: no labs (the file has a header but no rows)",
            csv.name()
        )));
    }
    Ok(labs)
}

fn method_name(m: CompareMethod) -> &'static str {
    match m {
        CompareMethod::WeightedMean => "weighted-mean",
        CompareMethod::DersimonianLaird => "dersimonian-laird",
        CompareMethod::MandelPaule => "mandel-paule",
        CompareMethod::ArithmeticMean => "arithmetic-mean",
        CompareMethod::Median => "median",
        CompareMethod::AlgorithmA => "algorithm-a",
        CompareMethod::Auto => "auto",
    }
}

fn kcrv_method(m: CompareMethod) -> KcrvMethod {
    match m {
        CompareMethod::WeightedMean => KcrvMethod::WeightedMean,
        CompareMethod::DersimonianLaird => KcrvMethod::DersimonianLaird,
        CompareMethod::MandelPaule => KcrvMethod::MandelPaule,
        CompareMethod::ArithmeticMean => KcrvMethod::ArithmeticMean,
        CompareMethod::Median => KcrvMethod::Median,
        CompareMethod::AlgorithmA => KcrvMethod::AlgorithmA,
        CompareMethod::Auto => KcrvMethod::Auto,
    }
}

fn kcrv_name(m: KcrvMethod) -> &'static str {
    match m {
        KcrvMethod::WeightedMean => "weighted-mean",
        KcrvMethod::DersimonianLaird => "dersimonian-laird",
        KcrvMethod::MandelPaule => "mandel-paule",
        KcrvMethod::ArithmeticMean => "arithmetic-mean",
        KcrvMethod::Median => "median",
        KcrvMethod::AlgorithmA => "algorithm-a",
        KcrvMethod::Auto => "auto",
    }
}

fn en_rule(r: EnRuleArg) -> (EnRule, &'static str) {
    match r {
        EnRuleArg::Iso13528 => (EnRule::Iso13528, "iso13528"),
        EnRuleArg::Jjf1117 => (EnRule::Jjf1117, "jjf1117"),
    }
}

fn computation(csv: &Csv, e: &MetrologyError) -> Failure {
    Failure::input(format!("{}: cannot evaluate: {e}", csv.name()))
}

fn evaluate(csv: &Csv, labs: &mut [Lab], args: &CompareArgs) -> Result<Report, Failure> {
    let (rule, rule_name) = en_rule(args.en_rule);
    let sigma = args.sigma_pt;

    if let Some(x_pt) = args.assigned {
        // clap makes --assigned and --assigned-u go together; be safe anyway.
        let Some(u_pt) = args.assigned_u else {
            return Err(Failure::input("--assigned needs --assigned-u"));
        };
        let labs_out = score_against(csv, labs, x_pt, u_pt, sigma, rule)?;
        return Ok(Report {
            method: "assigned",
            method_requested: "assigned",
            en_rule: rule_name,
            sigma_pt: sigma,
            reference: reference(x_pt, u_pt),
            consistency: None,
            tau: None,
            robust: None,
            labs: labs_out,
        });
    }

    apply_exclusions(csv, labs, &args.exclude)?;
    let requested = args.method;
    let included = labs.iter().filter(|l| l.included).count();
    if included < 2 {
        return Err(Failure::input(format!(
            "{}: --method {} needs at least 2 labs in the reference value, found {included}{}",
            csv.name(),
            method_name(requested),
            if args.exclude.is_empty() {
                ""
            } else {
                " after --exclude"
            }
        )));
    }
    let needs_u = matches!(
        requested,
        CompareMethod::WeightedMean
            | CompareMethod::DersimonianLaird
            | CompareMethod::MandelPaule
            | CompareMethod::Auto
    );
    let missing_u = labs.iter().find(|l| l.u.is_none());
    match (missing_u, needs_u) {
        (None, _) => key_comparison(csv, labs, requested, sigma, rule, rule_name),
        (Some(lab), true) => Err(missing_uncertainty(csv, lab, requested)),
        (Some(_), false) => consensus_from_values(csv, labs, requested, sigma, rule, rule_name),
    }
}

fn missing_uncertainty(csv: &Csv, lab: &Lab, method: CompareMethod) -> Failure {
    let has_column = csv.column("u", Case::Sensitive).ok().flatten().is_some()
        || csv.column("U", Case::Sensitive).ok().flatten().is_some();
    if has_column {
        Failure::input(format!(
            "{} row {}, column \"u\": empty, but --method {} needs every lab's uncertainty (u, or U and k)",
            csv.name(),
            lab.line,
            method_name(method)
        ))
    } else {
        Failure::input(format!(
            "{} row {}: missing column \"u\" (or \"U\" and \"k\"); --method {} needs every lab's uncertainty",
            csv.name(),
            csv.header_line(),
            method_name(method)
        ))
    }
}

fn apply_exclusions(csv: &Csv, labs: &mut [Lab], exclude: &[String]) -> Result<(), Failure> {
    for name in exclude.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        match labs.iter_mut().find(|l| l.id == name) {
            Some(lab) => lab.included = false,
            None => {
                return Err(Failure::input(format!(
                    "--exclude: lab {} is not in {} (column \"lab\")",
                    quoted(name),
                    csv.name()
                )));
            }
        }
    }
    Ok(())
}

fn reference(value: f64, u: f64) -> Reference {
    Reference {
        value,
        u,
        big_u: K * u,
        k: K,
    }
}

/// The verdict and the score it classifies. En first; otherwise z, or z′
/// when u(x_pt) > 0.3 σ_pt (ISO 13528 9.5); otherwise none.
fn verdict(
    en: Option<f64>,
    z: Option<f64>,
    z_prime: Option<f64>,
    u_ref: f64,
    sigma: Option<f64>,
    rule: EnRule,
) -> (Option<&'static str>, Option<&'static str>) {
    if let Some(en) = en {
        let v = match classify_en(en, rule) {
            EnVerdict::Satisfactory => "satisfactory",
            EnVerdict::Unsatisfactory => "unsatisfactory",
        };
        return (Some(v), Some("en"));
    }
    let negligible = sigma.is_some_and(|s| u_ref <= 0.3 * s);
    let (score, name) = if negligible {
        (z, "z")
    } else {
        (z_prime, "z_prime")
    };
    match score {
        Some(v) => {
            let class = match classify_z(v) {
                ZClass::Satisfactory => "satisfactory",
                ZClass::Questionable => "questionable",
                ZClass::Unsatisfactory => "unsatisfactory",
            };
            (Some(class), Some(name))
        }
        None => (None, None),
    }
}

/// z and z′ against (x_ref, u_ref) when σ_pt is given.
fn z_scores(
    csv: &Csv,
    x: f64,
    x_ref: f64,
    u_ref: f64,
    sigma: Option<f64>,
) -> Result<(Option<f64>, Option<f64>), Failure> {
    let Some(s) = sigma else {
        return Ok((None, None));
    };
    let z = z_score(x, x_ref, s).map_err(|e| computation(csv, &e))?;
    let zp = z_prime_score(x, x_ref, s, u_ref).map_err(|e| computation(csv, &e))?;
    Ok((Some(z), Some(zp)))
}

/// ISO 13528 §9 scores of every lab against (x_pt, u(x_pt)), U(x_pt) = 2u.
fn score_against(
    csv: &Csv,
    labs: &[Lab],
    x_pt: f64,
    u_pt: f64,
    sigma: Option<f64>,
    rule: EnRule,
) -> Result<Vec<LabReport>, Failure> {
    let big_u_pt = K * u_pt;
    labs.iter()
        .map(|lab| {
            let x = lab.value;
            let (z, z_prime) = z_scores(csv, x, x_pt, u_pt, sigma)?;
            let zeta = lab
                .u
                .map(|u| zeta_score(x, u, x_pt, u_pt))
                .transpose()
                .map_err(|e| computation(csv, &e))?;
            let en = lab
                .big_u
                .map(|big| en_score(x, big, x_pt, big_u_pt))
                .transpose()
                .map_err(|e| computation(csv, &e))?;
            let (verdict, verdict_score) = verdict(en, z, z_prime, u_pt, sigma, rule);
            Ok(LabReport {
                lab: lab.id.clone(),
                value: x,
                u: lab.u,
                included: lab.included,
                d: x - x_pt,
                u_d: lab.u.map(|u| u.hypot(u_pt)),
                big_u_d: lab.big_u.map(|big| big.hypot(big_u_pt)),
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

fn key_comparison(
    csv: &Csv,
    labs: &[Lab],
    requested: CompareMethod,
    sigma: Option<f64>,
    rule: EnRule,
    rule_name: &'static str,
) -> Result<Report, Failure> {
    let kc: Vec<KcLab> = labs
        .iter()
        .map(|l| KcLab {
            id: l.id.clone(),
            value: l.value,
            u: l.u.unwrap_or(0.0),
            included: l.included,
        })
        .collect();
    let options = KcrvOptions {
        method: kcrv_method(requested),
        coverage_factor: K,
        ..KcrvOptions::default()
    };
    let r: Kcrv = reference_value(&kc, &options).map_err(|e| computation(csv, &e))?;
    let robust = if r.method_used == KcrvMethod::AlgorithmA {
        Some(Robust::from(&robust_of_included(csv, labs)?))
    } else {
        None
    };
    let mut out = Vec::with_capacity(labs.len());
    for (lab, doe) in labs.iter().zip(&r.doe) {
        let x = lab.value;
        let (z, z_prime) = z_scores(csv, x, r.value, r.u, sigma)?;
        // ζ = d/u(d) with the CIPM u(d) (see the module comment); null only
        // when u(d) = 0, where En is null too.
        let zeta = (doe.u_d > 0.0).then(|| doe.d / doe.u_d);
        let (verdict, verdict_score) = verdict(doe.en, z, z_prime, r.u, sigma, rule);
        out.push(LabReport {
            lab: lab.id.clone(),
            value: x,
            u: lab.u,
            included: doe.included,
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
    Ok(Report {
        method: kcrv_name(r.method_used),
        method_requested: method_name(requested),
        en_rule: rule_name,
        sigma_pt: sigma,
        reference: reference(r.value, r.u),
        consistency: r.chi2.map(|c| Consistency {
            chi2: c.chi2_obs,
            dof: c.dof,
            p_value: c.p_value,
            birge_ratio: c.birge_ratio,
            consistent: c.consistent,
        }),
        tau: r.tau2.map(f64::sqrt),
        robust,
        labs: out,
    })
}

fn included_values(labs: &[Lab]) -> Vec<f64> {
    labs.iter()
        .filter(|l| l.included)
        .map(|l| l.value)
        .collect()
}

fn robust_of_included(csv: &Csv, labs: &[Lab]) -> Result<AlgorithmAResult, Failure> {
    algorithm_a(&included_values(labs), &AlgorithmAOptions::default())
        .map_err(|e| computation(csv, &e))
}

fn consensus_from_values(
    csv: &Csv,
    labs: &[Lab],
    requested: CompareMethod,
    sigma: Option<f64>,
    rule: EnRule,
    rule_name: &'static str,
) -> Result<Report, Failure> {
    let x = included_values(labs);
    let p = (x.len() as f64).sqrt();
    let mut robust = None;
    let (value, u) = match requested {
        CompareMethod::Median => {
            let s = stats::summary(&x).map_err(|e| computation(csv, &e))?;
            (s.median, 1.25 * s.niqr / p)
        }
        CompareMethod::AlgorithmA => {
            let a = robust_of_included(csv, labs)?;
            robust = Some(Robust::from(&a));
            (a.x_star, a.u_x_star)
        }
        _ => {
            let m = stats::mean(&x).map_err(|e| computation(csv, &e))?;
            let s = stats::std_dev(&x).map_err(|e| computation(csv, &e))?;
            (m, s / p)
        }
    };
    let labs_out = score_against(csv, labs, value, u, sigma, rule)?;
    Ok(Report {
        method: method_name(requested),
        method_requested: method_name(requested),
        en_rule: rule_name,
        sigma_pt: sigma,
        reference: reference(value, u),
        consistency: None,
        tau: None,
        robust,
        labs: labs_out,
    })
}

/// Every number in the report must be finite (JSON has no NaN or ∞).
fn check_finite(r: &Report, name: &str) -> Result<(), Failure> {
    let mut all = vec![r.reference.value, r.reference.u, r.reference.big_u];
    if let Some(c) = &r.consistency {
        all.extend([c.chi2, c.p_value, c.birge_ratio]);
    }
    all.extend(r.tau);
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
    if all.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Failure::input(format!(
            "{name}: the values are too large to evaluate (a result overflows)"
        )))
    }
}

// ---------------------------------------------------------------------------
// Text output
// ---------------------------------------------------------------------------

fn render(r: &Report, labs: &[Lab]) -> String {
    let mut out = String::new();
    let method_line = if r.method_requested == "auto" {
        let why = match &r.consistency {
            Some(c) if c.consistent => "chi-squared test passed at 5 %",
            _ => "chi-squared test failed at 5 %",
        };
        format!("method: {} (auto: {why})\n", r.method)
    } else if r.method == "assigned" {
        "method: assigned value (--assigned)\n".to_owned()
    } else {
        format!("method: {}\n", r.method)
    };
    out.push_str(&method_line);
    let (value, u) = table::value_and_uncertainty(r.reference.value, r.reference.u);
    let n_in = r.labs.iter().filter(|l| l.included).count();
    out.push_str(&format!(
        "reference: {value}, u = {u}, U = {} (k = 2){}\n",
        table::uncertainty(r.reference.big_u),
        if r.method == "assigned" {
            String::new()
        } else {
            format!(", from {n_in} of {} labs", r.labs.len())
        }
    ));
    match &r.consistency {
        Some(c) => out.push_str(&format!(
            "consistency: chi2 = {}, dof = {}, p = {}, Birge ratio = {} -> {}\n",
            table::fixed(c.chi2, 2),
            c.dof,
            table::sig(c.p_value, 2),
            table::fixed(c.birge_ratio, 2),
            if c.consistent {
                "consistent at 5 %"
            } else {
                "not consistent at 5 %"
            }
        )),
        None if r.method != "assigned" => {
            out.push_str("consistency: not evaluated (not every lab states an uncertainty)\n");
        }
        None => {}
    }
    if let Some(tau) = r.tau {
        out.push_str(&format!("tau: {}\n", table::sig(tau, 2)));
    }
    if let Some(a) = &r.robust {
        out.push_str(&algorithm_a_line(a));
    }
    if let Some(s) = r.sigma_pt {
        out.push_str(&format!("sigma_pt: {s}\n"));
    }
    out.push('\n');

    let mut header = vec![
        ("lab", Align::Left),
        ("value", Align::Right),
        ("u", Align::Right),
        ("incl", Align::Left),
        ("d", Align::Right),
        ("u(d)", Align::Right),
        ("U(d)", Align::Right),
        ("En", Align::Right),
        ("z", Align::Right),
        ("z'", Align::Right),
        ("zeta", Align::Right),
        ("D%", Align::Right),
        ("verdict", Align::Left),
        ("by", Align::Left),
    ];
    let mut rows: Vec<Vec<String>> = r
        .labs
        .iter()
        .zip(labs)
        .map(|(l, input)| {
            let round_d_by = l.big_u_d.or(Some(r.reference.big_u));
            vec![
                l.lab.clone(),
                match input.u {
                    Some(u) => table::value_at(l.value, Some(u)),
                    None => format!("{}", l.value),
                },
                table::opt(l.u, table::uncertainty),
                if l.included { "yes" } else { "no" }.to_owned(),
                table::value_at(l.d, round_d_by),
                table::opt(l.u_d, table::uncertainty),
                table::opt(l.big_u_d, table::uncertainty),
                table::opt(l.en, |v| table::fixed(v, 2)),
                table::opt(l.z, |v| table::fixed(v, 2)),
                table::opt(l.z_prime, |v| table::fixed(v, 2)),
                table::opt(l.zeta, |v| table::fixed(v, 2)),
                table::opt(l.d_percent, |v| table::fixed(v, 1)),
                l.verdict.unwrap_or("-").to_owned(),
                match l.verdict_score {
                    Some("en") => "En",
                    Some("z") => "z",
                    Some("z_prime") => "z'",
                    _ => "-",
                }
                .to_owned(),
            ]
        })
        .collect();
    // Drop score columns that are empty for every lab (no σ_pt, no u).
    let mut keep: Vec<bool> = header
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            matches!(*name, "lab" | "value" | "d" | "verdict")
                || rows
                    .iter()
                    .any(|row| row.get(i).is_some_and(|c| c.as_str() != "-"))
        })
        .collect();
    if r.method == "assigned" {
        // Nothing is excluded from a given value.
        if let Some(k) = header.iter().position(|(n, _)| *n == "incl")
            && let Some(slot) = keep.get_mut(k)
        {
            *slot = false;
        }
    }
    let filter = |v: Vec<(usize, String)>| -> Vec<String> {
        v.into_iter()
            .filter(|(i, _)| keep.get(*i).copied().unwrap_or(true))
            .map(|(_, c)| c)
            .collect()
    };
    header = header
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.get(*i).copied().unwrap_or(true))
        .map(|(_, h)| h)
        .collect();
    rows = rows
        .into_iter()
        .map(|row| filter(row.into_iter().enumerate().collect()))
        .collect();
    out.push_str(&table::render(&header, &rows));
    out
}

fn algorithm_a_line(a: &Robust) -> String {
    format!(
        "Algorithm A: x* = {}, s* = {} ({} iterations{})\n",
        table::sig(a.x_star, 5),
        table::sig(a.s_star, 4),
        a.iterations,
        if a.converged {
            ""
        } else {
            ", NOT converged: stopped at the iteration limit"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unconverged_algorithm_a_says_so() {
        let mut a = Robust {
            x_star: 0.25701,
            s_star: 0.0395,
            iterations: 1000,
            converged: false,
        };
        assert!(algorithm_a_line(&a).contains("NOT converged"));
        a.converged = true;
        assert_eq!(
            algorithm_a_line(&a),
            "Algorithm A: x* = 0.25701, s* = 0.03950 (1000 iterations)\n"
        );
    }

    #[test]
    fn the_verdict_uses_z_prime_when_u_x_pt_is_not_negligible() {
        let rule = EnRule::Iso13528;
        // u(x_pt) = 0.3 σ_pt exactly: negligible, z decides.
        assert_eq!(
            verdict(None, Some(2.5), Some(1.9), 0.3, Some(1.0), rule),
            (Some("questionable"), Some("z"))
        );
        // u(x_pt) > 0.3 σ_pt: z′ decides.
        assert_eq!(
            verdict(None, Some(2.5), Some(1.9), 0.31, Some(1.0), rule),
            (Some("satisfactory"), Some("z_prime"))
        );
        // En always wins; nothing to classify without σ_pt.
        assert_eq!(
            verdict(Some(0.5), Some(4.0), Some(4.0), 0.0, Some(1.0), rule),
            (Some("satisfactory"), Some("en"))
        );
        assert_eq!(verdict(None, None, None, 0.1, None, rule), (None, None));
    }
}
