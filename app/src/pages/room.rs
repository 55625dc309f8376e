//! `/sessions/:id`: the room.
//!
//! The REST detail decides what the page is:
//! - 403/404 → the shared "no access" / "not found" pages;
//! - the person takes part and the session is not over → the live room:
//!   participants with presence, the chat timeline from the room socket
//!   ([`crate::net::room`]), the message box, connection and clock state;
//! - the session has ended → its read-only record (timeline from the
//!   socket's replay when the page watched it end, else from
//!   `GET /sessions/{id}/events`);
//! - an expert or administrator who oversees the session without taking
//!   part → the record so far, read-only (the socket is for participants).
//!
//! On a phone the participants fold away above the chat and the message
//! box stays at the bottom of the screen.

use jiliang_protocol::rooms::{EventBody, MAX_CHAT_CHARS, RoomEvent};
use jiliang_protocol::sessions::{
    EventsPage, EventsParams, Participant, SessionDetail, SessionInfo, SessionKind, SessionState,
};
use leptos::html;
use leptos::leptos_dom::helpers::{request_animation_frame, window_event_listener};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::{ApiError, V1, encode, use_api};
use crate::components::badges::RoleBadges;
use crate::components::ledger_report::{Loaded, Source, parse_export};
use crate::components::session_bits::{StateBadge, lab_names};
use crate::components::states::{ErrorBox, Loading, failure_view};
use crate::i18n::{I18n, Msg, use_i18n};
use crate::net::room::{Conn, Pending, RoomHandle, Stop};
use crate::pages::verify::use_hold_export;
use crate::session::use_session;
use crate::util::{
    dom_id, duration_text, local_hm, local_time, local_time_seconds, save_text_file,
};

#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    move || {
        let id = id.get();
        view! { <Room id=id/> }
    }
}

/// What the page shows, from the REST detail.
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Loading,
    Failed(ApiError),
    Live,
    Ended,
    Overseer,
}

fn rank(s: SessionState) -> u8 {
    match s {
        SessionState::Scheduled => 0,
        SessionState::Live => 1,
        SessionState::Ended => 2,
    }
}

#[component]
fn Room(id: String) -> impl IntoView {
    let api = use_api();
    let session = use_session();
    let me = session
        .me_untracked()
        .map(|m| m.user.id.to_string())
        .unwrap_or_default();
    let path = format!("{V1}/sessions/{}", encode(&id));
    let detail = LocalResource::new(move || {
        let path = path.clone();
        async move { api.get::<SessionDetail>(&path).await }
    });
    let reload = Callback::new(move |_| detail.refetch());
    let me_k = me.clone();
    // The page is rebuilt only when what it is changes, not on every
    // re-read of the detail (a live room keeps its socket).
    let kind = Memo::new(move |prev: Option<&Kind>| match detail.get() {
        None => prev.cloned().unwrap_or(Kind::Loading),
        // A re-read that failed for want of a network or a server (a
        // restart) says nothing new: the room stays, its socket retries.
        Some(Err(e))
            if !matches!(e.status(), Some(401 | 403 | 404))
                && matches!(prev, Some(Kind::Live | Kind::Ended | Kind::Overseer)) =>
        {
            prev.cloned().unwrap_or(Kind::Loading)
        }
        Some(Err(e)) => Kind::Failed(e),
        Some(Ok(d)) => {
            let member = d.participants.iter().any(|p| p.user_id.to_string() == me_k);
            match (d.session.state, member) {
                (SessionState::Ended, _) => Kind::Ended,
                (_, true) => Kind::Live,
                (_, false) => Kind::Overseer,
            }
        }
    });
    move || {
        let current = detail.get_untracked().and_then(Result::ok);
        match (kind.get(), current) {
            (Kind::Loading, _) => view! { <Loading/> }.into_any(),
            (Kind::Failed(e), _) => failure_view(e, Some(reload)),
            (Kind::Live, Some(d)) => {
                view! { <LiveRoom detail=d reload=reload me=me.clone()/> }.into_any()
            }
            (Kind::Ended, Some(d)) => {
                let info = d.session.clone();
                view! {
                    <RecordView info=info participants=d.participants can_manage=false
                        preloaded=None unsent=Vec::new() overseer=false me=me.clone()/>
                }
                .into_any()
            }
            (Kind::Overseer, Some(d)) => view! {
                <RecordView info=d.session participants=d.participants can_manage=false
                    preloaded=None unsent=Vec::new() overseer=true me=me.clone()/>
            }
            .into_any(),
            (_, None) => view! { <Loading/> }.into_any(),
        }
    }
}

/// The header: title, state, host, labs, times; start and end for those
/// who run the session.
#[component]
fn RoomHeader(
    #[prop(into)] info: Signal<SessionInfo>,
    can_manage: bool,
    /// Called with the new detail after a start or end.
    #[prop(optional)]
    on_change: Option<Callback<SessionDetail>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let busy = RwSignal::new(false);
    let confirm_end = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let change = move |action: &'static str| {
        let id = info.with_untracked(|s| s.id.to_string());
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let r = api
                .post_empty::<SessionDetail>(&format!("{V1}/sessions/{id}/{action}"))
                .await;
            busy.set(false);
            confirm_end.set(false);
            match r {
                Ok(d) => {
                    if let Some(cb) = on_change {
                        cb.run(d);
                    }
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let state = Signal::derive(move || info.with(|s| s.state));
    view! {
        <header class="room-head">
            <nav class="breadcrumb" aria-label=move || i18n.t(Msg::Breadcrumb)>
                <ol><li><A href="/sessions">{move || i18n.t(Msg::NavSessions)}</A></li></ol>
            </nav>
            <h1 data-testid="room-title">{move || info.with(|s| s.title.clone())}</h1>
            <p class="room-meta">
                <StateBadge state=state/>
                {move || info.with(|s| s.kind == SessionKind::Help).then(|| view! {
                    <span class="badge kind-help">{move || i18n.t(Msg::KindHelp)}</span>
                })}
                <span>{move || info.with(|s| i18n.tf(Msg::HostedBy, &[("name", &s.host_name)]))}</span>
                <span class="muted">{move || info.with(|s| lab_names(&s.labs, i18n.locale()))}</span>
            </p>
            <p class="room-meta muted small">
                {move || info.with(|s| i18n.tf(Msg::ScheduledFor, &[
                    ("time", &local_time(s.scheduled_start.unix_timestamp())),
                    ("duration", &duration_text(s.duration_minutes, i18n.locale())),
                ]))}
            </p>
            {move || info.with(|s| (!s.description.is_empty()).then(|| view! {
                <p class="room-desc">{s.description.clone()}</p>
            }))}
            {can_manage.then(|| view! {
                <div class="button-row room-actions">
                    {move || (state.get() == SessionState::Scheduled).then(|| view! {
                        <button type="button" class="primary" data-testid="start-session"
                            disabled=move || busy.get() on:click=move |_| change("start")>
                            {move || i18n.t(Msg::StartSession)}
                        </button>
                    })}
                    {move || (state.get() != SessionState::Ended && !confirm_end.get()).then(|| view! {
                        <button type="button" class="secondary" data-testid="end-session"
                            disabled=move || busy.get() on:click=move |_| confirm_end.set(true)>
                            {move || i18n.t(Msg::EndSession)}
                        </button>
                    })}
                </div>
                {move || confirm_end.get().then(|| view! {
                    <div class="panel confirm" role="alertdialog" aria-labelledby="end-q">
                        <p id="end-q">{move || i18n.t(Msg::ConfirmEndSession)}</p>
                        <div class="button-row">
                            <button type="button" class="primary danger" data-testid="confirm-end"
                                disabled=move || busy.get() on:click=move |_| change("end")>
                                {move || if busy.get() { i18n.t(Msg::Working) } else { i18n.t(Msg::ConfirmEnd) }}
                            </button>
                            <button type="button" class="secondary" on:click=move |_| confirm_end.set(false)>
                                {move || i18n.t(Msg::Cancel)}
                            </button>
                        </div>
                    </div>
                })}
            })}
            {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
        </header>
    }
}

/// The live room.
#[component]
fn LiveRoom(detail: SessionDetail, reload: Callback<()>, me: String) -> impl IntoView {
    let i18n = use_i18n();
    let id = detail.session.id.to_string();
    let handle = RoomHandle::open(&id, &me);
    on_cleanup(move || handle.close());
    let s = handle.s;
    let rest_info = RwSignal::new(detail.session.clone());
    // Whichever source has seen the session further along wins.
    let info = Memo::new(move |_| {
        let rest = rest_info.get();
        match s.session.get() {
            Some(live) if rank(live.state) >= rank(rest.state) => live,
            _ => rest,
        }
    });
    let ended = Memo::new(move |_| info.with(|i| i.state == SessionState::Ended));
    let rest_participants = detail.participants.clone();
    let on_change = Callback::new(move |d: SessionDetail| rest_info.set(d.session));

    // A socket that never got as far as the snapshot, a 4001 or a 4002:
    // the REST detail says why (403, 404, 401 → the page or the login).
    Effect::new(move |_| {
        let n = s.failed_handshakes.get();
        if matches!(n, 1 | 3 | 6) || (n > 0 && n.is_multiple_of(10)) {
            reload.run(());
        }
    });
    Effect::new(move |_| {
        if matches!(s.conn.get(), Conn::Stopped(Stop::Gone | Stop::LoggedOut)) {
            reload.run(());
        }
    });

    let can_manage = detail.can_manage;
    move || {
        if ended.get() {
            // The socket replay is the whole log when it ends with the
            // state change; otherwise read the record over REST.
            let events = s.events.get_untracked();
            let complete = events
                .last()
                .is_some_and(|e| matches!(&e.body, EventBody::State { to, .. } if to == "ended"))
                && events.first().is_some_and(|e| e.seq == 1);
            let participants = {
                let live = s.participants.get_untracked();
                if live.is_empty() {
                    rest_participants.clone()
                } else {
                    live
                }
            };
            // Stopping moves what is left in the outbox to `unsent`.
            handle.stop(Stop::Ended);
            let unsent = s.unsent.get_untracked();
            view! {
                <RecordView info=info.get_untracked() participants=participants can_manage=false
                    preloaded=complete.then_some(events) unsent=unsent overseer=false me=me.clone()/>
            }
            .into_any()
        } else {
            let participants = rest_participants.clone();
            view! {
                <article class="room" data-testid="room-page" data-state=move || info.with(|i| i.state.as_str())>
                    <RoomHeader info=info can_manage=can_manage on_change=on_change/>
                    <ConnectionBanner handle=handle/>
                    {move || (info.with(|i| i.state) == SessionState::Scheduled).then(|| view! {
                        <p class="notice warn small" data-testid="not-started">{move || i18n.t(Msg::NotStartedYet)}</p>
                    })}
                    <div class="room-body">
                        <ParticipantsPanel handle=handle fallback=participants/>
                        <ChatPanel handle=handle me=me.clone()/>
                    </div>
                </article>
            }
            .into_any()
        }
    }
}

/// "Reconnecting… (attempt N, M messages waiting)" and "connection back".
#[component]
fn ConnectionBanner(handle: RoomHandle) -> impl IntoView {
    let i18n = use_i18n();
    let s = handle.s;
    let waiting = move || s.outbox.with(Vec::len).to_string();
    view! {
        {move || match s.conn.get() {
            Conn::Reconnecting { attempt } => Some(view! {
                <div class="banner banner-warn" role="status" data-testid="reconnect-banner">
                    <span class="spinner" aria-hidden="true"></span>
                    <span>{move || i18n.tf(Msg::Reconnecting, &[("n", &attempt.to_string()), ("m", &waiting())])}</span>
                    <button type="button" class="link" on:click=move |_| handle.reconnect_now()>{move || i18n.t(Msg::RetryNow)}</button>
                </div>
            }.into_any()),
            Conn::Offline => Some(view! {
                <div class="banner banner-warn" role="status" data-testid="reconnect-banner" data-offline="true">
                    <span>{move || i18n.tf(Msg::OfflineWaiting, &[("m", &waiting())])}</span>
                </div>
            }.into_any()),
            Conn::Stopped(Stop::Incompatible) => Some(view! {
                <div class="banner banner-bad" role="alert">{move || i18n.t(Msg::ReloadNeeded)}</div>
            }.into_any()),
            _ => None,
        }}
        {move || s.recovered.get().then(|| view! {
            <div class="banner banner-ok" role="status" data-testid="reconnected-banner">{move || i18n.t(Msg::Reconnected)}</div>
        })}
    }
}

fn conn_text(c: Conn, i18n: I18n) -> String {
    match c {
        Conn::Connecting => i18n.t(Msg::ConnConnecting).to_owned(),
        Conn::Live => i18n.t(Msg::ConnLive).to_owned(),
        Conn::Reconnecting { attempt } => {
            i18n.tf(Msg::ConnReconnecting, &[("n", &attempt.to_string())])
        }
        Conn::Offline => i18n.t(Msg::ConnOffline).to_owned(),
        Conn::Stopped(Stop::LoggedOut) => i18n.t(Msg::ConnLoggedOut).to_owned(),
        Conn::Stopped(Stop::Gone) => i18n.t(Msg::ConnGone).to_owned(),
        Conn::Stopped(_) => i18n.t(Msg::ConnClosed).to_owned(),
    }
}

fn conn_key(c: Conn) -> &'static str {
    match c {
        Conn::Connecting => "connecting",
        Conn::Live => "live",
        Conn::Reconnecting { .. } => "reconnecting",
        Conn::Offline => "offline",
        Conn::Stopped(_) => "stopped",
    }
}

/// The people of the session with presence; folds away on a phone.
#[component]
fn ParticipantsPanel(handle: RoomHandle, fallback: Vec<Participant>) -> impl IntoView {
    let i18n = use_i18n();
    let s = handle.s;
    let list = Memo::new(move |_| {
        let live = s.participants.get();
        if live.is_empty() {
            fallback.clone()
        } else {
            live
        }
    });
    let counts = move || {
        list.with(|l| {
            i18n.tf(
                Msg::OnlineCount,
                &[
                    ("n", &l.iter().filter(|p| p.online).count().to_string()),
                    ("m", &l.len().to_string()),
                ],
            )
        })
    };
    // Open by default where there is room beside the chat.
    let wide = window()
        .inner_width()
        .ok()
        .and_then(|w| w.as_f64())
        .is_some_and(|w| w >= 900.0);
    view! {
        <aside class="room-side">
            <details class="participants" open=wide data-testid="participants">
                <summary>
                    <span class="summary-title">{move || i18n.t(Msg::Participants)}</span>
                    " "<span class="muted small" data-testid="online-count">{counts}</span>
                </summary>
                <ul class="participant-list">
                    <For each=move || list.get() key=|p| (p.user_id.to_string(), p.online) let:p>
                        <ParticipantLine p=p show_presence=true/>
                    </For>
                </ul>
            </details>
        </aside>
    }
}

#[component]
fn ParticipantLine(p: Participant, show_presence: bool) -> impl IntoView {
    let i18n = use_i18n();
    let online = p.online;
    view! {
        <li class="participant" data-testid="participant" data-online=if online { "true" } else { "false" }
            data-name=p.display_name.clone()>
            {show_presence.then(|| view! {
                <span class="presence" class:online=online
                    title=move || i18n.t(if online { Msg::Online } else { Msg::NotOnline })>
                    <span class="visually-hidden">{move || i18n.t(if online { Msg::Online } else { Msg::NotOnline })}</span>
                </span>
            })}
            <span class="participant-main">
                <span class="person-name">{p.display_name.clone()}</span>
                {p.host.then(|| view! { <span class="badge host-badge">{move || i18n.t(Msg::Host)}</span> })}
                <span class="participant-inst muted small">{p.institution_name.clone()}</span>
                <span class="participant-roles"><RoleBadges roles=p.roles.clone()/></span>
            </span>
        </li>
    }
}

/// `+12.3 ms ± 4.1 ms`.
fn offset_text(offset: f64, unc: f64) -> String {
    format!("{offset:+.1} ms ± {unc:.1} ms")
}

/// On a phone the page itself scrolls (the log takes the height it needs,
/// the message box stays fixed at the bottom); on wider screens the log
/// scrolls inside its panel.
fn page_scrolls() -> bool {
    window()
        .inner_width()
        .ok()
        .and_then(|w| w.as_f64())
        .is_some_and(|w| w < 720.0)
}

/// The chat: timeline, outbox, typing, message box.
#[component]
fn ChatPanel(handle: RoomHandle, me: String) -> impl IntoView {
    let i18n = use_i18n();
    let s = handle.s;
    let log = NodeRef::<html::Div>::new();
    let stick = RwSignal::new(true);
    let unseen = RwSignal::new(0_usize);
    let to_bottom = move || {
        request_animation_frame(move || {
            let el = if page_scrolls() {
                document().scrolling_element()
            } else {
                log.get_untracked().map(Into::into)
            };
            if let Some(el) = el {
                el.set_scroll_top(el.scroll_height());
            }
        });
    };
    let check_bottom = move || {
        let at_bottom = if page_scrolls() {
            // Leave room for the message box fixed over the page's end.
            document()
                .scrolling_element()
                .is_some_and(|el| el.scroll_height() - el.scroll_top() - el.client_height() < 120)
        } else {
            log.get_untracked()
                .is_some_and(|el| el.scroll_height() - el.scroll_top() - el.client_height() < 48)
        };
        stick.set(at_bottom);
        if at_bottom {
            unseen.set(0);
        }
    };
    let on_scroll = move |_| check_bottom();
    let page_scroll = window_event_listener(leptos::ev::scroll, move |_| {
        if page_scrolls() {
            check_bottom();
        }
    });
    on_cleanup(move || page_scroll.remove());
    // Follow new lines while the reader is at the bottom; otherwise count
    // them on the "new messages" pill.
    Effect::new(move |prev: Option<usize>| {
        let n = s.events.with(Vec::len) + s.outbox.with(Vec::len);
        match prev {
            None => to_bottom(),
            Some(p) if n > p => {
                if stick.get_untracked() {
                    to_bottom();
                } else {
                    unseen.update(|u| *u += n - p);
                }
            }
            _ => {}
        }
        n
    });
    let me_ev = me.clone();
    let typing_text = move || {
        s.typing.with(|t| {
            (!t.is_empty()).then(|| {
                let sep = if i18n.locale() == crate::i18n::Locale::ZhCn {
                    "、"
                } else {
                    ", "
                };
                let names: Vec<&str> = t.iter().map(|x| x.name.as_str()).collect();
                i18n.tf(Msg::IsTyping, &[("names", &names.join(sep))])
            })
        })
    };
    let sent_hook = Callback::new(move |_| {
        stick.set(true);
        unseen.set(0);
        to_bottom();
    });
    view! {
        <section class="chat-panel" aria-label=move || i18n.t(Msg::Chat)>
            <div class="chat-bar">
                <span class=move || format!("conn conn-{}", conn_key(s.conn.get()))
                    data-testid="conn-state" data-state=move || conn_key(s.conn.get())>
                    <span class="conn-dot" aria-hidden="true"></span>
                    {move || conn_text(s.conn.get(), i18n)}
                </span>
                <span class="clock" data-testid="clock-offset" title=move || i18n.t(Msg::ClockOffsetHelp)>
                    {move || match s.clock.get() {
                        Some(c) => i18n.tf(Msg::ClockOffset, &[("value", &offset_text(c.offset_ms, c.uncertainty_ms()))]),
                        None => i18n.t(Msg::ClockMeasuring).to_owned(),
                    }}
                </span>
            </div>
            {move || s.error.get().map(|e| {
                let text = if e.code == "rate_limited" { i18n.t(Msg::ErrRateLimited).to_owned() } else { e.message.clone() };
                view! {
                    <div class="chat-error" role="alert" data-testid="room-error">
                        <span>{text}</span>
                        <button type="button" class="link" on:click=move |_| s.error.set(None)>{move || i18n.t(Msg::Close)}</button>
                    </div>
                }
            })}
            <div class="chat-wrap">
                <div class="chat-log" node_ref=log on:scroll=on_scroll data-testid="chat-log"
                    data-follow=move || if stick.get() { "true" } else { "false" }
                    role="log" aria-live="polite" aria-relevant="additions" tabindex="0">
                    {move || (s.events.with(Vec::is_empty) && s.outbox.with(Vec::is_empty)).then(|| view! {
                        <p class="chat-empty muted">{move || i18n.t(Msg::ChatEmpty)}</p>
                    })}
                    <For each=move || s.events.get() key=|e| e.seq let:e>
                        {event_line(e, &me_ev, true, i18n)}
                    </For>
                    <For each=move || s.outbox.get() key=|p| p.client_id.clone() let:p>
                        <PendingLine p=p/>
                    </For>
                </div>
                {move || (unseen.get() > 0).then(|| view! {
                    <button type="button" class="new-pill" data-testid="new-messages"
                        on:click=move |_| { stick.set(true); unseen.set(0); to_bottom(); }>
                        {move || i18n.tf(Msg::NewMessages, &[("n", &unseen.get().to_string())])}" ↓"
                    </button>
                })}
            </div>
            <p class="typing" aria-live="polite" data-testid="typing-indicator">{typing_text}</p>
            <Composer handle=handle on_sent=sent_hook/>
        </section>
    }
}

/// One line of the timeline: a chat message, or a small system line.
fn event_line(e: RoomEvent, me: &str, live: bool, i18n: I18n) -> AnyView {
    let at = e.at.unix_timestamp();
    let time = local_hm(at);
    let full = local_time_seconds(at);
    let name = e
        .author
        .as_ref()
        .map(|a| a.name.clone())
        .unwrap_or_default();
    let mine = e.author.as_ref().is_some_and(|a| a.id.to_string() == me);
    let seq = e.seq.to_string();
    let verify = verify_link(&e.id.to_string(), live, i18n);
    match e.body {
        EventBody::Chat { text } => view! {
            <div class="msg" class:mine=mine data-testid="chat-message" data-seq=seq>
                <div class="msg-head">
                    <span class="msg-author">{name}</span>
                    <time class="msg-time" title=full>{time}</time>
                    {verify}
                </div>
                <div class="msg-text" data-testid="chat-text">{text}</div>
            </div>
        }
        .into_any(),
        EventBody::Join | EventBody::Leave => {
            let msg = if matches!(e.body, EventBody::Join) {
                Msg::SysJoined
            } else {
                Msg::SysLeft
            };
            view! {
                <p class="sys" data-testid="system-line" data-seq=seq>
                    {move || i18n.tf(msg, &[("name", &name)])}
                    " · "<time title=full>{time}</time>
                    " · "{verify}
                </p>
            }
            .into_any()
        }
        EventBody::State { to, .. } => {
            let msg = match to.as_str() {
                "live" => Msg::SysStarted,
                "ended" => Msg::SysEnded,
                _ => Msg::SysStateChanged,
            };
            view! {
                <p class="sys sys-state" data-testid="system-line" data-seq=seq>
                    {move || i18n.tf(msg, &[("name", &name), ("state", &to)])}
                    " · "<time title=full>{time}</time>
                    " · "{verify}
                </p>
            }
            .into_any()
        }
        // A kind from a newer server: nothing to show in this build.
        EventBody::Unknown => ().into_any(),
    }
}

/// The small "verify" link of a stored event: its record in the ledger,
/// checked in the browser.
/// From the live room it opens in a new tab, so the room (and its
/// socket) stays where it is.
fn verify_link(event_id: &str, live: bool, i18n: I18n) -> AnyView {
    let href = format!("/verify/room_event/{event_id}");
    let title = move || i18n.t(Msg::VerifyLinkTitle);
    if live {
        view! {
            <a href=href class="verify-link" data-testid="verify-link" title=title
                target="_blank" rel="noopener">{move || i18n.t(Msg::VerifyLink)}</a>
        }
        .into_any()
    } else {
        view! {
            <A href=href attr:class="verify-link" attr:data-testid="verify-link" attr:title=title>
                {move || i18n.t(Msg::VerifyLink)}
            </A>
        }
        .into_any()
    }
}

#[component]
fn PendingLine(p: Pending) -> impl IntoView {
    let i18n = use_i18n();
    #[allow(clippy::cast_possible_truncation)]
    let at = (p.created_ms / 1000.0) as i64;
    view! {
        <div class="msg mine pending" data-testid="chat-message" data-pending="true">
            <div class="msg-head">
                <span class="badge badge-pending" data-testid="pending-marker">{move || i18n.t(Msg::Sending)}</span>
                <time class="msg-time">{local_hm(at)}</time>
            </div>
            <div class="msg-text" data-testid="chat-text">{p.text.clone()}</div>
        </div>
    }
}

/// The message box: Enter sends, Shift+Enter breaks the line; an input
/// method's Enter (choosing Chinese characters) does neither.
#[component]
fn Composer(handle: RoomHandle, on_sent: Callback<()>) -> impl IntoView {
    let i18n = use_i18n();
    let s = handle.s;
    let text = RwSignal::new(String::new());
    let id = dom_id("chat");
    let count = move || text.with(|t| t.chars().count());
    let blocked = move || matches!(s.conn.get(), Conn::Stopped(_));
    let send = move || {
        let t = text.get_untracked();
        if handle.send_chat(&t) {
            text.set(String::new());
            on_sent.run(());
        }
    };
    let rows = move || text.with(|t| t.lines().count().clamp(1, 5)).to_string();
    view! {
        <form class="composer" data-testid="composer"
            on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); send(); }>
            <label for=id.clone() class="visually-hidden">{move || i18n.t(Msg::Message)}</label>
            <textarea
                id=id
                rows=rows
                maxlength=MAX_CHAT_CHARS.to_string()
                placeholder=move || i18n.t(Msg::MessagePlaceholder)
                title=move || i18n.t(Msg::MessageKeysHint)
                prop:value=move || text.get()
                disabled=blocked
                data-testid="chat-input"
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    if !v.trim().is_empty() {
                        handle.typing();
                    }
                    text.set(v);
                }
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() && ev.key_code() != 229 {
                        ev.prevent_default();
                        send();
                    }
                }
            ></textarea>
            <div class="composer-side">
                <span class="count muted small" class:near=move || { count() > MAX_CHAT_CHARS - 200 }
                    class:hidden=move || count() == 0 data-testid="char-count">
                    {move || format!("{}/{}", count(), MAX_CHAT_CHARS)}
                </span>
                <button type="submit" class="primary" data-testid="chat-send"
                    disabled=move || blocked() || text.with(|t| t.trim().is_empty())>
                    {move || i18n.t(Msg::Send)}
                </button>
            </div>
        </form>
    }
}

/// The whole stored timeline, page by page.
async fn load_timeline(api: crate::api::Api, id: String) -> Result<Vec<RoomEvent>, ApiError> {
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
fn ExportActions(id: String, title: String) -> impl IntoView {
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
                        if let Err(e) = save_text_file(&name, &text, "application/json") {
                            error.set(Some(ApiError::Network(e)));
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
fn RecordView(
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
                            let shown: Vec<RoomEvent> = events.into_iter().filter(|e| e.body != EventBody::Unknown).collect();
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
