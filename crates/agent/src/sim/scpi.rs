//! A simulated digital multimeter speaking SCPI, one command line per
//! `\n` (a `\r` before it is ignored), over raw TCP or a serial port.
//!
//! Commands (short or long form, any case, leading `:` optional, several
//! per line joined by `;`, each taken from the root):
//!
//! | command | reply |
//! |---|---|
//! | `*IDN?` | `JILIANG,SIM-DMM,<serial number>,<version>` |
//! | `*RST`, `*CLS` | none (`*CLS` empties the error queue) |
//! | `*OPC?` | `1` |
//! | `MEASure[:SCALar]:VOLTage[:DC]? [range[,resolution]]`, `READ?`, `FETCh?` | the reading, NR3 (`+1.000012345E+00`) |
//! | `CONFigure[:SCALar]:VOLTage[:DC] [range[,resolution]]` | none |
//! | `SYSTem:ERRor[:NEXT]?` | oldest error, or `+0,"No error"` |
//! | `SIMulate:FAULt NONE\|SILent\|GARBage` | none: sets the fault mode |
//! | `SIMulate:FAULt?` | `NONE`, `SIL` or `GARB` |
//! | `SIMulate:LEVel?` | the scheduled nominal level |
//!
//! An unknown header gets no reply at all and queues `-113,"Undefined
//! header"` (as real instruments do, which is why the agent needs a
//! timeout). In `silent` mode nothing is answered (commands still act, so
//! `SIM:FAULT NONE` ends it); in `garbage` mode readings are replaced by
//! printable junk. The error queue holds 16 entries; further errors
//! replace the last with `-350,"Queue overflow"`. Every connection shares
//! one instrument (one error queue, one fault mode).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{Fault, FaultMode, Signal, garbage_line};

const ERROR_QUEUE: usize = 16;
const MAX_LINE: usize = 4096;

/// One simulated multimeter.
#[derive(Debug)]
pub struct Dmm {
    pub signal: Signal,
    pub fault: Fault,
    serial_number: String,
    errors: Mutex<VecDeque<(i32, &'static str)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Idn,
    Rst,
    Cls,
    Opc,
    Err,
    Measure,
    Configure,
    SimFault,
    SimFaultQuery,
    SimLevel,
}

/// Command table: SCPI notation (upper case = short form, `[…]` optional).
const COMMANDS: &[(&str, Cmd)] = &[
    ("*IDN?", Cmd::Idn),
    ("*RST", Cmd::Rst),
    ("*CLS", Cmd::Cls),
    ("*OPC?", Cmd::Opc),
    ("SYSTem:ERRor[:NEXT]?", Cmd::Err),
    ("MEASure[:SCALar]:VOLTage[:DC]?", Cmd::Measure),
    ("READ?", Cmd::Measure),
    ("FETCh?", Cmd::Measure),
    ("CONFigure[:SCALar]:VOLTage[:DC]", Cmd::Configure),
    ("SIMulate:FAULt", Cmd::SimFault),
    ("SIMulate:FAULt?", Cmd::SimFaultQuery),
    ("SIMulate:LEVel?", Cmd::SimLevel),
];

/// Does `header` (as sent, e.g. `meas:volt?`) match `pattern`?
fn matches(pattern: &str, header: &str) -> bool {
    let (pattern, p_query) = match pattern.strip_suffix('?') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let header = header.trim_start_matches(':');
    let (header, h_query) = match header.strip_suffix('?') {
        Some(h) => (h, true),
        None => (header, false),
    };
    if p_query != h_query {
        return false;
    }
    // Pattern nodes: (short, long, optional).
    let mut nodes = Vec::new();
    let mut rest = pattern;
    while !rest.is_empty() {
        let (optional, body, tail) = if let Some(r) = rest.strip_prefix('[') {
            match r.split_once(']') {
                Some((b, t)) => (true, b, t),
                None => return false,
            }
        } else {
            let end = rest[1..].find([':', '[']).map_or(rest.len(), |i| i + 1);
            (false, &rest[..end], &rest[end..])
        };
        let word = body.trim_start_matches(':');
        let short: String = word
            .chars()
            .take_while(|c| !c.is_ascii_lowercase())
            .collect();
        nodes.push((short, word.to_ascii_uppercase(), optional));
        rest = tail;
    }
    let words: Vec<String> = header.split(':').map(str::to_ascii_uppercase).collect();
    fn walk(nodes: &[(String, String, bool)], words: &[String]) -> bool {
        match (nodes.first(), words.first()) {
            (None, None) => true,
            (None, Some(_)) => false,
            (Some((short, long, optional)), w) => {
                let here =
                    w.is_some_and(|w| w == short || w == long) && walk(&nodes[1..], &words[1..]);
                here || (*optional && walk(&nodes[1..], words))
            }
        }
    }
    walk(&nodes, &words)
}

/// SCPI NR3: `+1.234500000E+00`.
pub fn nr3(v: f64) -> String {
    let s = format!("{v:+.9E}");
    match s.split_once('E') {
        Some((m, e)) => {
            let e: i32 = e.parse().unwrap_or(0);
            format!("{m}E{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
        }
        None => s,
    }
}

impl Dmm {
    pub fn new(signal: Signal, fault: FaultMode, serial_number: String) -> Self {
        Self {
            signal,
            fault: Fault::new(fault),
            serial_number,
            errors: Mutex::new(VecDeque::new()),
        }
    }

    fn push_error(&self, code: i32, message: &'static str) {
        let mut q = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= ERROR_QUEUE {
            if let Some(last) = q.back_mut() {
                *last = (-350, "Queue overflow");
            }
        } else {
            q.push_back((code, message));
        }
    }

    /// Handle one line; the reply to send, if any (without its `\n`).
    pub fn handle_line(&self, line: &str) -> Option<String> {
        let mut replies = Vec::new();
        for part in line.split(';') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (header, args) = match part.split_once(char::is_whitespace) {
                Some((h, a)) => (h, a.trim()),
                None => (part, ""),
            };
            let Some(cmd) = COMMANDS
                .iter()
                .find(|(p, _)| matches(p, header))
                .map(|(_, c)| *c)
            else {
                self.push_error(-113, "Undefined header");
                continue;
            };
            match cmd {
                Cmd::Idn => replies.push(format!(
                    "JILIANG,SIM-DMM,{},{}",
                    self.serial_number,
                    env!("CARGO_PKG_VERSION")
                )),
                Cmd::Rst | Cmd::Configure => {}
                Cmd::Cls => self
                    .errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear(),
                Cmd::Opc => replies.push("1".into()),
                Cmd::Err => {
                    let e = self
                        .errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .pop_front();
                    replies.push(match e {
                        Some((code, msg)) => format!("{code:+},\"{msg}\""),
                        None => "+0,\"No error\"".into(),
                    });
                }
                Cmd::Measure => {
                    replies.push(if self.fault.get() == FaultMode::Garbage {
                        garbage_line(&self.signal)
                    } else {
                        nr3(self.signal.read())
                    });
                }
                Cmd::SimFault => match args.to_ascii_uppercase().as_str() {
                    "" => self.push_error(-109, "Missing parameter"),
                    "NONE" => self.fault.set(FaultMode::None),
                    "SIL" | "SILENT" => self.fault.set(FaultMode::Silent),
                    "GARB" | "GARBAGE" => self.fault.set(FaultMode::Garbage),
                    _ => self.push_error(-224, "Illegal parameter value"),
                },
                Cmd::SimFaultQuery => replies.push(
                    match self.fault.get() {
                        FaultMode::None => "NONE",
                        FaultMode::Silent => "SIL",
                        FaultMode::Garbage => "GARB",
                    }
                    .into(),
                ),
                Cmd::SimLevel => replies.push(nr3(self.signal.nominal())),
            }
        }
        if replies.is_empty() || self.fault.get() == FaultMode::Silent {
            None
        } else {
            Some(replies.join(";"))
        }
    }

    /// Serve one connection (or port) until it closes.
    pub async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
    ) -> std::io::Result<()> {
        let mut io = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut io)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .await?;
            if n == 0 {
                return Ok(());
            }
            // A line without its end: the stream ended mid-line (handle
            // what came) or it is endless (drop it, as an input overrun).
            if line.last() != Some(&b'\n') && line.len() > MAX_LINE {
                self.push_error(-363, "Input buffer overrun");
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            if let Some(reply) = self.handle_line(text.trim_end_matches(['\r', '\n'])) {
                let w = io.get_mut();
                w.write_all(reply.as_bytes()).await?;
                w.write_all(b"\n").await?;
                w.flush().await?;
            }
        }
    }
}

/// Accept connections until `stop`; each is served on its own task.
pub async fn serve_tcp(listener: TcpListener, dmm: Arc<Dmm>, stop: CancellationToken) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let dmm = dmm.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            tracing::debug!(%peer, "client connected");
            tokio::select! {
                _ = stop.cancelled() => {}
                r = dmm.serve_stream(stream) => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "client connection ended");
                    }
                }
            }
        });
    }
}

/// Serve on a serial port (or one end of a pty pair) until `stop`,
/// reopening it if it goes away.
pub async fn serve_serial(path: String, baud: u32, dmm: Arc<Dmm>, stop: CancellationToken) {
    use tokio_serial::SerialPortBuilderExt;
    loop {
        match tokio_serial::new(&path, baud).open_native_async() {
            Ok(port) => {
                tracing::info!(%path, "serving SCPI on the serial port");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    r = dmm.serve_stream(port) => {
                        if let Err(e) = r {
                            tracing::warn!(%path, error = %e, "serial port failed; reopening");
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(%path, error = %e, "cannot open the serial port; retrying"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{SignalArgs, SignalDefaults};

    fn dmm() -> Dmm {
        let args = SignalArgs {
            levels: Some(vec![10.0]),
            dwell_s: 60.0,
            noise: Some(0.0),
            offset: Some(0.000_012),
            drift_per_hour: Some(0.0),
            seed: Some(1),
            serial_number: "SN9".into(),
            fault: FaultMode::None,
        };
        let d = SignalDefaults {
            levels: &[1.0],
            noise: 0.0,
            offset: 0.0,
            drift_per_hour: 0.0,
        };
        Dmm::new(
            Signal::new(&args, d).expect("valid"),
            FaultMode::None,
            "SN9".into(),
        )
    }

    #[test]
    fn headers_match_in_short_and_long_form_any_case() {
        let p = "MEASure[:SCALar]:VOLTage[:DC]?";
        for h in [
            "MEAS:VOLT:DC?",
            "meas:volt?",
            "MEASURE:VOLTAGE:DC?",
            ":Meas:Scal:Volt:Dc?",
            "MEAS:SCAL:VOLT?",
        ] {
            assert!(matches(p, h), "{h}");
        }
        for h in [
            "MEAS:VOLT:DC",
            "MEA:VOLT?",
            "MEAS:CURR?",
            "MEAS:VOLT:AC?",
            "MEAS:VOLTS?",
            "MEAS:DC?",
        ] {
            assert!(!matches(p, h), "{h}");
        }
        assert!(matches("SYSTem:ERRor[:NEXT]?", "syst:err:next?"));
        assert!(matches("*IDN?", "*idn?"));
        assert!(!matches("*RST", "*RST?"));
    }

    #[test]
    fn replies_errors_and_faults() {
        let d = dmm();
        assert_eq!(
            d.handle_line("*IDN?").as_deref(),
            Some(concat!("JILIANG,SIM-DMM,SN9,", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(
            d.handle_line("MEAS:VOLT:DC? 10,0.001").as_deref(),
            Some("+1.000001200E+01")
        );
        assert_eq!(
            d.handle_line("*OPC?;read?").as_deref(),
            Some("1;+1.000001200E+01")
        );
        assert_eq!(d.handle_line("MEAS:VOLTX?"), None);
        assert_eq!(d.handle_line("SIM:FAULT PURPLE"), None);
        assert_eq!(
            d.handle_line("SYST:ERR?").as_deref(),
            Some("-113,\"Undefined header\"")
        );
        assert_eq!(
            d.handle_line("SYST:ERR?").as_deref(),
            Some("-224,\"Illegal parameter value\"")
        );
        assert_eq!(
            d.handle_line("SYST:ERR?").as_deref(),
            Some("+0,\"No error\"")
        );
        assert_eq!(d.handle_line("SIM:FAULT GARB"), None);
        let g = d.handle_line("READ?").expect("a reply");
        assert!(crate::decode::parse_scpi_number(&g).is_err(), "{g}");
        assert_eq!(d.handle_line("sim:fault silent"), None);
        assert_eq!(d.handle_line("*IDN?"), None);
        assert_eq!(d.handle_line("SIM:FAULT?"), None);
        assert_eq!(d.handle_line("SIMulate:FAULt NONE"), None);
        assert_eq!(d.handle_line("SIM:FAULT?").as_deref(), Some("NONE"));
        for _ in 0..20 {
            d.handle_line("BOGUS");
        }
        let mut codes = Vec::new();
        while let Some(r) = d.handle_line("SYST:ERR?").filter(|r| !r.starts_with("+0")) {
            codes.push(r);
        }
        assert_eq!(codes.len(), ERROR_QUEUE);
        assert_eq!(
            codes.last().map(String::as_str),
            Some("-350,\"Queue overflow\"")
        );
    }

    #[test]
    fn nr3_format() {
        assert_eq!(nr3(1.2345), "+1.234500000E+00");
        assert_eq!(nr3(-0.000_125), "-1.250000000E-04");
        assert_eq!(nr3(101.325), "+1.013250000E+02");
        assert_eq!(nr3(0.0), "+0.000000000E+00");
        assert_eq!(
            crate::decode::parse_scpi_number(&nr3(9.87654321e-7)),
            Ok(9.87654321e-7)
        );
    }
}
