//! Statements that run inside another operation's transaction: a session's
//! rows, a room event, a ledger leaf. They exist so that a record and its
//! ledger leaf commit together or not at all, whichever operation stores
//! the record.
//!
//! Macros rather than functions: each backend's transaction is its own type
//! and the statements are the same text for both. Each expands to
//! statements using `?`, so the caller's error type must accept
//! `sqlx::Error`. They never commit or roll back: the caller owns the
//! transaction.

/// Insert a live session's row, labs and participants (the host first) in
/// `$tx`, with its sequence counter at `$last_seq`.
macro_rules! insert_session_rows {
    ($tx:ident, $id:expr, $s:expr, $now:expr, $last_seq:expr) => {{
        let s: &$crate::store::rooms::NewSession = $s;
        let (id, now): (::uuid::Uuid, ::time::OffsetDateTime) = ($id, $now);
        let started = (s.state == ::jiliang_protocol::sessions::SessionState::Live).then_some(now);
        sqlx::query(
            "INSERT INTO live_sessions (id, kind, title, description, state, scheduled_start, duration_minutes, host_id, \
             host_institution_id, help_request_id, created_at, started_at, last_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(id)
        .bind(match s.kind {
            ::jiliang_protocol::sessions::SessionKind::Help => "help",
            ::jiliang_protocol::sessions::SessionKind::Scheduled => "scheduled",
        })
        .bind(&s.title)
        .bind(&s.description)
        .bind(s.state.as_str())
        .bind($crate::store::time::db_time(s.scheduled_start))
        .bind(s.duration_minutes)
        .bind(s.host_id)
        .bind(s.host_institution_id)
        .bind(s.help_request_id)
        .bind($crate::store::time::db_time(now))
        .bind(started.map($crate::store::time::db_time))
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

/// Insert one room event (`&RoomEvent`, already numbered) of session
/// `$session` in `$tx`.
macro_rules! insert_event {
    ($tx:ident, $session:expr, $event:expr) => {{
        let event: &::jiliang_protocol::rooms::RoomEvent = $event;
        let body =
            serde_json::to_string(&event.body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(
            "INSERT INTO room_events (session_id, seq, id, at, author_id, client_id, kind, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind($session)
        .bind(i64::try_from(event.seq).unwrap_or(i64::MAX))
        .bind(event.id)
        .bind($crate::store::time::db_time(event.at))
        .bind(event.author.as_ref().map(|a| a.id))
        .bind(event.client_id.as_deref())
        .bind(event.body.kind())
        .bind(body)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Append one `&jiliang_ledger::Record` at the log's next index in `$tx`;
/// evaluates to that index. The counter moves in the same transaction, so
/// indices are gap-free whichever node writes.
macro_rules! append_leaf {
    ($tx:ident, $record:expr) => {{
        let record: &::jiliang_ledger::Record = $record;
        let idx: i64 = sqlx::query_scalar(
            "UPDATE ledger_state SET size = size + 1 WHERE id = 1 RETURNING size - 1",
        )
        .fetch_one(&mut *$tx)
        .await?;
        let created = i64::try_from(record.created_at_ms).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO ledger_leaves (idx, kind, record_id, created_at_ms, payload, leaf_hash) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(idx)
        .bind(record.kind.as_str())
        .bind(record.id())
        .bind(created)
        .bind(record.payload.as_str())
        .bind(record.leaf_hash().0.to_vec())
        .execute(&mut *$tx)
        .await?;
        idx
    }};
}
