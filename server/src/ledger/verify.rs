//! Re-verify a whole database: every leaf re-derived from its stored
//! content, every record re-derived from its source row, the tree rebuilt
//! and compared with every signed head.
//!
//! What it catches, and how it names it:
//! - a byte changed in a source row (a room event) → "record at index i
//!   (room_event <id>): the stored event differs from the recorded one";
//! - a source row deleted → "… missing from room_events"; an event with no
//!   leaf → "room event <id> is not in the log";
//! - a leaf changed, deleted, or two swapped → content altered / gap / out of
//!   order / root at size n does not match the signed head.

use std::collections::{HashMap, HashSet};

use jiliang_ledger::{
    CanonicalJson, Hash, LogEntry, LogReport, LogVerifier, Record, RecordKind, SignatureBytes,
    SignedTreeHead, VerifyingKey,
};
use jiliang_protocol::rooms::{Author, EventBody, RoomEvent};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::LedgerError;
use super::records;
use crate::store::Store;
use crate::with_db;

const PAGE: i64 = 2000;

#[derive(Debug, Serialize)]
pub struct DbReport {
    pub ok: bool,
    pub leaves: u64,
    pub heads: u64,
    /// Every problem, in the order found; the first is the earliest record.
    pub problems: Vec<String>,
    pub log: LogReport,
}

#[derive(sqlx::FromRow)]
struct LeafRow {
    idx: i64,
    kind: String,
    record_id: String,
    created_at_ms: i64,
    payload: String,
    leaf_hash: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    session_id: Uuid,
    seq: i64,
    id: Uuid,
    at: OffsetDateTime,
    author_id: Option<Uuid>,
    client_id: Option<String>,
    body: String,
}

/// Verify the log in `store`. Head signatures are checked against `pinned`
/// if given (a key published out of band), else against each head's own key,
/// which must be one the database has registered.
pub async fn verify_database(
    store: &Store,
    pinned: Option<VerifyingKey>,
) -> Result<DbReport, LedgerError> {
    let mut problems = Vec::new();
    let mut verifier = LogVerifier::new();
    let mut recorded_events: HashSet<Uuid> = HashSet::new();
    let mut after: i64 = -1;
    let mut leaves = 0u64;
    loop {
        let rows: Vec<LeafRow> = with_db!(store, |p| {
            sqlx::query_as(
            "SELECT idx, kind, record_id, created_at_ms, payload, leaf_hash FROM ledger_leaves WHERE idx > $1 ORDER BY idx LIMIT $2"
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(p)
        .await
        })?;
        let Some(last) = rows.last() else { break };
        after = last.idx;
        let ids: Vec<Uuid> = rows
            .iter()
            .filter(|r| r.kind == RecordKind::ROOM_EVENT.as_str())
            .filter_map(|r| r.record_id.parse().ok())
            .collect();
        let sources = room_events_by_id(store, &ids).await?;
        for row in rows {
            leaves += 1;
            let index = u64::try_from(row.idx).unwrap_or(u64::MAX);
            let recorded = Hash::from_slice(&row.leaf_hash).ok();
            let record = RecordKind::new(row.kind.clone())
                .map_err(|e| e.to_string())
                .and_then(|kind| {
                    let payload = CanonicalJson::from_canonical(row.payload.clone())
                        .map_err(|e| e.to_string())?;
                    Record::from_parts(
                        kind,
                        row.record_id.clone(),
                        u64::try_from(row.created_at_ms).unwrap_or(0),
                        payload,
                    )
                    .map_err(|e| e.to_string())
                });
            match record {
                Ok(record) => {
                    verifier.push(LogEntry::from_record(index, &record, recorded));
                    if record.kind == RecordKind::ROOM_EVENT {
                        check_room_event(
                            index,
                            &record,
                            &sources,
                            &mut recorded_events,
                            &mut problems,
                        );
                    }
                }
                Err(why) => {
                    problems.push(format!(
                        "record at index {index} ({} {}): malformed: {why}",
                        row.kind, row.record_id
                    ));
                    // Still occupies its index; its content cannot match.
                    verifier.push(LogEntry {
                        index,
                        content_hash: Hash([0; 32]),
                        recorded_leaf_hash: recorded,
                    });
                }
            }
        }
    }
    // Events stored without a leaf (a leaf deleted, or written around the log).
    let mut after_id: Option<Uuid> = None;
    loop {
        let mut sql = String::from(
            "SELECT id FROM room_events WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2",
        );
        if store.backend() == crate::store::Backend::Postgres {
            sql = sql.replace("$1 IS NULL", "$1::uuid IS NULL");
        }
        let ids: Vec<Uuid> = with_db!(store, |p| sqlx::query_scalar(&sql)
            .bind(after_id)
            .bind(PAGE)
            .fetch_all(p)
            .await)?;
        let Some(last) = ids.last() else { break };
        after_id = Some(*last);
        for id in ids.iter().filter(|id| !recorded_events.contains(id)) {
            problems.push(format!("room event {id} is not in the log"));
        }
    }

    let (heads, keys) = load_heads(store).await?;
    let mut head_count = 0;
    for (head, key_bytes) in heads {
        head_count += 1;
        let key_ok = match &pinned {
            Some(k) => k.to_bytes() == key_bytes,
            None => keys.contains(&key_bytes),
        };
        let sig_ok = key_ok && head.verify_with_key_bytes(&key_bytes).is_ok();
        if !sig_ok {
            problems.push(format!(
                "signed head at size {}: signature does not verify with {}",
                head.size,
                if pinned.is_some() {
                    "the pinned key"
                } else {
                    "a registered key"
                }
            ));
        }
        verifier.add_head(head);
    }
    let log = verifier.finish(None);
    // Structural findings (gaps, order, altered content, root mismatches)
    // come from the log audit; put them in index order with ours.
    let mut all: Vec<String> = log.problems.iter().map(ToString::to_string).collect();
    all.extend(problems);
    Ok(DbReport {
        ok: all.is_empty(),
        leaves,
        heads: head_count,
        problems: all,
        log,
    })
}

fn check_room_event(
    index: u64,
    record: &Record,
    sources: &HashMap<Uuid, EventRow>,
    seen: &mut HashSet<Uuid>,
    problems: &mut Vec<String>,
) {
    let Ok(id) = record.id().parse::<Uuid>() else {
        problems.push(format!(
            "record at index {index} (room_event {}): not an event id",
            record.id()
        ));
        return;
    };
    seen.insert(id);
    let Some(row) = sources.get(&id) else {
        problems.push(format!(
            "record at index {index} (room_event {id}): missing from room_events"
        ));
        return;
    };
    let event = RoomEvent {
        seq: u64::try_from(row.seq).unwrap_or(0),
        id: row.id,
        at: row.at,
        author: row.author_id.map(|id| Author {
            id,
            name: String::new(),
        }),
        client_id: row.client_id.clone(),
        body: serde_json::from_str(&row.body).unwrap_or(EventBody::Unknown),
    };
    match records::room_event(row.session_id, &event) {
        Ok(now) if now.leaf_hash() == record.leaf_hash() => {}
        _ => problems.push(format!(
            "record at index {index} (room_event {id}): the stored event differs from the recorded one"
        )),
    }
}

async fn room_events_by_id(
    store: &Store,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, EventRow>, sqlx::Error> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT session_id, seq, id, at, author_id, client_id, body FROM room_events WHERE id IN ({})",
            marks.join(", ")
        );
        let rows: Vec<EventRow> = with_db!(store, |p| {
            let mut q = sqlx::query_as(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            q.fetch_all(p).await
        })?;
        out.extend(rows.into_iter().map(|r| (r.id, r)));
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct HeadRow {
    size: i64,
    timestamp_ms: i64,
    root_hash: Vec<u8>,
    signature: Vec<u8>,
    public_key: Vec<u8>,
}

async fn load_heads(
    store: &Store,
) -> Result<(Vec<(SignedTreeHead, [u8; 32])>, HashSet<[u8; 32]>), sqlx::Error> {
    let rows: Vec<HeadRow> = with_db!(store, |p| {
        sqlx::query_as(
        "SELECT size, timestamp_ms, root_hash, signature, public_key FROM ledger_heads ORDER BY size"
    )
    .fetch_all(p)
    .await
    })?;
    let keys: Vec<Vec<u8>> = with_db!(store, |p| sqlx::query_scalar(
        "SELECT public_key FROM ledger_keys"
    )
    .fetch_all(p)
    .await)?;
    let keys = keys
        .into_iter()
        .filter_map(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
        .collect();
    let heads = rows
        .into_iter()
        .filter_map(|r| {
            Some((
                SignedTreeHead {
                    size: u64::try_from(r.size).ok()?,
                    timestamp_ms: u64::try_from(r.timestamp_ms).ok()?,
                    root_hash: Hash::from_slice(&r.root_hash).ok()?,
                    signature: SignatureBytes(r.signature.as_slice().try_into().ok()?),
                },
                <[u8; 32]>::try_from(r.public_key.as_slice()).ok()?,
            ))
        })
        .collect();
    Ok((heads, keys))
}
