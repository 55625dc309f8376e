//! `/`: what Jiliang is for, who it serves, and whether the server answers.

use leptos::prelude::*;

use crate::components::health_badge::HealthBadge;
use crate::i18n::{Msg, t};

#[component]
pub fn HomePage() -> impl IntoView {
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
