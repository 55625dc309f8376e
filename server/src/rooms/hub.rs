//! This node's rooms.
//!
//! A room exists on a node while someone on that node is connected to it.
//! Its sequencer delivers events to the node's connections strictly in
//! sequence order, exactly once: events may arrive from the local writer and
//! from other nodes in any order and more than once; late ones wait in a
//! small buffer and a gap that does not close by itself is filled from the
//! database, which holds every event.
//!
//! Other nodes' events never come from the bus: it carries only notices
//! ("room R's log reaches seq N"), and a notice ahead of what this node
//! delivered makes the room read the stored end of its log from the
//! database (one single-row read) and fill the difference from there. The
//! number in a notice is never trusted: a forged one can cost a read, not
//! inject, displace or hold up an event.
//!
//! With several nodes a gap can also be silent: the *last* event of a burst
//! lost on the bus leaves nothing behind it to reveal the hole. So each room
//! open here under a NATS bus has a follower task (owned by the hub, see
//! `Hub::follow`) that hands the room the other nodes' messages and
//! compares, every [`CHECK_EVERY`] and after every bus reconnect, what the
//! room has delivered with its stored `last_seq` (one single-row read),
//! filling the difference from the database. The bus only carries messages;
//! it never calls into the hub.
//!
//! The room map and every room's head count change together, under the map
//! lock: a connection entering a room and the last one leaving it can never
//! interleave so that the newcomer holds a room no longer in the map (and
//! would never receive a live event).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use jiliang_protocol::rooms::{Ephemeral, RoomEvent};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::bus::{Backoff, Bus, Inbound, Subscription};
use crate::metrics::{RoomEvents, RoomMetrics};
use crate::store::Store;

/// Events buffered per room for its connections. A connection further
/// behind than this is told to resume (it loses nothing: it re-reads from
/// the database). Memory is shared by all connections of the room.
pub const ROOM_BUFFER: usize = 1024;
/// How long a gap may stay open before the database is asked.
const GAP_WAIT: Duration = Duration::from_millis(150);
/// How often a room fed by other nodes compares what it delivered with the
/// stored end of its log. Bounds how late an event lost on the bus arrives.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Events read per gap-filling query.
const FILL_PAGE: u64 = 500;
/// Reads in a row that bring nothing before a gap filler gives up until
/// the next check of the stored log (the stored end came from the
/// database, so this only happens if rows went missing there).
const FILL_FRUITLESS: u32 = 20;
/// Backoff between attempts to subscribe a room on the bus.
const RESUBSCRIBE_MIN: Duration = Duration::from_millis(200);
const RESUBSCRIBE_MAX: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Sequencer {
    /// Next sequence number to deliver (`u64::MAX` while the room starts).
    next: u64,
    pending: BTreeMap<u64, Arc<RoomEvent>>,
    /// The highest sequence number known to be stored (from the database),
    /// whether or not its event has arrived.
    stored: u64,
    filling: bool,
}

impl Sequencer {
    /// The last sequence number a gap fill must reach, if there is a gap.
    fn gap_end(&self) -> Option<u64> {
        if self.next == u64::MAX {
            return None;
        }
        let before_pending = self.pending.keys().next().map(|first| first - 1);
        let end = before_pending.unwrap_or(0).max(self.stored);
        (end >= self.next).then_some(end)
    }
}

/// An event ready to go out: serialised once, shared by every connection
/// of the room (a `Utf8Bytes` clone is a reference count).
#[derive(Debug)]
pub struct Outgoing {
    pub event: Arc<RoomEvent>,
    pub frame: Utf8Bytes,
}

/// `ServerFrame::Event` over a borrowed event: the same JSON without
/// copying the event (a readings event's readings) to build the frame.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum EventFrame<'a> {
    Event(&'a RoomEvent),
}

impl Outgoing {
    pub fn new(event: Arc<RoomEvent>) -> Self {
        let frame = serde_json::to_string(&EventFrame::Event(&event)).unwrap_or_default();
        Self {
            event,
            frame: frame.into(),
        }
    }
}

/// How far a room got in opening on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    Pending,
    Open,
    Failed,
}

pub struct Room {
    pub id: Uuid,
    events: broadcast::Sender<Arc<Outgoing>>,
    ephemeral: broadcast::Sender<Arc<Ephemeral>>,
    // Held only for in-memory bookkeeping, never across an await.
    seq: Mutex<Sequencer>,
    /// Connections per person on this node: the room lives here while any
    /// remain (presence and its join/leave events are `rooms::presence`'s).
    /// Only changed while the hub's map lock is held (lock order: map,
    /// people).
    people: Mutex<HashMap<Uuid, usize>>,
    /// Set once by the connection that created the room; the others wait.
    opening: watch::Sender<Opening>,
    /// Receives other nodes' events and watches the stored log (NATS only).
    follower: Mutex<Option<JoinHandle<()>>>,
    /// Events delivered here (`jiliang_room_events_total`).
    delivered: RoomEvents,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Room({})", self.id)
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        self.stop_follower();
    }
}

impl Room {
    fn new(id: Uuid, delivered: RoomEvents) -> Arc<Self> {
        let (events, _) = broadcast::channel(ROOM_BUFFER);
        let (ephemeral, _) = broadcast::channel(64);
        Arc::new(Self {
            id,
            events,
            ephemeral,
            seq: Mutex::new(Sequencer {
                next: u64::MAX,
                pending: BTreeMap::new(),
                stored: 0,
                filling: false,
            }),
            people: Mutex::new(HashMap::new()),
            opening: watch::Sender::new(Opening::Pending),
            follower: Mutex::new(None),
            delivered,
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Outgoing>> {
        self.events.subscribe()
    }

    pub fn subscribe_ephemeral(&self) -> broadcast::Receiver<Arc<Ephemeral>> {
        self.ephemeral.subscribe()
    }

    fn stop_follower(&self) {
        if let Some(h) = lock(&self.follower).take() {
            h.abort();
        }
    }
}

/// Whether a connection was the person's first or last on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    First,
    Last,
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum EnterError {
    #[error("cannot read the room's log: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("the room failed to open on this node")]
    NotOpened,
}

pub struct Hub {
    store: Store,
    rooms: Mutex<HashMap<Uuid, Arc<Room>>>,
    metrics: RoomMetrics,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hub")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Closes a room that its creator could not open — also if the creating
/// connection's task is dropped half-way — so no later joiner is handed a
/// room that never delivers.
struct OpenGuard<'a> {
    hub: &'a Hub,
    room: Arc<Room>,
    done: bool,
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.hub.discard(&self.room);
        }
    }
}

impl Hub {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Self {
            store,
            rooms: Mutex::new(HashMap::new()),
            metrics: RoomMetrics::default(),
        })
    }

    /// The rooms' instruments (registered by `Metrics`).
    pub fn metrics(&self) -> &RoomMetrics {
        &self.metrics
    }

    /// Number of rooms with connections on this node.
    pub fn active_rooms(&self) -> usize {
        lock(&self.rooms).len()
    }

    /// Events buffered for the slowest connection of the most backed-up
    /// room here, and the buffer's size (at which that connection is told
    /// to resume).
    pub fn max_backlog(&self) -> (usize, usize) {
        let depth = lock(&self.rooms)
            .values()
            .map(|r| r.events.len())
            .max()
            .unwrap_or(0);
        (depth, ROOM_BUFFER)
    }

    /// Whether `room` is the instance this node delivers to (a room that is
    /// not can never deliver again).
    pub fn is_open(&self, room: &Arc<Room>) -> bool {
        lock(&self.rooms)
            .get(&room.id)
            .is_some_and(|r| Arc::ptr_eq(r, room))
    }

    /// Enter a room (creating it on this node if needed, following `bus`)
    /// as `user`.
    pub async fn enter(
        self: &Arc<Self>,
        bus: &Bus,
        session: Uuid,
        user: Uuid,
    ) -> Result<(Arc<Room>, Presence), EnterError> {
        // Find or create the room and count the person in one critical
        // section: `leave` cannot remove it in between.
        let (room, created, presence) = {
            let mut rooms = lock(&self.rooms);
            let (room, created) = match rooms.get(&session) {
                Some(r) => (r.clone(), false),
                None => {
                    let fresh = Room::new(session, self.metrics.room_opened(session));
                    rooms.insert(session, fresh.clone());
                    (fresh, true)
                }
            };
            let mut people = lock(&room.people);
            let n = people.entry(user).or_insert(0);
            *n += 1;
            let presence = if *n == 1 {
                Presence::First
            } else {
                Presence::Other
            };
            drop(people);
            (room, created, presence)
        };
        if created {
            self.open(bus, &room).await?;
        } else {
            let mut opening = room.opening.subscribe();
            let state = opening
                .wait_for(|s| *s != Opening::Pending)
                .await
                .map(|s| *s)
                .unwrap_or(Opening::Failed);
            if state != Opening::Open {
                return Err(EnterError::NotOpened);
            }
        }
        Ok((room, presence))
    }

    /// Start a room just created here: follow other nodes first, then read
    /// where the log stands; whatever is stored after that arrives by the
    /// bus or is filled from the database.
    async fn open(self: &Arc<Self>, bus: &Bus, room: &Arc<Room>) -> Result<(), EnterError> {
        let mut guard = OpenGuard {
            hub: self,
            room: room.clone(),
            done: false,
        };
        if bus.is_shared() {
            // One attempt before the room reads its log, so that normally
            // nothing stored afterwards depends on the slower periodic check.
            let sub = bus.subscribe(room.id).await;
            let follower = tokio::spawn(self.clone().follow(bus.clone(), room.id, sub));
            *lock(&room.follower) = Some(follower);
        }
        let last = self.store.session_last_seq(room.id).await?;
        {
            let mut seq = lock(&room.seq);
            seq.next = last + 1;
            seq.stored = seq.stored.max(last);
            seq.pending.retain(|s, _| *s > last);
            let ready = drain(&mut seq, room);
            if ready > 0 {
                tracing::debug!(session = %room.id, ready, "delivered events that arrived during room start");
            }
            self.start_fill(&mut seq, room);
        }
        guard.done = true;
        room.opening.send_replace(Opening::Open);
        Ok(())
    }

    /// Take a room that failed to open out of service.
    fn discard(&self, room: &Arc<Room>) {
        {
            let mut rooms = lock(&self.rooms);
            if rooms.get(&room.id).is_some_and(|r| Arc::ptr_eq(r, room)) {
                rooms.remove(&room.id);
                self.metrics.room_closed(&room.delivered);
            }
        }
        room.stop_follower();
        room.opening.send_replace(Opening::Failed);
    }

    /// Leave a room; the room closes on this node with its last connection.
    pub fn leave(&self, room: &Arc<Room>, user: Uuid) -> Presence {
        let mut rooms = lock(&self.rooms);
        let mut people = lock(&room.people);
        let presence = match people.get_mut(&user) {
            Some(n) if *n > 1 => {
                *n -= 1;
                Presence::Other
            }
            Some(_) => {
                people.remove(&user);
                Presence::Last
            }
            None => Presence::Other,
        };
        let close = people.is_empty() && rooms.get(&room.id).is_some_and(|r| Arc::ptr_eq(r, room));
        drop(people);
        if close {
            rooms.remove(&room.id);
            self.metrics.room_closed(&room.delivered);
            drop(rooms);
            room.stop_follower();
        }
        presence
    }

    /// An event this node stored: to this node's room now, and on `bus` a
    /// notice to the others (who read it from the database). Never waits.
    pub fn publish_event(self: &Arc<Self>, bus: &Bus, session: Uuid, event: Arc<RoomEvent>) {
        self.publish_events(bus, session, vec![event]);
    }

    /// Several events this node stored for one room, in sequence order:
    /// handed to the room's sequencer in one go, so its connections are
    /// woken once for all of them (and write them with one flush), not
    /// once each. Never waits.
    pub fn publish_events(self: &Arc<Self>, bus: &Bus, session: Uuid, events: Vec<Arc<RoomEvent>>) {
        let Some(last) = events.last() else {
            return;
        };
        bus.publish_stored(session, last.seq);
        let Some(room) = lock(&self.rooms).get(&session).cloned() else {
            return;
        };
        let mut seq = lock(&room.seq);
        for event in events {
            if seq.next != u64::MAX && event.seq < seq.next {
                continue; // already delivered
            }
            seq.pending.insert(event.seq, event);
        }
        if seq.next == u64::MAX {
            return; // room still starting; `open` drains
        }
        drain(&mut seq, &room);
        self.start_fill(&mut seq, &room);
    }

    /// An ephemeral message (typing): to this node's room now, and on `bus`
    /// to the others. Never stored, never waits.
    pub fn publish_ephemeral(&self, bus: &Bus, session: Uuid, ephemeral: Ephemeral) {
        bus.publish_ephemeral(session, &ephemeral);
        self.deliver_ephemeral(session, Arc::new(ephemeral));
    }

    /// Another node says `session`'s log reaches `seq`: if that is beyond
    /// what the room knows, look at the database (which alone says what is
    /// stored). Notices the last look already covered cost nothing.
    async fn notice(self: &Arc<Self>, session: Uuid, seq: u64) {
        let known = {
            let Some(room) = lock(&self.rooms).get(&session).cloned() else {
                return;
            };
            let s = lock(&room.seq);
            if s.next == u64::MAX {
                return; // starting: `open` reads the log's end itself
            }
            s.stored.max(s.next - 1)
        };
        if seq <= known {
            return;
        }
        if let Some(last) = self.check(session).await
            && seq > last
        {
            tracing::warn!(%session, claimed = seq, stored = last,
                "a bus notice claims more than the database holds (ignored; a forged or misconfigured publisher?)");
        }
    }

    fn deliver_ephemeral(&self, session: Uuid, e: Arc<Ephemeral>) {
        if let Some(room) = lock(&self.rooms).get(&session) {
            let _ = room.ephemeral.send(e);
        }
    }

    /// Compare what `session`'s room delivered here with the stored end of
    /// its log, and fetch what is missing. Cheap: one single-row read.
    /// Returns the stored end it read.
    async fn check(self: &Arc<Self>, session: Uuid) -> Option<u64> {
        let room = lock(&self.rooms).get(&session).cloned()?;
        match self.store.session_last_seq(session).await {
            Ok(last) => {
                let mut seq = lock(&room.seq);
                seq.stored = seq.stored.max(last);
                self.start_fill(&mut seq, &room);
                Some(last)
            }
            Err(e) => {
                tracing::warn!(error = %e, %session, "cannot read the room's last sequence");
                None
            }
        }
    }

    /// One room's follower, for as long as the room is open here: the
    /// other nodes' messages into the sequencer, a periodic and a
    /// post-reconnect check of the stored log, and resubscription with
    /// backoff while the bus refuses. The room aborts it when it closes.
    async fn follow(self: Arc<Self>, bus: Bus, session: Uuid, mut sub: Option<Subscription>) {
        // The room reads the log's end itself as it opens; the first check
        // is due a period later.
        let mut check = tokio::time::interval_at(Instant::now() + CHECK_EVERY, CHECK_EVERY);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reconnected = bus.reconnections();
        let mut reconnects_open = true;
        let mut backoff = Backoff::new(RESUBSCRIBE_MIN, RESUBSCRIBE_MAX);
        let mut retry_at = Instant::now() + backoff.next_delay();
        loop {
            match sub.as_mut() {
                Some(s) => tokio::select! {
                    msg = s.recv() => match msg {
                        Some(Inbound::Stored(seq)) => self.notice(session, seq).await,
                        Some(Inbound::Ephemeral(e)) => self.deliver_ephemeral(session, Arc::new(e)),
                        None => {
                            tracing::warn!(%session, "room subscription ended; resubscribing");
                            sub = None;
                            backoff.reset();
                            retry_at = Instant::now() + backoff.next_delay();
                        }
                    },
                    _ = check.tick() => { self.check(session).await; }
                    changed = reconnected.changed(), if reconnects_open => {
                        // Whatever the bus carried while it was down is lost
                        // here; a closed signal means no more reconnects.
                        match changed {
                            Ok(()) => { self.check(session).await; }
                            Err(_) => reconnects_open = false,
                        }
                    }
                },
                None => tokio::select! {
                    () = tokio::time::sleep_until(retry_at) => {
                        sub = bus.subscribe(session).await;
                        if sub.is_some() {
                            backoff.reset();
                            // Anything published before the subscription is
                            // only in the database.
                            self.check(session).await;
                        } else {
                            retry_at = Instant::now() + backoff.next_delay();
                        }
                    }
                    _ = check.tick() => { self.check(session).await; }
                },
            }
        }
    }

    /// Start the gap filler if there is a gap and none is running.
    fn start_fill(self: &Arc<Self>, seq: &mut Sequencer, room: &Arc<Room>) {
        if seq.filling || seq.gap_end().is_none() {
            return;
        }
        seq.filling = true;
        let hub = self.clone();
        let room = room.clone();
        tokio::spawn(async move { hub.fill_gap(room).await });
    }

    /// Wait briefly for late events; then read what is still missing.
    /// `filling` is cleared under the same lock that sees the gap closed, so
    /// a new gap always finds either a running filler or none.
    async fn fill_gap(self: Arc<Self>, room: Arc<Room>) {
        let mut wait = true;
        let mut fruitless = 0u32;
        loop {
            if wait {
                tokio::time::sleep(GAP_WAIT).await;
            }
            let (from, upto) = {
                let mut seq = lock(&room.seq);
                match seq.gap_end() {
                    Some(end) => (seq.next, end),
                    None => {
                        seq.filling = false;
                        return;
                    }
                }
            };
            let wanted = (upto - from + 1).min(FILL_PAGE);
            let wanted = i64::try_from(wanted).unwrap_or(i64::MAX);
            match self.store.read_events(room.id, from - 1, wanted).await {
                Ok(events) => {
                    let mut seq = lock(&room.seq);
                    for e in events {
                        if e.seq >= seq.next {
                            seq.pending.insert(e.seq, Arc::new(e));
                        }
                    }
                    let before = seq.next;
                    drain(&mut seq, &room);
                    if seq.gap_end().is_none() {
                        seq.filling = false;
                        return;
                    }
                    // Keep paging while it helps; pause when it did not,
                    // and give up (until the next check) when it never does.
                    wait = seq.next == before;
                    fruitless = if wait { fruitless + 1 } else { 0 };
                    if fruitless >= FILL_FRUITLESS {
                        tracing::warn!(room = %room.id, from = seq.next, "events missing from the database; gap fill paused until the next check");
                        seq.filling = false;
                        return;
                    }
                }
                Err(e) => {
                    wait = true;
                    tracing::warn!(error = %e, room = %room.id, "gap fill failed; retrying");
                }
            }
        }
    }
}

/// Deliver every buffered event that is next in line.
fn drain(seq: &mut Sequencer, room: &Room) -> usize {
    let n = drain_into(seq, &room.events);
    if n > 0 {
        room.delivered
            .delivered(u64::try_from(n).unwrap_or(u64::MAX));
    }
    n
}

fn drain_into(seq: &mut Sequencer, tx: &broadcast::Sender<Arc<Outgoing>>) -> usize {
    let mut n = 0;
    while let Some(e) = seq.pending.remove(&seq.next) {
        // Nobody listening (the last connection just left) is not an error.
        if tx.receiver_count() > 0 {
            let _ = tx.send(Arc::new(Outgoing::new(e)));
        }
        seq.next += 1;
        n += 1;
    }
    // Anything older than `next` is a duplicate.
    let next = seq.next;
    seq.pending.retain(|s, _| *s >= next);
    seq.stored = seq.stored.max(next - 1);
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiliang_protocol::rooms::ServerFrame;

    #[test]
    fn a_gap_is_seen_behind_pending_events_and_before_the_stored_end() {
        let mut s = Sequencer {
            next: u64::MAX,
            pending: BTreeMap::new(),
            stored: 9,
            filling: false,
        };
        assert_eq!(s.gap_end(), None, "a starting room has no gap yet");
        s.next = 5;
        assert_eq!(s.gap_end(), Some(9), "stored but never arrived");
        s.stored = 4;
        assert_eq!(s.gap_end(), None);
        s.pending.insert(8, Arc::new(event(8)));
        assert_eq!(s.gap_end(), Some(7));
        let (tx, _rx) = broadcast::channel(8);
        s.pending.insert(5, Arc::new(event(5)));
        assert_eq!(drain_into(&mut s, &tx), 1);
        assert_eq!((s.next, s.gap_end()), (6, Some(7)));
    }

    #[test]
    fn an_outgoing_frame_is_the_protocols_event_frame() {
        let mut e = event(7);
        e.body = jiliang_protocol::rooms::EventBody::Readings(
            jiliang_protocol::rooms::Readings::Devices {
                devices: vec![jiliang_protocol::rooms::DeviceReadings {
                    device_id: Uuid::now_v7(),
                    batch_id: Uuid::now_v7(),
                    readings: vec![jiliang_protocol::devices::DeviceReading {
                        seq: 3,
                        t: time::OffsetDateTime::UNIX_EPOCH,
                        value: 1.5,
                        unit: "V".into(),
                        u_t: 0.001,
                    }],
                }],
            },
        );
        let out = Outgoing::new(Arc::new(e.clone()));
        assert_eq!(
            out.frame.as_str(),
            serde_json::to_string(&ServerFrame::Event(e)).expect("json")
        );
    }

    fn event(seq: u64) -> RoomEvent {
        RoomEvent {
            seq,
            id: Uuid::now_v7(),
            at: time::OffsetDateTime::UNIX_EPOCH,
            author: None,
            client_id: None,
            body: jiliang_protocol::rooms::EventBody::Join,
        }
    }
}
