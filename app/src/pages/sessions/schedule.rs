//! Scheduling a session: the form and its checks.

use jiliang_protocol::accounts::{InstitutionView, User};
use jiliang_protocol::institutions::InstitutionLevel;
use jiliang_protocol::sessions::{NewSessionRequest, SessionDetail};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::picker::PeoplePicker;
use crate::api::{V1, use_api};
use crate::components::forms::{Errors, FormAlert, SubmitButton, TextArea, TextField};
use crate::components::states::{ErrorBox, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;
use crate::util::{
    dom_id, in_subtree, inst_name, local_date_time_to_rfc3339, local_inputs, tree_order,
};

/// Institutions a host may schedule with: active city and county labs in
/// their subtree, in tree order.
pub(super) fn schedulable(
    list: &[InstitutionView],
    own: &jiliang_protocol::institutions::Institution,
) -> Vec<InstitutionView> {
    tree_order(list)
        .into_iter()
        .map(|(v, _)| v)
        .filter(|v| {
            in_subtree(v, own)
                && v.institution.active
                && matches!(
                    v.institution.level,
                    InstitutionLevel::City | InstitutionLevel::County
                )
        })
        .collect()
}

#[component]
pub(super) fn ScheduleForm(on_cancel: Callback<()>) -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let api = use_api();
    let navigate = use_navigate();
    let Some(me) = session.me_untracked() else {
        return ().into_any();
    };
    let own = me.institution.clone();
    let my_id = me.user.id.to_string();
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let title = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    // Default: the next whole hour, today or tomorrow.
    let next_hour = (js_sys::Date::now() / 3_600_000.0).floor() * 3_600_000.0 + 3_600_000.0;
    let (d0, t0) = local_inputs(next_hour);
    let date = RwSignal::new(d0);
    let time = RwSignal::new(t0);
    let duration = RwSignal::new("60".to_owned());
    let labs = RwSignal::new(Vec::<String>::new());
    let people = RwSignal::new(Vec::<User>::new());
    let local_error = RwSignal::new(None::<Msg>);

    let institutions = LocalResource::new(move || async move {
        api.get::<Vec<InstitutionView>>(&format!("{V1}/institutions"))
            .await
    });
    let date_id = dom_id("f");
    let time_id = dom_id("f");
    let dur_id = dom_id("f");
    let field_errs = move |field: &'static str| {
        errors.with(|e| {
            e.as_ref()
                .map(|e| e.field_messages(field))
                .unwrap_or_default()
        })
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        local_error.set(None);
        errors.set(None);
        let Some(start) = local_date_time_to_rfc3339(&date.get_untracked(), &time.get_untracked())
            .and_then(|s| OffsetDateTime::parse(&s, &Rfc3339).ok())
        else {
            local_error.set(Some(Msg::BadDateTime));
            return;
        };
        if labs.with_untracked(Vec::is_empty) {
            local_error.set(Some(Msg::ChooseLabs));
            return;
        }
        let minutes: i64 = duration.get_untracked().trim().parse().unwrap_or(0);
        let body = NewSessionRequest {
            title: title.get_untracked().trim().to_owned(),
            description: description.get_untracked().trim().to_owned(),
            scheduled_start: start,
            duration_minutes: minutes,
            // The choices are the server's own institution ids.
            lab_ids: labs
                .with_untracked(|l| l.iter().filter_map(|id| Uuid::parse_str(id).ok()).collect()),
            participant_ids: people.with_untracked(|p| p.iter().map(|u| u.id).collect()),
        };
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            let r = api
                .post::<_, SessionDetail>(&format!("{V1}/sessions"), &body)
                .await;
            busy.set(false);
            match r {
                Ok(d) => navigate(&format!("/sessions/{}", d.session.id), Default::default()),
                Err(e) => errors.set(Some(e)),
            }
        });
    };

    view! {
        <form class="card form schedule-form" on:submit=submit data-testid="schedule-form" novalidate>
            <h2>{move || i18n.t(Msg::ScheduleSession)}</h2>
            <FormAlert errors=errors fields=&["title", "description", "scheduled_start", "duration_minutes", "lab_ids"]/>
            {move || local_error.get().map(|m| view! {
                <div class="form-alert" role="alert" data-testid="form-error"><p>{move || i18n.t(m)}</p></div>
            })}
            <TextField label=Msg::FieldTitle value=title errors=errors field="title" required=true
                maxlength=120 testid="session-title"/>
            <TextArea label=Msg::FieldDescription value=description errors=errors field="description"
                testid="session-description"/>
            <div class="field-row">
                <div class="field">
                    <label for=date_id.clone()>{move || i18n.t(Msg::FieldDate)}<span class="req" aria-hidden="true">" *"</span></label>
                    <input id=date_id type="date" required prop:value=move || date.get()
                        on:input=move |ev| date.set(event_target_value(&ev)) data-testid="session-date"/>
                    <ul class="field-errors">{move || field_errs("scheduled_start").into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
                </div>
                <div class="field">
                    <label for=time_id.clone()>{move || i18n.t(Msg::FieldTime)}<span class="req" aria-hidden="true">" *"</span></label>
                    <input id=time_id type="time" required prop:value=move || time.get()
                        on:input=move |ev| time.set(event_target_value(&ev)) data-testid="session-time"/>
                </div>
                <div class="field">
                    <label for=dur_id.clone()>{move || i18n.t(Msg::FieldDuration)}</label>
                    <input id=dur_id type="number" min="5" max="720" step="5" inputmode="numeric"
                        prop:value=move || duration.get()
                        on:input=move |ev| duration.set(event_target_value(&ev)) data-testid="session-duration"/>
                    <ul class="field-errors">{move || field_errs("duration_minutes").into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
                </div>
            </div>
            <p class="hint muted small">{move || i18n.t(Msg::LocalTimeHint)}</p>
            <fieldset class="field checks" data-testid="lab-checks">
                <legend>{move || i18n.t(Msg::FieldLabs)}<span class="req" aria-hidden="true">" *"</span></legend>
                <p class="hint">{move || i18n.t(Msg::LabsHint)}</p>
                {move || {
                    let own = own.clone();
                    match institutions.get() {
                        None => view! { <Loading/> }.into_any(),
                        Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                        Some(Ok(list)) => {
                            let choices = schedulable(&list, &own);
                            if choices.is_empty() {
                                return view! { <p class="muted">{move || i18n.t(Msg::NoLabsToSchedule)}</p> }.into_any();
                            }
                            view! {
                                <div class="check-row lab-row">
                                    {choices.into_iter().map(|v| {
                                        let id = v.institution.id.to_string();
                                        let id_c = id.clone();
                                        let id_d = id.clone();
                                        let inst = v.institution.clone();
                                        let zh = inst.name_zh.clone();
                                        view! {
                                            <label class="check" data-testid="lab-check" data-name=zh>
                                                <input type="checkbox" value=id
                                                    prop:checked=move || labs.with(|l| l.contains(&id_c))
                                                    on:change=move |ev| {
                                                        let on = event_target_checked(&ev);
                                                        let id = id_d.clone();
                                                        labs.update(|l| {
                                                            l.retain(|x| *x != id);
                                                            if on { l.push(id); }
                                                        });
                                                    }/>
                                                <span>{move || inst_name(&inst, i18n.locale())}</span>
                                            </label>
                                        }
                                    }).collect_view()}
                                </div>
                            }.into_any()
                        }
                    }
                }}
                <ul class="field-errors">{move || field_errs("lab_ids").into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
            </fieldset>
            <PeoplePicker chosen=people exclude=my_id/>
            <div class="button-row">
                <SubmitButton label=Msg::ScheduleSubmit busy=busy testid="schedule-submit"/>
                <button type="button" class="secondary" on:click=move |_| on_cancel.run(())>{move || i18n.t(Msg::Cancel)}</button>
            </div>
        </form>
    }
    .into_any()
}
