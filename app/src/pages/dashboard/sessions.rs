//! Live and upcoming sessions, and the shortcuts to them.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{V1, use_api};
use crate::components::states::{ErrorBox, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;

/// Live sessions and remote help: the help queue's open count for those
/// who answer it, "request help" for technicians.
#[component]
pub(super) fn SessionsShortcuts() -> impl IntoView {
    use jiliang_protocol::sessions::{HelpListParams, HelpRequest, HelpState, SessionState};
    let i18n = use_i18n();
    let session = use_session();
    let api = use_api();
    let caps = session.caps();
    if !caps.host_sessions && !caps.request_help {
        return ().into_any();
    }
    let live = LocalResource::new(move || async move {
        api.sessions_in(SessionState::Live, 50)
            .await
            .map(|l| l.len())
    });
    let open = LocalResource::new(move || async move {
        api.get_query::<_, Vec<HelpRequest>>(
            &format!("{V1}/help-requests"),
            &HelpListParams {
                state: Some(HelpState::Open),
                limit: None,
            },
        )
        .await
        .map(|l| l.iter().filter(|h| h.state == HelpState::Open).count())
    });
    let count = |r: Option<Result<usize, crate::api::ApiError>>| match r {
        Some(Ok(n)) => n.to_string(),
        Some(Err(_)) => "—".to_owned(),
        None => "…".to_owned(),
    };
    view! {
        <section class="dash-section" data-testid="dash-sessions">
            <div class="cards quick">
                {caps.host_sessions.then(|| view! {
                    <A href="/help" attr:class="card quick-link quick-help" attr:data-testid="dash-help-queue">
                        <span class="quick-count">{move || count(open.get())}</span>
                        <span class="quick-label">{move || i18n.t(Msg::QuickOpenHelp)}</span>
                    </A>
                })}
                {caps.request_help.then(|| view! {
                    <A href="/help#new" attr:class="card quick-link quick-ask" attr:data-testid="dash-request-help">
                        <span class="quick-count" aria-hidden="true">"?"</span>
                        <span class="quick-label">{move || i18n.t(Msg::RequestHelp)}</span>
                        <span class="quick-sub muted">
                            {move || match open.get() {
                                Some(Ok(n)) if n > 0 => i18n.tf(Msg::QuickMyOpenHelp, &[("n", &n.to_string())]),
                                _ => String::new(),
                            }}
                        </span>
                    </A>
                })}
                <A href="/sessions" attr:class="card quick-link" attr:data-testid="dash-live-sessions">
                    <span class="quick-count">{move || count(live.get())}</span>
                    <span class="quick-label">{move || i18n.t(Msg::QuickLiveSessions)}</span>
                </A>
            </div>
        </section>
        <UpcomingSessions can_host=caps.host_sessions/>
    }
    .into_any()
}

/// How many upcoming sessions the home page lists.
pub(super) const UPCOMING_ON_DASHBOARD: usize = 5;

/// The next sessions the person hosts or whose lab takes part, soonest
/// first, with the way to schedule one when there are none.
#[component]
pub(super) fn UpcomingSessions(can_host: bool) -> impl IntoView {
    use crate::components::session_bits::SessionCard;
    use jiliang_protocol::sessions::SessionState;
    let i18n = use_i18n();
    let api = use_api();
    let list = LocalResource::new(move || async move {
        // The API lists newest first; the page needs the soonest, so take
        // the whole (short) list of scheduled sessions and sort it here.
        api.sessions_in(SessionState::Scheduled, 100).await
    });
    let retry = Callback::new(move |_| list.refetch());
    view! {
        <section class="dash-section" data-testid="dash-upcoming">
            <h2>{move || i18n.t(Msg::DashUpcoming)}</h2>
            {move || match list.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e retry=retry/> }.into_any(),
                Some(Ok(items)) if items.is_empty() => {
                    let msg = if can_host { Msg::NoUpcomingSessionsHost } else { Msg::NoUpcomingSessions };
                    view! {
                        <div class="empty-note" data-testid="upcoming-empty">
                            <p>{move || i18n.t(msg)}</p>
                            <A href=if can_host { "/sessions?schedule" } else { "/help" } attr:class="button secondary"
                                attr:data-testid="upcoming-action">
                                {move || i18n.t(if can_host { Msg::ScheduleSession } else { Msg::GoToHelp })}
                            </A>
                        </div>
                    }
                    .into_any()
                }
                Some(Ok(mut items)) => {
                    items.sort_by_key(|s| s.scheduled_start);
                    let more = items.len() > UPCOMING_ON_DASHBOARD;
                    items.truncate(UPCOMING_ON_DASHBOARD);
                    view! {
                        <ul class="session-list" data-testid="upcoming-list">
                            {items.into_iter().map(|s| view! { <SessionCard s=s/> }).collect_view()}
                        </ul>
                        {more.then(|| view! {
                            <p><A href="/sessions">{move || i18n.t(Msg::AllSessions)}</A></p>
                        })}
                    }
                    .into_any()
                }
            }}
        </section>
    }
}
