//! One-time tokens: invitations and password resets.

use jiliang_protocol::accounts::Role;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Store;
use super::time::db_time;
use super::users::{join_roles, parse_roles};
use crate::clock::now;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Invite,
    Reset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::Reset => "reset",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub token_hash: &'a [u8],
    pub purpose: Purpose,
    pub user_id: Option<Uuid>,
    pub institution_id: Uuid,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub roles: &'a [Role],
    pub created_by: Option<Uuid>,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: Uuid,
    purpose: String,
    user_id: Option<Uuid>,
    institution_id: Uuid,
    display_name: String,
    email: Option<String>,
    phone: Option<String>,
    roles: String,
    created_by: Option<Uuid>,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
    institution_name: String,
    institution_name_en: Option<String>,
    creator_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StoredToken {
    pub id: Uuid,
    pub purpose: Purpose,
    pub user_id: Option<Uuid>,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub institution_name_en: Option<String>,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub roles: Vec<Role>,
    pub created_by: Option<Uuid>,
    pub creator_name: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    /// Withdrawn, or superseded (a newer reset, a completed reset, a
    /// password change): the link no longer works.
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<Row> for StoredToken {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            purpose: if r.purpose == "reset" {
                Purpose::Reset
            } else {
                Purpose::Invite
            },
            user_id: r.user_id,
            institution_id: r.institution_id,
            institution_name: r.institution_name,
            institution_name_en: r.institution_name_en,
            display_name: r.display_name,
            email: r.email,
            phone: r.phone,
            roles: parse_roles(Some(&r.roles)),
            created_by: r.created_by,
            creator_name: r.creator_name,
            created_at: r.created_at,
            expires_at: r.expires_at,
            used_at: r.used_at,
            revoked_at: r.revoked_at,
        }
    }
}

const SELECT: &str = "SELECT t.id, t.purpose, t.user_id, t.institution_id, t.display_name, t.email, t.phone, t.roles, \
     t.created_by, t.created_at, t.expires_at, t.used_at, t.revoked_at, i.name_zh AS institution_name, i.name_en AS institution_name_en, c.display_name AS creator_name \
     FROM one_time_tokens t JOIN institutions i ON i.id = t.institution_id LEFT JOIN users c ON c.id = t.created_by";

impl Store {
    pub async fn insert_token(&self, t: &NewToken<'_>) -> Result<StoredToken, sqlx::Error> {
        let id = Uuid::now_v7();
        let now = now();
        with_db!(self, "tokens.insert", |p| {
            sqlx::query(
            "INSERT INTO one_time_tokens (id, token_hash, purpose, user_id, institution_id, display_name, email, phone, roles, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        )
        .bind(id)
        .bind(t.token_hash)
        .bind(t.purpose.as_str())
        .bind(t.user_id)
        .bind(t.institution_id)
        .bind(t.display_name)
        .bind(t.email)
        .bind(t.phone)
        .bind(join_roles(t.roles))
        .bind(t.created_by)
        .bind(db_time(now))
        .bind(db_time(t.expires_at))
        .execute(p)
        .await
        .map(|_| ())
        })?;
        let sql = format!("{SELECT} WHERE t.id = $1");
        let row: Row = with_db!(self, "tokens.get_by_id", |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_one(p)
            .await)?;
        Ok(row.into())
    }

    pub async fn get_token(&self, token_hash: &[u8]) -> Result<Option<StoredToken>, sqlx::Error> {
        let sql = format!("{SELECT} WHERE t.token_hash = $1");
        let row: Option<Row> = with_db!(self, "tokens.get", |p| sqlx::query_as(&sql)
            .bind(token_hash)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(Into::into))
    }

    /// Mark a token used; `false` if it was already used (a race lost).
    pub async fn use_token(&self, id: Uuid, user_id: Option<Uuid>) -> Result<bool, sqlx::Error> {
        let now = now();
        let n = with_db!(self, "tokens.use", |p| {
            sqlx::query(
                "UPDATE one_time_tokens SET used_at = $2, user_id = COALESCE($3, user_id) \
             WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(db_time(now))
            .bind(user_id)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// End every outstanding (unused, unrevoked) link of `purpose` for a
    /// person, except `keep`; returns how many ended.
    pub async fn revoke_user_tokens_except(
        &self,
        user_id: Uuid,
        purpose: Purpose,
        keep: Option<Uuid>,
    ) -> Result<u64, sqlx::Error> {
        let now = db_time(now());
        let mut sql = String::from(
            "UPDATE one_time_tokens SET revoked_at = $3 \
             WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL AND revoked_at IS NULL \
               AND ($4 IS NULL OR id <> $4)",
        );
        if self.backend() == super::Backend::Postgres {
            sql = sql.replace("$4 IS NULL", "$4::uuid IS NULL");
        }
        with_db!(self, "tokens.revoke_user", |p| sqlx::query(&sql)
            .bind(user_id)
            .bind(purpose.as_str())
            .bind(now)
            .bind(keep)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
    }

    /// End every outstanding link of `purpose` for a person.
    pub async fn revoke_user_tokens(
        &self,
        user_id: Uuid,
        purpose: Purpose,
    ) -> Result<u64, sqlx::Error> {
        self.revoke_user_tokens_except(user_id, purpose, None).await
    }

    /// Withdraw one unused link; `false` if it was already used or revoked.
    pub async fn revoke_token(&self, id: Uuid) -> Result<bool, sqlx::Error> {
        let now = db_time(now());
        let n = with_db!(self, "tokens.revoke", |p| {
            sqlx::query(
            "UPDATE one_time_tokens SET revoked_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL"
        )
        .bind(id)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// One link by id (for revoking an invitation).
    pub async fn get_token_by_id(&self, id: Uuid) -> Result<Option<StoredToken>, sqlx::Error> {
        let sql = format!("{SELECT} WHERE t.id = $1");
        let row: Option<Row> = with_db!(self, "tokens.get_by_id", |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(Into::into))
    }

    /// Invitations to institutions under `path_prefix`, newest first.
    pub async fn list_invitations(
        &self,
        path_prefix: &str,
        limit: i64,
    ) -> Result<Vec<StoredToken>, sqlx::Error> {
        let sql = format!(
            "{SELECT} WHERE t.purpose = 'invite' AND i.path LIKE $1 ORDER BY t.id DESC LIMIT $2"
        );
        let rows: Vec<Row> = with_db!(self, "tokens.list_invitations", |p| sqlx::query_as(&sql)
            .bind(format!("{path_prefix}%"))
            .bind(limit)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
