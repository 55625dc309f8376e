//! Whether a room connection may go on: its login and its participation,
//! read together.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::now;
use crate::store::Store;

/// See [`Store::room_access`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomAccess {
    Allowed {
        last_seen_at: OffsetDateTime,
        /// When the login was made (its absolute lifetime counts from it).
        created_at: OffsetDateTime,
    },
    /// Logged out, expired, reset, or the person was deactivated.
    LoginEnded,
    /// No longer named in the session nor working in one of its labs.
    NotTakingPart,
}

impl Store {
    /// What a room connection's login may still do, in one read: whether
    /// its login session exists and has not expired, whether the person is
    /// active, and whether they still take part in `session_id` (named, or
    /// working in one of its labs).
    pub async fn room_access(
        &self,
        token_hash: &[u8],
        session_id: Uuid,
    ) -> Result<RoomAccess, sqlx::Error> {
        let row: Option<(bool, OffsetDateTime, OffsetDateTime, OffsetDateTime, i64)> = with_db!(
            self,
            "rooms.access",
            |p| {
                sqlx::query_as(
                "SELECT u.active, a.expires_at, a.last_seen_at, a.created_at, \
                        (SELECT COUNT(*) FROM session_participants sp WHERE sp.session_id = $2 AND sp.user_id = u.id) + \
                        (SELECT COUNT(*) FROM session_labs sl WHERE sl.session_id = $2 AND sl.institution_id = u.institution_id) \
                 FROM auth_sessions a JOIN users u ON u.id = a.user_id WHERE a.token_hash = $1",
            )
            .bind(token_hash)
            .bind(session_id)
            .fetch_optional(p)
            .await
            }
        )?;
        Ok(match row {
            Some((true, expires_at, last_seen_at, created_at, member))
                if expires_at > now()
                    && created_at + crate::auth::principal::MAX_LIFETIME > now() =>
            {
                if member > 0 {
                    RoomAccess::Allowed {
                        last_seen_at,
                        created_at,
                    }
                } else {
                    RoomAccess::NotTakingPart
                }
            }
            _ => RoomAccess::LoginEnded,
        })
    }
}
