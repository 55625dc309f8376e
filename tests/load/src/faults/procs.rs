//! The processes a scenario drives: `jiliang` nodes (killable with SIGKILL
//! and restarted on the same port and database), a private PostgreSQL
//! cluster and a private NATS server (so that stopping them never disturbs
//! the machine's shared services or other tests), and the instrument agent
//! with its simulator. Every child is killed and reaped when dropped.

use std::ffi::OsString;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::R;
use crate::api::Api;

/// Paths of the binaries under test.
#[derive(Clone, Debug)]
pub struct Bins {
    pub jiliang: PathBuf,
    pub agent: PathBuf,
    pub sim: PathBuf,
    /// This harness (for the link client run inside a network namespace).
    pub faults: PathBuf,
}

/// A free TCP port on the loopback (bound once and released: a node keeps
/// its port across a kill and restart, as a real node behind a fixed
/// address would).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A child killed (SIGKILL) and reaped on drop.
pub struct Proc(pub std::process::Child);

impl Proc {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn terminate(&mut self, grace: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One `jiliang serve` node on a fixed port.
pub struct Node {
    pub name: String,
    pub base: String,
    port: u16,
    bin: PathBuf,
    args: Vec<OsString>,
    log: PathBuf,
    pub proc: Option<Proc>,
}

impl Node {
    /// Starts `jiliang serve` with `args` (database, bus, …) beside
    /// `--listen`; waits until `/healthz` answers.
    pub async fn start(name: &str, bins: &Bins, dir: &Path, args: Vec<OsString>) -> R<Self> {
        let port = free_port();
        let mut node = Self {
            name: name.to_owned(),
            base: format!("http://127.0.0.1:{port}"),
            port,
            bin: bins.jiliang.clone(),
            args,
            log: dir.join(format!("{name}.log")),
            proc: None,
        };
        node.restart().await?;
        Ok(node)
    }

    pub fn api(&self) -> Api {
        Api::new(&self.base)
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Proc::pid)
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Starts the process again (same port, database, key); returns how
    /// long it took to answer `/healthz`.
    pub async fn restart(&mut self) -> R<Duration> {
        self.kill9();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let started = Instant::now();
        let child = Command::new(&self.bin)
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start {}: {e}", self.bin.display()))?;
        self.proc = Some(Proc(child));
        let api = self.api();
        while !api.healthy().await {
            if let Some(p) = self.proc.as_mut()
                && !p.alive()
            {
                return Err(format!(
                    "node {} exited at start; see {}",
                    self.name,
                    self.log.display()
                ));
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!("node {} not healthy after 60 s", self.name));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(started.elapsed())
    }

    /// The process is still running (it did not crash by itself).
    pub fn alive(&mut self) -> bool {
        self.proc.as_mut().is_some_and(Proc::alive)
    }

    /// The last lines of its log, for a failure message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// Resident memory (KiB), open files and threads of a process, from /proc.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcStats {
    pub rss_kib: u64,
    pub fds: u64,
    pub threads: u64,
}

pub fn proc_stats(pid: u32) -> Option<ProcStats> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some(ProcStats {
        rss_kib: field("VmRSS:")?,
        threads: field("Threads:")?,
        fds: std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64,
    })
}

/// `jiliang seed-demo` on a database.
pub fn seed(bins: &Bins, db: &str) -> R<()> {
    let out = Command::new(&bins.jiliang)
        .args(["seed-demo", "--database-url", db])
        .env("RUST_LOG", "warn")
        .output()
        .map_err(|e| format!("seed-demo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "seed-demo failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn run(cmd: &mut Command) -> R<()> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A PostgreSQL cluster of its own (initdb into a temporary directory, its
/// own port), owned by the `postgres` user: restarting it under load is the
/// fault, and nobody else uses it.
pub struct Postgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

impl Postgres {
    /// The server binaries of the newest PostgreSQL installed.
    fn bin_dir() -> R<PathBuf> {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|_| "PostgreSQL server binaries not found in /usr/lib/postgresql")?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("pg_ctl").exists())
            .collect();
        versions.sort();
        versions
            .pop()
            .ok_or_else(|| "no pg_ctl under /usr/lib/postgresql".into())
    }

    pub fn start(parent: &Path) -> R<Self> {
        let bin = Self::bin_dir()?;
        let dir = parent.join("pg");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir))?;
        // The parent temp dir must be traversable by the postgres user.
        run(Command::new("chmod").arg("755").arg(parent))?;
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(dir.join("data")))?;
        let pg = Self {
            dir,
            port: free_port(),
            bin,
        };
        pg.ctl("start")?;
        Ok(pg)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl start|stop|restart` (stop and restart in immediate mode: no
    /// clean shutdown, the server recovers from its WAL, as after a crash).
    pub fn ctl(&self, what: &str) -> R<()> {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-t", "60"]);
        if what != "start" {
            cmd.args(["-m", "immediate"]);
        }
        cmd.arg("-o").arg(format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        ));
        cmd.arg(what);
        run(&mut cmd)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.ctl("stop");
    }
}

/// A NATS server of its own on its own port (JetStream on, as the
/// machine's): stopping and starting it is the fault.
pub struct Nats {
    port: u16,
    store: PathBuf,
    proc: Option<Proc>,
}

impl Nats {
    fn bin() -> R<PathBuf> {
        [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| "nats-server not installed".into())
    }

    pub async fn start(parent: &Path) -> R<Self> {
        let mut n = Self {
            port: free_port(),
            store: parent.join("nats"),
            proc: None,
        };
        n.up().await?;
        Ok(n)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub async fn up(&mut self) -> R<()> {
        let child = Command::new(Self::bin()?)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("nats-server: {e}"))?;
        self.proc = Some(Proc(child));
        let until = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            if Instant::now() > until {
                return Err("nats-server did not listen".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Stops it the way an operator's `service nats-server stop` does (SIGTERM).
    pub fn down(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Duration::from_secs(5));
        }
    }
}

/// `jiliang-sim scpi` on a free port: (process, address).
pub fn simulator(bins: &Bins) -> R<(Proc, String)> {
    let mut child = Command::new(&bins.sim)
        .args(["scpi", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("jiliang-sim: {e}"))?;
    let out = child.stdout.take().ok_or("sim stdout")?;
    let proc = Proc(child);
    let mut line = String::new();
    std::io::BufReader::new(out)
        .read_line(&mut line)
        .map_err(|e| format!("sim: {e}"))?;
    let addr = line
        .split_whitespace()
        .find(|w| w.parse::<std::net::SocketAddr>().is_ok())
        .ok_or_else(|| format!("no address in {line:?}"))?
        .to_owned();
    Ok((proc, addr))
}

/// `jiliang-agent run` reading the simulator every `interval_ms`, uploading
/// to `base`, queueing in `queue`.
pub fn agent(
    bins: &Bins,
    base: &str,
    token: &str,
    instrument: &str,
    queue: &Path,
    interval_ms: u64,
) -> R<Proc> {
    Command::new(&bins.agent)
        .args(["run", "--server", base, "--queue"])
        .arg(queue)
        .args([
            "--scpi",
            instrument,
            "--query",
            "MEAS:VOLT:DC?",
            "--interval-ms",
        ])
        .arg(interval_ms.to_string())
        .env("JILIANG_AGENT_TOKEN", token)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Proc)
        .map_err(|e| format!("jiliang-agent: {e}"))
}

/// The agent's own count of readings taken (`jiliang-agent status`).
pub fn agent_taken(bins: &Bins, queue: &Path) -> R<(u64, u64)> {
    let out = Command::new(&bins.agent)
        .args(["status", "--queue"])
        .arg(queue)
        .output()
        .map_err(|e| format!("agent status: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    };
    Ok((
        field("last seq").ok_or_else(|| format!("agent status: {text}"))?,
        field("quarantined").unwrap_or(0),
    ))
}
