//! Fault injection for Jiliang (issue 15): each scenario drives load
//! through the real binaries, injects a fault, lets everything recover by
//! itself, then checks that no acknowledged event was lost, none stored
//! twice, order held, and the server stayed up (or came back). Each prints
//! one line with its figure. Also the soak (memory, files, threads, tasks
//! flat under churn). Driven by `tests/faults/run.sh`; see
//! docs/RELIABILITY.md for the scenarios and the figures.

mod api;
mod chat;
mod link;
mod load;
mod procs;
mod scenarios;
mod soak;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

/// Errors of the harness: one line saying what went wrong.
pub type R<T> = Result<T, String>;

#[derive(Parser)]
#[command(
    name = "jiliang-faults",
    about = "Fault injection and soak for Jiliang"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args, Clone)]
struct BinArgs {
    /// Directory holding jiliang, jiliang-agent and jiliang-sim.
    #[arg(long, default_value = "target/debug")]
    bins: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run fault scenarios (default all): kill9, pg, nats, node, link.
    Run {
        #[command(flatten)]
        bins: BinArgs,
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Soak: chat with joins and leaves plus instrument streams; asserts
    /// memory, open files, threads and tasks stay flat.
    Soak {
        #[command(flatten)]
        bins: BinArgs,
        #[arg(long, default_value_t = 120)]
        seconds: u64,
        #[arg(long, default_value_t = 5)]
        sample_s: u64,
        /// Print a table row this often (0: summary only).
        #[arg(long, default_value_t = 0)]
        print_s: u64,
        #[arg(long, default_value_t = 20)]
        rooms: usize,
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        #[arg(long, default_value_t = 2)]
        churners: usize,
        #[arg(long, default_value_t = 2)]
        agents: usize,
        #[arg(long, default_value_t = 100)]
        agent_interval_ms: u64,
    },
    /// The client of the bad-link scenario (run inside its namespace).
    LinkClient {
        #[arg(long)]
        base: String,
        #[arg(long)]
        session: String,
        #[arg(long)]
        login: String,
        #[arg(long)]
        seconds: u64,
        #[arg(long)]
        interval_ms: u64,
    },
}

fn bins(b: &BinArgs) -> R<procs::Bins> {
    let dir = std::fs::canonicalize(&b.bins).map_err(|e| format!("{}: {e}", b.bins.display()))?;
    let bins = procs::Bins {
        jiliang: dir.join("jiliang"),
        agent: dir.join("jiliang-agent"),
        sim: dir.join("jiliang-sim"),
        faults: std::env::current_exe().map_err(|e| e.to_string())?,
    };
    for p in [&bins.jiliang, &bins.agent, &bins.sim] {
        if !p.exists() {
            return Err(format!("{} is missing (build it first)", p.display()));
        }
    }
    Ok(bins)
}

/// A scenario's working directory (logs, databases), kept when it fails.
fn workdir(name: &str) -> R<PathBuf> {
    let d = std::env::temp_dir().join(format!("jiliang-faults-{}/{name}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    Ok(d)
}

async fn scenario<F: std::future::Future<Output = R<String>>>(
    name: &str,
    limit: Duration,
    dir: PathBuf,
    f: F,
) -> bool {
    let t = Instant::now();
    let outcome = match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(format!("did not finish within {limit:?}")),
    };
    match outcome {
        Ok(figure) => {
            println!(
                "FAULT {name:<6} ok ({:.0} s): {figure}",
                t.elapsed().as_secs_f64()
            );
            let _ = std::fs::remove_dir_all(&dir);
            // The run's directory, once no failed scenario keeps logs in it.
            if let Some(run) = dir.parent() {
                let _ = std::fs::remove_dir(run);
            }
            true
        }
        Err(e) => {
            println!(
                "FAULT {name:<6} FAILED ({:.0} s): {e} [logs in {}]",
                t.elapsed().as_secs_f64(),
                dir.display()
            );
            false
        }
    }
}

async fn main_async(cli: Cli) -> R<bool> {
    match cli.command {
        Cmd::Run { bins: b, only } => {
            let bins = bins(&b)?;
            let want = |n: &str| only.is_empty() || only.iter().any(|o| o == n);
            let limit = Duration::from_secs(180);
            let mut ok = true;
            for name in ["kill9", "pg", "nats", "node", "link"] {
                if !want(name) {
                    continue;
                }
                let dir = workdir(name)?;
                let d = dir.clone();
                ok &= match name {
                    "kill9" => scenario(name, limit, dir, scenarios::kill9(&bins, &d)).await,
                    "pg" => scenario(name, limit, dir, scenarios::pg_restart(&bins, &d)).await,
                    "nats" => scenario(name, limit, dir, scenarios::nats_restart(&bins, &d)).await,
                    "node" => scenario(name, limit, dir, scenarios::node_kill(&bins, &d)).await,
                    _ => {
                        scenario(
                            name,
                            limit,
                            dir,
                            link::bad_link(&bins, &d, 300, 5, "300kbit"),
                        )
                        .await
                    }
                };
            }
            Ok(ok)
        }
        Cmd::Soak {
            bins: b,
            seconds,
            sample_s,
            print_s,
            rooms,
            interval_ms,
            churners,
            agents,
            agent_interval_ms,
        } => {
            let bins = bins(&b)?;
            let dir = workdir("soak")?;
            let args = soak::SoakArgs {
                seconds,
                sample_every: Duration::from_secs(sample_s.max(1)),
                print_every: Duration::from_secs(print_s),
                rooms: rooms.max(1),
                interval: Duration::from_millis(interval_ms.max(10)),
                churners_per_room: churners,
                agents,
                agent_interval_ms,
            };
            let limit = Duration::from_secs(seconds + 300);
            let d = dir.clone();
            Ok(scenario("soak", limit, dir, soak::soak(&bins, &d, args)).await)
        }
        Cmd::LinkClient {
            base,
            session,
            login,
            seconds,
            interval_ms,
        } => link::link_client(&base, &session, &login, seconds, interval_ms)
            .await
            .map(|()| true),
    }
}

fn main() {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    match rt.block_on(main_async(cli)) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
