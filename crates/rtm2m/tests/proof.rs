//! `rtm2m proof` end to end: the printed proofs are checked against roots computed here by hand from the
//! byte layout of docs/proofs.md (ABI words, double-hashed leaves, sorted pairs; prefixed sum-tree nodes),
//! never against the library's own tree code.

use rtm2m_proof::attest::{recover_address, KeeperKey};
use rtm2m_proof::hash::{keccak256, parse_hex, parse_hex_array, to_hex, Hash32};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const STATE: &str = r#"{"accounts": [
  {"id": "alice", "equity_usd": "1000.5", "im_usd": "200", "mm_usd": "100", "status": "healthy"},
  {"id": "bob", "equity_usd": 950.25, "im_usd": 1500, "mm_usd": 1000, "status": "liquidatable"},
  {"id": "carol", "equity_usd": -3, "im_usd": 10, "mm_usd": 5, "status": "bankrupt"}
]}"#;

/// Writes `text` to a file of its own: tests run in parallel.
fn write(name: &str, text: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rtm2m-proof-cli-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

fn rtm2m(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtm2m"))
        .args(args)
        .output()
        .expect("run rtm2m")
}

fn proof_json(account: &str, state: &Path, extra: &[&str]) -> Value {
    let state = state.display().to_string();
    let mut args = vec!["proof", "--account", account, "--state", &state];
    args.extend_from_slice(extra);
    let out = rtm2m(&args);
    assert!(
        out.status.success(),
        "rtm2m proof failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn int_word(units: i128) -> [u8; 32] {
    let mut w = [if units < 0 { 0xff } else { 0 }; 32];
    w[16..].copy_from_slice(&units.to_be_bytes());
    w
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// leaf = keccak256(keccak256(account ‖ equity ‖ im ‖ mm ‖ status)), amounts in 10^-18 USD.
fn leaf(id: &str, equity: i128, im: i128, mm: i128, status: i128) -> Hash32 {
    let encoded = cat(&[
        &keccak256(id.as_bytes()),
        &int_word(equity),
        &int_word(im),
        &int_word(mm),
        &int_word(status),
    ]);
    keccak256(&keccak256(&encoded))
}

fn pair(a: &Hash32, b: &Hash32) -> Hash32 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    keccak256(&cat(&[lo, hi]))
}

const E18: i128 = 1_000_000_000_000_000_000;

#[test]
fn each_accounts_proof_reaches_the_hand_computed_root() {
    let state = write("state.json", STATE);
    let mut leaves = [
        leaf("alice", 1_000_500 * E18 / 1_000, 200 * E18, 100 * E18, 0),
        leaf("bob", 950_250 * E18 / 1_000, 1_500 * E18, 1_000 * E18, 2),
        leaf("carol", -3 * E18, 10 * E18, 5 * E18, 3),
    ];
    let by_id = leaves;
    // Three leaves sorted ascending as l0 < l1 < l2: the array is [root, H(l0, l1), l2, l1, l0].
    leaves.sort();
    let root = pair(&pair(&leaves[0], &leaves[1]), &leaves[2]);
    // The same state through OpenZeppelin's JavaScript library (@openzeppelin/merkle-tree 1.0.8,
    // StandardMerkleTree.of(values, ["bytes32", "int256", "int256", "int256", "uint8"])) gave this root,
    // and for bob this leaf and proof.
    assert_eq!(
        to_hex(&root),
        "0x7fb0d9cdfc6a2a92390748a21777c5324fb4db5181d3efef689c610fb358e2a4"
    );
    let bob = proof_json("bob", &state, &[]);
    assert_eq!(
        bob["leaf"],
        "0x0fc2f98173652d552f64bc8ca44d5490339ab553c83ee40905010a2ebe22a4e8"
    );
    assert_eq!(
        bob["proof"],
        serde_json::json!([
            "0x7634b2d6db113b16208af3ad6af398ff2bb947a24100740634fcee5c101cfbcf",
            "0xdb1142cd304e1e28ad8bcf8e8c7259f52756cb0bd9b5cb0dfe1755e646b6881a"
        ])
    );
    for (id, expected_leaf) in ["alice", "bob", "carol"].iter().zip(by_id) {
        let out = proof_json(id, &state, &[]);
        assert_eq!(out["verified"], Value::Bool(true));
        assert_eq!(out["accounts"], 3);
        assert_eq!(out["leaf"], to_hex(&expected_leaf), "{id}");
        assert_eq!(out["root"], to_hex(&root), "{id}");
        let siblings: Vec<Hash32> = out["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| parse_hex_array(s.as_str().unwrap()).unwrap())
            .collect();
        let reached = siblings
            .iter()
            .fold(expected_leaf, |node, s| pair(&node, s));
        assert_eq!(reached, root, "{id}'s printed proof");
    }
}

#[test]
fn liability_proof_reaches_the_hand_computed_sum_root() {
    let state = write("state.json", STATE);
    // Liabilities: alice 1000.5, bob 950.25, carol 0 (negative equity is no liability).
    let sum_leaf = |id: &str, units: u128| {
        let mut word = [0u8; 32];
        word[16..].copy_from_slice(&units.to_be_bytes());
        (
            keccak256(&cat(&[&[0x00], &keccak256(id.as_bytes()), &word])),
            units,
        )
    };
    let node = |l: &(Hash32, u128), r: &(Hash32, u128)| {
        let (mut ls, mut rs) = ([0u8; 32], [0u8; 32]);
        ls[16..].copy_from_slice(&l.1.to_be_bytes());
        rs[16..].copy_from_slice(&r.1.to_be_bytes());
        (keccak256(&cat(&[&[0x01], &l.0, &ls, &r.0, &rs])), l.1 + r.1)
    };
    let alice = 1_000_500_000_000_000_000_000u128;
    let bob = 950_250_000_000_000_000_000u128;
    let mut leaves = [
        (keccak256(b"alice"), sum_leaf("alice", alice)),
        (keccak256(b"bob"), sum_leaf("bob", bob)),
        (keccak256(b"carol"), sum_leaf("carol", 0)),
    ];
    // Sorted by account hash a0 < a1 < a2, array [root, n1, a2, a1, a0]: n1 = (a1, a0), root = (n1, a2).
    leaves.sort_by_key(|leaf| leaf.0);
    let n1 = node(&leaves[1].1, &leaves[0].1);
    let root = node(&n1, &leaves[2].1);
    let out = proof_json("bob", &state, &[]);
    let solvency = &out["solvency"];
    assert_eq!(solvency["verified"], Value::Bool(true));
    assert_eq!(solvency["root_hash"], to_hex(&root.0));
    assert_eq!(
        solvency["total_liabilities_units"],
        (alice + bob).to_string()
    );
    assert_eq!(solvency["total_liabilities_usd"], "1950.75");
    assert_eq!(solvency["liability_units"], bob.to_string());
}

#[test]
fn attestation_is_signed_by_the_keeper_and_recovers_to_it() {
    let state = write("state.json", STATE);
    let secret = keccak256(b"rtm2m keeper cli test");
    let key_file = write("keeper.key", &format!("{}\n", to_hex(&secret)));
    let out = proof_json(
        "bob",
        &state,
        &[
            "--keeper-key-file",
            &key_file.display().to_string(),
            "--chain-id",
            "31337",
            "--contract",
            "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "--timestamp-s",
            "1700000000",
            "--sequence",
            "7",
        ],
    );
    let a = &out["attestation"];
    assert_eq!(a["verified"], Value::Bool(true));
    assert_eq!(a["message"]["liquidatable"], Value::Bool(true));
    assert_eq!(a["message"]["sequence"], 7);
    assert_eq!(a["message"]["equity_usd"], "950.25");
    let keeper = KeeperKey::from_bytes(&secret).unwrap().address();
    assert_eq!(a["keeper"], to_hex(&keeper));
    let digest: Hash32 = parse_hex_array(a["digest"].as_str().unwrap()).unwrap();
    let signature = parse_hex(a["signature"].as_str().unwrap()).unwrap();
    assert_eq!(recover_address(&digest, &signature), Ok(keeper));
    // The digest is EIP-712's over the documented words, rebuilt here.
    let word = |v: u128| {
        let mut w = [0u8; 32];
        w[16..].copy_from_slice(&v.to_be_bytes());
        w
    };
    let mut contract = [0u8; 32];
    contract[12..].copy_from_slice(&parse_hex("5FbDB2315678afecb367f032d93F642f64180aa3").unwrap());
    let separator = keccak256(&cat(&[
        &keccak256(
            b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
        ),
        &keccak256(b"rtm2m"),
        &keccak256(b"1"),
        &word(31_337),
        &contract,
    ]));
    let struct_hash = keccak256(&cat(&[
        &keccak256(b"MarginAttestation(bytes32 account,int256 equity,int256 maintenanceMargin,bytes32 oraclePriceSetHash,uint64 timestamp,bool liquidatable,uint64 sequence)"),
        &keccak256(b"bob"),
        &int_word(950_250 * E18 / 1_000),
        &int_word(1_000 * E18),
        &[0u8; 32],
        &word(1_700_000_000),
        &word(1),
        &word(7),
    ]));
    assert_eq!(
        digest,
        keccak256(&cat(&[&[0x19, 0x01], &separator, &struct_hash]))
    );
}

#[test]
fn engine_output_stream_is_a_state_of_latest_verdicts() {
    let stream = concat!(
        r#"{"type":"margin","v":1,"seq":0,"account":"a","status":"healthy","equity_usd":100.0,"im_usd":10.0,"mm_usd":5.0,"scenario_loss_usd":1.0}"#,
        "\n",
        r#"{"type":"rejected","v":1,"seq":1,"reason":"stale"}"#,
        "\n",
        r#"{"type":"margin","v":1,"seq":2,"account":"a","status":"liquidatable","equity_usd":4.0,"im_usd":10.0,"mm_usd":5.0,"scenario_loss_usd":1.0}"#,
        "\n",
    );
    let state = write("outputs.jsonl", stream);
    let out = proof_json("a", &state, &[]);
    assert_eq!(out["accounts"], 1);
    assert_eq!(out["state"]["status"], "liquidatable");
    // One leaf: the root is the leaf and the proof is empty.
    let expected = leaf("a", 4 * E18, 10 * E18, 5 * E18, 2);
    assert_eq!(out["root"], to_hex(&expected));
    assert_eq!(out["proof"], Value::Array(vec![]));
}

#[test]
fn bad_input_exits_2_naming_the_field() {
    let state = write("state.json", STATE);
    let state_arg = state.display().to_string();
    let out = rtm2m(&["proof", "--account", "dave", "--state", &state_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`dave` is not in the margin state"));

    let bad = write(
        "bad.json",
        r#"[{"id":"a","equity_usd":"1.2.3","im_usd":1,"mm_usd":1,"status":0}]"#,
    );
    let out = rtm2m(&[
        "proof",
        "--account",
        "a",
        "--state",
        &bad.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("equity_usd") && stderr.contains("1.2.3"),
        "{stderr}"
    );

    let key = write("k.key", "0x01");
    let out = rtm2m(&[
        "proof",
        "--account",
        "bob",
        "--state",
        &state_arg,
        "--keeper-key-file",
        &key.display().to_string(),
        "--chain-id",
        "1",
        "--contract",
        "0x12",
        "--timestamp-s",
        "1",
        "--sequence",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keeper key"));
}
