//! A session's read-only record: the stored timeline and its verifiable export.

use jiliang_protocol::rooms::{EventBody, RoomEvent};
use jiliang_protocol::sessions::{EventsPage, EventsParams, Participant, SessionInfo};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;

use super::chat::event_line;
use super::header::RoomHeader;
use super::instruments::FinishedComparison;
use super::participants::ParticipantLine;
use crate::api::{ApiError, V1, encode, use_api};
use crate::components::ledger_report::{Loaded, Source, parse_export};
use crate::components::states::{ErrorBox, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::net::room::Pending;
use crate::pages::verify::use_hold_export;
use crate::util::{duration_text, local_time_seconds, save_text_file};

/// The whole stored timeline, page by page.
pub(super) async fn load_timeline(
    api: crate::api::Api,
    id: String,
) -> Result<Vec<RoomEvent>, ApiError> {
    let mut all = Vec::new();
    let mut after = 0_u64;
    loop {
        let params = EventsParams {
            after: Some(after),
            limit: Some(1000),
        };
        let page: EventsPage = api
            .get_query(&format!("{V1}/sessions/{id}/events"), &params)
            .await?;
        all.extend(page.items);
        match page.next_after {
            Some(n) if n > after => after = n,
            _ => break,
        }
    }
    Ok(all)
}

/// "Download verifiable export" and "Verify in browser": the session's
/// ledger export, saved as a file or handed to `/verify` in memory.
#[component]
pub(super) fn ExportActions(id: String, title: String) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let navigate = use_navigate();
    let hold_export = use_hold_export();
    let busy = RwSignal::new(None::<&'static str>);
    let error = RwSignal::new(None::<ApiError>);
    let path = format!("{V1}/sessions/{}/export", encode(&id));
    let fetch = {
        let path = path.clone();
        move || {
            let path = path.clone();
            async move { api.get_text(&path).await }
        }
    };
    let download = {
        let fetch = fetch.clone();
        let id = id.clone();
        move |_| {
            let fetch = fetch.clone();
            let name = format!("jiliang-session-{id}.json");
            busy.set(Some("download"));
            error.set(None);
            spawn_local(async move {
                let r = fetch().await;
                busy.set(None);
                match r {
                    Ok(text) => {
                        if save_text_file(&name, &text, "application/json").is_err() {
                            error.set(Some(ApiError::Local(Msg::ErrSaveFile)));
                        }
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    let verify = move |_| {
        let fetch = fetch.clone();
        let id = id.clone();
        let title = title.clone();
        let navigate = navigate.clone();
        let hold_export = hold_export.clone();
        busy.set(Some("verify"));
        error.set(None);
        spawn_local(async move {
            let r = fetch().await;
            busy.set(None);
            match r {
                Ok(text) => match parse_export(&text) {
                    Ok(bundle) => {
                        hold_export(Loaded {
                            bundle,
                            text,
                            source: Source::Session { id, title },
                        });
                        navigate("/verify", NavigateOptions::default());
                    }
                    Err(e) => error.set(Some(ApiError::Decode(format!("{e:?}")))),
                },
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let label = move |which: &'static str, msg: Msg| {
        move || {
            if busy.get() == Some(which) {
                i18n.t(Msg::Preparing)
            } else {
                i18n.t(msg)
            }
        }
    };
    view! {
        <section class="export-actions" data-testid="export-actions" aria-label=move || i18n.t(Msg::VerifiableRecord)>
            <div class="button-row">
                <button type="button" class="secondary" data-testid="download-export"
                    disabled=move || busy.get().is_some() on:click=download>
                    {label("download", Msg::DownloadExport)}
                </button>
                <button type="button" class="secondary" data-testid="verify-export"
                    disabled=move || busy.get().is_some() on:click=verify>
                    "✓ "{label("verify", Msg::VerifyInBrowser)}
                </button>
            </div>
            <p class="muted small">{move || i18n.t(Msg::ExportHint)}</p>
            {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
        </section>
    }
}

/// The read-only record: an ended session, or one the person oversees.
#[component]
pub(super) fn RecordView(
    info: SessionInfo,
    participants: Vec<Participant>,
    can_manage: bool,
    preloaded: Option<Vec<RoomEvent>>,
    unsent: Vec<Pending>,
    overseer: bool,
    me: String,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let id = info.id.to_string();
    let preloaded = StoredValue::new(preloaded);
    let timeline = LocalResource::new(move || {
        let id = id.clone();
        let pre = preloaded.get_value();
        async move {
            match pre {
                Some(ev) => Ok(ev),
                None => load_timeline(api, id).await,
            }
        }
    });
    let retry = Callback::new(move |_| {
        preloaded.set_value(None);
        timeline.refetch();
    });
    let state = info.state;
    let session_id = info.id;
    let started = info.started_at.map(|t| t.unix_timestamp());
    let ended_at = info.ended_at.map(|t| t.unix_timestamp());
    let lasted = match (started, ended_at) {
        (Some(a), Some(b)) if b >= a => Some((b - a + 59) / 60),
        _ => None,
    };
    let info_sig = Signal::derive({
        let info = info.clone();
        move || info.clone()
    });
    view! {
        <article class="room record" data-testid="room-page" data-state=state.as_str()>
            <RoomHeader info=info_sig can_manage=can_manage/>
            {if overseer {
                view! {
                    <p class="notice warn" data-testid="overseer-notice">{move || i18n.t(Msg::OverseerNotice)}</p>
                }.into_any()
            } else {
                view! {
                    <p class="notice ended-notice" data-testid="ended-notice">
                        <strong>{move || i18n.t(Msg::EndedReadOnly)}</strong>
                    </p>
                }.into_any()
            }}
            <dl class="facts record-facts">
                <dt>{move || i18n.t(Msg::StartedAt)}</dt>
                <dd data-testid="started-at">{started.map_or_else(|| "—".to_owned(), local_time_seconds)}</dd>
                <dt>{move || i18n.t(Msg::EndedAt)}</dt>
                <dd data-testid="ended-at">{ended_at.map_or_else(|| "—".to_owned(), local_time_seconds)}</dd>
                <dt>{move || i18n.t(Msg::Lasted)}</dt>
                <dd data-testid="lasted">{move || lasted.map_or_else(|| "—".to_owned(), |m| duration_text(m, i18n.locale()))}</dd>
            </dl>
            <ExportActions id=info.id.to_string() title=info.title.clone()/>
            <RecordingsList session_id=session_id timeline=timeline/>
            {move || {
                // The last finished comparison of the session, with its
                // settings, from the stored timeline.
                let Some(Ok(events)) = timeline.get() else { return None };
                let finished = events.iter().rev().find(|e| matches!(e.body, EventBody::ComparisonFinished { .. }))?.clone();
                let spec = events.iter().rev().find_map(|e| match &e.body {
                    EventBody::ComparisonSetup { spec, .. } if e.seq < finished.seq => Some((**spec).clone()),
                    _ => None,
                });
                Some(view! { <FinishedComparison session_id=session_id finished=finished spec=spec/> })
            }}
            {move || {
                // A line can have reached the log just before the end (its
                // answer still on the way when the page stopped): then it
                // is in the record, not lost.
                let stored: Vec<String> = match timeline.get() {
                    Some(Ok(ev)) => ev.into_iter().filter_map(|e| e.client_id).collect(),
                    _ => return None,
                };
                let lost: Vec<Pending> = unsent
                    .iter()
                    .filter(|p| !stored.contains(&p.client_id))
                    .cloned()
                    .collect();
                (!lost.is_empty()).then(|| view! {
                    <div class="notice warn" data-testid="unsent">
                        <p>{move || i18n.t(Msg::UnsentAfterEnd)}</p>
                        <ul>{lost.into_iter().map(|p| view! { <li class="pre">{p.text}</li> }).collect_view()}</ul>
                    </div>
                })
            }}
            <div class="room-body">
                <aside class="room-side">
                    <details class="participants" open=true data-testid="participants">
                        <summary><span class="summary-title">{move || i18n.t(Msg::Participants)}</span>
                            " "<span class="muted small">{participants.len()}</span></summary>
                        <ul class="participant-list">
                            {participants.into_iter().map(|p| view! { <ParticipantLine p=p show_presence=false/> }).collect_view()}
                        </ul>
                    </details>
                </aside>
                <section class="chat-panel readonly" data-testid="room-readonly" aria-label=move || i18n.t(Msg::Timeline)>
                    <div class="chat-bar">
                        <h2 class="timeline-h">{move || i18n.t(Msg::Timeline)}</h2>
                        {overseer.then(|| view! {
                            <button type="button" class="secondary small" on:click=move |_| retry.run(())>{move || i18n.t(Msg::Refresh)}</button>
                        })}
                    </div>
                    {move || match timeline.get() {
                        None => view! { <Loading/> }.into_any(),
                        Some(Err(e)) => view! { <ErrorBox error=e retry=retry/> }.into_any(),
                        Some(Ok(events)) => {
                            let me = me.clone();
                            let shown: Vec<RoomEvent> = events.into_iter().filter(|e| !matches!(e.body, EventBody::Unknown | EventBody::Readings(_))).collect();
                            if shown.is_empty() {
                                return view! { <p class="chat-empty muted">{move || i18n.t(Msg::ChatEmpty)}</p> }.into_any();
                            }
                            view! {
                                <div class="chat-log record-log" data-testid="chat-log" role="log">
                                    {shown.into_iter().map(|e| event_line(e, &me, false, i18n)).collect_view()}
                                </div>
                            }.into_any()
                        }
                    }}
                </section>
            </div>
        </article>
    }
}

/// The session's recordings: each ready file plays in a `<video>` (served
/// in byte ranges, so seeking works) with a link to its ledger record;
/// failed ones say why. Files appear a moment after the session ends
/// (the remux), so an empty list is asked again while the timeline says
/// something was recorded.
#[component]
fn RecordingsList(
    session_id: uuid::Uuid,
    timeline: LocalResource<Result<Vec<RoomEvent>, ApiError>>,
) -> impl IntoView {
    use jiliang_protocol::recordings::{RecordingFile, RecordingKind, RecordingStatus};
    let i18n = use_i18n();
    let api = use_api();
    let path = format!("{V1}/sessions/{session_id}/recordings");
    let list = LocalResource::new(move || {
        let path = path.clone();
        async move { api.get::<Vec<RecordingFile>>(&path).await }
    });
    let recorded = Memo::new(
        move |_| matches!(timeline.get(), Some(Ok(ev)) if ev.iter().any(|e| matches!(e.body, EventBody::RecordingStarted { .. }))),
    );
    Effect::new(move |tries: Option<u32>| {
        let tries = tries.unwrap_or(0);
        let empty = matches!(list.get(), Some(Ok(l)) if l.is_empty());
        if empty && recorded.get() && tries < 40 {
            leptos::leptos_dom::helpers::set_timeout(
                move || list.refetch(),
                std::time::Duration::from_millis(1500),
            );
            tries + 1
        } else {
            tries
        }
    });
    let clock = |ms: u64| {
        let s = ms / 1000;
        format!("{}:{:02}", s / 60, s % 60)
    };
    view! {
        {move || {
            let files = match list.get() {
                None => return None,
                Some(Err(e)) => return Some(view! { <ErrorBox error=e retry=Callback::new(move |_| list.refetch())/> }.into_any()),
                Some(Ok(files)) => files,
            };
            if files.is_empty() && !recorded.get() {
                return None;
            }
            Some(view! {
                <section class="recordings" data-testid="recordings" aria-labelledby="recordings-h">
                    <h2 id="recordings-h">{move || i18n.t(Msg::Recordings)}</h2>
                    {files.is_empty().then(|| view! {
                        <p class="muted" data-testid="recordings-pending">{move || i18n.t(Msg::RecordingsPending)}</p>
                    })}
                    <ul class="recording-list">
                        {files.into_iter().map(|f: RecordingFile| {
                            let kind = match (f.kind, f.with_audio) {
                                (RecordingKind::Camera, true) => Msg::RecCameraAudio,
                                (RecordingKind::Camera, false) => Msg::RecCamera,
                                (RecordingKind::Screen, _) => Msg::RecScreen,
                                (RecordingKind::Microphone, _) => Msg::RecMicrophone,
                            };
                            let who = f.publisher_name.clone();
                            let duration = clock(f.duration_ms);
                            let size = crate::util::byte_size(f.bytes);
                            let meta = move || i18n.tf(Msg::RecordingMeta, &[("who", who.as_str()), ("kind", i18n.t(kind)), ("duration", duration.as_str()), ("size", size.as_str())]);
                            let id = f.id.to_string();
                            let ready = f.status == RecordingStatus::Ready;
                            let reason = f.reason.clone().unwrap_or_default();
                            view! {
                                <li class="recording" data-testid="recording" data-status=f.status.as_str() data-id=id.clone()>
                                    {ready.then(|| view! {
                                        <video class="recording-video" data-testid="recording-video" controls=true
                                            preload="metadata" playsinline=true src=format!("{V1}/recordings/{id}/file")></video>
                                    })}
                                    <p class="small">
                                        <span data-testid="recording-meta">{meta}</span>
                                        {ready.then(|| view! {
                                            " · "<a href=format!("/verify/recording/{id}") target="_blank" rel="noopener"
                                                data-testid="recording-verify">{move || i18n.t(Msg::RecordingVerify)}</a>
                                        })}
                                    </p>
                                    {(!ready).then(|| view! {
                                        <p class="notice warn small" data-testid="recording-failed">{move || i18n.tf(Msg::RecordingFailed, &[("reason", &reason)])}</p>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </section>
            }.into_any())
        }}
    }
}
