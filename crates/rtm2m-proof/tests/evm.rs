//! The Solidity side, executed in an EVM (revm): `contracts/LiquidationGate.sol` accepts a keeper's valid
//! attestation signed by this crate and gates a liquidation on it, and refuses a forged signature, an
//! unknown keeper, a stale or future timestamp, a replay and a malformed signature, each with its own custom
//! error; `contracts/MarginStateVerifier.sol` recomputes this crate's leaves and verifies its inclusion and
//! liability proofs.
//!
//! The contracts are loaded from the committed artifacts in `contracts/build/` (compiled by
//! `tools/solc/compile.js` with the pinned solcjs; `.ci/run` recompiles them and fails if they differ), so
//! these tests need no compiler and no network.

use revm::context::{Context, TxEnv};
use revm::context_interface::result::{ExecutionResult, Output};
use revm::database::{CacheDB, EmptyDB};
use revm::handler::{MainnetContext, MainnetEvm};
use revm::primitives::{Address, Bytes, Log, TxKind, U256};
use revm::{ExecuteCommitEvm, MainBuilder, MainContext};
use rtm2m_proof::attest::{recover_address, KeeperKey};
use rtm2m_proof::eip712::{Domain, MarginAttestation};
use rtm2m_proof::hash::{address_word, keccak256, parse_hex, uint_word, Hash32};
use rtm2m_proof::merkle::MarginCommitment;
use rtm2m_proof::sum_tree::{LiabilityTree, Side};
use rtm2m_proof::{AccountState, AccountStatus, Fixed18, MarginState};
use std::collections::HashMap;

const CHAIN_ID: u64 = 31_337;
const MAX_AGE_S: u64 = 300;
const T0_S: u64 = 1_700_000_000;

fn artifact_bytecode(contract: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../contracts/build/{contract}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: serde_json::Value = serde_json::from_str(&text).expect("artifact is JSON");
    parse_hex(json["bytecode"].as_str().expect("artifact has bytecode")).expect("bytecode is hex")
}

fn selector(signature: &str) -> [u8; 4] {
    let hash = keccak256(signature.as_bytes());
    [hash[0], hash[1], hash[2], hash[3]]
}

fn uint(value: u64) -> Hash32 {
    uint_word(u128::from(value))
}

/// A private chain: one EVM with an in-memory state, a clock and per-sender nonces.
struct Chain {
    evm: MainnetEvm<MainnetContext<CacheDB<EmptyDB>>>,
    nonces: HashMap<Address, u64>,
}

/// What a transaction did.
#[derive(Debug)]
enum Outcome {
    Success { output: Vec<u8>, logs: Vec<Log> },
    Revert(Vec<u8>),
}

impl Outcome {
    fn output(&self) -> &[u8] {
        match self {
            Outcome::Success { output, .. } => output,
            Outcome::Revert(data) => panic!("expected success, reverted with 0x{}", hex(data)),
        }
    }

    fn revert_selector(&self) -> [u8; 4] {
        match self {
            Outcome::Revert(data) if data.len() >= 4 => [data[0], data[1], data[2], data[3]],
            other => panic!("expected a custom-error revert, got {other:?}"),
        }
    }

    /// The `i`-th 32-byte argument of a custom error.
    fn revert_word(&self, i: usize) -> Hash32 {
        let Outcome::Revert(data) = self else {
            panic!("expected a revert, got {self:?}")
        };
        data[4 + 32 * i..4 + 32 * (i + 1)]
            .try_into()
            .expect("32 bytes")
    }
}

fn hex(bytes: &[u8]) -> String {
    rtm2m_proof::hash::to_hex(bytes)[2..].to_string()
}

impl Chain {
    fn new() -> Chain {
        let mut evm = Context::mainnet()
            .with_db(CacheDB::new(EmptyDB::default()))
            .build_mainnet();
        evm.ctx.modify_cfg(|cfg| cfg.chain_id = CHAIN_ID);
        let mut chain = Chain {
            evm,
            nonces: HashMap::new(),
        };
        chain.set_time(T0_S);
        chain
    }

    fn set_time(&mut self, timestamp_s: u64) {
        self.evm
            .ctx
            .modify_block(|block| block.timestamp = U256::from(timestamp_s));
    }

    fn send(&mut self, from: Address, kind: TxKind, data: Vec<u8>) -> (Outcome, Option<Address>) {
        let nonce = self.nonces.entry(from).or_insert(0);
        let tx = TxEnv {
            caller: from,
            kind,
            data: Bytes::from(data),
            nonce: *nonce,
            gas_limit: 10_000_000,
            chain_id: Some(CHAIN_ID),
            ..TxEnv::default()
        };
        let result = self.evm.transact_commit(tx).expect("transaction is valid");
        *nonce += 1;
        match result {
            ExecutionResult::Success { output, logs, .. } => match output {
                Output::Create(code, address) => (
                    Outcome::Success {
                        output: code.to_vec(),
                        logs,
                    },
                    address,
                ),
                Output::Call(data) => (
                    Outcome::Success {
                        output: data.to_vec(),
                        logs,
                    },
                    None,
                ),
            },
            ExecutionResult::Revert { output, .. } => (Outcome::Revert(output.to_vec()), None),
            ExecutionResult::Halt { reason, .. } => panic!("EVM halted: {reason:?}"),
        }
    }

    fn deploy(&mut self, from: Address, contract: &str, constructor_args: &[Hash32]) -> Address {
        let mut code = artifact_bytecode(contract);
        for word in constructor_args {
            code.extend_from_slice(word);
        }
        let (outcome, address) = self.send(from, TxKind::Create, code);
        outcome.output();
        address.expect("a create returns the new address")
    }

    fn call(&mut self, from: Address, to: Address, signature: &str, args: &[u8]) -> Outcome {
        let mut data = selector(signature).to_vec();
        data.extend_from_slice(args);
        self.send(from, TxKind::Call(to), data).0
    }
}

fn words(parts: &[Hash32]) -> Vec<u8> {
    parts.concat()
}

// --- LiquidationGate --------------------------------------------------------------------------------

const LIQUIDATE: &str =
    "liquidate((bytes32,int256,int256,bytes32,uint64,bool,uint64),address,bytes)";
const ATTESTATION_DIGEST: &str =
    "attestationDigest((bytes32,int256,int256,bytes32,uint64,bool,uint64))";

fn attestation_words(a: &MarginAttestation) -> Vec<u8> {
    words(&[
        a.account,
        a.equity_usd.to_word(),
        a.mm_usd.to_word(),
        a.oracle_price_set_hash,
        uint(a.timestamp_s),
        uint(u64::from(a.liquidatable)),
        uint(a.sequence),
    ])
}

fn liquidate_args(a: &MarginAttestation, keeper: &[u8; 20], signature: &[u8]) -> Vec<u8> {
    let mut args = attestation_words(a);
    args.extend_from_slice(&address_word(keeper));
    args.extend_from_slice(&uint(9 * 32)); // offset of `signature` from the start of the arguments
    args.extend_from_slice(&uint(signature.len() as u64));
    let mut padded = signature.to_vec();
    padded.resize(signature.len().div_ceil(32) * 32, 0);
    args.extend_from_slice(&padded);
    args
}

struct Gate {
    chain: Chain,
    gate: Address,
    owner: Address,
    keeper: KeeperKey,
    domain: Domain,
}

fn breach(sequence: u64, timestamp_s: u64) -> MarginAttestation {
    MarginAttestation {
        account: keccak256(b"acc-42"),
        equity_usd: Fixed18::parse("950.25").unwrap(),
        mm_usd: Fixed18::parse("1000").unwrap(),
        oracle_price_set_hash: keccak256(b"BTC-USD 65000"),
        timestamp_s,
        liquidatable: true,
        sequence,
    }
}

impl Gate {
    fn new() -> Gate {
        let mut chain = Chain::new();
        let owner = Address::repeat_byte(0x0a);
        let gate = chain.deploy(owner, "LiquidationGate", &[uint(MAX_AGE_S)]);
        let keeper = KeeperKey::from_bytes(&keccak256(b"rtm2m keeper 1")).unwrap();
        let outcome = chain.call(
            owner,
            gate,
            "setKeeper(address,bool)",
            &words(&[address_word(&keeper.address()), uint(1)]),
        );
        outcome.output();
        let domain = Domain::rtm2m(CHAIN_ID, gate.into_array());
        Gate {
            chain,
            gate,
            owner,
            keeper,
            domain,
        }
    }

    fn liquidate(&mut self, a: &MarginAttestation, keeper: &[u8; 20], signature: &[u8]) -> Outcome {
        let relayer = Address::repeat_byte(0x0b);
        self.chain.call(
            relayer,
            self.gate,
            LIQUIDATE,
            &liquidate_args(a, keeper, signature),
        )
    }

    fn view_word(&mut self, signature: &str, args: &[u8]) -> Hash32 {
        let outcome = self.chain.call(self.owner, self.gate, signature, args);
        outcome.output()[..32].try_into().expect("one word")
    }

    fn liquidations(&mut self, account: &Hash32) -> Hash32 {
        self.view_word("liquidations(bytes32)", account)
    }
}

fn error_selector(signature: &str) -> [u8; 4] {
    selector(signature)
}

#[test]
fn contract_hashes_attestations_exactly_as_rust_does() {
    let mut g = Gate::new();
    assert_eq!(
        g.view_word("ATTESTATION_TYPEHASH()", &[]),
        keccak256(MarginAttestation::TYPE.as_bytes())
    );
    assert_eq!(g.view_word("domainSeparator()", &[]), g.domain.separator());
    for (sequence, equity) in [
        (1, "950.25"),
        (7, "-12.000000000000000001"),
        (u64::MAX, "0"),
    ] {
        let mut a = breach(sequence, T0_S);
        a.equity_usd = Fixed18::parse(equity).unwrap();
        let digest = g.view_word(ATTESTATION_DIGEST, &attestation_words(&a));
        assert_eq!(
            digest,
            a.digest(&g.domain),
            "sequence {sequence}, equity {equity}"
        );
    }
}

#[test]
fn valid_attestation_is_accepted_and_lets_the_liquidation_through() {
    let mut g = Gate::new();
    let a = breach(1, T0_S);
    let signed = g.keeper.attest(&g.domain, a);
    g.chain.set_time(T0_S + 10);
    let outcome = g.liquidate(&a, &signed.keeper, &signed.signature);
    let Outcome::Success { logs, .. } = &outcome else {
        panic!("valid attestation refused: {outcome:?}")
    };
    // Liquidated(bytes32 indexed account, address indexed keeper, uint64, int256, int256, bytes32).
    let event = keccak256(b"Liquidated(bytes32,address,uint64,int256,int256,bytes32)");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].address, g.gate);
    let topics: Vec<Hash32> = logs[0].topics().iter().map(|t| t.0).collect();
    assert_eq!(topics, vec![event, a.account, address_word(&signed.keeper)]);
    assert_eq!(
        logs[0].data.data.to_vec(),
        words(&[
            uint(1),
            a.equity_usd.to_word(),
            a.mm_usd.to_word(),
            a.oracle_price_set_hash
        ])
    );
    assert_eq!(g.liquidations(&a.account), uint(1));
    assert_eq!(g.view_word("lastSequence(bytes32)", &a.account), uint(1));
    // The next cycle's attestation, with a higher sequence, goes through too.
    let next = breach(2, T0_S + 20);
    let signed = g.keeper.attest(&g.domain, next);
    g.chain.set_time(T0_S + 25);
    g.liquidate(&next, &signed.keeper, &signed.signature)
        .output();
    assert_eq!(g.liquidations(&a.account), uint(2));
}

#[test]
fn replayed_attestation_is_rejected() {
    let mut g = Gate::new();
    let a = breach(5, T0_S);
    let signed = g.keeper.attest(&g.domain, a);
    g.chain.set_time(T0_S + 1);
    g.liquidate(&a, &signed.keeper, &signed.signature).output();
    let replay = g.liquidate(&a, &signed.keeper, &signed.signature);
    assert_eq!(
        replay.revert_selector(),
        error_selector("Replay(bytes32,uint64,uint64)")
    );
    assert_eq!(replay.revert_word(0), a.account);
    assert_eq!(replay.revert_word(1), uint(5));
    assert_eq!(replay.revert_word(2), uint(5));
    // An older, genuine attestation is a replay too.
    let older = breach(4, T0_S);
    let signed = g.keeper.attest(&g.domain, older);
    let outcome = g.liquidate(&older, &signed.keeper, &signed.signature);
    assert_eq!(
        outcome.revert_selector(),
        error_selector("Replay(bytes32,uint64,uint64)")
    );
    assert_eq!(g.liquidations(&a.account), uint(1));
}

#[test]
fn forged_signature_is_rejected() {
    let mut g = Gate::new();
    g.chain.set_time(T0_S + 1);
    let forged = error_selector("ForgedSignature(address,address)");
    // A genuine signature on other numbers: equity raised after signing.
    let a = breach(1, T0_S);
    let signed = g.keeper.attest(&g.domain, a);
    let mut tampered = a;
    tampered.equity_usd = Fixed18::parse("10").unwrap();
    let outcome = g.liquidate(&tampered, &signed.keeper, &signed.signature);
    assert_eq!(outcome.revert_selector(), forged);
    assert_eq!(outcome.revert_word(1), address_word(&g.keeper.address()));
    // An attacker's signature presented as the keeper's.
    let attacker = KeeperKey::from_bytes(&keccak256(b"attacker")).unwrap();
    let signature = attacker.attest(&g.domain, a).signature;
    let outcome = g.liquidate(&a, &g.keeper.address(), &signature);
    assert_eq!(outcome.revert_selector(), forged);
    assert_eq!(outcome.revert_word(0), address_word(&attacker.address()));
    // The keeper's signature for another contract (another domain).
    let elsewhere = Domain::rtm2m(CHAIN_ID, [0x99; 20]);
    let signature = g.keeper.attest(&elsewhere, a).signature;
    assert_eq!(
        g.liquidate(&a, &g.keeper.address(), &signature)
            .revert_selector(),
        forged
    );
    // Malformed: wrong length, v not 27/28, s in the upper half (the malleable twin of a valid one).
    let malformed = error_selector("MalformedSignature()");
    let signature = g.keeper.attest(&g.domain, a).signature;
    let outcome = g.liquidate(&a, &g.keeper.address(), &signature[..64]);
    assert_eq!(outcome.revert_selector(), malformed);
    let mut bad_v = signature;
    bad_v[64] = 29;
    assert_eq!(
        g.liquidate(&a, &g.keeper.address(), &bad_v)
            .revert_selector(),
        malformed
    );
    let mut twin = signature;
    let n: [u8; 32] = parse_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
        .unwrap()
        .try_into()
        .unwrap();
    twin[32..64].copy_from_slice(&sub_be(&n, &signature[32..64].try_into().unwrap()));
    twin[64] = if signature[64] == 27 { 28 } else { 27 };
    assert_eq!(
        g.liquidate(&a, &g.keeper.address(), &twin)
            .revert_selector(),
        malformed
    );
    assert_eq!(g.liquidations(&a.account), uint(0));
}

/// a − b for 256-bit big-endian numbers, a ≥ b.
fn sub_be(a: &Hash32, b: &Hash32) -> Hash32 {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

#[test]
fn unknown_keeper_is_rejected() {
    let mut g = Gate::new();
    g.chain.set_time(T0_S + 1);
    let a = breach(1, T0_S);
    let stranger = KeeperKey::from_bytes(&keccak256(b"stranger")).unwrap();
    let signed = stranger.attest(&g.domain, a);
    assert!(
        signed.verify(&g.domain),
        "a genuine signature, by a key that is no keeper"
    );
    let outcome = g.liquidate(&a, &signed.keeper, &signed.signature);
    assert_eq!(
        outcome.revert_selector(),
        error_selector("UnknownKeeper(address)")
    );
    assert_eq!(outcome.revert_word(0), address_word(&stranger.address()));
    // A keeper removed by the owner is unknown from then on.
    let keeper = address_word(&g.keeper.address());
    g.chain
        .call(
            g.owner,
            g.gate,
            "setKeeper(address,bool)",
            &words(&[keeper, uint(0)]),
        )
        .output();
    let signed = g.keeper.attest(&g.domain, a);
    let outcome = g.liquidate(&a, &signed.keeper, &signed.signature);
    assert_eq!(
        outcome.revert_selector(),
        error_selector("UnknownKeeper(address)")
    );
    // Only the owner manages keepers.
    let outcome = g.chain.call(
        Address::repeat_byte(0x0c),
        g.gate,
        "setKeeper(address,bool)",
        &words(&[keeper, uint(1)]),
    );
    assert_eq!(
        outcome.revert_selector(),
        error_selector("NotOwner(address)")
    );
}

#[test]
fn stale_and_future_attestations_are_rejected() {
    let mut g = Gate::new();
    let now = T0_S + 1_000;
    g.chain.set_time(now);
    let stale = breach(1, now - MAX_AGE_S - 1);
    let signed = g.keeper.attest(&g.domain, stale);
    let outcome = g.liquidate(&stale, &signed.keeper, &signed.signature);
    assert_eq!(
        outcome.revert_selector(),
        error_selector("StaleAttestation(uint64,uint256,uint64)")
    );
    assert_eq!(outcome.revert_word(0), uint(now - MAX_AGE_S - 1));
    assert_eq!(outcome.revert_word(1), uint(now));
    assert_eq!(outcome.revert_word(2), uint(MAX_AGE_S));
    let future = breach(1, now + 1);
    let signed = g.keeper.attest(&g.domain, future);
    let outcome = g.liquidate(&future, &signed.keeper, &signed.signature);
    assert_eq!(
        outcome.revert_selector(),
        error_selector("FutureAttestation(uint64,uint256)")
    );
    // Exactly the maximum age is still fresh; a refused attestation did not consume sequence 1.
    let edge = breach(1, now - MAX_AGE_S);
    let signed = g.keeper.attest(&g.domain, edge);
    g.liquidate(&edge, &signed.keeper, &signed.signature)
        .output();
}

#[test]
fn attestation_that_is_not_a_breach_is_rejected() {
    let mut g = Gate::new();
    g.chain.set_time(T0_S);
    let not_liquidatable = error_selector("NotLiquidatable(bytes32)");
    let mut healthy = breach(1, T0_S);
    healthy.liquidatable = false;
    let signed = g.keeper.attest(&g.domain, healthy);
    let outcome = g.liquidate(&healthy, &signed.keeper, &signed.signature);
    assert_eq!(outcome.revert_selector(), not_liquidatable);
    let mut inconsistent = breach(1, T0_S);
    inconsistent.equity_usd = inconsistent.mm_usd;
    let signed = g.keeper.attest(&g.domain, inconsistent);
    let outcome = g.liquidate(&inconsistent, &signed.keeper, &signed.signature);
    assert_eq!(outcome.revert_selector(), not_liquidatable);
}

#[test]
fn ecrecover_in_the_evm_returns_the_rust_signer() {
    let mut g = Gate::new();
    for i in 0u8..8 {
        let key = KeeperKey::from_bytes(&keccak256(&[i])).unwrap();
        let digest = keccak256(&[i, i]);
        let signature = key.sign_digest(&digest);
        let mut args = words(&[digest, uint(64), uint(65)]);
        let mut padded = signature.to_vec();
        padded.resize(96, 0);
        args.extend_from_slice(&padded);
        let recovered = g.view_word("recoverSigner(bytes32,bytes)", &args);
        assert_eq!(recovered, address_word(&key.address()));
        assert_eq!(recover_address(&digest, &signature), Ok(key.address()));
    }
}

// --- MarginStateVerifier ----------------------------------------------------------------------------

fn sample_state(n: usize) -> MarginState {
    let accounts = (0..n)
        .map(|i| {
            let i = i as i128;
            AccountState {
                id: format!("acct-{i:05}"),
                equity_usd: Fixed18::from_units((i * 7_919 - 2_000_000) * 1_000_000_000_123),
                im_usd: Fixed18::from_units(i * 1_000_000_000_000_000_007),
                mm_usd: Fixed18::from_units(i * 500_000_000_000_000_003),
                status: AccountStatus::ALL[(i % 5) as usize],
            }
        })
        .collect();
    MarginState::new(accounts).unwrap()
}

fn margin_args(root: &Hash32, proof: &[Hash32], a: &AccountState) -> Vec<u8> {
    let mut args = words(&[
        *root,
        uint(7 * 32),
        a.account_hash(),
        a.equity_usd.to_word(),
        a.im_usd.to_word(),
        a.mm_usd.to_word(),
        uint(u64::from(a.status.code())),
        uint(proof.len() as u64),
    ]);
    args.extend_from_slice(&proof.concat());
    args
}

#[test]
fn contract_verifies_rust_inclusion_proofs_and_refuses_tampered_leaves() {
    let mut chain = Chain::new();
    let from = Address::repeat_byte(0x0d);
    let verifier = chain.deploy(from, "MarginStateVerifier", &[]);
    let state = sample_state(1_000);
    let commitment = MarginCommitment::new(&state).unwrap();
    let root = commitment.root();
    let verify = "verifyMarginState(bytes32,bytes32[],bytes32,int256,int256,int256,uint8)";
    for a in state.accounts.iter().step_by(37) {
        let leaf_args = words(&[
            a.account_hash(),
            a.equity_usd.to_word(),
            a.im_usd.to_word(),
            a.mm_usd.to_word(),
            uint(u64::from(a.status.code())),
        ]);
        let leaf = chain.call(
            from,
            verifier,
            "marginLeaf(bytes32,int256,int256,int256,uint8)",
            &leaf_args,
        );
        assert_eq!(leaf.output(), a.leaf());
        let proof = commitment.proof(&a.id).unwrap();
        assert!(proof.verify(&root));
        let ok = chain.call(
            from,
            verifier,
            verify,
            &margin_args(&root, &proof.siblings, a),
        );
        assert_eq!(ok.output(), uint(1), "account {}", a.id);
        let mut tampered = a.clone();
        tampered.mm_usd = Fixed18::from_units(a.mm_usd.units() - 1);
        let bad = chain.call(
            from,
            verifier,
            verify,
            &margin_args(&root, &proof.siblings, &tampered),
        );
        assert_eq!(bad.output(), uint(0), "tampered account {}", a.id);
    }
}

#[test]
fn contract_verifies_rust_liability_proofs_and_refuses_understated_sums() {
    let mut chain = Chain::new();
    let from = Address::repeat_byte(0x0e);
    let verifier = chain.deploy(from, "MarginStateVerifier", &[]);
    let state = sample_state(300);
    let tree = LiabilityTree::new(&state).unwrap();
    let root = tree.root();
    let expected_total: u128 = state.accounts.iter().map(|a| a.liability_units()).sum();
    assert_eq!(root.sum_units, expected_total);
    let signature = "verifyLiability(bytes32,uint256,bytes32,uint128,(bytes32,uint128,bool)[])";
    let args = |liability: u128, account: &Hash32, path: &[rtm2m_proof::sum_tree::SumStep]| {
        let mut args = words(&[
            root.hash,
            uint_word(root.sum_units),
            *account,
            uint_word(liability),
            uint(5 * 32),
            uint(path.len() as u64),
        ]);
        for step in path {
            args.extend_from_slice(&words(&[
                step.sibling.hash,
                uint_word(step.sibling.sum_units),
                uint(u64::from(step.side == Side::Left)),
            ]));
        }
        args
    };
    for a in state.accounts.iter().step_by(13) {
        let proof = tree.proof(&a.id, &a.account_hash()).unwrap();
        assert!(proof.verify(&root));
        let ok = chain.call(
            from,
            verifier,
            signature,
            &args(a.liability_units(), &proof.account, &proof.path),
        );
        assert_eq!(ok.output(), uint(1), "account {}", a.id);
        let bad = chain.call(
            from,
            verifier,
            signature,
            &args(a.liability_units() + 1, &proof.account, &proof.path),
        );
        assert_eq!(bad.output(), uint(0), "overstated liability of {}", a.id);
        if let Some(first) = proof.path.first() {
            let mut path = proof.path.clone();
            path[0].sibling.sum_units = first.sibling.sum_units.saturating_sub(1);
            if path[0].sibling.sum_units != first.sibling.sum_units {
                let bad = chain.call(
                    from,
                    verifier,
                    signature,
                    &args(a.liability_units(), &proof.account, &path),
                );
                assert_eq!(bad.output(), uint(0), "understated sibling of {}", a.id);
            }
        }
    }
}
