//! Network clients beyond plain REST.
//!
//! - [`room`]: the live-session room socket (ordered log, outbox, resume,
//!   clock synchronisation).

pub mod room;
