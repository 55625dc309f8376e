//! `/sessions`: the live sessions a person takes part in (and, for experts
//! and administrators, those of the labs below them).
//!
//! - Tabs: upcoming, live, ended, and a week calendar (`?view=`), so a tab
//!   can be linked to and survives a reload.
//! - Live sessions are highlighted above every tab with an "enter" button.
//! - The calendar places each session on its *local* date and time; the
//!   week runs Monday to Sunday. Seven columns on a wide screen, a list of
//!   days on a phone (the same markup, laid out by CSS).
//! - Experts and administrators schedule sessions here: local date and
//!   time become an RFC 3339 instant in UTC; labs come from the
//!   institutions below them; further people from a search.
//!
//! # Layout
//! - `mod.rs`: the page itself and what decides its shape.
//! - `calendar`: the week calendar of scheduled sessions.
//! - `picker`: choosing people to invite to a session, by search.
//! - `schedule`: scheduling a session: the form and its checks.

mod calendar;
mod picker;
mod schedule;

use jiliang_protocol::sessions::SessionState;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::use_api;
use crate::components::session_bits::SessionCard;
use crate::components::states::{ErrorBox, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;
use calendar::WeekCalendar;
use schedule::ScheduleForm;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum View {
    Upcoming,
    Live,
    Ended,
    Calendar,
}

impl View {
    const ALL: [View; 4] = [View::Upcoming, View::Live, View::Ended, View::Calendar];

    fn key(self) -> &'static str {
        match self {
            Self::Upcoming => "upcoming",
            Self::Live => "live",
            Self::Ended => "ended",
            Self::Calendar => "calendar",
        }
    }

    fn msg(self) -> Msg {
        match self {
            Self::Upcoming => Msg::TabUpcoming,
            Self::Live => Msg::TabLive,
            Self::Ended => Msg::TabEnded,
            Self::Calendar => Msg::TabCalendar,
        }
    }

    fn from_key(k: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|v| v.key() == k)
            .unwrap_or(Self::Upcoming)
    }
}

#[component]
pub fn SessionsPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let api = use_api();
    let can_host = session.caps().host_sessions;
    let query_map = use_query_map();
    let view_sel = Memo::new(move |_| {
        query_map.with(|q| View::from_key(q.get("view").as_deref().unwrap_or("")))
    });
    // `?schedule` (the dashboard's "schedule a session") opens the form.
    let show_form =
        RwSignal::new(can_host && query_map.with_untracked(|q| q.get("schedule").is_some()));
    let live =
        LocalResource::new(move || async move { api.sessions_in(SessionState::Live, 50).await });

    view! {
        <div class="page-head sessions-head" data-testid="sessions-page">
            <div class="head-row">
                <h1>{move || i18n.t(Msg::SessionsTitle)}</h1>
                {can_host.then(|| view! {
                    <button type="button" class="primary" data-testid="schedule-open"
                        aria-expanded=move || if show_form.get() { "true" } else { "false" }
                        on:click=move |_| show_form.update(|s| *s = !*s)>
                        {move || i18n.t(Msg::ScheduleSession)}
                    </button>
                })}
            </div>
            <p class="muted">{move || i18n.t(if can_host { Msg::SessionsIntroHost } else { Msg::SessionsIntro })}</p>
        </div>
        {move || show_form.get().then(|| view! {
            <ScheduleForm on_cancel=Callback::new(move |_| show_form.set(false))/>
        })}
        {move || {
            let list = match live.get() {
                Some(Ok(l)) => l,
                _ => Vec::new(),
            };
            (!list.is_empty() && view_sel.get() != View::Live).then(|| view! {
                <section class="live-now" data-testid="live-now" aria-labelledby="live-now-h">
                    <h2 id="live-now-h"><span class="live-dot" aria-hidden="true"></span>{move || i18n.t(Msg::LiveNow)}</h2>
                    <ul class="session-list">
                        {list.into_iter().map(|s| view! { <SessionCard s=s/> }).collect_view()}
                    </ul>
                </section>
            })
        }}
        <nav class="tabs" aria-label=move || i18n.t(Msg::SessionsViews)>
            {View::ALL.into_iter().map(|v| {
                let href = format!("/sessions?view={}", v.key());
                // A plain link (the router still handles it): the router's
                // own link marks every `/sessions?view=…` as current.
                view! {
                    <a href=href class="tab" data-testid=format!("tab-{}", v.key())
                        aria-current=move || (view_sel.get() == v).then_some("page")>
                        {move || i18n.t(v.msg())}
                    </a>
                }
            }).collect_view()}
        </nav>
        {move || match view_sel.get() {
            View::Calendar => view! { <WeekCalendar/> }.into_any(),
            v => view! { <SessionList which=v can_host=can_host/> }.into_any(),
        }}
    }
}

#[component]
fn SessionList(which: View, can_host: bool) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let state = match which {
        View::Live => SessionState::Live,
        View::Ended => SessionState::Ended,
        _ => SessionState::Scheduled,
    };
    let list = LocalResource::new(move || async move { api.sessions_in(state, 100).await });
    let retry = Callback::new(move |_| list.refetch());
    move || match list.get() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => view! { <ErrorBox error=e retry=retry/> }.into_any(),
        Some(Ok(mut items)) => {
            if items.is_empty() {
                let msg = match (which, can_host) {
                    (View::Live, true) => Msg::NoLiveSessionsHost,
                    (View::Live, false) => Msg::NoLiveSessions,
                    (View::Ended, _) => Msg::NoEndedSessions,
                    (_, true) => Msg::NoUpcomingSessionsHost,
                    (_, false) => Msg::NoUpcomingSessions,
                };
                return view! {
                    <div class="empty-note" data-testid="sessions-empty">
                        <p>{move || i18n.t(msg)}</p>
                        {(!can_host && which != View::Ended).then(|| view! {
                            <A href="/help" attr:class="button secondary">{move || i18n.t(Msg::GoToHelp)}</A>
                        })}
                    </div>
                }
                .into_any();
            }
            if which == View::Upcoming {
                // Soonest first.
                items.reverse();
            }
            view! {
                <ul class="session-list" data-testid="session-list">
                    {items.into_iter().map(|s| view! { <SessionCard s=s/> }).collect_view()}
                </ul>
            }
            .into_any()
        }
    }
}
