//! Full re-verification of a stored log (what the server runs on its
//! database, and the auditor CLI on a dump).

use jiliang_ledger::{
    Hash, LogEntry, LogProblem, LogVerifier, MerkleTree, Record, RecordKind, SignedTreeHead,
    TreeHead, signing_key_from_seed, verify_log,
};
use serde_json::json;

struct Stored {
    /// (index, record, stored leaf hash) as read back from the database.
    rows: Vec<(u64, Record, Hash)>,
    heads: Vec<SignedTreeHead>,
    key: jiliang_ledger::SigningKey,
}

fn stored() -> Stored {
    let key = signing_key_from_seed(&[3; 32]);
    let rows: Vec<(u64, Record, Hash)> = (0..12u64)
        .map(|i| {
            let record = Record::new(
                RecordKind::READING_BATCH,
                format!("r{i}"),
                1_000 + i,
                &json!({ "i": i, "v": [1.5, 2.25] }),
            )
            .expect("valid record");
            let hash = record.leaf_hash();
            (i, record, hash)
        })
        .collect();
    let tree = MerkleTree::from_leaf_hashes(rows.iter().map(|r| r.2));
    let heads = [3u64, 7, 12]
        .iter()
        .map(|&size| {
            TreeHead {
                size,
                timestamp_ms: 10_000 + size,
                root_hash: tree.root_at(size).expect("in range"),
            }
            .sign(&key)
        })
        .collect();
    Stored { rows, heads, key }
}

fn entries(rows: &[(u64, Record, Hash)]) -> Vec<LogEntry> {
    rows.iter()
        .map(|(i, r, h)| LogEntry::from_record(*i, r, Some(*h)))
        .collect()
}

#[test]
fn clean_log_verifies() {
    let s = stored();
    let report = verify_log(entries(&s.rows), &s.heads, Some(&s.key.verifying_key()));
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.entries_seen, 12);
    assert_eq!(report.verified_size, 12);
    assert_eq!(report.heads_checked, 3);
    assert_eq!(report.verified_root, s.heads[2].root_hash);
    assert_eq!(report.first_problem(), None);
}

#[test]
fn altered_content_is_reported_first() {
    let mut s = stored();
    let (_, record, _) = &mut s.rows[5];
    *record = Record::new(
        record.kind.clone(),
        record.id().to_owned(),
        record.created_at_ms,
        &json!({ "i": 5, "v": [1.5, 2.26] }),
    )
    .expect("valid record");
    let report = verify_log(entries(&s.rows), &s.heads, None);
    assert!(matches!(
        report.first_problem(),
        Some(LogProblem::ContentAltered { index: 5, .. })
    ));
    assert_eq!(
        report
            .first_problem()
            .map(ToString::to_string)
            .as_deref()
            .map(|t| t.starts_with("record at index 5: content altered")),
        Some(true)
    );
    // Heads covering index 5 no longer match; the head at 3 still does.
    let mismatched: Vec<u64> = report
        .problems
        .iter()
        .filter_map(|p| match p {
            LogProblem::RootMismatch { size, .. } => Some(*size),
            _ => None,
        })
        .collect();
    assert_eq!(mismatched, vec![7, 12]);
}

#[test]
fn altered_content_and_stored_hash_caught_by_heads() {
    let mut s = stored();
    let row = &mut s.rows[9];
    row.1 = Record::new(
        row.1.kind.clone(),
        "r9",
        row.1.created_at_ms,
        &json!("forged"),
    )
    .expect("valid record");
    row.2 = row.1.leaf_hash();
    let report = verify_log(entries(&s.rows), &s.heads, None);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(matches!(
        report.problems[0],
        LogProblem::RootMismatch { size: 12, .. }
    ));
    assert!(
        report.problems[0]
            .to_string()
            .starts_with("root at size 12 does not match signed head")
    );
    // The heads at 3 and 7 still match: the change is pinned to 7..12.
    assert!(matches!(
        report.problems[0],
        LogProblem::RootMismatch { since: 7, .. }
    ));
    assert_eq!(report.problems[0].first_index(), Some(7));
    assert!(
        report.problems[0]
            .to_string()
            .ends_with("a record at indices 7..=11 was altered, reordered or removed"),
        "{}",
        report.problems[0]
    );
}

#[test]
fn gap_is_reported_and_later_heads_unverifiable() {
    let mut s = stored();
    s.rows.remove(4);
    let report = verify_log(entries(&s.rows), &s.heads, None);
    assert_eq!(
        report.first_problem(),
        Some(&LogProblem::Missing { from: 4, to: 4 })
    );
    assert_eq!(
        report.first_problem().map(ToString::to_string).as_deref(),
        Some("index 4 missing (gap)")
    );
    assert_eq!(report.verified_size, 4);
    assert!(report.problems.contains(&LogProblem::HeadBeyondLog {
        size: 7,
        verifiable: 4
    }));
    assert!(report.problems.contains(&LogProblem::HeadBeyondLog {
        size: 12,
        verifiable: 4
    }));
    // The head at size 3 is before the gap and still checks.
    assert!(!report.problems.iter().any(|p| matches!(
        p,
        LogProblem::RootMismatch { size: 3, .. } | LogProblem::HeadBeyondLog { size: 3, .. }
    )));
}

#[test]
fn reordered_and_duplicated_rows() {
    let s = stored();
    let mut rows = entries(&s.rows);
    rows.swap(6, 7);
    let report = verify_log(rows, &s.heads, None);
    assert_eq!(
        report.problems[..2],
        [
            LogProblem::Missing { from: 6, to: 6 },
            LogProblem::OutOfOrder {
                index: 6,
                expected: 8
            }
        ]
    );

    let mut rows = entries(&s.rows);
    rows.insert(3, rows[2]);
    let report = verify_log(rows, &s.heads, None);
    assert_eq!(
        report.first_problem(),
        Some(&LogProblem::OutOfOrder {
            index: 2,
            expected: 3
        })
    );
}

#[test]
fn truncated_log_and_bad_heads() {
    let mut s = stored();
    s.rows.truncate(10);
    let mut heads = s.heads.clone();
    heads[0].signature.0[0] ^= 1;
    // A larger head dated before a smaller one.
    heads[1].timestamp_ms = 1;
    heads[1] = heads[1].head().sign(&s.key);
    let report = verify_log(entries(&s.rows), &heads, Some(&s.key.verifying_key()));
    assert!(
        report
            .problems
            .contains(&LogProblem::BadHeadSignature { size: 3 })
    );
    assert!(report.problems.contains(&LogProblem::HeadBeyondLog {
        size: 12,
        verifiable: 10
    }));
    assert!(report.problems.iter().any(|p| matches!(
        p,
        LogProblem::HeadTimeRegression {
            size: 7,
            earlier_size: 3,
            ..
        }
    )));
}

#[test]
fn streaming_matches_one_shot() {
    let s = stored();
    let mut verifier = LogVerifier::new();
    for (i, record, hash) in &s.rows {
        verifier.push_record(*i, record, Some(*hash));
    }
    for head in &s.heads {
        verifier.add_head(*head);
    }
    assert_eq!(verifier.tree().len(), 12);
    let streamed = verifier.finish(Some(&s.key.verifying_key()));
    let one_shot = verify_log(entries(&s.rows), &s.heads, Some(&s.key.verifying_key()));
    assert_eq!(streamed, one_shot);
    // Leaf-data entries (no stored hash column) work the same way.
    let raw: Vec<LogEntry> = s
        .rows
        .iter()
        .map(|(i, r, _)| LogEntry::from_leaf_data(*i, &r.leaf_data(), None))
        .collect();
    assert!(verify_log(raw, &s.heads, None).ok);
}
