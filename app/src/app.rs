//! The application shell: header with navigation, the person's name and
//! the language switch, the routed page, footer.

use leptos::prelude::*;
#[cfg(feature = "full")]
use leptos_router::NavigateOptions;
use leptos_router::components::{A, Route, Router, Routes};
#[cfg(feature = "full")]
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::path;
use wasm_bindgen::JsCast;

#[cfg(feature = "full")]
use crate::components::guard::{RequireLogin, login_url};
use crate::components::lang_switch::LangSwitch;
use crate::components::nav::MainNav;
use crate::components::network::NetworkBanner;
use crate::components::user_menu::UserBar;
use crate::i18n::{Msg, provide_i18n, t};
#[cfg(feature = "full")]
use crate::pages::certificates::{CertificatePublicPage, CertificatesPage};
#[cfg(feature = "full")]
use crate::pages::{
    account::AccountPage,
    audit::AuditPage,
    devices::DevicesPage,
    help::HelpPage,
    institution::InstitutionPage,
    institutions::InstitutionsPage,
    people::PeoplePage,
    room::RoomPage,
    rounds::{RoundPage, RoundsPage},
    sessions::SessionsPage,
    verify::{VerifyPage, VerifyRecordPage, provide_held_export},
};
use crate::pages::{
    home::HomePage, invite::InvitePage, login::LoginPage, not_found::NotFoundPage,
    reset::ResetPage, status::StatusPage,
};
use crate::session::{provide_session, use_session};

#[component]
pub fn App() -> impl IntoView {
    let i18n = provide_i18n();
    let session = provide_session();
    crate::api::Api::new(i18n, session).check_session();
    #[cfg(feature = "full")]
    provide_held_export();
    view! {
        <Router>
            <Shell/>
        </Router>
    }
}

#[component]
fn Shell() -> impl IntoView {
    #[cfg(feature = "full")]
    session_end_goes_to_login(use_session());
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
            <AppRoutes/>
        </main>
        <footer class="footer">{t(Msg::Footer)}</footer>
    }
}

/// Any request that finds the session gone sets `ended`; from whatever
/// page, the person goes to the login page, which says why, and comes back
/// afterwards. (The shell has no pages behind a login.)
#[cfg(feature = "full")]
fn session_end_goes_to_login(session: crate::session::Session) {
    let location = use_location();
    let navigate = use_navigate();
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
}

/// Every page of the app.
#[cfg(feature = "full")]
#[component]
fn AppRoutes() -> impl IntoView {
    view! {
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
            <Route path=path!("/rounds") view=|| view! { <RequireLogin><RoundsPage/></RequireLogin> }/>
            <Route path=path!("/rounds/:id") view=|| view! { <RequireLogin><RoundPage/></RequireLogin> }/>
            <Route path=path!("/verify") view=VerifyPage/>
            <Route path=path!("/verify/:number") view=CertificatePublicPage/>
            <Route path=path!("/c/:number") view=CertificatePublicPage/>
            <Route path=path!("/certificates") view=|| view! { <RequireLogin><CertificatesPage/></RequireLogin> }/>
            <Route path=path!("/verify/:kind/:id") view=|| view! { <RequireLogin><VerifyRecordPage/></RequireLogin> }/>
        </Routes>
    }
}

/// The first-load shell's pages; any other path (and the dashboard) is
/// the full app's, which [`LoadFullApp`](crate::shell::LoadFullApp) loads.
#[cfg(not(feature = "full"))]
#[component]
fn AppRoutes() -> impl IntoView {
    use crate::shell::LoadFullApp;
    view! {
        <Routes fallback=LoadFullApp>
            <Route path=path!("/") view=HomePage/>
            <Route path=path!("/status") view=StatusPage/>
            <Route path=path!("/login") view=LoginPage/>
            <Route path=path!("/invite/:token") view=InvitePage/>
            <Route path=path!("/reset/:token") view=ResetPage/>
        </Routes>
    }
}
