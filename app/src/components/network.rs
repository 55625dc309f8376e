//! Banners about the link and the version, under the header on every page:
//! - **offline**: the browser has no network; what the pages show is what
//!   was last loaded (served by the service worker's cache), and typed chat
//!   waits in the room's outbox;
//! - **a new version is ready — reload**: the service worker has the next
//!   version in its cache; reloading starts it.
//!
//! When the link returns, the session is asked for again: a page opened
//! offline has who-is-logged-in from the cache, without its CSRF token.

use leptos::leptos_dom::helpers::window_event_listener_untyped;
use leptos::prelude::*;

use crate::api::use_api;
use crate::i18n::{Msg, use_i18n};
use crate::offline;
use crate::session::use_session;

#[component]
pub fn NetworkBanner() -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let session = use_session();
    let online = RwSignal::new(offline::online());
    let update = RwSignal::new(offline::update_ready());
    // The banner lives as long as the shell, that is as long as the page:
    // its listeners are never removed.
    let _ = window_event_listener_untyped("online", move |_| {
        online.set(true);
        if session.logged_in_untracked() {
            api.check_session();
        }
    });
    let _ = window_event_listener_untyped("offline", move |_| online.set(false));
    let _ = window_event_listener_untyped("jiliang-update", move |_| update.set(true));
    view! {
        <Show when=move || !online.get()>
            <div class="net-banner offline" role="status" data-testid="offline-banner">
                {move || i18n.t(Msg::OfflineBanner)}
            </div>
        </Show>
        <Show when=move || update.get()>
            <div class="net-banner update" role="status" data-testid="update-banner">
                <span>{move || i18n.t(Msg::UpdateReady)}</span>
                <span aria-hidden="true">"——"</span>
                <button type="button" class="primary small" data-testid="update-reload" on:click=move |_| offline::apply_update()>
                    {move || i18n.t(Msg::UpdateReload)}
                </button>
            </div>
        </Show>
    }
}
