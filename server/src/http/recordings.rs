//! Recorded sessions: the list of a session's files and each file itself,
//! served with HTTP range requests so a `<video>` can seek (206 with
//! `Content-Range`, `Accept-Ranges: bytes`, 416 for a range outside the
//! file). Whoever may see the session may list and play its recordings.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jiliang_protocol::ErrorBody;
use jiliang_protocol::recordings::{RecordingFile, RecordingStatus};
use tower::ServiceExt;
use tower_http::services::ServeFile;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{AppError, AppPath, AppResult};
use crate::i18n::Text;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(session_recordings))
        .routes(routes!(recording_file))
}

/// A session's recorded files, oldest first (ready ones play; failed ones
/// say why).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/recordings", tag = "sessions", params(("id" = Uuid, Path)), responses(
    (status = 200, body = Vec<RecordingFile>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn session_recordings(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<Vec<RecordingFile>>> {
    crate::http::sessions::visible(&state, &p, id).await?;
    Ok(axum::Json(state.store.session_recording_files(id).await?))
}

/// A recorded file (`video/webm`), with range requests.
#[utoipa::path(get, path = "/api/v1/recordings/{id}/file", tag = "sessions", params(("id" = Uuid, Path),
    ("Range" = Option<String>, Header, description = "`bytes=start-end`: part of the file")), responses(
    (status = 200, description = "The whole WebM file", content_type = "video/webm"),
    (status = 206, description = "The range asked for (`Content-Range`)", content_type = "video/webm"),
    (status = 416, description = "The range lies outside the file"),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn recording_file(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
    req: Request,
) -> AppResult<Response> {
    let not_found = || AppError::NotFound(Text::new("找不到该录像。", "No such recording."));
    let (file, name) = state
        .store
        .recording_file(id)
        .await?
        .ok_or_else(not_found)?;
    crate::http::sessions::visible(&state, &p, file.session_id).await?;
    let name = match (file.status, name) {
        (RecordingStatus::Ready, Some(n)) => n,
        _ => {
            return Err(AppError::Conflict(Text::owned(
                format!(
                    "该录像不可播放：{}",
                    file.reason.as_deref().unwrap_or("未完成")
                ),
                format!(
                    "The recording cannot be played: {}",
                    file.reason.as_deref().unwrap_or("not finished")
                ),
            )));
        }
    };
    let path = state
        .recorder
        .dir()
        .join(file.session_id.to_string())
        .join(name);
    if !path.is_file() {
        tracing::warn!(path = %path.display(), "a ready recording's file is missing");
        return Err(not_found());
    }
    // ServeFile answers ranges (206, 416) and conditional requests; the
    // `.webm` name gives `video/webm`.
    let served = ServeFile::new(&path)
        .oneshot(req)
        .await
        .map_err(AppError::internal)?;
    let mut response = served.into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(response)
}
