//! Published RFC 6962 Merkle test vectors.
//!
//! Source: transparency-dev/merkle, `testonly/constants.go` (leaf inputs,
//! node hashes, roots for sizes 0..=8) and `proof/verify_test.go` (inclusion
//! and consistency proofs, and the corruption probes), which carry over the
//! vectors of google/certificate-transparency-go
//! `merkletree/merkle_verifier_test.go` and the original C++ CT log tests.
//! In the inclusion table the leaf is numbered from 1, as in the source.

use jiliang_ledger::{
    EMPTY_ROOT, Hash, MerkleTree, ProofError, consistency_proof_from_leaf_hashes,
    inclusion_proof_from_leaf_hashes, leaf_hash, root_from_inclusion_proof, root_from_leaf_hashes,
    verify_consistency, verify_inclusion,
};

fn h(text: &str) -> Hash {
    Hash::from_hex(text).expect("test vector is valid hex")
}

fn bytes(text: &str) -> Vec<u8> {
    jiliang_ledger::hex::decode(text).expect("test vector is valid hex")
}

#[path = "vectors/rfc6962.rs"]
mod rfc6962;
use rfc6962::{CONSISTENCY, INCLUSION, LEAF_INPUTS, NODE_HASHES, ROOTS};

/// `sha256SomeHash` from verify_test.go.
const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

fn leaf_hashes() -> Vec<Hash> {
    LEAF_INPUTS.iter().map(|l| leaf_hash(&bytes(l))).collect()
}

fn tree() -> MerkleTree {
    let mut tree = MerkleTree::new();
    for input in LEAF_INPUTS {
        tree.push_data(&bytes(input));
    }
    tree
}

fn hashes(list: &[&str]) -> Vec<Hash> {
    list.iter().map(|s| h(s)).collect()
}

#[test]
fn empty_root() {
    assert_eq!(EMPTY_ROOT, h(ROOTS[0]));
    assert_eq!(MerkleTree::new().root(), EMPTY_ROOT);
    assert_eq!(root_from_leaf_hashes(&[]), EMPTY_ROOT);
}

#[test]
fn leaf_and_node_hashes() {
    let leaves = leaf_hashes();
    // Level k, node j is MTH(D[j·2^k .. (j+1)·2^k]).
    for (level, nodes) in NODE_HASHES.iter().enumerate() {
        let width = 1usize << level;
        for (j, node) in nodes.iter().enumerate() {
            assert_eq!(
                root_from_leaf_hashes(&leaves[j * width..(j + 1) * width]),
                h(node),
                "level {level} node {j}"
            );
        }
    }
}

#[test]
fn roots_for_every_size() {
    let leaves = leaf_hashes();
    let tree = tree();
    for (size, root) in ROOTS.iter().enumerate() {
        assert_eq!(
            root_from_leaf_hashes(&leaves[..size]),
            h(root),
            "slice {size}"
        );
        assert_eq!(tree.root_at(size as u64), Ok(h(root)), "tree {size}");
        let partial = MerkleTree::from_leaf_hashes(leaves[..size].iter().copied());
        assert_eq!(partial.root(), h(root), "incremental {size}");
    }
}

/// (description, index or old size, size, first hash, second hash, proof).
type Probe = (&'static str, u64, u64, Hash, Hash, Vec<Hash>);

/// Corruptions from `corruptInclusionProof` that can be expressed with
/// fixed-size hashes; every one must fail.
fn corrupt_inclusion(index: u64, size: u64, proof: &[Hash], root: Hash, leaf: Hash) {
    let some = h(SOME_HASH);
    let mut probes: Vec<Probe> = vec![
        (
            "index - 1",
            index.wrapping_sub(1),
            size,
            root,
            leaf,
            proof.to_vec(),
        ),
        ("index + 1", index + 1, size, root, leaf, proof.to_vec()),
        ("index ^ 2", index ^ 2, size, root, leaf, proof.to_vec()),
        ("size * 2", index, size * 2, root, leaf, proof.to_vec()),
        ("size / 2", index, size / 2, root, leaf, proof.to_vec()),
        (
            "wrong leaf",
            index,
            size,
            root,
            leaf_hash(b"WrongLeaf"),
            proof.to_vec(),
        ),
        ("empty root", index, size, EMPTY_ROOT, leaf, proof.to_vec()),
        ("random root", index, size, some, leaf, proof.to_vec()),
        (
            "trailing root",
            index,
            size,
            root,
            leaf,
            [proof, &[root]].concat(),
        ),
        (
            "trailing empty",
            index,
            size,
            root,
            leaf,
            [proof, &[EMPTY_ROOT]].concat(),
        ),
        (
            "preceding root",
            index,
            size,
            root,
            leaf,
            [&[root], proof].concat(),
        ),
        (
            "preceding empty",
            index,
            size,
            root,
            leaf,
            [&[EMPTY_ROOT], proof].concat(),
        ),
    ];
    for i in 0..proof.len() {
        let mut wrong = proof.to_vec();
        wrong[i].0[0] ^= 8;
        probes.push(("flipped bit", index, size, root, leaf, wrong));
    }
    if !proof.is_empty() {
        probes.push((
            "removed",
            index,
            size,
            root,
            leaf,
            proof[..proof.len() - 1].to_vec(),
        ));
    }
    if proof.len() > 1 {
        let inserted = [&[proof[0], some], &proof[1..]].concat();
        probes.push(("inserted", index, size, root, leaf, inserted));
    }
    for (desc, index, size, root, leaf, proof) in probes {
        assert!(
            verify_inclusion(&leaf, index, size, &proof, &root).is_err(),
            "corruption {desc:?} verified"
        );
    }
}

#[test]
fn inclusion_vectors() {
    let leaves = leaf_hashes();
    let tree = tree();
    for (leaf_number, size, proof) in INCLUSION {
        let index = leaf_number - 1;
        let proof = hashes(proof);
        let root = h(ROOTS[size as usize]);
        let leaf = leaves[index as usize];

        assert_eq!(tree.inclusion_proof(index, size).as_ref(), Ok(&proof));
        assert_eq!(
            inclusion_proof_from_leaf_hashes(&leaves, index, size).as_ref(),
            Ok(&proof)
        );
        assert_eq!(
            root_from_inclusion_proof(&leaf, index, size, &proof),
            Ok(root)
        );
        assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
        corrupt_inclusion(index, size, &proof, root, leaf);
    }
}

#[test]
fn inclusion_invalid_coordinates() {
    // From TestVerifyInclusion: (index, size) pairs that can never verify.
    let some = h(SOME_HASH);
    for (index, size) in [(0, 0), (0, 1), (1, 0), (2, 1)] {
        assert!(verify_inclusion(&some, index, size, &[], &EMPTY_ROOT).is_err());
    }
    assert_eq!(
        verify_inclusion(&some, 1, 0, &[], &EMPTY_ROOT),
        Err(ProofError::IndexOutOfRange { index: 1, size: 0 })
    );
    // TestVerifyInclusionSingleEntry: a one-leaf tree's root is its leaf.
    let leaf = leaf_hash(b"data");
    assert_eq!(verify_inclusion(&leaf, 0, 1, &[], &leaf), Ok(()));
    assert!(verify_inclusion(&leaf, 0, 1, &[], &EMPTY_ROOT).is_err());
}

fn corrupt_consistency(size1: u64, size2: u64, root1: Hash, root2: Hash, proof: &[Hash]) {
    let wrong_root = leaf_hash(b"WrongRoot");
    let mut probes: Vec<Probe> = vec![
        ("size1 - 1", size1 - 1, size2, root1, root2, proof.to_vec()),
        ("size1 + 1", size1 + 1, size2, root1, root2, proof.to_vec()),
        ("size1 ^ 2", size1 ^ 2, size2, root1, root2, proof.to_vec()),
        ("size2 * 2", size1, size2 * 2, root1, root2, proof.to_vec()),
        ("size2 / 2", size1, size2 / 2, root1, root2, proof.to_vec()),
        (
            "wrong root1",
            size1,
            size2,
            wrong_root,
            root2,
            proof.to_vec(),
        ),
        (
            "wrong root2",
            size1,
            size2,
            root1,
            wrong_root,
            proof.to_vec(),
        ),
        ("swapped roots", size1, size2, root2, root1, proof.to_vec()),
        ("empty proof", size1, size2, root1, root2, vec![]),
        (
            "trailing empty",
            size1,
            size2,
            root1,
            root2,
            [proof, &[EMPTY_ROOT]].concat(),
        ),
        (
            "trailing root1",
            size1,
            size2,
            root1,
            root2,
            [proof, &[root1]].concat(),
        ),
        (
            "trailing root2",
            size1,
            size2,
            root1,
            root2,
            [proof, &[root2]].concat(),
        ),
        (
            "preceding empty",
            size1,
            size2,
            root1,
            root2,
            [&[EMPTY_ROOT], proof].concat(),
        ),
        (
            "preceding root1",
            size1,
            size2,
            root1,
            root2,
            [&[root1], proof].concat(),
        ),
        (
            "preceding root2",
            size1,
            size2,
            root1,
            root2,
            [&[root2], proof].concat(),
        ),
        (
            "preceding proof[0]",
            size1,
            size2,
            root1,
            root2,
            [&proof[..1], proof].concat(),
        ),
        (
            "truncated",
            size1,
            size2,
            root1,
            root2,
            proof[..proof.len() - 1].to_vec(),
        ),
    ];
    for i in 0..proof.len() {
        let mut wrong = proof.to_vec();
        wrong[i].0[0] ^= 16;
        probes.push(("flipped bit", size1, size2, root1, root2, wrong));
    }
    for (desc, size1, size2, root1, root2, proof) in probes {
        assert!(
            verify_consistency(size1, size2, &root1, &root2, &proof).is_err(),
            "corruption {desc:?} verified"
        );
    }
}

#[test]
fn consistency_vectors() {
    let leaves = leaf_hashes();
    let tree = tree();
    for (size1, size2, proof) in CONSISTENCY {
        let proof = hashes(proof);
        let root1 = h(ROOTS[size1 as usize]);
        let root2 = h(ROOTS[size2 as usize]);
        assert_eq!(tree.consistency_proof(size1, size2).as_ref(), Ok(&proof));
        assert_eq!(
            consistency_proof_from_leaf_hashes(&leaves, size1, size2).as_ref(),
            Ok(&proof)
        );
        assert_eq!(
            verify_consistency(size1, size2, &root1, &root2, &proof),
            Ok(()),
            "{size1} -> {size2}"
        );
        if !proof.is_empty() {
            corrupt_consistency(size1, size2, root1, root2, &proof);
        }
    }
}

#[test]
fn consistency_trivial_cases() {
    // Adapted from TestVerifyConsistency. One deliberate difference: for an
    // old size of 0 this crate also requires the old root to be the empty
    // root (a signed head of size 0 with another root is malformed).
    let r1 = leaf_hash(b"don't care 1");
    let r2 = leaf_hash(b"don't care 2");
    let e = EMPTY_ROOT;
    let cases: [(u64, u64, Hash, Hash, Vec<Hash>, bool); 13] = [
        (0, 0, r1, r2, vec![], false),
        (1, 1, r1, r2, vec![], false),
        (0, 0, r1, r1, vec![], false), // old root must be the empty root
        (0, 0, e, e, vec![], true),
        (0, 1, e, r2, vec![], true),
        (1, 1, r2, r2, vec![], true),
        (1, 0, r1, r2, vec![], false),
        (2, 1, r1, r2, vec![], false),
        (1, 2, r1, r2, vec![], false),
        (0, 0, e, r2, vec![], false),
        (0, 0, e, e, vec![e], false),
        (0, 1, e, e, vec![e], false),
        (1, 1, e, e, vec![e], false),
    ];
    for (size1, size2, root1, root2, proof, ok) in cases {
        let got = verify_consistency(size1, size2, &root1, &root2, &proof);
        assert_eq!(got.is_ok(), ok, "{size1} -> {size2}: {got:?}");
    }
    assert_eq!(
        verify_consistency(2, 1, &r1, &r2, &[]),
        Err(ProofError::OldSizeGreater {
            old_size: 2,
            new_size: 1
        })
    );
}
