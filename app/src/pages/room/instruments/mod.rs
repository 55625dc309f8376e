//! The instruments of a live room: the devices attached to the session
//! with their agents' state, manual entry for devices without an
//! interface, the host's attach and detach controls, and the live chart.
//!
//! Everything live here comes from the room socket (readings events and
//! `device_status` ephemerals, [`crate::net::room`]), never from polling:
//! the list of attached devices is read over REST when the panel opens,
//! after the host changes it, and when the socket mentions a device the
//! list does not hold (another participant attached it).
//!
//! A fault the agent reports (timeout, garbage, a closed port, an
//! instrument error) is shown as the *device's* fault, apart from the
//! room's own connection state: the link is fine, the instrument is not.
//!
//! # Layout
//! - `mod.rs`: the panel, the attach controls and one card per device.
//! - `chart`: the live SVG chart of both channels and of the error.
//! - `manual`: typing a reading in.
//! - `comparison`: the comparison's points table (live for everyone), the
//!   host's point controls, the record and CSV once finished.
//! - `setup`: the host's comparison setup form.

mod chart;
mod comparison;
mod manual;
mod setup;

use std::collections::HashSet;

use jiliang_app_core::instruments::{
    DeviceState, age_text, device_state, format_value, freshest_age_s, reading_age_s,
};
use jiliang_protocol::accounts::Role;
use jiliang_protocol::devices::{AttachDevice, Device, DeviceListParams, FaultKind};
use jiliang_protocol::sessions::SessionInfo;
use leptos::leptos_dom::helpers::set_interval_with_handle;
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use super::participants::offset_text;
use crate::api::{ApiError, V1, use_api};
use crate::components::states::ErrorBox;
use crate::i18n::{I18n, Msg, use_i18n};
use crate::net::room::{RoomHandle, now_ms};
use crate::session::use_session;
use chart::LiveChart;
use comparison::ComparisonPanel;
pub(super) use comparison::FinishedComparison;
use manual::ManualEntry;

pub(super) fn fault_msg(k: FaultKind) -> Msg {
    match k {
        FaultKind::Timeout => Msg::FaultTimeout,
        FaultKind::Garbage => Msg::FaultGarbage,
        FaultKind::Disconnected => Msg::FaultDisconnected,
        FaultKind::InstrumentError => Msg::FaultInstrumentError,
        FaultKind::Io => Msg::FaultIo,
    }
}

fn state_text(s: &DeviceState, i18n: I18n) -> String {
    match s {
        DeviceState::Fault(f) => i18n.tf(
            Msg::DeviceFaultShort,
            &[("kind", i18n.t(fault_msg(f.kind)))],
        ),
        DeviceState::Connected => i18n.t(Msg::AgentConnected).to_owned(),
        DeviceState::Disconnected => i18n.t(Msg::AgentDisconnected).to_owned(),
        DeviceState::Manual => i18n.t(Msg::AgentManual).to_owned(),
    }
}

/// The instruments panel of a live room.
#[component]
pub(in crate::pages::room) fn InstrumentsPanel(
    handle: RoomHandle,
    #[prop(into)] info: Signal<SessionInfo>,
    can_manage: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let session = use_session();
    let s = handle.s;
    let session_id = info.with_untracked(|i| i.id);
    let attached = RwSignal::new(Vec::<Device>::new());
    let loaded = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let fetching = StoredValue::new(false);
    let refetch = move || {
        if fetching.get_value() {
            return;
        }
        fetching.set_value(true);
        spawn_local(async move {
            let r = api
                .get::<Vec<Device>>(&format!("{V1}/sessions/{session_id}/devices"))
                .await;
            fetching.set_value(false);
            loaded.set(true);
            match r {
                Ok(list) => {
                    attached.set(list);
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    refetch();
    // A device the socket speaks of that the list does not hold: someone
    // attached it since (or the list was read before it was). Asked about
    // once per device: a detached device's old readings stay in the trace.
    let asked = StoredValue::new(HashSet::<Uuid>::new());
    Effect::new(move |_| {
        let known: HashSet<Uuid> = attached.with(|l| l.iter().map(|d| d.id).collect());
        let mut mentioned: Vec<Uuid> = s.agents.with(|a| a.keys().copied().collect());
        mentioned.extend(s.readings.with(|r| r.devices().collect::<Vec<_>>()));
        let new: Vec<Uuid> = mentioned
            .into_iter()
            .filter(|id| !known.contains(id) && !asked.with_value(|a| a.contains(id)))
            .collect();
        if loaded.get_untracked() && !new.is_empty() {
            asked.update_value(|a| a.extend(new));
            refetch();
        }
    });
    // The ages tick every second between the agents' reports.
    let now = RwSignal::new(now_ms());
    let timer = set_interval_with_handle(
        move || now.set(now_ms()),
        std::time::Duration::from_millis(1_000),
    )
    .ok();
    on_cleanup(move || {
        if let Some(t) = timer {
            t.clear();
        }
    });
    let me = session.me_untracked();
    let may_type = move |d: &Device| {
        me.as_ref().is_some_and(|m| {
            let has = |r: Role| m.user.roles.contains(&r);
            has(Role::Admin)
                || ((has(Role::Technician) || has(Role::Expert)) && m.institution.id == d.lab_id)
        })
    };
    let may_type = StoredValue::new(may_type);
    let devices = Signal::derive(move || attached.get());
    // Rebuilt only when these change, not on every re-read of the list
    // (the setup form keeps what the host typed).
    let any = Memo::new(move |_| attached.with(|l| !l.is_empty()));
    let two = Memo::new(move |_| attached.with(|l| l.len() >= 2));
    view! {
        <section class="instruments" data-testid="instruments" aria-labelledby="instruments-h">
            <div class="section-head">
                <h2 id="instruments-h">{move || i18n.t(Msg::Instruments)}</h2>
            </div>
            {move || error.get().map(|e| view! { <ErrorBox error=e retry=Callback::new(move |_| refetch())/> })}
            {can_manage.then(|| view! { <AttachControls info=info attached=attached/> })}
            {move || (loaded.get() && attached.with(Vec::is_empty)).then(|| view! {
                <p class="muted small" data-testid="no-instruments">{move || i18n.t(if can_manage { Msg::NoInstrumentsHost } else { Msg::NoInstruments })}</p>
            })}
            <ul class="instrument-list">
                <For each=move || attached.get() key=|d| (d.id, d.agent_connected_at, d.name.clone())
                    children=move |d| {
                        let typing = may_type.with_value(|f| f(&d));
                        view! {
                            <InstrumentCard device=d handle=handle now=now can_manage=can_manage
                                may_type=typing attached=attached/>
                        }
                    }
                />
            </ul>
            {move || any.get().then(|| view! { <LiveChart handle=handle devices=devices/> })}
            {move || two.get().then(|| view! {
                <ComparisonPanel handle=handle session_id=session_id can_manage=can_manage attached=attached/>
            })}
        </section>
    }
}

/// The host's choice of the lab's devices to attach.
#[component]
fn AttachControls(info: Signal<SessionInfo>, attached: RwSignal<Vec<Device>>) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let session = use_session();
    let host_inst = session.me_untracked().map(|m| m.institution.id);
    let choices = LocalResource::new(move || async move {
        let params = DeviceListParams {
            lab_id: None,
            limit: Some(500),
        };
        api.get_query::<_, Vec<Device>>(&format!("{V1}/devices"), &params)
            .await
    });
    let chosen = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let session_id = info.with_untracked(|i| i.id);
    // The server takes devices of the session's labs and of the host's
    // institution that are not attached to another live session.
    let options = Signal::derive(move || {
        let labs: HashSet<Uuid> = info.with(|i| i.labs.iter().map(|l| l.id).collect());
        let here: HashSet<Uuid> = attached.with(|l| l.iter().map(|d| d.id).collect());
        choices
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .filter(|d| labs.contains(&d.lab_id) || Some(d.lab_id) == host_inst)
            .filter(|d| !here.contains(&d.id))
            .collect::<Vec<_>>()
    });
    let attach = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(device_id) = crate::util::parse_id::<Uuid>(&chosen.get_untracked()) else {
            return;
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let r = api
                .post::<_, Device>(
                    &format!("{V1}/sessions/{session_id}/devices"),
                    &AttachDevice { device_id },
                )
                .await;
            busy.set(false);
            match r {
                Ok(d) => {
                    chosen.set(String::new());
                    attached.update(|l| {
                        l.retain(|x| x.id != d.id);
                        l.push(d);
                    });
                    choices.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="attach-row" on:submit=attach data-testid="attach-form">
            <label for="attach-device" class="visually-hidden">{move || i18n.t(Msg::AttachDevice)}</label>
            <select id="attach-device" data-testid="attach-select"
                on:change=move |ev| chosen.set(event_target_value(&ev))
                prop:value=move || chosen.get()>
                <option value="">{move || i18n.t(Msg::ChooseDevice)}</option>
                {move || options.get().into_iter().map(|d| {
                    let busy_elsewhere = d.session_id.is_some_and(|s| s != session_id);
                    let label = format!("{} ({}, {})", d.name, d.kind, d.unit);
                    view! {
                        <option value=d.id.to_string() disabled=busy_elsewhere>
                            {label}{busy_elsewhere.then(|| format!(" — {}", i18n.t(Msg::AttachedElsewhere)))}
                        </option>
                    }
                }).collect_view()}
            </select>
            <button type="submit" class="primary" data-testid="attach-submit"
                disabled=move || busy.get() || chosen.with(String::is_empty)>
                {move || i18n.t(Msg::AttachDevice)}
            </button>
        </form>
        {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
    }
}

/// One attached device: its agent's state, its last reading, manual entry
/// when it has no agent, and the host's detach.
#[component]
fn InstrumentCard(
    device: Device,
    handle: RoomHandle,
    now: RwSignal<f64>,
    can_manage: bool,
    may_type: bool,
    attached: RwSignal<Vec<Device>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let s = handle.s;
    let id = device.id;
    let has_agent = device.agent_connected_at.is_some();
    let agent = Memo::new(move |_| s.agents.with(|a| a.get(&id).cloned()));
    let state = Memo::new(move |_| {
        agent.with(|a| {
            let heard = a.as_ref().map(|a| (a.connected, a.status.as_ref()));
            // An agent heard in the room makes it an agent device now.
            device_state(heard, has_agent || a.is_some())
        })
    });
    let resolution = device.resolution;
    let unit = device.unit.clone();
    let last = Memo::new(move |_| s.readings.with(|r| r.trace(id).and_then(|t| t.last())));
    let taken = Memo::new(move |_| s.readings.with(|r| r.trace(id).map_or(0, |t| t.taken)));
    let age = move || {
        let now = now.get();
        let from_agent = agent.with(|a| {
            a.as_ref().filter(|a| a.connected).and_then(|a| {
                reading_age_s(
                    a.status.as_ref().and_then(|s| s.last_reading_age_s),
                    a.heard_ms,
                    now,
                )
            })
        });
        // The last reading received, on the room's clock (also the only
        // figure for a device typed in by hand).
        let offset = s.clock.with(|c| c.as_ref().map_or(0.0, |c| c.offset_ms));
        let from_room = last.get().map(|p| ((now + offset) / 1000.0 - p.t).max(0.0));
        freshest_age_s(from_agent, from_room)
    };
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let detach = move |_| {
        busy.set(true);
        let session_id = s.session.with_untracked(|i| i.as_ref().map(|i| i.id));
        let Some(session_id) = session_id else {
            busy.set(false);
            return;
        };
        spawn_local(async move {
            let r = api
                .delete::<Device>(&format!("{V1}/sessions/{session_id}/devices/{id}"))
                .await;
            busy.set(false);
            match r {
                Ok(_) => attached.update(|l| l.retain(|d| d.id != id)),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let name = device.name.clone();
    let meta = format!("{} · {}", device.kind, device.unit);
    let is_ref = device.reference.is_some();
    let unit_v = unit.clone();
    let device_m = device.clone();
    let name_attr = name.clone();
    view! {
        <li class="instrument" data-testid="instrument" data-device=id.to_string() data-name=name_attr
            data-state=move || state.with(|s| s.key())>
            <div class="instrument-head">
                <span class="instrument-name">{name}</span>
                {is_ref.then(|| view! { <span class="badge badge-ref">{move || i18n.t(Msg::DeviceReferenceBadge)}</span> })}
                <span class=move || format!("agent-pill agent-{}", state.with(|s| s.key())) data-testid="agent-state">
                    <span class="conn-dot" aria-hidden="true"></span>
                    {move || state.with(|st| state_text(st, i18n))}
                </span>
            </div>
            <p class="muted small">{meta}</p>
            {move || state.with(|st| match st {
                DeviceState::Fault(f) => {
                    let kind = i18n.t(fault_msg(f.kind));
                    let msg = f.message.clone();
                    Some(view! {
                        <div class="device-fault" role="alert" data-testid="device-fault" data-kind=f.kind.as_str()>
                            <strong>{i18n.tf(Msg::DeviceFaultTitle, &[("kind", kind)])}</strong>
                            <span class="small">{msg}</span>
                            <span class="small muted">{i18n.t(Msg::DeviceFaultHint)}</span>
                        </div>
                    })
                }
                _ => None,
            })}
            <div class="instrument-value">
                <span class="value mono" data-testid="last-value">
                    {move || last.get().map_or_else(|| "—".to_owned(), |p| format_value(p.v, resolution))}
                </span>
                " "<span class="unit">{unit_v}</span>
            </div>
            <dl class="facts compact instrument-facts">
                <dt>{move || i18n.t(Msg::LastReadingAge)}</dt>
                <dd data-testid="reading-age">{move || age().map_or_else(|| "—".to_owned(), age_text)}</dd>
                <dt>{move || i18n.t(Msg::ReadingsReceived)}</dt>
                <dd data-testid="readings-count">{move || taken.get().to_string()}</dd>
                {move || agent.with(|a| a.as_ref().filter(|a| a.connected).and_then(|a| a.status.clone())).map(|st| view! {
                    <dt>{move || i18n.t(Msg::QueueDepth)}</dt>
                    <dd data-testid="queue-depth">{st.queue_depth.to_string()}</dd>
                    <dt>{move || i18n.t(Msg::AgentClock)}</dt>
                    <dd data-testid="agent-clock">{match st.clock {
                        Some(c) => offset_text(c.offset_ms, c.u_ms),
                        None => i18n.t(Msg::ClockMeasuring).to_owned(),
                    }}</dd>
                    {(st.quarantined > 0).then(|| view! {
                        <dt>{move || i18n.t(Msg::Quarantined)}</dt>
                        <dd>{st.quarantined.to_string()}</dd>
                    })}
                })}
            </dl>
            {move || (may_type && matches!(state.get(), DeviceState::Manual)).then(|| view! {
                <ManualEntry device=device_m.clone() clock=s.clock/>
            })}
            {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
            {can_manage.then(|| view! {
                <button type="button" class="link small" data-testid="detach" disabled=move || busy.get() on:click=detach>
                    {move || i18n.t(Msg::DetachDevice)}
                </button>
            })}
        </li>
    }
}
