//! Fuzzing the tools' CSV reader through the commands that use it:
//! `compare` and `budget` (with and without `--correlations`) on arbitrary
//! bytes and on mutated fixture CSVs. Every run must return Ok or a
//! [`Failure`] whose message is one non-empty line — never panic nor hang.
//!
//! Default run: `cargo test -p jiliang-tools --test fuzz`; long run:
//! `JILIANG_FUZZ_CASES=1000000 cargo test -p jiliang-tools --test fuzz --release`.

// One mutator for all crates' fuzz tests, kept beside the protocol's.
#[path = "../../protocol/tests/fuzz/mutate.rs"]
mod mutate;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use clap::Parser;
use jiliang_tools::{ToolsCli, ToolsCommand};
use proptest::prelude::*;

static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| mutate::corpus(env!("CARGO_MANIFEST_DIR")));
static TOKENS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(mutate::tokens);
/// Cargo's scratch directory for integration tests (under `target/`):
/// files are overwritten case after case, and nothing is left in /tmp.
static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("jiliang-tools-fuzz");
    std::fs::create_dir_all(&dir).expect("fuzz scratch dir");
    dir
});
/// A valid budget for `--correlations` runs (the names the seed uses).
const BUDGET: &str = "name,u,U,k,distribution,half_width,c,dof\ncert,,0.5,2,normal,,1,\nrect,,,,rectangular,0.3,2,\ntypeA,0.05,,,,,1,9\n";

/// The command lines a lab runs on a results or budget file.
const RUNS: &[&[&str]] = &[
    &["compare"],
    &["compare", "--format", "json"],
    &["compare", "--method", "weighted-mean", "--exclude", "NIM"],
    &[
        "compare",
        "--method",
        "mandel-paule",
        "--en-rule",
        "jjf1117",
    ],
    &["compare", "--method", "dersimonian-laird"],
    &["compare", "--method", "algorithm-a", "--sigma-pt", "0.2"],
    &["compare", "--method", "median", "--format", "json"],
    &[
        "compare",
        "--assigned",
        "0.044",
        "--assigned-u",
        "0.0041",
        "--sigma-pt",
        "0.0066",
    ],
    &["budget"],
    &["budget", "--format", "json"],
];

/// Writes `bytes` to a file of its own (one per test thread) and returns it.
fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id());
    let path = DIR.join(format!("{name}-{}.csv", thread.replace(['(', ')'], "")));
    std::fs::write(&path, bytes).expect("write temp CSV");
    path
}

fn run(args: &[&str], input: &Path, correlations: Option<&Path>) {
    let mut argv: Vec<String> = vec!["jiliang-tools".into()];
    argv.extend(args.iter().map(|a| a.to_string()));
    argv.push("--input".into());
    argv.push(input.display().to_string());
    if let Some(c) = correlations {
        argv.push("--correlations".into());
        argv.push(c.display().to_string());
    }
    let cli = ToolsCli::try_parse_from(&argv).expect("the fuzz command lines parse");
    let ToolsCommand::Offline(command) = cli.command else {
        unreachable!("only offline commands are fuzzed")
    };
    match jiliang_tools::run(&command) {
        Ok(out) => assert!(!out.is_empty(), "{argv:?} printed nothing"),
        Err(failure) => {
            assert!(
                !failure.line.is_empty() && !failure.line.contains('\n'),
                "{argv:?}: the error is not one line: {:?}",
                failure.line
            );
            assert!(
                failure.code == 1 || failure.code == 2,
                "exit code {}",
                failure.code
            );
        }
    }
}

/// Every command on `bytes` as the input, and `bytes` as the correlations
/// of a valid budget.
fn run_all(bytes: &[u8], which: usize) {
    let input = write("input", bytes);
    // Every command on every case would be slow; a case runs two of them.
    run(RUNS[which % RUNS.len()], &input, None);
    run(RUNS[(which / RUNS.len() + 1) % RUNS.len()], &input, None);
    let budget = write("budget", BUDGET.as_bytes());
    run(&["budget"], &budget, Some(&input));
}

proptest! {
    #![proptest_config(mutate::config(1_000))]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        which in any::<usize>(),
    ) {
        run_all(&bytes, which);
    }

    /// CSV-shaped noise gets past the splitter into the column logic.
    #[test]
    fn csv_like_text_never_panics(
        text in "(lab|value|u|U|k|dof|name|c|a|b|r|distribution|half_width|normal|rectangular|[-0-9.eE,\"\n #]|NaN|inf|1e308){0,60}",
        which in any::<usize>(),
    ) {
        run_all(text.as_bytes(), which);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        (seed, ops) in mutate::mutations(SEEDS.len()),
        which in any::<usize>(),
    ) {
        let bytes = mutate::apply(&SEEDS[seed], &ops, &TOKENS);
        run_all(&bytes, which);
    }
}

#[test]
fn every_seed_runs() {
    for seed in SEEDS.iter() {
        let input = write("seed", seed);
        for args in RUNS {
            run(args, &input, None);
        }
    }
    // The seeds are real inputs: the budgets and comparisons succeed.
    let ok = |args: &[&str], file: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz-corpus")
            .join(file);
        let cli = ToolsCli::try_parse_from(
            ["jiliang-tools"]
                .iter()
                .chain(args)
                .copied()
                .chain(["--input", path.to_str().expect("UTF-8 temp path")]),
        )
        .expect("parses");
        let ToolsCommand::Offline(command) = cli.command else {
            unreachable!()
        };
        jiliang_tools::run(&command).unwrap_or_else(|f| panic!("{file}: {}", f.line));
    };
    ok(&["budget"], "budget_gum_h1.csv");
    ok(&["budget"], "budget_mixed.csv");
    ok(&["compare"], "kc_consistent.csv");
    ok(&["compare"], "kc_inconsistent.csv");
    let budget = write("budget", BUDGET.as_bytes());
    let corr = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus/correlations.csv");
    let cli = ToolsCli::try_parse_from([
        "jiliang-tools",
        "budget",
        "--input",
        budget.to_str().expect("UTF-8 temp path"),
        "--correlations",
        corr.to_str().expect("UTF-8 temp path"),
    ])
    .expect("parses");
    let ToolsCommand::Offline(command) = cli.command else {
        unreachable!()
    };
    jiliang_tools::run(&command).unwrap_or_else(|f| panic!("correlations: {}", f.line));
}

#[test]
fn big_inputs_are_answered_quickly() {
    mutate::assert_big_inputs_bounded(Duration::from_secs(5), |bytes| run_all(bytes, 0));
}
