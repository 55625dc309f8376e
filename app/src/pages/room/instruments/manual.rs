//! Typing a reading in, for an instrument with no interface: the person
//! reads the display and enters the value; it is stored as the device's
//! next reading and reaches the room like an agent's.
//!
//! Entries never go straight to the network: each waits in a queue kept
//! in `localStorage` per person and device
//! ([`jiliang_app_core::manual_queue`]) until the server has answered it,
//! so a value typed on a dead link — or before a reload — is sent when the
//! link returns. Each entry's random key is chosen when it is typed and
//! goes with every resend: the server stores a key once and answers a
//! resend with what it stored the first time. Entries go one at a time in
//! the order typed; one sent at once is stamped by the server on arrival
//! (`u_t` 5 s), one that waited carries the time it was typed on the
//! server's clock (the room's measured offset), or the wait in its
//! uncertainty when no offset is known.
//!
//! The queue is sent from the room page (the device's card): on opening,
//! after each entry, on the browser's `online` event and every few seconds
//! while something waits.

use std::time::Duration;

use jiliang_app_core::instruments::parse_number;
use jiliang_app_core::manual_queue::{Answer, ManualQueue, Queued, RETRY_MS};
use jiliang_protocol::devices::{Device, ManualReadings, ManualStored};
use jiliang_protocol::timesync::ClockSample;
use leptos::leptos_dom::helpers::{set_interval_with_handle, window_event_listener_untyped};
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use crate::api::{Api, ApiError, V1, use_api};
use crate::i18n::{Msg, use_i18n};
use crate::net::room::{now_ms, random_client_id};
use crate::session::use_session;
use crate::util::{dom_id, local_hm};

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The storage key of `user`'s entries for `device`: another person on the
/// same browser never sends them in their own name.
fn storage_key(user: &str, device: Uuid) -> String {
    format!("jiliang.manual.{user}.{device}")
}

fn load(key: &str) -> ManualQueue {
    storage()
        .and_then(|s| s.get_item(key).ok().flatten())
        .map(|j| ManualQueue::from_json(&j))
        .unwrap_or_default()
}

fn save(key: &str, q: &ManualQueue) {
    let Some(s) = storage() else {
        return;
    };
    match q.to_json() {
        None => {
            let _ = s.remove_item(key);
        }
        // Storage full or refused (private mode): the queue still lives in
        // memory for this page.
        Some(j) => {
            let _ = s.set_item(key, &j);
        }
    }
}

/// A refused entry and why.
#[derive(Clone, Debug, PartialEq)]
struct Refused {
    entry: Queued,
    error: ApiError,
}

/// The queue of one card and the signals that show it. `Copy`.
#[derive(Clone, Copy)]
struct Pump {
    api: Api,
    device_id: Uuid,
    key: StoredValue<String>,
    queue: StoredValue<ManualQueue>,
    clock: RwSignal<Option<ClockSample>>,
    waiting: RwSignal<Vec<Queued>>,
    refused: RwSignal<Vec<Refused>>,
    stored: RwSignal<Option<u64>>,
}

impl Pump {
    fn changed(self) {
        let Some(entries) = self.queue.try_with_value(|q| {
            self.key.with_value(|k| save(k, q));
            q.entries().to_vec()
        }) else {
            return;
        };
        let _ = self.waiting.try_set(entries);
    }

    /// Send the next entry if one may go. `now`: `None` to try at once
    /// (the person just typed, the link just came back).
    fn run(self, now: Option<f64>) {
        let Some(Some(entry)) = self.queue.try_update_value(|q| q.next(now)) else {
            return;
        };
        let offset = self
            .clock
            .try_get_untracked()
            .flatten()
            .map(|c| (c.offset_ms, c.uncertainty_ms()));
        let body = ManualReadings {
            key: entry.key.clone(),
            readings: vec![entry.reading(now_ms(), offset)],
        };
        let path = format!("{V1}/devices/{}/readings", self.device_id);
        spawn_local(async move {
            let r = self.api.post::<_, ManualStored>(&path, &body).await;
            let answer = match &r {
                Ok(_) => Answer::Stored,
                // An answer this client cannot read would be unreadable
                // again: the person is told instead of a resend loop.
                Err(ApiError::Decode(_) | ApiError::Local(_)) => Answer::Refused,
                Err(e) => Answer::of_status(e.status()),
            };
            let Some(left) = self
                .queue
                .try_update_value(|q| q.answered(&entry.key, answer, now_ms()))
            else {
                // The card is gone; the next one to open reads storage.
                return;
            };
            self.changed();
            match (r, left) {
                (Ok(s), _) => {
                    let _ = self.stored.try_set(s.readings.last().map(|r| r.seq));
                }
                (Err(error), Some(entry)) => {
                    let _ = self
                        .refused
                        .try_update(|v| v.push(Refused { entry, error }));
                }
                (Err(_), None) => {}
            }
            if answer != Answer::Later {
                self.run(Some(now_ms()));
            }
        });
    }
}

#[component]
pub(super) fn ManualEntry(
    device: Device,
    /// The room's clock offset, for entries that waited.
    clock: RwSignal<Option<ClockSample>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let me = use_session()
        .me_untracked()
        .map(|m| m.user.id.to_string())
        .unwrap_or_default();
    let key = storage_key(&me, device.id);
    let queue = load(&key);
    let pump = Pump {
        api: use_api(),
        device_id: device.id,
        waiting: RwSignal::new(queue.entries().to_vec()),
        key: StoredValue::new(key),
        queue: StoredValue::new(queue),
        clock,
        refused: RwSignal::new(Vec::new()),
        stored: RwSignal::new(None),
    };
    let value = RwSignal::new(String::new());
    let bad_number = RwSignal::new(false);
    let id = dom_id("manual");
    let unit = device.unit.clone();

    // What an earlier page left, then every few seconds while something
    // waits, and at once when the link returns.
    pump.run(None);
    let online = window_event_listener_untyped("online", move |_| pump.run(None));
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let every = Duration::from_millis(RETRY_MS as u64);
    let timer = set_interval_with_handle(
        move || {
            if pump.waiting.with_untracked(|w| !w.is_empty()) {
                pump.run(Some(now_ms()));
            }
        },
        every,
    )
    .ok();
    on_cleanup(move || {
        online.remove();
        if let Some(t) = timer {
            t.clear();
        }
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = value.get_untracked();
        let Some(v) = parse_number(&text) else {
            bad_number.set(true);
            return;
        };
        bad_number.set(false);
        let entry = Queued {
            key: random_client_id(),
            value: v,
            unit: unit.clone(),
            typed_ms: now_ms(),
            offset_ms: clock
                .get_untracked()
                .map(|c| (c.offset_ms, c.uncertainty_ms())),
        };
        pump.queue.update_value(|q| {
            q.push(entry);
        });
        pump.changed();
        value.set(String::new());
        pump.run(None);
    };
    let unit_l = device.unit.clone();
    let unit_w = device.unit.clone();
    view! {
        <form class="manual-entry" on:submit=submit data-testid="manual-entry">
            <label for=id.clone() class="small">{move || i18n.t(Msg::ManualReading)}</label>
            <div class="otl-row">
                <input id=id type="text" inputmode="decimal" autocomplete="off" data-testid="manual-value"
                    aria-invalid=move || if bad_number.get() { "true" } else { "false" }
                    prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
                <span class="unit">{unit_l}</span>
                <button type="submit" class="primary" data-testid="manual-submit"
                    disabled=move || value.with(|v| v.trim().is_empty())>
                    {move || i18n.t(Msg::ManualSend)}
                </button>
            </div>
            {move || bad_number.get().then(|| view! { <p class="field-errors" role="alert">{move || i18n.t(Msg::NotANumber)}</p> })}
            {move || pump.waiting.with(|w| !w.is_empty()).then(|| {
                let unit = unit_w.clone();
                view! {
                    <ul class="manual-waiting small" data-testid="manual-waiting">
                        <For each=move || pump.waiting.get() key=|e| e.key.clone() let:e>
                            {
                                #[allow(clippy::cast_possible_truncation)]
                                let at = (e.typed_ms / 1000.0) as i64;
                                let time = local_hm(at);
                                view! {
                                    <li data-testid="manual-pending" data-value=e.value.to_string()>
                                        <span class="mono">{e.value.to_string()}" "{unit.clone()}</span>
                                        " · "
                                        <span class="badge badge-pending">{move || i18n.tf(Msg::ManualWaiting, &[("time", &time)])}</span>
                                    </li>
                                }
                            }
                        </For>
                    </ul>
                    <p class="muted small">{move || i18n.t(Msg::ManualWaitingHelp)}</p>
                }
            })}
            <p class="muted small" role="status" aria-live="polite">
                {move || pump.stored.get().map(|seq| i18n.tf(Msg::ManualStored, &[("seq", &seq.to_string())]))}
            </p>
            {move || pump.refused.with(|r| r.iter().map(|r| {
                let text = i18n.tf(Msg::ManualRefused, &[
                    ("value", &r.entry.value.to_string()),
                    ("reason", &r.error.message(i18n)),
                ]);
                view! { <p class="error-box" role="alert" data-testid="manual-refused">{text}</p> }
            }).collect_view())}
        </form>
    }
}
