//! Failed-login counters, in the database so every node enforces the same
//! limits.

use time::{Duration, OffsetDateTime};

use super::Store;
use crate::clock::now;

/// How many failures in which window lock a key, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max_failures: i64,
    pub window: Duration,
    pub lockout: Duration,
}

#[derive(sqlx::FromRow)]
struct Row {
    locked_until: Option<OffsetDateTime>,
}

impl Store {
    /// Seconds the key is still locked for, if it is.
    pub async fn throttle_locked(&self, key: &str) -> Result<Option<u64>, sqlx::Error> {
        let row: Option<Row> = with_db!(self, "throttle.locked", |p| sqlx::query_as(
            "SELECT locked_until FROM login_throttle WHERE key = $1"
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
    /// locked the key. Each step is one statement, so failures arriving in
    /// parallel (a password-guessing script) are all counted.
    pub async fn throttle_fail(&self, key: &str, limit: Limit) -> Result<Option<u64>, sqlx::Error> {
        let now = now();
        let window_opened_after = now - limit.window;
        let failures: i64 = with_db!(self, "throttle.fail", |p| {
            sqlx::query_scalar(
            "INSERT INTO login_throttle (key, failures, window_start, locked_until) VALUES ($1, 1, $2, NULL) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN login_throttle.window_start > $3 THEN login_throttle.failures + 1 ELSE 1 END, \
               window_start = CASE WHEN login_throttle.window_start > $3 THEN login_throttle.window_start ELSE $2 END \
             RETURNING failures"
        )
        .bind(key)
        .bind(now)
        .bind(window_opened_after)
        .fetch_one(p)
        .await
        })?;
        if failures < limit.max_failures {
            return Ok(None);
        }
        // A lock restarts the window, so the next lock needs a fresh run of
        // failures. Only the request that crosses the limit takes the lock.
        let locked_until = now + limit.lockout;
        let locked = with_db!(self, "throttle.lock", |p| sqlx::query(
            "UPDATE login_throttle SET failures = 0, window_start = $2, locked_until = $3 \
             WHERE key = $1 AND failures >= $4"
        )
        .bind(key)
        .bind(now)
        .bind(locked_until)
        .bind(limit.max_failures)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok((locked > 0).then(|| remaining_secs(locked_until - now)))
    }

    /// Forget counters whose window and lock are both over.
    pub async fn purge_throttle(&self, older_than: OffsetDateTime) -> Result<u64, sqlx::Error> {
        with_db!(self, "throttle.purge", |p| {
            sqlx::query(
            "DELETE FROM login_throttle WHERE window_start < $1 AND (locked_until IS NULL OR locked_until < $1)"
        )
        .bind(older_than)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })
    }

    pub async fn throttle_clear(&self, key: &str) -> Result<(), sqlx::Error> {
        with_db!(self, "throttle.clear", |p| sqlx::query(
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
