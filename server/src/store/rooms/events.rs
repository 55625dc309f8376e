//! Reading room logs: a session's events in order (replay, gap fills), and
//! events looked up by id (exports, verification). Appends are in
//! [`super::append`].

use std::collections::HashMap;

use jiliang_protocol::rooms::{Author, EventBody, RoomEvent};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::{Backend, Store};

/// Ids bound in one `IN (…)` list: far below both databases' limits on
/// parameters.
pub(in crate::store) const IN_CHUNK: usize = 500;

/// A stored event with the session whose log holds it.
#[derive(Debug, Clone)]
pub struct SessionEvent {
    pub session_id: Uuid,
    pub event: RoomEvent,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    session_id: Uuid,
    seq: i64,
    id: Uuid,
    at: OffsetDateTime,
    author_id: Option<Uuid>,
    author_name: Option<String>,
    client_id: Option<String>,
    body: String,
}

const EVENT_SELECT: &str = "SELECT e.session_id, e.seq, e.id, e.at, e.author_id, u.display_name AS author_name, \
     e.client_id, e.body FROM room_events e LEFT JOIN users u ON u.id = e.author_id";

/// A body as stored: this server writes bodies from `EventBody`, so one that
/// does not parse comes from a newer version and reads as `Unknown`.
pub(super) fn parse_body(body: &str) -> EventBody {
    serde_json::from_str(body).unwrap_or(EventBody::Unknown)
}

impl EventRow {
    fn into_session_event(self) -> SessionEvent {
        SessionEvent {
            session_id: self.session_id,
            event: RoomEvent {
                seq: u64::try_from(self.seq).unwrap_or(0),
                id: self.id,
                at: self.at,
                author: self.author_id.map(|id| Author {
                    id,
                    name: self.author_name.unwrap_or_default(),
                }),
                client_id: self.client_id,
                body: parse_body(&self.body),
            },
        }
    }
}

impl Store {
    /// Events after `after` in order, at most `limit`.
    pub async fn read_events(
        &self,
        session_id: Uuid,
        after: u64,
        limit: i64,
    ) -> Result<Vec<RoomEvent>, sqlx::Error> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let sql = format!(
            "{EVENT_SELECT} WHERE e.session_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3"
        );
        let rows: Vec<EventRow> = with_db!(self, "events.read", |p| sqlx::query_as(&sql)
            .bind(session_id)
            .bind(after)
            .bind(limit)
            .fetch_all(p)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| r.into_session_event().event)
            .collect())
    }

    /// The events with these ids that exist, by id.
    pub async fn events_by_id(
        &self,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, SessionEvent>, sqlx::Error> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("{EVENT_SELECT} WHERE e.id IN ({})", marks.join(", "));
            let rows: Vec<EventRow> = with_db!(self, "events.by_id", |p| {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(p).await
            })?;
            out.extend(rows.into_iter().map(|r| (r.id, r.into_session_event())));
        }
        Ok(out)
    }

    /// The session whose log holds event `id`.
    pub async fn event_session(&self, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
        with_db!(self, "events.session", |p| sqlx::query_scalar(
            "SELECT session_id FROM room_events WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await)
    }

    /// Ids of every session's events greater than `after`, in id order, at
    /// most `limit`: a walk over all stored events.
    pub async fn event_ids_after(
        &self,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Uuid>, sqlx::Error> {
        let mut sql = String::from(
            "SELECT id FROM room_events WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2",
        );
        if self.backend() == Backend::Postgres {
            sql = sql.replace("$1 IS NULL", "$1::uuid IS NULL");
        }
        with_db!(self, "events.ids_after", |p| sqlx::query_scalar(&sql)
            .bind(after)
            .bind(limit)
            .fetch_all(p)
            .await)
    }

    /// Ids of a session's events in sequence order.
    pub async fn session_event_ids(&self, session_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
        with_db!(self, "events.session_ids", |p| sqlx::query_scalar(
            "SELECT id FROM room_events WHERE session_id = $1 ORDER BY seq"
        )
        .bind(session_id)
        .fetch_all(p)
        .await)
    }
}

#[cfg(test)]
mod tests {
    use jiliang_protocol::rooms::{Author, EventBody};
    use uuid::Uuid;

    use crate::store::rooms::{EventOutcome, NewEvent};
    use crate::store::test_db::{live_session, seed, stores};

    #[tokio::test]
    async fn events_are_found_by_id_and_walked_in_id_order() {
        for t in stores().await {
            let store = &t.store;
            let s = seed(store).await;
            let other = live_session(store, s.user).await;
            let mut ids = Vec::new();
            for (i, session) in [s.session, other, s.session, other, s.session]
                .into_iter()
                .enumerate()
            {
                let out = store
                    .append_events(&[NewEvent {
                        session,
                        author: Some(Author {
                            id: s.user,
                            name: String::new(),
                        }),
                        client_id: Some(format!("m{i}")),
                        body: EventBody::Chat {
                            text: format!("第 {i} 条"),
                        },
                    }])
                    .await
                    .expect("append");
                let EventOutcome::New(e) = &out[0] else {
                    panic!("{}: {:?}", t.name, out[0]);
                };
                ids.push((session, e.id));
            }
            let wanted: Vec<Uuid> = ids.iter().map(|(_, id)| *id).collect();
            let mut asked = wanted.clone();
            asked.push(Uuid::now_v7()); // no such event
            let found = store.events_by_id(&asked).await.expect("by id");
            assert_eq!(found.len(), 5, "{}", t.name);
            for (session, id) in &ids {
                let e = &found[id];
                assert_eq!(e.session_id, *session);
                assert_eq!(
                    e.event.author.as_ref().map(|a| a.name.as_str()),
                    Some("王工")
                );
                assert_eq!(
                    store.event_session(*id).await.expect("session"),
                    Some(*session)
                );
            }
            assert_eq!(
                store.event_session(Uuid::now_v7()).await.expect("none"),
                None
            );
            // Walking all events two at a time visits each once, in id order.
            let mut walked = Vec::new();
            let mut after = None;
            loop {
                let page = store.event_ids_after(after, 2).await.expect("page");
                let Some(last) = page.last() else { break };
                after = Some(*last);
                walked.extend(page);
            }
            let mut sorted = wanted.clone();
            sorted.sort();
            assert_eq!(walked, sorted, "{}", t.name);
            let mine: Vec<Uuid> = ids
                .iter()
                .filter(|(session, _)| *session == s.session)
                .map(|(_, id)| *id)
                .collect();
            assert_eq!(
                store.session_event_ids(s.session).await.expect("ids"),
                mine,
                "{}: in sequence order",
                t.name
            );
            t.cleanup().await;
        }
    }
}
