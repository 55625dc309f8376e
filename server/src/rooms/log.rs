//! The room log writer.
//!
//! One task per node owns all appends. It takes whatever requests are
//! waiting (up to a batch), stores them in one transaction — each event gets
//! `last_seq + 1` of its room, counted in the same transaction, so sequence
//! numbers never repeat or skip whichever node writes — commits, answers the
//! callers, and only then publishes the events. Batching is what lets the
//! embedded SQLite keep up with thousands of messages a second: the commit,
//! not the statements, is the cost.

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
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { append, reply })
            .await
            .map_err(|_| AppendError::Closed)?;
        answer.await.map_err(|_| AppendError::Closed)?
    }
}

async fn writer(store: Store, bus: Bus, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let appends: Vec<Append> = batch.iter().map(|j| j.append.clone()).collect();
        let results = match store_batch(&store, &appends).await {
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
            if let Ok(Appended::New(event)) = &result {
                bus.publish_event(job.append.session, event.clone()).await;
            }
            let _ = job.reply.send(result);
        }
    }
}

/// Store a batch in one transaction. Per-request refusals (ended session)
/// are results; a database error fails the whole batch.
async fn store_batch(
    store: &Store,
    appends: &[Append],
) -> Result<Vec<Result<Appended, AppendError>>, AppendError> {
    with_db!(store, |p| {
        let mut tx = p.begin().await?;
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
            out.push(Ok(Appended::New(Arc::new(RoomEvent {
                seq: u64::try_from(seq).unwrap_or(0),
                id,
                at,
                author: a.author.clone(),
                client_id: a.client_id.clone(),
                body: a.body.clone(),
            }))));
        }
        tx.commit().await?;
        Ok(out)
    })
}
