//! Fan-out of room events between nodes.
//!
//! `Local` (the default) delivers to this node's rooms only. `Nats` also
//! publishes each stored event on `jiliang.room.<session>` so every node
//! with a connection to that room receives it; events from NATS go through
//! the same per-room sequencer as local ones, which drops what it has
//! already delivered and fills gaps from the database, so NATS may lose,
//! duplicate or reorder without a client ever seeing it.
//!
//! An enum rather than a trait object: there are two implementations, both
//! known here, and an enum keeps the async methods free of boxing.

use std::sync::Arc;

use futures_util::StreamExt;
use jiliang_protocol::rooms::{Ephemeral, RoomEvent};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::rooms::Hub;

#[derive(Clone)]
pub enum Bus {
    Local(Arc<Hub>),
    Nats {
        hub: Arc<Hub>,
        client: async_nats::Client,
        node: Uuid,
    },
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(_) => f.write_str("Bus::Local"),
            Self::Nats { node, .. } => write!(f, "Bus::Nats({node})"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("unsupported bus URL {0:?}: expected nats://host:port or nothing")]
    Unsupported(String),
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        source: async_nats::ConnectError,
    },
}

/// What travels on NATS.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Wire {
    Event { node: Uuid, event: RoomEvent },
    Ephemeral { node: Uuid, ephemeral: Ephemeral },
}

fn subject(session: Uuid) -> String {
    format!("jiliang.room.{}", session.simple())
}

impl Bus {
    pub async fn connect(url: &str, hub: Arc<Hub>) -> Result<Self, BusError> {
        if url.trim().is_empty() {
            return Ok(Self::Local(hub));
        }
        if !url.starts_with("nats://") {
            return Err(BusError::Unsupported(url.to_owned()));
        }
        let client = async_nats::ConnectOptions::new()
            .name("jiliang")
            .connection_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|source| BusError::Connect {
                url: url.to_owned(),
                source,
            })?;
        Ok(Self::Nats {
            hub,
            client,
            node: Uuid::now_v7(),
        })
    }

    pub fn hub(&self) -> &Arc<Hub> {
        match self {
            Self::Local(hub) | Self::Nats { hub, .. } => hub,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Local(_) => "in-process",
            Self::Nats { .. } => "nats",
        }
    }

    /// Whether the bus can deliver right now.
    pub fn healthy(&self) -> bool {
        match self {
            Self::Local(_) => true,
            Self::Nats { client, .. } => {
                client.connection_state() == async_nats::connection::State::Connected
            }
        }
    }

    /// Deliver a stored event here and (with NATS) to the other nodes.
    pub async fn publish_event(&self, session: Uuid, event: Arc<RoomEvent>) {
        self.hub().deliver(session, event.clone());
        if let Self::Nats { client, node, .. } = self {
            let wire = Wire::Event {
                node: *node,
                event: (*event).clone(),
            };
            publish(client, session, &wire).await;
        }
    }

    pub async fn publish_ephemeral(&self, session: Uuid, ephemeral: Ephemeral) {
        let ephemeral = Arc::new(ephemeral);
        self.hub().deliver_ephemeral(session, ephemeral.clone());
        if let Self::Nats { client, node, .. } = self {
            let wire = Wire::Ephemeral {
                node: *node,
                ephemeral: (*ephemeral).clone(),
            };
            publish(client, session, &wire).await;
        }
    }

    /// Receive other nodes' events for `session` while the returned task
    /// runs (`None` for the local bus: there are no other nodes).
    pub async fn follow(&self, session: Uuid) -> Option<JoinHandle<()>> {
        let Self::Nats { client, node, hub } = self else {
            return None;
        };
        let mut sub = match client.subscribe(subject(session)).await {
            Ok(sub) => sub,
            Err(e) => {
                // The sequencer's gap filling still brings events from the
                // database when the next local one arrives.
                tracing::warn!(error = %e, %session, "cannot subscribe to room on NATS");
                return None;
            }
        };
        let (me, hub) = (*node, hub.clone());
        Some(tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                match serde_json::from_slice::<Wire>(&msg.payload) {
                    Ok(Wire::Event { node, event }) if node != me => {
                        hub.deliver(session, Arc::new(event));
                    }
                    Ok(Wire::Ephemeral { node, ephemeral }) if node != me => {
                        hub.deliver_ephemeral(session, Arc::new(ephemeral));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "undecodable message on the bus"),
                }
            }
        }))
    }
}

async fn publish(client: &async_nats::Client, session: Uuid, wire: &Wire) {
    match serde_json::to_vec(wire) {
        Ok(bytes) => {
            if let Err(e) = client.publish(subject(session), bytes.into()).await {
                tracing::warn!(error = %e, %session, "cannot publish to NATS");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot encode bus message"),
    }
}
