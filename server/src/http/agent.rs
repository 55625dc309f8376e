//! The endpoints instrument agents call with their device token
//! (`Authorization: Bearer <token>`): the agent socket and the plain HTTP
//! upload of a batch. Both store through `crate::devices::ingest`; the
//! exchange is docs/AGENT.md and `jiliang_protocol::devices`.

use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use jiliang_protocol::devices::{BatchAck, MAX_AGENT_FRAME_BYTES, ReadingsBatch};
use jiliang_protocol::{ErrorBody, FieldError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::token::{hash_token, looks_like_token};
use crate::devices::ingest::{self, Refused};
use crate::error::{AppError, AppJson, AppResult};
use crate::i18n::Text;
use crate::state::AppState;
use crate::store::devices::StoredDevice;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(agent_socket))
        .routes(routes!(upload_readings))
}

fn refused_token() -> AppError {
    AppError::UnauthenticatedBecause(Text::new(
        "设备令牌无效或已被撤销，请向实验室管理员索取新令牌。",
        "The device token is unknown or revoked; ask the lab's administrator for a new one.",
    ))
}

/// The device named by the request's bearer token, with the token's hash;
/// 401 when the token is missing, unknown or revoked, 403 when the lab is
/// deactivated. An extractor of the request head, so a request without a
/// valid token is refused before its body is read.
pub struct AgentAuth {
    pub device: StoredDevice,
    pub token_hash: [u8; 32],
}

impl<S> FromRequestParts<S> for AgentAuth
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| looks_like_token(t))
            .ok_or_else(refused_token)?;
        let token_hash = hash_token(token);
        let device = state
            .store
            .device_by_token(&token_hash)
            .await?
            .ok_or_else(refused_token)?;
        if !state.store.in_service(&device.lab_path).await? {
            return Err(AppError::ForbiddenBecause(Text::new(
                "该设备所属实验室已停用。",
                "The device's lab is deactivated.",
            )));
        }
        Ok(Self { device, token_hash })
    }
}

/// The agent socket (WebSocket), authenticated by the device token.
#[utoipa::path(get, path = "/api/v1/agent/ws", tag = "devices", responses(
    (status = 101, description = "Switching to the agent protocol"),
    (status = 401, body = ErrorBody, description = "The device token is missing, unknown or revoked"),
    (status = 403, body = ErrorBody, description = "The device's lab is deactivated"),
    (status = 426, body = ErrorBody, description = "Not a WebSocket upgrade")))]
async fn agent_socket(
    State(state): State<AppState>,
    AgentAuth { device, token_hash }: AgentAuth,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    let ws = ws.map_err(|_| AppError::UpgradeRequired)?;
    Ok(ws
        .read_buffer_size(8 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(MAX_AGENT_FRAME_BYTES)
        .max_frame_size(MAX_AGENT_FRAME_BYTES)
        .on_upgrade(move |socket| {
            crate::devices::socket::serve(state, device.device, token_hash, socket)
        })
        .into_response())
}

/// Upload one batch of readings without a socket (simple clients): the
/// same rules as a `readings` frame. 200 once every reading is durably
/// stored (resends count as duplicates); 422 refuses the whole batch,
/// naming the first offending reading.
#[utoipa::path(post, path = "/api/v1/agent/readings", tag = "devices", request_body = ReadingsBatch, responses(
    (status = 200, body = BatchAck), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn upload_readings(
    State(state): State<AppState>,
    AgentAuth { device, token_hash }: AgentAuth,
    AppJson(batch): AppJson<ReadingsBatch>,
) -> AppResult<axum::Json<BatchAck>> {
    match ingest::agent_batch(&state, &device.device, &token_hash, &batch.readings).await {
        Ok(ack) => Ok(axum::Json(ack)),
        Err(Refused::Invalid {
            seq,
            index,
            message,
        }) => {
            tracing::warn!(device = %device.device.id, seq, %message, "uploaded batch refused");
            Err(AppError::Invalid {
                message: Text::owned(
                    format!("读数被拒收：{message}"),
                    format!("Readings refused: {message}"),
                ),
                details: vec![FieldError {
                    field: index
                        .map_or_else(|| "readings".to_owned(), |i| format!("readings[{i}]")),
                    message,
                }],
            })
        }
        Err(Refused::TokenInvalid) => Err(refused_token()),
        Err(Refused::Unavailable(e)) => {
            tracing::error!(device = %device.device.id, error = %e, "cannot store an uploaded batch");
            Err(AppError::Unavailable(Text::new(
                "读数暂时无法保存，请稍后重发。",
                "The readings could not be stored; send them again shortly.",
            )))
        }
    }
}
