//! This node's rooms.
//!
//! A room exists on a node while someone on that node is connected to it.
//! Its sequencer delivers events to the node's connections strictly in
//! sequence order, exactly once: events may arrive from the local writer and
//! from other nodes in any order and more than once; late ones wait in a
//! small buffer and a gap that does not close by itself is filled from the
//! database, which holds every event.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use jiliang_protocol::rooms::{Ephemeral, RoomEvent, ServerFrame};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::store::Store;

/// Events buffered per room for its connections. A connection further
/// behind than this is told to resume (it loses nothing: it re-reads from
/// the database). Memory is shared by all connections of the room.
pub const ROOM_BUFFER: usize = 1024;
/// How long a gap may stay open before the database is asked.
const GAP_WAIT: Duration = Duration::from_millis(150);

#[derive(Debug)]
struct Sequencer {
    /// Next sequence number to deliver.
    next: u64,
    pending: BTreeMap<u64, Arc<RoomEvent>>,
    filling: bool,
}

/// An event ready to go out: serialised once, shared by every connection
/// of the room (a `Utf8Bytes` clone is a reference count).
#[derive(Debug)]
pub struct Outgoing {
    pub event: Arc<RoomEvent>,
    pub frame: Utf8Bytes,
}

impl Outgoing {
    pub fn new(event: Arc<RoomEvent>) -> Self {
        let frame =
            serde_json::to_string(&ServerFrame::Event((*event).clone())).unwrap_or_default();
        Self {
            event,
            frame: frame.into(),
        }
    }
}

pub struct Room {
    pub id: Uuid,
    events: broadcast::Sender<Arc<Outgoing>>,
    ephemeral: broadcast::Sender<Arc<Ephemeral>>,
    // Held only for in-memory bookkeeping, never across an await.
    seq: Mutex<Sequencer>,
    /// Connections per person on this node (for join/leave events).
    people: Mutex<HashMap<Uuid, usize>>,
    follower: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Room({})", self.id)
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        if let Ok(mut f) = self.follower.lock()
            && let Some(h) = f.take()
        {
            h.abort();
        }
    }
}

impl Room {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Outgoing>> {
        self.events.subscribe()
    }

    pub fn subscribe_ephemeral(&self) -> broadcast::Receiver<Arc<Ephemeral>> {
        self.ephemeral.subscribe()
    }
}

/// Whether a connection was the person's first or last on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    First,
    Last,
    Other,
}

pub struct Hub {
    store: Store,
    rooms: Mutex<HashMap<Uuid, Arc<Room>>>,
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

impl Hub {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Self {
            store,
            rooms: Mutex::new(HashMap::new()),
        })
    }

    /// Number of rooms with connections on this node.
    pub fn active_rooms(&self) -> usize {
        lock(&self.rooms).len()
    }

    /// Enter a room (creating it on this node if needed) as `user`.
    pub async fn enter(
        self: &Arc<Self>,
        bus: &crate::bus::Bus,
        session: Uuid,
        user: Uuid,
    ) -> Result<(Arc<Room>, Presence), sqlx::Error> {
        let existing = lock(&self.rooms).get(&session).cloned();
        let room = match existing {
            Some(r) => r,
            None => {
                let (events, _) = broadcast::channel(ROOM_BUFFER);
                let (ephemeral, _) = broadcast::channel(64);
                let fresh = Arc::new(Room {
                    id: session,
                    events,
                    ephemeral,
                    seq: Mutex::new(Sequencer {
                        next: u64::MAX,
                        pending: BTreeMap::new(),
                        filling: false,
                    }),
                    people: Mutex::new(HashMap::new()),
                    follower: Mutex::new(None),
                });
                // Another connection may have created it meanwhile.
                let (room, created) = {
                    let mut rooms = lock(&self.rooms);
                    match rooms.get(&session) {
                        Some(r) => (r.clone(), false),
                        None => {
                            rooms.insert(session, fresh.clone());
                            (fresh, true)
                        }
                    }
                };
                if created {
                    // Follow other nodes first, then read where the log
                    // stands: whatever is stored after that arrives by the
                    // bus or is filled from the database.
                    let follower = bus.follow(session).await;
                    *lock(&room.follower) = follower;
                    let last = self.store.session_last_seq(session).await?;
                    let mut seq = lock(&room.seq);
                    if seq.next == u64::MAX {
                        seq.next = last + 1;
                        seq.pending.retain(|s, _| *s > last);
                    }
                    let ready = drain(&mut seq, &room.events);
                    drop(seq);
                    if ready > 0 {
                        tracing::debug!(%session, ready, "delivered events that arrived during room start");
                    }
                }
                room
            }
        };
        let presence = {
            let mut people = lock(&room.people);
            let n = people.entry(user).or_insert(0);
            *n += 1;
            if *n == 1 {
                Presence::First
            } else {
                Presence::Other
            }
        };
        Ok((room, presence))
    }

    /// Leave a room; the room closes on this node with its last connection.
    pub fn leave(&self, room: &Arc<Room>, user: Uuid) -> Presence {
        let presence = {
            let mut people = lock(&room.people);
            match people.get_mut(&user) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    Presence::Other
                }
                Some(_) => {
                    people.remove(&user);
                    Presence::Last
                }
                None => Presence::Other,
            }
        };
        let mut rooms = lock(&self.rooms);
        if lock(&room.people).is_empty()
            && rooms.get(&room.id).is_some_and(|r| Arc::ptr_eq(r, room))
        {
            rooms.remove(&room.id);
        }
        presence
    }

    /// Hand a stored event to the room's sequencer (if the room is open here).
    pub fn deliver(self: &Arc<Self>, session: Uuid, event: Arc<RoomEvent>) {
        let Some(room) = lock(&self.rooms).get(&session).cloned() else {
            return;
        };
        let mut seq = lock(&room.seq);
        if seq.next != u64::MAX && event.seq < seq.next {
            return; // already delivered
        }
        seq.pending.insert(event.seq, event);
        if seq.next == u64::MAX {
            return; // room still starting; `enter` drains
        }
        drain(&mut seq, &room.events);
        if !seq.pending.is_empty() && !seq.filling {
            seq.filling = true;
            let hub = self.clone();
            let room = room.clone();
            tokio::spawn(async move { hub.fill_gap(room).await });
        }
    }

    pub fn deliver_ephemeral(&self, session: Uuid, e: Arc<Ephemeral>) {
        if let Some(room) = lock(&self.rooms).get(&session) {
            let _ = room.ephemeral.send(e);
        }
    }

    /// Wait briefly for late events; then read what is still missing.
    /// `filling` is cleared under the same lock that sees the gap closed, so
    /// a new gap always finds either a running filler or none.
    async fn fill_gap(self: Arc<Self>, room: Arc<Room>) {
        loop {
            tokio::time::sleep(GAP_WAIT).await;
            let (from, upto) = {
                let mut seq = lock(&room.seq);
                match seq.pending.keys().next() {
                    Some(first) => (seq.next, *first),
                    None => {
                        seq.filling = false;
                        return;
                    }
                }
            };
            let wanted = i64::try_from(upto.saturating_sub(from)).unwrap_or(i64::MAX);
            match self.store.read_events(room.id, from - 1, wanted).await {
                Ok(events) => {
                    let mut seq = lock(&room.seq);
                    for e in events {
                        if e.seq >= seq.next {
                            seq.pending.insert(e.seq, Arc::new(e));
                        }
                    }
                    drain(&mut seq, &room.events);
                    if seq.pending.is_empty() {
                        seq.filling = false;
                        return;
                    }
                }
                Err(e) => tracing::warn!(error = %e, room = %room.id, "gap fill failed; retrying"),
            }
        }
    }
}

/// Deliver every buffered event that is next in line.
fn drain(seq: &mut Sequencer, tx: &broadcast::Sender<Arc<Outgoing>>) -> usize {
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
    n
}
