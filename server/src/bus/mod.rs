//! Fan-out of room events between nodes.
//!
//! `Local` (the default) delivers to this node's rooms only. `Nats` also
//! publishes each stored event on `jiliang.room.<session>` so every node
//! with a connection to that room receives it; events from NATS go through
//! the same per-room sequencer as local ones, which drops what it has
//! already delivered and fills gaps from the database, so NATS may lose,
//! duplicate or reorder without a client ever seeing it. A loss with no
//! later event behind it is caught by each room's periodic check of the
//! stored log (see [`crate::rooms::hub`]).
//!
//! Publishing never makes the room log wait: events are delivered on this
//! node first, then queued for a separate publisher task. A slow or
//! reconnecting NATS fills that bounded queue; what does not fit is dropped
//! (counted in `jiliang_bus_dropped_total`) and reaches the other nodes
//! through their stored-log check instead.
//!
//! An enum rather than a trait object: there are two implementations, both
//! known here, and an enum keeps the async methods free of boxing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use jiliang_protocol::rooms::{Ephemeral, RoomEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::rooms::Hub;
use crate::rooms::hub::CHECK_EVERY;

/// Messages waiting for the NATS publisher. Beyond this the bus is not
/// keeping up; the stored log is the fallback.
const PUBLISH_QUEUE: usize = 4096;
/// A subscription that does not answer within this time is retried.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Backoff between subscription attempts.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub enum Bus {
    Local(Arc<Hub>),
    Nats {
        hub: Arc<Hub>,
        client: async_nats::Client,
        node: Uuid,
        outbox: mpsc::Sender<(Uuid, Wire)>,
        dropped: Arc<AtomicU64>,
    },
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(_) => f.write_str("Bus::Local"),
            Self::Nats { node, .. } => write!(f, "Bus::Nats({node})"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("unsupported bus URL {0:?}: expected nats://host:port or nothing")]
    Unsupported(String),
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        source: async_nats::ConnectError,
    },
}

/// What travels on NATS.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Wire {
    Event { node: Uuid, event: RoomEvent },
    Ephemeral { node: Uuid, ephemeral: Ephemeral },
}

fn subject(session: Uuid) -> String {
    format!("jiliang.room.{}", session.simple())
}

impl Bus {
    pub async fn connect(url: &str, hub: Arc<Hub>) -> Result<Self, BusError> {
        if url.trim().is_empty() {
            return Ok(Self::Local(hub));
        }
        if !url.starts_with("nats://") {
            return Err(BusError::Unsupported(url.to_owned()));
        }
        let on_event = hub.clone();
        let client = async_nats::ConnectOptions::new()
            .name("jiliang")
            .connection_timeout(Duration::from_secs(5))
            // Whatever was published while the connection was down is lost
            // for this node: every open room checks the stored log.
            .event_callback(move |event| {
                let hub = on_event.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => hub.resync_all(),
                        async_nats::Event::Disconnected => {
                            tracing::warn!("NATS connection lost; reconnecting");
                        }
                        other => tracing::debug!(event = %other, "NATS event"),
                    }
                }
            })
            .connect(url)
            .await
            .map_err(|source| BusError::Connect {
                url: url.to_owned(),
                source,
            })?;
        let (outbox, queued) = mpsc::channel(PUBLISH_QUEUE);
        // Owned by the bus: it ends when the last `Bus` (and so the last
        // sender) is dropped.
        tokio::spawn(publisher(client.clone(), queued));
        Ok(Self::Nats {
            hub,
            client,
            node: Uuid::now_v7(),
            outbox,
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn hub(&self) -> &Arc<Hub> {
        match self {
            Self::Local(hub) | Self::Nats { hub, .. } => hub,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Local(_) => "in-process",
            Self::Nats { .. } => "nats",
        }
    }

    /// Whether the bus can deliver right now.
    pub fn healthy(&self) -> bool {
        match self {
            Self::Local(_) => true,
            Self::Nats { client, .. } => {
                client.connection_state() == async_nats::connection::State::Connected
            }
        }
    }

    /// Messages not handed to NATS because its queue was full.
    pub fn dropped(&self) -> u64 {
        match self {
            Self::Local(_) => 0,
            Self::Nats { dropped, .. } => dropped.load(Ordering::Relaxed),
        }
    }

    /// This bus's lines of `/metrics` (Prometheus text format).
    pub fn render_metrics(&self) -> String {
        format!(
            "# HELP jiliang_bus_dropped_total Room messages not handed to NATS because its queue was full (other nodes read them from the database).\n\
             # TYPE jiliang_bus_dropped_total counter\n\
             jiliang_bus_dropped_total {}\n",
            self.dropped()
        )
    }

    /// Deliver a stored event here, then (with NATS) queue it for the other
    /// nodes. Never waits.
    pub fn publish_event(&self, session: Uuid, event: Arc<RoomEvent>) {
        self.hub().deliver(session, event.clone());
        if let Self::Nats { node, .. } = self {
            let wire = Wire::Event {
                node: *node,
                event: (*event).clone(),
            };
            self.enqueue(session, wire);
        }
    }

    pub fn publish_ephemeral(&self, session: Uuid, ephemeral: Ephemeral) {
        let ephemeral = Arc::new(ephemeral);
        self.hub().deliver_ephemeral(session, ephemeral.clone());
        if let Self::Nats { node, .. } = self {
            let wire = Wire::Ephemeral {
                node: *node,
                ephemeral: (*ephemeral).clone(),
            };
            self.enqueue(session, wire);
        }
    }

    fn enqueue(&self, session: Uuid, wire: Wire) {
        let Self::Nats {
            outbox, dropped, ..
        } = self
        else {
            return;
        };
        if outbox.try_send((session, wire)).is_err() {
            // Events still reach the other nodes through their check of the
            // stored log; ephemeral ones are meant to be lossy.
            let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "NATS is not keeping up; other nodes will read events from the database"
                );
            }
        }
    }

    /// Receive other nodes' events for `session` and watch its stored log
    /// while the returned task runs (`None` for the local bus: there are no
    /// other nodes, and every event is delivered here by the writer).
    pub async fn follow(&self, session: Uuid) -> Option<JoinHandle<()>> {
        let Self::Nats {
            client, node, hub, ..
        } = self
        else {
            return None;
        };
        // One attempt before the room reads its log, so that normally
        // nothing stored afterwards depends on the slower periodic check.
        let sub = subscribe(client, session).await;
        Some(tokio::spawn(follow(
            hub.clone(),
            client.clone(),
            *node,
            session,
            sub,
        )))
    }
}

async fn subscribe(client: &async_nats::Client, session: Uuid) -> Option<async_nats::Subscriber> {
    match tokio::time::timeout(SUBSCRIBE_TIMEOUT, client.subscribe(subject(session))).await {
        Ok(Ok(sub)) => Some(sub),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, %session, "cannot subscribe to room on NATS; retrying");
            None
        }
        Err(_) => {
            tracing::warn!(%session, "subscribing to room on NATS timed out; retrying");
            None
        }
    }
}

/// One room's follower: NATS messages into the sequencer, a periodic and
/// a post-reconnect check of the stored log, and resubscription with
/// backoff while NATS refuses.
async fn follow(
    hub: Arc<Hub>,
    client: async_nats::Client,
    me: Uuid,
    session: Uuid,
    mut sub: Option<async_nats::Subscriber>,
) {
    // The room reads the log's end itself as it opens; the first check is
    // due a period later.
    let mut check = tokio::time::interval_at(Instant::now() + CHECK_EVERY, CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut resync = hub.resync_signal();
    let mut backoff = RETRY_MIN;
    let mut retry_at = Instant::now() + backoff;
    loop {
        match sub.as_mut() {
            Some(s) => tokio::select! {
                msg = s.next() => match msg {
                    Some(msg) => match serde_json::from_slice::<Wire>(&msg.payload) {
                        Ok(Wire::Event { node, event }) if node != me => {
                            hub.deliver(session, Arc::new(event));
                        }
                        Ok(Wire::Ephemeral { node, ephemeral }) if node != me => {
                            hub.deliver_ephemeral(session, Arc::new(ephemeral));
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "undecodable message on the bus"),
                    },
                    None => {
                        tracing::warn!(%session, "room subscription ended; resubscribing");
                        sub = None;
                        backoff = RETRY_MIN;
                        retry_at = Instant::now() + backoff;
                    }
                },
                _ = check.tick() => hub.check(session).await,
                changed = resync.changed() => {
                    if changed.is_err() {
                        return; // the hub is gone
                    }
                    hub.check(session).await;
                }
            },
            None => tokio::select! {
                () = tokio::time::sleep_until(retry_at) => {
                    sub = subscribe(&client, session).await;
                    if sub.is_some() {
                        backoff = RETRY_MIN;
                        // Anything published before the subscription is
                        // only in the database.
                        hub.check(session).await;
                    } else {
                        backoff = (backoff * 2).min(RETRY_MAX);
                        retry_at = Instant::now() + backoff;
                    }
                }
                _ = check.tick() => hub.check(session).await,
            },
        }
    }
}

/// Hands queued messages to NATS, one at a time, off the room log's path.
async fn publisher(client: async_nats::Client, mut queued: mpsc::Receiver<(Uuid, Wire)>) {
    while let Some((session, wire)) = queued.recv().await {
        match serde_json::to_vec(&wire) {
            Ok(bytes) => {
                if let Err(e) = client.publish(subject(session), bytes.into()).await {
                    tracing::warn!(error = %e, %session, "cannot publish to NATS");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot encode bus message"),
        }
    }
}
