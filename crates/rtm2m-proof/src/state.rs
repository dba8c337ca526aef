//! Margin states as the commitments see them: per account (id, equity, IM, MM, status), in fixed point.
//!
//! A state file (docs/proofs.md § State file) is either one JSON document, `{"accounts": [...]}` or a bare
//! array, or JSON Lines with one account a line, as `rtm2m margin --json` prints them. An account is an
//! object with `id` (or `account`), `equity_usd`, `im_usd`, `mm_usd` (JSON numbers or decimal strings) and
//! `status` (`healthy`, `margin_call`, `liquidatable`, `bankrupt`, `unpriced`, or its code 0–4); other
//! fields are ignored. JSON Lines may also be the engine's output stream (docs/engine.md): lines with a
//! `"type"` are read only when it is `"margin"`, and an account's later margin line replaces its earlier
//! one, so the state is each account's latest verdict.

use crate::fixed::Fixed18;
use crate::hash::{keccak256, uint_word, Hash32};
use crate::ProofError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Most accounts a state may hold: a bound on memory (a tree of 10^7 leaves is 640 MB of nodes).
pub const MAX_ACCOUNTS: usize = 10_000_000;

/// Longest account id, bytes.
pub const MAX_ID_BYTES: usize = 256;

/// Account health, as `rtm2m-margin` reports it, with the `uint8` code the commitments carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Equity ≥ IM (code 0).
    Healthy,
    /// MM ≤ equity < IM (code 1).
    MarginCall,
    /// 0 < equity < MM (code 2).
    Liquidatable,
    /// Equity ≤ 0 (code 3).
    Bankrupt,
    /// The engine could not price the account (code 4).
    Unpriced,
}

impl AccountStatus {
    /// Every status, by code.
    pub const ALL: [AccountStatus; 5] = [
        AccountStatus::Healthy,
        AccountStatus::MarginCall,
        AccountStatus::Liquidatable,
        AccountStatus::Bankrupt,
        AccountStatus::Unpriced,
    ];

    /// The `uint8` code in the leaf.
    pub fn code(self) -> u8 {
        match self {
            AccountStatus::Healthy => 0,
            AccountStatus::MarginCall => 1,
            AccountStatus::Liquidatable => 2,
            AccountStatus::Bankrupt => 3,
            AccountStatus::Unpriced => 4,
        }
    }

    /// The status of a code, if it is one.
    pub fn from_code(code: u8) -> Option<AccountStatus> {
        AccountStatus::ALL.get(usize::from(code)).copied()
    }

    /// The `snake_case` name.
    pub fn name(self) -> &'static str {
        match self {
            AccountStatus::Healthy => "healthy",
            AccountStatus::MarginCall => "margin_call",
            AccountStatus::Liquidatable => "liquidatable",
            AccountStatus::Bankrupt => "bankrupt",
            AccountStatus::Unpriced => "unpriced",
        }
    }

    /// Reads a name or a code.
    pub fn parse(text: &str) -> Result<AccountStatus, String> {
        AccountStatus::ALL
            .into_iter()
            .find(|s| s.name() == text || s.code().to_string() == text)
            .ok_or_else(|| {
                format!("`{text}` is not a status (healthy, margin_call, liquidatable, bankrupt, unpriced or 0-4)")
            })
    }
}

/// One account's margin verdict at one margin cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    /// Account id (UTF-8, 1 to [`MAX_ID_BYTES`] bytes).
    pub id: String,
    /// Equity, USD.
    pub equity_usd: Fixed18,
    /// Initial margin requirement, USD.
    pub im_usd: Fixed18,
    /// Maintenance margin requirement, USD.
    pub mm_usd: Fixed18,
    /// Health.
    pub status: AccountStatus,
}

impl AccountState {
    /// The account's `bytes32` on-chain: keccak256 of the id's UTF-8 bytes.
    pub fn account_hash(&self) -> Hash32 {
        account_hash(&self.id)
    }

    /// `abi.encode(bytes32 account, int256 equity, int256 im, int256 mm, uint8 status)`: 5 words.
    pub fn abi_encode(&self) -> [u8; 160] {
        let mut out = [0u8; 160];
        out[0..32].copy_from_slice(&self.account_hash());
        out[32..64].copy_from_slice(&self.equity_usd.to_word());
        out[64..96].copy_from_slice(&self.im_usd.to_word());
        out[96..128].copy_from_slice(&self.mm_usd.to_word());
        out[128..160].copy_from_slice(&uint_word(u128::from(self.status.code())));
        out
    }

    /// The Merkle leaf: keccak256(keccak256(abi_encode)) (OpenZeppelin's StandardMerkleTree leaf).
    pub fn leaf(&self) -> Hash32 {
        crate::merkle::standard_leaf(&self.abi_encode())
    }

    /// What the venue owes the account, units of 10^-18 USD: its equity when positive, else 0 (a deficit
    /// is the venue's receivable, never netted against what it owes others).
    pub fn liability_units(&self) -> u128 {
        self.equity_usd.units().max(0).unsigned_abs()
    }
}

/// keccak256 of an account id's UTF-8 bytes.
pub fn account_hash(id: &str) -> Hash32 {
    keccak256(id.as_bytes())
}

/// Every account of one margin cycle, ids distinct.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MarginState {
    /// The accounts, in file order.
    pub accounts: Vec<AccountState>,
}

impl MarginState {
    /// A state from accounts; refuses none, too many, a bad id or a repeated one.
    pub fn new(accounts: Vec<AccountState>) -> Result<MarginState, ProofError> {
        if accounts.is_empty() {
            return Err(ProofError::EmptyState);
        }
        if accounts.len() > MAX_ACCOUNTS {
            return Err(ProofError::field(
                "accounts",
                format!("{} accounts, at most {MAX_ACCOUNTS}", accounts.len()),
            ));
        }
        let mut seen = HashSet::with_capacity(accounts.len());
        for a in &accounts {
            check_id(&a.id)?;
            if !seen.insert(a.id.as_str()) {
                return Err(ProofError::DuplicateAccount(a.id.clone()));
            }
        }
        Ok(MarginState { accounts })
    }

    /// Reads a state file's text (JSON document or JSON Lines; see the module doc).
    pub fn from_json(text: &str) -> Result<MarginState, ProofError> {
        let trimmed = text.trim_start();
        let document = if trimmed.starts_with('[') || trimmed.starts_with('{') {
            serde_json::from_str::<Value>(text).ok()
        } else {
            None
        };
        let accounts = match document {
            Some(Value::Array(items)) => parse_items(items.iter().enumerate(), "accounts")?,
            Some(Value::Object(map)) if map.contains_key("accounts") => match &map["accounts"] {
                Value::Array(items) => parse_items(items.iter().enumerate(), "accounts")?,
                _ => {
                    return Err(ProofError::field(
                        "accounts",
                        "must be an array of accounts",
                    ))
                }
            },
            _ => {
                let mut accounts: Vec<AccountState> = Vec::new();
                // Accounts read from the engine's `margin` lines: id → position, latest line wins.
                let mut latest: HashMap<String, usize> = HashMap::new();
                for (n, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let where_ = format!("line {}", n + 1);
                    let value: Value = serde_json::from_str(line)
                        .map_err(|e| ProofError::field(&where_, format!("not JSON: {e}")))?;
                    let from_engine = match value.get("type") {
                        None => false,
                        Some(Value::String(t)) if t == "margin" => true,
                        Some(Value::String(_)) => continue,
                        Some(other) => {
                            return Err(ProofError::field(
                                format!("{where_} type"),
                                format!("must be a string, found {other}"),
                            ))
                        }
                    };
                    let account = parse_account(&value, &where_)?;
                    if from_engine {
                        if let Some(&at) = latest.get(&account.id) {
                            accounts[at] = account;
                            continue;
                        }
                        latest.insert(account.id.clone(), accounts.len());
                    }
                    if accounts.len() >= MAX_ACCOUNTS {
                        return Err(ProofError::field(
                            "accounts",
                            format!("more than {MAX_ACCOUNTS} accounts"),
                        ));
                    }
                    accounts.push(account);
                }
                accounts
            }
        };
        MarginState::new(accounts)
    }
}

fn parse_items<'a>(
    items: impl Iterator<Item = (usize, &'a Value)>,
    what: &str,
) -> Result<Vec<AccountState>, ProofError> {
    items
        .map(|(i, v)| parse_account(v, &format!("{what}[{i}]")))
        .collect()
}

fn check_id(id: &str) -> Result<(), ProofError> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(ProofError::field(
            "id",
            format!(
                "`{id}` must be 1 to {MAX_ID_BYTES} bytes, found {}",
                id.len()
            ),
        ));
    }
    Ok(())
}

/// One account object; `where_` names it in errors (`line 3`, `accounts[2]`).
fn parse_account(value: &Value, where_: &str) -> Result<AccountState, ProofError> {
    let object = value
        .as_object()
        .ok_or_else(|| ProofError::field(where_, "an account must be a JSON object"))?;
    let id = match object.get("id").or_else(|| object.get("account")) {
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(ProofError::field(
                format!("{where_} id"),
                "must be a string",
            ))
        }
        None => return Err(ProofError::field(where_, "missing `id` (or `account`)")),
    };
    let at = format!("{where_} (account {id})");
    check_id(&id).map_err(|e| match e {
        ProofError::InvalidField { reason, .. } => {
            ProofError::field(format!("{where_} id"), reason)
        }
        other => other,
    })?;
    if let Some(error) = object.get("error") {
        return Err(ProofError::field(
            &at,
            format!("is an error record, not a margin verdict: {error}"),
        ));
    }
    let amount = |name: &str| -> Result<Fixed18, ProofError> {
        let field = format!("{at} {name}");
        match object.get(name) {
            None => Err(ProofError::field(field, "missing")),
            Some(Value::String(s)) => Fixed18::parse(s).map_err(|r| ProofError::field(field, r)),
            Some(Value::Number(n)) => {
                let parsed = if let Some(i) = n.as_i64() {
                    Fixed18::parse(&i.to_string())
                } else if let Some(u) = n.as_u64() {
                    Fixed18::parse(&u.to_string())
                } else {
                    n.as_f64()
                        .ok_or_else(|| format!("{n} is not a number"))
                        .and_then(Fixed18::from_f64)
                };
                parsed.map_err(|r| ProofError::field(field, r))
            }
            Some(other) => Err(ProofError::field(
                field,
                format!("must be a number or a decimal string, found {other}"),
            )),
        }
    };
    let status = match object.get("status") {
        None => return Err(ProofError::field(format!("{at} status"), "missing")),
        Some(Value::String(s)) => AccountStatus::parse(s),
        Some(Value::Number(n)) => AccountStatus::parse(&n.to_string()),
        Some(other) => Err(format!("must be a name or a code, found {other}")),
    }
    .map_err(|r| ProofError::field(format!("{at} status"), r))?;
    Ok(AccountState {
        equity_usd: amount("equity_usd")?,
        im_usd: amount("im_usd")?,
        mm_usd: amount("mm_usd")?,
        status,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_and_json_lines_read_the_same_accounts() {
        let document = r#"{"accounts": [
            {"id": "alice", "equity_usd": "1000.5", "im_usd": 200, "mm_usd": 100.25, "status": "healthy"},
            {"id": "bob", "equity_usd": -3, "im_usd": "10", "mm_usd": "5", "status": 3}
        ]}"#;
        let lines = concat!(
            r#"{"account":"alice","model":"rtm2m","equity_usd":1000.5,"im_usd":200.0,"mm_usd":100.25,"status":"healthy"}"#,
            "\n",
            r#"{"account":"bob","equity_usd":-3,"im_usd":10,"mm_usd":5,"status":"bankrupt"}"#,
            "\n"
        );
        let a = MarginState::from_json(document).unwrap();
        let b = MarginState::from_json(lines).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.accounts[0].equity_usd.units(),
            1_000_500_000_000_000_000_000
        );
        assert_eq!(a.accounts[0].mm_usd.units(), 100_250_000_000_000_000_000);
        assert_eq!(a.accounts[1].status, AccountStatus::Bankrupt);
        assert_eq!(a.accounts[1].liability_units(), 0);
        assert_eq!(
            a.accounts[0].liability_units(),
            1_000_500_000_000_000_000_000
        );
    }

    #[test]
    fn bad_accounts_are_refused_naming_the_field() {
        let cases = [
            (
                r#"[{"id":"a","equity_usd":"x","im_usd":1,"mm_usd":1,"status":0}]"#,
                "equity_usd",
            ),
            (
                r#"[{"id":"a","equity_usd":1,"mm_usd":1,"status":0}]"#,
                "im_usd",
            ),
            (
                r#"[{"id":"a","equity_usd":1,"im_usd":1,"mm_usd":1,"status":"sleepy"}]"#,
                "status",
            ),
            (
                r#"[{"equity_usd":1,"im_usd":1,"mm_usd":1,"status":0}]"#,
                "id",
            ),
            (
                r#"[{"id":"","equity_usd":1,"im_usd":1,"mm_usd":1,"status":0}]"#,
                "id",
            ),
            (
                r#"[{"id":"a","equity_usd":true,"im_usd":1,"mm_usd":1,"status":0}]"#,
                "equity_usd",
            ),
            (
                "{\"account\":\"a\",\"error\":\"no market\"}\n",
                "error record",
            ),
            ("not json\n", "line 1"),
            (r#"{"accounts": 3}"#, "accounts"),
        ];
        for (text, needle) in cases {
            let error = MarginState::from_json(text).unwrap_err().to_string();
            assert!(
                error.contains(needle),
                "{text}: `{error}` should mention {needle}"
            );
        }
        let twice = r#"[{"id":"a","equity_usd":1,"im_usd":1,"mm_usd":1,"status":0},
                        {"id":"a","equity_usd":2,"im_usd":1,"mm_usd":1,"status":0}]"#;
        assert_eq!(
            MarginState::from_json(twice).unwrap_err(),
            ProofError::DuplicateAccount("a".into())
        );
        assert_eq!(
            MarginState::from_json("[]").unwrap_err(),
            ProofError::EmptyState
        );
        assert_eq!(
            MarginState::from_json("").unwrap_err(),
            ProofError::EmptyState
        );
    }

    #[test]
    fn engine_output_stream_gives_each_accounts_latest_margin_verdict() {
        let stream = concat!(
            r#"{"type":"margin","v":1,"seq":0,"account":"a","status":"healthy","equity_usd":100.0,"im_usd":10.0,"mm_usd":5.0,"scenario_loss_usd":1.0}"#,
            "\n",
            r#"{"type":"mark","v":1,"seq":1,"underlying":"BTC"}"#,
            "\n",
            r#"{"type":"margin","v":1,"seq":0,"account":"b","status":"unpriced","equity_usd":0.0,"im_usd":0.0,"mm_usd":0.0,"scenario_loss_usd":0.0}"#,
            "\n",
            r#"{"type":"margin","v":1,"seq":2,"account":"a","status":"liquidatable","equity_usd":4.5,"im_usd":10.0,"mm_usd":5.0,"scenario_loss_usd":1.0}"#,
            "\n",
        );
        let state = MarginState::from_json(stream).unwrap();
        assert_eq!(state.accounts.len(), 2);
        assert_eq!(state.accounts[0].id, "a");
        assert_eq!(state.accounts[0].status, AccountStatus::Liquidatable);
        assert_eq!(state.accounts[0].equity_usd, Fixed18::parse("4.5").unwrap());
        assert_eq!(state.accounts[1].status, AccountStatus::Unpriced);
    }

    #[test]
    fn status_codes_match_names() {
        for s in AccountStatus::ALL {
            assert_eq!(AccountStatus::from_code(s.code()), Some(s));
            assert_eq!(AccountStatus::parse(s.name()), Ok(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                Value::String(s.name().into())
            );
        }
        assert_eq!(AccountStatus::from_code(5), None);
    }
}
