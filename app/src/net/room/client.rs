//! The room client's reactions: socket events, the housekeeping tick and
//! the browser's online, offline and visibility events. Every decision
//! about order and the outbox is the `Sequencer`'s and the `Outbox`'s.

use std::time::Duration;

use jiliang_app_core::room::{Offer, Pending, backoff_ms};
use jiliang_protocol::recordings::RecordingNow;
use jiliang_protocol::rooms::{
    CLOSE_GONE, CLOSE_RESUME, CLOSE_UNAUTHENTICATED, CLOSE_VERSION, ClientFrame, EphemeralBody,
    EventBody, PROTOCOL_VERSION, RoomEvent, ServerFrame, Snapshot,
};
use jiliang_protocol::sessions::SessionState;
use jiliang_protocol::timesync::{ClockSample, TimePing};
use leptos::leptos_dom::helpers::set_timeout_with_handle;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use super::AgentLive;
use super::browser::{self, Socket, now_ms, online, random_client_id, retire, socket_url};
use super::{
    ACK_EVERY_EVENTS, ACK_EVERY_MS, CONNECT_TIMEOUT_MS, Conn, Inner, PING_EVERY_MS,
    PONG_TIMEOUT_MS, QUICK_PINGS, READINGS_NOTIFY_MS, Stop, TYPING_SEND_EVERY_MS, TYPING_SHOWN_MS,
    Typist, with_room,
};

/// Send `frame` on `socket` if it is open; true when it went out.
fn send_on(socket: Option<&Socket>, frame: &ClientFrame) -> bool {
    let Some(sock) = socket else {
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

fn chat_frame(p: &Pending) -> ClientFrame {
    ClientFrame::Chat {
        client_id: p.client_id.clone(),
        text: p.text.clone(),
    }
}

impl Inner {
    pub(super) fn send(&self, frame: &ClientFrame) -> bool {
        send_on(self.socket.as_ref(), frame)
    }

    pub(super) fn connect(&mut self) {
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

    pub(super) fn on_open(&mut self) {
        self.last_rx_ms = now_ms();
        self.send(&ClientFrame::Join {
            protocol: PROTOCOL_VERSION,
            last_seq: self.seq.applied(),
            // Now, not at the handshake: the person may have switched the
            // language while the socket was opening.
            lang: Some(super::browser::ui_lang()),
        });
    }

    pub(super) fn on_frame(&mut self, text: &str) {
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
                self.outbox.accepted(&client_id, seq);
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
                EphemeralBody::DeviceStatus {
                    device_id,
                    connected,
                    status,
                } => {
                    let heard_ms = now_ms();
                    self.s.agents.update(|a| {
                        // A connect notice carries no status: keep the last
                        // one until the agent's first report.
                        let status = status.or_else(|| {
                            a.get(&device_id)
                                .filter(|_| connected)
                                .and_then(|x| x.status.clone())
                        });
                        a.insert(
                            device_id,
                            AgentLive {
                                connected,
                                status,
                                heard_ms,
                            },
                        );
                    });
                }
                // Kinds from a newer server are skipped.
                EphemeralBody::Unknown => {}
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
                    self.outbox.refused(now_ms());
                }
                self.s.error.set(Some(body));
            }
            ServerFrame::MediaState { publishers } => self.media_on_state(publishers),
            ServerFrame::MediaOffer { sdp } => self.media_on_offer(sdp),
            ServerFrame::MediaAnswer { sdp } => self.media_on_answer(sdp),
            ServerFrame::MediaCandidate { candidate } => self.media_on_candidate(candidate),
            ServerFrame::MediaClosed { reason } => self.media_on_closed(&reason),
            ServerFrame::MediaIce(ice) => self.media_on_ice(ice),
        }
    }

    pub(super) fn on_snapshot(&mut self, snap: Snapshot) {
        if snap.protocol != PROTOCOL_VERSION {
            self.stop(Stop::Incompatible);
            return;
        }
        let was_live = self.ever_live;
        self.joined = true;
        self.ever_live = true;
        self.attempt = 0;
        let caught_up = self.seq.snapshot(snap.last_seq);
        self.cancel_retry();
        self.s.you.set(Some(snap.you.to_string()));
        self.s.participants.set(snap.participants);
        self.s.session.set(Some(snap.session));
        self.s.conn.set(Conn::Live);
        self.media_on_ice(snap.ice);
        self.media_on_snapshot(snap.media);
        self.s.recording.set(snap.recording);
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
        if caught_up {
            self.replay_done();
        }
    }

    pub(super) fn on_event(&mut self, e: RoomEvent) {
        let caught_up = match self.seq.offer(e.seq) {
            Offer::Duplicate => return,
            Offer::Gap { .. } => {
                // Something was missed. Resume from what we have.
                self.drop_socket();
                self.connect();
                return;
            }
            Offer::Apply {
                replayed,
                caught_up,
            } => {
                self.apply(&e, replayed);
                caught_up
            }
        };
        // Our own line came back through the log: it has left the outbox.
        if let Some(cid) = &e.client_id
            && self.outbox.confirmed(cid)
        {
            self.save_outbox();
        }
        let ended = matches!(&e.body, EventBody::State { to, .. } if to == "ended");
        let compared = self
            .s
            .comparison
            .try_update_untracked(|c| c.apply(&e))
            .unwrap_or(false);
        if compared {
            if matches!(e.body, EventBody::Readings(_)) {
                self.comparison_dirty = true;
            } else {
                self.s.comparison.notify();
            }
        }
        if let EventBody::Readings(body) = &e.body {
            // One device's part (protocol 1, stored logs) or several.
            self.s.readings.update_untracked(|r| {
                for part in body.parts() {
                    r.push(part.device_id, &part.readings);
                }
            });
            self.readings_dirty = true;
            self.notify_readings();
        } else {
            self.s.events.update(|ev| ev.push(e));
        }
        if self.joined && caught_up {
            self.replay_done();
        }
        if self.seq.unacked() >= ACK_EVERY_EVENTS {
            self.ack();
        }
        if ended {
            self.ack();
            self.stop(Stop::Ended);
        }
    }

    /// What an applied event changes besides the timeline. `replayed`:
    /// the snapshot already counted it.
    pub(super) fn apply(&mut self, e: &RoomEvent, replayed: bool) {
        match &e.body {
            EventBody::Join | EventBody::Leave if !replayed => {
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
            // The snapshot already says how recording stood at its seq.
            EventBody::RecordingStarted { recording_id } if !replayed => {
                self.s.recording.set(Some(RecordingNow {
                    recording_id: *recording_id,
                    started_by: e.author.as_ref().map(|a| a.id).unwrap_or_default(),
                    started_at: e.at,
                }));
            }
            EventBody::RecordingStopped { recording_id } if !replayed => {
                self.s.recording.update(|r| {
                    if r.as_ref().is_some_and(|r| r.recording_id == *recording_id) {
                        *r = None;
                    }
                });
            }
            _ => {}
        }
    }

    /// The replay after a (re)connect has caught up: the log replaces what
    /// was shown from the last visit; send the outbox.
    pub(super) fn replay_done(&mut self) {
        if self.s.earlier.with_untracked(|e| !e.is_empty()) {
            self.s.earlier.set(Vec::new());
        }
        let socket = self.socket.as_ref();
        self.outbox
            .flush(now_ms(), |p| send_on(socket, &chat_frame(p)));
    }

    pub(super) fn on_close(&mut self, code: u16) {
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

    pub(super) fn schedule_retry(&mut self) {
        if self.stopped.is_some() {
            return;
        }
        self.cancel_retry();
        if !online() {
            self.s.conn.set(Conn::Offline);
            return;
        }
        let delay = backoff_ms(self.attempt, js_sys::Math::random());
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

    pub(super) fn cancel_retry(&mut self) {
        if let Some(t) = self.retry.take() {
            t.clear();
        }
    }

    pub(super) fn drop_socket(&mut self) {
        if let Some(s) = self.socket.take() {
            retire(s);
        }
        self.joined = false;
    }

    pub(super) fn stop(&mut self, why: Stop) {
        if self.stopped.is_some() {
            return;
        }
        self.stopped = Some(why);
        self.media_close();
        self.cancel_retry();
        self.drop_socket();
        self.s.conn.set(Conn::Stopped(why));
        self.s.typing.set(Vec::new());
        if why == Stop::Ended {
            // Nothing can be added to an ended session's record.
            let left = self.outbox.drain();
            self.save_outbox();
            self.s.unsent.set(left);
        }
    }

    pub(super) fn on_online(&mut self) {
        if self.stopped.is_none() && self.socket.is_none() {
            self.cancel_retry();
            self.attempt = 0;
            self.connect();
        }
    }

    pub(super) fn on_offline(&mut self) {
        if self.stopped.is_some() {
            return;
        }
        self.cancel_retry();
        self.drop_socket();
        self.s.conn.set(Conn::Offline);
    }

    pub(super) fn on_visible(&mut self) {
        let hidden = web_sys::window()
            .and_then(|w| w.document())
            .is_none_or(|d| d.hidden());
        if !hidden && self.stopped.is_none() && self.socket.is_none() && online() {
            self.cancel_retry();
            self.connect();
        }
    }

    pub(super) fn ping(&mut self) {
        let id = self.next_ping;
        self.next_ping += 1;
        let t0 = now_ms();
        if self.send(&ClientFrame::Ping(TimePing { id, t0 })) {
            self.last_ping_ms = t0;
        }
    }

    pub(super) fn ack(&mut self) {
        if let Some(seq) = self.seq.ack_due()
            && self.send(&ClientFrame::Ack { seq })
        {
            self.seq.acked(seq);
            self.last_ack_ms = now_ms();
        }
    }

    /// Tell the page about new readings, at most every
    /// `READINGS_NOTIFY_MS`; the tick announces what a burst left waiting.
    pub(super) fn notify_readings(&mut self) {
        let now = now_ms();
        if self.readings_dirty && now - self.readings_notified_ms >= READINGS_NOTIFY_MS {
            self.readings_dirty = false;
            self.readings_notified_ms = now;
            self.s.readings.notify();
            if self.comparison_dirty {
                self.comparison_dirty = false;
                self.s.comparison.notify();
            }
        }
    }

    pub(super) fn on_tick(&mut self) {
        self.notify_readings();
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
        if self.seq.caught_up() {
            let socket = self.socket.as_ref();
            self.outbox
                .resend_due(now, |p| send_on(socket, &chat_frame(p)));
        }
    }

    pub(super) fn queue_chat(&mut self, text: String) -> bool {
        if matches!(self.stopped, Some(Stop::Ended | Stop::Gone)) {
            return false;
        }
        let p = Pending {
            client_id: random_client_id(),
            text,
            created_ms: js_sys::Date::now(),
        };
        // Only after the replay: the outbox goes out in order behind it.
        let sent = self.joined && self.seq.caught_up() && self.send(&chat_frame(&p));
        let queued = self.outbox.push(p, sent.then(now_ms));
        self.save_outbox();
        queued
    }

    pub(super) fn send_typing(&mut self) {
        let now = now_ms();
        if self.joined && now - self.last_typing_ms >= TYPING_SEND_EVERY_MS {
            self.last_typing_ms = now;
            self.send(&ClientFrame::Typing);
        }
    }

    /// Mirror the outbox to the page and to storage.
    pub(super) fn save_outbox(&self) {
        browser::store_outbox(&self.storage_key, &self.outbox);
        self.s.outbox.set(self.outbox.lines());
    }
}
