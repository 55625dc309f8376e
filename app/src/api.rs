//! Typed calls to the server's REST API.
//!
//! The browser's `fetch`, wrapped: requests carry the interface language so
//! error messages come back in it, and non-2xx answers are decoded into the
//! server's `{code, message, details}` document so forms can show each
//! rejected field next to its input.
//!
//! Two layers:
//! - free functions ([`get`], [`get_any`]) for the public, session-less
//!   documents (health, readiness);
//! - [`Api`], a `Copy` handle taken from context in components, for
//!   everything under `/api/v1`. It adds the session's CSRF token to every
//!   state-changing request and notices when the session has ended (a 401
//!   while the client believed it was logged in), so that every page
//!   returns the person to the login page the same way.
//!
//! The CSRF token only ever lives in memory (the session signal); it is
//! never written to storage, where any script on the origin could read it
//! back later.

use jiliang_protocol::accounts::Me;
use jiliang_protocol::sessions::{SessionInfo, SessionListParams, SessionState};
use jiliang_protocol::{ErrorBody, FieldError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

use crate::i18n::{I18n, use_i18n};
use crate::session::{Session, use_session};

/// Prefix of every REST endpoint.
pub const V1: &str = "/api/v1";

#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// The server could not be reached at all.
    Network(String),
    /// The server answered with an error document.
    Server { status: u16, body: ErrorBody },
    /// The answer was not what this client understands.
    Decode(String),
}

impl ApiError {
    /// A message for people (already in their language when it came from
    /// the server).
    pub fn message(&self) -> String {
        match self {
            Self::Network(m) | Self::Decode(m) => m.clone(),
            Self::Server { body, .. } => body.message.clone(),
        }
    }

    /// HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Server { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The per-field problems of a validation failure.
    pub fn details(&self) -> &[FieldError] {
        match self {
            Self::Server { body, .. } => &body.details,
            _ => &[],
        }
    }

    /// Messages the server gave for `field`.
    pub fn field_messages(&self, field: &str) -> Vec<String> {
        self.details()
            .iter()
            .filter(|d| d.field == field)
            .map(|d| d.message.clone())
            .collect()
    }
}

fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|err| String::from(err.message()))
        })
        .unwrap_or_else(|| "network error".to_owned())
}

async fn send(
    method: &str,
    path: &str,
    lang: &str,
    body: Option<&str>,
    csrf: Option<&str>,
) -> Result<(u16, String), ApiError> {
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
    }
    let req =
        Request::new_with_str_and_init(path, &init).map_err(|e| ApiError::Network(js_err(e)))?;
    let headers = req.headers();
    let _ = headers.set("Accept", "application/json");
    let _ = headers.set("Accept-Language", lang);
    if body.is_some() {
        let _ = headers.set("Content-Type", "application/json");
    }
    if let Some(token) = csrf {
        let _ = headers.set("X-CSRF-Token", token);
    }
    let window = web_sys::window().ok_or_else(|| ApiError::Network("no window".into()))?;
    let resp: Response = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(|e| ApiError::Network(js_err(e)))?
        .dyn_into()
        .map_err(|_| ApiError::Decode("fetch did not return a Response".into()))?;
    let text_promise = resp.text().map_err(|e| ApiError::Network(js_err(e)))?;
    let text = JsFuture::from(text_promise)
        .await
        .map_err(|e| ApiError::Network(js_err(e)))?
        .as_string()
        .unwrap_or_default();
    Ok((resp.status(), text))
}

fn decode<T: DeserializeOwned>(status: u16, text: &str) -> Result<T, ApiError> {
    if (200..300).contains(&status) {
        // A 204 has no body; `()` and `Option<_>` accept JSON `null`.
        let text = if text.trim().is_empty() { "null" } else { text };
        serde_json::from_str(text).map_err(|e| ApiError::Decode(e.to_string()))
    } else {
        Err(server_error(status, text))
    }
}

/// GET a public JSON document. Error statuses whose body is a JSON error
/// document (as `/readyz` answers 503 with its checks) can be read with
/// [`get_any`].
pub async fn get<T: DeserializeOwned>(path: &str, lang: &str) -> Result<T, ApiError> {
    let (status, text) = send("GET", path, lang, None, None).await?;
    decode(status, &text)
}

/// GET a document that the server sends with success and failure statuses alike.
pub async fn get_any<T: DeserializeOwned>(path: &str, lang: &str) -> Result<(u16, T), ApiError> {
    let (status, text) = send("GET", path, lang, None, None).await?;
    match serde_json::from_str(&text) {
        Ok(v) => Ok((status, v)),
        Err(_) if !(200..300).contains(&status) => Err(server_error(status, &text)),
        Err(e) => Err(ApiError::Decode(e.to_string())),
    }
}

fn server_error(status: u16, text: &str) -> ApiError {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => ApiError::Server { status, body },
        Err(_) => ApiError::Server {
            status,
            body: ErrorBody {
                code: "http_error".into(),
                message: format!("HTTP {status}"),
                details: Vec::new(),
            },
        },
    }
}

/// The API client for pages: language, CSRF token and session expiry
/// handled in one place.
#[derive(Clone, Copy)]
pub struct Api {
    i18n: I18n,
    session: Session,
}

pub fn use_api() -> Api {
    Api {
        i18n: use_i18n(),
        session: use_session(),
    }
}

impl Api {
    pub fn new(i18n: I18n, session: Session) -> Self {
        Self { i18n, session }
    }

    async fn call<T: DeserializeOwned>(
        self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<T, ApiError> {
        let lang = self.i18n.locale_untracked().tag();
        let csrf = if method == "GET" {
            None
        } else {
            self.session.csrf_untracked()
        };
        let (status, text) = send(method, path, lang, body.as_deref(), csrf.as_deref()).await?;
        let result = decode(status, &text);
        if status == 401 && self.session.logged_in_untracked() {
            self.check_session_after_401().await;
        }
        result
    }

    /// Ask the server whether a session exists (at start) and tell the
    /// session what it said.
    pub fn check_session(self) {
        leptos::task::spawn_local(async move {
            // 401 simply means "not logged in"; any other failure (server
            // unreachable) is shown by the pages' own requests.
            let found = self.get::<Me>(&format!("{V1}/auth/me")).await.ok();
            self.session.first_check(found);
        });
    }

    /// A 401 while logged in usually means the session is over (idle
    /// timeout, deactivated, password reset by an administrator). One
    /// endpoint also answers 401 for a wrong *current* password, so ask the
    /// server who we are before deciding.
    async fn check_session_after_401(self) {
        let lang = self.i18n.locale_untracked().tag();
        match send("GET", &format!("{V1}/auth/me"), lang, None, None).await {
            Ok((200, text)) => {
                if let Ok(me) = serde_json::from_str::<Me>(&text) {
                    self.session.set_me(me);
                }
            }
            Ok((401, _)) => self.session.end(),
            // Network trouble says nothing about the session; keep it.
            _ => {}
        }
    }

    pub async fn get<T: DeserializeOwned>(self, path: &str) -> Result<T, ApiError> {
        self.call("GET", path, None).await
    }

    /// GET `path` with the query string of `params`, one of the query
    /// types the server reads (`jiliang_protocol`): a renamed field fails
    /// to compile here rather than silently not filtering.
    pub async fn get_query<Q: Serialize, T: DeserializeOwned>(
        self,
        path: &str,
        params: &Q,
    ) -> Result<T, ApiError> {
        let url = with_query(path, params).map_err(|e| ApiError::Decode(e.to_string()))?;
        self.get(&url).await
    }

    /// `GET /sessions` in one state (newest start first), the list several
    /// pages show.
    pub async fn sessions_in(
        self,
        state: SessionState,
        limit: i64,
    ) -> Result<Vec<SessionInfo>, ApiError> {
        let params = SessionListParams {
            state: Some(state),
            limit: Some(limit),
            ..SessionListParams::default()
        };
        self.get_query(&format!("{V1}/sessions"), &params).await
    }

    /// GET a document as the exact text the server sent (a ledger export
    /// is saved and verified byte for byte, not re-encoded).
    pub async fn get_text(self, path: &str) -> Result<String, ApiError> {
        let lang = self.i18n.locale_untracked().tag();
        let (status, text) = send("GET", path, lang, None, None).await?;
        if status == 401 && self.session.logged_in_untracked() {
            self.check_session_after_401().await;
        }
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            Err(server_error(status, &text))
        }
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let body = serde_json::to_string(body).map_err(|e| ApiError::Decode(e.to_string()))?;
        self.call("POST", path, Some(body)).await
    }

    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let body = serde_json::to_string(body).map_err(|e| ApiError::Decode(e.to_string()))?;
        self.call("PATCH", path, Some(body)).await
    }

    pub async fn put<B: Serialize, T: DeserializeOwned>(
        self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let body = serde_json::to_string(body).map_err(|e| ApiError::Decode(e.to_string()))?;
        self.call("PUT", path, Some(body)).await
    }

    /// DELETE (revoking a device token, detaching a device); answers the
    /// document the server sends back.
    pub async fn delete<T: DeserializeOwned>(self, path: &str) -> Result<T, ApiError> {
        self.call("DELETE", path, None).await
    }

    /// POST without a body (logout, issuing a reset link).
    pub async fn post_empty<T: DeserializeOwned>(self, path: &str) -> Result<T, ApiError> {
        self.call("POST", path, None).await
    }
}

/// Query strings (from the shared query types) and URL components,
/// encoded as `encodeURIComponent` does; tested on the host.
pub use jiliang_app_core::query::{encode, with_query};
