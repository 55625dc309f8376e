//! Languages of the interface: Chinese first, English second.
//!
//! Every visible string is a [`Msg`] key with its text in each language,
//! declared side by side in the catalogue of `jiliang_app_core::i18n`
//! (where host tests check that both languages of a key use the same
//! placeholders); a key without a translation does not compile. Here the
//! chosen language becomes a reactive signal in context, so switching
//! re-renders text in place without reloading, and is remembered in
//! `localStorage`.

use jiliang_app_core::i18n::fill;
use leptos::prelude::*;

pub use jiliang_app_core::i18n::{Locale, Msg};

const STORAGE_KEY: &str = "jiliang.locale";

#[derive(Clone, Copy)]
pub struct I18n {
    locale: RwSignal<Locale>,
}

impl I18n {
    pub fn locale(&self) -> Locale {
        self.locale.get()
    }

    /// The current language without subscribing to it (for requests).
    pub fn locale_untracked(&self) -> Locale {
        self.locale.get_untracked()
    }

    pub fn set_locale(&self, locale: Locale) {
        self.locale.set(locale);
    }

    /// Text of `msg` in the current language (tracks the language signal).
    pub fn t(&self, msg: Msg) -> &'static str {
        msg.text(self.locale.get())
    }

    /// Text with `{name}` placeholders filled in, in one pass: a value
    /// that itself reads like a placeholder is shown as it is.
    pub fn tf(&self, msg: Msg, args: &[(&str, &str)]) -> String {
        fill(self.t(msg), args)
    }
}

fn stored_locale() -> Option<Locale> {
    let storage = window().local_storage().ok()??;
    let tag = storage.get_item(STORAGE_KEY).ok()??;
    Locale::from_tag(&tag)
}

/// Create the language signal (Chinese unless the user chose otherwise),
/// keep `<html lang>` and storage in step with it, and put it in context.
pub fn provide_i18n() -> I18n {
    let i18n = I18n {
        locale: RwSignal::new(stored_locale().unwrap_or(Locale::ZhCn)),
    };
    Effect::new(move |_| {
        let locale = i18n.locale.get();
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("lang", locale.tag());
        }
        if let Ok(Some(storage)) = window().local_storage() {
            let _ = storage.set_item(STORAGE_KEY, locale.tag());
        }
        document().set_title(Msg::AppTitle.text(locale));
    });
    provide_context(i18n);
    i18n
}

pub fn use_i18n() -> I18n {
    expect_context::<I18n>()
}

/// A reactive text for views: `{t(Msg::Home)}`.
pub fn t(msg: Msg) -> impl Fn() -> &'static str + Copy + Send + Sync + 'static {
    let i18n = use_i18n();
    move || i18n.t(msg)
}
