//! Instruments at work: agents connected to this node, the one path every
//! batch of readings takes into storage, and the agent socket.
//!
//! # Layout
//! - [`links`]: the agent connections open on this node, so revoking a
//!   token closes them at once (other nodes notice at their next batch or
//!   re-check).
//! - [`ingest`]: validate a batch (`check_batch`), store it exactly once
//!   (`Store::ingest_readings`), hand its room events to the rooms. The
//!   socket, the HTTP upload and manual entry all go through it.
//! - [`writer`]: group commit — the batches of many agents stored in one
//!   transaction, their room events delivered in order.
//! - [`socket`]: one agent connection (`/api/v1/agent/ws`), from hello to
//!   goodbye.
//!
//! No SQL here (that is `crate::store::devices`), and no HTTP routing
//! (that is `crate::http::devices` and `crate::http::agent`).

pub mod ingest;
pub mod links;
pub mod socket;
pub mod writer;

pub use links::DeviceLinks;
pub use writer::BatchWriter;
