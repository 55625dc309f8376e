//! `jiliang conformity`: pass / fail / indeterminate of an indication error
//! against a maximum permissible error, JJF 1094 §5.3, by the
//! `jiliang-metrology` crate: if U95 ≤ MPEV/3 simple acceptance
//! (|Δ| ≤ MPEV passes), otherwise guard bands (|Δ| ≤ MPEV − U95 passes,
//! |Δ| ≥ MPEV + U95 fails, in between indeterminate).
//!
//! The verdict is data, not an error: every decision exits 0.

use jiliang_metrology::conformity::{
    AppliedRule, Conformity, ConformityOptions, Mpe, Verdict, assess, assess_with_mpev,
};
use serde::Serialize;

use super::Failure;
use super::table;
use crate::config::{ConformityArgs, OutputFormat};

/// The JSON document (see docs/CLI.md).
#[derive(Debug, Serialize)]
pub struct Report {
    /// `pass`, `fail` or `indeterminate`.
    pub verdict: &'static str,
    /// `simple` (U95 ≤ MPEV/3) or `guard-band`.
    pub rule: &'static str,
    pub error: f64,
    #[serde(rename = "U95")]
    pub u95: f64,
    pub mpev: f64,
    pub uncertainty_negligible: bool,
    pub acceptance_limit: f64,
    pub rejection_limit: f64,
}

pub fn run(args: &ConformityArgs) -> Result<String, Failure> {
    let options = ConformityOptions::default();
    let decision = match (args.mpe, args.mpe_relative, args.reading) {
        (Some(mpev), _, _) => assess_with_mpev(args.error, args.u95, mpev, &options),
        (None, Some(percent), Some(reading)) => assess(
            args.error,
            args.u95,
            &Mpe::Relative { percent },
            reading,
            &options,
        ),
        _ => {
            return Err(Failure::input(
                "give --mpe MPEV, or --mpe-relative PCT with --reading R",
            ));
        }
    }
    .map_err(|e| Failure::input(format!("cannot decide: {e}")))?;
    let report = Report {
        verdict: match decision.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Indeterminate => "indeterminate",
        },
        rule: match decision.rule {
            AppliedRule::Simple => "simple",
            AppliedRule::GuardBand => "guard-band",
        },
        error: decision.error,
        u95: decision.u95,
        mpev: decision.mpev,
        uncertainty_negligible: decision.uncertainty_negligible,
        acceptance_limit: decision.acceptance_limit,
        rejection_limit: decision.rejection_limit,
    };
    match args.format {
        OutputFormat::Json => serde_json::to_string_pretty(&report)
            .map(|s| s + "\n")
            .map_err(|e| Failure::input(format!("cannot write JSON: {e}"))),
        OutputFormat::Text => Ok(render(&report, &decision)),
    }
}

fn render(r: &Report, d: &Conformity) -> String {
    let n = table::clean;
    let verdict = match d.verdict {
        Verdict::Pass => "pass (合格)",
        Verdict::Fail => "fail (不合格)",
        Verdict::Indeterminate => "indeterminate (待定)",
    };
    let mut out = format!("verdict: {verdict}\n");
    out.push_str(&format!(
        "|error| = {}, MPEV = {}, U95 = {}\n",
        n(r.error.abs()),
        n(r.mpev),
        n(r.u95)
    ));
    match d.rule {
        AppliedRule::Simple => out.push_str(&format!(
            "rule: simple acceptance (U95 <= MPEV/3 = {}): pass if |error| <= {}\n",
            table::trimmed(r.mpev / 3.0, 3),
            n(r.acceptance_limit)
        )),
        AppliedRule::GuardBand => out.push_str(&format!(
            "rule: guard band (U95 > MPEV/3 = {}): pass if |error| <= MPEV - U95 = {}, \
             fail if |error| >= MPEV + U95 = {}, indeterminate between\n",
            table::trimmed(r.mpev / 3.0, 3),
            n(r.acceptance_limit),
            n(r.rejection_limit)
        )),
    }
    out
}
