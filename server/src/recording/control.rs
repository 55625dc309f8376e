//! Starting and stopping a session's recording: who may, and what the room
//! hears (`recording_started` / `recording_stopped` events in its log).

use jiliang_protocol::rooms::{Author, EventBody};
use jiliang_protocol::sessions::SessionState;
use uuid::Uuid;

use crate::auth::Principal;
use crate::clock::now;
use crate::error::{AppError, AppResult};
use crate::i18n::Text;
use crate::rooms::log::{Append, AppendError};
use crate::state::AppState;

fn author(p: &Principal) -> Author {
    Author {
        id: p.user.id,
        name: p.user.display_name.clone(),
    }
}

/// The host starts recording `session` (live only).
pub async fn start(state: &AppState, p: &Principal, session: Uuid) -> AppResult<Uuid> {
    let s = state.store.get_live_session(session).await?;
    if !crate::authz::run_session(p, s.info.host_id) {
        return Err(AppError::ForbiddenBecause(Text::new(
            "只有会话主持人可以录制。",
            "Only the session's host may record it.",
        )));
    }
    if s.info.state != SessionState::Live {
        return Err(AppError::Conflict(Text::new(
            "只有进行中的会话可以录制。",
            "Only a live session can be recorded.",
        )));
    }
    let id = Uuid::now_v7();
    if !state
        .store
        .recording_start(id, session, p.user.id, now())
        .await?
    {
        return Err(AppError::Conflict(Text::new(
            "此会话已在录制中。",
            "The session is already being recorded.",
        )));
    }
    let appended = state
        .log
        .append(Append {
            session,
            author: Some(author(p)),
            client_id: None,
            body: EventBody::RecordingStarted { recording_id: id },
        })
        .await;
    if let Err(e) = appended {
        // The room never heard of it: no recording either.
        let _ = state.store.recording_stop(session, now()).await;
        return Err(match e {
            AppendError::Ended => {
                AppError::Conflict(Text::new("会话已结束。", "The session has ended."))
            }
            AppendError::Database(e) => e.into(),
            e => AppError::internal(e),
        });
    }
    state.recorder.poke();
    Ok(id)
}

/// The host stops recording `session`.
pub async fn stop(state: &AppState, p: &Principal, session: Uuid) -> AppResult<Uuid> {
    let s = state.store.get_live_session(session).await?;
    if !crate::authz::run_session(p, s.info.host_id) {
        return Err(AppError::ForbiddenBecause(Text::new(
            "只有会话主持人可以停止录制。",
            "Only the session's host may stop recording.",
        )));
    }
    let Some(id) = state.store.recording_stop(session, now()).await? else {
        return Err(AppError::Conflict(Text::new(
            "此会话没有在录制。",
            "The session is not being recorded.",
        )));
    };
    state.recorder.poke();
    let appended = state
        .log
        .append(Append {
            session,
            author: Some(author(p)),
            client_id: None,
            body: EventBody::RecordingStopped { recording_id: id },
        })
        .await;
    match appended {
        Ok(_) | Err(AppendError::Ended) => Ok(id),
        Err(AppendError::Database(e)) => Err(e.into()),
        Err(e) => Err(AppError::internal(e)),
    }
}

/// The session is ending: its recording stops with it (the `state` event
/// says why; no event of its own after the end).
pub async fn stop_at_end(state: &AppState, session: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    let stopped = state.store.recording_stop(session, now()).await?;
    if stopped.is_some() {
        state.recorder.poke();
    }
    Ok(stopped)
}
