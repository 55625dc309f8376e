//! Help requests from labs, and accepting one: the request, its live
//! session and the session's first event (with its ledger leaf) in one
//! transaction.

use jiliang_protocol::rooms::{Author, EventBody, RoomEvent};
use jiliang_protocol::sessions::{HelpRequest, HelpState, SessionState, Urgency};
use time::OffsetDateTime;
use uuid::Uuid;

use super::NewSession;
use crate::clock::now;
use crate::store::time::db_time;
use crate::store::{Backend, Store};

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

/// A help request with the path the lab that sent it has now (read from
/// the tree, so access follows the lab when it moves).
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

const HELP_SELECT: &str = "SELECT h.id, h.institution_id, i.name_zh AS institution_name, i.path AS institution_path, \
     h.requested_by, r.display_name AS requested_by_name, h.topic, h.instrument, h.urgency, h.details, h.state, \
     h.created_at, a.display_name AS accepted_by_name, h.session_id \
     FROM help_requests h JOIN institutions i ON i.id = h.institution_id JOIN users r ON r.id = h.requested_by \
     LEFT JOIN users a ON a.id = h.accepted_by";

#[derive(Debug, Clone)]
pub struct NewHelp<'a> {
    pub institution_id: Uuid,
    pub requested_by: Uuid,
    pub topic: &'a str,
    pub instrument: &'a str,
    pub urgency: Urgency,
    pub details: &'a str,
}

impl Store {
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
        let s = NewSession {
            state: live,
            help_request_id: Some(help_id),
            ..s.clone()
        };
        let begin = self.begin_write();
        let claimed = with_db!(self, "help.accept", |p| {
            let mut tx = p.begin_with(begin).await?;
            insert_session_rows!(tx, id, &s, now, 1);
            insert_event!(tx, id, &event);
            append_leaf!(tx, &record);
            // The claim comes last but decides: of two experts accepting at
            // once, the second finds the request no longer open and rolls
            // back everything it wrote.
            let claimed = sqlx::query(
                "UPDATE help_requests SET state = 'accepted', accepted_by = $2, accepted_at = $3, session_id = $4 \
                 WHERE id = $1 AND state = 'open'",
            )
            .bind(help_id)
            .bind(expert.id)
            .bind(db_time(now))
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

    pub async fn insert_help(&self, h: &NewHelp<'_>) -> Result<StoredHelp, sqlx::Error> {
        let id = Uuid::now_v7();
        let now = now();
        with_db!(self, "help.insert", |p| {
            sqlx::query(
            "INSERT INTO help_requests (id, institution_id, requested_by, topic, instrument, urgency, details, state, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8)"
        )
        .bind(id)
        .bind(h.institution_id)
        .bind(h.requested_by)
        .bind(h.topic)
        .bind(h.instrument)
        .bind(h.urgency.as_str())
        .bind(h.details)
        .bind(db_time(now))
        .execute(p)
        .await
        .map(|_| ())
        })?;
        self.get_help(id).await
    }

    pub async fn get_help(&self, id: Uuid) -> Result<StoredHelp, sqlx::Error> {
        let sql = format!("{HELP_SELECT} WHERE h.id = $1");
        let row: HelpRow = with_db!(self, "help.get", |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_one(p)
            .await)?;
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
            "{HELP_SELECT} WHERE i.path LIKE $1 AND ($2 IS NULL OR h.institution_id = $2) \
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
        let rows: Vec<HelpRow> = with_db!(self, "help.list", |p| sqlx::query_as(&sql)
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
        let n = with_db!(self, "help.close", |p| {
            sqlx::query(
            "UPDATE help_requests SET state = $2, accepted_by = $3, accepted_at = $4, session_id = $5 \
             WHERE id = $1 AND state = 'open'"
        )
        .bind(id)
        .bind(to.as_str())
        .bind(accepted_by)
        .bind(accepted_by.map(|_| db_time(now)))
        .bind(session_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}
