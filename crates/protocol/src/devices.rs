//! Instruments (devices) and their readings: the REST documents and the
//! agent socket protocol (`/api/v1/agent/ws`), version 1.
//!
//! # What it guarantees
//! A reading is identified by `(device_id, seq)`. The agent numbers the
//! readings of its device 1, 2, 3, … and keeps each one on disk until the
//! server has acknowledged it as stored; the server stores each `(device_id,
//! seq)` once and acknowledges a resend as a duplicate. So a reading may be
//! sent any number of times and is stored exactly once.
//!
//! # The exchange
//! The agent opens the socket with `Authorization: Bearer <device token>`
//! (the token names the device; unknown or revoked → 401 before the
//! upgrade). Frames are JSON text, tagged by `"type"` (snake_case), like the
//! room protocol:
//! 1. agent `hello` → server `welcome` (the device, the highest stored
//!    `seq`, the batch limit and the timestamp tolerances);
//! 2. agent `ping` ↔ server `pong`, NTP-style ([`crate::timesync`]), a burst
//!    at connect and then periodically;
//! 3. agent `readings` (≤ [`MAX_BATCH`], strictly increasing `seq`) → server
//!    `ack` once every reading of the batch is durably stored, or `error`
//!    when the whole batch is refused (nothing of it stored). Responses come
//!    in the order of the batches;
//! 4. agent `status` every few seconds and whenever it changes.
//!
//! Close codes: [`CLOSE_TOKEN_REVOKED`] (stop retrying fast),
//! [`CLOSE_VERSION`], [`CLOSE_TOO_BIG`].
//!
//! # Lenient numbers, strict checks
//! `value` and `u_t` also parse from `null`, `"NaN"`, `"inf"` and
//! `"-inf"` (as non-finite numbers), only so that the server can refuse such
//! a batch with a message naming the reading's `seq` instead of a bare JSON
//! error; [`check_batch`] refuses them. They serialise as numbers (serde_json
//! writes a non-finite number as `null`).

use serde::{Deserialize, Deserializer, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::timesync::{TimePing, TimePong};

/// Version of the agent socket protocol this crate speaks (`hello.protocol`).
pub const AGENT_PROTOCOL_VERSION: u32 = 1;

/// Most readings in one `readings` frame or one HTTP upload.
pub const MAX_BATCH: usize = 1000;

/// Largest frame either side of the agent socket may send, in bytes. A batch
/// of [`MAX_BATCH`] readings with units of up to [`MAX_UNIT_CHARS`] fits;
/// anything larger closes the socket with [`CLOSE_TOO_BIG`].
pub const MAX_AGENT_FRAME_BYTES: usize = 512 * 1024;

/// Longest unit code, in characters.
pub const MAX_UNIT_CHARS: usize = 64;

/// Longest `idn` or fault message an agent sends, in characters (longer ones
/// are cut by the agent; the server may refuse them).
pub const MAX_TEXT_CHARS: usize = 512;

/// Close code: the device token is unknown or was revoked. The agent must
/// not reconnect quickly; it reports the problem and retries slowly (a
/// token may be restored).
pub const CLOSE_TOKEN_REVOKED: u16 = 4002;
/// Close code: the agent spoke a protocol version the server does not.
pub const CLOSE_VERSION: u16 = 4003;
/// Close code: a frame was larger than [`MAX_AGENT_FRAME_BYTES`] (RFC 6455
/// "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;

/// Default for `welcome.future_tolerance_s`: how far ahead of the server's
/// clock a reading's timestamp may be.
pub const DEFAULT_FUTURE_TOLERANCE_S: f64 = 10.0;
/// Default for `welcome.past_tolerance_s`: how old a reading may be (30
/// days: an agent buffers through long outages).
pub const DEFAULT_PAST_TOLERANCE_S: f64 = 30.0 * 86_400.0;

// ---------------------------------------------------------------- readings

/// One reading of an instrument: the same shape for the upload and for
/// `GET /api/v1/devices/{id}/readings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceReading {
    /// Per-device sequence number: 1, 2, 3, …
    pub seq: u64,
    /// UTC time of the reading (the middle of the instrument exchange,
    /// corrected to the server's clock), RFC 3339 with fractional seconds.
    #[serde(with = "time::serde::rfc3339")]
    pub t: OffsetDateTime,
    /// The measured value, in `unit`. Must be finite.
    #[serde(deserialize_with = "lenient_f64")]
    pub value: f64,
    /// UCUM code, case-sensitive (`V`, `kPa`, `Cel`, `Ohm`).
    pub unit: String,
    /// Uncertainty of `t`, seconds (finite, ≥ 0): the agent combines in
    /// quadrature the bound on its clock offset to the server and half the
    /// instrument exchange (see docs/AGENT.md).
    #[serde(deserialize_with = "lenient_f64")]
    pub u_t: f64,
}

/// Query of `GET /api/v1/devices`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct DeviceListParams {
    /// Only this lab's devices.
    pub lab_id: Option<Uuid>,
    /// 1–500 (default 200).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<i64>,
}

/// Query of `GET /api/v1/devices/{id}/readings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ReadingsParams {
    /// Readings after this `seq` (default 0). `after_seq` is accepted too.
    #[serde(alias = "after_seq")]
    pub after: Option<u64>,
    /// 1–1000 (default 500).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
}

/// A page of a device's readings, in `seq` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadingsPage {
    pub items: Vec<DeviceReading>,
    /// The last item's `seq` when the page is full (ask again with
    /// `after=next_after`); `null` at the end.
    pub next_after: Option<u64>,
}

/// Body of `POST /api/v1/agent/readings` and payload of the `readings`
/// frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReadingsBatch {
    pub readings: Vec<DeviceReading>,
}

/// A batch is durably stored: answer of `POST /api/v1/agent/readings` and
/// payload of the `ack` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchAck {
    /// The batch's last `seq`: every reading of the batch is stored.
    pub through: u64,
    /// Readings stored now.
    pub stored: u32,
    /// Readings that were stored already (resends), ignored.
    pub duplicates: u32,
}

// ----------------------------------------------------------- registration

/// The certificate of a reference standard: what the comparison needs for
/// the reference's contribution to U(E).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferenceCert {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub certificate_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub issuer: Option<String>,
    /// Expanded uncertainty U stated on the certificate (in `unit`, or the
    /// device's unit when absent). Positive.
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0))]
    pub expanded_uncertainty: f64,
    /// Coverage factor of `expanded_uncertainty`, in (0, 10].
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0, maximum = 10))]
    pub k: f64,
    /// UCUM code of the same dimension as the device's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub unit: Option<String>,
    /// Last day the certificate is valid (`YYYY-MM-DD`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "iso_date::option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub valid_until: Option<time::Date>,
}

/// `POST /api/v1/devices`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    pub lab_id: Uuid,
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub name: String,
    /// What the instrument is, in the lab's words (`digital multimeter`,
    /// `压力变送器`).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub kind: String,
    /// The quantity it measures (`voltage`, `pressure`).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub quantity: String,
    /// UCUM code of its readings.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub unit: String,
    /// Resolution of its display/readings, in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0))]
    pub resolution: Option<f64>,
    /// Present when the device is a reference standard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceCert>,
}

/// A registered device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    pub id: Uuid,
    pub lab_id: Uuid,
    pub name: String,
    pub kind: String,
    pub quantity: String,
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceCert>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the agent token was revoked; `None` while it is valid.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub token_revoked_at: Option<OffsetDateTime>,
    /// Highest stored reading `seq` (0 = none).
    pub last_seq: u64,
    /// The session the device is attached to (its readings enter that
    /// room's log while the session is live); absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
    /// When an agent last connected with the device's token; absent when
    /// none ever did. A device with an agent takes its readings from the
    /// agent only: manual entry is for devices without one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub agent_connected_at: Option<OffsetDateTime>,
}

/// 201 answer of `POST /api/v1/devices`: the device with its agent token
/// at the top level (`{id, token, lab_id, …}`). The token is shown only
/// here; the server keeps only its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceCreated {
    #[serde(flatten)]
    pub device: Device,
    pub token: String,
}

/// `PATCH /api/v1/devices/{id}`: the fields to change; absent ones stay.
/// `resolution` and `reference` may be `null` to clear them. The unit can
/// change only while the device has no readings and no agent has connected
/// (its readings must keep meaning what they say).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateDevice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub quantity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub unit: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, exclusive_minimum = 0))]
    pub resolution: Option<Option<f64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<ReferenceCert>))]
    pub reference: Option<Option<ReferenceCert>>,
}

/// 201 answer of `POST /api/v1/devices/{id}/token`: a new agent token; the
/// previous one stops working at once (agents using it are disconnected
/// with [`CLOSE_TOKEN_REVOKED`]). Shown only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceToken {
    pub device_id: Uuid,
    pub token: String,
}

/// Longest `key` of a manual entry, in characters.
pub const MAX_MANUAL_KEY_CHARS: usize = 64;

/// `u_t` of a typed reading sent without `t` (stamped when the server
/// receives it): the reading was taken a few seconds before, while the
/// person typed.
pub const UNTIMED_MANUAL_U_T_S: f64 = 5.0;

/// One reading typed in by a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ManualReading {
    /// Must be finite.
    #[serde(deserialize_with = "lenient_f64")]
    pub value: f64,
    /// Must be the device's unit (the person confirms what they read).
    pub unit: String,
    /// When it was read, on the server's clock (the browser corrects its
    /// own with the time exchange). Absent: when the server receives it,
    /// with `u_t` [`UNTIMED_MANUAL_U_T_S`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub t: Option<OffsetDateTime>,
    /// Uncertainty of `t`, seconds (default 0 when `t` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u_t: Option<f64>,
}

/// `POST /api/v1/devices/{id}/readings`: readings typed in for a device
/// with no interface. `key` is chosen by the client, once per entry: a
/// resend with the same key (after a lost answer) is answered with what
/// was stored the first time and stores nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ManualReadings {
    /// 1..=[`MAX_MANUAL_KEY_CHARS`] characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub key: String,
    /// 1..=[`MAX_BATCH`] readings, numbered by the server in this order.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub readings: Vec<ManualReading>,
}

/// Answer of `POST /api/v1/devices/{id}/readings` (201 when stored now,
/// 200 when the key had been stored before).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManualStored {
    /// The ledger record of the entry (`reading_batch`).
    pub batch_id: Uuid,
    /// The key had been stored before; these are the readings stored then.
    pub duplicate: bool,
    pub readings: Vec<DeviceReading>,
}

/// `POST /api/v1/sessions/{id}/devices`: attach a device to a session; its
/// readings enter the room's log while the session is live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AttachDevice {
    pub device_id: Uuid,
}

// ------------------------------------------------------------ agent socket

/// The instrument interface an agent reads through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DriverKind {
    Scpi,
    Modbus,
    Serial,
}

impl DriverKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scpi => "scpi",
            Self::Modbus => "modbus",
            Self::Serial => "serial",
        }
    }
}

/// First frame of every agent connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentHello {
    /// [`AGENT_PROTOCOL_VERSION`].
    pub protocol: u32,
    /// `jiliang-agent/x.y.z`.
    pub agent: String,
    pub driver: DriverKind,
    /// The instrument's `*IDN?` answer, when it has one and it is known.
    #[serde(default)]
    pub idn: Option<String>,
}

/// The agent's clock offset to the server (server − agent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClockState {
    pub offset_ms: f64,
    /// Bound on the offset's error, ms (half the best round trip, grown by
    /// the assumed drift since it was measured).
    pub u_ms: f64,
}

/// What is wrong with the instrument (or the way to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// No answer within the device timeout.
    Timeout,
    /// An answer that is not a reading.
    Garbage,
    /// The connection or port is closed or cannot be opened.
    Disconnected,
    /// The instrument reports an error (SCPI error queue, Modbus exception,
    /// overload).
    InstrumentError,
    /// Anything else on the agent's side (disk full, queue unusable).
    Io,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Garbage => "garbage",
            Self::Disconnected => "disconnected",
            Self::InstrumentError => "instrument_error",
            Self::Io => "io",
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceFault {
    pub kind: FaultKind,
    pub message: String,
}

/// The agent's state, sent every few seconds and whenever it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentStatus {
    /// Readings taken and not yet acknowledged.
    pub queue_depth: u64,
    /// Seconds since the last reading was taken (`None`: none yet).
    pub last_reading_age_s: Option<f64>,
    /// `None` until the first clock exchange (or a persisted estimate).
    pub clock: Option<ClockState>,
    /// `None` while the instrument answers.
    pub fault: Option<DeviceFault>,
    /// Readings the server refused as invalid, kept in the agent's
    /// quarantine file (never dropped silently).
    #[serde(default)]
    pub quarantined: u64,
}

/// Agent → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentFrame {
    /// First frame of every connection.
    Hello(AgentHello),
    /// Clock synchronisation.
    Ping(TimePing),
    /// Up to [`MAX_BATCH`] readings, `seq` strictly increasing.
    Readings(ReadingsBatch),
    Status(AgentStatus),
}

/// Sent once, in answer to `hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Welcome {
    pub device_id: Uuid,
    pub lab_id: Uuid,
    pub name: String,
    pub quantity: String,
    /// Every reading must carry exactly this unit.
    pub unit: String,
    /// Highest `seq` stored for the device (0 = none).
    pub last_seq: u64,
    /// Most readings per batch the server accepts (≤ [`MAX_BATCH`]).
    pub max_batch: u32,
    pub future_tolerance_s: f64,
    pub past_tolerance_s: f64,
}

/// A refused batch (nothing of it stored) or a protocol error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentError {
    /// Stable code ([`crate::ErrorCode`] strings): `invalid_input` means the
    /// batch's content is wrong and resending it unchanged will not help.
    pub code: String,
    pub message: String,
    /// The first offending reading, when one reading is to blame.
    #[serde(default)]
    pub seq: Option<u64>,
}

/// Server → agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentServerFrame {
    Welcome(Welcome),
    Pong(TimePong),
    Ack(BatchAck),
    Error(AgentError),
}

// ------------------------------------------------------------- validation

/// Why a batch is refused. `seq` names the first offending reading when
/// one is to blame.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchProblem {
    pub seq: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for BatchProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "reading seq {seq}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The rules both sides apply to a batch (the server to refuse it whole,
/// the agent to know what it may send): 1..=[`MAX_BATCH`] readings, `seq` ≥
/// 1 and strictly increasing, `value` finite, `unit` equal to the device's,
/// `u_t` finite and ≥ 0, `t` no later than `now + future_tolerance_s` and no
/// earlier than `now − past_tolerance_s`. The unit's UCUM validity is
/// checked when the device is registered (`jiliang_metrology::ucum`).
pub fn check_batch(
    readings: &[DeviceReading],
    device_unit: &str,
    now: OffsetDateTime,
    future_tolerance_s: f64,
    past_tolerance_s: f64,
) -> Result<(), BatchProblem> {
    let batch = |message: String| BatchProblem { seq: None, message };
    if readings.is_empty() {
        return Err(batch("the batch holds no readings".into()));
    }
    if readings.len() > MAX_BATCH {
        return Err(batch(format!(
            "the batch holds {} readings; at most {MAX_BATCH} are allowed",
            readings.len()
        )));
    }
    let latest = now + Duration::seconds_f64(future_tolerance_s.max(0.0));
    let earliest = now - Duration::seconds_f64(past_tolerance_s.max(0.0));
    let mut previous: Option<u64> = None;
    for r in readings {
        let bad = |message: String| BatchProblem {
            seq: Some(r.seq),
            message,
        };
        if r.seq == 0 {
            return Err(bad("seq must be 1 or more".into()));
        }
        if let Some(p) = previous
            && r.seq <= p
        {
            return Err(bad(format!(
                "seq must increase strictly within a batch ({} follows {p})",
                r.seq
            )));
        }
        previous = Some(r.seq);
        if !r.value.is_finite() {
            return Err(bad(format!(
                "value must be a finite number, not {}",
                r.value
            )));
        }
        if r.unit != device_unit {
            return Err(bad(format!(
                "unit `{}` differs from the device's unit `{device_unit}`",
                r.unit
            )));
        }
        if !r.u_t.is_finite() || r.u_t < 0.0 {
            return Err(bad(format!(
                "u_t must be a finite number of seconds ≥ 0, not {}",
                r.u_t
            )));
        }
        if r.t > latest {
            return Err(bad(format!(
                "t {} is more than {future_tolerance_s} s ahead of the server's clock",
                rfc3339(r.t)
            )));
        }
        if r.t < earliest {
            return Err(bad(format!(
                "t {} is more than {past_tolerance_s} s in the past",
                rfc3339(r.t)
            )));
        }
    }
    Ok(())
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// A number, or `null` / `"NaN"` / `"inf"` / `"-inf"` read as the
/// non-finite number they name (see the module docs for why).
fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Number(f64),
        Text(String),
        Null(()),
    }
    match Lenient::deserialize(d)? {
        Lenient::Number(v) => Ok(v),
        Lenient::Null(()) => Ok(f64::NAN),
        Lenient::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "nan" => Ok(f64::NAN),
            "inf" | "+inf" | "infinity" | "+infinity" => Ok(f64::INFINITY),
            "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(serde::de::Error::custom(format!(
                "expected a number, found the string {s:?}"
            ))),
        },
    }
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `YYYY-MM-DD` dates (the `time` crate's default serde form is a tuple).
mod iso_date {
    time::serde::format_description!(pub date, Date, "[year]-[month]-[day]");
    pub use date::option;
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn reading(seq: u64, value: f64) -> DeviceReading {
        DeviceReading {
            seq,
            t: datetime!(2026-11-26 08:00:00.25 UTC),
            value,
            unit: "V".into(),
            u_t: 0.002,
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-11-26 08:00:01 UTC);

    #[test]
    fn client_frames_refuse_unknown_types_and_fields() {
        assert!(serde_json::from_str::<AgentFrame>(r#"{"type":"dance"}"#).is_err());
        assert!(
            serde_json::from_str::<AgentFrame>(
                r#"{"type":"hello","protocol":1,"agent":"a","driver":"scpi","x":1}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<AgentFrame>(
                r#"{"type":"readings","readings":[{"seq":1,"t":"2026-11-26T08:00:00Z","value":1,"unit":"V","u_t":0,"extra":2}]}"#
            )
            .is_err()
        );
        let hello: AgentFrame = serde_json::from_str(
            r#"{"type":"hello","protocol":1,"agent":"jiliang-agent/0.1.0","driver":"modbus"}"#,
        )
        .expect("parses");
        assert_eq!(
            hello,
            AgentFrame::Hello(AgentHello {
                protocol: 1,
                agent: "jiliang-agent/0.1.0".into(),
                driver: DriverKind::Modbus,
                idn: None
            })
        );
    }

    #[test]
    fn non_finite_numbers_parse_only_to_be_refused_by_seq() {
        for (raw, finite) in [
            ("null", false),
            (r#""NaN""#, false),
            (r#""inf""#, false),
            (r#""-Infinity""#, false),
            ("1.5e-3", true),
        ] {
            let json = format!(
                r#"{{"readings":[{{"seq":7,"t":"2026-11-26T08:00:00Z","value":{raw},"unit":"V","u_t":0}}]}}"#
            );
            let b: ReadingsBatch = serde_json::from_str(&json).expect("parses");
            let checked = check_batch(&b.readings, "V", NOW, 10.0, 86_400.0);
            assert_eq!(checked.is_ok(), finite, "{raw}");
            if let Err(p) = checked {
                assert_eq!(p.seq, Some(7));
                assert!(
                    p.to_string()
                        .starts_with("reading seq 7: value must be a finite number")
                );
            }
        }
        let json = r#"{"seq":1,"t":"2026-11-26T08:00:00Z","value":"12","unit":"V","u_t":0}"#;
        assert!(serde_json::from_str::<DeviceReading>(json).is_err());
    }

    #[test]
    fn batch_rules_name_the_first_offending_reading() {
        let ok = [reading(1, 1.0), reading(2, 1.1), reading(5, 1.2)];
        assert_eq!(check_batch(&ok, "V", NOW, 10.0, 60.0), Ok(()));

        let first = |rs: &[DeviceReading], unit: &str| {
            check_batch(rs, unit, NOW, 10.0, 60.0).map_err(|p| (p.seq, p.message))
        };
        assert_eq!(first(&[], "V").map_err(|e| e.0), Err(None));
        let too_many: Vec<_> = (1..=MAX_BATCH as u64 + 1)
            .map(|s| reading(s, 1.0))
            .collect();
        assert_eq!(first(&too_many, "V").map_err(|e| e.0), Err(None));
        assert_eq!(
            first(&[reading(0, 1.0)], "V").map_err(|e| e.0),
            Err(Some(0))
        );
        assert_eq!(
            first(&[reading(3, 1.0), reading(3, 1.0)], "V").map_err(|e| e.0),
            Err(Some(3))
        );
        assert_eq!(first(&ok, "mV").map_err(|e| e.0), Err(Some(1)));
        let mut late = reading(4, 1.0);
        late.t = NOW + Duration::seconds(11);
        assert_eq!(first(&[late], "V").map_err(|e| e.0), Err(Some(4)));
        let mut old = reading(4, 1.0);
        old.t = NOW - Duration::seconds(61);
        assert_eq!(first(&[old], "V").map_err(|e| e.0), Err(Some(4)));
        let mut neg_u = reading(9, 1.0);
        neg_u.u_t = -0.1;
        assert_eq!(first(&[neg_u], "V").map_err(|e| e.0), Err(Some(9)));
    }

    #[test]
    fn dates_are_iso_strings() {
        let cert = ReferenceCert {
            certificate_no: "ZJ2026-0001".into(),
            issuer: None,
            expanded_uncertainty: 0.003,
            k: 2.0,
            unit: None,
            valid_until: Some(time::macros::date!(2027 - 03 - 31)),
        };
        let json = serde_json::to_string(&cert).expect("serialises");
        assert_eq!(
            json,
            r#"{"certificate_no":"ZJ2026-0001","expanded_uncertainty":0.003,"k":2.0,"valid_until":"2027-03-31"}"#
        );
        assert_eq!(
            serde_json::from_str::<ReferenceCert>(&json).expect("parses"),
            cert
        );
    }
}
