//! One room connection, from upgrade to goodbye.
//!
//! The protocol is in `jiliang_protocol::rooms`; the order of things here
//! is what makes it lossless:
//! 1. subscribe to the room's live events *before* reading the log, so
//!    nothing stored in between is missed;
//! 2. send the snapshot, then every stored event after the client's
//!    `last_seq`, read from the database;
//! 3. forward live events, skipping those already sent and re-reading the
//!    database for any gap.
//!
//! A client that falls more than a room buffer behind is closed with
//! `CLOSE_RESUME`; it reconnects with its last sequence and loses nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use jiliang_protocol::ErrorBody;
use jiliang_protocol::rooms::{
    Author, CLOSE_GONE, CLOSE_RESUME, CLOSE_TOO_MANY, CLOSE_UNAUTHENTICATED, CLOSE_VERSION,
    ClientFrame, Ephemeral, EphemeralBody, EventBody, MAX_CHAT_CHARS, MediaIce, PROTOCOL_VERSION,
    RoomEvent, ServerFrame, Snapshot,
};
use jiliang_protocol::timesync::TimePong;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use uuid::Uuid;

use super::hub::{Outgoing, Room};
use super::log::{Append, AppendError, Appended, InOrder, Pending};
use super::presence::{Full, Seat};
use super::ratelimit::TokenBucket;
use crate::auth::Principal;
use crate::clock;
use crate::error::AppError;
use crate::i18n::Text;
use crate::media::{Inbound, MediaLink, Outbound, PeerKey};
use crate::state::AppState;
use crate::store::rooms::RoomAccess;

/// Numbers this node's room connections (a connection's media is keyed by it).
static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Live events written to one connection before a flush, at most (its
/// other frames and the room's other connections wait meanwhile).
const FORWARD_BURST: usize = 64;

/// Unanswered appends one connection may have.
const MAX_INFLIGHT: usize = 64;

type InFlight = std::pin::Pin<
    Box<dyn std::future::Future<Output = (String, Result<Appended, AppendError>)> + Send>,
>;

/// A client must say `join` within this time.
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);
/// A frame the client does not read within this time ends the connection
/// (its TCP window stayed shut); it resumes when it is back.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Events read from the database per query during replay.
const REPLAY_PAGE: i64 = 500;
/// A client that acknowledges more than this many events behind what it was
/// sent is treated as not keeping up.
const MAX_UNACKED: u64 = 4096;

enum Exit {
    /// The peer went away or the transport failed.
    Gone,
    /// We close with this code and reason.
    Close(u16, Text),
}

// Close reasons, in the socket's language (at most 123 bytes each, the
// WebSocket limit; a test checks).
const BYE_SEND_TIMEOUT: Text = Text::new(
    "发送超时；请从最后的序号续传",
    "send timed out; resume from your last sequence",
);
const BYE_STORAGE: Text = Text::new(
    "存储暂不可用；请稍后续传",
    "storage unavailable; resume shortly",
);
const BYE_NO_JOIN: Text = Text::new("应先发送 join 帧", "expected a join frame");
const BYE_VERSION: Text = Text::new("不支持的协议版本", "unsupported protocol version");
const BYE_JOIN_FIRST: Text = Text::new("第一帧必须是 join", "the first frame must be join");
const BYE_TOO_MANY: Text = Text::new("连接过多", "too many sockets");
const BYE_SHUTDOWN: Text = Text::new("服务器正在关闭", "server shutting down");
const BYE_TOO_BIG: Text = Text::new("帧大于 64 KiB", "frame larger than 64 KiB");
const BYE_BEHIND: Text = Text::new(
    "进度落后太多；请从最后的序号续传",
    "too far behind; resume from your last sequence",
);
const BYE_ROOM_CLOSED: Text = Text::new("会话室已关闭", "room closed");
const BYE_LOGIN_ENDED: Text = Text::new("登录已结束；请重新登录", "login ended; sign in again");
const BYE_GONE: Text = Text::new(
    "你已不再参加此会话",
    "you no longer take part in this session",
);

struct Conn {
    socket: WebSocket,
    principal: Principal,
    session: Uuid,
    last_sent: u64,
    acked: Option<u64>,
    /// This connection's chat messages are stored in the order sent, or
    /// not at all after one failed (see [`InOrder`]).
    order: InOrder,
}

impl Conn {
    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Exit> {
        let text = serde_json::to_string(frame).map_err(|_| Exit::Gone)?;
        self.send_text(text.into()).await
    }

    async fn send_text(&mut self, text: axum::extract::ws::Utf8Bytes) -> Result<(), Exit> {
        match tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Text(text))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Exit::Gone),
            Err(_) => Err(Exit::Close(CLOSE_RESUME, BYE_SEND_TIMEOUT)),
        }
    }

    /// Queue a frame without flushing (the write buffer goes out when
    /// full or at [`Conn::flush`]).
    async fn feed_text(&mut self, text: axum::extract::ws::Utf8Bytes) -> Result<(), Exit> {
        match tokio::time::timeout(SEND_TIMEOUT, self.socket.feed(Message::Text(text))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Exit::Gone),
            Err(_) => Err(Exit::Close(CLOSE_RESUME, BYE_SEND_TIMEOUT)),
        }
    }

    async fn flush(&mut self) -> Result<(), Exit> {
        match tokio::time::timeout(SEND_TIMEOUT, self.socket.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Exit::Gone),
            Err(_) => Err(Exit::Close(CLOSE_RESUME, BYE_SEND_TIMEOUT)),
        }
    }

    async fn error(&mut self, e: AppError) -> Result<(), Exit> {
        let body: ErrorBody = e.body();
        self.send(&ServerFrame::Error(body)).await
    }

    async fn event(&mut self, e: &RoomEvent) -> Result<(), Exit> {
        self.send(&ServerFrame::Event(e.clone())).await?;
        self.last_sent = e.seq;
        Ok(())
    }

    /// Send stored events after `last_sent` up to and including `upto`
    /// (everything, with `u64::MAX`).
    async fn catch_up(&mut self, state: &AppState, upto: u64) -> Result<(), Exit> {
        while self.last_sent < upto {
            let events = state
                .store
                .read_events(self.session, self.last_sent, REPLAY_PAGE)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "replay failed");
                    Exit::Close(1011, BYE_STORAGE)
                })?;
            if events.is_empty() {
                break;
            }
            for e in events.iter().filter(|e| e.seq <= upto) {
                self.event(e).await?;
            }
            if events.len() < usize::try_from(REPLAY_PAGE).unwrap_or(usize::MAX) {
                break;
            }
        }
        Ok(())
    }
}

fn author(p: &Principal) -> Author {
    Author {
        id: p.user.id,
        name: p.user.display_name.clone(),
    }
}

/// Serve one upgraded connection until it ends.
pub async fn serve(state: AppState, principal: Principal, session: Uuid, socket: WebSocket) {
    let _task = state.tasks.token();
    let _open = state.metrics.socket_opened();
    let mut conn = Conn {
        socket,
        principal,
        session,
        last_sent: 0,
        acked: None,
        order: InOrder::default(),
    };
    let mut entered: Option<(Arc<Room>, Seat)> = None;
    let exit = run(&state, &mut conn, &mut entered).await;
    // Answer the peer first: whatever bookkeeping follows must never keep
    // a closing client waiting. The close handshake is flushed now; the
    // room and presence counts below are in memory (the durable `leave`,
    // if any, is written by the presence grace timer much later).
    match &exit {
        Exit::Close(code, reason) => {
            let _ = tokio::time::timeout(
                SEND_TIMEOUT,
                conn.socket.send(Message::Close(Some(CloseFrame {
                    code: *code,
                    reason: reason.get(crate::i18n::current()).into(),
                }))),
            )
            .await;
        }
        // The peer's close (if it sent one) was answered by the WebSocket
        // layer; flushing sends that answer before anything else happens.
        Exit::Gone => {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                futures_util::SinkExt::flush(&mut conn.socket),
            )
            .await;
        }
    }
    drop(conn.socket);
    if let Some((room, seat)) = entered {
        state.rooms.leave(&room, conn.principal.user.id);
        drop(seat);
    }
    state.metrics.room_socket_closed(match &exit {
        Exit::Close(code, _) => Some(*code),
        Exit::Gone => None,
    });
}

async fn run(state: &AppState, conn: &mut Conn, entered: &mut Option<(Arc<Room>, Seat)>) -> Exit {
    // 1. The join frame.
    let last_seq = match tokio::time::timeout(JOIN_TIMEOUT, conn.socket.recv()).await {
        Err(_) => return Exit::Close(1008, BYE_NO_JOIN),
        Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return Exit::Gone,
        Ok(Some(Ok(Message::Text(t)))) => match serde_json::from_str::<ClientFrame>(&t) {
            Ok(ClientFrame::Join {
                protocol,
                last_seq,
                lang,
            }) if protocol == PROTOCOL_VERSION => {
                // The interface's language, from here on (an unknown tag
                // keeps the upgrade request's).
                if let Some(lang) = lang.as_deref().and_then(crate::i18n::parse_tag) {
                    crate::i18n::set_current(lang);
                }
                last_seq
            }
            Ok(ClientFrame::Join { lang, .. }) => {
                if let Some(lang) = lang.as_deref().and_then(crate::i18n::parse_tag) {
                    crate::i18n::set_current(lang);
                }
                let _ = conn
                    .error(AppError::invalid(
                        "不支持的协议版本，请刷新页面。",
                        "Unsupported protocol version; reload the page.",
                    ))
                    .await;
                return Exit::Close(CLOSE_VERSION, BYE_VERSION);
            }
            Ok(_) => return Exit::Close(1008, BYE_JOIN_FIRST),
            Err(e) => {
                let _ = conn.error(AppError::MalformedJson(e.to_string())).await;
                return Exit::Close(1008, BYE_JOIN_FIRST);
            }
        },
        Ok(Some(Ok(_))) => return Exit::Close(1008, BYE_JOIN_FIRST),
    };

    // 2. A seat, unless this person or this room has too many sockets.
    let seat = match state.presence.admit(conn.session, &author(&conn.principal)) {
        Ok(seat) => seat,
        Err(full) => {
            let _ = conn.send(&ServerFrame::Error(too_many(full))).await;
            return Exit::Close(CLOSE_TOO_MANY, BYE_TOO_MANY);
        }
    };

    // 3. Enter the room: live subscription first, then the log.
    let room = match state
        .rooms
        .enter(&state.bus, conn.session, conn.principal.user.id)
        .await
    {
        Ok((room, _)) => room,
        Err(e) => {
            tracing::warn!(error = %e, "cannot open room");
            let _ = conn
                .error(AppError::Unavailable(Text::new(
                    "暂时无法打开会话室，请稍后重连。",
                    "The room cannot be opened right now; reconnect shortly.",
                )))
                .await;
            return Exit::Close(1011, BYE_STORAGE);
        }
    };
    let mut live = room.subscribe();
    let mut ephemeral = room.subscribe_ephemeral();
    // Media state changes from now on; the snapshot has the state before.
    let mut media_updates = state.media.updates();
    *entered = Some((room, seat));
    // Present on this node (a database write for the first socket of a
    // stretch only; a durable `join` only when the stretch starts).
    if let Some((_, seat)) = entered.as_ref()
        && let Err(e) = seat.arrive().await
    {
        tracing::warn!(error = %e, "cannot record presence");
        return Exit::Close(1011, BYE_STORAGE);
    }
    let snapshot = match snapshot(state, conn.session, conn.principal.user.id).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "snapshot failed");
            return Exit::Close(1011, BYE_STORAGE);
        }
    };
    // A client claiming to be ahead of the log starts from the log's end.
    conn.last_sent = last_seq.min(snapshot.last_seq);
    if let Err(e) = conn.send(&ServerFrame::Snapshot(snapshot)).await {
        return e;
    }
    if let Err(e) = conn.catch_up(state, u64::MAX).await {
        return e;
    }

    // 4. Live.
    let rate = state.config.chat_rate;
    // Chat is limited per person (`Presence::take_chat`); other frames
    // (typing, pings, acks) have room beyond the chat rate.
    let mut frame_bucket = TokenBucket::new(
        rate.saturating_mul(4).saturating_add(40),
        rate.saturating_add(15),
    );
    let mut warned_at = std::time::Instant::now() - Duration::from_secs(10);
    // This connection's messages being stored, answered in order; the loop
    // keeps delivering the room meanwhile.
    let mut inflight: FuturesOrdered<InFlight> = FuturesOrdered::new();
    // The login and the participation were checked at the upgrade; they can
    // end while the socket stays open (deactivation, logout, password
    // reset, removal), so look again now and then. Connections start their
    // rhythm at random offsets so thousands of them do not ask at once.
    let every = Duration::from_millis(state.config.room_recheck_ms.max(1));
    let offset = Duration::from_millis(
        rand_core::RngCore::next_u64(&mut rand_core::OsRng) % state.config.room_recheck_ms.max(1),
    );
    let mut recheck =
        tokio::time::interval_at(tokio::time::Instant::now() + offset.min(every), every);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut active_since_check = false;
    // This connection's media, once it says `media_state`; stopped when
    // dropped (`media_stop`, or however this function returns).
    let mut media: Option<MediaLink> = None;
    let media_key = PeerKey {
        room: conn.session,
        user: conn.principal.user.id,
        conn: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
    };
    // The snapshot's TURN credentials expire: fresh ones before they do.
    let mut ice_renewal = state.config.ice.renew_every().map(|every| {
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    loop {
        tokio::select! {
            biased;
            () = state.shutdown.cancelled() => return Exit::Close(1001, BYE_SHUTDOWN),
            _ = recheck.tick() => {
                if let Some(exit) = recheck_access(state, &conn.principal.token_hash, conn.session, std::mem::take(&mut active_since_check)).await {
                    return exit;
                }
            }
            incoming = conn.socket.recv() => {
                active_since_check = true;
                let text = match incoming {
                    None | Some(Ok(Message::Close(_))) => return Exit::Gone,
                    Some(Err(e)) => {
                        return if is_too_big(&e) {
                            Exit::Close(1009, BYE_TOO_BIG)
                        } else {
                            Exit::Gone
                        };
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => {
                        if let Err(e) = conn.error(AppError::invalid(
                            "只接受 JSON 文本帧。",
                            "Only JSON text frames are accepted.",
                        )).await {
                            return e;
                        }
                        continue;
                    }
                    Some(Ok(Message::Text(t))) => t,
                };
                if !frame_bucket.try_take() {
                    if warned_at.elapsed() >= Duration::from_secs(1) {
                        warned_at = std::time::Instant::now();
                        if let Err(e) = conn.error(AppError::RateLimited { retry_after_s: 1 }).await {
                            return e;
                        }
                    }
                    continue;
                }
                let frame = match serde_json::from_str::<ClientFrame>(&text) {
                    Ok(f) => f,
                    Err(e) => {
                        if let Err(e) = conn.error(AppError::MalformedJson(e.to_string())).await {
                            return e;
                        }
                        continue;
                    }
                };
                let result = match frame {
                    ClientFrame::Chat { client_id, text } => {
                        if !state.presence.take_chat(conn.principal.user.id) {
                            conn.error(AppError::RateLimited { retry_after_s: 1 }).await
                        } else {
                            // Bounded: a client cannot pile up unanswered appends.
                            if inflight.len() >= MAX_INFLIGHT
                                && let Some((cid, r)) = inflight.next().await
                                && let Err(e) = answer(conn, cid, r).await
                            {
                                return e;
                            }
                            match chat(state, conn, client_id, text).await {
                                Ok(Some((cid, pending))) => {
                                    inflight.push_back(Box::pin(async move { (cid, pending.await) }));
                                    Ok(())
                                }
                                Ok(None) => Ok(()),
                                Err(e) => Err(e),
                            }
                        }
                    }
                    ClientFrame::Typing => {
                        state.rooms.publish_ephemeral(&state.bus, conn.session, Ephemeral {
                            author: author(&conn.principal),
                            body: EphemeralBody::Typing,
                        });
                        Ok(())
                    }
                    ClientFrame::Ping(ping) => {
                        let t1 = clock::now_ms();
                        if ping.t0.is_finite() {
                            conn.send(&ServerFrame::Pong(TimePong { id: ping.id, t0: ping.t0, t1, t2: clock::now_ms() })).await
                        } else {
                            conn.error(AppError::invalid("t0 必须是有限数值。", "t0 must be a finite number.")).await
                        }
                    }
                    ClientFrame::Ack { seq } => {
                        conn.acked = Some(seq.min(conn.last_sent));
                        Ok(())
                    }
                    ClientFrame::Join { .. } => conn.error(AppError::invalid(
                        "已经加入此会话。",
                        "Already joined; join is only the first frame.",
                    )).await,
                    ClientFrame::MediaState { tracks, receive_video } => {
                        let link = media.get_or_insert_with(|| MediaLink::start(state.media.clone(), media_key));
                        link.signal(Inbound::State { tracks, receive_video });
                        Ok(())
                    }
                    ClientFrame::MediaStop => {
                        if media.take().is_some() {
                            conn.send(&ServerFrame::MediaClosed { reason: "media_stop".into() }).await
                        } else {
                            Ok(())
                        }
                    }
                    ClientFrame::MediaOffer { sdp } => media_signal(conn, media.as_ref(), Inbound::Offer(sdp)).await,
                    ClientFrame::MediaAnswer { sdp } => media_signal(conn, media.as_ref(), Inbound::Answer(sdp)).await,
                    ClientFrame::MediaCandidate { candidate } => media_signal(conn, media.as_ref(), Inbound::Candidate(candidate)).await,
                    ClientFrame::MediaLink { mode, quality } => media_signal(conn, media.as_ref(), Inbound::Link { mode, quality }).await,
                    // The room hears the outcome as an event; only a refusal
                    // is this connection's alone.
                    ClientFrame::RecordingStart => match crate::recording::control::start(state, &conn.principal, conn.session).await {
                        Ok(_) => Ok(()),
                        Err(e) => conn.error(e).await,
                    },
                    ClientFrame::RecordingStop => match crate::recording::control::stop(state, &conn.principal, conn.session).await {
                        Ok(_) => Ok(()),
                        Err(e) => conn.error(e).await,
                    },
                };
                if let Err(e) = result {
                    return e;
                }
            }
            received = live.recv() => match received {
                Ok(out) => {
                    if let Err(e) = forward(state, conn, &mut live, out).await {
                        return e;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    return Exit::Close(CLOSE_RESUME, BYE_BEHIND);
                }
                Err(RecvError::Closed) => return Exit::Close(1001, BYE_ROOM_CLOSED),
            },
            Some((cid, result)) = inflight.next(), if !inflight.is_empty() => {
                if let Err(e) = answer(conn, cid, result).await {
                    return e;
                }
            }
            out = recv_media(&mut media) => {
                let result = match out {
                    None => {
                        media = None;
                        Ok(())
                    }
                    Some(Outbound::Offer(sdp)) => conn.send(&ServerFrame::MediaOffer { sdp }).await,
                    Some(Outbound::Answer(sdp)) => conn.send(&ServerFrame::MediaAnswer { sdp }).await,
                    Some(Outbound::Candidate(candidate)) => conn.send(&ServerFrame::MediaCandidate { candidate }).await,
                    Some(Outbound::Refused { zh, en, .. }) => conn.error(AppError::Invalid {
                        message: Text::owned(zh, en),
                        details: Vec::new(),
                    }).await,
                    Some(Outbound::Closed(reason)) => {
                        media = None;
                        conn.send(&ServerFrame::MediaClosed { reason: reason.into() }).await
                    }
                };
                if let Err(e) = result {
                    return e;
                }
            }
            () = renewal(&mut ice_renewal) => {
                let ice = participant_ice(state, conn.principal.user.id);
                if let Err(e) = conn.send(&ServerFrame::MediaIce(ice)).await {
                    return e;
                }
            }
            update = media_updates.recv() => {
                let publishers = match update {
                    Ok(u) if u.room == conn.session => Some((*u.publishers).clone()),
                    Ok(_) | Err(RecvError::Closed) => None,
                    // Missed some: the state now is all that matters.
                    Err(RecvError::Lagged(_)) => Some(state.media.publishers(conn.session)),
                };
                if let Some(publishers) = publishers
                    && let Err(e) = conn.send(&ServerFrame::MediaState { publishers }).await
                {
                    return e;
                }
            }
            received = ephemeral.recv() => {
                if let Ok(e) = received
                    && e.author.id != conn.principal.user.id
                    && let Err(e) = conn.send(&ServerFrame::Ephemeral((*e).clone())).await
                {
                    return e;
                }
            }
        }
    }
}

/// Write `first` and the live events already waiting behind it (at most
/// [`FORWARD_BURST`]), then flush once: a room whose events arrive
/// together (the batch writer publishes a session's events of one group at
/// once) costs its connections one wake-up and one socket write, not one
/// per event. Events already sent are skipped; a gap is read from the log
/// first.
async fn forward(
    state: &AppState,
    conn: &mut Conn,
    live: &mut broadcast::Receiver<Arc<Outgoing>>,
    first: Arc<Outgoing>,
) -> Result<(), Exit> {
    let mut next = Some(first);
    let mut fed = 0;
    while let Some(out) = next.take() {
        let seq = out.event.seq;
        if seq > conn.last_sent {
            if seq > conn.last_sent + 1 {
                // Sends (and flushes) after what is fed: the order holds.
                conn.catch_up(state, seq - 1).await?;
            }
            conn.feed_text(out.frame.clone()).await?;
            state.metrics.observe_fanout(out.event.at);
            conn.last_sent = seq;
            fed += 1;
            if conn
                .acked
                .is_some_and(|a| conn.last_sent.saturating_sub(a) > MAX_UNACKED)
            {
                return Err(Exit::Close(CLOSE_RESUME, BYE_BEHIND));
            }
        }
        if fed >= FORWARD_BURST {
            break;
        }
        next = match live.try_recv() {
            Ok(o) => Some(o),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Lagged(_)) => return Err(Exit::Close(CLOSE_RESUME, BYE_BEHIND)),
            // The next `recv` says so; what is fed goes out first.
            Err(TryRecvError::Closed) => None,
        };
    }
    conn.flush().await
}

/// The next signal for this connection's media; never, without media.
async fn recv_media(media: &mut Option<MediaLink>) -> Option<Outbound> {
    match media {
        Some(link) => link.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Pass signalling to the connection's media, or say it has none.
async fn media_signal(
    conn: &mut Conn,
    media: Option<&MediaLink>,
    msg: Inbound,
) -> Result<(), Exit> {
    match media {
        Some(link) => {
            link.signal(msg);
            Ok(())
        }
        None => {
            conn.error(AppError::invalid(
                "音视频尚未开始：请先发送 media_state。",
                "Media has not started: send media_state first.",
            ))
            .await
        }
    }
}

/// Whether the connection may go on: `Some(exit)` closes it with 4002 when
/// the login ended (logout, expiry, reset, deactivation) and 4001 when the
/// person no longer takes part. A connection in use keeps its login alive,
/// as HTTP requests do, and like them never past its absolute lifetime.
async fn recheck_access(
    state: &AppState,
    token_hash: &[u8; 32],
    session: Uuid,
    active: bool,
) -> Option<Exit> {
    match state.store.room_access(token_hash, session).await {
        Ok(RoomAccess::Allowed {
            last_seen_at,
            created_at,
        }) => {
            let now = clock::now();
            if active && now - last_seen_at > time::Duration::minutes(1) {
                let until = crate::auth::principal::extended_expiry(now, created_at);
                if let Err(e) = state.store.touch_auth_session(token_hash, until).await {
                    tracing::warn!(error = %e, "cannot extend the login of a room connection");
                }
            }
            None
        }
        Ok(RoomAccess::LoginEnded) => Some(Exit::Close(CLOSE_UNAUTHENTICATED, BYE_LOGIN_ENDED)),
        Ok(RoomAccess::NotTakingPart) => Some(Exit::Close(CLOSE_GONE, BYE_GONE)),
        // A database hiccup is no reason to drop a person: ask next time.
        Err(e) => {
            tracing::warn!(error = %e, "cannot re-check a room connection's access");
            None
        }
    }
}

/// Validate and submit a chat line; the answer arrives later (see `answer`).
async fn chat(
    state: &AppState,
    conn: &mut Conn,
    client_id: String,
    text: String,
) -> Result<Option<(String, Pending)>, Exit> {
    let trimmed = text.trim();
    if client_id.is_empty() || client_id.chars().count() > 64 {
        conn.error(AppError::invalid(
            "client_id 应为 1–64 个字符。",
            "client_id must be 1–64 characters.",
        ))
        .await?;
        return Ok(None);
    }
    if trimmed.is_empty() || trimmed.chars().count() > MAX_CHAT_CHARS {
        conn.error(AppError::Invalid {
            message: Text::owned(
                format!("消息不能为空，且不超过 {MAX_CHAT_CHARS} 个字符。"),
                format!("A message must be 1–{MAX_CHAT_CHARS} characters."),
            ),
            details: Vec::new(),
        })
        .await?;
        return Ok(None);
    }
    let submitted = state
        .log
        .submit_in_order(
            Append {
                session: conn.session,
                author: Some(author(&conn.principal)),
                client_id: Some(client_id.clone()),
                body: EventBody::Chat {
                    text: trimmed.to_owned(),
                },
            },
            &conn.order,
        )
        .await;
    match submitted {
        Ok(pending) => Ok(Some((client_id, pending))),
        Err(e) => {
            answer(conn, client_id, Err(e)).await?;
            Ok(None)
        }
    }
}

/// Tell the client what became of its message.
async fn answer(
    conn: &mut Conn,
    client_id: String,
    result: Result<Appended, AppendError>,
) -> Result<(), Exit> {
    match result {
        Ok(a) => {
            let seq = a.event().seq;
            if let Appended::Duplicate(_) = a {
                tracing::debug!(seq, "duplicate client message ignored");
            }
            conn.send(&ServerFrame::Accepted { client_id, seq }).await
        }
        Err(AppendError::Ended) => {
            conn.error(AppError::ForbiddenBecause(Text::new(
                "会话已结束，记录为只读。",
                "The session has ended; its record is read-only.",
            )))
            .await
        }
        Err(e) => {
            if !matches!(e, AppendError::EarlierFailed) {
                tracing::warn!(error = %e, "append failed");
            }
            conn.error(AppError::Unavailable(Text::new(
                "消息暂未保存，请稍后重发。",
                "The message was not stored; send it again shortly.",
            )))
            .await?;
            // Nothing this connection sends from now on is stored (see
            // `InOrder`): the client resumes on a new connection and sends
            // the unsaved messages again, in order.
            Err(Exit::Close(1011, BYE_STORAGE))
        }
    }
}

/// The error frame before close 4004.
fn too_many(full: Full) -> ErrorBody {
    let text = match full {
        Full::PersonInRoom(n) => Text::owned(
            format!("您在此会话中已打开 {n} 个连接，请先关闭其他标签页。"),
            format!("You already have {n} connections to this session; close another tab first."),
        ),
        Full::Person(n) => Text::owned(
            format!("您已打开 {n} 个会话连接，请先关闭其他标签页。"),
            format!("You already have {n} session connections open; close another tab first."),
        ),
        Full::Room(n) => Text::owned(
            format!("此会话已有 {n} 个连接，已满，请稍后再试。"),
            format!("This session is full ({n} connections); try again later."),
        ),
    };
    let mut body = AppError::RateLimited { retry_after_s: 10 }.body();
    body.message = text.get(crate::i18n::current()).to_owned();
    body
}

async fn snapshot(state: &AppState, session_id: Uuid, you: Uuid) -> Result<Snapshot, sqlx::Error> {
    let session = state.store.get_live_session(session_id).await?;
    let participants = state.store.session_participants(session_id).await?;
    Ok(Snapshot {
        protocol: PROTOCOL_VERSION,
        last_seq: session.info.last_seq,
        session: session.info,
        participants,
        you,
        server_time_ms: clock::now_ms(),
        media: state.media.publishers(session_id),
        ice: participant_ice(state, you),
        recording: state.store.recording_now(session_id).await?,
    })
}

/// ICE servers and fresh TURN credentials for participant `you` (only a
/// participant's socket gets this far).
fn participant_ice(state: &AppState, you: Uuid) -> MediaIce {
    let now_s = u64::try_from(clock::now().unix_timestamp()).unwrap_or(0);
    state.config.ice.for_participant(you, now_s)
}

/// The next renewal of the connection's TURN credentials; never, when
/// nothing expires.
async fn renewal(every: &mut Option<tokio::time::Interval>) {
    match every {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn is_too_big(e: &axum::Error) -> bool {
    let text = format!("{e:?}");
    text.contains("Capacity") || text.contains("too long") || text.contains("TooLong")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit_a_close_frame_in_both_languages() {
        for reason in [
            BYE_SEND_TIMEOUT,
            BYE_STORAGE,
            BYE_NO_JOIN,
            BYE_VERSION,
            BYE_JOIN_FIRST,
            BYE_TOO_MANY,
            BYE_SHUTDOWN,
            BYE_TOO_BIG,
            BYE_BEHIND,
            BYE_ROOM_CLOSED,
            BYE_LOGIN_ENDED,
            BYE_GONE,
        ] {
            for lang in [crate::i18n::Lang::Zh, crate::i18n::Lang::En] {
                let text = reason.get(lang);
                assert!(!text.is_empty() && text.len() <= 123, "{text:?}");
            }
            assert_ne!(reason.zh, reason.en);
        }
    }
}
