//! Request body limits per route: a small one for the JSON forms, a larger
//! one only where a body legitimately grows (reading uploads). A body over
//! the limit is answered 413 `payload_too_large` before it is read when its
//! `Content-Length` says so, and as soon as it passes the limit otherwise
//! (axum's extractors stop reading there).

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::{Layer, ServiceExt};

use crate::error::AppError;
use crate::state::AppState;

/// Routes whose bodies carry batches of readings (up to
/// `jiliang_protocol::devices::MAX_BATCH`): they get `Config::max_body_bytes`.
/// A round's attachments (base64 in JSON, up to
/// `jiliang_protocol::rounds::MAX_ATTACHMENT_BYTES` decoded) too.
pub const UPLOAD_ROUTES: &[&str] = &[
    "/api/v1/devices/{id}/readings",
    "/api/v1/agent/readings",
    "/api/v1/rounds/{id}/results/{lab_id}/attachments",
];

/// The body limit of a route template.
pub fn limit_for(config: &crate::config::Config, route: Option<&str>) -> usize {
    match route {
        Some(r) if UPLOAD_ROUTES.contains(&r) => config.max_body_bytes,
        _ => config.max_json_body_bytes,
    }
}

pub async fn per_route(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = limit_for(
        &state.config,
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return AppError::PayloadTooLarge.into_response();
    }
    // The extension this sets replaces the app-wide backstop, and the body
    // extractors read at most `limit` bytes of a body without a length.
    match DefaultBodyLimit::max(limit).layer(next).oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}
