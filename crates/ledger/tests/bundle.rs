//! Export bundles: a good one verifies; each kind of tampering is reported
//! against the record or head it affects.

use jiliang_ledger::bundle::export_message;
use jiliang_ledger::{
    Bundle, BundleError, BundleRecord, Location, MerkleTree, Problem, ProofError, Record,
    RecordKind, Report, Scope, SignedTreeHead, SigningKey, TreeHead, signing_key_from_seed,
    verify_bundle, verify_bundle_with_key,
};
use proptest::prelude::*;
use serde_json::json;

const T0: u64 = 1_700_000_000_000;

struct Log {
    key: SigningKey,
    records: Vec<Record>,
    tree: MerkleTree,
    head: SignedTreeHead,
    earlier: SignedTreeHead,
}

fn log() -> Log {
    let key = signing_key_from_seed(&[42; 32]);
    let kinds = [
        RecordKind::ROOM_EVENT,
        RecordKind::READING_BATCH,
        RecordKind::COMPARISON_RESULT,
        RecordKind::RAW_RECORD,
        RecordKind::ROUND_REPORT,
        RecordKind::CERTIFICATE,
    ];
    let records: Vec<Record> = (0..10u64)
        .map(|i| {
            let payload = json!({
                "seq": i,
                "value": 101.325 + i as f64 / 8.0,
                "unit": "kPa",
                "u": 0.05,
                "k": 2,
                "note": format!("读数 {i}"),
            });
            Record::new(
                kinds[i as usize % kinds.len()].clone(),
                format!("0190a4b2-7c1e-7d3f-9a10-{i:012}"),
                T0 + i * 1000,
                &payload,
            )
            .expect("valid record")
        })
        .collect();
    let tree = MerkleTree::from_leaf_hashes(records.iter().map(Record::leaf_hash));
    let head = TreeHead {
        size: 10,
        timestamp_ms: T0 + 20_000,
        root_hash: tree.root(),
    }
    .sign(&key);
    let earlier = TreeHead {
        size: 6,
        timestamp_ms: T0 + 10_000,
        root_hash: tree.root_at(6).expect("in range"),
    }
    .sign(&key);
    Log {
        key,
        records,
        tree,
        head,
        earlier,
    }
}

const SELECTED: [u64; 4] = [1, 4, 7, 9];

fn selection(log: &Log) -> Bundle {
    Bundle::from_tree(
        &log.tree,
        &log.key,
        &log.head,
        Scope::Selection,
        SELECTED.iter().map(|&i| (i, &log.records[i as usize])),
        &[log.earlier],
    )
    .expect("bundle builds")
}

fn full(log: &Log) -> Bundle {
    Bundle::from_tree(
        &log.tree,
        &log.key,
        &log.head,
        Scope::Full,
        log.records.iter().enumerate().map(|(i, r)| (i as u64, r)),
        &[],
    )
    .expect("bundle builds")
}

fn problems_at_index(report: &Report, index: u64) -> Vec<&Problem> {
    report
        .failures_for_index(index)
        .map(|f| &f.problem)
        .collect()
}

fn has(report: &Report, location: &Location, pred: impl Fn(&Problem) -> bool) -> bool {
    report
        .failures
        .iter()
        .any(|f| &f.location == location && pred(&f.problem))
}

/// Changes one character of a payload while keeping it valid JSON.
fn alter_payload(record: &mut BundleRecord) {
    let before = record.payload.clone();
    record.payload = record.payload.replacen("kPa", "kPb", 1);
    assert_ne!(record.payload, before);
}

#[test]
fn good_bundles_verify() {
    let log = log();
    for bundle in [selection(&log), full(&log)] {
        let report = verify_bundle(&bundle);
        assert!(report.ok, "{report}");
        assert!(report.failures.is_empty());
        assert_eq!(report.records_ok, bundle.records.len() as u64);
        assert_eq!(report.tree_size, 10);
        assert_eq!(
            report.timestamp.as_deref(),
            Some("2023-11-14T22:13:40.000Z")
        );
        let report = verify_bundle_with_key(&bundle, &log.key.verifying_key());
        assert!(report.ok, "{report}");

        // Survives a JSON round trip, including pretty-printing.
        let text = serde_json::to_string_pretty(&bundle).expect("serialise");
        let back: Bundle = serde_json::from_str(&text).expect("deserialise");
        assert_eq!(back, bundle);
        assert!(verify_bundle(&back).ok);
    }
}

#[test]
fn json_shape() {
    let log = log();
    let value = serde_json::to_value(selection(&log)).expect("serialise");
    assert_eq!(value["format"], "jiliang-ledger-export/1");
    assert_eq!(value["scope"], "selection");
    assert_eq!(value["public_key"].as_str().map(str::len), Some(64));
    assert_eq!(value["export_signature"].as_str().map(str::len), Some(128));
    let head = &value["tree_head"];
    assert_eq!(head["size"], 10);
    assert_eq!(head["root_hash"].as_str().map(str::len), Some(64));
    assert_eq!(head["signature"].as_str().map(str::len), Some(128));
    let record = &value["records"][0];
    for field in [
        "index",
        "kind",
        "id",
        "created_at_ms",
        "payload",
        "leaf_hash",
        "inclusion_proof",
    ] {
        assert!(!record[field].is_null(), "missing {field}");
    }
    // The payload is a string of canonical JSON.
    assert_eq!(
        record["payload"],
        r#"{"k":2,"note":"读数 1","seq":1,"u":0.05,"unit":"kPa","value":101.45}"#
    );
    assert_eq!(value["consistency"][0]["from"]["size"], 6);
    // Full exports leave the inclusion proofs out.
    let value = serde_json::to_value(full(&log)).expect("serialise");
    assert!(value["records"][3].get("inclusion_proof").is_none());
    assert!(value.get("consistency").is_none());
}

#[test]
fn altered_payload_names_the_record() {
    let log = log();
    let mut bundle = selection(&log);
    alter_payload(&mut bundle.records[1]); // index 4
    let report = verify_bundle(&bundle);
    assert!(!report.ok);
    let problems = problems_at_index(&report, 4);
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Problem::LeafHashMismatch { .. })),
        "{report}"
    );
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Problem::InclusionProof { .. })),
        "{report}"
    );
    // Nothing else is blamed.
    assert!(
        report
            .failures
            .iter()
            .all(|f| matches!(f.location, Location::Record { index: 4, .. })),
        "{report}"
    );
    assert_eq!(report.records_ok, 3);
    let text = report.to_string();
    assert!(text.contains("records[1] (index 4"), "{text}");
    assert!(text.contains("content altered"), "{text}");
}

#[test]
fn altered_payload_with_recomputed_hash_is_still_caught() {
    let log = log();
    let mut bundle = selection(&log);
    alter_payload(&mut bundle.records[2]); // index 7
    bundle.records[2].leaf_hash = bundle.records[2].computed_leaf_hash().to_hex();
    let report = verify_bundle(&bundle);
    assert!(
        problems_at_index(&report, 7)
            .iter()
            .any(|p| matches!(p, Problem::InclusionProof { .. })),
        "{report}"
    );
    assert!(has(&report, &Location::ExportSignature, |p| {
        *p == Problem::BadSignature
    }));
}

#[test]
fn altered_payload_in_full_export() {
    let log = log();
    let mut bundle = full(&log);
    alter_payload(&mut bundle.records[5]);
    let report = verify_bundle(&bundle);
    assert!(
        problems_at_index(&report, 5)
            .iter()
            .any(|p| matches!(p, Problem::LeafHashMismatch { .. })),
        "{report}"
    );
    assert!(has(&report, &Location::TreeHead, |p| matches!(
        p,
        Problem::RootMismatch { .. }
    )));
}

#[test]
fn deleted_record() {
    let log = log();
    // Selection: only the signed manifest can notice.
    let mut bundle = selection(&log);
    bundle.records.remove(2);
    let report = verify_bundle(&bundle);
    assert!(!report.ok);
    assert!(has(&report, &Location::ExportSignature, |p| {
        *p == Problem::BadSignature
    }));
    // Full export: the gap is named.
    let mut bundle = full(&log);
    bundle.records.remove(3);
    let report = verify_bundle(&bundle);
    assert!(
        has(&report, &Location::Bundle, |p| *p
            == Problem::MissingRecords { from: 3, to: 3 }),
        "{report}"
    );
    assert!(has(&report, &Location::ExportSignature, |p| {
        *p == Problem::BadSignature
    }));
    // Truncating the end of a full export is a gap too.
    let mut bundle = full(&log);
    bundle.records.truncate(8);
    let report = verify_bundle(&bundle);
    assert!(has(&report, &Location::Bundle, |p| *p
        == Problem::MissingRecords { from: 8, to: 9 }));
}

#[test]
fn reordered_records() {
    let log = log();
    let mut bundle = selection(&log);
    bundle.records.swap(1, 2); // indices 4 and 7
    let report = verify_bundle(&bundle);
    assert!(
        problems_at_index(&report, 4).contains(&&Problem::OutOfOrder {
            index: 4,
            previous: 7
        }),
        "{report}"
    );
    assert!(has(&report, &Location::ExportSignature, |p| {
        *p == Problem::BadSignature
    }));

    // Swapping contents but keeping the index fields: both fail inclusion.
    let mut bundle = selection(&log);
    let (a, b) = (bundle.records[1].clone(), bundle.records[2].clone());
    bundle.records[1] = BundleRecord {
        index: a.index,
        ..b
    };
    bundle.records[2] = BundleRecord {
        index: b.index,
        ..a
    };
    let report = verify_bundle(&bundle);
    for index in [4, 7] {
        assert!(
            problems_at_index(&report, index)
                .iter()
                .any(|p| matches!(p, Problem::InclusionProof { .. })),
            "{report}"
        );
    }
}

#[test]
fn swapped_public_key() {
    let log = log();
    let other = signing_key_from_seed(&[1; 32]);
    let mut bundle = selection(&log);
    bundle.public_key = jiliang_ledger::hex::encode(other.verifying_key().as_bytes());
    let report = verify_bundle(&bundle);
    assert!(has(&report, &Location::TreeHead, |p| *p
        == Problem::BadSignature));
    assert!(has(&report, &Location::ExportSignature, |p| {
        *p == Problem::BadSignature
    }));
    assert!(has(
        &report,
        &Location::Consistency {
            position: 0,
            from_size: 6
        },
        |p| *p == Problem::BadSignature
    ));

    // A forger who re-signs everything with their own key produces a bundle
    // that is internally consistent: only the pinned key exposes it.
    let forged_head = log.head.head().sign(&other);
    let forged_earlier = log.earlier.head().sign(&other);
    let forged = Bundle::from_tree(
        &log.tree,
        &other,
        &forged_head,
        Scope::Selection,
        SELECTED.iter().map(|&i| (i, &log.records[i as usize])),
        &[forged_earlier],
    )
    .expect("bundle builds");
    assert!(verify_bundle(&forged).ok);
    let report = verify_bundle_with_key(&forged, &log.key.verifying_key());
    assert!(has(&report, &Location::PublicKey, |p| matches!(
        p,
        Problem::UntrustedKey { .. }
    )));
    assert!(has(&report, &Location::TreeHead, |p| *p
        == Problem::BadSignature));
    assert_ne!(
        verify_bundle(&forged).key_fingerprint,
        verify_bundle(&selection(&log)).key_fingerprint
    );
}

#[test]
fn tampered_signatures() {
    let log = log();
    let mut bundle = selection(&log);
    let mut sig = bundle.tree_head.signature.into_bytes();
    sig[10] = if sig[10] == b'0' { b'1' } else { b'0' };
    bundle.tree_head.signature = String::from_utf8(sig).expect("ascii");
    let report = verify_bundle(&bundle);
    assert_eq!(report.failures.len(), 1, "{report}");
    assert_eq!(report.failures[0].location, Location::TreeHead);
    assert_eq!(report.failures[0].problem, Problem::BadSignature);

    // A head whose size was changed no longer matches its signature, and
    // the proofs no longer fit it.
    let mut bundle = selection(&log);
    bundle.tree_head.size = 11;
    let report = verify_bundle(&bundle);
    assert!(has(&report, &Location::TreeHead, |p| *p
        == Problem::BadSignature));

    let mut bundle = selection(&log);
    bundle.export_signature = "00".repeat(64);
    let report = verify_bundle(&bundle);
    assert_eq!(report.failures.len(), 1, "{report}");
    assert_eq!(report.failures[0].location, Location::ExportSignature);
}

#[test]
fn malformed_fields_are_reported_not_fatal() {
    let log = log();
    let mut bundle = selection(&log);
    bundle.format = "jiliang-ledger-export/9".into();
    bundle.records[0].inclusion_proof[1] = "XYZ".into();
    bundle.records[3].leaf_hash = "00".into();
    bundle.records[2].kind = "Bad Kind".into();
    bundle.records[1].index = 99;
    let report = verify_bundle(&bundle);
    assert!(has(&report, &Location::Bundle, |p| matches!(
        p,
        Problem::UnsupportedFormat { .. }
    )));
    assert!(
        problems_at_index(&report, 1).iter().any(|p| matches!(
            p,
            Problem::MalformedHex { field, .. } if field == "inclusion_proof[1]"
        )),
        "{report}"
    );
    assert!(problems_at_index(&report, 9).iter().any(|p| matches!(
        p,
        Problem::MalformedHex { field, .. } if field == "leaf_hash"
    )));
    assert!(
        problems_at_index(&report, 7)
            .iter()
            .any(|p| matches!(p, Problem::InvalidRecord { .. }))
    );
    assert!(
        problems_at_index(&report, 99).contains(&&Problem::IndexOutOfRange {
            index: 99,
            size: 10
        })
    );
    assert!(has(&report, &Location::ExportSignature, |p| matches!(
        p,
        Problem::Unverifiable { .. }
    )));

    // Non-canonical payload text (same JSON, extra space) is flagged, and its
    // hash no longer matches.
    let mut bundle = selection(&log);
    bundle.records[0].payload = bundle.records[0].payload.replacen(':', ": ", 1);
    let report = verify_bundle(&bundle);
    let problems = problems_at_index(&report, 1);
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Problem::PayloadNotCanonical { .. }))
    );
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Problem::LeafHashMismatch { .. }))
    );

    // Bad public key and bad consistency proof.
    let mut bundle = selection(&log);
    bundle.public_key = "zz".into();
    bundle.consistency[0].proof.pop();
    let report = verify_bundle(&bundle);
    assert!(has(&report, &Location::PublicKey, |p| matches!(
        p,
        Problem::MalformedHex { .. }
    )));
    assert!(has(
        &report,
        &Location::Consistency {
            position: 0,
            from_size: 6
        },
        |p| matches!(
            p,
            Problem::ConsistencyProof {
                error: ProofError::WrongProofLength { .. }
            }
        )
    ));
    assert_eq!(report.key_fingerprint, None);
}

#[test]
fn report_serialises() {
    let log = log();
    let mut bundle = selection(&log);
    alter_payload(&mut bundle.records[0]);
    let report = verify_bundle(&bundle);
    let value = serde_json::to_value(&report).expect("serialise");
    assert_eq!(value["ok"], false);
    assert_eq!(value["failures"][0]["location"]["at"], "record");
    assert_eq!(value["failures"][0]["location"]["index"], 1);
    assert_eq!(
        value["failures"][0]["problem"]["code"],
        "leaf_hash_mismatch"
    );
    let back: Report = serde_json::from_value(value).expect("deserialise");
    assert_eq!(back, report);
}

#[test]
fn builder_checks_its_inputs() {
    let log = log();
    let build = |scope, records: Vec<(u64, &Record)>, head: &SignedTreeHead| {
        Bundle::from_tree(&log.tree, &log.key, head, scope, records, &[])
    };
    assert_eq!(
        build(
            Scope::Selection,
            vec![(4, &log.records[4]), (2, &log.records[2])],
            &log.head
        ),
        Err(BundleError::RecordsOutOfOrder {
            index: 2,
            previous: 4
        })
    );
    assert_eq!(
        build(Scope::Selection, vec![(4, &log.records[5])], &log.head),
        Err(BundleError::RecordDoesNotMatchTree { index: 4 })
    );
    assert_eq!(
        build(Scope::Full, vec![(0, &log.records[0])], &log.head),
        Err(BundleError::IncompleteFullExport { size: 10, count: 1 })
    );
    let wrong_head = TreeHead {
        size: 10,
        timestamp_ms: T0,
        root_hash: log.tree.root_at(9).expect("in range"),
    }
    .sign(&log.key);
    assert_eq!(
        build(Scope::Selection, vec![], &wrong_head),
        Err(BundleError::HeadDoesNotMatchTree { size: 10 })
    );
    // A head of an earlier size is fine: proofs are made at that size.
    let bundle =
        build(Scope::Selection, vec![(2, &log.records[2])], &log.earlier).expect("bundle builds");
    assert!(verify_bundle(&bundle).ok);
    assert!(export_message(&log.head.head(), Scope::Full, []).starts_with(b"jiliang-export-v1\n"));
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9a-f]{0,130}",
        Just("00".repeat(32)),
        Just("ab".repeat(64)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Verification never panics on arbitrary field contents, and a random
    /// bundle is never accepted.
    #[test]
    fn arbitrary_bundles_never_panic(
        format in arb_text(),
        public_key in arb_text(),
        size in any::<u64>(),
        timestamp_ms in any::<u64>(),
        root_hash in arb_text(),
        signature in arb_text(),
        full_scope in any::<bool>(),
        records in prop::collection::vec(
            (any::<u64>(), arb_text(), arb_text(), any::<u64>(), arb_text(), arb_text(),
             prop::collection::vec(arb_text(), 0..4)),
            0..4,
        ),
        export_signature in arb_text(),
    ) {
        let bundle = Bundle {
            format,
            public_key,
            tree_head: jiliang_ledger::BundleTreeHead { size: size % 16, timestamp_ms, root_hash, signature },
            scope: if full_scope { Scope::Full } else { Scope::Selection },
            records: records
                .into_iter()
                .map(|(index, kind, id, created_at_ms, payload, leaf_hash, inclusion_proof)| BundleRecord {
                    index: index % 16, kind, id, created_at_ms, payload, leaf_hash, inclusion_proof,
                })
                .collect(),
            consistency: vec![],
            export_signature,
        };
        let report = verify_bundle(&bundle);
        prop_assert!(!report.ok);
        let _ = report.to_string();
    }

    /// Arbitrary JSON text never panics deserialisation.
    #[test]
    fn arbitrary_json_never_panics(text in any::<String>()) {
        if let Ok(bundle) = serde_json::from_str::<Bundle>(&text) {
            let _ = verify_bundle(&bundle);
        }
    }
}
