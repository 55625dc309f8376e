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

use crate::i18n::{I18n, Msg, use_i18n};
use crate::session::{Session, use_session};

/// Prefix of every REST endpoint.
pub const V1: &str = "/api/v1";

#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// The server could not be reached at all. The browser's own words
    /// ("Failed to fetch", in English whatever the interface says) are
    /// kept for the console, never shown.
    Network(String),
    /// The server answered with an error document.
    Server { status: u16, body: ErrorBody },
    /// The answer was not what this client understands (the parser's words
    /// are kept for the console).
    Decode(String),
    /// Something the browser refused here (a download), said in the
    /// catalogue's words.
    Local(Msg),
}

impl ApiError {
    /// A message for people, in the interface's language: the server's own
    /// (already in that language, asked for with `Accept-Language`) or the
    /// catalogue's for a failure the server never saw.
    pub fn message(&self, i18n: I18n) -> String {
        match self {
            Self::Network(_) => i18n.t(Msg::ErrNetwork).to_owned(),
            Self::Decode(_) => i18n.t(Msg::ErrBadAnswer).to_owned(),
            Self::Local(msg) => i18n.t(*msg).to_owned(),
            // No error document (a proxy's page, a crash): the status says
            // what little there is to say.
            Self::Server { status, body } if body.code == HTTP_ERROR => {
                i18n.tf(Msg::ErrHttp, &[("status", &status.to_string())])
            }
            Self::Server { body, .. } => body.message.clone(),
        }
    }

    /// The server was not reached (or its answer not read): nothing it
    /// said, only the link.
    pub fn is_network(&self) -> bool {
        matches!(self, Self::Network(_))
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

/// The code of an error answer that carried no error document.
const HTTP_ERROR: &str = "http_error";

/// The browser's words for a failed request, for the console (people see
/// the catalogue's [`Msg::ErrNetwork`]).
fn js_err(e: JsValue) -> String {
    let raw = e
        .as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|err| String::from(err.message()))
        })
        .unwrap_or_else(|| "network error".to_owned());
    leptos::logging::warn!("request failed: {raw}");
    raw
}

/// The answer to a GET of `path` that the page's bootstrap script
/// (`index.html`) started before the app had loaded, if one is waiting:
/// each is taken once, and only during start-up (the script drops them
/// after 30 s), so the app never reads an old answer.
fn take_early(path: &str) -> Option<js_sys::Promise> {
    let window = web_sys::window()?;
    let take = js_sys::Reflect::get(&window, &JsValue::from_str("jiliangTakeEarly")).ok()?;
    let take = take.dyn_ref::<js_sys::Function>()?;
    take.call1(&window, &JsValue::from_str(path))
        .ok()?
        .dyn_into::<js_sys::Promise>()
        .ok()
}

/// Tell the page's bootstrap script (`index.html`, `jiliangRead`) about a
/// read, so one made before the service worker took over is made again
/// through it and kept for offline use.
fn note_read(window: &web_sys::Window, path: &str) {
    let Ok(f) = js_sys::Reflect::get(window, &JsValue::from_str("jiliangRead")) else {
        return;
    };
    if let Some(f) = f.dyn_ref::<js_sys::Function>() {
        let _ = f.call1(window, &JsValue::from_str(path));
    }
}

async fn send(
    method: &str,
    path: &str,
    lang: &str,
    body: Option<&str>,
    csrf: Option<&str>,
) -> Result<(u16, String), ApiError> {
    let window = web_sys::window().ok_or_else(|| ApiError::Network("no window".into()))?;
    if method == "GET" && path.starts_with("/api/v1/") {
        note_read(&window, path);
    }
    // Started by the page while the wasm loaded: the round trip is (partly)
    // over already. If it failed, the request is simply made again.
    let early = match (method, body) {
        ("GET", None) => match take_early(path) {
            Some(p) => JsFuture::from(p).await.ok(),
            None => None,
        },
        _ => None,
    };
    let answer = match early {
        Some(answer) => answer,
        None => {
            let init = RequestInit::new();
            init.set_method(method);
            if let Some(body) = body {
                init.set_body(&JsValue::from_str(body));
            }
            let req = Request::new_with_str_and_init(path, &init)
                .map_err(|e| ApiError::Network(js_err(e)))?;
            let headers = req.headers();
            let _ = headers.set("Accept", "application/json");
            let _ = headers.set("Accept-Language", lang);
            if body.is_some() {
                let _ = headers.set("Content-Type", "application/json");
            }
            if let Some(token) = csrf {
                let _ = headers.set("X-CSRF-Token", token);
            }
            JsFuture::from(window.fetch_with_request(&req))
                .await
                .map_err(|e| ApiError::Network(js_err(e)))?
        }
    };
    let resp: Response = answer
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
        serde_json::from_str(text).map_err(|e| {
            leptos::logging::warn!("unexpected answer: {e}");
            ApiError::Decode(e.to_string())
        })
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
                code: HTTP_ERROR.into(),
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
        let csrf = match self.session.csrf_untracked() {
            _ if method == "GET" => None,
            // Who is logged in came from this browser's memory (the last
            // visit, or the offline cache), which never holds the token:
            // ask for it first. Without one the server would refuse the
            // write for a reason that is not the write's (a queued reading
            // would be dropped as refused): it fails as unsent instead.
            Some(t) if t.is_empty() => match self.fresh_csrf(lang).await {
                Some(t) => Some(t),
                None => return Err(ApiError::Network("no CSRF token yet".into())),
            },
            other => other,
        };
        let (status, text) = send(method, path, lang, body.as_deref(), csrf.as_deref()).await?;
        let result = decode(status, &text);
        if status == 401 && self.session.logged_in_untracked() {
            self.check_session_after_401().await;
        }
        result
    }

    /// The session's CSRF token from `GET /auth/me` (which also refreshes
    /// who is logged in); `None` when it could not be had (no network: the
    /// worker's cached answer has no token; or the session is over).
    async fn fresh_csrf(self, lang: &str) -> Option<String> {
        let (status, text) = send("GET", &format!("{V1}/auth/me"), lang, None, None)
            .await
            .ok()?;
        if status == 401 {
            // The remembered session is over: the login page, as for any
            // 401 (a queued write waits for the person's next login).
            self.session.end();
        }
        if status != 200 {
            return None;
        }
        let me = serde_json::from_str::<Me>(&text).ok()?;
        let token = me.csrf_token.clone();
        self.session.set_me(me);
        (!token.is_empty()).then_some(token)
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
