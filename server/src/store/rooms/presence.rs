//! Who is in which room right now, across nodes, and the durable stretch
//! of presence each person's `join`/`leave` events bracket.
//!
//! `room_presence` holds one row per (room, person, node) while that node
//! has the person connected (or within its grace period after they left).
//! Rows carry an expiry in integer milliseconds (UTC, from the store's
//! clock) that their node's heartbeat keeps pushing forward; a node that
//! dies stops, and any node's sweep removes its rows once they expire.
//!
//! `room_attendance` says whether a person's current stretch has its
//! durable `join` without its `leave`. It is only flipped by conditional
//! statements in the same transaction as the presence row change, so
//! however nodes race, a stretch starts and ends once: the caller that
//! flipped it writes the event.

use uuid::Uuid;

use crate::clock::now;
use crate::ledger::records::unix_ms;
use crate::store::Store;

/// Milliseconds since the Unix epoch on the store's clock: what presence
/// expiries are compared with.
pub fn now_ms() -> i64 {
    i64::try_from(unix_ms(now())).unwrap_or(i64::MAX)
}

/// A stretch of presence that ended: its person left every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departed {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub display_name: String,
}

impl Store {
    /// `user` is connected to `session` through `node` until `expires_at_ms`
    /// (unless refreshed). `true` when this starts a stretch of presence:
    /// the caller then writes the durable `join`.
    pub async fn presence_arrive(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        node_id: Uuid,
        expires_at_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        // Queued with SQLite's other writers (see `presence_heartbeat`).
        let _turn = self.write_turn().await;
        let begin = self.begin_write();
        with_db!(self, "presence.arrive", |p| {
            let mut tx = p.begin_with(begin).await?;
            sqlx::query(
                "INSERT INTO room_presence (session_id, user_id, node_id, expires_at_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (session_id, user_id, node_id) DO UPDATE SET expires_at_ms = excluded.expires_at_ms",
            )
            .bind(session_id)
            .bind(user_id)
            .bind(node_id)
            .bind(expires_at_ms)
            .execute(&mut *tx)
            .await?;
            let started: Option<Uuid> = sqlx::query_scalar(
                "INSERT INTO room_attendance (session_id, user_id, present) VALUES ($1, $2, TRUE) \
                 ON CONFLICT (session_id, user_id) DO UPDATE SET present = TRUE \
                 WHERE room_attendance.present = FALSE RETURNING user_id",
            )
            .bind(session_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(started.is_some())
        })
    }

    /// `node` no longer has `user` in `session`. `true` when that ends
    /// their stretch (no other node has them): the caller writes the
    /// durable `leave`.
    pub async fn presence_depart(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        node_id: Uuid,
    ) -> Result<bool, sqlx::Error> {
        // Queued with SQLite's other writers (see `presence_heartbeat`).
        let _turn = self.write_turn().await;
        let begin = self.begin_write();
        let now = now_ms();
        with_db!(self, "presence.depart", |p| {
            let mut tx = p.begin_with(begin).await?;
            sqlx::query(
                "DELETE FROM room_presence WHERE session_id = $1 AND user_id = $2 AND node_id = $3",
            )
            .bind(session_id)
            .bind(user_id)
            .bind(node_id)
            .execute(&mut *tx)
            .await?;
            let ended: Option<Uuid> = sqlx::query_scalar(
                "UPDATE room_attendance SET present = FALSE \
                 WHERE session_id = $1 AND user_id = $2 AND present = TRUE \
                   AND NOT EXISTS (SELECT 1 FROM room_presence p WHERE p.session_id = $1 \
                                   AND p.user_id = $2 AND p.expires_at_ms > $3) \
                 RETURNING user_id",
            )
            .bind(session_id)
            .bind(user_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            // Under PostgreSQL's read committed, a node that registered the
            // person while the update ran is only visible to a new
            // statement: if they are back, the stretch goes on.
            let back: Option<i64> = sqlx::query_scalar(
                "SELECT expires_at_ms FROM room_presence WHERE session_id = $1 AND user_id = $2 \
                 AND expires_at_ms > $3 LIMIT 1",
            )
            .bind(session_id)
            .bind(user_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if ended.is_some() && back.is_some() {
                tx.rollback().await?;
                return Ok(false);
            }
            tx.commit().await?;
            Ok(ended.is_some())
        })
    }

    /// Push the expiry of every row of `node` to `expires_at_ms`: the
    /// node's heartbeat.
    pub async fn presence_heartbeat(
        &self,
        node_id: Uuid,
        expires_at_ms: i64,
    ) -> Result<u64, sqlx::Error> {
        // SQLite's one writer: queue in turn with the reading groups
        // rather than poll its lock behind them (a heartbeat waited 4 s and
        // connected people's rows expired meanwhile).
        let _turn = self.write_turn().await;
        with_db!(self, "presence.heartbeat", |p| sqlx::query(
            "UPDATE room_presence SET expires_at_ms = $2 WHERE node_id = $1"
        )
        .bind(node_id)
        .bind(expires_at_ms)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
    }

    /// Remove rows whose node stopped refreshing them, and end the
    /// stretches of everyone no node has any more: the caller writes their
    /// durable `leave`s.
    pub async fn presence_sweep(&self) -> Result<Vec<Departed>, sqlx::Error> {
        // Queued with SQLite's other writers (see `presence_heartbeat`).
        let _turn = self.write_turn().await;
        let begin = self.begin_write();
        let now = now_ms();
        with_db!(self, "presence.sweep", |p| {
            let mut tx = p.begin_with(begin).await?;
            sqlx::query("DELETE FROM room_presence WHERE expires_at_ms <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let ended: Vec<(Uuid, Uuid)> = sqlx::query_as(
                "UPDATE room_attendance SET present = FALSE WHERE present = TRUE \
                 AND NOT EXISTS (SELECT 1 FROM room_presence p WHERE p.session_id = room_attendance.session_id \
                                 AND p.user_id = room_attendance.user_id) \
                 RETURNING session_id, user_id",
            )
            .fetch_all(&mut *tx)
            .await?;
            let mut out = Vec::with_capacity(ended.len());
            for (session_id, user_id) in ended {
                // See `presence_depart`: someone registered meanwhile stays.
                let back: Option<i64> = sqlx::query_scalar(
                    "SELECT expires_at_ms FROM room_presence WHERE session_id = $1 AND user_id = $2 LIMIT 1",
                )
                .bind(session_id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
                if back.is_some() {
                    sqlx::query(
                        "UPDATE room_attendance SET present = TRUE WHERE session_id = $1 AND user_id = $2",
                    )
                    .bind(session_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                    continue;
                }
                let display_name: Option<String> =
                    sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1")
                        .bind(user_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                out.push(Departed {
                    session_id,
                    user_id,
                    display_name: display_name.unwrap_or_default(),
                });
            }
            tx.commit().await?;
            Ok(out)
        })
    }

    /// Put a stretch back as it was when writing its event failed, so the
    /// next arrival or sweep tries again.
    pub async fn presence_undo(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        present: bool,
    ) -> Result<(), sqlx::Error> {
        // Queued with SQLite's other writers (see `presence_heartbeat`).
        let _turn = self.write_turn().await;
        with_db!(self, "presence.undo", |p| sqlx::query(
            "UPDATE room_attendance SET present = $3 WHERE session_id = $1 AND user_id = $2"
        )
        .bind(session_id)
        .bind(user_id)
        .bind(present)
        .execute(p)
        .await
        .map(|_| ()))
    }
}
