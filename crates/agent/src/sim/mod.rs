//! `jiliang-sim`: instruments for demos and tests, so that the agent can be
//! exercised without hardware.
//!
//! - [`scpi`]: a digital multimeter speaking SCPI over raw TCP (and on a
//!   serial port or pty).
//! - [`modbus`]: a pressure transmitter in kPa speaking Modbus TCP.
//!
//! Both read a [`Signal`]: a nominal level from a schedule driven by the
//! wall clock (so two simulators started separately, a unit under test and
//! a reference, show the same nominal at the same moment), plus a fixed
//! offset error, a linear drift since start, and Gaussian noise. Both have a
//! fault mode ([`FaultMode`]) settable at start and at run time: `silent`
//! (no reply) or `garbage` (replies that are not readings).
//!
//! A simulator must never be mistaken for an instrument: its `*IDN?` and
//! its documentation say what it is.

pub mod modbus;
pub mod scpi;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Instant, SystemTime};

use jiliang_metrology::rng::Xoshiro256pp;

use crate::util::unix_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FaultMode {
    /// Answer normally.
    None,
    /// Answer nothing (a hung or disconnected instrument).
    Silent,
    /// Answer measurement queries with bytes that are not a reading.
    Garbage,
}

impl FaultMode {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Silent,
            2 => Self::Garbage,
            _ => Self::None,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Silent => 1,
            Self::Garbage => 2,
        }
    }
}

/// The simulated quantity.
#[derive(Debug, Clone, clap::Args)]
pub struct SignalArgs {
    /// Nominal levels, visited in turn (e.g. 1,5,10).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub levels: Option<Vec<f64>>,
    /// Seconds at each level. The schedule runs on the wall clock: level
    /// i = ⌊unix time / dwell⌋ mod n.
    #[arg(long, default_value_t = 60.0)]
    pub dwell_s: f64,
    /// Standard deviation of the Gaussian noise.
    #[arg(long)]
    pub noise: Option<f64>,
    /// Fixed error added to every value.
    #[arg(long, allow_negative_numbers = true)]
    pub offset: Option<f64>,
    /// Linear drift since start, per hour.
    #[arg(long, allow_negative_numbers = true)]
    pub drift_per_hour: Option<f64>,
    /// Seed of the noise generator (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Serial number reported by the instrument.
    #[arg(long, default_value = "SIM0001")]
    pub serial_number: String,
    /// Fault mode at start.
    #[arg(long, value_enum, default_value = "none")]
    pub fault: FaultMode,
}

/// Defaults that suit the simulated instrument.
#[derive(Debug, Clone, Copy)]
pub struct SignalDefaults {
    pub levels: &'static [f64],
    pub noise: f64,
    pub offset: f64,
    pub drift_per_hour: f64,
}

/// The value an instrument reads at a moment.
pub struct Signal {
    levels: Vec<f64>,
    dwell_s: f64,
    noise: f64,
    offset: f64,
    drift_per_hour: f64,
    started: Instant,
    rng: Mutex<Xoshiro256pp>,
}

impl std::fmt::Debug for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signal")
            .field("levels", &self.levels)
            .finish_non_exhaustive()
    }
}

impl Signal {
    pub fn new(args: &SignalArgs, defaults: SignalDefaults) -> Result<Self, String> {
        let levels = args
            .levels
            .clone()
            .unwrap_or_else(|| defaults.levels.to_vec());
        if levels.is_empty() || levels.iter().any(|v| !v.is_finite()) {
            return Err("--levels must be finite numbers, at least one".into());
        }
        if !(args.dwell_s.is_finite() && args.dwell_s > 0.0) {
            return Err("--dwell-s must be positive".into());
        }
        let noise = args.noise.unwrap_or(defaults.noise);
        let offset = args.offset.unwrap_or(defaults.offset);
        let drift = args.drift_per_hour.unwrap_or(defaults.drift_per_hour);
        if !(noise.is_finite() && noise >= 0.0 && offset.is_finite() && drift.is_finite()) {
            return Err("--noise must be ≥ 0; --offset and --drift-per-hour finite".into());
        }
        let seed = args.seed.unwrap_or_else(|| {
            unix_ms(SystemTime::now()).to_bits() ^ u64::from(std::process::id())
        });
        Ok(Self {
            levels,
            dwell_s: args.dwell_s,
            noise,
            offset,
            drift_per_hour: drift,
            started: Instant::now(),
            rng: Mutex::new(Xoshiro256pp::new(seed)),
        })
    }

    /// The scheduled nominal level now.
    pub fn nominal(&self) -> f64 {
        let secs = unix_ms(SystemTime::now()) / 1000.0;
        let slot = (secs / self.dwell_s).floor().max(0.0) as u64;
        self.levels[(slot % self.levels.len() as u64) as usize]
    }

    /// One reading: nominal + offset + drift + noise.
    pub fn read(&self) -> f64 {
        let hours = self.started.elapsed().as_secs_f64() / 3600.0;
        let z = self.rng.lock().unwrap_or_else(|p| p.into_inner()).normal();
        self.nominal() + self.offset + self.drift_per_hour * hours + self.noise * z
    }

    /// Random bytes for garbage replies.
    pub fn random_u64(&self) -> u64 {
        self.rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_u64()
    }
}

/// The fault mode, shared by every connection of a simulator.
#[derive(Debug, Default)]
pub struct Fault(AtomicU8);

impl Fault {
    pub fn new(mode: FaultMode) -> Self {
        Self(AtomicU8::new(mode.as_u8()))
    }

    pub fn get(&self) -> FaultMode {
        FaultMode::from_u8(self.0.load(Ordering::Relaxed))
    }

    pub fn set(&self, mode: FaultMode) {
        if self.get() != mode {
            tracing::info!(mode = ?mode, "fault mode changed");
        }
        self.0.store(mode.as_u8(), Ordering::Relaxed);
    }
}

/// Set a running SCPI simulator's fault mode (`SIM:FAULT …`), and check it
/// took (`SIM:FAULT?` is not answered in silent mode, so only the command
/// is sent for that one).
pub async fn set_scpi_fault(addr: &str, mode: FaultMode) -> Result<(), String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let word = match mode {
        FaultMode::None => "NONE",
        FaultMode::Silent => "SILENT",
        FaultMode::Garbage => "GARBAGE",
    };
    let fail = |e: std::io::Error| format!("{addr}: {e}");
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(fail)?;
    let mut io = BufReader::new(stream);
    let line = if mode == FaultMode::Silent {
        format!("SIM:FAULT {word}\n")
    } else {
        format!("SIM:FAULT {word};SIM:FAULT?\n")
    };
    io.get_mut()
        .write_all(line.as_bytes())
        .await
        .map_err(fail)?;
    if mode != FaultMode::Silent {
        let mut reply = String::new();
        tokio::time::timeout(std::time::Duration::from_secs(2), io.read_line(&mut reply))
            .await
            .map_err(|_| format!("{addr}: no reply to SIM:FAULT?"))?
            .map_err(fail)?;
        if !word.starts_with(reply.trim()) {
            return Err(format!(
                "{addr}: the simulator reports fault mode {:?}",
                reply.trim()
            ));
        }
    }
    Ok(())
}

/// Set a running Modbus simulator's fault mode (write register 100).
pub async fn set_modbus_fault(addr: &str, unit_id: u8, mode: FaultMode) -> Result<(), String> {
    use tokio_modbus::client::Writer;
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut ctx = tokio_modbus::client::tcp::attach_slave(stream, tokio_modbus::Slave(unit_id));
    let write = ctx.write_single_register(modbus::FAULT_REGISTER, u16::from(mode.as_u8()));
    match tokio::time::timeout(std::time::Duration::from_secs(2), write).await {
        Err(_) => Err(format!("{addr}: no reply")),
        Ok(Err(e)) => Err(format!("{addr}: {e}")),
        Ok(Ok(Err(code))) => Err(format!("{addr}: exception {code}")),
        Ok(Ok(Ok(()))) => Ok(()),
    }
}

/// A line of printable characters that no number parser accepts.
pub fn garbage_line(signal: &Signal) -> String {
    const CHARS: &[u8] = b"#@!?~%&*^$QWXZ<>|";
    let mut r = signal.random_u64();
    let len = 3 + (r % 12) as usize;
    (0..len)
        .map(|_| {
            r = r.rotate_left(7) ^ 0x9E37_79B9_7F4A_7C15;
            char::from(CHARS[(r % CHARS.len() as u64) as usize])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(levels: &[f64], noise: f64) -> SignalArgs {
        SignalArgs {
            levels: Some(levels.to_vec()),
            dwell_s: 3600.0,
            noise: Some(noise),
            offset: Some(0.5),
            drift_per_hour: Some(0.0),
            seed: Some(7),
            serial_number: "S".into(),
            fault: FaultMode::None,
        }
    }

    const D: SignalDefaults = SignalDefaults {
        levels: &[1.0],
        noise: 0.0,
        offset: 0.0,
        drift_per_hour: 0.0,
    };

    #[test]
    fn two_simulators_share_the_schedule_and_the_noise_is_gaussian() {
        let a = Signal::new(&args(&[1.0, 5.0, 10.0], 0.01), D).expect("valid");
        let b = Signal::new(&args(&[1.0, 5.0, 10.0], 0.0), D).expect("valid");
        assert_eq!(a.nominal(), b.nominal());
        let n = 4000;
        let xs: Vec<f64> = (0..n).map(|_| a.read() - a.nominal() - 0.5).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        assert!(mean.abs() < 0.001, "{mean}");
        assert!((sd - 0.01).abs() < 0.001, "{sd}");
        assert_eq!(b.read(), b.nominal() + 0.5);
    }

    #[test]
    fn garbage_is_never_a_number_and_bad_args_are_refused() {
        let s = Signal::new(&args(&[1.0], 0.0), D).expect("valid");
        for _ in 0..200 {
            let g = garbage_line(&s);
            assert!(crate::decode::parse_scpi_number(&g).is_err(), "{g}");
        }
        assert!(Signal::new(&args(&[], 0.0), D).is_err());
        assert!(Signal::new(&args(&[1.0], -1.0), D).is_err());
    }
}
