//! `/invite/:token`: the invitee sees who they are invited as (name,
//! institution, roles), chooses a username and password, and is logged in.
//!
//! The token in the address is the credential; it is sent only to the
//! server. An expired link (410) and an unknown or used one (404) each get
//! their own explanation.

use jiliang_protocol::accounts::{AcceptInvitationRequest, Me, TokenInfo};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::{V1, encode, use_api};
use crate::components::badges::RoleBadges;
use crate::components::forms::{Errors, FormAlert, SubmitButton, TextField};
use crate::components::states::{ErrorBox, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::pages::reset::{LinkProblem, confirm_mismatch};
use crate::session::use_session;
use crate::util::local_time;

#[component]
pub fn InvitePage() -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let params = use_params_map();
    let token = params.with_untracked(|p| p.get("token").unwrap_or_default());
    let path = format!("{V1}/tokens/{}", encode(&token));
    let info = LocalResource::new(move || {
        let path = path.clone();
        async move { api.get::<TokenInfo>(&path).await }
    });
    view! {
        <section class="narrow">
            {move || match info.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) if matches!(e.status(), Some(404 | 410)) => view! {
                    <LinkProblem error=e/>
                }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e retry=Callback::new(move |_| info.refetch())/> }.into_any(),
                Some(Ok(t)) if t.purpose != "invite" => view! {
                    <h1>{move || i18n.t(Msg::LinkInvalidTitle)}</h1>
                    <p>{move || i18n.t(Msg::NotAnInvitation)}</p>
                }.into_any(),
                Some(Ok(t)) => view! { <AcceptForm token=token.clone() info=t/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn AcceptForm(token: String, info: TokenInfo) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let session = use_session();
    let navigate = use_navigate();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let path = format!("{V1}/invitations/{}/accept", encode(&token));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if password.get_untracked() != confirm.get_untracked() {
            errors.set(Some(confirm_mismatch(i18n, "confirm")));
            return;
        }
        let body = AcceptInvitationRequest {
            username: username.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
        };
        busy.set(true);
        errors.set(None);
        let path = path.clone();
        let navigate = navigate.clone();
        spawn_local(async move {
            let r = api.post::<_, Me>(&path, &body).await;
            busy.set(false);
            match r {
                Ok(me) => {
                    crate::offline::forget_cached_data();
                    session.set_me(me);
                    navigate("/", Default::default());
                }
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    let expires = local_time(info.expires_at.unix_timestamp());
    view! {
        <h1>{move || i18n.t(Msg::InviteTitle)}</h1>
        <div class="card" data-testid="invite-info">
            <p>{move || i18n.t(Msg::InviteWelcome)}</p>
            <dl class="facts">
                <dt>{move || i18n.t(Msg::FieldDisplayName)}</dt>
                <dd data-testid="invite-display-name">{info.display_name.clone()}</dd>
                <dt>{move || i18n.t(Msg::FieldInstitution)}</dt>
                <dd data-testid="invite-institution">{info.institution_name.clone()}</dd>
                <dt>{move || i18n.t(Msg::FieldRoles)}</dt>
                <dd><RoleBadges roles=info.roles.clone()/></dd>
                <dt>{move || i18n.t(Msg::LinkValidUntil)}</dt>
                <dd>{expires}</dd>
            </dl>
        </div>
        <form class="card form" on:submit=submit data-testid="accept-form" novalidate>
            <h2>{move || i18n.t(Msg::ChooseCredentials)}</h2>
            <FormAlert errors=errors fields=&["username", "password", "confirm"]/>
            <TextField label=Msg::FieldUsername value=username errors=errors field="username" required=true
                autocomplete="username" hint=Msg::UsernameRules testid="accept-username"/>
            <TextField label=Msg::FieldNewPassword value=password errors=errors field="password" required=true
                input_type="password" autocomplete="new-password" hint=Msg::PasswordRules testid="accept-password"/>
            <TextField label=Msg::FieldConfirmPassword value=confirm errors=errors field="confirm" required=true
                input_type="password" autocomplete="new-password" testid="accept-confirm"/>
            <SubmitButton label=Msg::AcceptInvitation busy=busy testid="accept-submit"/>
        </form>
    }
}
