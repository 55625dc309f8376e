//! `jiliang-tools` as an auditor builds and runs it, without the server: it
//! prints what `jiliang` prints for every golden case, carries the offline
//! subcommands and only those, and its dependency tree holds none of the
//! server's stack.

use std::path::Path;
use std::process::{Command, Output};

#[path = "../../../server/tests/fixtures/cli/golden/check.rs"]
mod golden;

fn tools(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jiliang-tools"))
        .args(args)
        .output()
        .expect("run jiliang-tools")
}

#[test]
fn prints_the_same_golden_outputs_as_jiliang() {
    let dir = golden::fixture_dir(env!("CARGO_MANIFEST_DIR"), "../../server");
    golden::check_all(Path::new(env!("CARGO_BIN_EXE_jiliang-tools")), &dir);
}

#[test]
fn carries_the_offline_subcommands_only() {
    let o = tools(&["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    let listed: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        listed,
        [
            "compare",
            "budget",
            "conformity",
            "ledger",
            "verify",
            "help"
        ],
        "{help}"
    );
    let o = tools(&["verify", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("--public-key") && !help.contains("--database-url"));

    // Usage errors are one line naming this binary, exit 2.
    for args in [&["serve"][..], &["verify"], &["compare", "--bogus"]] {
        let o = tools(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains("(see `jiliang-tools --help`)"), "{err}");
    }
}

/// The point of the crate: building it never builds the server's stack.
#[test]
fn depends_on_none_of_the_server_stack() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let o = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--prefix", "none", "--format", "{p}"])
        .args([
            "-e",
            "normal,build,dev",
            "-p",
            "jiliang-tools",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("run cargo tree");
    let tree = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"jiliang-metrology"), "{tree}");
    assert!(crates.contains(&"jiliang-ledger"), "{tree}");
    for server_only in [
        "axum",
        "sqlx",
        "tokio",
        "async-nats",
        "hyper",
        "tower",
        "jiliang-server",
    ] {
        assert!(
            !crates.contains(&server_only),
            "jiliang-tools depends on {server_only}:\n{tree}"
        );
    }
}
