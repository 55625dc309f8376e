//! `compare`: a reference value (or a given assigned value) and each
//! laboratory's degree of equivalence and performance scores, from a CSV of
//! results. The evaluation is `jiliang_metrology::interlab::evaluate`, the
//! one the server's rounds and the browser use (its documentation says what
//! is computed and when); this module reads the file, turns flags into
//! options, words the crate's outcomes as the CLI's messages and formats
//! the answer.
//!
//! A row's `u`, `U` and `k` go through `jiliang_metrology::stated::reconcile`:
//! any one of u and U (k defaults to 2), or both when U agrees with k·u
//! within the rounding of U as printed in the file (k = U/u when the row
//! has no k).

use std::collections::HashMap;

use jiliang_metrology::interlab::{
    self, CompareError, CompareOptions, CompareReport, Exclusion, MethodName, Participant,
    Reference, Verdict, VerdictScore,
};
use jiliang_metrology::reference::KcrvMethod;
use jiliang_metrology::scores::EnRule;

use crate::Failure;
use crate::args::{CompareArgs, CompareMethod, EnRuleArg, OutputFormat};
use crate::csv::{Case, Csv, quoted};
use crate::table::{self, Align};
use crate::uncertainty::{StatedColumns, stated_uncertainty};

/// Coverage factor of a `U` without `k`, of U(reference) and of U(d).
const K: f64 = interlab::DEFAULT_COVERAGE_FACTOR;

pub fn run(args: &CompareArgs) -> Result<String, Failure> {
    let csv = Csv::read(&args.input)?;
    let (mut participants, lines) = read_labs(&csv)?;
    let options = options(args)?;
    if args.assigned.is_none() {
        apply_exclusions(&csv, &mut participants, &args.exclude)?;
    }
    let report =
        interlab::evaluate(&participants, &options).map_err(|e| outcome(&csv, &lines, args, e))?;
    match args.format {
        OutputFormat::Json => crate::json(&report),
        OutputFormat::Text => Ok(render(&report)),
    }
}

/// The participants in file order, and the line each came from.
fn read_labs(csv: &Csv) -> Result<(Vec<Participant>, Vec<usize>), Failure> {
    let lab_col = csv.require("lab", Case::Insensitive)?;
    let value_col = csv.require("value", Case::Insensitive)?;
    let u_col = csv.column("u", Case::Sensitive)?;
    let big_u_col = csv.column("U", Case::Sensitive)?;
    let k_col = csv.column("k", Case::Insensitive)?;
    let dof_col = csv.column("dof", Case::Insensitive)?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut labs = Vec::with_capacity(csv.rows().len());
    let mut lines = Vec::with_capacity(csv.rows().len());
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
                k => k,
            },
            None => None,
        };
        // Validated although not used yet: a typo here is still a typo.
        csv.dof(row, dof_col)?;
        let cols = StatedColumns {
            u: u_col,
            big_u: big_u_col,
            k: k_col,
        };
        let uncertainty = stated_uncertainty(csv, row, cols, u, big_u, k, K)?;
        labs.push(Participant {
            uncertainty,
            ..Participant::new(id, value)
        });
        lines.push(row.line);
    }
    if labs.is_empty() {
        return Err(Failure::input(format!(
            "{}: no labs (the file has a header but no rows)",
            csv.name()
        )));
    }
    Ok((labs, lines))
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

fn options(args: &CompareArgs) -> Result<CompareOptions, Failure> {
    let reference = match args.assigned {
        // clap makes --assigned and --assigned-u go together; be safe anyway.
        Some(value) => match args.assigned_u {
            Some(u) => Reference::Assigned { value, u },
            None => return Err(Failure::input("--assigned needs --assigned-u")),
        },
        None => Reference::Consensus {
            method: kcrv_method(args.method),
        },
    };
    Ok(CompareOptions {
        reference,
        sigma_pt: args.sigma_pt,
        en_rule: match args.en_rule {
            EnRuleArg::Iso13528 => EnRule::Iso13528,
            EnRuleArg::Jjf1117 => EnRule::Jjf1117,
        },
        coverage_factor: K,
    })
}

fn apply_exclusions(
    csv: &Csv,
    labs: &mut [Participant],
    exclude: &[String],
) -> Result<(), Failure> {
    for name in exclude.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        match labs.iter_mut().find(|l| l.lab == name) {
            Some(lab) => lab.excluded = Some(Exclusion::default()),
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

/// The crate's outcome in the CLI's words: flags, file, row and column.
fn outcome(csv: &Csv, lines: &[usize], args: &CompareArgs, e: CompareError) -> Failure {
    match e {
        CompareError::TooFewInReference { method, found } => Failure::input(format!(
            "{}: --method {method} needs at least 2 labs in the reference value, found {found}{}",
            csv.name(),
            if args.exclude.is_empty() {
                ""
            } else {
                " after --exclude"
            }
        )),
        CompareError::MissingUncertainty { index, method } => {
            missing_uncertainty(csv, lines.get(index).copied().unwrap_or(0), method)
        }
        CompareError::Overflow => Failure::input(format!(
            "{}: the values are too large to evaluate (a result overflows)",
            csv.name()
        )),
        e @ (CompareError::DuplicateLab { .. } | CompareError::Metrology(_)) => {
            Failure::input(format!("{}: cannot evaluate: {e}", csv.name()))
        }
    }
}

fn missing_uncertainty(csv: &Csv, line: usize, method: MethodName) -> Failure {
    let has_column = csv.column("u", Case::Sensitive).ok().flatten().is_some()
        || csv.column("U", Case::Sensitive).ok().flatten().is_some();
    if has_column {
        Failure::input(format!(
            "{} row {line}, column \"u\": empty, but --method {method} needs every lab's uncertainty (u, or U and k)",
            csv.name(),
        ))
    } else {
        Failure::input(format!(
            "{} row {}: missing column \"u\" (or \"U\" and \"k\"); --method {method} needs every lab's uncertainty",
            csv.name(),
            csv.header_line(),
        ))
    }
}

// ---------------------------------------------------------------------------
// Text output
// ---------------------------------------------------------------------------

fn render(r: &CompareReport) -> String {
    let mut out = String::new();
    let assigned = r.method == MethodName::Assigned;
    let method_line = if r.method_requested == MethodName::Auto {
        let why = match &r.consistency {
            Some(c) if c.consistent => "chi-squared test passed at 5 %",
            _ => "chi-squared test failed at 5 %",
        };
        format!("method: {} (auto: {why})\n", r.method)
    } else if assigned {
        "method: assigned value (--assigned)\n".to_owned()
    } else {
        format!("method: {}\n", r.method)
    };
    out.push_str(&method_line);
    let (value, u) = table::value_and_uncertainty(r.reference.value, r.reference.u);
    let n_in = r.labs.iter().filter(|l| l.included).count();
    out.push_str(&format!(
        "reference: {value}, u = {u}, U = {} (k = {}){}\n",
        table::uncertainty(r.reference.big_u),
        r.reference.k,
        if assigned {
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
        None if !assigned => {
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
        .map(|l| {
            let round_d_by = l.big_u_d.or(Some(r.reference.big_u));
            vec![
                l.lab.clone(),
                match l.u {
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
                match l.verdict {
                    Some(Verdict::Satisfactory) => "satisfactory",
                    Some(Verdict::Questionable) => "questionable",
                    Some(Verdict::Unsatisfactory) => "unsatisfactory",
                    None => "-",
                }
                .to_owned(),
                match l.verdict_score {
                    Some(VerdictScore::En) => "En",
                    Some(VerdictScore::Z) => "z",
                    Some(VerdictScore::ZPrime) => "z'",
                    None => "-",
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
    if assigned {
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

fn algorithm_a_line(a: &interlab::Robust) -> String {
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
        let mut a = interlab::Robust {
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
}
