//! Adding people: create an account directly, or invite someone by a one-time
//! link.

use jiliang_protocol::accounts::{Invitation, NewInvitationRequest, NewUserRequest, Role, User};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::Panel;
use crate::api::{ApiError, V1, use_api};
use crate::components::forms::{
    Errors, FormAlert, RoleChecks, SelectField, SubmitButton, TextField, opt,
};
use crate::components::one_time_link::OneTimeLinkBox;
use crate::i18n::{Msg, use_i18n};
use crate::util::{local_time, parse_id};

#[component]
pub(super) fn CreateUserForm(
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
pub(super) fn InviteForm(
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
