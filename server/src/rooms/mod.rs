//! Live session rooms: one ordered, durable log per room, fanned out to
//! every connection on every node.
//!
//! # Layout
//! - [`log`]: the single writer that gives each event its room sequence
//!   number and commits it before anyone sees it.
//! - [`hub`]: this node's rooms: the per-room sequencer that delivers events
//!   to local connections strictly in order, filling gaps from the database.
//! - [`presence`]: who is connected (across nodes, with a TTL), durable
//!   join/leave once per stretch of presence, socket caps and per-person
//!   chat limits.
//! - [`socket`]: one connection's task: join, replay, live events,
//!   backpressure, rate limits, time sync.
//!
//! The invariant: nothing is broadcast that was not first stored; nothing
//! stored is lost on a reconnect (a client resumes from its last sequence).

pub mod hub;
pub mod log;
pub mod presence;
pub mod ratelimit;
pub mod socket;

pub use hub::Hub;
pub use log::EventLog;
pub use presence::Presence;
