//! The offline tools' command line: one set of clap structs that
//! `jiliang-tools` parses on its own and `jiliang` embeds (its `Command`
//! flattens [`OfflineCommand`] and its `verify` flattens
//! [`VerifyOptions`]), so flags, defaults and help text cannot drift apart
//! between the two binaries.
//!
//! Doc comments on the fields are the `--help` text: keep them short and
//! written for the person running the tool.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// 计量协作网 Jiliang offline tools: comparisons, uncertainty budgets,
/// conformity decisions and ledger proofs, without the server.
#[derive(Debug, Parser)]
#[command(name = "jiliang-tools", version, propagate_version = true)]
pub struct ToolsCli {
    #[command(subcommand)]
    pub command: ToolsCommand,
}

/// The subcommands of `jiliang-tools`: the offline ones of `jiliang`, with
/// `verify` limited to an export file.
#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    #[command(flatten)]
    Offline(OfflineCommand),
    /// Verify a ledger export bundle offline.
    Verify(VerifyArgs),
}

/// The subcommands both binaries carry unchanged.
#[derive(Debug, Clone, Subcommand)]
pub enum OfflineCommand {
    /// Reference value, degrees of equivalence and PT scores (En, z, z′, ζ) from a CSV of results.
    Compare(CompareArgs),
    /// Combined and expanded uncertainty of a budget (GUM, JJF 1059.1) from a CSV.
    Budget(BudgetArgs),
    /// Pass / fail / indeterminate against a maximum permissible error (JJF 1094).
    Conformity(ConformityArgs),
    /// RFC 6962 Merkle roots and proofs from a list of leaves (for auditors).
    Ledger(LedgerArgs),
}

/// Output of the offline tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Aligned table / short human-readable text, rounded for reading.
    #[default]
    #[value(alias = "table")]
    Text,
    /// JSON, numbers at full precision.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// CSV with a header row: `lab,value` and any of `u` (standard
    /// uncertainty), `U` and `k` (expanded; u = U/k, k defaults to 2), `dof`.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,

    /// Reference-value estimator (`auto`: weighted mean if the χ² test passes
    /// at 5 %, otherwise DerSimonian–Laird).
    #[arg(long, value_enum, default_value_t = CompareMethod::Auto, conflicts_with = "assigned")]
    pub method: CompareMethod,

    /// Labs left out of the reference value (they are still scored), comma separated.
    #[arg(
        long,
        value_name = "LAB,LAB",
        value_delimiter = ',',
        conflicts_with = "assigned"
    )]
    pub exclude: Vec<String>,

    /// Score against this assigned value x_pt instead of a consensus value.
    #[arg(long, value_name = "X", requires = "assigned_u", allow_negative_numbers = true, value_parser = finite_number)]
    pub assigned: Option<f64>,

    /// Standard uncertainty u(x_pt) of the assigned value (U(x_pt) = 2u).
    #[arg(long = "assigned-u", value_name = "U", requires = "assigned", allow_negative_numbers = true, value_parser = positive_number)]
    pub assigned_u: Option<f64>,

    /// Standard deviation for proficiency assessment σ_pt; gives z and z′.
    #[arg(long = "sigma-pt", value_name = "S", allow_negative_numbers = true, value_parser = positive_number)]
    pub sigma_pt: Option<f64>,

    /// Where |En| = 1 falls: `iso13528` (|En| < 1 satisfactory) or
    /// `jjf1117` (|En| ≤ 1 satisfactory, also ISO/IEC 17043).
    #[arg(long = "en-rule", value_enum, default_value_t = EnRuleArg::Iso13528)]
    pub en_rule: EnRuleArg,

    /// Output: `text` (human-readable, rounded) or `json` (full precision).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// Reference-value estimators of `compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareMethod {
    WeightedMean,
    DersimonianLaird,
    MandelPaule,
    ArithmeticMean,
    Median,
    AlgorithmA,
    Auto,
}

/// The En boundary rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnRuleArg {
    #[value(name = "iso13528")]
    Iso13528,
    #[value(name = "jjf1117")]
    Jjf1117,
}

#[derive(Debug, Clone, Args)]
pub struct BudgetArgs {
    /// CSV with a header row: `name,u,c,dof`; optional `distribution`
    /// (normal|rectangular|triangular|arcsine|u) and `half_width`.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,

    /// CSV `a,b,r`: correlation coefficients between contributions, by name.
    #[arg(long, value_name = "FILE")]
    pub correlations: Option<PathBuf>,

    /// Output: `text` (human-readable, rounded) or `json` (full precision).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// The MPE is given in exactly one form: `--mpe` (absolute), `--mpe-relative`
/// (% of reading), `--mpe-fiducial` (% of full scale, accuracy class) or
/// `--mpe-reading-percent` combined with `--mpe-range-percent`/`--range` or
/// `--digits`/`--resolution`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("mpe_form").required(true).multiple(false)
    .args(["mpe", "mpe_relative", "mpe_fiducial", "mpe_reading_percent"])))]
pub struct ConformityArgs {
    /// Indication error Δ.
    #[arg(long, value_name = "E", allow_negative_numbers = true, value_parser = finite_number)]
    pub error: f64,

    /// Absolute MPE: the maximum permissible error value MPEV (a magnitude, > 0).
    #[arg(long, value_name = "MPEV", allow_negative_numbers = true, value_parser = positive_number)]
    pub mpe: Option<f64>,

    /// Relative MPE: ±PCT % of the reading (needs --reading).
    #[arg(long = "mpe-relative", value_name = "PCT", allow_negative_numbers = true, value_parser = positive_number,
          requires = "reading")]
    pub mpe_relative: Option<f64>,

    /// Fiducial MPE (accuracy class): ±PCT % of the fiducial value (needs --full-scale).
    #[arg(long = "mpe-fiducial", value_name = "PCT", allow_negative_numbers = true, value_parser = positive_number,
          requires = "full_scale")]
    pub mpe_fiducial: Option<f64>,

    /// Fiducial value of --mpe-fiducial: full scale or span of the range (> 0).
    #[arg(long = "full-scale", value_name = "FS", allow_negative_numbers = true, value_parser = positive_number,
          requires = "mpe_fiducial")]
    pub full_scale: Option<f64>,

    /// Combined MPE, the reading part: ±(P % of reading + …); needs --reading and either
    /// --mpe-range-percent with --range, or --digits with --resolution.
    #[arg(long = "mpe-reading-percent", value_name = "P", allow_negative_numbers = true,
          value_parser = non_negative_number, requires = "reading")]
    pub mpe_reading_percent: Option<f64>,

    /// Combined MPE, the range part: + Q % of --range.
    #[arg(long = "mpe-range-percent", value_name = "Q", allow_negative_numbers = true,
          value_parser = non_negative_number, requires_all = ["mpe_reading_percent", "range"],
          conflicts_with_all = ["digits", "resolution"])]
    pub mpe_range_percent: Option<f64>,

    /// Range (full scale) that --mpe-range-percent is a percentage of (> 0).
    #[arg(long, value_name = "R", allow_negative_numbers = true, value_parser = positive_number,
          requires = "mpe_range_percent")]
    pub range: Option<f64>,

    /// Combined MPE, the digits part: + N digits of the display.
    #[arg(long, value_name = "N", requires_all = ["mpe_reading_percent", "resolution"])]
    pub digits: Option<u32>,

    /// Value of one digit (the display's resolution) for --digits (> 0).
    #[arg(long, value_name = "D", allow_negative_numbers = true, value_parser = positive_number,
          requires = "digits")]
    pub resolution: Option<f64>,

    /// Reading at which a relative or combined MPE is evaluated.
    #[arg(long, value_name = "R", allow_negative_numbers = true, value_parser = finite_number)]
    pub reading: Option<f64>,

    /// Expanded uncertainty (p ≈ 95 %) of the error.
    #[arg(long = "U95", value_name = "U", allow_negative_numbers = true, value_parser = non_negative_number)]
    pub u95: f64,

    /// Output: `text` (human-readable, rounded) or `json` (full precision).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    pub command: LedgerCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum LedgerCommand {
    /// Root hash of the tree of the first N leaves.
    Root(LedgerRootArgs),
    /// Inclusion proof of one leaf (RFC 6962 order, leaf level first).
    ProveInclusion(ProveInclusionArgs),
    /// Consistency proof between two tree sizes.
    ProveConsistency(ProveConsistencyArgs),
}

#[derive(Debug, Clone, Args)]
pub struct LeavesArgs {
    /// JSON array of hex-encoded leaf data; each leaf hash is SHA-256(0x00 ‖ data).
    #[arg(long, value_name = "FILE")]
    pub leaves: PathBuf,

    /// Tree size (default: every leaf in the file).
    #[arg(long, value_name = "N")]
    pub size: Option<u64>,

    /// Output: `text` (human-readable, rounded) or `json` (full precision).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct LedgerRootArgs {
    #[command(flatten)]
    pub leaves: LeavesArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ProveInclusionArgs {
    #[command(flatten)]
    pub leaves: LeavesArgs,

    /// Leaf index, from 0.
    #[arg(long, value_name = "I")]
    pub index: u64,
}

#[derive(Debug, Clone, Args)]
pub struct ProveConsistencyArgs {
    #[command(flatten)]
    pub leaves: LeavesArgs,

    /// The earlier tree size.
    #[arg(long = "old-size", value_name = "M")]
    pub old_size: u64,
}

/// `jiliang-tools verify EXPORT`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Export bundle (`jiliang-ledger-export/1` JSON) to verify offline.
    #[arg(value_name = "EXPORT")]
    pub export: PathBuf,

    #[command(flatten)]
    pub options: VerifyOptions,
}

/// The flags of `verify` besides what to verify: `jiliang verify` adds
/// `--database-url` to them.
#[derive(Debug, Clone, Args)]
pub struct VerifyOptions {
    /// Trust only this Ed25519 public key (64 hex); without it the key in the
    /// export is used and its fingerprint printed for you to compare.
    #[arg(long = "public-key", value_name = "HEX")]
    pub public_key: Option<String>,

    /// Output: `text` (human-readable, rounded) or `json` (full precision).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

fn finite_number(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("{text:?} is not a finite number")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

fn positive_number(text: &str) -> Result<f64, String> {
    let v = finite_number(text)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{text:?} must be greater than 0"))
    }
}

fn non_negative_number(text: &str) -> Result<f64, String> {
    let v = finite_number(text)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{text:?} must not be negative"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        ToolsCli::command().debug_assert();
    }

    #[test]
    fn verify_needs_an_export() {
        let err = ToolsCli::try_parse_from(["jiliang-tools", "verify"]).expect_err("must fail");
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let cli =
            ToolsCli::try_parse_from(["jiliang-tools", "verify", "x.json", "--format", "json"])
                .expect("parses");
        let ToolsCommand::Verify(v) = cli.command else {
            panic!("expected verify");
        };
        assert_eq!(v.export, PathBuf::from("x.json"));
        assert_eq!(v.options.format, OutputFormat::Json);
    }
}
