//! What a trainee sees first.

use jiliang_protocol::accounts::{InstitutionView, Me};
use leptos::prelude::*;
use leptos_router::components::A;

use super::labs::LabCard;
use crate::i18n::{Msg, use_i18n};

/// A trainee's institution, profile and (not yet existing) courses.
#[component]
pub(super) fn TraineeSection(me: Me, list: Vec<InstitutionView>, also_tech: bool) -> impl IntoView {
    let i18n = use_i18n();
    let own = list
        .iter()
        .find(|v| v.institution.id == me.institution.id)
        .cloned();
    let user = me.user.clone();
    view! {
        <section class="dash-section" data-testid="dash-learning">
            <h2>{move || i18n.t(Msg::DashLearning)}</h2>
            <p class="empty-note" data-testid="no-courses">{move || i18n.t(Msg::NoCoursesYet)}</p>
        </section>
        <section class="dash-section" data-testid="dash-profile">
            <h2>{move || i18n.t(Msg::DashProfile)}</h2>
            <div class="cards two">
                {(!also_tech).then(|| own.map(|v| view! { <LabCard view=v show_contact=true/> }))}
                <article class="card">
                    <dl class="facts">
                        <dt>{move || i18n.t(Msg::FieldUsername)}</dt>
                        <dd class="mono">{user.username.clone()}</dd>
                        <dt>{move || i18n.t(Msg::FieldEmail)}</dt>
                        <dd>{user.email.clone().unwrap_or_else(|| "—".into())}</dd>
                        <dt>{move || i18n.t(Msg::FieldPhone)}</dt>
                        <dd>{user.phone.clone().unwrap_or_else(|| "—".into())}</dd>
                    </dl>
                    <A href="/account">{move || i18n.t(Msg::EditProfile)}</A>
                </article>
            </div>
        </section>
    }
}
