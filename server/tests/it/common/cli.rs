//! The `jiliang` binary run as a user runs it, and the checks every CLI test
//! shares: outputs as text, JSON on success, and the "one line on stderr
//! with this exit code" rule for failures.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `jiliang` with no database or listen address from the environment,
/// so a developer's shell settings cannot change what a test sees.
pub fn jiliang(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jiliang"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("JILIANG_LISTEN")
        .env("RUST_LOG", "off")
        .output()
        .expect("run jiliang")
}

/// A file under `server/tests/fixtures/cli/`.
pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cli")
        .join(name)
        .display()
        .to_string()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs with `--format json`, expects success with nothing on stderr, and
/// parses stdout.
#[track_caller]
pub fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let o = jiliang(&all);
    assert!(
        o.status.success(),
        "{args:?} failed: {}\n{}",
        stderr(&o),
        stdout(&o)
    );
    assert!(o.stderr.is_empty(), "stderr on success: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("stdout is JSON")
}

/// The keys of a JSON object.
#[track_caller]
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("expected an object, got {v}"))
        .keys()
        .cloned()
        .collect()
}

/// Exit code `code`, exactly one line on stderr containing every needle.
#[track_caller]
pub fn one_line(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stderr: {err} stdout: {}",
        stdout(o)
    );
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    for n in needles {
        assert!(err.contains(n), "{n:?} missing from {err:?}");
    }
}

/// A temporary input file that lives as long as the value.
pub struct Temp {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Temp {
    pub fn new(name: &str, content: &[u8]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        Self { _dir: dir, path }
    }

    pub fn p(&self) -> String {
        self.path.display().to_string()
    }
}
