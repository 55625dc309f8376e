//! One agent connection (`/api/v1/agent/ws`), from upgrade to goodbye.
//!
//! The protocol is `jiliang_protocol::devices` (and docs/AGENT.md); what
//! this side promises:
//! - the token was checked before the upgrade; it is checked again in the
//!   transaction of every batch, every `--room-recheck-ms`, and at once
//!   when it is revoked on this node. A token no longer valid closes the
//!   socket with `CLOSE_TOKEN_REVOKED` (4002);
//! - batches are answered in the order they came, one answer each: `ack`
//!   once every reading of the batch is durable, or `error` when the whole
//!   batch is refused (nothing of it stored). Up to [`READ_AHEAD`] batches
//!   are read and stored while earlier ones wait for their answer (they
//!   join the same group transaction); `pong` goes out at once;
//! - a device attached to a live session has its agent's state (connected,
//!   each status report, disconnected) told to that room as an ephemeral
//!   `device_status` message;
//! - a bad frame gets an `error` frame naming what was wrong; a frame over
//!   `MAX_AGENT_FRAME_BYTES` closes with 1009, a wrong protocol version
//!   with 4003; nothing an agent sends can crash the server or store half a
//!   batch.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use jiliang_protocol::devices::{
    AGENT_PROTOCOL_VERSION, AgentError, AgentFrame, AgentServerFrame, AgentStatus,
    CLOSE_TOKEN_REVOKED, CLOSE_TOO_BIG, CLOSE_VERSION, Device, DeviceReading, MAX_BATCH,
    MAX_TEXT_CHARS, Welcome,
};
use jiliang_protocol::rooms::{Author, Ephemeral, EphemeralBody};
use jiliang_protocol::timesync::TimePong;

use super::ingest::{self, FUTURE_TOLERANCE_S, PAST_TOLERANCE_S, Refused};
use crate::clock;
use crate::state::AppState;

/// An agent must say `hello` within this time.
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
/// An agent sends a status every 5 s and pings every 15 s: one silent this
/// long is gone (a cut cable leaves the TCP connection open for minutes).
const SILENCE: Duration = Duration::from_secs(90);
/// A frame the agent does not read within this time ends the connection.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames read ahead of their answers: the agent's window
/// (`jiliang_agent::uplink::WINDOW`, docs/AGENT.md).
const READ_AHEAD: usize = 4;

/// An answer being prepared: the frame to send, or how the connection ends.
type Answer<'a> = Pin<Box<dyn Future<Output = Result<AgentServerFrame, Exit>> + Send + 'a>>;

enum Exit {
    Gone,
    Close(u16, &'static str),
}

struct Conn {
    socket: WebSocket,
    device: Device,
    token_hash: [u8; 32],
}

impl Conn {
    async fn send(&mut self, frame: &AgentServerFrame) -> Result<(), Exit> {
        let text = serde_json::to_string(frame).map_err(|_| Exit::Gone)?;
        match tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Text(text.into()))).await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Exit::Gone),
            Err(_) => Err(Exit::Close(1008, "send timed out")),
        }
    }

    async fn error(&mut self, code: &str, message: String, seq: Option<u64>) -> Result<(), Exit> {
        self.send(&error_frame(code, message, seq)).await
    }
}

/// Serve one upgraded agent connection of `device` until it ends.
pub async fn serve(state: AppState, device: Device, token_hash: [u8; 32], socket: WebSocket) {
    let _task = state.tasks.token();
    let _open = state.metrics.socket_opened();
    let link = state.device_links.open(device.id);
    let mut conn = Conn {
        socket,
        device,
        token_hash,
    };
    let exit = run(&state, &mut conn, &link.revoked).await;
    tell_room(&state, &conn.device, false, None).await;
    if let Exit::Close(code, reason) = exit {
        tracing::info!(device = %conn.device.id, code, reason, "agent connection closed");
        let _ = conn
            .socket
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
    } else {
        tracing::info!(device = %conn.device.id, "agent went away");
    }
}

async fn run(
    state: &AppState,
    conn: &mut Conn,
    revoked: &tokio_util::sync::CancellationToken,
) -> Exit {
    // 1. hello → welcome.
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, conn.socket.recv()).await {
        Err(_) => return Exit::Close(1008, "expected a hello frame"),
        Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return Exit::Gone,
        Ok(Some(Ok(Message::Text(t)))) => match serde_json::from_str::<AgentFrame>(&t) {
            Ok(AgentFrame::Hello(h)) => h,
            Ok(_) => {
                let _ = conn
                    .error(
                        "invalid_input",
                        "the first frame must be hello".into(),
                        None,
                    )
                    .await;
                return Exit::Close(1008, "the first frame must be hello");
            }
            Err(e) => {
                let _ = conn
                    .error("malformed_json", format!("unreadable hello: {e}"), None)
                    .await;
                return Exit::Close(1008, "the first frame must be hello");
            }
        },
        Ok(Some(Ok(_))) => return Exit::Close(1008, "the first frame must be hello"),
    };
    if hello.protocol != AGENT_PROTOCOL_VERSION {
        let _ = conn
            .error(
                "invalid_input",
                format!(
                    "agent protocol {} is not spoken here; this server speaks {AGENT_PROTOCOL_VERSION}",
                    hello.protocol
                ),
                None,
            )
            .await;
        return Exit::Close(CLOSE_VERSION, "unsupported agent protocol version");
    }
    let last_seq = match state
        .store
        .agent_connected(conn.device.id, &conn.token_hash)
        .await
    {
        Ok(Some(l)) => l,
        Ok(None) => return Exit::Close(CLOSE_TOKEN_REVOKED, "the device token was revoked"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot register an agent connection");
            return Exit::Close(1011, "storage unavailable; reconnect shortly");
        }
    };
    tracing::info!(
        device = %conn.device.id, name = %conn.device.name, agent = %clip(&hello.agent),
        driver = hello.driver.as_str(), idn = %clip(hello.idn.as_deref().unwrap_or("")), last_seq,
        "agent connected"
    );
    let welcome = AgentServerFrame::Welcome(Welcome {
        device_id: conn.device.id,
        lab_id: conn.device.lab_id,
        name: conn.device.name.clone(),
        quantity: conn.device.quantity.clone(),
        unit: conn.device.unit.clone(),
        last_seq,
        max_batch: u32::try_from(MAX_BATCH).unwrap_or(u32::MAX),
        future_tolerance_s: FUTURE_TOLERANCE_S,
        past_tolerance_s: PAST_TOLERANCE_S,
    });
    if let Err(e) = conn.send(&welcome).await {
        return e;
    }
    let _connected = state.metrics.agent_connected();
    tell_room(state, &conn.device, true, None).await;

    // 2. Frames until the end.
    let every = Duration::from_millis(state.config.room_recheck_ms.max(1));
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut status: Option<AgentStatus> = None;
    // Answers owed, in the order their frames came. A batch goes to the
    // writer as soon as it is read, not after the previous one's answer:
    // an agent's whole window then joins one group transaction instead of
    // one group each, which made a reading wait for as many groups as the
    // agent had batches in flight (docs/BENCHMARKS.md, issue 10).
    let mut answers: FuturesOrdered<Answer<'_>> = FuturesOrdered::new();
    loop {
        let incoming = tokio::select! {
            biased;
            () = state.shutdown.cancelled() => return Exit::Close(1001, "server shutting down"),
            () = revoked.cancelled() => return Exit::Close(CLOSE_TOKEN_REVOKED, "the device token was revoked"),
            Some(answer) = answers.next(), if !answers.is_empty() => {
                match answer {
                    Ok(frame) => {
                        if let Err(e) = conn.send(&frame).await {
                            return e;
                        }
                    }
                    Err(exit) => return exit,
                }
                continue;
            }
            _ = recheck.tick() => {
                match state.store.device_token_valid(conn.device.id, &conn.token_hash).await {
                    Ok(true) => {}
                    Ok(false) => return Exit::Close(CLOSE_TOKEN_REVOKED, "the device token was revoked"),
                    // A database hiccup is no reason to drop an agent.
                    Err(e) => tracing::warn!(error = %e, "cannot re-check an agent's token"),
                }
                continue;
            }
            // Beyond the window a client stops being read (TCP holds the
            // rest back), so one connection holds at most that many
            // batches in memory.
            r = tokio::time::timeout(SILENCE, conn.socket.recv()), if answers.len() < READ_AHEAD => match r {
                Err(_) => return Exit::Close(1001, "nothing from the agent for 90 s"),
                Ok(m) => m,
            },
        };
        let text = match incoming {
            None | Some(Ok(Message::Close(_))) => return Exit::Gone,
            Some(Err(e)) => {
                return if is_too_big(&e) {
                    Exit::Close(CLOSE_TOO_BIG, "frame larger than 512 KiB")
                } else {
                    Exit::Gone
                };
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Binary(_))) => {
                answers.push_back(answered(error_frame(
                    "invalid_input",
                    "only JSON text frames are accepted".into(),
                    None,
                )));
                continue;
            }
            Some(Ok(Message::Text(t))) => t,
        };
        let frame = match serde_json::from_str::<AgentFrame>(&text) {
            Ok(f) => f,
            Err(e) => {
                // A readings frame that does not parse is a batch refused
                // as invalid (the agent narrows it down to the reading to
                // blame); anything else is a protocol error.
                let code = if is_readings_frame(&text) {
                    tracing::warn!(device = %conn.device.id, error = %e, "unreadable readings frame refused");
                    state.metrics.batch_refused("invalid");
                    "invalid_input"
                } else {
                    "malformed_json"
                };
                answers.push_back(answered(error_frame(
                    code,
                    format!("unreadable frame: {e}"),
                    None,
                )));
                continue;
            }
        };
        match frame {
            AgentFrame::Readings(batch) => {
                let device = conn.device.clone();
                let token_hash = conn.token_hash;
                answers.push_back(Box::pin(async move {
                    batch_answer(state, &device, &token_hash, &batch.readings).await
                }));
            }
            AgentFrame::Ping(ping) => {
                // Answered at once, not behind the batches being stored:
                // t1 and t2 must be when the pong leaves, and the agent
                // matches pongs by id, not by order.
                let t1 = clock::now_ms();
                let sent = if ping.t0.is_finite() {
                    conn.send(&AgentServerFrame::Pong(TimePong {
                        id: ping.id,
                        t0: ping.t0,
                        t1,
                        t2: clock::now_ms(),
                    }))
                    .await
                } else {
                    conn.error("invalid_input", "t0 must be a finite number".into(), None)
                        .await
                };
                if let Err(e) = sent {
                    return e;
                }
            }
            AgentFrame::Status(s) => {
                note_status(&conn.device, status.as_ref(), &s);
                tell_room(state, &conn.device, true, Some(s.clone())).await;
                status = Some(s);
            }
            AgentFrame::Hello(_) => {
                answers.push_back(answered(error_frame(
                    "invalid_input",
                    "already welcomed; hello is only the first frame".into(),
                    None,
                )));
            }
        }
    }
}

/// The answer to a batch: stored (and its room events delivered) or
/// refused; a revoked token ends the connection.
async fn batch_answer(
    state: &AppState,
    device: &Device,
    token_hash: &[u8; 32],
    readings: &[DeviceReading],
) -> Result<AgentServerFrame, Exit> {
    match ingest::agent_batch(state, device, token_hash, readings).await {
        Ok(ack) => Ok(AgentServerFrame::Ack(ack)),
        Err(Refused::Invalid { seq, message, .. }) => {
            tracing::warn!(device = %device.id, seq, %message, "batch refused");
            Ok(error_frame("invalid_input", message, seq))
        }
        Err(Refused::TokenInvalid) => Err(Exit::Close(
            CLOSE_TOKEN_REVOKED,
            "the device token was revoked",
        )),
        Err(Refused::Unavailable(e)) => {
            tracing::error!(device = %device.id, error = %e, "cannot store a batch");
            Ok(error_frame(
                "unavailable",
                "the readings could not be stored; send them again".into(),
                None,
            ))
        }
    }
}

fn error_frame(code: &str, message: String, seq: Option<u64>) -> AgentServerFrame {
    AgentServerFrame::Error(AgentError {
        code: code.to_owned(),
        message,
        seq,
    })
}

/// An answer known now; it still waits its turn behind the batches before
/// it (the agent pairs each `error` with its oldest unanswered batch).
fn answered<'a>(frame: AgentServerFrame) -> Answer<'a> {
    Box::pin(std::future::ready(Ok(frame)))
}

/// Tell the live session the device is attached to (if any) how its agent
/// stands: an ephemeral message, not stored (the next status replaces it).
/// The attachment is looked up each time, as it may change while the
/// agent stays connected.
async fn tell_room(
    state: &AppState,
    device: &Device,
    connected: bool,
    status: Option<AgentStatus>,
) {
    let session = match state.store.device_live_session(device.id).await {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            tracing::debug!(error = %e, "cannot look up the device's session");
            return;
        }
    };
    state.rooms.publish_ephemeral(
        &state.bus,
        session,
        Ephemeral {
            author: Author {
                id: device.id,
                name: device.name.clone(),
            },
            body: EphemeralBody::DeviceStatus {
                device_id: device.id,
                connected,
                status,
            },
        },
    );
}

/// Log what changed in an agent's state: a fault starting, changing kind
/// or ending, and readings quarantined (refused and kept by the agent).
fn note_status(device: &Device, before: Option<&AgentStatus>, now: &AgentStatus) {
    let before_fault = before.and_then(|b| b.fault.as_ref()).map(|f| f.kind);
    match (&now.fault, before_fault) {
        (Some(f), prev) if prev != Some(f.kind) => tracing::warn!(
            device = %device.id, name = %device.name, fault = f.kind.as_str(), message = %clip(&f.message),
            "instrument fault reported by its agent"
        ),
        (None, Some(prev)) => tracing::info!(
            device = %device.id, name = %device.name, fault = prev.as_str(),
            "instrument fault ended"
        ),
        _ => {}
    }
    if now.quarantined > before.map_or(0, |b| b.quarantined) {
        tracing::warn!(
            device = %device.id, quarantined = now.quarantined,
            "the agent holds readings this server refused (quarantine.jsonl in its queue directory)"
        );
    }
}

/// At most [`MAX_TEXT_CHARS`] of what an agent says, for the logs.
fn clip(s: &str) -> String {
    s.chars()
        .take(MAX_TEXT_CHARS)
        .filter(|c| !c.is_control())
        .collect()
}

fn is_readings_frame(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .is_some_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("readings"))
}

/// The WebSocket library's "message too long" (capacity) error, as the
/// room socket recognises it.
fn is_too_big(e: &axum::Error) -> bool {
    let text = format!("{e:?}");
    text.contains("Capacity") || text.contains("too long") || text.contains("TooLong")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_frames_are_recognised_even_when_they_do_not_parse() {
        assert!(is_readings_frame(
            r#"{"type":"readings","readings":[{"seq":1,"value":"twelve"}]}"#
        ));
        assert!(!is_readings_frame(r#"{"type":"status"}"#));
        assert!(!is_readings_frame("not json"));
    }
}
