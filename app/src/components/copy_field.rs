//! A read-only value with a copy button (an agent token, the command line
//! that runs the agent): copied with the clipboard where the browser
//! allows it, otherwise selected for the person to copy themselves.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::i18n::{Msg, use_i18n};
use crate::util::dom_id;

#[component]
pub fn CopyField(
    label: Msg,
    #[prop(into)] value: Signal<String>,
    #[prop(optional)] testid: &'static str,
    /// A long value (a command line) wraps in a text area.
    #[prop(optional)]
    multiline: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let id = dom_id("copy");
    let copied = RwSignal::new(None::<bool>);
    let input_id = id.clone();
    let copy = move |_| {
        let text = value.get_untracked();
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
                select(&input_id);
            }
            copied.set(Some(ok));
        });
    };
    let on_focus = {
        let id = id.clone();
        move |_| select(&id)
    };
    let testid = (!testid.is_empty()).then_some(testid);
    view! {
        <div class="copy-field">
            <label for=id.clone() class="small">{move || i18n.t(label)}</label>
            <div class="otl-row">
                {if multiline {
                    view! {
                        <textarea id=id.clone() readonly rows="3" class="mono" data-testid=testid
                            prop:value=move || value.get() on:focus=on_focus></textarea>
                    }.into_any()
                } else {
                    view! {
                        <input id=id.clone() type="text" readonly class="mono" data-testid=testid
                            prop:value=move || value.get() on:focus=on_focus/>
                    }.into_any()
                }}
                <button type="button" class="secondary" on:click=copy>{move || i18n.t(Msg::Copy)}</button>
            </div>
            <p class="muted small" role="status" aria-live="polite">
                {move || match copied.get() {
                    Some(true) => i18n.t(Msg::Copied).to_owned(),
                    Some(false) => i18n.t(Msg::CopyManuallyText).to_owned(),
                    None => String::new(),
                }}
            </p>
        </div>
    }
}

/// Select the text of the input or text area `id`.
fn select(id: &str) {
    let Some(el) = document().get_element_by_id(id) else {
        return;
    };
    if let Some(i) = el.dyn_ref::<web_sys::HtmlInputElement>() {
        i.select();
    } else if let Some(t) = el.dyn_ref::<web_sys::HtmlTextAreaElement>() {
        t.select();
    }
}
