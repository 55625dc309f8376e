//! Record verification in the browser.
//!
//! - `/verify` (anyone, logged in or not): open an export file (picker,
//!   drop, or pasted text), verify it here with the wasm-compiled ledger
//!   crate, show the report ([`LedgerReport`]). An export fetched by the
//!   room page ("verify in browser") arrives through [`HeldExport`], in
//!   memory only.
//! - `/verify/:kind/:id` (logged in): fetch one record's export from the
//!   server and verify it the same way; a 403 or 404 shows the shared
//!   pages, a 401 the login.

use leptos::leptos_dom::helpers::request_animation_frame;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::api::{V1, encode, use_api};
use crate::components::ledger_report::{
    LedgerReport, Loaded, ParseError, ParseErrorBox, Source, parse_export,
};
use crate::components::states::{Loading, failure_view};
use crate::i18n::{Msg, use_i18n};
use crate::util::{byte_size, dom_id};

/// Largest file read into the page (a session of some 50 000 events).
const MAX_FILE_BYTES: f64 = 64.0 * 1024.0 * 1024.0;

/// An export handed from another page to `/verify` (taken once).
#[derive(Clone, Copy)]
pub struct HeldExport(pub RwSignal<Option<Loaded>>);

pub fn provide_held_export() {
    provide_context(HeldExport(RwSignal::new(None)));
}

/// A function that puts an export where `/verify` will pick it up (taken
/// from context now, so it can be called later from a task).
pub fn use_hold_export() -> impl Fn(Loaded) + Clone + 'static {
    let held = use_context::<HeldExport>();
    move |loaded| {
        if let Some(h) = held {
            h.0.set(Some(loaded));
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum OpenError {
    Parse(ParseError),
    TooLarge(u64),
    ReadFailed(String),
    EmptyPaste,
}

#[component]
pub fn VerifyPage() -> impl IntoView {
    let i18n = use_i18n();
    let held = use_context::<HeldExport>()
        .and_then(|h| h.0.try_update(Option::take))
        .flatten();
    let current = RwSignal::new(held);
    let error = RwSignal::new(None::<OpenError>);
    let reading = RwSignal::new(false);
    let dragging = RwSignal::new(false);
    let paste = RwSignal::new(String::new());
    let file_id = dom_id("export-file");
    let paste_id = dom_id("export-paste");

    let open_text = move |text: String, source: Source| match parse_export(&text) {
        Ok(bundle) => {
            error.set(None);
            current.set(Some(Loaded {
                bundle,
                text,
                source,
            }));
            // On a phone the result is below the fold.
            request_animation_frame(|| {
                if let Some(el) = document().get_element_by_id("verify-result") {
                    el.scroll_into_view();
                }
            });
        }
        Err(e) => {
            current.set(None);
            error.set(Some(OpenError::Parse(e)));
        }
    };
    let open_file = move |file: web_sys::File| {
        let name = file.name();
        let size = file.size();
        if size > MAX_FILE_BYTES {
            current.set(None);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            error.set(Some(OpenError::TooLarge(size as u64)));
            return;
        }
        reading.set(true);
        spawn_local(async move {
            let read = JsFuture::from(file.text()).await;
            reading.set(false);
            match read {
                Ok(v) => {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let size = size as u64;
                    open_text(
                        v.as_string().unwrap_or_default(),
                        Source::File { name, size },
                    );
                }
                Err(e) => {
                    current.set(None);
                    error.set(Some(OpenError::ReadFailed(
                        e.dyn_ref::<js_sys::Error>()
                            .map(|e| String::from(e.message()))
                            .unwrap_or_else(|| format!("{e:?}")),
                    )));
                }
            }
        });
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let file = input.files().and_then(|l| l.get(0));
        // The same file can be opened again after it changed.
        input.set_value("");
        if let Some(f) = file {
            open_file(f);
        }
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if let Some(f) = ev
            .data_transfer()
            .and_then(|d| d.files())
            .and_then(|l| l.get(0))
        {
            open_file(f);
        }
    };
    let verify_paste = move |_| {
        let text = paste.get_untracked();
        if text.trim().is_empty() {
            current.set(None);
            error.set(Some(OpenError::EmptyPaste));
        } else {
            open_text(text, Source::Paste);
        }
    };

    view! {
        <article class="verify-page" data-testid="verify-page">
            <header class="page-head">
                <h1>{move || i18n.t(Msg::VerifyTitle)}</h1>
                <p class="muted">{move || i18n.t(Msg::VerifyIntro)}</p>
            </header>
            <section class="card verify-open" class:dragging=move || dragging.get()
                on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
                on:dragleave=move |_| dragging.set(false)
                on:drop=on_drop>
                <div class="verify-open-row">
                    <label for=file_id.clone() class="button file-button">
                        {move || i18n.t(Msg::VerifyOpenFile)}
                    </label>
                    <input id=file_id type="file" accept=".json,application/json" class="visually-hidden file-input"
                        data-testid="verify-file" on:change=on_pick/>
                    {move || reading.get().then(|| view! {
                        <span class="loading" role="status"><span class="spinner" aria-hidden="true"></span>{move || i18n.t(Msg::VerifyReading)}</span>
                    })}
                </div>
                <p class="muted small">{move || i18n.t(Msg::VerifyOpenHint)}</p>
                <details class="verify-paste">
                    <summary>{move || i18n.t(Msg::VerifyPasteToggle)}</summary>
                    <div class="field">
                        <label for=paste_id.clone()>{move || i18n.t(Msg::VerifyPasteLabel)}</label>
                        <textarea id=paste_id rows="6" spellcheck="false" autocomplete="off" class="mono"
                            data-testid="verify-paste" placeholder="{\"format\": \"jiliang-ledger-export/1\", …}"
                            prop:value=move || paste.get()
                            on:input=move |ev| paste.set(event_target_value(&ev))></textarea>
                    </div>
                    <button type="button" class="primary" data-testid="verify-paste-submit" on:click=verify_paste>
                        {move || i18n.t(Msg::VerifyPasteSubmit)}
                    </button>
                </details>
            </section>
            {move || error.get().map(|e| match e {
                OpenError::Parse(p) => view! { <ParseErrorBox error=p/> }.into_any(),
                OpenError::TooLarge(n) => view! {
                    <div class="error-box" role="alert" data-testid="verify-error">
                        <p>{move || i18n.tf(Msg::VerifyTooLarge, &[("size", &byte_size(n))])}</p>
                    </div>
                }.into_any(),
                // The browser's own words (English whatever the interface
                // says) go to the console, not to the person.
                OpenError::ReadFailed(m) => {
                    leptos::logging::warn!("reading the file failed: {m}");
                    view! {
                        <div class="error-box" role="alert" data-testid="verify-error">
                            <p>{move || i18n.t(Msg::VerifyReadFailed)}</p>
                        </div>
                    }.into_any()
                }
                OpenError::EmptyPaste => view! {
                    <div class="error-box" role="alert" data-testid="verify-error">
                        <p>{move || i18n.t(Msg::VerifyEmptyPaste)}</p>
                    </div>
                }.into_any(),
            })}
            {move || current.get().map(|loaded| view! { <LedgerReport loaded=loaded/> })}
        </article>
    }
}

#[component]
pub fn VerifyRecordPage() -> impl IntoView {
    let params = use_params_map();
    let key = Memo::new(move |_| {
        params.with(|p| {
            (
                p.get("kind").unwrap_or_default(),
                p.get("id").unwrap_or_default(),
            )
        })
    });
    move || {
        let (kind, id) = key.get();
        view! { <VerifyRecord kind=kind id=id/> }
    }
}

#[component]
fn VerifyRecord(kind: String, id: String) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let path = format!("{V1}/ledger/records/{}/{}", encode(&kind), encode(&id));
    let fetched = LocalResource::new(move || {
        let path = path.clone();
        async move { api.get_text(&path).await }
    });
    let retry = Callback::new(move |_| fetched.refetch());
    let label = format!("{kind}/{id}");
    move || match fetched.get() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => failure_view(e, Some(retry)),
        Some(Ok(text)) => {
            let body = match parse_export(&text) {
                Ok(bundle) => view! {
                    <LedgerReport loaded=Loaded {
                        bundle,
                        text,
                        source: Source::Record { kind: kind.clone(), id: id.clone() },
                    }/>
                }
                .into_any(),
                Err(e) => view! { <ParseErrorBox error=e/> }.into_any(),
            };
            view! {
                <article class="verify-page" data-testid="verify-record-page">
                    <header class="page-head">
                        <nav class="breadcrumb" aria-label=move || i18n.t(Msg::Breadcrumb)>
                            <ol><li><A href="/verify">{move || i18n.t(Msg::VerifyTitle)}</A></li></ol>
                        </nav>
                        <h1>{move || i18n.t(Msg::VerifyRecordTitle)}</h1>
                        <p class="muted">{move || i18n.t(Msg::VerifyRecordIntro)}</p>
                        <p class="record-ref"><code class="hash" data-testid="record-ref">{label.clone()}</code></p>
                    </header>
                    {body}
                    <p class="verify-another"><A href="/verify">{move || i18n.t(Msg::VerifyAnother)}</A></p>
                </article>
            }
            .into_any()
        }
    }
}
