//! One record of the report: its verdict, a summary of what it holds, and what
//! failed.

use jiliang_ledger::{BundleRecord, Failure, format_rfc3339_ms};
use leptos::prelude::*;
use leptos_router::components::A;

use super::problems::{location_text, problem_code, problem_text, technical_detail};
use crate::i18n::{I18n, Locale, Msg, use_i18n};
use crate::util::local_time_ms;

/// One record: where it is, what it says, and its verdict.
#[component]
pub(super) fn RecordItem(
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
pub(super) struct RecordSummary {
    /// Readable payload, or `None` when it does not parse.
    parsed: bool,
    title: Option<SummaryTitle>,
    seq: Option<u64>,
    text: Option<String>,
    session: Option<String>,
}

#[derive(Clone, Debug)]
pub(super) enum SummaryTitle {
    Chat,
    Join,
    Leave,
    State { from: String, to: String },
    Other(String),
}

pub(super) fn summarize(kind: &str, payload: &str) -> RecordSummary {
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
pub(super) fn Summary(summary: RecordSummary) -> impl IntoView {
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
pub(super) fn state_name(state: &str, i18n: I18n) -> String {
    match state {
        "scheduled" => i18n.t(Msg::StateScheduled).to_owned(),
        "live" => i18n.t(Msg::StateLive).to_owned(),
        "ended" => i18n.t(Msg::StateEnded).to_owned(),
        other => other.to_owned(),
    }
}

#[component]
pub(super) fn FailureLine(failure: Failure, with_location: bool) -> impl IntoView {
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
