//! The `jiliang` command line: parse, set up logging, dispatch.
//!
//! Failures print exactly one line on stderr and exit non-zero: 2 for a
//! usage error (bad flag or value), 1 for anything that went wrong while
//! running (database unreachable, port taken).

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Cli, Command, Config, DatabaseArgs, LogFormat, ServeArgs};
use crate::store::{Store, redact_url};

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            eprintln!("{first} (see `jiliang --help`)");
            return ExitCode::from(2);
        }
    };
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Migrate(args) => migrate(args).await,
            Command::SeedDemo(args) => seed_demo(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("error: {line}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn open_store(args: &DatabaseArgs) -> Result<Store, String> {
    let store = Store::connect(&args.database_url)
        .await
        .map_err(|e| format!("{e} ({})", redact_url(&args.database_url)))?;
    store.migrate().await.map_err(|e| e.to_string())?;
    Ok(store)
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let store = open_store(&args.database).await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    tracing::info!(%addr, storage = store.backend().as_str(), "jiliang listening");
    out(&format!(
        "计量协作网 Jiliang is running at http://{addr}/  (Ctrl-C to stop)\n"
    ));
    let state = crate::AppState::new(store, Config::from(&args), shutdown);
    crate::serve(state, listener)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("jiliang stopped");
    Ok(())
}

async fn migrate(args: DatabaseArgs) -> Result<(), String> {
    let store = open_store(&args).await?;
    out(&format!(
        "database is up to date ({}, {})\n",
        store.backend().as_str(),
        redact_url(&args.database_url)
    ));
    store.close().await;
    Ok(())
}

async fn seed_demo(args: DatabaseArgs) -> Result<(), String> {
    let store = open_store(&args).await?;
    let report = crate::demo::seed(&store).await.map_err(|e| e.to_string())?;
    out(&report.to_string());
    store.close().await;
    Ok(())
}

/// Write to stdout; a closed pipe (`jiliang seed-demo | head`) is not an error.
fn out(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Cancel `token` on SIGINT or SIGTERM.
async fn wait_for_signal(token: CancellationToken) {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
    token.cancel();
}
