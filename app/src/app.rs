//! The application shell: header with navigation, the person's name and
//! the language switch, the routed page, footer.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::path;
use wasm_bindgen::JsCast;

use crate::components::guard::{RequireLogin, login_url};
use crate::components::lang_switch::LangSwitch;
use crate::components::nav::MainNav;
use crate::components::network::NetworkBanner;
use crate::components::user_menu::UserBar;
use crate::i18n::{Msg, provide_i18n, t};
use crate::pages::{
    account::AccountPage,
    audit::AuditPage,
    devices::DevicesPage,
    help::HelpPage,
    home::HomePage,
    institution::InstitutionPage,
    institutions::InstitutionsPage,
    invite::InvitePage,
    login::LoginPage,
    not_found::NotFoundPage,
    people::PeoplePage,
    reset::ResetPage,
    room::RoomPage,
    sessions::SessionsPage,
    status::StatusPage,
    verify::{VerifyPage, VerifyRecordPage, provide_held_export},
};
use crate::session::{provide_session, use_session};

#[component]
pub fn App() -> impl IntoView {
    let i18n = provide_i18n();
    let session = provide_session();
    crate::api::Api::new(i18n, session).check_session();
    provide_held_export();
    view! {
        <Router>
            <Shell/>
        </Router>
    }
}

#[component]
fn Shell() -> impl IntoView {
    let session = use_session();
    let location = use_location();
    let navigate = use_navigate();
    // Any request that finds the session gone sets `ended`; from whatever
    // page, the person goes to the login page, which says why, and comes
    // back here afterwards.
    Effect::new(move |_| {
        if session.ended() && !location.pathname.get_untracked().starts_with("/login") {
            navigate(
                &login_url(&location),
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });
    view! {
        // Focus moves by hand: the router takes over clicks on links, so the
        // browser's own move to `#main` would not happen.
        <a class="skip-link" href="#main" on:click=move |ev: leptos::ev::MouseEvent| {
            ev.prevent_default();
            if let Some(main) = document().get_element_by_id("main")
                && let Ok(main) = main.dyn_into::<web_sys::HtmlElement>()
            {
                let _ = main.focus();
            }
        }>{t(Msg::SkipToContent)}</a>
        <header class="topbar">
            <div class="topbar-row">
                <A href="/" attr:class="brand">
                    <span class="brand-mark" aria-hidden="true"></span>
                    <span class="brand-text">
                        <span class="brand-name">{t(Msg::AppName)}</span>
                        <span class="brand-sub">{t(Msg::AppSubtitle)}</span>
                    </span>
                </A>
                <div class="topbar-tools">
                    <UserBar/>
                    <LangSwitch/>
                </div>
                <MainNav/>
            </div>
        </header>
        <NetworkBanner/>
        <main class="page" id="main" tabindex="-1">
            <Routes fallback=NotFoundPage>
                <Route path=path!("/") view=HomePage/>
                <Route path=path!("/status") view=StatusPage/>
                <Route path=path!("/login") view=LoginPage/>
                <Route path=path!("/invite/:token") view=InvitePage/>
                <Route path=path!("/reset/:token") view=ResetPage/>
                <Route path=path!("/institutions") view=|| view! { <RequireLogin><InstitutionsPage/></RequireLogin> }/>
                <Route path=path!("/institutions/:id") view=|| view! { <RequireLogin><InstitutionPage/></RequireLogin> }/>
                <Route path=path!("/institutions/:id/devices") view=|| view! { <RequireLogin><DevicesPage/></RequireLogin> }/>
                <Route path=path!("/people") view=|| view! { <RequireLogin><PeoplePage/></RequireLogin> }/>
                <Route path=path!("/audit") view=|| view! { <RequireLogin><AuditPage/></RequireLogin> }/>
                <Route path=path!("/account") view=|| view! { <RequireLogin><AccountPage/></RequireLogin> }/>
                <Route path=path!("/sessions") view=|| view! { <RequireLogin><SessionsPage/></RequireLogin> }/>
                <Route path=path!("/sessions/:id") view=|| view! { <RequireLogin><RoomPage/></RequireLogin> }/>
                <Route path=path!("/help") view=|| view! { <RequireLogin><HelpPage/></RequireLogin> }/>
                <Route path=path!("/verify") view=VerifyPage/>
                <Route path=path!("/verify/:kind/:id") view=|| view! { <RequireLogin><VerifyRecordPage/></RequireLogin> }/>
            </Routes>
        </main>
        <footer class="footer">{t(Msg::Footer)}</footer>
    }
}
