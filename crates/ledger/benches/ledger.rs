//! Ledger benchmarks: append throughput, and proof generation and
//! verification at 10⁶ leaves.
//!
//! Run with `cargo bench -p jiliang-ledger`. Sample sizes are small on
//! purpose (the machine is shared); the numbers are for orders of magnitude.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use jiliang_ledger::{
    Hash, MerkleTree, Record, RecordKind, leaf_hash, root_from_leaf_hashes, verify_consistency,
    verify_inclusion,
};

const MILLION: u64 = 1_000_000;
const APPEND_BATCH: u64 = 100_000;

/// A cheap deterministic sequence of indices spread over the tree.
fn spread(i: u64, n: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % n
}

fn big_tree() -> (MerkleTree, Vec<Hash>) {
    let leaves: Vec<Hash> = (0..MILLION).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let tree = MerkleTree::from_leaf_hashes(leaves.iter().copied());
    (tree, leaves)
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(APPEND_BATCH));
    // Typical leaf data: a framed record of about 200 bytes.
    let data: Vec<Vec<u8>> = (0..APPEND_BATCH)
        .map(|i| {
            Record::new(
                RecordKind::READING_BATCH,
                format!("0190a4b2-7c1e-7d3f-9a10-{i:012}"),
                1_700_000_000_000 + i,
                &[("value", 101.325), ("u", 0.05)],
            )
            .map(|r| r.leaf_data())
            .unwrap_or_default()
        })
        .collect();
    group.bench_function("leaf_data_100k", |b| {
        b.iter_batched(
            MerkleTree::new,
            |mut tree| {
                for d in &data {
                    tree.push_data(d);
                }
                tree
            },
            BatchSize::LargeInput,
        )
    });
    let payload = serde_json::json!({"value": 101.325, "unit": "kPa", "u": 0.05, "k": 2});
    group.bench_function("record_canonicalise_and_append_100k", |b| {
        b.iter_batched(
            MerkleTree::new,
            |mut tree| {
                for i in 0..APPEND_BATCH {
                    if let Ok(r) = Record::new(
                        RecordKind::READING_BATCH,
                        "r",
                        1_700_000_000_000 + i,
                        &payload,
                    ) {
                        tree.push(r.leaf_hash());
                    }
                }
                tree
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn proofs_at_a_million(c: &mut Criterion) {
    let (tree, leaves) = big_tree();
    let root = tree.root();
    let mut group = c.benchmark_group("million");

    group.bench_function("root_current", |b| b.iter(|| black_box(tree.root())));
    let mut k = 0u64;
    group.bench_function("root_at_past_size", |b| {
        b.iter(|| {
            k += 1;
            black_box(tree.root_at(1 + spread(k, MILLION)))
        })
    });

    let mut k = 0u64;
    group.bench_function("inclusion_proof_generate", |b| {
        b.iter(|| {
            k += 1;
            black_box(tree.inclusion_proof(spread(k, MILLION), MILLION))
        })
    });
    let inclusion: Vec<(u64, Vec<Hash>)> = (0..1024)
        .map(|k| {
            let i = spread(k, MILLION);
            (i, tree.inclusion_proof(i, MILLION).unwrap_or_default())
        })
        .collect();
    let mut k = 0usize;
    group.bench_function("inclusion_proof_verify", |b| {
        b.iter(|| {
            k = (k + 1) % inclusion.len();
            let (i, proof) = &inclusion[k];
            black_box(verify_inclusion(
                &leaves[*i as usize],
                *i,
                MILLION,
                proof,
                &root,
            ))
        })
    });

    let mut k = 0u64;
    group.bench_function("consistency_proof_generate", |b| {
        b.iter(|| {
            k += 1;
            black_box(tree.consistency_proof(1 + spread(k, MILLION - 1), MILLION))
        })
    });
    let consistency: Vec<(u64, Hash, Vec<Hash>)> = (0..1024)
        .map(|k| {
            let m = 1 + spread(k, MILLION - 1);
            (
                m,
                tree.root_at(m).unwrap_or_default(),
                tree.consistency_proof(m, MILLION).unwrap_or_default(),
            )
        })
        .collect();
    let mut k = 0usize;
    group.bench_function("consistency_proof_verify", |b| {
        b.iter(|| {
            k = (k + 1) % consistency.len();
            let (m, old_root, proof) = &consistency[k];
            black_box(verify_consistency(*m, MILLION, old_root, &root, proof))
        })
    });

    // What the server pays to rebuild from its database.
    group.throughput(Throughput::Elements(MILLION));
    group.bench_function("root_from_leaf_hashes", |b| {
        b.iter(|| black_box(root_from_leaf_hashes(&leaves)))
    });
    group.bench_function("tree_from_leaf_hashes", |b| {
        b.iter(|| black_box(MerkleTree::from_leaf_hashes(leaves.iter().copied())))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = append, proofs_at_a_million
}
criterion_main!(benches);
