//! Who is in a room, without a durable record per connection.
//!
//! # What it guarantees
//! - **One durable `join` and one durable `leave` per stretch of presence**,
//!   not per socket. A stretch starts when a person connects to a room
//!   while no node has them there, and ends when no node has had them for
//!   the grace period (`--presence-grace-ms`): a reconnect inside it — a
//!   phone switching cells, a page reload — continues the stretch and
//!   writes nothing.
//! - **Presence tells the truth across nodes.** Each node keeps a row per
//!   (room, person) in the shared `room_presence` table while it has them,
//!   with an expiry its heartbeat (`--presence-heartbeat-ms`) keeps pushing
//!   `--presence-ttl-ms` ahead. A node that dies stops; every node's sweep
//!   removes expired rows and writes the `leave` of everyone no node has
//!   any more, so a crashed node's people show offline within
//!   TTL + one heartbeat. A person shows online while any live row exists,
//!   so a reconnect never shows them offline while they are connected.
//! - **Caps**: sockets per person per room, per person, and per room, on
//!   this node (`--room-sockets-per-person`, `--sockets-per-person`,
//!   `--room-sockets`). A socket over a cap gets a `rate_limited` error
//!   frame and close code 4004.
//! - **Chat limits per person**: one token bucket per person on this node,
//!   shared by all their sockets (several tabs do not multiply the rate).
//!   Per node, not cluster-wide: a person connected through N nodes may
//!   send N times the rate; each node still protects itself.
//!
//! Nothing here ever makes a socket wait on the database while it closes:
//! a closing socket only counts down in memory; the grace timer does the
//! database work later, on its own task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiliang_protocol::rooms::{Author, EventBody};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::log::{Append, EventLog};
use super::ratelimit::TokenBucket;
use crate::store::Store;
use crate::store::rooms::presence::now_ms;

/// Retries of a failed departure before its row is left to expire.
const DEPART_TRIES: u32 = 5;

/// Presence settings (from `Config`).
#[derive(Debug, Clone, Copy)]
pub struct PresenceConfig {
    pub grace: Duration,
    pub heartbeat: Duration,
    pub ttl: Duration,
    pub sockets_per_person_room: usize,
    pub sockets_per_person: usize,
    pub sockets_per_room: usize,
    /// Sustained chat messages per second per person (bursts of four times
    /// as many).
    pub chat_rate: u32,
}

/// Which cap a refused socket hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    PersonInRoom(usize),
    Person(usize),
    Room(usize),
}

/// One (room, person) on this node.
struct Local {
    sockets: usize,
    /// Bumped on every change of `sockets`: a grace timer only acts if
    /// nothing happened since it was set.
    generation: u64,
    author: Author,
    /// Held across the database work of this (room, person) — arrival,
    /// its `join`, departure, its `leave` — so they happen in order.
    /// `true` while this node's `room_presence` row exists.
    stored: Arc<tokio::sync::Mutex<bool>>,
}

struct Person {
    sockets: usize,
    chat: TokenBucket,
}

#[derive(Default)]
struct Inner {
    people: HashMap<(Uuid, Uuid), Local>,
    persons: HashMap<Uuid, Person>,
    rooms: HashMap<Uuid, usize>,
}

pub struct Presence {
    store: Store,
    log: EventLog,
    /// This node's id in `room_presence` (new at every start: rows of a
    /// previous run expire).
    node: Uuid,
    config: PresenceConfig,
    // In-memory counts only, never held across an await.
    inner: Mutex<Inner>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Presence({})", self.node)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A socket's place in a room: counted while it lives; dropping it counts
/// the socket out (in memory, at once) and leaves the rest to a timer.
pub struct Seat {
    presence: Arc<Presence>,
    session: Uuid,
    user: Uuid,
    stored: Arc<tokio::sync::Mutex<bool>>,
}

impl std::fmt::Debug for Seat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Seat({}, {})", self.session, self.user)
    }
}

impl Presence {
    /// Start this node's presence: its heartbeat and sweep run on `tasks`
    /// until `shutdown`.
    pub fn start(
        store: Store,
        log: EventLog,
        config: PresenceConfig,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Arc<Self> {
        let presence = Arc::new(Self {
            store,
            log,
            node: Uuid::now_v7(),
            config,
            inner: Mutex::new(Inner::default()),
            shutdown,
            tasks,
        });
        presence.tasks.spawn(presence.clone().heartbeat_and_sweep());
        presence
    }

    pub fn node(&self) -> Uuid {
        self.node
    }

    /// Sockets open on this node.
    pub fn sockets(&self) -> usize {
        lock(&self.inner).rooms.values().sum()
    }

    /// Count a new socket of `author` in `session`, unless a cap is full.
    pub fn admit(self: &Arc<Self>, session: Uuid, author: &Author) -> Result<Seat, Full> {
        let user = author.id;
        let c = self.config;
        let mut inner = lock(&self.inner);
        let in_room = inner.rooms.get(&session).copied().unwrap_or(0);
        if in_room >= c.sockets_per_room {
            return Err(Full::Room(c.sockets_per_room));
        }
        let theirs = inner.persons.get(&user).map_or(0, |p| p.sockets);
        if theirs >= c.sockets_per_person {
            return Err(Full::Person(c.sockets_per_person));
        }
        let here = inner.people.get(&(session, user)).map_or(0, |l| l.sockets);
        if here >= c.sockets_per_person_room {
            return Err(Full::PersonInRoom(c.sockets_per_person_room));
        }
        *inner.rooms.entry(session).or_insert(0) += 1;
        inner
            .persons
            .entry(user)
            .or_insert_with(|| Person {
                sockets: 0,
                chat: TokenBucket::new(c.chat_rate.saturating_mul(4), c.chat_rate),
            })
            .sockets += 1;
        let local = inner
            .people
            .entry((session, user))
            .or_insert_with(|| Local {
                sockets: 0,
                generation: 0,
                author: author.clone(),
                stored: Arc::new(tokio::sync::Mutex::new(false)),
            });
        local.sockets += 1;
        local.generation += 1;
        local.author = author.clone();
        Ok(Seat {
            presence: self.clone(),
            session,
            user,
            stored: local.stored.clone(),
        })
    }

    /// Whether `user` may send a chat message now (their bucket, shared by
    /// all their sockets on this node).
    pub fn take_chat(&self, user: Uuid) -> bool {
        lock(&self.inner)
            .persons
            .get_mut(&user)
            .is_some_and(|p| p.chat.try_take())
    }

    fn release(self: &Arc<Self>, session: Uuid, user: Uuid) {
        let mut inner = lock(&self.inner);
        if let Some(n) = inner.rooms.get_mut(&session) {
            *n -= 1;
            if *n == 0 {
                inner.rooms.remove(&session);
            }
        }
        if let Some(p) = inner.persons.get_mut(&user) {
            p.sockets -= 1;
            // The bucket stays while they linger, so that reconnecting
            // does not refill it; the grace timer removes it.
        }
        let Some(local) = inner.people.get_mut(&(session, user)) else {
            return;
        };
        local.sockets -= 1;
        local.generation += 1;
        if local.sockets > 0 {
            return;
        }
        let (generation, stored) = (local.generation, local.stored.clone());
        drop(inner);
        self.tasks
            .spawn(self.clone().linger(session, user, generation, stored));
    }

    /// After the last socket of `user` in `session` closed: wait the grace
    /// period, and if they did not come back, take this node's row away and
    /// (if no node has them) write their `leave`.
    async fn linger(
        self: Arc<Self>,
        session: Uuid,
        user: Uuid,
        generation: u64,
        stored: Arc<tokio::sync::Mutex<bool>>,
    ) {
        // At shutdown nobody waits for a reconnect that this node will not
        // see: the departure is recorded now.
        tokio::select! {
            () = tokio::time::sleep(self.config.grace) => {}
            () = self.shutdown.cancelled() => {}
        }
        let mut stored = stored.lock().await;
        let author = {
            let inner = lock(&self.inner);
            match inner.people.get(&(session, user)) {
                Some(l) if l.sockets == 0 && l.generation == generation => l.author.clone(),
                _ => return, // back, or another timer took over
            }
        };
        if *stored {
            let mut tries = 0;
            let ended = loop {
                match self.store.presence_depart(session, user, self.node).await {
                    Ok(ended) => break Some(ended),
                    Err(e) if tries + 1 < DEPART_TRIES => {
                        tries += 1;
                        tracing::warn!(error = %e, %session, "cannot record a departure; retrying");
                        tokio::time::sleep(Duration::from_millis(200 << tries)).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, %session, "cannot record a departure; it will expire");
                        break None;
                    }
                }
            };
            let Some(ended) = ended else {
                // Stop heartbeating the row: forget it here; the sweep ends
                // the stretch once it expires.
                self.forget(session, user, generation);
                return;
            };
            *stored = false;
            if ended {
                self.write(session, author, EventBody::Leave).await;
            }
        }
        self.forget(session, user, generation);
    }

    /// Drop the bookkeeping of (session, user) unless they came back.
    fn forget(&self, session: Uuid, user: Uuid, generation: u64) {
        let mut inner = lock(&self.inner);
        if inner
            .people
            .get(&(session, user))
            .is_some_and(|l| l.sockets == 0 && l.generation == generation)
        {
            inner.people.remove(&(session, user));
        }
        if inner.persons.get(&user).is_some_and(|p| p.sockets == 0)
            && !inner.people.keys().any(|(_, u)| *u == user)
        {
            inner.persons.remove(&user);
        }
    }

    /// Store a presence event. A failure is logged and the stretch put back
    /// so the next arrival or sweep tries again.
    async fn write(&self, session: Uuid, author: Author, body: EventBody) -> bool {
        let user = author.id;
        let joining = matches!(body, EventBody::Join);
        let appended = self
            .log
            .append(Append {
                session,
                author: Some(author),
                client_id: None,
                body,
            })
            .await;
        match appended {
            Ok(_) => true,
            // An ended session's log is read-only; its presence no longer
            // matters.
            Err(super::log::AppendError::Ended) => false,
            Err(e) => {
                tracing::warn!(error = %e, %session, "cannot store a presence event");
                if let Err(e) = self.store.presence_undo(session, user, !joining).await {
                    tracing::warn!(error = %e, %session, "cannot reset a presence stretch");
                }
                false
            }
        }
    }

    /// Every heartbeat: push this node's rows' expiry forward, then sweep
    /// the rows no node refreshes any more and write the `leave` of
    /// everyone no node has.
    async fn heartbeat_and_sweep(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let until = now_ms().saturating_add(ms(self.config.ttl));
            match self.store.presence_heartbeat(self.node, until).await {
                Ok(refreshed) => self.restore_if_missing(refreshed).await,
                Err(e) => tracing::warn!(error = %e, "presence heartbeat failed"),
            }
            match self.store.presence_sweep().await {
                Ok(departed) => {
                    for d in departed {
                        let author = Author {
                            id: d.user_id,
                            name: d.display_name,
                        };
                        self.write(d.session_id, author, EventBody::Leave).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "presence sweep failed"),
            }
        }
    }
}

impl Presence {
    /// After a heartbeat that refreshed fewer rows than this node has
    /// people connected: rows went missing (the database was unreachable
    /// for longer than the TTL and another node's sweep removed them, with
    /// their `leave`). Register the people still connected again, so they
    /// show online and a new stretch starts with its `join`.
    async fn restore_if_missing(&self, refreshed: u64) {
        let (rows, connected) = {
            let inner = lock(&self.inner);
            // Rows this node should have: one per (room, person) it stored,
            // connected or lingering (one busy with its own database work
            // counts as stored).
            let rows = inner
                .people
                .values()
                .filter(|l| l.stored.try_lock().map_or(true, |g| *g))
                .count();
            let connected: Vec<(Uuid, Uuid, Arc<tokio::sync::Mutex<bool>>)> = inner
                .people
                .iter()
                .filter(|(_, l)| l.sockets > 0)
                .map(|((s, u), l)| (*s, *u, l.stored.clone()))
                .collect();
            (rows, connected)
        };
        if u64::try_from(rows).unwrap_or(u64::MAX) <= refreshed {
            return;
        }
        tracing::warn!(
            connected = connected.len(),
            refreshed,
            "presence rows of connected people went missing; registering them again"
        );
        let until = now_ms().saturating_add(ms(self.config.ttl));
        for (session, user, stored) in connected {
            let _held = stored.lock().await;
            match self
                .store
                .presence_arrive(session, user, self.node, until)
                .await
            {
                Ok(true) => {
                    let author = lock(&self.inner)
                        .people
                        .get(&(session, user))
                        .map(|l| l.author.clone());
                    if let Some(author) = author {
                        self.write(session, author, EventBody::Join).await;
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, %session, "cannot register presence again"),
            }
        }
    }
}

impl Seat {
    /// Make sure this node's row for the person exists (a database write
    /// only for the first socket of a stretch on this node) and, when this
    /// starts their stretch anywhere, store their `join`. Returns whether
    /// a `join` was stored.
    pub async fn arrive(&self) -> Result<bool, sqlx::Error> {
        let p = &self.presence;
        let mut stored = self.stored.lock().await;
        if *stored {
            return Ok(false);
        }
        let until = now_ms().saturating_add(ms(p.config.ttl));
        let started = p
            .store
            .presence_arrive(self.session, self.user, p.node, until)
            .await?;
        *stored = true;
        if !started {
            return Ok(false);
        }
        let author = lock(&p.inner)
            .people
            .get(&(self.session, self.user))
            .map(|l| l.author.clone());
        Ok(match author {
            Some(author) => p.write(self.session, author, EventBody::Join).await,
            None => false,
        })
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.presence.release(self.session, self.user);
    }
}
