//! The logged-in home page: one section per role the person holds, each
//! built only from what the server has (no placeholders for features that
//! do not exist yet, except a one-line note for trainees' courses).
//!
//! - administrators: quick links with counts (institutions, people,
//!   pending invitations, recent audit events);
//! - experts and administrators: the labs below their institution;
//! - technicians: their lab, the institutions above it with contacts
//!   ("whom to call"), their colleagues;
//! - trainees: their institution, profile, and learning.
//!
//! # Layout
//! - `mod.rs`: the page itself and what decides its shape.
//! - `admin`: what an administrator sees first: institutions, people, pending
//!   invitations, recent security events.
//! - `labs`: an expert's labs below their institution.
//! - `sessions`: live and upcoming sessions, and the shortcuts to them.
//! - `technician`: a technician's own lab and colleagues.
//! - `trainee`: what a trainee sees first.

mod admin;
mod labs;
mod sessions;
mod technician;
mod trainee;

use jiliang_protocol::accounts::{InstitutionView, Role};
use leptos::prelude::*;

use crate::api::{V1, use_api};
use crate::components::badges::RoleBadges;
use crate::components::states::{ErrorBox, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;
use crate::util::inst_name;
use admin::AdminSection;
use labs::LabsSection;
use sessions::SessionsShortcuts;
use technician::TechnicianSection;
use trainee::TraineeSection;

#[component]
pub fn Dashboard() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let api = use_api();
    let Some(me) = session.me_untracked() else {
        return ().into_any();
    };
    let has = |r: Role| me.user.roles.contains(&r);
    let (admin, expert, tech, trainee) = (
        has(Role::Admin),
        has(Role::Expert),
        has(Role::Technician),
        has(Role::Trainee),
    );
    let institutions = LocalResource::new(move || async move {
        api.get::<Vec<InstitutionView>>(&format!("{V1}/institutions"))
            .await
    });
    let retry = Callback::new(move |_| institutions.refetch());
    let own_name = {
        let inst = me.institution.clone();
        move || inst_name(&inst, i18n.locale())
    };
    let name = me.user.display_name.clone();
    let me_for_sections = me.clone();

    view! {
        <section class="dash-head">
            <h1 data-testid="dash-greeting">{move || i18n.tf(Msg::Hello, &[("name", &name)])}</h1>
            <p class="muted">
                {own_name}" "
                <RoleBadges roles=me.user.roles.clone()/>
            </p>
        </section>
        <SessionsShortcuts/>
        {move || match institutions.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <ErrorBox error=e retry=retry/> }.into_any(),
            Some(Ok(list)) => {
                let me = me_for_sections.clone();
                view! {
                    {admin.then(|| view! { <AdminSection me=me.clone() list=list.clone()/> })}
                    {(admin || expert).then(|| view! { <LabsSection me=me.clone() list=list.clone()/> })}
                    {tech.then(|| view! { <TechnicianSection me=me.clone() list=list.clone()/> })}
                    {trainee.then(|| view! { <TraineeSection me=me.clone() list=list.clone() also_tech=tech/> })}
                }
                .into_any()
            }
        }}
    }
    .into_any()
}
