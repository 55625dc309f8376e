//! Jiliang front end: mounts the app. Everything else lives in the modules.
//!
//! # Layout
//! - [`app`]: router shell (header, navigation, routes, footer).
//! - [`session`]: who is logged in (context signal, CSRF token in memory).
//! - [`api`]: typed `fetch` calls; CSRF header, language, error documents.
//! - [`i18n`]: the compile-checked zh-CN/en message catalogue.
//! - [`net`]: the room socket client (outbox, resume, clock sync).
//! - [`offline`]: the page's side of the service worker (`app/sw.js`).
//! - [`pages`]: one module per route; [`components`]: shared widgets.
//! - [`util`]: names, local times, the institution tree's order.
//! - [`shell`]: the first-load shell's hand-over to the full app.
//!
//! # Two builds of one crate
//! With the default `full` feature this is the whole app. Without it, the
//! same modules make the small first-load shell (visitor home, login,
//! status, invitation and reset links; see docs/BUILD.md): page modules
//! only the full app has are compiled out, and shared modules keep items
//! only those pages use, hence the relaxed dead-code lints there.
#![cfg_attr(not(feature = "full"), allow(dead_code, unused_imports))]

mod api;
mod app;
mod components;
mod i18n;
mod last_seen;
#[cfg(feature = "full")]
mod net;
mod offline;
mod pages;
mod session;
#[cfg(not(feature = "full"))]
mod shell;
mod util;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
