//! `jiliang`: the server binary. Thin on purpose: everything it does lives in
//! the library so tests can call it (see `jiliang_server::run`).

use std::process::ExitCode;

fn main() -> ExitCode {
    jiliang_server::cli::main()
}
