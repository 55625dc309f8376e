//! Exhaustive and property tests of the tree and proofs.

use jiliang_ledger::{
    EMPTY_ROOT, Hash, MerkleTree, consistency_proof_from_leaf_hashes, consistency_proof_len,
    inclusion_proof_from_leaf_hashes, inclusion_proof_len, leaf_hash, root_from_leaf_hashes,
    verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

/// Distinct leaves (so no two indices share a leaf hash).
fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

const MAX_EXHAUSTIVE: u64 = 200;

#[test]
fn every_inclusion_proof_verifies_up_to_200() {
    let all = leaves(MAX_EXHAUSTIVE);
    let tree = MerkleTree::from_leaf_hashes(all.iter().copied());
    for n in 1..=MAX_EXHAUSTIVE {
        let root = tree.root_at(n).expect("size in range");
        assert_eq!(root, root_from_leaf_hashes(&all[..n as usize]));
        for i in 0..n {
            let proof = tree.inclusion_proof(i, n).expect("in range");
            assert_eq!(
                proof.len() as u64,
                inclusion_proof_len(i, n).expect("in range")
            );
            assert_eq!(
                verify_inclusion(&all[i as usize], i, n, &proof, &root),
                Ok(()),
                "i={i} n={n}"
            );
            assert_eq!(
                inclusion_proof_from_leaf_hashes(&all, i, n).as_ref(),
                Ok(&proof),
                "slice i={i} n={n}"
            );
        }
    }
}

#[test]
fn every_consistency_proof_verifies_up_to_200() {
    let all = leaves(MAX_EXHAUSTIVE);
    let tree = MerkleTree::from_leaf_hashes(all.iter().copied());
    let roots: Vec<Hash> = (0..=MAX_EXHAUSTIVE)
        .map(|n| tree.root_at(n).expect("in range"))
        .collect();
    assert_eq!(roots[0], EMPTY_ROOT);
    for n in 0..=MAX_EXHAUSTIVE {
        for m in 0..=n {
            let proof = tree.consistency_proof(m, n).expect("in range");
            assert_eq!(
                proof.len() as u64,
                consistency_proof_len(m, n).expect("m <= n")
            );
            assert_eq!(
                verify_consistency(m, n, &roots[m as usize], &roots[n as usize], &proof),
                Ok(()),
                "m={m} n={n}"
            );
            assert_eq!(
                consistency_proof_from_leaf_hashes(&all, m, n).as_ref(),
                Ok(&proof),
                "slice m={m} n={n}"
            );
        }
    }
}

fn flip(hash: &mut Hash, bit: usize) {
    hash.0[(bit / 8) % 32] ^= 1 << (bit % 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Changing one bit of the proof, root, leaf or index breaks inclusion.
    #[test]
    fn inclusion_tamper_fails(
        n in 1u64..=300,
        i_seed in any::<u64>(),
        target in 0u8..4,
        element_seed in any::<usize>(),
        bit in 0usize..256,
        index_bit in 0u32..64,
    ) {
        let all = leaves(n);
        let tree = MerkleTree::from_leaf_hashes(all.iter().copied());
        let i = i_seed % n;
        let mut proof = tree.inclusion_proof(i, n).expect("in range");
        let mut root = tree.root();
        let mut leaf = all[i as usize];
        let mut index = i;
        match (target, proof.is_empty()) {
            (0, false) => {
                let k = element_seed % proof.len();
                flip(&mut proof[k], bit);
            }
            // A one-leaf tree's proof is empty: flip the root instead.
            (0, true) | (1, _) => flip(&mut root, bit),
            (2, _) => flip(&mut leaf, bit),
            _ => index ^= 1 << index_bit,
        }
        prop_assert!(verify_inclusion(&leaf, index, n, &proof, &root).is_err());
    }

    /// Changing one bit of the proof or of either root breaks consistency
    /// (except the new root when the old tree is empty: every tree extends
    /// the empty tree, so there is nothing to bind it to).
    #[test]
    fn consistency_tamper_fails(
        n in 1u64..=300,
        m_seed in any::<u64>(),
        target in 0u8..3,
        element_seed in any::<usize>(),
        bit in 0usize..256,
    ) {
        let all = leaves(n);
        let tree = MerkleTree::from_leaf_hashes(all.iter().copied());
        let m = m_seed % (n + 1);
        let mut proof = tree.consistency_proof(m, n).expect("in range");
        let mut old_root = tree.root_at(m).expect("in range");
        let mut new_root = tree.root();
        match target {
            0 if !proof.is_empty() => {
                let k = element_seed % proof.len();
                flip(&mut proof[k], bit);
            }
            2 if m > 0 => flip(&mut new_root, bit),
            _ => flip(&mut old_root, bit),
        }
        prop_assert!(verify_consistency(m, n, &old_root, &new_root, &proof).is_err());
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Proofs at random past sizes of a larger tree match the slice
    /// functions, which hash from scratch.
    #[test]
    fn tree_and_slice_agree(n in 1u64..=2000, a in any::<u64>(), b in any::<u64>()) {
        let all = leaves(n);
        let tree = MerkleTree::from_leaf_hashes(all.iter().copied());
        let size = 1 + a % n;
        let index = b % size;
        let old = b % (size + 1);
        prop_assert_eq!(tree.root_at(size), Ok(root_from_leaf_hashes(&all[..size as usize])));
        prop_assert_eq!(
            tree.inclusion_proof(index, size),
            inclusion_proof_from_leaf_hashes(&all, index, size)
        );
        prop_assert_eq!(
            tree.consistency_proof(old, size),
            consistency_proof_from_leaf_hashes(&all, old, size)
        );
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Verification never panics, whatever the coordinates and proof.
    #[test]
    fn verification_never_panics(
        index in any::<u64>(),
        size in any::<u64>(),
        old in any::<u64>(),
        proof in prop::collection::vec(any::<[u8; 32]>().prop_map(Hash), 0..80),
        a in any::<[u8; 32]>(),
        b in any::<[u8; 32]>(),
    ) {
        let (a, b) = (Hash(a), Hash(b));
        let _ = verify_inclusion(&a, index, size, &proof, &b);
        let _ = verify_consistency(old, size, &a, &b, &proof);
        let _ = verify_consistency(old % 1024, size % 4096, &a, &b, &proof);
        let _ = verify_inclusion(&a, index % 1024, size % 4096, &proof, &b);
        let _ = inclusion_proof_len(index, size);
        let _ = consistency_proof_len(old, size);
    }

    /// Tree generation rejects out-of-range requests without panicking.
    #[test]
    fn generation_never_panics(n in 0u64..64, x in any::<u64>(), y in any::<u64>()) {
        let all = leaves(n);
        let tree = MerkleTree::from_leaf_hashes(all.iter().copied());
        let _ = tree.root_at(x);
        let _ = tree.inclusion_proof(x, y);
        let _ = tree.consistency_proof(x, y);
        let _ = tree.inclusion_proof(x % 70, y % 70);
        let _ = tree.consistency_proof(x % 70, y % 70);
        let _ = inclusion_proof_from_leaf_hashes(&all, x % 70, y % 70);
        let _ = consistency_proof_from_leaf_hashes(&all, x % 70, y % 70);
        let _ = tree.leaf_hash(x);
    }

    /// Hex decoding of arbitrary text never panics and round-trips.
    #[test]
    fn hex_never_panics(text in any::<String>(), data in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = jiliang_ledger::hex::decode(&text);
        let _ = Hash::from_hex(&text);
        let encoded = jiliang_ledger::hex::encode(&data);
        prop_assert_eq!(jiliang_ledger::hex::decode(&encoded), Ok(data));
    }
}
