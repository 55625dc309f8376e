//! Small pieces of the live-session pages: state, kind and urgency badges,
//! a session's card in lists, lab names.

use jiliang_protocol::sessions::{
    HelpState, SessionInfo, SessionKind, SessionLab, SessionState, Urgency,
};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::i18n::{Locale, Msg, use_i18n};
use crate::util::{duration_text, local_time};

pub fn state_msg(s: SessionState) -> Msg {
    match s {
        SessionState::Scheduled => Msg::StateScheduled,
        SessionState::Live => Msg::StateLive,
        SessionState::Ended => Msg::StateEnded,
    }
}

pub fn urgency_msg(u: Urgency) -> Msg {
    match u {
        Urgency::Low => Msg::UrgencyLow,
        Urgency::Normal => Msg::UrgencyNormal,
        Urgency::High => Msg::UrgencyHigh,
        Urgency::Critical => Msg::UrgencyCritical,
    }
}

pub fn help_state_msg(s: HelpState) -> Msg {
    match s {
        HelpState::Open => Msg::HelpOpen,
        HelpState::Accepted => Msg::HelpAccepted,
        HelpState::Cancelled => Msg::HelpCancelled,
    }
}

/// A lab's name in the reader's language.
pub fn lab_name(l: &SessionLab, locale: Locale) -> String {
    match (locale, &l.name_en) {
        (Locale::En, Some(en)) if !en.is_empty() => en.clone(),
        _ => l.name_zh.clone(),
    }
}

pub fn lab_names(labs: &[SessionLab], locale: Locale) -> String {
    let sep = if locale == Locale::ZhCn { "、" } else { ", " };
    labs.iter()
        .map(|l| lab_name(l, locale))
        .collect::<Vec<_>>()
        .join(sep)
}

#[component]
pub fn StateBadge(#[prop(into)] state: Signal<SessionState>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <span
            class=move || format!("badge state state-{}", state.get().as_str())
            data-testid="state-badge"
            data-state=move || state.get().as_str()
        >
            {move || i18n.t(state_msg(state.get()))}
        </span>
    }
}

#[component]
pub fn UrgencyBadge(urgency: Urgency) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <span class=format!("badge urgency urgency-{}", urgency.as_str()) data-urgency=urgency.as_str()>
            {move || i18n.t(urgency_msg(urgency))}
        </span>
    }
}

/// One session in a list: title, state, when, labs, host; "enter" for
/// live ones.
#[component]
pub fn SessionCard(s: SessionInfo) -> impl IntoView {
    let i18n = use_i18n();
    let href = format!("/sessions/{}", s.id);
    let state = s.state;
    let when = local_time(s.scheduled_start.unix_timestamp());
    let minutes = s.duration_minutes;
    let labs = s.labs.clone();
    let host = s.host_name.clone();
    let help = s.kind == SessionKind::Help;
    let title = s.title.clone();
    let title_attr = s.title.clone();
    let action = match state {
        SessionState::Live => Msg::Enter,
        SessionState::Scheduled => Msg::Open,
        SessionState::Ended => Msg::ViewRecord,
    };
    view! {
        <li class="card session-card" class:live=state == SessionState::Live
            data-testid="session-card" data-state=state.as_str() data-title=title_attr>
            <div class="session-card-main">
                <h3 class="session-title"><A href=href.clone()>{title.clone()}</A></h3>
                <p class="session-meta">
                    <StateBadge state=state/>
                    {help.then(|| view! { <span class="badge kind-help">{move || i18n.t(Msg::KindHelp)}</span> })}
                    <span>{when}</span>
                    <span class="muted">{move || duration_text(minutes, i18n.locale())}</span>
                </p>
                <p class="session-meta muted">
                    <span>{move || lab_names(&labs, i18n.locale())}</span>
                    <span>{move || i18n.tf(Msg::HostedBy, &[("name", &host)])}</span>
                </p>
            </div>
            <A href=href attr:class=if state == SessionState::Live { "button enter" } else { "button secondary" }
                attr:data-testid=if state == SessionState::Live { "enter-session" } else { "open-session" }>
                {move || i18n.t(action)}
            </A>
        </li>
    }
}
