//! `budget`: combined standard uncertainty, Welch–Satterthwaite
//! ν_eff, k95/U95 and k99/U99 of an uncertainty budget given as CSV, by the
//! `jiliang-metrology` crate's `Budget::evaluate` (GUM 5.1–5.2, G.4;
//! JJF 1059.1). k is t_p(ν_eff) with ν_eff truncated to an integer.
//!
//! Input columns: `name` (required, unique), `u` (standard uncertainty),
//! `c` (sensitivity coefficient, default 1), `dof` (empty = ∞), and for
//! Type B `distribution` (normal | rectangular | triangular | arcsine | u)
//! with `half_width`: rectangular a/√3, triangular a/√6, arcsine (`u`: the
//! U-shaped distribution, JJF 1059.1 U形分布) a/√2. With one of those and a
//! `half_width`, the `u` cell stays empty; `normal` takes `u` as given, or
//! an expanded uncertainty `U` with its coverage factor `k` (u = U/k, k
//! defaults to 2 as in `compare`), as a certificate states it. A row with
//! both `u` and `U` is read by the same rule as in `compare` (see
//! `uncertainty`): the stated u, when U agrees with k·u within the rounding
//! of U as printed.

use std::collections::HashMap;

use jiliang_metrology::MetrologyError;
use jiliang_metrology::budget::{
    Budget, BudgetOptions, BudgetResult, Contribution, Correlation, TypeB,
};
use serde::Serialize;

use crate::Failure;
use crate::args::{BudgetArgs, OutputFormat};
use crate::csv::{Case, Csv, quoted};
use crate::table::{self, Align};
use crate::uncertainty::{StatedColumns, stated_uncertainty};

/// The JSON document (see docs/CLI.md).
#[derive(Debug, Serialize)]
pub struct Report {
    pub u_c: f64,
    /// Effective degrees of freedom; null when infinite (every contribution
    /// has ν = ∞), so the field is always a number or null.
    pub nu_eff: Option<f64>,
    pub k95: f64,
    #[serde(rename = "U95")]
    pub big_u95: f64,
    pub k99: f64,
    #[serde(rename = "U99")]
    pub big_u99: f64,
    pub contributions: Vec<Line>,
}

#[derive(Debug, Serialize)]
pub struct Line {
    pub name: String,
    /// |c_i·u_i|, the contribution in the output's unit.
    pub ci_ui: f64,
    /// (c_i·u_i)²/u_c².
    pub share: f64,
}

/// Coverage factor of a `U` without `k`, as in `compare`.
const DEFAULT_K: f64 = 2.0;

pub fn run(args: &BudgetArgs) -> Result<String, Failure> {
    let csv = Csv::read(&args.input)?;
    let contributions = read_contributions(&csv)?;
    let (correlations, correlations_name) = match &args.correlations {
        Some(path) => {
            let c = Csv::read(path)?;
            (
                read_correlations(&c, &contributions)?,
                Some(c.name().to_owned()),
            )
        }
        None => (Vec::new(), None),
    };
    let has_correlations = !correlations.is_empty();
    let budget = Budget {
        contributions,
        correlations,
    };
    let result = budget
        .evaluate(&BudgetOptions::default())
        .map_err(|e| match (&e, &correlations_name) {
            (MetrologyError::NotPositiveSemiDefinite { .. }, Some(name)) => Failure::input(format!(
                "{name}: these correlation coefficients cannot hold together \
                 (the correlation matrix is not positive semi-definite); check their signs and sizes"
            )),
            _ => Failure::input(format!("{}: cannot evaluate: {e}", csv.name())),
        })?;
    let report = Report {
        u_c: result.u_c,
        nu_eff: Some(result.nu_eff).filter(|v| v.is_finite()),
        k95: result.k95,
        big_u95: result.big_u95,
        k99: result.k99,
        big_u99: result.big_u99,
        contributions: result
            .lines
            .iter()
            .map(|l| Line {
                name: l.name.clone(),
                ci_ui: l.abs_cu,
                share: l.share,
            })
            .collect(),
    };
    match args.format {
        OutputFormat::Json => crate::json(&report),
        OutputFormat::Text => Ok(render(&result, &budget, has_correlations)),
    }
}

fn read_contributions(csv: &Csv) -> Result<Vec<Contribution>, Failure> {
    let name_col = csv.require("name", Case::Insensitive)?;
    let u_col = csv.column("u", Case::Sensitive)?;
    let c_col = csv.column("c", Case::Insensitive)?;
    let dof_col = csv.column("dof", Case::Insensitive)?;
    let dist_col = csv.column("distribution", Case::Insensitive)?;
    let hw_col = csv.column("half_width", Case::Insensitive)?;
    let big_u_col = csv.column("U", Case::Sensitive)?;
    let k_col = csv.column("k", Case::Insensitive)?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(csv.rows().len());
    for row in csv.rows() {
        let name = csv.text(row, Some(name_col));
        if name.is_empty() {
            return Err(csv.error(row, name_col, "empty; every contribution needs a name"));
        }
        if let Some(first) = seen.insert(name.to_owned(), row.line) {
            return Err(csv.error(
                row,
                name_col,
                format!("{} appears twice (first in row {first})", quoted(name)),
            ));
        }
        let non_negative = |col, v: Option<f64>, what: &str| match v {
            Some(x) if x < 0.0 => {
                Err(csv.error(row, col, format!("{what} must not be negative, got {x}")))
            }
            _ => Ok(v),
        };
        let u = match u_col {
            Some(col) => non_negative(col, csv.optional_number(row, Some(col))?, "u")?,
            None => None,
        };
        let half_width = match hw_col {
            Some(col) => non_negative(col, csv.optional_number(row, Some(col))?, "half_width")?,
            None => None,
        };
        let big_u = match big_u_col {
            Some(col) => non_negative(col, csv.optional_number(row, Some(col))?, "U")?,
            None => None,
        };
        let k = match k_col {
            Some(col) => match csv.optional_number(row, Some(col))? {
                Some(k) if k <= 0.0 => {
                    return Err(csv.error(
                        row,
                        col,
                        format!("coverage factor must be greater than 0, got {k}"),
                    ));
                }
                Some(_) if big_u.is_none() => {
                    return Err(csv.error(
                        row,
                        col,
                        "k is the coverage factor of U, but U is empty",
                    ));
                }
                k => k,
            },
            None => None,
        };
        let dist = csv.text(row, dist_col).to_ascii_lowercase();
        let from_half_width = |a: f64| match dist.as_str() {
            "rectangular" => Some(TypeB::Rectangular { half_width: a }),
            "triangular" => Some(TypeB::Triangular { half_width: a }),
            "arcsine" | "u" | "u-shaped" => Some(TypeB::Arcsine { half_width: a }),
            _ => None,
        };
        let type_b_kinds = ["rectangular", "triangular", "arcsine", "u", "u-shaped"];
        if !dist.is_empty()
            && dist != "normal"
            && !type_b_kinds.contains(&dist.as_str())
            && let Some(col) = dist_col
        {
            return Err(csv.error(
                row,
                col,
                format!(
                    "unknown distribution {} (normal, rectangular, triangular, arcsine or u)",
                    quoted(csv.text(row, dist_col))
                ),
            ));
        }
        if let (Some(_), Some(col)) = (big_u, big_u_col) {
            if half_width.is_some() {
                return Err(csv.error(row, col, "both U and half_width are given; give one"));
            }
            if !dist.is_empty() && dist != "normal" {
                return Err(csv.error(
                    row,
                    col,
                    format!(
                        "U with k is a normal distribution, not {}; give half_width for it",
                        quoted(csv.text(row, dist_col))
                    ),
                ));
            }
        }
        // A standard uncertainty as stated, from a certificate's U/k, or
        // both when they agree.
        let stated = match big_u {
            None => u,
            Some(_) => {
                let cols = StatedColumns {
                    u: u_col,
                    big_u: big_u_col,
                    k: k_col,
                };
                stated_uncertainty(csv, row, cols, u, big_u, k, DEFAULT_K)?.map(|s| s.u)
            }
        };
        let u = match (stated, half_width) {
            (Some(_), Some(_)) => {
                let col = hw_col.unwrap_or(name_col);
                return Err(csv.error(row, col, "both u and half_width are given; give one"));
            }
            (Some(u), None) => u,
            (None, Some(a)) => match (from_half_width(a), hw_col) {
                (Some(b), _) => b
                    .standard_uncertainty()
                    .map_err(|e| Failure::input(format!("{}: {e}", csv.name())))?,
                (None, Some(col)) => {
                    return Err(csv.error(
                        row,
                        col,
                        "half_width needs distribution rectangular, triangular, arcsine or u",
                    ));
                }
                (None, None) => 0.0,
            },
            (None, None) => {
                let what = if type_b_kinds.contains(&dist.as_str()) {
                    "half_width"
                } else {
                    "u"
                };
                return Err(match (u_col.or(big_u_col), hw_col) {
                    (Some(col), _) if what == "u" => csv.error(
                        row,
                        col,
                        if u_col.is_some() && big_u_col.is_some() {
                            "empty; u or U is needed"
                        } else if u_col.is_some() {
                            "empty; u is needed"
                        } else {
                            "empty; U is needed"
                        },
                    ),
                    (_, Some(col)) if what == "half_width" => {
                        csv.error(row, col, "empty; half_width is needed")
                    }
                    _ => Failure::input(format!(
                        "{} row {}: missing column {what:?}",
                        csv.name(),
                        csv.header_line()
                    )),
                });
            }
        };
        let c = csv.optional_number(row, c_col)?.unwrap_or(1.0);
        let dof = csv.dof(row, dof_col)?;
        out.push(Contribution {
            name: name.to_owned(),
            u,
            c,
            dof,
        });
    }
    if out.is_empty() {
        return Err(Failure::input(format!(
            "{}: no contributions (the file has a header but no rows)",
            csv.name()
        )));
    }
    Ok(out)
}

fn read_correlations(
    csv: &Csv,
    contributions: &[Contribution],
) -> Result<Vec<Correlation>, Failure> {
    let a_col = csv.require("a", Case::Insensitive)?;
    let b_col = csv.require("b", Case::Insensitive)?;
    let r_col = csv.require("r", Case::Insensitive)?;
    let index_of = |row, col| {
        let name = csv.text(row, Some(col));
        contributions
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                csv.error(
                    row,
                    col,
                    format!("{} is not a contribution of the budget", quoted(name)),
                )
            })
    };
    let mut seen: HashMap<(usize, usize), usize> = HashMap::new();
    let mut out = Vec::with_capacity(csv.rows().len());
    for row in csv.rows() {
        let i = index_of(row, a_col)?;
        let j = index_of(row, b_col)?;
        if i == j {
            return Err(csv.error(
                row,
                b_col,
                "a contribution cannot be correlated with itself",
            ));
        }
        let r = csv.number(row, r_col)?;
        if r.abs() > 1.0 {
            return Err(csv.error(
                row,
                r_col,
                format!("correlation coefficient must be between -1 and 1, got {r}"),
            ));
        }
        if let Some(first) = seen.insert((i.min(j), i.max(j)), row.line) {
            return Err(csv.error(
                row,
                b_col,
                format!("this pair is already given in row {first}"),
            ));
        }
        out.push(Correlation { i, j, r });
    }
    Ok(out)
}

fn render(r: &BudgetResult, budget: &Budget, has_correlations: bool) -> String {
    let header = [
        ("name", Align::Left),
        ("u", Align::Right),
        ("c", Align::Right),
        ("dof", Align::Right),
        ("|c*u|", Align::Right),
        ("share", Align::Right),
    ];
    let rows: Vec<Vec<String>> = r
        .lines
        .iter()
        .zip(&budget.contributions)
        .map(|(l, c)| {
            vec![
                l.name.clone(),
                table::short(c.u),
                table::short(c.c),
                dof_text(c.dof),
                table::uncertainty(l.abs_cu),
                format!("{} %", table::fixed(100.0 * l.share, 1)),
            ]
        })
        .collect();
    let mut out = table::render(&header, &rows);
    out.push('\n');
    out.push_str(&format!(
        "u_c = {}, nu_eff = {} (k from nu = {})\n",
        table::uncertainty(r.u_c),
        if r.nu_eff.is_infinite() {
            "inf".to_owned()
        } else {
            table::fixed(r.nu_eff, 1)
        },
        dof_text(r.nu_for_k)
    ));
    out.push_str(&format!(
        "U95 = {} (k95 = {})\nU99 = {} (k99 = {})\n",
        table::uncertainty(r.big_u95),
        table::fixed(r.k95, 2),
        table::uncertainty(r.big_u99),
        table::fixed(r.k99, 2)
    ));
    if has_correlations {
        out.push_str("shares leave out the correlation terms\n");
    }
    out
}

fn dof_text(v: f64) -> String {
    if v.is_infinite() {
        "inf".to_owned()
    } else {
        table::short(v)
    }
}
