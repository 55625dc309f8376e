//! How stored things become ledger records. One constructor per kind; the
//! payload is whatever identifies the content completely, canonicalised by
//! `jiliang_ledger::canonical_json`, so re-deriving it from the stored row
//! later gives the same bytes — or reveals that the row changed.

use jiliang_ledger::{Record, RecordError, RecordKind};
use jiliang_protocol::devices::DeviceReading;
use jiliang_protocol::rooms::{EventBody, RoomEvent};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

pub fn unix_ms(t: OffsetDateTime) -> u64 {
    u64::try_from((t.unix_timestamp_nanos() / 1_000_000).max(0)).unwrap_or(0)
}

#[derive(Serialize)]
struct RoomEventPayload<'a> {
    session: Uuid,
    seq: u64,
    author: Option<Uuid>,
    client_id: Option<&'a str>,
    body: &'a EventBody,
}

/// A room event: who said or did what, where in which room's log.
pub fn room_event(session: Uuid, e: &RoomEvent) -> Result<Record, RecordError> {
    Record::new(
        RecordKind::ROOM_EVENT,
        e.id.to_string(),
        unix_ms(e.at),
        &RoomEventPayload {
            session,
            seq: e.seq,
            author: e.author.as_ref().map(|a| a.id),
            client_id: e.client_id.as_deref(),
            body: &e.body,
        },
    )
}

/// One stored batch of a device's readings, as the ledger sees it: the
/// rows of `reading_batches` and `device_readings` it re-derives from.
#[derive(Debug, Clone)]
pub struct ReadingBatch<'a> {
    pub id: Uuid,
    pub device_id: Uuid,
    /// `agent` or `manual`.
    pub source: &'a str,
    pub unit: &'a str,
    /// Who typed a manual entry.
    pub entered_by: Option<Uuid>,
    pub stored_at: OffsetDateTime,
    /// In `seq` order; their `unit` is not read (`unit` above is the batch's).
    pub readings: &'a [DeviceReading],
}

#[derive(Serialize)]
struct ReadingBatchPayload<'a> {
    device: Uuid,
    source: &'a str,
    unit: &'a str,
    entered_by: Option<Uuid>,
    readings: Vec<ReadingEntry>,
}

#[derive(Serialize)]
struct ReadingEntry {
    seq: u64,
    /// RFC 3339 at the microsecond the databases keep.
    t: String,
    value: f64,
    u_t: f64,
}

/// A stored batch of instrument readings: every reading's sequence number,
/// time, value and time uncertainty, with the device and the unit.
pub fn reading_batch(b: &ReadingBatch<'_>) -> Result<Record, RecordError> {
    Record::new(
        RecordKind::READING_BATCH,
        b.id.to_string(),
        unix_ms(b.stored_at),
        &ReadingBatchPayload {
            device: b.device_id,
            source: b.source,
            unit: b.unit,
            entered_by: b.entered_by,
            readings: b
                .readings
                .iter()
                .map(|r| ReadingEntry {
                    seq: r.seq,
                    t: rfc3339_micros(r.t),
                    value: r.value,
                    u_t: r.u_t,
                })
                .collect(),
        },
    )
}

/// A finished comparison (原始记录): its content as stored in the
/// `comparisons` row — the settings, every reading used, each point's
/// result, who finished it and when — so re-deriving it from the row gives
/// the same leaf, or shows that the row changed.
pub fn raw_record(
    id: Uuid,
    finished_at: OffsetDateTime,
    content: &serde_json::Value,
) -> Result<Record, RecordError> {
    Record::new(
        RecordKind::RAW_RECORD,
        id.to_string(),
        unix_ms(finished_at),
        content,
    )
}

#[derive(Serialize)]
struct RecordingPayload<'a> {
    session: Uuid,
    recording: Uuid,
    publisher: Uuid,
    kind: &'a str,
    with_audio: bool,
    started_at: String,
    duration_ms: u64,
    bytes: u64,
    sha256: &'a str,
}

/// A recorded WebM file of a session: whose tracks, when, how long, and
/// the SHA-256 of the file's bytes, so the file served later can be
/// checked against the log.
pub fn recording(
    f: &jiliang_protocol::recordings::RecordingFile,
    sha256: &str,
) -> Result<Record, RecordError> {
    Record::new(
        RecordKind::RECORDING,
        f.id.to_string(),
        unix_ms(f.started_at),
        &RecordingPayload {
            session: f.session_id,
            recording: f.recording_id,
            publisher: f.publisher_id,
            kind: f.kind.as_str(),
            with_audio: f.with_audio,
            started_at: rfc3339_micros(f.started_at),
            duration_ms: f.duration_ms,
            bytes: f.bytes,
            sha256,
        },
    )
}

/// `t` truncated to the microsecond (PostgreSQL's precision), in UTC, as
/// RFC 3339: the same text live and when re-derived from either database.
pub fn rfc3339_micros(t: OffsetDateTime) -> String {
    let t = truncate_micros(t).to_offset(time::UtcOffset::UTC);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// What both databases keep of a time: microseconds.
pub fn truncate_micros(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_batch_hashes_what_the_databases_keep() {
        let reading = |seq: u64, t: OffsetDateTime| DeviceReading {
            seq,
            t,
            value: 10.000_012,
            unit: "V".into(),
            u_t: 0.0021,
        };
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_764_000_000_123_456_789).expect("time");
        let live = [reading(1, t), reading(2, t + time::Duration::seconds(1))];
        let stored = [
            reading(1, truncate_micros(t)),
            reading(2, truncate_micros(t + time::Duration::seconds(1))),
        ];
        let batch = |readings: &[DeviceReading]| {
            reading_batch(&ReadingBatch {
                id: Uuid::from_u128(5),
                device_id: Uuid::from_u128(7),
                source: "agent",
                unit: "V",
                entered_by: None,
                stored_at: t,
                readings,
            })
            .expect("record")
        };
        assert_eq!(batch(&live).leaf_hash(), batch(&stored).leaf_hash());
        assert_eq!(
            batch(&live).payload.as_str(),
            r#"{"device":"00000000-0000-0000-0000-000000000007","entered_by":null,"readings":[{"seq":1,"t":"2025-11-24T16:00:00.123456Z","u_t":0.0021,"value":10.000012},{"seq":2,"t":"2025-11-24T16:00:01.123456Z","u_t":0.0021,"value":10.000012}],"source":"agent","unit":"V"}"#
        );
        let mut changed = stored.clone();
        changed[1].value = 10.000_013;
        assert_ne!(batch(&changed).leaf_hash(), batch(&stored).leaf_hash());
    }

    #[test]
    fn the_same_event_always_hashes_the_same() {
        let e = RoomEvent {
            seq: 7,
            id: Uuid::from_u128(1),
            at: OffsetDateTime::from_unix_timestamp(1_764_000_000).expect("time"),
            author: None,
            client_id: Some("c1".into()),
            body: EventBody::Chat {
                text: "零点 0.000 g".into(),
            },
        };
        let a = room_event(Uuid::from_u128(9), &e).expect("record");
        let b = room_event(Uuid::from_u128(9), &e.clone()).expect("record");
        assert_eq!(a.leaf_hash(), b.leaf_hash());
        assert_eq!(
            a.payload.as_str(),
            r#"{"author":null,"body":{"kind":"chat","text":"零点 0.000 g"},"client_id":"c1","seq":7,"session":"00000000-0000-0000-0000-000000000009"}"#
        );
        // PostgreSQL keeps microseconds: what verification re-derives from
        // the stored row must hash the same as what was logged live.
        let live = RoomEvent {
            at: OffsetDateTime::from_unix_timestamp_nanos(1_764_000_000_123_456_789).expect("time"),
            ..e.clone()
        };
        let stored = RoomEvent {
            at: OffsetDateTime::from_unix_timestamp_nanos(1_764_000_000_123_456_000).expect("time"),
            ..e.clone()
        };
        assert_eq!(
            room_event(Uuid::from_u128(9), &live)
                .expect("record")
                .leaf_hash(),
            room_event(Uuid::from_u128(9), &stored)
                .expect("record")
                .leaf_hash()
        );
        let mut changed = e.clone();
        changed.seq = 8;
        assert_ne!(
            room_event(Uuid::from_u128(9), &changed)
                .expect("record")
                .leaf_hash(),
            a.leaf_hash()
        );
    }
}
