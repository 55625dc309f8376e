//! The JSON shapes of the comparison documents and room events, pinned (a
//! change here is a change of the wire format), and the log fold.

use jiliang_metrology::budget::CoverageRule;
use jiliang_metrology::calibration::{
    CalibrationSpec, PointStatus, RefCertificate, evaluate_point,
};
use jiliang_metrology::conformity::{Mpe, Verdict};
use jiliang_protocol::comparison::{
    ComparisonLog, ComparisonSetup, ComparisonSpec, RECORD_KIND, RecordRef,
};
use jiliang_protocol::devices::DeviceReading;
use jiliang_protocol::rooms::{
    Author, DeviceReadings, EventBody, Readings, RoomEvent, ServerFrame,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + n)
}

const T0: OffsetDateTime = datetime!(2026-11-26 08:00:00 UTC);

fn spec() -> ComparisonSpec {
    ComparisonSpec {
        uut_device_id: id(20),
        uut_name: "县所数字多用表".into(),
        uut_unit: "V".into(),
        ref_device_id: id(21),
        ref_name: "省院标准表".into(),
        ref_unit: "mV".into(),
        calibration: CalibrationSpec {
            unit: "V".into(),
            ref_factor: 0.001,
            points: vec![1.0, 10.0],
            readings_per_point: 2,
            mpe: Mpe::ReadingPlusDigits {
                reading_percent: 0.05,
                digits: 2.0,
                resolution: 0.001,
            },
            ref_certificate: RefCertificate {
                expanded: 0.0004,
                k: 2.0,
            },
            resolution: 0.001,
            coverage: CoverageRule::default(),
            dof_rounding: Default::default(),
            conformity: Default::default(),
            en_rule: Default::default(),
        },
    }
}

fn event(seq: u64, at: OffsetDateTime, body: EventBody) -> RoomEvent {
    RoomEvent {
        seq,
        id: id(100 + u128::from(seq)),
        at,
        author: Some(Author {
            id: id(2),
            name: "李明华".into(),
        }),
        client_id: None,
        body,
    }
}

fn reading(seq: u64, t: OffsetDateTime, value: f64, unit: &str) -> DeviceReading {
    DeviceReading {
        seq,
        t,
        value,
        unit: unit.into(),
        u_t: 0.002,
    }
}

fn readings(seq: u64, device: Uuid, rs: Vec<DeviceReading>) -> RoomEvent {
    let mut e = event(
        seq,
        T0 + Duration::seconds(seq as i64),
        EventBody::Readings(Readings::Device(DeviceReadings {
            device_id: device,
            batch_id: id(500 + u128::from(seq)),
            readings: rs,
        })),
    );
    e.author = None;
    e
}

/// A protocol-2 event: several devices' readings stored together.
fn merged(seq: u64, parts: Vec<(Uuid, Vec<DeviceReading>)>) -> RoomEvent {
    let mut e = event(
        seq,
        T0 + Duration::seconds(seq as i64),
        EventBody::Readings(Readings::Devices {
            devices: parts
                .into_iter()
                .enumerate()
                .map(|(i, (device_id, readings))| DeviceReadings {
                    device_id,
                    batch_id: id(600 + u128::from(seq) * 10 + i as u128),
                    readings,
                })
                .collect(),
        }),
    );
    e.author = None;
    e
}

/// The same log with the readings of events 4, 5 and 6 (both channels and
/// a device outside the comparison) stored as one protocol-2 event, after
/// a protocol-1 event of the log before it: the fold counts exactly the
/// same readings, once each, in the same order.
#[test]
fn a_merged_readings_event_folds_as_its_devices_events_did() {
    let old = full_log();
    let bodies = |e: &RoomEvent| match &e.body {
        EventBody::Readings(r) => r.parts()[0].clone(),
        other => panic!("{other:?}"),
    };
    let (uut, refs, other) = (bodies(&old[3]), bodies(&old[4]), bodies(&old[5]));
    let mut new = old[..3].to_vec();
    new.push(merged(
        4,
        vec![
            (uut.device_id, uut.readings),
            (other.device_id, other.readings),
            (refs.device_id, refs.readings),
        ],
    ));
    let mut a = ComparisonLog::new();
    for e in &old {
        a.apply(e);
    }
    let mut b = ComparisonLog::new();
    let changed: Vec<bool> = new.iter().map(|e| b.apply(e)).collect();
    assert_eq!(changed, [true, false, true, true]);
    assert_eq!(a.fold().points(), b.fold().points());
    assert_eq!(a.used_readings(), b.used_readings());
    assert_eq!(b.used_readings().len(), 4);
    assert_eq!(b.fold().points()[0].status, PointStatus::Complete);

    // Only a device outside the comparison: nothing changes.
    let mut c = b.clone();
    assert!(!c.apply(&merged(
        5,
        vec![(
            id(99),
            vec![reading(2, T0 + Duration::seconds(5), 3.0, "V")]
        )]
    )));
    assert_eq!(c, b);
}

#[test]
fn rest_documents() {
    let setup: ComparisonSetup = serde_json::from_str(
        r#"{"uut_device_id":"01930000-0000-7000-8000-000000000014",
            "ref_device_id":"01930000-0000-7000-8000-000000000015",
            "points":[1,10],"readings_per_point":10,
            "mpe":{"form":"relative","percent":0.1},
            "coverage":{"method":"fixed","k":2}}"#,
    )
    .expect("parses");
    insta::assert_json_snapshot!("comparison_setup_body", setup);
    assert!(
        serde_json::from_str::<ComparisonSetup>(
            r#"{"uut_device_id":"01930000-0000-7000-8000-000000000014",
            "ref_device_id":"01930000-0000-7000-8000-000000000015",
            "points":[1],"readings_per_point":1,"mpe":{"form":"absolute","value":1},"extra":1}"#
        )
        .is_err(),
        "unknown fields are refused"
    );

    let mut log = ComparisonLog::new();
    for e in full_log() {
        log.apply(&e);
    }
    insta::assert_json_snapshot!("comparison_view", log.view(id(9)).expect("view"));
}

fn full_log() -> Vec<RoomEvent> {
    let start = T0 + Duration::seconds(2);
    vec![
        event(
            1,
            T0,
            EventBody::ComparisonSetup {
                comparison_id: id(30),
                spec: Box::new(spec()),
            },
        ),
        // Before any point starts: not counted.
        readings(2, id(20), vec![reading(1, T0, 0.5, "V")]),
        event(
            3,
            start,
            EventBody::ComparisonPoint {
                comparison_id: id(30),
                index: 0,
                nominal: 1.0,
            },
        ),
        readings(
            4,
            id(20),
            vec![
                reading(2, start + Duration::milliseconds(100), 1.0003, "V"),
                reading(3, start + Duration::milliseconds(600), 1.0005, "V"),
            ],
        ),
        readings(
            5,
            id(21),
            vec![
                reading(7, start + Duration::milliseconds(110), 1000.01, "mV"),
                reading(8, start + Duration::milliseconds(610), 1000.03, "mV"),
                reading(9, start + Duration::milliseconds(1110), 1000.05, "mV"),
            ],
        ),
        // A device that is not part of the comparison.
        readings(6, id(99), vec![reading(1, start, 3.0, "V")]),
    ]
}

#[test]
fn room_events() {
    let log = full_log();
    insta::assert_json_snapshot!(
        "server_event_comparison_setup",
        ServerFrame::Event(log[0].clone())
    );
    insta::assert_json_snapshot!(
        "server_event_comparison_point",
        ServerFrame::Event(log[2].clone())
    );
    let mut fold = ComparisonLog::new();
    for e in &log {
        fold.apply(e);
    }
    let finished = event(
        7,
        T0 + Duration::seconds(9),
        EventBody::ComparisonFinished {
            comparison_id: id(30),
            record: RecordRef {
                kind: RECORD_KIND.into(),
                id: id(30).to_string(),
            },
            verdict: fold.fold().verdict(),
            points: fold.outcomes(),
        },
    );
    insta::assert_json_snapshot!(
        "server_event_comparison_finished",
        ServerFrame::Event(finished.clone())
    );
    let text = serde_json::to_string(&finished).expect("serialises");
    let back: RoomEvent = serde_json::from_str(&text).expect("parses");
    assert_eq!(back, finished);
}

/// The fold gives exactly what the metrology function gives for the
/// readings it counted: UUT 1.0003, 1.0005 V; reference 1000.01, 1000.03 mV
/// (the third is beyond readings_per_point) → 1.00001, 1.00003 V.
#[test]
fn the_log_fold_matches_the_metrology_function() {
    let mut log = ComparisonLog::new();
    let events = full_log();
    let changed: Vec<bool> = events.iter().map(|e| log.apply(e)).collect();
    assert_eq!(changed, [true, false, true, true, true, false]);
    let p = &log.fold().points()[0];
    assert_eq!(p.status, PointStatus::Complete);
    let want = evaluate_point(
        &spec().calibration,
        1.0,
        &[1.0003, 1.0005],
        &[1000.01 * 0.001, 1000.03 * 0.001],
    )
    .expect("evaluates");
    assert_eq!(p.result.as_ref(), Some(&want));
    let used = log.used_readings();
    assert_eq!(used.len(), 4);
    assert_eq!(used[2].unit, "mV");
    assert_eq!(used[2].device_id, id(21));
    assert_eq!((used[2].seq, used[3].seq), (7, 8));
    assert_eq!(log.fold().verdict(), None, "point 1 has not run");

    // Finished: later readings and points change nothing.
    let mut done = log.clone();
    assert!(done.apply(&event(
        7,
        T0 + Duration::seconds(9),
        EventBody::ComparisonFinished {
            comparison_id: id(30),
            record: RecordRef {
                kind: RECORD_KIND.into(),
                id: id(30).to_string()
            },
            verdict: None,
            points: log.outcomes(),
        },
    )));
    assert!(!done.apply(&event(
        8,
        T0 + Duration::seconds(10),
        EventBody::ComparisonPoint {
            comparison_id: id(30),
            index: 1,
            nominal: 10.0
        },
    )));
    let view = done.view(id(9)).expect("view");
    assert_eq!(
        view.finished.as_ref().map(|f| f.record.kind.as_str()),
        Some(RECORD_KIND)
    );
    // A new comparison may follow a finished one.
    assert!(done.apply(&event(
        9,
        T0 + Duration::seconds(11),
        EventBody::ComparisonSetup {
            comparison_id: id(31),
            spec: Box::new(spec())
        },
    )));
    assert_eq!(done.id(), Some(id(31)));
    assert!(done.finished().is_none());

    // While one runs, a setup with another id is ignored.
    let mut running = log.clone();
    assert!(!running.apply(&event(
        7,
        T0 + Duration::seconds(9),
        EventBody::ComparisonSetup {
            comparison_id: id(31),
            spec: Box::new(spec())
        },
    )));
    assert_eq!(running.id(), Some(id(30)));
}

#[test]
fn old_clients_ignore_comparison_events() {
    // What a build without these kinds sees: `Unknown` (checked with the
    // catch-all the room event uses).
    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum OldBody {
        Chat {
            #[allow(dead_code)]
            text: String,
        },
        #[serde(other)]
        Unknown,
    }
    for e in full_log() {
        let text = serde_json::to_string(&e.body).expect("serialises");
        let old: OldBody = serde_json::from_str(&text).expect("an old build parses it");
        assert_eq!(old, OldBody::Unknown);
    }
    let _ = Verdict::Pass;
}
