//! Calibration certificates in the browser.
//!
//! - `/verify/:number` (anyone, no login): the public verification page a
//!   certificate's QR code links to — number, lab, instrument, dates,
//!   signer, the status said in words (有效 / 已撤销 / 已被替代), and the
//!   certificate's ledger record checked here with the wasm ledger crate
//!   ([`LedgerReport`]); an unknown number is said to be unknown.
//! - `/certificates` (logged in): the certificates of the person's
//!   institution and those below it, with PDF and DCC downloads.
//! - [`CertificatePanel`]: under a finished comparison, its certificates,
//!   and for the signing expert: issue, revoke, issue a replacement.

use jiliang_ledger::{Bundle, verify_bundle};
use jiliang_protocol::certificates::{
    CertificateQuery, CertificateStatus, CertificateView, IssueCertificate, PublicCertificate,
    RevokeCertificate,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::{ApiError, V1, encode, use_api};
use crate::components::ledger_report::{LedgerReport, Loaded, Source, parse_export};
use crate::components::states::{Loading, failure_view};
use crate::i18n::{Locale, Msg, use_i18n};
use crate::session::use_session;
use crate::util::dom_id;

fn status_msg(s: CertificateStatus) -> Msg {
    match s {
        CertificateStatus::Valid => Msg::CertValid,
        CertificateStatus::Revoked => Msg::CertRevoked,
        CertificateStatus::Superseded => Msg::CertSuperseded,
    }
}

#[component]
fn StatusBadge(status: CertificateStatus) -> impl IntoView {
    let class = match status {
        CertificateStatus::Valid => "badge badge-ok",
        CertificateStatus::Revoked => "badge badge-bad",
        CertificateStatus::Superseded => "badge badge-warn",
    };
    view! {
        <span class=class data-testid="cert-status" data-status=status.as_str()>
            // Both languages, Chinese first: the status is what the page is for.
            {format!("{} / {}", status_msg(status).text(Locale::ZhCn), status_msg(status).text(Locale::En))}
        </span>
    }
}

#[component]
pub fn CertificatePublicPage() -> impl IntoView {
    let params = use_params_map();
    let number = Memo::new(move |_| params.with(|p| p.get("number").unwrap_or_default()));
    move || view! { <PublicCertificateView number=number.get()/> }
}

#[component]
fn PublicCertificateView(number: String) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let path = format!("{V1}/certificates/{}", encode(&number));
    let fetched = LocalResource::new(move || {
        let path = path.clone();
        async move { api.get::<PublicCertificate>(&path).await }
    });
    let retry = Callback::new(move |_| fetched.refetch());
    let asked = number.clone();
    view! {
        <article class="verify-page cert-public" data-testid="cert-public-page">
            <header class="page-head">
                <h1>{move || i18n.t(Msg::CertPublicTitle)}</h1>
                <p class="muted">{move || i18n.t(Msg::CertPublicIntro)}</p>
            </header>
            {move || match fetched.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(ApiError::Server { status: 404, .. })) => {
                    let n = asked.clone();
                    view! {
                        <div class="error-box cert-unknown" role="alert" data-testid="cert-unknown">
                            <p><strong>{move || i18n.tf(Msg::CertUnknown, &[("number", &n)])}</strong></p>
                        </div>
                    }.into_any()
                }
                Some(Err(e)) => failure_view(e, Some(retry)),
                Some(Ok(c)) => view! { <PublicDetails c=c/> }.into_any(),
            }}
            <LookupForm/>
        </article>
    }
}

#[component]
fn PublicDetails(c: PublicCertificate) -> impl IntoView {
    let i18n = use_i18n();
    let (box_class, msg) = match c.status {
        CertificateStatus::Valid => ("notice ok cert-verdict", Msg::CertStatusValid),
        CertificateStatus::Revoked => ("error-box cert-verdict", Msg::CertStatusRevoked),
        CertificateStatus::Superseded => ("notice warn cert-verdict", Msg::CertStatusSuperseded),
    };
    let reason = c.status_reason.clone();
    let replaced = c.superseded_by.clone();
    let ledger = c.ledger.as_ref().and_then(|v| {
        let text = serde_json::to_string(v).ok()?;
        let bundle = parse_export(&text).ok()?;
        Some((text, bundle))
    });
    // The status the log proves, checked here: the status leaf when the
    // certificate was revoked or superseded, else its issue leaf alone.
    let proven = ledger
        .as_ref()
        .map(|(_, bundle)| (verify_bundle(bundle).ok, ledger_status(bundle, &c.number)));
    let proven_view = proven.map(|(ok, status)| match (ok, status) {
        (true, Some(s)) => {
            let differs = s != c.status;
            view! {
                <p data-testid="cert-ledger-status" data-status=s.as_str()>
                    {move || i18n.tf(Msg::CertLedgerStatus, &[("status", status_msg(s).text(i18n.locale()))])}
                </p>
                {differs.then(|| view! {
                    <p class="error-box" role="alert" data-testid="cert-ledger-differs">
                        {move || i18n.tf(Msg::CertLedgerStatusDiffers, &[("status", status_msg(s).text(i18n.locale()))])}
                    </p>
                })}
            }
            .into_any()
        }
        _ => view! {
            <p class="error-box" role="alert" data-testid="cert-ledger-unchecked">{move || i18n.t(Msg::CertLedgerStatusUnchecked)}</p>
        }
        .into_any(),
    });
    let ledger = ledger.map(|(text, bundle)| Loaded {
        bundle,
        text,
        source: Source::Record {
            kind: "certificate".to_owned(),
            id: c.number.clone(),
        },
    });
    let lab = match &c.lab_en {
        Some(en) => format!("{} ({en})", c.lab),
        None => c.lab.clone(),
    };
    view! {
        <section class=box_class role="status" data-testid="cert-verdict" data-status=c.status.as_str()>
            <p><strong>{move || i18n.t(msg)}</strong></p>
            {reason.map(|r| view! { <p data-testid="cert-reason">{move || i18n.tf(Msg::CertStatusReason, &[("reason", &r)])}</p> })}
            {replaced.map(|n| {
                let href = format!("/verify/{n}");
                view! { <p>{move || i18n.t(Msg::CertReplacedBy)}" "<A href=href>{n.clone()}</A></p> }
            })}
        </section>
        <section class="card">
            <dl class="facts" data-testid="cert-facts">
                <dt>{move || i18n.t(Msg::CertNumber)}</dt><dd data-testid="cert-number">{c.number.clone()}</dd>
                <dt>{move || i18n.t(Msg::CertStatus)}</dt><dd><StatusBadge status=c.status/></dd>
                <dt>{move || i18n.t(Msg::CertLab)}</dt><dd data-testid="cert-lab">{lab}</dd>
                <dt>{move || i18n.t(Msg::CertInstrument)}</dt><dd data-testid="cert-instrument">{c.instrument.clone()}</dd>
                <dt>{move || i18n.t(Msg::CertIssueDate)}</dt><dd data-testid="cert-date">{c.issue_date.clone()}</dd>
                <dt>{move || i18n.t(Msg::CertSigner)}</dt><dd>{c.signer.clone()}</dd>
            </dl>
        </section>
        <section class="cert-ledger">
            <h2>{move || i18n.t(Msg::CertLedgerTitle)}</h2>
            {proven_view}
            {match ledger {
                Some(loaded) => view! { <LedgerReport loaded=loaded/> }.into_any(),
                None => view! { <p class="muted" data-testid="cert-ledger-pending">{move || i18n.t(Msg::CertLedgerPending)}</p> }.into_any(),
            }}
        </section>
    }
}

/// The status of certificate `number` according to the records of
/// `bundle`: its `certificate_status` record's, or valid when only its
/// issue (`certificate`) record is there; `None` when neither is.
fn ledger_status(bundle: &Bundle, number: &str) -> Option<CertificateStatus> {
    let of = |kind: &str| {
        bundle
            .records
            .iter()
            .find(|r| r.kind == kind && r.id == number)
    };
    match of("certificate_status") {
        Some(r) => serde_json::from_str::<serde_json::Value>(&r.payload)
            .ok()?
            .get("status")?
            .as_str()
            .and_then(CertificateStatus::parse),
        None => of("certificate").map(|_| CertificateStatus::Valid),
    }
}

#[component]
fn LookupForm() -> impl IntoView {
    let i18n = use_i18n();
    let navigate = use_navigate();
    let value = RwSignal::new(String::new());
    let id = dom_id("cert-lookup");
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = value.get_untracked().trim().to_uppercase();
        if !n.is_empty() {
            navigate(&format!("/verify/{}", encode(&n)), Default::default());
        }
    };
    view! {
        <form class="card cert-lookup" on:submit=submit>
            <h2>{move || i18n.t(Msg::CertLookupAnother)}</h2>
            <div class="field">
                <label for=id.clone()>{move || i18n.t(Msg::CertLookupLabel)}</label>
                <input id=id type="text" autocomplete="off" spellcheck="false" data-testid="cert-lookup"
                    prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
            </div>
            <button type="submit" class="primary">{move || i18n.t(Msg::CertLookupSubmit)}</button>
        </form>
    }
}

#[component]
fn CertificateRow(
    c: CertificateView,
    on_change: Callback<()>,
    source_id: Option<String>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let pdf = format!("{V1}/certificates/{}/pdf", encode(&c.number));
    let xml = format!("{V1}/certificates/{}/dcc.xml", encode(&c.number));
    let verify = format!("/verify/{}", encode(&c.number));
    let number = c.number.clone();
    let source_kind = c.source_kind.clone();
    // `revoke` or `replace` while its reason form is open.
    let action = RwSignal::new(None::<&'static str>);
    let reason = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let reason_id = dom_id("cert-reason");
    let submit = move |_| {
        let Some(what) = action.get_untracked() else {
            return;
        };
        let number = number.clone();
        let source_id = source_id.clone();
        let source_kind = source_kind.clone();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let r = reason.get_untracked();
            let result = if what == "revoke" {
                api.post::<_, CertificateView>(
                    &format!("{V1}/certificates/{}/revoke", encode(&number)),
                    &RevokeCertificate { reason: r },
                )
                .await
            } else {
                api.post::<_, CertificateView>(
                    &format!("{V1}/certificates"),
                    &IssueCertificate {
                        source_kind,
                        source_id: source_id.unwrap_or_default(),
                        supersedes: Some(number.clone()),
                        reason: Some(r),
                    },
                )
                .await
            };
            busy.set(false);
            match result {
                Ok(_) => {
                    action.set(None);
                    reason.set(String::new());
                    on_change.run(());
                }
                Err(e) => error.set(Some(e.message(i18n))),
            }
        });
    };
    let manage = c.can_manage;
    let replace_allowed = manage;
    view! {
        <li class="cert-row card" data-testid="cert-row" data-number=c.number.clone()>
            <div class="cert-row-head">
                <strong class="mono" data-testid="cert-row-number">{c.number.clone()}</strong>
                <StatusBadge status=c.status/>
            </div>
            <p class="small">{format!("{} · {} · {} → {}", c.issue_date, c.instrument, c.lab, c.customer)}</p>
            {c.status_reason.clone().map(|r| view! { <p class="small muted">{move || i18n.tf(Msg::CertStatusReason, &[("reason", &r)])}</p> })}
            <div class="button-row">
                <a href=pdf class="button secondary" data-testid="cert-pdf" download>{move || i18n.t(Msg::CertPdf)}</a>
                <a href=xml class="button secondary" data-testid="cert-dcc" download>{move || i18n.t(Msg::CertDcc)}</a>
                <a href=verify class="button secondary" data-testid="cert-verify-link" target="_blank" rel="noopener">{move || i18n.t(Msg::CertVerifyLink)}</a>
                {manage.then(|| view! {
                    <button type="button" class="danger" data-testid="cert-revoke" on:click=move |_| action.set(Some("revoke"))>
                        {move || i18n.t(Msg::CertRevoke)}
                    </button>
                })}
                {replace_allowed.then(|| view! {
                    <button type="button" class="secondary" data-testid="cert-replace" on:click=move |_| action.set(Some("replace"))>
                        {move || i18n.t(Msg::CertReplace)}
                    </button>
                })}
            </div>
            {move || action.get().map(|what| {
                let reason_id = reason_id.clone();
                view! {
                    <div class="panel confirm" role="alertdialog">
                        <div class="field">
                            <label for=reason_id.clone()>{move || i18n.t(Msg::CertReason)}</label>
                            <input id=reason_id type="text" maxlength="500" data-testid="cert-reason-input"
                                prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev))/>
                            <p class="hint small">{move || i18n.t(Msg::CertReasonHint)}</p>
                        </div>
                        <div class="button-row">
                            <button type="button" class="primary" data-testid="cert-confirm" disabled=move || busy.get() on:click=submit.clone()>
                                {move || if what == "revoke" { i18n.t(Msg::CertRevokeConfirm) } else { i18n.t(Msg::CertReplaceConfirm) }}
                            </button>
                            <button type="button" class="secondary" on:click=move |_| action.set(None)>{move || i18n.t(Msg::Cancel)}</button>
                        </div>
                    </div>
                }
            })}
            {move || error.get().map(|m| view! { <p class="error-box" role="alert" data-testid="cert-error">{m}</p> })}
        </li>
    }
}

/// The certificates of a finished comparison, and issuing one.
#[component]
pub fn CertificatePanel(comparison_id: String) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let session = use_session();
    let query = CertificateQuery {
        source_id: Some(comparison_id.clone()),
    };
    let list = LocalResource::new(move || {
        let query = query.clone();
        async move {
            api.get_query::<_, Vec<CertificateView>>(&format!("{V1}/certificates"), &query)
                .await
        }
    });
    let refresh = Callback::new(move |_| list.refetch());
    let confirm = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let issued = RwSignal::new(None::<String>);
    let id = StoredValue::new(comparison_id.clone());
    let issue = move |_| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let r = api
                .post::<_, CertificateView>(
                    &format!("{V1}/certificates"),
                    &IssueCertificate {
                        source_kind: "raw_record".to_owned(),
                        source_id: id.get_value(),
                        supersedes: None,
                        reason: None,
                    },
                )
                .await;
            busy.set(false);
            confirm.set(false);
            match r {
                Ok(c) => {
                    issued.set(Some(c.number));
                    list.refetch();
                }
                Err(e) => error.set(Some(e.message(i18n))),
            }
        });
    };
    // Staff may try; the server says who signs (experts of the lab).
    let may_sign = move || session.caps().host_sessions;
    view! {
        <section class="cert-panel" data-testid="cert-panel">
            <h3>{move || i18n.t(Msg::CertOfRecord)}</h3>
            {move || match list.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <p class="error-box" role="alert">{e.message(i18n)}</p> }.into_any(),
                Some(Ok(items)) => {
                    let has_valid = items.iter().any(|c| c.status == CertificateStatus::Valid);
                    view! {
                        {items.is_empty().then(|| view! { <p class="muted small">{move || i18n.t(Msg::CertNone)}</p> })}
                        <ul class="cert-list">
                            {items.into_iter().map(|c| view! {
                                <CertificateRow c=c on_change=refresh source_id=Some(id.get_value())/>
                            }).collect_view()}
                        </ul>
                        {(!has_valid && may_sign()).then(|| view! {
                            <button type="button" class="primary" data-testid="cert-issue" on:click=move |_| confirm.set(true)>
                                {move || i18n.t(Msg::CertIssue)}
                            </button>
                        })}
                    }.into_any()
                }
            }}
            {move || confirm.get().then(|| view! {
                <div class="panel confirm" role="alertdialog">
                    <p>{move || i18n.t(Msg::CertIssueConfirm)}</p>
                    <div class="button-row">
                        <button type="button" class="primary" data-testid="cert-issue-confirm" disabled=move || busy.get() on:click=issue>
                            {move || if busy.get() { i18n.t(Msg::Working) } else { i18n.t(Msg::Confirm) }}
                        </button>
                        <button type="button" class="secondary" on:click=move |_| confirm.set(false)>{move || i18n.t(Msg::Cancel)}</button>
                    </div>
                </div>
            })}
            {move || issued.get().map(|n| view! { <p class="notice ok" role="status" data-testid="cert-issued">{i18n.tf(Msg::CertIssued, &[("number", &n)])}</p> })}
            {move || error.get().map(|m| view! { <p class="error-box" role="alert" data-testid="cert-error">{m}</p> })}
        </section>
    }
}

/// `/certificates`: the certificates the person may see.
#[component]
pub fn CertificatesPage() -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let list = LocalResource::new(move || async move {
        api.get::<Vec<CertificateView>>(&format!("{V1}/certificates"))
            .await
    });
    let refresh = Callback::new(move |_| list.refetch());
    let retry = Callback::new(move |_| list.refetch());
    view! {
        <article class="certificates-page" data-testid="certificates-page">
            <header class="page-head">
                <h1>{move || i18n.t(Msg::CertTitle)}</h1>
                <p class="muted">{move || i18n.t(Msg::CertIntro)}</p>
            </header>
            {move || match list.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => failure_view(e, Some(retry)),
                Some(Ok(items)) if items.is_empty() => view! { <p class="muted">{move || i18n.t(Msg::CertNone)}</p> }.into_any(),
                Some(Ok(items)) => view! {
                    <ul class="cert-list">
                        {items.into_iter().map(|c| {
                            let source = Some(c.source_id.clone());
                            view! { <CertificateRow c=c on_change=refresh source_id=source/> }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
        </article>
    }
}
