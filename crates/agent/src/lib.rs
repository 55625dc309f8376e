//! Jiliang instrument agent (`jiliang-agent`) and instrument simulator
//! (`jiliang-sim`).
//!
//! The agent runs at a lab beside an instrument. It reads the instrument
//! (SCPI over TCP, Modbus TCP/RTU, SCPI or ASCII lines over a serial port),
//! stamps each reading with the server's time (NTP-style clock offset
//! over its socket, with the timestamp's uncertainty), keeps it in a
//! crash-safe queue on disk, and uploads it over the agent socket
//! (`jiliang_protocol::devices`), where the server stores each `(device,
//! seq)` exactly once. A reading is forgotten only after the server has
//! acknowledged it; instrument faults are reported, never fatal.
//!
//! # Layout
//! - [`config`]: flags and the TOML file (same keys), checked into a
//!   [`config::Config`].
//! - [`driver`]: the instrument drivers and their faults.
//! - [`decode`]: SCPI numbers and errors, Modbus registers, ASCII patterns.
//! - [`queue`]: the on-disk queue (segments, acknowledgements, quarantine).
//! - [`clock`]: the server-time estimate and each reading's timestamp.
//! - [`uplink`]: the agent socket: hello, clock pings, batches, acks.
//! - [`runner`]: `run` (sampler + uplink) and `check`.
//! - [`sim`]: the simulated multimeter (SCPI) and pressure transmitter
//!   (Modbus TCP).
//! - [`cli`]: the two command lines; [`util`]: CRC-32, backoff, times.
//!
//! It must never lose a reading it has reported as taken, never send one
//! twice under different numbers, and never stop because an instrument
//! misbehaves.

pub mod cli;
pub mod clock;
pub mod config;
pub mod decode;
pub mod driver;
pub mod queue;
pub mod runner;
pub mod sim;
pub mod uplink;
pub mod util;
