//! Any path the router does not know.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::i18n::{Msg, t};

#[component]
pub fn NotFoundPage() -> impl IntoView {
    view! {
        <section class="empty-state" data-testid="not-found">
            <h1>{t(Msg::NotFoundTitle)}</h1>
            <p>{t(Msg::NotFoundText)}</p>
            <A href="/" attr:class="button">{t(Msg::BackHome)}</A>
        </section>
    }
}
