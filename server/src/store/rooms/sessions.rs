//! Live sessions: their rows, labs and participants, who may join, and
//! each room's sequence counter.

use jiliang_protocol::sessions::{Participant, SessionInfo, SessionKind, SessionLab, SessionState};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::now;
use crate::store::time::db_time;
use crate::store::users::parse_roles;
use crate::store::{Backend, Store};

#[derive(Debug, Clone)]
pub struct NewSession {
    pub kind: SessionKind,
    pub title: String,
    pub description: String,
    pub state: SessionState,
    pub scheduled_start: OffsetDateTime,
    pub duration_minutes: i64,
    pub host_id: Uuid,
    /// The host's institution (its path is read from the live tree).
    pub host_institution_id: Uuid,
    pub help_request_id: Option<Uuid>,
    pub lab_ids: Vec<Uuid>,
    /// Besides the host.
    pub participant_ids: Vec<Uuid>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: Uuid,
    kind: String,
    title: String,
    description: String,
    state: String,
    scheduled_start: OffsetDateTime,
    duration_minutes: i64,
    host_id: Uuid,
    host_name: String,
    host_institution_path: String,
    help_request_id: Option<Uuid>,
    started_at: Option<OffsetDateTime>,
    ended_at: Option<OffsetDateTime>,
    last_seq: i64,
}

/// A session as stored, with what access checks need.
#[derive(Debug, Clone)]
pub struct StoredSession {
    pub info: SessionInfo,
    /// The host institution's path now (read from the tree, so it follows moves).
    pub host_institution_path: String,
}

const SESSION_SELECT: &str = "SELECT s.id, s.kind, s.title, s.description, s.state, s.scheduled_start, \
     s.duration_minutes, s.host_id, u.display_name AS host_name, hi.path AS host_institution_path, s.help_request_id, \
     s.started_at, s.ended_at, s.last_seq FROM live_sessions s JOIN users u ON u.id = s.host_id \
     JOIN institutions hi ON hi.id = s.host_institution_id";

fn session_from(r: SessionRow, labs: Vec<SessionLab>) -> StoredSession {
    StoredSession {
        host_institution_path: r.host_institution_path,
        info: SessionInfo {
            id: r.id,
            kind: if r.kind == "help" {
                SessionKind::Help
            } else {
                SessionKind::Scheduled
            },
            title: r.title,
            description: r.description,
            state: SessionState::parse(&r.state).unwrap_or(SessionState::Ended),
            scheduled_start: r.scheduled_start,
            duration_minutes: r.duration_minutes,
            host_id: r.host_id,
            host_name: r.host_name,
            labs,
            started_at: r.started_at,
            ended_at: r.ended_at,
            last_seq: u64::try_from(r.last_seq).unwrap_or(0),
            help_request_id: r.help_request_id,
        },
    }
}

/// Whose sessions to list.
#[derive(Debug, Clone)]
pub struct SessionQuery {
    pub user_id: Uuid,
    pub institution_id: Uuid,
    /// For admins and experts: also sessions hosted in, or involving labs
    /// of, this subtree.
    pub oversight_path: Option<String>,
    pub state: Option<SessionState>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub limit: i64,
}

impl Store {
    pub async fn insert_live_session(&self, s: &NewSession) -> Result<Uuid, sqlx::Error> {
        let id = Uuid::now_v7();
        let now = now();
        with_db!(self, "sessions.insert", |p| {
            let mut tx = p.begin().await?;
            insert_session_rows!(tx, id, s, now, 0);
            tx.commit().await
        })?;
        Ok(id)
    }

    pub async fn get_live_session(&self, id: Uuid) -> Result<StoredSession, sqlx::Error> {
        let sql = format!("{SESSION_SELECT} WHERE s.id = $1");
        let row: SessionRow = with_db!(self, "sessions.get", |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_one(p)
            .await)?;
        let labs = self.session_labs(id).await?;
        Ok(session_from(row, labs))
    }

    async fn session_labs(&self, id: Uuid) -> Result<Vec<SessionLab>, sqlx::Error> {
        let rows: Vec<(Uuid, String, Option<String>)> = with_db!(self, "sessions.labs", |p| {
            sqlx::query_as(
            "SELECT i.id, i.name_zh, i.name_en FROM session_labs l JOIN institutions i ON i.id = l.institution_id \
             WHERE l.session_id = $1 ORDER BY i.path"
        )
        .bind(id)
        .fetch_all(p)
        .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, name_zh, name_en)| SessionLab {
                id,
                name_zh,
                name_en,
            })
            .collect())
    }

    /// Whether `user` (of `institution`) takes part: named, or working in
    /// one of the session's labs.
    pub async fn is_session_member(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        institution_id: Uuid,
    ) -> Result<bool, sqlx::Error> {
        let n: i64 = with_db!(self, "sessions.is_member", |p| {
            sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM session_participants WHERE session_id = $1 AND user_id = $2) + \
                    (SELECT COUNT(*) FROM session_labs WHERE session_id = $1 AND institution_id = $3)"
        )
        .bind(session_id)
        .bind(user_id)
        .bind(institution_id)
        .fetch_one(p)
        .await
        })?;
        Ok(n > 0)
    }

    /// Whether any of the session's labs lies under `path`.
    pub async fn session_touches_subtree(
        &self,
        session_id: Uuid,
        path: &str,
    ) -> Result<bool, sqlx::Error> {
        let n: i64 = with_db!(self, "sessions.touches_subtree", |p| {
            sqlx::query_scalar(
            "SELECT COUNT(*) FROM session_labs l JOIN institutions i ON i.id = l.institution_id \
             WHERE l.session_id = $1 AND i.path LIKE $2"
        )
        .bind(session_id)
        .bind(format!("{path}%"))
        .fetch_one(p)
        .await
        })?;
        Ok(n > 0)
    }

    /// Named participants and the active people of the session's labs,
    /// with whether they are connected right now (a live `room_presence`
    /// row on any node). One pass: the people, joined to the session's
    /// named participants and to the few presence rows of this room; no
    /// query per person, nothing read from the room's log.
    pub async fn session_participants(
        &self,
        session_id: Uuid,
    ) -> Result<Vec<Participant>, sqlx::Error> {
        let roles = match self.backend() {
            Backend::Sqlite => {
                "(SELECT group_concat(role, ',') FROM user_roles r WHERE r.user_id = u.id)"
            }
            Backend::Postgres => {
                "(SELECT string_agg(role, ',') FROM user_roles r WHERE r.user_id = u.id)"
            }
        };
        let sql = format!(
            "SELECT u.id, u.display_name, {roles} AS roles, u.institution_id, i.name_zh, \
                    COALESCE(sp.host, FALSE) AS host, \
                    (pr.user_id IS NOT NULL) AS online \
             FROM users u JOIN institutions i ON i.id = u.institution_id \
             LEFT JOIN session_participants sp ON sp.session_id = $1 AND sp.user_id = u.id \
             LEFT JOIN (SELECT DISTINCT user_id FROM room_presence WHERE session_id = $1 AND expires_at_ms > $2) pr \
                    ON pr.user_id = u.id \
             WHERE sp.user_id IS NOT NULL \
                OR (u.active = TRUE AND u.institution_id IN (SELECT institution_id FROM session_labs WHERE session_id = $1)) \
             ORDER BY host DESC, i.path, u.display_name"
        );
        type Row = (Uuid, String, Option<String>, Uuid, String, bool, bool);
        let rows: Vec<Row> = with_db!(self, "sessions.participants", |p| sqlx::query_as(&sql)
            .bind(session_id)
            .bind(super::presence::now_ms())
            .fetch_all(p)
            .await)?;
        Ok(rows
            .into_iter()
            .map(
                |(user_id, display_name, roles, institution_id, institution_name, host, online)| {
                    Participant {
                        user_id,
                        display_name,
                        roles: parse_roles(roles.as_deref()),
                        institution_id,
                        institution_name,
                        host,
                        online,
                    }
                },
            )
            .collect())
    }

    pub async fn list_live_sessions(
        &self,
        q: &SessionQuery,
    ) -> Result<Vec<SessionInfo>, sqlx::Error> {
        let mut sql = format!(
            "{SESSION_SELECT} WHERE (EXISTS (SELECT 1 FROM session_participants p WHERE p.session_id = s.id AND p.user_id = $1) \
               OR EXISTS (SELECT 1 FROM session_labs l WHERE l.session_id = s.id AND l.institution_id = $2) \
               OR ($3 IS NOT NULL AND (hi.path LIKE $3 OR EXISTS (SELECT 1 FROM session_labs l \
                   JOIN institutions i ON i.id = l.institution_id WHERE l.session_id = s.id AND i.path LIKE $3)))) \
             AND ($4 IS NULL OR s.state = $4) AND ($5 IS NULL OR s.scheduled_start >= $5) AND ($6 IS NULL OR s.scheduled_start < $6) \
             ORDER BY s.scheduled_start DESC, s.id DESC LIMIT $7"
        );
        if self.backend() == Backend::Postgres {
            sql = sql
                .replace("$3 IS NOT NULL", "$3::text IS NOT NULL")
                .replace("$4 IS NULL", "$4::text IS NULL")
                .replace("$5 IS NULL", "$5::timestamptz IS NULL")
                .replace("$6 IS NULL", "$6::timestamptz IS NULL");
        }
        let rows: Vec<SessionRow> = with_db!(self, "sessions.list", |p| sqlx::query_as(&sql)
            .bind(q.user_id)
            .bind(q.institution_id)
            .bind(q.oversight_path.as_ref().map(|p| format!("{p}%")))
            .bind(q.state.map(|s| s.as_str()))
            .bind(q.from.map(db_time))
            .bind(q.to.map(db_time))
            .bind(q.limit)
            .fetch_all(p)
            .await)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let labs = self.session_labs(r.id).await?;
            out.push(session_from(r, labs).info);
        }
        Ok(out)
    }

    pub async fn session_last_seq(&self, session_id: Uuid) -> Result<u64, sqlx::Error> {
        let n: i64 = with_db!(self, "sessions.last_seq", |p| sqlx::query_scalar(
            "SELECT last_seq FROM live_sessions WHERE id = $1"
        )
        .bind(session_id)
        .fetch_one(p)
        .await)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Every session whose log has events, with its counter: what the log
    /// must hold, seq 1 to `last_seq` (see `ledger::verify`).
    pub async fn session_counters(&self) -> Result<Vec<(Uuid, u64)>, sqlx::Error> {
        let rows: Vec<(Uuid, i64)> = with_db!(self, "sessions.counters", |p| sqlx::query_as(
            "SELECT id, last_seq FROM live_sessions WHERE last_seq > 0"
        )
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(id, n)| (id, u64::try_from(n).unwrap_or(0)))
            .collect())
    }
}
