//! The chat timeline (log events, lines still in the outbox) and the message
//! box.

use jiliang_protocol::rooms::{EventBody, MAX_CHAT_CHARS, RoomEvent};
use leptos::html;
use leptos::leptos_dom::helpers::{request_animation_frame, window_event_listener};
use leptos::prelude::*;
use leptos_router::components::A;

use super::live::{conn_key, conn_text};
use super::participants::offset_text;
use crate::i18n::{I18n, Msg, use_i18n};
use crate::net::room::{Conn, Pending, RoomHandle};
use crate::util::{dom_id, local_hm, local_time_seconds};

/// On a phone the page itself scrolls (the log takes the height it needs,
/// the message box stays fixed at the bottom); on wider screens the log
/// scrolls inside its panel.
pub(super) fn page_scrolls() -> bool {
    window()
        .inner_width()
        .ok()
        .and_then(|w| w.as_f64())
        .is_some_and(|w| w < 720.0)
}

/// The chat: timeline, outbox, typing, message box.
#[component]
pub(super) fn ChatPanel(handle: RoomHandle, me: String) -> impl IntoView {
    let i18n = use_i18n();
    let s = handle.s;
    let log = NodeRef::<html::Div>::new();
    let stick = RwSignal::new(true);
    let unseen = RwSignal::new(0_usize);
    let to_bottom = move || {
        // The frame may come after the panel has gone (the session ended
        // on the event that asked for it): then there is nothing to scroll.
        request_animation_frame(move || {
            let Some(own) = log.try_get_untracked() else {
                return;
            };
            let el = if page_scrolls() {
                document().scrolling_element()
            } else {
                own.map(Into::into)
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
            log.try_get_untracked()
                .flatten()
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
        let n = s.events.with(Vec::len) + s.outbox.with(Vec::len) + s.earlier.with(Vec::len);
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
                    {move || (s.events.with(Vec::is_empty) && s.outbox.with(Vec::is_empty) && s.earlier.with(Vec::is_empty)).then(|| view! {
                        <p class="chat-empty muted">{move || i18n.t(Msg::ChatEmpty)}</p>
                    })}
                    // What this browser last saw, until the log's replay
                    // has caught up (same keys: the lines stay in place).
                    <For each=move || if s.earlier.with(Vec::is_empty) { s.events.get() } else { s.earlier.get() }
                        key=|e| e.seq let:e>
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
pub(super) fn event_line(e: RoomEvent, me: &str, live: bool, i18n: I18n) -> AnyView {
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
        EventBody::RecordingStarted { .. } | EventBody::RecordingStopped { .. } => {
            let msg = if matches!(e.body, EventBody::RecordingStarted { .. }) {
                Msg::SysRecordingStarted
            } else {
                Msg::SysRecordingStopped
            };
            view! {
                <p class="sys sys-recording" data-testid="system-line" data-seq=seq>
                    {move || i18n.tf(msg, &[("name", &name)])}
                    " · "<time title=full>{time}</time>
                    " · "{verify}
                </p>
            }
            .into_any()
        }
        // Instrument readings feed the live comparison view, not the
        // timeline; a kind from a newer server has nothing to show here.
        EventBody::Readings(_)
        | EventBody::ComparisonSetup { .. }
        | EventBody::ComparisonPoint { .. }
        | EventBody::ComparisonFinished { .. }
        | EventBody::Unknown => ().into_any(),
    }
}

/// The small "verify" link of a stored event: its record in the ledger,
/// checked in the browser.
/// From the live room it opens in a new tab, so the room (and its
/// socket) stays where it is.
pub(super) fn verify_link(event_id: &str, live: bool, i18n: I18n) -> AnyView {
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
pub(super) fn PendingLine(p: Pending) -> impl IntoView {
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
pub(super) fn Composer(handle: RoomHandle, on_sent: Callback<()>) -> impl IntoView {
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
