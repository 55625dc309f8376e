//! The main navigation: every destination the person may open, with the
//! current one marked (`aria-current="page"`, set by the router's links).
//!
//! From 720 px up it is one row under the brand. On a phone the row would run
//! off the right edge (nine destinations for an administrator), so there it
//! folds behind a menu button that names the current place; one tap shows
//! every destination at once, two to a row, each at least 44 px tall. The
//! menu closes when a link is followed, on Escape (focus returns to the
//! button) and when the page changes any other way.

use leptos::ev::KeyboardEvent;
use leptos::html;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

use jiliang_app_core::nav::place;

use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;

#[component]
pub fn MainNav() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let location = use_location();
    let open = RwSignal::new(false);
    let toggle_ref = NodeRef::<html::Button>::new();
    // Any change of page folds the menu again.
    Effect::new(move |_| {
        location.pathname.track();
        open.set(false);
    });
    let on_key = move |ev: KeyboardEvent| {
        if ev.key() == "Escape" && open.get_untracked() {
            open.set(false);
            if let Some(b) = toggle_ref.get_untracked() {
                let _ = b.focus();
            }
        }
    };
    let caps = move || session.caps();
    let here = move || i18n.t(place(&location.pathname.get()));
    view! {
        <button
            type="button"
            class="nav-toggle"
            data-testid="nav-toggle"
            node_ref=toggle_ref
            aria-controls="mainnav"
            aria-expanded=move || open.get().to_string()
            on:click=move |_| open.update(|o| *o = !*o)
        >
            <span class="nav-toggle-icon" aria-hidden="true"></span>
            <span class="visually-hidden">
                {move || i18n.t(if open.get() { Msg::NavMenuClose } else { Msg::NavMenuOpen })}
            </span>
            <span class="nav-toggle-place">{here}</span>
        </button>
        <nav
            id="mainnav"
            class="mainnav"
            class:open=move || open.get()
            data-testid="mainnav"
            aria-label=move || i18n.t(Msg::MainNavigation)
            on:keydown=on_key
        >
            <A href="/" exact=true>{move || i18n.t(Msg::NavHome)}</A>
            {move || session.logged_in().then(|| view! { <A href="/sessions">{move || i18n.t(Msg::NavSessions)}</A> })}
            {move || (caps().host_sessions || caps().request_help).then(|| view! { <A href="/help">{move || i18n.t(Msg::NavHelp)}</A> })}
            {move || session.logged_in().then(|| view! { <A href="/rounds">{move || i18n.t(Msg::NavRounds)}</A> })}
            {move || session.logged_in().then(|| view! { <A href="/institutions">{move || i18n.t(Msg::NavInstitutions)}</A> })}
            {move || session.logged_in().then(|| view! { <A href="/certificates">{move || i18n.t(Msg::CertNavLabel)}</A> })}
            {move || caps().view_people.then(|| view! { <A href="/people">{move || i18n.t(Msg::NavPeople)}</A> })}
            {move || caps().view_audit.then(|| view! { <A href="/audit">{move || i18n.t(Msg::NavAudit)}</A> })}
            {move || session.logged_in().then(|| view! { <A href="/account">{move || i18n.t(Msg::NavAccount)}</A> })}
            <A href="/verify">{move || i18n.t(Msg::NavVerify)}</A>
            <A href="/status">{move || i18n.t(Msg::NavStatus)}</A>
        </nav>
    }
}
