//! `/rounds`: comparison rounds (计量比对) — the list, and for experts the
//! form that creates one; `/rounds/:id` (in `detail`): the round, the lab's
//! submission form, the coordinator's actions and the report with its
//! charts (drawn by `jiliang_protocol::rounds`, the code the server uses).
//!
//! # Layout
//! - `mod.rs`: the list page and the create form.
//! - `detail`: one round.
//! - `report`: the report view (figures, charts, table).

mod detail;
mod report;

pub use detail::RoundPage;

use jiliang_protocol::rounds::{RoundList, RoundState, RoundView};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use serde::Serialize;

use crate::api::{V1, use_api};
use crate::components::forms::{Errors, FormAlert, SelectField, SubmitButton, TextArea, TextField};
use crate::components::states::{Loading, failure_view};
use crate::i18n::{Msg, use_i18n};
use crate::pages::devices::local_problem;
use crate::session::use_session;
use crate::util::{local_date_time_to_rfc3339, local_inputs, local_time};

pub(crate) fn state_msg(s: RoundState) -> Msg {
    match s {
        RoundState::Open => Msg::RoundStateOpen,
        RoundState::Closed => Msg::RoundStateClosed,
        RoundState::Published => Msg::RoundStatePublished,
    }
}

#[component]
pub fn RoundsPage() -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let session = use_session();
    let creating = RwSignal::new(false);
    let data =
        LocalResource::new(
            move || async move { api.get::<RoundList>(&format!("{V1}/rounds")).await },
        );
    let reload = Callback::new(move |_| data.refetch());
    let may_create = move || session.caps().coordinate_rounds;
    view! {
        <div class="page-head" data-testid="rounds-page">
            <h1>{move || i18n.t(Msg::RoundsTitle)}</h1>
            <p class="muted">{move || i18n.t(Msg::RoundsIntro)}</p>
        </div>
        {move || may_create().then(|| view! {
            <section class="dash-section">
                {move || if creating.get() {
                    view! {
                        <div class="card">
                            <h2>{move || i18n.t(Msg::RoundNew)}</h2>
                            <CreateForm on_cancel=Callback::new(move |_| creating.set(false))/>
                        </div>
                    }.into_any()
                } else {
                    view! {
                        <button type="button" class="primary" data-testid="round-new"
                            on:click=move |_| creating.set(true)>{move || i18n.t(Msg::RoundNew)}</button>
                    }.into_any()
                }}
            </section>
        })}
        <section class="dash-section" data-testid="round-list">
            {move || match data.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => failure_view(e, Some(reload)),
                Some(Ok(list)) if list.items.is_empty() => view! { <p class="muted">{move || i18n.t(Msg::RoundsNone)}</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <ul class="round-list">
                        {list.items.into_iter().map(|r| {
                            let href = format!("/rounds/{}", r.id);
                            let deadline = local_time(r.deadline.unix_timestamp());
                            let (n, m) = (r.submitted.to_string(), r.labs.to_string());
                            let title = r.title.clone();
                            let title_attr = r.title.clone();
                            let state = r.state;
                            view! {
                                <li class="card round-card" data-testid="round-card" data-title=title_attr>
                                    <div class="device-head">
                                        <h2 class="device-name"><A href=href>{title}</A></h2>
                                        <span class=format!("badge badge-{}", state.as_str())>{move || i18n.t(state_msg(state))}</span>
                                    </div>
                                    <p class="muted">{format!("{} · {}", r.quantity, r.unit)}</p>
                                    <p class="muted small">
                                        {move || i18n.tf(Msg::RoundDeadlineAt, &[("time", &deadline)])}
                                        " · "
                                        {move || i18n.tf(Msg::RoundSubmittedCount, &[("n", &n), ("m", &m)])}
                                    </p>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
        </section>
    }
}

#[derive(Serialize)]
struct Options {
    #[serde(skip_serializing_if = "Option::is_none")]
    sigma_pt: Option<f64>,
    en_rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    assigned: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assigned_u: Option<f64>,
}

#[derive(Serialize)]
struct CreateBody {
    title: String,
    artefact: String,
    quantity: String,
    unit: String,
    protocol: String,
    deadline: String,
    method: String,
    options: Options,
    blind: bool,
}

/// `Ok(None)` for an empty input, `Err` for text that is not a number.
pub(crate) fn number(s: RwSignal<String>) -> Result<Option<f64>, ()> {
    let t = s.get_untracked().trim().replace('，', ".");
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(Some)
        .ok_or(())
}

pub(crate) const METHODS: &[(&str, Msg)] = &[
    ("auto", Msg::MethodAuto),
    ("weighted-mean", Msg::MethodWeightedMean),
    ("dersimonian-laird", Msg::MethodDl),
    ("mandel-paule", Msg::MethodMp),
    ("arithmetic-mean", Msg::MethodMean),
    ("median", Msg::MethodMedian),
    ("algorithm-a", Msg::MethodAlgorithmA),
    ("assigned", Msg::MethodAssigned),
];

#[component]
fn CreateForm(on_cancel: Callback<()>) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let navigate = use_navigate();
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let title = RwSignal::new(String::new());
    let artefact = RwSignal::new(String::new());
    let quantity = RwSignal::new(String::new());
    let unit = RwSignal::new(String::new());
    let protocol = RwSignal::new(String::new());
    let (d0, t0) = local_inputs(js_sys::Date::now() + 14.0 * 86_400_000.0);
    let date = RwSignal::new(d0);
    let time_of_day = RwSignal::new(t0);
    let method = RwSignal::new("auto".to_owned());
    let sigma_pt = RwSignal::new(String::new());
    let en_rule = RwSignal::new("iso13528".to_owned());
    let assigned = RwSignal::new(String::new());
    let assigned_u = RwSignal::new(String::new());
    let blind = RwSignal::new(true);
    let methods = Signal::derive(move || {
        METHODS
            .iter()
            .map(|(v, m)| ((*v).to_owned(), i18n.t(*m).to_owned()))
            .collect::<Vec<_>>()
    });
    let rules = Signal::derive(move || {
        vec![
            ("iso13528".to_owned(), i18n.t(Msg::RoundEnIso).to_owned()),
            ("jjf1117".to_owned(), i18n.t(Msg::RoundEnJjf).to_owned()),
        ]
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut problems = Vec::new();
        let mut num = |s: RwSignal<String>, field: &'static str| match number(s) {
            Ok(v) => v,
            Err(()) => {
                problems.push((field, Msg::RoundNeedNumber));
                None
            }
        };
        let sigma = num(sigma_pt, "options.sigma_pt");
        let (a, au) = (
            num(assigned, "options.assigned"),
            num(assigned_u, "options.assigned_u"),
        );
        let deadline =
            local_date_time_to_rfc3339(&date.get_untracked(), &time_of_day.get_untracked());
        if deadline.is_none() {
            problems.push(("deadline", Msg::RoundNeedNumber));
        }
        if !problems.is_empty() {
            errors.set(Some(local_problem(i18n, problems)));
            return;
        }
        let m = method.get_untracked();
        let body = CreateBody {
            title: title.get_untracked(),
            artefact: artefact.get_untracked(),
            quantity: quantity.get_untracked(),
            unit: unit.get_untracked().trim().to_owned(),
            protocol: protocol.get_untracked(),
            deadline: deadline.unwrap_or_default(),
            options: Options {
                sigma_pt: sigma,
                en_rule: en_rule.get_untracked(),
                assigned: if m == "assigned" { a } else { None },
                assigned_u: if m == "assigned" { au } else { None },
            },
            method: m,
            blind: blind.get_untracked(),
        };
        busy.set(true);
        errors.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            let r = api
                .post::<_, RoundView>(&format!("{V1}/rounds"), &body)
                .await;
            busy.set(false);
            match r {
                Ok(v) => navigate(&format!("/rounds/{}", v.id), Default::default()),
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    view! {
        <form class="form" on:submit=submit novalidate data-testid="round-form">
            <FormAlert errors=errors fields=&["title", "artefact", "quantity", "unit", "protocol", "deadline", "method",
                "options.sigma_pt", "options.assigned", "options.assigned_u"]/>
            <TextField label=Msg::RoundFieldTitle value=title errors=errors field="title" required=true testid="round-title"/>
            <TextField label=Msg::RoundFieldArtefact value=artefact errors=errors field="artefact" testid="round-artefact"/>
            <div class="field-row">
                <TextField label=Msg::RoundFieldQuantity value=quantity errors=errors field="quantity" required=true testid="round-quantity"/>
                <TextField label=Msg::RoundFieldUnit value=unit errors=errors field="unit" required=true testid="round-unit"/>
            </div>
            <TextArea label=Msg::RoundFieldProtocol value=protocol errors=errors field="protocol" testid="round-protocol"/>
            <div class="field">
                <label>{move || i18n.t(Msg::RoundFieldDeadline)}</label>
                <div class="field-row">
                    <input type="date" prop:value=move || date.get() on:input=move |ev| date.set(event_target_value(&ev)) data-testid="round-date"/>
                    <input type="time" prop:value=move || time_of_day.get() on:input=move |ev| time_of_day.set(event_target_value(&ev)) data-testid="round-time"/>
                </div>
            </div>
            <SelectField label=Msg::RoundFieldMethod value=method options=methods errors=errors field="method" testid="round-method"/>
            {move || (method.get() == "assigned").then(|| view! {
                <div class="field-row">
                    <TextField label=Msg::RoundFieldAssigned value=assigned errors=errors field="options.assigned" inputmode="decimal" testid="round-assigned"/>
                    <TextField label=Msg::RoundFieldAssignedU value=assigned_u errors=errors field="options.assigned_u" inputmode="decimal" testid="round-assigned-u"/>
                </div>
            })}
            <TextField label=Msg::RoundFieldSigmaPt value=sigma_pt errors=errors field="options.sigma_pt" inputmode="decimal" testid="round-sigma"/>
            <SelectField label=Msg::RoundFieldEnRule value=en_rule options=rules errors=errors field="options.en_rule" testid="round-en-rule"/>
            <label class="check">
                <input type="checkbox" prop:checked=move || blind.get()
                    on:change=move |ev| blind.set(event_target_checked(&ev)) data-testid="round-blind"/>
                <span>{move || i18n.t(Msg::RoundFieldBlind)}</span>
            </label>
            <div class="button-row">
                <SubmitButton label=Msg::RoundCreate busy=busy testid="round-create"/>
                <button type="button" class="secondary" on:click=move |_| on_cancel.run(())>{move || i18n.t(Msg::Cancel)}</button>
            </div>
        </form>
    }
}
