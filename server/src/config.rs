//! Typed configuration: command line flags with environment fallbacks.
//!
//! Doc comments on the fields are the `--help` text, so keep them short and
//! written for the person running the server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// 计量协作网 Jiliang — remote metrology collaboration network.
#[derive(Debug, Parser)]
#[command(name = "jiliang", version, about, propagate_version = true)]
pub struct Cli {
    /// Log output format.
    #[arg(long, global = true, env = "JILIANG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (API, rooms, static front end).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Create the demo province (institutions, people) if it is not there yet; prints the demo logins.
    SeedDemo(DatabaseArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "JILIANG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Directory of the built front end (Trunk's `dist/`).
    #[arg(long, env = "JILIANG_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "JILIANG_MAX_BODY", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Public address of this service (e.g. https://jiliang.example.cn), used
    /// in invitation and reset links. Default: the address the client used.
    #[arg(long, env = "JILIANG_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Mark cookies `Secure` (set when TLS is terminated in front of the server).
    #[arg(long, env = "JILIANG_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Trust `X-Forwarded-For`/`X-Forwarded-Proto` from a reverse proxy.
    #[arg(long, env = "JILIANG_TRUST_PROXY")]
    pub trust_proxy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/jiliang.db";

/// What `run` needs; built from `ServeArgs` by the CLI and directly by tests.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub static_dir: PathBuf,
    pub max_body_bytes: usize,
    pub public_url: Option<String>,
    pub secure_cookies: bool,
    pub trust_proxy: bool,
}

impl From<&ServeArgs> for Config {
    fn from(a: &ServeArgs) -> Self {
        Self {
            database_url: a.database.database_url.clone(),
            static_dir: a.static_dir.clone(),
            max_body_bytes: a.max_body_bytes,
            public_url: a.public_url.clone(),
            secure_cookies: a.secure_cookies,
            trust_proxy: a.trust_proxy,
        }
    }
}

impl Config {
    /// A configuration for tests and tools: given database, no front end.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            static_dir: PathBuf::from("dist"),
            max_body_bytes: 1024 * 1024,
            public_url: None,
            secure_cookies: false,
            trust_proxy: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_defaults() {
        // Environment may set DATABASE_URL in CI; parse with explicit flags.
        let cli = Cli::try_parse_from(["jiliang", "serve", "--database-url", DEFAULT_DATABASE_URL])
            .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        assert_eq!(args.database.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(args.static_dir, PathBuf::from("dist"));
    }

    #[test]
    fn bad_listen_address_is_rejected() {
        let err = Cli::try_parse_from(["jiliang", "serve", "--listen", "nonsense"])
            .expect_err("must fail");
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
