//! Help requests: a county lab asks, experts above it see the queue and one
//! accepts, which opens a live session.

use axum::extract::State;
use axum::http::StatusCode;
use jiliang_protocol::ErrorBody;
use jiliang_protocol::rooms::Author;
use jiliang_protocol::sessions::{
    HelpListParams, HelpRequest, HelpState, NewHelpRequest, SessionDetail, SessionKind,
    SessionState,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Principal;
use crate::authz::{self, PeopleScope};
use crate::clock::now;
use crate::error::{AppError, AppJson, AppPath, AppQuery, AppResult};
use crate::http::sessions::bounded;
use crate::i18n::Text;
use crate::state::AppState;
use crate::store::rooms::{NewHelp, NewSession, StoredHelp};
use crate::validate::{self, Problems};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_help, create_help))
        .routes(routes!(accept_help))
        .routes(routes!(cancel_help))
}

fn help_not_found() -> Text {
    Text::new("找不到该求助。", "No such help request.")
}

/// Ask the experts above your lab for help.
#[utoipa::path(post, path = "/api/v1/help-requests", tag = "sessions", request_body = NewHelpRequest, responses(
    (status = 201, body = HelpRequest), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_help(
    State(state): State<AppState>,
    p: Principal,
    AppJson(req): AppJson<NewHelpRequest>,
) -> AppResult<(StatusCode, axum::Json<HelpRequest>)> {
    if !authz::request_help(&p) {
        return Err(AppError::Forbidden);
    }
    let mut problems = Problems::new();
    let topic = problems.take("topic", bounded("主题", "The topic", &req.topic, 2, 120));
    let instrument = problems.take(
        "instrument",
        bounded("仪器", "The instrument", &req.instrument, 1, 200),
    );
    let details = problems.take("details", validate::free_text(&req.details, 2000));
    problems.into_result()?;
    let (Some(topic), Some(instrument), Some(details)) = (topic, instrument, details) else {
        return Err(AppError::internal("validated fields missing"));
    };
    let help = state
        .store
        .insert_help(&NewHelp {
            institution_id: p.institution.id,
            requested_by: p.user.id,
            topic: &topic,
            instrument: &instrument,
            urgency: req.urgency,
            details: &details,
        })
        .await?;
    tracing::info!(help = %help.request.id, urgency = req.urgency.as_str(), "help requested");
    Ok((StatusCode::CREATED, axum::Json(help.request)))
}

/// The help queue: experts and admins see their subtree's labs (open ones
/// first, most urgent first); technicians see their own lab's.
#[utoipa::path(get, path = "/api/v1/help-requests", tag = "sessions", params(HelpListParams), responses(
    (status = 200, body = Vec<HelpRequest>), (status = 403, body = ErrorBody)))]
async fn list_help(
    State(state): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<HelpListParams>,
) -> AppResult<axum::Json<Vec<HelpRequest>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid(
            "limit 应在 1–500 之间。",
            "limit must be 1–500.",
        ));
    }
    let (prefix, institution) = if authz::may_host(&p) {
        (p.path.clone(), None)
    } else {
        match authz::people_scope(&p) {
            Some(PeopleScope::Institution(id)) => (p.path.clone(), Some(id)),
            _ => return Err(AppError::Forbidden),
        }
    };
    let list = state
        .store
        .list_help(&prefix, institution, q.state, limit)
        .await?;
    Ok(axum::Json(list.into_iter().map(|h| h.request).collect()))
}

async fn load(state: &AppState, p: &Principal, id: Uuid) -> AppResult<StoredHelp> {
    let help = match state.store.get_help(id).await {
        Ok(h) => h,
        Err(sqlx::Error::RowNotFound) => return Err(AppError::NotFound(help_not_found())),
        Err(e) => return Err(e.into()),
    };
    authz::view_help_of(p, &help.institution_path).require(help_not_found())?;
    Ok(help)
}

/// Accept an open request: opens a live session with the requester's lab,
/// hosted by the accepting expert.
#[utoipa::path(post, path = "/api/v1/help-requests/{id}/accept", tag = "sessions", params(("id" = Uuid, Path)), responses(
    (status = 201, body = SessionDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "Already accepted or cancelled")))]
async fn accept_help(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<(StatusCode, axum::Json<SessionDetail>)> {
    let help = load(&state, &p, id).await?;
    authz::accept_help(&p, &help.institution_path).require(help_not_found())?;
    // A deactivated lab (or one under a deactivated institution) takes no
    // new work: its request stays as it is, visibly unanswerable.
    if !state.store.in_service(&help.institution_path).await? {
        return Err(AppError::Conflict(Text::new(
            "该实验室已停用，不能再接受其求助。",
            "This lab is deactivated; its help requests can no longer be accepted.",
        )));
    }
    let r = &help.request;
    // One transaction: the claim, the live session and its first event
    // (the state change, so the log shows when it went live). A failure
    // leaves the request open for the next expert.
    let accepted = state
        .store
        .accept_help(
            id,
            &Author {
                id: p.user.id,
                name: p.user.display_name.clone(),
            },
            &NewSession {
                kind: SessionKind::Help,
                title: format!("{} · {}", r.topic, r.institution_name),
                description: format!("{}\n{}", r.instrument, r.details).trim().to_owned(),
                state: SessionState::Live,
                scheduled_start: now(),
                duration_minutes: 60,
                host_id: p.user.id,
                host_institution_id: p.institution.id,
                help_request_id: Some(id),
                lab_ids: vec![r.institution_id],
                participant_ids: vec![r.requested_by],
            },
        )
        .await?;
    let Some(session) = accepted else {
        return Err(AppError::Conflict(Text::new(
            "该求助已被处理。",
            "This help request has already been handled.",
        )));
    };
    tracing::info!(help = %id, %session, "help request accepted");
    let s = state.store.get_live_session(session).await?;
    let participants = state.store.session_participants(session).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SessionDetail {
            session: s.info,
            participants,
            can_manage: true,
        }),
    ))
}

/// Withdraw an open request (the person who asked, or the admins and
/// experts above the lab).
#[utoipa::path(post, path = "/api/v1/help-requests/{id}/cancel", tag = "sessions", params(("id" = Uuid, Path)), responses(
    (status = 200, body = HelpRequest), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody)))]
async fn cancel_help(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<HelpRequest>> {
    let help = load(&state, &p, id).await?;
    authz::cancel_help(&p, help.request.requested_by, &help.institution_path)
        .require(help_not_found())?;
    if !state
        .store
        .close_help(id, HelpState::Cancelled, None, None)
        .await?
    {
        return Err(AppError::Conflict(Text::new(
            "该求助已被处理。",
            "This help request has already been handled.",
        )));
    }
    Ok(axum::Json(
        state.store.get_help(help.request.id).await?.request,
    ))
}
