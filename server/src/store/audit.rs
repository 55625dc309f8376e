//! The security audit log: append-only, read by administrators.

use jiliang_protocol::accounts::AuditEvent;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Store;
use super::time::db_time;
use crate::clock::now;

/// One event to record.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEvent<'a> {
    pub event: &'a str,
    pub actor_id: Option<Uuid>,
    pub target_user_id: Option<Uuid>,
    /// Scopes who may read it: admins above this institution where it
    /// stands in the tree now (national admins for events of no institution).
    pub institution_id: Option<Uuid>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub detail: String,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub path_prefix: String,
    pub event: Option<String>,
    /// Actor or target.
    pub user_id: Option<Uuid>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Return ids smaller than this (newest first paging).
    pub before: Option<Uuid>,
    pub limit: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    at: OffsetDateTime,
    event: String,
    actor_id: Option<Uuid>,
    actor_name: Option<String>,
    target_user_id: Option<Uuid>,
    target_name: Option<String>,
    institution_id: Option<Uuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: String,
}

impl Store {
    pub async fn audit(&self, e: &NewAuditEvent<'_>) -> Result<(), sqlx::Error> {
        let now = now();
        with_db!(self, "audit.insert", |p| {
            sqlx::query(
            "INSERT INTO audit_log (id, at, event, actor_id, target_user_id, institution_id, ip, user_agent, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )
        .bind(Uuid::now_v7())
        .bind(db_time(now))
        .bind(e.event)
        .bind(e.actor_id)
        .bind(e.target_user_id)
        .bind(e.institution_id)
        .bind(e.ip)
        .bind(e.user_agent)
        .bind(&e.detail)
        .execute(p)
        .await
        .map(|_| ())
        })
    }

    pub async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, sqlx::Error> {
        let mut sql = String::from(
            "SELECT a.id, a.at, a.event, a.actor_id, ua.display_name AS actor_name, a.target_user_id, \
                    ut.display_name AS target_name, a.institution_id, a.ip, a.user_agent, a.detail \
             FROM audit_log a LEFT JOIN users ua ON ua.id = a.actor_id LEFT JOIN users ut ON ut.id = a.target_user_id \
             LEFT JOIN institutions ai ON ai.id = a.institution_id \
             WHERE COALESCE(ai.path, '/') LIKE $1 \
               AND ($2 IS NULL OR a.event = $2) \
               AND ($3 IS NULL OR a.actor_id = $3 OR a.target_user_id = $3) \
               AND ($4 IS NULL OR a.at >= $4) \
               AND ($5 IS NULL OR a.at < $5) \
               AND ($6 IS NULL OR a.id < $6) \
             ORDER BY a.id DESC LIMIT $7",
        );
        if self.backend() == super::Backend::Postgres {
            sql = sql
                .replace("$2 IS NULL", "$2::text IS NULL")
                .replace("$3 IS NULL", "$3::uuid IS NULL")
                .replace("$4 IS NULL", "$4::timestamptz IS NULL")
                .replace("$5 IS NULL", "$5::timestamptz IS NULL")
                .replace("$6 IS NULL", "$6::uuid IS NULL");
        }
        let rows: Vec<Row> = with_db!(self, "audit.list", |p| sqlx::query_as(&sql)
            .bind(format!("{}%", q.path_prefix))
            .bind(&q.event)
            .bind(q.user_id)
            .bind(q.since.map(db_time))
            .bind(q.until.map(db_time))
            .bind(q.before)
            .bind(q.limit)
            .fetch_all(p)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEvent {
                id: r.id,
                at: r.at,
                event: r.event,
                actor_id: r.actor_id,
                actor_name: r.actor_name,
                target_user_id: r.target_user_id,
                target_name: r.target_name,
                institution_id: r.institution_id,
                ip: r.ip,
                user_agent: r.user_agent,
                detail: r.detail,
            })
            .collect())
    }
}
