//! `/help`: remote technical support.
//!
//! - Technicians ask for help (topic, instrument, urgency, details) and see
//!   their lab's requests: waiting, accepted (with the way into the room),
//!   withdrawn. An open request can be withdrawn.
//! - Experts and administrators see the queue of the labs below them —
//!   open requests first, most urgent first, with their age — and accept
//!   one, which opens a live session with the lab and takes them into it.
//!
//! The server has no push channel for new requests, so the queue is read
//! again every 30 s while the page is open (and on demand).

use std::time::Duration;

use jiliang_protocol::sessions::{HelpRequest, HelpState, NewHelpRequest, SessionDetail, Urgency};
use leptos::leptos_dom::helpers::set_interval_with_handle;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::api::{ApiError, V1, use_api};
use crate::components::forms::{
    Errors, FormAlert, Notice, SelectField, SubmitButton, TextArea, TextField,
};
use crate::components::session_bits::{UrgencyBadge, help_state_msg, urgency_msg};
use crate::components::states::{ErrorBox, Forbidden, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;
use crate::util::{ago, local_time};

#[component]
pub fn HelpPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let caps = session.caps();
    if !caps.host_sessions && !caps.request_help {
        return view! { <Forbidden/> }.into_any();
    }
    view! {
        <div class="page-head" data-testid="help-page">
            <h1>{move || i18n.t(Msg::HelpTitle)}</h1>
            <p class="muted">
                {move || i18n.t(if caps.host_sessions { Msg::HelpIntroExpert } else { Msg::HelpIntroTech })}
            </p>
        </div>
        {caps.host_sessions.then(|| view! { <HelpQueue/> })}
        {caps.request_help.then(|| view! { <MyLabHelp/> })}
    }
    .into_any()
}

/// Re-read `refetch` every `secs` seconds while the component lives.
fn poll(refetch: impl Fn() + 'static, secs: u64) {
    if let Ok(h) = set_interval_with_handle(refetch, Duration::from_secs(secs)) {
        on_cleanup(move || h.clear());
    }
}

/// The experts' queue.
#[component]
fn HelpQueue() -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let navigate = use_navigate();
    let list = LocalResource::new(move || async move {
        api.get::<Vec<HelpRequest>>(&format!("{V1}/help-requests"))
            .await
    });
    poll(move || list.refetch(), 30);
    // Ages ("5 minutes ago") move on by themselves.
    let clock = RwSignal::new(0_u32);
    poll(move || clock.update(|c| *c = c.wrapping_add(1)), 30);
    let retry = Callback::new(move |_| list.refetch());
    let busy = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<ApiError>);
    let accept = move |id: String| {
        busy.set(Some(id.clone()));
        error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            let r = api
                .post_empty::<SessionDetail>(&format!("{V1}/help-requests/{id}/accept"))
                .await;
            busy.set(None);
            match r {
                Ok(d) => navigate(&format!("/sessions/{}", d.session.id), Default::default()),
                Err(e) => {
                    error.set(Some(e));
                    list.refetch();
                }
            }
        });
    };
    view! {
        <section class="dash-section help-queue" data-testid="help-queue" aria-labelledby="queue-h">
            <div class="head-row">
                <h2 id="queue-h">{move || i18n.t(Msg::HelpQueueTitle)}</h2>
                <button type="button" class="secondary small" on:click=move |_| list.refetch()>{move || i18n.t(Msg::Refresh)}</button>
            </div>
            {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
            {move || match list.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e retry=retry/> }.into_any(),
                Some(Ok(items)) => {
                    clock.track();
                    let (open, done): (Vec<HelpRequest>, Vec<HelpRequest>) =
                        items.into_iter().partition(|h| h.state == HelpState::Open);
                    let accept = accept.clone();
                    view! {
                        {if open.is_empty() {
                            view! { <p class="empty-note" data-testid="queue-empty">{move || i18n.t(Msg::QueueEmpty)}</p> }.into_any()
                        } else {
                            view! {
                                <ul class="help-list" data-testid="queue-list">
                                    {open.into_iter().map(|h| {
                                        let id = h.id.to_string();
                                        let id_b = id.clone();
                                        let accept = accept.clone();
                                        view! {
                                            <HelpCard h=h>
                                                <button type="button" class="primary" data-testid="accept-help"
                                                    disabled=move || busy.get().is_some()
                                                    on:click=move |_| accept(id.clone())>
                                                    {move || if busy.get().as_deref() == Some(id_b.as_str()) { i18n.t(Msg::Working) } else { i18n.t(Msg::AcceptHelp) }}
                                                </button>
                                            </HelpCard>
                                        }
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }}
                        {(!done.is_empty()).then(|| view! {
                            <details class="handled">
                                <summary>{move || i18n.t(Msg::HandledRequests)}" ("{done.len()}")"</summary>
                                <ul class="help-list">
                                    {done.into_iter().map(|h| view! { <HelpCard h=h/> }).collect_view()}
                                </ul>
                            </details>
                        })}
                    }.into_any()
                }
            }}
        </section>
    }
}

/// One request: urgency, topic, instrument, lab, who, when, state.
#[component]
fn HelpCard(h: HelpRequest, #[prop(optional)] children: Option<Children>) -> impl IntoView {
    let i18n = use_i18n();
    let created = h.created_at.unix_timestamp();
    let exact = local_time(created);
    let state = h.state;
    let session_href = h.session_id.map(|s| format!("/sessions/{s}"));
    let accepted_by = h.accepted_by_name.clone();
    view! {
        <li class=format!("card help-card urgency-edge-{}", h.urgency.as_str())
            data-testid="help-item" data-state=state.as_str() data-urgency=h.urgency.as_str()
            data-topic=h.topic.clone()>
            <div class="help-main">
                <p class="help-badges">
                    <UrgencyBadge urgency=h.urgency/>
                    <span class=format!("badge help-state help-{}", state.as_str()) data-testid="help-state">
                        {move || i18n.t(help_state_msg(state))}
                    </span>
                    <time class="muted small" title=exact.clone() data-testid="help-age">{move || ago(created, i18n.locale())}</time>
                </p>
                <h3 class="help-topic">{h.topic.clone()}</h3>
                <p class="help-meta">
                    <span class="muted">{move || i18n.t(Msg::FieldInstrument)}": "</span>{h.instrument.clone()}
                </p>
                <p class="help-meta muted">{h.institution_name.clone()}" · "{h.requested_by_name.clone()}</p>
                {(!h.details.is_empty()).then(|| view! { <p class="help-details">{h.details.clone()}</p> })}
                {accepted_by.map(|n| view! {
                    <p class="help-meta">{move || i18n.tf(Msg::AcceptedBy, &[("name", &n)])}</p>
                })}
            </div>
            <div class="help-actions">
                {session_href.map(|href| view! {
                    <A href=href attr:class="button" attr:data-testid="help-enter">{move || i18n.t(Msg::GoToSession)}</A>
                })}
                {children.map(|c| c())}
            </div>
        </li>
    }
}

/// A technician's form and their lab's requests.
#[component]
fn MyLabHelp() -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let list = LocalResource::new(move || async move {
        api.get::<Vec<HelpRequest>>(&format!("{V1}/help-requests"))
            .await
    });
    poll(move || list.refetch(), 30);
    let retry = Callback::new(move |_| list.refetch());
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let topic = RwSignal::new(String::new());
    let instrument = RwSignal::new(String::new());
    let urgency = RwSignal::new("normal".to_owned());
    let details = RwSignal::new(String::new());
    let sent = RwSignal::new(None::<String>);
    let urgency_options = Signal::derive(move || {
        [
            Urgency::Low,
            Urgency::Normal,
            Urgency::High,
            Urgency::Critical,
        ]
        .into_iter()
        .map(|u| (u.as_str().to_owned(), i18n.t(urgency_msg(u)).to_owned()))
        .collect::<Vec<_>>()
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        errors.set(None);
        sent.set(None);
        let body = NewHelpRequest {
            topic: topic.get_untracked().trim().to_owned(),
            instrument: instrument.get_untracked().trim().to_owned(),
            // The select offers only the protocol's levels.
            urgency: Urgency::parse(&urgency.get_untracked()).unwrap_or(Urgency::Normal),
            details: details.get_untracked().trim().to_owned(),
        };
        busy.set(true);
        spawn_local(async move {
            let r = api
                .post::<_, HelpRequest>(&format!("{V1}/help-requests"), &body)
                .await;
            busy.set(false);
            match r {
                Ok(_) => {
                    topic.set(String::new());
                    instrument.set(String::new());
                    details.set(String::new());
                    urgency.set("normal".to_owned());
                    sent.set(Some(i18n.t(Msg::HelpSent).to_owned()));
                    list.refetch();
                }
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    let cancel_busy = RwSignal::new(None::<String>);
    let cancel_error = RwSignal::new(None::<ApiError>);
    let cancel = move |id: String| {
        cancel_busy.set(Some(id.clone()));
        cancel_error.set(None);
        spawn_local(async move {
            let r = api
                .post_empty::<HelpRequest>(&format!("{V1}/help-requests/{id}/cancel"))
                .await;
            cancel_busy.set(None);
            if let Err(e) = r {
                cancel_error.set(Some(e));
            }
            list.refetch();
        });
    };
    view! {
        <section class="dash-section" id="new" aria-labelledby="ask-h">
            <form class="card form help-form" on:submit=submit data-testid="help-form">
                <h2 id="ask-h">{move || i18n.t(Msg::RequestHelp)}</h2>
                <p class="muted small">{move || i18n.t(Msg::RequestHelpHint)}</p>
                <FormAlert errors=errors fields=&["topic", "instrument", "details", "urgency"]/>
                <Notice text=sent.into()/>
                <TextField label=Msg::FieldTopic value=topic errors=errors field="topic" required=true
                    maxlength=120 testid="help-topic"/>
                <TextField label=Msg::FieldInstrument value=instrument errors=errors field="instrument" required=true
                    maxlength=200 hint=Msg::InstrumentHint testid="help-instrument"/>
                <SelectField label=Msg::FieldUrgency value=urgency options=urgency_options errors=errors
                    field="urgency" testid="help-urgency"/>
                <TextArea label=Msg::FieldDetails value=details errors=errors field="details" testid="help-details"/>
                <SubmitButton label=Msg::SendHelpRequest busy=busy testid="help-submit"/>
            </form>
        </section>
        <section class="dash-section" data-testid="my-help" aria-labelledby="mine-h">
            <div class="head-row">
                <h2 id="mine-h">{move || i18n.t(Msg::MyLabRequests)}</h2>
                <button type="button" class="secondary small" on:click=move |_| list.refetch()>{move || i18n.t(Msg::Refresh)}</button>
            </div>
            {move || cancel_error.get().map(|e| view! { <ErrorBox error=e/> })}
            {move || match list.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e retry=retry/> }.into_any(),
                Some(Ok(items)) if items.is_empty() => view! {
                    <p class="empty-note" data-testid="my-help-empty">{move || i18n.t(Msg::NoHelpRequests)}</p>
                }.into_any(),
                Some(Ok(items)) => view! {
                    <ul class="help-list" data-testid="my-help-list">
                        {items.into_iter().map(|h| {
                            let open = h.state == HelpState::Open;
                            let id = h.id.to_string();
                            let id_b = id.clone();
                            view! {
                                <HelpCard h=h>
                                    {open.then(|| view! {
                                        <button type="button" class="secondary" data-testid="help-cancel"
                                            disabled=move || cancel_busy.get().is_some()
                                            on:click=move |_| cancel(id.clone())>
                                            {move || if cancel_busy.get().as_deref() == Some(id_b.as_str()) { i18n.t(Msg::Working) } else { i18n.t(Msg::WithdrawHelp) }}
                                        </button>
                                    })}
                                </HelpCard>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
        </section>
    }
}
