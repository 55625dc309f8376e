//! The agent connections open on this node, by device.
//!
//! Revoking or replacing a device's token cancels every connection of that
//! device here at once; each connection then closes with
//! `CLOSE_TOKEN_REVOKED`. Connections on other nodes learn it from their
//! next batch (the store refuses it) or their periodic re-check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Default)]
pub struct DeviceLinks {
    // A plain mutex: held only to insert, remove or cancel, never across
    // an `.await`.
    open: Mutex<HashMap<Uuid, Vec<(u64, CancellationToken)>>>,
    next_id: AtomicU64,
}

/// One registered connection; dropping it unregisters.
#[derive(Debug)]
pub struct Link {
    links: Arc<DeviceLinks>,
    device: Uuid,
    id: u64,
    /// Cancelled when the device's token is revoked or replaced.
    pub revoked: CancellationToken,
}

impl DeviceLinks {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Register a connection of `device`.
    pub fn open(self: &Arc<Self>, device: Uuid) -> Link {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let revoked = CancellationToken::new();
        self.lock()
            .entry(device)
            .or_default()
            .push((id, revoked.clone()));
        Link {
            links: self.clone(),
            device,
            id,
            revoked,
        }
    }

    /// Close every connection of `device` on this node.
    pub fn revoke(&self, device: Uuid) {
        if let Some(conns) = self.lock().remove(&device) {
            for (_, token) in conns {
                token.cancel();
            }
        }
    }

    /// Connections of `device` open on this node.
    pub fn count(&self, device: Uuid) -> usize {
        self.lock().get(&device).map_or(0, Vec::len)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Vec<(u64, CancellationToken)>>> {
        // A panic while holding the lock cannot leave the map half-changed
        // (each operation is one insert or remove), so a poisoned lock is
        // still usable.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let mut open = self.links.lock();
        if let Some(conns) = open.get_mut(&self.device) {
            conns.retain(|(id, _)| *id != self.id);
            if conns.is_empty() {
                open.remove(&self.device);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoking_cancels_every_connection_of_the_device_only() {
        let links = DeviceLinks::new();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let a1 = links.open(a);
        let a2 = links.open(a);
        let b1 = links.open(b);
        assert_eq!(links.count(a), 2);
        links.revoke(a);
        assert!(a1.revoked.is_cancelled() && a2.revoked.is_cancelled());
        assert!(!b1.revoked.is_cancelled());
        assert_eq!(links.count(a), 0);
        drop(a1);
        drop(b1);
        assert_eq!(links.count(b), 0);
        drop(a2);
    }
}
