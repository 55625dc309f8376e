//! `jiliang-tools`: the offline tools without the server. Thin on purpose:
//! everything lives in the library, which `jiliang` shares.

use std::process::ExitCode;

fn main() -> ExitCode {
    jiliang_tools::main()
}
