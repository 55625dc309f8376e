//! Jiliang server library: everything the `jiliang` binary does, callable
//! from tests.
//!
//! # Layout
//! - [`run`] / [`serve`]: start serving on a listener until a shutdown token fires;
//!   [`listen`] accepts connections (TLS, connection cap, timeouts).
//! - [`config`]: command line and environment.
//! - [`http`]: routes by feature (ops, time, …), static front end, OpenAPI.
//! - [`store`]: SQLite/PostgreSQL storage and migrations; all SQL is there.
//! - [`rooms`], [`bus`]: live session rooms (which follow the other nodes)
//!   and the bus that carries messages between nodes (and knows no rooms).
//! - [`ledger`]: the tamper-evident log of records, its key and signed heads.
//! - [`error`]: the one error type and its `{code, message}` responses.
//! - [`i18n`]: language negotiation for messages.
//! - [`metrics`], [`clock`]: Prometheus metrics (one registry per server)
//!   and the server's UTC clock (every timestamp it stores).
//! - [`devices`]: instruments at work: agent connections, the one path a
//!   batch of readings takes into storage.
//! - [`demo`]: the demo province.
//! - [`auth`], [`authz`]: who is calling, and what they may do.
//! - [`cli`]: the `jiliang` subcommands.

pub mod auth;
pub mod authz;
pub mod bus;
pub mod certificates;
pub mod cli;
pub mod clock;
pub mod comparison;
pub mod config;
pub mod demo;
pub mod devices;
pub mod error;
pub mod http;
pub mod i18n;
pub mod ledger;
pub mod listen;
pub mod media;
pub mod metrics;
pub mod recording;
pub mod rooms;
pub mod rounds;
pub mod state;
pub mod store;
pub mod validate;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use state::AppState;
pub use store::Store;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Open (and migrate) the database named by `config`, then serve until
/// `shutdown` is cancelled.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let store = Store::open(&config.database_url).await?;
    let state = AppState::build(store, config, shutdown).await?;
    serve(state, listener).await
}

/// Serve `state` on `listener` until `state.shutdown` is cancelled: stop
/// accepting, let in-flight requests finish, close sockets with a close
/// frame, wait for every registered task, close the pool.
pub async fn serve(state: AppState, listener: TcpListener) -> Result<(), RunError> {
    serve_with(state, listener, listen::Listen::default()).await
}

/// [`serve`] with the listening options of `jiliang serve`: TLS, the
/// connection cap and the timeouts (see [`listen`]).
pub async fn serve_with(
    state: AppState,
    listener: TcpListener,
    listen: listen::Listen,
) -> Result<(), RunError> {
    state.ledger.spawn_publisher(
        std::time::Duration::from_millis(state.config.ledger_interval_ms),
        state.shutdown.clone(),
        &state.tasks,
    );
    auth::sweeper::spawn(
        state.store.clone(),
        std::time::Duration::from_secs(15 * 60),
        state.shutdown.clone(),
        &state.tasks,
    );
    let app = http::app(state.clone());
    listen::serve(
        listener,
        app,
        listen,
        state.metrics.connections(),
        state.shutdown.clone(),
    )
    .await?;
    // Room sockets end their media as they close; anything left (a peer
    // still being built) is closed here.
    state.media.shutdown();
    state.tasks.close();
    state.tasks.wait().await;
    state.store.close().await;
    Ok(())
}
