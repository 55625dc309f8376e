//! The drivers against the in-repo simulators: readings, every fault mode
//! reported as a fault, and recovery.

use std::time::Duration;

use jiliang_agent::config::{Eol, Instrument, ModbusSpec};
use jiliang_agent::decode::{Order, RegisterType};
use jiliang_agent::driver::Driver;
use jiliang_agent::sim::FaultMode;
use jiliang_protocol::devices::FaultKind;

use crate::common::{modbus_sim, scpi_sim};

const T: Duration = Duration::from_millis(300);

fn scpi(addr: std::net::SocketAddr, query: &str) -> Driver {
    Driver::new(
        Instrument::Scpi {
            addr: addr.to_string(),
            query: query.into(),
            eol: Eol::Lf,
        },
        T,
    )
}

#[tokio::test]
async fn scpi_reads_reports_faults_and_recovers() {
    let (addr, dmm, stop) = scpi_sim(&[10.0], 0.0, 0.000_012, None).await;
    let mut d = scpi(addr, "MEAS:VOLT:DC?");
    let s = d.read().await.expect("reads");
    assert_eq!(s.raw, 10.000_012);
    assert!(s.exchange < T);
    assert_eq!(
        d.idn(),
        Some(concat!("JILIANG,SIM-DMM,T1,", env!("CARGO_PKG_VERSION")))
    );

    // An unknown query: silence, then the instrument's own error.
    let mut bad = scpi(addr, "MEAS:VOLTX?");
    let f = bad.read().await.expect_err("no reply");
    assert_eq!(f.kind, FaultKind::InstrumentError);
    assert!(f.message.contains("-113,\"Undefined header\""), "{f}");

    dmm.fault.set(FaultMode::Garbage);
    let f = d.read().await.expect_err("garbage");
    assert_eq!(f.kind, FaultKind::Garbage, "{f}");
    assert!(
        f.message
            .starts_with("the reply to MEAS:VOLT:DC? is not a number"),
        "{f}"
    );

    dmm.fault.set(FaultMode::Silent);
    let f = d.read().await.expect_err("silence");
    assert_eq!(f.kind, FaultKind::Timeout, "{f}");
    assert_eq!(f.message, "no reply to MEAS:VOLT:DC? within 300 ms");

    dmm.fault.set(FaultMode::None);
    // The silent exchange left the link out of step: the driver reopened
    // it; the next read goes through.
    let s = d.read().await.expect("recovers");
    assert_eq!(s.raw, 10.000_012);
    stop.cancel();
}

#[tokio::test]
async fn scpi_instrument_that_goes_away_and_comes_back() {
    let (addr, _dmm, stop) = scpi_sim(&[1.0], 0.0, 0.0, None).await;
    let mut d = scpi(addr, "READ?");
    d.read().await.expect("reads");
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let f = d.read().await.expect_err("gone");
    assert_eq!(f.kind, FaultKind::Disconnected, "{f}");
    let f = d.read().await.expect_err("still gone");
    assert_eq!(f.kind, FaultKind::Disconnected, "{f}");
    // Back on the same port: the driver reconnects after its backoff.
    let (_a, _dmm2, stop2) = scpi_sim(&[2.0], 0.0, 0.0, Some(addr)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match d.read().await {
            Ok(s) => {
                assert_eq!(s.raw, 2.0);
                break;
            }
            Err(f) => {
                assert_eq!(f.kind, FaultKind::Disconnected, "{f}");
                assert!(tokio::time::Instant::now() < deadline, "no reconnect: {f}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    stop2.cancel();
}

fn modbus(
    addr: std::net::SocketAddr,
    register: u16,
    ty: RegisterType,
    function: u8,
    word: Order,
    byte: Order,
) -> Driver {
    Driver::new(
        Instrument::ModbusTcp {
            addr: addr.to_string(),
            spec: ModbusSpec {
                unit_id: 1,
                register,
                ty,
                function,
                word_order: word,
                byte_order: byte,
            },
        },
        T,
    )
}

#[tokio::test]
async fn modbus_every_layout_of_the_register_map() {
    use Order::{Big, Little};
    use RegisterType::*;
    let (addr, _tx, stop) = modbus_sim(101.325).await;
    for function in [3, 4] {
        for (register, ty, word, byte, expect) in [
            (0, Float32, Big, Big, 101.325),
            (2, Float32, Little, Big, 101.325),
            (4, Float32, Big, Little, 101.325),
            (6, Float32, Little, Little, 101.325),
            (8, Int16, Big, Big, 1013.0),
            (9, Uint16, Big, Big, 10133.0),
            (10, Int32, Big, Big, 101_325.0),
            (12, Uint32, Little, Big, 101_325.0),
        ] {
            let mut d = modbus(addr, register, ty, function, word, byte);
            let s = d.read().await.expect("reads");
            assert_eq!(s.raw, expect, "fn {function} register {register}");
        }
    }
    stop.cancel();
}

#[tokio::test]
async fn modbus_exceptions_faults_and_recovery() {
    let (addr, tx, stop) = modbus_sim(200.0).await;
    let mut unmapped = modbus(addr, 15, RegisterType::Float32, 3, Order::Big, Order::Big);
    let f = unmapped.read().await.expect_err("unmapped");
    assert_eq!(f.kind, FaultKind::InstrumentError);
    assert!(
        f.message
            .starts_with("Modbus exception 02 (illegal data address)"),
        "{f}"
    );

    let mut d = modbus(addr, 0, RegisterType::Float32, 4, Order::Big, Order::Big);
    assert_eq!(d.read().await.expect("reads").raw, 200.0);
    tx.fault.set(FaultMode::Silent);
    let f = d.read().await.expect_err("silent");
    assert_eq!(f.kind, FaultKind::Timeout, "{f}");
    tx.fault.set(FaultMode::Garbage);
    let f = d.read().await.expect_err("garbage");
    assert_eq!(f.kind, FaultKind::Garbage, "{f}");
    // The fault is ended the documented way: by writing register 100.
    jiliang_agent::sim::set_modbus_fault(&addr.to_string(), 1, FaultMode::None)
        .await
        .expect("sets");
    assert_eq!(d.read().await.expect("recovers").raw, 200.0);
    stop.cancel();
}

/// The `check` contract: one line on stdout, `VALUE UNIT` and exit 0, or
/// the fault and a non-zero exit; a configuration error exits 2.
#[tokio::test]
async fn check_prints_one_line() {
    let (scpi_addr, dmm, s1) = scpi_sim(&[5.0], 0.0, 0.0, None).await;
    let (mb_addr, _tx, s2) = modbus_sim(250.0).await;
    // On a blocking thread: the simulators share this test's runtime.
    let check = |args: Vec<String>| async move {
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_jiliang-agent"))
                .arg("check")
                .args(args)
                .output()
                .expect("runs")
        })
        .await
        .expect("joins");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let a = scpi_addr.to_string();
    let m = mb_addr.to_string();
    let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        check(v(&["--scpi", &a, "--query", "MEAS:VOLT:DC?"])).await,
        (Some(0), "5 V\n".into())
    );
    assert_eq!(
        check(v(&[
            "--scpi", &a, "--query", "READ?", "--unit", "mV", "--scale", "1000"
        ]))
        .await,
        (Some(0), "5000 mV\n".into())
    );
    // A transmitter's raw value mapped to the quantity: 5 × 0.25 − 1 kPa.
    assert_eq!(
        check(v(&[
            "--scpi", &a, "--query", "READ?", "--unit", "kPa", "--scale", "0.25", "--offset", "-1"
        ]))
        .await,
        (Some(0), "0.25 kPa\n".into())
    );
    // No unit given, none inferable: only the server could say.
    assert_eq!(
        check(v(&["--modbus", &m, "--register", "0"])).await,
        (Some(0), "250 1\n".into())
    );
    assert_eq!(
        check(v(&[
            "--modbus",
            &m,
            "--register",
            "8",
            "--type",
            "int16",
            "--scale",
            "0.1",
            "--unit",
            "kPa"
        ]))
        .await,
        (Some(0), "250 kPa\n".into())
    );
    dmm.fault.set(FaultMode::Silent);
    let (code, out) = check(v(&[
        "--scpi",
        &a,
        "--query",
        "READ?",
        "--device-timeout-ms",
        "200",
    ]))
    .await;
    assert_eq!(code, Some(1));
    assert_eq!(
        out,
        "fault: timeout: no reply to *IDN? or SYST:ERR? within 200 ms\n"
    );
    let (code, out) = check(v(&["--scpi", &a])).await;
    assert_eq!((code, out.as_str()), (Some(2), ""));
    s1.cancel();
    s2.cancel();
}
