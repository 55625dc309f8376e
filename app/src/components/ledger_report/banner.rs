//! The verdict banner and the notices about whose key signed the file.

use jiliang_ledger::{Location, Report};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::server_check::KeyRelation;
use crate::i18n::{Msg, use_i18n};

/// The big ✓ or ✗.
#[component]
pub(super) fn Banner(report: Report, forked: bool) -> impl IntoView {
    let i18n = use_i18n();
    let ok = report.ok && !forked;
    let problems = report.failures.len() + usize::from(forked);
    let n = report.records_total;
    let headline = move || {
        if ok {
            match n {
                0 => i18n.t(Msg::VerifyEmptyOk).to_owned(),
                1 => i18n.t(Msg::VerifyOneOk).to_owned(),
                n => i18n.tf(Msg::VerifyAllOk, &[("n", &n.to_string())]),
            }
        } else if problems == 1 {
            i18n.t(Msg::VerifyOneProblem).to_owned()
        } else {
            i18n.tf(Msg::VerifyProblems, &[("m", &problems.to_string())])
        }
    };
    let records_ok = report.records_ok;
    let file_fails = forked
        || report
            .failures
            .iter()
            .any(|f| !matches!(f.location, Location::Record { .. }));
    let sub = move || {
        if ok {
            i18n.t(Msg::VerifyOkText).to_owned()
        } else if file_fails {
            i18n.t(Msg::VerifyFileProblemsText).to_owned()
        } else {
            i18n.tf(
                Msg::VerifyProblemsText,
                &[("n", &n.to_string()), ("ok", &records_ok.to_string())],
            )
        }
    };
    // Each failing record once, in bundle order, as a way to jump to it.
    let mut failing: Vec<(u64, u64)> = Vec::new();
    for f in &report.failures {
        if let Location::Record {
            position, index, ..
        } = f.location
            && !failing.iter().any(|(p, _)| *p == position)
        {
            failing.push((position, index));
        }
    }
    let more = failing.len().saturating_sub(20);
    failing.truncate(20);
    view! {
        <div class="verify-banner" class:ok=ok class:bad=!ok role="status" data-testid="verify-banner">
            <span class="verify-mark" aria-hidden="true">{if ok { "✓" } else { "✗" }}</span>
            <div class="verify-banner-text">
                <p class="verify-headline" data-testid="verify-headline">{headline}</p>
                <p class="verify-sub">{sub}</p>
                {(!failing.is_empty()).then(|| view! {
                    <p class="verify-failing" data-testid="failing-records">
                        {move || i18n.t(Msg::VerifyFailingRecords)}" "
                        {failing.into_iter().map(|(pos, index)| view! {
                            <button type="button" class="link jump" data-index=index.to_string()
                                on:click=move |_| scroll_to(&format!("rec-{pos}"))>
                                {move || i18n.tf(Msg::LocRecord, &[("n", &(pos + 1).to_string()), ("index", &index.to_string())])}
                            </button>
                        }).collect_view()}
                        {(more > 0).then(|| format!(" … +{more}"))}
                    </p>
                })}
            </div>
        </div>
    }
}

pub(super) fn scroll_to(id: &str) {
    if let Some(el) = document().get_element_by_id(id) {
        let opts = web_sys::ScrollIntoViewOptions::new();
        opts.set_block(web_sys::ScrollLogicalPosition::Start);
        el.scroll_into_view_with_scroll_into_view_options(&opts);
        if let Ok(el) = el.dyn_into::<web_sys::HtmlElement>() {
            let _ = el.focus();
        }
    }
}

#[component]
pub(super) fn KeyBadge(relation: Memo<KeyRelation>) -> impl IntoView {
    let i18n = use_i18n();
    move || {
        match relation.get() {
        KeyRelation::Loading => view! { <span class="muted small">{move || i18n.t(Msg::ServerChecking)}</span> }.into_any(),
        KeyRelation::Matches => view! {
            <span class="badge badge-ok" data-testid="key-match" data-state="matches">"✓ "{move || i18n.t(Msg::KeyMatches)}</span>
        }.into_any(),
        KeyRelation::Differs { .. } => view! {
            <span class="badge badge-bad" data-testid="key-match" data-state="differs">"✗ "{move || i18n.t(Msg::KeyDiffers)}</span>
        }.into_any(),
        KeyRelation::BundleKeyUnreadable => view! {
            <span class="badge badge-bad" data-testid="key-match" data-state="unreadable">{move || i18n.t(Msg::KeyUnreadable)}</span>
        }.into_any(),
        KeyRelation::NoServerKey => view! {
            <span class="badge badge-warn" data-testid="key-match" data-state="unknown">{move || i18n.t(Msg::LogUnchecked)}</span>
        }.into_any(),
    }
    }
}

/// Which key the signatures were checked with, and the switch.
#[component]
pub(super) fn KeyNotice(
    relation: Memo<KeyRelation>,
    use_file_key: RwSignal<bool>,
) -> impl IntoView {
    let i18n = use_i18n();
    move || {
        match relation.get() {
        KeyRelation::Loading => ().into_any(),
        KeyRelation::Matches => view! {
            <p class="muted small">{move || i18n.t(Msg::CheckedWithServerKey)}</p>
        }
        .into_any(),
        KeyRelation::NoServerKey => view! {
            <p class="notice warn small" data-testid="key-notice">{move || i18n.t(Msg::ServerKeyUnavailable)}</p>
        }
        .into_any(),
        KeyRelation::BundleKeyUnreadable => ().into_any(),
        KeyRelation::Differs { expected, found } => view! {
            <div class="notice warn key-warning" data-testid="key-notice" role="alert">
                <p>{move || i18n.tf(Msg::KeyDiffersText, &[("found", &found), ("expected", &expected)])}</p>
                <div class="seg" role="group">
                    <button type="button" class="secondary small" data-testid="use-server-key"
                        aria-pressed=move || (!use_file_key.get()).to_string()
                        on:click=move |_| use_file_key.set(false)>
                        {move || i18n.t(Msg::CheckWithServerKey)}
                    </button>
                    <button type="button" class="secondary small" data-testid="use-file-key"
                        aria-pressed=move || use_file_key.get().to_string()
                        on:click=move |_| use_file_key.set(true)>
                        {move || i18n.t(Msg::CheckWithFileKey)}
                    </button>
                </div>
                {move || use_file_key.get().then(|| view! { <p class="small">{move || i18n.t(Msg::FileKeyCaveat)}</p> })}
            </div>
        }
        .into_any(),
    }
    }
}
