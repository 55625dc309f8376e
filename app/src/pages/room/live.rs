//! The live room: the socket client opened for the page, and the connection
//! banner.

use jiliang_protocol::rooms::{EventBody, RoomEvent};
use jiliang_protocol::sessions::{SessionDetail, SessionState};
use leptos::prelude::*;

use super::chat::ChatPanel;
use super::header::RoomHeader;
use super::instruments::InstrumentsPanel;
use super::media::MediaPanel;
use super::participants::ParticipantsPanel;
use super::rank;
use super::record::RecordView;
use crate::i18n::{I18n, Msg, use_i18n};
use crate::net::room::{Conn, RoomHandle, Stop};

/// The live room.
#[component]
pub(super) fn LiveRoom(
    detail: SessionDetail,
    reload: Callback<()>,
    me: String,
    /// The chat lines this browser last saw here, shown until the log's
    /// replay has caught up.
    #[prop(optional)]
    earlier: Vec<RoomEvent>,
) -> impl IntoView {
    let i18n = use_i18n();
    let id = detail.session.id.to_string();
    let handle = RoomHandle::open(&id, &me);
    on_cleanup(move || handle.close());
    let s = handle.s;
    s.earlier.set(earlier);
    // The last lines, for the next visit (once the replay has replaced
    // what was shown from the last one).
    let (id_k, me_k) = (id.clone(), me.clone());
    Effect::new(move |_| {
        s.events.with(|ev| {
            if !ev.is_empty() && s.earlier.with_untracked(Vec::is_empty) {
                crate::last_seen::keep_room_events(&id_k, &me_k, ev);
            }
        });
    });
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
                    <RecordingBar handle=handle info=info can_manage=can_manage/>
                    {move || (info.with(|i| i.state) == SessionState::Scheduled).then(|| view! {
                        <p class="notice warn small" data-testid="not-started">{move || i18n.t(Msg::NotStartedYet)}</p>
                    })}
                    <MediaPanel handle=handle/>
                    <InstrumentsPanel handle=handle info=info can_manage=can_manage/>
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

/// "● Recording" for everyone while the session is recorded; the host's
/// start and stop.
#[component]
fn RecordingBar(
    handle: RoomHandle,
    #[prop(into)] info: Signal<jiliang_protocol::sessions::SessionInfo>,
    can_manage: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let s = handle.s;
    let live = move || s.conn.get() == Conn::Live && info.with(|i| i.state) == SessionState::Live;
    view! {
        <div class="recording-bar" data-testid="recording-bar">
            {move || s.recording.get().map(|r| {
                let since = crate::util::local_time_seconds(r.started_at.unix_timestamp());
                view! {
                    <span class="badge recording-on" role="status" data-testid="recording-on"
                        title=move || i18n.tf(Msg::RecordingOnSince, &[("time", &since)])>
                        {move || i18n.t(Msg::RecordingOn)}
                    </span>
                }
            })}
            {(can_manage).then(|| view! {
                {move || (live() || s.recording.with(Option::is_some)).then(|| {
                    let on = s.recording.with(Option::is_some);
                    view! {
                        <button type="button" class=if on { "secondary small" } else { "primary small" }
                            data-testid=if on { "record-stop" } else { "record-start" }
                            disabled=move || s.conn.get() != Conn::Live
                            on:click=move |_| { handle.record(!on); }>
                            {move || i18n.t(if on { Msg::RecordStop } else { Msg::RecordStart })}
                        </button>
                    }
                })}
            })}
        </div>
    }
}

/// "Reconnecting… (attempt N, M messages waiting)" and "connection back".
#[component]
pub(super) fn ConnectionBanner(handle: RoomHandle) -> impl IntoView {
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

pub(super) fn conn_text(c: Conn, i18n: I18n) -> String {
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

pub(super) fn conn_key(c: Conn) -> &'static str {
    match c {
        Conn::Connecting => "connecting",
        Conn::Live => "live",
        Conn::Reconnecting { .. } => "reconnecting",
        Conn::Offline => "offline",
        Conn::Stopped(_) => "stopped",
    }
}
