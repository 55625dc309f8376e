//! Fan-out of room messages between nodes: the bus only carries messages.
//!
//! `Local` (the default) has no other nodes to carry to. `Nats` publishes,
//! for each stored event, a *notice* on `jiliang.room.<session>` — "room R
//! has events up to seq N", never the event itself — and hands a room's
//! [`Subscription`] the other nodes' notices; what a room does with them is
//! the room hub's business (`crate::rooms::hub`): it reads the events from
//! the database, after checking the room's stored end there. So a message
//! forged on the bus can never put an event before a client or displace
//! one, and a notice claiming a huge sequence costs one single-row read.
//! NATS may lose, duplicate or reorder: rooms also check the stored log
//! periodically.
//!
//! Nodes authenticate to NATS (user and password, token, NKey, or a
//! credentials file) and can require TLS with a private CA and a client
//! certificate ([`crate::config::NatsArgs`]).
//!
//! Publishing never makes the room log wait: messages are queued for a
//! separate publisher task. A slow or reconnecting NATS fills that bounded
//! queue; what does not fit is dropped (counted in
//! `jiliang_bus_dropped_total`) and reaches the other nodes through their
//! stored-log check instead.
//!
//! Every retry here — NATS reconnecting, a room resubscribing — waits a
//! randomised backoff (see [`Backoff`]), so nodes that lost NATS together do
//! not return in lockstep.
//!
//! Media signalling between nodes travels here too ([`media`]).
//!
//! This module must never import the rooms: it knows sessions by id only.
//! An enum rather than a trait object: there are two implementations, both
//! known here, and an enum keeps the async methods free of boxing.

use std::time::Duration;

use futures_util::StreamExt;
use jiliang_protocol::rooms::Ephemeral;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::config::NatsArgs;
use crate::metrics::BusMetrics;

pub mod media;

/// Messages waiting for the NATS publisher. Beyond this the bus is not
/// keeping up; the stored log is the fallback.
pub const PUBLISH_QUEUE: usize = 4096;
/// A subscription that does not answer within this time is retried.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
/// NATS reconnect delays: the first retry at once (most drops are a blip),
/// then doubling from this up to `RECONNECT_MAX`, each randomised.
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(4);

#[derive(Clone)]
pub enum Bus {
    Local {
        metrics: BusMetrics,
    },
    Nats {
        client: async_nats::Client,
        node: Uuid,
        outbox: mpsc::Sender<Queued>,
        /// Bumped on every (re)connection: whatever NATS carried while it
        /// was down is lost for this node.
        connected: watch::Receiver<u64>,
        metrics: BusMetrics,
    },
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local { .. } => f.write_str("Bus::Local"),
            Self::Nats { node, .. } => write!(f, "Bus::Nats({node})"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("unsupported bus URL {0:?}: expected nats://host:port, tls://host:port or nothing")]
    Unsupported(String),
    #[error("cannot read the NATS credentials file {path}: {source}")]
    Credentials {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        source: async_nats::ConnectError,
    },
}

/// What travels on NATS. Events never do: only the notice that they are
/// stored, which receivers check against the database.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Wire {
    /// The room's log holds events up to `seq`.
    Stored {
        node: Uuid,
        seq: u64,
    },
    Ephemeral {
        node: Uuid,
        ephemeral: Ephemeral,
    },
}

/// A message waiting for the NATS publisher.
#[derive(Debug)]
pub enum Queued {
    /// A room's notice, for `jiliang.room.<session>`.
    Room(Uuid, Wire),
    /// A sealed media message, for its subject ([`media`]).
    Media(String, Vec<u8>),
}

/// A message from another node, for one room.
#[derive(Debug)]
pub enum Inbound {
    /// Another node says the room's log reaches `seq`: a hint to read the
    /// database, never a fact.
    Stored(u64),
    Ephemeral(Ephemeral),
}

fn subject(session: Uuid) -> String {
    format!("jiliang.room.{}", session.simple())
}

impl Bus {
    pub async fn connect(url: &str, auth: &NatsArgs) -> Result<Self, BusError> {
        let metrics = BusMetrics::default();
        if url.trim().is_empty() {
            return Ok(Self::Local { metrics });
        }
        if !url.starts_with("nats://") && !url.starts_with("tls://") {
            return Err(BusError::Unsupported(url.to_owned()));
        }
        let (bump, connected) = watch::channel(0u64);
        let options = connect_options(auth).await?;
        let client = options
            .name("jiliang")
            .connection_timeout(Duration::from_secs(5))
            .reconnect_delay_callback(reconnect_delay)
            // Whatever was published while the connection was down is lost
            // for this node: every open room checks the stored log.
            .event_callback(move |event| {
                let bump = bump.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            bump.send_modify(|n| *n = n.wrapping_add(1));
                        }
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
            client,
            node: Uuid::now_v7(),
            outbox,
            connected,
            metrics,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Local { .. } => "in-process",
            Self::Nats { .. } => "nats",
        }
    }

    /// Whether other nodes may be sending this node messages (a room then
    /// subscribes and checks the stored log).
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Nats { .. })
    }

    /// Whether the bus can deliver right now.
    pub fn healthy(&self) -> bool {
        match self {
            Self::Local { .. } => true,
            Self::Nats { client, .. } => {
                client.connection_state() == async_nats::connection::State::Connected
            }
        }
    }

    pub fn metrics(&self) -> &BusMetrics {
        match self {
            Self::Local { metrics } | Self::Nats { metrics, .. } => metrics,
        }
    }

    /// Messages not handed to NATS because its queue was full.
    pub fn dropped(&self) -> u64 {
        self.metrics().dropped()
    }

    /// Messages waiting for the NATS publisher, and how many may wait
    /// (`(0, 0)` for the local bus, which has no queue).
    pub fn queue_depth(&self) -> (usize, usize) {
        match self {
            Self::Local { .. } => (0, 0),
            Self::Nats { outbox, .. } => {
                let capacity = outbox.max_capacity();
                (capacity - outbox.capacity(), capacity)
            }
        }
    }

    /// Changes on every (re)connection to NATS; never for the local bus.
    pub fn reconnections(&self) -> watch::Receiver<u64> {
        match self {
            // A sender dropped at once: `changed()` then fails, which a
            // caller treats as "nothing will ever come".
            Self::Local { .. } => watch::channel(0).1,
            Self::Nats { connected, .. } => {
                let mut rx = connected.clone();
                // Only reconnections from now on.
                rx.mark_unchanged();
                rx
            }
        }
    }

    /// Tell the other nodes that `session`'s log reaches `seq`. Never waits.
    pub fn publish_stored(&self, session: Uuid, seq: u64) {
        if let Self::Nats { node, .. } = self {
            self.enqueue(Queued::Room(session, Wire::Stored { node: *node, seq }));
        }
    }

    /// Queue an ephemeral message for the other nodes. Never waits.
    pub fn publish_ephemeral(&self, session: Uuid, ephemeral: &Ephemeral) {
        if let Self::Nats { node, .. } = self {
            let wire = Wire::Ephemeral {
                node: *node,
                ephemeral: ephemeral.clone(),
            };
            self.enqueue(Queued::Room(session, wire));
        }
    }

    fn enqueue(&self, queued: Queued) {
        let Self::Nats {
            outbox, metrics, ..
        } = self
        else {
            return;
        };
        if outbox.try_send(queued).is_err() {
            // Events still reach the other nodes through their check of the
            // stored log; ephemeral ones are meant to be lossy.
            let n = metrics.dropped_one();
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "NATS is not keeping up; other nodes will read events from the database"
                );
            }
        }
    }

    /// One attempt to receive the other nodes' messages for `session`:
    /// `None` for the local bus, or when NATS refused or did not answer in
    /// time (logged; the caller retries with a [`Backoff`]).
    pub async fn subscribe(&self, session: Uuid) -> Option<Subscription> {
        let Self::Nats { client, node, .. } = self else {
            return None;
        };
        match tokio::time::timeout(SUBSCRIBE_TIMEOUT, client.subscribe(subject(session))).await {
            Ok(Ok(inner)) => Some(Subscription { inner, me: *node }),
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
}

/// The other nodes' messages for one room.
pub struct Subscription {
    inner: async_nats::Subscriber,
    me: Uuid,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

impl Subscription {
    /// The next message from another node; `None` once the subscription has
    /// ended (resubscribe). This node's own messages and undecodable ones
    /// are skipped. Cancel-safe: nothing is lost if the future is dropped.
    pub async fn recv(&mut self) -> Option<Inbound> {
        loop {
            let msg = self.inner.next().await?;
            match serde_json::from_slice::<Wire>(&msg.payload) {
                Ok(Wire::Stored { node, seq }) if node != self.me => {
                    return Some(Inbound::Stored(seq));
                }
                Ok(Wire::Ephemeral { node, ephemeral }) if node != self.me => {
                    return Some(Inbound::Ephemeral(ephemeral));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "undecodable message on the bus"),
            }
        }
    }
}

/// The NATS client options for `auth`: at most one way to authenticate is
/// expected (NATS accepts one); TLS is required as soon as any TLS option is
/// given, so a misconfigured server cannot silently downgrade the link.
async fn connect_options(auth: &NatsArgs) -> Result<async_nats::ConnectOptions, BusError> {
    let mut o = async_nats::ConnectOptions::new();
    if let (Some(user), Some(password)) = (&auth.nats_user, &auth.nats_password) {
        o = o.user_and_password(user.clone(), password.0.clone());
    }
    if let Some(token) = &auth.nats_token {
        o = o.token(token.0.clone());
    }
    if let Some(seed) = &auth.nats_nkey_seed {
        o = o.nkey(seed.0.clone());
    }
    if let Some(path) = &auth.nats_creds {
        o = o
            .credentials_file(path)
            .await
            .map_err(|source| BusError::Credentials {
                path: path.display().to_string(),
                source,
            })?;
    }
    let mut tls = auth.nats_tls;
    if let Some(ca) = &auth.nats_ca {
        o = o.add_root_certificates(ca.clone());
        tls = true;
    }
    if let (Some(cert), Some(key)) = (&auth.nats_client_cert, &auth.nats_client_key) {
        o = o.add_client_certificate(cert.clone(), key.clone());
        tls = true;
    }
    Ok(o.require_tls(tls))
}

/// Exponential backoff with jitter for retries against the bus.
///
/// Each wait is drawn uniformly from the upper half of the current step
/// ("equal jitter"): never less than half the step, so a node still backs
/// off, and spread over the other half, so nodes that failed together
/// retry apart.
#[derive(Debug, Clone)]
pub struct Backoff {
    step: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            step: min,
            min,
            max: max.max(min),
        }
    }

    /// The wait before the next attempt; the step doubles for the one after.
    pub fn next_delay(&mut self) -> Duration {
        let delay = jittered(self.step, OsRng.next_u64());
        self.step = (self.step * 2).min(self.max);
        delay
    }

    /// Back to the shortest step (after a success).
    pub fn reset(&mut self) {
        self.step = self.min;
    }
}

/// `step` with its upper half replaced by a random fraction of it.
fn jittered(step: Duration, random: u64) -> Duration {
    let half = step / 2;
    let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let extra = if spread == 0 {
        0
    } else {
        random % (spread + 1)
    };
    half + Duration::from_nanos(extra)
}

/// async-nats' reconnect schedule with jitter: attempt 1 at once, then
/// doubling from [`RECONNECT_MIN`] to [`RECONNECT_MAX`]. (The library's own
/// schedule has no jitter: every node would redial a restarted NATS on the
/// same milliseconds.)
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(16);
    let step = RECONNECT_MIN
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(RECONNECT_MAX);
    jittered(step, OsRng.next_u64())
}

/// Hands queued messages to NATS, one at a time, off the room log's path.
async fn publisher(client: async_nats::Client, mut queued: mpsc::Receiver<Queued>) {
    while let Some(next) = queued.recv().await {
        let (subject, bytes) = match next {
            Queued::Room(session, wire) => (subject(session), serde_json::to_vec(&wire)),
            Queued::Media(subject, bytes) => (subject, Ok(bytes)),
        };
        match bytes {
            Ok(bytes) => {
                if let Err(e) = client.publish(subject.clone(), bytes.into()).await {
                    tracing::warn!(error = %e, %subject, "cannot publish to NATS");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot encode bus message"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_the_upper_half_of_the_step() {
        let step = Duration::from_millis(800);
        assert_eq!(jittered(step, 0), Duration::from_millis(400));
        assert_eq!(jittered(step, 400_000_000), step);
        for r in [1, 7, u64::MAX, 123_456_789_012] {
            let d = jittered(step, r);
            assert!(d >= step / 2 && d <= step, "{d:?}");
        }
        assert_eq!(jittered(Duration::ZERO, 5), Duration::ZERO);
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_spread_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let mut steps = Vec::new();
        for _ in 0..12 {
            steps.push(b.next_delay());
        }
        let mut bound = Duration::from_millis(200);
        for d in &steps {
            assert!(*d >= bound / 2 && *d <= bound, "{d:?} outside {bound:?}");
            bound = (bound * 2).min(Duration::from_secs(10));
        }
        // At the cap, waits differ from draw to draw (OS randomness: a
        // repeat of eight identical draws is a 2^-200 event).
        let capped: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert!(capped.iter().any(|d| *d != capped[0]), "{capped:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(200));
    }

    #[test]
    fn reconnects_start_at_once_then_back_off_to_the_cap() {
        assert_eq!(reconnect_delay(0), Duration::ZERO);
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        let second = reconnect_delay(2);
        assert!(second >= RECONNECT_MIN / 2 && second <= RECONNECT_MIN);
        for attempts in [10, 100, usize::MAX] {
            let d = reconnect_delay(attempts);
            assert!(d >= RECONNECT_MAX / 2 && d <= RECONNECT_MAX, "{d:?}");
        }
    }
}
