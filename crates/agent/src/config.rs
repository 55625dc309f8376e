//! Configuration: flags, a TOML file with the same keys, and the checked
//! configuration the agent runs with.
//!
//! Every key of the file is a flag of the same name (`interval-ms = 100` is
//! `--interval-ms 100`); a flag given on the command line (or the token's
//! environment variable) wins over the file. [`Settings::resolve`] turns
//! the merged settings into a [`Config`] or a [`ConfigError`] that names the
//! flag to fix; nothing invalid gets past it (a bad unit, a bad regular
//! expression, two instruments at once).

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiliang_protocol::devices::{DriverKind, MAX_BATCH};
use serde::Deserialize;

use crate::decode::{DEFAULT_PATTERN, Order, RegisterType};

pub const DEFAULT_INTERVAL_MS: u64 = 1000;
pub const DEFAULT_DEVICE_TIMEOUT_MS: u64 = 2000;
pub const DEFAULT_BAUD: u32 = 9600;

/// Environment variable that may carry the token instead of `--token`
/// (keeps it out of the process list).
pub const TOKEN_ENV: &str = "JILIANG_AGENT_TOKEN";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SerialMode {
    /// SCPI queries and replies, one per line.
    Scpi,
    /// Lines of text, the value picked out by --pattern (optionally polled
    /// with --query).
    Ascii,
    /// Modbus RTU, with the Modbus keys (--unit-id, --register, --type, …).
    ModbusRtu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Parity {
    None,
    Even,
    Odd,
}

/// Line ending sent after each query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Eol {
    Lf,
    Crlf,
    Cr,
}

impl Eol {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Self::Lf => b"\n",
            Self::Crlf => b"\r\n",
            Self::Cr => b"\r",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything that can be set, by flag or in the file. All optional here:
/// defaults and requirements are applied by [`Settings::resolve`].
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Settings {
    /// Jiliang server, e.g. https://jiliang.example.cn (http/https/ws/wss).
    #[arg(long, value_name = "URL", help_heading = "Upload")]
    pub server: Option<String>,
    /// The device's agent token, shown once when the device was registered.
    #[arg(long, value_name = "TOKEN", env = TOKEN_ENV, hide_env_values = true, help_heading = "Upload")]
    pub token: Option<String>,
    /// Directory of the on-disk queue (one per device; created if missing).
    #[arg(long, value_name = "DIR", help_heading = "Upload")]
    pub queue: Option<PathBuf>,
    /// Cap on readings per batch (the server's own limit applies too).
    #[arg(long, value_name = "N", help_heading = "Upload")]
    pub max_batch: Option<u32>,

    /// Time between readings [default: 1000].
    #[arg(long, value_name = "MS", help_heading = "Reading")]
    pub interval_ms: Option<u64>,
    /// UCUM unit of the readings (V, kPa, Cel, Ohm…). SCPI: inferred from
    /// --query when absent; otherwise the server's unit for the device.
    #[arg(long, value_name = "UCUM", help_heading = "Reading")]
    pub unit: Option<String>,
    /// How long to wait for the instrument's reply [default: 2000].
    #[arg(long, value_name = "MS", help_heading = "Reading")]
    pub device_timeout_ms: Option<u64>,
    /// Multiply every raw value by this [default: 1].
    #[arg(
        long,
        value_name = "X",
        allow_negative_numbers = true,
        help_heading = "Reading"
    )]
    pub scale: Option<f64>,
    /// Add this to every value after --scale [default: 0].
    #[arg(
        long,
        value_name = "X",
        allow_negative_numbers = true,
        help_heading = "Reading"
    )]
    pub offset: Option<f64>,

    /// SCPI instrument over raw TCP (port 5025 by convention).
    #[arg(long, value_name = "HOST:PORT", help_heading = "SCPI")]
    pub scpi: Option<String>,
    /// The query that returns one reading, e.g. MEAS:VOLT:DC? or READ?
    #[arg(long, value_name = "QUERY", help_heading = "SCPI")]
    pub query: Option<String>,
    /// Line ending sent after each query [default: lf].
    #[arg(long, value_enum, help_heading = "SCPI")]
    pub eol: Option<Eol>,

    /// Modbus TCP device (port 502 by convention).
    #[arg(long, value_name = "HOST:PORT", help_heading = "Modbus")]
    pub modbus: Option<String>,
    /// Modbus unit (slave) id [default: 1].
    #[arg(long, value_name = "N", help_heading = "Modbus")]
    pub unit_id: Option<u8>,
    /// First register of the value (0-based, as sent on the wire).
    #[arg(long, value_name = "N", help_heading = "Modbus")]
    pub register: Option<u16>,
    /// How the value is stored [default: float32].
    #[arg(long = "type", value_enum, help_heading = "Modbus")]
    pub r#type: Option<RegisterType>,
    /// 3 = read holding registers, 4 = read input registers [default: 3].
    #[arg(long, value_name = "3|4", value_parser = clap::value_parser!(u8).range(3..=4), help_heading = "Modbus")]
    pub function: Option<u8>,
    /// Which register of a 32-bit value holds the high word: big = first
    /// (ABCD), little = second (CDAB) [default: big].
    #[arg(long, value_enum, help_heading = "Modbus")]
    pub word_order: Option<Order>,
    /// Byte order within each register: big as sent, little = swapped
    /// (BADC) [default: big].
    #[arg(long, value_enum, help_heading = "Modbus")]
    pub byte_order: Option<Order>,

    /// Serial port (COM3, /dev/ttyUSB0).
    #[arg(long, value_name = "PATH", help_heading = "Serial")]
    pub serial: Option<String>,
    /// [default: 9600]
    #[arg(long, value_name = "N", help_heading = "Serial")]
    pub baud: Option<u32>,
    /// What the serial instrument speaks [default: scpi].
    #[arg(long, value_enum, help_heading = "Serial")]
    pub serial_mode: Option<SerialMode>,
    /// ascii mode: regular expression picking the value out of a line (the
    /// group named `value`, else group 1) [default: the first number].
    #[arg(long, value_name = "REGEX", help_heading = "Serial")]
    pub pattern: Option<String>,
    /// 7 or 8 [default: 8].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(7..=8), help_heading = "Serial")]
    pub data_bits: Option<u8>,
    /// [default: none]
    #[arg(long, value_enum, help_heading = "Serial")]
    pub parity: Option<Parity>,
    /// 1 or 2 [default: 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=2), help_heading = "Serial")]
    pub stop_bits: Option<u8>,

    /// Log format on stderr [default: text].
    #[arg(long, value_enum, help_heading = "Logging")]
    pub log_format: Option<LogFormat>,
}

/// Fill every key the command line left unset from `file`.
macro_rules! merge {
    ($into:ident, $from:ident, $($field:ident),* $(,)?) => {
        $( if $into.$field.is_none() { $into.$field = $from.$field; } )*
    };
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

/// A serial port's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialPort {
    pub path: String,
    pub baud: u32,
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: u8,
}

#[derive(Debug, Clone)]
pub struct ModbusSpec {
    pub unit_id: u8,
    pub register: u16,
    pub ty: RegisterType,
    /// 3 or 4.
    pub function: u8,
    pub word_order: Order,
    pub byte_order: Order,
}

#[derive(Debug, Clone)]
pub enum Instrument {
    Scpi {
        addr: String,
        query: String,
        eol: Eol,
    },
    ModbusTcp {
        addr: String,
        spec: ModbusSpec,
    },
    SerialScpi {
        port: SerialPort,
        query: String,
        eol: Eol,
    },
    SerialAscii {
        port: SerialPort,
        query: Option<String>,
        pattern: regex_lite::Regex,
        eol: Eol,
    },
    ModbusRtu {
        port: SerialPort,
        spec: ModbusSpec,
    },
}

impl Instrument {
    pub fn driver_kind(&self) -> DriverKind {
        match self {
            Self::Scpi { .. } => DriverKind::Scpi,
            Self::ModbusTcp { .. } => DriverKind::Modbus,
            Self::SerialScpi { .. } | Self::SerialAscii { .. } | Self::ModbusRtu { .. } => {
                DriverKind::Serial
            }
        }
    }

    /// Where the instrument is, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Scpi { addr, .. } => format!("SCPI {addr}"),
            Self::ModbusTcp { addr, spec } => format!("Modbus TCP {addr} unit {}", spec.unit_id),
            Self::SerialScpi { port, .. } => format!("SCPI on {}", port.path),
            Self::SerialAscii { port, .. } => format!("ASCII on {}", port.path),
            Self::ModbusRtu { port, spec } => {
                format!("Modbus RTU {} unit {}", port.path, spec.unit_id)
            }
        }
    }
}

/// Where the unit of the readings comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitSource {
    /// `--unit`, checked as UCUM.
    Given(String),
    /// From the SCPI query (`MEAS:VOLT:DC?` → `V`).
    Inferred(String),
    /// The server's unit for the device (from `welcome`).
    Server,
}

impl UnitSource {
    pub fn known(&self) -> Option<&str> {
        match self {
            Self::Given(u) | Self::Inferred(u) => Some(u),
            Self::Server => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Reading {
    pub instrument: Instrument,
    pub unit: UnitSource,
    pub interval: Duration,
    pub device_timeout: Duration,
    pub scale: f64,
    pub offset: f64,
}

#[derive(Debug, Clone)]
pub struct Upload {
    /// `ws(s)://…/api/v1/agent/ws`.
    pub url: String,
    pub token: String,
    pub queue: PathBuf,
    pub max_batch: usize,
}

/// What `run` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub reading: Reading,
    pub upload: Upload,
}

impl Settings {
    /// Read a TOML file of settings.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim().to_owned(),
        })
    }

    /// `self` (the command line) over `file`.
    pub fn over(mut self, file: Settings) -> Self {
        merge!(
            self,
            file,
            server,
            token,
            queue,
            max_batch,
            interval_ms,
            unit,
            device_timeout_ms,
            scale,
            offset,
            scpi,
            query,
            eol,
            modbus,
            unit_id,
            register,
            r#type,
            function,
            word_order,
            byte_order,
            serial,
            baud,
            serial_mode,
            pattern,
            data_bits,
            parity,
            stop_bits,
            log_format,
        );
        self
    }

    /// What `check` needs: the instrument and how to read it.
    pub fn reading(&self) -> Result<Reading, ConfigError> {
        let instrument = self.instrument()?;
        let unit = match &self.unit {
            Some(u) => {
                jiliang_metrology::ucum::validate(u)
                    .map_err(|e| invalid(format!("--unit {u:?}: {e}")))?;
                UnitSource::Given(u.clone())
            }
            None => match &instrument {
                Instrument::Scpi { query, .. } | Instrument::SerialScpi { query, .. } => {
                    infer_unit(query)
                        .map_or(UnitSource::Server, |u| UnitSource::Inferred(u.to_owned()))
                }
                _ => UnitSource::Server,
            },
        };
        let interval_ms = self.interval_ms.unwrap_or(DEFAULT_INTERVAL_MS);
        if interval_ms < 10 {
            return Err(invalid("--interval-ms must be at least 10"));
        }
        let timeout_ms = self.device_timeout_ms.unwrap_or(DEFAULT_DEVICE_TIMEOUT_MS);
        if timeout_ms == 0 {
            return Err(invalid("--device-timeout-ms must be at least 1"));
        }
        let scale = self.scale.unwrap_or(1.0);
        let offset = self.offset.unwrap_or(0.0);
        if !scale.is_finite() || scale == 0.0 || !offset.is_finite() {
            return Err(invalid(
                "--scale must be a finite non-zero number and --offset finite",
            ));
        }
        Ok(Reading {
            instrument,
            unit,
            interval: Duration::from_millis(interval_ms),
            device_timeout: Duration::from_millis(timeout_ms),
            scale,
            offset,
        })
    }

    /// What `run` needs: the reading settings and the upload settings.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let reading = self.reading()?;
        let server = self
            .server
            .as_deref()
            .ok_or_else(|| invalid("--server URL is required (the Jiliang server to upload to)"))?;
        let token = self
            .token
            .clone()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| invalid(format!("--token is required (or set {TOKEN_ENV})")))?;
        let queue = self.queue.clone().ok_or_else(|| {
            invalid("--queue DIR is required (where readings wait to be uploaded)")
        })?;
        let max_batch = self.max_batch.map_or(MAX_BATCH, |n| n as usize);
        if !(1..=MAX_BATCH).contains(&max_batch) {
            return Err(invalid(format!(
                "--max-batch must be between 1 and {MAX_BATCH}"
            )));
        }
        Ok(Config {
            reading,
            upload: Upload {
                url: agent_ws_url(server)?,
                token: token.trim().to_owned(),
                queue,
                max_batch,
            },
        })
    }

    fn instrument(&self) -> Result<Instrument, ConfigError> {
        let given: Vec<&str> = [
            ("--scpi", self.scpi.is_some()),
            ("--modbus", self.modbus.is_some()),
            ("--serial", self.serial.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, on)| on.then_some(n))
        .collect();
        match given.len() {
            0 => {
                return Err(invalid(
                    "no instrument given: use --scpi HOST:PORT, --modbus HOST:PORT or --serial PATH",
                ));
            }
            1 => {}
            _ => {
                return Err(invalid(format!(
                    "give one instrument, not {}",
                    given.join(" and ")
                )));
            }
        }
        let eol = self.eol.unwrap_or(Eol::Lf);
        let mode = self.serial_mode.unwrap_or(SerialMode::Scpi);
        let uses_modbus =
            self.modbus.is_some() || (self.serial.is_some() && mode == SerialMode::ModbusRtu);
        let uses_query =
            self.scpi.is_some() || (self.serial.is_some() && mode != SerialMode::ModbusRtu);
        let misplaced = |flags: &[(&str, bool)], owner: &str| -> Result<(), ConfigError> {
            match flags.iter().find(|(_, set)| *set) {
                Some((flag, _)) => Err(invalid(format!("{flag} applies to {owner} only"))),
                None => Ok(()),
            }
        };
        if !uses_modbus {
            misplaced(
                &[
                    ("--unit-id", self.unit_id.is_some()),
                    ("--register", self.register.is_some()),
                    ("--type", self.r#type.is_some()),
                    ("--function", self.function.is_some()),
                    ("--word-order", self.word_order.is_some()),
                    ("--byte-order", self.byte_order.is_some()),
                ],
                "--modbus or --serial-mode modbus-rtu",
            )?;
        }
        if !uses_query {
            misplaced(
                &[
                    ("--query", self.query.is_some()),
                    ("--eol", self.eol.is_some()),
                ],
                "--scpi or a serial SCPI/ASCII instrument",
            )?;
        }
        if self.serial.is_none() {
            misplaced(
                &[
                    ("--baud", self.baud.is_some()),
                    ("--serial-mode", self.serial_mode.is_some()),
                    ("--data-bits", self.data_bits.is_some()),
                    ("--parity", self.parity.is_some()),
                    ("--stop-bits", self.stop_bits.is_some()),
                ],
                "--serial",
            )?;
        }
        if self.pattern.is_some() && !(self.serial.is_some() && mode == SerialMode::Ascii) {
            return Err(invalid("--pattern applies to --serial-mode ascii only"));
        }
        let query = |required: bool| -> Result<Option<String>, ConfigError> {
            match self.query.as_deref().map(str::trim) {
                Some("") => Err(invalid("--query is empty")),
                Some(q) if q.contains(['\n', '\r']) => Err(invalid("--query must be one line")),
                Some(q) => Ok(Some(q.to_owned())),
                None if required => Err(invalid(
                    "--query is required: the instrument's query for one reading, e.g. MEAS:VOLT:DC? or READ?",
                )),
                None => Ok(None),
            }
        };
        let port = || -> Result<SerialPort, ConfigError> {
            let path = self.serial.clone().unwrap_or_default();
            if path.trim().is_empty() {
                return Err(invalid("--serial PATH is empty"));
            }
            let baud = self.baud.unwrap_or(DEFAULT_BAUD);
            if baud == 0 {
                return Err(invalid("--baud must be positive"));
            }
            Ok(SerialPort {
                path,
                baud,
                data_bits: self.data_bits.unwrap_or(8),
                parity: self.parity.unwrap_or(Parity::None),
                stop_bits: self.stop_bits.unwrap_or(1),
            })
        };
        let modbus = || -> Result<ModbusSpec, ConfigError> {
            Ok(ModbusSpec {
                unit_id: self.unit_id.unwrap_or(1),
                register: self.register.ok_or_else(|| {
                    invalid("--register is required with Modbus: the first register of the value")
                })?,
                ty: self.r#type.unwrap_or(RegisterType::Float32),
                function: self.function.unwrap_or(3),
                word_order: self.word_order.unwrap_or(Order::Big),
                byte_order: self.byte_order.unwrap_or(Order::Big),
            })
        };
        if let Some(addr) = &self.scpi {
            return Ok(Instrument::Scpi {
                addr: host_port(addr, "--scpi")?,
                query: query(true)?.unwrap_or_default(),
                eol,
            });
        }
        if let Some(addr) = &self.modbus {
            let spec = modbus()?;
            check_register_range(&spec)?;
            return Ok(Instrument::ModbusTcp {
                addr: host_port(addr, "--modbus")?,
                spec,
            });
        }
        Ok(match mode {
            SerialMode::Scpi => Instrument::SerialScpi {
                port: port()?,
                query: query(true)?.unwrap_or_default(),
                eol,
            },
            SerialMode::Ascii => {
                let src = self.pattern.as_deref().unwrap_or(DEFAULT_PATTERN);
                let pattern =
                    regex_lite::Regex::new(src).map_err(|e| invalid(format!("--pattern: {e}")))?;
                Instrument::SerialAscii {
                    port: port()?,
                    query: query(false)?,
                    pattern,
                    eol,
                }
            }
            SerialMode::ModbusRtu => {
                let spec = modbus()?;
                check_register_range(&spec)?;
                Instrument::ModbusRtu {
                    port: port()?,
                    spec,
                }
            }
        })
    }

    pub fn log_format(&self) -> LogFormat {
        self.log_format.unwrap_or(LogFormat::Text)
    }
}

fn check_register_range(spec: &ModbusSpec) -> Result<(), ConfigError> {
    if u32::from(spec.register) + u32::from(spec.ty.registers()) > 65_536 {
        return Err(invalid("--register: the value runs past register 65535"));
    }
    Ok(())
}

fn host_port(addr: &str, flag: &str) -> Result<String, ConfigError> {
    let addr = addr.trim();
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(addr.to_owned())
        }
        _ => Err(invalid(format!(
            "{flag} {addr:?}: expected HOST:PORT, e.g. 192.168.1.20:5025"
        ))),
    }
}

/// `http(s)://host[:port][/prefix]` → `ws(s)://host[:port][/prefix]/api/v1/agent/ws`.
pub fn agent_ws_url(server: &str) -> Result<String, ConfigError> {
    let s = server.trim().trim_end_matches('/');
    let (scheme, rest) = s.split_once("://").ok_or_else(|| {
        invalid(format!(
            "--server {server:?}: expected a URL such as https://jiliang.example.cn"
        ))
    })?;
    let ws = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => {
            return Err(invalid(format!(
                "--server {server:?}: the scheme must be http, https, ws or wss"
            )));
        }
    };
    if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', ' ']) {
        return Err(invalid(format!(
            "--server {server:?}: expected scheme://host[:port][/path]"
        )));
    }
    Ok(format!(
        "{ws}://{rest}{}/agent/ws",
        jiliang_protocol::API_PREFIX
    ))
}

/// The unit a SCPI measurement query implies (`MEAS:VOLT:DC?` → `V`), by
/// the first node naming a measurement function, in short or long form, any
/// case. `None` when the query names none (`READ?`, `FETC?`).
pub fn infer_unit(query: &str) -> Option<&'static str> {
    const FUNCTIONS: &[(&str, &str, &str)] = &[
        ("VOLT", "VOLTAGE", "V"),
        ("CURR", "CURRENT", "A"),
        ("RES", "RESISTANCE", "Ohm"),
        ("FRES", "FRESISTANCE", "Ohm"),
        ("FREQ", "FREQUENCY", "Hz"),
        ("PER", "PERIOD", "s"),
        ("TEMP", "TEMPERATURE", "Cel"),
        ("CAP", "CAPACITANCE", "F"),
    ];
    let header = query.split_whitespace().next()?;
    header
        .trim_start_matches(':')
        .split([':', ';'])
        .map(|node| {
            node.trim_end_matches('?')
                .trim_matches(['[', ']'])
                .to_ascii_uppercase()
        })
        .find_map(|node| {
            FUNCTIONS
                .iter()
                .find(|(short, long, _)| node == *short || node == *long)
                .map(|(_, _, unit)| *unit)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    fn flags(args: &[&str]) -> Settings {
        Cli::try_parse_from(std::iter::once("agent").chain(args.iter().copied()))
            .expect("parses")
            .settings
    }

    /// The names of a struct's fields as serde sees them (what a TOML file
    /// may say), captured by a deserializer that only records them.
    fn serde_fields<T: for<'de> Deserialize<'de>>() -> Vec<&'static str> {
        struct Probe<'a>(&'a mut Vec<&'static str>);
        impl<'de> serde::Deserializer<'de> for Probe<'_> {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: serde::de::Visitor<'de>>(
                self,
                _: V,
            ) -> Result<V::Value, Self::Error> {
                Err(serde::de::Error::custom("probe"))
            }
            fn deserialize_struct<V: serde::de::Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0.extend_from_slice(fields);
                Err(serde::de::Error::custom("probe"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
                option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
                ignored_any
            }
        }
        let mut out = Vec::new();
        let _ = T::deserialize(Probe(&mut out));
        out
    }

    #[test]
    fn every_file_key_is_a_flag_and_every_flag_a_file_key() {
        let cmd = Cli::command();
        let mut longs: Vec<&str> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| *l != "help")
            .collect();
        let mut keys = serde_fields::<Settings>();
        longs.sort_unstable();
        keys.sort_unstable();
        assert_eq!(keys, longs);
        // And the merge macro names every field: a file with every key set
        // must come through a command line that sets none.
        let file: Settings = toml::from_str(
            r#"
            server = "https://jiliang.example.cn"
            token = "t"
            queue = "q"
            max-batch = 10
            interval-ms = 100
            unit = "V"
            device-timeout-ms = 500
            scale = 2.0
            offset = -0.5
            scpi = "h:1"
            query = "READ?"
            eol = "crlf"
            modbus = "h:2"
            unit-id = 7
            register = 4
            type = "int16"
            function = 4
            word-order = "little"
            byte-order = "little"
            serial = "/dev/ttyS0"
            baud = 19200
            serial-mode = "ascii"
            pattern = "x"
            data-bits = 7
            parity = "even"
            stop-bits = 2
            log-format = "json"
            "#,
        )
        .expect("every key parses");
        let merged = Settings::default().over(file.clone());
        assert_eq!(merged, file);
        assert_eq!(keys.len(), 27);
    }

    #[test]
    fn flags_override_the_file() {
        let file: Settings = toml::from_str(
            "server = \"http://a:8080\"\nscpi = \"10.0.0.5:5025\"\nquery = \"MEAS:VOLT:DC?\"\ninterval-ms = 500\n",
        )
        .expect("parses");
        let cli = flags(&[
            "--interval-ms",
            "100",
            "--offset",
            "-0.25",
            "--queue",
            "/tmp/q",
            "--token",
            "abc",
        ]);
        let s = cli.over(file);
        assert_eq!(s.interval_ms, Some(100));
        assert_eq!(s.offset, Some(-0.25));
        let c = s.resolve().expect("valid");
        assert_eq!(c.upload.url, "ws://a:8080/api/v1/agent/ws");
        assert_eq!(c.reading.interval, Duration::from_millis(100));
        assert_eq!(c.reading.unit, UnitSource::Inferred("V".into()));
        assert!(
            matches!(c.reading.instrument, Instrument::Scpi { ref query, .. } if query == "MEAS:VOLT:DC?")
        );
    }

    #[test]
    fn unknown_file_keys_and_bad_values_are_refused_with_the_key() {
        let err = toml::from_str::<Settings>("intervall-ms = 5\n").expect_err("unknown key");
        assert!(err.to_string().contains("intervall-ms"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("agent.toml");
        std::fs::write(&p, "function = \"three\"\n").expect("writes");
        let err = Settings::from_file(&p).expect_err("bad value");
        assert!(err.to_string().contains("agent.toml"), "{err}");
    }

    #[test]
    fn resolve_names_the_flag_to_fix() {
        let msg = |args: &[&str]| match flags(args).resolve() {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        };
        let base = ["--server", "https://x", "--token", "t", "--queue", "q"];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            msg(&v)
        };
        assert!(with(&[]).starts_with("no instrument given"));
        assert!(
            with(&["--scpi", "h:1", "--modbus", "h:2", "--register", "0"])
                .contains("--scpi and --modbus")
        );
        assert!(with(&["--scpi", "h:1"]).starts_with("--query is required"));
        assert!(with(&["--scpi", "h", "--query", "READ?"]).contains("HOST:PORT"));
        assert!(with(&["--modbus", "h:502"]).starts_with("--register is required"));
        assert!(
            with(&["--scpi", "h:1", "--query", "READ?", "--register", "3"])
                .starts_with("--register applies to")
        );
        assert!(
            with(&["--modbus", "h:502", "--register", "0", "--query", "x"])
                .starts_with("--query applies to")
        );
        assert!(
            with(&["--scpi", "h:1", "--query", "READ?", "--unit", "volt"])
                .contains("unknown unit `volt`")
        );
        assert!(
            with(&["--scpi", "h:1", "--query", "READ?", "--unit", "°C"])
                .contains("did you mean `Cel`")
        );
        assert!(
            with(&[
                "--serial",
                "/dev/x",
                "--serial-mode",
                "ascii",
                "--pattern",
                "("
            ])
            .starts_with("--pattern")
        );
        assert!(
            with(&["--scpi", "h:1", "--query", "READ?", "--baud", "9600"])
                .starts_with("--baud applies to --serial")
        );
        assert!(
            with(&["--scpi", "h:1", "--query", "READ?", "--interval-ms", "5"])
                .contains("at least 10")
        );
        assert_eq!(
            with(&["--serial", "/dev/x", "--serial-mode", "ascii"]),
            "ok"
        );
        assert_eq!(
            with(&[
                "--serial",
                "COM3",
                "--serial-mode",
                "modbus-rtu",
                "--register",
                "2"
            ]),
            "ok"
        );
        assert!(
            msg(&["--scpi", "h:1", "--query", "READ?"]).starts_with("--server URL is required")
        );
        assert!(
            msg(&[
                "--scpi", "h:1", "--query", "READ?", "--server", "ftp://x", "--token", "t",
                "--queue", "q"
            ])
            .contains("scheme")
        );
        assert!(Cli::try_parse_from(["agent", "--function", "5"]).is_err());
    }

    #[test]
    fn server_urls_become_the_agent_socket() {
        assert_eq!(
            agent_ws_url("http://127.0.0.1:8080").expect("ok"),
            "ws://127.0.0.1:8080/api/v1/agent/ws"
        );
        assert_eq!(
            agent_ws_url("https://jl.example.cn/").expect("ok"),
            "wss://jl.example.cn/api/v1/agent/ws"
        );
        assert_eq!(
            agent_ws_url("HTTPS://jl.example.cn/jiliang").expect("ok"),
            "wss://jl.example.cn/jiliang/api/v1/agent/ws"
        );
        assert_eq!(
            agent_ws_url("wss://h:9").expect("ok"),
            "wss://h:9/api/v1/agent/ws"
        );
        for bad in ["jl.example.cn", "http://", "http:///x", "http://h?x=1"] {
            assert!(agent_ws_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn units_are_inferred_from_scpi_measurement_queries() {
        for (q, u) in [
            ("MEAS:VOLT:DC?", Some("V")),
            ("measure:voltage:ac?", Some("V")),
            (":MEAS:CURR?", Some("A")),
            ("MEAS:RES? 100", Some("Ohm")),
            ("MEAS:FRES?", Some("Ohm")),
            ("MEASure:FREQuency?", Some("Hz")),
            ("MEAS:PER?", Some("s")),
            ("MEAS:TEMP?", Some("Cel")),
            ("CONF:CAP;:READ?", Some("F")),
            ("READ?", None),
            ("FETC?", None),
            ("MEAS:PRES?", None),
        ] {
            assert_eq!(infer_unit(q), u, "{q}");
        }
    }
}
