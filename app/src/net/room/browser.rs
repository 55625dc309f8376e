//! The browser around the room client: clock, network state, randomness,
//! storage and the WebSocket. Nothing here decides anything.

use jiliang_app_core::room::{Outbox, client_id};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// An open (or opening) socket and the callbacks it holds.
pub(super) struct Socket {
    pub(super) ws: WebSocket,
    pub(super) opened_ms: f64,
    pub(super) _onopen: Closure<dyn FnMut()>,
    pub(super) _onmessage: Closure<dyn FnMut(MessageEvent)>,
    pub(super) _onclose: Closure<dyn FnMut(CloseEvent)>,
    pub(super) _onerror: Closure<dyn FnMut(web_sys::Event)>,
}

/// Client clock, ms since the epoch, with sub-millisecond resolution when
/// the browser gives it.
pub fn now_ms() -> f64 {
    match web_sys::window().and_then(|w| w.performance()) {
        Some(p) => p.time_origin() + p.now(),
        None => js_sys::Date::now(),
    }
}

pub(super) fn online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// 128 random bits, hex, from the browser's CSPRNG.
pub fn random_client_id() -> String {
    let mut bytes = [0_u8; 16];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        // No Web Crypto (very old browser): Math.random is enough for an
        // id that only needs to be unique within one room.
        for b in &mut bytes {
            // Truncation to a byte is the point.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            {
                *b = (js_sys::Math::random() * 256.0) as u8;
            }
        }
    }
    client_id(bytes)
}

pub(super) fn socket_url(session_id: &str) -> Option<String> {
    let loc = web_sys::window()?.location();
    let scheme = if loc.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    // The interface's language: the server words the refusal of this very
    // handshake's join, error frames and close reasons in it (a page cannot
    // give a WebSocket handshake an Accept-Language of its own).
    Some(format!(
        "{scheme}://{}/api/v1/sessions/{session_id}/ws?lang={}",
        loc.host().ok()?,
        ui_lang()
    ))
}

/// The language the interface shows, as a tag (`zh-CN`, `en`): the
/// `<html lang>` that `crate::i18n` keeps in step with the person's choice.
pub(super) fn ui_lang() -> String {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
        .and_then(|e| e.get_attribute("lang"))
        .filter(|l| l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or_else(|| "zh-CN".to_owned())
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The outbox kept for `key` by an earlier page (empty if none or unreadable).
pub(super) fn load_outbox(key: &str) -> Outbox {
    storage()
        .and_then(|s| s.get_item(key).ok().flatten())
        .map(|j| Outbox::from_json(&j))
        .unwrap_or_default()
}

/// Keep the outbox for a reload; an empty one removes the stored copy.
pub(super) fn store_outbox(key: &str, outbox: &Outbox) {
    let Some(s) = storage() else {
        return;
    };
    match outbox.to_json() {
        None => {
            let _ = s.remove_item(key);
        }
        // Storage full or refused (private mode): the outbox still lives in
        // memory for this page.
        Some(j) => {
            let _ = s.set_item(key, &j);
        }
    }
}

/// Close a socket we no longer want, without the browser complaining: a
/// socket still connecting is closed as soon as it opens (closing it
/// earlier logs an error in the console).
pub(super) fn retire(socket: Socket) {
    let ws = socket.ws;
    ws.set_onmessage(None);
    ws.set_onclose(None);
    ws.set_onerror(None);
    if ws.ready_state() == WebSocket::CONNECTING {
        let again = ws.clone();
        let close_on_open = Closure::once_into_js(move || {
            let _ = again.close_with_code(1000);
        });
        ws.set_onopen(Some(close_on_open.unchecked_ref()));
        // A handshake that fails later on closes by itself.
        let ignore = Closure::once_into_js(|| {});
        ws.set_onerror(Some(ignore.unchecked_ref()));
    } else {
        ws.set_onopen(None);
        let _ = ws.close_with_code(1000);
    }
}
