//! A technician's own lab and colleagues.

use jiliang_protocol::accounts::{InstitutionView, Me, User};
use leptos::prelude::*;
use leptos_router::components::A;

use super::labs::LabCard;
use crate::api::{V1, use_api};
use crate::components::badges::{LevelBadge, RoleBadges};
use crate::components::states::{ErrorBox, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::util::inst_name;

/// A technician's lab, whom to call above it, and colleagues.
#[component]
pub(super) fn TechnicianSection(me: Me, list: Vec<InstitutionView>) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let own = list
        .iter()
        .find(|v| v.institution.id == me.institution.id)
        .cloned();
    let chain: Vec<InstitutionView> = own
        .as_ref()
        .map(|o| {
            o.ancestors
                .iter()
                .rev()
                .filter_map(|a| list.iter().find(|v| v.institution.id == *a).cloned())
                .collect()
        })
        .unwrap_or_default();
    let own_id = me.institution.id.to_string();
    let devices_href = format!("/institutions/{own_id}/devices");
    let my_id = me.user.id;
    let colleagues = LocalResource::new(move || {
        let own_id = own_id.clone();
        async move {
            api.get::<Vec<User>>(&format!("{V1}/institutions/{own_id}/people"))
                .await
        }
    });
    view! {
        <section class="dash-section" data-testid="dash-lab">
            <h2>{move || i18n.t(Msg::DashMyLab)}</h2>
            {own.map(|v| view! { <div class="cards one"><LabCard view=v show_contact=true/></div> })}
            <p class="button-row">
                <A href=devices_href attr:class="button secondary"
                    attr:data-testid="my-devices-link">{move || i18n.t(Msg::DevicesMyLab)}</A>
            </p>
        </section>
        {(!chain.is_empty()).then(|| view! {
            <section class="dash-section" data-testid="dash-chain">
                <h2>{move || i18n.t(Msg::DashChainTitle)}</h2>
                <p class="muted">{move || i18n.t(Msg::DashChainIntro)}</p>
                <ol class="chain">
                    {chain.into_iter().map(|v| {
                        let inst = v.institution.clone();
                        let href = format!("/institutions/{}", inst.id);
                        let contact = inst.contact.clone();
                        let name = {
                            let inst = inst.clone();
                            move || inst_name(&inst, i18n.locale())
                        };
                        view! {
                            <li class="chain-item">
                                <div><A href=href>{name}</A>" "<LevelBadge level=inst.level/></div>
                                <div class="muted">
                                    {move || i18n.t(Msg::FieldContact)}": "
                                    {if contact.is_empty() { "—".to_owned() } else { contact.clone() }}
                                </div>
                            </li>
                        }
                    }).collect_view()}
                </ol>
            </section>
        })}
        <section class="dash-section" data-testid="dash-colleagues">
            <h2>{move || i18n.t(Msg::DashColleagues)}</h2>
            {move || match colleagues.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                Some(Ok(people)) => {
                    let others: Vec<User> = people.into_iter().filter(|u| u.id != my_id && u.active).collect();
                    if others.is_empty() {
                        view! { <p class="muted">{move || i18n.t(Msg::NoColleagues)}</p> }.into_any()
                    } else {
                        view! {
                            <ul class="people-list compact">
                                {others.into_iter().map(|u| view! { <PersonLine user=u/> }).collect_view()}
                            </ul>
                        }.into_any()
                    }
                }
            }}
        </section>
    }
}

/// One person in a short list: name, roles, how to reach them.
#[component]
pub fn PersonLine(user: User) -> impl IntoView {
    let contact: Vec<String> = [user.phone.clone(), user.email.clone()]
        .into_iter()
        .flatten()
        .collect();
    view! {
        <li class="person-line">
            <span class="person-name">{user.display_name.clone()}</span>
            " "
            <RoleBadges roles=user.roles.clone()/>
            {(!contact.is_empty()).then(|| view! { <span class="muted person-contact">{contact.join(" · ")}</span> })}
        </li>
    }
}
