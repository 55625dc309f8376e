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
            on:click=move |_| i18n.set_locale(other())
        >
            // The accessible name holds the visible text (what a voice
            // user says), after what the button does.
            <span class="visually-hidden">{move || i18n.t(Msg::SwitchLanguage)}": "</span>
            <span lang=move || other().tag()>{move || other().native_name()}</span>
        </button>
    }
}
