//! Language of the messages the server writes for people.
//!
//! Error messages follow the language the person chose in the interface.
//! The web app says it on every request: HTTP calls carry it as
//! `Accept-Language` (the app sets the header itself, so the browser's own
//! list never wins over the UI), and the room socket, whose handshake a page
//! cannot give headers, as `?lang=` on its URL and `lang` in its `join`
//! frame. Order: the `lang` query parameter, then `Accept-Language`, then
//! Chinese, because the product is Chinese first.
//!
//! The chosen language is kept in a task-local for the duration of the
//! request (or of the socket), so an error created deep inside a handler (or
//! by an extractor) is rendered in the caller's language without threading
//! the request through every function. A socket may change it once open
//! ([`set_current`], from its `join` frame).

use std::borrow::Cow;
use std::cell::Cell;
use std::future::Future;

use axum::extract::Request;
use axum::http::header::ACCEPT_LANGUAGE;
use axum::middleware::Next;
use axum::response::Response;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

/// A message in both languages. Every text meant for a person is written
/// twice, side by side, so a missing translation is a compile error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub zh: Cow<'static, str>,
    pub en: Cow<'static, str>,
}

impl Text {
    pub const fn new(zh: &'static str, en: &'static str) -> Self {
        Self {
            zh: Cow::Borrowed(zh),
            en: Cow::Borrowed(en),
        }
    }

    pub fn owned(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            zh: Cow::Owned(zh.into()),
            en: Cow::Owned(en.into()),
        }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }
}

tokio::task_local! {
    // A cell: a room socket switches to the language its `join` frame names
    // without leaving the scope its upgrade request opened.
    static LANG: Cell<Lang>;
}

/// The language of the request being served (Chinese outside a request).
pub fn current() -> Lang {
    LANG.try_with(Cell::get).unwrap_or_default()
}

/// Change the current language for the rest of this scope (no effect
/// outside one).
pub fn set_current(lang: Lang) {
    let _ = LANG.try_with(|l| l.set(lang));
}

/// Run `fut` with `lang` as the current language.
pub async fn scope<F: Future>(lang: Lang, fut: F) -> F::Output {
    LANG.scope(Cell::new(lang), fut).await
}

/// Middleware: pick the language from the `lang` query parameter, else
/// from `Accept-Language`.
pub async fn negotiate(req: Request, next: Next) -> Response {
    let lang = req
        .uri()
        .query()
        .and_then(query_lang)
        .or_else(|| {
            req.headers()
                .get(ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(parse_accept_language)
        })
        .unwrap_or_default();
    scope(lang, next.run(req)).await
}

/// The language a `lang=` query parameter names, if it names one we speak.
fn query_lang(query: &str) -> Option<Lang> {
    query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("lang="))
        .find_map(parse_tag)
}

/// One language tag (`zh`, `zh-CN`, `en`, `en-GB`, any case); `None` for a
/// language we do not speak.
pub fn parse_tag(tag: &str) -> Option<Lang> {
    let tag = tag.trim().to_ascii_lowercase();
    if tag == "zh" || tag.starts_with("zh-") {
        Some(Lang::Zh)
    } else if tag == "en" || tag.starts_with("en-") {
        Some(Lang::En)
    } else {
        None
    }
}

/// Highest-weighted language we speak; Chinese when nothing matches.
pub fn parse_accept_language(header: &str) -> Lang {
    let mut best: Option<(f32, Lang)> = None;
    for part in header.split(',') {
        let mut pieces = part.trim().split(';');
        let tag = pieces.next().unwrap_or("");
        let q = pieces
            .find_map(|p| p.trim().strip_prefix("q=").map(str::parse::<f32>))
            .and_then(Result::ok)
            .unwrap_or(1.0);
        let Some(lang) = parse_tag(tag) else {
            continue;
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, l)| l).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_negotiation() {
        assert_eq!(parse_accept_language("en-US,en;q=0.9"), Lang::En);
        assert_eq!(parse_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(parse_accept_language("fr-FR, en;q=0.5"), Lang::En);
        assert_eq!(parse_accept_language("en;q=0.3, zh-TW;q=0.7"), Lang::Zh);
        assert_eq!(parse_accept_language("de"), Lang::Zh);
        assert_eq!(parse_accept_language("en;q=0"), Lang::Zh);
        assert_eq!(parse_accept_language(""), Lang::Zh);
    }

    #[test]
    fn query_parameter_names_the_language() {
        assert_eq!(query_lang("lang=en"), Some(Lang::En));
        assert_eq!(query_lang("a=1&lang=en-GB&b=2"), Some(Lang::En));
        assert_eq!(query_lang("lang=zh-CN"), Some(Lang::Zh));
        assert_eq!(query_lang("lang=fr"), None);
        assert_eq!(query_lang("slang=en"), None);
        assert_eq!(query_lang(""), None);
    }

    #[tokio::test]
    async fn scope_sets_current_language() {
        assert_eq!(current(), Lang::Zh);
        assert_eq!(scope(Lang::En, async { current() }).await, Lang::En);
        let switched = scope(Lang::Zh, async {
            set_current(Lang::En);
            current()
        })
        .await;
        assert_eq!(switched, Lang::En);
        set_current(Lang::En);
        assert_eq!(current(), Lang::Zh, "outside a scope nothing changes");
    }
}
