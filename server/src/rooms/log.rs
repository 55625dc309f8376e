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
//!
//! The SQL is the store's ([`Store::append_events`]); this module owns the
//! order, the batching, the retry and the hand-off to the room and the bus.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jiliang_protocol::rooms::RoomEvent;
use tokio::sync::{mpsc, oneshot};

use super::Hub;
use crate::bus::Bus;
use crate::store::Store;
use crate::store::rooms::EventOutcome;

/// Requests taken into one transaction at most.
const MAX_BATCH: usize = 256;
/// Requests waiting for the writer before callers wait for room in the queue.
const QUEUE: usize = 4096;

/// One event to store: the store's `NewEvent`, named for what the room log
/// does with it.
pub use crate::store::rooms::NewEvent as Append;

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
    /// An earlier append of the same [`InOrder`] sender was not stored, so
    /// this one is not stored either.
    #[error("an earlier message of this sender was not stored")]
    EarlierFailed,
}

/// Shared by the appends of one sender (a room connection) that must be
/// stored in the order they were submitted. Once one of them could not be
/// stored, none submitted after it is stored either: the sender sends the
/// failed one again (on a new connection) and then the rest, so a later
/// message can never be stored before an earlier one. Without this, a
/// batch that failed while the database was away and a later batch that
/// succeeded once it was back stored a connection's messages out of order.
#[derive(Debug, Clone, Default)]
pub struct InOrder(Arc<AtomicBool>);

impl InOrder {
    pub fn broken(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn mark_broken(&self) {
        self.0.store(true, Ordering::Release);
    }
}

struct Job {
    append: Append,
    reply: oneshot::Sender<Result<Appended, AppendError>>,
    order: Option<InOrder>,
}

impl Job {
    fn refused(&self) -> bool {
        self.order.as_ref().is_some_and(InOrder::broken)
    }

    /// A failure that later appends of the same sender must not overtake
    /// (a refusal for the session's state, such as `Ended`, is final for
    /// all of them anyway).
    fn note(&self, result: &Result<Appended, AppendError>) {
        if let (Some(order), Err(AppendError::Database(_) | AppendError::Closed)) =
            (&self.order, result)
        {
            order.mark_broken();
        }
    }
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
    /// Start the writer: stored events go to `hub`'s rooms on this node and
    /// on `bus` to the others. It stops when every `EventLog` handle is
    /// dropped.
    pub fn start(store: Store, hub: Arc<Hub>, bus: Bus) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(store, hub, bus, rx));
        Self { tx }
    }

    /// Appends waiting for the writer, and how many may wait.
    pub fn queue_depth(&self) -> (usize, usize) {
        let capacity = self.tx.max_capacity();
        (capacity - self.tx.capacity(), capacity)
    }

    pub async fn append(&self, append: Append) -> Result<Appended, AppendError> {
        self.submit(append).await?.await
    }

    /// Queue an append and return at once; the answer comes later. Appends
    /// submitted one after another are stored in that order, which lets a
    /// connection keep delivering while its own messages are being stored.
    pub async fn submit(&self, append: Append) -> Result<Pending, AppendError> {
        self.enqueue(append, None).await
    }

    /// [`EventLog::submit`], and never stored once an earlier append of
    /// `order` failed (see [`InOrder`]).
    pub async fn submit_in_order(
        &self,
        append: Append,
        order: &InOrder,
    ) -> Result<Pending, AppendError> {
        if order.broken() {
            return Err(AppendError::EarlierFailed);
        }
        self.enqueue(append, Some(order.clone())).await
    }

    async fn enqueue(
        &self,
        append: Append,
        order: Option<InOrder>,
    ) -> Result<Pending, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job {
                append,
                reply,
                order,
            })
            .await
            .map_err(|_| AppendError::Closed)?;
        Ok(Pending(answer))
    }
}

async fn writer(store: Store, hub: Arc<Hub>, bus: Bus, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Senders whose earlier append failed (in an earlier batch) get
        // nothing stored after it.
        let (refused, jobs): (Vec<Job>, Vec<Job>) = batch.drain(..).partition(Job::refused);
        for job in refused {
            let _ = job.reply.send(Err(AppendError::EarlierFailed));
        }
        if jobs.is_empty() {
            continue;
        }
        let appends: Vec<Append> = jobs.iter().map(|j| j.append.clone()).collect();
        let results: Vec<Result<Appended, AppendError>> = match store.append_events(&appends).await
        {
            Ok(outcomes) => outcomes.into_iter().map(answer).collect(),
            // One bad request must not fail its neighbours: retry one by one,
            // in order, skipping those whose sender already failed here.
            Err(_) => {
                let mut results = Vec::with_capacity(appends.len());
                for (job, a) in jobs.iter().zip(&appends) {
                    let result = if job.refused() {
                        Err(AppendError::EarlierFailed)
                    } else {
                        match store.append_events(std::slice::from_ref(a)).await {
                            Ok(mut r) => r.pop().map_or(Err(AppendError::Closed), answer),
                            Err(e) => Err(AppendError::Database(e)),
                        }
                    };
                    job.note(&result);
                    results.push(result);
                }
                results
            }
        };
        for (job, result) in jobs.into_iter().zip(results) {
            // Delivered here before the caller hears back; other nodes get
            // it from a queue that never makes this loop wait.
            if let Ok(Appended::New(event)) = &result {
                hub.publish_event(&bus, job.append.session, event.clone());
            }
            let _ = job.reply.send(result);
        }
    }
}

fn answer(outcome: EventOutcome) -> Result<Appended, AppendError> {
    match outcome {
        EventOutcome::New(e) => Ok(Appended::New(Arc::new(e))),
        EventOutcome::Duplicate(e) => Ok(Appended::Duplicate(Arc::new(e))),
        EventOutcome::Ended => Err(AppendError::Ended),
        EventOutcome::NoSession => Err(AppendError::NoSession),
    }
}
