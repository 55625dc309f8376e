//! The room socket protocol (`/api/v1/sessions/{id}/ws`), version 2.
//!
//! JSON text frames, tagged by `"type"`. A client opens with `join`, naming
//! the last sequence number it has seen (0 the first time); the server
//! answers with a `snapshot`, then every stored `event` after that sequence
//! in order, then live events as they are stored. Durable events carry the
//! room's sequence number; ephemeral ones (typing) do not and are never
//! replayed. See `docs/protocol.md` for the whole exchange with examples.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ErrorBody;
use crate::comparison::{ComparisonSpec, PointOutcome, RecordRef};
use crate::devices::{AgentStatus, DeviceReading};
use crate::sessions::{Participant, SessionInfo};
use crate::timesync::{TimePing, TimePong};
use jiliang_metrology::conformity::Verdict;

/// Protocol version this crate speaks. 2: a `readings` event holds the
/// readings of several devices (`devices`); a client of version 1 read one
/// device per event and would miss the others, so the server refuses its
/// `join` (close 4003, "reload the page"). Logs stored under version 1 keep
/// their one-device `readings` events, which version 2 still reads.
pub const PROTOCOL_VERSION: u32 = 2;

/// Largest frame either side may send, in bytes. Larger frames close the
/// socket with 1009 (message too big).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Longest chat text, in characters.
pub const MAX_CHAT_CHARS: usize = 4000;

/// Most readings in one `readings` event, over all its devices. What a
/// session's devices stored in one go beyond this (an agent's backlog
/// after an outage) enters the log as several events in a row, so that no
/// frame exceeds [`MAX_FRAME_BYTES`].
pub const MAX_READINGS_PER_EVENT: usize = 250;

/// Close code telling a client it fell too far behind and must reconnect
/// with its last sequence number (nothing is lost: the log has it all).
pub const CLOSE_RESUME: u16 = 4000;
/// Close code: the session ended or the person was removed from it.
pub const CLOSE_GONE: u16 = 4001;
/// Close code: the person's login session ended.
pub const CLOSE_UNAUTHENTICATED: u16 = 4002;
/// Close code: the client spoke a protocol version the server does not.
pub const CLOSE_VERSION: u16 = 4003;
/// Close code: too many sockets (of this person in this room, of this
/// person, or in this room); sent after a `rate_limited` error frame. The
/// client should close one of its other tabs or wait, not retry at once.
pub const CLOSE_TOO_MANY: u16 = 4004;

/// Client → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// First frame of every connection.
    Join {
        /// Protocol version the client speaks.
        protocol: u32,
        /// Last sequence number the client has applied (0 = none).
        #[serde(default)]
        last_seq: u64,
        /// The language chosen in the client's interface (`zh-CN`, `en`):
        /// the server's `error` frames and close reasons follow it from
        /// here on. Optional: without it the socket keeps the language of
        /// its upgrade request (`?lang=`, else `Accept-Language`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lang: Option<String>,
    },
    /// A chat line. `client_id` is chosen by the client and makes a resend
    /// after a reconnect idempotent.
    Chat { client_id: String, text: String },
    /// The person is typing (ephemeral).
    Typing,
    /// Clock synchronisation.
    Ping(TimePing),
    /// The client has applied everything up to `seq`.
    Ack { seq: u64 },
    /// What this connection publishes (and whether it wants video). The
    /// first one starts the connection's media: the server prepares a peer
    /// connection and offers the others' tracks. Sent again whenever a
    /// track starts, stops or is muted. A track of the peer connection not
    /// listed here is not forwarded; a listed one not (yet) received is
    /// ignored. Not stored in the room log.
    MediaState {
        tracks: Vec<MediaTrackState>,
        /// `false`: the server forwards no video to this connection (audio
        /// only, for a weak link). Default `true`.
        #[serde(default = "yes")]
        receive_video: bool,
    },
    /// The connection's media ends (its peer connection is closed); chat
    /// goes on.
    MediaStop,
    /// An SDP offer (perfect negotiation: the client is the polite peer).
    MediaOffer { sdp: String },
    /// The SDP answer to the server's last `media_offer`.
    MediaAnswer { sdp: String },
    /// A trickled ICE candidate of the client.
    MediaCandidate { candidate: IceCandidate },
    /// The mode this connection's media runs in (chosen from its own
    /// `getStats`, or by the person) and how its link looks from its side.
    /// Sent when either changes. The server forwards it no video in
    /// `audio` mode and nothing in `data` mode, and tells the room
    /// (`link` of [`MediaPublisher`]) so every tile can show the link.
    MediaLink {
        mode: MediaMode,
        quality: LinkQuality,
    },
    /// Start recording the session (its host only, while it is live):
    /// the server writes every forwarded track to disk from now on. The
    /// room hears a `recording_started` event; an `error` frame if the
    /// person is not the host (`forbidden`) or the session is already
    /// being recorded (`conflict`).
    RecordingStart,
    /// Stop recording (the host only): a `recording_stopped` event, then
    /// the files are remuxed to WebM and listed with the session.
    RecordingStop,
}

fn yes() -> bool {
    true
}

/// Where a published track comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaSource {
    Microphone,
    Camera,
    Screen,
}

impl MediaSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Microphone => "microphone",
            Self::Camera => "camera",
            Self::Screen => "screen",
        }
    }

    /// Audio (`microphone`) or video (`camera`, `screen`).
    pub fn is_video(self) -> bool {
        !matches!(self, Self::Microphone)
    }

    /// The source named by a forwarded track's stream id
    /// (`{user_id}:{source}`, see [`media_stream_id`]).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "microphone" => Some(Self::Microphone),
            "camera" => Some(Self::Camera),
            "screen" => Some(Self::Screen),
            _ => None,
        }
    }
}

/// The stream id (`a=msid`) of a track the server forwards: whose it is and
/// which source, e.g. `0193…:camera`. A client maps a remote track to a tile
/// with [`parse_media_stream_id`].
pub fn media_stream_id(user: Uuid, source: MediaSource) -> String {
    format!("{user}:{}", source.as_str())
}

/// The publisher and source of a forwarded track's stream id.
pub fn parse_media_stream_id(id: &str) -> Option<(Uuid, MediaSource)> {
    let (user, source) = id.split_once(':')?;
    Some((Uuid::parse_str(user).ok()?, MediaSource::parse(source)?))
}

/// One track a client publishes, as it declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaTrackState {
    /// The browser's `MediaStreamTrack.id` (the track id of its `a=msid`).
    pub track_id: String,
    pub source: MediaSource,
    #[serde(default)]
    pub muted: bool,
}

/// An ICE candidate (the browser's `RTCIceCandidateInit`, in snake case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_m_line_index: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// What one person publishes, as everyone in the room sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaPublisher {
    pub user_id: Uuid,
    pub tracks: Vec<PublishedTrack>,
    /// The person's last `media_link` (absent until one came).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkReport>,
}

/// How much media a connection sends and receives, from least to most.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MediaMode {
    /// Nothing but chat and readings: no audio, no video.
    Data,
    /// Audio only: no video either way.
    Audio,
    /// Audio and video (simulcast; the server picks a layer per receiver).
    #[default]
    Video,
}

impl MediaMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }

    /// The next mode down (`data` stays).
    pub fn lower(self) -> Self {
        match self {
            Self::Video => Self::Audio,
            Self::Audio | Self::Data => Self::Data,
        }
    }

    /// The next mode up (`video` stays).
    pub fn higher(self) -> Self {
        match self {
            Self::Data => Self::Audio,
            Self::Audio | Self::Video => Self::Video,
        }
    }
}

/// A link's quality as a tile shows it, from worst to best.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkQuality {
    Poor,
    Fair,
    Good,
}

impl LinkQuality {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Poor => "poor",
            Self::Fair => "fair",
            Self::Good => "good",
        }
    }
}

/// What a person's client last said about its link (`media_link`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkReport {
    pub mode: MediaMode,
    pub quality: LinkQuality,
}

/// A track the server receives and forwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedTrack {
    pub source: MediaSource,
    pub muted: bool,
}

/// How a client's peer connection reaches this server's media: the
/// `iceServers` and `iceTransportPolicy` of its `RTCConfiguration`. In the
/// `snapshot` (minted for the joining participant) and in `media_ice`
/// frames that renew the TURN credentials before they expire.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MediaIce {
    /// STUN and TURN servers, in the order to try them; empty: host
    /// candidates only (the node is reachable directly).
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
    #[serde(default)]
    pub ice_transport_policy: IceTransportPolicy,
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:`, `stuns:`, `turn:` or `turns:` URLs of one server.
    pub urls: Vec<String>,
    /// TURN only: `{expiry}:{user_id}` (coturn's REST-API scheme), valid
    /// until the Unix time `expiry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN only: the password that goes with `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Which candidates the client may use: `all`, or `relay` (through TURN
/// only, where the operator requires it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IceTransportPolicy {
    #[default]
    All,
    Relay,
}

impl IceTransportPolicy {
    /// The `RTCIceTransportPolicy` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Relay => "relay",
        }
    }
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Sent once after `join`: who is here and where the log stands.
    Snapshot(Snapshot),
    /// One durable event of the log.
    Event(RoomEvent),
    /// A client message was stored (or had been already): it may leave the
    /// client's outbox.
    Accepted {
        client_id: String,
        seq: u64,
    },
    /// Not stored, not replayed.
    Ephemeral(Ephemeral),
    Pong(TimePong),
    Error(ErrorBody),
    /// Who publishes what in the room now (after every change), to every
    /// connection. Not stored; the `snapshot` carries the same list.
    MediaState {
        publishers: Vec<MediaPublisher>,
    },
    /// An SDP offer of the server (the impolite peer), to the connection
    /// whose media it concerns only.
    MediaOffer {
        sdp: String,
    },
    /// The answer to the client's `media_offer`.
    MediaAnswer {
        sdp: String,
    },
    /// A trickled ICE candidate of the server.
    MediaCandidate {
        candidate: IceCandidate,
    },
    /// The server closed this connection's peer connection (after
    /// `media_stop`, bad media input, another tab taking over, or a failed
    /// transport); chat goes on. A `media_state` starts media again. Reason
    /// `moved`: the room's media moved to another server node; the client
    /// starts its media again at once, by itself.
    MediaClosed {
        reason: String,
    },
    /// Fresh ICE servers and TURN credentials for this connection, sent
    /// before those of the `snapshot` (or of the last `media_ice`) expire:
    /// use them for peer connections and ICE restarts from now on.
    MediaIce(MediaIce),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub protocol: u32,
    pub session: SessionInfo,
    pub participants: Vec<Participant>,
    /// Highest sequence number stored when the snapshot was taken.
    pub last_seq: u64,
    /// The joining person.
    pub you: Uuid,
    /// Server UTC, milliseconds since the epoch.
    pub server_time_ms: f64,
    /// Who publishes what (audio, video, screen; muted) when the snapshot
    /// was taken; `media_state` frames follow every change.
    #[serde(default)]
    pub media: Vec<MediaPublisher>,
    /// ICE servers and TURN credentials for this participant's media
    /// (absent from servers before them: host candidates only).
    #[serde(default)]
    pub ice: MediaIce,
    /// The session is being recorded (since when, by whom); absent when
    /// not. `recording_started`/`recording_stopped` events follow changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<crate::recordings::RecordingNow>,
}

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Author {
    pub id: Uuid,
    pub name: String,
}

/// A stored event: the unit of the room log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomEvent {
    /// Position in the room's log: 1, 2, 3, … without gaps.
    pub seq: u64,
    pub id: Uuid,
    /// Server UTC when stored.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `None` for events of the system (state changes).
    pub author: Option<Author>,
    /// The client's id for the message, when a client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub body: EventBody,
}

/// What happened. New kinds are added here; old clients ignore kinds they
/// do not know only if they are written to (`Unknown` keeps them parsing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    Chat {
        text: String,
    },
    /// A person's first connection to the room opened.
    Join,
    /// A person's last connection to the room closed.
    Leave,
    /// The session moved from one state to another.
    State {
        from: String,
        to: String,
    },
    /// Readings of devices attached to the session, as stored: one event
    /// per group the server stored (each device's part of it split after
    /// [`MAX_READINGS_PER_EVENT`] readings in all), written by the server
    /// (no author). Readings already stored (resends) never appear twice.
    Readings(Readings),
    /// The host set up (or, before the first point, changed) the session's
    /// comparison of a unit under test against a reference standard
    /// ([`crate::comparison`]). Written by the server with the host as
    /// author.
    ComparisonSetup {
        comparison_id: Uuid,
        /// Boxed: the spec is large and the event rare; every other event
        /// stays small. The JSON is the same.
        spec: Box<ComparisonSpec>,
    },
    /// Test point `index` started at this event's `at`: readings of both
    /// devices taken from then on count for it until `readings_per_point`
    /// of each are in. Starting a point again collects it afresh.
    ComparisonPoint {
        comparison_id: Uuid,
        index: u32,
        /// The point's nominal value (as in the spec), for readers of the
        /// timeline.
        nominal: f64,
    },
    /// The comparison was finished and stored as a ledger record (原始记录
    /// with every reading used): `record` names it.
    ComparisonFinished {
        comparison_id: Uuid,
        record: RecordRef,
        /// Over all points, once every point was complete.
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        verdict: Option<Verdict>,
        points: Vec<PointOutcome>,
    },
    /// The host started recording the session (`recording_start`): every
    /// forwarded track is written to disk until `recording_stopped`.
    RecordingStarted {
        recording_id: Uuid,
    },
    /// Recording stopped (the host stopped it, or the session ended); the
    /// files follow in `GET /sessions/{id}/recordings`.
    RecordingStopped {
        recording_id: Uuid,
    },
    /// A kind this build does not know (from a newer server).
    #[serde(other)]
    Unknown,
}

impl EventBody {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Chat { .. } => "chat",
            Self::Join => "join",
            Self::Leave => "leave",
            Self::State { .. } => "state",
            Self::Readings(_) => "readings",
            Self::ComparisonSetup { .. } => "comparison_setup",
            Self::ComparisonPoint { .. } => "comparison_point",
            Self::ComparisonFinished { .. } => "comparison_finished",
            Self::RecordingStarted { .. } => "recording_started",
            Self::RecordingStopped { .. } => "recording_stopped",
            Self::Unknown => "unknown",
        }
    }
}

/// The body of a `readings` event, in either of its two shapes. Both
/// serialise back exactly as they were read, so the ledger's record of a
/// stored event can be re-derived from it (`jiliang verify`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged, try_from = "ReadingsWire")]
pub enum Readings {
    /// Protocol 2: the readings of one or more devices, each device at most
    /// once per event (in the order their batches were stored).
    Devices { devices: Vec<DeviceReadings> },
    /// Protocol 1 (logs stored before protocol 2): one device's readings,
    /// its fields at the top of the body.
    Device(DeviceReadings),
}

impl Readings {
    /// Each device's readings in the event, whichever the shape.
    pub fn parts(&self) -> &[DeviceReadings] {
        match self {
            Self::Devices { devices } => devices,
            Self::Device(d) => std::slice::from_ref(d),
        }
    }

    /// Readings in the event, over all its devices.
    pub fn len(&self) -> usize {
        self.parts().iter().map(|p| p.readings.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One device's readings in a `readings` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceReadings {
    pub device_id: Uuid,
    /// The stored batch they belong to (its `reading_batch` ledger record).
    pub batch_id: Uuid,
    /// In `seq` order.
    pub readings: Vec<DeviceReading>,
}

/// Either shape of [`Readings`] as it comes, told apart by its fields in
/// one pass (an untagged enum would parse the body twice for the old one).
#[derive(Deserialize)]
struct ReadingsWire {
    #[serde(default)]
    devices: Option<Vec<DeviceReadings>>,
    #[serde(default)]
    device_id: Option<Uuid>,
    #[serde(default)]
    batch_id: Option<Uuid>,
    #[serde(default)]
    readings: Option<Vec<DeviceReading>>,
}

impl TryFrom<ReadingsWire> for Readings {
    type Error = &'static str;

    fn try_from(w: ReadingsWire) -> Result<Self, Self::Error> {
        match w {
            ReadingsWire {
                devices: Some(devices),
                device_id: None,
                batch_id: None,
                readings: None,
            } => Ok(Self::Devices { devices }),
            ReadingsWire {
                devices: None,
                device_id: Some(device_id),
                batch_id: Some(batch_id),
                readings: Some(readings),
            } => Ok(Self::Device(DeviceReadings {
                device_id,
                batch_id,
                readings,
            })),
            _ => Err(
                "a readings event holds either `devices` or `device_id`, `batch_id` and `readings`",
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ephemeral {
    pub author: Author,
    pub body: EphemeralBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EphemeralBody {
    Typing,
    /// How the agent of a device attached to the (live) session stands:
    /// sent when it connects (`status` absent until its first report),
    /// with every status it reports (every few seconds, and when a fault
    /// starts or ends), and when it disconnects. The `author` of the
    /// ephemeral is the device (its id and name).
    DeviceStatus {
        device_id: Uuid,
        connected: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<AgentStatus>,
    },
    /// A kind this build does not know (from a newer server).
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_frames_and_fields_are_rejected() {
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"dance"}"#).is_err());
        assert!(
            serde_json::from_str::<ClientFrame>(
                r#"{"type":"chat","client_id":"a","text":"b","x":1}"#
            )
            .is_err()
        );
        let j: ClientFrame =
            serde_json::from_str(r#"{"type":"join","protocol":1}"#).expect("parses");
        assert_eq!(
            j,
            ClientFrame::Join {
                protocol: 1,
                last_seq: 0,
                lang: None
            }
        );
        let j: ClientFrame =
            serde_json::from_str(r#"{"type":"join","protocol":1,"last_seq":3,"lang":"en"}"#)
                .expect("parses");
        assert_eq!(
            j,
            ClientFrame::Join {
                protocol: 1,
                last_seq: 3,
                lang: Some("en".into())
            }
        );
    }

    #[test]
    fn media_stream_ids_round_trip() {
        let u = Uuid::from_u128(7);
        for source in [
            MediaSource::Microphone,
            MediaSource::Camera,
            MediaSource::Screen,
        ] {
            assert_eq!(
                parse_media_stream_id(&media_stream_id(u, source)),
                Some((u, source))
            );
        }
        assert_eq!(parse_media_stream_id("nobody:camera"), None);
        assert_eq!(parse_media_stream_id(&format!("{u}:hologram")), None);
        assert_eq!(parse_media_stream_id("no-colon"), None);
    }

    fn reading(seq: u64) -> DeviceReading {
        DeviceReading {
            seq,
            t: OffsetDateTime::UNIX_EPOCH,
            value: 1.5,
            unit: "V".into(),
            u_t: 0.001,
        }
    }

    /// A stored protocol-1 event reads as one device's part and is written
    /// back byte for byte (the ledger re-derives its record from it); a
    /// protocol-2 event likewise.
    #[test]
    fn both_shapes_of_readings_read_and_round_trip() {
        let (d1, d2, b1, b2) = (
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            Uuid::from_u128(3),
            Uuid::from_u128(4),
        );
        let old = EventBody::Readings(Readings::Device(DeviceReadings {
            device_id: d1,
            batch_id: b1,
            readings: vec![reading(1), reading(2)],
        }));
        let old_json = serde_json::to_string(&old).expect("json");
        assert!(
            old_json.starts_with(r#"{"kind":"readings","device_id":"#),
            "{old_json}"
        );
        let back: EventBody = serde_json::from_str(&old_json).expect("parses");
        assert_eq!(back, old);
        assert_eq!(serde_json::to_string(&back).expect("json"), old_json);
        let EventBody::Readings(r) = &back else {
            panic!("{back:?}")
        };
        assert_eq!(r.parts().len(), 1);
        assert_eq!(r.len(), 2);

        let new = EventBody::Readings(Readings::Devices {
            devices: vec![
                DeviceReadings {
                    device_id: d1,
                    batch_id: b1,
                    readings: vec![reading(3)],
                },
                DeviceReadings {
                    device_id: d2,
                    batch_id: b2,
                    readings: vec![reading(1), reading(2)],
                },
            ],
        });
        let new_json = serde_json::to_string(&new).expect("json");
        assert!(
            new_json.starts_with(r#"{"kind":"readings","devices":[{"#),
            "{new_json}"
        );
        let back: EventBody = serde_json::from_str(&new_json).expect("parses");
        assert_eq!(back, new);
        assert_eq!(serde_json::to_string(&back).expect("json"), new_json);
        let EventBody::Readings(r) = &back else {
            panic!("{back:?}")
        };
        assert_eq!(
            r.parts().iter().map(|p| p.device_id).collect::<Vec<_>>(),
            vec![d1, d2]
        );
        assert_eq!(r.len(), 3);

        // Neither shape, or both at once: refused, not guessed.
        for bad in [
            r#"{"kind":"readings"}"#,
            r#"{"kind":"readings","device_id":"00000000-0000-0000-0000-000000000001","readings":[]}"#,
            r#"{"kind":"readings","devices":[],"device_id":"00000000-0000-0000-0000-000000000001","batch_id":"00000000-0000-0000-0000-000000000001","readings":[]}"#,
        ] {
            assert!(serde_json::from_str::<EventBody>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_event_kinds_still_parse() {
        let b: EventBody = serde_json::from_str(r#"{"kind":"reading"}"#).expect("parses");
        assert_eq!(b, EventBody::Unknown);
        // With fields of its own, as a newer server would send them.
        let b: EventBody = serde_json::from_str(
            r#"{"kind":"procedure_step","point":3,"values":[1.5,2],"nested":{"a":null}}"#,
        )
        .expect("parses");
        assert_eq!(b, EventBody::Unknown);
        let e: RoomEvent = serde_json::from_str(
            r#"{"seq":9,"id":"01930000-0000-7000-8000-000000000001","at":"2026-11-26T08:00:00Z","author":null,
                "body":{"kind":"hologram","frames":[{"x":1}]}}"#,
        )
        .expect("an event of an unknown kind parses");
        assert_eq!(e.body, EventBody::Unknown);
    }
}
