//! A one-time link (invitation or password reset) shown to the person who
//! created it, once: the server keeps only its hash and sends no mail.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::i18n::{Msg, use_i18n};
use crate::util::dom_id;

#[component]
pub fn OneTimeLinkBox(
    link: String,
    /// Local time the link stops working.
    expires: String,
    /// What to tell the creator to do with it.
    instructions: Signal<String>,
) -> impl IntoView {
    let i18n = use_i18n();
    let id = dom_id("link");
    let copied = RwSignal::new(None::<bool>);
    let input_id = id.clone();
    let to_copy = link.clone();
    let copy = move |_| {
        let text = to_copy.clone();
        let input_id = input_id.clone();
        spawn_local(async move {
            // `navigator.clipboard` exists only in secure contexts; a lab
            // reaching the server over plain HTTP on its LAN has none.
            let clipboard = js_sys::Reflect::get(&window().navigator(), &"clipboard".into())
                .ok()
                .and_then(|c| c.dyn_into::<web_sys::Clipboard>().ok());
            let ok = match clipboard {
                Some(c) => JsFuture::from(c.write_text(&text)).await.is_ok(),
                None => false,
            };
            if !ok {
                // No clipboard permission: select the text so the person
                // can copy it with the keyboard or the context menu.
                if let Some(el) = document()
                    .get_element_by_id(&input_id)
                    .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
                {
                    el.select();
                }
            }
            copied.set(Some(ok));
        });
    };
    view! {
        <div class="one-time-link" data-testid="one-time-link-box">
            <p class="otl-instructions">{move || instructions.get()}</p>
            <label for=id.clone() class="visually-hidden">{move || i18n.t(Msg::OneTimeLink)}</label>
            <div class="otl-row">
                <input id=id type="text" readonly value=link data-testid="one-time-link"
                    on:focus=move |ev| {
                        if let Some(el) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                            el.select();
                        }
                    }
                />
                <button type="button" class="primary" on:click=copy data-testid="copy-link">
                    {move || i18n.t(Msg::CopyLink)}
                </button>
            </div>
            <p class="muted small" role="status" aria-live="polite">
                {move || match copied.get() {
                    Some(true) => i18n.t(Msg::Copied).to_owned(),
                    Some(false) => i18n.t(Msg::CopyManually).to_owned(),
                    None => i18n.tf(Msg::LinkExpires, &[("time", &expires)]),
                }}
            </p>
        </div>
    }
}
