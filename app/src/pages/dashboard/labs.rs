//! An expert's labs below their institution.

use jiliang_protocol::accounts::{InstitutionView, Me};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::badges::{InactiveBadge, LevelBadge};
use crate::i18n::{Msg, use_i18n};
use crate::util::inst_name;

/// The labs below the person's institution, as cards.
#[component]
pub(super) fn LabsSection(me: Me, list: Vec<InstitutionView>) -> impl IntoView {
    let i18n = use_i18n();
    let below: Vec<InstitutionView> = crate::util::tree_order(&list)
        .into_iter()
        .map(|(v, _)| v)
        .filter(|v| v.ancestors.contains(&me.institution.id))
        .collect();
    if below.is_empty() {
        return ().into_any();
    }
    let names = list.clone();
    view! {
        <section class="dash-section" data-testid="dash-labs">
            <h2>{move || i18n.t(Msg::DashLabsTitle)}</h2>
            <p class="muted">{move || i18n.t(Msg::DashLabsIntro)}</p>
            <div class="cards labs">
                {below
                    .into_iter()
                    .map(|v| {
                        let parent = v
                            .institution
                            .parent_id
                            .and_then(|p| names.iter().find(|n| n.institution.id == p))
                            .map(|p| p.institution.clone());
                        view! { <LabCard view=v parent=parent/> }
                    })
                    .collect_view()}
            </div>
        </section>
    }
    .into_any()
}

#[component]
pub(super) fn LabCard(
    view: InstitutionView,
    #[prop(optional_no_strip)] parent: Option<jiliang_protocol::institutions::Institution>,
    #[prop(optional)] show_contact: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let inst = view.institution.clone();
    let href = format!("/institutions/{}", inst.id);
    let people = view.people_count.to_string();
    let contact = inst.contact.clone();
    let name = {
        let inst = inst.clone();
        move || inst_name(&inst, i18n.locale())
    };
    view! {
        <article class="card lab-card" data-testid="lab-card">
            <h3><A href=href>{name}</A></h3>
            <p class="lab-meta">
                <LevelBadge level=inst.level/>
                <InactiveBadge active=inst.active/>
                <span class="muted">{move || i18n.tf(Msg::RegionCodeShort, &[("code", &inst.region_code)])}</span>
            </p>
            <p class="lab-meta muted">
                {move || i18n.tf(Msg::PeopleCount, &[("n", &people)])}
                {parent.clone().map(|p| view! {
                    " · "{move || i18n.tf(Msg::UnderParent, &[("name", &inst_name(&p, i18n.locale()))])}
                })}
            </p>
            {(show_contact).then(|| view! {
                <p class="lab-contact">
                    <span class="muted">{move || i18n.t(Msg::FieldContact)}": "</span>
                    {if contact.is_empty() { "—".to_owned() } else { contact.clone() }}
                </p>
            })}
        </article>
    }
}
