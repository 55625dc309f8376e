//! Removes login sessions and failed-login counters that can no longer
//! matter, so the tables stay the size of the active user base.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::now;
use crate::store::Store;

/// Counters older than this are past every window and lock.
const THROTTLE_KEEP: time::Duration = time::Duration::hours(1);

pub fn spawn(store: Store, every: Duration, shutdown: CancellationToken, tasks: &TaskTracker) {
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            // A failed sweep is retried at the next tick; expired logins
            // are refused on use anyway, so nothing is at risk meanwhile.
            match store.purge_expired_auth_sessions().await {
                Ok(n) if n > 0 => tracing::debug!(auth_sessions = n, "expired logins removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot remove expired logins"),
            }
            if let Err(e) = store.purge_throttle(now() - THROTTLE_KEEP).await {
                tracing::warn!(error = %e, "cannot remove old login counters");
            }
        }
    });
}
