//! `jiliang-sim`: see `jiliang_agent::cli`.

fn main() -> std::process::ExitCode {
    jiliang_agent::cli::sim_main()
}
