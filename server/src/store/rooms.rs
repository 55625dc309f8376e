//! Live sessions, who takes part, help requests, and the room logs.

use jiliang_protocol::rooms::{Author, EventBody, RoomEvent};
use jiliang_protocol::sessions::{
    HelpRequest, HelpState, Participant, SessionInfo, SessionKind, SessionLab, SessionState,
    Urgency,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::institutions::now;
use super::users::parse_roles;
use super::{Backend, Store};
use crate::with_db;

#[derive(Debug, Clone)]
pub struct NewSession {
    pub kind: SessionKind,
    pub title: String,
    pub description: String,
    pub state: SessionState,
    pub scheduled_start: OffsetDateTime,
    pub duration_minutes: i64,
    pub host_id: Uuid,
    pub host_institution_path: String,
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
    pub host_institution_path: String,
}

const SESSION_SELECT: &str = "SELECT s.id, s.kind, s.title, s.description, s.state, s.scheduled_start, \
     s.duration_minutes, s.host_id, u.display_name AS host_name, s.host_institution_path, s.help_request_id, \
     s.started_at, s.ended_at, s.last_seq FROM live_sessions s JOIN users u ON u.id = s.host_id";

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

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    id: Uuid,
    at: OffsetDateTime,
    author_id: Option<Uuid>,
    author_name: Option<String>,
    client_id: Option<String>,
    body: String,
}

impl EventRow {
    fn into_event(self) -> RoomEvent {
        RoomEvent {
            seq: u64::try_from(self.seq).unwrap_or(0),
            id: self.id,
            at: self.at,
            author: self.author_id.map(|id| Author {
                id,
                name: self.author_name.unwrap_or_default(),
            }),
            client_id: self.client_id,
            // Bodies are written by this server from `EventBody`; one that
            // does not parse comes from a newer version and reads as Unknown.
            body: serde_json::from_str(&self.body).unwrap_or(EventBody::Unknown),
        }
    }
}

#[derive(sqlx::FromRow)]
struct HelpRow {
    id: Uuid,
    institution_id: Uuid,
    institution_name: String,
    institution_path: String,
    requested_by: Uuid,
    requested_by_name: String,
    topic: String,
    instrument: String,
    urgency: String,
    details: String,
    state: String,
    created_at: OffsetDateTime,
    accepted_by_name: Option<String>,
    session_id: Option<Uuid>,
}

/// A help request with the path of the lab that sent it.
#[derive(Debug, Clone)]
pub struct StoredHelp {
    pub request: HelpRequest,
    pub institution_path: String,
}

impl From<HelpRow> for StoredHelp {
    fn from(r: HelpRow) -> Self {
        Self {
            institution_path: r.institution_path,
            request: HelpRequest {
                id: r.id,
                institution_id: r.institution_id,
                institution_name: r.institution_name,
                requested_by: r.requested_by,
                requested_by_name: r.requested_by_name,
                topic: r.topic,
                instrument: r.instrument,
                urgency: Urgency::parse(&r.urgency).unwrap_or(Urgency::Normal),
                details: r.details,
                state: HelpState::parse(&r.state).unwrap_or(HelpState::Cancelled),
                created_at: r.created_at,
                accepted_by_name: r.accepted_by_name,
                session_id: r.session_id,
            },
        }
    }
}

const HELP_SELECT: &str = "SELECT h.id, h.institution_id, i.name_zh AS institution_name, h.institution_path, \
     h.requested_by, r.display_name AS requested_by_name, h.topic, h.instrument, h.urgency, h.details, h.state, \
     h.created_at, a.display_name AS accepted_by_name, h.session_id \
     FROM help_requests h JOIN institutions i ON i.id = h.institution_id JOIN users r ON r.id = h.requested_by \
     LEFT JOIN users a ON a.id = h.accepted_by";

/// See [`Store::room_access`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomAccess {
    Allowed {
        last_seen_at: OffsetDateTime,
    },
    /// Logged out, expired, reset, or the person was deactivated.
    LoginEnded,
    /// No longer named in the session nor working in one of its labs.
    NotTakingPart,
}

pub struct NewHelp<'a> {
    pub institution_id: Uuid,
    pub institution_path: &'a str,
    pub requested_by: Uuid,
    pub topic: &'a str,
    pub instrument: &'a str,
    pub urgency: Urgency,
    pub details: &'a str,
}

/// Insert a session's row, labs and participants inside the caller's
/// transaction `$tx` (so it works for both pools' transaction types).
macro_rules! insert_session_rows {
    ($tx:ident, $id:expr, $s:expr, $now:expr, $last_seq:expr) => {{
        let s: &NewSession = $s;
        let (id, now): (Uuid, OffsetDateTime) = ($id, $now);
        let started = (s.state == SessionState::Live).then_some(now);
        sqlx::query(
            "INSERT INTO live_sessions (id, kind, title, description, state, scheduled_start, duration_minutes, host_id, \
             host_institution_path, help_request_id, created_at, started_at, last_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(id)
        .bind(match s.kind {
            SessionKind::Help => "help",
            SessionKind::Scheduled => "scheduled",
        })
        .bind(&s.title)
        .bind(&s.description)
        .bind(s.state.as_str())
        .bind(s.scheduled_start)
        .bind(s.duration_minutes)
        .bind(s.host_id)
        .bind(&s.host_institution_path)
        .bind(s.help_request_id)
        .bind(now)
        .bind(started)
        .bind(i64::from($last_seq))
        .execute(&mut *$tx)
        .await?;
        for lab in &s.lab_ids {
            sqlx::query("INSERT INTO session_labs (session_id, institution_id) VALUES ($1, $2)")
                .bind(id)
                .bind(lab)
                .execute(&mut *$tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO session_participants (session_id, user_id, host) VALUES ($1, $2, TRUE)",
        )
        .bind(id)
        .bind(s.host_id)
        .execute(&mut *$tx)
        .await?;
        for user in s.participant_ids.iter().filter(|u| **u != s.host_id) {
            sqlx::query(
                "INSERT INTO session_participants (session_id, user_id, host) VALUES ($1, $2, FALSE)",
            )
            .bind(id)
            .bind(user)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

impl Store {
    pub async fn insert_live_session(&self, s: &NewSession) -> Result<Uuid, sqlx::Error> {
        let id = Uuid::now_v7();
        let now = now();
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            insert_session_rows!(tx, id, s, now, 0);
            tx.commit().await
        })?;
        Ok(id)
    }

    /// Accept an open help request: claim it, open its session live and
    /// write the session's first event (the state change that made it
    /// live, with its ledger leaf) in one transaction. `None` if the request
    /// was no longer open — then nothing is stored.
    pub async fn accept_help(
        &self,
        help_id: Uuid,
        expert: &Author,
        s: &NewSession,
    ) -> Result<Option<Uuid>, sqlx::Error> {
        let id = Uuid::now_v7();
        let now = now();
        let live = SessionState::Live;
        let event = RoomEvent {
            seq: 1,
            id: Uuid::now_v7(),
            at: now,
            author: Some(expert.clone()),
            client_id: None,
            body: EventBody::State {
                from: SessionState::Scheduled.as_str().to_owned(),
                to: live.as_str().to_owned(),
            },
        };
        let record = crate::ledger::records::room_event(id, &event)
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let body =
            serde_json::to_string(&event.body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let s = NewSession {
            state: live,
            help_request_id: Some(help_id),
            ..s.clone()
        };
        let begin = self.begin_write();
        let claimed = with_db!(self, |p| {
            let mut tx = p.begin_with(begin).await?;
            insert_session_rows!(tx, id, &s, now, 1);
            sqlx::query(
                "INSERT INTO room_events (session_id, seq, id, at, author_id, client_id, kind, body) \
                 VALUES ($1, 1, $2, $3, $4, NULL, $5, $6)",
            )
            .bind(id)
            .bind(event.id)
            .bind(event.at)
            .bind(expert.id)
            .bind(event.body.kind())
            .bind(&body)
            .execute(&mut *tx)
            .await?;
            crate::ledger_append!(tx, &record);
            // The claim comes last but decides: of two experts accepting at
            // once, the second finds the request no longer open and rolls
            // back everything it wrote.
            let claimed = sqlx::query(
                "UPDATE help_requests SET state = 'accepted', accepted_by = $2, accepted_at = $3, session_id = $4 \
                 WHERE id = $1 AND state = 'open'",
            )
            .bind(help_id)
            .bind(expert.id)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if claimed {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            Ok::<bool, sqlx::Error>(claimed)
        })?;
        Ok(claimed.then_some(id))
    }

    pub async fn get_live_session(&self, id: Uuid) -> Result<StoredSession, sqlx::Error> {
        let sql = format!("{SESSION_SELECT} WHERE s.id = $1");
        let row: SessionRow = with_db!(self, |p| sqlx::query_as(&sql).bind(id).fetch_one(p).await)?;
        let labs = self.session_labs(id).await?;
        Ok(session_from(row, labs))
    }

    async fn session_labs(&self, id: Uuid) -> Result<Vec<SessionLab>, sqlx::Error> {
        let rows: Vec<(Uuid, String, Option<String>)> = with_db!(self, |p| {
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
        let n: i64 = with_db!(self, |p| {
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
        let n: i64 = with_db!(self, |p| {
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
    /// with whether they are connected (their last join/leave in the log).
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
                    COALESCE((SELECT p.host FROM session_participants p WHERE p.session_id = $1 AND p.user_id = u.id), FALSE) AS host, \
                    (SELECT e.kind FROM room_events e WHERE e.session_id = $1 AND e.author_id = u.id \
                       AND e.kind IN ('join', 'leave') ORDER BY e.seq DESC LIMIT 1) AS presence \
             FROM users u JOIN institutions i ON i.id = u.institution_id \
             WHERE u.id IN (SELECT user_id FROM session_participants WHERE session_id = $1) \
                OR (u.active = TRUE AND u.institution_id IN (SELECT institution_id FROM session_labs WHERE session_id = $1)) \
             ORDER BY host DESC, i.path, u.display_name"
        );
        type Row = (
            Uuid,
            String,
            Option<String>,
            Uuid,
            String,
            bool,
            Option<String>,
        );
        let rows: Vec<Row> = with_db!(self, |p| sqlx::query_as(&sql)
            .bind(session_id)
            .fetch_all(p)
            .await)?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    user_id,
                    display_name,
                    roles,
                    institution_id,
                    institution_name,
                    host,
                    presence,
                )| Participant {
                    user_id,
                    display_name,
                    roles: parse_roles(roles.as_deref()),
                    institution_id,
                    institution_name,
                    host,
                    online: presence.as_deref() == Some("join"),
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
               OR ($3 IS NOT NULL AND (s.host_institution_path LIKE $3 OR EXISTS (SELECT 1 FROM session_labs l \
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
        let rows: Vec<SessionRow> = with_db!(self, |p| sqlx::query_as(&sql)
            .bind(q.user_id)
            .bind(q.institution_id)
            .bind(q.oversight_path.as_ref().map(|p| format!("{p}%")))
            .bind(q.state.map(|s| s.as_str()))
            .bind(q.from)
            .bind(q.to)
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

    /// Events after `after` in order, at most `limit`.
    pub async fn read_events(
        &self,
        session_id: Uuid,
        after: u64,
        limit: i64,
    ) -> Result<Vec<RoomEvent>, sqlx::Error> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let rows: Vec<EventRow> = with_db!(self, |p| {
            sqlx::query_as(
            "SELECT e.seq, e.id, e.at, e.author_id, u.display_name AS author_name, e.client_id, e.body \
             FROM room_events e LEFT JOIN users u ON u.id = e.author_id \
             WHERE e.session_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3"
        )
        .bind(session_id)
        .bind(after)
        .bind(limit)
        .fetch_all(p)
        .await
        })?;
        Ok(rows.into_iter().map(EventRow::into_event).collect())
    }

    pub async fn session_last_seq(&self, session_id: Uuid) -> Result<u64, sqlx::Error> {
        let n: i64 = with_db!(self, |p| sqlx::query_scalar(
            "SELECT last_seq FROM live_sessions WHERE id = $1"
        )
        .bind(session_id)
        .fetch_one(p)
        .await)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// What a room connection's login may still do, in one read: whether
    /// its login session exists and has not expired, whether the person is
    /// active, and whether they still take part in `session_id` (named, or
    /// working in one of its labs).
    pub async fn room_access(
        &self,
        token_hash: &[u8],
        session_id: Uuid,
    ) -> Result<RoomAccess, sqlx::Error> {
        let row: Option<(bool, OffsetDateTime, OffsetDateTime, i64)> = with_db!(self, |p| {
            sqlx::query_as(
                "SELECT u.active, a.expires_at, a.last_seen_at, \
                        (SELECT COUNT(*) FROM session_participants sp WHERE sp.session_id = $2 AND sp.user_id = u.id) + \
                        (SELECT COUNT(*) FROM session_labs sl WHERE sl.session_id = $2 AND sl.institution_id = u.institution_id) \
                 FROM auth_sessions a JOIN users u ON u.id = a.user_id WHERE a.token_hash = $1",
            )
            .bind(token_hash)
            .bind(session_id)
            .fetch_optional(p)
            .await
        })?;
        Ok(match row {
            Some((true, expires_at, last_seen_at, member)) if expires_at > now() => {
                if member > 0 {
                    RoomAccess::Allowed { last_seen_at }
                } else {
                    RoomAccess::NotTakingPart
                }
            }
            _ => RoomAccess::LoginEnded,
        })
    }

    pub async fn insert_help(&self, h: &NewHelp<'_>) -> Result<StoredHelp, sqlx::Error> {
        let id = Uuid::now_v7();
        let now = now();
        with_db!(self, |p| {
            sqlx::query(
            "INSERT INTO help_requests (id, institution_id, institution_path, requested_by, topic, instrument, urgency, details, state, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9)"
        )
        .bind(id)
        .bind(h.institution_id)
        .bind(h.institution_path)
        .bind(h.requested_by)
        .bind(h.topic)
        .bind(h.instrument)
        .bind(h.urgency.as_str())
        .bind(h.details)
        .bind(now)
        .execute(p)
        .await
        .map(|_| ())
        })?;
        self.get_help(id).await
    }

    pub async fn get_help(&self, id: Uuid) -> Result<StoredHelp, sqlx::Error> {
        let sql = format!("{HELP_SELECT} WHERE h.id = $1");
        let row: HelpRow = with_db!(self, |p| sqlx::query_as(&sql).bind(id).fetch_one(p).await)?;
        Ok(row.into())
    }

    /// Help requests of labs under `path_prefix` (or of one lab), urgent and
    /// old first among the open ones.
    pub async fn list_help(
        &self,
        path_prefix: &str,
        institution_id: Option<Uuid>,
        state: Option<HelpState>,
        limit: i64,
    ) -> Result<Vec<StoredHelp>, sqlx::Error> {
        let mut sql = format!(
            "{HELP_SELECT} WHERE h.institution_path LIKE $1 AND ($2 IS NULL OR h.institution_id = $2) \
             AND ($3 IS NULL OR h.state = $3) \
             ORDER BY CASE h.state WHEN 'open' THEN 0 ELSE 1 END, \
                      CASE h.urgency WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, \
                      h.id LIMIT $4"
        );
        if self.backend() == Backend::Postgres {
            sql = sql
                .replace("$2 IS NULL", "$2::uuid IS NULL")
                .replace("$3 IS NULL", "$3::text IS NULL");
        }
        let rows: Vec<HelpRow> = with_db!(self, |p| sqlx::query_as(&sql)
            .bind(format!("{path_prefix}%"))
            .bind(institution_id)
            .bind(state.map(|s| s.as_str()))
            .bind(limit)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Move an open request to `to`; `false` if it was no longer open.
    pub async fn close_help(
        &self,
        id: Uuid,
        to: HelpState,
        accepted_by: Option<Uuid>,
        session_id: Option<Uuid>,
    ) -> Result<bool, sqlx::Error> {
        let now = now();
        let n = with_db!(self, |p| {
            sqlx::query(
            "UPDATE help_requests SET state = $2, accepted_by = $3, accepted_at = $4, session_id = $5 \
             WHERE id = $1 AND state = 'open'"
        )
        .bind(id)
        .bind(to.as_str())
        .bind(accepted_by)
        .bind(accepted_by.map(|_| now))
        .bind(session_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}
