//! `/institutions/:id`: one lab or institute — details, the chain above it
//! as a breadcrumb, its people (when the person may see them) and, for its
//! administrators, the actions.
//!
//! A 403 from the server becomes the "no access" page: the institution is
//! in the person's province but not theirs to see. A 404 says it does not
//! exist (or lies outside what the person may know about).

use jiliang_protocol::accounts::{InstitutionView, Role, User};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::api::{ApiError, V1, use_api};
use crate::components::badges::{InactiveBadge, LevelBadge, RoleBadges};
use crate::components::institution_actions::InstitutionActions;
use crate::components::states::{ErrorBox, Loading, failure_view};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;
use crate::util::{in_subtree, inst_name};

#[component]
pub fn InstitutionPage() -> impl IntoView {
    let params = use_params_map();
    // A new id re-renders the whole page (and its requests).
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    move || {
        let id = id.get();
        view! { <InstitutionDetail id=id/> }
    }
}

#[component]
fn InstitutionDetail(id: String) -> impl IntoView {
    let api = use_api();
    let path = format!("{V1}/institutions/{}", crate::api::encode(&id));
    // The list gives the names of the ancestors and the choice of parents
    // for a move.
    let data = LocalResource::new(move || {
        let path = path.clone();
        async move {
            let one = api.get::<InstitutionView>(&path).await?;
            let all = api
                .get::<Vec<InstitutionView>>(&format!("{V1}/institutions"))
                .await?;
            Ok::<_, ApiError>((one, all))
        }
    });
    let reload = Callback::new(move |_| data.refetch());
    move || match data.get() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => failure_view(e, Some(reload)),
        Some(Ok((view, all))) => view! { <Detail view=view all=all reload=reload/> }.into_any(),
    }
}

#[component]
fn Detail(view: InstitutionView, all: Vec<InstitutionView>, reload: Callback<()>) -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let api = use_api();
    let Some(me) = session.me_untracked() else {
        return ().into_any();
    };
    let inst = view.institution.clone();
    let crumbs: Vec<(String, jiliang_protocol::institutions::Institution)> = view
        .ancestors
        .iter()
        .filter_map(|a| all.iter().find(|v| v.institution.id == *a))
        .map(|v| {
            (
                format!("/institutions/{}", v.institution.id),
                v.institution.clone(),
            )
        })
        .collect();
    // Mirrors the server's rule for `/institutions/{id}/people` (and for
    // the lab's devices, `view_devices_of`), so the page does not ask for
    // what it will be refused.
    let staff = me
        .user
        .roles
        .iter()
        .any(|r| matches!(r, Role::Admin | Role::Expert));
    let may_see_people = (staff && in_subtree(&view, &me.institution))
        || (me.user.roles.contains(&Role::Technician) && inst.id == me.institution.id);
    let people = may_see_people.then(|| {
        let path = format!("{V1}/institutions/{}/people", inst.id);
        LocalResource::new(move || {
            let path = path.clone();
            async move { api.get::<Vec<User>>(&path).await }
        })
    });
    let manage = session.caps().manage_institutions && view.can_manage;
    let can_invite = session.caps().invite;
    let children: Vec<InstitutionView> = all
        .iter()
        .filter(|v| v.institution.parent_id == Some(inst.id))
        .cloned()
        .collect();
    let name = {
        let inst = inst.clone();
        move || inst_name(&inst, i18n.locale())
    };
    let other_name = {
        let inst = inst.clone();
        move || match i18n.locale() {
            crate::i18n::Locale::ZhCn => inst.name_en.clone().unwrap_or_default(),
            crate::i18n::Locale::En => {
                if inst.name_en.is_some() {
                    inst.name_zh.clone()
                } else {
                    String::new()
                }
            }
        }
    };
    let contact = inst.contact.clone();
    let people_count = view.people_count.to_string();
    let view_for_actions = view.clone();

    view! {
        <nav class="breadcrumb" aria-label=move || i18n.t(Msg::Breadcrumb)>
            <ol>
                <li><A href="/institutions">{move || i18n.t(Msg::InstitutionsTitle)}</A></li>
                {crumbs.into_iter().map(|(href, a)| view! {
                    <li><A href=href>{move || inst_name(&a, i18n.locale())}</A></li>
                }).collect_view()}
            </ol>
        </nav>
        <div class="page-head" data-testid="institution-page">
            <h1 data-testid="institution-name">{name}</h1>
            <p class="muted">{other_name}</p>
            <p class="lab-meta">
                <LevelBadge level=inst.level/>
                <InactiveBadge active=inst.active/>
            </p>
        </div>
        {may_see_people.then(|| {
            let href = format!("/institutions/{}/devices", inst.id);
            view! {
                <p class="button-row">
                    <A href=href attr:class="button secondary" attr:data-testid="lab-devices-link">{move || i18n.t(Msg::DevicesTitle)}</A>
                </p>
            }
        })}
        <section class="card">
            <dl class="facts">
                <dt>{move || i18n.t(Msg::FieldRegionCode)}</dt>
                <dd class="mono">{inst.region_code.clone()}</dd>
                <dt>{move || i18n.t(Msg::FieldContact)}</dt>
                <dd>{if contact.is_empty() { "—".to_owned() } else { contact.clone() }}</dd>
                <dt>{move || i18n.t(Msg::People)}</dt>
                <dd>{people_count}</dd>
                <dt>{move || i18n.t(Msg::Status)}</dt>
                <dd>{move || i18n.t(if inst.active { Msg::Active } else { Msg::Inactive })}</dd>
            </dl>
        </section>
        {manage.then(|| view! {
            <section class="dash-section">
                <h2>{move || i18n.t(Msg::Manage)}</h2>
                <InstitutionActions target=view_for_actions.clone() all=all.clone() on_change=reload/>
            </section>
        })}
        {(!children.is_empty()).then(|| view! {
            <section class="dash-section">
                <h2>{move || i18n.t(Msg::ChildInstitutions)}</h2>
                <ul class="link-list">
                    {children.into_iter().map(|c| {
                        let href = format!("/institutions/{}", c.institution.id);
                        let ci = c.institution.clone();
                        view! {
                            <li>
                                <A href=href>{move || inst_name(&ci, i18n.locale())}</A>" "
                                <LevelBadge level=c.institution.level/>
                                <InactiveBadge active=c.institution.active/>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </section>
        })}
        {people.map(|people| view! {
            <section class="dash-section" data-testid="institution-people">
                <h2>{move || i18n.t(Msg::People)}</h2>
                {move || match people.get() {
                    None => view! { <Loading/> }.into_any(),
                    Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                    Some(Ok(list)) if list.is_empty() => view! {
                        <p class="muted">{move || i18n.t(if can_invite { Msg::NoPeopleHere } else { Msg::NoPeopleHereAsk })}</p>
                    }.into_any(),
                    Some(Ok(list)) => view! {
                        <ul class="people-list">
                            {list.into_iter().map(|u| {
                                let contact: Vec<String> = [u.phone.clone(), u.email.clone()].into_iter().flatten().collect();
                                view! {
                                    <li class="person-line" class:inactive=!u.active>
                                        <span class="person-name">{u.display_name.clone()}</span>
                                        " "<span class="mono muted">{u.username.clone()}</span>" "
                                        <RoleBadges roles=u.roles.clone()/>
                                        <InactiveBadge active=u.active/>
                                        {(!contact.is_empty()).then(|| view! {
                                            <span class="muted person-contact">{contact.join(" · ")}</span>
                                        })}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }}
            </section>
        })}
    }
    .into_any()
}
