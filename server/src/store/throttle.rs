//! Login attempt counters, in the database so every node enforces the same
//! limits.
//!
//! An attempt takes a slot *before* its password is checked, in one atomic
//! statement: of any number of attempts arriving at once against one key,
//! only `max_failures` are let through to the (slow) check, and the one that
//! takes the last slot locks the key for everyone after it. Counting after
//! the check, as this once did, let a burst of parallel guesses all be
//! checked while the counter caught up. A success or an attempt that was
//! never checked gives its slot back ([`Store::throttle_release`]); a
//! success against an account clears its counter ([`Store::throttle_clear`]).

use time::{Duration, OffsetDateTime};

use super::Store;
use super::time::db_time;
use crate::clock::now;

/// How many attempts in which window lock a key, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max_failures: i64,
    pub window: Duration,
    pub lockout: Duration,
}

/// The answer to "may this attempt be checked?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Go ahead; `last`: this attempt took the last slot and locked the key
    /// (if it fails, it is the one that locked it).
    Allowed { last: bool },
    /// Locked: try again after this many seconds.
    Refused { retry_after_s: u64 },
}

impl Store {
    /// Take an attempt slot for `key` (see the module docs).
    pub async fn throttle_take(&self, key: &str, limit: Limit) -> Result<Attempt, sqlx::Error> {
        let now = now();
        let window_opened_after = now - limit.window;
        let locks_until = now + limit.lockout;
        // `fresh`: the window is over or the lock has run out, so this
        // attempt starts a new count. Column references in SET are the old
        // row's values, in SQLite and PostgreSQL alike.
        let fresh = "(login_throttle.window_start <= $3 OR login_throttle.locked_until <= $2)";
        let sql = format!(
            "INSERT INTO login_throttle (key, failures, window_start, locked_until) \
             VALUES ($1, 1, $2, CASE WHEN 1 >= $4 THEN $5 ELSE NULL END) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN {fresh} THEN 1 ELSE login_throttle.failures + 1 END, \
               window_start = CASE WHEN {fresh} THEN $2 ELSE login_throttle.window_start END, \
               locked_until = CASE WHEN {fresh} THEN (CASE WHEN 1 >= $4 THEN $5 ELSE NULL END) \
                 WHEN login_throttle.locked_until IS NULL AND login_throttle.failures + 1 >= $4 THEN $5 \
                 ELSE login_throttle.locked_until END \
             RETURNING failures, locked_until"
        );
        let (taken, locked_until): (i64, Option<OffsetDateTime>) =
            with_db!(self, "throttle.take", |p| sqlx::query_as(&sql)
                .bind(key)
                .bind(db_time(now))
                .bind(db_time(window_opened_after))
                .bind(limit.max_failures)
                .bind(db_time(locks_until))
                .fetch_one(p)
                .await)?;
        if taken <= limit.max_failures {
            return Ok(Attempt::Allowed {
                last: taken == limit.max_failures,
            });
        }
        let until = locked_until.unwrap_or(locks_until);
        Ok(Attempt::Refused {
            retry_after_s: remaining_secs(until - now),
        })
    }

    /// Give back a slot taken by an attempt that succeeded or was never
    /// checked; a lock its slot set is lifted unless later attempts were
    /// refused by it.
    pub async fn throttle_release(&self, key: &str, limit: Limit) -> Result<(), sqlx::Error> {
        with_db!(self, "throttle.release", |p| sqlx::query(
            "UPDATE login_throttle SET failures = failures - 1, \
               locked_until = CASE WHEN failures - 1 < $2 THEN NULL ELSE locked_until END \
             WHERE key = $1 AND failures > 0"
        )
        .bind(key)
        .bind(limit.max_failures)
        .execute(p)
        .await
        .map(|_| ()))
    }

    /// Seconds the key is still locked for, if it is (for tests and tools;
    /// requests use [`Store::throttle_take`]).
    pub async fn throttle_locked(&self, key: &str) -> Result<Option<u64>, sqlx::Error> {
        let until: Option<Option<OffsetDateTime>> =
            with_db!(self, "throttle.locked", |p| sqlx::query_scalar(
                "SELECT locked_until FROM login_throttle WHERE key = $1"
            )
            .bind(key)
            .fetch_optional(p)
            .await)?;
        let now = now();
        Ok(until
            .flatten()
            .filter(|u| *u > now)
            .map(|u| remaining_secs(u - now)))
    }

    /// Forget counters whose window and lock are both over.
    pub async fn purge_throttle(&self, older_than: OffsetDateTime) -> Result<u64, sqlx::Error> {
        with_db!(self, "throttle.purge", |p| {
            sqlx::query(
            "DELETE FROM login_throttle WHERE window_start < $1 AND (locked_until IS NULL OR locked_until < $1)"
        )
        .bind(db_time(older_than))
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
