//! The room log writer.
//!
//! One task per node owns all appends. It takes whatever requests are
//! waiting (up to a batch), stores them in one transaction — each event gets
//! `last_seq + 1` of its room, counted in the same transaction, so sequence
//! numbers never repeat or skip whichever node writes — commits, and only
//! then publishes the events and answers the callers. Publishing never
//! waits: events go to this node's rooms at once and into a bounded queue
//! for the other nodes, so a slow or reconnecting bus cannot stall appends.
//! Batching is what lets the embedded SQLite keep up with thousands of
//! messages a second: the commit, not the statements, is the cost.

use std::sync::Arc;

use jiliang_protocol::rooms::{Author, EventBody, RoomEvent};
use jiliang_protocol::sessions::SessionState;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::bus::Bus;
use crate::store::Store;
use crate::store::institutions::now;
use crate::with_db;

/// Requests taken into one transaction at most.
const MAX_BATCH: usize = 256;
/// Requests waiting for the writer before callers wait for room in the queue.
const QUEUE: usize = 4096;

/// One event to store.
#[derive(Debug, Clone)]
pub struct Append {
    pub session: Uuid,
    pub author: Option<Author>,
    /// The client's message id: a second append with the same author and
    /// client id returns the first event instead of storing another.
    pub client_id: Option<String>,
    pub body: EventBody,
}

#[derive(Debug, Clone)]
pub enum Appended {
    New(Arc<RoomEvent>),
    /// The same client message had been stored before.
    Duplicate(Arc<RoomEvent>),
}

impl Appended {
    pub fn event(&self) -> &RoomEvent {
        match self {
            Self::New(e) | Self::Duplicate(e) => e,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the session has ended")]
    Ended,
    #[error("no such session")]
    NoSession,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the event log is shutting down")]
    Closed,
}

struct Job {
    append: Append,
    reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// The answer to a submitted append.
#[derive(Debug)]
pub struct Pending(oneshot::Receiver<Result<Appended, AppendError>>);

impl std::future::Future for Pending {
    type Output = Result<Appended, AppendError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(AppendError::Closed)))
    }
}

#[derive(Clone)]
pub struct EventLog {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventLog")
    }
}

impl EventLog {
    /// Start the writer. It stops when every `EventLog` handle is dropped.
    pub fn start(store: Store, bus: Bus) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(store, bus, rx));
        Self { tx }
    }

    pub async fn append(&self, append: Append) -> Result<Appended, AppendError> {
        self.submit(append).await?.await
    }

    /// Queue an append and return at once; the answer comes later. Appends
    /// submitted one after another are stored in that order, which lets a
    /// connection keep delivering while its own messages are being stored.
    pub async fn submit(&self, append: Append) -> Result<Pending, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { append, reply })
            .await
            .map_err(|_| AppendError::Closed)?;
        Ok(Pending(answer))
    }
}

async fn writer(store: Store, bus: Bus, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let appends: Vec<Append> = batch.iter().map(|j| j.append.clone()).collect();
        // State changes are rare and touch the session row; they take the
        // statement-per-event path. Everything else is stored in bulk.
        let bulk = appends.len() > 1
            && !appends
                .iter()
                .any(|a| matches!(a.body, EventBody::State { .. }));
        let stored = if bulk {
            store_bulk(&store, &appends).await
        } else {
            store_batch(&store, &appends).await
        };
        let results = match stored {
            Ok(results) => results,
            // One bad request must not fail its neighbours: retry one by one.
            Err(_) => {
                let mut results = Vec::with_capacity(appends.len());
                for a in &appends {
                    results.push(match store_batch(&store, std::slice::from_ref(a)).await {
                        Ok(mut r) => r.pop().unwrap_or(Err(AppendError::Closed)),
                        Err(e) => Err(e),
                    });
                }
                results
            }
        };
        for (job, result) in batch.drain(..).zip(results) {
            // Delivered here before the caller hears back; other nodes get
            // it from a queue that never makes this loop wait.
            if let Ok(Appended::New(event)) = &result {
                bus.publish_event(job.append.session, event.clone());
            }
            let _ = job.reply.send(result);
        }
    }
}

type DupKey = (Uuid, Uuid, String);

/// Store a batch of non-state events in one transaction with a handful of
/// statements — one query for earlier copies of the batch's client
/// messages, one counter update per room, one for the ledger, two
/// multi-row inserts — instead of five statements per event. The embedded
/// SQLite talks to its worker thread once per statement, so this is what
/// keeps latency flat when a thousand county-lab clients chat at once.
async fn store_bulk(
    store: &Store,
    appends: &[Append],
) -> Result<Vec<Result<Appended, AppendError>>, AppendError> {
    use std::collections::HashMap;

    let n = appends.len();
    let key = |a: &Append| -> Option<DupKey> {
        Some((a.session, a.author.as_ref()?.id, a.client_id.clone()?))
    };
    let begin = store.begin_write();
    with_db!(store, |p| {
        let mut tx = p.begin_with(begin).await?;
        // 1. Client messages stored before (a resend after a reconnect).
        // The three IN lists let both databases walk the unique index on
        // (session_id, author_id, client_id); exact keys are matched below.
        let keyed: Vec<DupKey> = appends.iter().filter_map(key).collect();
        let mut earlier: HashMap<DupKey, RoomEvent> = HashMap::new();
        if !keyed.is_empty() {
            let mut sessions: Vec<Uuid> = keyed.iter().map(|k| k.0).collect();
            let mut authors: Vec<Uuid> = keyed.iter().map(|k| k.1).collect();
            sessions.sort();
            sessions.dedup();
            authors.sort();
            authors.dedup();
            let mut next = 0;
            let mut marks = |count: usize| {
                let m: Vec<String> = (next + 1..=next + count).map(|i| format!("${i}")).collect();
                next += count;
                m.join(", ")
            };
            let sql = format!(
                "SELECT session_id, author_id, client_id, seq, id, at, body FROM room_events \
                 WHERE session_id IN ({}) AND author_id IN ({}) AND client_id IN ({})",
                marks(sessions.len()),
                marks(authors.len()),
                marks(keyed.len())
            );
            let mut q = sqlx::query_as::<
                _,
                (
                    Uuid,
                    Option<Uuid>,
                    Option<String>,
                    i64,
                    Uuid,
                    time::OffsetDateTime,
                    String,
                ),
            >(&sql);
            for v in &sessions {
                q = q.bind(*v);
            }
            for v in &authors {
                q = q.bind(*v);
            }
            for k in &keyed {
                q = q.bind(k.2.clone());
            }
            let wanted: std::collections::HashSet<&DupKey> = keyed.iter().collect();
            for (session, author, cid, seq, id, at, body) in q.fetch_all(&mut *tx).await? {
                let (Some(author), Some(cid)) = (author, cid) else {
                    continue;
                };
                let k = (session, author, cid.clone());
                if !wanted.contains(&k) {
                    continue;
                }
                earlier.insert(
                    k,
                    RoomEvent {
                        seq: u64::try_from(seq).unwrap_or(0),
                        id,
                        at,
                        author: None,
                        client_id: Some(cid),
                        body: serde_json::from_str(&body).unwrap_or(EventBody::Unknown),
                    },
                );
            }
        }
        // 2. Which appends are new; duplicates within the batch point at
        //    their first copy.
        enum Plan {
            Earlier(RoomEvent),
            SameAs(usize),
            New,
        }
        let mut first: HashMap<DupKey, usize> = HashMap::new();
        let mut plan = Vec::with_capacity(n);
        let mut per_room: Vec<(Uuid, Vec<usize>)> = Vec::new();
        for (i, a) in appends.iter().enumerate() {
            if let Some(k) = key(a) {
                if let Some(e) = earlier.get(&k) {
                    plan.push(Plan::Earlier(e.clone()));
                    continue;
                }
                if let Some(j) = first.get(&k) {
                    plan.push(Plan::SameAs(*j));
                    continue;
                }
                first.insert(k, i);
            }
            plan.push(Plan::New);
            match per_room.iter_mut().find(|(s, _)| *s == a.session) {
                Some((_, v)) => v.push(i),
                None => per_room.push((a.session, vec![i])),
            }
        }
        // 3. Sequence numbers for every room of the batch in one statement:
        //    each room's counter moves by its count of new events; rooms
        //    missing from the answer are ended (or gone).
        let mut seqs: Vec<Option<Result<i64, bool>>> = (0..n).map(|_| None).collect(); // Err(exists)
        if !per_room.is_empty() {
            let cases: Vec<String> = (0..per_room.len())
                .map(|r| format!("WHEN ${} THEN ${}", 2 * r + 1, 2 * r + 2))
                .collect();
            let ids: Vec<String> = (0..per_room.len())
                .map(|r| format!("${}", 2 * r + 1))
                .collect();
            let sql = format!(
                "UPDATE live_sessions SET last_seq = last_seq + CASE id {} END \
                 WHERE id IN ({}) AND state <> 'ended' RETURNING id, last_seq",
                cases.join(" "),
                ids.join(", ")
            );
            let mut q = sqlx::query_as::<_, (Uuid, i64)>(&sql);
            for (session, idxs) in &per_room {
                q = q
                    .bind(*session)
                    .bind(i64::try_from(idxs.len()).unwrap_or(i64::MAX));
            }
            let counters: HashMap<Uuid, i64> = q.fetch_all(&mut *tx).await?.into_iter().collect();
            for (session, idxs) in &per_room {
                match counters.get(session) {
                    Some(last) => {
                        let k = i64::try_from(idxs.len()).unwrap_or(i64::MAX);
                        for (off, i) in idxs.iter().enumerate() {
                            seqs[*i] = Some(Ok(last - k + 1 + i64::try_from(off).unwrap_or(0)));
                        }
                    }
                    None => {
                        let exists: Option<i64> =
                            sqlx::query_scalar("SELECT last_seq FROM live_sessions WHERE id = $1")
                                .bind(session)
                                .fetch_optional(&mut *tx)
                                .await?;
                        for i in idxs {
                            seqs[*i] = Some(Err(exists.is_some()));
                        }
                    }
                }
            }
        }
        // 4. Build events and their ledger records; leaf indices in order.
        let mut events: Vec<Option<RoomEvent>> = (0..n).map(|_| None).collect();
        let mut records = Vec::new();
        for (i, a) in appends.iter().enumerate() {
            if let Some(Ok(seq)) = seqs[i] {
                let e = RoomEvent {
                    seq: u64::try_from(seq).unwrap_or(0),
                    id: Uuid::now_v7(),
                    at: now(),
                    author: a.author.clone(),
                    client_id: a.client_id.clone(),
                    body: a.body.clone(),
                };
                let record = crate::ledger::records::room_event(a.session, &e)
                    .map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
                records.push(record);
                events[i] = Some(e);
            }
        }
        if !records.is_empty() {
            let m = i64::try_from(records.len()).unwrap_or(i64::MAX);
            let size: i64 = sqlx::query_scalar(
                "UPDATE ledger_state SET size = size + $1 WHERE id = 1 RETURNING size",
            )
            .bind(m)
            .fetch_one(&mut *tx)
            .await?;
            let first_idx = size - m;
            // 5. Two multi-row inserts.
            let stored: Vec<(usize, &RoomEvent)> = events
                .iter()
                .enumerate()
                .filter_map(|(i, e)| e.as_ref().map(|e| (i, e)))
                .collect();
            let rows: Vec<String> = (0..stored.len())
                .map(|r| {
                    let b = r * 8;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO room_events (session_id, seq, id, at, author_id, client_id, kind, body) VALUES {}",
                rows.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for (i, e) in &stored {
                let body = serde_json::to_string(&e.body)
                    .map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
                q = q
                    .bind(appends[*i].session)
                    .bind(i64::try_from(e.seq).unwrap_or(i64::MAX))
                    .bind(e.id)
                    .bind(e.at)
                    .bind(e.author.as_ref().map(|x| x.id))
                    .bind(e.client_id.clone())
                    .bind(e.body.kind())
                    .bind(body);
            }
            q.execute(&mut *tx).await?;
            let rows: Vec<String> = (0..records.len())
                .map(|r| {
                    let b = r * 6;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO ledger_leaves (idx, kind, record_id, created_at_ms, payload, leaf_hash) VALUES {}",
                rows.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for (off, r) in records.iter().enumerate() {
                q = q
                    .bind(first_idx + i64::try_from(off).unwrap_or(0))
                    .bind(r.kind.as_str().to_owned())
                    .bind(r.id().to_owned())
                    .bind(i64::try_from(r.created_at_ms).unwrap_or(i64::MAX))
                    .bind(r.payload.as_str().to_owned())
                    .bind(r.leaf_hash().0.to_vec());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        // 6. Answers, in request order.
        let mut out: Vec<Result<Appended, AppendError>> = Vec::with_capacity(n);
        for (i, a) in appends.iter().enumerate() {
            let r = match &plan[i] {
                Plan::Earlier(e) => Ok(Appended::Duplicate(Arc::new(RoomEvent {
                    author: a.author.clone(),
                    ..e.clone()
                }))),
                Plan::SameAs(j) => match &out[*j] {
                    Ok(first) => Ok(Appended::Duplicate(Arc::new(first.event().clone()))),
                    Err(AppendError::Ended) => Err(AppendError::Ended),
                    Err(_) => Err(AppendError::NoSession),
                },
                Plan::New => match (&seqs[i], events[i].take()) {
                    (Some(Ok(_)), Some(e)) => Ok(Appended::New(Arc::new(e))),
                    (Some(Err(true)), _) => Err(AppendError::Ended),
                    _ => Err(AppendError::NoSession),
                },
            };
            out.push(r);
        }
        Ok(out)
    })
}

/// Store a batch in one transaction. Per-request refusals (ended session)
/// are results; a database error fails the whole batch.
async fn store_batch(
    store: &Store,
    appends: &[Append],
) -> Result<Vec<Result<Appended, AppendError>>, AppendError> {
    let begin = store.begin_write();
    with_db!(store, |p| {
        let mut tx = p.begin_with(begin).await?;
        let mut out = Vec::with_capacity(appends.len());
        for a in appends {
            let author_id = a.author.as_ref().map(|x| x.id);
            if let (Some(cid), Some(aid)) = (&a.client_id, author_id) {
                let existing: Option<(i64, Uuid, time::OffsetDateTime, String)> = sqlx::query_as(
                    "SELECT seq, id, at, body FROM room_events WHERE session_id = $1 AND author_id = $2 AND client_id = $3",
                )
                .bind(a.session)
                .bind(aid)
                .bind(cid)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((seq, id, at, body)) = existing {
                    out.push(Ok(Appended::Duplicate(Arc::new(RoomEvent {
                        seq: u64::try_from(seq).unwrap_or(0),
                        id,
                        at,
                        author: a.author.clone(),
                        client_id: Some(cid.clone()),
                        body: serde_json::from_str(&body).unwrap_or(EventBody::Unknown),
                    }))));
                    continue;
                }
            }
            let at = now();
            let state_change = match &a.body {
                EventBody::State { to, .. } => SessionState::parse(to),
                _ => None,
            };
            // Ended sessions are read-only: the counter only moves while the
            // session is open, in the same statement that checks it.
            let seq: Option<i64> = match state_change {
                Some(to) => {
                    sqlx::query_scalar(
                        "UPDATE live_sessions SET last_seq = last_seq + 1, state = $2, \
                           started_at = CASE WHEN $2 = 'live' THEN COALESCE(started_at, $3) ELSE started_at END, \
                           ended_at = CASE WHEN $2 = 'ended' THEN $3 ELSE ended_at END \
                         WHERE id = $1 AND state <> 'ended' RETURNING last_seq",
                    )
                    .bind(a.session)
                    .bind(to.as_str())
                    .bind(at)
                    .fetch_optional(&mut *tx)
                    .await?
                }
                None => {
                    sqlx::query_scalar(
                        "UPDATE live_sessions SET last_seq = last_seq + 1 WHERE id = $1 AND state <> 'ended' RETURNING last_seq",
                    )
                    .bind(a.session)
                    .fetch_optional(&mut *tx)
                    .await?
                }
            };
            let Some(seq) = seq else {
                let exists: Option<i64> =
                    sqlx::query_scalar("SELECT last_seq FROM live_sessions WHERE id = $1")
                        .bind(a.session)
                        .fetch_optional(&mut *tx)
                        .await?;
                out.push(Err(if exists.is_some() {
                    AppendError::Ended
                } else {
                    AppendError::NoSession
                }));
                continue;
            };
            let id = Uuid::now_v7();
            let body =
                serde_json::to_string(&a.body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query(
                "INSERT INTO room_events (session_id, seq, id, at, author_id, client_id, kind, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(a.session)
            .bind(seq)
            .bind(id)
            .bind(at)
            .bind(author_id)
            .bind(&a.client_id)
            .bind(a.body.kind())
            .bind(body)
            .execute(&mut *tx)
            .await?;
            let event = RoomEvent {
                seq: u64::try_from(seq).unwrap_or(0),
                id,
                at,
                author: a.author.clone(),
                client_id: a.client_id.clone(),
                body: a.body.clone(),
            };
            // The event and its ledger leaf commit together or not at all.
            let record = crate::ledger::records::room_event(a.session, &event)
                .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            crate::ledger_append!(tx, &record);
            out.push(Ok(Appended::New(Arc::new(event))));
        }
        tx.commit().await?;
        Ok(out)
    })
}
