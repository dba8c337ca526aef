//! Proof of solvency: a Merkle sum tree over what the venue owes each account (Maxwell's design, 2013, as
//! Binance's proof of reserves publishes it), hardened as Hu, Zhang and Guo propose ("Maxwell's Proof of
//! Solvency Revisited", ACISP 2019): each node's hash commits to both children's hashes *and* sums, so a
//! prover cannot shift liability between siblings while keeping the root.
//!
//! - **Leaf**: sum = liability (units of 10^-18 USD, ≥ 0 by type), hash = keccak256(0x00 ‖ account ‖
//!   uint256 sum), `account` = keccak256(id).
//! - **Node**: sum = left sum + right sum (checked: the total must fit a `u128`), hash = keccak256(0x01 ‖ left
//!   hash ‖ uint256 left sum ‖ right hash ‖ uint256 right sum). The prefix bytes keep a leaf from passing
//!   for a node.
//! - **Layout**: leaves sorted by account hash, the same array layout as [`crate::merkle`]; children are
//!   ordered here (left = 2k + 1, right = 2k + 2), so a proof step says which side its sibling is on.
//!
//! A user checks that the path from their leaf reaches the published root hash and total, with every
//! sibling sum an unsigned integer: the total then counts their liability and no negative balance offsets it.

use crate::hash::{keccak256_concat, uint_word, Hash32};
use crate::state::MarginState;
use crate::ProofError;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

/// A node of the sum tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SumNode {
    /// The node's hash.
    #[serde(serialize_with = "crate::serde_hex::hash")]
    pub hash: Hash32,
    /// Liabilities under the node, units of 10^-18 USD.
    #[serde(serialize_with = "serialize_units")]
    pub sum_units: u128,
}

fn serialize_units<S: serde::Serializer>(units: &u128, s: S) -> Result<S::Ok, S::Error> {
    // A decimal string: JSON numbers lose integers past 2^53 in most readers.
    s.serialize_str(&units.to_string())
}

impl SumNode {
    /// A leaf for `account` (keccak256 of its id) owed `liability_units`.
    pub fn leaf(account: &Hash32, liability_units: u128) -> SumNode {
        SumNode {
            hash: keccak256_concat(&[&[0x00], account, &uint_word(liability_units)]),
            sum_units: liability_units,
        }
    }

    /// The parent of `left` and `right`; `None` if the sum overflows a `u128`.
    pub fn parent(left: &SumNode, right: &SumNode) -> Option<SumNode> {
        let sum_units = left.sum_units.checked_add(right.sum_units)?;
        let hash = keccak256_concat(&[
            &[0x01],
            &left.hash,
            &uint_word(left.sum_units),
            &right.hash,
            &uint_word(right.sum_units),
        ]);
        Some(SumNode { hash, sum_units })
    }
}

/// Which side of the path a proof's sibling is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The sibling is the left child.
    Left,
    /// The sibling is the right child.
    Right,
}

/// One step of a liability proof: the sibling and its side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SumStep {
    /// The sibling.
    #[serde(flatten)]
    pub sibling: SumNode,
    /// Its side.
    pub side: Side,
}

/// An account's proof that its liability is counted in the total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiabilityProof {
    /// keccak256 of the account id.
    #[serde(serialize_with = "crate::serde_hex::hash")]
    pub account: Hash32,
    /// The liability, units of 10^-18 USD.
    #[serde(serialize_with = "serialize_units")]
    pub liability_units: u128,
    /// Siblings from leaf to root.
    pub path: Vec<SumStep>,
}

impl LiabilityProof {
    /// The root this proof reaches, or `None` if a sum on the way overflows.
    pub fn process(&self) -> Option<SumNode> {
        self.path.iter().try_fold(
            SumNode::leaf(&self.account, self.liability_units),
            |node, step| match step.side {
                Side::Left => SumNode::parent(&step.sibling, &node),
                Side::Right => SumNode::parent(&node, &step.sibling),
            },
        )
    }

    /// Whether the proof reaches `root` (hash and total).
    pub fn verify(&self, root: &SumNode) -> bool {
        self.process() == Some(*root)
    }
}

/// The liabilities' Merkle sum tree of one margin cycle.
#[derive(Debug, Clone)]
pub struct LiabilityTree {
    nodes: Vec<SumNode>,
    /// id → tree index of its leaf.
    index: HashMap<String, usize>,
}

impl LiabilityTree {
    /// The tree over `(account hash, liability)` leaves in the order given; refuses none and an overflowing
    /// total.
    pub fn from_ordered_leaves(leaves: &[SumNode]) -> Result<Vec<SumNode>, ProofError> {
        if leaves.is_empty() {
            return Err(ProofError::EmptyState);
        }
        let len = 2 * leaves.len() - 1;
        let mut nodes = vec![
            SumNode {
                hash: [0; 32],
                sum_units: 0
            };
            len
        ];
        for (i, leaf) in leaves.iter().enumerate() {
            nodes[len - 1 - i] = *leaf;
        }
        for k in (0..len - leaves.len()).rev() {
            nodes[k] = SumNode::parent(&nodes[2 * k + 1], &nodes[2 * k + 2])
                .ok_or(ProofError::SumOverflow { max: u128::MAX })?;
        }
        Ok(nodes)
    }

    /// The sum tree of `state`: each account owed its positive equity
    /// ([`crate::AccountState::liability_units`]).
    pub fn new(state: &MarginState) -> Result<LiabilityTree, ProofError> {
        let mut leaves: Vec<(Hash32, &str, u128)> = state
            .accounts
            .par_iter()
            .map(|a| (a.account_hash(), a.id.as_str(), a.liability_units()))
            .collect();
        leaves.sort_by_key(|leaf| leaf.0);
        let nodes = LiabilityTree::from_ordered_leaves(
            &leaves
                .par_iter()
                .map(|(account, _, units)| SumNode::leaf(account, *units))
                .collect::<Vec<_>>(),
        )?;
        let len = nodes.len();
        let index = leaves
            .iter()
            .enumerate()
            .map(|(i, (_, id, _))| (id.to_string(), len - 1 - i))
            .collect();
        Ok(LiabilityTree { nodes, index })
    }

    /// The root: its hash and the total liabilities.
    pub fn root(&self) -> SumNode {
        self.nodes[0]
    }

    /// The proof that account `id`'s liability is counted.
    pub fn proof(&self, id: &str, account: &Hash32) -> Result<LiabilityProof, ProofError> {
        let &leaf_index = self
            .index
            .get(id)
            .ok_or_else(|| ProofError::UnknownAccount(id.to_string()))?;
        let mut path = Vec::new();
        let mut k = leaf_index;
        while k > 0 {
            let (sibling, side) = if k % 2 == 1 {
                (k + 1, Side::Right)
            } else {
                (k - 1, Side::Left)
            };
            path.push(SumStep {
                sibling: self.nodes[sibling],
                side,
            });
            k = (k - 1) / 2;
        }
        Ok(LiabilityProof {
            account: *account,
            liability_units: self.nodes[leaf_index].sum_units,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::keccak256;

    fn word(units: u128) -> Vec<u8> {
        uint_word(units).to_vec()
    }

    #[test]
    fn three_leaf_sum_tree_matches_hand_computation() {
        // Leaves a (5), b (7), c (11) in that order: array [root, n1, c, b, a], n1 = (b, a) as (left, right),
        // root = (n1, c). Hashes computed here from the byte layout in the module doc.
        let (a, b, c) = (keccak256(b"a"), keccak256(b"b"), keccak256(b"c"));
        let leaf = |acct: &Hash32, units: u128| {
            let mut bytes = vec![0x00];
            bytes.extend_from_slice(acct);
            bytes.extend(word(units));
            keccak256(&bytes)
        };
        let node = |lh: &Hash32, ls: u128, rh: &Hash32, rs: u128| {
            let mut bytes = vec![0x01];
            bytes.extend_from_slice(lh);
            bytes.extend(word(ls));
            bytes.extend_from_slice(rh);
            bytes.extend(word(rs));
            keccak256(&bytes)
        };
        let (la, lb, lc) = (leaf(&a, 5), leaf(&b, 7), leaf(&c, 11));
        let n1 = node(&lb, 7, &la, 5);
        let root = node(&n1, 12, &lc, 11);
        let nodes = LiabilityTree::from_ordered_leaves(&[
            SumNode::leaf(&a, 5),
            SumNode::leaf(&b, 7),
            SumNode::leaf(&c, 11),
        ])
        .unwrap();
        assert_eq!(
            nodes[0],
            SumNode {
                hash: root,
                sum_units: 23
            }
        );
        assert_eq!(
            nodes[1],
            SumNode {
                hash: n1,
                sum_units: 12
            }
        );
        assert_eq!(nodes[4].hash, la);
        // a's proof: its sibling b on the left, then c on the right.
        let proof = LiabilityProof {
            account: a,
            liability_units: 5,
            path: vec![
                SumStep {
                    sibling: SumNode {
                        hash: lb,
                        sum_units: 7,
                    },
                    side: Side::Left,
                },
                SumStep {
                    sibling: SumNode {
                        hash: lc,
                        sum_units: 11,
                    },
                    side: Side::Right,
                },
            ],
        };
        assert!(proof.verify(&nodes[0]));
        // Understating a sibling's sum, or swapping sides, breaks the root.
        let mut understated = proof.clone();
        understated.path[0].sibling.sum_units = 6;
        assert!(!understated.verify(&nodes[0]));
        let mut swapped = proof;
        swapped.path[0].side = Side::Right;
        assert!(!swapped.verify(&nodes[0]));
    }

    #[test]
    fn overflowing_total_is_an_error_not_a_wrap() {
        let leaves = [
            SumNode::leaf(&[1; 32], u128::MAX),
            SumNode::leaf(&[2; 32], 1),
        ];
        assert_eq!(
            LiabilityTree::from_ordered_leaves(&leaves),
            Err(ProofError::SumOverflow { max: u128::MAX })
        );
    }
}
