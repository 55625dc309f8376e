//! Typed configuration: command line flags with environment fallbacks.
//!
//! Doc comments on the fields are the `--help` text, so keep them short and
//! written for the person running the server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// 计量协作网 Jiliang — remote metrology collaboration network.
#[derive(Debug, Parser)]
#[command(name = "jiliang", version, about, propagate_version = true)]
pub struct Cli {
    /// Log output format.
    #[arg(long, global = true, env = "JILIANG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (API, rooms, static front end).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Create the demo province (institutions, people) if it is not there yet; prints the demo logins.
    SeedDemo(SeedArgs),
    /// Reference value, degrees of equivalence and PT scores (En, z, z′, ζ) from a CSV of results.
    Compare(CompareArgs),
    /// Combined and expanded uncertainty of a budget (GUM, JJF 1059.1) from a CSV.
    Budget(BudgetArgs),
    /// Pass / fail / indeterminate against a maximum permissible error (JJF 1094).
    Conformity(ConformityArgs),
    /// RFC 6962 Merkle roots and proofs from a list of leaves (for auditors).
    Ledger(LedgerArgs),
    /// Verify a ledger export bundle offline.
    Verify(VerifyArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Only seed a database that has no people yet (what `scripts/run` does),
    /// so a demo that has been used and changed is left as it is.
    #[arg(long)]
    pub if_empty: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "JILIANG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Directory of the built front end (Trunk's `dist/`).
    #[arg(long, env = "JILIANG_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "JILIANG_MAX_BODY", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Public address of this service (e.g. https://jiliang.example.cn), used
    /// in invitation and reset links. Default: the address the client used.
    #[arg(long, env = "JILIANG_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Mark cookies `Secure` (set when TLS is terminated in front of the server).
    #[arg(long, env = "JILIANG_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Trust `X-Forwarded-For`/`X-Forwarded-Proto` from a reverse proxy.
    #[arg(long, env = "JILIANG_TRUST_PROXY")]
    pub trust_proxy: bool,

    /// Fan-out between nodes: `nats://host:4222` to run several nodes on one
    /// PostgreSQL database; empty for a single node (in-process fan-out).
    #[arg(long, env = "JILIANG_BUS", default_value = "")]
    pub bus: String,

    /// File holding the ledger's Ed25519 signing key (created on first
    /// start; refused if group or others may read it). Default:
    /// `ledger-key.hex` beside the SQLite file, or `data/ledger-key.hex`
    /// relative to the working directory with PostgreSQL. Every node needs
    /// the same key.
    #[arg(long, env = "JILIANG_LEDGER_KEY")]
    pub ledger_key: Option<PathBuf>,

    /// Start even though the log's latest heads were signed by another key:
    /// give it once, after deliberately replacing the key file (the server
    /// otherwise refuses, since nodes with different keys make exports that
    /// do not verify).
    #[arg(long, env = "JILIANG_LEDGER_ACCEPT_NEW_KEY")]
    pub ledger_accept_new_key: bool,

    /// How often to sign a new tree head while records arrive, in ms.
    #[arg(long, env = "JILIANG_LEDGER_INTERVAL_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub ledger_interval_ms: u64,

    /// Chat messages per second one room connection may send, sustained
    /// (bursts of four times as many are allowed).
    #[arg(long, env = "JILIANG_CHAT_RATE", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub chat_rate: u32,

    /// How often each room connection re-checks its login and that the
    /// person still takes part, in ms: a deactivated or logged-out person
    /// is disconnected within this time.
    #[arg(long, env = "JILIANG_ROOM_RECHECK_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub room_recheck_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/jiliang.db";

// ---------------------------------------------------------------------------
// Offline tools: pure computations on files, no database (see `cli`).
// ---------------------------------------------------------------------------

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

/// Reference-value estimators of `jiliang compare`.
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

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["export", "database_url"])))]
pub struct VerifyArgs {
    /// Export bundle (`jiliang-ledger-export/1` JSON) to verify offline.
    #[arg(value_name = "EXPORT")]
    pub export: Option<PathBuf>,

    /// Instead of an export, re-verify a server's whole log: every record
    /// against its source row, every leaf, every signed head.
    #[arg(long = "database-url", value_name = "URL")]
    pub database_url: Option<String>,

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

/// What `run` needs; built from `ServeArgs` by the CLI and directly by tests.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub static_dir: PathBuf,
    pub max_body_bytes: usize,
    pub public_url: Option<String>,
    pub secure_cookies: bool,
    pub trust_proxy: bool,
    /// Empty: in-process fan-out.
    pub bus: String,
    /// Sustained chat messages per second per room connection.
    pub chat_rate: u32,
    /// Ledger signing key file (`None`: next to the database).
    pub ledger_key: Option<PathBuf>,
    /// Accept a key other than the one that signed the latest heads.
    pub ledger_accept_new_key: bool,
    pub ledger_interval_ms: u64,
    /// How often a room connection re-checks its login and participation.
    pub room_recheck_ms: u64,
}

impl From<&ServeArgs> for Config {
    fn from(a: &ServeArgs) -> Self {
        Self {
            database_url: a.database.database_url.clone(),
            static_dir: a.static_dir.clone(),
            max_body_bytes: a.max_body_bytes,
            public_url: a.public_url.clone(),
            secure_cookies: a.secure_cookies,
            trust_proxy: a.trust_proxy,
            bus: a.bus.clone(),
            chat_rate: a.chat_rate,
            ledger_key: a.ledger_key.clone(),
            ledger_accept_new_key: a.ledger_accept_new_key,
            ledger_interval_ms: a.ledger_interval_ms,
            room_recheck_ms: a.room_recheck_ms,
        }
    }
}

impl Config {
    /// Where the ledger key lives: as configured, else beside the SQLite
    /// file, else `data/` under the working directory.
    pub fn ledger_key_path(&self) -> PathBuf {
        if let Some(p) = &self.ledger_key {
            return p.clone();
        }
        if let Some(file) = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))
        {
            let file = file.split('?').next().unwrap_or(file);
            if let Some(dir) = std::path::Path::new(file).parent() {
                return dir.join("ledger-key.hex");
            }
        }
        PathBuf::from("data/ledger-key.hex")
    }

    /// A configuration for tests and tools: given database, no front end.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            static_dir: PathBuf::from("dist"),
            max_body_bytes: 1024 * 1024,
            public_url: None,
            secure_cookies: false,
            trust_proxy: false,
            bus: String::new(),
            chat_rate: 5,
            ledger_key: None,
            ledger_accept_new_key: false,
            ledger_interval_ms: 2000,
            room_recheck_ms: 30_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_defaults() {
        // Environment may set DATABASE_URL in CI; parse with explicit flags.
        let cli = Cli::try_parse_from(["jiliang", "serve", "--database-url", DEFAULT_DATABASE_URL])
            .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        assert_eq!(args.database.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(args.static_dir, PathBuf::from("dist"));
    }

    #[test]
    fn bad_listen_address_is_rejected() {
        let err = Cli::try_parse_from(["jiliang", "serve", "--listen", "nonsense"])
            .expect_err("must fail");
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
