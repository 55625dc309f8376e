//! The Jiliang front end's pure logic: what the browser app decides, without
//! the browser.
//!
//! # Layout
//! - [`room`]: the room client's bookkeeping — the [`room::Sequencer`] that
//!   applies the log in order and notices gaps, the [`room::Outbox`] that
//!   keeps typed lines until the log has them, the reconnect backoff.
//! - [`query`]: query strings from the shared query types of
//!   `jiliang_protocol`, percent-encoded as `encodeURIComponent` does.
//! - [`instruments`]: the live readings kept for a room's chart, the error
//!   of the unit under test against the reference, the chart's SVG
//!   geometry, and what an agent's reported state means.
//! - [`manual_queue`]: readings typed in by hand that wait in the browser
//!   for the server (offline), sent once each, in order, with honest times.
//! - [`comparison`]: the comparison setup form's rules (test points, the
//!   MPE from its form and numbers, verdict keys).
//! - [`link`]: a media link's health from `getStats` and the mode
//!   (video, audio only, data only) it runs in, with hysteresis.
//! - [`stage`]: who holds the floor in a room (from audio levels, with
//!   hysteresis) and which video tile is shown large.
//! - [`nav`]: which navigation entry a path belongs to.
//! - [`i18n`]: the message catalogue (Chinese and English side by side) and
//!   single-pass placeholder filling.
//!
//! This crate must never depend on `web-sys`, `js-sys`, `leptos` or anything
//! else that needs a browser: it exists so that `cargo test` runs the app's
//! rules on the host. Sockets, timers, storage and signals stay in `app/`,
//! which calls in here for every decision.

pub mod comparison;
pub mod i18n;
pub mod instruments;
pub mod link;
pub mod manual_queue;
pub mod nav;
pub mod query;
pub mod room;
pub mod stage;
