//! Shared application state, handed to handlers through axum `State`.

use std::sync::Arc;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::metrics::Metrics;
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
}

impl AppState {
    pub fn new(store: Store, config: Config, shutdown: CancellationToken) -> Self {
        Self {
            store,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            shutdown,
            tasks: TaskTracker::new(),
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
