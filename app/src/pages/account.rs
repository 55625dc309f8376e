//! `/account`: the person's own profile (name, e-mail, phone) and password.

use jiliang_protocol::accounts::{ChangePasswordRequest, UpdateUserRequest, User};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{ApiError, V1, use_api};
use crate::components::badges::RoleBadges;
use crate::components::forms::{Errors, FormAlert, Notice, SubmitButton, TextField};
use crate::i18n::{Msg, use_i18n};
use crate::pages::reset::confirm_mismatch;
use crate::session::use_session;
use crate::util::inst_name;

#[component]
pub fn AccountPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let Some(me) = session.me_untracked() else {
        return ().into_any();
    };
    let inst = me.institution.clone();
    view! {
        <div class="page-head">
            <h1>{move || i18n.t(Msg::AccountTitle)}</h1>
            <p class="muted">
                <span class="mono">{me.user.username.clone()}</span>" · "
                {move || inst_name(&inst, i18n.locale())}" "
                <RoleBadges roles=me.user.roles.clone()/>
            </p>
        </div>
        <div class="cards two">
            <ProfileForm user=me.user.clone()/>
            <PasswordForm/>
        </div>
    }
    .into_any()
}

#[component]
fn ProfileForm(user: User) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let session = use_session();
    let name = RwSignal::new(user.display_name.clone());
    let email = RwSignal::new(user.email.clone().unwrap_or_default());
    let phone = RwSignal::new(user.phone.clone().unwrap_or_default());
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let saved = RwSignal::new(None::<String>);
    let current = StoredValue::new(user);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let before = current.get_value();
        let changed = |new: String, old: &str| (new.trim() != old).then_some(new);
        let body = UpdateUserRequest {
            display_name: changed(name.get_untracked(), &before.display_name),
            email: changed(email.get_untracked(), before.email.as_deref().unwrap_or("")),
            phone: changed(phone.get_untracked(), before.phone.as_deref().unwrap_or("")),
            ..Default::default()
        };
        saved.set(None);
        if body == UpdateUserRequest::default() {
            saved.set(Some(i18n.t(Msg::NothingChanged).to_owned()));
            return;
        }
        busy.set(true);
        errors.set(None);
        let path = format!("{V1}/users/{}", before.id);
        spawn_local(async move {
            let r = api.patch::<_, User>(&path, &body).await;
            busy.set(false);
            match r {
                Ok(u) => {
                    current.set_value(u.clone());
                    session.update_user(u);
                    saved.set(Some(i18n.t(Msg::ProfileSaved).to_owned()));
                }
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    view! {
        <form class="card form" on:submit=submit data-testid="profile-form" novalidate>
            <h2>{move || i18n.t(Msg::ProfileTitle)}</h2>
            <Notice text=saved.into()/>
            <FormAlert errors=errors fields=&["display_name", "email", "phone"]/>
            <TextField label=Msg::FieldDisplayName value=name errors=errors field="display_name" required=true
                autocomplete="name" testid="profile-name"/>
            <TextField label=Msg::FieldEmail value=email errors=errors field="email" input_type="email"
                autocomplete="email" testid="profile-email"/>
            <TextField label=Msg::FieldPhone value=phone errors=errors field="phone" input_type="tel"
                autocomplete="tel" testid="profile-phone"/>
            <SubmitButton label=Msg::Save busy=busy testid="profile-save"/>
        </form>
    }
}

#[component]
fn PasswordForm() -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let saved = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(None);
        if new.get_untracked() != confirm.get_untracked() {
            errors.set(Some(confirm_mismatch(i18n, "confirm")));
            return;
        }
        let body = ChangePasswordRequest {
            current_password: current.get_untracked(),
            new_password: new.get_untracked(),
        };
        busy.set(true);
        errors.set(None);
        spawn_local(async move {
            let r = api
                .post::<_, ()>(&format!("{V1}/auth/password"), &body)
                .await;
            busy.set(false);
            match r {
                Ok(()) => {
                    for s in [current, new, confirm] {
                        s.set(String::new());
                    }
                    saved.set(Some(i18n.t(Msg::PasswordChanged).to_owned()));
                }
                // The server names the new password's field `password`,
                // and a wrong current password comes as a 401 without
                // details: point both at the right inputs.
                Err(e) => errors.set(Some(retarget(e))),
            }
        });
    };
    view! {
        <form class="card form" on:submit=submit data-testid="password-form" novalidate>
            <h2>{move || i18n.t(Msg::ChangePassword)}</h2>
            <Notice text=saved.into()/>
            <FormAlert errors=errors fields=&["current_password", "new_password", "confirm"]/>
            <TextField label=Msg::FieldCurrentPassword value=current errors=errors field="current_password" required=true
                input_type="password" autocomplete="current-password" testid="current-password"/>
            <TextField label=Msg::FieldNewPassword value=new errors=errors field="new_password" required=true
                input_type="password" autocomplete="new-password" hint=Msg::PasswordRules testid="new-password"/>
            <TextField label=Msg::FieldConfirmPassword value=confirm errors=errors field="confirm" required=true
                input_type="password" autocomplete="new-password" testid="confirm-password"/>
            <SubmitButton label=Msg::ChangePassword busy=busy testid="password-save"/>
        </form>
    }
}

fn retarget(e: ApiError) -> ApiError {
    match e {
        ApiError::Server { status, mut body } => {
            for d in &mut body.details {
                if d.field == "password" {
                    d.field = "new_password".into();
                }
            }
            if status == 401 && body.details.is_empty() {
                body.details.push(jiliang_protocol::FieldError {
                    field: "current_password".into(),
                    message: body.message.clone(),
                });
            }
            ApiError::Server { status, body }
        }
        other => other,
    }
}
