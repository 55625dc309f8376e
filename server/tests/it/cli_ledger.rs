//! `jiliang ledger …` and `jiliang verify` as an auditor runs them: the
//! published RFC 6962 vectors through the binary, export bundles built with
//! the ledger crate that verify, and each kind of tampering reported against
//! the record it affects (exit 1); unreadable input exits 2.

use std::collections::BTreeSet;
use std::process::Output;

use crate::common::cli::{Temp, fixture, jiliang, json, keys, one_line, stderr, stdout};

use jiliang_ledger::{
    Bundle, MerkleTree, Record, RecordKind, Scope, SignedTreeHead, SigningKey, TreeHead,
    key_fingerprint_short, signing_key_from_seed,
};
use serde_json::{Value, json};

/// The RFC 6962 leaf inputs as the CLI reads them (a JSON list of hex
/// strings); checked against the vectors below so the copies cannot drift.
fn leaves_fixture() -> String {
    let path = fixture("rfc6962_leaves.json");
    let listed: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
    assert_eq!(
        listed,
        rfc6962::LEAF_INPUTS,
        "{path} differs from the vectors"
    );
    path
}

// RFC 6962 vectors: the ledger crate's copy, the one copy.
#[path = "../../../crates/ledger/tests/vectors/rfc6962.rs"]
mod rfc6962;
use rfc6962::{CONSISTENCY, INCLUSION, ROOTS};

#[test]
fn roots_for_every_size() {
    let f = leaves_fixture();
    for (size, root) in ROOTS.iter().enumerate() {
        let n = size.to_string();
        let r = json(&["ledger", "root", "--leaves", &f, "--size", &n]);
        assert_eq!(r, json!({"size": size, "root": root}), "size {size}");
    }
    // Default size: every leaf.
    let r = json(&["ledger", "root", "--leaves", &f]);
    assert_eq!(r["size"], 8);
    let o = jiliang(&["ledger", "root", "--leaves", &f]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), format!("size: 8\nroot: {}\n", ROOTS[8]));
}

#[test]
fn inclusion_proof_vectors() {
    let f = leaves_fixture();
    for (leaf, size, proof) in INCLUSION {
        let index = (leaf - 1).to_string();
        let size_s = size.to_string();
        let r = json(&[
            "ledger",
            "prove-inclusion",
            "--leaves",
            &f,
            "--index",
            &index,
            "--size",
            &size_s,
        ]);
        assert_eq!(r, json!({ "proof": proof }), "leaf {leaf} of {size}");
        let o = jiliang(&[
            "ledger",
            "prove-inclusion",
            "--leaves",
            &f,
            "--index",
            &index,
            "--size",
            &size_s,
        ]);
        let text = stdout(&o);
        assert!(text.contains(ROOTS[size as usize]), "{text}");
        for h in proof {
            assert!(text.contains(h), "{text}");
        }
    }
}

#[test]
fn consistency_proof_vectors() {
    let f = leaves_fixture();
    for (old, size, proof) in CONSISTENCY {
        let old_s = old.to_string();
        let size_s = size.to_string();
        let r = json(&[
            "ledger",
            "prove-consistency",
            "--leaves",
            &f,
            "--old-size",
            &old_s,
            "--size",
            &size_s,
        ]);
        assert_eq!(r, json!({ "proof": proof }), "{old} -> {size}");
        let o = jiliang(&[
            "ledger",
            "prove-consistency",
            "--leaves",
            &f,
            "--old-size",
            &old_s,
            "--size",
            &size_s,
        ]);
        let text = stdout(&o);
        assert!(text.contains(ROOTS[old as usize]), "{text}");
        assert!(text.contains(ROOTS[size as usize]), "{text}");
    }
}

#[test]
fn ledger_bad_input() {
    let f = leaves_fixture();
    let run = |content: &str, extra: &[&str]| {
        let t = Temp::new("leaves.json", content.as_bytes());
        let p = t.p();
        let mut args = vec!["ledger", "root", "--leaves", &p];
        args.extend_from_slice(extra);
        jiliang(&args)
    };
    one_line(&run("[\"00\", ", &[]), 2, &["leaves.json: not JSON"]);
    one_line(
        &run("{\"a\": 1}", &[]),
        2,
        &["expected a JSON array", "an object"],
    );
    one_line(&run("[\"00\", 7]", &[]), 2, &["leaf [1] is a number"]);
    one_line(
        &run("[\"00\", \"0g\"]", &[]),
        2,
        &["leaf [1]", "invalid hex"],
    );
    one_line(&run("[\"ABCD\"]", &[]), 2, &["leaf [0]", "invalid hex"]);
    one_line(&run("[\"abc\"]", &[]), 2, &["leaf [0]", "odd length"]);
    one_line(
        &run("[\"00\"]", &["--size", "2"]),
        2,
        &["--size 2", "1 leaves"],
    );
    one_line(&run("[\"00\"]", &["--size=-1"]), 2, &["--size"]);
    one_line(
        &jiliang(&["ledger", "prove-inclusion", "--leaves", &f, "--index", "8"]),
        2,
        &["--index 8", "tree size 8"],
    );
    one_line(
        &jiliang(&[
            "ledger",
            "prove-inclusion",
            "--leaves",
            &f,
            "--index",
            "3",
            "--size",
            "3",
        ]),
        2,
        &["--index 3"],
    );
    one_line(
        &jiliang(&[
            "ledger",
            "prove-consistency",
            "--leaves",
            &f,
            "--old-size",
            "5",
            "--size",
            "4",
        ]),
        2,
        &["--old-size 5", "tree size 4"],
    );
    one_line(
        &jiliang(&["ledger", "root", "--leaves", "/nonexistent/leaves.json"]),
        2,
        &["cannot read /nonexistent/leaves.json"],
    );
    // An empty array is the empty tree.
    let o = run("[]", &["--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v, json!({"size": 0, "root": ROOTS[0]}));
}

// ---------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------

const T0: u64 = 1_700_000_000_000;

struct Log {
    key: SigningKey,
    records: Vec<Record>,
    tree: MerkleTree,
    head: SignedTreeHead,
}

fn log() -> Log {
    let key = signing_key_from_seed(&[42; 32]);
    let records: Vec<Record> = (0..10u64)
        .map(|i| {
            let kind = if i % 2 == 0 {
                RecordKind::READING_BATCH
            } else {
                RecordKind::CERTIFICATE
            };
            Record::new(
                kind,
                format!("0190a4b2-7c1e-7d3f-9a10-{i:012}"),
                T0 + i * 1000,
                &json!({"seq": i, "value": 101.325 + i as f64 / 8.0, "unit": "kPa", "note": format!("读数 {i}")}),
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
    Log {
        key,
        records,
        tree,
        head,
    }
}

fn selection(log: &Log) -> Bundle {
    Bundle::from_tree(
        &log.tree,
        &log.key,
        &log.head,
        Scope::Selection,
        [1u64, 4, 7, 9].map(|i| (i, &log.records[i as usize])),
        &[],
    )
    .expect("bundle")
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
    .expect("bundle")
}

fn write(bundle: &Bundle) -> Temp {
    Temp::new(
        "export.json",
        serde_json::to_string_pretty(bundle)
            .expect("serialise")
            .as_bytes(),
    )
}

fn verify(bundle: &Bundle, extra: &[&str]) -> Output {
    let t = write(bundle);
    let p = t.p();
    let mut args = vec!["verify", p.as_str()];
    args.extend_from_slice(extra);
    jiliang(&args)
}

#[test]
fn good_bundles_verify() {
    let log = log();
    let fp = key_fingerprint_short(&log.key.verifying_key());
    let root = log.head.root_hash.to_hex();
    for (bundle, n) in [(selection(&log), 4), (full(&log), 10)] {
        let o = verify(&bundle, &[]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(o.stderr.is_empty());
        let text = stdout(&o);
        let first = text.lines().next().expect("a line");
        assert!(
            first.starts_with(&format!(
                "ok: {n} records, tree size 10, root {root}, key fingerprint {fp}"
            )),
            "{first}"
        );
        assert!(text.contains("--public-key"), "unpinned key is pointed out");
        // Pinned to the right key.
        let key_hex = jiliang_ledger::hex::encode(log.key.verifying_key().as_bytes());
        let o = verify(&bundle, &["--public-key", &key_hex]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(!stdout(&o).contains("note:"));
    }
    let r = {
        let t = write(&selection(&log));
        json(&["verify", &t.p()])
    };
    let expected: BTreeSet<String> = [
        "ok",
        "key_fingerprint",
        "key_fingerprint_full",
        "tree_size",
        "root_hash",
        "timestamp",
        "records_total",
        "records_ok",
        "failures",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(keys(&r), expected);
    assert_eq!(r["ok"], true);
    assert_eq!(r["records_ok"], 4);
}

/// Exit 1, the report on stdout and the stderr line both name `needles`.
#[track_caller]
fn fails(o: &Output, needles: &[&str]) {
    one_line(o, 1, &["verification failed"]);
    let out = stdout(o);
    assert!(out.starts_with("FAILED"), "{out}");
    let err = stderr(o);
    for n in needles {
        assert!(out.contains(n), "{n:?} missing from report {out}");
        assert!(err.contains(n), "{n:?} missing from stderr {err}");
    }
}

#[test]
fn one_payload_byte_changed() {
    let log = log();
    for mut bundle in [selection(&log), full(&log)] {
        let pos = bundle
            .records
            .iter()
            .position(|r| r.index == 4)
            .expect("index 4");
        let rec = &mut bundle.records[pos];
        assert!(rec.payload.contains("kPa"));
        rec.payload = rec.payload.replacen("kPa", "kPb", 1);
        fails(
            &verify(&bundle, &[]),
            &[
                &format!("records[{pos}] (index 4, id \"0190a4b2-7c1e-7d3f-9a10-000000000004\")"),
                "content altered",
            ],
        );
    }
}

#[test]
fn record_deleted() {
    let log = log();
    let mut bundle = full(&log);
    bundle.records.remove(3);
    fails(&verify(&bundle, &[]), &["index 3 missing"]);
    // A selection has no gaps to see: the signed manifest catches it.
    let mut bundle = selection(&log);
    bundle.records.remove(1);
    let o = verify(&bundle, &[]);
    one_line(&o, 1, &["export signature", "signature does not verify"]);
}

#[test]
fn two_records_reordered() {
    let log = log();
    let mut bundle = selection(&log);
    bundle.records.swap(1, 2);
    fails(
        &verify(&bundle, &[]),
        &[
            "records[2] (index 4, id \"0190a4b2-7c1e-7d3f-9a10-000000000004\")",
            "out of order",
        ],
    );
}

#[test]
fn signature_changed() {
    let log = log();
    let flip = |hex: &str| {
        let mut s = hex.to_owned();
        let c = if s.starts_with('0') { "1" } else { "0" };
        s.replace_range(0..1, c);
        s
    };
    let mut bundle = selection(&log);
    bundle.tree_head.signature = flip(&bundle.tree_head.signature);
    fails(
        &verify(&bundle, &[]),
        &["tree head: signature does not verify"],
    );
    let mut bundle = selection(&log);
    bundle.export_signature = flip(&bundle.export_signature);
    fails(
        &verify(&bundle, &[]),
        &["export signature: signature does not verify"],
    );
    // Someone else's key, when the auditor pins the real one.
    let other = signing_key_from_seed(&[7; 32]);
    let forged = Bundle::from_tree(
        &log.tree,
        &other,
        &TreeHead {
            size: 10,
            timestamp_ms: T0 + 20_000,
            root_hash: log.tree.root(),
        }
        .sign(&other),
        Scope::Selection,
        [(1u64, &log.records[1])],
        &[],
    )
    .expect("bundle");
    assert_eq!(
        verify(&forged, &[]).status.code(),
        Some(0),
        "self-consistent"
    );
    let key_hex = jiliang_ledger::hex::encode(log.key.verifying_key().as_bytes());
    fails(
        &verify(&forged, &["--public-key", &key_hex]),
        &["public key: bundle is signed by key"],
    );
    let o = verify(&forged, &["--public-key", &key_hex, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json report");
    assert_eq!(v["ok"], false);
    assert_eq!(v["failures"][0]["problem"]["code"], "untrusted_key");
}

#[test]
fn malformed_exports_exit_2() {
    let log = log();
    one_line(
        &jiliang(&["verify", "/nonexistent/export.json"]),
        2,
        &["cannot read /nonexistent/export.json"],
    );
    let t = Temp::new("export.json", b"not json");
    one_line(
        &jiliang(&["verify", &t.p()]),
        2,
        &["export.json: not a ledger export bundle"],
    );
    let t = Temp::new("export.json", b"{\"format\": \"jiliang-ledger-export/1\"}");
    one_line(&jiliang(&["verify", &t.p()]), 2, &["missing field"]);
    let t = Temp::new("export.json", b"[1, 2]");
    one_line(
        &jiliang(&["verify", &t.p()]),
        2,
        &["not a ledger export bundle"],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    one_line(
        &jiliang(&["verify", &dir.path().display().to_string()]),
        2,
        &["cannot read"],
    );
    one_line(&jiliang(&["verify"]), 2, &["EXPORT"]);
    let bundle = selection(&log);
    one_line(
        &verify(&bundle, &["--public-key", "xyz"]),
        2,
        &["--public-key"],
    );
    one_line(
        &verify(&bundle, &["--public-key", "00"]),
        2,
        &["--public-key", "expected 32 bytes"],
    );
    // Readable but with a damaged hash field: reported per record, exit 1.
    let mut bundle = selection(&log);
    bundle.records[0].leaf_hash = "zz".to_owned();
    fails(
        &verify(&bundle, &[]),
        &["records[0] (index 1", "malformed hex in leaf_hash"],
    );
}
