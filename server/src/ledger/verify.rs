//! Re-verify a whole database: every leaf re-derived from its stored
//! content, every record re-derived from its source row, the order of each
//! session's records, the tree rebuilt and compared with every signed head.
//!
//! What it catches, and how it names it:
//! - a byte changed in a source row (a room event) → "record at index i
//!   (room_event <id>): the stored event differs from the recorded one";
//! - a byte changed in a leaf → "record at index i (room_event <id>):
//!   content altered";
//! - a source row deleted → "… missing from room_events"; an event with no
//!   leaf → "room event <id> is not in the log";
//! - the same for reading batches: a reading changed, added or deleted →
//!   "record at index i (reading_batch <id>): the stored readings differ
//!   from the recorded ones"; a batch row deleted → "… missing from
//!   reading_batches"; a batch with no leaf → "reading batch <id> is not in
//!   the log";
//! - the same for finished comparisons (`raw_record`, re-derived from the
//!   `comparisons` row): "… the stored comparison differs from the recorded
//!   one", "… missing from comparisons", "comparison <id> is not in the log";
//! - the same for certificates (re-derived from the `certificates` row):
//!   "… the stored certificate differs from the recorded one", "… missing
//!   from certificates", "certificate <number> is not in the log";
//! - and for their changes of status (`certificate_status`, re-derived from
//!   the row's status columns): "… the stored status differs from the
//!   recorded one" (a revocation undone or reworded in the row),
//!   "certificate <number> is revoked but its status is not in the log";
//! - recorded files (`recording`, re-derived from the `recording_files`
//!   row, the file's SHA-256 included): "… the stored recording differs
//!   from the recorded one", "… missing from recording_files", "recording
//!   <id> is not in the log";
//! - a leaf deleted → "index i missing (gap)", or, at the end of the log,
//!   against the log's own counter; a leaf deleted with its event and the
//!   counters rewound → "session s: seq k is not in the log";
//! - two leaves swapped → each named: a session's sequence numbers must grow
//!   with the ledger index, so both misplaced records stand out, whether or
//!   not a signed head covers them yet;
//! - anything else under a signed head → "root at size n does not match
//!   signed head", narrowed to the indices between the last head that still
//!   matches and this one.
//!
//! The findings about records are sorted by ledger index and come before
//! those about heads: the first one is the earliest altered, missing or
//! misplaced record (what the CLI prints on stderr).
//!
//! Not caught: two records of *different* sessions swapped after the last
//! signed head, when neither session has another record in between — no
//! stored fact orders them. Heads are signed every `--ledger-interval-ms`,
//! so that window is a few seconds long.

use std::collections::{HashMap, HashSet};

use jiliang_ledger::{
    Hash, LogEntry, LogProblem, LogReport, LogVerifier, Record, RecordKind, VerifyingKey,
};
use serde::Serialize;
use uuid::Uuid;

use super::LedgerError;
use super::records;
use crate::store::Store;
use crate::store::certificates::StoredCertificate;
use crate::store::comparisons::StoredComparison;
use crate::store::devices::readings::StoredBatch;
use crate::store::rooms::SessionEvent;

const PAGE: i64 = 2000;

#[derive(Debug, Serialize)]
pub struct DbReport {
    pub ok: bool,
    pub leaves: u64,
    pub heads: u64,
    /// Every problem: those about records in ledger index order, then
    /// those about signed heads by the range they point to. The first names
    /// the earliest altered, missing or misplaced record.
    pub problems: Vec<String>,
    pub log: LogReport,
}

/// A problem and where in the log it is, for sorting.
struct Finding {
    /// The earliest ledger index implicated; `u64::MAX` when none is known.
    at: u64,
    /// 0: a finding about records; 1: about a head. Record findings come
    /// first: a head that no longer matches only says a change lies in a
    /// range, while the record findings say which record it is.
    rank: u8,
    text: String,
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn record(&mut self, at: u64, text: String) {
        self.0.push(Finding { at, rank: 0, text });
    }

    fn head(&mut self, at: u64, text: String) {
        self.0.push(Finding { at, rank: 1, text });
    }

    fn into_sorted(mut self) -> Vec<String> {
        // Stable: findings at the same place keep the order they were found.
        self.0.sort_by_key(|f| (f.rank, f.at));
        self.0.into_iter().map(|f| f.text).collect()
    }
}

/// Where a room event record sits in its session, from the leaf's payload.
#[derive(serde::Deserialize)]
struct SessionSeq {
    session: Uuid,
    seq: u64,
}

/// One room event leaf, for the per-session order check.
struct Placed {
    index: u64,
    seq: u64,
    id: String,
}

/// Verify the log in `store`. Head signatures are checked against `pinned`
/// if given (a key published out of band), else against each head's own key,
/// which must be one the database has registered.
pub async fn verify_database(
    store: &Store,
    pinned: Option<VerifyingKey>,
) -> Result<DbReport, LedgerError> {
    let mut found = Findings::default();
    let mut verifier = LogVerifier::new();
    let mut recorded_statuses: HashSet<String> = HashSet::new();
    let mut recorded_events: HashSet<Uuid> = HashSet::new();
    let mut recorded_batches: HashSet<Uuid> = HashSet::new();
    let mut recorded_comparisons: HashSet<Uuid> = HashSet::new();
    let mut recorded_certificates: HashSet<String> = HashSet::new();
    let mut recorded_recordings: HashSet<Uuid> = HashSet::new();
    let mut sessions: HashMap<Uuid, Vec<Placed>> = HashMap::new();
    let mut after: Option<u64> = None;
    let mut next_index = 0u64;
    let mut leaves = 0u64;
    loop {
        let rows = store.ledger_leaves(after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.index);
        let ids: Vec<Uuid> = rows
            .iter()
            .filter(|r| r.kind == RecordKind::ROOM_EVENT.as_str())
            .filter_map(|r| r.record_id.parse().ok())
            .collect();
        let sources = store.events_by_id(&ids).await?;
        let batch_ids: Vec<Uuid> = rows
            .iter()
            .filter(|r| r.kind == RecordKind::READING_BATCH.as_str())
            .filter_map(|r| r.record_id.parse().ok())
            .collect();
        let batches = store.reading_batches_by_id(&batch_ids).await?;
        let comparison_ids: Vec<Uuid> = rows
            .iter()
            .filter(|r| r.kind == RecordKind::RAW_RECORD.as_str())
            .filter_map(|r| r.record_id.parse().ok())
            .collect();
        let comparisons = store.comparisons_by_id(&comparison_ids).await?;
        for row in rows {
            leaves += 1;
            let index = row.index;
            // Found here rather than taken from the audit, so a gap sorts
            // ahead of what else is said about the same index.
            if index > next_index {
                found.record(
                    next_index,
                    LogProblem::Missing {
                        from: next_index,
                        to: index - 1,
                    }
                    .to_string(),
                );
            }
            next_index = index.saturating_add(1);
            let name = format!("record at index {index} ({} {})", row.kind, row.record_id);
            let recorded = Hash::from_slice(&row.leaf_hash).ok();
            if recorded.is_none() {
                found.record(index, format!("{name}: the stored leaf hash is malformed"));
            }
            match row.record() {
                Ok(record) => {
                    let computed = record.leaf_hash();
                    if let Some(stored) = recorded.filter(|h| *h != computed) {
                        found.record(
                            index,
                            format!(
                                "{name}: content altered (stored leaf hash {stored}, content hashes to {computed})"
                            ),
                        );
                    }
                    verifier.push(LogEntry::from_record(index, &record, recorded));
                    if record.kind == RecordKind::READING_BATCH {
                        check_reading_batch(
                            index,
                            &record,
                            &batches,
                            &mut recorded_batches,
                            &mut found,
                        );
                    }
                    if record.kind == RecordKind::RAW_RECORD {
                        check_comparison(
                            index,
                            &record,
                            &comparisons,
                            &mut recorded_comparisons,
                            &mut found,
                        );
                    }
                    if record.kind == RecordKind::ROUND_REPORT {
                        check_round_report(store, index, &record, &mut found).await?;
                    }
                    if record.kind == RecordKind::CERTIFICATE_STATUS {
                        let stored = store.get_certificate(record.id()).await?;
                        let issued = store
                            .ledger_leaf(RecordKind::CERTIFICATE.as_str(), record.id())
                            .await?;
                        check_certificate_status(
                            index,
                            &record,
                            stored.as_ref(),
                            issued.map(|l| l.leaf_hash),
                            &mut recorded_statuses,
                            &mut found,
                        );
                    }
                    if record.kind == RecordKind::CERTIFICATE {
                        let stored = store.get_certificate(record.id()).await?;
                        check_certificate(
                            index,
                            &record,
                            stored.as_ref(),
                            &mut recorded_certificates,
                            &mut found,
                        );
                    }
                    if record.kind == RecordKind::RECORDING {
                        check_recording(
                            store,
                            index,
                            &record,
                            &mut recorded_recordings,
                            &mut found,
                        )
                        .await?;
                    }
                    if record.kind == RecordKind::ROOM_EVENT {
                        check_room_event(
                            index,
                            &record,
                            &sources,
                            &mut recorded_events,
                            &mut found,
                        );
                        if let Ok(at) = serde_json::from_str::<SessionSeq>(record.payload.as_str())
                        {
                            sessions.entry(at.session).or_default().push(Placed {
                                index,
                                seq: at.seq,
                                id: row.record_id.clone(),
                            });
                        }
                    }
                }
                Err(why) => {
                    found.record(index, format!("{name}: malformed: {why}"));
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
    check_counter(store, next_index, &mut found).await?;
    check_session_order(store, &sessions, &mut found).await?;

    // Events stored without a leaf (a leaf deleted, or written around the log).
    let mut after_id: Option<Uuid> = None;
    loop {
        let ids = store.event_ids_after(after_id, PAGE).await?;
        let Some(last) = ids.last() else { break };
        after_id = Some(*last);
        for id in ids.iter().filter(|id| !recorded_events.contains(id)) {
            found.record(u64::MAX, format!("room event {id} is not in the log"));
        }
    }

    // Recorded files stored ready without a leaf.
    for id in store.ready_recording_ids().await? {
        if !recorded_recordings.contains(&id) {
            found.record(u64::MAX, format!("recording {id} is not in the log"));
        }
    }

    // Reading batches stored without a leaf.
    let mut after_id: Option<Uuid> = None;
    loop {
        let ids = store.reading_batch_ids_after(after_id, PAGE).await?;
        let Some(last) = ids.last() else { break };
        after_id = Some(*last);
        for id in ids.iter().filter(|id| !recorded_batches.contains(id)) {
            found.record(u64::MAX, format!("reading batch {id} is not in the log"));
        }
    }

    // Finished comparisons stored without a leaf.
    let mut after_id: Option<Uuid> = None;
    loop {
        let ids = store.comparison_ids_after(after_id, PAGE).await?;
        let Some(last) = ids.last() else { break };
        after_id = Some(*last);
        for id in ids.iter().filter(|id| !recorded_comparisons.contains(id)) {
            found.record(u64::MAX, format!("comparison {id} is not in the log"));
        }
    }

    // Certificates stored without a leaf.
    let mut after_number: Option<String> = None;
    loop {
        let rows = store
            .certificates_after(after_number.as_deref(), PAGE)
            .await?;
        let Some(last) = rows.last() else { break };
        after_number = Some(last.number.clone());
        for c in rows
            .iter()
            .filter(|c| !recorded_certificates.contains(&c.number))
        {
            found.record(
                u64::MAX,
                format!("certificate {} is not in the log", c.number),
            );
        }
        for c in rows
            .iter()
            .filter(|c| c.status != "valid" && !recorded_statuses.contains(&c.number))
        {
            found.record(
                u64::MAX,
                format!(
                    "certificate {} is {} but its status is not in the log",
                    c.number, c.status
                ),
            );
        }
    }

    let heads = store.ledger_heads().await?;
    let keys: HashSet<[u8; 32]> = store.ledger_keys().await?.into_iter().collect();
    let mut head_count = 0;
    for stored in heads {
        let (head, key_bytes) = (stored.head, stored.public_key);
        head_count += 1;
        let key_ok = match &pinned {
            Some(k) => k.to_bytes() == key_bytes,
            None => keys.contains(&key_bytes),
        };
        let sig_ok = key_ok && head.verify_with_key_bytes(&key_bytes).is_ok();
        if !sig_ok {
            found.head(
                u64::MAX,
                format!(
                    "signed head at size {}: signature does not verify with {}",
                    head.size,
                    if pinned.is_some() {
                        "the pinned key"
                    } else {
                        "a registered key"
                    }
                ),
            );
        }
        verifier.add_head(head);
    }
    let log = verifier.finish(None);
    for p in &log.problems {
        let at = p.first_index().unwrap_or(u64::MAX);
        match p {
            // Reported above (content with the record named).
            LogProblem::ContentAltered { .. } | LogProblem::Missing { .. } => {}
            LogProblem::OutOfOrder { .. } => found.record(at, p.to_string()),
            _ => found.head(at, p.to_string()),
        }
    }
    let problems = found.into_sorted();
    Ok(DbReport {
        ok: problems.is_empty(),
        leaves,
        heads: head_count,
        problems,
        log,
    })
}

/// The log's own counter (`ledger_state.size`, bumped in every appending
/// transaction) against the leaves present: a leaf deleted from the end of
/// the log leaves no gap, but the counter still counts it.
/// A published round report: re-derived from the `rounds` row (its stored
/// record content and publication time).
async fn check_round_report(
    store: &Store,
    index: u64,
    record: &Record,
    found: &mut Findings,
) -> Result<(), LedgerError> {
    let name = format!("record at index {index} (round_report {})", record.id());
    let Ok(id) = record.id().parse::<Uuid>() else {
        found.record(index, format!("{name}: not a round id"));
        return Ok(());
    };
    let round = store.get_round(id).await?;
    let derived = round.as_ref().and_then(|r| {
        let content = serde_json::from_str::<serde_json::Value>(r.record.as_deref()?).ok()?;
        crate::rounds::record(id, r.published_at?, &content).ok()
    });
    match (round, derived) {
        (None, _) => found.record(index, format!("{name}: missing from rounds")),
        (Some(_), Some(now)) if now.leaf_hash() == record.leaf_hash() => {}
        _ => found.record(
            index,
            format!("{name}: the stored round differs from the recorded one"),
        ),
    }
    Ok(())
}

async fn check_counter(
    store: &Store,
    present: u64,
    found: &mut Findings,
) -> Result<(), LedgerError> {
    let Some(size) = store.ledger_size().await? else {
        found.record(
            u64::MAX,
            "the log's counter (ledger_state) is missing".into(),
        );
        return Ok(());
    };
    if size > present {
        found.record(
            present,
            format!(
                "{} missing (the log's counter says {size} records were written)",
                if size - present == 1 {
                    format!("index {present}")
                } else {
                    format!("indices {present}..={}", size - 1)
                }
            ),
        );
    } else if size < present {
        found.record(
            size,
            format!(
                "record at index {size} and after: beyond the log's counter ({size} records written)"
            ),
        );
    }
    Ok(())
}

/// Each session's records must carry seq 1, 2, 3, … in ledger index order,
/// up to the session's `last_seq`: events are numbered and logged in one
/// transaction, in order. A record out of place is named (both of a swapped
/// pair); seqs absent from the log are named by session.
async fn check_session_order(
    store: &Store,
    sessions: &HashMap<Uuid, Vec<Placed>>,
    found: &mut Findings,
) -> Result<(), LedgerError> {
    for (session, placed) in sessions {
        let mut sorted: Vec<u64> = placed.iter().map(|p| p.seq).collect();
        sorted.sort_unstable();
        for (p, expected) in placed.iter().zip(&sorted) {
            if p.seq != *expected {
                found.record(
                    p.index,
                    format!(
                        "record at index {} (room_event {}): out of order: session {session}'s seq {} is logged where seq {expected} belongs",
                        p.index, p.id, p.seq
                    ),
                );
            }
        }
        let mut by_seq: Vec<&Placed> = placed.iter().collect();
        by_seq.sort_by_key(|p| (p.seq, p.index));
        for pair in by_seq.windows(2) {
            if pair[0].seq == pair[1].seq {
                found.record(
                    pair[1].index,
                    format!(
                        "record at index {} (room_event {}): session {session}'s seq {} is logged twice (also at index {})",
                        pair[1].index, pair[1].id, pair[1].seq, pair[0].index
                    ),
                );
            }
        }
    }
    // Seqs 1..=last_seq that no leaf carries, sessions without any leaf included.
    let counters = store.session_counters().await?;
    let empty = Vec::new();
    for (session, last_seq) in counters {
        let placed = sessions.get(&session).unwrap_or(&empty);
        let have: HashSet<u64> = placed.iter().map(|p| p.seq).collect();
        let mut missing = (1..=last_seq).filter(|k| !have.contains(k)).peekable();
        while let Some(from) = missing.next() {
            let mut to = from;
            while missing.peek() == Some(&(to + 1)) {
                to += 1;
                missing.next();
            }
            // Where it belonged: just after the session's previous record.
            let at = placed
                .iter()
                .filter(|p| p.seq < from)
                .map(|p| p.index + 1)
                .max()
                .unwrap_or(0);
            let seqs = if from == to {
                format!("seq {from} is")
            } else {
                format!("seqs {from}..={to} are")
            };
            found.record(
                at,
                format!(
                    "session {session}: {seqs} not in the log (the session counted {last_seq})"
                ),
            );
        }
    }
    Ok(())
}

fn check_room_event(
    index: u64,
    record: &Record,
    sources: &HashMap<Uuid, SessionEvent>,
    seen: &mut HashSet<Uuid>,
    found: &mut Findings,
) {
    let Ok(id) = record.id().parse::<Uuid>() else {
        found.record(
            index,
            format!(
                "record at index {index} (room_event {}): not an event id",
                record.id()
            ),
        );
        return;
    };
    seen.insert(id);
    let Some(stored) = sources.get(&id) else {
        found.record(
            index,
            format!("record at index {index} (room_event {id}): missing from room_events"),
        );
        return;
    };
    // Re-derived from the stored row: what the record would be today.
    match records::room_event(stored.session_id, &stored.event) {
        Ok(now) if now.leaf_hash() == record.leaf_hash() => {}
        _ => found.record(
            index,
            format!(
                "record at index {index} (room_event {id}): the stored event differs from the recorded one"
            ),
        ),
    }
}

fn check_reading_batch(
    index: u64,
    record: &Record,
    sources: &HashMap<Uuid, StoredBatch>,
    seen: &mut HashSet<Uuid>,
    found: &mut Findings,
) {
    let Ok(id) = record.id().parse::<Uuid>() else {
        found.record(
            index,
            format!(
                "record at index {index} (reading_batch {}): not a batch id",
                record.id()
            ),
        );
        return;
    };
    seen.insert(id);
    let Some(b) = sources.get(&id) else {
        found.record(
            index,
            format!("record at index {index} (reading_batch {id}): missing from reading_batches"),
        );
        return;
    };
    // Re-derived from the stored rows: a reading changed, added to the
    // batch or deleted from it changes the hash.
    let derived = records::reading_batch(&records::ReadingBatch {
        id: b.id,
        device_id: b.device_id,
        source: &b.source,
        unit: &b.unit,
        entered_by: b.entered_by,
        stored_at: b.stored_at,
        readings: &b.readings,
    });
    match derived {
        Ok(now) if now.leaf_hash() == record.leaf_hash() => {}
        _ => found.record(
            index,
            format!(
                "record at index {index} (reading_batch {id}): the stored readings differ from the recorded ones"
            ),
        ),
    }
}

fn check_comparison(
    index: u64,
    record: &Record,
    sources: &HashMap<Uuid, StoredComparison>,
    seen: &mut HashSet<Uuid>,
    found: &mut Findings,
) {
    let Ok(id) = record.id().parse::<Uuid>() else {
        found.record(
            index,
            format!(
                "record at index {index} (raw_record {}): not a comparison id",
                record.id()
            ),
        );
        return;
    };
    seen.insert(id);
    let Some(c) = sources.get(&id) else {
        found.record(
            index,
            format!("record at index {index} (raw_record {id}): missing from comparisons"),
        );
        return;
    };
    // Re-derived from the stored row: a changed reading, result or name
    // changes the hash.
    let derived = serde_json::from_str::<serde_json::Value>(&c.content)
        .ok()
        .and_then(|content| records::raw_record(c.id, c.finished_at, &content).ok());
    match derived {
        Some(now) if now.leaf_hash() == record.leaf_hash() => {}
        _ => found.record(
            index,
            format!(
                "record at index {index} (raw_record {id}): the stored comparison differs from the recorded one"
            ),
        ),
    }
}

/// A `recording` leaf against its `recording_files` row (the file's hash
/// included: the served file is checked against the row by its hash).
async fn check_recording(
    store: &Store,
    index: u64,
    record: &Record,
    recorded: &mut HashSet<Uuid>,
    found: &mut Findings,
) -> Result<(), LedgerError> {
    let name = format!("record at index {index} (recording {})", record.id());
    let Ok(id) = record.id().parse::<Uuid>() else {
        found.record(index, format!("{name}: not a recording id"));
        return Ok(());
    };
    recorded.insert(id);
    let Some((file, _)) = store.recording_file(id).await? else {
        found.record(index, format!("{name}: missing from recording_files"));
        return Ok(());
    };
    let derived = file
        .sha256
        .as_deref()
        .map(|sha| records::recording(&file, sha));
    match derived {
        Some(Ok(d)) if d.leaf_hash() == record.leaf_hash() => {}
        _ => found.record(
            index,
            format!("{name}: the stored recording differs from the recorded one"),
        ),
    }
    Ok(())
}

/// A `certificate_status` leaf against the row's status columns.
fn check_certificate_status(
    index: u64,
    record: &Record,
    stored: Option<&StoredCertificate>,
    issued_leaf: Option<Vec<u8>>,
    seen: &mut HashSet<String>,
    found: &mut Findings,
) {
    let number = record.id();
    seen.insert(number.to_owned());
    let name = format!("record at index {index} (certificate_status {number})");
    let Some(c) = stored else {
        found.record(index, format!("{name}: missing from certificates"));
        return;
    };
    let derived = match (c.status.as_str(), c.status_at, c.status_by, issued_leaf) {
        ("revoked" | "superseded", Some(at), Some(by), Some(leaf)) => {
            crate::certificates::status_record(
                &crate::certificates::StatusPayload {
                    number: c.number.clone(),
                    status: c.status.clone(),
                    reason: c.status_reason.clone().unwrap_or_default(),
                    at: records::rfc3339_micros(at),
                    by,
                    superseded_by: c.superseded_by.clone(),
                    certificate_leaf_hash: jiliang_ledger::hex::encode(&leaf),
                },
                at,
            )
            .ok()
        }
        _ => None,
    };
    match derived {
        Some(now) if now.leaf_hash() == record.leaf_hash() => {}
        _ => found.record(
            index,
            format!(
                "{name}: the stored status ({}) differs from the recorded one",
                c.status
            ),
        ),
    }
}

fn check_certificate(
    index: u64,
    record: &Record,
    stored: Option<&StoredCertificate>,
    seen: &mut HashSet<String>,
    found: &mut Findings,
) {
    let number = record.id();
    seen.insert(number.to_owned());
    let Some(c) = stored else {
        found.record(
            index,
            format!("record at index {index} (certificate {number}): missing from certificates"),
        );
        return;
    };
    // Re-derived from the stored row: a changed result, name or date in
    // the certificate changes its content hash, hence the leaf.
    let derived = serde_json::from_str::<crate::certificates::Certificate>(&c.content)
        .ok()
        .and_then(|cert| crate::certificates::leaf_record(&cert, &c.content, c.issued_at).ok());
    match derived {
        Some(now) if now.leaf_hash() == record.leaf_hash() => {}
        _ => found.record(
            index,
            format!(
                "record at index {index} (certificate {number}): the stored certificate differs from the recorded one"
            ),
        ),
    }
}
