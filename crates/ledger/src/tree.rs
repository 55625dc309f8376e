//! The append-only Merkle tree (RFC 9162 §2.1), in memory, plus free
//! functions that work straight from a slice of leaf hashes.
//!
//! [`MerkleTree`] keeps one array per level: level 0 holds the leaf hashes,
//! level `k` the hash of every *complete* subtree of `2^k` leaves, in order.
//! That is what makes historical queries cheap: for any past size `m` the
//! tree `MTH(D[0:m])` decomposes (bit by bit of `m`) into at most 64 complete
//! subtrees that are already stored, so a root at any size costs O(log m)
//! hashes and a proof O(log² m) at worst. The last entry of each level whose
//! length is odd is the compact "frontier" (right edge) of the current tree.
//! Appending costs one leaf hash plus, amortised, one node hash; memory is
//! about two hashes (64 bytes) per leaf.
//!
//! The slice functions are for callers that already hold the leaf hashes
//! (the auditor CLI, the server rebuilding from its database); they hash in
//! O(n) with O(log n) extra memory and share the proof recursion with the
//! tree, so both agree by construction (and are property-tested to).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ProofError;
use crate::hash::{EMPTY_ROOT, Hash, leaf_hash, node_hash};
use crate::proof::{Subtrees, consistency_path, inclusion_path, split_point};

/// An append-only RFC 6962 Merkle tree held in memory.
///
/// Serialises as the list of its leaf hashes; deserialising rebuilds the
/// interior levels, so a stored tree can never carry inconsistent nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    /// `levels[k][j]` = hash of leaves `j·2^k .. (j+1)·2^k`. Always at least
    /// one level (the leaves), possibly empty.
    levels: Vec<Vec<Hash>>,
}

impl Default for MerkleTree {
    fn default() -> Self {
        Self::new()
    }
}

impl MerkleTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            levels: vec![Vec::new()],
        }
    }

    /// Builds a tree from leaf hashes in log order.
    pub fn from_leaf_hashes<I: IntoIterator<Item = Hash>>(leaves: I) -> Self {
        let mut tree = Self::new();
        tree.extend(leaves);
        tree
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.leaves().len() as u64
    }

    /// True when the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.leaves().is_empty()
    }

    /// All leaf hashes, in log order.
    pub fn leaves(&self) -> &[Hash] {
        self.levels.first().map_or(&[], Vec::as_slice)
    }

    /// The leaf hash at `index`, if present.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        let i = usize::try_from(index).ok()?;
        self.leaves().get(i).copied()
    }

    /// Appends raw leaf data (hashed as `SHA-256(0x00 || data)`); returns its
    /// index.
    pub fn push_data(&mut self, data: &[u8]) -> u64 {
        self.push(leaf_hash(data))
    }

    /// Appends an already computed leaf hash; returns its index.
    pub fn push(&mut self, leaf: Hash) -> u64 {
        let index = self.len();
        let mut level = 0;
        let mut carry = leaf;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else {
                break;
            };
            row.push(carry);
            let n = row.len();
            // An even count means the new entry completed a pair: its parent
            // subtree is now complete and goes one level up.
            if n % 2 != 0 {
                break;
            }
            carry = match (row.get(n - 2), row.get(n - 1)) {
                (Some(l), Some(r)) => node_hash(l, r),
                _ => break,
            };
            level += 1;
        }
        index
    }

    /// Root hash of the current tree, O(log n).
    pub fn root(&self) -> Hash {
        self.root_from_levels(self.len())
    }

    /// Root hash of the tree as it was at `size` leaves, O(log size).
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        self.check_size(size)?;
        Ok(self.root_from_levels(size))
    }

    /// Inclusion proof for the leaf at `index` in the tree of `size` leaves
    /// (RFC 9162 §2.1.3.1). `size` may be any past size.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        Ok(inclusion_path(self, index, size))
    }

    /// Consistency proof from the tree at `old_size` to the tree at
    /// `new_size` (RFC 9162 §2.1.4.1). Empty when `old_size` is 0 or equal to
    /// `new_size`.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(new_size)?;
        if old_size > new_size {
            return Err(ProofError::OldSizeGreater { old_size, new_size });
        }
        if old_size == 0 || old_size == new_size {
            return Ok(Vec::new());
        }
        Ok(consistency_path(self, old_size, new_size))
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        let available = self.len();
        if size > available {
            Err(ProofError::SizeBeyondTree { size, available })
        } else {
            Ok(())
        }
    }

    /// Complete subtree `j` at level `k`, if stored.
    fn node(&self, level: u32, j: u64) -> Option<Hash> {
        let row = self.levels.get(usize::try_from(level).ok()?)?;
        row.get(usize::try_from(j).ok()?).copied()
    }

    /// `MTH(D[0:size])` for `size ≤ len`: fold the complete subtrees given by
    /// the set bits of `size`, right to left.
    fn root_from_levels(&self, size: u64) -> Hash {
        if size == 0 {
            return EMPTY_ROOT;
        }
        let mut acc: Option<Hash> = None;
        for level in 0..64u32 {
            if (size >> level) & 1 == 0 {
                continue;
            }
            // The subtree for this bit is the last complete one of its level
            // within the first `size` leaves.
            let j = (size >> level) - 1;
            let start = j << level;
            let subtree = self
                .node(level, j)
                .unwrap_or_else(|| slice_range_hash(self.leaves(), start, start + (1 << level)));
            acc = Some(match acc {
                None => subtree,
                Some(right) => node_hash(&subtree, &right),
            });
        }
        acc.unwrap_or(EMPTY_ROOT)
    }
}

impl Subtrees for MerkleTree {
    fn range_hash(&self, start: u64, end: u64) -> Hash {
        let len = end - start;
        if len.is_power_of_two() && start.is_multiple_of(len) {
            let level = len.trailing_zeros();
            if let Some(h) = self.node(level, start >> level) {
                return h;
            }
        }
        if len >= 2 {
            // RFC 9162 §2.1.1: split at the largest power of two below len.
            // Ranges reached from proof recursion are always aligned, so
            // this only recurses O(log n) times down the right edge.
            let k = split_point(len);
            return node_hash(
                &self.range_hash(start, start + k),
                &self.range_hash(start + k, end),
            );
        }
        // Unreachable for in-range calls (a single leaf is always stored);
        // fall back to hashing from the leaves rather than panicking.
        slice_range_hash(self.leaves(), start, end)
    }
}

impl Extend<Hash> for MerkleTree {
    fn extend<I: IntoIterator<Item = Hash>>(&mut self, iter: I) {
        for leaf in iter {
            self.push(leaf);
        }
    }
}

impl FromIterator<Hash> for MerkleTree {
    fn from_iter<I: IntoIterator<Item = Hash>>(iter: I) -> Self {
        Self::from_leaf_hashes(iter)
    }
}

impl Serialize for MerkleTree {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.leaves().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MerkleTree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Hash>::deserialize(deserializer).map(Self::from_leaf_hashes)
    }
}

/// `MTH` of `leaves[start..end]`; out-of-range parts are treated as absent.
fn slice_range_hash(leaves: &[Hash], start: u64, end: u64) -> Hash {
    let lo = usize::try_from(start).unwrap_or(usize::MAX);
    let hi = usize::try_from(end).unwrap_or(usize::MAX);
    root_from_leaf_hashes(leaves.get(lo..hi.min(leaves.len())).unwrap_or(&[]))
}

/// Leaf hashes seen as a tree, for the proof recursion.
struct SliceTree<'a>(&'a [Hash]);

impl Subtrees for SliceTree<'_> {
    fn range_hash(&self, start: u64, end: u64) -> Hash {
        slice_range_hash(self.0, start, end)
    }
}

/// `MTH(D[0:n])` of a slice of leaf hashes: O(n) hashes, O(log n) memory.
///
/// Uses a stack of complete subtrees (at most one per level, strictly
/// decreasing in size) and folds it right to left at the end, which is the
/// same decomposition as the RFC's recursive definition.
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    let mut stack: Vec<(u32, Hash)> = Vec::with_capacity(64);
    for leaf in leaves {
        let (mut level, mut h) = (0u32, *leaf);
        while let Some(&(top_level, top)) = stack.last() {
            if top_level != level {
                break;
            }
            stack.pop();
            h = node_hash(&top, &h);
            level += 1;
        }
        stack.push((level, h));
    }
    let mut acc = match stack.pop() {
        Some((_, h)) => h,
        None => return EMPTY_ROOT,
    };
    while let Some((_, left)) = stack.pop() {
        acc = node_hash(&left, &acc);
    }
    acc
}

fn slice_size(leaves: &[Hash], size: u64) -> Result<(), ProofError> {
    let available = leaves.len() as u64;
    if size > available {
        Err(ProofError::SizeBeyondTree { size, available })
    } else {
        Ok(())
    }
}

/// Inclusion proof for `index` in the tree formed by the first `size` of
/// `leaves`. O(size) hashes.
pub fn inclusion_proof_from_leaf_hashes(
    leaves: &[Hash],
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    slice_size(leaves, size)?;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    Ok(inclusion_path(&SliceTree(leaves), index, size))
}

/// Consistency proof between the trees formed by the first `old_size` and
/// the first `new_size` of `leaves`. O(new_size) hashes.
pub fn consistency_proof_from_leaf_hashes(
    leaves: &[Hash],
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError> {
    slice_size(leaves, new_size)?;
    if old_size > new_size {
        return Err(ProofError::OldSizeGreater { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    Ok(consistency_path(&SliceTree(leaves), old_size, new_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC's recursive definition, straight from the text, as an oracle.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => EMPTY_ROOT,
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u32) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn roots_agree_with_recursive_definition() {
        let all = leaves(70);
        let tree = MerkleTree::from_leaf_hashes(all.iter().copied());
        for m in 0..=all.len() {
            let expected = mth(&all[..m]);
            assert_eq!(root_from_leaf_hashes(&all[..m]), expected, "slice m={m}");
            assert_eq!(tree.root_at(m as u64), Ok(expected), "tree m={m}");
        }
        assert_eq!(tree.root(), mth(&all));
    }

    #[test]
    fn size_checks() {
        let tree = MerkleTree::from_leaf_hashes(leaves(3));
        assert_eq!(
            tree.root_at(4),
            Err(ProofError::SizeBeyondTree {
                size: 4,
                available: 3
            })
        );
        assert_eq!(
            tree.inclusion_proof(3, 3),
            Err(ProofError::IndexOutOfRange { index: 3, size: 3 })
        );
        assert_eq!(
            tree.consistency_proof(3, 2),
            Err(ProofError::OldSizeGreater {
                old_size: 3,
                new_size: 2
            })
        );
        assert_eq!(
            inclusion_proof_from_leaf_hashes(&leaves(3), 0, u64::MAX),
            Err(ProofError::SizeBeyondTree {
                size: u64::MAX,
                available: 3
            })
        );
        assert_eq!(tree.leaf_hash(u64::MAX), None);
    }

    #[test]
    fn serde_round_trip_rebuilds_levels() {
        let tree = MerkleTree::from_leaf_hashes(leaves(13));
        let json = serde_json::to_string(&tree).expect("serialise");
        let back: MerkleTree = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, tree);
        assert_eq!(back.root(), tree.root());
    }
}
