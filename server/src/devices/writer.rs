//! The agents' batch writer: group commit for readings.
//!
//! One task per node stores agents' batches. It takes every batch waiting
//! (up to [`MAX_GROUP_READINGS`] readings), stores them in one transaction
//! (`Store::ingest_agent_group`) and passes the outcomes to a second task,
//! which hands the room events to the rooms in the order they were
//! numbered and only then answers each caller, while the first stores the
//! next group. A thousand agents at 10 Hz then cost a few commits a second, not
//! ten thousand: the commit (an fsync on SQLite) and the statements per
//! transaction, not the readings, are the cost (docs/BENCHMARKS.md).
//!
//! The storing task runs on a thread of its own (a single-threaded
//! runtime): each statement of a group is a round trip to SQLite's worker
//! thread, and on the server's shared runtime every return of the answer
//! queued the writer behind thousands of socket tasks, so a group of
//! twenty-odd statements spent most of its time waiting to run again
//! (docs/BENCHMARKS.md, province load). It keeps one connection from group
//! to group ([`GroupConn`]).
//!
//! If the group's transaction fails, its batches are stored one by one
//! (`Store::ingest_readings`), so one batch that cannot be stored does not
//! fail its neighbours; only the batch that still fails is answered with the
//! error (the agent sends it again).

use std::collections::HashMap;
use std::sync::Arc;

use jiliang_protocol::devices::DeviceReading;
use jiliang_protocol::rooms::RoomEvent;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::bus::Bus;
use crate::metrics::StoreMetrics;
use crate::rooms::Hub;
use crate::store::Store;
use crate::store::devices::{AgentBatch, GroupConn, IngestOutcome, NewBatch, Source};

/// Readings stored in one transaction at most: a third of a second of a
/// province's thousand agents at 10 Hz, or three full batches of
/// reconnecting agents' backlogs. A long group lets more batches gather
/// for the next one, which is then long too; a low bound damps that swing
/// (province load: p50 about a fifth lower than at 20 000, p99 no worse,
/// docs/BENCHMARKS.md) and still stores a backlog at far more than
/// 20 000 readings/s.
const MAX_GROUP_READINGS: usize = 3_000;
/// Batches waiting before callers wait for room in the queue. A group takes
/// every batch waiting (up to `MAX_GROUP_READINGS` readings), not a fixed
/// number: a batch then waits for at most the group being stored, not for
/// several groups ahead of it.
const QUEUE: usize = 4096;
/// Stored groups whose events and answers may wait to be delivered while
/// the next group is stored.
const DELIVERIES: usize = 2;

struct Job {
    batch: AgentBatch,
    reply: oneshot::Sender<Result<IngestOutcome, sqlx::Error>>,
}

#[derive(Clone)]
pub struct BatchWriter {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for BatchWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchWriter")
    }
}

impl BatchWriter {
    /// Start the writer; it stops when every handle is dropped.
    pub fn start(store: Store, hub: Arc<Hub>, bus: Bus) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (done, delivered) = mpsc::channel(DELIVERIES);
        let metrics = store.metrics().clone();
        spawn_writer(store, rx, done);
        tokio::spawn(deliver(hub, bus, metrics, delivered));
        Self { tx }
    }

    /// Store `batch`; the outcome once it is durable and its room events
    /// are delivered. The outcome's `events` are empty: the writer
    /// published them (with the other batches' of the same session).
    pub async fn store(&self, batch: AgentBatch) -> Result<IngestOutcome, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        let closed = || sqlx::Error::Protocol("the batch writer has stopped".into());
        self.tx
            .send(Job { batch, reply })
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

/// A stored group: each batch's outcome and who waits for it.
struct Stored {
    results: Vec<Result<IngestOutcome, sqlx::Error>>,
    replies: Vec<oneshot::Sender<Result<IngestOutcome, sqlx::Error>>>,
}

/// Run [`writer`] on a thread of its own; it ends with the writer (when
/// every handle is dropped). Where no thread or runtime can be had, the
/// writer shares the server's runtime instead.
fn spawn_writer(store: Store, rx: mpsc::Receiver<Job>, done: mpsc::Sender<Stored>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!(error = %e, "no runtime of its own for the batch writer; sharing the server's");
            tokio::spawn(writer(store, rx, done));
            return;
        }
    };
    // Handed over through a slot so that a thread that cannot start
    // leaves them here for the fallback.
    let parts = Arc::new(std::sync::Mutex::new(Some((store, rx, done))));
    let theirs = parts.clone();
    let started = std::thread::Builder::new()
        .name("jiliang-batch-writer".into())
        .spawn(move || {
            let taken = theirs.lock().ok().and_then(|mut p| p.take());
            if let Some((store, rx, done)) = taken {
                runtime.block_on(writer(store, rx, done));
            }
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "no thread for the batch writer; sharing the server's runtime");
        let taken = parts.lock().ok().and_then(|mut p| p.take());
        if let Some((store, rx, done)) = taken {
            tokio::spawn(writer(store, rx, done));
        }
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Job>, done: mpsc::Sender<Stored>) {
    let mut conn = GroupConn::default();
    let mut waiting: Vec<Job> = Vec::new();
    loop {
        // Everything waiting now (what a cut group left first, then the
        // queue), or the next batch to arrive.
        if waiting.is_empty() {
            if rx.recv_many(&mut waiting, QUEUE).await == 0 {
                return;
            }
        } else {
            while let Ok(j) = rx.try_recv() {
                waiting.push(j);
            }
        }
        // The rest opens the next group.
        let take = group_len(waiting.iter().map(|j| j.batch.readings.len()));
        let (batches, replies): (Vec<AgentBatch>, Vec<_>) =
            waiting.drain(..take).map(|j| (j.batch, j.reply)).unzip();
        let results: Vec<Result<IngestOutcome, sqlx::Error>> = match store
            .ingest_agent_group_on(&mut conn, &batches)
            .await
        {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(e) => {
                conn.reset();
                tracing::warn!(error = %e, batches = batches.len(), "a group of reading batches failed; storing them one by one");
                let mut results = Vec::with_capacity(batches.len());
                for b in &batches {
                    results.push(one(&store, b).await);
                }
                results
            }
        };
        // Delivery (room events, then answers) runs beside the next
        // group's transaction; groups are delivered in the order they
        // were stored.
        if done.send(Stored { results, replies }).await.is_err() {
            return;
        }
    }
}

/// How many of the waiting batches (their sizes in arrival order) form the
/// next group: as many as fit in `MAX_GROUP_READINGS`, at least one.
fn group_len(sizes: impl Iterator<Item = usize>) -> usize {
    let mut readings = 0;
    let mut take = 0;
    for n in sizes {
        if take > 0 && readings + n > MAX_GROUP_READINGS {
            break;
        }
        readings += n;
        take += 1;
    }
    take
}

/// Hand each stored group's room events to the rooms, then answer its
/// callers: an `ack` never overtakes the events of its batch.
async fn deliver(
    hub: Arc<Hub>,
    bus: Bus,
    metrics: StoreMetrics,
    mut groups: mpsc::Receiver<Stored>,
) {
    while let Some(Stored {
        mut results,
        replies,
    }) = groups.recv().await
    {
        let publishing = metrics.time("devices.group.publish");
        publish(&hub, &bus, &mut results);
        drop(publishing);
        let _answering = metrics.time("devices.group.answer");
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// Deliver the group's room events, taking them out of the outcomes:
/// each session's events in one go, in sequence order, so that its viewers
/// are woken once per group rather than once per agent batch.
fn publish(hub: &Arc<Hub>, bus: &Bus, results: &mut [Result<IngestOutcome, sqlx::Error>]) {
    let mut by_session: HashMap<Uuid, Vec<Arc<RoomEvent>>> = HashMap::new();
    for result in results.iter_mut() {
        if let Ok(IngestOutcome::Stored { events, .. }) = result {
            for (session, event) in events.drain(..) {
                by_session.entry(session).or_default().push(Arc::new(event));
            }
        }
    }
    for (session, mut events) in by_session {
        // Numbered in the group's order per session already; sorting
        // keeps the promise should the fallback path number them apart.
        events.sort_by_key(|e| e.seq);
        hub.publish_events(bus, session, events);
    }
}

async fn one(store: &Store, b: &AgentBatch) -> Result<IngestOutcome, sqlx::Error> {
    let readings: &[DeviceReading] = &b.readings;
    store
        .ingest_readings(&NewBatch {
            device_id: b.device_id,
            unit: &b.unit,
            source: Source::Agent {
                token_hash: &b.token_hash,
            },
            readings,
        })
        .await
}

#[cfg(test)]
mod tests {
    use jiliang_protocol::devices::MAX_BATCH;
    use tokio::sync::{mpsc, oneshot};

    use super::{DELIVERIES, Job, MAX_GROUP_READINGS, QUEUE, Stored, group_len, writer};
    use crate::store::devices::IngestOutcome;
    use crate::store::test_db::{batch, device, seed, stores};

    #[test]
    fn a_group_takes_what_fits_and_at_least_one_batch() {
        let full = MAX_GROUP_READINGS / 3;
        assert_eq!(group_len([full, full, full, 1].into_iter()), 3);
        assert_eq!(group_len([full, full, full].into_iter()), 3);
        assert_eq!(group_len([1, MAX_GROUP_READINGS].into_iter()), 1);
        assert_eq!(group_len([MAX_GROUP_READINGS + 1, 1].into_iter()), 1);
        assert_eq!(
            group_len(std::iter::repeat_n(1, 10_000)),
            MAX_GROUP_READINGS
        );
        assert_eq!(group_len(std::iter::empty()), 0);
    }

    /// Reconnecting agents' backlogs, far more than one group holds, all
    /// waiting when the writer starts: they are stored over several
    /// groups, none above the bound, every batch answered as stored, and
    /// each device holds its readings once, in order.
    #[tokio::test]
    async fn a_backlog_beyond_one_group_is_stored_over_several_in_order() {
        for t in stores().await {
            let store = &t.store;
            let s = seed(store).await;
            let devices = [
                device(store, s.lab, s.user, [1; 32]).await,
                device(store, s.lab, s.user, [2; 32]).await,
            ];
            let per_device = 4 * MAX_BATCH as u64;
            let (tx, rx) = mpsc::channel(QUEUE);
            let mut replies = Vec::new();
            // Interleaved as two agents' batches arrive.
            for first in (1..=per_device).step_by(MAX_BATCH) {
                for (i, d) in devices.iter().enumerate() {
                    let seqs: Vec<u64> = (first..first + MAX_BATCH as u64).collect();
                    let (reply, answer) = oneshot::channel();
                    tx.send(Job {
                        batch: batch(*d, [i as u8 + 1; 32], &seqs),
                        reply,
                    })
                    .await
                    .expect("queued");
                    replies.push(answer);
                }
            }
            drop(tx);
            let (done, mut groups) = mpsc::channel::<Stored>(DELIVERIES);
            let writing = tokio::spawn(writer(store.clone(), rx, done));
            let mut sizes = Vec::new();
            while let Some(Stored { results, replies }) = groups.recv().await {
                let mut readings = 0;
                for (reply, result) in replies.into_iter().zip(results) {
                    match &result {
                        Ok(IngestOutcome::Stored { stored, .. }) => readings += stored.len(),
                        other => panic!("{}: not stored: {other:?}", t.name),
                    }
                    let _ = reply.send(result);
                }
                sizes.push(readings);
            }
            writing.await.expect("writer");
            assert!(sizes.len() >= 3, "{}: groups {sizes:?}", t.name);
            assert!(
                sizes.iter().all(|n| *n <= MAX_GROUP_READINGS),
                "{}: groups {sizes:?}",
                t.name
            );
            assert_eq!(sizes.iter().sum::<usize>() as u64, 2 * per_device);
            for answer in replies {
                assert!(matches!(
                    answer.await.expect("answered"),
                    Ok(IngestOutcome::Stored { duplicates: 0, .. })
                ));
            }
            for d in devices {
                let got = store
                    .device_readings(d, "V", 0, 100_000)
                    .await
                    .expect("readings");
                let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
                assert_eq!(seqs, (1..=per_device).collect::<Vec<_>>(), "{}", t.name);
                assert!(got.iter().all(|r| r.value == r.seq as f64));
            }
            t.cleanup().await;
        }
    }
}
