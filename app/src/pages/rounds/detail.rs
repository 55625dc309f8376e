//! `/rounds/:id`: one round. Everyone who may see it gets its settings and
//! labs (named as the server allows); a participating lab's people the
//! submission form (with attachments) until the deadline; coordinators
//! invite, close, exclude with a reason, publish. The report shows when
//! the server releases it to the reader.

use jiliang_metrology::interlab::CompareReport;
use jiliang_protocol::accounts::InstitutionView;
use jiliang_protocol::institutions::InstitutionLevel;
use jiliang_protocol::rounds::{AttachmentInfo, RoundLab, RoundState, RoundView};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use serde::Serialize;
use uuid::Uuid;
use wasm_bindgen::JsCast;

use super::report::ReportView;
use super::{METHODS, number, state_msg};
use crate::api::{ApiError, V1, encode, use_api};
use crate::components::forms::{Errors, FormAlert, SubmitButton, TextArea, TextField};
use crate::components::states::{ErrorBox, Loading, failure_view};
use crate::i18n::{Msg, use_i18n};
use crate::pages::devices::local_problem;
use crate::session::use_session;
use crate::util::{byte_size, in_subtree, inst_name, local_time, tree_order};

#[component]
pub fn RoundPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    move || {
        let id = id.get();
        view! { <RoundLoader id=id/> }
    }
}

#[component]
fn RoundLoader(id: String) -> impl IntoView {
    let api = use_api();
    let path = format!("{V1}/rounds/{}", encode(&id));
    let data = LocalResource::new(move || {
        let path = path.clone();
        async move { api.get::<RoundView>(&path).await }
    });
    let reload = Callback::new(move |_| data.refetch());
    move || match data.get() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => failure_view(e, Some(reload)),
        Some(Ok(round)) => view! { <Round round=round/> }.into_any(),
    }
}

#[component]
fn Round(round: RoundView) -> impl IntoView {
    let i18n = use_i18n();
    let current = RwSignal::new(round);
    let on_change = Callback::new(move |r: RoundView| current.set(r));
    // Outlives the form, which is rebuilt from each new view of the round.
    let saved = RwSignal::new(false);
    let r = current.get_untracked();
    let id = r.id;
    let method_msg = METHODS
        .iter()
        .find(|(v, _)| *v == r.method.as_str())
        .map(|(_, m)| *m)
        .unwrap_or(Msg::MethodAuto);
    view! {
        <nav class="breadcrumb" aria-label=move || i18n.t(Msg::Breadcrumb)>
            <ol><li><A href="/rounds">{move || i18n.t(Msg::RoundsTitle)}</A></li></ol>
        </nav>
        <div class="page-head" data-testid="round-page">
            <h1>{r.title.clone()}</h1>
            <p>
                {move || {
                    let s = current.with(|r| r.state);
                    view! { <span class=format!("badge badge-{}", s.as_str()) data-testid="round-state" data-state=s.as_str()>{i18n.t(state_msg(s))}</span> }
                }}
            </p>
        </div>
        <dl class="facts">
            <dt>{move || i18n.t(Msg::RoundFieldQuantity)}</dt>
            <dd>{format!("{} / {}", r.quantity, r.unit)}</dd>
            {(!r.artefact.is_empty()).then(|| view! {
                <dt>{move || i18n.t(Msg::RoundFieldArtefact)}</dt><dd>{r.artefact.clone()}</dd>
            })}
            <dt>{move || i18n.t(Msg::RoundFieldDeadline)}</dt>
            <dd>{local_time(r.deadline.unix_timestamp())}</dd>
            <dt>{move || i18n.t(Msg::RoundFieldMethod)}</dt>
            <dd>{move || i18n.t(method_msg)}</dd>
            {(!r.protocol.is_empty()).then(|| view! {
                <dt>{move || i18n.t(Msg::RoundFieldProtocol)}</dt><dd class="pre">{r.protocol.clone()}</dd>
            })}
        </dl>
        {move || {
            let r = current.get();
            let own = r.abilities.submit_for.first().copied();
            own.map(|lab| {
                let mine = r.labs.iter().find(|l| l.lab_id == Some(lab)).cloned();
                view! { <SubmitForm round=id lab=lab mine=mine saved=saved on_change=on_change/> }
            })
        }}
        <section class="dash-section" data-testid="round-labs">
            <h2>{move || i18n.t(Msg::RoundLabs)}</h2>
            {move || {
                let r = current.get();
                if r.labs.is_empty() {
                    return view! { <p class="muted">{move || i18n.t(Msg::RoundNoLabs)}</p> }.into_any();
                }
                let manage_closed = r.abilities.manage && r.state == RoundState::Closed;
                view! {
                    <ul class="round-labs">
                        {r.labs.into_iter().map(|l| view! { <LabLine round=id lab=l manage=manage_closed on_change=on_change/> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        {move || {
            let r = current.get();
            (r.abilities.manage).then(|| view! { <Manage round=r on_change=on_change/> })
        }}
        {move || {
            let r = current.get();
            view! { <ReportBlock round=r/> }
        }}
    }
}

#[component]
fn LabLine(
    round: Uuid,
    lab: RoundLab,
    manage: bool,
    on_change: Callback<RoundView>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let reason = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let label = match &lab.name {
        Some(n) => format!("{} · {n}", lab.code),
        None => lab.code.clone(),
    };
    let submitted = lab.submitted;
    let excluded = lab.excluded.clone();
    let lab_id = lab.lab_id;
    let result = lab
        .result
        .clone()
        .map(|r| format!("{} (U = {}, k = {})", r.value, r.expanded_uncertainty, r.k));
    let act = move |exclude: bool| {
        let Some(lab_id) = lab_id else { return };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let path = format!("{V1}/rounds/{round}/labs/{lab_id}/exclusion");
            let r = if exclude {
                #[derive(Serialize)]
                struct Body {
                    reason: String,
                }
                api.put::<_, RoundView>(
                    &path,
                    &Body {
                        reason: reason.get_untracked(),
                    },
                )
                .await
            } else {
                api.delete::<RoundView>(&path).await
            };
            busy.set(false);
            match r {
                Ok(v) => on_change.run(v),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let code = lab.code.clone();
    view! {
        <li class="card round-lab" data-testid="round-lab" data-code=code>
            <strong>{label}</strong>
            " "
            <span class=if submitted { "badge badge-ok" } else { "badge" }>
                {move || i18n.t(if submitted { Msg::RoundSubmitted } else { Msg::RoundNotSubmitted })}
            </span>
            {result.map(|r| view! { <p class="mono">{r}</p> })}
            {excluded.clone().map(|why| view! {
                <p class="muted" data-testid="round-excluded">{move || i18n.tf(Msg::RoundExcluded, &[("reason", &why)])}</p>
            })}
            {(manage && lab_id.is_some()).then(|| if excluded.is_some() {
                view! {
                    <button type="button" class="secondary" disabled=move || busy.get()
                        data-testid="round-include" on:click=move |_| act(false)>{move || i18n.t(Msg::RoundInclude)}</button>
                }.into_any()
            } else {
                view! {
                    <div class="field-row">
                        <input type="text" placeholder=move || i18n.t(Msg::RoundExcludeReason)
                            aria-label=move || i18n.t(Msg::RoundExcludeReason)
                            prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev))
                            data-testid="round-exclude-reason"/>
                        <button type="button" class="secondary danger" disabled=move || busy.get()
                            data-testid="round-exclude" on:click=move |_| act(true)>{move || i18n.t(Msg::RoundExclude)}</button>
                    </div>
                }.into_any()
            })}
            {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
        </li>
    }
}

#[derive(Serialize)]
struct ResultBody {
    value: f64,
    expanded_uncertainty: f64,
    k: f64,
    method_notes: String,
}

#[derive(Serialize)]
struct AttachmentBody {
    name: String,
    content_type: String,
    data_base64: String,
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[component]
fn SubmitForm(
    round: Uuid,
    lab: Uuid,
    mine: Option<RoundLab>,
    saved: RwSignal<bool>,
    on_change: Callback<RoundView>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let prev = mine.as_ref().and_then(|l| l.result.clone());
    let had = prev.is_some();
    let value = RwSignal::new(
        prev.as_ref()
            .map(|r| r.value.to_string())
            .unwrap_or_default(),
    );
    let big_u = RwSignal::new(
        prev.as_ref()
            .map(|r| r.expanded_uncertainty.to_string())
            .unwrap_or_default(),
    );
    let k = RwSignal::new(
        prev.as_ref()
            .map(|r| r.k.to_string())
            .unwrap_or_else(|| "2".into()),
    );
    let notes = RwSignal::new(
        prev.as_ref()
            .map(|r| r.method_notes.clone())
            .unwrap_or_default(),
    );
    let attachments: Vec<AttachmentInfo> = prev.map(|r| r.attachments).unwrap_or_default();
    let att_error = RwSignal::new(None::<ApiError>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut problems = Vec::new();
        let mut need = |s: RwSignal<String>, field: &'static str, positive: bool| match number(s) {
            Ok(Some(v)) if !positive || v > 0.0 => v,
            Ok(Some(_)) => {
                problems.push((field, Msg::RoundNeedPositive));
                0.0
            }
            _ => {
                problems.push((field, Msg::RoundNeedNumber));
                0.0
            }
        };
        let body = ResultBody {
            value: need(value, "value", false),
            expanded_uncertainty: need(big_u, "expanded_uncertainty", true),
            k: need(k, "k", true),
            method_notes: notes.get_untracked(),
        };
        if !problems.is_empty() {
            errors.set(Some(local_problem(i18n, problems)));
            return;
        }
        busy.set(true);
        errors.set(None);
        saved.set(false);
        spawn_local(async move {
            let r = api
                .put::<_, RoundView>(&format!("{V1}/rounds/{round}/results/{lab}"), &body)
                .await;
            busy.set(false);
            match r {
                Ok(v) => {
                    saved.set(true);
                    on_change.run(v);
                }
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    let on_file = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        att_error.set(None);
        spawn_local(async move {
            let buf = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await;
            let Ok(buf) = buf else { return };
            let bytes = js_sys::Uint8Array::new(&buf).to_vec();
            let body = AttachmentBody {
                name: file.name(),
                content_type: file.type_(),
                data_base64: base64(&bytes),
            };
            match api
                .post::<_, AttachmentInfo>(
                    &format!("{V1}/rounds/{round}/results/{lab}/attachments"),
                    &body,
                )
                .await
            {
                Ok(_) => {
                    if let Ok(v) = api.get::<RoundView>(&format!("{V1}/rounds/{round}")).await {
                        on_change.run(v);
                    }
                }
                Err(e) => att_error.set(Some(e)),
            }
        });
    };
    view! {
        <section class="dash-section card" data-testid="round-submit">
            <h2>{move || i18n.t(Msg::RoundYourResult)}</h2>
            <form class="form" on:submit=submit novalidate>
                <FormAlert errors=errors fields=&["value", "expanded_uncertainty", "k", "method_notes"]/>
                <TextField label=Msg::RoundFieldValue value=value errors=errors field="value" required=true inputmode="decimal" testid="result-value"/>
                <div class="field-row">
                    <TextField label=Msg::RoundFieldU value=big_u errors=errors field="expanded_uncertainty" required=true inputmode="decimal" testid="result-u"/>
                    <TextField label=Msg::RoundFieldK value=k errors=errors field="k" required=true inputmode="decimal" testid="result-k"/>
                </div>
                <TextArea label=Msg::RoundFieldNotes value=notes errors=errors field="method_notes" testid="result-notes"/>
                {move || saved.get().then(|| view! { <p class="notice" role="status" data-testid="result-saved">{move || i18n.t(Msg::RoundSaved)}</p> })}
                <div class="button-row">
                    <SubmitButton label=if had { Msg::RoundCorrect } else { Msg::RoundSubmit } busy=busy testid="result-submit"/>
                </div>
            </form>
            {had.then(|| view! {
                <div class="field">
                    <label>{move || i18n.t(Msg::RoundAttach)}</label>
                    <input type="file" accept=".pdf,.png,.jpg,.jpeg,.txt,.csv" on:change=on_file data-testid="result-file"/>
                </div>
            })}
            {move || att_error.get().map(|e| view! { <ErrorBox error=e/> })}
            {(!attachments.is_empty()).then(|| view! {
                <h3>{move || i18n.t(Msg::RoundAttachments)}</h3>
                <ul>
                    {attachments.into_iter().map(|a| view! {
                        <li><a href=format!("{V1}/rounds/{round}/attachments/{}", a.id)>{a.name.clone()}</a>
                        " "<span class="muted">{byte_size(a.size)}</span></li>
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}

#[component]
fn Manage(round: RoundView, on_change: Callback<RoundView>) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let session = use_session();
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let confirm = RwSignal::new(None::<&'static str>);
    let names = RwSignal::new(true);
    let chosen = RwSignal::new(Vec::<Uuid>::new());
    let id = round.id;
    let state = round.state;
    let invited: Vec<Uuid> = round.labs.iter().filter_map(|l| l.lab_id).collect();
    let institutions = LocalResource::new(move || async move {
        api.get::<Vec<InstitutionView>>(&format!("{V1}/institutions"))
            .await
    });
    let run = move |what: &'static str| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let r = match what {
                "close" => {
                    api.post_empty::<RoundView>(&format!("{V1}/rounds/{id}/close"))
                        .await
                }
                "publish" => {
                    #[derive(Serialize)]
                    struct Body {
                        names: bool,
                    }
                    api.post::<_, RoundView>(
                        &format!("{V1}/rounds/{id}/publish"),
                        &Body {
                            names: names.get_untracked(),
                        },
                    )
                    .await
                }
                _ => {
                    #[derive(Serialize)]
                    struct Body {
                        lab_ids: Vec<Uuid>,
                    }
                    api.post::<_, RoundView>(
                        &format!("{V1}/rounds/{id}/labs"),
                        &Body {
                            lab_ids: chosen.get_untracked(),
                        },
                    )
                    .await
                }
            };
            busy.set(false);
            confirm.set(None);
            match r {
                Ok(v) => {
                    chosen.set(Vec::new());
                    on_change.run(v);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class="dash-section card" data-testid="round-manage">
            {(state == RoundState::Open).then(|| view! {
                <fieldset class="field checks" data-testid="round-invite">
                    <legend>{move || i18n.t(Msg::RoundInvite)}</legend>
                    {move || {
                        let Some(me) = session.me_untracked() else { return ().into_any() };
                        let invited = invited.clone();
                        match institutions.get() {
                            None => view! { <Loading/> }.into_any(),
                            Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                            Some(Ok(list)) => {
                                let labs: Vec<InstitutionView> = tree_order(&list)
                                    .into_iter()
                                    .map(|(v, _)| v)
                                    .filter(|v| in_subtree(v, &me.institution) && v.institution.active
                                        && matches!(v.institution.level, InstitutionLevel::City | InstitutionLevel::County)
                                        && !invited.contains(&v.institution.id))
                                    .collect();
                                view! {
                                    <div class="check-row lab-row">
                                        {labs.into_iter().map(|v| {
                                            let lab = v.institution.id;
                                            let inst = v.institution.clone();
                                            let zh = inst.name_zh.clone();
                                            view! {
                                                <label class="check" data-testid="invite-check" data-name=zh>
                                                    <input type="checkbox"
                                                        prop:checked=move || chosen.with(|c| c.contains(&lab))
                                                        on:change=move |ev| {
                                                            let on = event_target_checked(&ev);
                                                            chosen.update(|c| { c.retain(|x| *x != lab); if on { c.push(lab); } });
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
                    <button type="button" class="secondary" data-testid="round-invite-submit"
                        disabled=move || busy.get() || chosen.with(Vec::is_empty)
                        on:click=move |_| run("invite")>{move || i18n.t(Msg::RoundInviteSubmit)}</button>
                </fieldset>
                <button type="button" class="primary" data-testid="round-close"
                    disabled=move || busy.get() on:click=move |_| confirm.set(Some("close"))>{move || i18n.t(Msg::RoundClose)}</button>
            })}
            {(state == RoundState::Closed).then(|| view! {
                <label class="check">
                    <input type="checkbox" prop:checked=move || names.get()
                        on:change=move |ev| names.set(event_target_checked(&ev)) data-testid="round-publish-names"/>
                    <span>{move || i18n.t(Msg::RoundPublishNames)}</span>
                </label>
                <button type="button" class="primary" data-testid="round-publish"
                    disabled=move || busy.get() on:click=move |_| confirm.set(Some("publish"))>{move || i18n.t(Msg::RoundPublish)}</button>
            })}
            {(state == RoundState::Published).then(|| view! {
                <p class="notice" data-testid="round-published">{move || i18n.t(Msg::RoundPublished)}</p>
                <p><A href=format!("/verify/round_report/{id}")>{move || i18n.t(Msg::RoundVerifyRecord)}</A></p>
            })}
            {move || confirm.get().map(|what| view! {
                <div class="panel confirm" role="alertdialog">
                    <p>{move || i18n.t(if what == "close" { Msg::RoundConfirmClose } else { Msg::RoundConfirmPublish })}</p>
                    <div class="button-row">
                        <button type="button" class="primary" data-testid="round-confirm"
                            disabled=move || busy.get() on:click=move |_| run(what)>{move || i18n.t(Msg::Confirm)}</button>
                        <button type="button" class="secondary" on:click=move |_| confirm.set(None)>{move || i18n.t(Msg::Cancel)}</button>
                    </div>
                </div>
            })}
            {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
        </section>
    }
}

#[component]
fn ReportBlock(round: RoundView) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    if !round.abilities.report {
        return view! { <p class="muted" data-testid="round-report-hidden">{move || i18n.t(Msg::RoundReportHidden)}</p> }.into_any();
    }
    let id = round.id;
    let unit = round.unit.clone();
    // The published report as a numbered document: PDF, DCC, public page.
    let issued = round.report_number.clone().map(|n| {
        let pdf = format!("{V1}/certificates/{}/pdf", encode(&n));
        let dcc = format!("{V1}/certificates/{}/dcc.xml", encode(&n));
        let verify = format!("/verify/{}", encode(&n));
        let shown = n.clone();
        view! {
            <section class="card round-report-doc" data-testid="round-report-doc" data-number=n>
                <p><strong class="mono" data-testid="round-report-number">{move || i18n.tf(Msg::RoundReportNumber, &[("number", &shown)])}</strong></p>
                <div class="button-row">
                    <a href=pdf class="button secondary" data-testid="round-report-pdf" download>{move || i18n.t(Msg::RoundReportPdf)}</a>
                    <a href=dcc class="button secondary" data-testid="round-report-dcc" download>{move || i18n.t(Msg::RoundReportDcc)}</a>
                    <A href=verify attr:class="button secondary" attr:data-testid="round-report-verify">{move || i18n.t(Msg::RoundReportVerify)}</A>
                </div>
            </section>
        }
    });
    let data = LocalResource::new(move || async move {
        api.get::<CompareReport>(&format!("{V1}/rounds/{id}/report"))
            .await
    });
    let data_view = (move || match data.get() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => view! {
            <section class="dash-section" data-testid="round-report-none">
                <h2>{move || i18n.t(Msg::RoundReport)}</h2>
                <p>{e.message(i18n)}</p>
            </section>
        }.into_any(),
        Some(Ok(report)) => view! {
            <ReportView report=report unit=unit.clone() csv_href=format!("{V1}/rounds/{id}/report.csv")/>
        }.into_any(),
    })
    .into_any();
    view! { {issued} {data_view} }.into_any()
}
