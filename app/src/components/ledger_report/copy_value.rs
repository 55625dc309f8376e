//! A long value (hash, key) shown short, with a button that copies it whole.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::i18n::{Msg, use_i18n};
use crate::util::short_hex;

/// A long value shown shortened, with a button that copies all of it (and
/// shows all of it when the browser refuses to copy).
#[component]
pub fn CopyValue(value: String, #[prop(optional)] testid: &'static str) -> impl IntoView {
    let i18n = use_i18n();
    let state = RwSignal::new(None::<bool>);
    let to_copy = value.clone();
    let copy = move |_| {
        let text = to_copy.clone();
        spawn_local(async move {
            // `navigator.clipboard` exists only in secure contexts.
            let clipboard = js_sys::Reflect::get(&window().navigator(), &"clipboard".into())
                .ok()
                .and_then(|c| c.dyn_into::<web_sys::Clipboard>().ok());
            let ok = match clipboard {
                Some(c) => JsFuture::from(c.write_text(&text)).await.is_ok(),
                None => false,
            };
            state.set(Some(ok));
        });
    };
    let full = value.clone();
    view! {
        <span class="copy-value">
            <code class="hash" title=value.clone() data-testid=testid data-value=value.clone()>{short_hex(&value)}</code>
            <button type="button" class="copy-btn" on:click=copy
                title=move || i18n.t(Msg::CopyFull) aria-label=move || i18n.t(Msg::CopyFull)>
                {move || if state.get() == Some(true) { i18n.t(Msg::CopiedShort) } else { i18n.t(Msg::Copy) }}
            </button>
            {move || (state.get() == Some(false)).then(|| view! {
                <span class="copy-fallback small">
                    {move || i18n.t(Msg::CopyFailedShown)}
                    <code class="hash full">{full.clone()}</code>
                </span>
            })}
        </span>
    }
}
