//! Wire types shared by the Jiliang front end (wasm), the server and the
//! instrument agent.
//!
//! # Layout
//! - [`accounts`]: people, roles, login, invitations, audit log (and the
//!   queries listing people and audit events).
//! - [`certificates`]: calibration certificates and their public
//!   verification document.
//! - [`comparison`]: live comparison of a unit under test against a
//!   reference in a session (REST bodies, documents, the log fold).
//! - [`devices`]: instruments, their readings, and the agent socket protocol.
//! - [`error`]: the one error shape every endpoint and socket uses.
//! - [`health`]: liveness, readiness and version documents.
//! - [`institutions`]: the institution tree.
//! - [`ledger`]: the record log's signed head and proofs.
//! - [`sessions`]: live sessions, their stored timeline and help requests
//!   (REST).
//! - [`recordings`]: recorded sessions (WebM files, ledger records).
//! - [`rooms`]: the room socket protocol.
//! - [`rounds`]: comparison rounds (proficiency testing): REST bodies, the
//!   report builder (`jiliang compare`'s evaluation) and its charts.
//! - [`timesync`]: server time and NTP-style clock offset estimation over a
//!   socket.
//!
//! This crate must never do I/O or depend on anything that cannot build for
//! `wasm32-unknown-unknown` (`jiliang-metrology`, pure, is the one sibling
//! it uses: the comparison documents carry its results): the browser and the server must agree on these
//! shapes byte for byte, so they are defined exactly once, here. OpenAPI
//! schema derives are behind the `openapi` feature, which only the server
//! enables.

pub mod accounts;
pub mod certificates;
pub mod comparison;
pub mod devices;
pub mod error;
pub mod health;
pub mod institutions;
pub mod ledger;
pub mod recordings;
pub mod rooms;
pub mod rounds;
pub mod sessions;
pub mod timesync;

pub use error::{ErrorBody, ErrorCode, FieldError};
pub use health::{Health, Readiness, ReadinessCheck, VersionInfo};

/// Prefix of every REST endpoint. Bumped only with a breaking change.
pub const API_PREFIX: &str = "/api/v1";
