//! The margin-state commitment: a Merkle tree over accounts' leaves, OpenZeppelin's StandardMerkleTree
//! convention, so OpenZeppelin's `MerkleProof.verify` and `contracts/MarginStateVerifier.sol` check our proofs.
//!
//! - **Leaf** = keccak256(keccak256(abi.encode(values))): the double hash keeps a 64-byte internal node
//!   from passing for a leaf (second-preimage attack), as OpenZeppelin recommends.
//! - **Node** = keccak256 of its two children sorted as 256-bit big-endian numbers (commutative), so a proof
//!   is the list of siblings from leaf to root, with no left/right bits.
//! - **Layout**: leaves sorted by hash, then laid out as a complete binary tree in an array of 2n − 1
//!   nodes: leaf i at index 2n − 2 − i, node k's children at 2k + 1 and 2k + 2, root at 0
//!   (OpenZeppelin merkle-tree `src/core.ts`, `makeMerkleTree` and `getProof`).

use crate::hash::{keccak256, keccak256_concat, Hash32};
use crate::state::{AccountState, MarginState};
use crate::ProofError;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

/// OpenZeppelin's standard leaf of ABI-encoded values: keccak256(keccak256(encoded)).
pub fn standard_leaf(abi_encoded: &[u8]) -> Hash32 {
    keccak256(&keccak256(abi_encoded))
}

/// The parent of two nodes: keccak256 of the smaller then the larger.
pub fn hash_pair(a: &Hash32, b: &Hash32) -> Hash32 {
    if a <= b {
        keccak256_concat(&[a, b])
    } else {
        keccak256_concat(&[b, a])
    }
}

/// The root a leaf hashes up to with its proof (siblings, leaf to root).
pub fn process_proof(leaf: &Hash32, proof: &[Hash32]) -> Hash32 {
    proof
        .iter()
        .fold(*leaf, |node, sibling| hash_pair(&node, sibling))
}

/// Whether `leaf` with `proof` hashes up to `root`.
pub fn verify(root: &Hash32, leaf: &Hash32, proof: &[Hash32]) -> bool {
    process_proof(leaf, proof) == *root
}

/// A complete binary Merkle tree in OpenZeppelin's array layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    nodes: Vec<Hash32>,
}

impl MerkleTree {
    /// The tree over `leaves` in the order given (OpenZeppelin `makeMerkleTree`); none is an error.
    pub fn from_ordered_leaves(leaves: &[Hash32]) -> Result<MerkleTree, ProofError> {
        if leaves.is_empty() {
            return Err(ProofError::EmptyState);
        }
        let len = 2 * leaves.len() - 1;
        let mut nodes = vec![[0u8; 32]; len];
        for (i, leaf) in leaves.iter().enumerate() {
            nodes[len - 1 - i] = *leaf;
        }
        for k in (0..len - leaves.len()).rev() {
            nodes[k] = hash_pair(&nodes[2 * k + 1], &nodes[2 * k + 2]);
        }
        Ok(MerkleTree { nodes })
    }

    /// The tree over `leaves` sorted ascending (OpenZeppelin's default `sortLeaves`), and for each input
    /// leaf its index in the tree array.
    pub fn from_leaves_sorted(leaves: &[Hash32]) -> Result<(MerkleTree, Vec<usize>), ProofError> {
        let mut order: Vec<usize> = (0..leaves.len()).collect();
        order.sort_by(|&a, &b| leaves[a].cmp(&leaves[b]));
        let sorted: Vec<Hash32> = order.iter().map(|&i| leaves[i]).collect();
        let tree = MerkleTree::from_ordered_leaves(&sorted)?;
        let len = tree.nodes.len();
        let mut tree_index = vec![0; leaves.len()];
        for (position, &input) in order.iter().enumerate() {
            tree_index[input] = len - 1 - position;
        }
        Ok((tree, tree_index))
    }

    /// The root.
    pub fn root(&self) -> Hash32 {
        self.nodes[0]
    }

    /// Every node, root first (OpenZeppelin's `tree` array).
    pub fn nodes(&self) -> &[Hash32] {
        &self.nodes
    }

    /// Number of leaves.
    pub fn leaf_count(&self) -> usize {
        self.nodes.len().div_ceil(2)
    }

    /// The siblings from the leaf at `tree_index` up to the root; `None` if that index is not a leaf.
    pub fn proof(&self, tree_index: usize) -> Option<Vec<Hash32>> {
        if tree_index >= self.nodes.len() || 2 * tree_index + 1 < self.nodes.len() {
            return None;
        }
        let mut proof = Vec::new();
        let mut k = tree_index;
        while k > 0 {
            let sibling = if k % 2 == 1 { k + 1 } else { k - 1 };
            proof.push(self.nodes[sibling]);
            k = (k - 1) / 2;
        }
        Some(proof)
    }
}

/// An account's inclusion proof in a margin-state root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InclusionProof {
    /// The leaf, keccak256(keccak256(abi.encode(...))).
    #[serde(serialize_with = "crate::serde_hex::hash")]
    pub leaf: Hash32,
    /// The leaf's index in the tree array (OpenZeppelin's `treeIndex`).
    pub tree_index: usize,
    /// Siblings from leaf to root.
    #[serde(serialize_with = "crate::serde_hex::hashes")]
    pub siblings: Vec<Hash32>,
}

impl InclusionProof {
    /// Whether the proof takes its leaf to `root`.
    pub fn verify(&self, root: &Hash32) -> bool {
        verify(root, &self.leaf, &self.siblings)
    }
}

/// The Merkle commitment to one margin cycle's accounts.
#[derive(Debug, Clone)]
pub struct MarginCommitment {
    tree: MerkleTree,
    /// id → (account's position in the state, tree index).
    index: HashMap<String, (usize, usize)>,
}

impl MarginCommitment {
    /// Commits to every account of `state`.
    pub fn new(state: &MarginState) -> Result<MarginCommitment, ProofError> {
        let leaves: Vec<Hash32> = state.accounts.par_iter().map(AccountState::leaf).collect();
        let (tree, tree_index) = MerkleTree::from_leaves_sorted(&leaves)?;
        let index = state
            .accounts
            .iter()
            .zip(tree_index)
            .enumerate()
            .map(|(i, (a, t))| (a.id.clone(), (i, t)))
            .collect();
        Ok(MarginCommitment { tree, index })
    }

    /// The margin-state root.
    pub fn root(&self) -> Hash32 {
        self.tree.root()
    }

    /// The tree.
    pub fn tree(&self) -> &MerkleTree {
        &self.tree
    }

    /// Position in the state of account `id`.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).map(|&(i, _)| i)
    }

    /// The inclusion proof of account `id`.
    pub fn proof(&self, id: &str) -> Result<InclusionProof, ProofError> {
        let &(_, tree_index) = self
            .index
            .get(id)
            .ok_or_else(|| ProofError::UnknownAccount(id.to_string()))?;
        let siblings = self
            .tree
            .proof(tree_index)
            .expect("the index holds leaf indices only");
        Ok(InclusionProof {
            leaf: self.tree.nodes()[tree_index],
            tree_index,
            siblings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{parse_hex_array, to_hex};

    /// abi.encode(string) for one short string: offset 0x20, length, bytes right-padded to a word.
    fn abi_encode_string(s: &str) -> Vec<u8> {
        assert!(s.len() <= 32);
        let mut out = vec![0u8; 96];
        out[31] = 0x20;
        out[63] = s.len() as u8;
        out[64..64 + s.len()].copy_from_slice(s.as_bytes());
        out
    }

    fn h(text: &str) -> Hash32 {
        parse_hex_array(text).unwrap()
    }

    #[test]
    fn matches_openzeppelin_standard_tree_dump_of_strings_a_to_f() {
        // OpenZeppelin/merkle-tree, test/dumps/standard-v1.sorted.1_0_6.json: StandardMerkleTree.of
        // ([["a"],…,["f"]], ["string"]) as @openzeppelin/merkle-tree 1.0.6 dumped it.
        let expected_tree = [
            "0x6deb52b5da8fd108f79fab00341f38d2587896634c646ee52e49f845680a70c8",
            "0x52426e0f1f65ff7e209a13b8c29cffe82e3acaf3dad0a9b9088f3b9a61a929c3",
            "0xfd3cf45654e88d1cc5d663578c82c76f4b5e3826bacaa1216441443504538f51",
            "0x8076923e76cf01a7c048400a2304c9a9c23bbbdac3a98ea3946340fdafbba34f",
            "0x965b92c6cf08303cc4feb7f3e0819c436c2cec17c6f0688a6af139c9a368707c",
            "0xeba909cf4bb90c6922771d7f126ad0fd11dfde93f3937a196274e1ac20fd2f5b",
            "0xc62a8cfa41edc0ef6f6ae27a2985b7d39c7fea770787d7e104696c6e81f64848",
            "0x9cf5a63718145ba968a01c1d557020181c5b252f665cf7386d370eddb176517b",
            "0x9c15a6a0eaeed500fd9eed4cbeab71f797cefcc67bfd46683e4d2e6ff7f06d1c",
            "0x9a4f64e953595df82d1b4f570d34c4f4f0cfaf729a61e9d60e83e579e1aa283e",
            "0x19ba6c6333e0e9a15bf67523e0676e2f23eb8e574092552d5e888c64a4bb3681",
        ];
        let expected_index = [8, 10, 7, 5, 9, 6]; // "a" … "f"
        let leaves: Vec<Hash32> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|s| standard_leaf(&abi_encode_string(s)))
            .collect();
        let (tree, tree_index) = MerkleTree::from_leaves_sorted(&leaves).unwrap();
        let nodes: Vec<String> = tree.nodes().iter().map(|n| to_hex(n)).collect();
        assert_eq!(nodes, expected_tree);
        assert_eq!(tree_index, expected_index);
        for (leaf, &t) in leaves.iter().zip(&tree_index) {
            assert!(verify(&tree.root(), leaf, &tree.proof(t).unwrap()));
        }
    }

    #[test]
    fn three_leaf_tree_matches_hand_computation() {
        // Three leaves l0 < l1 < l2 laid out as [root, n1, l2, l1, l0] (leaf i at 2n - 2 - i): n1 =
        // H(sorted l1, l0), root = H(sorted n1, l2). Computed here with raw keccak256 over 64-byte
        // concatenations.
        let mut leaves = [keccak256(b"x"), keccak256(b"y"), keccak256(b"z")];
        leaves.sort();
        let [l0, l1, l2] = leaves;
        let cat = |a: &Hash32, b: &Hash32| {
            let mut v = a.to_vec();
            v.extend_from_slice(b);
            keccak256(&v)
        };
        let n1 = cat(&l0, &l1);
        let root = if l2 < n1 {
            cat(&l2, &n1)
        } else {
            cat(&n1, &l2)
        };
        let tree = MerkleTree::from_ordered_leaves(&leaves).unwrap();
        assert_eq!(tree.nodes(), &[root, n1, l2, l1, l0]);
        assert_eq!(tree.proof(2).unwrap(), vec![n1]);
        assert_eq!(tree.proof(3).unwrap(), vec![l0, l2]);
        assert_eq!(tree.proof(4).unwrap(), vec![l1, l2]);
        assert_eq!(tree.proof(1), None, "an internal node has no leaf proof");
        assert_eq!(tree.proof(5), None);
        assert_eq!(tree.leaf_count(), 3);
    }

    #[test]
    fn one_leaf_tree_is_its_leaf() {
        let leaf = h("0x1111111111111111111111111111111111111111111111111111111111111111");
        let tree = MerkleTree::from_ordered_leaves(&[leaf]).unwrap();
        assert_eq!(tree.root(), leaf);
        assert_eq!(tree.proof(0).unwrap(), Vec::<Hash32>::new());
        assert_eq!(
            MerkleTree::from_ordered_leaves(&[]),
            Err(ProofError::EmptyState)
        );
    }
}
