//! Which node's SFU a connection's media uses, when there are several nodes.
//!
//! A room's media lives on one node at a time: the holder of the room's
//! lease in the database (`media_leases`). The first connection that starts
//! media claims it for its own node; the holder renews it while the room has
//! media there and gives it up when the last connection's media ends (or the
//! node shuts down). A node that dies stops renewing: once the lease has
//! expired the next connection to start media claims it for its node.
//!
//! [`RoutedSfu`] stands in front of this node's engine (any [`Sfu`]) and
//! keeps the room socket's view unchanged. For each connection it claims or
//! reads the lease, then either
//! - hosts the media on this node (the engine gets the connection as is), or
//! - relays the connection's signalling over the bus to the holder
//!   ([`crate::bus::media`]), where a *guest* task hands it to that node's
//!   engine and sends the engine's replies back. The browser then connects
//!   its media straight to the holder: the SDP and candidates the holder's
//!   engine writes carry that node's advertised address.
//!
//! When the lease moves (the holder lost it, shut down or died), every
//! connection that used the old holder gets `media_closed {reason:"moved"}`;
//! the client starts its media again, which claims or finds the new holder.
//! Publisher lists (who publishes what) of rooms hosted elsewhere come from
//! the holder over the bus, refreshed at every renewal, and are forgotten
//! when the holder stops refreshing them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiliang_protocol::rooms::MediaPublisher;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::{Inbound, MediaConfig, MediaUpdate, Outbound, PeerKey, Sfu};
use crate::bus::media::{MediaSeal, MediaTo, MediaWire, WireKey, WireReply, WireSignal};
use crate::bus::{Backoff, Bus};
use crate::store::Store;

/// Connection numbers of guests (media of other nodes' sockets) in this
/// node's engine: apart from the numbers of this node's own sockets.
const GUEST_CONN: u64 = 1 << 63;
/// Name of the media seal's key in `server_secrets`.
const SEAL_SECRET: &str = "media_bus_seal";

/// The [`Sfu`] of a node among several: local or remote by lease.
#[derive(Clone)]
pub struct RoutedSfu {
    inner: Arc<Router>,
}

struct Router {
    local: Arc<dyn Sfu>,
    store: Store,
    bus: Bus,
    seal: MediaSeal,
    node: Uuid,
    /// The media address this node advertises (stored with its leases).
    addr: String,
    lease: Duration,
    /// Media of this node's sockets: the task routing each (with a number,
    /// so a finished route never removes its successor).
    routes: Mutex<HashMap<PeerKey, (u64, mpsc::UnboundedSender<RouteCmd>)>>,
    /// Rooms whose lease this node holds.
    hosted: Mutex<HashMap<Uuid, Hosted>>,
    /// Media of other nodes' sockets hosted here, by (their node, their key).
    guests: Mutex<HashMap<GuestKey, (u64, mpsc::UnboundedSender<GuestCmd>)>>,
    /// Starts seen lately: a start replayed from the bus is not obeyed twice.
    started: Mutex<HashMap<GuestKey, Instant>>,
    /// Publishers of rooms hosted elsewhere, as their holder last said.
    remote: Mutex<HashMap<Uuid, Remote>>,
    updates: broadcast::Sender<MediaUpdate>,
    next_id: AtomicU64,
    closed: AtomicBool,
}

/// A guest: the node of its socket and its key there.
type GuestKey = (Uuid, WireKey);

struct Hosted {
    /// Connections (local and guests) with media here.
    users: usize,
    /// Cancelled when the lease is lost: every connection moves.
    moved: CancellationToken,
}

struct Remote {
    publishers: Arc<Vec<MediaPublisher>>,
    seen: Instant,
}

enum RouteCmd {
    Signal(Inbound),
    /// The holder's reply, from the bus.
    Reply(Outbound),
    Stop,
}

enum GuestCmd {
    Signal(Inbound),
    Alive,
    Stop,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves plain maps behind: go on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RoutedSfu {
    /// The key sealing media messages between nodes: one per installation,
    /// in the database (the first node to start creates it).
    pub async fn load_seal(store: &Store) -> Result<MediaSeal, sqlx::Error> {
        let mut fresh = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut fresh);
        let stored = store.server_secret(SEAL_SECRET, &fresh).await?;
        let key = <[u8; 32]>::try_from(stored.as_slice()).map_err(|_| {
            sqlx::Error::Decode(format!("server secret {SEAL_SECRET} is not 32 bytes").into())
        })?;
        Ok(MediaSeal::new(key))
    }

    /// Route media between `local` (this node's engine) and the other
    /// nodes on `bus` (whose node id is `node`), sealing messages with
    /// `seal`. Its tasks stop when `shutdown` is cancelled, giving up this
    /// node's leases.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        local: Arc<dyn Sfu>,
        store: Store,
        bus: Bus,
        seal: MediaSeal,
        node: Uuid,
        config: &MediaConfig,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Self {
        let ip = super::net::announced_ip(config).unwrap_or(config.udp.ip());
        let (updates, _) = broadcast::channel(256);
        let inner = Arc::new(Router {
            local,
            store,
            bus,
            seal,
            node,
            addr: std::net::SocketAddr::new(ip, config.udp.port()).to_string(),
            lease: Duration::from_millis(config.lease_ms.max(300)),
            routes: Mutex::default(),
            hosted: Mutex::default(),
            guests: Mutex::default(),
            started: Mutex::default(),
            remote: Mutex::default(),
            updates,
            next_id: AtomicU64::new(1),
            closed: AtomicBool::new(false),
        });
        tasks.spawn(relay_local(inner.clone(), shutdown.clone()));
        tasks.spawn(dispatch(inner.clone(), shutdown.clone()));
        tasks.spawn(maintain(inner.clone(), shutdown));
        Self { inner }
    }
}

impl Sfu for RoutedSfu {
    fn start(&self, key: PeerKey, out: mpsc::Sender<Outbound>) {
        if self.inner.closed.load(Ordering::Relaxed) {
            let _ = out.try_send(Outbound::Closed("shutdown"));
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut routes = lock(&self.inner.routes);
            if routes.contains_key(&key) {
                return;
            }
            routes.insert(key, (id, tx));
        }
        tokio::spawn(route(self.inner.clone(), key, id, out, rx));
    }

    fn signal(&self, key: PeerKey, msg: Inbound) {
        if let Some((_, tx)) = lock(&self.inner.routes).get(&key) {
            let _ = tx.send(RouteCmd::Signal(msg));
        }
    }

    fn stop(&self, key: PeerKey) {
        if let Some((_, tx)) = lock(&self.inner.routes).remove(&key) {
            let _ = tx.send(RouteCmd::Stop);
        }
    }

    fn publishers(&self, room: Uuid) -> Vec<MediaPublisher> {
        let here = self.inner.local.publishers(room);
        if !here.is_empty() || lock(&self.inner.hosted).contains_key(&room) {
            return here;
        }
        lock(&self.inner.remote)
            .get(&room)
            .map(|r| (*r.publishers).clone())
            .unwrap_or_default()
    }

    fn updates(&self) -> broadcast::Receiver<MediaUpdate> {
        self.inner.updates.subscribe()
    }

    fn peer_connections(&self) -> usize {
        self.inner.local.peer_connections()
    }

    fn taps(&self, room: Uuid) -> Vec<super::Tap> {
        // Only the holder's engine has the room's tracks.
        self.inner.local.taps(room)
    }

    fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
        self.inner.local.shutdown();
    }
}

impl Router {
    fn send(&self, to: MediaTo, msg: MediaWire) {
        self.bus.publish_media(&self.seal, to, msg);
    }

    fn forget_route(&self, key: PeerKey, id: u64) {
        let mut routes = lock(&self.routes);
        if routes.get(&key).is_some_and(|(i, _)| *i == id) {
            routes.remove(&key);
        }
    }

    fn forget_guest(&self, from: Uuid, key: WireKey, id: u64) {
        let mut guests = lock(&self.guests);
        if guests.get(&(from, key)).is_some_and(|(i, _)| *i == id) {
            guests.remove(&(from, key));
        }
    }

    /// Claim (or find the holder of) `room`'s lease: `Ok(None)` when this
    /// node holds it, `Ok(Some(holder))` when another live node does.
    async fn claim(&self, room: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
        let ttl = u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX);
        let lease = self
            .store
            .media_lease_claim(room, self.node, &self.addr, ttl)
            .await?;
        Ok((lease.node_id != self.node).then_some(lease.node_id))
    }

    /// One more connection with media hosted here; the token says when the
    /// lease is lost.
    fn acquire(&self, room: Uuid) -> CancellationToken {
        let token = {
            let mut hosted = lock(&self.hosted);
            let h = hosted.entry(room).or_insert_with(|| Hosted {
                users: 0,
                moved: CancellationToken::new(),
            });
            h.users += 1;
            h.moved.clone()
        };
        // What the previous holder said no longer holds: this node's engine
        // is the truth now.
        if lock(&self.remote).remove(&room).is_some() {
            let _ = self.updates.send(MediaUpdate {
                room,
                publishers: Arc::new(self.local.publishers(room)),
            });
        }
        token
    }

    /// One connection fewer; the lease is given up at the next renewal if
    /// none is left by then.
    fn release(&self, room: Uuid) {
        if let Some(h) = lock(&self.hosted).get_mut(&room) {
            h.users = h.users.saturating_sub(1);
        }
    }

    /// Renew the leases of rooms with media here, give up the others, and
    /// forget publisher lists no holder refreshes any more.
    async fn renew(&self) {
        let rooms: Vec<(Uuid, usize)> = lock(&self.hosted)
            .iter()
            .map(|(r, h)| (*r, h.users))
            .collect();
        for (room, users) in rooms {
            if users == 0 {
                let gone = {
                    let mut hosted = lock(&self.hosted);
                    let idle = hosted.get(&room).is_some_and(|h| h.users == 0);
                    if idle {
                        hosted.remove(&room);
                    }
                    idle
                };
                if gone && let Err(e) = self.store.media_lease_release(Some(room), self.node).await
                {
                    // It expires by itself.
                    tracing::warn!(error = %e, %room, "cannot release a media lease");
                }
                continue;
            }
            match self.claim(room).await {
                Ok(None) => self.send(
                    MediaTo::Everyone,
                    MediaWire::State {
                        node: self.node,
                        room,
                        publishers: self.local.publishers(room),
                    },
                ),
                Ok(Some(holder)) => {
                    tracing::warn!(%room, %holder, "media lease lost to another node; media moves");
                    if let Some(h) = lock(&self.hosted).remove(&room) {
                        h.moved.cancel();
                    }
                }
                // The database is away: keep hosting; the lease may expire
                // meanwhile, and whoever claims it then wins.
                Err(e) => tracing::warn!(error = %e, %room, "cannot renew a media lease"),
            }
        }
        let replay_window = Duration::from_millis(
            u64::try_from(crate::bus::media::MAX_AGE_MS).unwrap_or(u64::MAX) * 2,
        );
        lock(&self.started).retain(|_, at| at.elapsed() < replay_window);
        let stale = self.lease * 3;
        let expired: Vec<Uuid> = {
            let mut remote = lock(&self.remote);
            let expired: Vec<Uuid> = remote
                .iter()
                .filter(|(_, r)| r.seen.elapsed() > stale)
                .map(|(room, _)| *room)
                .collect();
            for room in &expired {
                remote.remove(room);
            }
            expired
        };
        for room in expired {
            let _ = self.updates.send(MediaUpdate {
                room,
                publishers: Arc::new(Vec::new()),
            });
        }
    }

    /// A room's publishers, from its holder elsewhere.
    fn remote_state(&self, room: Uuid, publishers: Vec<MediaPublisher>) {
        if lock(&self.hosted).contains_key(&room) {
            // From a former holder: this node's engine is the truth.
            return;
        }
        let changed = {
            let mut remote = lock(&self.remote);
            let entry = remote.entry(room).or_insert_with(|| Remote {
                publishers: Arc::new(Vec::new()),
                seen: Instant::now(),
            });
            entry.seen = Instant::now();
            let changed = *entry.publishers != publishers;
            if changed {
                entry.publishers = Arc::new(publishers);
            }
            changed.then(|| entry.publishers.clone())
        };
        if let Some(publishers) = changed {
            let _ = self.updates.send(MediaUpdate { room, publishers });
        }
    }

    /// A media message from another node.
    fn on_wire(self: &Arc<Self>, msg: MediaWire) {
        tracing::debug!(kind = wire_kind(&msg), "media message from another node");
        match msg {
            MediaWire::Start { from, key } => {
                if lock(&self.started)
                    .insert((from, key), Instant::now())
                    .is_some()
                {
                    return;
                }
                let (tx, rx) = mpsc::unbounded_channel();
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                if let Some((_, old)) = lock(&self.guests).insert((from, key), (id, tx)) {
                    let _ = old.send(GuestCmd::Stop);
                }
                tokio::spawn(guest(self.clone(), from, key, id, rx));
            }
            MediaWire::Signal { from, key, signal } => {
                if let Some((_, tx)) = lock(&self.guests).get(&(from, key)) {
                    let _ = tx.send(GuestCmd::Signal(inbound(signal)));
                }
            }
            MediaWire::Alive { from, key } => {
                if let Some((_, tx)) = lock(&self.guests).get(&(from, key)) {
                    let _ = tx.send(GuestCmd::Alive);
                }
            }
            MediaWire::Stop { from, key } => {
                if let Some((_, tx)) = lock(&self.guests).remove(&(from, key)) {
                    let _ = tx.send(GuestCmd::Stop);
                }
            }
            MediaWire::Reply { key: wk, reply } => {
                let key = PeerKey {
                    room: wk.room,
                    user: wk.user,
                    conn: wk.conn,
                };
                if let Some((id, tx)) = lock(&self.routes).get(&key)
                    && *id == wk.route
                {
                    let _ = tx.send(RouteCmd::Reply(outbound(reply)));
                }
            }
            MediaWire::State {
                room, publishers, ..
            } => self.remote_state(room, publishers),
        }
    }
}

/// The media of one connection of this node's sockets, to its end.
async fn route(
    r: Arc<Router>,
    key: PeerKey,
    id: u64,
    out: mpsc::Sender<Outbound>,
    rx: mpsc::UnboundedReceiver<RouteCmd>,
) {
    match r.claim(key.room).await {
        Ok(None) => {
            tracing::debug!(room = %key.room, "media hosted on this node");
            host_here(&r, key, out, rx).await;
        }
        Ok(Some(holder)) => {
            tracing::debug!(room = %key.room, %holder, "media hosted on another node");
            host_there(&r, key, id, holder, out, rx).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the room's media lease");
            unavailable(&out).await;
        }
    }
    r.forget_route(key, id);
}

async fn unavailable(out: &mpsc::Sender<Outbound>) {
    let _ = out
        .send(Outbound::Refused {
            zh: "服务器暂时无法建立音视频连接，文字交流不受影响。".into(),
            en: "The server cannot open a media connection right now; chat goes on.".into(),
            closed: true,
        })
        .await;
    let _ = out.send(Outbound::Closed("unavailable")).await;
}

/// This node holds the room: the connection's media is this node's engine's.
async fn host_here(
    r: &Arc<Router>,
    key: PeerKey,
    out: mpsc::Sender<Outbound>,
    mut rx: mpsc::UnboundedReceiver<RouteCmd>,
) {
    let moved = r.acquire(key.room);
    let (tx, mut engine) = mpsc::channel(64);
    r.local.start(key, tx);
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(RouteCmd::Signal(m)) => r.local.signal(key, m),
                Some(RouteCmd::Reply(_)) => {}
                Some(RouteCmd::Stop) | None => {
                    r.local.stop(key);
                    break;
                }
            },
            msg = engine.recv() => {
                let Some(msg) = msg else { break };
                let last = matches!(msg, Outbound::Closed(_));
                if out.send(msg).await.is_err() {
                    r.local.stop(key);
                    break;
                }
                if last {
                    break;
                }
            }
            () = moved.cancelled() => {
                r.local.stop(key);
                let _ = out.send(Outbound::Closed("moved")).await;
                break;
            }
        }
    }
    r.release(key.room);
}

/// Another node holds the room: relay the connection's signalling to it.
async fn host_there(
    r: &Arc<Router>,
    key: PeerKey,
    route: u64,
    holder: Uuid,
    out: mpsc::Sender<Outbound>,
    mut rx: mpsc::UnboundedReceiver<RouteCmd>,
) {
    let wk = WireKey {
        room: key.room,
        user: key.user,
        conn: key.conn,
        route,
    };
    let to = MediaTo::Node(holder);
    let from = r.node;
    r.send(to, MediaWire::Start { from, key: wk });
    let every = r.lease / 3;
    let mut check = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(RouteCmd::Signal(m)) => {
                    r.send(to, MediaWire::Signal { from, key: wk, signal: signal(m) });
                }
                Some(RouteCmd::Reply(msg)) => {
                    let msg = match msg {
                        // The holder is going away: start again elsewhere.
                        Outbound::Closed("shutdown") => Outbound::Closed("moved"),
                        other => other,
                    };
                    let last = matches!(msg, Outbound::Closed(_));
                    if let Outbound::Closed(reason) = &msg {
                        tracing::debug!(%reason, "the hosting node closed a connection's media");
                    }
                    if out.send(msg).await.is_err() {
                        r.send(to, MediaWire::Stop { from, key: wk });
                        break;
                    }
                    if last {
                        break;
                    }
                }
                Some(RouteCmd::Stop) | None => {
                    r.send(to, MediaWire::Stop { from, key: wk });
                    break;
                }
            },
            _ = check.tick() => {
                r.send(to, MediaWire::Alive { from, key: wk });
                match r.store.media_lease(key.room).await {
                    Ok(Some(l)) if l.node_id == holder && l.live() => {}
                    Ok(_) => {
                        // The holder died or gave the room up.
                        r.send(to, MediaWire::Stop { from, key: wk });
                        let _ = out.send(Outbound::Closed("moved")).await;
                        break;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot check the room's media lease"),
                }
            }
        }
    }
}

/// The media of another node's socket, hosted by this node's engine.
async fn guest(
    r: Arc<Router>,
    from: Uuid,
    wk: WireKey,
    id: u64,
    mut rx: mpsc::UnboundedReceiver<GuestCmd>,
) {
    let to = MediaTo::Node(from);
    let reply = |reply: WireReply| r.send(to, MediaWire::Reply { key: wk, reply });
    if r.closed.load(Ordering::Relaxed) {
        // Shutting down: the socket's node looks for the next holder.
        reply(WireReply::Closed {
            reason: "moved".into(),
        });
        r.forget_guest(from, wk, id);
        return;
    }
    match r.claim(wk.room).await {
        Ok(None) => {}
        Ok(Some(_)) => {
            // The lease moved between the socket's node reading it and now.
            reply(WireReply::Closed {
                reason: "moved".into(),
            });
            r.forget_guest(from, wk, id);
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim the room's media lease");
            reply(WireReply::Closed {
                reason: "unavailable".into(),
            });
            r.forget_guest(from, wk, id);
            return;
        }
    }
    let moved = r.acquire(wk.room);
    let key = PeerKey {
        room: wk.room,
        user: wk.user,
        conn: GUEST_CONN | r.next_id.fetch_add(1, Ordering::Relaxed),
    };
    let (tx, mut engine) = mpsc::channel(64);
    r.local.start(key, tx);
    // The socket's node says `alive` every third of a lease; after two
    // leases of silence it is gone (died, or lost the bus).
    let mut heard = Instant::now();
    let mut check = tokio::time::interval(r.lease);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(GuestCmd::Signal(m)) => {
                    heard = Instant::now();
                    r.local.signal(key, m);
                }
                Some(GuestCmd::Alive) => heard = Instant::now(),
                Some(GuestCmd::Stop) | None => {
                    r.local.stop(key);
                    break;
                }
            },
            msg = engine.recv() => {
                let Some(msg) = msg else { break };
                let last = matches!(msg, Outbound::Closed(_));
                reply(wire_reply(msg));
                if last {
                    break;
                }
            }
            () = moved.cancelled() => {
                r.local.stop(key);
                reply(WireReply::Closed { reason: "moved".into() });
                break;
            }
            _ = check.tick() => {
                if heard.elapsed() > r.lease * 2 {
                    tracing::info!(node = %from, "a guest's node went silent; its media ends");
                    r.local.stop(key);
                    break;
                }
            }
        }
    }
    r.release(wk.room);
    r.forget_guest(from, wk, id);
}

/// This node's engine's publisher changes: to this node's sockets, and to
/// the other nodes (this node hosts those rooms).
async fn relay_local(r: Arc<Router>, shutdown: CancellationToken) {
    let mut rx = r.local.updates();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            u = rx.recv() => match u {
                Ok(u) => {
                    r.send(MediaTo::Everyone, MediaWire::State {
                        node: r.node,
                        room: u.room,
                        publishers: (*u.publishers).clone(),
                    });
                    let _ = r.updates.send(u);
                }
                // Renewals re-send every hosted room's state.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }
}

/// Hands the other nodes' media messages to their connections.
async fn dispatch(r: Arc<Router>, shutdown: CancellationToken) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        let sub = tokio::select! {
            () = shutdown.cancelled() => return,
            s = r.bus.subscribe_media(r.seal.clone()) => s,
        };
        let Some(mut sub) = sub else {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff.next_delay()) => continue,
            }
        };
        backoff.reset();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                m = sub.recv() => match m {
                    Some(m) => r.on_wire(m),
                    None => break,
                },
            }
        }
    }
}

/// Renews this node's leases every third of a lease; gives them all up
/// at shutdown, so another node can take the rooms at once.
async fn maintain(r: Arc<Router>, shutdown: CancellationToken) {
    let every = r.lease / 3;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => r.renew().await,
        }
    }
    if let Err(e) = r.store.media_lease_release(None, r.node).await {
        tracing::warn!(error = %e, "cannot release this node's media leases; they expire");
    }
}

fn wire_kind(m: &MediaWire) -> &'static str {
    match m {
        MediaWire::Start { .. } => "start",
        MediaWire::Signal { signal, .. } => match signal {
            WireSignal::State { .. } => "signal:state",
            WireSignal::Offer { .. } => "signal:offer",
            WireSignal::Answer { .. } => "signal:answer",
            WireSignal::Candidate { .. } => "signal:candidate",
            WireSignal::Link { .. } => "signal:link",
        },
        MediaWire::Alive { .. } => "alive",
        MediaWire::Stop { .. } => "stop",
        MediaWire::Reply { reply, .. } => match reply {
            WireReply::Offer { .. } => "reply:offer",
            WireReply::Answer { .. } => "reply:answer",
            WireReply::Candidate { .. } => "reply:candidate",
            WireReply::Refused { .. } => "reply:refused",
            WireReply::Closed { .. } => "reply:closed",
        },
        MediaWire::State { .. } => "state",
    }
}

fn signal(m: Inbound) -> WireSignal {
    match m {
        Inbound::State {
            tracks,
            receive_video,
        } => WireSignal::State {
            tracks,
            receive_video,
        },
        Inbound::Offer(sdp) => WireSignal::Offer { sdp },
        Inbound::Answer(sdp) => WireSignal::Answer { sdp },
        Inbound::Candidate(candidate) => WireSignal::Candidate { candidate },
        Inbound::Link { mode, quality } => WireSignal::Link { mode, quality },
    }
}

fn inbound(s: WireSignal) -> Inbound {
    match s {
        WireSignal::State {
            tracks,
            receive_video,
        } => Inbound::State {
            tracks,
            receive_video,
        },
        WireSignal::Offer { sdp } => Inbound::Offer(sdp),
        WireSignal::Answer { sdp } => Inbound::Answer(sdp),
        WireSignal::Candidate { candidate } => Inbound::Candidate(candidate),
        WireSignal::Link { mode, quality } => Inbound::Link { mode, quality },
    }
}

fn wire_reply(m: Outbound) -> WireReply {
    match m {
        Outbound::Offer(sdp) => WireReply::Offer { sdp },
        Outbound::Answer(sdp) => WireReply::Answer { sdp },
        Outbound::Candidate(candidate) => WireReply::Candidate { candidate },
        Outbound::Refused { zh, en, closed } => WireReply::Refused { zh, en, closed },
        Outbound::Closed(reason) => WireReply::Closed {
            reason: reason.to_owned(),
        },
    }
}

fn outbound(m: WireReply) -> Outbound {
    match m {
        WireReply::Offer { sdp } => Outbound::Offer(sdp),
        WireReply::Answer { sdp } => Outbound::Answer(sdp),
        WireReply::Candidate { candidate } => Outbound::Candidate(candidate),
        WireReply::Refused { zh, en, closed } => Outbound::Refused { zh, en, closed },
        WireReply::Closed { reason } => Outbound::Closed(closed_reason(&reason)),
    }
}

/// A closing reason from another node, as one of the reasons clients know.
fn closed_reason(reason: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "media_stop",
        "replaced",
        "transport_failed",
        "refused",
        "unavailable",
        "shutdown",
        "moved",
        "closed",
        "gone",
    ];
    KNOWN.into_iter().find(|k| *k == reason).unwrap_or("closed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiliang_protocol::rooms::{IceCandidate, MediaSource, MediaTrackState};

    #[test]
    fn signalling_crosses_the_bus_unchanged() {
        let state = Inbound::State {
            tracks: vec![MediaTrackState {
                track_id: "t1".into(),
                source: MediaSource::Camera,
                muted: true,
            }],
            receive_video: false,
        };
        let candidate = Inbound::Candidate(IceCandidate {
            candidate: "candidate:1 1 udp 1 192.0.2.1 7882 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: None,
        });
        for m in [
            state,
            candidate,
            Inbound::Offer("o".into()),
            Inbound::Answer("a".into()),
        ] {
            assert_eq!(inbound(signal(m.clone())), m);
        }
        for m in [
            Outbound::Offer("o".into()),
            Outbound::Refused {
                zh: "不".into(),
                en: "no".into(),
                closed: true,
            },
            Outbound::Closed("moved"),
            Outbound::Closed("transport_failed"),
        ] {
            assert_eq!(outbound(wire_reply(m.clone())), m);
        }
        // A reason no client knows is not passed on as such.
        assert_eq!(
            outbound(WireReply::Closed {
                reason: "🙃".into()
            }),
            Outbound::Closed("closed")
        );
    }
}
