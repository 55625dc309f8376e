//! The room socket client (`/api/v1/sessions/{id}/ws`, protocol 1): no UI
//! in here, only state that pages render.
//!
//! # What it guarantees
//! - **Order, no gaps, no duplicates.** Events are applied strictly in
//!   sequence: an event is applied only when `seq == applied + 1`; an older
//!   one is a duplicate and is dropped; a newer one means something was
//!   missed, so the socket is dropped and re-opened with `join {last_seq:
//!   applied}`, and the server replays from the log.
//! - **Nothing typed is lost.** Every chat line gets a random `client_id`
//!   and waits in an outbox — kept in `localStorage` per person and room,
//!   so a reload while offline keeps it — until its own event comes back
//!   through the log. After each (re)connect, once the replay has caught up
//!   with the snapshot, the outbox is sent again in order. The server
//!   stores a `client_id` once and answers a resend with the original
//!   `seq`, so resending is always safe; an outbox line whose event shows
//!   up in the replay leaves the outbox before it would be resent.
//! - **Reconnects by itself**: exponential backoff with jitter (0.5 s up to
//!   10 s), at once on the browser's `online` event, on a 4000 "resume"
//!   close and when the tab becomes visible. The `offline` event (and
//!   `navigator.onLine == false`) closes the socket: browsers and emulated
//!   offline modes do not reliably kill an open WebSocket, and a message
//!   "sent" into a dead socket would look delivered. A watchdog drops a
//!   socket that has answered nothing for 15 s after a ping.
//! - **Clock offset**: NTP-style pings (five quick ones after joining, then
//!   every 10 s) feed a [`ClockEstimator`].
//!
//! The client lives outside the reactive system (sockets and closures are
//! not `Send`): a thread-local registry holds it, and pages get a `Copy`
//! [`RoomHandle`] with the signals to render and the calls to make.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use jiliang_protocol::ErrorBody;
use jiliang_protocol::rooms::{
    CLOSE_GONE, CLOSE_RESUME, CLOSE_UNAUTHENTICATED, CLOSE_VERSION, ClientFrame, EphemeralBody,
    EventBody, MAX_CHAT_CHARS, PROTOCOL_VERSION, RoomEvent, ServerFrame, Snapshot,
};
use jiliang_protocol::sessions::{Participant, SessionInfo, SessionState};
use jiliang_protocol::timesync::{ClockEstimator, ClockSample, TimePing};
use leptos::leptos_dom::helpers::{
    IntervalHandle, TimeoutHandle, WindowListenerHandle, set_interval_with_handle,
    set_timeout_with_handle, window_event_listener_untyped,
};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// First reconnect delay and the cap, ms.
const BACKOFF_MIN_MS: f64 = 500.0;
const BACKOFF_MAX_MS: f64 = 10_000.0;
/// Housekeeping tick.
const TICK_MS: u64 = 500;
/// Acknowledge at least this often, or after this many events.
const ACK_EVERY_MS: f64 = 2_000.0;
const ACK_EVERY_EVENTS: u64 = 100;
const PING_EVERY_MS: f64 = 10_000.0;
const QUICK_PINGS: u32 = 5;
/// A joined socket that has sent nothing back this long after a ping is
/// dead (a half-open connection: a phone that changed networks, a NAT
/// that forgot us). Measured from the ping, so a throttled background
/// tab — whose timers run rarely but whose socket still delivers — is not
/// mistaken for a dead one.
const PONG_TIMEOUT_MS: f64 = 15_000.0;
/// A handshake taking longer than this is given up and retried.
const CONNECT_TIMEOUT_MS: f64 = 15_000.0;
/// An unanswered chat frame is sent again after this long.
const RESEND_AFTER_MS: f64 = 5_000.0;
/// At most this many outbox lines go out at once (the server allows a
/// burst of 20 chats, then 5 a second).
const FLUSH_BURST: usize = 15;
const RESEND_PER_TICK: usize = 3;
/// "X is typing" lasts this long; we announce our own at most this often.
const TYPING_SHOWN_MS: f64 = 3_000.0;
const TYPING_SEND_EVERY_MS: f64 = 2_000.0;

/// Where the connection stands, for the status pill and the banner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conn {
    /// Opening the first socket.
    Connecting,
    /// Joined: snapshot received, events flowing.
    Live,
    /// Lost after having been live (or the first attempt failed); trying
    /// again. `attempt` counts attempts since the last success.
    Reconnecting { attempt: u32 },
    /// The browser says there is no network; waiting for it.
    Offline,
    /// Not trying any more (see [`Stop`]).
    Stopped(Stop),
}

/// Why the client stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The page closed it.
    Closed,
    /// The session ended: the record is read-only.
    Ended,
    /// 4001: the session is gone or the person no longer takes part.
    Gone,
    /// 4002: the login ended.
    LoggedOut,
    /// 4003 or 1008: this client does not speak the server's protocol.
    Incompatible,
}

/// A chat line waiting for the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub client_id: String,
    pub text: String,
    /// Local clock when typed (ms since the epoch).
    pub created_ms: f64,
}

/// Someone typing.
#[derive(Clone, Debug, PartialEq)]
pub struct Typist {
    pub id: String,
    pub name: String,
    until_ms: f64,
}

/// Everything a page renders, as signals. `Copy`.
#[derive(Clone, Copy)]
pub struct RoomSignals {
    pub conn: RwSignal<Conn>,
    /// From the latest snapshot, updated by state events.
    pub session: RwSignal<Option<SessionInfo>>,
    /// From the latest snapshot, updated by join/leave events.
    pub participants: RwSignal<Vec<Participant>>,
    /// The applied log, `seq` 1, 2, 3, … without gaps.
    pub events: RwSignal<Vec<RoomEvent>>,
    /// Chat lines not yet seen in the log, in the order typed.
    pub outbox: RwSignal<Vec<Pending>>,
    /// Lines that could not be sent because the session ended.
    pub unsent: RwSignal<Vec<Pending>>,
    pub typing: RwSignal<Vec<Typist>>,
    /// The best clock sample (server minus client), if any.
    pub clock: RwSignal<Option<ClockSample>>,
    /// The last `error` frame.
    pub error: RwSignal<Option<ErrorBody>>,
    /// True for a few seconds after a reconnect succeeded.
    pub recovered: RwSignal<bool>,
    /// The person's own user id (from the snapshot).
    pub you: RwSignal<Option<String>>,
    /// Sockets that closed before joining (the page checks why over REST:
    /// a 403/404/401 never reaches a script through a WebSocket).
    pub failed_handshakes: RwSignal<u32>,
}

/// The page's handle on a room client. `Copy`, `Send`: the client itself
/// stays in a thread-local registry.
#[derive(Clone, Copy)]
pub struct RoomHandle {
    key: u32,
    pub s: RoomSignals,
}

struct Socket {
    ws: WebSocket,
    opened_ms: f64,
    _onopen: Closure<dyn FnMut()>,
    _onmessage: Closure<dyn FnMut(MessageEvent)>,
    _onclose: Closure<dyn FnMut(CloseEvent)>,
    _onerror: Closure<dyn FnMut(web_sys::Event)>,
}

struct OutEntry {
    p: Pending,
    sent_ms: Option<f64>,
    accepted: Option<u64>,
}

struct Inner {
    key: u32,
    session_id: String,
    storage_key: String,
    s: RoomSignals,
    socket: Option<Socket>,
    /// Bumped for every socket; callbacks of older sockets are ignored.
    generation: u32,
    joined: bool,
    applied: u64,
    /// `last_seq` of the latest snapshot: the replay is complete once
    /// `applied` reaches it.
    snapshot_seq: u64,
    acked: u64,
    last_ack_ms: f64,
    outbox: Vec<OutEntry>,
    attempt: u32,
    ever_live: bool,
    stopped: Option<Stop>,
    retry: Option<TimeoutHandle>,
    recovered_timer: Option<TimeoutHandle>,
    clock: ClockEstimator,
    next_ping: u64,
    quick_pings: u32,
    last_ping_ms: f64,
    last_rx_ms: f64,
    last_typing_ms: f64,
    tick: Option<IntervalHandle>,
    listeners: Vec<WindowListenerHandle>,
}

thread_local! {
    static ROOMS: RefCell<HashMap<u32, Rc<RefCell<Inner>>>> = RefCell::new(HashMap::new());
    static NEXT_KEY: Cell<u32> = const { Cell::new(1) };
}

/// Run `f` on the client `key`, if it still exists.
fn with_room<R>(key: u32, f: impl FnOnce(&mut Inner) -> R) -> Option<R> {
    let room = ROOMS.with(|r| r.borrow().get(&key).cloned())?;
    let mut inner = room.try_borrow_mut().ok()?;
    Some(f(&mut inner))
}

/// Client clock, ms since the epoch, with sub-millisecond resolution when
/// the browser gives it.
pub fn now_ms() -> f64 {
    match web_sys::window().and_then(|w| w.performance()) {
        Some(p) => p.time_origin() + p.now(),
        None => js_sys::Date::now(),
    }
}

fn online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// 128 random bits, hex, from the browser's CSPRNG.
fn random_client_id() -> String {
    let mut bytes = [0_u8; 16];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        // No Web Crypto (very old browser): Math.random is enough for an
        // id that only needs to be unique within one room.
        for b in &mut bytes {
            // Truncation to a byte is the point.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            {
                *b = (js_sys::Math::random() * 256.0) as u8;
            }
        }
    }
    let mut id = String::with_capacity(34);
    id.push_str("c-");
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

fn socket_url(session_id: &str) -> Option<String> {
    let loc = web_sys::window()?.location();
    let scheme = if loc.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!(
        "{scheme}://{}/api/v1/sessions/{session_id}/ws",
        loc.host().ok()?
    ))
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn load_outbox(key: &str) -> Vec<Pending> {
    storage()
        .and_then(|s| s.get_item(key).ok().flatten())
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}

/// Close a socket we no longer want, without the browser complaining: a
/// socket still connecting is closed as soon as it opens (closing it
/// earlier logs an error in the console).
fn retire(socket: Socket) {
    let ws = socket.ws;
    ws.set_onmessage(None);
    ws.set_onclose(None);
    ws.set_onerror(None);
    if ws.ready_state() == WebSocket::CONNECTING {
        let again = ws.clone();
        let close_on_open = Closure::once_into_js(move || {
            let _ = again.close_with_code(1000);
        });
        ws.set_onopen(Some(close_on_open.unchecked_ref()));
        // A handshake that fails later on closes by itself.
        let ignore = Closure::once_into_js(|| {});
        ws.set_onerror(Some(ignore.unchecked_ref()));
    } else {
        ws.set_onopen(None);
        let _ = ws.close_with_code(1000);
    }
}

impl RoomHandle {
    /// Open the room `session_id` for the person `user_id`.
    pub fn open(session_id: &str, user_id: &str) -> Self {
        let key = NEXT_KEY.with(|n| {
            let k = n.get();
            n.set(k.wrapping_add(1));
            k
        });
        let storage_key = format!("jiliang.outbox.{user_id}.{session_id}");
        let stored = load_outbox(&storage_key);
        let s = RoomSignals {
            conn: RwSignal::new(Conn::Connecting),
            session: RwSignal::new(None),
            participants: RwSignal::new(Vec::new()),
            events: RwSignal::new(Vec::new()),
            outbox: RwSignal::new(stored.clone()),
            unsent: RwSignal::new(Vec::new()),
            typing: RwSignal::new(Vec::new()),
            clock: RwSignal::new(None),
            error: RwSignal::new(None),
            recovered: RwSignal::new(false),
            you: RwSignal::new(None),
            failed_handshakes: RwSignal::new(0),
        };
        let inner = Inner {
            key,
            session_id: session_id.to_owned(),
            storage_key,
            s,
            socket: None,
            generation: 0,
            joined: false,
            applied: 0,
            snapshot_seq: 0,
            acked: 0,
            last_ack_ms: 0.0,
            outbox: stored
                .into_iter()
                .map(|p| OutEntry {
                    p,
                    sent_ms: None,
                    accepted: None,
                })
                .collect(),
            attempt: 0,
            ever_live: false,
            stopped: None,
            retry: None,
            recovered_timer: None,
            clock: ClockEstimator::default(),
            next_ping: 1,
            quick_pings: 0,
            last_ping_ms: 0.0,
            last_rx_ms: 0.0,
            last_typing_ms: 0.0,
            tick: None,
            listeners: Vec::new(),
        };
        ROOMS.with(|r| {
            r.borrow_mut().insert(key, Rc::new(RefCell::new(inner)));
        });
        with_room(key, |r| {
            r.tick = set_interval_with_handle(
                move || {
                    with_room(key, Inner::on_tick);
                },
                Duration::from_millis(TICK_MS),
            )
            .ok();
            r.listeners
                .push(window_event_listener_untyped("online", move |_| {
                    with_room(key, Inner::on_online);
                }));
            r.listeners
                .push(window_event_listener_untyped("offline", move |_| {
                    with_room(key, Inner::on_offline);
                }));
            r.listeners.push(window_event_listener_untyped(
                "visibilitychange",
                move |_| {
                    with_room(key, Inner::on_visible);
                },
            ));
            r.connect();
        });
        Self { key, s }
    }

    /// Queue a chat line; it is sent now if the room is joined, otherwise
    /// after the next (re)connect. `false` when the text is empty or too
    /// long (nothing queued).
    pub fn send_chat(&self, text: &str) -> bool {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_CHAT_CHARS {
            return false;
        }
        with_room(self.key, |r| r.queue_chat(text.to_owned())).unwrap_or(false)
    }

    /// The person is typing (sent at most every 2 s).
    pub fn typing(&self) {
        with_room(self.key, Inner::send_typing);
    }

    /// Reconnect now (a "retry" button).
    pub fn reconnect_now(&self) {
        with_room(self.key, |r| {
            if r.stopped.is_none() && r.socket.is_none() {
                r.cancel_retry();
                r.connect();
            }
        });
    }

    /// Stop for good (the page found the session gone, or is leaving).
    pub fn stop(&self, why: Stop) {
        with_room(self.key, |r| r.stop(why));
    }

    /// Close and forget the client (the page is leaving).
    pub fn close(self) {
        with_room(self.key, |r| {
            r.stop(Stop::Closed);
            if let Some(t) = r.tick.take() {
                t.clear();
            }
            for l in r.listeners.drain(..) {
                l.remove();
            }
        });
        ROOMS.with(|r| {
            r.borrow_mut().remove(&self.key);
        });
    }
}

impl Inner {
    fn send(&self, frame: &ClientFrame) -> bool {
        let Some(sock) = &self.socket else {
            return false;
        };
        if sock.ws.ready_state() != WebSocket::OPEN {
            return false;
        }
        match serde_json::to_string(frame) {
            Ok(text) => sock.ws.send_with_str(&text).is_ok(),
            Err(_) => false,
        }
    }

    fn connect(&mut self) {
        if self.stopped.is_some() || self.socket.is_some() {
            return;
        }
        if !online() {
            self.s.conn.set(Conn::Offline);
            return;
        }
        let Some(url) = socket_url(&self.session_id) else {
            return;
        };
        self.attempt += 1;
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let key = self.key;
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(_) => {
                self.schedule_retry();
                return;
            }
        };
        let onopen = Closure::<dyn FnMut()>::new(move || {
            with_room(key, |r| {
                if r.generation == generation {
                    r.on_open();
                }
            });
        });
        let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            if let Some(text) = ev.data().as_string() {
                with_room(key, |r| {
                    if r.generation == generation {
                        r.on_frame(&text);
                    }
                });
            }
        });
        let onclose = Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
            with_room(key, |r| {
                if r.generation == generation {
                    r.on_close(ev.code());
                }
            });
        });
        let onerror = Closure::<dyn FnMut(web_sys::Event)>::new(|_| {});
        ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
        ws.set_onerror(Some(onerror.as_ref().unchecked_ref()));
        self.socket = Some(Socket {
            ws,
            opened_ms: now_ms(),
            _onopen: onopen,
            _onmessage: onmessage,
            _onclose: onclose,
            _onerror: onerror,
        });
        self.s.conn.set(if self.ever_live || self.attempt > 1 {
            Conn::Reconnecting {
                attempt: self.attempt,
            }
        } else {
            Conn::Connecting
        });
    }

    fn on_open(&mut self) {
        self.last_rx_ms = now_ms();
        self.send(&ClientFrame::Join {
            protocol: PROTOCOL_VERSION,
            last_seq: self.applied,
        });
    }

    fn on_frame(&mut self, text: &str) {
        self.last_rx_ms = now_ms();
        // A frame type this build does not know (a newer server) is
        // skipped, as the protocol asks.
        let Ok(frame) = serde_json::from_str::<ServerFrame>(text) else {
            return;
        };
        match frame {
            ServerFrame::Snapshot(s) => self.on_snapshot(s),
            ServerFrame::Event(e) => self.on_event(e),
            ServerFrame::Accepted { client_id, seq } => {
                if let Some(e) = self.outbox.iter_mut().find(|e| e.p.client_id == client_id) {
                    e.accepted = Some(seq);
                }
            }
            ServerFrame::Ephemeral(e) => match e.body {
                EphemeralBody::Typing => {
                    let id = e.author.id.to_string();
                    let until_ms = now_ms() + TYPING_SHOWN_MS;
                    self.s.typing.update(|t| {
                        t.retain(|x| x.id != id);
                        t.push(Typist {
                            id,
                            name: e.author.name,
                            until_ms,
                        });
                    });
                }
                // Agent states feed the live comparison view (not built
                // yet); kinds from a newer server are skipped.
                EphemeralBody::DeviceStatus { .. } | EphemeralBody::Unknown => {}
            },
            ServerFrame::Pong(p) => {
                if let Some(sample) = ClockSample::from_exchange(&p, now_ms()) {
                    self.clock.add(sample);
                    self.s.clock.set(self.clock.best());
                }
            }
            ServerFrame::Error(body) => {
                if matches!(body.code.as_str(), "rate_limited" | "unavailable") {
                    // The error does not say which chat it refused; resend
                    // whatever is unanswered a second from now (a resend
                    // is idempotent).
                    let soon = now_ms() - RESEND_AFTER_MS + 1_000.0;
                    for e in &mut self.outbox {
                        if e.accepted.is_none() && e.sent_ms.is_some() {
                            e.sent_ms = Some(soon);
                        }
                    }
                }
                self.s.error.set(Some(body));
            }
        }
    }

    fn on_snapshot(&mut self, snap: Snapshot) {
        if snap.protocol != PROTOCOL_VERSION {
            self.stop(Stop::Incompatible);
            return;
        }
        let was_live = self.ever_live;
        self.joined = true;
        self.ever_live = true;
        self.attempt = 0;
        self.snapshot_seq = snap.last_seq;
        self.cancel_retry();
        self.s.you.set(Some(snap.you.to_string()));
        self.s.participants.set(snap.participants);
        self.s.session.set(Some(snap.session));
        self.s.conn.set(Conn::Live);
        self.s.error.set(None);
        if was_live {
            self.s.recovered.set(true);
            if let Some(t) = self.recovered_timer.take() {
                t.clear();
            }
            let key = self.key;
            self.recovered_timer = set_timeout_with_handle(
                move || {
                    with_room(key, |r| {
                        r.recovered_timer = None;
                        r.s.recovered.set(false);
                    });
                },
                Duration::from_millis(3_000),
            )
            .ok();
        }
        // Clock: a quick burst now, then every 10 s.
        self.quick_pings = QUICK_PINGS;
        self.ping();
        // Everything the log already had was sent with the snapshot's
        // replay; our outbox goes after it.
        if self.applied >= self.snapshot_seq {
            self.replay_done();
        }
    }

    fn on_event(&mut self, e: RoomEvent) {
        if e.seq <= self.applied {
            return; // already applied
        }
        if e.seq != self.applied + 1 {
            // A gap: something was missed. Resume from what we have.
            self.drop_socket();
            self.connect();
            return;
        }
        self.applied = e.seq;
        let after_snapshot = e.seq > self.snapshot_seq;
        match &e.body {
            EventBody::Join | EventBody::Leave if after_snapshot => {
                if let Some(a) = &e.author {
                    let online = matches!(e.body, EventBody::Join);
                    self.s.participants.update(|ps| {
                        if let Some(p) = ps.iter_mut().find(|p| p.user_id == a.id) {
                            p.online = online;
                        }
                    });
                }
            }
            EventBody::State { to, .. } => {
                let to = SessionState::parse(to);
                let at = e.at;
                self.s.session.update(|s| {
                    if let (Some(s), Some(to)) = (s, to) {
                        s.state = to;
                        match to {
                            SessionState::Live => s.started_at = Some(at),
                            SessionState::Ended => s.ended_at = Some(at),
                            SessionState::Scheduled => {}
                        }
                        s.last_seq = s.last_seq.max(e.seq);
                    }
                });
            }
            EventBody::Chat { .. } => {
                if let Some(a) = &e.author {
                    let id = a.id.to_string();
                    self.s.typing.update(|t| t.retain(|x| x.id != id));
                }
            }
            _ => {}
        }
        // Our own line came back through the log: it has left the outbox.
        if let Some(cid) = &e.client_id
            && let Some(pos) = self.outbox.iter().position(|o| &o.p.client_id == cid)
        {
            self.outbox.remove(pos);
            self.save_outbox();
        }
        let ended = matches!(&e.body, EventBody::State { to, .. } if to == "ended");
        self.s.events.update(|ev| ev.push(e));
        if self.joined && self.applied == self.snapshot_seq {
            self.replay_done();
        }
        if self.applied - self.acked >= ACK_EVERY_EVENTS {
            self.ack();
        }
        if ended {
            self.ack();
            self.stop(Stop::Ended);
        }
    }

    /// The replay after a (re)connect has caught up: send the outbox.
    fn replay_done(&mut self) {
        let now = now_ms();
        let mut sent = 0;
        for i in 0..self.outbox.len() {
            if sent >= FLUSH_BURST {
                break;
            }
            if self.outbox[i].accepted.is_some() {
                continue;
            }
            let frame = ClientFrame::Chat {
                client_id: self.outbox[i].p.client_id.clone(),
                text: self.outbox[i].p.text.clone(),
            };
            if self.send(&frame) {
                self.outbox[i].sent_ms = Some(now);
                sent += 1;
            }
        }
    }

    fn on_close(&mut self, code: u16) {
        let joined = self.joined;
        self.socket = None;
        self.joined = false;
        if self.stopped.is_some() {
            return;
        }
        if !joined {
            self.s.failed_handshakes.update(|n| *n += 1);
        }
        match code {
            CLOSE_RESUME => self.connect(),
            CLOSE_GONE => self.stop(Stop::Gone),
            CLOSE_UNAUTHENTICATED => self.stop(Stop::LoggedOut),
            CLOSE_VERSION | 1008 => self.stop(Stop::Incompatible),
            _ => self.schedule_retry(),
        }
    }

    fn schedule_retry(&mut self) {
        if self.stopped.is_some() {
            return;
        }
        self.cancel_retry();
        if !online() {
            self.s.conn.set(Conn::Offline);
            return;
        }
        let n = self.attempt.saturating_sub(1).min(10);
        let base = (BACKOFF_MIN_MS * f64::from(1_u32 << n)).min(BACKOFF_MAX_MS);
        // Jitter: anywhere in the upper half, so a lab full of phones that
        // lost the same link do not all come back in the same instant.
        let delay = base * (0.5 + 0.5 * js_sys::Math::random());
        self.s.conn.set(Conn::Reconnecting {
            attempt: self.attempt.max(1),
        });
        let key = self.key;
        // Whole milliseconds are plenty for a reconnect delay.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ms = delay as u64;
        self.retry = set_timeout_with_handle(
            move || {
                with_room(key, |r| {
                    r.retry = None;
                    r.connect();
                });
            },
            Duration::from_millis(ms),
        )
        .ok();
    }

    fn cancel_retry(&mut self) {
        if let Some(t) = self.retry.take() {
            t.clear();
        }
    }

    fn drop_socket(&mut self) {
        if let Some(s) = self.socket.take() {
            retire(s);
        }
        self.joined = false;
    }

    fn stop(&mut self, why: Stop) {
        if self.stopped.is_some() {
            return;
        }
        self.stopped = Some(why);
        self.cancel_retry();
        self.drop_socket();
        self.s.conn.set(Conn::Stopped(why));
        self.s.typing.set(Vec::new());
        if why == Stop::Ended {
            // Nothing can be added to an ended session's record.
            let left: Vec<Pending> = self.outbox.drain(..).map(|e| e.p).collect();
            self.save_outbox();
            self.s.unsent.set(left);
        }
    }

    fn on_online(&mut self) {
        if self.stopped.is_none() && self.socket.is_none() {
            self.cancel_retry();
            self.attempt = 0;
            self.connect();
        }
    }

    fn on_offline(&mut self) {
        if self.stopped.is_some() {
            return;
        }
        self.cancel_retry();
        self.drop_socket();
        self.s.conn.set(Conn::Offline);
    }

    fn on_visible(&mut self) {
        let hidden = web_sys::window()
            .and_then(|w| w.document())
            .is_none_or(|d| d.hidden());
        if !hidden && self.stopped.is_none() && self.socket.is_none() && online() {
            self.cancel_retry();
            self.connect();
        }
    }

    fn ping(&mut self) {
        let id = self.next_ping;
        self.next_ping += 1;
        let t0 = now_ms();
        if self.send(&ClientFrame::Ping(TimePing { id, t0 })) {
            self.last_ping_ms = t0;
        }
    }

    fn ack(&mut self) {
        if self.applied > self.acked && self.send(&ClientFrame::Ack { seq: self.applied }) {
            self.acked = self.applied;
            self.last_ack_ms = now_ms();
        }
    }

    fn on_tick(&mut self) {
        let now = now_ms();
        // Typing notes expire.
        if self
            .s
            .typing
            .with_untracked(|t| t.iter().any(|x| x.until_ms <= now))
        {
            self.s.typing.update(|t| t.retain(|x| x.until_ms > now));
        }
        if self.stopped.is_some() {
            return;
        }
        // The `offline` event can be missed (a tab in the background).
        if !online() {
            if self.socket.is_some() || self.s.conn.get_untracked() != Conn::Offline {
                self.on_offline();
            }
            return;
        }
        let Some(sock) = &self.socket else {
            return;
        };
        if !self.joined {
            if now - sock.opened_ms > CONNECT_TIMEOUT_MS {
                self.drop_socket();
                self.schedule_retry();
            }
            return;
        }
        if self.last_ping_ms > self.last_rx_ms && now - self.last_ping_ms > PONG_TIMEOUT_MS {
            // Half-open: nothing came back since the ping, not even a pong.
            self.drop_socket();
            self.connect();
            return;
        }
        if self.quick_pings > 1 {
            self.quick_pings -= 1;
            self.ping();
        } else if now - self.last_ping_ms >= PING_EVERY_MS {
            self.quick_pings = 0;
            self.ping();
        }
        if now - self.last_ack_ms >= ACK_EVERY_MS {
            self.ack();
        }
        // Chats nobody answered (a refused burst, a lost frame) go again.
        if self.applied >= self.snapshot_seq {
            let mut budget = RESEND_PER_TICK;
            for i in 0..self.outbox.len() {
                if budget == 0 {
                    break;
                }
                let e = &self.outbox[i];
                if e.accepted.is_some() || e.sent_ms.is_some_and(|t| now - t < RESEND_AFTER_MS) {
                    continue;
                }
                let frame = ClientFrame::Chat {
                    client_id: e.p.client_id.clone(),
                    text: e.p.text.clone(),
                };
                if self.send(&frame) {
                    self.outbox[i].sent_ms = Some(now);
                    budget -= 1;
                }
            }
        }
    }

    fn queue_chat(&mut self, text: String) -> bool {
        if matches!(self.stopped, Some(Stop::Ended | Stop::Gone)) {
            return false;
        }
        let p = Pending {
            client_id: random_client_id(),
            text,
            created_ms: js_sys::Date::now(),
        };
        let frame = ClientFrame::Chat {
            client_id: p.client_id.clone(),
            text: p.text.clone(),
        };
        // Only after the replay: the outbox goes out in order behind it.
        let sent = self.joined && self.applied >= self.snapshot_seq && self.send(&frame);
        self.outbox.push(OutEntry {
            p,
            sent_ms: sent.then(now_ms),
            accepted: None,
        });
        self.save_outbox();
        true
    }

    fn send_typing(&mut self) {
        let now = now_ms();
        if self.joined && now - self.last_typing_ms >= TYPING_SEND_EVERY_MS {
            self.last_typing_ms = now;
            self.send(&ClientFrame::Typing);
        }
    }

    /// Mirror the outbox to the page and to storage.
    fn save_outbox(&self) {
        let list: Vec<Pending> = self.outbox.iter().map(|e| e.p.clone()).collect();
        if let Some(s) = storage() {
            if list.is_empty() {
                let _ = s.remove_item(&self.storage_key);
            } else if let Ok(j) = serde_json::to_string(&list) {
                // Storage full or refused (private mode): the outbox still
                // lives in memory for this page.
                let _ = s.set_item(&self.storage_key, &j);
            }
        }
        self.s.outbox.set(list);
    }
}
