//! `/sessions/:id`: the room.
//!
//! The REST detail decides what the page is:
//! - 403/404 → the shared "no access" / "not found" pages;
//! - the person takes part and the session is not over → the live room:
//!   participants with presence, the chat timeline from the room socket
//!   ([`crate::net::room`]), the message box, connection and clock state;
//! - the session has ended → its read-only record (timeline from the
//!   socket's replay when the page watched it end, else from
//!   `GET /sessions/{id}/events`);
//! - an expert or administrator who oversees the session without taking
//!   part → the record so far, read-only (the socket is for participants).
//!
//! On a phone the participants fold away above the chat and the message
//! box stays at the bottom of the screen.
//!
//! A room this browser has seen before opens at once from what it last
//! saw (`crate::last_seen`: the detail and the last chat lines) while the
//! detail and the socket are asked for; their answers replace it.
//!
//! # Layout
//! - `mod.rs`: the page itself and what decides its shape.
//! - `chat`: the chat timeline (log events, lines still in the outbox) and
//!   the message box.
//! - `header`: the room's heading: title, state, schedule, labs, and the
//!   host's start/end actions.
//! - `instruments`: the devices attached to the session, their agents'
//!   state, manual entry, the host's attach/detach and the live chart.
//! - `live`: the live room: the socket client opened for the page, and the
//!   connection banner.
//! - `media`: audio, video and screen sharing (buttons and tiles).
//! - `participants`: who takes part, with presence, and the clock offset of
//!   this browser.
//! - `record`: a session's read-only record: the stored timeline and its
//!   verifiable export.

mod chat;
mod header;
mod instruments;
mod live;
mod media;
mod participants;
mod record;

use jiliang_protocol::sessions::{SessionDetail, SessionState};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::{ApiError, V1, encode, use_api};
use crate::components::states::{Loading, failure_view};
use crate::session::use_session;
use live::LiveRoom;
use record::RecordView;

#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    move || {
        let id = id.get();
        view! { <Room id=id/> }
    }
}

/// What the page shows, from the REST detail.
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Loading,
    Failed(ApiError),
    Live,
    Ended,
    Overseer,
}

fn rank(s: SessionState) -> u8 {
    match s {
        SessionState::Scheduled => 0,
        SessionState::Live => 1,
        SessionState::Ended => 2,
    }
}

fn kind_of(d: &SessionDetail, me: &str) -> Kind {
    let member = d.participants.iter().any(|p| p.user_id.to_string() == me);
    match (d.session.state, member) {
        (SessionState::Ended, _) => Kind::Ended,
        (_, true) => Kind::Live,
        (_, false) => Kind::Overseer,
    }
}

#[component]
fn Room(id: String) -> impl IntoView {
    let api = use_api();
    let session = use_session();
    let me = session
        .me_untracked()
        .map(|m| m.user.id.to_string())
        .unwrap_or_default();
    let path = format!("{V1}/sessions/{}", encode(&id));
    let detail = LocalResource::new(move || {
        let path = path.clone();
        async move { api.get::<SessionDetail>(&path).await }
    });
    let reload = Callback::new(move |_| detail.refetch());
    let seen = crate::last_seen::room(&id, &me);
    let seen_kind = seen.as_ref().map(|r| kind_of(&r.detail, &me));
    let (seen_detail, earlier) = seen.map(|r| (r.detail, r.events)).unzip();
    let me_s = me.clone();
    Effect::new(move |_| {
        if let Some(Ok(d)) = detail.get() {
            crate::last_seen::keep_room_detail(&me_s, &d);
        }
    });
    let me_k = me.clone();
    // The page is rebuilt only when what it is changes, not on every
    // re-read of the detail (a live room keeps its socket).
    let kind = Memo::new(move |prev: Option<&Kind>| match detail.get() {
        None => prev
            .cloned()
            .or_else(|| seen_kind.clone())
            .unwrap_or(Kind::Loading),
        // A re-read that failed for want of a network or a server (a
        // restart) says nothing new: the room stays, its socket retries.
        Some(Err(e))
            if !matches!(e.status(), Some(401 | 403 | 404))
                && matches!(prev, Some(Kind::Live | Kind::Ended | Kind::Overseer)) =>
        {
            prev.cloned().unwrap_or(Kind::Loading)
        }
        Some(Err(e)) => Kind::Failed(e),
        Some(Ok(d)) => kind_of(&d, &me_k),
    });
    move || {
        let current = detail
            .get_untracked()
            .and_then(Result::ok)
            .or_else(|| seen_detail.clone());
        match (kind.get(), current) {
            (Kind::Loading, _) => view! { <Loading/> }.into_any(),
            (Kind::Failed(e), _) => failure_view(e, Some(reload)),
            (Kind::Live, Some(d)) => view! {
                <LiveRoom detail=d reload=reload me=me.clone() earlier=earlier.clone().unwrap_or_default()/>
            }
            .into_any(),
            (Kind::Ended, Some(d)) => {
                let info = d.session.clone();
                view! {
                    <RecordView info=info participants=d.participants can_manage=false
                        preloaded=None unsent=Vec::new() overseer=false me=me.clone()/>
                }
                .into_any()
            }
            (Kind::Overseer, Some(d)) => view! {
                <RecordView info=d.session participants=d.participants can_manage=false
                    preloaded=None unsent=Vec::new() overseer=true me=me.clone()/>
            }
            .into_any(),
            (_, None) => view! { <Loading/> }.into_any(),
        }
    }
}
