// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title MarginStateVerifier
/// @notice Recomputes rtm2m's commitments on-chain: the leaf of an account's margin state, its inclusion in a
/// margin-state Merkle root (OpenZeppelin StandardMerkleTree convention: double-hashed leaves, sorted pairs),
/// and an account's liability in a Merkle sum tree (proof of solvency). The encodings are documented in
/// docs/proofs.md and mirrored by crates/rtm2m-proof (merkle.rs, sum_tree.rs).
contract MarginStateVerifier {
    /// @notice Leaf of an account's margin state: keccak256(keccak256(abi.encode(...))). Amounts are USD with
    /// 18 decimals; status 0 healthy, 1 margin call, 2 liquidatable, 3 bankrupt, 4 unpriced.
    function marginLeaf(
        bytes32 account,
        int256 equity,
        int256 initialMargin,
        int256 maintenanceMargin,
        uint8 status
    ) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(account, equity, initialMargin, maintenanceMargin, status))));
    }

    /// @notice The root a leaf and its proof (sibling hashes, leaf to root) hash up to, pairs hashed sorted.
    function processProof(bytes32 leaf, bytes32[] calldata proof) public pure returns (bytes32 node) {
        node = leaf;
        for (uint256 i = 0; i < proof.length; i++) {
            bytes32 sibling = proof[i];
            node = node < sibling ? keccak256(abi.encode(node, sibling)) : keccak256(abi.encode(sibling, node));
        }
    }

    /// @notice Whether an account's margin state is committed to by `root`.
    function verifyMarginState(
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 account,
        int256 equity,
        int256 initialMargin,
        int256 maintenanceMargin,
        uint8 status
    ) external pure returns (bool) {
        return processProof(marginLeaf(account, equity, initialMargin, maintenanceMargin, status), proof) == root;
    }

    /// @notice A step of a liability proof: the sibling's hash and sum, and whether the sibling is on the left.
    struct SumStep {
        bytes32 hash;
        uint128 sum;
        bool left;
    }

    /// @notice Whether `liability` of `account` is counted in the sum tree of root (rootHash, rootSum).
    /// Leaf hash keccak256(0x00 || account || uint256 liability); node hash keccak256(0x01 || left hash ||
    /// uint256 left sum || right hash || uint256 right sum), node sum = left sum + right sum (checked).
    function verifyLiability(
        bytes32 rootHash,
        uint256 rootSum,
        bytes32 account,
        uint128 liability,
        SumStep[] calldata proof
    ) external pure returns (bool) {
        bytes32 node = keccak256(abi.encodePacked(bytes1(0x00), account, uint256(liability)));
        uint256 sum = liability;
        for (uint256 i = 0; i < proof.length; i++) {
            SumStep calldata s = proof[i];
            if (s.left) {
                node = keccak256(abi.encodePacked(bytes1(0x01), s.hash, uint256(s.sum), node, sum));
            } else {
                node = keccak256(abi.encodePacked(bytes1(0x01), node, sum, s.hash, uint256(s.sum)));
            }
            sum += s.sum;
            if (sum > type(uint128).max) return false;
        }
        return node == rootHash && sum == rootSum;
    }
}
