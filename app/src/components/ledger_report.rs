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

use jiliang_ledger::{
    Bundle, BundleRecord, BundleTreeHead, CanonicalError, Failure, Hash, HexError, Location,
    Problem, ProofError, RecordError, Report, SignatureBytes, SignedTreeHead, VerifyingKey,
    format_rfc3339_ms, key_fingerprint, key_fingerprint_short, verify_bundle,
    verify_bundle_with_key, verify_consistency, verifying_key_from_hex,
};
use jiliang_protocol::ledger::{ConsistencyParams, ConsistencyView, HeadView};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::api::{self, ApiError, V1};
use crate::components::states::ErrorBox;
use crate::i18n::{I18n, Locale, Msg, use_i18n};
use crate::util::{byte_size, local_time_ms, save_text_file, short_hex, tz_label};

/// Where an export came from (shown, and naming a download).
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    File { name: String, size: u64 },
    Paste,
    Session { id: String, title: String },
    Record { kind: String, id: String },
}

impl Source {
    /// File name to save an export fetched from the server under.
    fn download_name(&self) -> Option<String> {
        match self {
            Self::Session { id, .. } => Some(format!("jiliang-session-{id}.json")),
            Self::Record { kind, id } => Some(format!("jiliang-{kind}-{id}.json")),
            Self::File { .. } | Self::Paste => None,
        }
    }
}

/// An export read and parsed, ready to verify.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub bundle: Bundle,
    /// The text exactly as read or received.
    pub text: String,
    pub source: Source,
}

/// Why a text could not be taken as an export.
#[derive(Clone, Debug, PartialEq)]
pub enum ParseError {
    NotJson(String),
    WrongShape(String),
}

/// Parse a `jiliang-ledger-export/1` document. Everything inside is checked
/// by the verifier; this only needs the shape.
pub fn parse_export(text: &str) -> Result<Bundle, ParseError> {
    let text = text.trim_start_matches('\u{feff}');
    match serde_json::from_str::<Bundle>(text) {
        Ok(b) => Ok(b),
        Err(e) if e.is_syntax() || e.is_eof() => Err(ParseError::NotJson(e.to_string())),
        Err(e) => {
            // A JSON document of another shape, or not JSON at all.
            if serde_json::from_str::<serde_json::Value>(text).is_ok() {
                Err(ParseError::WrongShape(e.to_string()))
            } else {
                Err(ParseError::NotJson(e.to_string()))
            }
        }
    }
}

/// "This is not a Jiliang export", with why.
#[component]
pub fn ParseErrorBox(error: ParseError) -> impl IntoView {
    let i18n = use_i18n();
    let (msg, detail) = match error {
        ParseError::NotJson(d) => (Msg::VerifyNotJson, d),
        ParseError::WrongShape(d) => (Msg::VerifyWrongShape, d),
    };
    view! {
        <div class="error-box" role="alert" data-testid="verify-error">
            <p><strong>{move || i18n.t(Msg::VerifyNotExport)}</strong></p>
            <p>{move || i18n.t(msg)}</p>
            <p class="small">{move || i18n.t(Msg::TechnicalDetail)}": "<code class="mono">{detail}</code></p>
        </div>
    }
}

#[derive(Clone, Debug, PartialEq)]
enum ServerKey {
    Loading,
    /// The key, parsed, and the head it came with (boxed: large).
    Known(Box<VerifyingKey>, HeadView),
    Unavailable,
}

/// The bundle's key against the server's.
#[derive(Clone, Debug, PartialEq)]
enum KeyRelation {
    Loading,
    Matches,
    Differs { expected: String, found: String },
    BundleKeyUnreadable,
    NoServerKey,
}

/// Does this server's current log extend the file's head?
#[derive(Clone, Debug, PartialEq)]
enum LogCheck {
    NotApplicable,
    Extends(u64),
    Forked,
    Unchecked,
}

async fn check_log(key: ServerKey, bundle_head: BundleTreeHead, same_key: bool) -> LogCheck {
    let ServerKey::Known(key, sh) = key else {
        return LogCheck::NotApplicable;
    };
    let Ok(old) = bundle_head.parse() else {
        return LogCheck::NotApplicable;
    };
    if !same_key {
        return LogCheck::NotApplicable;
    }
    let (Ok(root_hash), Ok(signature)) = (
        Hash::from_hex(&sh.root_hash),
        SignatureBytes::from_hex(&sh.signature),
    ) else {
        return LogCheck::Unchecked;
    };
    let new = SignedTreeHead {
        size: sh.size,
        timestamp_ms: sh.timestamp_ms,
        root_hash,
        signature,
    };
    if new.verify(&key).is_err() || old.size > new.size || old.size == 0 {
        return LogCheck::Unchecked;
    }
    let params = ConsistencyParams {
        old_size: old.size,
        size: Some(new.size),
    };
    let Ok(path) = api::with_query(&format!("{V1}/ledger/proof/consistency"), &params) else {
        return LogCheck::Unchecked;
    };
    let Ok(view) = api::get::<ConsistencyView>(&path, "en").await else {
        return LogCheck::Unchecked;
    };
    let proof: Result<Vec<Hash>, _> = view.proof.iter().map(|h| Hash::from_hex(h)).collect();
    let Ok(proof) = proof else {
        return LogCheck::Forked;
    };
    match verify_consistency(old.size, new.size, &old.root_hash, &new.root_hash, &proof) {
        Ok(()) => LogCheck::Extends(new.size),
        Err(_) => LogCheck::Forked,
    }
}

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
        let failed = RwSignal::new(None::<String>);
        let save = move |_| {
            failed.set(
                text.with_value(|t| save_text_file(&name, t, "application/json"))
                    .err(),
            );
        };
        view! {
            <button type="button" class="secondary" data-testid="download-this" on:click=save>
                {move || i18n.t(Msg::DownloadThis)}
            </button>
            {move || failed.get().map(|e| view! { <ErrorBox error=ApiError::Network(e)/> })}
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

/// The big ✓ or ✗.
#[component]
fn Banner(report: Report, forked: bool) -> impl IntoView {
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

fn scroll_to(id: &str) {
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
fn KeyBadge(relation: Memo<KeyRelation>) -> impl IntoView {
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
fn KeyNotice(relation: Memo<KeyRelation>, use_file_key: RwSignal<bool>) -> impl IntoView {
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

/// One record: where it is, what it says, and its verdict.
#[component]
fn RecordItem(
    position: u64,
    record: BundleRecord,
    failures: Vec<Failure>,
    /// The head, key or export signature fails: no record is confirmed.
    file_fails: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let ok = failures.is_empty();
    let status = match (ok, file_fails) {
        (false, _) => "failed",
        (true, true) => "unconfirmed",
        (true, false) => "verified",
    };
    let BundleRecord {
        index,
        kind,
        id,
        created_at_ms,
        payload,
        ..
    } = record;
    let summary = summarize(&kind, &payload);
    let kind_label = kind.clone();
    let kind_text = move || match kind_label.as_str() {
        "room_event" => i18n.t(Msg::KindRoomEvent).to_owned(),
        other => other.to_owned(),
    };
    let utc = format_rfc3339_ms(created_at_ms).unwrap_or_default();
    view! {
        <li class="vrec" class:bad=!ok class:unconfirmed=status == "unconfirmed" id=format!("rec-{position}") tabindex="-1"
            data-testid="verify-record" data-index=index.to_string()
            data-position=position.to_string() data-ok=ok.to_string() data-status=status>
            <div class="vrec-head">
                <span class="vrec-pos">{move || i18n.tf(Msg::RecordPosition, &[("n", &(position + 1).to_string())])}</span>
                <span class="muted">{move || i18n.tf(Msg::LeafIndex, &[("index", &index.to_string())])}</span>
                <span class="badge event" title=kind.clone()>{kind_text}</span>
                <time class="muted" title=utc>{local_time_ms(created_at_ms)}</time>
                <span class="vrec-status badge" data-testid="record-status"
                    class:badge-ok=status == "verified" class:badge-bad=!ok class:badge-warn=status == "unconfirmed"
                    title=move || (status == "unconfirmed").then(|| i18n.t(Msg::RecordUnconfirmedTitle))>
                    {move || i18n.t(match status {
                        "verified" => Msg::RecordOk,
                        "unconfirmed" => Msg::RecordUnconfirmed,
                        _ => Msg::RecordBad,
                    })}
                </span>
            </div>
            <Summary summary=summary/>
            <p class="vrec-id"><span class="muted">{move || i18n.t(Msg::RecordId)}" "</span><code>{id}</code></p>
            {(!ok).then(|| view! {
                <ul class="problem-list vrec-failures" data-testid="record-failures">
                    {failures.into_iter().map(|f| view! { <FailureLine failure=f with_location=false/> }).collect_view()}
                </ul>
            })}
            <details class="raw">
                <summary>{move || i18n.t(Msg::RawPayload)}</summary>
                <pre>{payload}</pre>
            </details>
        </li>
    }
}

/// What a record says, for people.
#[derive(Clone, Debug, Default)]
struct RecordSummary {
    /// Readable payload, or `None` when it does not parse.
    parsed: bool,
    title: Option<SummaryTitle>,
    seq: Option<u64>,
    text: Option<String>,
    session: Option<String>,
}

#[derive(Clone, Debug)]
enum SummaryTitle {
    Chat,
    Join,
    Leave,
    State { from: String, to: String },
    Other(String),
}

fn summarize(kind: &str, payload: &str) -> RecordSummary {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(payload) else {
        return RecordSummary::default();
    };
    let mut s = RecordSummary {
        parsed: true,
        ..Default::default()
    };
    if kind != "room_event" {
        return s;
    }
    let str_of =
        |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    s.seq = v.get("seq").and_then(serde_json::Value::as_u64);
    s.session = str_of(&v, "session");
    if let Some(body) = v.get("body") {
        let k = str_of(body, "kind").unwrap_or_default();
        s.title = Some(match k.as_str() {
            "chat" => {
                s.text = str_of(body, "text");
                SummaryTitle::Chat
            }
            "join" => SummaryTitle::Join,
            "leave" => SummaryTitle::Leave,
            "state" => SummaryTitle::State {
                from: str_of(body, "from").unwrap_or_default(),
                to: str_of(body, "to").unwrap_or_default(),
            },
            _ => SummaryTitle::Other(k),
        });
    }
    s
}

#[component]
fn Summary(summary: RecordSummary) -> impl IntoView {
    let i18n = use_i18n();
    if !summary.parsed {
        return view! { <p class="vrec-summary muted">{move || i18n.t(Msg::PayloadUnreadable)}</p> }
            .into_any();
    }
    let RecordSummary {
        title,
        seq,
        text,
        session,
        ..
    } = summary;
    if title.is_none() && seq.is_none() {
        return ().into_any();
    }
    let title_text = move || match &title {
        Some(SummaryTitle::Chat) => i18n.t(Msg::EvChat).to_owned(),
        Some(SummaryTitle::Join) => i18n.t(Msg::EvJoin).to_owned(),
        Some(SummaryTitle::Leave) => i18n.t(Msg::EvLeave).to_owned(),
        Some(SummaryTitle::State { from, to }) => i18n.tf(
            Msg::EvState,
            &[
                ("from", &state_name(from, i18n)),
                ("to", &state_name(to, i18n)),
            ],
        ),
        Some(SummaryTitle::Other(k)) => i18n.tf(Msg::EvOther, &[("kind", k.as_str())]),
        None => String::new(),
    };
    view! {
        <div class="vrec-summary">
            <p class="vrec-what">
                <strong>{title_text}</strong>
                {seq.map(|n| view! { <span class="muted">" · "{move || i18n.tf(Msg::EvSeq, &[("seq", &n.to_string())])}</span> })}
                {session.map(|s| view! {
                    " · "<A href=format!("/sessions/{s}") attr:class="small">{move || i18n.t(Msg::OpenItsSession)}</A>
                })}
            </p>
            {text.map(|t| view! { <p class="vrec-text" data-testid="record-text">{t}</p> })}
        </div>
    }
    .into_any()
}

/// A session state as the room protocol writes it, for people.
fn state_name(state: &str, i18n: I18n) -> String {
    match state {
        "scheduled" => i18n.t(Msg::StateScheduled).to_owned(),
        "live" => i18n.t(Msg::StateLive).to_owned(),
        "ended" => i18n.t(Msg::StateEnded).to_owned(),
        other => other.to_owned(),
    }
}

#[component]
fn FailureLine(failure: Failure, with_location: bool) -> impl IntoView {
    let i18n = use_i18n();
    let code = problem_code(&failure.problem);
    let detail = technical_detail(&failure.problem);
    view! {
        <li data-code=code data-testid="failure">
            {move || {
                let what = problem_text(&failure.problem, &failure.location, i18n);
                if with_location {
                    let sep = if i18n.locale() == Locale::ZhCn { "：" } else { ": " };
                    format!("{}{sep}{what}", location_text(&failure.location, i18n))
                } else {
                    what
                }
            }}
            {detail.map(|d| view! { " "<code class="mono small detail">{d}</code> })}
        </li>
    }
}

fn location_text(l: &Location, i18n: I18n) -> String {
    match l {
        Location::Bundle => i18n.t(Msg::LocBundle).to_owned(),
        Location::PublicKey => i18n.t(Msg::LocPublicKey).to_owned(),
        Location::TreeHead => i18n.t(Msg::LocTreeHead).to_owned(),
        Location::ExportSignature => i18n.t(Msg::LocExportSignature).to_owned(),
        Location::Consistency {
            position,
            from_size,
        } => i18n.tf(
            Msg::LocConsistency,
            &[
                ("n", &(position + 1).to_string()),
                ("size", &from_size.to_string()),
            ],
        ),
        Location::Record {
            position, index, ..
        } => i18n.tf(
            Msg::LocRecord,
            &[
                ("n", &(position + 1).to_string()),
                ("index", &index.to_string()),
            ],
        ),
    }
}

/// The problem's machine name (as the crate serialises it), for tests and
/// styling.
fn problem_code(p: &Problem) -> &'static str {
    match p {
        Problem::UnsupportedFormat { .. } => "unsupported_format",
        Problem::MalformedHex { .. } => "malformed_hex",
        Problem::InvalidPublicKey => "invalid_public_key",
        Problem::UntrustedKey { .. } => "untrusted_key",
        Problem::BadSignature => "bad_signature",
        Problem::Unverifiable { .. } => "unverifiable",
        Problem::InvalidRecord { .. } => "invalid_record",
        Problem::PayloadNotCanonical { .. } => "payload_not_canonical",
        Problem::LeafHashMismatch { .. } => "leaf_hash_mismatch",
        Problem::IndexOutOfRange { .. } => "index_out_of_range",
        Problem::OutOfOrder { .. } => "out_of_order",
        Problem::MissingRecords { .. } => "missing_records",
        Problem::InclusionProof { .. } => "inclusion_proof",
        Problem::MissingInclusionProof => "missing_inclusion_proof",
        Problem::ConsistencyProof { .. } => "consistency_proof",
        Problem::RootMismatch { .. } => "root_mismatch",
    }
}

/// The crate's own words where ours are only a summary (parser positions).
fn technical_detail(p: &Problem) -> Option<String> {
    match p {
        Problem::PayloadNotCanonical { error } => Some(error.to_string()),
        Problem::InvalidRecord {
            error: RecordError::InvalidId { reason, .. },
        } => Some(reason.clone()),
        Problem::InvalidRecord {
            error: RecordError::Payload(e),
        } => Some(canonical_detail(e)),
        _ => None,
    }
}

fn canonical_detail(e: &CanonicalError) -> String {
    e.to_string()
}

fn h(hash: &Hash) -> String {
    short_hex(&hash.to_hex())
}

fn problem_text(p: &Problem, at: &Location, i18n: I18n) -> String {
    match p {
        Problem::UnsupportedFormat { found } => {
            i18n.tf(Msg::PrUnsupportedFormat, &[("found", found.as_str())])
        }
        Problem::MalformedHex { field, error } => i18n.tf(
            Msg::PrMalformedHex,
            &[
                ("field", field.as_str()),
                ("detail", &hex_text(error, i18n)),
            ],
        ),
        Problem::InvalidPublicKey => i18n.t(Msg::PrInvalidPublicKey).to_owned(),
        Problem::UntrustedKey { expected, found } => i18n.tf(
            Msg::PrUntrustedKey,
            &[("expected", expected.as_str()), ("found", found.as_str())],
        ),
        Problem::BadSignature => match at {
            Location::TreeHead | Location::Consistency { .. } => {
                i18n.t(Msg::PrBadSignatureHead).to_owned()
            }
            Location::ExportSignature => i18n.t(Msg::PrBadSignatureExport).to_owned(),
            _ => i18n.t(Msg::PrBadSignature).to_owned(),
        },
        Problem::Unverifiable { .. } => i18n.t(Msg::PrUnverifiable).to_owned(),
        Problem::InvalidRecord { error } => match error {
            RecordError::InvalidKind { kind } => {
                i18n.tf(Msg::PrInvalidKind, &[("kind", kind.as_str())])
            }
            RecordError::InvalidId { .. } => i18n.t(Msg::PrInvalidId).to_owned(),
            RecordError::Payload(_) => i18n.t(Msg::PrInvalidRecord).to_owned(),
        },
        Problem::PayloadNotCanonical { .. } => i18n.t(Msg::PrNotCanonical).to_owned(),
        Problem::LeafHashMismatch { recorded, computed } => i18n.tf(
            Msg::PrLeafHashMismatch,
            &[("recorded", &h(recorded)), ("computed", &h(computed))],
        ),
        Problem::IndexOutOfRange { index, size } => i18n.tf(
            Msg::PrIndexOutOfRange,
            &[("index", &index.to_string()), ("size", &size.to_string())],
        ),
        Problem::OutOfOrder { index, previous } => i18n.tf(
            Msg::PrOutOfOrder,
            &[
                ("index", &index.to_string()),
                ("previous", &previous.to_string()),
            ],
        ),
        Problem::MissingRecords { from, to } => i18n.tf(
            Msg::PrMissingRecords,
            &[("from", &from.to_string()), ("to", &to.to_string())],
        ),
        Problem::InclusionProof { error } => i18n.tf(
            Msg::PrInclusionProof,
            &[("detail", &proof_text(error, i18n))],
        ),
        Problem::MissingInclusionProof => i18n.t(Msg::PrMissingInclusionProof).to_owned(),
        Problem::ConsistencyProof { error } => i18n.tf(
            Msg::PrConsistencyProof,
            &[("detail", &proof_text(error, i18n))],
        ),
        Problem::RootMismatch { signed, computed } => i18n.tf(
            Msg::PrRootMismatch,
            &[("signed", &h(signed)), ("computed", &h(computed))],
        ),
    }
}

fn hex_text(e: &HexError, i18n: I18n) -> String {
    match e {
        HexError::OddLength { len } => i18n.tf(Msg::HexOddLength, &[("len", &len.to_string())]),
        HexError::InvalidChar { position, found } => i18n.tf(
            Msg::HexInvalidChar,
            &[("pos", &position.to_string()), ("ch", &found.to_string())],
        ),
        HexError::WrongLength { expected, actual } => i18n.tf(
            Msg::HexWrongLength,
            &[
                ("expected", &expected.to_string()),
                ("actual", &actual.to_string()),
            ],
        ),
    }
}

fn proof_text(e: &ProofError, i18n: I18n) -> String {
    match e {
        ProofError::IndexOutOfRange { index, size } => i18n.tf(
            Msg::PfIndexOutOfRange,
            &[("index", &index.to_string()), ("size", &size.to_string())],
        ),
        ProofError::SizeBeyondTree { size, available } => i18n.tf(
            Msg::PfSizeBeyondTree,
            &[
                ("size", &size.to_string()),
                ("available", &available.to_string()),
            ],
        ),
        ProofError::OldSizeGreater { old_size, new_size } => i18n.tf(
            Msg::PfOldSizeGreater,
            &[
                ("old", &old_size.to_string()),
                ("new", &new_size.to_string()),
            ],
        ),
        ProofError::WrongProofLength { expected, actual } => i18n.tf(
            Msg::PfWrongProofLength,
            &[
                ("expected", &expected.to_string()),
                ("actual", &actual.to_string()),
            ],
        ),
        ProofError::RootMismatch { expected, computed } => i18n.tf(
            Msg::PfRootMismatch,
            &[("expected", &h(expected)), ("computed", &h(computed))],
        ),
        ProofError::OldRootMismatch { expected, computed } => i18n.tf(
            Msg::PfOldRootMismatch,
            &[("expected", &h(expected)), ("computed", &h(computed))],
        ),
        ProofError::NewRootMismatch { expected, computed } => i18n.tf(
            Msg::PfNewRootMismatch,
            &[("expected", &h(expected)), ("computed", &h(computed))],
        ),
    }
}

/// A long value shown shortened, with a button that copies all of it (and
/// shows all of it when the browser refuses to copy).
#[component]
pub fn CopyValue(value: String, #[prop(optional)] testid: &'static str) -> impl IntoView {
    let i18n = use_i18n();
    let state = RwSignal::new(None::<bool>);
    let to_copy = value.clone();
    let copy = move |_| {
        let text = to_copy.clone();
        spawn_local(async move {
            // `navigator.clipboard` exists only in secure contexts.
            let clipboard = js_sys::Reflect::get(&window().navigator(), &"clipboard".into())
                .ok()
                .and_then(|c| c.dyn_into::<web_sys::Clipboard>().ok());
            let ok = match clipboard {
                Some(c) => JsFuture::from(c.write_text(&text)).await.is_ok(),
                None => false,
            };
            state.set(Some(ok));
        });
    };
    let full = value.clone();
    view! {
        <span class="copy-value">
            <code class="hash" title=value.clone() data-testid=testid data-value=value.clone()>{short_hex(&value)}</code>
            <button type="button" class="copy-btn" on:click=copy
                title=move || i18n.t(Msg::CopyFull) aria-label=move || i18n.t(Msg::CopyFull)>
                {move || if state.get() == Some(true) { i18n.t(Msg::CopiedShort) } else { i18n.t(Msg::Copy) }}
            </button>
            {move || (state.get() == Some(false)).then(|| view! {
                <span class="copy-fallback small">
                    {move || i18n.t(Msg::CopyFailedShown)}
                    <code class="hash full">{full.clone()}</code>
                </span>
            })}
        </span>
    }
}
