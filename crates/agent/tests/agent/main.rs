//! Integration tests of the agent: one test binary (modules below) so the
//! crate is linked once.
//!
//! - `drivers`: the drivers against the in-repo simulators.
//! - `peers`: against independent implementations from PyPI (pymodbus,
//!   scpipy) in tests/.venv; skipped, with a message, when it is missing.
//! - `serial`: over a socat pty pair; skipped, with a message, without socat.
//! - `upload`: the whole agent against a fake server speaking the agent
//!   protocol, including restarts of the built binary.

mod common;
mod drivers;
mod peers;
mod serial;
mod upload;
