//! People and their roles.

use jiliang_protocol::accounts::{Role, User};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Store;
use super::time::db_time;
use crate::clock::now;

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub institution_id: Uuid,
    pub roles: Vec<Role>,
    /// Argon2 PHC string, or `None` for an account that sets it later.
    pub password_hash: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    username: String,
    display_name: String,
    email: Option<String>,
    phone: Option<String>,
    institution_id: Uuid,
    active: bool,
    created_at: OffsetDateTime,
    roles: Option<String>,
    password_hash: Option<String>,
}

/// A user with what authentication needs.
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub user: User,
    pub password_hash: Option<String>,
}

/// Filters for listing people.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Only people whose institution path starts with this.
    pub path_prefix: String,
    pub institution_id: Option<Uuid>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    /// Matches username, display name, e-mail or phone (substring).
    pub text: Option<String>,
    /// Return ids greater than this (paging).
    pub after: Option<Uuid>,
    pub limit: i64,
}

pub(crate) fn parse_roles(s: Option<&str>) -> Vec<Role> {
    let mut roles: Vec<Role> = s
        .unwrap_or("")
        .split(',')
        .filter_map(|r| Role::parse(r.trim()))
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

pub(crate) fn join_roles(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl From<Row> for StoredUser {
    fn from(r: Row) -> Self {
        let password_hash = r.password_hash.clone();
        StoredUser {
            user: r.into(),
            password_hash,
        }
    }
}

impl From<Row> for User {
    fn from(r: Row) -> Self {
        User {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            email: r.email,
            phone: r.phone,
            institution_id: r.institution_id,
            roles: parse_roles(r.roles.as_deref()),
            active: r.active,
            created_at: r.created_at,
        }
    }
}

/// Roles aggregated into one comma-separated column; the two dialects name
/// the aggregate differently.
fn roles_agg(store: &Store) -> &'static str {
    match store.backend() {
        super::Backend::Sqlite => {
            "(SELECT group_concat(role, ',') FROM user_roles r WHERE r.user_id = u.id)"
        }
        super::Backend::Postgres => {
            "(SELECT string_agg(role, ',') FROM user_roles r WHERE r.user_id = u.id)"
        }
    }
}

fn user_columns(store: &Store) -> String {
    format!(
        "u.id, u.username, u.display_name, u.email, u.phone, u.institution_id, u.active, u.created_at, {} AS roles, u.password_hash",
        roles_agg(store)
    )
}

impl Store {
    pub async fn insert_user(&self, new: &NewUser) -> Result<User, sqlx::Error> {
        let id = Uuid::now_v7();
        let now = now();
        with_db!(self, "users.insert", |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO users (id, username, display_name, email, phone, institution_id, password_hash, active, created_at, updated_at, password_changed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $8, $9)",
            )
            .bind(id)
            .bind(&new.username)
            .bind(&new.display_name)
            .bind(&new.email)
            .bind(&new.phone)
            .bind(new.institution_id)
            .bind(&new.password_hash)
            .bind(db_time(now))
            .bind(new.password_hash.as_ref().map(|_| db_time(now)))
            .execute(&mut *tx)
            .await?;
            for role in &new.roles {
                sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                    .bind(id)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })?;
        self.get_user(id).await
    }

    pub async fn get_user(&self, id: Uuid) -> Result<User, sqlx::Error> {
        Ok(self.get_user_auth(id).await?.user)
    }

    pub async fn get_user_auth(&self, id: Uuid) -> Result<StoredUser, sqlx::Error> {
        let sql = format!("SELECT {} FROM users u WHERE u.id = $1", user_columns(self));
        let row: Row = with_db!(self, "users.get", |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_one(p)
            .await)?;
        Ok(row.into())
    }

    /// Find an account by username, e-mail or phone (already normalised).
    pub async fn find_user_by_login(&self, login: &str) -> Result<Option<StoredUser>, sqlx::Error> {
        let sql = format!(
            "SELECT {} FROM users u WHERE u.username = $1 OR u.email = $1 OR u.phone = $1 ORDER BY u.id LIMIT 1",
            user_columns(self)
        );
        let row: Option<Row> = with_db!(self, "users.find_by_login", |p| sqlx::query_as(&sql)
            .bind(login)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(Into::into))
    }

    pub async fn username_taken(&self, username: &str) -> Result<bool, sqlx::Error> {
        let n: i64 = with_db!(self, "users.username_taken", |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE username = $1"
        )
        .bind(username)
        .fetch_one(p)
        .await)?;
        Ok(n > 0)
    }

    pub async fn list_users(&self, q: &UserQuery) -> Result<Vec<User>, sqlx::Error> {
        // Optional filters are bound as NULL-able parameters so one statement
        // serves every combination.
        let sql = format!(
            "SELECT {cols} FROM users u JOIN institutions i ON i.id = u.institution_id \
             WHERE i.path LIKE $1 \
               AND ($2 IS NULL OR u.institution_id = $2) \
               AND ($3 IS NULL OR EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = $3)) \
               AND ($4 IS NULL OR u.active = $4) \
               AND ($5 IS NULL OR u.username LIKE $5 OR u.display_name LIKE $5 OR u.email LIKE $5 OR u.phone LIKE $5) \
               AND ($6 IS NULL OR u.id > $6) \
             ORDER BY u.id LIMIT $7",
            cols = user_columns(self)
        );
        let text = q.text.as_ref().map(|t| format!("%{}%", escape_like(t)));
        let like_path = format!("{}%", escape_like(&q.path_prefix));
        let sql = match self.backend() {
            // PostgreSQL must know the type of a parameter compared with NULL.
            super::Backend::Postgres => sql
                .replace("$2 IS NULL", "$2::uuid IS NULL")
                .replace("$3 IS NULL", "$3::text IS NULL")
                .replace("$4 IS NULL", "$4::boolean IS NULL")
                .replace("$5 IS NULL", "$5::text IS NULL")
                .replace("$6 IS NULL", "$6::uuid IS NULL"),
            super::Backend::Sqlite => sql,
        };
        let rows: Vec<Row> = with_db!(self, "users.list", |p| sqlx::query_as(&sql)
            .bind(&like_path)
            .bind(q.institution_id)
            .bind(q.role.map(|r| r.as_str()))
            .bind(q.active)
            .bind(&text)
            .bind(q.after)
            .bind(q.limit)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    /// Active people per institution.
    pub async fn count_users_by_institution(
        &self,
    ) -> Result<std::collections::HashMap<Uuid, i64>, sqlx::Error> {
        let rows: Vec<(Uuid, i64)> = with_db!(self, "users.count_by_institution", |p| {
            sqlx::query_as(
            "SELECT institution_id, COUNT(*) FROM users WHERE active = TRUE GROUP BY institution_id"
        )
        .fetch_all(p)
        .await
        })?;
        Ok(rows.into_iter().collect())
    }

    pub async fn count_users_in(&self, institution_id: Uuid) -> Result<i64, sqlx::Error> {
        with_db!(self, "users.count_in", |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE institution_id = $1 AND active = TRUE"
        )
        .bind(institution_id)
        .fetch_one(p)
        .await)
    }

    /// Apply a partial update; `roles`, if given, replaces the set.
    pub async fn update_user(&self, id: Uuid, u: &UserUpdate) -> Result<User, sqlx::Error> {
        let now = now();
        with_db!(self, "users.update", |p| {
            let mut tx = p.begin().await?;
            let res = sqlx::query(
                "UPDATE users SET \
                   display_name = COALESCE($2, display_name), \
                   email = CASE WHEN $3 THEN $4 ELSE email END, \
                   phone = CASE WHEN $5 THEN $6 ELSE phone END, \
                   active = COALESCE($7, active), \
                   institution_id = COALESCE($8, institution_id), \
                   updated_at = $9 \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&u.display_name)
            .bind(u.email.is_some())
            .bind(u.email.clone().flatten())
            .bind(u.phone.is_some())
            .bind(u.phone.clone().flatten())
            .bind(u.active)
            .bind(u.institution_id)
            .bind(db_time(now))
            .execute(&mut *tx)
            .await?;
            if res.rows_affected() == 0 {
                return Err(sqlx::Error::RowNotFound);
            }
            if let Some(roles) = &u.roles {
                sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                for role in roles {
                    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                        .bind(id)
                        .bind(role.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await
        })?;
        self.get_user(id).await
    }

    /// Everyone with an account, active or not.
    pub async fn count_people(&self) -> Result<i64, sqlx::Error> {
        with_db!(self, "users.count_people", |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM users"
        )
        .fetch_one(p)
        .await)
    }

    /// Remove the password: nobody can log in to the account until its
    /// reset or invitation link is used.
    pub async fn clear_password_hash(&self, id: Uuid) -> Result<(), sqlx::Error> {
        self.write_password_hash(id, None).await
    }

    pub async fn set_password_hash(&self, id: Uuid, hash: &str) -> Result<(), sqlx::Error> {
        self.write_password_hash(id, Some(hash)).await
    }

    async fn write_password_hash(&self, id: Uuid, hash: Option<&str>) -> Result<(), sqlx::Error> {
        let now = now();
        let res = with_db!(self, "users.write_password_hash", |p| {
            sqlx::query(
            "UPDATE users SET password_hash = $2, password_changed_at = $3, updated_at = $3 WHERE id = $1"
        )
        .bind(id)
        .bind(hash)
        .bind(db_time(now))
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        if res == 0 {
            return Err(sqlx::Error::RowNotFound);
        }
        Ok(())
    }
}

/// A partial update of a user. For `email`/`phone`: `None` = unchanged,
/// `Some(None)` = clear, `Some(Some(v))` = set.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub roles: Option<Vec<Role>>,
    pub active: Option<bool>,
    pub institution_id: Option<Uuid>,
}

/// Escape `%`, `_` and `\` for a LIKE pattern (with `ESCAPE '\'` semantics
/// being the default in both dialects is not guaranteed, so the characters
/// are simply dropped from search text instead).
pub fn escape_like(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '%' | '_' | '\\'))
        .collect()
}
