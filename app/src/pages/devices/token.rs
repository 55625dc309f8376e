//! The agent token, shown once (after registration or a new token), with
//! the command line that runs the agent beside the instrument.

use jiliang_app_core::instruments::AgentDriver;
use jiliang_protocol::devices::Device;
use leptos::prelude::*;

use crate::components::copy_field::CopyField;
use crate::i18n::{Msg, use_i18n};

use jiliang_app_core::instruments::agent_command;

fn driver_msg(d: AgentDriver) -> Msg {
    match d {
        AgentDriver::Scpi => Msg::DriverScpi,
        AgentDriver::Modbus => Msg::DriverModbus,
        AgentDriver::Serial => Msg::DriverSerial,
    }
}

/// This page's origin: the address the agent must reach.
fn origin() -> String {
    window().location().origin().unwrap_or_default()
}

#[component]
pub(super) fn TokenBox(device: Device, token: String, on_close: Callback<()>) -> impl IntoView {
    let i18n = use_i18n();
    let driver = RwSignal::new(AgentDriver::Scpi);
    let server = origin();
    let token_c = token.clone();
    let command = Signal::derive(move || agent_command(&server, &token_c, driver.get()));
    let name = device.name.clone();
    view! {
        <section class="card token-box" role="region" aria-live="polite" data-testid="token-box"
            aria-label=move || i18n.t(Msg::DeviceTokenTitle)>
            <h2>{move || i18n.tf(Msg::DeviceTokenFor, &[("name", &name)])}</h2>
            <p class="notice warn">{move || i18n.t(Msg::DeviceTokenOnce)}</p>
            <CopyField label=Msg::DeviceToken value=Signal::derive(move || token.clone()) testid="device-token"/>
            <fieldset class="field checks">
                <legend>{move || i18n.t(Msg::DeviceInterface)}</legend>
                <div class="check-row">
                    {AgentDriver::ALL.into_iter().map(|d| view! {
                        <label class="check">
                            <input type="radio" name="agent-driver" value=d.key()
                                prop:checked=move || driver.get() == d
                                on:change=move |_| driver.set(d)/>
                            <span>{move || i18n.t(driver_msg(d))}</span>
                        </label>
                    }).collect_view()}
                </div>
            </fieldset>
            <CopyField label=Msg::DeviceAgentCommand value=command testid="agent-command" multiline=true/>
            <p class="muted small">{move || i18n.t(Msg::DeviceAgentCommandHint)}</p>
            <button type="button" class="secondary" data-testid="token-done" on:click=move |_| on_close.run(())>
                {move || i18n.t(Msg::DeviceTokenDone)}
            </button>
        </section>
    }
}
