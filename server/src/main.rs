//! `jiliang`: the server binary. Thin on purpose: everything it does lives in
//! the library so tests can call it (see `jiliang_server::run`).

use std::process::ExitCode;

// mimalloc's per-thread heaps: under the province load glibc's malloc and
// free were 15 % of the server's CPU; with mimalloc agent-to-viewer latency
// fell by a fifth at p50 and a tenth at p99, for 10–60 MiB more RSS
// (docs/BENCHMARKS.md, province load, "the allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    jiliang_server::cli::main()
}
