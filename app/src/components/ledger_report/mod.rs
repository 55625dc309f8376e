//! The result of verifying a ledger export in the browser.
//!
//! Verification is the `jiliang-ledger` crate compiled to wasm: the same
//! code and verdicts as the server and `jiliang verify`. Given a
//! [`Bundle`], this component
//!
//! 1. fetches the key this server publishes (`GET /ledger/head`) and, when
//!    it has it, checks every signature against *that* key
//!    ([`verify_bundle_with_key`]) — a bundle re-signed with some other key
//!    fails; otherwise (or on request) against the key in the file
//!    ([`verify_bundle`]);
//! 2. shows the [`Report`]: a ✓/✗ banner, the signed tree head, the key's
//!    fingerprint and whether it is this server's, the problems with the
//!    file as a whole, then every record with its own verdict and, for a
//!    failing one, what failed;
//! 3. asks the server for a consistency proof from the file's head to its
//!    current head and checks it here, so a log rewritten after the export
//!    was made shows up too.
//!
//! # Layout
//! - `mod.rs`: the report component, which runs the verification.
//! - `banner`: the verdict banner and the notices about whose key signed the
//!   file.
//! - `copy_value`: a long value (hash, key) shown short, with a button that
//!   copies it whole.
//! - `export`: what a loaded export is: where it came from, its text, and why
//!   a text is not one.
//! - `problems`: problems and proof failures in words, in the interface
//!   language (the verifier's own messages are English only).
//! - `record`: one record of the report: its verdict, a summary of what it
//!   holds, and what failed.
//! - `server_check`: the server's side of a verification: its published key,
//!   and whether its current log extends the file's head (a consistency proof
//!   checked here).

mod banner;
mod copy_value;
mod export;
mod problems;
mod record;
mod server_check;

use jiliang_ledger::{
    BundleRecord, Failure, Location, format_rfc3339_ms, key_fingerprint, key_fingerprint_short,
    verify_bundle, verify_bundle_with_key, verifying_key_from_hex,
};
use jiliang_protocol::ledger::HeadView;
use leptos::prelude::*;

use crate::api::{self, ApiError, V1};
use crate::components::states::ErrorBox;
use crate::i18n::{Locale, Msg, use_i18n};
use crate::util::{byte_size, local_time_ms, save_text_file, tz_label};

use banner::{Banner, KeyBadge, KeyNotice};
pub use copy_value::CopyValue;
pub use export::{Loaded, ParseError, ParseErrorBox, Source, parse_export};
use record::{FailureLine, RecordItem};
use server_check::{KeyRelation, LogCheck, ServerKey, check_log};

/// Verify `loaded` and show the outcome.
#[component]
pub fn LedgerReport(loaded: Loaded) -> impl IntoView {
    let i18n = use_i18n();
    let Loaded {
        bundle,
        text,
        source,
    } = loaded;
    let bundle_key = verifying_key_from_hex(&bundle.public_key).ok();
    let bundle_head = bundle.tree_head.clone();
    let records: Vec<(u64, BundleRecord)> = bundle
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| (i as u64, r.clone()))
        .collect();
    let bundle = StoredValue::new(bundle);

    let head = LocalResource::new(move || async move {
        api::get::<HeadView>(&format!("{V1}/ledger/head"), "en").await
    });
    let server_key = Memo::new(move |_| match head.get() {
        None => ServerKey::Loading,
        Some(Ok(h)) => match verifying_key_from_hex(&h.public_key) {
            Ok(k) => ServerKey::Known(Box::new(k), h),
            Err(_) => ServerKey::Unavailable,
        },
        Some(Err(_)) => ServerKey::Unavailable,
    });
    let relation = Memo::new(move |_| match (server_key.get(), bundle_key) {
        (ServerKey::Loading, _) => KeyRelation::Loading,
        (ServerKey::Unavailable, _) => KeyRelation::NoServerKey,
        (ServerKey::Known(k, _), Some(b)) if *k == b => KeyRelation::Matches,
        (ServerKey::Known(k, _), Some(b)) => KeyRelation::Differs {
            expected: key_fingerprint_short(&k),
            found: key_fingerprint_short(&b),
        },
        (ServerKey::Known(..), None) => KeyRelation::BundleKeyUnreadable,
    });
    // Pinned to the server's key unless the reader asks for the file's own.
    let use_file_key = RwSignal::new(false);
    let outcome = Memo::new(move |_| {
        let file_key = use_file_key.get();
        match server_key.get() {
            ServerKey::Loading => None,
            ServerKey::Known(k, _) if !file_key => {
                Some((bundle.with_value(|b| verify_bundle_with_key(b, &k)), true))
            }
            _ => Some((bundle.with_value(verify_bundle), false)),
        }
    });
    let head_for_log = bundle_head.clone();
    let log = LocalResource::new(move || {
        let key = server_key.get();
        let same = relation.get() == KeyRelation::Matches;
        let bh = head_for_log.clone();
        async move {
            match key {
                ServerKey::Loading => None,
                key => Some(check_log(key, bh, same).await),
            }
        }
    });
    let forked = move || matches!(log.get(), Some(Some(LogCheck::Forked)));

    let download = source.download_name().map(|name| {
        let text = StoredValue::new(text);
        let failed = RwSignal::new(false);
        let save = move |_| {
            let saved = text.with_value(|t| save_text_file(&name, t, "application/json"));
            if let Err(e) = &saved {
                leptos::logging::warn!("saving the file failed: {e}");
            }
            failed.set(saved.is_err());
        };
        view! {
            <button type="button" class="secondary" data-testid="download-this" on:click=save>
                {move || i18n.t(Msg::DownloadThis)}
            </button>
            {move || failed.get().then(|| view! { <ErrorBox error=ApiError::Local(Msg::ErrSaveFile)/> })}
        }
    });
    let source_text = move || match &source {
        Source::File { name, size } => i18n.tf(
            Msg::SourceFile,
            &[("name", name.as_str()), ("size", &byte_size(*size))],
        ),
        Source::Paste => i18n.t(Msg::SourcePaste).to_owned(),
        Source::Session { title, .. } => i18n.tf(Msg::SourceSession, &[("title", title)]),
        Source::Record { .. } => i18n.t(Msg::SourceRecord).to_owned(),
    };
    let (head_local, head_utc) = {
        let ms = bundle_head.timestamp_ms;
        (local_time_ms(ms), format_rfc3339_ms(ms))
    };
    let only_problems = RwSignal::new(false);
    let records = StoredValue::new(records);

    view! {
        {move || match outcome.get() {
            None => view! {
                <p class="loading" role="status" data-testid="verify-running">
                    <span class="spinner" aria-hidden="true"></span>{move || i18n.t(Msg::VerifyRunning)}
                </p>
            }.into_any(),
            Some((report, pinned)) => {
                let ok = report.ok && !forked();
                view! {
                    <section class="verify-result" id="verify-result" data-testid="verify-result"
                        data-ok=ok.to_string() data-mode=if pinned { "server-key" } else { "file-key" }
                        data-records=report.records_total.to_string()>
                        <Banner report=report.clone() forked=forked()/>
                    </section>
                }.into_any()
            }
        }}
        <div class="verify-details">
            <section class="card verify-head" aria-labelledby="vh-title">
                <h2 id="vh-title">{move || i18n.t(Msg::TreeHeadTitle)}</h2>
                <dl class="facts verify-facts">
                    <dt>{move || i18n.t(Msg::VerifySource)}</dt>
                    <dd data-testid="verify-source">{source_text}</dd>
                    <dt>{move || i18n.t(Msg::TreeSize)}</dt>
                    <dd data-testid="tree-size">{move || i18n.tf(Msg::TreeSizeValue, &[("n", &bundle_head.size.to_string())])}</dd>
                    <dt>{move || i18n.t(Msg::SignedAt)}</dt>
                    <dd>
                        <span data-testid="signed-local">{head_local}</span>
                        <span class="muted small">{move || if i18n.locale() == Locale::ZhCn {
                            format!("（{}，{}）", i18n.t(Msg::LocalTimeLabel), tz_label())
                        } else {
                            format!(" ({}, {})", i18n.t(Msg::LocalTimeLabel), tz_label())
                        }}</span>
                        <br/>
                        <span class="mono small" data-testid="signed-utc">{
                            let utc = head_utc.clone();
                            move || utc.clone().unwrap_or_else(|| i18n.t(Msg::TimeOutOfRange).to_owned())
                        }</span>
                    </dd>
                    <dt>{move || i18n.t(Msg::RootHash)}</dt>
                    <dd><CopyValue value=bundle_head.root_hash.clone() testid="root-hash"/></dd>
                    <dt>{move || i18n.t(Msg::SigningKey)}</dt>
                    <dd>
                        <code class="hash" data-testid="key-fingerprint"
                            title=move || format!("{}\n{}", i18n.t(Msg::KeyFingerprintHint), bundle_key.as_ref().map(key_fingerprint).unwrap_or_default())>{
                            bundle_key.as_ref().map_or_else(|| "—".to_owned(), key_fingerprint_short)
                        }</code>
                        " "
                        <KeyBadge relation=relation/>
                    </dd>
                    <dt>{move || i18n.t(Msg::LogNow)}</dt>
                    <dd data-testid="log-check">{move || match log.get() {
                        None | Some(None) => view! { <span class="muted">{move || i18n.t(Msg::ServerChecking)}</span> }.into_any(),
                        Some(Some(LogCheck::Extends(n))) => view! {
                            <span class="badge badge-ok" data-state="extends">"✓ "{move || i18n.tf(Msg::LogExtends, &[("n", &n.to_string())])}</span>
                        }.into_any(),
                        Some(Some(LogCheck::Forked)) => view! {
                            <span class="badge badge-bad wrap" data-state="forked">"✗ "{move || i18n.t(Msg::LogForked)}</span>
                        }.into_any(),
                        Some(Some(LogCheck::Unchecked)) => view! {
                            <span class="muted" data-state="unchecked">{move || i18n.t(Msg::LogUnchecked)}</span>
                        }.into_any(),
                        Some(Some(LogCheck::NotApplicable)) => view! {
                            <span class="muted" data-state="not-applicable">{move || i18n.t(Msg::LogNotApplicable)}</span>
                        }.into_any(),
                    }}</dd>
                </dl>
                <KeyNotice relation=relation use_file_key=use_file_key/>
                {download.map(|d| view! { <div class="button-row">{d}</div> })}
            </section>

            {move || outcome.get().map(|(report, _)| {
                let general: Vec<Failure> = report
                    .failures
                    .iter()
                    .filter(|f| !matches!(f.location, Location::Record { .. }))
                    .cloned()
                    .collect();
                let any_record_problem = report.failures.len() > general.len();
                let file_fails = !general.is_empty() || forked();
                let report = StoredValue::new(report);
                view! {
                    {(!general.is_empty() || forked()).then(|| view! {
                        <section class="card verify-general bad" data-testid="general-problems">
                            <h2>{move || i18n.t(Msg::VerifyGeneralProblems)}</h2>
                            <ul class="problem-list">
                                {forked().then(|| view! { <li data-code="log_forked">{move || i18n.t(Msg::LogForked)}</li> })}
                                {general.into_iter().map(|f| view! { <FailureLine failure=f with_location=true/> }).collect_view()}
                            </ul>
                        </section>
                    })}
                    <section class="verify-records-section" aria-labelledby="vr-title">
                        <div class="head-row">
                            <h2 id="vr-title">{move || i18n.t(Msg::RecordsTitle)}" "
                                <span class="muted small">{records.with_value(Vec::len)}</span></h2>
                            {any_record_problem.then(|| view! {
                                <label class="check small">
                                    <input type="checkbox" data-testid="only-problems"
                                        prop:checked=move || only_problems.get()
                                        on:change=move |ev| only_problems.set(event_target_checked(&ev))/>
                                    {move || i18n.t(Msg::OnlyProblemRecords)}
                                </label>
                            })}
                        </div>
                        <ol class="vrec-list" data-testid="verify-records">
                            {move || {
                                let only = only_problems.get();
                                records.with_value(|rs| rs.iter().filter_map(|(pos, r)| {
                                    let failures: Vec<Failure> = report.with_value(|rep| rep
                                        .failures
                                        .iter()
                                        .filter(|f| matches!(&f.location, Location::Record { position, .. } if position == pos))
                                        .cloned()
                                        .collect());
                                    (!only || !failures.is_empty()).then(|| view! {
                                        <RecordItem position=*pos record=r.clone() failures=failures file_fails=file_fails/>
                                    })
                                }).collect_view())
                            }}
                        </ol>
                    </section>
                }
            })}
        </div>
    }
}
