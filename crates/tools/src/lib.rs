//! Jiliang's offline tools: `compare`, `budget`, `conformity`,
//! `ledger root|prove-inclusion|prove-consistency` and `verify EXPORT`.
//!
//! An auditor or a lab builds and runs them as `jiliang-tools` without the
//! server; `jiliang` carries the same subcommands by calling this crate, so
//! both binaries print the same bytes for the same arguments (the golden
//! cases in `server/tests/fixtures/cli/golden/` hold both to it). The
//! contract is docs/CLI.md.
//!
//! The tools are pure: they read files, compute with `jiliang-metrology`
//! and `jiliang-ledger` and print. They never open a database, start an
//! async runtime, touch the network or log, and this crate must never
//! depend on the server's stack (axum, sqlx, tokio, NATS):
//! `tests/standalone.rs` checks `cargo tree`. Each tool returns its stdout
//! text or a [`Failure`]; [`finish`] does the printing.
//!
//! Failures print exactly one line on stderr and exit non-zero: 2 for a
//! usage error (bad flag or value) or bad input file, 1 for an export
//! bundle that fails verification (with the report on stdout).
//!
//! # Layout
//! - [`args`]: the clap structs both binaries use.
//! - [`compare`], [`budget`], [`conformity`]: the metrology tools.
//! - [`ledger`]: `ledger …` and `verify EXPORT`.
//! - `csv`, `table`: the CSV reader (row/column errors) and text tables.

use std::process::ExitCode;

use clap::error::ErrorKind;

pub mod args;
pub mod budget;
pub mod compare;
pub mod conformity;
mod csv;
pub mod ledger;
mod table;
mod uncertainty;

pub use args::{OfflineCommand, OutputFormat, ToolsCli, ToolsCommand, VerifyArgs, VerifyOptions};

/// Why an offline subcommand failed: one line for stderr, the exit code, and
/// optionally a report for stdout (a failed verification prints both).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub line: String,
    pub stdout: Option<String>,
}

impl Failure {
    /// Bad input (file, value or combination of flags): exit code 2.
    pub fn input(line: impl Into<String>) -> Self {
        Self {
            code: 2,
            line: line.into(),
            stdout: None,
        }
    }

    /// The input was read but fails a check (a tampered export): exit code 1.
    pub fn failed(line: impl Into<String>, stdout: String) -> Self {
        Self {
            code: 1,
            line: line.into(),
            stdout: Some(stdout),
        }
    }
}

/// Runs one of the subcommands both binaries share.
pub fn run(command: &OfflineCommand) -> Result<String, Failure> {
    match command {
        OfflineCommand::Compare(args) => compare::run(args),
        OfflineCommand::Budget(args) => budget::run(args),
        OfflineCommand::Conformity(args) => conformity::run(args),
        OfflineCommand::Ledger(args) => ledger::run(args),
    }
}

/// `jiliang-tools`: parse, run, print.
pub fn main() -> ExitCode {
    use clap::Parser as _;
    let cli = match ToolsCli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e, "jiliang-tools"),
    };
    finish(match &cli.command {
        ToolsCommand::Offline(command) => run(command),
        ToolsCommand::Verify(args) => ledger::verify(&args.export, &args.options),
    })
}

/// What a binary does with a clap error: help and version are printed as
/// clap renders them (exit 0); anything else is one line on stderr pointing
/// at `BINARY --help`, exit 2.
pub fn usage_error(e: &clap::Error, binary: &str) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "{} (see `{binary} --help`)",
        one_line(&e.render().to_string())
    );
    ExitCode::from(2)
}

/// Prints an offline tool's result: stdout on success; on failure any
/// report on stdout and exactly one line on stderr.
pub fn finish(result: Result<String, Failure>) -> ExitCode {
    match result {
        Ok(text) => {
            write_stdout(&text);
            ExitCode::SUCCESS
        }
        Err(failure) => {
            if let Some(text) = &failure.stdout {
                write_stdout(text);
            }
            // One line, whatever the message picked up from a file name.
            let line: String = failure
                .line
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            eprintln!("error: {line}");
            ExitCode::from(failure.code)
        }
    }
}

/// A clap error as one line: its first paragraph (the message, and for a
/// missing argument the list of what is missing), without the usage and tip
/// paragraphs.
fn one_line(rendered: &str) -> String {
    let joined = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if joined.is_empty() {
        "error: invalid arguments".to_owned()
    } else {
        joined
    }
}

/// Writes to stdout; a closed pipe (`jiliang-tools … | head`) is not an
/// error.
pub fn write_stdout(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Renders a value as pretty JSON with a final newline, as every `--format
/// json` output is.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| Failure::input(format!("cannot write JSON: {e}")))
}
