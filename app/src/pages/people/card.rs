//! One person's card and the forms that act on them: edit, activate or
//! deactivate, reset the password.

use jiliang_protocol::accounts::{OneTimeLink, Role, UpdateUserRequest, User};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{V1, use_api};
use crate::components::badges::{InactiveBadge, RoleBadges};
use crate::components::forms::{
    Errors, FormAlert, RoleChecks, SelectField, SubmitButton, TextField,
};
use crate::components::one_time_link::OneTimeLinkBox;
use crate::i18n::{Msg, use_i18n};
use crate::util::{local_time, parse_id};

/// One person, with an administrator's actions.
#[component]
pub(super) fn PersonCard(
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

pub(super) fn cancel(close: Callback<()>, label: Msg) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <button type="button" class="secondary" on:click=move |_| close.run(())>{move || i18n.t(label)}</button>
    }
}

#[component]
pub(super) fn EditPersonForm(
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
pub(super) fn TogglePersonForm(
    user: User,
    done: Callback<User>,
    close: Callback<()>,
) -> impl IntoView {
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
pub(super) fn ResetForm(user: User, close: Callback<()>) -> impl IntoView {
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
