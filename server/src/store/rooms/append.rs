//! Appending to room logs: each event gets its room's next sequence
//! number and its ledger leaf in the transaction that stores it, so
//! sequence numbers never repeat or skip whichever node writes, and an
//! event is in the ledger exactly when it is stored.
//!
//! The room log writer (`rooms::log`) batches requests and calls
//! [`Store::append_events`] once per batch: the commit, not the statements,
//! is the cost, so a batch is one transaction.

use std::collections::HashMap;

use jiliang_protocol::rooms::{Author, EventBody, RoomEvent};
use jiliang_protocol::sessions::SessionState;
use uuid::Uuid;

use super::events::parse_body;
use crate::clock::now;
use crate::store::Store;
use crate::store::marks::Marks;

/// One event to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub session: Uuid,
    pub author: Option<Author>,
    /// The client's message id: a second event with the same author and
    /// client id returns the first instead of storing another.
    pub client_id: Option<String>,
    pub body: EventBody,
}

/// What became of one [`NewEvent`].
#[derive(Debug, Clone)]
pub enum EventOutcome {
    New(RoomEvent),
    /// The same client message had been stored before; this is that event.
    Duplicate(RoomEvent),
    /// The session has ended: its log is read-only.
    Ended,
    NoSession,
}

impl Store {
    /// Store `events` in one transaction, in order. Refusals of single
    /// events (an ended session) are outcomes; a database error fails the
    /// whole call and nothing is stored.
    pub async fn append_events(
        &self,
        events: &[NewEvent],
    ) -> Result<Vec<EventOutcome>, sqlx::Error> {
        // State changes are rare and touch the session row; they take the
        // statement-per-event path. Everything else is stored in bulk.
        let bulk = events.len() > 1
            && !events
                .iter()
                .any(|a| matches!(a.body, EventBody::State { .. }));
        // Queue behind reading batches instead of racing them for SQLite's
        // lock (see `Store::write_turn`).
        let _turn = self.write_turn().await;
        if bulk {
            self.append_bulk(events).await
        } else {
            self.append_each(events).await
        }
    }

    /// Store a batch of non-state events in one transaction with a handful of
    /// statements — one query for earlier copies of the batch's client
    /// messages, one counter update per room, one for the ledger, two
    /// multi-row inserts — instead of five statements per event. The embedded
    /// SQLite talks to its worker thread once per statement, so this is what
    /// keeps latency flat when a thousand county-lab clients chat at once.
    async fn append_bulk(&self, appends: &[NewEvent]) -> Result<Vec<EventOutcome>, sqlx::Error> {
        let n = appends.len();
        let key = |a: &NewEvent| -> Option<DupKey> {
            Some((a.session, a.author.as_ref()?.id, a.client_id.clone()?))
        };
        let begin = self.begin_write();
        let backend = self.backend();
        with_db!(self, "events.append_bulk", |p| {
            let mut tx = p.begin_with(begin).await?;
            // 1. Client messages stored before (a resend after a reconnect).
            // The three IN lists let both databases walk the unique index on
            // (session_id, author_id, client_id); exact keys are matched below.
            let keyed: Vec<DupKey> = appends.iter().filter_map(key).collect();
            let mut earlier: HashMap<DupKey, RoomEvent> = HashMap::new();
            if !keyed.is_empty() {
                let mut sessions: Vec<Uuid> = keyed.iter().map(|k| k.0).collect();
                let mut authors: Vec<Uuid> = keyed.iter().map(|k| k.1).collect();
                sessions.sort();
                sessions.dedup();
                authors.sort();
                authors.dedup();
                let mut marks = Marks::new(backend);
                let mut marks = |count: usize| marks.list(count);
                let sql = format!(
                    "SELECT session_id, author_id, client_id, seq, id, at, body FROM room_events \
                 WHERE session_id IN ({}) AND author_id IN ({}) AND client_id IN ({})",
                    marks(sessions.len()),
                    marks(authors.len()),
                    marks(keyed.len())
                );
                let mut q = sqlx::query_as::<
                    _,
                    (
                        Uuid,
                        Option<Uuid>,
                        Option<String>,
                        i64,
                        Uuid,
                        time::OffsetDateTime,
                        String,
                    ),
                >(&sql);
                for v in &sessions {
                    q = q.bind(*v);
                }
                for v in &authors {
                    q = q.bind(*v);
                }
                for k in &keyed {
                    q = q.bind(k.2.clone());
                }
                let wanted: std::collections::HashSet<&DupKey> = keyed.iter().collect();
                for (session, author, cid, seq, id, at, body) in q.fetch_all(&mut *tx).await? {
                    let (Some(author), Some(cid)) = (author, cid) else {
                        continue;
                    };
                    let k = (session, author, cid.clone());
                    if !wanted.contains(&k) {
                        continue;
                    }
                    earlier.insert(
                        k,
                        RoomEvent {
                            seq: u64::try_from(seq).unwrap_or(0),
                            id,
                            at,
                            author: None,
                            client_id: Some(cid),
                            body: parse_body(&body),
                        },
                    );
                }
            }
            // 2. Which appends are new; duplicates within the batch point at
            //    their first copy.
            enum Plan {
                Earlier(RoomEvent),
                SameAs(usize),
                New,
            }
            let mut first: HashMap<DupKey, usize> = HashMap::new();
            let mut plan = Vec::with_capacity(n);
            let mut per_room: Vec<(Uuid, Vec<usize>)> = Vec::new();
            for (i, a) in appends.iter().enumerate() {
                if let Some(k) = key(a) {
                    if let Some(e) = earlier.get(&k) {
                        plan.push(Plan::Earlier(e.clone()));
                        continue;
                    }
                    if let Some(j) = first.get(&k) {
                        plan.push(Plan::SameAs(*j));
                        continue;
                    }
                    first.insert(k, i);
                }
                plan.push(Plan::New);
                match per_room.iter_mut().find(|(s, _)| *s == a.session) {
                    Some((_, v)) => v.push(i),
                    None => per_room.push((a.session, vec![i])),
                }
            }
            // 3. Sequence numbers for every room of the batch in one statement:
            //    each room's counter moves by its count of new events; rooms
            //    missing from the answer are ended (or gone).
            let mut seqs: Vec<Option<Result<i64, bool>>> = (0..n).map(|_| None).collect(); // Err(exists)
            if !per_room.is_empty() {
                let cases: Vec<String> = (0..per_room.len())
                    .map(|r| format!("WHEN ${} THEN ${}", 2 * r + 1, 2 * r + 2))
                    .collect();
                let ids: Vec<String> = (0..per_room.len())
                    .map(|r| format!("${}", 2 * r + 1))
                    .collect();
                let sql = format!(
                    "UPDATE live_sessions SET last_seq = last_seq + CASE id {} END \
                 WHERE id IN ({}) AND state <> 'ended' RETURNING id, last_seq",
                    cases.join(" "),
                    ids.join(", ")
                );
                let mut q = sqlx::query_as::<_, (Uuid, i64)>(&sql);
                for (session, idxs) in &per_room {
                    q = q
                        .bind(*session)
                        .bind(i64::try_from(idxs.len()).unwrap_or(i64::MAX));
                }
                let counters: HashMap<Uuid, i64> =
                    q.fetch_all(&mut *tx).await?.into_iter().collect();
                for (session, idxs) in &per_room {
                    match counters.get(session) {
                        Some(last) => {
                            let k = i64::try_from(idxs.len()).unwrap_or(i64::MAX);
                            for (off, i) in idxs.iter().enumerate() {
                                seqs[*i] = Some(Ok(last - k + 1 + i64::try_from(off).unwrap_or(0)));
                            }
                        }
                        None => {
                            let exists: Option<i64> = sqlx::query_scalar(
                                "SELECT last_seq FROM live_sessions WHERE id = $1",
                            )
                            .bind(session)
                            .fetch_optional(&mut *tx)
                            .await?;
                            for i in idxs {
                                seqs[*i] = Some(Err(exists.is_some()));
                            }
                        }
                    }
                }
            }
            // 4. Build events and their ledger records; leaf indices in order.
            let mut events: Vec<Option<RoomEvent>> = (0..n).map(|_| None).collect();
            let mut records = Vec::new();
            for (i, a) in appends.iter().enumerate() {
                if let Some(Ok(seq)) = seqs[i] {
                    let e = RoomEvent {
                        seq: u64::try_from(seq).unwrap_or(0),
                        id: Uuid::now_v7(),
                        at: now(),
                        author: a.author.clone(),
                        client_id: a.client_id.clone(),
                        body: a.body.clone(),
                    };
                    let record = crate::ledger::records::room_event(a.session, &e)
                        .map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
                    records.push(record);
                    events[i] = Some(e);
                }
            }
            if !records.is_empty() {
                let m = i64::try_from(records.len()).unwrap_or(i64::MAX);
                let size: i64 = sqlx::query_scalar(
                    "UPDATE ledger_state SET size = size + $1 WHERE id = 1 RETURNING size",
                )
                .bind(m)
                .fetch_one(&mut *tx)
                .await?;
                let first_idx = size - m;
                // 5. Two multi-row inserts.
                let stored: Vec<(usize, &RoomEvent)> = events
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| e.as_ref().map(|e| (i, e)))
                    .collect();
                let sql = format!(
                    "INSERT INTO room_events (session_id, seq, id, at, author_id, client_id, kind, body) VALUES {}",
                    Marks::new(backend).rows(stored.len(), 8)
                );
                let mut q = sqlx::query(&sql);
                for (i, e) in &stored {
                    let body = serde_json::to_string(&e.body)
                        .map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
                    q = q
                        .bind(appends[*i].session)
                        .bind(i64::try_from(e.seq).unwrap_or(i64::MAX))
                        .bind(e.id)
                        .bind(crate::store::time::db_time(e.at))
                        .bind(e.author.as_ref().map(|x| x.id))
                        .bind(e.client_id.clone())
                        .bind(e.body.kind())
                        .bind(body);
                }
                q.execute(&mut *tx).await?;
                let sql = format!(
                    "INSERT INTO ledger_leaves (idx, kind, record_id, created_at_ms, payload, leaf_hash) VALUES {}",
                    Marks::new(backend).rows(records.len(), 6)
                );
                let mut q = sqlx::query(&sql);
                for (off, r) in records.iter().enumerate() {
                    q = q
                        .bind(first_idx + i64::try_from(off).unwrap_or(0))
                        .bind(r.kind.as_str().to_owned())
                        .bind(r.id().to_owned())
                        .bind(i64::try_from(r.created_at_ms).unwrap_or(i64::MAX))
                        .bind(r.payload.as_str().to_owned())
                        .bind(r.leaf_hash().0.to_vec());
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            // 6. Answers, in request order.
            let mut out: Vec<EventOutcome> = Vec::with_capacity(n);
            for (i, a) in appends.iter().enumerate() {
                let r = match &plan[i] {
                    Plan::Earlier(e) => EventOutcome::Duplicate(RoomEvent {
                        author: a.author.clone(),
                        ..e.clone()
                    }),
                    Plan::SameAs(j) => match &out[*j] {
                        EventOutcome::New(first) | EventOutcome::Duplicate(first) => {
                            EventOutcome::Duplicate(first.clone())
                        }
                        EventOutcome::Ended => EventOutcome::Ended,
                        EventOutcome::NoSession => EventOutcome::NoSession,
                    },
                    Plan::New => match (&seqs[i], events[i].take()) {
                        (Some(Ok(_)), Some(e)) => EventOutcome::New(e),
                        (Some(Err(true)), _) => EventOutcome::Ended,
                        _ => EventOutcome::NoSession,
                    },
                };
                out.push(r);
            }
            Ok(out)
        })
    }

    /// Store events one statement set at a time in one transaction (state
    /// changes, and single events).
    async fn append_each(&self, appends: &[NewEvent]) -> Result<Vec<EventOutcome>, sqlx::Error> {
        let begin = self.begin_write();
        with_db!(self, "events.append", |p| {
            let mut tx = p.begin_with(begin).await?;
            let mut out = Vec::with_capacity(appends.len());
            for a in appends {
                let author_id = a.author.as_ref().map(|x| x.id);
                if let (Some(cid), Some(aid)) = (&a.client_id, author_id) {
                    let existing: Option<(i64, Uuid, time::OffsetDateTime, String)> = sqlx::query_as(
                    "SELECT seq, id, at, body FROM room_events WHERE session_id = $1 AND author_id = $2 AND client_id = $3",
                )
                .bind(a.session)
                .bind(aid)
                .bind(cid)
                .fetch_optional(&mut *tx)
                .await?;
                    if let Some((seq, id, at, body)) = existing {
                        out.push(EventOutcome::Duplicate(RoomEvent {
                            seq: u64::try_from(seq).unwrap_or(0),
                            id,
                            at,
                            author: a.author.clone(),
                            client_id: Some(cid.clone()),
                            body: parse_body(&body),
                        }));
                        continue;
                    }
                }
                let at = now();
                let state_change = match &a.body {
                    EventBody::State { to, .. } => SessionState::parse(to),
                    _ => None,
                };
                // Ended sessions are read-only: the counter only moves while the
                // session is open, in the same statement that checks it.
                let seq: Option<i64> = match state_change {
                Some(to) => {
                    sqlx::query_scalar(
                        "UPDATE live_sessions SET last_seq = last_seq + 1, state = $2, \
                           started_at = CASE WHEN $2 = 'live' THEN COALESCE(started_at, $3) ELSE started_at END, \
                           ended_at = CASE WHEN $2 = 'ended' THEN $3 ELSE ended_at END \
                         WHERE id = $1 AND state <> 'ended' RETURNING last_seq",
                    )
                    .bind(a.session)
                    .bind(to.as_str())
                    .bind(crate::store::time::db_time(at))
                    .fetch_optional(&mut *tx)
                    .await?
                }
                None => {
                    sqlx::query_scalar(
                        "UPDATE live_sessions SET last_seq = last_seq + 1 WHERE id = $1 AND state <> 'ended' RETURNING last_seq",
                    )
                    .bind(a.session)
                    .fetch_optional(&mut *tx)
                    .await?
                }
            };
                let Some(seq) = seq else {
                    let exists: Option<i64> =
                        sqlx::query_scalar("SELECT last_seq FROM live_sessions WHERE id = $1")
                            .bind(a.session)
                            .fetch_optional(&mut *tx)
                            .await?;
                    out.push(if exists.is_some() {
                        EventOutcome::Ended
                    } else {
                        EventOutcome::NoSession
                    });
                    continue;
                };
                let event = RoomEvent {
                    seq: u64::try_from(seq).unwrap_or(0),
                    id: Uuid::now_v7(),
                    at,
                    author: a.author.clone(),
                    client_id: a.client_id.clone(),
                    body: a.body.clone(),
                };
                insert_event!(tx, a.session, &event);
                // The event and its ledger leaf commit together or not at all.
                let record = crate::ledger::records::room_event(a.session, &event)
                    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                append_leaf!(tx, &record);
                out.push(EventOutcome::New(event));
            }
            tx.commit().await?;
            Ok(out)
        })
    }
}

type DupKey = (Uuid, Uuid, String);

#[cfg(test)]
mod tests {
    use jiliang_protocol::rooms::{Author, EventBody};
    use jiliang_protocol::sessions::SessionState;
    use uuid::Uuid;

    use super::{EventOutcome, NewEvent};
    use crate::store::test_db::{seed, stores};

    fn chat(session: Uuid, author: Uuid, client_id: &str, text: &str) -> NewEvent {
        NewEvent {
            session,
            author: Some(Author {
                id: author,
                name: "王工".into(),
            }),
            client_id: Some(client_id.into()),
            body: EventBody::Chat { text: text.into() },
        }
    }

    fn seq(o: &EventOutcome) -> Option<u64> {
        match o {
            EventOutcome::New(e) => Some(e.seq),
            _ => None,
        }
    }

    #[tokio::test]
    async fn appends_number_dedupe_refuse_and_log_every_event() {
        for t in stores().await {
            let store = &t.store;
            let s = seed(store).await;
            let missing = Uuid::now_v7();
            // Bulk: new events, a resend within the batch, an unknown room.
            let out = store
                .append_events(&[
                    chat(s.session, s.user, "a", "零点 0.000 g"),
                    chat(s.session, s.user, "b", "示值 100.002 g"),
                    chat(s.session, s.user, "a", "零点 0.000 g"),
                    chat(missing, s.user, "c", "?"),
                ])
                .await
                .expect("bulk append");
            assert_eq!(seq(&out[0]), Some(1), "{}", t.name);
            assert_eq!(seq(&out[1]), Some(2), "{}", t.name);
            assert!(
                matches!(&out[2], EventOutcome::Duplicate(e) if e.seq == 1),
                "{}: {:?}",
                t.name,
                out[2]
            );
            assert!(matches!(out[3], EventOutcome::NoSession), "{}", t.name);
            // A resend in a later batch returns the stored event with the
            // caller's author.
            let again = store
                .append_events(&[
                    chat(s.session, s.user, "b", "示值 100.002 g"),
                    chat(s.session, s.user, "d", "好"),
                ])
                .await
                .expect("append");
            assert!(
                matches!(&again[0], EventOutcome::Duplicate(e) if e.seq == 2 && e.author.as_ref().is_some_and(|a| a.name == "王工")),
                "{}: {:?}",
                t.name,
                again[0]
            );
            assert_eq!(seq(&again[1]), Some(3), "{}", t.name);
            // One by one: a state change ends the session; later appends
            // are refused as ended.
            let ended = store
                .append_events(&[NewEvent {
                    session: s.session,
                    author: None,
                    client_id: None,
                    body: EventBody::State {
                        from: SessionState::Live.as_str().into(),
                        to: SessionState::Ended.as_str().into(),
                    },
                }])
                .await
                .expect("end");
            assert_eq!(seq(&ended[0]), Some(4), "{}", t.name);
            let late = store
                .append_events(&[chat(s.session, s.user, "e", "晚了")])
                .await
                .expect("append");
            assert!(matches!(late[0], EventOutcome::Ended), "{}", t.name);

            // Read back: the log, its counter, the ledger.
            let events = store.read_events(s.session, 0, 100).await.expect("read");
            assert_eq!(
                events.iter().map(|e| e.seq).collect::<Vec<_>>(),
                vec![1, 2, 3, 4],
                "{}",
                t.name
            );
            assert_eq!(
                store.read_events(s.session, 2, 1).await.expect("page")[0].seq,
                3
            );
            assert_eq!(store.session_last_seq(s.session).await.expect("seq"), 4);
            assert_eq!(
                store.session_counters().await.expect("counters"),
                vec![(s.session, 4)],
                "{}",
                t.name
            );
            assert_eq!(store.ledger_size().await.expect("size"), Some(4));
            let leaves = store.session_event_leaves(s.session).await.expect("leaves");
            assert_eq!(
                leaves.iter().map(|l| l.index).collect::<Vec<_>>(),
                vec![0, 1, 2, 3],
                "{}",
                t.name
            );
            for (leaf, event) in leaves.iter().zip(&events) {
                assert_eq!(leaf.record_id, event.id.to_string());
                let record = leaf.record().expect("record");
                assert_eq!(record.leaf_hash().0.to_vec(), leaf.leaf_hash);
                let derived =
                    crate::ledger::records::room_event(s.session, event).expect("derived");
                assert_eq!(
                    derived.leaf_hash(),
                    record.leaf_hash(),
                    "{}: the stored event re-derives its leaf",
                    t.name
                );
            }
            t.cleanup().await;
        }
    }
}
