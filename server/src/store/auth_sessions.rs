//! Login sessions (`auth_sessions`): who is signed in, with which CSRF
//! token, until when. Not to be confused with live sessions (rooms), which
//! are [`super::rooms::sessions`].

use time::OffsetDateTime;
use uuid::Uuid;

use super::Store;
use super::time::db_time;
use crate::clock::now;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredAuthSession {
    pub user_id: Uuid,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewAuthSession<'a> {
    pub token_hash: &'a [u8],
    pub user_id: Uuid,
    pub csrf_token: &'a str,
    pub expires_at: OffsetDateTime,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl Store {
    pub async fn insert_auth_session(&self, s: &NewAuthSession<'_>) -> Result<(), sqlx::Error> {
        let now = now();
        with_db!(self, "auth_sessions.insert", |p| {
            sqlx::query(
            "INSERT INTO auth_sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7)"
        )
        .bind(s.token_hash)
        .bind(s.user_id)
        .bind(s.csrf_token)
        .bind(db_time(now))
        .bind(db_time(s.expires_at))
        .bind(s.ip)
        .bind(s.user_agent)
        .execute(p)
        .await
        .map(|_| ())
        })
    }

    pub async fn get_auth_session(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<StoredAuthSession>, sqlx::Error> {
        with_db!(self, "auth_sessions.get", |p| {
            sqlx::query_as(
            "SELECT user_id, csrf_token, created_at, last_seen_at, expires_at FROM auth_sessions WHERE token_hash = $1"
        )
        .bind(token_hash)
        .fetch_optional(p)
        .await
        })
    }

    /// Slide the idle expiry forward.
    pub async fn touch_auth_session(
        &self,
        token_hash: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        let now = now();
        with_db!(self, "auth_sessions.touch", |p| sqlx::query(
            "UPDATE auth_sessions SET last_seen_at = $2, expires_at = $3 WHERE token_hash = $1"
        )
        .bind(token_hash)
        .bind(db_time(now))
        .bind(db_time(expires_at))
        .execute(p)
        .await
        .map(|_| ()))
    }

    pub async fn delete_auth_session(&self, token_hash: &[u8]) -> Result<(), sqlx::Error> {
        with_db!(self, "auth_sessions.delete", |p| sqlx::query(
            "DELETE FROM auth_sessions WHERE token_hash = $1"
        )
        .bind(token_hash)
        .execute(p)
        .await
        .map(|_| ()))
    }

    /// End every login of a user, optionally keeping one (the caller's).
    pub async fn delete_user_auth_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&[u8]>,
    ) -> Result<u64, sqlx::Error> {
        with_db!(self, "auth_sessions.delete_user", |p| sqlx::query(
            "DELETE FROM auth_sessions WHERE user_id = $1 AND ($2 IS NULL OR token_hash <> $2)"
        )
        .bind(user_id)
        .bind(keep)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
    }

    /// End the logins of everyone in an institution subtree (`path` is
    /// its materialised path).
    pub async fn delete_auth_sessions_under(&self, path: &str) -> Result<u64, sqlx::Error> {
        with_db!(self, "auth_sessions.delete_under", |p| sqlx::query(
            "DELETE FROM auth_sessions WHERE user_id IN \
               (SELECT u.id FROM users u JOIN institutions i ON i.id = u.institution_id \
                WHERE i.path LIKE $1 || '%')"
        )
        .bind(path)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
    }

    pub async fn purge_expired_auth_sessions(&self) -> Result<u64, sqlx::Error> {
        let now = now();
        with_db!(self, "auth_sessions.purge", |p| sqlx::query(
            "DELETE FROM auth_sessions WHERE expires_at < $1"
        )
        .bind(db_time(now))
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
    }
}
