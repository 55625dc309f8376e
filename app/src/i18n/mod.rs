//! Languages of the interface: Chinese first, English second.
//!
//! Every visible string is a [`Msg`] key with its text in each language,
//! declared side by side in `catalog.rs`; a key without a translation does
//! not compile. The chosen language is a reactive signal in context, so
//! switching re-renders text in place without reloading, and is remembered
//! in `localStorage`.

mod catalog;

use leptos::prelude::*;

pub use catalog::Msg;

const STORAGE_KEY: &str = "jiliang.locale";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locale {
    ZhCn,
    En,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::ZhCn, Locale::En];

    /// BCP 47 tag, for `<html lang>` and `Accept-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::ZhCn => "zh-CN",
            Self::En => "en",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.tag() == tag)
    }

    /// The language's name in itself, for the switch.
    pub fn native_name(self) -> &'static str {
        match self {
            Self::ZhCn => "中文",
            Self::En => "English",
        }
    }
}

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

    /// Text with `{name}` placeholders filled in.
    pub fn tf(&self, msg: Msg, args: &[(&str, &str)]) -> String {
        let mut out = self.t(msg).to_owned();
        for (name, value) in args {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
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
