//! Who takes part, with presence, and the clock offset of this browser.

use jiliang_protocol::sessions::Participant;
use leptos::prelude::*;

use crate::components::badges::RoleBadges;
use crate::i18n::{Msg, use_i18n};
use crate::net::room::RoomHandle;

/// The people of the session with presence; folds away on a phone.
#[component]
pub(super) fn ParticipantsPanel(handle: RoomHandle, fallback: Vec<Participant>) -> impl IntoView {
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
pub(super) fn ParticipantLine(p: Participant, show_presence: bool) -> impl IntoView {
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
pub(super) fn offset_text(offset: f64, unc: f64) -> String {
    format!("{offset:+.1} ms ± {unc:.1} ms")
}
