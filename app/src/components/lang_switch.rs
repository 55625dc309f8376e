//! The language switch: one button that toggles between Chinese and English,
//! labelled with the *other* language's own name so a reader of either can
//! find it.

use leptos::prelude::*;

use crate::i18n::{Locale, Msg, use_i18n};

#[component]
pub fn LangSwitch() -> impl IntoView {
    let i18n = use_i18n();
    let other = move || match i18n.locale() {
        Locale::ZhCn => Locale::En,
        Locale::En => Locale::ZhCn,
    };
    view! {
        <button
            type="button"
            class="lang-switch"
            data-testid="lang-switch"
            title=move || i18n.t(Msg::SwitchLanguage)
            aria-label=move || i18n.t(Msg::SwitchLanguage)
            lang=move || other().tag()
            on:click=move |_| i18n.set_locale(other())
        >
            {move || other().native_name()}
        </button>
    }
}
