//! Inclusion and consistency proofs: generation (RFC 9162 §2.1.3.1 `PATH`,
//! §2.1.4.1 `SUBPROOF`) and verification (§2.1.3.2, §2.1.4.2).
//!
//! Generation is written once, generically over a private `Subtrees` trait, so the
//! in-memory [`crate::MerkleTree`] (which looks complete subtrees up in its
//! level arrays) and the slice functions (which hash leaves on the fly) run the
//! very same recursion and therefore cannot disagree about proof shape.
//!
//! Verification follows the RFC's bit-twiddling algorithms literally, after an
//! explicit length check so that a short or padded proof is reported as
//! "wrong length" rather than as a confusing root mismatch. Nothing here
//! panics: every size is a `u64` from outside and all shifts are checked.

use serde::{Deserialize, Serialize};

use crate::error::ProofError;
use crate::hash::{EMPTY_ROOT, Hash, node_hash};

/// Something that can produce `MTH(D[start:end])` for `start < end ≤ len`.
pub(crate) trait Subtrees {
    /// The Merkle tree hash of leaves `start..end` (non-empty range).
    fn range_hash(&self, start: u64, end: u64) -> Hash;
}

/// Largest power of two strictly smaller than `n` (the RFC's `k`); `n ≥ 2`.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    // For n ≥ 2, n - 1 ≥ 1 so leading_zeros ≤ 63 and the shift is in range.
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `PATH(index, D[0:size])`, leaf-level sibling first. Caller guarantees
/// `index < size ≤` the number of leaves behind `tree`.
pub(crate) fn inclusion_path<S: Subtrees>(tree: &S, index: u64, size: u64) -> Vec<Hash> {
    // Walk down from the root, collecting the sibling of the subtree that
    // contains `index` at each level; the RFC lists them bottom-up, so the
    // collected list is reversed at the end.
    let mut path = Vec::with_capacity(64);
    let (mut start, mut end) = (0u64, size);
    while end - start > 1 {
        let k = split_point(end - start);
        if index < start + k {
            path.push(tree.range_hash(start + k, end));
            end = start + k;
        } else {
            path.push(tree.range_hash(start, start + k));
            start += k;
        }
    }
    path.reverse();
    path
}

/// `PROOF(old, D[0:new])` = `SUBPROOF(old, D[0:new], true)`. Caller
/// guarantees `0 < old < new ≤` the number of leaves behind `tree`.
pub(crate) fn consistency_path<S: Subtrees>(tree: &S, old: u64, new: u64) -> Vec<Hash> {
    let mut path = Vec::with_capacity(64);
    let (mut start, mut end) = (0u64, new);
    let mut m = old; // old size relative to `start`
    let mut whole_old_tree = true; // the RFC's `b`
    loop {
        let n = end - start;
        if m == n {
            // The old tree's last complete subtree is this whole range. When
            // it is the old tree itself (b == true) the verifier already
            // has its hash (the old root), so it is left out.
            if !whole_old_tree {
                path.push(tree.range_hash(start, end));
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            path.push(tree.range_hash(start + k, end));
            end = start + k;
        } else {
            path.push(tree.range_hash(start, start + k));
            start += k;
            m -= k;
            whole_old_tree = false;
        }
    }
    path.reverse();
    path
}

/// Bit length of `x` (0 for 0).
fn bit_length(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// Number of hashes in an inclusion proof for `index < size`.
///
/// The path has one hash per level where the index's subtree has a sibling:
/// `inner` levels below the point where the index's path and the tree's right
/// edge diverge, plus one per set bit above it (a left sibling on the border).
pub fn inclusion_proof_len(index: u64, size: u64) -> Result<u64, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let inner = bit_length(index ^ (size - 1));
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    Ok(u64::from(inner + border))
}

/// Number of hashes in a consistency proof from `old_size` to `new_size`.
pub fn consistency_proof_len(old_size: u64, new_size: u64) -> Result<u64, ProofError> {
    if old_size > new_size {
        return Err(ProofError::OldSizeGreater { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(0);
    }
    // The proof is an inclusion proof of the old tree's last leaf, with the
    // levels below the old tree's last complete subtree (`shift` of them)
    // replaced by that subtree's hash, which is omitted when the subtree is
    // the whole old tree (old size a power of two).
    let inner = bit_length((old_size - 1) ^ (new_size - 1));
    let border = (old_size - 1).checked_shr(inner).unwrap_or(0).count_ones();
    let shift = old_size.trailing_zeros();
    let seed = u32::from(!old_size.is_power_of_two());
    Ok(u64::from((inner + border + seed).saturating_sub(shift)))
}

fn check_len(expected: u64, proof: &[Hash]) -> Result<(), ProofError> {
    let actual = proof.len() as u64;
    if actual == expected {
        Ok(())
    } else {
        Err(ProofError::WrongProofLength { expected, actual })
    }
}

/// Rebuilds the root from a leaf hash and its inclusion proof
/// (RFC 9162 §2.1.3.2, steps 1–5 without the final root comparison).
pub fn root_from_inclusion_proof(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    check_len(inclusion_proof_len(index, size)?, proof)?;
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongProofLength {
                expected: inclusion_proof_len(index, size)?,
                actual: proof.len() as u64,
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            // We are a right child, or the last node on the right edge whose
            // missing right siblings are skipped (RFC 9162 §2.1.3.2 step 4b).
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongProofLength {
            expected: inclusion_proof_len(index, size)?,
            actual: proof.len() as u64,
        });
    }
    Ok(r)
}

/// Verifies that `leaf_hash` is the leaf at `index` of the tree of `size`
/// leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(leaf_hash, index, size, proof)?;
    if computed == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch {
            expected: *root,
            computed,
        })
    }
}

/// Verifies that the tree of `new_size` leaves with root `new_root` is an
/// append-only extension of the tree of `old_size` leaves with root
/// `old_root` (RFC 9162 §2.1.4.2).
///
/// Edge cases the RFC leaves to the caller: equal sizes need an empty proof
/// and equal roots; an old size of 0 needs an empty proof and the empty-tree
/// root as old root (every tree extends the empty tree, but a head claiming
/// size 0 with any other root is malformed).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    check_len(consistency_proof_len(old_size, new_size)?, proof)?;
    if old_size == 0 && *old_root != EMPTY_ROOT {
        return Err(ProofError::OldRootMismatch {
            expected: *old_root,
            computed: EMPTY_ROOT,
        });
    }
    if old_size == new_size {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::NewRootMismatch {
                expected: *new_root,
                computed: *old_root,
            })
        };
    }
    if old_size == 0 {
        return Ok(());
    }

    // Step 2: when the old size is a power of two the old tree is itself a
    // complete subtree and its root is the first node of the path.
    let seed_from_root = old_size.is_power_of_two();
    let (first, rest) = if seed_from_root {
        (*old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => {
                return Err(ProofError::WrongProofLength {
                    expected: consistency_proof_len(old_size, new_size)?,
                    actual: 0,
                });
            }
        }
    };

    // Steps 3–4.
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (first, first);
    // Step 6.
    for c in rest {
        if sn == 0 {
            return Err(ProofError::WrongProofLength {
                expected: consistency_proof_len(old_size, new_size)?,
                actual: proof.len() as u64,
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 7.
    if sn != 0 {
        return Err(ProofError::WrongProofLength {
            expected: consistency_proof_len(old_size, new_size)?,
            actual: proof.len() as u64,
        });
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch {
            expected: *old_root,
            computed: fr,
        });
    }
    if sr != *new_root {
        return Err(ProofError::NewRootMismatch {
            expected: *new_root,
            computed: sr,
        });
    }
    Ok(())
}

/// An inclusion proof with the coordinates it was made for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Zero-based leaf index.
    pub index: u64,
    /// Tree size the proof is relative to.
    pub size: u64,
    /// Sibling hashes, leaf level first (RFC 9162 `inclusion_path`).
    pub path: Vec<Hash>,
}

impl InclusionProof {
    /// Verifies the proof for `leaf_hash` against `root`.
    pub fn verify(&self, leaf_hash: &Hash, root: &Hash) -> Result<(), ProofError> {
        verify_inclusion(leaf_hash, self.index, self.size, &self.path, root)
    }
}

/// A consistency proof with the two sizes it was made for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// Older tree size.
    pub old_size: u64,
    /// Newer tree size.
    pub new_size: u64,
    /// RFC 9162 `consistency_path`.
    pub path: Vec<Hash>,
}

impl ConsistencyProof {
    /// Verifies the proof between the two roots.
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> Result<(), ProofError> {
        verify_consistency(self.old_size, self.new_size, old_root, new_root, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_points() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }

    #[test]
    fn lengths_at_extremes_do_not_panic() {
        assert_eq!(inclusion_proof_len(0, u64::MAX), Ok(64));
        assert!(inclusion_proof_len(u64::MAX - 1, u64::MAX).is_ok());
        assert!(consistency_proof_len(1, u64::MAX).is_ok());
        assert!(consistency_proof_len(u64::MAX - 1, u64::MAX).is_ok());
        assert!(consistency_proof_len(1 << 63, u64::MAX).is_ok());
        assert!(root_from_inclusion_proof(&EMPTY_ROOT, 0, u64::MAX, &[EMPTY_ROOT; 64]).is_ok());
    }
}
