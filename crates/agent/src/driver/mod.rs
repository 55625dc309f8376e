//! Instrument drivers: SCPI over raw TCP or a serial port, Modbus TCP and
//! RTU, and line-based ASCII over a serial port.
//!
//! # What it guarantees
//! [`Driver::read`] returns one raw value with the wall-clock time the
//! exchange started and how long it took, or a [`Fault`] that says what
//! went wrong in words an operator can act on. It never panics and never
//! gives up: a closed connection or port is reopened on a later call, with
//! exponential backoff between attempts, and every exchange has a deadline
//! (`--device-timeout-ms`), because instruments stay silent on a query
//! they do not know.
//!
//! # SCPI
//! `*IDN?` is asked after each (re)connection. After a timeout or a reply
//! that is not a number, pending input is drained and `SYST:ERR?` is asked,
//! so the fault names the instrument's own error (`-113,"Undefined
//! header"`); if that goes unanswered too, the link may be out of step
//! with the instrument and it is reopened.

mod link;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use jiliang_protocol::devices::{DeviceFault, FaultKind, MAX_TEXT_CHARS};
use tokio::net::TcpStream;
use tokio_modbus::client::{Context as ModbusContext, Reader};
use tokio_modbus::{ExceptionCode, Slave};

use crate::config::{Instrument, ModbusSpec, Parity, SerialPort};
use crate::decode::{
    DecodeError, NumberError, ScpiError, decode_registers, extract_value, parse_scpi_error,
    parse_scpi_number,
};
use crate::util::{Backoff, clip, clip_bytes};
pub use link::{Io, Link, LinkError};

/// One exchange with the instrument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// The value as the instrument gave it (before --scale/--offset).
    pub raw: f64,
    /// Wall clock when the exchange started.
    pub started: SystemTime,
    /// How long the exchange took.
    pub exchange: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub message: String,
}

impl Fault {
    pub fn new(kind: FaultKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: clip(&message.into(), MAX_TEXT_CHARS),
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl From<Fault> for DeviceFault {
    fn from(f: Fault) -> Self {
        Self {
            kind: f.kind,
            message: f.message,
        }
    }
}

enum Conn {
    Line(Link),
    Modbus(ModbusContext),
}

/// An instrument and the connection to it.
pub struct Driver {
    instrument: Instrument,
    timeout: Duration,
    conn: Option<Conn>,
    backoff: Backoff,
    retry_at: Option<(Instant, Fault)>,
    idn: Option<String>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("instrument", &self.instrument.describe())
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

/// Quiet time that ends a drain after a fault, and the longest drain.
const DRAIN_QUIET: Duration = Duration::from_millis(50);
const DRAIN_MAX: Duration = Duration::from_millis(500);

impl Driver {
    pub fn new(instrument: Instrument, timeout: Duration) -> Self {
        Self {
            instrument,
            timeout,
            conn: None,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
            retry_at: None,
            idn: None,
        }
    }

    pub fn instrument(&self) -> &Instrument {
        &self.instrument
    }

    /// The instrument's `*IDN?` answer, once known.
    pub fn idn(&self) -> Option<&str> {
        self.idn.as_deref()
    }

    /// Read one value (connecting first if needed).
    pub async fn read(&mut self) -> Result<Sample, Fault> {
        if self.conn.is_none() {
            // Until the next attempt, the last failure stands (unchanged, so
            // it is not logged or reported again at every tick).
            if let Some((at, fault)) = &self.retry_at
                && Instant::now() < *at
            {
                return Err(fault.clone());
            }
            match self.connect().await {
                Ok(conn) => {
                    self.conn = Some(conn);
                    self.retry_at = None;
                    self.backoff.reset();
                    self.after_connect().await?;
                }
                Err(fault) => {
                    let delay = self.backoff.next_delay();
                    self.retry_at = Some((Instant::now() + delay, fault.clone()));
                    return Err(fault);
                }
            }
        }
        let result = match self.conn.as_mut() {
            Some(Conn::Line(link)) => match &self.instrument {
                Instrument::SerialAscii {
                    query,
                    pattern,
                    port,
                    ..
                } => read_ascii(link, query.as_deref(), pattern, port, self.timeout).await,
                Instrument::Scpi { query, .. } | Instrument::SerialScpi { query, .. } => {
                    read_scpi(link, query, self.timeout).await
                }
                _ => Err((
                    Fault::new(FaultKind::Io, "driver and connection disagree"),
                    true,
                )),
            },
            Some(Conn::Modbus(ctx)) => match &self.instrument {
                Instrument::ModbusTcp { spec, .. } | Instrument::ModbusRtu { spec, .. } => {
                    read_modbus(ctx, spec, self.timeout).await
                }
                _ => Err((
                    Fault::new(FaultKind::Io, "driver and connection disagree"),
                    true,
                )),
            },
            None => Err((Fault::new(FaultKind::Disconnected, "not connected"), true)),
        };
        result.map_err(|(fault, reopen)| {
            if reopen {
                self.drop_conn();
            }
            fault
        })
    }

    fn drop_conn(&mut self) {
        // Dropping the context or stream closes the socket or port.
        self.conn = None;
    }

    async fn connect(&mut self) -> Result<Conn, Fault> {
        let t = self.timeout;
        let eol = match &self.instrument {
            Instrument::Scpi { eol, .. }
            | Instrument::SerialScpi { eol, .. }
            | Instrument::SerialAscii { eol, .. } => eol.bytes(),
            _ => b"\n",
        };
        match &self.instrument {
            Instrument::Scpi { addr, .. } => {
                let s = open_tcp(addr, t).await?;
                Ok(Conn::Line(Link::new(Box::new(s), eol)))
            }
            Instrument::ModbusTcp { addr, spec } => {
                let s = open_tcp(addr, t).await?;
                Ok(Conn::Modbus(tokio_modbus::client::tcp::attach_slave(
                    s,
                    Slave(spec.unit_id),
                )))
            }
            Instrument::SerialScpi { port, .. } | Instrument::SerialAscii { port, .. } => {
                let p = open_serial(port)?;
                Ok(Conn::Line(Link::new(Box::new(p), eol)))
            }
            Instrument::ModbusRtu { port, spec } => {
                let p = open_serial(port)?;
                Ok(Conn::Modbus(tokio_modbus::client::rtu::attach_slave(
                    p,
                    Slave(spec.unit_id),
                )))
            }
        }
    }

    /// `*IDN?` for SCPI instruments. One that does not answer it is still
    /// read, as long as it answers `SYST:ERR?` (the link is then in step).
    async fn after_connect(&mut self) -> Result<(), Fault> {
        if !matches!(
            self.instrument,
            Instrument::Scpi { .. } | Instrument::SerialScpi { .. }
        ) {
            return Ok(());
        }
        let Some(Conn::Line(link)) = self.conn.as_mut() else {
            return Ok(());
        };
        match link.query("*IDN?", self.timeout).await {
            Ok(line) if !line.is_empty() => {
                let idn = clip(String::from_utf8_lossy(&line).trim(), MAX_TEXT_CHARS);
                if self.idn.as_deref() != Some(idn.as_str()) {
                    tracing::info!(idn = %idn, instrument = %self.instrument.describe(), "instrument identified");
                }
                self.idn = Some(idn);
                Ok(())
            }
            Ok(_) | Err(LinkError::Timeout(_)) => {
                let (err, in_step) = error_queue(link, self.timeout).await;
                if in_step {
                    tracing::warn!(
                        instrument = %self.instrument.describe(),
                        error = %err.map(|e| e.to_string()).unwrap_or_default(),
                        "the instrument does not answer *IDN?; reading it anyway"
                    );
                    Ok(())
                } else {
                    self.drop_conn();
                    Err(Fault::new(
                        FaultKind::Timeout,
                        format!(
                            "no reply to *IDN? or SYST:ERR? within {} ms",
                            self.timeout.as_millis()
                        ),
                    ))
                }
            }
            Err(e) => {
                self.drop_conn();
                Err(link_fault(&e, "*IDN?"))
            }
        }
    }
}

async fn open_tcp(addr: &str, timeout: Duration) -> Result<TcpStream, Fault> {
    let fault = |m: String| {
        Fault::new(
            FaultKind::Disconnected,
            format!("cannot connect to {addr}: {m}"),
        )
    };
    let connect = async {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr).await?.collect();
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address");
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    };
    let stream = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| fault(format!("no answer within {} ms", timeout.as_millis())))?
        .map_err(|e| fault(e.to_string()))?;
    // Queries are tiny; waiting to coalesce them would only add latency.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

fn open_serial(port: &SerialPort) -> Result<tokio_serial::SerialStream, Fault> {
    use tokio_serial::SerialPortBuilderExt;
    let builder = tokio_serial::new(&port.path, port.baud)
        .data_bits(if port.data_bits == 7 {
            tokio_serial::DataBits::Seven
        } else {
            tokio_serial::DataBits::Eight
        })
        .parity(match port.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        })
        .stop_bits(if port.stop_bits == 2 {
            tokio_serial::StopBits::Two
        } else {
            tokio_serial::StopBits::One
        })
        .flow_control(tokio_serial::FlowControl::None);
    builder.open_native_async().map_err(|e| {
        Fault::new(
            FaultKind::Disconnected,
            format!("cannot open serial port {}: {e}", port.path),
        )
    })
}

type ReadResult = Result<Sample, (Fault, bool)>;

fn link_fault(e: &LinkError, query: &str) -> Fault {
    match e {
        LinkError::Timeout(ms) => Fault::new(
            FaultKind::Timeout,
            format!("no reply to {query} within {ms} ms"),
        ),
        LinkError::Closed => Fault::new(
            FaultKind::Disconnected,
            "the instrument closed the connection",
        ),
        LinkError::TooLong => Fault::new(
            FaultKind::Garbage,
            format!("the reply to {query} is not a line ({e})"),
        ),
        LinkError::Io(io) => Fault::new(FaultKind::Disconnected, format!("connection lost: {io}")),
    }
}

/// Drain, then ask `SYST:ERR?`. Returns the first entry of the error queue
/// (emptying up to 8 entries so old errors do not haunt later faults) and
/// whether the link answered in step.
async fn error_queue(link: &mut Link, timeout: Duration) -> (Option<ScpiError>, bool) {
    if link.drain(DRAIN_QUIET, DRAIN_MAX).await.is_err() {
        return (None, false);
    }
    let mut first = None;
    for _ in 0..8 {
        match link.query("SYST:ERR?", timeout).await {
            Ok(line) => match parse_scpi_error(&String::from_utf8_lossy(&line)) {
                Some(e) if e.is_error() => {
                    first.get_or_insert(e);
                }
                Some(_) => return (first, true),
                None => return (first, false),
            },
            Err(_) => return (first, false),
        }
    }
    (first, true)
}

fn with_error(message: String, err: &Option<ScpiError>) -> String {
    match err {
        Some(e) => format!("{message}; the instrument reports {e}"),
        None => message,
    }
}

async fn read_scpi(link: &mut Link, query: &str, timeout: Duration) -> ReadResult {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let reply = link.query(query, timeout).await;
    let exchange = t0.elapsed();
    match reply {
        Ok(line) => {
            let text = String::from_utf8_lossy(&line);
            match parse_scpi_number(&text) {
                Ok(raw) => Ok(Sample {
                    raw,
                    started,
                    exchange,
                }),
                Err(e @ (NumberError::Overload(_) | NumberError::InstrumentNan(_))) => {
                    Err((Fault::new(FaultKind::InstrumentError, e.to_string()), false))
                }
                Err(_) => {
                    let (err, in_step) = error_queue(link, timeout).await;
                    let msg = format!(
                        "the reply to {query} is not a number: \"{}\"",
                        clip_bytes(&line, 60)
                    );
                    Err((
                        Fault::new(FaultKind::Garbage, with_error(msg, &err)),
                        !in_step,
                    ))
                }
            }
        }
        Err(LinkError::Timeout(ms)) => {
            let (err, in_step) = error_queue(link, timeout).await;
            let kind = if err.is_some() {
                FaultKind::InstrumentError
            } else {
                FaultKind::Timeout
            };
            let msg = format!("no reply to {query} within {ms} ms");
            Err((Fault::new(kind, with_error(msg, &err)), !in_step))
        }
        Err(e) => Err((link_fault(&e, query), true)),
    }
}

/// Time on the wire of one character: start bit, data bits, parity, stop
/// bits.
fn char_time(port: &SerialPort) -> Duration {
    let bits = 1
        + u32::from(port.data_bits)
        + u32::from(port.parity != Parity::None)
        + u32::from(port.stop_bits);
    Duration::from_secs_f64(f64::from(bits) / f64::from(port.baud.max(1)))
}

async fn read_ascii(
    link: &mut Link,
    query: Option<&str>,
    pattern: &regex_lite::Regex,
    port: &SerialPort,
    timeout: Duration,
) -> ReadResult {
    let fail = |e: LinkError| {
        (
            link_fault(&e, query.unwrap_or("the next line")),
            !matches!(e, LinkError::Timeout(_)),
        )
    };
    // Lines sent before this reading are stale: a reading is the first line
    // after the drain (or the reply to the query).
    let drained = link
        .drain(Duration::from_millis(1), DRAIN_MAX)
        .await
        .map_err(fail)?;
    let deadline = Instant::now() + timeout;
    let (line, started, exchange) = if let Some(q) = query {
        let started = SystemTime::now();
        let t0 = Instant::now();
        link.send(q).await.map_err(fail)?;
        let line = next_line(link, deadline, timeout).await.map_err(fail)?;
        (line, started, t0.elapsed())
    } else {
        if drained.mid_line {
            next_line(link, deadline, timeout).await.map_err(fail)?;
        }
        let line = next_line(link, deadline, timeout).await.map_err(fail)?;
        // A pushed line is timestamped by its arrival, back-dated by its
        // time on the wire.
        let wire = char_time(port).mul_f64((line.len() + 1) as f64);
        let started = SystemTime::now()
            .checked_sub(wire)
            .unwrap_or_else(SystemTime::now);
        (line, started, wire)
    };
    let text = String::from_utf8_lossy(&line);
    match extract_value(pattern, &text) {
        Ok(raw) => Ok(Sample {
            raw,
            started,
            exchange,
        }),
        Err(e @ (NumberError::Overload(_) | NumberError::InstrumentNan(_))) => {
            Err((Fault::new(FaultKind::InstrumentError, e.to_string()), false))
        }
        Err(_) => Err((
            Fault::new(
                FaultKind::Garbage,
                format!(
                    "the line \"{}\" does not match the pattern {}",
                    clip_bytes(&line, 60),
                    pattern.as_str()
                ),
            ),
            false,
        )),
    }
}

/// The next non-empty line before `deadline`.
async fn next_line(
    link: &mut Link,
    deadline: Instant,
    timeout: Duration,
) -> Result<Vec<u8>, LinkError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LinkError::Timeout(timeout.as_millis()));
        }
        let line = match link.read_line(left).await {
            Err(LinkError::Timeout(_)) => return Err(LinkError::Timeout(timeout.as_millis())),
            other => other?,
        };
        if !line.iter().all(u8::is_ascii_whitespace) {
            return Ok(line);
        }
    }
}

fn exception_text(code: ExceptionCode) -> &'static str {
    match u8::from(code) {
        0x01 => "illegal function",
        0x02 => "illegal data address",
        0x03 => "illegal data value",
        0x04 => "server device failure",
        0x05 => "acknowledge",
        0x06 => "server device busy",
        0x08 => "memory parity error",
        0x0A => "gateway path unavailable",
        0x0B => "gateway target device failed to respond",
        _ => "unknown exception",
    }
}

async fn read_modbus(ctx: &mut ModbusContext, spec: &ModbusSpec, timeout: Duration) -> ReadResult {
    let count = spec.ty.registers();
    let what = format!(
        "{} register {} (unit {})",
        if spec.function == 4 {
            "input"
        } else {
            "holding"
        },
        spec.register,
        spec.unit_id
    );
    let started = SystemTime::now();
    let t0 = Instant::now();
    let call = async {
        if spec.function == 4 {
            ctx.read_input_registers(spec.register, count).await
        } else {
            ctx.read_holding_registers(spec.register, count).await
        }
    };
    let result = tokio::time::timeout(timeout, call).await;
    let exchange = t0.elapsed();
    // A late answer would be taken for the next request's: any timeout or
    // transport problem reopens the connection.
    let regs = match result {
        Err(_) => {
            return Err((
                Fault::new(
                    FaultKind::Timeout,
                    format!("no reply reading {what} within {} ms", timeout.as_millis()),
                ),
                true,
            ));
        }
        Ok(Err(tokio_modbus::Error::Transport(e))) => {
            let kind = if e.kind() == std::io::ErrorKind::InvalidData {
                FaultKind::Garbage
            } else {
                FaultKind::Disconnected
            };
            let msg = if kind == FaultKind::Garbage {
                format!("malformed reply reading {what}: {e}")
            } else {
                format!("connection lost reading {what}: {e}")
            };
            return Err((Fault::new(kind, msg), true));
        }
        Ok(Err(tokio_modbus::Error::Protocol(e))) => {
            return Err((
                Fault::new(
                    FaultKind::Garbage,
                    format!("reply to another request reading {what}: {e}"),
                ),
                true,
            ));
        }
        Ok(Ok(Err(code))) => {
            return Err((
                Fault::new(
                    FaultKind::InstrumentError,
                    format!(
                        "Modbus exception {:02X} ({}) reading {what}",
                        u8::from(code),
                        exception_text(code)
                    ),
                ),
                false,
            ));
        }
        Ok(Ok(Ok(regs))) => regs,
    };
    match decode_registers(&regs, spec.ty, spec.word_order, spec.byte_order) {
        Ok(raw) => Ok(Sample {
            raw,
            started,
            exchange,
        }),
        Err(e @ DecodeError::NotFinite { .. }) => Err((
            Fault::new(
                FaultKind::InstrumentError,
                format!("{what}: {e} (a sensor fault?)"),
            ),
            false,
        )),
        Err(e) => Err((Fault::new(FaultKind::Garbage, format!("{what}: {e}")), true)),
    }
}
