//! Typed calls to the server's REST API.
//!
//! The browser's `fetch`, wrapped: requests carry the interface language so
//! error messages come back in it, and non-2xx answers are decoded into the
//! server's `{code, message}` document.

use jiliang_protocol::ErrorBody;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

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
    /// A message for people.
    pub fn message(&self) -> String {
        match self {
            Self::Network(m) | Self::Decode(m) => m.clone(),
            Self::Server { body, .. } => body.message.clone(),
        }
    }
}

fn js_err(e: wasm_bindgen::JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|err| String::from(err.message()))
        })
        .unwrap_or_else(|| "network error".to_owned())
}

async fn send(method: &str, path: &str, lang: &str) -> Result<(u16, String), ApiError> {
    let init = RequestInit::new();
    init.set_method(method);
    let req =
        Request::new_with_str_and_init(path, &init).map_err(|e| ApiError::Network(js_err(e)))?;
    let headers = req.headers();
    let _ = headers.set("Accept", "application/json");
    let _ = headers.set("Accept-Language", lang);
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

/// GET a JSON document. Error statuses whose body is a JSON error document
/// (as `/readyz` answers 503 with its checks) can be read with [`get_any`].
pub async fn get<T: DeserializeOwned>(path: &str, lang: &str) -> Result<T, ApiError> {
    let (status, text) = send("GET", path, lang).await?;
    if (200..300).contains(&status) {
        serde_json::from_str(&text).map_err(|e| ApiError::Decode(e.to_string()))
    } else {
        Err(server_error(status, &text))
    }
}

/// GET a document that the server sends with success and failure statuses alike.
pub async fn get_any<T: DeserializeOwned>(path: &str, lang: &str) -> Result<(u16, T), ApiError> {
    let (status, text) = send("GET", path, lang).await?;
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
