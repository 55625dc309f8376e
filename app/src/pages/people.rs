//! `/people`: search the people the person may see, page through them,
//! and — for administrators — create accounts, change roles and details,
//! deactivate and reactivate, and issue password-reset links. Experts and
//! administrators invite people; the one-time link is shown once, to be
//! sent by the inviter (the server sends no mail). Pending invitations are
//! listed with their status.

use jiliang_protocol::accounts::{
    InstitutionView, Invitation, InvitationStatus, NewInvitationRequest, NewUserRequest,
    OneTimeLink, Page, Role, UpdateUserRequest, User,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{ApiError, V1, query, use_api};
use crate::components::badges::{InactiveBadge, RoleBadges};
use crate::components::forms::{
    Errors, FormAlert, RoleChecks, SelectField, SubmitButton, TextField, opt,
};
use crate::components::one_time_link::OneTimeLinkBox;
use crate::components::states::{ErrorBox, Forbidden, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;
use crate::util::{in_subtree, inst_name, local_time, parse_id, role_msg, tree_order};

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
        let cursor = if more {
            next.get_untracked().unwrap_or_default()
        } else {
            String::new()
        };
        let path = format!(
            "{V1}/users{}",
            query(&[
                ("q", applied_q.get_untracked().trim()),
                ("institution_id", &f_inst.get_untracked()),
                ("role", &f_role.get_untracked()),
                ("active", &f_active.get_untracked()),
                ("limit", "30"),
                ("cursor", &cursor),
            ])
        );
        generation.update(|g| *g += 1);
        let mine = generation.get_untracked();
        loading.set(true);
        error.set(None);
        spawn_local(async move {
            let r = api.get::<Page<User>>(&path).await;
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

/// One person, with an administrator's actions.
#[component]
fn PersonCard(
    user: User,
    institution: String,
    manage: bool,
    options: Signal<Vec<(String, String)>>,
    updated: Callback<User>,
    my_id: String,
) -> impl IntoView {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Open {
        None,
        Edit,
        Toggle,
        Reset,
    }
    let i18n = use_i18n();
    let open = RwSignal::new(Open::None);
    let is_me = user.id.to_string() == my_id;
    let contact: Vec<String> = [user.phone.clone(), user.email.clone()]
        .into_iter()
        .flatten()
        .collect();
    let btn = move |o: Open, label: Msg, testid: &'static str| {
        view! {
            <button
                type="button"
                class="secondary small"
                aria-expanded=move || if open.get() == o { "true" } else { "false" }
                data-testid=testid
                on:click=move |_| open.update(|c| *c = if *c == o { Open::None } else { o })
            >
                {move || i18n.t(label)}
            </button>
        }
    };
    let close = Callback::new(move |_| open.set(Open::None));
    let done = Callback::new(move |u: User| {
        open.set(Open::None);
        updated.run(u);
    });
    let active = user.active;
    let u_edit = user.clone();
    let u_toggle = user.clone();
    let u_reset = user.clone();
    view! {
        <li class="card person-card" class:inactive=!user.active data-testid="person" data-username=user.username.clone()>
            <div class="person-head">
                <span class="person-name">{user.display_name.clone()}</span>
                <span class="mono muted">{user.username.clone()}</span>
            </div>
            <div class="person-badges">
                <RoleBadges roles=user.roles.clone()/>
                <InactiveBadge active=user.active/>
            </div>
            <div class="muted small">{institution}</div>
            {(!contact.is_empty()).then(|| view! { <div class="muted small person-contact">{contact.join(" · ")}</div> })}
            {manage.then(|| view! {
                <div class="button-row">
                    {btn(Open::Edit, Msg::Edit, "edit-person")}
                    {(!is_me).then(|| btn(Open::Toggle, if active { Msg::Deactivate } else { Msg::Reactivate }, "toggle-person"))}
                    {(!is_me).then(|| btn(Open::Reset, Msg::IssueReset, "reset-person"))}
                </div>
            })}
            {move || match open.get() {
                Open::None => ().into_any(),
                Open::Edit => view! { <EditPersonForm user=u_edit.clone() options=options done=done close=close/> }.into_any(),
                Open::Toggle => view! { <TogglePersonForm user=u_toggle.clone() done=done close=close/> }.into_any(),
                Open::Reset => view! { <ResetForm user=u_reset.clone() close=close/> }.into_any(),
            }}
        </li>
    }
}

fn cancel(close: Callback<()>, label: Msg) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <button type="button" class="secondary" on:click=move |_| close.run(())>{move || i18n.t(label)}</button>
    }
}

#[component]
fn EditPersonForm(
    user: User,
    options: Signal<Vec<(String, String)>>,
    done: Callback<User>,
    close: Callback<()>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let name = RwSignal::new(user.display_name.clone());
    let email = RwSignal::new(user.email.clone().unwrap_or_default());
    let phone = RwSignal::new(user.phone.clone().unwrap_or_default());
    let roles = RwSignal::new(user.roles.clone());
    let inst = RwSignal::new(user.institution_id.to_string());
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let path = format!("{V1}/users/{}", user.id);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let changed = |new: String, old: &str| (new.trim() != old).then_some(new);
        let new_roles = roles.get_untracked();
        let new_inst = inst.get_untracked();
        let body = UpdateUserRequest {
            display_name: changed(name.get_untracked(), &user.display_name),
            email: changed(email.get_untracked(), user.email.as_deref().unwrap_or("")),
            phone: changed(phone.get_untracked(), user.phone.as_deref().unwrap_or("")),
            roles: (new_roles != user.roles).then_some(new_roles),
            institution_id: if new_inst == user.institution_id.to_string() {
                None
            } else {
                parse_id(&new_inst)
            },
            active: None,
        };
        if body == UpdateUserRequest::default() {
            close.run(());
            return;
        }
        busy.set(true);
        let path = path.clone();
        spawn_local(async move {
            let r = api.patch::<_, User>(&path, &body).await;
            busy.set(false);
            match r {
                Ok(u) => done.run(u),
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    view! {
        <form class="panel form" on:submit=submit data-testid="edit-person-form" novalidate>
            <h3>{move || i18n.t(Msg::EditPerson)}</h3>
            <FormAlert errors=errors fields=&["display_name", "email", "phone", "roles", "institution_id"]/>
            <TextField label=Msg::FieldDisplayName value=name errors=errors field="display_name" required=true/>
            <TextField label=Msg::FieldEmail value=email errors=errors field="email" input_type="email"/>
            <TextField label=Msg::FieldPhone value=phone errors=errors field="phone" input_type="tel"/>
            <RoleChecks roles=roles allowed=Role::ALL.to_vec() errors=errors testid="edit-roles"/>
            <SelectField label=Msg::FieldInstitution value=inst options=options errors=errors field="institution_id"/>
            <div class="button-row">
                <SubmitButton label=Msg::Save busy=busy testid="save-person"/>
                {cancel(close, Msg::Cancel)}
            </div>
        </form>
    }
}

#[component]
fn TogglePersonForm(user: User, done: Callback<User>, close: Callback<()>) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let active = user.active;
    let name = user.display_name.clone();
    let path = format!("{V1}/users/{}", user.id);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = UpdateUserRequest {
            active: Some(!active),
            ..Default::default()
        };
        busy.set(true);
        let path = path.clone();
        spawn_local(async move {
            let r = api.patch::<_, User>(&path, &body).await;
            busy.set(false);
            match r {
                Ok(u) => done.run(u),
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    view! {
        <form class="panel form confirm" on:submit=submit data-testid="toggle-person-form">
            <p>{move || i18n.tf(
                if active { Msg::ConfirmDeactivatePerson } else { Msg::ConfirmReactivatePerson },
                &[("name", &name)],
            )}</p>
            <FormAlert errors=errors/>
            <div class="button-row">
                <SubmitButton
                    label=if active { Msg::ConfirmDeactivate } else { Msg::ConfirmReactivate }
                    busy=busy
                    danger=active
                    testid="confirm-toggle-person"
                />
                {cancel(close, Msg::Cancel)}
            </div>
        </form>
    }
}

#[component]
fn ResetForm(user: User, close: Callback<()>) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let issued = RwSignal::new(None::<OneTimeLink>);
    let name = user.display_name.clone();
    let name2 = name.clone();
    let path = format!("{V1}/users/{}/password-reset", user.id);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        let path = path.clone();
        spawn_local(async move {
            let r = api.post_empty::<OneTimeLink>(&path).await;
            busy.set(false);
            match r {
                Ok(link) => issued.set(Some(link)),
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    let instructions =
        Signal::derive(move || i18n.tf(Msg::ResetLinkInstructions, &[("name", &name2)]));
    move || match issued.get() {
        Some(link) => view! {
            <div class="panel" data-testid="reset-issued">
                <OneTimeLinkBox
                    link=link.link
                    expires=local_time(link.expires_at.unix_timestamp())
                    instructions=instructions
                />
                {cancel(close, Msg::Close)}
            </div>
        }
        .into_any(),
        None => {
            let name = name.clone();
            view! {
                <form class="panel form confirm" on:submit=submit.clone() data-testid="reset-form">
                    <p>{move || i18n.tf(Msg::ConfirmReset, &[("name", &name)])}</p>
                    <FormAlert errors=errors/>
                    <div class="button-row">
                        <SubmitButton label=Msg::IssueReset busy=busy danger=true testid="confirm-reset"/>
                        {cancel(close, Msg::Cancel)}
                    </div>
                </form>
            }
            .into_any()
        }
    }
}

#[component]
fn CreateUserForm(
    options: Signal<Vec<(String, String)>>,
    close: RwSignal<Panel>,
    created: Callback<User>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let username = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let phone = RwSignal::new(String::new());
    let inst = RwSignal::new(String::new());
    let roles = RwSignal::new(vec![Role::Technician]);
    let password = RwSignal::new(String::new());
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let done = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(institution_id) = parse_id(&inst.get_untracked()) else {
            errors.set(Some(ApiError::Server {
                status: 422,
                body: jiliang_protocol::ErrorBody {
                    code: "invalid_input".into(),
                    message: i18n.t(Msg::ChooseInstitution).to_owned(),
                    details: vec![jiliang_protocol::FieldError {
                        field: "institution_id".into(),
                        message: i18n.t(Msg::ChooseInstitution).to_owned(),
                    }],
                },
            }));
            return;
        };
        let body = NewUserRequest {
            username: username.get_untracked().trim().to_owned(),
            display_name: name.get_untracked(),
            email: opt(email),
            phone: opt(phone),
            institution_id,
            roles: roles.get_untracked(),
            password: password.get_untracked(),
        };
        busy.set(true);
        errors.set(None);
        spawn_local(async move {
            let r = api.post::<_, User>(&format!("{V1}/users"), &body).await;
            busy.set(false);
            match r {
                Ok(u) => {
                    done.set(Some(u.display_name.clone()));
                    for s in [username, name, email, phone, password] {
                        s.set(String::new());
                    }
                    created.run(u);
                }
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    let done_text = Signal::derive(move || {
        done.get()
            .map(|n| i18n.tf(Msg::AccountCreated, &[("name", &n)]))
    });
    view! {
        <form class="panel form" on:submit=submit data-testid="create-form" novalidate>
            <h2>{move || i18n.t(Msg::CreateAccount)}</h2>
            <p class="muted">{move || i18n.t(Msg::CreateAccountIntro)}</p>
            <crate::components::forms::Notice text=done_text/>
            <FormAlert errors=errors fields=&["username", "display_name", "email", "phone", "institution_id", "roles", "password"]/>
            <TextField label=Msg::FieldUsername value=username errors=errors field="username" required=true
                autocomplete="off" hint=Msg::UsernameRules testid="create-username"/>
            <TextField label=Msg::FieldDisplayName value=name errors=errors field="display_name" required=true testid="create-name"/>
            <TextField label=Msg::FieldEmail value=email errors=errors field="email" input_type="email"/>
            <TextField label=Msg::FieldPhone value=phone errors=errors field="phone" input_type="tel"/>
            <SelectField label=Msg::FieldInstitution value=inst options=options errors=errors field="institution_id"
                empty=Msg::ChooseOne required=true testid="create-institution"/>
            <RoleChecks roles=roles allowed=Role::ALL.to_vec() errors=errors testid="create-roles"/>
            <TextField label=Msg::FieldInitialPassword value=password errors=errors field="password" required=true
                input_type="password" autocomplete="new-password" hint=Msg::PasswordRules testid="create-password"/>
            <div class="button-row">
                <SubmitButton label=Msg::Create busy=busy testid="create-submit"/>
                <button type="button" class="secondary" on:click=move |_| close.set(Panel::Closed)>
                    {move || i18n.t(Msg::Close)}
                </button>
            </div>
        </form>
    }
}

#[component]
fn InviteForm(
    options: Signal<Vec<(String, String)>>,
    roles: Vec<Role>,
    close: RwSignal<Panel>,
    invited: Callback<()>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let name = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let phone = RwSignal::new(String::new());
    let inst = RwSignal::new(String::new());
    let chosen = RwSignal::new(vec![Role::Technician]);
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let result = RwSignal::new(None::<Invitation>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(institution_id) = parse_id(&inst.get_untracked()) else {
            errors.set(Some(ApiError::Server {
                status: 422,
                body: jiliang_protocol::ErrorBody {
                    code: "invalid_input".into(),
                    message: i18n.t(Msg::ChooseInstitution).to_owned(),
                    details: vec![jiliang_protocol::FieldError {
                        field: "institution_id".into(),
                        message: i18n.t(Msg::ChooseInstitution).to_owned(),
                    }],
                },
            }));
            return;
        };
        let body = NewInvitationRequest {
            display_name: name.get_untracked(),
            email: opt(email),
            phone: opt(phone),
            institution_id,
            roles: chosen.get_untracked(),
        };
        busy.set(true);
        errors.set(None);
        spawn_local(async move {
            let r = api
                .post::<_, Invitation>(&format!("{V1}/invitations"), &body)
                .await;
            busy.set(false);
            match r {
                Ok(inv) => {
                    result.set(Some(inv));
                    invited.run(());
                }
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    let allowed = roles.clone();
    move || {
        match result.get() {
        Some(inv) => {
            let who = inv.display_name.clone();
            let instructions = Signal::derive(move || i18n.tf(Msg::InviteLinkInstructions, &[("name", &who)]));
            view! {
                <section class="panel" data-testid="invite-result">
                    <h2>{move || i18n.t(Msg::InvitationCreated)}</h2>
                    <OneTimeLinkBox
                        link=inv.link.clone().unwrap_or_default()
                        expires=local_time(inv.expires_at.unix_timestamp())
                        instructions=instructions
                    />
                    <div class="button-row">
                        <button type="button" class="secondary" on:click=move |_| {
                            name.set(String::new());
                            email.set(String::new());
                            phone.set(String::new());
                            result.set(None);
                        }>{move || i18n.t(Msg::InviteAnother)}</button>
                        <button type="button" class="secondary" on:click=move |_| close.set(Panel::Closed)>
                            {move || i18n.t(Msg::Close)}
                        </button>
                    </div>
                </section>
            }
            .into_any()
        }
        None => view! {
            <form class="panel form" on:submit=submit data-testid="invite-form" novalidate>
                <h2>{move || i18n.t(Msg::InvitePerson)}</h2>
                <p class="muted">{move || i18n.t(Msg::InviteIntro)}</p>
                <FormAlert errors=errors fields=&["display_name", "email", "phone", "institution_id", "roles"]/>
                <TextField label=Msg::FieldDisplayName value=name errors=errors field="display_name" required=true testid="invite-name"/>
                <TextField label=Msg::FieldEmail value=email errors=errors field="email" input_type="email"
                    hint=Msg::InviteContactHint testid="invite-email"/>
                <TextField label=Msg::FieldPhone value=phone errors=errors field="phone" input_type="tel" testid="invite-phone"/>
                <SelectField label=Msg::FieldInstitution value=inst options=options errors=errors field="institution_id"
                    empty=Msg::ChooseOne required=true testid="invite-institution"/>
                <RoleChecks roles=chosen allowed=allowed.clone() errors=errors testid="invite-roles"/>
                <div class="button-row">
                    <SubmitButton label=Msg::CreateInvitation busy=busy testid="invite-submit"/>
                    <button type="button" class="secondary" on:click=move |_| close.set(Panel::Closed)>
                        {move || i18n.t(Msg::Close)}
                    </button>
                </div>
            </form>
        }
        .into_any(),
    }
    }
}

/// Invitations to the person's subtree, newest first.
#[component]
fn Invitations(version: RwSignal<u32>) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    // A failed revocation (someone revoked or accepted it meanwhile) is
    // shown above the list; the list then reloads to show why.
    let errors: Errors = RwSignal::new(None);
    let revoke = move |id: String| {
        spawn_local(async move {
            let r = api
                .post_empty::<Invitation>(&format!("{V1}/invitations/{id}/revoke"))
                .await;
            match r {
                Ok(_) => errors.set(None),
                Err(e) => errors.set(Some(e)),
            }
            version.update(|v| *v += 1);
        });
    };
    let list = LocalResource::new(move || {
        version.track();
        async move {
            api.get::<Vec<Invitation>>(&format!("{V1}/invitations"))
                .await
        }
    });
    view! {
        <section class="dash-section" data-testid="invitations">
            <h2>{move || i18n.t(Msg::InvitationsTitle)}</h2>
            <FormAlert errors=errors/>
            {move || match list.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                Some(Ok(l)) if l.is_empty() => view! {
                    <p class="muted">{move || i18n.t(Msg::NoInvitations)}</p>
                }.into_any(),
                Some(Ok(l)) => view! {
                    <ul class="person-cards">
                        {l.into_iter().map(|inv| {
                            let (cls, msg) = match inv.status {
                                InvitationStatus::Pending => ("badge badge-pending", Msg::InvitationPending),
                                InvitationStatus::Accepted => ("badge badge-ok", Msg::InvitationAccepted),
                                InvitationStatus::Expired => ("badge badge-bad", Msg::InvitationExpired),
                                InvitationStatus::Revoked => ("badge badge-bad", Msg::InvitationRevoked),
                            };
                            let id = inv.id.to_string();
                            let to: Vec<String> = [inv.email.clone(), inv.phone.clone()].into_iter().flatten().collect();
                            let created = local_time(inv.created_at.unix_timestamp());
                            let expires = local_time(inv.expires_at.unix_timestamp());
                            let by = inv.invited_by.clone();
                            view! {
                                <li class="card person-card" data-testid="invitation">
                                    <div class="person-head">
                                        <span class="person-name">{inv.display_name.clone()}</span>
                                        <span class=cls data-testid="invitation-status">{move || i18n.t(msg)}</span>
                                    </div>
                                    <div class="person-badges"><RoleBadges roles=inv.roles.clone()/></div>
                                    <div class="muted small">{inv.institution_name.clone()}</div>
                                    <div class="muted small">{to.join(" · ")}</div>
                                    <div class="muted small">
                                        {move || i18n.tf(Msg::InvitedByAt, &[("name", &by), ("time", &created)])}
                                        {(inv.status == InvitationStatus::Pending).then(|| {
                                            let expires = expires.clone();
                                            view! { " · "{move || i18n.tf(Msg::LinkExpires, &[("time", &expires)])} }
                                        })}
                                    </div>
                                    {(inv.status == InvitationStatus::Pending).then(|| view! {
                                        <div class="button-row">
                                            <button type="button" class="secondary small"
                                                data-testid="revoke-invitation"
                                                on:click=move |_| revoke(id.clone())>
                                                {move || i18n.t(Msg::RevokeInvitation)}
                                            </button>
                                        </div>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
        </section>
    }
}
