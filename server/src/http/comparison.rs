//! A session's comparison of a unit under test against a reference
//! standard: set up, start test points, finish (stored as a ledger record),
//! read, export the readings used. The work is in `crate::comparison`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiliang_ledger::RecordKind;
use jiliang_protocol::ErrorBody;
use jiliang_protocol::comparison::{ComparisonLog, ComparisonSetup, ComparisonView, RecordRef};
use jiliang_protocol::rooms::{Author, EventBody};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Principal;
use crate::authz;
use crate::clock::now;
use crate::comparison::{self, require_live};
use crate::error::{AppError, AppJson, AppPath, AppResult};
use crate::http::sessions::visible;
use crate::i18n::Text;
use crate::ledger::records;
use crate::state::AppState;
use crate::store::comparisons::{Inserted, NewComparison};
use crate::store::rooms::StoredSession;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_comparison, set_up))
        .routes(routes!(start_point))
        .routes(routes!(finish))
        .routes(routes!(readings_csv))
}

fn none_yet() -> AppError {
    AppError::not_found(
        "本会话还没有设置比对。",
        "No comparison has been set up in this session.",
    )
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
    log.view(session).map(axum::Json).ok_or_else(none_yet)
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
    let log = comparison::load(&state, id).await?;
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
    let mut log = comparison::load(&state, id).await?;
    let comparison_id = match log.id() {
        Some(current) if log.finished().is_none() => {
            if log.started() {
                return Err(AppError::Conflict(Text::new(
                    "测试点已开始，比对设置不能再改；请先结束本次比对。",
                    "A test point has started: the settings are fixed. Finish this comparison first.",
                )));
            }
            current
        }
        _ => Uuid::now_v7(),
    };
    let spec = comparison::resolve(&state, id, &req).await?;
    let e = comparison::append(
        &state,
        id,
        author(&p),
        EventBody::ComparisonSetup {
            comparison_id,
            spec: Box::new(spec),
        },
    )
    .await?;
    log.apply(&e);
    tracing::info!(session = %id, comparison = %comparison_id, by = %p.user.id, "comparison set up");
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
    let mut log = comparison::load(&state, id).await?;
    let (Some(comparison_id), Some(spec)) = (log.id(), log.spec()) else {
        return Err(none_yet());
    };
    if log.finished().is_some() {
        return Err(finished_already());
    }
    let points = &spec.calibration.points;
    let Some(&nominal) = usize::try_from(index).ok().and_then(|i| points.get(i)) else {
        return Err(AppError::Invalid {
            message: Text::owned(
                format!(
                    "没有第 {index} 个测试点（共 {} 个，从 0 起编号）。",
                    points.len()
                ),
                format!(
                    "There is no test point {index} (there are {}, numbered from 0).",
                    points.len()
                ),
            ),
            details: Vec::new(),
        });
    };
    let e = comparison::append(
        &state,
        id,
        author(&p),
        EventBody::ComparisonPoint {
            comparison_id,
            index,
            nominal,
        },
    )
    .await?;
    log.apply(&e);
    view(&log, id)
}

fn finished_already() -> AppError {
    AppError::Conflict(Text::new(
        "本次比对已经结束。",
        "This comparison has already been finished.",
    ))
}

/// Finish the comparison (the host): the server folds the log, stores the
/// result as a `raw_record` ledger record (原始记录 with every reading used)
/// and appends `comparison_finished`. Points not complete are recorded as
/// such.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/comparison/finish", tag = "sessions", params(("id" = Uuid, Path)), responses(
    (status = 200, body = ComparisonView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "Already finished, or the session is not live")))]
async fn finish(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<ComparisonView>> {
    runnable(&state, &p, id).await?;
    let mut log = comparison::load(&state, id).await?;
    let Some(comparison_id) = log.id() else {
        return Err(none_yet());
    };
    if log.finished().is_some() {
        return Err(finished_already());
    }
    let by = author(&p);
    let at = now();
    let content = comparison::record::content(id, &log, &by, at)
        .ok_or_else(none_yet)?
        .map_err(AppError::internal)?;
    let record = records::raw_record(comparison_id, at, &content).map_err(AppError::internal)?;
    let text = serde_json::to_string(&content).map_err(AppError::internal)?;
    let verdict = log.fold().verdict();
    let verdict_text = verdict.map(|v| match v {
        jiliang_metrology::conformity::Verdict::Pass => "pass",
        jiliang_metrology::conformity::Verdict::Fail => "fail",
        jiliang_metrology::conformity::Verdict::Indeterminate => "indeterminate",
    });
    let stored = state
        .store
        .insert_comparison(&NewComparison {
            id: comparison_id,
            session_id: id,
            finished_by: p.user.id,
            finished_at: at,
            verdict: verdict_text,
            content: &text,
            record: &record,
        })
        .await?;
    if stored == Inserted::Exists {
        return Err(finished_already());
    }
    let e = comparison::append(
        &state,
        id,
        by,
        EventBody::ComparisonFinished {
            comparison_id,
            record: RecordRef {
                kind: RecordKind::RAW_RECORD.as_str().to_owned(),
                id: comparison_id.to_string(),
            },
            verdict,
            points: log.outcomes(),
        },
    )
    .await?;
    log.apply(&e);
    tracing::info!(session = %id, comparison = %comparison_id, by = %p.user.id, "comparison finished");
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
    let log = comparison::load(&state, id).await?;
    let Some(comparison_id) = log.id() else {
        return Err(none_yet());
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
