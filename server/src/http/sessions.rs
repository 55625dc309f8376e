//! Live sessions: schedule, list, read, start, end, the stored timeline, and
//! the room socket.

use axum::extract::State;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiliang_protocol::ErrorBody;
use jiliang_protocol::rooms::{EventBody, MAX_FRAME_BYTES};
use jiliang_protocol::sessions::{
    EventsPage, EventsParams, NewSessionRequest, SessionDetail, SessionInfo, SessionKind,
    SessionListParams, SessionState,
};
use time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Principal;
use crate::authz;
use crate::clock::now;
use crate::error::{AppError, AppJson, AppPath, AppQuery, AppResult};
use crate::http::institutions::checked;
use crate::i18n::Text;
use crate::rooms::log::{Append, AppendError};
use crate::state::AppState;
use crate::store::rooms::{NewSession, SessionQuery, StoredSession};
use crate::validate::{self, Problems};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions, create_session))
        .routes(routes!(get_session))
        .routes(routes!(start_session))
        .routes(routes!(end_session))
        .routes(routes!(session_events))
        .routes(routes!(room_socket))
}

fn session_not_found() -> Text {
    Text::new("找不到该会话。", "No such session.")
}

/// How the caller relates to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Takes part (named, or works in one of its labs).
    Member,
    /// Oversees it (admin/expert above its host or labs).
    Overseer,
}

/// Load a session the caller may see, and how they relate to it.
pub async fn visible(
    state: &AppState,
    p: &Principal,
    id: Uuid,
) -> AppResult<(StoredSession, Relation)> {
    let session = match state.store.get_live_session(id).await {
        Ok(s) => s,
        Err(sqlx::Error::RowNotFound) => return Err(AppError::NotFound(session_not_found())),
        Err(e) => return Err(e.into()),
    };
    if state
        .store
        .is_session_member(id, p.user.id, p.institution.id)
        .await?
    {
        return Ok((session, Relation::Member));
    }
    let touches = state.store.session_touches_subtree(id, &p.path).await?;
    let in_directory = session.host_institution_path.starts_with(&p.directory)
        || state
            .store
            .session_touches_subtree(id, &p.directory)
            .await?;
    authz::oversee_session(p, &session.host_institution_path, touches, in_directory)
        .require(session_not_found())?;
    Ok((session, Relation::Overseer))
}

fn can_manage(p: &Principal, s: &StoredSession) -> bool {
    authz::run_session(p, s.info.host_id)
}

async fn detail(state: &AppState, p: &Principal, s: StoredSession) -> AppResult<SessionDetail> {
    let participants = state.store.session_participants(s.info.id).await?;
    Ok(SessionDetail {
        can_manage: can_manage(p, &s),
        session: s.info,
        participants,
    })
}

/// Sessions the caller takes part in, and — for admins and experts — those
/// of their subtree; newest start first.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", params(SessionListParams), responses(
    (status = 200, body = Vec<SessionInfo>), (status = 401, body = ErrorBody)))]
async fn list_sessions(
    State(state): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<SessionListParams>,
) -> AppResult<axum::Json<Vec<SessionInfo>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid(
            "limit 应在 1–500 之间。",
            "limit must be 1–500.",
        ));
    }
    let list = state
        .store
        .list_live_sessions(&SessionQuery {
            user_id: p.user.id,
            institution_id: p.institution.id,
            oversight_path: authz::may_host(&p).then(|| p.path.clone()),
            state: q.state,
            from: q.from,
            to: q.to,
            limit,
        })
        .await?;
    Ok(axum::Json(list))
}

/// Schedule a session with one or more labs (admins and experts, for labs
/// in their subtree).
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", request_body = NewSessionRequest, responses(
    (status = 201, body = SessionDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
async fn create_session(
    State(state): State<AppState>,
    p: Principal,
    AppJson(req): AppJson<NewSessionRequest>,
) -> AppResult<(StatusCode, axum::Json<SessionDetail>)> {
    if !authz::may_host(&p) {
        return Err(AppError::Forbidden);
    }
    let mut problems = Problems::new();
    let title = problems.take("title", bounded("标题", "The title", &req.title, 1, 120));
    let description = problems.take("description", validate::free_text(&req.description, 2000));
    if !(5..=720).contains(&req.duration_minutes) {
        problems.add(
            "duration_minutes",
            Text::new(
                "时长应为 5–720 分钟。",
                "The duration must be 5–720 minutes.",
            ),
        );
    }
    let now = now();
    if req.scheduled_start < now - Duration::days(1)
        || req.scheduled_start > now + Duration::days(366)
    {
        problems.add(
            "scheduled_start",
            Text::new(
                "开始时间应在过去一天到未来一年之间。",
                "The start must lie between a day ago and a year ahead.",
            ),
        );
    }
    // Each lab and person costs a lookup: bounded lists keep one request
    // from holding a database connection for thousands of them.
    if req.lab_ids.len() > MAX_SESSION_LABS {
        problems.add(
            "lab_ids",
            Text::owned(
                format!("实验室最多 {MAX_SESSION_LABS} 个。"),
                format!("At most {MAX_SESSION_LABS} labs."),
            ),
        );
    }
    if req.participant_ids.len() > MAX_SESSION_PEOPLE {
        problems.add(
            "participant_ids",
            Text::owned(
                format!("参与人员最多 {MAX_SESSION_PEOPLE} 人。"),
                format!("At most {MAX_SESSION_PEOPLE} further participants."),
            ),
        );
    }
    if req.lab_ids.len() > MAX_SESSION_LABS || req.participant_ids.len() > MAX_SESSION_PEOPLE {
        // Answer before the lookups below.
        problems.into_result()?;
        return Err(AppError::internal("an oversized list passed validation"));
    }
    let mut labs = req.lab_ids.clone();
    labs.sort();
    labs.dedup();
    if labs.is_empty() {
        problems.add(
            "lab_ids",
            Text::new("至少选择一个实验室。", "Choose at least one lab."),
        );
    }
    for lab in &labs {
        let inst = checked(&state, *lab, |path| authz::schedule_with(&p, path)).await?;
        // A deactivated lab (or one under a deactivated institution) takes
        // no new work; its past sessions stay readable.
        if !state.store.in_service(&inst.path).await? {
            problems.add(
                "lab_ids",
                Text::owned(
                    format!("{}已停用，不能安排新会话。", inst.institution.name_zh),
                    format!(
                        "{} is deactivated and takes no new sessions.",
                        inst.institution
                            .name_en
                            .as_deref()
                            .unwrap_or(&inst.institution.name_zh)
                    ),
                ),
            );
        }
    }
    let mut people = req.participant_ids.clone();
    people.sort();
    people.dedup();
    for uid in &people {
        let user = match state.store.get_user(*uid).await {
            Ok(u) => u,
            Err(sqlx::Error::RowNotFound) => {
                return Err(AppError::not_found("找不到该用户。", "No such person."));
            }
            Err(e) => return Err(e.into()),
        };
        let inst = state.store.get_institution(user.institution_id).await?;
        authz::view_user(&p, user.id, &inst.path)
            .require(Text::new("找不到该用户。", "No such person."))?;
    }
    problems.into_result()?;
    let (Some(title), Some(description)) = (title, description) else {
        return Err(AppError::internal("validated fields missing"));
    };
    let id = state
        .store
        .insert_live_session(&NewSession {
            kind: SessionKind::Scheduled,
            title,
            description,
            state: SessionState::Scheduled,
            scheduled_start: req.scheduled_start,
            duration_minutes: req.duration_minutes,
            host_id: p.user.id,
            host_institution_id: p.institution.id,
            help_request_id: None,
            lab_ids: labs,
            participant_ids: people,
        })
        .await?;
    let s = state.store.get_live_session(id).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(detail(&state, &p, s).await?),
    ))
}

/// Labs one scheduled session may name.
pub const MAX_SESSION_LABS: usize = 50;
/// Further people one scheduled session may name.
pub const MAX_SESSION_PEOPLE: usize = 200;

pub fn bounded(zh: &str, en: &str, raw: &str, min: usize, max: usize) -> Result<String, Text> {
    let s = raw.trim();
    let n = s.chars().count();
    if n < min || n > max || s.chars().any(char::is_control) {
        return Err(Text::owned(
            format!("{zh}应为 {min}–{max} 个字符。"),
            format!("{en} must be {min}–{max} characters."),
        ));
    }
    Ok(s.to_owned())
}

/// One session with its participants and whether the caller may run it.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = Uuid, Path)), responses(
    (status = 200, body = SessionDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_session(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<SessionDetail>> {
    let (s, _) = visible(&state, &p, id).await?;
    Ok(axum::Json(detail(&state, &p, s).await?))
}

async fn change_state(
    state: &AppState,
    p: &Principal,
    id: Uuid,
    to: SessionState,
) -> AppResult<SessionDetail> {
    let (s, _) = visible(state, p, id).await?;
    if !can_manage(p, &s) {
        return Err(AppError::ForbiddenBecause(Text::new(
            "只有主持人可以开始或结束会话。",
            "Only the host can start or end the session.",
        )));
    }
    // A deactivated lab takes no new work: a session with one cannot go live.
    if to == SessionState::Live {
        for lab in &s.info.labs {
            let inst = state.store.get_institution(lab.id).await?;
            if !state.store.in_service(&inst.path).await? {
                return Err(AppError::Conflict(Text::owned(
                    format!("{}已停用，会话不能开始。", lab.name_zh),
                    format!(
                        "{} is deactivated; the session cannot start.",
                        lab.name_en.as_deref().unwrap_or(&lab.name_zh)
                    ),
                )));
            }
        }
    }
    let allowed = matches!(
        (s.info.state, to),
        (SessionState::Scheduled, SessionState::Live)
            | (SessionState::Scheduled, SessionState::Ended)
            | (SessionState::Live, SessionState::Ended)
    );
    if !allowed {
        return Err(AppError::Conflict(Text::owned(
            format!(
                "会话当前为“{}”，不能变为“{}”。",
                s.info.state.as_str(),
                to.as_str()
            ),
            format!(
                "The session is {}; it cannot become {}.",
                s.info.state.as_str(),
                to.as_str()
            ),
        )));
    }
    // A recording stops with the session: its files are written while the
    // room closes, and the timeline says so before it says "ended".
    if to == SessionState::Ended
        && let Some(recording_id) = crate::recording::control::stop_at_end(state, id).await?
    {
        let stopped = state
            .log
            .append(Append {
                session: id,
                author: Some(jiliang_protocol::rooms::Author {
                    id: p.user.id,
                    name: p.user.display_name.clone(),
                }),
                client_id: None,
                body: EventBody::RecordingStopped { recording_id },
            })
            .await;
        if let Err(e) = stopped {
            tracing::warn!(error = %e, session = %id, "the recording_stopped event was not stored");
        }
    }
    let appended = state
        .log
        .append(Append {
            session: id,
            author: Some(jiliang_protocol::rooms::Author {
                id: p.user.id,
                name: p.user.display_name.clone(),
            }),
            client_id: None,
            body: EventBody::State {
                from: s.info.state.as_str().to_owned(),
                to: to.as_str().to_owned(),
            },
        })
        .await;
    match appended {
        Ok(_) => {}
        Err(AppendError::Ended) => {
            return Err(AppError::Conflict(Text::new(
                "会话已结束。",
                "The session has ended.",
            )));
        }
        Err(AppendError::Database(e)) => return Err(e.into()),
        Err(e) => return Err(AppError::internal(e)),
    }
    let s = state.store.get_live_session(id).await?;
    detail(state, p, s).await
}

/// Start a scheduled session (its host only; 409 if one of its labs is
/// deactivated).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/start", tag = "sessions", params(("id" = Uuid, Path)), responses(
    (status = 200, body = SessionDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "Not in a state that can start")))]
async fn start_session(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<SessionDetail>> {
    Ok(axum::Json(
        change_state(&state, &p, id, SessionState::Live).await?,
    ))
}

/// End a session (its host only); its record becomes read-only.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/end", tag = "sessions", params(("id" = Uuid, Path)), responses(
    (status = 200, body = SessionDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody)))]
async fn end_session(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<SessionDetail>> {
    Ok(axum::Json(
        change_state(&state, &p, id, SessionState::Ended).await?,
    ))
}

/// The stored timeline of a session, in order.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/events", tag = "sessions", params(("id" = Uuid, Path), EventsParams), responses(
    (status = 200, body = EventsPage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn session_events(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
    AppQuery(q): AppQuery<EventsParams>,
) -> AppResult<axum::Json<EventsPage>> {
    let limit = q.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::invalid(
            "limit 应在 1–1000 之间。",
            "limit must be 1–1000.",
        ));
    }
    visible(&state, &p, id).await?;
    let items = state
        .store
        .read_events(id, q.after.unwrap_or(0), limit)
        .await?;
    let next_after = (items.len() == usize::try_from(limit).unwrap_or(0))
        .then(|| items.last().map(|e| e.seq))
        .flatten();
    Ok(axum::Json(EventsPage { items, next_after }))
}

/// The room socket (WebSocket). Only people taking part may join; see
/// `docs/protocol.md`.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/ws", tag = "sessions", params(("id" = Uuid, Path),
    ("lang" = Option<String>, Query, description = "The interface's language (`zh-CN`, `en`) for error frames and close reasons; the `join` frame's `lang` wins over it")), responses(
    (status = 101, description = "Switching to the room protocol"),
    (status = 426, body = ErrorBody, description = "Not a WebSocket upgrade"),
    (status = 403, body = ErrorBody, description = "Not taking part, or another site"),
    (status = 404, body = ErrorBody)))]
async fn room_socket(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    let (_, rel) = visible(&state, &p, id).await?;
    if rel != Relation::Member {
        return Err(AppError::ForbiddenBecause(Text::new(
            "只有参加会话的人员可以进入会话室。",
            "Only people taking part may enter the session room.",
        )));
    }
    // Browsers send Origin on WebSocket handshakes and attach cookies even
    // cross-site; a page of another site must not act as the person.
    if !crate::http::origin::origin_allowed(&headers, &state) {
        return Err(AppError::ForbiddenBecause(Text::new(
            "拒绝来自其他网站的连接。",
            "Connections from another site are refused.",
        )));
    }
    let ws = ws.map_err(|_| AppError::UpgradeRequired)?;
    let lang = crate::i18n::current();
    Ok(ws
        // Small buffers: thousands of mostly idle county-lab connections
        // must fit in memory (see docs/BENCHMARKS.md).
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| {
            crate::i18n::scope(lang, crate::rooms::socket::serve(state, p, id, socket))
        })
        .into_response())
}
