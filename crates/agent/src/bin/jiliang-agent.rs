//! `jiliang-agent`: see `jiliang_agent::cli`.

fn main() -> std::process::ExitCode {
    jiliang_agent::cli::agent_main()
}
