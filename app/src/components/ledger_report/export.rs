//! What a loaded export is: where it came from, its text, and why a text is not
//! one.

use jiliang_ledger::Bundle;
use leptos::prelude::*;

use crate::i18n::{Msg, use_i18n};

/// Where an export came from (shown, and naming a download).
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    File { name: String, size: u64 },
    Paste,
    Session { id: String, title: String },
    Record { kind: String, id: String },
}

impl Source {
    /// File name to save an export fetched from the server under.
    pub(super) fn download_name(&self) -> Option<String> {
        match self {
            Self::Session { id, .. } => Some(format!("jiliang-session-{id}.json")),
            Self::Record { kind, id } => Some(format!("jiliang-{kind}-{id}.json")),
            Self::File { .. } | Self::Paste => None,
        }
    }
}

/// An export read and parsed, ready to verify.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub bundle: Bundle,
    /// The text exactly as read or received.
    pub text: String,
    pub source: Source,
}

/// Why a text could not be taken as an export.
#[derive(Clone, Debug, PartialEq)]
pub enum ParseError {
    NotJson(String),
    WrongShape(String),
}

/// Parse a `jiliang-ledger-export/1` document. Everything inside is checked
/// by the verifier; this only needs the shape.
pub fn parse_export(text: &str) -> Result<Bundle, ParseError> {
    let text = text.trim_start_matches('\u{feff}');
    match serde_json::from_str::<Bundle>(text) {
        Ok(b) => Ok(b),
        Err(e) if e.is_syntax() || e.is_eof() => Err(ParseError::NotJson(e.to_string())),
        Err(e) => {
            // A JSON document of another shape, or not JSON at all.
            if serde_json::from_str::<serde_json::Value>(text).is_ok() {
                Err(ParseError::WrongShape(e.to_string()))
            } else {
                Err(ParseError::NotJson(e.to_string()))
            }
        }
    }
}

/// "This is not a Jiliang export", with why.
#[component]
pub fn ParseErrorBox(error: ParseError) -> impl IntoView {
    let i18n = use_i18n();
    let (msg, detail) = match error {
        ParseError::NotJson(d) => (Msg::VerifyNotJson, d),
        ParseError::WrongShape(d) => (Msg::VerifyWrongShape, d),
    };
    view! {
        <div class="error-box" role="alert" data-testid="verify-error">
            <p><strong>{move || i18n.t(Msg::VerifyNotExport)}</strong></p>
            <p>{move || i18n.t(msg)}</p>
            <p class="small">{move || i18n.t(Msg::TechnicalDetail)}": "<code class="mono">{detail}</code></p>
        </div>
    }
}
