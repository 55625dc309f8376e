//! The one path a batch of readings takes: validated with the protocol's
//! `check_batch` against the device's unit and the server's clock, stored
//! exactly once with its ledger record and room events, then fanned out to
//! the rooms. The agent socket, the HTTP upload and manual entry all call
//! this; none of them stores readings another way.
//!
//! Tolerances of a reading's time `t` against the server's clock (stated to
//! agents in `welcome`): at most [`FUTURE_TOLERANCE_S`] ahead, at most
//! [`PAST_TOLERANCE_S`] old.

use std::sync::Arc;

use jiliang_protocol::devices::{
    BatchAck, DEFAULT_FUTURE_TOLERANCE_S, DEFAULT_PAST_TOLERANCE_S, Device, DeviceReading,
    MAX_BATCH, MAX_MANUAL_KEY_CHARS, ManualReading, ManualStored, UNTIMED_MANUAL_U_T_S,
    check_batch,
};
use jiliang_protocol::rooms::RoomEvent;
use uuid::Uuid;

use crate::clock::now;
use crate::error::AppError;
use crate::i18n::Text;
use crate::state::AppState;
use crate::store::devices::{AgentBatch, IngestOutcome, NewBatch, Source};

/// How far ahead of the server's clock a reading's `t` may be, seconds.
pub const FUTURE_TOLERANCE_S: f64 = DEFAULT_FUTURE_TOLERANCE_S;
/// How old a reading's `t` may be, seconds (30 days: agents buffer through
/// long outages).
pub const PAST_TOLERANCE_S: f64 = DEFAULT_PAST_TOLERANCE_S;

/// Why a batch was not stored. Nothing of it was.
#[derive(Debug)]
pub enum Refused {
    /// The content is wrong; resending it unchanged will not help. `seq`
    /// (and `index`, its place in the batch) name the first offending
    /// reading when one is to blame.
    Invalid {
        seq: Option<u64>,
        index: Option<usize>,
        message: String,
    },
    /// The token is no longer valid (revoked or replaced).
    TokenInvalid,
    /// Storage failed; the same batch may be sent again.
    Unavailable(sqlx::Error),
}

fn invalid_at(readings: &[DeviceReading], seq: Option<u64>, message: String) -> Refused {
    Refused::Invalid {
        seq,
        index: seq.and_then(|s| readings.iter().position(|r| r.seq == s)),
        message,
    }
}

/// Store an agent's batch for `device`, sent with the token hashing to
/// `token_hash`; the acknowledgement once it is durable.
pub async fn agent_batch(
    state: &AppState,
    device: &Device,
    token_hash: &[u8; 32],
    readings: &[DeviceReading],
) -> Result<BatchAck, Refused> {
    let result = store_agent_batch(state, device, token_hash, readings).await;
    match &result {
        Ok(ack) => state
            .metrics
            .readings(u64::from(ack.stored), u64::from(ack.duplicates)),
        Err(Refused::Invalid { .. }) => state.metrics.batch_refused("invalid"),
        Err(Refused::TokenInvalid) => state.metrics.batch_refused("token"),
        Err(Refused::Unavailable(_)) => state.metrics.batch_refused("unavailable"),
    }
    result
}

async fn store_agent_batch(
    state: &AppState,
    device: &Device,
    token_hash: &[u8; 32],
    readings: &[DeviceReading],
) -> Result<BatchAck, Refused> {
    if let Err(p) = check_batch(
        readings,
        &device.unit,
        now(),
        FUTURE_TOLERANCE_S,
        PAST_TOLERANCE_S,
    ) {
        return Err(invalid_at(readings, p.seq, p.to_string()));
    }
    // The databases count in signed 64 bits; a larger number would be
    // stored as another reading's.
    if let Some(r) = readings.iter().find(|r| i64::try_from(r.seq).is_err()) {
        return Err(invalid_at(
            readings,
            Some(r.seq),
            format!("seq must be at most {}", i64::MAX),
        ));
    }
    let Some(last) = readings.last() else {
        return Err(invalid_at(
            readings,
            None,
            "the batch holds no readings".into(),
        ));
    };
    // Through the batch writer: stored with other agents' batches in one
    // transaction, its room events already delivered when it answers.
    let outcome = state
        .batches
        .store(AgentBatch {
            device_id: device.id,
            unit: device.unit.clone(),
            token_hash: *token_hash,
            readings: readings.to_vec(),
        })
        .await
        .map_err(Refused::Unavailable)?;
    match outcome {
        IngestOutcome::Stored {
            stored, duplicates, ..
        } => Ok(BatchAck {
            through: last.seq,
            stored: u32::try_from(stored.len()).unwrap_or(u32::MAX),
            duplicates,
        }),
        IngestOutcome::TokenInvalid | IngestOutcome::NoDevice => Err(Refused::TokenInvalid),
        IngestOutcome::UnitMismatch { device_unit } => Err(invalid_at(
            readings,
            readings.first().map(|r| r.seq),
            format!(
                "unit `{}` differs from the device's unit `{device_unit}`",
                device.unit
            ),
        )),
        // Only manual entries have keys or are refused for having an agent.
        IngestOutcome::KeyStored { .. } | IngestOutcome::HasAgent => Err(Refused::Unavailable(
            sqlx::Error::Protocol("unexpected outcome for an agent batch".into()),
        )),
    }
}

/// Store readings typed in by `user` for `device` under the client's
/// `key`; a key stored before answers what was stored then
/// (`duplicate: true`).
pub async fn manual_entry(
    state: &AppState,
    device: &Device,
    user: Uuid,
    key: &str,
    entries: &[ManualReading],
) -> Result<ManualStored, AppError> {
    let key = key.trim();
    if key.is_empty()
        || key.chars().count() > MAX_MANUAL_KEY_CHARS
        || key.chars().any(char::is_control)
    {
        return Err(AppError::invalid(
            "key 应为 1–64 个可见字符。",
            "key must be 1–64 printable characters.",
        ));
    }
    if entries.is_empty() || entries.len() > MAX_BATCH {
        return Err(AppError::Invalid {
            message: Text::owned(
                format!("每次应录入 1–{MAX_BATCH} 个读数。"),
                format!("Enter 1–{MAX_BATCH} readings at a time."),
            ),
            details: Vec::new(),
        });
    }
    let now = now();
    // Numbered 1, 2, … only for the checks; the store numbers them after
    // the device's last reading.
    let readings: Vec<DeviceReading> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| DeviceReading {
            seq: i as u64 + 1,
            t: e.t.unwrap_or(now),
            value: e.value,
            unit: e.unit.clone(),
            u_t: e.u_t.unwrap_or(if e.t.is_some() {
                0.0
            } else {
                UNTIMED_MANUAL_U_T_S
            }),
        })
        .collect();
    if let Err(p) = check_batch(
        &readings,
        &device.unit,
        now,
        FUTURE_TOLERANCE_S,
        PAST_TOLERANCE_S,
    ) {
        let (field, what) = match p.seq {
            Some(n) => (format!("readings[{}]", n - 1), format!("reading {n}: ")),
            None => ("readings".to_owned(), String::new()),
        };
        return Err(AppError::Invalid {
            message: Text::owned(
                format!("读数有误：{what}{}", p.message),
                format!("Invalid reading: {what}{}", p.message),
            ),
            details: vec![jiliang_protocol::FieldError {
                field,
                message: p.message,
            }],
        });
    }
    let batch = NewBatch {
        device_id: device.id,
        unit: &device.unit,
        source: Source::Manual { user, key },
        readings: &readings,
    };
    let outcome = match state.store.ingest_readings(&batch).await {
        Ok(o) => o,
        // The same key sent twice at once: one stored it; ask again to get
        // what it stored.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            state.store.ingest_readings(&batch).await?
        }
        Err(e) => return Err(e.into()),
    };
    match outcome {
        IngestOutcome::Stored {
            batch_id: Some(batch_id),
            stored,
            events,
            ..
        } => {
            publish(state, events);
            state.metrics.readings(stored.len() as u64, 0);
            Ok(ManualStored {
                batch_id,
                duplicate: false,
                readings: stored,
            })
        }
        IngestOutcome::KeyStored { batch_id, readings } => Ok(ManualStored {
            batch_id,
            duplicate: true,
            readings,
        }),
        IngestOutcome::HasAgent => Err(AppError::Conflict(Text::new(
            "该设备由采集代理上传读数，不能手工录入。",
            "This device's readings come from its agent; they cannot be typed in.",
        ))),
        IngestOutcome::NoDevice => Err(AppError::not_found("找不到该设备。", "No such device.")),
        IngestOutcome::UnitMismatch { device_unit } => Err(AppError::Invalid {
            message: Text::owned(
                format!("设备的单位已改为 {device_unit}。"),
                format!("The device's unit is now {device_unit}."),
            ),
            details: Vec::new(),
        }),
        IngestOutcome::Stored { batch_id: None, .. } | IngestOutcome::TokenInvalid => Err(
            AppError::internal("manual entry: nothing stored and no earlier entry found"),
        ),
    }
}

/// Deliver stored room events to this node's rooms and the other nodes.
fn publish(state: &AppState, events: Vec<(Uuid, RoomEvent)>) {
    for (session, event) in events {
        state
            .rooms
            .publish_event(&state.bus, session, Arc::new(event));
    }
}
