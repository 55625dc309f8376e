//! The session's comparison of a unit under test against a reference: the
//! host's setup and point controls, and — for everyone in the room — the
//! points table with x̄ UUT, x̄ ref, E, U(E), En and the verdict, live as
//! readings arrive, then the record and the CSV of every reading used.
//!
//! The numbers are the room log folded by
//! `jiliang_protocol::comparison::ComparisonLog` in the room client (the
//! same fold and the same `jiliang_metrology::calibration` code the server
//! stores the result with): the REST calls only ask the server to write
//! the setup, a point's start or the finish into the log; what the page
//! shows comes back through the socket, as it does for every other
//! participant.

use crate::pages::certificates::CertificatePanel;
use jiliang_app_core::comparison::verdict_key;
use jiliang_app_core::instruments::format_value;
use jiliang_metrology::calibration::PointStatus;
use jiliang_metrology::conformity::Verdict;
use jiliang_protocol::comparison::{ComparisonPointView, ComparisonSpec, ComparisonView};
use jiliang_protocol::devices::Device;
use jiliang_protocol::rooms::{EventBody, RoomEvent};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use uuid::Uuid;

use super::setup::SetupForm;
use crate::api::{ApiError, V1, use_api};
use crate::components::states::ErrorBox;
use crate::i18n::{I18n, Msg, use_i18n};
use crate::net::room::RoomHandle;

pub(super) fn verdict_msg(v: Verdict) -> Msg {
    match v {
        Verdict::Pass => Msg::VerdictPass,
        Verdict::Fail => Msg::VerdictFail,
        Verdict::Indeterminate => Msg::VerdictIndeterminate,
    }
}

fn status_msg(s: PointStatus) -> Msg {
    match s {
        PointStatus::Pending => Msg::PointPending,
        PointStatus::Collecting => Msg::PointCollecting,
        PointStatus::Complete => Msg::PointComplete,
    }
}

/// A number with six significant digits (E and U(E) are small differences
/// of large values; the table must not round them away).
fn sig(v: f64) -> String {
    format_value(v, None)
}

fn signed(v: f64) -> String {
    let s = sig(v);
    if v > 0.0 { format!("+{s}") } else { s }
}

/// The verdict as a coloured badge that also says it in words.
#[component]
pub(super) fn VerdictBadge(verdict: Verdict, #[prop(optional)] provisional: bool) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <span class=format!("badge verdict verdict-{}", verdict_key(verdict)) data-testid="verdict"
            data-verdict=verdict_key(verdict)>
            {move || i18n.t(verdict_msg(verdict))}
            {provisional.then(|| view! { <span class="small">{move || i18n.t(Msg::Provisional)}</span> })}
        </span>
    }
}

#[component]
pub(super) fn ComparisonPanel(
    handle: RoomHandle,
    session_id: Uuid,
    can_manage: bool,
    attached: RwSignal<Vec<Device>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let s = handle.s;
    let view_m = Memo::new(move |_| s.comparison.with(|c| c.view(session_id)));
    let started = Memo::new(move |_| s.comparison.with(|c| c.started()));
    let finished =
        Memo::new(move |_| view_m.with(|v| v.as_ref().is_some_and(|v| v.finished.is_some())));
    let has = Memo::new(move |_| view_m.with(Option::is_some));
    let editing = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let confirm_finish = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let base = format!("{V1}/sessions/{session_id}/comparison");
    let act = {
        let base = base.clone();
        move |path: String| {
            let url = format!("{base}/{path}");
            busy.set(true);
            error.set(None);
            spawn_local(async move {
                let r = api.post_empty::<ComparisonView>(&url).await;
                busy.set(false);
                confirm_finish.set(false);
                if let Err(e) = r {
                    error.set(Some(e));
                }
            });
        }
    };
    let act = StoredValue::new(act);
    // The settings can change until the first point starts; after the
    // finish a new comparison can be set up.
    let changeable = move || !started.get() || finished.get();
    let show_form = move || can_manage && (!has.get() || editing.get()) && changeable();
    let on_saved = Callback::new(move |_: ()| editing.set(false));
    let csv = format!("{base}/readings.csv");
    view! {
        <section class="comparison" data-testid="comparison" aria-labelledby="comparison-h">
            <div class="section-head">
                <h2 id="comparison-h">{move || i18n.t(Msg::ComparisonTitle)}</h2>
                {move || view_m.with(|v| v.as_ref().and_then(|v| v.verdict)).map(|v| view! {
                    <span data-testid="overall-verdict"><VerdictBadge verdict=v/></span>
                })}
            </div>
            {move || (!has.get() && !can_manage).then(|| view! {
                <p class="muted small" data-testid="no-comparison">{move || i18n.t(Msg::NoComparison)}</p>
            })}
            {move || view_m.get().map(|v| view! { <SpecSummary view=v/> })}
            {move || show_form().then(|| view! {
                <SetupForm session_id=session_id attached=attached current=view_m.get_untracked() on_saved=on_saved/>
            })}
            {move || (can_manage && has.get() && !editing.get() && (!started.get() || finished.get())).then(|| view! {
                <button type="button" class="secondary" data-testid="comparison-edit" on:click=move |_| editing.set(true)>
                    {move || i18n.t(if finished.get() { Msg::ComparisonNew } else { Msg::ComparisonChange })}
                </button>
            })}
            {move || view_m.get().map(|v| {
                let current = v.current_point;
                let done = v.finished.is_some();
                let unit = v.spec.uut_unit.clone();
                view! {
                    <div class="table-scroll">
                        <table class="points" data-testid="points-table">
                            <thead><tr>
                                <th scope="col">"#"</th>
                                <th scope="col">{move || i18n.tf(Msg::ColNominal, &[("unit", &unit)])}</th>
                                <th scope="col">{move || i18n.t(Msg::ColStatus)}</th>
                                <th scope="col">{move || i18n.t(Msg::ColMeanUut)}</th>
                                <th scope="col">{move || i18n.t(Msg::ColMeanRef)}</th>
                                <th scope="col">"E"</th>
                                <th scope="col">"U(E)"</th>
                                <th scope="col" title=move || i18n.t(Msg::ColEnHelp)>"En"</th>
                                <th scope="col">{move || i18n.t(Msg::ColVerdict)}</th>
                                {(can_manage && !done).then(|| view! { <th scope="col"><span class="visually-hidden">{move || i18n.t(Msg::ColActions)}</span></th> })}
                            </tr></thead>
                            <tbody>
                                {v.points.into_iter().map(|p| {
                                    let is_current = current == Some(p.index);
                                    point_row(p, is_current, can_manage && !done, busy, act, i18n)
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
            })}
            {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
            {move || (can_manage && started.get() && !finished.get()).then(|| view! {
                <div class="button-row">
                    {move || (!confirm_finish.get()).then(|| view! {
                        <button type="button" class="primary" data-testid="comparison-finish"
                            disabled=move || busy.get() on:click=move |_| confirm_finish.set(true)>
                            {move || i18n.t(Msg::ComparisonFinish)}
                        </button>
                    })}
                </div>
                {move || confirm_finish.get().then(|| view! {
                    <div class="panel confirm" role="alertdialog">
                        <p>{move || i18n.t(Msg::ComparisonConfirmFinish)}</p>
                        <div class="button-row">
                            <button type="button" class="primary" data-testid="comparison-confirm-finish"
                                disabled=move || busy.get() on:click=move |_| act.with_value(|a| a("finish".to_owned()))>
                                {move || if busy.get() { i18n.t(Msg::Working) } else { i18n.t(Msg::Confirm) }}
                            </button>
                            <button type="button" class="secondary" on:click=move |_| confirm_finish.set(false)>
                                {move || i18n.t(Msg::Cancel)}
                            </button>
                        </div>
                    </div>
                })}
            })}
            {move || view_m.with(|v| v.as_ref().and_then(|v| v.finished.clone())).map(|f| {
                let verify = format!("/verify/{}/{}", f.record.kind, f.record.id);
                let record_id = f.record.id.clone();
                let csv = csv.clone();
                view! {
                    <div class="notice ok comparison-done" data-testid="comparison-finished">
                        <p>{move || i18n.t(Msg::ComparisonStored)}</p>
                        <div class="button-row">
                            <a href=verify class="button secondary" data-testid="comparison-record" target="_blank" rel="noopener">
                                {move || i18n.t(Msg::ComparisonRecord)}
                            </a>
                            <a href=csv class="button secondary" data-testid="comparison-csv" download="comparison-readings.csv">
                                {move || i18n.t(Msg::ComparisonCsv)}
                            </a>
                        </div>
                        <CertificatePanel comparison_id=record_id/>
                    </div>
                }
            })}
        </section>
    }
}

fn point_row(
    p: ComparisonPointView,
    is_current: bool,
    controls: bool,
    busy: RwSignal<bool>,
    act: StoredValue<impl Fn(String) + Send + Sync + 'static>,
    i18n: I18n,
) -> AnyView {
    let index = p.index;
    let status = p.status;
    let r = p.result.clone();
    let provisional = status != PointStatus::Complete;
    let counts = format!("{}/{}", p.n_uut, p.n_ref);
    let cell = |f: &dyn Fn(&jiliang_metrology::calibration::PointResult) -> String| {
        r.as_ref().map_or_else(|| "—".to_owned(), f)
    };
    let mean_uut = cell(&|r| sig(r.uut.mean));
    let mean_ref = cell(&|r| sig(r.reference.mean));
    let e = cell(&|r| signed(r.e));
    let big_u = cell(&|r| sig(r.big_u));
    let en = cell(&|r| format!("{:+.3}", r.en_mpe));
    let verdict = r.as_ref().map(|r| r.verdict());
    let problem = p.error.clone();
    view! {
        <tr class:current=is_current data-testid="point-row" data-index=index.to_string()
            data-status=move || match status { PointStatus::Pending => "pending", PointStatus::Collecting => "collecting", PointStatus::Complete => "complete" }
            aria-current=is_current.then_some("step")>
            <td>{(index + 1).to_string()}</td>
            <td class="num">{sig(p.nominal)}</td>
            <td>
                {move || i18n.t(status_msg(status))}
                <span class="muted small">" "{counts.clone()}</span>
                {problem.clone().map(|m| view! { <span class="small bad">" "{m}</span> })}
            </td>
            <td class="num" data-testid="mean-uut">{mean_uut}</td>
            <td class="num" data-testid="mean-ref">{mean_ref}</td>
            <td class="num" data-testid="point-e">{e}</td>
            <td class="num" data-testid="point-u">{big_u}</td>
            <td class="num" data-testid="point-en">{en}</td>
            <td>{verdict.map(|v| view! { <VerdictBadge verdict=v provisional=provisional/> })}</td>
            {controls.then(|| view! {
                <td>
                    <button type="button" class="secondary small" data-testid="point-start"
                        disabled=move || busy.get()
                        on:click=move |_| act.with_value(|a| a(format!("points/{index}/start")))>
                        {move || i18n.tf(if status == PointStatus::Pending { Msg::PointStart } else { Msg::PointRestart },
                            &[("n", &(index + 1).to_string())])}
                    </button>
                </td>
            })}
        </tr>
    }
    .into_any()
}

/// The settings in one line: devices, points, MPE, reference U.
#[component]
fn SpecSummary(view: ComparisonView) -> impl IntoView {
    let i18n = use_i18n();
    let spec = view.spec;
    let cal = spec.calibration.clone();
    let mpe_v = cal.mpe;
    let unit = cal.unit.clone();
    let mpe = move || super::setup::mpe_text(&mpe_v, &unit, i18n);
    let text = move || {
        i18n.tf(
            Msg::ComparisonSummary,
            &[
                ("uut", &spec.uut_name),
                ("reference", &spec.ref_name),
                ("n", &cal.readings_per_point.to_string()),
                (
                    "u",
                    &format!("{} {}", sig(cal.ref_certificate.expanded), cal.unit),
                ),
                ("k", &cal.ref_certificate.k.to_string()),
            ],
        )
    };
    view! {
        <p class="small comparison-summary" data-testid="comparison-summary">{text}</p>
        <p class="small muted">{move || i18n.t(Msg::MpeLabel)}" "{mpe}</p>
    }
}

/// A finished comparison in a session's read-only record: the outcome
/// each point had when the host finished (from the `comparison_finished`
/// event of the stored timeline), the record and the CSV of its readings.
#[component]
pub(in crate::pages::room) fn FinishedComparison(
    session_id: Uuid,
    /// The `comparison_finished` event.
    finished: RoomEvent,
    /// Its settings (`comparison_setup`), when the timeline holds them.
    spec: Option<ComparisonSpec>,
) -> impl IntoView {
    let i18n = use_i18n();
    let EventBody::ComparisonFinished {
        record,
        verdict,
        points,
        ..
    } = finished.body
    else {
        return ().into_any();
    };
    let unit = spec
        .as_ref()
        .map(|s| s.uut_unit.clone())
        .unwrap_or_default();
    let verify = format!("/verify/{}/{}", record.kind, record.id);
    let record_id = record.id.clone();
    let csv = format!("{V1}/sessions/{session_id}/comparison/readings.csv");
    view! {
        <section class="comparison record-comparison" data-testid="record-comparison">
            <div class="section-head">
                <h2>{move || i18n.t(Msg::ComparisonTitle)}</h2>
                {verdict.map(|v| view! { <span data-testid="overall-verdict"><VerdictBadge verdict=v/></span> })}
            </div>
            {spec.map(|s| view! { <p class="small">{format!("{} ↔ {}", s.uut_name, s.ref_name)}</p> })}
            <div class="table-scroll">
                <table class="points" data-testid="points-table">
                    <thead><tr>
                        <th scope="col">"#"</th>
                        <th scope="col">{move || i18n.tf(Msg::ColNominal, &[("unit", &unit)])}</th>
                        <th scope="col">"E"</th>
                        <th scope="col">"U(E)"</th>
                        <th scope="col" title=move || i18n.t(Msg::ColEnHelp)>"En"</th>
                        <th scope="col">{move || i18n.t(Msg::ColVerdict)}</th>
                    </tr></thead>
                    <tbody>
                        {points.into_iter().map(|p| view! {
                            <tr data-testid="point-row" data-index=p.index.to_string()>
                                <td>{(p.index + 1).to_string()}</td>
                                <td class="num">{sig(p.nominal)}</td>
                                <td class="num" data-testid="point-e">{p.e.map_or_else(|| "—".to_owned(), signed)}</td>
                                <td class="num" data-testid="point-u">{p.big_u.map_or_else(|| "—".to_owned(), sig)}</td>
                                <td class="num">{p.en_mpe.map_or_else(|| "—".to_owned(), |x| format!("{x:+.3}"))}</td>
                                <td>{p.verdict.map(|v| view! { <VerdictBadge verdict=v/> })}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <div class="button-row">
                <A href=verify attr:class="button secondary" attr:data-testid="comparison-record">{move || i18n.t(Msg::ComparisonRecord)}</A>
                <a href=csv class="button secondary" data-testid="comparison-csv" download="comparison-readings.csv">
                    {move || i18n.t(Msg::ComparisonCsv)}
                </a>
            </div>
            <CertificatePanel comparison_id=record_id/>
        </section>
    }
    .into_any()
}
