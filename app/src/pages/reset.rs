//! `/reset/:token`: choose a new password with a reset link from an
//! administrator, then log in.

use jiliang_protocol::accounts::{SetPasswordRequest, TokenInfo};
use jiliang_protocol::{ErrorBody, FieldError};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::api::{ApiError, V1, encode, use_api};
use crate::components::forms::{Errors, FormAlert, SubmitButton, TextField};
use crate::components::states::{ErrorBox, Loading};
use crate::i18n::{I18n, Msg, use_i18n};

/// A client-side "the two entries differ" error, shaped like the server's
/// so the form shows it the same way.
pub fn confirm_mismatch(i18n: I18n, field: &str) -> ApiError {
    let message = i18n.t(Msg::PasswordsDiffer).to_owned();
    ApiError::Server {
        status: 422,
        body: ErrorBody {
            code: "invalid_input".into(),
            message: message.clone(),
            details: vec![FieldError {
                field: field.to_owned(),
                message,
            }],
        },
    }
}

/// Why a one-time link cannot be used: no longer valid (410: expired,
/// revoked, replaced by a newer one, or its sender may no longer invite —
/// the server's message says which) or unknown/used (404).
#[component]
pub fn LinkProblem(error: ApiError) -> impl IntoView {
    let i18n = use_i18n();
    let expired = error.status() == Some(410);
    view! {
        <div class="empty-state" data-testid=if expired { "link-expired" } else { "link-invalid" }>
            <h1>{move || i18n.t(if expired { Msg::LinkExpiredTitle } else { Msg::LinkInvalidTitle })}</h1>
            <p>{error.message(i18n)}</p>
            <p class="muted">{move || i18n.t(if expired { Msg::LinkExpiredHelp } else { Msg::LinkInvalidHelp })}</p>
            <A href="/login" attr:class="button">{move || i18n.t(Msg::GoToLogin)}</A>
        </div>
    }
}

#[component]
pub fn ResetPage() -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let params = use_params_map();
    let token = params.with_untracked(|p| p.get("token").unwrap_or_default());
    let path = format!("{V1}/tokens/{}", encode(&token));
    let info = LocalResource::new(move || {
        let path = path.clone();
        async move { api.get::<TokenInfo>(&path).await }
    });
    let done = RwSignal::new(false);
    view! {
        <section class="narrow">
            {move || {
                if done.get() {
                    return view! {
                        <div class="empty-state" data-testid="reset-done">
                            <h1>{move || i18n.t(Msg::PasswordSetTitle)}</h1>
                            <p>{move || i18n.t(Msg::PasswordSetText)}</p>
                            <A href="/login" attr:class="button">{move || i18n.t(Msg::GoToLogin)}</A>
                        </div>
                    }.into_any();
                }
                match info.get() {
                    None => view! { <Loading/> }.into_any(),
                    Some(Err(e)) if matches!(e.status(), Some(404 | 410)) => view! { <LinkProblem error=e/> }.into_any(),
                    Some(Err(e)) => view! { <ErrorBox error=e retry=Callback::new(move |_| info.refetch())/> }.into_any(),
                    Some(Ok(t)) if t.purpose != "reset" => view! {
                        <h1>{move || i18n.t(Msg::LinkInvalidTitle)}</h1>
                        <p>{move || i18n.t(Msg::NotAResetLink)}</p>
                    }.into_any(),
                    Some(Ok(t)) => view! { <ResetForm token=token.clone() info=t done=done/> }.into_any(),
                }
            }}
        </section>
    }
}

#[component]
fn ResetForm(token: String, info: TokenInfo, done: RwSignal<bool>) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let path = format!("{V1}/password-resets/{}", encode(&token));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if password.get_untracked() != confirm.get_untracked() {
            errors.set(Some(confirm_mismatch(i18n, "confirm")));
            return;
        }
        let body = SetPasswordRequest {
            password: password.get_untracked(),
        };
        busy.set(true);
        errors.set(None);
        let path = path.clone();
        spawn_local(async move {
            let r = api.post::<_, ()>(&path, &body).await;
            busy.set(false);
            match r {
                Ok(()) => done.set(true),
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    let who = format!(
        "{} ({})",
        info.display_name,
        info.username.clone().unwrap_or_default()
    );
    view! {
        <h1>{move || i18n.t(Msg::ResetTitle)}</h1>
        <p data-testid="reset-who">{move || i18n.tf(Msg::ResetFor, &[("name", &who)])}</p>
        <form class="card form" on:submit=submit data-testid="reset-password-form" novalidate>
            <FormAlert errors=errors fields=&["password", "confirm"]/>
            <TextField label=Msg::FieldNewPassword value=password errors=errors field="password" required=true
                input_type="password" autocomplete="new-password" hint=Msg::PasswordRules testid="reset-password"/>
            <TextField label=Msg::FieldConfirmPassword value=confirm errors=errors field="confirm" required=true
                input_type="password" autocomplete="new-password" testid="reset-confirm"/>
            <SubmitButton label=Msg::SetPassword busy=busy testid="reset-submit"/>
        </form>
    }
}
