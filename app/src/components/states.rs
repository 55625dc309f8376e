//! What a page shows while it waits, when it may not look, when the thing
//! is not there, and when the server could not be asked.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::ApiError;
use crate::i18n::{Msg, use_i18n};

#[component]
pub fn Loading() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <p class="loading" role="status" aria-live="polite" data-testid="loading">
            <span class="spinner" aria-hidden="true"></span>
            {move || i18n.t(Msg::Loading)}
        </p>
    }
}

/// 403: the thing exists but is not this person's to see.
#[component]
pub fn Forbidden(#[prop(optional)] message: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="empty-state" data-testid="forbidden">
            <h1>{move || i18n.t(Msg::ForbiddenTitle)}</h1>
            <p>{move || i18n.t(Msg::ForbiddenText)}</p>
            {message.map(|m| view! { <p class="muted">{m}</p> })}
            <A href="/" attr:class="button">{move || i18n.t(Msg::BackHome)}</A>
        </section>
    }
}

/// 404 for a thing a page asked for (an institution, a link).
#[component]
pub fn Missing(#[prop(optional)] message: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="empty-state" data-testid="not-found">
            <h1>{move || i18n.t(Msg::MissingTitle)}</h1>
            <p>{message.unwrap_or_else(|| i18n.t(Msg::NotFoundText).to_owned())}</p>
            <A href="/" attr:class="button">{move || i18n.t(Msg::BackHome)}</A>
        </section>
    }
}

/// Any other failure, with the server's explanation and a retry.
#[component]
pub fn ErrorBox(error: ApiError, #[prop(optional)] retry: Option<Callback<()>>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="error-box" role="alert" data-testid="load-error">
            <p>
                <strong>{move || i18n.t(Msg::LoadFailed)}</strong>
                " "
                {move || error.message(i18n)}
            </p>
            {retry.map(|r| view! {
                <button type="button" class="secondary" on:click=move |_| r.run(())>
                    {move || i18n.t(Msg::Retry)}
                </button>
            })}
        </div>
    }
}

/// The right page-level view for a failed load: 403, 404 or the error.
pub fn failure_view(error: ApiError, retry: Option<Callback<()>>) -> AnyView {
    let i18n = use_i18n();
    match error.status() {
        Some(403) => view! { <Forbidden message=error.message(i18n)/> }.into_any(),
        Some(404) => view! { <Missing message=error.message(i18n)/> }.into_any(),
        _ => match retry {
            Some(r) => view! { <ErrorBox error=error retry=r/> }.into_any(),
            None => view! { <ErrorBox error=error/> }.into_any(),
        },
    }
}
