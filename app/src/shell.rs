//! The first-load shell's hand-over to the full app.
//!
//! Built without the `full` feature, this crate is the small module a new
//! visitor downloads first (issue 12: the first page usable with at most
//! 400 KiB). The server serves it (`shell.html`) only for the shell's own
//! pages and only to a browser without a session cookie
//! (server/src/http/static_files.rs); every other page is the full app
//! (`index.html`). So when the shell meets a page it does not have — a link
//! followed inside the app, or the dashboard right after logging in — it
//! loads the same address again from the server, which then answers with
//! the full app. That cannot loop: the server never sends the shell for a
//! page the shell lacks, and the dashboard needs the session cookie whose
//! presence makes the server send the full app.

use leptos::prelude::*;

use crate::components::states::Loading;

/// Loads the current address from the server (the full app), showing the
/// usual loading state meanwhile.
#[component]
pub fn LoadFullApp() -> impl IntoView {
    Effect::new(move |_| {
        if let Some(window) = web_sys::window() {
            // Nothing to show if it fails: the person still has the link.
            let _ = window.location().reload();
        }
    });
    view! { <Loading/> }
}
