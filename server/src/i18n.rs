//! Language of the messages the server writes for people.
//!
//! Error messages are chosen per request from `Accept-Language`; Chinese is
//! the default because the product is Chinese first. The chosen language is
//! kept in a task-local for the duration of the request, so an error created
//! deep inside a handler (or by an extractor) is rendered in the caller's
//! language without threading the request through every function.

use std::borrow::Cow;
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
    static LANG: Lang;
}

/// The language of the request being served (Chinese outside a request).
pub fn current() -> Lang {
    LANG.try_with(|l| *l).unwrap_or_default()
}

/// Run `fut` with `lang` as the current language.
pub async fn scope<F: Future>(lang: Lang, fut: F) -> F::Output {
    LANG.scope(lang, fut).await
}

/// Middleware: pick the language from `Accept-Language`.
pub async fn negotiate(req: Request, next: Next) -> Response {
    let lang = req
        .headers()
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(parse_accept_language)
        .unwrap_or_default();
    scope(lang, next.run(req)).await
}

/// Highest-weighted language we speak; Chinese when nothing matches.
pub fn parse_accept_language(header: &str) -> Lang {
    let mut best: Option<(f32, Lang)> = None;
    for part in header.split(',') {
        let mut pieces = part.trim().split(';');
        let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .find_map(|p| p.trim().strip_prefix("q=").map(str::parse::<f32>))
            .and_then(Result::ok)
            .unwrap_or(1.0);
        let lang = if tag == "zh" || tag.starts_with("zh-") {
            Lang::Zh
        } else if tag == "en" || tag.starts_with("en-") {
            Lang::En
        } else {
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

    #[tokio::test]
    async fn scope_sets_current_language() {
        assert_eq!(current(), Lang::Zh);
        assert_eq!(scope(Lang::En, async { current() }).await, Lang::En);
    }
}
