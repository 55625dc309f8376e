//! Storing a batch of readings: exactly once per `(device_id, seq)`, the
//! batch a ledger record, and — for a device attached to a live session —
//! the readings in that room's log, all in one transaction.
//!
//! # What it guarantees
//! - A reading already stored (a resend) is counted as a duplicate and
//!   stored nothing; the rest of its batch is stored. A batch of duplicates
//!   only stores nothing and writes no record.
//! - The readings stored by one call, their `reading_batch` ledger leaf and
//!   their room events (with their `room_event` leaves) commit together or
//!   not at all: a reading is never in the database without its record, and
//!   never missing from the room of the session it was stored for.
//! - An agent's batch is stored only while its token is valid, checked in
//!   the statement that locks the device row; so a batch racing a
//!   revocation is either stored before it or refused after it.
//! - The device row's `UPDATE` comes first: batches of one device are
//!   serialised (PostgreSQL row lock; SQLite's one writer), so two
//!   connections sending the same readings cannot both store them.
//!
//! It never validates content (that is `check_batch`, before it); it only
//! re-checks what can change under a connection: the token and the unit.

use std::collections::HashSet;

use jiliang_protocol::devices::DeviceReading;
use jiliang_protocol::rooms::{
    DeviceReadings, EventBody, MAX_READINGS_PER_EVENT, Readings, RoomEvent,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::now;
use crate::ledger::records::{self, ReadingBatch, truncate_micros};
use crate::store::Store;
use crate::store::marks::Marks;
use crate::store::time::db_time;

/// Readings per multi-row INSERT: 6 parameters each stays far below both
/// databases' limits on bound parameters.
const INSERT_CHUNK: usize = 400;

/// Where a batch comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// An agent, with the hash of the token it connected with.
    Agent { token_hash: &'a [u8; 32] },
    /// A person typing readings in; `key` makes a resend idempotent.
    Manual { user: Uuid, key: &'a str },
}

impl Source<'_> {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Agent { .. } => "agent",
            Self::Manual { .. } => "manual",
        }
    }
}

/// A batch to store.
#[derive(Debug, Clone, Copy)]
pub struct NewBatch<'a> {
    pub device_id: Uuid,
    /// The unit every reading carries (already checked against the device
    /// as the caller knew it; re-checked here).
    pub unit: &'a str,
    pub source: Source<'a>,
    /// Agent: in strictly increasing `seq` order. Manual: `seq` is ignored;
    /// the readings are numbered after the device's last, in this order.
    pub readings: &'a [DeviceReading],
}

/// What became of a batch.
#[derive(Debug, Clone)]
pub enum IngestOutcome {
    Stored {
        /// `None` when every reading had been stored before.
        batch_id: Option<Uuid>,
        /// The readings stored now, in `seq` order.
        stored: Vec<DeviceReading>,
        duplicates: u32,
        /// Room events written, with their session, for fan-out.
        events: Vec<(Uuid, RoomEvent)>,
    },
    /// A manual entry whose key was stored before: what was stored then.
    KeyStored {
        batch_id: Uuid,
        readings: Vec<DeviceReading>,
    },
    /// Agent: the token is no longer valid (revoked, replaced) or the
    /// device is gone.
    TokenInvalid,
    NoDevice,
    /// The device's unit is not the batch's (changed under a connection).
    UnitMismatch {
        device_unit: String,
    },
    /// Manual entry for a device whose readings come from an agent.
    HasAgent,
}

/// `($1, $2, …), (…)` for `rows` rows of `cols` parameters.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// Store `b` (see the module docs for what it guarantees).
    pub async fn ingest_readings(&self, b: &NewBatch<'_>) -> Result<IngestOutcome, sqlx::Error> {
        let n = b.readings.len();
        if n == 0 {
            return Ok(IngestOutcome::Stored {
                batch_id: None,
                stored: Vec::new(),
                duplicates: 0,
                events: Vec::new(),
            });
        }
        let begin = self.begin_write();
        let backend = self.backend();
        let _turn = self.write_turn().await;
        let stored_at = now();
        with_db!(self, "devices.ingest", |p| {
            let mut tx = p.begin_with(begin).await?;
            // 1. A manual entry sent before: answer what was stored then.
            if let Source::Manual { key, .. } = b.source {
                let earlier: Option<(Uuid, String)> = sqlx::query_as(
                    "SELECT id, unit FROM reading_batches WHERE device_id = $1 AND client_key = $2",
                )
                .bind(b.device_id)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((batch_id, unit)) = earlier {
                    let rows: Vec<(i64, OffsetDateTime, f64, f64)> = sqlx::query_as(
                        "SELECT seq, t, value, u_t FROM device_readings WHERE batch_id = $1 ORDER BY seq",
                    )
                    .bind(batch_id)
                    .fetch_all(&mut *tx)
                    .await?;
                    tx.rollback().await?;
                    return Ok(IngestOutcome::KeyStored {
                        batch_id,
                        readings: rows
                            .into_iter()
                            .map(|(seq, t, value, u_t)| DeviceReading {
                                seq: to_u64(seq),
                                t,
                                value,
                                unit: unit.clone(),
                                u_t,
                            })
                            .collect(),
                    });
                }
            }
            // 2. Lock the device row: check the token (agent) or that no
            //    agent feeds it (manual), and move its counter.
            let locked: Option<(i64, String, Option<Uuid>)> = match b.source {
                Source::Agent { token_hash } => {
                    let max = b.readings.iter().map(|r| r.seq).max().unwrap_or(0);
                    // An uploader that never said hello (the HTTP upload)
                    // is an agent too: from now on nobody types readings in
                    // that could take the numbers it uses.
                    sqlx::query_as(
                        "UPDATE devices SET last_seq = CASE WHEN last_seq < $2 THEN $2 ELSE last_seq END, \
                         agent_connected_at = COALESCE(agent_connected_at, $4) \
                         WHERE id = $1 AND token_hash = $3 AND token_revoked_at IS NULL \
                         RETURNING last_seq, unit, session_id",
                    )
                    .bind(b.device_id)
                    .bind(to_i64(max))
                    .bind(token_hash.to_vec())
                    .bind(db_time(stored_at))
                    .fetch_optional(&mut *tx)
                    .await?
                }
                Source::Manual { .. } => {
                    sqlx::query_as(
                        "UPDATE devices SET last_seq = last_seq + $2 \
                         WHERE id = $1 AND agent_connected_at IS NULL \
                         RETURNING last_seq, unit, session_id",
                    )
                    .bind(b.device_id)
                    .bind(to_i64(n as u64))
                    .fetch_optional(&mut *tx)
                    .await?
                }
            };
            let Some((last_seq, device_unit, session)) = locked else {
                let outcome = match b.source {
                    Source::Agent { .. } => IngestOutcome::TokenInvalid,
                    Source::Manual { .. } => {
                        let exists: Option<i64> =
                            sqlx::query_scalar("SELECT last_seq FROM devices WHERE id = $1")
                                .bind(b.device_id)
                                .fetch_optional(&mut *tx)
                                .await?;
                        if exists.is_some() {
                            IngestOutcome::HasAgent
                        } else {
                            IngestOutcome::NoDevice
                        }
                    }
                };
                tx.rollback().await?;
                return Ok(outcome);
            };
            if device_unit != b.unit {
                tx.rollback().await?;
                return Ok(IngestOutcome::UnitMismatch { device_unit });
            }
            // 3. Which readings are new.
            let fresh: Vec<DeviceReading> = match b.source {
                Source::Agent { .. } => {
                    let first = b.readings.first().map_or(0, |r| r.seq);
                    let last = b.readings.last().map_or(0, |r| r.seq);
                    let have: Vec<i64> = sqlx::query_scalar(
                        "SELECT seq FROM device_readings WHERE device_id = $1 AND seq >= $2 AND seq <= $3",
                    )
                    .bind(b.device_id)
                    .bind(to_i64(first))
                    .bind(to_i64(last))
                    .fetch_all(&mut *tx)
                    .await?;
                    let have: HashSet<u64> = have.into_iter().map(to_u64).collect();
                    b.readings
                        .iter()
                        .filter(|r| !have.contains(&r.seq))
                        .map(|r| DeviceReading {
                            t: truncate_micros(r.t),
                            ..r.clone()
                        })
                        .collect()
                }
                Source::Manual { .. } => {
                    let first = to_u64(last_seq) + 1 - n as u64;
                    b.readings
                        .iter()
                        .enumerate()
                        .map(|(i, r)| DeviceReading {
                            seq: first + i as u64,
                            t: truncate_micros(r.t),
                            ..r.clone()
                        })
                        .collect()
                }
            };
            let duplicates = u32::try_from(n - fresh.len()).unwrap_or(u32::MAX);
            let (Some(first), Some(last)) = (fresh.first(), fresh.last()) else {
                tx.rollback().await?;
                return Ok(IngestOutcome::Stored {
                    batch_id: None,
                    stored: Vec::new(),
                    duplicates,
                    events: Vec::new(),
                });
            };
            // 4. The batch, its readings, its ledger leaf.
            let batch_id = Uuid::now_v7();
            let (entered_by, key) = match b.source {
                Source::Manual { user, key } => (Some(user), Some(key)),
                Source::Agent { .. } => (None, None),
            };
            sqlx::query(
                "INSERT INTO reading_batches (id, device_id, source, unit, first_seq, last_seq, count, stored_at, \
                 entered_by, client_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(batch_id)
            .bind(b.device_id)
            .bind(b.source.as_str())
            .bind(b.unit)
            .bind(to_i64(first.seq))
            .bind(to_i64(last.seq))
            .bind(to_i64(fresh.len() as u64))
            .bind(db_time(stored_at))
            .bind(entered_by)
            .bind(key)
            .execute(&mut *tx)
            .await?;
            for chunk in fresh.chunks(INSERT_CHUNK) {
                let sql = format!(
                    "INSERT INTO device_readings (device_id, seq, t, value, u_t, batch_id) VALUES {}",
                    Marks::new(backend).rows(chunk.len(), 6)
                );
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    q = q
                        .bind(b.device_id)
                        .bind(to_i64(r.seq))
                        .bind(db_time(r.t))
                        .bind(r.value)
                        .bind(r.u_t)
                        .bind(batch_id);
                }
                q.execute(&mut *tx).await?;
            }
            let record = records::reading_batch(&ReadingBatch {
                id: batch_id,
                device_id: b.device_id,
                source: b.source.as_str(),
                unit: b.unit,
                entered_by,
                stored_at,
                readings: &fresh,
            })
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            append_leaf!(tx, &record);
            // 5. The room of a live session the device is attached to.
            let mut events = Vec::new();
            if let Some(session) = session {
                let parts: Vec<&[DeviceReading]> = fresh.chunks(MAX_READINGS_PER_EVENT).collect();
                let k = to_i64(parts.len() as u64);
                let room_last: Option<i64> = sqlx::query_scalar(
                    "UPDATE live_sessions SET last_seq = last_seq + $2 WHERE id = $1 AND state = 'live' \
                     RETURNING last_seq",
                )
                .bind(session)
                .bind(k)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(room_last) = room_last {
                    for (i, part) in parts.into_iter().enumerate() {
                        let event = RoomEvent {
                            seq: to_u64(room_last - k + 1) + i as u64,
                            id: Uuid::now_v7(),
                            at: stored_at,
                            author: None,
                            client_id: None,
                            body: EventBody::Readings(Readings::Devices {
                                devices: vec![DeviceReadings {
                                    device_id: b.device_id,
                                    batch_id,
                                    readings: part.to_vec(),
                                }],
                            }),
                        };
                        insert_event!(tx, session, &event);
                        let record = records::room_event(session, &event)
                            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                        append_leaf!(tx, &record);
                        events.push((session, event));
                    }
                }
            }
            tx.commit().await?;
            Ok(IngestOutcome::Stored {
                batch_id: Some(batch_id),
                stored: fresh,
                duplicates,
                events,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use jiliang_protocol::devices::DeviceReading;
    use jiliang_protocol::rooms::EventBody;
    use uuid::Uuid;

    use super::{IngestOutcome, NewBatch, Source};
    use crate::store::Store;
    use crate::store::devices::NewDeviceRow;
    use crate::store::test_db::{device, seed, stores};

    fn reading(seq: u64, value: f64) -> DeviceReading {
        DeviceReading {
            seq,
            // Nanoseconds on purpose: the store keeps microseconds.
            t: crate::clock::now() + time::Duration::nanoseconds(789),
            value,
            unit: "V".into(),
            u_t: 0.002,
        }
    }

    async fn agent(
        store: &Store,
        device: Uuid,
        hash: &[u8; 32],
        readings: &[DeviceReading],
    ) -> IngestOutcome {
        store
            .ingest_readings(&NewBatch {
                device_id: device,
                unit: "V",
                source: Source::Agent { token_hash: hash },
                readings,
            })
            .await
            .expect("ingest")
    }

    fn counts(o: &IngestOutcome) -> (usize, u32, usize) {
        match o {
            IngestOutcome::Stored {
                stored,
                duplicates,
                events,
                ..
            } => (stored.len(), *duplicates, events.len()),
            other => panic!("not stored: {other:?}"),
        }
    }

    #[tokio::test]
    async fn readings_are_stored_once_with_their_record_and_room_events() {
        for t in stores().await {
            let store = &t.store;
            let s = seed(store).await;
            let hash = [7u8; 32];
            let id = device(store, s.lab, s.user, hash).await;
            // Not attached: stored, no room event.
            let first = agent(store, id, &hash, &[reading(1, 1.0), reading(2, 1.5)]).await;
            assert_eq!(counts(&first), (2, 0, 0), "{}", t.name);
            // Attached to a live session: a resend of 2 with 3 and 4 new
            // stores two and logs one event holding exactly those two.
            assert_eq!(
                store
                    .attach_device(id, s.session, s.user)
                    .await
                    .expect("attach"),
                super::super::Attach::Attached
            );
            let next = agent(
                store,
                id,
                &hash,
                &[reading(2, 1.5), reading(3, 2.0), reading(4, 2.5)],
            )
            .await;
            assert_eq!(counts(&next), (2, 1, 1), "{}", t.name);
            let IngestOutcome::Stored {
                events, batch_id, ..
            } = &next
            else {
                unreachable!()
            };
            let (session, event) = &events[0];
            assert_eq!(*session, s.session);
            match &event.body {
                EventBody::Readings(body) => {
                    let [part] = body.parts() else {
                        panic!("{body:?}")
                    };
                    assert_eq!(part.device_id, id);
                    assert_eq!(Some(part.batch_id), *batch_id);
                    assert_eq!(
                        part.readings.iter().map(|r| r.seq).collect::<Vec<_>>(),
                        vec![3, 4]
                    );
                }
                other => panic!("{other:?}"),
            }
            // All duplicates: nothing stored, no record.
            let size = store.ledger_size().await.expect("size");
            let again = agent(store, id, &hash, &[reading(3, 2.0), reading(4, 2.5)]).await;
            assert_eq!(counts(&again), (0, 2, 0), "{}", t.name);
            assert_eq!(store.ledger_size().await.expect("size"), size);
            // Another token: refused, nothing stored.
            let other = agent(store, id, &[8u8; 32], &[reading(5, 3.0)]).await;
            assert!(matches!(other, IngestOutcome::TokenInvalid), "{}", t.name);
            assert!(store.revoke_device_token(id).await.expect("revoke"));
            let revoked = agent(store, id, &hash, &[reading(5, 3.0)]).await;
            assert!(matches!(revoked, IngestOutcome::TokenInvalid), "{}", t.name);

            // Read back: four readings, microseconds, the counter.
            let page = store.device_readings(id, "V", 0, 10).await.expect("page");
            assert_eq!(
                page.iter().map(|r| r.seq).collect::<Vec<_>>(),
                vec![1, 2, 3, 4]
            );
            assert!(page.iter().all(|r| r.t.nanosecond() % 1000 == 0));
            assert_eq!(
                store.get_device(id).await.expect("device").device.last_seq,
                4
            );
            // The ledger: two batch records and one room event, each
            // re-derived from the stored rows by the verifier.
            assert_eq!(store.ledger_size().await.expect("size"), Some(3));
            let report = crate::ledger::verify::verify_database(store, None)
                .await
                .expect("verify");
            assert!(report.ok, "{}: {:?}", t.name, report.problems);
            // A stored value changed afterwards is named by the verifier.
            crate::store::testing::execute(
                store,
                "UPDATE device_readings SET value = 1.25 WHERE seq = 2",
            )
            .await
            .expect("tamper");
            let report = crate::ledger::verify::verify_database(store, None)
                .await
                .expect("verify");
            assert!(
                report.problems.iter().any(
                    |p| p.contains("reading_batch") && p.contains("the stored readings differ")
                ),
                "{}: {:?}",
                t.name,
                report.problems
            );
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn manual_entries_are_numbered_by_the_server_and_keyed() {
        for t in stores().await {
            let store = &t.store;
            let s = seed(store).await;
            let d = store
                .insert_device(&NewDeviceRow {
                    lab_id: s.lab,
                    name: "天平".into(),
                    kind: "balance".into(),
                    quantity: "mass".into(),
                    unit: "g".into(),
                    resolution: None,
                    reference: None,
                    token_hash: [1u8; 32],
                    created_by: s.user,
                })
                .await
                .expect("device");
            let id = d.device.id;
            let typed = |v: f64| DeviceReading {
                unit: "g".into(),
                ..reading(0, v)
            };
            let manual = |key: &'static str, rs: Vec<DeviceReading>| {
                let store = store.clone();
                async move {
                    store
                        .ingest_readings(&NewBatch {
                            device_id: id,
                            unit: "g",
                            source: Source::Manual { user: s.user, key },
                            readings: &rs,
                        })
                        .await
                        .expect("ingest")
                }
            };
            let a = manual("k1", vec![typed(100.01), typed(100.02)]).await;
            assert_eq!(counts(&a), (2, 0, 0), "{}", t.name);
            let b = manual("k2", vec![typed(100.03)]).await;
            let IngestOutcome::Stored { stored, .. } = &b else {
                panic!("{b:?}")
            };
            assert_eq!(stored[0].seq, 3);
            // The same key again: what was stored then, nothing new.
            let again = manual("k1", vec![typed(999.0)]).await;
            match again {
                IngestOutcome::KeyStored { readings, .. } => {
                    assert_eq!(
                        readings
                            .iter()
                            .map(|r| (r.seq, r.value))
                            .collect::<Vec<_>>(),
                        vec![(1, 100.01), (2, 100.02)]
                    );
                }
                other => panic!("{}: {other:?}", t.name),
            }
            assert_eq!(store.count_device_readings(id).await.expect("count"), 3);
            // Once an agent has connected, typing is refused.
            assert_eq!(
                store.agent_connected(id, &[1u8; 32]).await.expect("hello"),
                Some(3)
            );
            let refused = manual("k3", vec![typed(1.0)]).await;
            assert!(matches!(refused, IngestOutcome::HasAgent), "{}", t.name);
            t.cleanup().await;
        }
    }
}
