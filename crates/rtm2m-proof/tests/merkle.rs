//! Inclusion proofs at scale and under tampering: every account of a 100,000-account state proves its
//! margin leaf and its liability, and any change to a leaf, a sibling or a sum breaks the proof.

use proptest::prelude::*;
use rayon::prelude::*;
use rtm2m_proof::merkle::{process_proof, verify, MarginCommitment};
use rtm2m_proof::sum_tree::LiabilityTree;
use rtm2m_proof::{AccountState, AccountStatus, Fixed18, MarginState};
use std::time::Instant;

const E18: i128 = 1_000_000_000_000_000_000;

fn account(i: u64) -> AccountState {
    // A spread of signs and magnitudes from a fixed mixing of the index (no randomness: reproducible).
    let mix = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20;
    let equity = (mix % 2_000_000) as i128 - 400_000;
    AccountState {
        id: format!("acct-{i}"),
        equity_usd: Fixed18::from_units(equity * E18 + (mix % 997) as i128),
        im_usd: Fixed18::from_units((mix % 500_000) as i128 * E18),
        mm_usd: Fixed18::from_units((mix % 250_000) as i128 * E18),
        status: AccountStatus::ALL[(mix % 5) as usize],
    }
}

#[test]
fn every_account_of_a_100k_state_proves_inclusion_and_a_tampered_leaf_fails() {
    let state = MarginState::new((0..100_000).map(account).collect()).unwrap();

    let started = Instant::now();
    let commitment = MarginCommitment::new(&state).unwrap();
    let built = started.elapsed();
    let root = commitment.root();

    let started = Instant::now();
    let longest = state
        .accounts
        .par_iter()
        .map(|a| {
            let proof = commitment.proof(&a.id).unwrap();
            assert_eq!(proof.leaf, a.leaf());
            assert!(proof.verify(&root), "account {} does not verify", a.id);
            proof.siblings.len()
        })
        .max()
        .unwrap();
    let verified = started.elapsed();
    // A complete tree of 100,000 leaves has depth ⌈log2(199,999 + 1)⌉ − 1 = 17.
    assert_eq!(longest, 17);

    // Tamper one leaf: a single 10^-18 USD of equity.
    let victim = &state.accounts[31_337];
    let proof = commitment.proof(&victim.id).unwrap();
    let mut tampered = victim.clone();
    tampered.equity_usd = Fixed18::from_units(victim.equity_usd.units() + 1);
    assert!(!verify(&root, &tampered.leaf(), &proof.siblings));
    let mut downgraded = victim.clone();
    downgraded.status = AccountStatus::from_code((victim.status.code() + 1) % 5).unwrap();
    assert!(!verify(&root, &downgraded.leaf(), &proof.siblings));
    // Another account's proof does not carry this leaf.
    let other = commitment.proof(&state.accounts[0].id).unwrap();
    assert!(!verify(&root, &victim.leaf(), &other.siblings));

    println!(
        "100000 accounts: tree built in {:.1} ms, 100000 proofs generated and verified in {:.1} ms, \
         depth {longest}, root {}",
        built.as_secs_f64() * 1e3,
        verified.as_secs_f64() * 1e3,
        rtm2m_proof::hash::to_hex(&root)
    );
}

#[test]
fn every_account_of_a_100k_state_proves_its_liability_and_the_total_is_the_sum() {
    let state = MarginState::new((0..100_000).map(account).collect()).unwrap();
    let started = Instant::now();
    let tree = LiabilityTree::new(&state).unwrap();
    let root = tree.root();
    let total: u128 = state
        .accounts
        .iter()
        .map(AccountState::liability_units)
        .sum();
    assert_eq!(root.sum_units, total);
    assert!(total > 0);
    state.accounts.par_iter().for_each(|a| {
        let proof = tree.proof(&a.id, &a.account_hash()).unwrap();
        assert_eq!(proof.liability_units, a.liability_units());
        assert!(proof.verify(&root), "account {} does not verify", a.id);
    });
    let victim = state
        .accounts
        .iter()
        .find(|a| a.liability_units() > 0)
        .unwrap();
    let mut proof = tree.proof(&victim.id, &victim.account_hash()).unwrap();
    proof.liability_units -= 1;
    assert!(!proof.verify(&root));
    println!(
        "100000 liabilities: sum tree built and every proof verified in {:.1} ms, total {} units",
        started.elapsed().as_secs_f64() * 1e3,
        total
    );
}

fn arb_account(i: usize) -> impl Strategy<Value = AccountState> {
    (any::<i64>(), any::<i64>(), any::<i64>(), 0u8..5).prop_map(move |(e, im, mm, s)| {
        AccountState {
            id: format!("p{i}"),
            equity_usd: Fixed18::from_units(i128::from(e) * 1_000),
            im_usd: Fixed18::from_units(i128::from(im)),
            mm_usd: Fixed18::from_units(i128::from(mm)),
            status: AccountStatus::from_code(s).unwrap(),
        }
    })
}

fn arb_state() -> impl Strategy<Value = MarginState> {
    (1usize..80)
        .prop_flat_map(|n| (0..n).map(arb_account).collect::<Vec<_>>())
        .prop_map(|accounts| MarginState::new(accounts).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_proof_verifies_and_any_single_bit_flip_fails(
        state in arb_state(),
        pick in any::<prop::sample::Index>(),
        bit in 0usize..256,
    ) {
        let commitment = MarginCommitment::new(&state).unwrap();
        let root = commitment.root();
        for a in &state.accounts {
            prop_assert!(commitment.proof(&a.id).unwrap().verify(&root));
        }
        let a = pick.get(&state.accounts);
        let proof = commitment.proof(&a.id).unwrap();
        // Flip one bit of the leaf.
        let mut leaf = proof.leaf;
        leaf[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verify(&root, &leaf, &proof.siblings));
        // Flip one bit of one sibling.
        if !proof.siblings.is_empty() {
            let mut siblings = proof.siblings.clone();
            let k = bit % siblings.len();
            siblings[k][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(process_proof(&proof.leaf, &siblings) != root);
        }
        // Flip one bit of the encoded account (before hashing).
        let mut encoded = a.abi_encode();
        let byte = (bit / 8) + 32 * (bit % 5);
        encoded[byte] ^= 1 << (bit % 8);
        let leaf = rtm2m_proof::merkle::standard_leaf(&encoded);
        prop_assert!(!verify(&root, &leaf, &proof.siblings));
    }

    #[test]
    fn every_liability_proof_verifies_and_a_changed_sum_fails(
        state in arb_state(),
        pick in any::<prop::sample::Index>(),
        delta in 1u128..1_000_000,
    ) {
        let tree = LiabilityTree::new(&state).unwrap();
        let root = tree.root();
        for a in &state.accounts {
            prop_assert!(tree.proof(&a.id, &a.account_hash()).unwrap().verify(&root));
        }
        let a = pick.get(&state.accounts);
        let proof = tree.proof(&a.id, &a.account_hash()).unwrap();
        let mut more = proof.clone();
        more.liability_units += delta;
        prop_assert!(!more.verify(&root));
        for k in 0..proof.path.len() {
            let mut shifted = proof.clone();
            // Move value from one sibling to the leaf: the total is unchanged, the hashes are not.
            let moved = delta.min(shifted.path[k].sibling.sum_units);
            if moved > 0 {
                shifted.path[k].sibling.sum_units -= moved;
                shifted.liability_units += moved;
                prop_assert!(!shifted.verify(&root));
            }
        }
    }
}
