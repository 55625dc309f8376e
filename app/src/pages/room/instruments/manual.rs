//! Typing a reading in, for an instrument with no interface: the person
//! reads the display and enters the value; it is stored as the device's
//! next reading and reaches the room like an agent's.
//!
//! Each entry gets a random key when it is first sent and keeps it until
//! the server has answered: a resend after a lost answer stores nothing
//! twice (the server answers it with what it stored the first time).
//! The reading is stamped by the server when it arrives (the protocol's
//! untimed entry, `u_t` 5 s): the person read the display a moment
//! before pressing the button, which no browser clock knows better.

use jiliang_app_core::instruments::parse_number;
use jiliang_protocol::devices::{Device, ManualReading, ManualReadings, ManualStored};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{ApiError, V1, use_api};
use crate::components::states::ErrorBox;
use crate::i18n::{Msg, use_i18n};
use crate::util::dom_id;

/// An entry's idempotency key (the room's client ids are as random).
fn random_key() -> String {
    crate::net::room::random_client_id()
}

#[component]
pub(super) fn ManualEntry(device: Device) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let value = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let bad_number = RwSignal::new(false);
    // The key of the entry being sent, kept until it is answered.
    let pending_key = StoredValue::new(None::<(String, String)>);
    let stored = RwSignal::new(None::<u64>);
    let id = dom_id("manual");
    let unit = device.unit.clone();
    let device_id = device.id;
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = value.get_untracked();
        let Some(v) = parse_number(&text) else {
            bad_number.set(true);
            return;
        };
        bad_number.set(false);
        // A new value is a new entry; the same one resent keeps its key.
        let key = match pending_key.get_value() {
            Some((k, t)) if t == text => k,
            _ => {
                let k = random_key();
                pending_key.set_value(Some((k.clone(), text.clone())));
                k
            }
        };
        let body = ManualReadings {
            key,
            readings: vec![ManualReading {
                value: v,
                unit: unit.clone(),
                t: None,
                u_t: None,
            }],
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let r = api
                .post::<_, ManualStored>(&format!("{V1}/devices/{device_id}/readings"), &body)
                .await;
            busy.set(false);
            match r {
                Ok(s) => {
                    pending_key.set_value(None);
                    value.set(String::new());
                    stored.set(s.readings.last().map(|r| r.seq));
                }
                // Refused for what it says: a new entry next time.
                Err(e @ ApiError::Server { .. }) => {
                    pending_key.set_value(None);
                    error.set(Some(e));
                }
                // Unanswered: the same key goes again with the next try.
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let unit_l = device.unit.clone();
    view! {
        <form class="manual-entry" on:submit=submit data-testid="manual-entry">
            <label for=id.clone() class="small">{move || i18n.t(Msg::ManualReading)}</label>
            <div class="otl-row">
                <input id=id type="text" inputmode="decimal" autocomplete="off" data-testid="manual-value"
                    aria-invalid=move || if bad_number.get() { "true" } else { "false" }
                    prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
                <span class="unit">{unit_l}</span>
                <button type="submit" class="primary" data-testid="manual-submit"
                    disabled=move || busy.get() || value.with(|v| v.trim().is_empty())>
                    {move || if busy.get() { i18n.t(Msg::Working) } else { i18n.t(Msg::ManualSend) }}
                </button>
            </div>
            {move || bad_number.get().then(|| view! { <p class="field-errors" role="alert">{move || i18n.t(Msg::NotANumber)}</p> })}
            <p class="muted small" role="status" aria-live="polite">
                {move || stored.get().map(|seq| i18n.tf(Msg::ManualStored, &[("seq", &seq.to_string())]))}
            </p>
            {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
        </form>
    }
}
