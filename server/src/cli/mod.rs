//! The `jiliang` command line: parse, set up logging, dispatch.
//!
//! Failures print exactly one line on stderr and exit non-zero: 2 for a
//! usage error (bad flag or value) or bad input file, 1 for anything that
//! went wrong while running (database unreachable, port taken) and for an
//! export bundle that fails verification.
//!
//! # Layout
//! - this module: parsing, dispatch, the server subcommands (`serve`,
//!   `migrate`, `seed-demo`, `verify --database-url`).
//! - the offline tools (`compare`, `budget`, `conformity`, `ledger`,
//!   `verify EXPORT`) are the `jiliang-tools` crate's, which also builds
//!   them as a binary of their own; they are dispatched to it unchanged, so
//!   both binaries print the same bytes. They never open a database, start
//!   the async runtime or log.

use std::process::ExitCode;

use clap::Parser;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Cli, Command, Config, DatabaseArgs, LogFormat, ServeArgs};
use crate::store::{Store, redact_url};

use jiliang_tools::write_stdout as out;

/// The server subcommands (need the async runtime and usually a database).
enum ServerCommand {
    Serve(Box<ServeArgs>),
    Migrate(DatabaseArgs),
    SeedDemo(crate::config::SeedArgs),
    VerifyDb(crate::config::VerifyArgs),
    Backup(crate::config::BackupArgs),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return jiliang_tools::usage_error(&e, "jiliang"),
    };
    let command = match cli.command {
        Command::Serve(args) => ServerCommand::Serve(args),
        Command::Migrate(args) => ServerCommand::Migrate(args),
        Command::SeedDemo(args) => ServerCommand::SeedDemo(args),
        Command::Backup(args) => ServerCommand::Backup(args),
        Command::Offline(command) => return jiliang_tools::finish(jiliang_tools::run(&command)),
        Command::Verify(args) => match &args.export {
            Some(path) if args.database_url.is_none() => {
                return jiliang_tools::finish(jiliang_tools::ledger::verify(path, &args.options));
            }
            _ => ServerCommand::VerifyDb(args),
        },
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
        match command {
            ServerCommand::Serve(args) => serve(*args).await.map(|()| ExitCode::SUCCESS),
            ServerCommand::Migrate(args) => migrate(args).await.map(|()| ExitCode::SUCCESS),
            ServerCommand::SeedDemo(args) => seed_demo(args).await.map(|()| ExitCode::SUCCESS),
            ServerCommand::VerifyDb(args) => Ok(verify_database(args).await),
            ServerCommand::Backup(args) => backup(args).await.map(|()| ExitCode::SUCCESS),
        }
    });
    match result {
        Ok(code) => code,
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
    let listen = crate::listen::Listen::from_args(&args.connections)?;
    let mut config = Config::from(&args);
    // Before anything binds: settings that would break every call.
    config.ice.check().map_err(|e| e.to_string())?;
    let store = open_store(&args.database).await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    tracing::info!(%addr, storage = store.backend().as_str(), "jiliang listening");
    out(&format!(
        "计量协作网 Jiliang is running at {}://{addr}/  (Ctrl-C to stop)\n",
        listen.scheme()
    ));
    // Served over HTTPS directly: cookies must never travel in clear.
    config.secure_cookies |= listen.tls.is_some();
    let state = crate::AppState::build(store, config, shutdown)
        .await
        .map_err(|e| e.to_string())?;
    crate::serve_with(state, listener, listen)
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

async fn seed_demo(args: crate::config::SeedArgs) -> Result<(), String> {
    let store = open_store(&args.database).await?;
    let people = if args.if_empty {
        store.count_people().await.map_err(|e| e.to_string())?
    } else {
        0
    };
    if people > 0 {
        out(&format!(
            "the database already holds {people} people: demo data left as it is\n\
             demo logins, unless changed since (password {}):\n{}",
            crate::demo::DEMO_PASSWORD,
            crate::demo::logins()
        ));
    } else {
        let report = crate::demo::seed(&store).await;
        match report {
            Ok(r) => out(&r.to_string()),
            Err(e) => {
                store.close().await;
                return Err(e.to_string());
            }
        }
    }
    let lab = match &args.demo_lab {
        Some(dir) => crate::demo::lab::seed(&store, dir)
            .await
            .map(|r| out(&r.to_string()))
            .map_err(|e| format!("demo lab: {e}")),
        None => Ok(()),
    };
    store.close().await;
    lab
}

/// `jiliang backup`: a consistent copy of the SQLite database and the
/// ledger key in a new directory, taken while the server runs. The key is
/// part of the backup: without it a restored server could not go on
/// signing the same log.
async fn backup(args: crate::config::BackupArgs) -> Result<(), String> {
    let url = &args.database.database_url;
    if !url.starts_with("sqlite:") {
        return Err(format!(
            "jiliang backup copies SQLite databases; back PostgreSQL up with pg_dump (docs/OPERATIONS.md) ({})",
            redact_url(url)
        ));
    }
    let key = Config {
        ledger_key: args.ledger_key.clone(),
        ..Config::for_database(url.clone())
    }
    .ledger_key_path();
    let key_hex = std::fs::read_to_string(&key)
        .map_err(|e| format!("cannot read the ledger key {}: {e}", key.display()))?;
    if args.out.exists() {
        return Err(format!(
            "{} already exists; give a new directory",
            args.out.display()
        ));
    }
    let store = Store::connect(url)
        .await
        .map_err(|e| format!("{e} ({})", redact_url(url)))?;
    crate::ledger::key::create_private_dir(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let db = args.out.join("jiliang.db");
    let copied = store.backup_into(&db).await;
    store.close().await;
    if let Err(e) = copied {
        // Leave nothing half-written that looks like a backup.
        let _ = std::fs::remove_dir_all(&args.out);
        return Err(format!("backup failed: {e}"));
    }
    crate::ledger::key::create_private_file(&args.out.join("ledger-key.hex"))
        .and_then(|mut file| {
            std::io::Write::write_all(&mut file, key_hex.as_bytes())?;
            file.sync_all()
        })
        .map_err(|e| format!("cannot write the ledger key copy: {e}"))?;
    out(&format!(
        "backup written to {} (jiliang.db, ledger-key.hex); start a server on it with --database-url sqlite://{}\n",
        args.out.display(),
        db.display()
    ));
    Ok(())
}

/// `jiliang verify --database-url`: exit 0 when the whole log verifies, 1
/// with the report on stdout and the first problem on stderr when not, 2
/// when the database or the key cannot be used.
async fn verify_database(args: crate::config::VerifyArgs) -> ExitCode {
    let Some(url) = args.database_url.as_deref() else {
        eprintln!("error: give an export file or --database-url");
        return ExitCode::from(2);
    };
    let pinned = match args
        .options
        .public_key
        .as_deref()
        .map(|k| jiliang_ledger::verifying_key_from_hex(k.trim()))
    {
        None => None,
        Some(Ok(k)) => Some(k),
        Some(Err(_)) => {
            eprintln!("error: --public-key: not a 64-character hex Ed25519 public key");
            return ExitCode::from(2);
        }
    };
    let store = match Store::connect(url).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e} ({})", redact_url(url));
            return ExitCode::from(2);
        }
    };
    let report = match crate::ledger::verify::verify_database(&store, pinned).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot read the log: {e}");
            return ExitCode::from(2);
        }
    };
    let text = match args.options.format {
        crate::config::OutputFormat::Json => {
            serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
        }
        crate::config::OutputFormat::Text => {
            let mut t = format!(
                "{}: {} records, {} signed heads, verified size {}, root {}\n",
                if report.ok { "ok" } else { "FAILED" },
                report.leaves,
                report.heads,
                report.log.verified_size,
                report.log.verified_root
            );
            for p in &report.problems {
                t.push_str(&format!("  - {p}\n"));
            }
            t
        }
    };
    out(&text);
    store.close().await;
    match report.problems.first() {
        None => ExitCode::SUCCESS,
        Some(first) => {
            eprintln!("error: {first}");
            ExitCode::FAILURE
        }
    }
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
