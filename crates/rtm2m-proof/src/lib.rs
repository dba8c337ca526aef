//! Proofs of rtm2m's margin verdicts, for the hybrid design in which the margin engine runs off-chain and
//! only its verdicts are committed on-chain (docs/proofs.md).
//!
//! This crate owns the encodings and their cryptography: the Merkle commitment to a margin cycle's
//! accounts (`merkle`), the Merkle sum tree of liabilities for proof of solvency (`sum_tree`), EIP-712
//! typed-data hashing (`eip712`) and keepers' secp256k1 attestations (`attest`). It must never compute
//! margin (it commits to what `rtm2m-margin` and the engine decided), read a clock, or do I/O: callers pass
//! in text, keys and timestamps. The Solidity side lives in `contracts/`, tested against this crate in an
//! EVM (`tests/evm.rs`).
//!
//! - [`fixed`]: USD amounts as integers of 10^-18 USD, and the rounding rule.
//! - [`hash`]: keccak256, ABI words, hex.
//! - [`state`]: accounts' margin states and the state file.
//! - [`merkle`]: the margin-state Merkle tree and inclusion proofs (OpenZeppelin StandardMerkleTree).
//! - [`sum_tree`]: the liabilities' Merkle sum tree and its proofs.
//! - [`eip712`]: typed structured data hashing (EIP-712), generic and for [`eip712::MarginAttestation`].
//! - [`attest`]: keepers' keys, signatures (RFC 6979, v = 27/28) and `ecrecover`.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod attest;
pub mod eip712;
pub mod error;
pub mod fixed;
pub mod hash;
pub mod merkle;
mod serde_hex;
pub mod state;
pub mod sum_tree;

pub use error::ProofError;
pub use fixed::Fixed18;
pub use hash::{keccak256, Hash32};
pub use merkle::{InclusionProof, MarginCommitment, MerkleTree};
pub use state::{AccountState, AccountStatus, MarginState};
