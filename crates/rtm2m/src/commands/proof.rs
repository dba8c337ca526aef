//! `rtm2m proof`: an account's inclusion proof in the margin-state Merkle root and its liability proof in
//! the solvency sum tree, optionally with a keeper's signed EIP-712 attestation (docs/proofs.md).

use anyhow::Context;
use clap::Args;
use rtm2m_journal::{Journal, SyncMode, DB_FILE};
use rtm2m_proof::attest::KeeperKey;
use rtm2m_proof::eip712::{Domain, MarginAttestation};
use rtm2m_proof::hash::{parse_hex_array, to_hex};
use rtm2m_proof::merkle::{verify, MarginCommitment};
use rtm2m_proof::sum_tree::LiabilityTree;
use rtm2m_proof::{AccountStatus, Fixed18, MarginState, ProofError};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The output lines an engine journal recorded, in emission order, as one JSON Lines text.
fn journal_outputs(dir: &Path) -> anyhow::Result<String> {
    if !dir.join(DB_FILE).is_file() {
        anyhow::bail!(
            "{}: no journal ({DB_FILE}) in this directory",
            dir.display()
        );
    }
    let journal = Journal::open(dir, SyncMode::Full)?;
    let mut text = String::new();
    journal.for_each_output(|line| {
        text.push_str(line);
        if !line.ends_with('\n') {
            text.push('\n');
        }
    })?;
    Ok(text)
}

/// Arguments of `rtm2m proof`.
#[derive(Debug, Args)]
pub struct ProofArgs {
    /// Id of the account to prove.
    #[arg(long)]
    pub account: String,
    /// Margin state file: a JSON document `{"accounts": [...]}`, the JSON Lines of `rtm2m margin --json`,
    /// or the engine's output stream (latest `margin` line per account); format in docs/proofs.md.
    #[arg(
        long,
        required_unless_present = "data_dir",
        conflicts_with = "data_dir"
    )]
    pub state: Option<PathBuf>,
    /// An engine data directory (`rtm2m run --data-dir`): the state is the latest `margin` output of each
    /// account recorded in its journal.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Also sign a keeper attestation of the account's verdict with the secp256k1 secret key (hex) in this
    /// file; needs --chain-id, --contract, --timestamp-s and --sequence.
    #[arg(long, requires_all = ["chain_id", "contract", "timestamp_s", "sequence"])]
    pub keeper_key_file: Option<PathBuf>,
    /// EIP-712 domain: chain id of the LiquidationGate contract.
    #[arg(long)]
    pub chain_id: Option<u64>,
    /// EIP-712 domain: address of the LiquidationGate contract (0x + 40 hex digits).
    #[arg(long)]
    pub contract: Option<String>,
    /// Time of the verdict, seconds since the Unix epoch (the contract refuses it once older than its
    /// maximum age).
    #[arg(long)]
    pub timestamp_s: Option<u64>,
    /// Attestation sequence: must exceed the last one the contract accepted for the account.
    #[arg(long)]
    pub sequence: Option<u64>,
    /// keccak256 of the oracle price set the verdict used (0x + 64 hex digits;
    /// `rtm2m_proof::eip712::oracle_price_set_hash`).
    #[arg(
        long,
        default_value = "0x0000000000000000000000000000000000000000000000000000000000000000"
    )]
    pub oracle_price_set_hash: String,
}

/// Runs `rtm2m proof`: prints one JSON document.
pub fn run(args: &ProofArgs) -> anyhow::Result<()> {
    let (text, source) = match (&args.state, &args.data_dir) {
        (Some(path), _) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
            path.display().to_string(),
        ),
        (None, Some(dir)) => (
            journal_outputs(dir)?,
            format!("journal in {}", dir.display()),
        ),
        (None, None) => anyhow::bail!("--state or --data-dir is required"),
    };
    let state = MarginState::from_json(&text).with_context(|| format!("margin state {source}"))?;

    let commitment = MarginCommitment::new(&state)?;
    let root = commitment.root();
    let proof = commitment.proof(&args.account)?;
    let position = commitment
        .position(&args.account)
        .expect("an account with a proof is in the state");
    let account = &state.accounts[position];
    // Verify as a user would: recompute the leaf from the account's fields, not from the tree.
    let verified = verify(&root, &account.leaf(), &proof.siblings);

    let liabilities = LiabilityTree::new(&state)?;
    let solvency_root = liabilities.root();
    let liability = liabilities.proof(&account.id, &account.account_hash())?;
    let liability_verified = liability.verify(&solvency_root);
    if !verified || !liability_verified {
        anyhow::bail!(
            "internal error: the proofs of account {} do not verify against their roots",
            account.id
        );
    }

    let units = |v: Fixed18| v.units().to_string();
    let mut out = json!({
        "account": account.id,
        "account_hash": to_hex(&account.account_hash()),
        "state": {
            "equity_usd": account.equity_usd.to_string(),
            "im_usd": account.im_usd.to_string(),
            "mm_usd": account.mm_usd.to_string(),
            "status": account.status.name(),
            "equity_units": units(account.equity_usd),
            "im_units": units(account.im_usd),
            "mm_units": units(account.mm_usd),
            "status_code": account.status.code(),
        },
        "leaf": to_hex(&proof.leaf),
        "root": to_hex(&root),
        "accounts": state.accounts.len(),
        "tree_index": proof.tree_index,
        "proof": proof.siblings.iter().map(|s| to_hex(s)).collect::<Vec<_>>(),
        "verified": verified,
        "solvency": {
            "root_hash": to_hex(&solvency_root.hash),
            "total_liabilities_units": solvency_root.sum_units.to_string(),
            "total_liabilities_usd": usd_of_units(solvency_root.sum_units),
            "liability_units": liability.liability_units.to_string(),
            "path": liability.path,
            "verified": liability_verified,
        },
    });

    if let Some(key_file) = &args.keeper_key_file {
        let key_text = std::fs::read_to_string(key_file)
            .with_context(|| format!("cannot read {}", key_file.display()))?;
        let key = KeeperKey::from_hex(&key_text)?;
        let contract = args.contract.as_deref().unwrap_or_default();
        let contract: [u8; 20] =
            parse_hex_array(contract).map_err(|r| ProofError::field("--contract", r))?;
        let oracle_price_set_hash = parse_hex_array(&args.oracle_price_set_hash)
            .map_err(|r| ProofError::field("--oracle-price-set-hash", r))?;
        let domain = Domain::rtm2m(args.chain_id.unwrap_or_default(), contract);
        let attestation = MarginAttestation {
            account: account.account_hash(),
            equity_usd: account.equity_usd,
            mm_usd: account.mm_usd,
            oracle_price_set_hash,
            timestamp_s: args.timestamp_s.unwrap_or_default(),
            liquidatable: matches!(
                account.status,
                AccountStatus::Liquidatable | AccountStatus::Bankrupt
            ),
            sequence: args.sequence.unwrap_or_default(),
        };
        let signed = key.attest(&domain, attestation);
        out["attestation"] = json!({
            "domain": domain,
            "message": signed.attestation,
            "digest": to_hex(&attestation.digest(&domain)),
            "keeper": to_hex(&signed.keeper),
            "signature": to_hex(&signed.signature),
            "verified": signed.verify(&domain),
        });
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Exact decimal USD of a count of 10^-18 USD units.
fn usd_of_units(units: u128) -> String {
    match i128::try_from(units) {
        Ok(u) => Fixed18::from_units(u).to_string(),
        Err(_) => format!("{units}e-18"),
    }
}
