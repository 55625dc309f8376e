//! Shared application state, handed to handlers through axum `State`.

use std::sync::Arc;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::{Bus, BusError};
use crate::config::Config;
use crate::devices::DeviceLinks;
use crate::ledger::{Ledger, LedgerError};
use crate::metrics::Metrics;
use crate::rooms::{EventLog, Hub};
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server begins to shut down; long-lived tasks
    /// (sockets) watch it to say goodbye properly.
    pub shutdown: CancellationToken,
    /// Every long-lived task registers here so shutdown can wait for it.
    pub tasks: TaskTracker,
    /// This node's open rooms.
    pub rooms: Arc<Hub>,
    /// Fan-out to this node and (with NATS) the others.
    pub bus: Bus,
    /// The single writer of room logs.
    pub log: EventLog,
    /// The tamper-evident log of records.
    pub ledger: Arc<Ledger>,
    /// Agent connections open on this node (closed when a token is revoked).
    pub device_links: Arc<DeviceLinks>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl AppState {
    /// Everything a node needs: the bus named in `config` (NATS if asked),
    /// the ledger (its key, its tree), the room log writer.
    pub async fn build(
        store: Store,
        config: Config,
        shutdown: CancellationToken,
    ) -> Result<Self, StateError> {
        let bus = Bus::connect(&config.bus).await?;
        let ledger = Ledger::open(
            store.clone(),
            &config.ledger_key_path(),
            config.ledger_accept_new_key,
        )
        .await?;
        Ok(Self::assemble(store, config, shutdown, bus, ledger))
    }

    fn assemble(
        store: Store,
        config: Config,
        shutdown: CancellationToken,
        bus: Bus,
        ledger: Arc<Ledger>,
    ) -> Self {
        let rooms = Hub::new(store.clone());
        let metrics = Metrics::new(store.metrics(), rooms.metrics(), bus.metrics());
        Self {
            ledger,
            log: EventLog::start(store.clone(), rooms.clone(), bus.clone()),
            rooms,
            bus,
            store,
            config: Arc::new(config),
            metrics: Arc::new(metrics),
            shutdown,
            tasks: TaskTracker::new(),
            device_links: DeviceLinks::new(),
        }
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(s: &AppState) -> Self {
        s.metrics.clone()
    }
}

impl FromRef<AppState> for Store {
    fn from_ref(s: &AppState) -> Self {
        s.store.clone()
    }
}
