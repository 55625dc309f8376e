//! The JSON shapes of the device documents and the agent socket protocol,
//! pinned: a change here is a change of the wire format, and must be
//! deliberate (update `docs/AGENT.md` and, if incompatible,
//! `AGENT_PROTOCOL_VERSION`).

use jiliang_protocol::devices::{
    AgentError, AgentFrame, AgentHello, AgentServerFrame, AgentStatus, AttachDevice, BatchAck,
    ClockState, Device, DeviceCreated, DeviceFault, DeviceReading, DeviceToken, DriverKind,
    FaultKind, ManualReading, ManualReadings, ManualStored, NewDevice, ReadingsBatch, ReadingsPage,
    ReferenceCert, UpdateDevice, Welcome,
};
use jiliang_protocol::timesync::{TimePing, TimePong};
use time::macros::{date, datetime};
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + n)
}

fn reading(seq: u64, value: f64) -> DeviceReading {
    DeviceReading {
        seq,
        t: datetime!(2026-11-26 08:02:03.123456 UTC),
        value,
        unit: "V".into(),
        u_t: 0.0021,
    }
}

fn cert() -> ReferenceCert {
    ReferenceCert {
        certificate_no: "ZJJL-2026-0412".into(),
        issuer: Some("浙江省计量科学研究院".into()),
        expanded_uncertainty: 0.000012,
        k: 2.0,
        unit: Some("V".into()),
        valid_until: Some(date!(2027 - 03 - 31)),
    }
}

#[test]
fn agent_frames() {
    insta::assert_json_snapshot!(
        "agent_hello",
        AgentFrame::Hello(AgentHello {
            protocol: 1,
            agent: "jiliang-agent/0.1.0".into(),
            driver: DriverKind::Scpi,
            idn: Some("JILIANG,SIM-DMM,SN0001,1.0".into()),
        })
    );
    insta::assert_json_snapshot!(
        "agent_ping",
        AgentFrame::Ping(TimePing {
            id: 3,
            t0: 1_764_144_123_000.5
        })
    );
    insta::assert_json_snapshot!(
        "agent_readings",
        AgentFrame::Readings(ReadingsBatch {
            readings: vec![reading(41, 10.000_012), reading(42, -0.5e-6)],
        })
    );
    insta::assert_json_snapshot!(
        "agent_status",
        AgentFrame::Status(AgentStatus {
            queue_depth: 12,
            last_reading_age_s: Some(0.1),
            clock: Some(ClockState {
                offset_ms: -3.25,
                u_ms: 1.5
            }),
            fault: Some(DeviceFault {
                kind: FaultKind::InstrumentError,
                message:
                    "no reply to MEAS:VOLT:DC? within 2000 ms; SYST:ERR? -113,\"Undefined header\""
                        .into(),
            }),
            quarantined: 1,
        })
    );
    insta::assert_json_snapshot!(
        "agent_status_idle",
        AgentFrame::Status(AgentStatus {
            queue_depth: 0,
            last_reading_age_s: None,
            clock: None,
            fault: None,
            quarantined: 0,
        })
    );
}

#[test]
fn server_frames() {
    insta::assert_json_snapshot!(
        "server_welcome",
        AgentServerFrame::Welcome(Welcome {
            device_id: id(7),
            lab_id: id(3),
            name: "6½ 位数字多用表".into(),
            quantity: "voltage".into(),
            unit: "V".into(),
            last_seq: 40,
            max_batch: 1000,
            future_tolerance_s: 10.0,
            past_tolerance_s: 2_592_000.0,
        })
    );
    insta::assert_json_snapshot!(
        "server_pong",
        AgentServerFrame::Pong(TimePong {
            id: 3,
            t0: 1_764_144_123_000.5,
            t1: 1_764_144_123_020.25,
            t2: 1_764_144_123_020.5
        })
    );
    insta::assert_json_snapshot!(
        "server_ack",
        AgentServerFrame::Ack(BatchAck {
            through: 42,
            stored: 1,
            duplicates: 1
        })
    );
    insta::assert_json_snapshot!(
        "server_error",
        AgentServerFrame::Error(AgentError {
            code: "invalid_input".into(),
            message: "reading seq 42: unit `mV` differs from the device's unit `V`".into(),
            seq: Some(42),
        })
    );
}

#[test]
fn rest_documents() {
    insta::assert_json_snapshot!(
        "new_device",
        NewDevice {
            lab_id: id(3),
            name: "标准数字多用表".into(),
            kind: "digital multimeter".into(),
            quantity: "voltage".into(),
            unit: "V".into(),
            resolution: Some(1e-6),
            reference: Some(cert()),
        }
    );
    let device = Device {
        id: id(7),
        lab_id: id(3),
        name: "压力变送器".into(),
        kind: "pressure transmitter".into(),
        quantity: "pressure".into(),
        unit: "kPa".into(),
        resolution: None,
        reference: None,
        created_at: datetime!(2026-11-26 07:00 UTC),
        token_revoked_at: None,
        last_seq: 0,
        session_id: None,
        agent_connected_at: None,
    };
    insta::assert_json_snapshot!(
        "device_created",
        DeviceCreated {
            device,
            token: "jla_3q2f0xk1".into(),
        }
    );
    insta::assert_json_snapshot!(
        "device_attached",
        Device {
            id: id(8),
            lab_id: id(3),
            name: "标准数字多用表".into(),
            kind: "digital multimeter".into(),
            quantity: "voltage".into(),
            unit: "V".into(),
            resolution: Some(1e-6),
            reference: Some(cert()),
            created_at: datetime!(2026-11-26 07:00 UTC),
            token_revoked_at: Some(datetime!(2026-11-27 09:30 UTC)),
            last_seq: 4211,
            session_id: Some(id(9)),
            agent_connected_at: Some(datetime!(2026-11-26 07:05:00.5 UTC)),
        }
    );
    insta::assert_json_snapshot!(
        "device_token",
        DeviceToken {
            device_id: id(7),
            token: "jla_3q2f0xk1".into(),
        }
    );
    insta::assert_json_snapshot!(
        "update_device",
        UpdateDevice {
            name: Some("压力变送器 2 号".into()),
            resolution: Some(Some(0.01)),
            reference: Some(None),
            ..UpdateDevice::default()
        }
    );
    insta::assert_json_snapshot!(
        "manual_readings",
        ManualReadings {
            key: "m-01931f2a".into(),
            readings: vec![
                ManualReading {
                    value: 100.02,
                    unit: "g".into(),
                    t: Some(datetime!(2026-11-26 08:02:03.5 UTC)),
                    u_t: Some(0.8),
                },
                ManualReading {
                    value: 200.01,
                    unit: "g".into(),
                    t: None,
                    u_t: None,
                },
            ],
        }
    );
    insta::assert_json_snapshot!(
        "manual_stored",
        ManualStored {
            batch_id: id(11),
            duplicate: false,
            readings: vec![reading(5, 1.0)],
        }
    );
    insta::assert_json_snapshot!("attach_device", AttachDevice { device_id: id(7) });
    insta::assert_json_snapshot!(
        "readings_page",
        ReadingsPage {
            items: vec![reading(1, 1.0), reading(2, 1.000_001)],
            next_after: Some(2),
        }
    );
    insta::assert_json_snapshot!(
        "readings_page_end",
        ReadingsPage {
            items: vec![],
            next_after: None,
        }
    );
}

#[test]
fn documents_round_trip() {
    let frames = [
        AgentFrame::Readings(ReadingsBatch {
            readings: vec![reading(1, 1.25)],
        }),
        AgentFrame::Hello(AgentHello {
            protocol: 1,
            agent: "x".into(),
            driver: DriverKind::Serial,
            idn: None,
        }),
    ];
    for f in frames {
        let json = serde_json::to_string(&f).expect("serialises");
        assert_eq!(
            serde_json::from_str::<AgentFrame>(&json).expect("parses"),
            f
        );
    }
    let created: DeviceCreated = serde_json::from_str(
        r#"{"id":"01930000-0000-7000-8000-000000000007","token":"t","lab_id":"01930000-0000-7000-8000-000000000003",
            "name":"n","kind":"k","quantity":"q","unit":"Pa","created_at":"2026-11-26T07:00:00Z",
            "token_revoked_at":null,"last_seq":5}"#,
    )
    .expect("flattened document parses");
    assert_eq!(created.device.id, id(7));
    assert_eq!(created.token, "t");
}

#[test]
fn updates_tell_absent_from_null() {
    let u: UpdateDevice = serde_json::from_str(r#"{"resolution":null}"#).expect("parses");
    assert_eq!(u.resolution, Some(None));
    assert_eq!(u.reference, None);
    let u: UpdateDevice = serde_json::from_str(r#"{"name":"x","resolution":0.5}"#).expect("parses");
    assert_eq!(u.resolution, Some(Some(0.5)));
    assert!(serde_json::from_str::<UpdateDevice>(r#"{"colour":"red"}"#).is_err());
    let m: ManualReading = serde_json::from_str(r#"{"value":"NaN","unit":"g"}"#)
        .expect("a non-finite value parses, to be refused by the server with a reason");
    assert!(m.value.is_nan());
}
