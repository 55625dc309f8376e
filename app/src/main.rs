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

mod api;
mod app;
mod components;
mod i18n;
mod net;
mod offline;
mod pages;
mod session;
mod util;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
