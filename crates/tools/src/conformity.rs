//! `conformity`: pass / fail / indeterminate of an indication error
//! against a maximum permissible error, JJF 1094 §5.3, by the
//! `jiliang-metrology` crate: if U95 ≤ MPEV/3 simple acceptance
//! (|Δ| ≤ MPEV passes), otherwise guard bands (|Δ| ≤ MPEV − U95 passes,
//! |Δ| ≥ MPEV + U95 fails, in between indeterminate).
//!
//! The MPE comes in the forms instrument specifications use: absolute,
//! relative (% of reading), fiducial (accuracy class, % of full scale) and
//! combined (% of reading + % of range, or % of reading + n digits); the
//! crate's `mpev` turns it into the MPEV at the reading.
//!
//! The verdict is data, not an error: every decision exits 0.

use jiliang_metrology::conformity::{
    AppliedRule, Conformity, ConformityOptions, Mpe, Verdict, assess,
};
use serde::Serialize;

use crate::Failure;
use crate::args::{ConformityArgs, OutputFormat};
use crate::table;

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
    /// The MPE as given, tagged with `form` (the crate's `Mpe`).
    pub mpe: Mpe,
    /// The reading the MPE was evaluated at; null for forms that do not
    /// depend on it (absolute, fiducial).
    pub reading: Option<f64>,
    /// The MPE value at the reading.
    pub mpev: f64,
    pub uncertainty_negligible: bool,
    pub acceptance_limit: f64,
    pub rejection_limit: f64,
}

/// The MPE form and the reading it is evaluated at, from the flags. clap
/// already enforces one form and each flag's companions; this catches the
/// combinations it cannot express.
fn mpe_from(args: &ConformityArgs) -> Result<(Mpe, Option<f64>), Failure> {
    let unused_reading = |form: &str| {
        Failure::input(format!(
            "--reading is not used by {form}; give it only with --mpe-relative or --mpe-reading-percent"
        ))
    };
    if let Some(value) = args.mpe {
        if args.reading.is_some() {
            return Err(unused_reading("an absolute MPE (--mpe)"));
        }
        return Ok((Mpe::Absolute { value }, None));
    }
    if let Some(percent) = args.mpe_relative {
        let reading = args
            .reading
            .ok_or_else(|| Failure::input("--mpe-relative needs --reading R"))?;
        return Ok((Mpe::Relative { percent }, Some(reading)));
    }
    if let Some(percent) = args.mpe_fiducial {
        if args.reading.is_some() {
            return Err(unused_reading("a fiducial MPE (--mpe-fiducial)"));
        }
        let span = args
            .full_scale
            .ok_or_else(|| Failure::input("--mpe-fiducial needs --full-scale FS"))?;
        return Ok((Mpe::Fiducial { percent, span }, None));
    }
    if let Some(reading_percent) = args.mpe_reading_percent {
        let reading = args
            .reading
            .ok_or_else(|| Failure::input("--mpe-reading-percent needs --reading R"))?;
        let mpe = match (
            args.mpe_range_percent,
            args.range,
            args.digits,
            args.resolution,
        ) {
            (Some(range_percent), Some(range), None, None) => Mpe::ReadingPlusRange {
                reading_percent,
                range_percent,
                range,
            },
            (None, None, Some(digits), Some(resolution)) => Mpe::ReadingPlusDigits {
                reading_percent,
                digits: f64::from(digits),
                resolution,
            },
            _ => {
                return Err(Failure::input(
                    "--mpe-reading-percent needs either --mpe-range-percent Q with --range R, \
                     or --digits N with --resolution D",
                ));
            }
        };
        return Ok((mpe, Some(reading)));
    }
    Err(Failure::input(
        "give the MPE: --mpe MPEV, --mpe-relative PCT --reading R, --mpe-fiducial PCT --full-scale FS, \
         or --mpe-reading-percent P --reading R with --mpe-range-percent Q --range R or --digits N --resolution D",
    ))
}

pub fn run(args: &ConformityArgs) -> Result<String, Failure> {
    let options = ConformityOptions::default();
    let (mpe, reading) = mpe_from(args)?;
    let decision = assess(args.error, args.u95, &mpe, reading.unwrap_or(0.0), &options)
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
        mpe,
        reading,
        mpev: decision.mpev,
        uncertainty_negligible: decision.uncertainty_negligible,
        acceptance_limit: decision.acceptance_limit,
        rejection_limit: decision.rejection_limit,
    };
    match args.format {
        OutputFormat::Json => crate::json(&report),
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
        "MPE: {} -> MPEV = {}\n",
        describe(&r.mpe, r.reading),
        n(r.mpev)
    ));
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

/// The MPE as a specification sheet writes it.
fn describe(mpe: &Mpe, reading: Option<f64>) -> String {
    let n = table::clean;
    let at = reading.map_or(String::new(), |r| format!(" at reading {}", n(r)));
    match *mpe {
        Mpe::Absolute { value } => format!("±{} (absolute)", n(value)),
        Mpe::Relative { percent } => format!("±{} % of reading{at}", n(percent)),
        Mpe::Fiducial { percent, span } => {
            format!("±{} % of full scale {} (fiducial)", n(percent), n(span))
        }
        Mpe::ReadingPlusRange {
            reading_percent,
            range_percent,
            range,
        } => format!(
            "±({} % of reading + {} % of range {}){at}",
            n(reading_percent),
            n(range_percent),
            n(range)
        ),
        Mpe::ReadingPlusDigits {
            reading_percent,
            digits,
            resolution,
        } => format!(
            "±({} % of reading + {} digits of {}){at}",
            n(reading_percent),
            n(digits),
            n(resolution)
        ),
    }
}
