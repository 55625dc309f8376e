//! The workspace's other binaries as child processes: the agent and the
//! simulator, started as a lab starts them.

use std::path::PathBuf;
use std::time::Duration;

/// A binary of the workspace built next to this test binary
/// (`target/debug/…`), or the path in `env`.
pub fn workspace_bin(name: &str, env: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return p.into();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join(name);
    if !bin.exists() {
        // `cargo test -p jiliang-server` builds only the server's own
        // binaries; build the agent's (cached after the first time).
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-q", "-p", "jiliang-agent", "--bins"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building jiliang-agent failed");
    }
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

pub fn agent_bin() -> PathBuf {
    workspace_bin("jiliang-agent", "JILIANG_AGENT_BIN")
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `jiliang-sim KIND --listen 127.0.0.1:0 ARGS…`; (process, address).
pub async fn simulator(kind: &str, args: &[&str]) -> (Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(workspace_bin("jiliang-sim", "JILIANG_SIM_BIN"))
        .args([kind, "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start jiliang-sim");
    let out = child.stdout.take().expect("stdout");
    let child = Child(child);
    // It prints `jiliang-sim KIND listening on ADDR` once bound.
    let line = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(out)
                .read_line(&mut line)
                .map(|_| line)
        }),
    )
    .await
    .expect("the simulator prints its address")
    .expect("join")
    .expect("read");
    let addr = line
        .split_whitespace()
        .find(|w| w.parse::<std::net::SocketAddr>().is_ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    (child, addr)
}
