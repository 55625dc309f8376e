//! UTC time for clients: a plain read, and the clock-synchronisation socket
//! (NTP-style ping/pong, see `jiliang_protocol::timesync`).

use axum::Json;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use jiliang_protocol::ErrorBody;
use jiliang_protocol::timesync::{ServerTime, TimeClientFrame, TimePong, TimeServerFrame};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock;
use crate::error::{AppError, AppResult};
use crate::rooms::ratelimit::TokenBucket;
use crate::state::AppState;

/// Frames on the time socket are tiny; anything larger is abuse.
const MAX_FRAME: usize = 4 * 1024;
/// Pings answered: bursts of 20 (a sync round), then 5 a second — far more
/// than an offset estimate needs, far less than a flood.
const PING_BURST: u32 = 20;
const PING_RATE: u32 = 5;
/// Frames refused in a row before the socket is closed (1008).
const MAX_REFUSED: u32 = 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_time))
        .routes(routes!(time_socket))
}

/// Server UTC time. For an offset estimate use the socket, which measures
/// the round trip.
#[utoipa::path(get, path = "/api/v1/time", tag = "time",
    responses((status = 200, body = ServerTime)))]
async fn get_time() -> Json<ServerTime> {
    let now = time::OffsetDateTime::now_utc();
    Json(ServerTime {
        unix_ms: (now.unix_timestamp_nanos() as f64) / 1e6,
        utc: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        source: clock::source().to_owned(),
    })
}

/// Clock-synchronisation socket: send `{"type":"ping","id":N,"t0":ms}`,
/// receive `{"type":"pong","id":N,"t0","t1","t2"}`.
#[utoipa::path(get, path = "/api/v1/time/ws", tag = "time",
    responses((status = 101, description = "Switching to the WebSocket protocol"),
    (status = 426, body = ErrorBody, description = "Not a WebSocket upgrade")))]
async fn time_socket(
    State(state): State<AppState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    // A plain GET gets the error document like every other route, not
    // axum's text rejection.
    let ws = ws.map_err(|_| AppError::UpgradeRequired)?;
    Ok(ws
        .read_buffer_size(MAX_FRAME)
        .write_buffer_size(0)
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        // The socket task outlives the request, so it carries the request's
        // language with it for its error frames.
        .on_upgrade(move |socket| {
            let lang = crate::i18n::current();
            crate::i18n::scope(lang, serve_socket(state, socket))
        }))
}

/// The socket is public (no login): a client that says nothing for
/// `--time-socket-idle-ms` is closed, so idle sockets cannot pile up, and
/// one that floods it is refused, then closed.
async fn serve_socket(state: AppState, mut socket: WebSocket) {
    let idle = std::time::Duration::from_millis(state.config.time_socket_idle_ms);
    let _task = state.tasks.token();
    let _open = state.metrics.socket_opened();
    let mut pings = TokenBucket::new(PING_BURST, PING_RATE);
    let mut refused = 0;
    loop {
        let msg = tokio::select! {
            () = state.shutdown.cancelled() => {
                let _ = socket.send(Message::Close(Some(CloseFrame {
                    code: close_code::AWAY,
                    reason: "server shutting down".into(),
                }))).await;
                return;
            }
            () = tokio::time::sleep(idle) => {
                close_and_drain(socket, close_code::NORMAL, "idle").await;
                return;
            }
            msg = socket.recv() => msg,
        };
        let t1 = clock::now_ms();
        let reply = match msg {
            Some(Ok(Message::Text(_))) if !pings.try_take() => {
                refused += 1;
                if refused >= MAX_REFUSED {
                    close_and_drain(socket, close_code::POLICY, "too many frames").await;
                    return;
                }
                error_frame(AppError::RateLimited { retry_after_s: 1 })
            }
            Some(Ok(Message::Text(text))) => {
                refused = 0;
                answer(text.as_bytes(), t1)
            }
            Some(Ok(Message::Binary(_))) => error_frame(AppError::invalid(
                "时间同步只接受 JSON 文本帧。",
                "The time socket accepts JSON text frames only.",
            )),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | None => return,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "time socket read failed");
                return;
            }
        };
        let Ok(json) = serde_json::to_string(&reply) else {
            return;
        };
        if socket.send(Message::Text(json.into())).await.is_err() {
            return;
        }
    }
}

/// Sends a close frame, then reads (and drops) what the client still sends
/// until its close answers ours (at most 2 s). Dropping a socket with unread
/// frames makes the kernel reset the connection, and a reset throws away
/// what the client had not read yet — our close frame and the answers
/// before it.
async fn close_and_drain(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(msg)) = socket.recv().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

fn answer(bytes: &[u8], t1: f64) -> TimeServerFrame {
    match serde_json::from_slice::<TimeClientFrame>(bytes) {
        Ok(TimeClientFrame::Ping(ping)) if ping.t0.is_finite() => TimeServerFrame::Pong(TimePong {
            id: ping.id,
            t0: ping.t0,
            t1,
            t2: clock::now_ms(),
        }),
        Ok(TimeClientFrame::Ping(_)) => error_frame(AppError::invalid(
            "t0 必须是有限数值（毫秒）。",
            "t0 must be a finite number of milliseconds.",
        )),
        Err(e) => error_frame(AppError::MalformedJson(e.to_string())),
    }
}

fn error_frame(e: AppError) -> TimeServerFrame {
    let body: ErrorBody = e.body();
    TimeServerFrame::Error(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_are_answered_and_garbage_is_named() {
        match answer(br#"{"type":"ping","id":3,"t0":12.5}"#, 100.0) {
            TimeServerFrame::Pong(p) => {
                assert_eq!((p.id, p.t0, p.t1), (3, 12.5, 100.0));
                assert!(p.t2 >= p.t1);
            }
            other => panic!("expected pong, got {other:?}"),
        }
        match answer(b"{\"type\":\"pong\"}", 1.0) {
            TimeServerFrame::Error(e) => assert_eq!(e.code, "malformed_json"),
            other => panic!("expected error, got {other:?}"),
        }
    }
}
