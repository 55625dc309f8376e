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
use crate::rooms::{EventLog, Hub, Presence};
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
    /// Who is connected (across nodes), socket caps, per-person limits.
    pub presence: Arc<Presence>,
    /// The tamper-evident log of records.
    pub ledger: Arc<Ledger>,
    /// Password hashing, bounded per node (argon2 takes 19 MiB a hash).
    pub hashing: crate::auth::password::Hashing,
    /// Server-wide secrets from the database (the login fingerprint key).
    pub secrets: Arc<crate::auth::fingerprint::Secrets>,
    /// Agent connections open on this node (closed when a token is revoked).
    pub device_links: Arc<DeviceLinks>,
    /// The single writer of agents' reading batches (group commit).
    pub batches: crate::devices::BatchWriter,
    /// Audio, video and screen of this node's rooms.
    pub media: Arc<dyn crate::media::Sfu>,
    /// Writes the rooms being recorded whose media this node hosts.
    pub recorder: crate::recording::Recorder,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot read or create the server's secrets: {0}")]
    Secrets(#[from] sqlx::Error),
}

impl AppState {
    /// Everything a node needs: the bus named in `config` (NATS if asked),
    /// the ledger (its key, its tree), the room log writer.
    pub async fn build(
        store: Store,
        config: Config,
        shutdown: CancellationToken,
    ) -> Result<Self, StateError> {
        let bus = Bus::connect(&config.bus, &config.nats).await?;
        let ledger = Ledger::open(
            store.clone(),
            &config.ledger_key_path(),
            config.ledger_accept_new_key,
        )
        .await?;
        let secrets = crate::auth::fingerprint::Secrets::load(&store).await?;
        let media_seal = match bus.node_id() {
            Some(_) => Some(crate::media::route::RoutedSfu::load_seal(&store).await?),
            None => None,
        };
        Ok(Self::assemble(
            store, config, shutdown, bus, ledger, secrets, media_seal,
        ))
    }

    fn assemble(
        store: Store,
        config: Config,
        shutdown: CancellationToken,
        bus: Bus,
        ledger: Arc<Ledger>,
        secrets: crate::auth::fingerprint::Secrets,
        media_seal: Option<crate::bus::media::MediaSeal>,
    ) -> Self {
        let rooms = Hub::new(store.clone());
        let metrics = Metrics::new(store.metrics(), rooms.metrics(), bus.metrics());
        let hashing = crate::auth::password::Hashing::new(
            config.password_hash_concurrency,
            std::time::Duration::from_millis(config.password_hash_wait_ms),
        );
        let log = EventLog::start(store.clone(), rooms.clone(), bus.clone());
        let batches = crate::devices::BatchWriter::start(store.clone(), rooms.clone(), bus.clone());
        let tasks = TaskTracker::new();
        crate::store::checkpoint::spawn_checkpoints(store.clone(), shutdown.clone(), &tasks);
        let presence = Presence::start(
            store.clone(),
            log.clone(),
            config.presence(),
            shutdown.clone(),
            tasks.clone(),
        );
        let engine: Arc<dyn crate::media::Sfu> = Arc::new(crate::media::WebrtcSfu::new(
            &config.media,
            metrics.media_gauges(),
        ));
        // With other nodes, a room's media lives on the holder of its lease.
        let media: Arc<dyn crate::media::Sfu> = match (bus.node_id(), media_seal) {
            (Some(node), Some(seal)) => Arc::new(crate::media::route::RoutedSfu::start(
                engine,
                store.clone(),
                bus.clone(),
                seal,
                node,
                &config.media,
                shutdown.clone(),
                &tasks,
            )),
            _ => engine,
        };
        let recorder = crate::recording::Recorder::start(
            store.clone(),
            media.clone(),
            config.recordings_path(),
            config.recording.ffmpeg.clone(),
            shutdown.clone(),
            &tasks,
        );
        Self {
            recorder,
            media,
            batches,
            hashing,
            secrets: Arc::new(secrets),
            ledger,
            log,
            presence,
            rooms,
            bus,
            store,
            config: Arc::new(config),
            metrics: Arc::new(metrics),
            shutdown,
            tasks,
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
