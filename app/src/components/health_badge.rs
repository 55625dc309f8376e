//! Server status badge: reads `/healthz` through the API, proving the wiring
//! from the browser to the server.

use jiliang_protocol::Health;
use leptos::prelude::*;

use crate::api;
use crate::i18n::{Msg, use_i18n};

#[component]
pub fn HealthBadge() -> impl IntoView {
    let i18n = use_i18n();
    let health = LocalResource::new(move || {
        let lang = i18n.locale().tag();
        async move { api::get::<Health>("/healthz", lang).await }
    });
    view! {
        <div class="health" data-testid="health">
            <span class="health-label">{move || i18n.t(Msg::ServerStatus)}</span>
            {move || match health.get() {
                None => view! {
                    <span class="badge badge-pending">{i18n.t(Msg::ServerChecking)}</span>
                }.into_any(),
                Some(Ok(h)) => view! {
                    <span class="badge badge-ok" data-testid="health-ok">{i18n.t(Msg::ServerOnline)}</span>
                    <span class="muted">{i18n.tf(Msg::ServerVersion, &[("version", &h.version)])}</span>
                }.into_any(),
                Some(Err(e)) => view! {
                    <span class="badge badge-bad" title=e.message(i18n)>{i18n.t(Msg::ServerOffline)}</span>
                    <button type="button" class="link" on:click=move |_| health.refetch()>
                        {i18n.t(Msg::Retry)}
                    </button>
                }.into_any(),
            }}
        </div>
    }
}
