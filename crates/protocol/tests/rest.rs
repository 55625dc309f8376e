//! The JSON shapes of REST documents and queries that the server and the
//! browser both read, pinned: a change here is a change of the API and must
//! be deliberate (the OpenAPI document and `docs/` say the same thing).
//!
//! Queries travel as `?a=1&b=x`, but their serde shape is what both sides
//! compile against: the server deserialises them, the app serialises them
//! into query strings. Their snapshots pin field names and value forms
//! (RFC 3339 times, snake_case states).

use jiliang_protocol::accounts::{AuditParams, Role, UserListParams};
use jiliang_protocol::devices::{DeviceListParams, ReadingsParams};
use jiliang_protocol::ledger::{
    ConsistencyParams, ConsistencyView, HeadView, InclusionParams, InclusionView,
};
use jiliang_protocol::rooms::{Author, EventBody, RoomEvent};
use jiliang_protocol::sessions::{
    EventsPage, EventsParams, HelpListParams, HelpState, SessionListParams, SessionState,
};
use jiliang_protocol::timesync::ServerTime;
use serde::de::DeserializeOwned;
use time::macros::datetime;
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + n)
}

fn hex(byte: u8, len: usize) -> String {
    format!("{byte:02x}").repeat(len)
}

/// The pinned JSON reads back into the same value: the app decodes what the
/// server encodes.
fn round_trips<T: serde::Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T) {
    let json = serde_json::to_string(v).expect("serialises");
    let back: T = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(&back, v, "{json}");
}

#[test]
fn ledger_documents() {
    let head = HeadView {
        size: 42,
        timestamp_ms: 1_764_144_123_456,
        timestamp: "2025-11-26T08:02:03.456Z".into(),
        root_hash: hex(0xab, 32),
        signature: hex(0x5c, 64),
        public_key: hex(0x1d, 32),
        key_fingerprint: hex(0xfe, 32),
    };
    round_trips(&head);
    insta::assert_json_snapshot!("ledger_head", head);

    let inclusion = InclusionView {
        index: 5,
        size: 42,
        leaf_hash: hex(0x01, 32),
        proof: vec![hex(0x02, 32), hex(0x03, 32)],
    };
    round_trips(&inclusion);
    insta::assert_json_snapshot!("ledger_inclusion", inclusion);

    let consistency = ConsistencyView {
        old_size: 7,
        size: 42,
        proof: vec![hex(0x04, 32)],
    };
    round_trips(&consistency);
    insta::assert_json_snapshot!("ledger_consistency", consistency);
}

#[test]
fn ledger_queries() {
    insta::assert_json_snapshot!(
        "ledger_inclusion_params",
        InclusionParams {
            index: 5,
            size: Some(42)
        }
    );
    insta::assert_json_snapshot!(
        "ledger_consistency_params",
        ConsistencyParams {
            old_size: 7,
            size: None
        }
    );
    // `size` may be left out of the query altogether.
    let q: InclusionParams = serde_json::from_str(r#"{"index":3}"#).expect("size is optional");
    assert_eq!(q.size, None);
    let q: Result<ConsistencyParams, _> = serde_json::from_str(r#"{"size":3}"#);
    assert!(q.is_err(), "old_size is required");
}

#[test]
fn events_page() {
    let page = EventsPage {
        items: vec![RoomEvent {
            seq: 1,
            id: id(1),
            at: datetime!(2026-11-26 08:02:03.5 UTC),
            author: Some(Author {
                id: id(2),
                name: "张伟".into(),
            }),
            client_id: Some("c-7f3a".into()),
            body: EventBody::Chat {
                text: "零点已校准".into(),
            },
        }],
        next_after: Some(1),
    };
    round_trips(&page);
    insta::assert_json_snapshot!("events_page", page);
    let end = EventsPage {
        items: Vec::new(),
        next_after: None,
    };
    round_trips(&end);
    insta::assert_json_snapshot!("events_page_end", end);
}

#[test]
fn server_time() {
    let t = ServerTime {
        unix_ms: 1_764_144_123_456.25,
        utc: "2025-11-26T08:02:03.45625Z".into(),
        source: "system realtime clock (CLOCK_REALTIME, host-disciplined UTC)".into(),
    };
    round_trips(&t);
    insta::assert_json_snapshot!("server_time", t);
}

#[test]
fn list_queries() {
    let sessions = SessionListParams {
        state: Some(SessionState::Scheduled),
        from: Some(datetime!(2026-11-26 00:00 UTC)),
        to: Some(datetime!(2026-12-03 00:00 +08:00)),
        limit: Some(100),
    };
    round_trips(&sessions);
    insta::assert_json_snapshot!("session_list_params", sessions);
    round_trips(&SessionListParams::default());

    let events = EventsParams {
        after: Some(41),
        limit: Some(1000),
    };
    round_trips(&events);
    insta::assert_json_snapshot!("events_params", events);

    let devices = DeviceListParams {
        lab_id: Some(id(5)),
        limit: Some(200),
    };
    round_trips(&devices);
    insta::assert_json_snapshot!("device_list_params", devices);

    let readings = ReadingsParams {
        after: Some(10_000),
        limit: Some(1000),
    };
    round_trips(&readings);
    insta::assert_json_snapshot!("readings_params", readings);
    let old: ReadingsParams = serde_json::from_str(r#"{"after_seq": 7}"#).expect("alias");
    assert_eq!(old.after, Some(7));

    let help = HelpListParams {
        state: Some(HelpState::Open),
        limit: Some(50),
    };
    round_trips(&help);
    insta::assert_json_snapshot!("help_list_params", help);

    let users = UserListParams {
        q: Some("张".into()),
        institution_id: Some(id(3)),
        role: Some(Role::Technician),
        active: Some(true),
        limit: Some(8),
        cursor: Some(id(4)),
    };
    round_trips(&users);
    insta::assert_json_snapshot!("user_list_params", users);

    let audit = AuditParams {
        event: Some("login_failed".into()),
        user_id: Some(id(5)),
        since: Some(datetime!(2026-11-01 00:00 UTC)),
        until: None,
        limit: Some(200),
        cursor: None,
    };
    round_trips(&audit);
    insta::assert_json_snapshot!("audit_params", audit);
}

#[test]
fn list_queries_accept_absent_fields_and_refuse_bad_values() {
    // Every filter is optional: an empty query is the default listing.
    let q: SessionListParams = serde_json::from_str("{}").expect("all optional");
    assert_eq!(q, SessionListParams::default());
    let q: AuditParams = serde_json::from_str("{}").expect("all optional");
    assert_eq!(q, AuditParams::default());
    // A time that is not RFC 3339, or a state nobody knows, is refused.
    assert!(serde_json::from_str::<AuditParams>(r#"{"since":"yesterday"}"#).is_err());
    assert!(serde_json::from_str::<SessionListParams>(r#"{"state":"paused"}"#).is_err());
    assert!(serde_json::from_str::<UserListParams>(r#"{"role":"king"}"#).is_err());
}
