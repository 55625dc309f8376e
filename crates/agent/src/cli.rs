//! The two command lines, `jiliang-agent` and `jiliang-sim`; the binaries
//! only call [`agent_main`] and [`sim_main`].
//!
//! Exit codes: 0 success (and a clean stop on SIGINT/SIGTERM/Ctrl-C), 1 a
//! fault or a fatal error at run time, 2 a configuration error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, LogFormat, Settings};
use crate::sim::{self, FaultMode, Signal, SignalArgs, SignalDefaults};

#[derive(Debug, Parser)]
#[command(
    name = "jiliang-agent",
    version,
    about = "Jiliang instrument agent: reads an instrument (SCPI, Modbus, serial), keeps every reading on disk \
             and uploads it to the Jiliang server exactly once",
    after_help = "Every flag can also be a key of the --config file (same name, e.g. interval-ms = 100); \
                  flags win. See docs/AGENT.md."
)]
pub struct AgentCli {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Read the instrument every --interval-ms and upload every reading, until stopped (Ctrl-C, SIGTERM).
    Run(WithConfig),
    /// Read the instrument once and print `VALUE UNIT`; on a fault print it on one line and exit 1.
    Check(WithConfig),
    /// Show what a queue directory holds (also while an agent runs).
    Status {
        /// The queue directory.
        #[arg(long, value_name = "DIR")]
        queue: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct WithConfig {
    /// TOML file whose keys are the flags' names (flags given here win).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Settings,
}

impl WithConfig {
    fn merged(self) -> Result<Settings, ConfigError> {
        Ok(match &self.config {
            Some(path) => self.settings.over(Settings::from_file(path)?),
            None => self.settings,
        })
    }
}

/// Logs go to stderr; `RUST_LOG` overrides `default`.
pub fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: a service's log file gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    // One thread is plenty for one instrument and one socket; file I/O goes
    // to tokio's blocking pool.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Resolves on Ctrl-C, SIGINT or SIGTERM.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

pub fn agent_main() -> ExitCode {
    let cli = AgentCli::parse();
    match cli.command {
        AgentCommand::Run(w) => {
            let settings = match w.merged() {
                Ok(s) => s,
                Err(e) => return config_error(&e),
            };
            init_logging(settings.log_format(), "info");
            let config = match settings.resolve() {
                Ok(c) => c,
                Err(e) => return config_error(&e),
            };
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let result = rt.block_on(async {
                let shutdown = CancellationToken::new();
                let trigger = shutdown.clone();
                tokio::spawn(async move {
                    stop_signal().await;
                    tracing::info!("stopping");
                    trigger.cancel();
                });
                crate::runner::run(config, shutdown).await
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "agent stopped");
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        AgentCommand::Check(w) => {
            let settings = match w.merged() {
                Ok(s) => s,
                Err(e) => return config_error(&e),
            };
            // stdout carries exactly one line; only errors go to stderr.
            init_logging(settings.log_format(), "error");
            let reading = match settings.reading() {
                Ok(r) => r,
                Err(e) => return config_error(&e),
            };
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    println!("fault: io: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(crate::runner::check(&reading)) {
                Ok((value, unit)) => {
                    println!("{value} {unit}");
                    ExitCode::SUCCESS
                }
                Err(fault) => {
                    println!("fault: {fault}");
                    ExitCode::FAILURE
                }
            }
        }
        AgentCommand::Status { queue } => match crate::queue::inspect(&queue) {
            Ok(s) => {
                println!("queue        {}", queue.display());
                match (s.device_id, &s.device_unit) {
                    (Some(id), Some(u)) => println!("device       {id} (unit {u})"),
                    (Some(id), None) => println!("device       {id}"),
                    _ => println!("device       not bound yet (no welcome from a server so far)"),
                }
                println!("last seq     {}", s.last_seq);
                println!("waiting      {} readings not yet acknowledged", s.depth);
                println!("segments     {}", s.segments);
                println!(
                    "quarantined  {}{}",
                    s.quarantined,
                    if s.quarantined > 0 {
                        " (refused by the server: see quarantine.jsonl)"
                    } else {
                        ""
                    }
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "jiliang-sim",
    version,
    about = "Simulated instruments for Jiliang demos and tests: a SCPI multimeter and a Modbus TCP pressure \
             transmitter, with noise, drift and fault modes. Not an instrument.",
    after_help = "See docs/AGENT.md for the SCPI commands and the Modbus register map."
)]
pub struct SimCli {
    #[command(subcommand)]
    pub command: SimCommand,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// A digital multimeter (DC volts) speaking SCPI over raw TCP and/or a serial port.
    Scpi {
        /// Address to listen on, e.g. 127.0.0.1:5025 (port 0: any free port).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Serve on this serial port (or one end of a socat pty pair) too.
        #[arg(long, value_name = "PATH")]
        serial: Option<String>,
        /// Baud rate of --serial.
        #[arg(long, default_value_t = 9600)]
        baud: u32,
        #[command(flatten)]
        signal: SignalArgs,
    },
    /// A pressure transmitter (kPa) speaking Modbus TCP.
    Modbus {
        /// Address to listen on, e.g. 127.0.0.1:5020 (port 0: any free port).
        #[arg(long, value_name = "ADDR")]
        listen: String,
        /// Unit id it answers to (0 and 255 are always answered too).
        #[arg(long, default_value_t = 1)]
        unit_id: u8,
        #[command(flatten)]
        signal: SignalArgs,
    },
    /// Set the fault mode of a running simulator.
    Fault {
        /// The SCPI simulator at HOST:PORT.
        #[arg(
            long,
            value_name = "HOST:PORT",
            conflicts_with = "modbus",
            required_unless_present = "modbus"
        )]
        scpi: Option<String>,
        /// The Modbus simulator at HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        modbus: Option<String>,
        /// Unit id of the Modbus simulator.
        #[arg(long, default_value_t = 1)]
        unit_id: u8,
        #[arg(value_enum)]
        mode: FaultMode,
    },
}

pub const DMM_DEFAULTS: SignalDefaults = SignalDefaults {
    levels: &[1.0, 5.0, 10.0],
    noise: 5e-6,
    offset: 2e-5,
    drift_per_hour: 1e-5,
};

pub const TRANSMITTER_DEFAULTS: SignalDefaults = SignalDefaults {
    levels: &[100.0, 200.0, 300.0],
    noise: 0.02,
    offset: 0.15,
    drift_per_hour: 0.05,
};

pub fn sim_main() -> ExitCode {
    let cli = SimCli::parse();
    init_logging(LogFormat::Text, "info");
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run_sim(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run_sim(command: SimCommand) -> Result<(), String> {
    let stop = CancellationToken::new();
    match command {
        SimCommand::Scpi {
            listen,
            serial,
            baud,
            signal,
        } => {
            if listen.is_none() && serial.is_none() {
                return Err("give --listen ADDR and/or --serial PATH".into());
            }
            let dmm = Arc::new(sim::scpi::Dmm::new(
                Signal::new(&signal, DMM_DEFAULTS)?,
                signal.fault,
                signal.serial_number.clone(),
            ));
            let mut tasks = Vec::new();
            if let Some(addr) = listen {
                let listener = tokio::net::TcpListener::bind(&addr)
                    .await
                    .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
                let local = listener.local_addr().map_err(|e| e.to_string())?;
                println!("jiliang-sim scpi listening on {local}");
                tasks.push(tokio::spawn(sim::scpi::serve_tcp(
                    listener,
                    dmm.clone(),
                    stop.clone(),
                )));
            }
            if let Some(path) = serial {
                println!("jiliang-sim scpi serving {path}");
                tasks.push(tokio::spawn(sim::scpi::serve_serial(
                    path,
                    baud,
                    dmm.clone(),
                    stop.clone(),
                )));
            }
            stop_signal().await;
            stop.cancel();
            for t in tasks {
                let _ = t.await;
            }
            Ok(())
        }
        SimCommand::Modbus {
            listen,
            unit_id,
            signal,
        } => {
            let tx = Arc::new(sim::modbus::Transmitter::new(
                Signal::new(&signal, TRANSMITTER_DEFAULTS)?,
                signal.fault,
                unit_id,
                signal.serial_number.clone(),
            ));
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            println!("jiliang-sim modbus listening on {local}");
            let task = tokio::spawn(sim::modbus::serve_tcp(listener, tx, stop.clone()));
            stop_signal().await;
            stop.cancel();
            let _ = task.await;
            Ok(())
        }
        SimCommand::Fault {
            scpi,
            modbus,
            unit_id,
            mode,
        } => {
            if let Some(addr) = scpi {
                sim::set_scpi_fault(&addr, mode).await
            } else if let Some(addr) = modbus {
                sim::set_modbus_fault(&addr, unit_id, mode).await
            } else {
                Err("give --scpi or --modbus".into())
            }
        }
    }
}
