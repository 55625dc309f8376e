//! The application shell: header with navigation and language switch, the
//! routed page, footer.

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

use crate::components::lang_switch::LangSwitch;
use crate::i18n::{Msg, provide_i18n, t};
use crate::pages::{home::HomePage, not_found::NotFoundPage, status::StatusPage};

#[component]
pub fn App() -> impl IntoView {
    provide_i18n();
    view! {
        <Router>
            <Shell/>
        </Router>
    }
}

#[component]
fn Shell() -> impl IntoView {
    view! {
        <header class="topbar">
            <div class="topbar-row">
                <A href="/" attr:class="brand">
                    <span class="brand-mark" aria-hidden="true"></span>
                    <span class="brand-text">
                        <span class="brand-name">{t(Msg::AppName)}</span>
                        <span class="brand-sub">{t(Msg::AppSubtitle)}</span>
                    </span>
                </A>
                <LangSwitch/>
            </div>
            <nav class="mainnav" aria-label=t(Msg::MainNavigation)>
                <A href="/" exact=true>{t(Msg::NavHome)}</A>
                <A href="/status">{t(Msg::NavStatus)}</A>
            </nav>
        </header>
        <main class="page">
            <Routes fallback=NotFoundPage>
                <Route path=path!("/") view=HomePage/>
                <Route path=path!("/status") view=StatusPage/>
            </Routes>
        </main>
        <footer class="footer">{t(Msg::Footer)}</footer>
    }
}
