//! EIP-712 typed structured data hashing (https://eips.ethereum.org/EIPS/eip-712), generic enough to run
//! the specification's own `Mail` example, and specialised for the keeper's [`MarginAttestation`].
//!
//! digest = keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message)), hashStruct(s) =
//! keccak256(typeHash ‖ encodeData(s)), typeHash = keccak256(encodeType(type)); encodeType lists the primary
//! type then the struct types it references, sorted by name; encodeData encodes each member as one word:
//! atomic values ABI-encoded, `string` and `bytes` as keccak256 of their bytes, structs as their
//! hashStruct, arrays as keccak256 of their elements' encodings concatenated.

use crate::fixed::Fixed18;
use crate::hash::{address_word, keccak256, keccak256_concat, uint_word, Hash32};
use crate::ProofError;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Deepest nesting of struct types and arrays hashed: a bound on recursion for hostile type sets.
pub const MAX_DEPTH: usize = 32;

/// One member of a struct type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Member name.
    pub name: String,
    /// Its type: an atomic type (`uint256`, `int64`, `address`, `bool`, `bytes32`), `string`, `bytes`, a
    /// struct type's name, or any of these followed by `[]` or `[n]`.
    pub type_name: String,
}

impl Member {
    /// A member `type_name name`.
    pub fn new(type_name: &str, name: &str) -> Member {
        Member {
            name: name.to_string(),
            type_name: type_name.to_string(),
        }
    }
}

/// Struct types by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Types(pub BTreeMap<String, Vec<Member>>);

impl Types {
    /// Adds (or replaces) a struct type.
    pub fn with(mut self, name: &str, members: Vec<Member>) -> Types {
        self.0.insert(name.to_string(), members);
        self
    }

    fn members(&self, name: &str) -> Result<&[Member], ProofError> {
        self.0
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| ProofError::field("typed data", format!("no struct type `{name}`")))
    }

    /// encodeType: `Name(type member,…)` then each referenced struct type, sorted by name.
    pub fn encode_type(&self, primary: &str) -> Result<String, ProofError> {
        let mut referenced = BTreeSet::new();
        self.collect_references(primary, &mut referenced, 0)?;
        referenced.remove(primary);
        let mut out = self.encode_one(primary)?;
        for name in referenced {
            out.push_str(&self.encode_one(&name)?);
        }
        Ok(out)
    }

    /// typeHash = keccak256(encodeType).
    pub fn type_hash(&self, primary: &str) -> Result<Hash32, ProofError> {
        Ok(keccak256(self.encode_type(primary)?.as_bytes()))
    }

    fn encode_one(&self, name: &str) -> Result<String, ProofError> {
        let members: Vec<String> = self
            .members(name)?
            .iter()
            .map(|m| format!("{} {}", m.type_name, m.name))
            .collect();
        Ok(format!("{name}({})", members.join(",")))
    }

    fn collect_references(
        &self,
        name: &str,
        seen: &mut BTreeSet<String>,
        depth: usize,
    ) -> Result<(), ProofError> {
        if depth > MAX_DEPTH {
            return Err(ProofError::field(
                "typed data",
                format!("types nest deeper than {MAX_DEPTH}"),
            ));
        }
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        for m in self.members(name)? {
            let base = base_type(&m.type_name);
            if self.0.contains_key(base) {
                self.collect_references(base, seen, depth + 1)?;
            }
        }
        Ok(())
    }

    /// hashStruct(value) for struct type `name`.
    pub fn hash_struct(&self, name: &str, value: &Value) -> Result<Hash32, ProofError> {
        self.hash_struct_at(name, value, 0)
    }

    fn hash_struct_at(
        &self,
        name: &str,
        value: &Value,
        depth: usize,
    ) -> Result<Hash32, ProofError> {
        let Value::Struct(fields) = value else {
            return Err(ProofError::field(name, "expects a struct value"));
        };
        let mut encoded = self.type_hash(name)?.to_vec();
        for m in self.members(name)? {
            let field = fields
                .get(&m.name)
                .ok_or_else(|| ProofError::field(format!("{name}.{}", m.name), "missing"))?;
            let at = format!("{name}.{}", m.name);
            encoded.extend_from_slice(&self.encode_value(&m.type_name, field, &at, depth + 1)?);
        }
        Ok(keccak256(&encoded))
    }

    fn encode_value(
        &self,
        type_name: &str,
        value: &Value,
        at: &str,
        depth: usize,
    ) -> Result<Hash32, ProofError> {
        if depth > MAX_DEPTH {
            return Err(ProofError::field(
                at,
                format!("nests deeper than {MAX_DEPTH}"),
            ));
        }
        let wrong = |expected: &str| {
            ProofError::field(
                at,
                format!("type `{type_name}` expects {expected}, found {value:?}"),
            )
        };
        if let Some(element) = array_element_type(type_name) {
            let Value::Array(items) = value else {
                return Err(wrong("an array"));
            };
            if let Some(n) = fixed_array_len(type_name) {
                if n != items.len() {
                    return Err(ProofError::field(
                        at,
                        format!("expects {n} elements, found {}", items.len()),
                    ));
                }
            }
            let mut words = Vec::with_capacity(32 * items.len());
            for (i, item) in items.iter().enumerate() {
                words.extend_from_slice(&self.encode_value(
                    element,
                    item,
                    &format!("{at}[{i}]"),
                    depth + 1,
                )?);
            }
            return Ok(keccak256(&words));
        }
        if self.0.contains_key(type_name) {
            return self.hash_struct_at(type_name, value, depth);
        }
        match (type_name, value) {
            ("string", Value::String(s)) => Ok(keccak256(s.as_bytes())),
            ("string", _) => Err(wrong("a string")),
            ("bytes", Value::Bytes(b)) => Ok(keccak256(b)),
            ("bytes", _) => Err(wrong("bytes")),
            ("bool", Value::Bool(b)) => Ok(uint_word(u128::from(*b))),
            ("bool", _) => Err(wrong("a bool")),
            ("address", Value::Address(a)) => Ok(address_word(a)),
            ("address", _) => Err(wrong("an address")),
            _ => {
                if let Some(bits) = int_bits(type_name, "uint") {
                    let Value::Uint(word) = value else {
                        return Err(wrong("an unsigned integer"));
                    };
                    let free_bytes = (256 - bits) / 8;
                    if word[..free_bytes].iter().any(|&b| b != 0) {
                        return Err(ProofError::field(at, format!("does not fit {type_name}")));
                    }
                    Ok(*word)
                } else if let Some(bits) = int_bits(type_name, "int") {
                    let Value::Int(v) = value else {
                        return Err(wrong("a signed integer"));
                    };
                    if bits < 128 && (*v >= 1i128 << (bits - 1) || *v < -(1i128 << (bits - 1))) {
                        return Err(ProofError::field(
                            at,
                            format!("{v} does not fit {type_name}"),
                        ));
                    }
                    Ok(Fixed18::from_units(*v).to_word())
                } else if let Some(n) = fixed_bytes_len(type_name) {
                    let Value::FixedBytes(b) = value else {
                        return Err(wrong("fixed bytes"));
                    };
                    if b.len() != n {
                        return Err(ProofError::field(
                            at,
                            format!("expects {n} bytes, found {}", b.len()),
                        ));
                    }
                    let mut word = [0u8; 32];
                    word[..n].copy_from_slice(b);
                    Ok(word)
                } else {
                    Err(ProofError::field(at, format!("unknown type `{type_name}`")))
                }
            }
        }
    }
}

/// A value of typed data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `uintN`: the 256-bit big-endian word.
    Uint(Hash32),
    /// `intN` (N ≤ 128 exactly; wider types hold any `i128`).
    Int(i128),
    /// `address`.
    Address([u8; 20]),
    /// `bool`.
    Bool(bool),
    /// `bytes1` … `bytes32`.
    FixedBytes(Vec<u8>),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// `string`.
    String(String),
    /// A struct: member name → value.
    Struct(BTreeMap<String, Value>),
    /// `T[]` or `T[n]`.
    Array(Vec<Value>),
}

impl Value {
    /// A `uintN` from a `u128`.
    pub fn uint(value: u128) -> Value {
        Value::Uint(uint_word(value))
    }

    /// A struct from (member, value) pairs.
    pub fn structure(fields: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
        Value::Struct(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }
}

fn base_type(type_name: &str) -> &str {
    type_name.split('[').next().unwrap_or(type_name)
}

fn array_element_type(type_name: &str) -> Option<&str> {
    if !type_name.ends_with(']') {
        return None;
    }
    type_name.rfind('[').map(|at| &type_name[..at])
}

fn fixed_array_len(type_name: &str) -> Option<usize> {
    let at = type_name.rfind('[')?;
    type_name[at + 1..type_name.len() - 1].parse().ok()
}

/// N of `uintN` / `intN` (a multiple of 8 in 8..=256; bare `uint` is `uint256`).
fn int_bits(type_name: &str, prefix: &str) -> Option<usize> {
    let digits = type_name.strip_prefix(prefix)?;
    if digits.is_empty() {
        return Some(256);
    }
    let bits: usize = digits.parse().ok()?;
    (bits.is_multiple_of(8) && (8..=256).contains(&bits)).then_some(bits)
}

fn fixed_bytes_len(type_name: &str) -> Option<usize> {
    let n: usize = type_name.strip_prefix("bytes")?.parse().ok()?;
    (1..=32).contains(&n).then_some(n)
}

/// The final digest of typed data: keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message)).
pub fn typed_data_digest(domain_separator: &Hash32, struct_hash: &Hash32) -> Hash32 {
    keccak256_concat(&[&[0x19, 0x01], domain_separator, struct_hash])
}

/// An EIP-712 domain with name, version, chain id and verifying contract (in that order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Domain {
    /// Name of the signing domain.
    pub name: String,
    /// Version of the signing format.
    pub version: String,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The contract that verifies the signature.
    #[serde(serialize_with = "serialize_address")]
    pub verifying_contract: [u8; 20],
}

fn serialize_address<S: serde::Serializer>(a: &[u8; 20], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::hash::to_hex(a))
}

/// `EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)`.
pub const DOMAIN_TYPE: &str =
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";

impl Domain {
    /// rtm2m's domain: name "rtm2m", version "1".
    pub fn rtm2m(chain_id: u64, verifying_contract: [u8; 20]) -> Domain {
        Domain {
            name: "rtm2m".into(),
            version: "1".into(),
            chain_id,
            verifying_contract,
        }
    }

    /// The domain separator: hashStruct of the domain.
    pub fn separator(&self) -> Hash32 {
        keccak256_concat(&[
            &keccak256(DOMAIN_TYPE.as_bytes()),
            &keccak256(self.name.as_bytes()),
            &keccak256(self.version.as_bytes()),
            &uint_word(u128::from(self.chain_id)),
            &address_word(&self.verifying_contract),
        ])
    }

    /// The domain as generic typed data (type `EIP712Domain` in [`Domain::types`]).
    pub fn to_value(&self) -> Value {
        Value::structure([
            ("name", Value::String(self.name.clone())),
            ("version", Value::String(self.version.clone())),
            ("chainId", Value::uint(u128::from(self.chain_id))),
            ("verifyingContract", Value::Address(self.verifying_contract)),
        ])
    }

    /// The `EIP712Domain` struct type.
    pub fn types() -> Types {
        Types::default().with(
            "EIP712Domain",
            vec![
                Member::new("string", "name"),
                Member::new("string", "version"),
                Member::new("uint256", "chainId"),
                Member::new("address", "verifyingContract"),
            ],
        )
    }
}

/// A keeper's verdict on one account at one margin cycle: what it signs and `LiquidationGate` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MarginAttestation {
    /// keccak256 of the account id.
    #[serde(serialize_with = "crate::serde_hex::hash")]
    pub account: Hash32,
    /// Equity, USD (int256 with 18 decimals on-chain).
    #[serde(serialize_with = "serialize_fixed")]
    pub equity_usd: Fixed18,
    /// Maintenance margin, USD (int256 with 18 decimals on-chain).
    #[serde(serialize_with = "serialize_fixed")]
    pub mm_usd: Fixed18,
    /// keccak256 of the oracle price set the verdict used ([`oracle_price_set_hash`]).
    #[serde(serialize_with = "crate::serde_hex::hash")]
    pub oracle_price_set_hash: Hash32,
    /// When the verdict was reached, seconds since the Unix epoch.
    pub timestamp_s: u64,
    /// Whether the account may be liquidated.
    pub liquidatable: bool,
    /// Strictly increasing per account: the contract refuses any sequence not above the last accepted.
    pub sequence: u64,
}

fn serialize_fixed<S: serde::Serializer>(v: &Fixed18, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

impl MarginAttestation {
    /// encodeType of the attestation.
    pub const TYPE: &'static str = "MarginAttestation(bytes32 account,int256 equity,int256 maintenanceMargin,bytes32 oraclePriceSetHash,uint64 timestamp,bool liquidatable,uint64 sequence)";

    /// The struct type, for the generic hashing.
    pub fn types() -> Types {
        Types::default().with(
            "MarginAttestation",
            vec![
                Member::new("bytes32", "account"),
                Member::new("int256", "equity"),
                Member::new("int256", "maintenanceMargin"),
                Member::new("bytes32", "oraclePriceSetHash"),
                Member::new("uint64", "timestamp"),
                Member::new("bool", "liquidatable"),
                Member::new("uint64", "sequence"),
            ],
        )
    }

    /// The attestation as generic typed data.
    pub fn to_value(&self) -> Value {
        Value::structure([
            ("account", Value::FixedBytes(self.account.to_vec())),
            ("equity", Value::Int(self.equity_usd.units())),
            ("maintenanceMargin", Value::Int(self.mm_usd.units())),
            (
                "oraclePriceSetHash",
                Value::FixedBytes(self.oracle_price_set_hash.to_vec()),
            ),
            ("timestamp", Value::uint(u128::from(self.timestamp_s))),
            ("liquidatable", Value::Bool(self.liquidatable)),
            ("sequence", Value::uint(u128::from(self.sequence))),
        ])
    }

    /// hashStruct: keccak256(typeHash ‖ the seven words).
    pub fn hash_struct(&self) -> Hash32 {
        keccak256_concat(&[
            &keccak256(Self::TYPE.as_bytes()),
            &self.account,
            &self.equity_usd.to_word(),
            &self.mm_usd.to_word(),
            &self.oracle_price_set_hash,
            &uint_word(u128::from(self.timestamp_s)),
            &uint_word(u128::from(self.liquidatable)),
            &uint_word(u128::from(self.sequence)),
        ])
    }

    /// The digest a keeper signs in `domain`.
    pub fn digest(&self, domain: &Domain) -> Hash32 {
        typed_data_digest(&domain.separator(), &self.hash_struct())
    }
}

/// Most prices in a price set: a bound on work.
pub const MAX_PRICE_SET: usize = 100_000;

/// keccak256 of an oracle price set: the entries sorted by feed name, each encoded as keccak256(feed) ‖
/// int256 price (18 decimals), concatenated. Feeds must be distinct and non-empty.
pub fn oracle_price_set_hash(prices: &[(&str, Fixed18)]) -> Result<Hash32, ProofError> {
    if prices.len() > MAX_PRICE_SET {
        return Err(ProofError::field(
            "prices",
            format!("{} prices, at most {MAX_PRICE_SET}", prices.len()),
        ));
    }
    let mut sorted: Vec<&(&str, Fixed18)> = prices.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut bytes = Vec::with_capacity(64 * sorted.len());
    for (i, (feed, price)) in sorted.iter().enumerate() {
        if feed.is_empty() {
            return Err(ProofError::field("prices feed", "is empty"));
        }
        if i > 0 && sorted[i - 1].0 == *feed {
            return Err(ProofError::field(
                format!("prices feed {feed}"),
                "appears twice",
            ));
        }
        bytes.extend_from_slice(&keccak256(feed.as_bytes()));
        bytes.extend_from_slice(&price.to_word());
    }
    Ok(keccak256(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{parse_hex_array, to_hex};

    fn address(text: &str) -> [u8; 20] {
        parse_hex_array(text).unwrap()
    }

    /// The EIP-712 specification's example (its "Example" section and assets/eip-712/Example.js).
    fn mail() -> (Types, Value, Domain) {
        let types = Domain::types()
            .with(
                "Person",
                vec![
                    Member::new("string", "name"),
                    Member::new("address", "wallet"),
                ],
            )
            .with(
                "Mail",
                vec![
                    Member::new("Person", "from"),
                    Member::new("Person", "to"),
                    Member::new("string", "contents"),
                ],
            );
        let person = |name: &str, wallet: &str| {
            Value::structure([
                ("name", Value::String(name.into())),
                ("wallet", Value::Address(address(wallet))),
            ])
        };
        let message = Value::structure([
            (
                "from",
                person("Cow", "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"),
            ),
            (
                "to",
                person("Bob", "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"),
            ),
            ("contents", Value::String("Hello, Bob!".into())),
        ]);
        let domain = Domain {
            name: "Ether Mail".into(),
            version: "1".into(),
            chain_id: 1,
            verifying_contract: address("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"),
        };
        (types, message, domain)
    }

    #[test]
    fn spec_mail_example_hashes_to_the_published_values() {
        let (types, message, domain) = mail();
        assert_eq!(
            types.encode_type("Mail").unwrap(),
            "Mail(Person from,Person to,string contents)Person(string name,address wallet)"
        );
        // Published values: EIP-712 Example.js, as eth-sig-util's and geth's tests check them.
        assert_eq!(
            to_hex(&types.type_hash("Mail").unwrap()),
            "0xa0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2"
        );
        let Value::Struct(fields) = &message else {
            unreachable!()
        };
        assert_eq!(
            to_hex(&types.hash_struct("Person", &fields["from"]).unwrap()),
            "0xfc71e5fa27ff56c350aa531bc129ebdf613b772b6604664f5d8dbe21b85eb0c8"
        );
        let mail_hash = types.hash_struct("Mail", &message).unwrap();
        assert_eq!(
            to_hex(&mail_hash),
            "0xc52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e"
        );
        let separator = types
            .hash_struct("EIP712Domain", &domain.to_value())
            .unwrap();
        assert_eq!(
            to_hex(&separator),
            "0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"
        );
        assert_eq!(domain.separator(), separator);
        assert_eq!(
            to_hex(&typed_data_digest(&separator, &mail_hash)),
            "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
        );
    }

    #[test]
    fn attestation_fast_hash_equals_generic_hash() {
        let attestation = MarginAttestation {
            account: keccak256(b"acc-7"),
            equity_usd: Fixed18::parse("-1234.5").unwrap(),
            mm_usd: Fixed18::parse("2000").unwrap(),
            oracle_price_set_hash: keccak256(b"prices"),
            timestamp_s: 1_700_000_000,
            liquidatable: true,
            sequence: 42,
        };
        let types = MarginAttestation::types();
        assert_eq!(
            types.encode_type("MarginAttestation").unwrap(),
            MarginAttestation::TYPE
        );
        assert_eq!(
            types
                .hash_struct("MarginAttestation", &attestation.to_value())
                .unwrap(),
            attestation.hash_struct()
        );
    }

    #[test]
    fn ill_typed_values_are_refused_naming_the_member() {
        let types = MarginAttestation::types();
        let mut value = MarginAttestation {
            account: [0; 32],
            equity_usd: Fixed18::ZERO,
            mm_usd: Fixed18::ZERO,
            oracle_price_set_hash: [0; 32],
            timestamp_s: 0,
            liquidatable: false,
            sequence: 0,
        }
        .to_value();
        let Value::Struct(fields) = &mut value else {
            unreachable!()
        };
        fields.insert("timestamp".into(), Value::uint(1 << 64));
        let error = types
            .hash_struct("MarginAttestation", &value)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("MarginAttestation.timestamp") && error.contains("uint64"),
            "{error}"
        );
        let Value::Struct(fields) = &mut value else {
            unreachable!()
        };
        fields.remove("timestamp");
        let error = types
            .hash_struct("MarginAttestation", &value)
            .unwrap_err()
            .to_string();
        assert!(error.contains("timestamp: missing"), "{error}");
    }

    #[test]
    fn price_set_hash_ignores_order_and_refuses_repeats() {
        let btc = ("BTC-USD", Fixed18::parse("65000.5").unwrap());
        let eth = ("ETH-USD", Fixed18::parse("3000").unwrap());
        assert_eq!(
            oracle_price_set_hash(&[btc, eth]),
            oracle_price_set_hash(&[eth, btc])
        );
        // Hand layout: keccak256(keccak256("BTC-USD") ‖ word(price)).
        let mut bytes = keccak256(b"BTC-USD").to_vec();
        bytes.extend_from_slice(&btc.1.to_word());
        assert_eq!(oracle_price_set_hash(&[btc]).unwrap(), keccak256(&bytes));
        assert!(oracle_price_set_hash(&[btc, btc]).is_err());
    }
}
