//! `/`: for visitors, what Jiliang is for, who it serves, and whether the
//! server answers; for a logged-in person, their dashboard.

use leptos::prelude::*;

use crate::components::health_badge::HealthBadge;
use crate::components::states::Loading;
use crate::i18n::{Msg, t};
#[cfg(feature = "full")]
use crate::pages::dashboard::Dashboard;
use crate::session::use_session;
#[cfg(not(feature = "full"))]
use crate::shell::LoadFullApp;

#[component]
pub fn HomePage() -> impl IntoView {
    let session = use_session();
    move || {
        if !session.checked() {
            view! { <Loading/> }.into_any()
        } else if session.logged_in() {
            dashboard()
        } else {
            view! { <Landing/> }.into_any()
        }
    }
}

#[component]
fn Landing() -> impl IntoView {
    view! {
        <section class="hero">
            <h1>{t(Msg::HomeHeadline)}</h1>
            <p class="lead">{t(Msg::HomeLead)}</p>
            <HealthBadge/>
        </section>
        <section class="cards">
            <article class="card">
                <h2>{t(Msg::HomeForTechnicians)}</h2>
                <p>{t(Msg::HomeForTechniciansText)}</p>
            </article>
            <article class="card">
                <h2>{t(Msg::HomeForExperts)}</h2>
                <p>{t(Msg::HomeForExpertsText)}</p>
            </article>
            <article class="card">
                <h2>{t(Msg::HomeForTrainees)}</h2>
                <p>{t(Msg::HomeForTraineesText)}</p>
            </article>
        </section>
    }
}

#[cfg(feature = "full")]
fn dashboard() -> AnyView {
    view! { <Dashboard/> }.into_any()
}

/// The first-load shell has no dashboard: the full app has.
#[cfg(not(feature = "full"))]
fn dashboard() -> AnyView {
    view! { <LoadFullApp/> }.into_any()
}
