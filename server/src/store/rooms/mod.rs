//! Live sessions and their rooms: the sessions themselves, help requests
//! that become sessions, the room logs (reads and appends) and the check of
//! a room connection's access.
//!
//! # Layout
//! - [`sessions`]: live sessions, labs, participants, sequence counters.
//! - [`help`]: help requests, and accepting one (a session opened live with
//!   its first event and ledger leaf, in one transaction).
//! - [`events`]: reading room logs; events by id.
//! - [`append`]: appending to room logs, each event with its ledger leaf.
//! - [`presence`]: who is connected now (across nodes, with expiry) and
//!   the durable stretches of presence.
//! - [`access`]: whether a room connection's login and participation hold.

pub mod access;
pub mod append;
pub mod events;
pub mod help;
pub mod presence;
pub mod sessions;

pub use access::RoomAccess;
pub use append::{EventOutcome, NewEvent};
pub use events::SessionEvent;
pub use help::{NewHelp, StoredHelp};
pub use presence::Departed;
pub use sessions::{NewSession, SessionQuery, StoredSession};
