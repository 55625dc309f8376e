//! The server's integration tests, as one test binary.
//!
//! Each module is one area, as a user or an operator meets it (accounts,
//! rooms, the ledger, the CLI, …); `common` holds the shared harness: a real
//! server on a random port with its own database (`TestServer`, `Client`,
//! `backend_tests!`), and the `jiliang` binary run from the shell
//! (`common::cli`). One binary instead of one per area because each links the
//! whole server: that link, not the tests, was most of a test build.
//!
//! Run one area with `cargo nextest run -p jiliang-server -E 'test(/^rooms::/)'`
//! (or `cargo test -p jiliang-server --test it rooms::`).

#[macro_use]
mod common;

mod accounts;
mod authz_matrix;
mod bus_trust;
mod certificates;
mod cli;
mod cli_ledger;
mod cli_metrology;
mod comparison;
mod demo;
mod devices;
mod ice;
mod language;
mod ledger;
mod ledger_check;
mod limits;
mod listen;
mod media;
mod ops;
mod presence;
mod recording;
mod rest_fuzz;
mod rooms;
mod rooms_bench;
mod rounds;
mod security;
mod storage;
