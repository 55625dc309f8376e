//! The `jiliang` binary as a user runs it: usage errors and failures are one
//! line on stderr with a non-zero exit; the happy paths work.

use std::path::Path;

use crate::common::cli::{jiliang, stderr};

#[path = "../fixtures/cli/golden/check.rs"]
mod golden;

#[test]
fn help_lists_the_subcommands() {
    let o = jiliang(&["--help"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for cmd in ["serve", "migrate", "seed-demo"] {
        assert!(out.contains(cmd), "{cmd} missing from --help:\n{out}");
    }
    let o = jiliang(&["serve", "--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--listen",
        "--database-url",
        "--static-dir",
        "JILIANG_LISTEN",
        "DATABASE_URL",
    ] {
        assert!(
            out.contains(flag),
            "{flag} missing from serve --help:\n{out}"
        );
    }
}

#[test]
fn a_bad_flag_is_one_line_and_exit_code_2() {
    let o = jiliang(&["serve", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--no-such-flag"), "{err}");

    let o = jiliang(&["serve", "--listen", "not-an-address"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).trim_end().lines().count(), 1);
}

#[test]
fn an_unreachable_database_is_one_line_and_exit_code_1() {
    // Port 1 on loopback: nothing listens there.
    let o = jiliang(&[
        "migrate",
        "--database-url",
        "postgres://nobody:secret@127.0.0.1:1/x",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("cannot connect to the database"), "{err}");
    assert!(!err.contains("secret"), "password leaked: {err}");

    let o = jiliang(&["serve", "--database-url", "mysql://x/y"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unsupported database URL"));
}

#[test]
fn migrate_and_seed_demo_on_a_fresh_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("nested/dir/j.db").display());
    let o = jiliang(&["migrate", "--database-url", &url]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = jiliang(&["seed-demo", "--database-url", &url]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("12 institutions created"), "{out}");
    let o = jiliang(&["seed-demo", "--database-url", &url]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("0 institutions created"));
    // What `scripts/run` does on every start: a used database is left alone.
    let o = jiliang(&["seed-demo", "--if-empty", "--database-url", &url]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("demo data left as it is"), "{out}");
    assert!(
        out.contains("expert"),
        "the demo logins are still listed: {out}"
    );
    let other = format!("sqlite://{}", dir.path().join("empty.db").display());
    let o = jiliang(&["seed-demo", "--if-empty", "--database-url", &other]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("12 institutions created"));
}

/// Every offline tool prints exactly the recorded bytes (stdout, stderr and
/// exit code): the contract `jiliang-tools` is held to as well.
#[test]
fn offline_tools_print_the_golden_outputs() {
    let dir = golden::fixture_dir(env!("CARGO_MANIFEST_DIR"), ".");
    golden::check_all(Path::new(env!("CARGO_BIN_EXE_jiliang")), &dir);
}
