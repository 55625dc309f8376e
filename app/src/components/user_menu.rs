//! The header's person area: name (to the account page), role badges and
//! logout — or a login link.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::api::{V1, use_api};
use crate::components::badges::RoleBadges;
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;

#[component]
pub fn UserBar() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let api = use_api();
    let navigate = use_navigate();
    let busy = RwSignal::new(false);
    let logout = move |_| {
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            // Whatever the server says, this browser forgets the session;
            // a failed call leaves only a cookie that expires on its own.
            let _ = api.post_empty::<()>(&format!("{V1}/auth/logout")).await;
            session.clear();
            busy.set(false);
            navigate("/login?out=1", Default::default());
        });
    };
    move || match session.me() {
        Some(me) => view! {
            <div class="userbar" data-testid="userbar">
                <A href="/account" attr:class="user-name" attr:data-testid="user-name">
                    {me.user.display_name.clone()}
                </A>
                <span class="user-roles"><RoleBadges roles=me.user.roles.clone()/></span>
                <button
                    type="button"
                    class="logout"
                    data-testid="logout"
                    disabled=move || busy.get()
                    on:click=logout.clone()
                >
                    {move || i18n.t(Msg::Logout)}
                </button>
            </div>
        }
        .into_any(),
        None if session.checked() => view! {
            <div class="userbar">
                <A href="/login" attr:class="login-link" attr:data-testid="login-link">
                    {move || i18n.t(Msg::Login)}
                </A>
            </div>
        }
        .into_any(),
        None => ().into_any(),
    }
}
