//! `/audit`: the security audit log of the administrator's subtree, newest
//! first, filtered by event and local date range, page by page. A table on
//! wide screens; each row becomes a card on phones (CSS only).

use jiliang_protocol::accounts::{AuditEvent, AuditParams, Page};
use leptos::prelude::*;
use leptos::task::spawn_local;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::api::{ApiError, V1, use_api};
use crate::components::forms::{Errors, SelectField, TextField};
use crate::components::states::{ErrorBox, Forbidden, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;
use crate::util::{AUDIT_EVENTS, event_msg, local_date_to_rfc3339, local_time_seconds};

#[component]
pub fn AuditPage() -> impl IntoView {
    let session = use_session();
    if !session.caps().view_audit {
        return view! { <Forbidden/> }.into_any();
    }
    view! { <AuditLog/> }.into_any()
}

#[component]
fn AuditLog() -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let event = RwSignal::new(String::new());
    let since = RwSignal::new(String::new());
    let until = RwSignal::new(String::new());
    let no_errors: Errors = RwSignal::new(None);
    let event_options = Signal::derive(move || {
        AUDIT_EVENTS
            .iter()
            .map(|e| {
                let label = event_msg(e).map_or_else(|| (*e).to_owned(), |m| i18n.t(m).to_owned());
                ((*e).to_owned(), label)
            })
            .collect::<Vec<_>>()
    });

    let items = RwSignal::new(Vec::<AuditEvent>::new());
    let next = RwSignal::new(None::<String>);
    let loading = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let generation = RwSignal::new(0_u32);
    let load = move |more: bool| {
        // Dates are local calendar days: from the start of `since` to the
        // end of `until`; an empty field is no bound.
        let day = |text: String, days_later| {
            local_date_to_rfc3339(&text, days_later)
                .and_then(|s| OffsetDateTime::parse(&s, &Rfc3339).ok())
        };
        let event = event.get_untracked();
        let params = AuditParams {
            event: (!event.is_empty()).then_some(event),
            user_id: None,
            since: day(since.get_untracked(), 0),
            until: day(until.get_untracked(), 1),
            limit: Some(50),
            cursor: if more {
                next.get_untracked().and_then(|c| Uuid::parse_str(&c).ok())
            } else {
                None
            },
        };
        generation.update(|g| *g += 1);
        let mine = generation.get_untracked();
        loading.set(true);
        error.set(None);
        spawn_local(async move {
            let r = api
                .get_query::<_, Page<AuditEvent>>(&format!("{V1}/audit"), &params)
                .await;
            if generation.try_get_untracked() != Some(mine) {
                return;
            }
            loading.set(false);
            match r {
                Ok(page) => {
                    if more {
                        items.update(|i| i.extend(page.items));
                    } else {
                        items.set(page.items);
                    }
                    next.set(page.next_cursor);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    Effect::new(move |_| {
        event.track();
        load(false);
    });
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        load(false);
    };
    let clear = move |_| {
        since.set(String::new());
        until.set(String::new());
        if event.get_untracked().is_empty() {
            load(false);
        } else {
            event.set(String::new());
        }
    };

    view! {
        <div class="page-head">
            <h1>{move || i18n.t(Msg::AuditTitle)}</h1>
            <p class="muted">{move || i18n.t(Msg::AuditIntro)}</p>
        </div>
        <form class="filters card" on:submit=apply data-testid="audit-filters">
            <div class="filter-row">
                <SelectField label=Msg::FieldEvent value=event options=event_options errors=no_errors
                    empty=Msg::AllEvents testid="filter-event"/>
                <TextField label=Msg::FieldSince value=since errors=no_errors input_type="date" testid="filter-since"/>
                <TextField label=Msg::FieldUntil value=until errors=no_errors input_type="date" testid="filter-until"/>
            </div>
            <div class="button-row">
                <button type="submit" class="primary">{move || i18n.t(Msg::ApplyFilters)}</button>
                <button type="button" class="secondary" on:click=clear>{move || i18n.t(Msg::ClearFilters)}</button>
            </div>
        </form>
        <section aria-live="polite" aria-busy=move || if loading.get() { "true" } else { "false" }>
            {move || error.get().map(|e| view! { <ErrorBox error=e retry=Callback::new(move |_| load(false))/> })}
            {move || {
                let list = items.get();
                if list.is_empty() && loading.get() {
                    return view! { <Loading/> }.into_any();
                }
                if list.is_empty() && error.with(Option::is_none) {
                    return view! {
                        <p class="empty-state" data-testid="audit-empty">{move || i18n.t(Msg::NoAuditEvents)}</p>
                    }.into_any();
                }
                view! {
                    <div class="table-wrap responsive">
                        <table class="table audit-table" data-testid="audit-table">
                            <thead>
                                <tr>
                                    <th scope="col">{move || i18n.t(Msg::ColTime)}</th>
                                    <th scope="col">{move || i18n.t(Msg::ColEvent)}</th>
                                    <th scope="col">{move || i18n.t(Msg::ColActor)}</th>
                                    <th scope="col">{move || i18n.t(Msg::ColTarget)}</th>
                                    <th scope="col">{move || i18n.t(Msg::ColIp)}</th>
                                    <th scope="col">{move || i18n.t(Msg::ColDetail)}</th>
                                </tr>
                            </thead>
                            <tbody>
                                {list.into_iter().map(|e| view! { <AuditRow e=e/> }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
            {move || next.with(Option::is_some).then(|| view! {
                <div class="load-more">
                    <button type="button" class="secondary" disabled=move || loading.get()
                        on:click=move |_| load(true) data-testid="load-more">
                        {move || i18n.t(if loading.get() { Msg::Loading } else { Msg::LoadMore })}
                    </button>
                </div>
            })}
        </section>
    }
}

#[component]
fn AuditRow(e: AuditEvent) -> impl IntoView {
    let i18n = use_i18n();
    let when = local_time_seconds(e.at.unix_timestamp());
    let iso = e.at.unix_timestamp().to_string();
    let name = e.event.clone();
    let raw = e.event.clone();
    let bad = matches!(
        e.event.as_str(),
        "login_failed" | "lockout" | "user_deactivated" | "institution_deactivated"
    );
    let dash = |s: Option<String>| {
        s.filter(|s| !s.is_empty())
            .unwrap_or_else(|| "—".to_owned())
    };
    let actor = dash(e.actor_name.clone());
    let target = dash(e.target_name.clone());
    let ip = dash(e.ip.clone());
    let detail = dash(Some(e.detail.clone()));
    let ua = e.user_agent.clone().unwrap_or_default();
    view! {
        <tr data-testid="audit-row" data-event=raw.clone()>
            <td data-label=move || i18n.t(Msg::ColTime) class="cell-time">
                <time data-unix=iso>{when}</time>
            </td>
            <td data-label=move || i18n.t(Msg::ColEvent) class="cell-event">
                <span class=if bad { "badge badge-bad" } else { "badge event" } title=raw.clone()>
                    {move || event_msg(&name).map_or_else(|| name.clone(), |m| i18n.t(m).to_owned())}
                </span>
            </td>
            <td data-label=move || i18n.t(Msg::ColActor)>{actor}</td>
            <td data-label=move || i18n.t(Msg::ColTarget)>{target}</td>
            <td data-label=move || i18n.t(Msg::ColIp) class="mono" title=ua>{ip}</td>
            <td data-label=move || i18n.t(Msg::ColDetail) class="wrap">{detail}</td>
        </tr>
    }
}
