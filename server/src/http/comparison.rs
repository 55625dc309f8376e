//! A session's comparison of a unit under test against a reference
//! standard: set up, start test points, finish (stored as a ledger record),
//! read, export the readings used. The work is in `crate::comparison`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiliang_protocol::ErrorBody;
use jiliang_protocol::comparison::{ComparisonLog, ComparisonSetup, ComparisonView};
use jiliang_protocol::rooms::Author;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Principal;
use crate::authz;
use crate::comparison::{self, require_live};
use crate::error::{AppError, AppJson, AppPath, AppResult};
use crate::http::sessions::visible;
use crate::i18n::Text;
use crate::state::AppState;
use crate::store::rooms::StoredSession;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_comparison, set_up))
        .routes(routes!(start_point))
        .routes(routes!(finish))
        .routes(routes!(readings_csv))
}

fn author(p: &Principal) -> Author {
    Author {
        id: p.user.id,
        name: p.user.display_name.clone(),
    }
}

/// The session, if `p` may run its comparison: its host (who answers for
/// the record, as for starting and ending it), while it is live.
async fn runnable(state: &AppState, p: &Principal, id: Uuid) -> AppResult<StoredSession> {
    let (s, _) = visible(state, p, id).await?;
    if !authz::run_comparison(p, s.info.host_id) {
        return Err(AppError::ForbiddenBecause(Text::new(
            "只有主持人可以进行比对。",
            "Only the host can run the comparison.",
        )));
    }
    require_live(s.info.state)?;
    Ok(s)
}

fn view(log: &ComparisonLog, session: Uuid) -> AppResult<axum::Json<ComparisonView>> {
    log.view(session)
        .map(axum::Json)
        .ok_or_else(comparison::none_yet)
}

/// The session's (latest) comparison: settings, current point, per-point
/// results so far (whoever may see the session).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/comparison", tag = "sessions", params(("id" = Uuid, Path)), responses(
    (status = 200, body = ComparisonView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_comparison(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<ComparisonView>> {
    visible(&state, &p, id).await?;
    let log = comparison::load(&state.store, id).await?;
    view(&log, id)
}

/// Set up the comparison (the host, in a live session). Both devices must be
/// attached to the session, measure the same quantity, in units that differ
/// at most by a prefix. May be repeated until the first point starts; after
/// a finish it sets up a new comparison.
#[utoipa::path(put, path = "/api/v1/sessions/{id}/comparison", tag = "sessions", params(("id" = Uuid, Path)),
    request_body = ComparisonSetup, responses(
    (status = 200, body = ComparisonView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "The session is not live, or a point has started"),
    (status = 422, body = ErrorBody, description = "A device not attached, units incompatible, a number out of range")))]
async fn set_up(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<ComparisonSetup>,
) -> AppResult<axum::Json<ComparisonView>> {
    runnable(&state, &p, id).await?;
    let log = comparison::set_up(&state.store, &state, id, author(&p), &req).await?;
    tracing::info!(session = %id, comparison = ?log.id(), by = %p.user.id, "comparison set up");
    view(&log, id)
}

/// Start test point `index` (the host): readings of both devices from now on
/// count for it. Starting a point again collects it afresh.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/comparison/points/{index}/start", tag = "sessions",
    params(("id" = Uuid, Path), ("index" = u32, Path)), responses(
    (status = 200, body = ComparisonView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "No such test point")))]
async fn start_point(
    State(state): State<AppState>,
    p: Principal,
    AppPath((id, index)): AppPath<(Uuid, u32)>,
) -> AppResult<axum::Json<ComparisonView>> {
    runnable(&state, &p, id).await?;
    let log = comparison::start_point(&state.store, &state, id, author(&p), index).await?;
    view(&log, id)
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/comparison/finish", tag = "sessions", params(("id" = Uuid, Path)), responses(
    (status = 200, body = ComparisonView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "Already finished, or the session is not live")))]
async fn finish(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<ComparisonView>> {
    runnable(&state, &p, id).await?;
    let log = comparison::finish(&state.store, &state, id, author(&p)).await?;
    tracing::info!(session = %id, comparison = ?log.id(), by = %p.user.id, "comparison finished");
    view(&log, id)
}

/// Every reading the comparison counted, as CSV (whoever may see the
/// session): `t,point,channel,device_id,seq,value,unit,u_t`.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/comparison/readings.csv", tag = "sessions", params(("id" = Uuid, Path)), responses(
    (status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody)))]
async fn readings_csv(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    visible(&state, &p, id).await?;
    let log = comparison::load(&state.store, id).await?;
    let Some(comparison_id) = log.id() else {
        return Err(comparison::none_yet());
    };
    let body = comparison::csv::readings_csv(&log);
    let disposition = format!("attachment; filename=\"jiliang-comparison-{comparison_id}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
