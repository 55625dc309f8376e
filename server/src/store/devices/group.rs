//! Storing many agents' batches in one transaction (group commit).
//!
//! A province's agents send small batches (an agent at 10 Hz sends what it
//! has whenever an acknowledgement returns), so a thousand agents make
//! thousands of batches a second. One transaction per batch costs a commit
//! (an fsync on SQLite with `synchronous=FULL`) and a dozen statements per
//! batch; the devices' batch writer (`devices::writer`) instead hands the
//! batches waiting at one moment to [`Store::ingest_agent_group`], which
//! stores them with a handful of statements for the whole group — one locking
//! read of the devices, multi-row inserts of batches, readings, room events
//! and ledger leaves, one statement moving the devices' counters and one the
//! sessions' — and one commit. On SQLite every statement is a round trip to
//! the pool's single worker thread (a wake-up on each side), so the number
//! of statements per group, not per batch, is what this module keeps small.
//!
//! Each batch gets the checks and the outcome [`Store::ingest_readings`]
//! would give it alone, in the order of the group; a refused batch stores
//! nothing and does not affect the others. A device's batches that follow
//! on in one group (an agent keeps several in flight) are stored as one
//! batch, with one ledger record, so the rows a group writes grow with its
//! devices, not with the batches they sent; and all the readings a group
//! stores for one live session enter its log as one `readings` event
//! (more past `MAX_READINGS_PER_EVENT`), each device's batch a part of it,
//! so the events, their ledger leaves and the frames the session's viewers
//! parse grow with the sessions, not with their devices. A database error
//! fails the whole group and nothing of it is stored: the writer then
//! stores its batches one by one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Connection, Database, Pool, Postgres, Sqlite};

use crate::store::marks::Marks;

use jiliang_ledger::Record;
use jiliang_protocol::devices::DeviceReading;
use jiliang_protocol::rooms::{
    DeviceReadings, EventBody, MAX_READINGS_PER_EVENT, Readings, RoomEvent,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::ingest::IngestOutcome;
use crate::clock::now;
use crate::ledger::records::{self, ReadingBatch, truncate_micros};
use crate::store::time::db_time;
use crate::store::{Backend, Store};

/// An agent's batch, owned (it waits in the writer's queue).
#[derive(Debug, Clone)]
pub struct AgentBatch {
    pub device_id: Uuid,
    /// The unit every reading carries (checked against the device's).
    pub unit: String,
    /// Hash of the token the agent connected with.
    pub token_hash: [u8; 32],
    /// `seq` strictly increasing (checked before, by `check_batch`).
    pub readings: Vec<DeviceReading>,
}

/// Parameters per statement at most (both databases allow far more; this
/// keeps statements and their parameter lists small).
const MAX_PARAMS: usize = 2400;

/// `items` in chunks of `max`, the rest in chunks of decreasing powers of
/// two: a group's statements then take a few shapes that recur from group
/// to group and stay prepared in the connection's statement cache.
/// Preparing a multi-row statement costs SQLite 50–90 µs per row, more
/// than running it (statements of a new length every group made the
/// `batches`, `counters` and `readings` phases 3–7 times slower;
/// docs/BENCHMARKS.md).
fn shaped_chunks<T>(items: &[T], max: usize) -> Vec<&[T]> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let n = if rest.len() >= max {
            max
        } else {
            1 << (usize::BITS - 1 - rest.len().leading_zeros())
        };
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
    }
    out
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A device as the group found it (locked for the transaction).
struct DeviceRow {
    token_hash: Vec<u8>,
    revoked: bool,
    unit: String,
    /// Highest stored `seq`, moved by earlier batches of the group.
    last_seq: u64,
    session: Option<Uuid>,
    /// Seqs stored by earlier batches of the group.
    taken: HashSet<u64>,
    touched: bool,
    /// The group's stored batch of this device so far (index in the plan).
    planned: Option<usize>,
}

/// A batch of the group that stores something.
#[derive(Clone)]
struct Planned {
    index: usize,
    batch_id: Uuid,
    device_id: Uuid,
    unit: String,
    /// New readings: the first batch's, then those of the device's later
    /// batches of the group.
    fresh: Vec<DeviceReading>,
    /// How many of `fresh` are the first batch's own.
    own: usize,
    duplicates: u32,
    session: Option<Uuid>,
}

/// What a group stores beside its readings, built off the async thread.
struct Built {
    /// Each room event's body as stored, in the group's order.
    bodies: Vec<String>,
    /// Every batch's record, then every event's, with their leaf hashes.
    leaves: Vec<(Record, [u8; 32])>,
}

fn build_records(
    planned: &[Planned],
    events: &[(Uuid, RoomEvent)],
    stored_at: OffsetDateTime,
) -> Result<Built, sqlx::Error> {
    let encode = |e: jiliang_ledger::RecordError| sqlx::Error::Encode(Box::new(e));
    let mut bodies = Vec::with_capacity(events.len());
    let mut leaves = Vec::with_capacity(planned.len() + events.len());
    for pl in planned {
        let record = records::reading_batch(&ReadingBatch {
            id: pl.batch_id,
            device_id: pl.device_id,
            source: "agent",
            unit: &pl.unit,
            entered_by: None,
            stored_at,
            readings: &pl.fresh,
        })
        .map_err(encode)?;
        let hash = record.leaf_hash().0;
        leaves.push((record, hash));
    }
    for (session, e) in events {
        let record = records::room_event(*session, e).map_err(encode)?;
        let hash = record.leaf_hash().0;
        leaves.push((record, hash));
        bodies.push(serde_json::to_string(&e.body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?);
    }
    Ok(Built { bodies, leaves })
}

/// Cut a session's parts into events of at most `max` readings in all, in
/// order; a part that does not fit continues at the head of the next event
/// (so a device appears at most once per event, its readings still in
/// `seq` order across events).
fn cut_events(
    parts: impl IntoIterator<Item = DeviceReadings>,
    max: usize,
) -> Vec<Vec<DeviceReadings>> {
    let max = max.max(1);
    let mut events: Vec<Vec<DeviceReadings>> = Vec::new();
    let mut room = 0;
    for mut part in parts {
        while !part.readings.is_empty() {
            if room == 0 {
                events.push(Vec::new());
                room = max;
            }
            let rest = if part.readings.len() > room {
                part.readings.split_off(room)
            } else {
                Vec::new()
            };
            room -= part.readings.len();
            let tail = DeviceReadings {
                device_id: part.device_id,
                batch_id: part.batch_id,
                readings: rest,
            };
            if let Some(e) = events.last_mut() {
                e.push(part);
            }
            part = tail;
        }
    }
    events
}

/// The connection the batch writer keeps from group to group.
///
/// A pooled connection handed out in turn has usually seen another
/// connection write since its last use, and SQLite then drops its whole
/// page cache: every group would read its thousand devices' and the
/// indexes' pages again. Kept by the one writer, the connection's cache
/// stays warm while the groups are the only writes. Dropped after an error
/// (the next group takes a fresh one).
#[derive(Debug, Default)]
pub struct GroupConn {
    sqlite: Option<PoolConnection<Sqlite>>,
    postgres: Option<PoolConnection<Postgres>>,
}

impl GroupConn {
    /// Give the connection back to the pool (after a failed group).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

trait KeptSlot<DB: Database> {
    fn slot(&mut self) -> &mut Option<PoolConnection<DB>>;
}

impl KeptSlot<Sqlite> for GroupConn {
    fn slot(&mut self) -> &mut Option<PoolConnection<Sqlite>> {
        &mut self.sqlite
    }
}

impl KeptSlot<Postgres> for GroupConn {
    fn slot(&mut self) -> &mut Option<PoolConnection<Postgres>> {
        &mut self.postgres
    }
}

/// The kept connection of `pool`'s kind, taken from the pool if none is.
async fn kept<'c, DB: Database>(
    pool: &Pool<DB>,
    slot: &'c mut Option<PoolConnection<DB>>,
) -> Result<&'c mut PoolConnection<DB>, sqlx::Error> {
    if slot.is_none() {
        *slot = Some(pool.acquire().await?);
    }
    slot.as_mut().ok_or(sqlx::Error::PoolClosed)
}

impl Store {
    /// Store `batches` in one transaction; one outcome per batch, in order
    /// (see the module docs).
    pub async fn ingest_agent_group(
        &self,
        batches: &[AgentBatch],
    ) -> Result<Vec<IngestOutcome>, sqlx::Error> {
        self.ingest_agent_group_on(&mut GroupConn::default(), batches)
            .await
    }

    /// [`Store::ingest_agent_group`] on the writer's kept connection.
    pub async fn ingest_agent_group_on(
        &self,
        conn: &mut GroupConn,
        batches: &[AgentBatch],
    ) -> Result<Vec<IngestOutcome>, sqlx::Error> {
        if batches.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<Uuid> = batches.iter().map(|b| b.device_id).collect();
        ids.sort();
        ids.dedup();
        let begin = self.begin_write();
        let backend = self.backend();
        // Each phase of a group is timed on its own (`/metrics`,
        // `jiliang_db_query_duration_seconds{op="devices.group.…"}`): where
        // a group's time goes decides what to make cheaper next.
        let mut _phase = self.metrics.time("devices.group.turn");
        let _turn = self.write_turn().await;
        let stored_at = now();
        with_db!(self, "devices.ingest_group", |p| {
            _phase = self.metrics.time("devices.group.begin");
            let mut tx = kept(p, KeptSlot::slot(conn))
                .await?
                .begin_with(begin)
                .await?;
            _phase = self.metrics.time("devices.group.lock");
            // 1. Lock and read the group's devices. PostgreSQL: row locks
            //    as a no-op `UPDATE` would take them (`FOR NO KEY UPDATE`,
            //    which FK inserts of readings do not conflict with), in `id`
            //    order so that two nodes' groups cannot deadlock. SQLite: the
            //    write turn and `BEGIN IMMEDIATE` already make this the only
            //    writer, so a plain read is the lock (the no-op `UPDATE …
            //    RETURNING` rewrote every row and staged them all before
            //    the first one came back).
            let mut devices: HashMap<Uuid, DeviceRow> = HashMap::new();
            for chunk in shaped_chunks(&ids, MAX_PARAMS) {
                let sql = format!(
                    "SELECT id, token_hash, token_revoked_at, unit, last_seq, session_id FROM devices \
                     WHERE id IN ({}){}",
                    Marks::new(backend).list(chunk.len()),
                    match backend {
                        Backend::Postgres => " ORDER BY id FOR NO KEY UPDATE",
                        Backend::Sqlite => "",
                    }
                );
                let mut q = sqlx::query_as::<
                    _,
                    (
                        Uuid,
                        Vec<u8>,
                        Option<OffsetDateTime>,
                        String,
                        i64,
                        Option<Uuid>,
                    ),
                >(&sql);
                for id in chunk {
                    q = q.bind(*id);
                }
                for (id, token_hash, revoked, unit, last_seq, session) in
                    q.fetch_all(&mut *tx).await?
                {
                    devices.insert(
                        id,
                        DeviceRow {
                            token_hash,
                            revoked: revoked.is_some(),
                            unit,
                            last_seq: to_u64(last_seq),
                            session,
                            taken: HashSet::new(),
                            touched: false,
                            planned: None,
                        },
                    );
                }
            }
            _phase = self.metrics.time("devices.group.plan");
            // 2. Each batch's outcome, in order. Readings numbered beyond the
            //    device's last stored seq are new; only a resend (numbered at
            //    or below it) needs a look at what is stored.
            let mut outcomes: Vec<Option<IngestOutcome>> = Vec::with_capacity(batches.len());
            let mut planned: Vec<Planned> = Vec::new();
            for (index, b) in batches.iter().enumerate() {
                let Some(d) = devices.get_mut(&b.device_id) else {
                    outcomes.push(Some(IngestOutcome::TokenInvalid));
                    continue;
                };
                if d.revoked || d.token_hash.as_slice() != b.token_hash.as_slice() {
                    outcomes.push(Some(IngestOutcome::TokenInvalid));
                    continue;
                }
                if d.unit != b.unit {
                    outcomes.push(Some(IngestOutcome::UnitMismatch {
                        device_unit: d.unit.clone(),
                    }));
                    continue;
                }
                let first = b.readings.first().map_or(0, |r| r.seq);
                let last = b.readings.last().map_or(0, |r| r.seq);
                let mut have: HashSet<u64> = HashSet::new();
                if first <= d.last_seq {
                    let stored: Vec<i64> = sqlx::query_scalar(
                        "SELECT seq FROM device_readings WHERE device_id = $1 AND seq >= $2 AND seq <= $3",
                    )
                    .bind(b.device_id)
                    .bind(to_i64(first))
                    .bind(to_i64(last))
                    .fetch_all(&mut *tx)
                    .await?;
                    have.extend(stored.into_iter().map(to_u64));
                }
                let fresh: Vec<DeviceReading> = b
                    .readings
                    .iter()
                    .filter(|r| !have.contains(&r.seq) && !d.taken.contains(&r.seq))
                    .map(|r| DeviceReading {
                        t: truncate_micros(r.t),
                        ..r.clone()
                    })
                    .collect();
                let duplicates = u32::try_from(b.readings.len() - fresh.len()).unwrap_or(u32::MAX);
                d.last_seq = d.last_seq.max(last);
                d.touched = true;
                if fresh.is_empty() {
                    outcomes.push(Some(IngestOutcome::Stored {
                        batch_id: None,
                        stored: Vec::new(),
                        duplicates,
                        events: Vec::new(),
                    }));
                    continue;
                }
                d.taken.extend(fresh.iter().map(|r| r.seq));
                // A device's later batches of the group continue its
                // stored batch when they follow on in seq: an agent with
                // several batches in flight then costs the group one batch
                // row, one room event and two ledger leaves, not that
                // many of each per batch. Each batch is still answered
                // for its own readings.
                let open = d.planned.filter(|&i| {
                    planned[i]
                        .fresh
                        .last()
                        .zip(fresh.first())
                        .is_some_and(|(l, f)| l.seq < f.seq)
                });
                if let Some(i) = open {
                    let pl = &mut planned[i];
                    pl.fresh.extend(fresh.iter().cloned());
                    outcomes.push(Some(IngestOutcome::Stored {
                        batch_id: Some(pl.batch_id),
                        stored: fresh,
                        duplicates,
                        events: Vec::new(),
                    }));
                    continue;
                }
                d.planned = Some(planned.len());
                outcomes.push(None);
                planned.push(Planned {
                    index,
                    batch_id: Uuid::now_v7(),
                    device_id: b.device_id,
                    unit: b.unit.clone(),
                    own: fresh.len(),
                    fresh,
                    duplicates,
                    session: d.session,
                });
            }
            // 3. Room events: one `readings` event per live session of the
            //    group holding every device's readings (cut after
            //    MAX_READINGS_PER_EVENT in all), so its viewers parse one
            //    frame and the log and the ledger grow by one event, not
            //    one per device. Each session's counter moves once, all
            //    sessions in one statement.
            _phase = self.metrics.time("devices.group.counters");
            let mut sessions: Vec<(Uuid, Vec<usize>)> = Vec::new();
            let mut place: HashMap<Uuid, usize> = HashMap::new();
            for (i, pl) in planned.iter().enumerate() {
                if let Some(s) = pl.session {
                    let k = *place.entry(s).or_insert_with(|| {
                        sessions.push((s, Vec::new()));
                        sessions.len() - 1
                    });
                    sessions[k].1.push(i);
                }
            }
            let counters: Vec<(Uuid, u64)> = sessions
                .iter()
                .map(|(s, members)| {
                    let n: usize = members.iter().map(|&i| planned[i].fresh.len()).sum();
                    (*s, n.div_ceil(MAX_READINGS_PER_EVENT) as u64)
                })
                .collect();
            let mut next_seq: HashMap<Uuid, u64> = HashMap::new();
            for chunk in shaped_chunks(&counters, MAX_PARAMS / 2) {
                // One statement for every session of the chunk: a round
                // trip per session to SQLite's single worker thread was
                // most of a group's statements.
                let sql = format!(
                    "WITH v(sid, k) AS (VALUES {}) \
                     UPDATE live_sessions SET last_seq = last_seq + v.k FROM v \
                     WHERE live_sessions.id = v.sid AND live_sessions.state = 'live' \
                     RETURNING live_sessions.id, live_sessions.last_seq",
                    Marks::new(backend).rows(chunk.len(), 2)
                );
                let mut q = sqlx::query_as::<_, (Uuid, i64)>(&sql);
                for (session, k) in chunk {
                    q = q.bind(*session).bind(to_i64(*k));
                }
                let moved: HashMap<Uuid, u64> = chunk.iter().copied().collect();
                for (session, room_last) in q.fetch_all(&mut *tx).await? {
                    if let Some(k) = moved.get(&session) {
                        next_seq.insert(session, to_u64(room_last) - k + 1);
                    }
                }
            }
            let mut events: Vec<(Uuid, RoomEvent)> = Vec::new();
            for (session, members) in &sessions {
                let Some(&first) = next_seq.get(session) else {
                    continue; // not live: the readings are stored, no event
                };
                let parts = members.iter().map(|&i| DeviceReadings {
                    device_id: planned[i].device_id,
                    batch_id: planned[i].batch_id,
                    readings: planned[i].fresh.clone(),
                });
                for (k, devices) in cut_events(parts, MAX_READINGS_PER_EVENT)
                    .into_iter()
                    .enumerate()
                {
                    events.push((
                        *session,
                        RoomEvent {
                            seq: first + k as u64,
                            id: Uuid::now_v7(),
                            at: stored_at,
                            author: None,
                            client_id: None,
                            body: EventBody::Readings(Readings::Devices { devices }),
                        },
                    ));
                }
            }
            // The events' bodies and every ledger leaf (canonical JSON and
            // SHA-256 of each batch and event) are built on another thread
            // while the batches and readings are inserted: the statements
            // run on the database's side, so the two overlap.
            let planned = Arc::new(planned);
            let events = Arc::new(events);
            let built = {
                let planned = Arc::clone(&planned);
                let events = Arc::clone(&events);
                tokio::task::spawn_blocking(move || build_records(&planned, &events, stored_at))
            };
            // 4. Batches and their readings.
            _phase = self.metrics.time("devices.group.batches");
            for chunk in shaped_chunks(&planned, MAX_PARAMS / 10) {
                let sql = format!(
                    "INSERT INTO reading_batches (id, device_id, source, unit, first_seq, last_seq, count, stored_at, \
                     entered_by, client_key) VALUES {}",
                    Marks::new(backend).rows(chunk.len(), 10)
                );
                let mut q = sqlx::query(&sql);
                for pl in chunk {
                    let b = &batches[pl.index];
                    q = q
                        .bind(pl.batch_id)
                        .bind(b.device_id)
                        .bind("agent")
                        .bind(b.unit.as_str())
                        .bind(to_i64(pl.fresh.first().map_or(0, |r| r.seq)))
                        .bind(to_i64(pl.fresh.last().map_or(0, |r| r.seq)))
                        .bind(to_i64(pl.fresh.len() as u64))
                        .bind(db_time(stored_at))
                        .bind(None::<Uuid>)
                        .bind(None::<String>);
                }
                q.execute(&mut *tx).await?;
            }
            _phase = self.metrics.time("devices.group.readings");
            let rows: Vec<(Uuid, Uuid, &DeviceReading)> = planned
                .iter()
                .flat_map(|pl| {
                    let device = batches[pl.index].device_id;
                    pl.fresh.iter().map(move |r| (device, pl.batch_id, r))
                })
                .collect();
            for chunk in shaped_chunks(&rows, MAX_PARAMS / 6) {
                let sql = format!(
                    "INSERT INTO device_readings (device_id, seq, t, value, u_t, batch_id) VALUES {}",
                    Marks::new(backend).rows(chunk.len(), 6)
                );
                let mut q = sqlx::query(&sql);
                for (device, batch, r) in chunk {
                    q = q
                        .bind(*device)
                        .bind(to_i64(r.seq))
                        .bind(db_time(r.t))
                        .bind(r.value)
                        .bind(r.u_t)
                        .bind(*batch);
                }
                q.execute(&mut *tx).await?;
            }
            _phase = self.metrics.time("devices.group.build_wait");
            let Built { bodies, leaves } = built
                .await
                .map_err(|e| sqlx::Error::Protocol(format!("building a group's records: {e}")))??;
            // 5. Room events.
            _phase = self.metrics.time("devices.group.events");
            let ev_rows: Vec<(&(Uuid, RoomEvent), &String)> = events.iter().zip(&bodies).collect();
            for chunk in shaped_chunks(&ev_rows, MAX_PARAMS / 8) {
                let sql = format!(
                    "INSERT INTO room_events (session_id, seq, id, at, author_id, client_id, kind, body) VALUES {}",
                    Marks::new(backend).rows(chunk.len(), 8)
                );
                let mut q = sqlx::query(&sql);
                for ((session, e), body) in chunk {
                    q = q
                        .bind(*session)
                        .bind(to_i64(e.seq))
                        .bind(e.id)
                        .bind(db_time(e.at))
                        .bind(None::<Uuid>)
                        .bind(None::<String>)
                        .bind(e.body.kind())
                        .bind(body.as_str());
                }
                q.execute(&mut *tx).await?;
            }
            // 6. Ledger leaves: every batch's record, then every event's,
            //    in the group's order, at consecutive indices.
            _phase = self.metrics.time("devices.group.leaves");
            if !leaves.is_empty() {
                let n = to_i64(leaves.len() as u64);
                let first: i64 = sqlx::query_scalar(
                    "UPDATE ledger_state SET size = size + $1 WHERE id = 1 RETURNING size - $1",
                )
                .bind(n)
                .fetch_one(&mut *tx)
                .await?;
                let numbered: Vec<(i64, &(Record, [u8; 32]))> = leaves
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (first + i as i64, l))
                    .collect();
                for chunk in shaped_chunks(&numbered, MAX_PARAMS / 6) {
                    let sql = format!(
                        "INSERT INTO ledger_leaves (idx, kind, record_id, created_at_ms, payload, leaf_hash) VALUES {}",
                        Marks::new(backend).rows(chunk.len(), 6)
                    );
                    let mut q = sqlx::query(&sql);
                    for (idx, (r, h)) in chunk {
                        q = q
                            .bind(*idx)
                            .bind(r.kind.as_str())
                            .bind(r.id())
                            .bind(i64::try_from(r.created_at_ms).unwrap_or(i64::MAX))
                            .bind(r.payload.as_str())
                            .bind(h.as_slice());
                    }
                    q.execute(&mut *tx).await?;
                }
            }
            // 7. The devices' counters (and: an agent has fed them), one
            //    statement per chunk of devices.
            _phase = self.metrics.time("devices.group.devices");
            let touched: Vec<(Uuid, u64)> = devices
                .iter()
                .filter(|(_, d)| d.touched)
                .map(|(id, d)| (*id, d.last_seq))
                .collect();
            for chunk in shaped_chunks(&touched, MAX_PARAMS / 2) {
                let mut marks = Marks::new(backend);
                let rows = marks.rows(chunk.len(), 2);
                let sql = format!(
                    "WITH v(did, seq) AS (VALUES {rows}) \
                     UPDATE devices SET last_seq = v.seq, agent_connected_at = COALESCE(agent_connected_at, {}) \
                     FROM v WHERE devices.id = v.did",
                    marks.list(1)
                );
                let mut q = sqlx::query(&sql);
                for (id, last_seq) in chunk {
                    q = q.bind(*id).bind(to_i64(*last_seq));
                }
                q.bind(db_time(stored_at)).execute(&mut *tx).await?;
            }
            _phase = self.metrics.time("devices.group.commit");
            tx.commit().await?;
            drop(_phase);
            // Each session's events go with the outcome of its first
            // stored batch of the group (the writer publishes them per
            // session, in seq order, before any answer).
            let mut events_of: HashMap<usize, Vec<(Uuid, RoomEvent)>> = HashMap::new();
            let first_of: HashMap<Uuid, usize> = sessions
                .iter()
                .map(|(s, members)| (*s, planned[members[0]].index))
                .collect();
            for (session, e) in Arc::unwrap_or_clone(events) {
                if let Some(&index) = first_of.get(&session) {
                    events_of.entry(index).or_default().push((session, e));
                }
            }
            let mut planned = Arc::unwrap_or_clone(planned).into_iter().peekable();
            let mut out = Vec::with_capacity(batches.len());
            for (index, o) in outcomes.into_iter().enumerate() {
                match o {
                    Some(o) => out.push(o),
                    None => {
                        let pl = planned
                            .next_if(|pl| pl.index == index)
                            .ok_or_else(|| sqlx::Error::Protocol("group bookkeeping".into()))?;
                        let mut stored = pl.fresh;
                        stored.truncate(pl.own);
                        out.push(IngestOutcome::Stored {
                            batch_id: Some(pl.batch_id),
                            stored,
                            duplicates: pl.duplicates,
                            events: events_of.remove(&index).unwrap_or_default(),
                        });
                    }
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use jiliang_protocol::rooms::EventBody;
    use uuid::Uuid;

    use super::{AgentBatch, IngestOutcome};
    use crate::store::test_db::{batch, device, live_session, seed, stores};

    fn stored(o: &IngestOutcome) -> (Vec<u64>, u32) {
        match o {
            IngestOutcome::Stored {
                stored, duplicates, ..
            } => (stored.iter().map(|r| r.seq).collect(), *duplicates),
            other => panic!("not stored: {other:?}"),
        }
    }

    /// Two sessions with two devices each, and a device attached nowhere,
    /// their batches interleaved in one group (a device twice, a resend,
    /// a wrong token): every session's counter moves once for all its
    /// events, which are numbered after the log's end in the group's
    /// order, a device's batches that follow on forming one stored batch
    /// (each answered for its own readings); every device's counter lands
    /// on its highest seq.
    #[tokio::test]
    async fn one_group_numbers_every_sessions_events_and_moves_every_counter() {
        for t in stores().await {
            let store = &t.store;
            let s = seed(store).await;
            let second = live_session(store, s.user).await;
            let mut ids = Vec::new();
            for (i, session) in [
                (1u8, Some(s.session)),
                (2, Some(s.session)),
                (3, Some(second)),
                (4, Some(second)),
                (5, None),
            ] {
                let id = device(store, s.lab, s.user, [i; 32]).await;
                if let Some(session) = session {
                    store
                        .attach_device(id, session, s.user)
                        .await
                        .expect("attach");
                }
                ids.push(id);
            }
            // The first session's log already holds events: numbering
            // continues after them.
            let a = store
                .ingest_agent_group(&[batch(ids[0], [1; 32], &[1])])
                .await
                .expect("first group");
            assert_eq!(stored(&a[0]), (vec![1], 0));
            let before = store.session_last_seq(s.session).await.expect("last");
            let before_second = store.session_last_seq(second).await.expect("last");
            let group = [
                batch(ids[0], [1; 32], &[2, 3]),
                batch(ids[2], [3; 32], &[1]),
                batch(ids[1], [2; 32], &[1, 2]),
                batch(ids[4], [5; 32], &[7]),
                batch(ids[1], [9; 32], &[3]), // a token that is not the device's
                batch(ids[0], [1; 32], &[4]),
                batch(ids[3], [4; 32], &[1, 2, 3]),
                batch(ids[0], [1; 32], &[1, 3, 4, 5]), // a resend with one new
            ];
            let out = store.ingest_agent_group(&group).await.expect("group");
            assert_eq!(out.len(), group.len(), "{}", t.name);
            assert_eq!(stored(&out[0]), (vec![2, 3], 0));
            assert_eq!(stored(&out[3]), (vec![7], 0));
            assert!(matches!(out[4], IngestOutcome::TokenInvalid), "{}", t.name);
            assert_eq!(stored(&out[7]), (vec![5], 3), "{}", t.name);
            // Each session's readings of the group: one event after the
            // log's end holding each device's stored batch, in the group's
            // order; the unattached device has none.
            type Parts = Vec<(Uuid, Vec<u64>)>;
            let mut per_session: HashMap<Uuid, Vec<(u64, Parts)>> = HashMap::new();
            let mut handed = Vec::new();
            for o in &out {
                if let IngestOutcome::Stored { events, .. } = o {
                    for (session, e) in events {
                        let EventBody::Readings(body) = &e.body else {
                            panic!("{:?}", e.body)
                        };
                        per_session.entry(*session).or_default().push((
                            e.seq,
                            body.parts()
                                .iter()
                                .map(|p| (p.device_id, p.readings.iter().map(|r| r.seq).collect()))
                                .collect(),
                        ));
                        if *session == s.session {
                            handed.push(e.clone());
                        }
                    }
                }
            }
            // The first device's three batches that stored something
            // are one stored batch, a part at its first batch's place.
            assert_eq!(
                per_session[&s.session],
                vec![(
                    before + 1,
                    vec![(ids[0], vec![2, 3, 4, 5]), (ids[1], vec![1, 2])]
                )],
                "{}",
                t.name
            );
            let batch_of = |o: &IngestOutcome| match o {
                IngestOutcome::Stored { batch_id, .. } => *batch_id,
                other => panic!("not stored: {other:?}"),
            };
            assert_eq!(batch_of(&out[0]), batch_of(&out[5]), "{}", t.name);
            assert_eq!(batch_of(&out[0]), batch_of(&out[7]), "{}", t.name);
            assert_ne!(batch_of(&out[0]), batch_of(&out[2]), "{}", t.name);
            assert_eq!(stored(&out[5]), (vec![4], 0));
            assert_eq!(
                per_session[&second],
                vec![(
                    before_second + 1,
                    vec![(ids[2], vec![1]), (ids[3], vec![1, 2, 3])]
                )],
                "{}",
                t.name
            );
            assert_eq!(per_session.len(), 2);
            assert_eq!(
                store.session_last_seq(s.session).await.expect("last"),
                before + 1
            );
            assert_eq!(
                store.session_last_seq(second).await.expect("last"),
                before_second + 1
            );
            // The stored log is what was handed out.
            let log = store.read_events(s.session, before, 10).await.expect("log");
            assert_eq!(log, handed, "{}", t.name);
            for (id, last) in ids.iter().zip([5u64, 2, 1, 3, 7]) {
                let d = store.get_device(*id).await.expect("device").device;
                assert_eq!(d.last_seq, last, "{}", t.name);
                assert!(d.agent_connected_at.is_some(), "{}", t.name);
            }
            let report = crate::ledger::verify::verify_database(store, None)
                .await
                .expect("verify");
            assert!(report.ok, "{}: {:?}", t.name, report.problems);
            t.cleanup().await;
        }
    }

    /// A group larger than one statement (readings inserted in a full
    /// chunk and the rest in chunks of powers of two, events cut in many):
    /// every reading stored once, the counters and the ledger right.
    #[tokio::test]
    async fn a_group_larger_than_one_statement_is_stored_whole() {
        let per_statement = super::MAX_PARAMS / 6;
        let total = 2 * per_statement as u64 + 101;
        for t in stores().await {
            let store = &t.store;
            let s = seed(store).await;
            let id = device(store, s.lab, s.user, [1; 32]).await;
            store
                .attach_device(id, s.session, s.user)
                .await
                .expect("attach");
            let before = store.session_last_seq(s.session).await.expect("last");
            let seqs: Vec<u64> = (1..=total).collect();
            let group: Vec<AgentBatch> = seqs.chunks(1000).map(|c| batch(id, [1; 32], c)).collect();
            let out = store.ingest_agent_group(&group).await.expect("group");
            let n: usize = out.iter().map(|o| stored(o).0.len()).sum();
            assert_eq!(n as u64, total, "{}", t.name);
            assert_eq!(
                store.count_device_readings(id).await.expect("count"),
                total,
                "{}",
                t.name
            );
            assert_eq!(
                store.get_device(id).await.expect("device").device.last_seq,
                total,
                "{}",
                t.name
            );
            let events = (total as usize).div_ceil(super::MAX_READINGS_PER_EVENT) as u64;
            assert_eq!(
                store.session_last_seq(s.session).await.expect("last"),
                before + events,
                "{}",
                t.name
            );
            // Sent again whole: all duplicates, nothing stored.
            let again = store.ingest_agent_group(&group).await.expect("again");
            let dups: u32 = again.iter().map(|o| stored(o).1).sum();
            assert_eq!(u64::from(dups), total, "{}", t.name);
            let report = crate::ledger::verify::verify_database(store, None)
                .await
                .expect("verify");
            assert!(report.ok, "{}: {:?}", t.name, report.problems);
            t.cleanup().await;
        }
    }

    /// Chunks: full ones, then decreasing powers of two, covering every
    /// item once, in order.
    #[test]
    fn chunks_are_full_then_powers_of_two() {
        let items: Vec<u32> = (0..1000).collect();
        let lens: Vec<usize> = super::shaped_chunks(&items, 400)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(lens, vec![400, 400, 128, 64, 8]);
        let joined: Vec<u32> = super::shaped_chunks(&items, 400).concat();
        assert_eq!(joined, items);
        assert!(super::shaped_chunks(&items[..0], 400).is_empty());
        assert_eq!(super::shaped_chunks(&items[..1], 400), vec![&items[..1]]);
    }

    /// A session's parts cut into events of at most `max` readings in
    /// all: in order, none lost or repeated, a device at most once per
    /// event, a part that does not fit continuing the next event.
    #[test]
    fn a_sessions_parts_are_cut_into_events_of_bounded_size() {
        let part = |d: u128, seqs: std::ops::RangeInclusive<u64>| super::DeviceReadings {
            device_id: Uuid::from_u128(d),
            batch_id: Uuid::from_u128(100 + d),
            readings: batch(Uuid::nil(), [0; 32], &seqs.collect::<Vec<_>>()).readings,
        };
        let shape = |events: Vec<Vec<super::DeviceReadings>>| -> Vec<Vec<(u128, u64, u64)>> {
            events
                .into_iter()
                .map(|e| {
                    e.into_iter()
                        .map(|p| {
                            (
                                p.device_id.as_u128(),
                                p.readings[0].seq,
                                p.readings[p.readings.len() - 1].seq,
                            )
                        })
                        .collect()
                })
                .collect()
        };
        assert!(super::cut_events(Vec::new(), 4).is_empty());
        assert_eq!(
            shape(super::cut_events(vec![part(1, 1..=2), part(2, 1..=2)], 4)),
            vec![vec![(1, 1, 2), (2, 1, 2)]]
        );
        assert_eq!(
            shape(super::cut_events(
                vec![part(1, 1..=3), part(2, 5..=14), part(3, 1..=1)],
                4
            )),
            vec![
                vec![(1, 1, 3), (2, 5, 5)],
                vec![(2, 6, 9)],
                vec![(2, 10, 13)],
                vec![(2, 14, 14), (3, 1, 1)],
            ]
        );
    }
}
