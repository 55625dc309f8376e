//! The agent against independent implementations from PyPI (pinned in
//! tests/peers/requirements.txt, installed into tests/.venv by
//! scripts/test): pymodbus's Modbus TCP server and a SCPI server written
//! with scpipy. Skipped, with a message, when tests/.venv is missing.

use std::process::{Command, Stdio};
use std::time::Duration;

use jiliang_agent::config::{Eol, Instrument, ModbusSpec, Settings};
use jiliang_agent::decode::{Order, RegisterType};
use jiliang_agent::driver::Driver;
use jiliang_agent::runner;
use jiliang_protocol::devices::FaultKind;
use tokio_util::sync::CancellationToken;

use crate::common::{
    Child, FakeServer, fast_timing, free_port, peer_script, venv_python, wait_port, wait_until,
};

const T: Duration = Duration::from_millis(500);

fn spawn_peer(py: &std::path::Path, script: &str, args: &[&str]) -> Child {
    Child(
        Command::new(py)
            .arg(peer_script(script))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts the Python peer"),
    )
}

fn modbus(
    port: u16,
    unit_id: u8,
    register: u16,
    ty: RegisterType,
    function: u8,
    word: Order,
) -> Driver {
    Driver::new(
        Instrument::ModbusTcp {
            addr: format!("127.0.0.1:{port}"),
            spec: ModbusSpec {
                unit_id,
                register,
                ty,
                function,
                word_order: word,
                byte_order: Order::Big,
            },
        },
        T,
    )
}

/// The figures of pymodbus 3.16.1 measured in the instruments notes:
/// HR0-1 101.325 ABCD, HR2-3 the same CDAB, IR 0x1234, 0xBEEF, 7, IR3-4
/// 23.5; unmapped → exception 02; an unknown unit id → exception 04.
#[tokio::test]
async fn pymodbus_server() {
    let Some(py) = venv_python("pymodbus_server") else {
        return;
    };
    let port = free_port();
    let _peer = spawn_peer(&py, "modbus_peer.py", &["tcp", &port.to_string()]);
    wait_port(port, 20).await;
    use Order::{Big, Little};
    use RegisterType::*;
    for (register, ty, function, word, expect) in [
        (0, Float32, 3, Big, 101.325),
        (2, Float32, 3, Little, 101.325),
        (0, Uint16, 4, Big, 4660.0),
        (1, Uint16, 4, Big, 48879.0),
        (1, Int16, 4, Big, -16657.0),
        (2, Int16, 4, Big, 7.0),
        (3, Float32, 4, Big, 23.5),
    ] {
        let mut d = modbus(port, 1, register, ty, function, word);
        let s = d
            .read()
            .await
            .unwrap_or_else(|f| panic!("fn {function} register {register}: {f}"));
        assert_eq!(s.raw, expect, "fn {function} register {register}");
    }
    let f = modbus(port, 1, 40, Float32, 3, Big)
        .read()
        .await
        .expect_err("unmapped");
    assert_eq!(f.kind, FaultKind::InstrumentError);
    assert!(f.message.starts_with("Modbus exception 02"), "{f}");
    let f = modbus(port, 2, 0, Float32, 3, Big)
        .read()
        .await
        .expect_err("unknown unit");
    assert!(f.message.starts_with("Modbus exception 04"), "{f}");

    // The command line, end to end.
    let out = Command::new(env!("CARGO_BIN_EXE_jiliang-agent"))
        .args([
            "check",
            "--modbus",
            &format!("127.0.0.1:{port}"),
            "--register",
            "2",
            "--word-order",
            "little",
        ])
        .args(["--unit", "kPa"])
        .output()
        .expect("runs check");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "101.325 kPa\n");
}

fn scpi(port: u16, query: &str) -> Driver {
    Driver::new(
        Instrument::Scpi {
            addr: format!("127.0.0.1:{port}"),
            query: query.into(),
            eol: Eol::Lf,
        },
        T,
    )
}

#[tokio::test]
async fn scpipy_server() {
    let Some(py) = venv_python("scpipy_server") else {
        return;
    };
    let port = free_port();
    let _peer = spawn_peer(&py, "scpi_peer.py", &[&port.to_string()]);
    wait_port(port, 20).await;

    let mut d = scpi(port, "MEAS:VOLT:DC?");
    assert_eq!(d.read().await.expect("reads").raw, 1.2345);
    assert_eq!(d.idn(), Some("JILIANG-PEER,SCPIPY,0001,1.5.1"));
    assert_eq!(
        scpi(port, "meas:curr?").read().await.expect("reads").raw,
        -0.0025
    );
    let f = scpi(port, "READ?").read().await.expect_err("overload");
    assert_eq!(f.kind, FaultKind::InstrumentError);
    assert!(f.message.starts_with("overload"), "{f}");
    // scpipy answers an unknown header with silence and queues -110.
    let f = scpi(port, "MEAS:RES?").read().await.expect_err("unknown");
    assert_eq!(f.kind, FaultKind::InstrumentError);
    assert!(f.message.contains("-110,\"Command header error\""), "{f}");

    // The whole agent: unit inferred from the query, uploaded to a server.
    let server = FakeServer::start("V").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = Settings {
        server: Some(server.url()),
        token: Some("tok-1".into()),
        queue: Some(dir.path().to_owned()),
        scpi: Some(format!("127.0.0.1:{port}")),
        query: Some("MEASure:VOLTage:DC?".into()),
        interval_ms: Some(20),
        ..Settings::default()
    };
    let stop = CancellationToken::new();
    let agent = runner::start(
        settings.resolve().expect("valid"),
        fast_timing(),
        stop.clone(),
    )
    .expect("starts");
    wait_until(15, "readings from the scpipy peer", || server.count() >= 10).await;
    stop.cancel();
    agent.task.await.expect("joins").expect("stops cleanly");
    let stored = server.state.stored.lock().expect("lock");
    assert!(stored.values().all(|r| r.value == 1.2345 && r.unit == "V"));
    let hellos = server.state.hellos.lock().expect("lock");
    assert!(
        hellos
            .iter()
            .any(|h| h.idn.as_deref() == Some("JILIANG-PEER,SCPIPY,0001,1.5.1"))
    );
}
