//! Serial instruments over a socat pty pair (no hardware): SCPI (served by
//! the in-repo simulator), line-based ASCII picked out by a pattern, pushed
//! or polled, and Modbus RTU against pymodbus's serial server. Skipped, with
//! a message, when socat (or, for RTU, tests/.venv) is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use jiliang_agent::config::{Eol, Instrument, ModbusSpec, Parity, SerialPort};
use jiliang_agent::decode::{DEFAULT_PATTERN, Order, RegisterType};
use jiliang_agent::driver::Driver;
use jiliang_agent::sim::FaultMode;
use jiliang_protocol::devices::FaultKind;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::common::{Child, signal, venv_python};

const T: Duration = Duration::from_millis(500);

/// A linked pair of ptys, `a` and `b`, alive while this lives.
struct PtyPair {
    a: PathBuf,
    b: PathBuf,
    _socat: Child,
    _dir: tempfile::TempDir,
}

async fn pty_pair(test: &str) -> Option<PtyPair> {
    if Command::new("socat")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        println!("SKIPPED {test}: socat is not installed (Debian: apt-get install socat)");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("ttyA"), dir.path().join("ttyB"));
    let child = Command::new("socat")
        .arg(format!("pty,raw,echo=0,link={}", a.display()))
        .arg(format!("pty,raw,echo=0,link={}", b.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts socat");
    let socat = Child(child);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !(a.exists() && b.exists()) {
        assert!(tokio::time::Instant::now() < deadline, "socat made no ptys");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Some(PtyPair {
        a,
        b,
        _socat: socat,
        _dir: dir,
    })
}

fn port(path: &Path) -> SerialPort {
    SerialPort {
        path: path.display().to_string(),
        baud: 9600,
        data_bits: 8,
        parity: Parity::None,
        stop_bits: 1,
    }
}

#[tokio::test]
async fn scpi_over_a_serial_line() {
    let Some(pair) = pty_pair("scpi_over_a_serial_line").await else {
        return;
    };
    let dmm = Arc::new(jiliang_agent::sim::scpi::Dmm::new(
        signal(&[5.0], 0.0, 0.0),
        FaultMode::None,
        "S1".into(),
    ));
    let stop = CancellationToken::new();
    tokio::spawn(jiliang_agent::sim::scpi::serve_serial(
        pair.b.display().to_string(),
        9600,
        dmm.clone(),
        stop.clone(),
    ));
    let mut d = Driver::new(
        Instrument::SerialScpi {
            port: port(&pair.a),
            query: "MEAS:VOLT?".into(),
            eol: Eol::Crlf,
        },
        T,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let s = loop {
        match d.read().await {
            Ok(s) => break s,
            // The simulator may not have opened its end yet.
            Err(f) => assert!(tokio::time::Instant::now() < deadline, "{f}"),
        }
    };
    assert_eq!(s.raw, 5.0);
    assert!(d.idn().is_some_and(|i| i.starts_with("JILIANG,SIM-DMM,S1")));
    dmm.fault.set(FaultMode::Garbage);
    assert_eq!(
        d.read().await.expect_err("garbage").kind,
        FaultKind::Garbage
    );
    dmm.fault.set(FaultMode::None);
    assert_eq!(d.read().await.expect("recovers").raw, 5.0);
    stop.cancel();
}

#[tokio::test]
async fn ascii_lines_pushed_and_polled() {
    let Some(pair) = pty_pair("ascii_lines_pushed_and_polled").await else {
        return;
    };
    use tokio_serial::SerialPortBuilderExt;
    let dev = tokio_serial::new(pair.b.display().to_string(), 9600)
        .open_native_async()
        .expect("opens ttyB");
    let (rd, mut wr) = tokio::io::split(dev);
    let stop = CancellationToken::new();
    // A balance that prints its weight ten times a second, and answers
    // `P?` with a pressure line.
    let s2 = stop.clone();
    tokio::spawn(async move {
        let mut rd = BufReader::new(rd);
        let mut n = 0u32;
        let mut line = String::new();
        loop {
            tokio::select! {
                _ = s2.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    n += 1;
                    let text = if n.is_multiple_of(7) { "ST,GS,ERR   \r\n".to_owned() } else { format!("ST,GS,+  12.{n:03} g\r\n") };
                    if wr.write_all(text.as_bytes()).await.is_err() { return; }
                }
                r = rd.read_line(&mut line) => {
                    if r.unwrap_or(0) == 0 { return; }
                    if line.trim() == "P?" && wr.write_all(b"P1: 101.3 kPa\r\n").await.is_err() { return; }
                    line.clear();
                }
            }
        }
    });
    let pattern = regex_lite::Regex::new(DEFAULT_PATTERN).expect("compiles");
    let mut pushed = Driver::new(
        Instrument::SerialAscii {
            port: port(&pair.a),
            query: None,
            pattern: pattern.clone(),
            eol: Eol::Crlf,
        },
        T,
    );
    let (mut ok, mut garbage) = (0, 0);
    for _ in 0..40 {
        if ok >= 7 && garbage >= 1 {
            break;
        }
        match pushed.read().await {
            Ok(s) => {
                assert!((12.0..13.0).contains(&s.raw), "{}", s.raw);
                ok += 1;
            }
            Err(f) if f.kind == FaultKind::Garbage => {
                assert!(f.message.contains("ST,GS,ERR"), "{f}");
                garbage += 1;
            }
            // A loaded machine may hold the printer back past the timeout.
            Err(f) => assert_eq!(f.kind, FaultKind::Timeout, "{f}"),
        }
    }
    assert!(
        ok >= 7 && garbage >= 1,
        "{ok} readings, {garbage} garbage lines"
    );
    drop(pushed);

    let mut polled = Driver::new(
        Instrument::SerialAscii {
            port: port(&pair.a),
            query: Some("P?".into()),
            pattern: regex_lite::Regex::new(r"^P1:\s*(?P<value>\S+) kPa$").expect("compiles"),
            eol: Eol::Crlf,
        },
        T,
    );
    // The balance's own lines interleave; only the reply matches.
    let mut got = None;
    for _ in 0..5 {
        if let Ok(s) = polled.read().await {
            got = Some(s.raw);
            break;
        }
    }
    assert_eq!(got, Some(101.3));
    stop.cancel();
}

#[tokio::test]
async fn modbus_rtu_against_pymodbus() {
    let Some(py) = venv_python("modbus_rtu_against_pymodbus") else {
        return;
    };
    let Some(pair) = pty_pair("modbus_rtu_against_pymodbus").await else {
        return;
    };
    let _peer = Child(
        Command::new(py)
            .arg(crate::common::peer_script("modbus_peer.py"))
            .arg("rtu")
            .arg(&pair.b)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts the peer"),
    );
    let mut d = Driver::new(
        Instrument::ModbusRtu {
            port: port(&pair.a),
            spec: ModbusSpec {
                unit_id: 1,
                register: 3,
                ty: RegisterType::Float32,
                function: 4,
                word_order: Order::Big,
                byte_order: Order::Big,
            },
        },
        T,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let s = loop {
        match d.read().await {
            Ok(s) => break s,
            // The peer takes a moment to open its end.
            Err(f) => {
                assert!(tokio::time::Instant::now() < deadline, "{f}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(s.raw, 23.5);
}
