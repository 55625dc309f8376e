//! The room's heading: title, state, schedule, labs, and the host's start/end
//! actions.

use jiliang_protocol::sessions::{SessionDetail, SessionInfo, SessionKind, SessionState};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;

use crate::api::{ApiError, V1, use_api};
use crate::components::session_bits::{StateBadge, lab_names};
use crate::components::states::ErrorBox;
use crate::i18n::{Msg, use_i18n};
use crate::util::{duration_text, local_time};

/// The header: title, state, host, labs, times; start and end for those
/// who run the session.
#[component]
pub(super) fn RoomHeader(
    #[prop(into)] info: Signal<SessionInfo>,
    can_manage: bool,
    /// Called with the new detail after a start or end.
    #[prop(optional)]
    on_change: Option<Callback<SessionDetail>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let busy = RwSignal::new(false);
    let confirm_end = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let change = move |action: &'static str| {
        let id = info.with_untracked(|s| s.id.to_string());
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let r = api
                .post_empty::<SessionDetail>(&format!("{V1}/sessions/{id}/{action}"))
                .await;
            busy.set(false);
            confirm_end.set(false);
            match r {
                Ok(d) => {
                    if let Some(cb) = on_change {
                        cb.run(d);
                    }
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let state = Signal::derive(move || info.with(|s| s.state));
    view! {
        <header class="room-head">
            <nav class="breadcrumb" aria-label=move || i18n.t(Msg::Breadcrumb)>
                <ol><li><A href="/sessions">{move || i18n.t(Msg::NavSessions)}</A></li></ol>
            </nav>
            <h1 data-testid="room-title">{move || info.with(|s| s.title.clone())}</h1>
            <p class="room-meta">
                <StateBadge state=state/>
                {move || info.with(|s| s.kind == SessionKind::Help).then(|| view! {
                    <span class="badge kind-help">{move || i18n.t(Msg::KindHelp)}</span>
                })}
                <span>{move || info.with(|s| i18n.tf(Msg::HostedBy, &[("name", &s.host_name)]))}</span>
                <span class="muted">{move || info.with(|s| lab_names(&s.labs, i18n.locale()))}</span>
            </p>
            <p class="room-meta muted small">
                {move || info.with(|s| i18n.tf(Msg::ScheduledFor, &[
                    ("time", &local_time(s.scheduled_start.unix_timestamp())),
                    ("duration", &duration_text(s.duration_minutes, i18n.locale())),
                ]))}
            </p>
            {move || info.with(|s| (!s.description.is_empty()).then(|| view! {
                <p class="room-desc">{s.description.clone()}</p>
            }))}
            {can_manage.then(|| view! {
                <div class="button-row room-actions">
                    {move || (state.get() == SessionState::Scheduled).then(|| view! {
                        <button type="button" class="primary" data-testid="start-session"
                            disabled=move || busy.get() on:click=move |_| change("start")>
                            {move || i18n.t(Msg::StartSession)}
                        </button>
                    })}
                    {move || (state.get() != SessionState::Ended && !confirm_end.get()).then(|| view! {
                        <button type="button" class="secondary" data-testid="end-session"
                            disabled=move || busy.get() on:click=move |_| confirm_end.set(true)>
                            {move || i18n.t(Msg::EndSession)}
                        </button>
                    })}
                </div>
                {move || confirm_end.get().then(|| view! {
                    <div class="panel confirm" role="alertdialog" aria-labelledby="end-q">
                        <p id="end-q">{move || i18n.t(Msg::ConfirmEndSession)}</p>
                        <div class="button-row">
                            <button type="button" class="primary danger" data-testid="confirm-end"
                                disabled=move || busy.get() on:click=move |_| change("end")>
                                {move || if busy.get() { i18n.t(Msg::Working) } else { i18n.t(Msg::ConfirmEnd) }}
                            </button>
                            <button type="button" class="secondary" on:click=move |_| confirm_end.set(false)>
                                {move || i18n.t(Msg::Cancel)}
                            </button>
                        </div>
                    </div>
                })}
            })}
            {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
        </header>
    }
}
