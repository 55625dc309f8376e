//! The institution tree.

use jiliang_protocol::institutions::{Institution, InstitutionLevel};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Store;
use super::time::db_time;
use crate::clock::now;

/// What a caller supplies to create an institution; validated before this point.
#[derive(Debug, Clone)]
pub struct NewInstitution {
    pub parent_id: Option<Uuid>,
    pub level: InstitutionLevel,
    pub name_zh: String,
    pub name_en: Option<String>,
    pub region_code: String,
    pub contact: String,
}

/// A partial update of an institution (not its place in the tree).
#[derive(Debug, Clone, Default)]
pub struct InstitutionUpdate {
    pub name_zh: Option<String>,
    pub name_en: Option<Option<String>>,
    pub region_code: Option<String>,
    pub contact: Option<String>,
    pub active: Option<bool>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    parent_id: Option<Uuid>,
    path: String,
    level: String,
    name_zh: String,
    name_en: Option<String>,
    region_code: String,
    contact: String,
    active: bool,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

/// An institution with its materialised path (ids from the root).
#[derive(Debug, Clone)]
pub struct StoredInstitution {
    pub institution: Institution,
    pub path: String,
}

impl StoredInstitution {
    /// Whether `other` is this institution or lies below it.
    pub fn contains(&self, other: &StoredInstitution) -> bool {
        other.path.starts_with(&self.path)
    }
}

impl TryFrom<Row> for StoredInstitution {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, Self::Error> {
        let level = InstitutionLevel::parse(&r.level).ok_or_else(|| {
            sqlx::Error::Decode(format!("unknown institution level {:?}", r.level).into())
        })?;
        Ok(Self {
            path: r.path,
            institution: Institution {
                id: r.id,
                parent_id: r.parent_id,
                level,
                name_zh: r.name_zh,
                name_en: r.name_en,
                region_code: r.region_code,
                contact: r.contact,
                active: r.active,
                created_at: r.created_at,
                updated_at: r.updated_at,
            },
        })
    }
}

const COLUMNS: &str = "id, parent_id, path, level, name_zh, name_en, region_code, contact, active, created_at, updated_at";

impl Store {
    pub async fn insert_institution(
        &self,
        new: &NewInstitution,
    ) -> Result<StoredInstitution, sqlx::Error> {
        let id = Uuid::now_v7();
        let parent_path = match new.parent_id {
            Some(pid) => self.get_institution(pid).await?.path,
            None => "/".to_owned(),
        };
        let path = format!("{parent_path}{id}/");
        let now = now();
        let sql = format!(
            "INSERT INTO institutions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE, $9, $9) RETURNING {COLUMNS}"
        );
        let row: Row = with_db!(self, "institutions.insert", |p| sqlx::query_as(&sql)
            .bind(id)
            .bind(new.parent_id)
            .bind(&path)
            .bind(new.level.as_str())
            .bind(&new.name_zh)
            .bind(&new.name_en)
            .bind(&new.region_code)
            .bind(&new.contact)
            .bind(db_time(now))
            .fetch_one(p)
            .await)?;
        row.try_into()
    }

    pub async fn get_institution(&self, id: Uuid) -> Result<StoredInstitution, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM institutions WHERE id = $1");
        let row: Row = with_db!(self, "institutions.get", |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_one(p)
            .await)?;
        row.try_into()
    }

    /// Look an institution up by its natural key (parent, Chinese name).
    pub async fn find_institution(
        &self,
        parent_id: Option<Uuid>,
        name_zh: &str,
    ) -> Result<Option<StoredInstitution>, sqlx::Error> {
        // `IS NOT DISTINCT FROM` matches NULL parents too; SQLite spells it `IS`.
        let cmp = match self.backend() {
            super::Backend::Sqlite => "IS",
            super::Backend::Postgres => "IS NOT DISTINCT FROM",
        };
        let sql =
            format!("SELECT {COLUMNS} FROM institutions WHERE parent_id {cmp} $1 AND name_zh = $2");
        let row: Option<Row> = with_db!(self, "institutions.find", |p| sqlx::query_as(&sql)
            .bind(parent_id)
            .bind(name_zh)
            .fetch_optional(p)
            .await)?;
        row.map(TryInto::try_into).transpose()
    }

    /// Institutions whose path starts with `prefix` (a subtree), parents first.
    pub async fn list_institutions_under(
        &self,
        prefix: &str,
    ) -> Result<Vec<StoredInstitution>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM institutions WHERE path LIKE $1 ORDER BY path");
        let rows: Vec<Row> = with_db!(self, "institutions.list_under", |p| sqlx::query_as(&sql)
            .bind(format!("{prefix}%"))
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The institution at `path` and everything above it, root first.
    pub async fn institution_chain(
        &self,
        path: &str,
    ) -> Result<Vec<StoredInstitution>, sqlx::Error> {
        let sql =
            format!("SELECT {COLUMNS} FROM institutions WHERE $1 LIKE path || '%' ORDER BY path");
        let rows: Vec<Row> = with_db!(self, "institutions.chain", |p| sqlx::query_as(&sql)
            .bind(path)
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Whether the institution at `path` and every one above it are active:
    /// a deactivated institution stops its whole subtree.
    pub async fn in_service(&self, path: &str) -> Result<bool, sqlx::Error> {
        let stopped: i64 = with_db!(self, "institutions.in_service", |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM institutions WHERE $1 LIKE path || '%' AND active = FALSE"
        )
        .bind(path)
        .fetch_one(p)
        .await)?;
        Ok(stopped == 0)
    }

    /// Rename, change contact details, (de)activate. `name_en`: `Some(None)` clears.
    pub async fn update_institution(
        &self,
        id: Uuid,
        u: &InstitutionUpdate,
    ) -> Result<StoredInstitution, sqlx::Error> {
        let now = now();
        let n = with_db!(self, "institutions.update", |p| sqlx::query(
            "UPDATE institutions SET \
               name_zh = COALESCE($2, name_zh), \
               name_en = CASE WHEN $3 THEN $4 ELSE name_en END, \
               region_code = COALESCE($5, region_code), \
               contact = COALESCE($6, contact), \
               active = COALESCE($7, active), \
               updated_at = $8 \
             WHERE id = $1"
        )
        .bind(id)
        .bind(&u.name_zh)
        .bind(u.name_en.is_some())
        .bind(u.name_en.clone().flatten())
        .bind(&u.region_code)
        .bind(&u.contact)
        .bind(u.active)
        .bind(db_time(now))
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(sqlx::Error::RowNotFound);
        }
        self.get_institution(id).await
    }

    /// Move `id` (and its subtree) under `new_parent`. The caller has checked
    /// that `new_parent` is not inside the moved subtree.
    pub async fn move_institution(
        &self,
        id: Uuid,
        new_parent: Uuid,
    ) -> Result<StoredInstitution, sqlx::Error> {
        let node = self.get_institution(id).await?;
        let parent = self.get_institution(new_parent).await?;
        let old_path = node.path.clone();
        let new_path = format!("{}{id}/", parent.path);
        let now = now();
        // Paths are ASCII (hex ids and slashes), so byte and character
        // positions agree for SUBSTR in both dialects.
        let tail_from = i32::try_from(old_path.len() + 1).unwrap_or(i32::MAX);
        with_db!(self, "institutions.move", |p| {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE institutions SET parent_id = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(new_parent)
                .bind(db_time(now))
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE institutions SET path = $2 || SUBSTR(path, $3) WHERE path LIKE $1")
                .bind(format!("{old_path}%"))
                .bind(&new_path)
                .bind(tail_from)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        self.get_institution(id).await
    }

    /// Every institution, parents before children.
    pub async fn list_institutions(&self) -> Result<Vec<StoredInstitution>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM institutions ORDER BY path");
        let rows: Vec<Row> = with_db!(self, "institutions.list", |p| sqlx::query_as(&sql)
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}
