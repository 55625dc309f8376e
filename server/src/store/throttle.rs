//! Failed-login counters, in the database so every node enforces the same
//! limits.

use time::{Duration, OffsetDateTime};

use super::Store;
use super::institutions::now;
use crate::with_db;

/// How many failures in which window lock a key, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max_failures: i64,
    pub window: Duration,
    pub lockout: Duration,
}

#[derive(sqlx::FromRow)]
struct Row {
    failures: i64,
    window_start: OffsetDateTime,
    locked_until: Option<OffsetDateTime>,
}

impl Store {
    /// Seconds the key is still locked for, if it is.
    pub async fn throttle_locked(&self, key: &str) -> Result<Option<u64>, sqlx::Error> {
        let row: Option<Row> = with_db!(self, |p| sqlx::query_as(
            "SELECT failures, window_start, locked_until FROM login_throttle WHERE key = $1"
        )
        .bind(key)
        .fetch_optional(p)
        .await)?;
        let now = now();
        Ok(row
            .and_then(|r| r.locked_until)
            .filter(|until| *until > now)
            .map(|until| remaining_secs(until - now)))
    }

    /// Count a failure; returns the lock duration in seconds if this failure
    /// locked the key.
    pub async fn throttle_fail(&self, key: &str, limit: Limit) -> Result<Option<u64>, sqlx::Error> {
        let now = now();
        let row: Option<Row> = with_db!(self, |p| sqlx::query_as(
            "SELECT failures, window_start, locked_until FROM login_throttle WHERE key = $1"
        )
        .bind(key)
        .fetch_optional(p)
        .await)?;
        let (failures, window_start) = match row {
            Some(r) if now - r.window_start < limit.window => (r.failures + 1, r.window_start),
            _ => (1, now),
        };
        let locked_until = (failures >= limit.max_failures).then_some(now + limit.lockout);
        // A lock restarts the window, so the next lock needs a fresh run of failures.
        let (failures, window_start) = if locked_until.is_some() {
            (0, now)
        } else {
            (failures, window_start)
        };
        with_db!(self, |p| {
            sqlx::query(
            "INSERT INTO login_throttle (key, failures, window_start, locked_until) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET failures = $2, window_start = $3, locked_until = COALESCE($4, login_throttle.locked_until)"
        )
        .bind(key)
        .bind(failures)
        .bind(window_start)
        .bind(locked_until)
        .execute(p)
        .await
        .map(|_| ())
        })?;
        Ok(locked_until.map(|u| remaining_secs(u - now)))
    }

    pub async fn throttle_clear(&self, key: &str) -> Result<(), sqlx::Error> {
        with_db!(self, |p| sqlx::query(
            "DELETE FROM login_throttle WHERE key = $1"
        )
        .bind(key)
        .execute(p)
        .await
        .map(|_| ()))
    }
}

fn remaining_secs(d: Duration) -> u64 {
    // Round up: "try again in 0 s" would be a lie.
    let ms = d.whole_milliseconds().max(0);
    u64::try_from((ms + 999) / 1000).unwrap_or(u64::MAX).max(1)
}
