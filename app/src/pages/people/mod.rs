//! `/people`: search the people the person may see, page through them,
//! and — for administrators — create accounts, change roles and details,
//! deactivate and reactivate, and issue password-reset links. Experts and
//! administrators invite people; the one-time link is shown once, to be
//! sent by the inviter (the server sends no mail). Pending invitations are
//! listed with their status.
//!
//! # Layout
//! - `mod.rs`: the page itself and what decides its shape.
//! - `card`: one person's card and the forms that act on them: edit, activate
//!   or deactivate, reset the password.
//! - `invitations`: invitations sent and their state.
//! - `new_person`: adding people: create an account directly, or invite
//!   someone by a one-time link.

mod card;
mod invitations;
mod new_person;

use jiliang_protocol::accounts::{InstitutionView, Page, Role, User, UserListParams};
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use crate::api::{ApiError, V1, use_api};
use crate::components::forms::{Errors, SelectField};
use crate::components::states::{ErrorBox, Forbidden, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;
use crate::util::{in_subtree, inst_name, role_msg, tree_order};
use card::PersonCard;
use invitations::Invitations;
use new_person::{CreateUserForm, InviteForm};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Panel {
    Closed,
    Create,
    Invite,
}

/// Institutions the person can choose in filters and forms, in tree order:
/// their own and those below it (staff), or only their own.
fn choosable(
    list: &[InstitutionView],
    own: &jiliang_protocol::institutions::Institution,
    staff: bool,
) -> Vec<InstitutionView> {
    tree_order(list)
        .into_iter()
        .map(|(v, _)| v)
        .filter(|v| {
            if staff {
                in_subtree(v, own)
            } else {
                v.institution.id == own.id
            }
        })
        .collect()
}

#[component]
pub fn PeoplePage() -> impl IntoView {
    let session = use_session();
    let caps = session.caps();
    if !caps.view_people {
        return view! { <Forbidden/> }.into_any();
    }
    view! { <People/> }.into_any()
}

#[component]
fn People() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let api = use_api();
    let caps = session.caps();
    let Some(me) = session.me_untracked() else {
        return ().into_any();
    };
    let staff = me
        .user
        .roles
        .iter()
        .any(|r| matches!(r, Role::Admin | Role::Expert));
    let own = me.institution.clone();
    let institutions = LocalResource::new(move || async move {
        api.get::<Vec<InstitutionView>>(&format!("{V1}/institutions"))
            .await
    });
    let own_c = own.clone();
    let choices = Memo::new(move |_| match institutions.get() {
        Some(Ok(list)) => choosable(&list, &own_c, staff),
        _ => Vec::new(),
    });
    let inst_options = Signal::derive(move || {
        let locale = i18n.locale();
        choices
            .get()
            .iter()
            .map(|v| {
                (
                    v.institution.id.to_string(),
                    inst_name(&v.institution, locale),
                )
            })
            .collect::<Vec<_>>()
    });
    let active_inst_options = Signal::derive(move || {
        let locale = i18n.locale();
        choices
            .get()
            .iter()
            .filter(|v| v.institution.active)
            .map(|v| {
                (
                    v.institution.id.to_string(),
                    inst_name(&v.institution, locale),
                )
            })
            .collect::<Vec<_>>()
    });
    let inst_name_of = move |id: String| {
        let locale = i18n.locale();
        institutions
            .get()
            .and_then(Result::ok)
            .and_then(|l| l.into_iter().find(|v| v.institution.id.to_string() == id))
            .map(|v| inst_name(&v.institution, locale))
            .unwrap_or_default()
    };

    // Filters. The search text is applied on submit, selects at once.
    let q = RwSignal::new(String::new());
    let applied_q = RwSignal::new(String::new());
    let f_inst = RwSignal::new(String::new());
    let f_role = RwSignal::new(String::new());
    let f_active = RwSignal::new(String::new());
    let no_errors: Errors = RwSignal::new(None);
    let role_options = Signal::derive(move || {
        Role::ALL
            .iter()
            .map(|r| (r.as_str().to_owned(), i18n.t(role_msg(*r)).to_owned()))
            .collect::<Vec<_>>()
    });
    let active_options = Signal::derive(move || {
        vec![
            ("true".to_owned(), i18n.t(Msg::ActiveOnly).to_owned()),
            ("false".to_owned(), i18n.t(Msg::InactiveOnly).to_owned()),
        ]
    });

    // The list, page by page. `generation` drops answers to superseded
    // searches that arrive late.
    let items = RwSignal::new(Vec::<User>::new());
    let next = RwSignal::new(None::<String>);
    let loading = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let generation = RwSignal::new(0_u32);
    let load = move |more: bool| {
        // The filters are selects of the server's own ids and the
        // protocol's values; "" means any.
        let text = applied_q.get_untracked().trim().to_owned();
        let params = UserListParams {
            q: (!text.is_empty()).then_some(text),
            institution_id: Uuid::parse_str(&f_inst.get_untracked()).ok(),
            role: Role::parse(&f_role.get_untracked()),
            active: f_active.get_untracked().parse().ok(),
            limit: Some(30),
            cursor: if more {
                next.get_untracked().and_then(|c| Uuid::parse_str(&c).ok())
            } else {
                None
            },
        };
        generation.update(|g| *g += 1);
        let mine = generation.get_untracked();
        loading.set(true);
        error.set(None);
        spawn_local(async move {
            let r = api
                .get_query::<_, Page<User>>(&format!("{V1}/users"), &params)
                .await;
            if generation.try_get_untracked() != Some(mine) {
                return;
            }
            loading.set(false);
            match r {
                Ok(page) => {
                    if more {
                        items.update(|i| i.extend(page.items));
                    } else {
                        items.set(page.items);
                    }
                    next.set(page.next_cursor);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    Effect::new(move |_| {
        applied_q.track();
        f_inst.track();
        f_role.track();
        f_active.track();
        load(false);
    });
    let search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if applied_q.get_untracked() == q.get_untracked() {
            load(false);
        } else {
            applied_q.set(q.get_untracked());
        }
    };
    let replace_user = Callback::new(move |u: User| {
        items.update(|list| {
            if let Some(slot) = list.iter_mut().find(|x| x.id == u.id) {
                *slot = u;
            }
        });
    });
    let created = Callback::new(move |u: User| items.update(|list| list.insert(0, u)));

    let panel = RwSignal::new(Panel::Closed);
    let invitations_version = RwSignal::new(0_u32);
    let panel_btn = move |p: Panel, label: Msg, testid: &'static str| {
        view! {
            <button
                type="button"
                class="primary"
                aria-expanded=move || if panel.get() == p { "true" } else { "false" }
                data-testid=testid
                on:click=move |_| panel.update(|c| *c = if *c == p { Panel::Closed } else { p })
            >
                {move || i18n.t(label)}
            </button>
        }
    };
    let invite_roles: Vec<Role> = if caps.manage_people {
        Role::ALL.to_vec()
    } else {
        vec![Role::Technician, Role::Trainee]
    };
    let my_id = me.user.id;

    view! {
        <div class="page-head">
            <h1>{move || i18n.t(Msg::PeopleTitle)}</h1>
            <p class="muted">
                {move || i18n.t(if caps.manage_people {
                    Msg::PeopleIntroAdmin
                } else if caps.invite {
                    Msg::PeopleIntroExpert
                } else {
                    Msg::PeopleIntro
                })}
            </p>
            <div class="button-row">
                {caps.invite.then(|| panel_btn(Panel::Invite, Msg::InvitePerson, "open-invite"))}
                {caps.manage_people.then(|| panel_btn(Panel::Create, Msg::CreateAccount, "open-create"))}
            </div>
        </div>
        {move || match panel.get() {
            Panel::Closed => ().into_any(),
            Panel::Invite => view! {
                <InviteForm
                    options=active_inst_options
                    roles=invite_roles.clone()
                    close=panel
                    invited=Callback::new(move |_| invitations_version.update(|v| *v += 1))
                />
            }.into_any(),
            Panel::Create => view! {
                <CreateUserForm options=active_inst_options close=panel created=created/>
            }.into_any(),
        }}
        <form class="filters card" on:submit=search role="search" data-testid="people-filters">
            <div class="field search-field">
                <label for="people-q">{move || i18n.t(Msg::SearchPeople)}</label>
                <div class="inline">
                    <input
                        id="people-q"
                        type="search"
                        prop:value=move || q.get()
                        on:input=move |ev| q.set(event_target_value(&ev))
                        placeholder=move || i18n.t(Msg::SearchPlaceholder)
                        data-testid="people-q"
                    />
                    <button type="submit" class="primary">{move || i18n.t(Msg::Search)}</button>
                </div>
            </div>
            <div class="filter-row">
                {staff.then(|| view! {
                    <SelectField label=Msg::FieldInstitution value=f_inst options=inst_options
                        errors=no_errors empty=Msg::AllInstitutions testid="filter-institution"/>
                })}
                <SelectField label=Msg::FieldRole value=f_role options=role_options
                    errors=no_errors empty=Msg::AllRoles testid="filter-role"/>
                <SelectField label=Msg::Status value=f_active options=active_options
                    errors=no_errors empty=Msg::AllStatuses testid="filter-active"/>
            </div>
        </form>
        <section aria-live="polite" aria-busy=move || if loading.get() { "true" } else { "false" }>
            {move || error.get().map(|e| view! { <ErrorBox error=e retry=Callback::new(move |_| load(false))/> })}
            {move || {
                let list = items.get();
                if list.is_empty() && loading.get() {
                    return view! { <Loading/> }.into_any();
                }
                if list.is_empty() && error.with(Option::is_none) {
                    return view! {
                        <div class="empty-state" data-testid="people-empty">
                            <p>{move || i18n.t(Msg::NoPeopleFound)}</p>
                            <p class="muted">{move || i18n.t(if caps.invite { Msg::NoPeopleFoundInvite } else { Msg::NoPeopleFoundHint })}</p>
                        </div>
                    }.into_any();
                }
                view! {
                    <ul class="person-cards" data-testid="people-list">
                        {list.into_iter().map(|u| {
                            let inst = inst_name_of(u.institution_id.to_string());
                            view! {
                                <PersonCard
                                    user=u
                                    institution=inst
                                    manage=caps.manage_people
                                    options=active_inst_options
                                    updated=replace_user
                                    my_id=my_id.to_string()
                                />
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {move || next.with(Option::is_some).then(|| view! {
                <div class="load-more">
                    <button type="button" class="secondary" disabled=move || loading.get()
                        on:click=move |_| load(true) data-testid="load-more">
                        {move || i18n.t(if loading.get() { Msg::Loading } else { Msg::LoadMore })}
                    </button>
                </div>
            })}
        </section>
        {caps.invite.then(|| view! { <Invitations version=invitations_version/> })}
    }
    .into_any()
}
