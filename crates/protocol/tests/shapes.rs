//! The JSON shapes of the room protocol, pinned: a change here is a change
//! of the wire format, and must be deliberate (update `docs/protocol.md`
//! and, if incompatible, `PROTOCOL_VERSION`).

use jiliang_protocol::ErrorBody;
use jiliang_protocol::accounts::Role;
use jiliang_protocol::devices::{AgentStatus, ClockState, DeviceFault, DeviceReading, FaultKind};
use jiliang_protocol::rooms::{
    Author, ClientFrame, DeviceReadings, Ephemeral, EphemeralBody, EventBody, IceCandidate,
    IceServer, IceTransportPolicy, LinkQuality, LinkReport, MediaIce, MediaMode, MediaPublisher,
    MediaSource, MediaTrackState, PublishedTrack, Readings, RoomEvent, ServerFrame, Snapshot,
};
use jiliang_protocol::sessions::{Participant, SessionInfo, SessionKind, SessionLab, SessionState};
use jiliang_protocol::timesync::{TimePing, TimePong};
use time::macros::datetime;
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + n)
}

fn author() -> Author {
    Author {
        id: id(1),
        name: "张伟".into(),
    }
}

#[test]
fn client_frames() {
    insta::assert_json_snapshot!(
        "client_join",
        ClientFrame::Join {
            protocol: 2,
            last_seq: 41,
            lang: None
        }
    );
    insta::assert_json_snapshot!(
        "client_join_lang",
        ClientFrame::Join {
            protocol: 2,
            last_seq: 41,
            lang: Some("en".into())
        }
    );
    insta::assert_json_snapshot!(
        "client_chat",
        ClientFrame::Chat {
            client_id: "c-7f3a".into(),
            text: "零点已校准".into()
        }
    );
    insta::assert_json_snapshot!("client_typing", ClientFrame::Typing);
    insta::assert_json_snapshot!(
        "client_ping",
        ClientFrame::Ping(TimePing {
            id: 3,
            t0: 1_764_000_000_123.5
        })
    );
    insta::assert_json_snapshot!("client_ack", ClientFrame::Ack { seq: 42 });
}

#[test]
fn server_frames() {
    let session = SessionInfo {
        id: id(9),
        kind: SessionKind::Scheduled,
        title: "电子天平远程检定".into(),
        description: String::new(),
        state: SessionState::Live,
        scheduled_start: datetime!(2026-11-26 08:00 UTC),
        duration_minutes: 60,
        host_id: id(2),
        host_name: "李明华".into(),
        labs: vec![SessionLab {
            id: id(3),
            name_zh: "秦安县计量检定所".into(),
            name_en: None,
        }],
        started_at: Some(datetime!(2026-11-26 08:01 UTC)),
        ended_at: None,
        last_seq: 42,
        help_request_id: None,
    };
    let snapshot = Snapshot {
        protocol: 2,
        session,
        participants: vec![Participant {
            user_id: id(1),
            display_name: "张伟".into(),
            roles: vec![Role::Technician],
            institution_id: id(3),
            institution_name: "秦安县计量检定所".into(),
            host: false,
            online: true,
        }],
        last_seq: 42,
        you: id(1),
        server_time_ms: 1_764_144_060_000.25,
        media: vec![MediaPublisher {
            user_id: id(1),
            tracks: vec![PublishedTrack {
                source: MediaSource::Camera,
                muted: false,
            }],
            link: None,
        }],
        ice: ice(),
        recording: None,
    };
    // A snapshot without `media` and `ice` (from a server before them)
    // still parses: no publishers, host candidates only.
    let mut old = serde_json::to_value(&snapshot).expect("json");
    old.as_object_mut().expect("object").remove("media");
    old.as_object_mut().expect("object").remove("ice");
    let parsed: Snapshot = serde_json::from_value(old).expect("parses");
    assert!(parsed.media.is_empty());
    assert_eq!(parsed.ice, MediaIce::default());
    assert_eq!(parsed.ice.ice_transport_policy, IceTransportPolicy::All);
    insta::assert_json_snapshot!("server_snapshot", ServerFrame::Snapshot(snapshot));
    insta::assert_json_snapshot!(
        "server_event_chat",
        ServerFrame::Event(RoomEvent {
            seq: 43,
            id: id(43),
            at: datetime!(2026-11-26 08:02:03.5 UTC),
            author: Some(author()),
            client_id: Some("c-7f3a".into()),
            body: EventBody::Chat {
                text: "零点已校准".into()
            },
        })
    );
    insta::assert_json_snapshot!(
        "server_event_state",
        ServerFrame::Event(RoomEvent {
            seq: 44,
            id: id(44),
            at: datetime!(2026-11-26 09:00 UTC),
            author: None,
            client_id: None,
            body: EventBody::State {
                from: "live".into(),
                to: "ended".into()
            },
        })
    );
    // Protocol 1's shape, as logs stored before protocol 2 hold it.
    insta::assert_json_snapshot!(
        "server_event_readings",
        ServerFrame::Event(RoomEvent {
            seq: 45,
            id: id(45),
            at: datetime!(2026-11-26 08:02:04.25 UTC),
            author: None,
            client_id: None,
            body: EventBody::Readings(Readings::Device(DeviceReadings {
                device_id: id(7),
                batch_id: id(70),
                readings: vec![
                    DeviceReading {
                        seq: 118,
                        t: datetime!(2026-11-26 08:02:03.123456 UTC),
                        value: 10.000_012,
                        unit: "V".into(),
                        u_t: 0.0021,
                    },
                    DeviceReading {
                        seq: 119,
                        t: datetime!(2026-11-26 08:02:04.123456 UTC),
                        value: 10.000_009,
                        unit: "V".into(),
                        u_t: 0.0021,
                    },
                ],
            })),
        })
    );
    // Protocol 2's: a session's devices stored together, one event.
    insta::assert_json_snapshot!(
        "server_event_readings_devices",
        ServerFrame::Event(RoomEvent {
            seq: 46,
            id: id(46),
            at: datetime!(2026-11-26 08:02:05.25 UTC),
            author: None,
            client_id: None,
            body: EventBody::Readings(Readings::Devices {
                devices: vec![
                    DeviceReadings {
                        device_id: id(7),
                        batch_id: id(71),
                        readings: vec![DeviceReading {
                            seq: 120,
                            t: datetime!(2026-11-26 08:02:05.123456 UTC),
                            value: 10.000_011,
                            unit: "V".into(),
                            u_t: 0.0021,
                        }],
                    },
                    DeviceReadings {
                        device_id: id(8),
                        batch_id: id(80),
                        readings: vec![DeviceReading {
                            seq: 311,
                            t: datetime!(2026-11-26 08:02:05.124001 UTC),
                            value: 10_000.2,
                            unit: "mV".into(),
                            u_t: 0.0018,
                        }],
                    },
                ],
            }),
        })
    );
    insta::assert_json_snapshot!(
        "server_accepted",
        ServerFrame::Accepted {
            client_id: "c-7f3a".into(),
            seq: 43
        }
    );
    insta::assert_json_snapshot!(
        "server_ephemeral",
        ServerFrame::Ephemeral(Ephemeral {
            author: author(),
            body: EphemeralBody::Typing
        })
    );
    insta::assert_json_snapshot!(
        "server_ephemeral_device_status",
        ServerFrame::Ephemeral(Ephemeral {
            author: Author {
                id: id(7),
                name: "被检数字多用表".into()
            },
            body: EphemeralBody::DeviceStatus {
                device_id: id(7),
                connected: true,
                status: Some(AgentStatus {
                    queue_depth: 3,
                    last_reading_age_s: Some(0.4),
                    clock: Some(ClockState {
                        offset_ms: -12.5,
                        u_ms: 0.8
                    }),
                    fault: Some(DeviceFault {
                        kind: FaultKind::Timeout,
                        message: "no reply to MEAS:VOLT:DC? within 2000 ms".into()
                    }),
                    quarantined: 0
                })
            }
        })
    );
    insta::assert_json_snapshot!(
        "server_pong",
        ServerFrame::Pong(TimePong {
            id: 3,
            t0: 1_764_000_000_123.5,
            t1: 1_764_000_000_200.0,
            t2: 1_764_000_000_200.25
        })
    );
    insta::assert_json_snapshot!(
        "server_error",
        ServerFrame::Error(ErrorBody::new(
            jiliang_protocol::ErrorCode::RateLimited,
            "Too many requests; try again in 1 s."
        ))
    );
}

fn candidate() -> IceCandidate {
    IceCandidate {
        candidate: "candidate:1 1 udp 2130706431 192.0.2.7 7882 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: None,
    }
}

#[test]
fn media_frames() {
    insta::assert_json_snapshot!(
        "client_media_state",
        ClientFrame::MediaState {
            tracks: vec![
                MediaTrackState {
                    track_id: "5f0c1b0e-mic".into(),
                    source: MediaSource::Microphone,
                    muted: true,
                },
                MediaTrackState {
                    track_id: "9a77d2c4-cam".into(),
                    source: MediaSource::Camera,
                    muted: false,
                },
            ],
            receive_video: true,
        }
    );
    insta::assert_json_snapshot!("client_media_stop", ClientFrame::MediaStop);
    insta::assert_json_snapshot!(
        "client_media_link",
        ClientFrame::MediaLink {
            mode: MediaMode::Video,
            quality: LinkQuality::Good,
        }
    );
    // Modes and qualities outside the lists are refused.
    assert!(
        serde_json::from_str::<ClientFrame>(
            r#"{"type":"media_link","mode":"hologram","quality":"good"}"#
        )
        .is_err()
    );
    // A publisher list of a server before `media_link` still parses.
    let old: MediaPublisher =
        serde_json::from_str(r#"{"user_id":"01930000-0000-7000-8000-000000000002","tracks":[]}"#)
            .expect("parses");
    assert_eq!(old.link, None);
    insta::assert_json_snapshot!(
        "client_media_offer",
        ClientFrame::MediaOffer {
            sdp: "v=0\r\n".into()
        }
    );
    insta::assert_json_snapshot!(
        "client_media_answer",
        ClientFrame::MediaAnswer {
            sdp: "v=0\r\n".into()
        }
    );
    insta::assert_json_snapshot!(
        "client_media_candidate",
        ClientFrame::MediaCandidate {
            candidate: candidate()
        }
    );
    insta::assert_json_snapshot!(
        "server_media_state",
        ServerFrame::MediaState {
            publishers: vec![MediaPublisher {
                user_id: id(2),
                tracks: vec![
                    PublishedTrack {
                        source: MediaSource::Microphone,
                        muted: false,
                    },
                    PublishedTrack {
                        source: MediaSource::Screen,
                        muted: false,
                    },
                ],
                link: Some(LinkReport {
                    mode: MediaMode::Audio,
                    quality: LinkQuality::Fair,
                }),
            }],
        }
    );
    insta::assert_json_snapshot!(
        "server_media_offer",
        ServerFrame::MediaOffer {
            sdp: "v=0\r\n".into()
        }
    );
    insta::assert_json_snapshot!(
        "server_media_answer",
        ServerFrame::MediaAnswer {
            sdp: "v=0\r\n".into()
        }
    );
    insta::assert_json_snapshot!(
        "server_media_candidate",
        ServerFrame::MediaCandidate {
            candidate: candidate()
        }
    );
    insta::assert_json_snapshot!(
        "server_media_closed",
        ServerFrame::MediaClosed {
            reason: "media_stop".into()
        }
    );
    insta::assert_json_snapshot!("server_media_ice", ServerFrame::MediaIce(ice()));
}

/// A STUN server and a TURN server with credentials, relay only.
fn ice() -> MediaIce {
    MediaIce {
        ice_servers: vec![
            IceServer {
                urls: vec!["stun:turn.example.cn:3478".into()],
                username: None,
                credential: None,
            },
            IceServer {
                urls: vec![
                    "turn:turn.example.cn:3478?transport=udp".into(),
                    "turns:turn.example.cn:5349?transport=tcp".into(),
                ],
                username: Some("1764230460:01930000-0000-7000-8000-000000000001".into()),
                credential: Some("JUbtYz5a4b4fJYZOjM6OFg4X5F0=".into()),
            },
        ],
        ice_transport_policy: IceTransportPolicy::Relay,
    }
}

#[test]
fn media_frames_parse_as_a_browser_writes_them() {
    // `receive_video` defaults to true; the candidate's optional fields may be absent.
    let f: ClientFrame = serde_json::from_str(
        r#"{"type":"media_state","tracks":[{"track_id":"t","source":"screen"}]}"#,
    )
    .expect("parses");
    assert_eq!(
        f,
        ClientFrame::MediaState {
            tracks: vec![MediaTrackState {
                track_id: "t".into(),
                source: MediaSource::Screen,
                muted: false
            }],
            receive_video: true
        }
    );
    let f: ClientFrame =
        serde_json::from_str(r#"{"type":"media_candidate","candidate":{"candidate":""}}"#)
            .expect("parses");
    assert!(matches!(f, ClientFrame::MediaCandidate { .. }));
    // An unknown source is refused, not guessed.
    assert!(
        serde_json::from_str::<ClientFrame>(
            r#"{"type":"media_state","tracks":[{"track_id":"t","source":"hologram"}]}"#
        )
        .is_err()
    );
}

#[test]
fn recording_frames() {
    use jiliang_protocol::recordings::{
        RecordingFile, RecordingKind, RecordingNow, RecordingStatus,
    };
    insta::assert_json_snapshot!("client_recording_start", ClientFrame::RecordingStart);
    insta::assert_json_snapshot!("client_recording_stop", ClientFrame::RecordingStop);
    insta::assert_json_snapshot!(
        "server_event_recording_started",
        ServerFrame::Event(RoomEvent {
            seq: 50,
            id: id(50),
            at: datetime!(2026-11-26 08:10:00 UTC),
            author: Some(author()),
            client_id: None,
            body: EventBody::RecordingStarted {
                recording_id: id(9),
            },
        })
    );
    insta::assert_json_snapshot!(
        "server_event_recording_stopped",
        ServerFrame::Event(RoomEvent {
            seq: 51,
            id: id(51),
            at: datetime!(2026-11-26 08:15:00 UTC),
            author: Some(author()),
            client_id: None,
            body: EventBody::RecordingStopped {
                recording_id: id(9),
            },
        })
    );
    insta::assert_json_snapshot!(
        "recording_now",
        RecordingNow {
            recording_id: id(9),
            started_by: id(2),
            started_at: datetime!(2026-11-26 08:10:00 UTC),
        }
    );
    insta::assert_json_snapshot!(
        "recording_file",
        RecordingFile {
            id: id(10),
            session_id: id(4),
            recording_id: id(9),
            publisher_id: id(2),
            publisher_name: "李专家".into(),
            kind: RecordingKind::Camera,
            with_audio: true,
            started_at: datetime!(2026-11-26 08:10:00.25 UTC),
            duration_ms: 300_120,
            bytes: 18_734_112,
            sha256: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()),
            status: RecordingStatus::Ready,
            reason: None,
        }
    );
    // A recording frame this version does not define is refused.
    assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"recording_pause"}"#).is_err());
    // A snapshot without `recording` (an older server, or not recording).
    let now: Option<RecordingNow> = None;
    assert_eq!(
        serde_json::to_value(now).expect("json"),
        serde_json::Value::Null
    );
}
