//! The app's side of the service worker (`app/sw.js`, registered by the
//! inline script in `index.html`): forgetting cached answers, and the
//! "new version" announcement. The worker itself is plain JavaScript so it
//! can start before any wasm is loaded; the page talks to it through the
//! few functions that script defines on `window`.

use wasm_bindgen::{JsCast, JsValue};

fn call_global(name: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    if let Ok(f) = js_sys::Reflect::get(&window, &JsValue::from_str(name))
        && let Some(f) = f.dyn_ref::<js_sys::Function>()
    {
        let _ = f.call0(&window);
    }
}

/// Delete the cached API answers (who is logged in, lists, sessions): on
/// login, logout and when the session ends, so one person's data is never
/// shown to the next on a shared browser.
pub fn forget_cached_data() {
    crate::last_seen::forget();
    call_global("jiliangForget");
}

/// Start the new version (a reload; the worker serves the new shell).
pub fn apply_update() {
    call_global("jiliangUpdate");
}

/// Whether the worker already announced a new version before the app
/// listened.
pub fn update_ready() -> bool {
    web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &JsValue::from_str("jiliangUpdateReady")).ok())
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// Whether the browser believes it has a network.
pub fn online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}
