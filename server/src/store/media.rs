//! Media leases: which node hosts a room's media (`media_leases`).
//!
//! A claim is one conditional upsert: it takes a lease that is free,
//! expired or already this node's, and leaves a live lease of another node
//! alone; however nodes race, one of them holds the room. Expiries are
//! milliseconds on the store's clock, as presence's are.

use uuid::Uuid;

use crate::store::Store;
use crate::store::rooms::presence::now_ms;

/// Who hosts a room's media, and until when (unless renewed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLease {
    pub node_id: Uuid,
    pub media_addr: String,
    pub expires_at_ms: i64,
}

impl MediaLease {
    /// Whether the lease still binds other nodes now.
    pub fn live(&self) -> bool {
        self.expires_at_ms > now_ms()
    }
}

impl Store {
    /// Claim (or renew) `session`'s media lease for `node` for `ttl_ms`;
    /// returns the holder afterwards: `node` itself, or another node whose
    /// lease is still live.
    pub async fn media_lease_claim(
        &self,
        session_id: Uuid,
        node_id: Uuid,
        media_addr: &str,
        ttl_ms: u64,
    ) -> Result<MediaLease, sqlx::Error> {
        let now = now_ms();
        let expires = now.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
        with_db!(self, "media.lease_claim", |p| {
            sqlx::query(
                "INSERT INTO media_leases (session_id, node_id, media_addr, expires_at_ms) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (session_id) DO UPDATE SET node_id = excluded.node_id, \
                 media_addr = excluded.media_addr, expires_at_ms = excluded.expires_at_ms \
                 WHERE media_leases.node_id = excluded.node_id OR media_leases.expires_at_ms <= $5",
            )
            .bind(session_id)
            .bind(node_id)
            .bind(media_addr)
            .bind(expires)
            .bind(now)
            .execute(p)
            .await?;
            let (node_id, media_addr, expires_at_ms): (Uuid, String, i64) = sqlx::query_as(
                "SELECT node_id, media_addr, expires_at_ms FROM media_leases WHERE session_id = $1",
            )
            .bind(session_id)
            .fetch_one(p)
            .await?;
            Ok(MediaLease {
                node_id,
                media_addr,
                expires_at_ms,
            })
        })
    }

    /// The lease of `session`'s media, live or expired, if any.
    pub async fn media_lease(&self, session_id: Uuid) -> Result<Option<MediaLease>, sqlx::Error> {
        with_db!(self, "media.lease", |p| {
            let row: Option<(Uuid, String, i64)> = sqlx::query_as(
                "SELECT node_id, media_addr, expires_at_ms FROM media_leases WHERE session_id = $1",
            )
            .bind(session_id)
            .fetch_optional(p)
            .await?;
            Ok(row.map(|(node_id, media_addr, expires_at_ms)| MediaLease {
                node_id,
                media_addr,
                expires_at_ms,
            }))
        })
    }

    /// Give up `node`'s leases: of one room, or (`None`) all of them.
    pub async fn media_lease_release(
        &self,
        session_id: Option<Uuid>,
        node_id: Uuid,
    ) -> Result<(), sqlx::Error> {
        with_db!(self, "media.lease_release", |p| {
            match session_id {
                Some(s) => {
                    sqlx::query("DELETE FROM media_leases WHERE session_id = $1 AND node_id = $2")
                        .bind(s)
                        .bind(node_id)
                        .execute(p)
                        .await?
                }
                None => {
                    sqlx::query("DELETE FROM media_leases WHERE node_id = $1")
                        .bind(node_id)
                        .execute(p)
                        .await?
                }
            };
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_db::{seed, stores};

    #[tokio::test]
    async fn one_node_holds_a_room_until_its_lease_expires_or_is_released() {
        for t in stores().await {
            let s = &t.store;
            let room = seed(s).await.session;
            let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
            assert_eq!(s.media_lease(room).await.expect("read"), None);
            let held = s
                .media_lease_claim(room, a, "192.0.2.1:7882", 60_000)
                .await
                .expect("claim");
            assert_eq!(held.node_id, a, "{}", t.name);
            assert!(held.live());
            // B cannot take a live lease; A renews its own.
            let seen = s
                .media_lease_claim(room, b, "192.0.2.2:7882", 60_000)
                .await
                .expect("claim");
            assert_eq!(seen, held, "{}", t.name);
            let renewed = s
                .media_lease_claim(room, a, "192.0.2.1:7882", 120_000)
                .await
                .expect("renew");
            assert_eq!(renewed.node_id, a);
            assert!(renewed.expires_at_ms > held.expires_at_ms);
            // B's release of A's lease does nothing; A's frees the room.
            s.media_lease_release(Some(room), b).await.expect("release");
            assert_eq!(s.media_lease(room).await.expect("read"), Some(renewed));
            s.media_lease_release(None, a).await.expect("release");
            assert_eq!(s.media_lease(room).await.expect("read"), None);
            // A lease that expired (its node died) goes to the next claimant.
            s.media_lease_claim(room, a, "192.0.2.1:7882", 0)
                .await
                .expect("claim");
            let taken = s
                .media_lease_claim(room, b, "192.0.2.2:7882", 60_000)
                .await
                .expect("take over");
            assert_eq!(
                (taken.node_id, taken.media_addr.as_str()),
                (b, "192.0.2.2:7882"),
                "{}",
                t.name
            );
            t.cleanup().await;
        }
    }
}
