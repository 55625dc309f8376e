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
//! - **Instrument readings stay off the timeline**: a `readings` event is
//!   sequenced like any other but goes to [`RoomSignals::readings`] (a
//!   bounded trace per device, `jiliang_app_core::instruments`), which is
//!   announced to the page at most every [`READINGS_NOTIFY_MS`]: a burst of
//!   batches after a slow link catches up costs one redraw, not one per
//!   batch. Agents' `device_status` ephemerals go to [`RoomSignals::agents`].
//! - **The comparison is the log's**: every applied event also goes through
//!   `jiliang_protocol::comparison::ComparisonLog` (the fold the server
//!   stores the result with), so E, U(E) and the verdicts on the page are
//!   the server's numbers, computed as the readings arrive.
//!
//! The rules — ordering, gap detection, the outbox and its resends, the
//! backoff — are `jiliang_app_core::room` ([`Sequencer`], [`Outbox`]),
//! tested on the host; this module is the browser around them.
//!
//! The client lives outside the reactive system (sockets and closures are
//! not `Send`): a thread-local registry holds it, and pages get a `Copy`
//! [`RoomHandle`] with the signals to render and the calls to make.
//!
//! # Layout
//! - `mod.rs`: what pages see ([`RoomHandle`], [`RoomSignals`], [`Conn`],
//!   [`Stop`]) and the registry of open clients.
//! - `browser`: the browser's clock, network state, randomness, storage and
//!   the WebSocket itself.
//! - `client`: the client's reactions to socket events, ticks and the
//!   browser's online/offline/visibility events.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use jiliang_app_core::instruments::LiveReadings;
use jiliang_app_core::room::{Outbox, Sequencer, chat_text};
use jiliang_protocol::ErrorBody;
use jiliang_protocol::comparison::ComparisonLog;
use jiliang_protocol::devices::AgentStatus;
use jiliang_protocol::recordings::RecordingNow;
use jiliang_protocol::rooms::{ClientFrame, MediaMode, MediaPublisher, MediaSource, RoomEvent};
use jiliang_protocol::sessions::{Participant, SessionInfo};
use jiliang_protocol::timesync::{ClockEstimator, ClockSample};
use leptos::leptos_dom::helpers::{
    IntervalHandle, TimeoutHandle, WindowListenerHandle, set_interval_with_handle,
    window_event_listener_untyped,
};
use leptos::prelude::*;
use uuid::Uuid;

use browser::Socket;

pub use browser::{now_ms, random_client_id};
pub use jiliang_app_core::room::Pending;

mod browser;
mod client;
mod media;

pub use media::{DeviceProblem, LocalMedia, MediaDevice, local_stream_id, stream as media_stream};

/// Housekeeping tick.
const TICK_MS: u64 = 500;
/// New readings are announced to the page at most this often.
pub const READINGS_NOTIFY_MS: f64 = 400.0;
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

/// Someone typing.
#[derive(Clone, Debug, PartialEq)]
pub struct Typist {
    pub id: String,
    pub name: String,
    until_ms: f64,
}

/// What the room last heard from a device's agent.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentLive {
    pub connected: bool,
    pub status: Option<AgentStatus>,
    /// When it was heard, on this browser's `performance.now()` clock.
    pub heard_ms: f64,
}

/// Everything a page renders, as signals. `Copy`.
#[derive(Clone, Copy)]
pub struct RoomSignals {
    pub conn: RwSignal<Conn>,
    /// From the latest snapshot, updated by state events.
    pub session: RwSignal<Option<SessionInfo>>,
    /// From the latest snapshot, updated by join/leave events.
    pub participants: RwSignal<Vec<Participant>>,
    /// The applied log, `seq` 1, 2, 3, … without gaps, except `readings`
    /// events, which go to `readings`.
    pub events: RwSignal<Vec<RoomEvent>>,
    /// The newest readings of each device attached to the room (changed
    /// without notifying; announced at most every [`READINGS_NOTIFY_MS`]).
    pub readings: RwSignal<LiveReadings>,
    /// Agents' states by device, from `device_status` ephemerals.
    pub agents: RwSignal<HashMap<Uuid, AgentLive>>,
    /// The session's comparison folded from the log (readings that change
    /// it are announced with `readings`, comparison events at once).
    pub comparison: RwSignal<ComparisonLog>,
    /// What this browser last saw of the log (set by the page), shown
    /// until the replay after joining has caught up; then empty.
    pub earlier: RwSignal<Vec<RoomEvent>>,
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
    /// Who publishes what (from the snapshot and `media_state` frames).
    pub media_publishers: RwSignal<Vec<MediaPublisher>>,
    /// What this browser publishes and wants.
    pub media_local: RwSignal<LocalMedia>,
    /// Ids of the remote streams received (`{user_id}:{source}`); the
    /// streams themselves: [`media_stream`].
    pub media_streams: RwSignal<Vec<String>>,
    /// The session is being recorded (from the snapshot, then the
    /// `recording_started`/`recording_stopped` events).
    pub recording: RwSignal<Option<RecordingNow>>,
}

/// The page's handle on a room client. `Copy`, `Send`: the client itself
/// stays in a thread-local registry.
#[derive(Clone, Copy)]
pub struct RoomHandle {
    key: u32,
    pub s: RoomSignals,
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
    /// Where the log stands: applied, announced by the snapshot, acked.
    seq: Sequencer,
    last_ack_ms: f64,
    outbox: Outbox,
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
    /// Readings arrived that the page has not been told about yet.
    readings_dirty: bool,
    comparison_dirty: bool,
    readings_notified_ms: f64,
    tick: Option<IntervalHandle>,
    listeners: Vec<WindowListenerHandle>,
    media: media::Media,
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

impl RoomHandle {
    /// Open the room `session_id` for the person `user_id`.
    pub fn open(session_id: &str, user_id: &str) -> Self {
        let key = NEXT_KEY.with(|n| {
            let k = n.get();
            n.set(k.wrapping_add(1));
            k
        });
        let storage_key = format!("jiliang.outbox.{user_id}.{session_id}");
        let stored = browser::load_outbox(&storage_key);
        let s = RoomSignals {
            conn: RwSignal::new(Conn::Connecting),
            session: RwSignal::new(None),
            participants: RwSignal::new(Vec::new()),
            events: RwSignal::new(Vec::new()),
            readings: RwSignal::new(LiveReadings::default()),
            agents: RwSignal::new(HashMap::new()),
            comparison: RwSignal::new(ComparisonLog::new()),
            earlier: RwSignal::new(Vec::new()),
            outbox: RwSignal::new(stored.lines()),
            unsent: RwSignal::new(Vec::new()),
            typing: RwSignal::new(Vec::new()),
            clock: RwSignal::new(None),
            error: RwSignal::new(None),
            recovered: RwSignal::new(false),
            you: RwSignal::new(None),
            failed_handshakes: RwSignal::new(0),
            media_publishers: RwSignal::new(Vec::new()),
            media_local: RwSignal::new(LocalMedia::default()),
            media_streams: RwSignal::new(Vec::new()),
            recording: RwSignal::new(None),
        };
        let inner = Inner {
            key,
            session_id: session_id.to_owned(),
            storage_key,
            s,
            socket: None,
            generation: 0,
            joined: false,
            seq: Sequencer::new(),
            last_ack_ms: 0.0,
            outbox: stored,
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
            readings_dirty: false,
            comparison_dirty: false,
            readings_notified_ms: 0.0,
            tick: None,
            listeners: Vec::new(),
            media: media::Media::default(),
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
            r.media_devices_init();
        });
        Self { key, s }
    }

    /// Queue a chat line; it is sent now if the room is joined, otherwise
    /// after the next (re)connect. `false` when the text is empty or too
    /// long (nothing queued).
    pub fn send_chat(&self, text: &str) -> bool {
        let Some(text) = chat_text(text) else {
            return false;
        };
        with_room(self.key, |r| r.queue_chat(text.to_owned())).unwrap_or(false)
    }

    /// The person is typing (sent at most every 2 s).
    pub fn typing(&self) {
        with_room(self.key, Inner::send_typing);
    }

    /// Turn the microphone, the camera or the screen share on or off.
    pub fn media_toggle(&self, source: MediaSource) {
        with_room(self.key, |r| r.media_toggle(source));
    }

    /// Mute or unmute the microphone.
    pub fn media_mute(&self) {
        with_room(self.key, Inner::media_mute);
    }

    /// Receive no video (audio only), or video again.
    pub fn media_no_video(&self, no_video: bool) {
        with_room(self.key, |r| r.media_no_video(no_video));
    }

    /// Use the camera or microphone `device` (`None`: the default) from
    /// now on, remembered in this browser; switched at once if it is on.
    pub fn media_choose_device(&self, source: MediaSource, device: Option<String>) {
        with_room(self.key, |r| r.media_choose_device(source, device));
    }

    /// Pin the media mode (video, audio only, data only), or (`None`) let
    /// the link choose it.
    pub fn media_pin_mode(&self, mode: Option<MediaMode>) {
        with_room(self.key, |r| r.media_pin_mode(mode));
    }

    /// Start (`true`) or stop recording the session (the host; the room
    /// hears the outcome as an event, a refusal comes as an error frame).
    /// `false` when the socket is not open.
    pub fn record(&self, on: bool) -> bool {
        let frame = if on {
            ClientFrame::RecordingStart
        } else {
            ClientFrame::RecordingStop
        };
        with_room(self.key, |r| r.send(&frame)).unwrap_or(false)
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
            r.media_close();
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
