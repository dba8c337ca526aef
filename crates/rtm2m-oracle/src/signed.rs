//! Signed oracle messages: who may publish, and whether a given [`OracleUpdate`] is to be believed.
//!
//! A [`Verifier`] holds a registry of publishers (identifier → key and scheme), the last sequence number
//! accepted per publisher and feed, and the age limits. [`Verifier::verify`] accepts an update or rejects it
//! with one [`RejectReason`] (stable `snake_case` codes), checked in this order:
//!
//! 1. `malformed`: price not finite and positive, confidence not finite and ≥ 0, a signature of the wrong
//!    length for its scheme, an empty or over-long publisher or feed;
//! 2. `unknown_publisher`: the publisher is not registered;
//! 3. `bad_signature`: the scheme is not the publisher's, or the signature does not verify over
//!    [`OracleUpdate::signing_payload`] (Ed25519: RFC 8032 with `verify_strict`; secp256k1: the signer
//!    recovered from keccak256 of the payload, Ethereum style, is not the registered address, or `s` is in
//!    the upper half of the order, which EIP-2 forbids);
//! 4. `future_timestamp`: `ts` is more than `max_future_ns` after `now`;
//! 5. `stale`: `ts` is more than `max_age_ns` before `now`;
//! 6. `replay`: the sequence equals the last accepted for this publisher and feed;
//! 7. `non_monotonic`: the sequence is below it.
//!
//! The signature is checked before time and sequence, so a forged message is always `bad_signature`,
//! and `replay` means a genuine message seen twice. `now` is the caller's event time (for instance the
//! latest market event's `ts`), never a clock read here. The signed bytes are documented in
//! `docs/oracle-messages.md`.

use crate::OracleError;
use rtm2m_market::event::{OracleUpdate, SignatureScheme};
use rtm2m_market::Timestamp;
use serde::Serialize;
use sha3::{Digest, Keccak256};
use std::collections::HashMap;
use std::fmt;

/// The most (publisher, feed) sequence counters a verifier keeps: a bound on memory.
pub const MAX_TRACKED_FEEDS: usize = 100_000;

/// Longest publisher identifier, bytes (as the event format allows).
pub const MAX_PUBLISHER_BYTES: usize = 128;

/// Longest feed name, bytes (as the event format allows).
pub const MAX_FEED_BYTES: usize = 64;

/// A publisher's verification key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublisherKey {
    /// An Ed25519 public key (RFC 8032).
    Ed25519(ed25519_dalek::VerifyingKey),
    /// A secp256k1 signer, known by its Ethereum address: the last 20 bytes of keccak256 of the
    /// uncompressed public key without its `0x04` prefix.
    Secp256k1 {
        /// The 20-byte address.
        address: [u8; 20],
    },
}

impl PublisherKey {
    /// An Ed25519 key from its 32 bytes; rejects bytes that are not a curve point.
    pub fn ed25519(public_key: &[u8]) -> Result<PublisherKey, OracleError> {
        let bytes: [u8; 32] = public_key.try_into().map_err(|_| {
            OracleError::key(
                "key",
                format!(
                    "an Ed25519 public key is 32 bytes, found {}",
                    public_key.len()
                ),
            )
        })?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(PublisherKey::Ed25519)
            .map_err(|_| OracleError::key("key", "is not a valid Ed25519 public key"))
    }

    /// A secp256k1 signer from its 20-byte Ethereum address.
    pub fn secp256k1_address(address: &[u8]) -> Result<PublisherKey, OracleError> {
        let address: [u8; 20] = address.try_into().map_err(|_| {
            OracleError::key(
                "key",
                format!("an Ethereum address is 20 bytes, found {}", address.len()),
            )
        })?;
        Ok(PublisherKey::Secp256k1 { address })
    }

    /// A secp256k1 signer from its SEC1 public key (33 bytes compressed or 65 uncompressed).
    pub fn secp256k1_public_key(sec1: &[u8]) -> Result<PublisherKey, OracleError> {
        let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(sec1).map_err(|_| {
            OracleError::key(
                "key",
                "is not a SEC1 secp256k1 public key (33 or 65 bytes, on the curve)",
            )
        })?;
        Ok(PublisherKey::Secp256k1 {
            address: eth_address(&key),
        })
    }

    /// Reads a key written in hex (`0x` optional): for Ed25519 the 32-byte public key; for secp256k1 a
    /// 20-byte address or a 33- or 65-byte SEC1 public key.
    pub fn from_hex(scheme: SignatureScheme, text: &str) -> Result<PublisherKey, OracleError> {
        let bytes = parse_hex(text).map_err(|reason| OracleError::key("key", reason))?;
        match scheme {
            SignatureScheme::Ed25519 => PublisherKey::ed25519(&bytes),
            SignatureScheme::Secp256k1 if bytes.len() == 20 => {
                PublisherKey::secp256k1_address(&bytes)
            }
            SignatureScheme::Secp256k1 => PublisherKey::secp256k1_public_key(&bytes),
        }
    }

    /// The scheme this key verifies.
    pub fn scheme(&self) -> SignatureScheme {
        match self {
            PublisherKey::Ed25519(_) => SignatureScheme::Ed25519,
            PublisherKey::Secp256k1 { .. } => SignatureScheme::Secp256k1,
        }
    }
}

/// Keccak-256 as Ethereum uses it (the original Keccak padding, not SHA3-256's).
pub fn keccak256(bytes: &[u8]) -> [u8; 32] {
    Keccak256::digest(bytes).into()
}

/// The Ethereum address of a secp256k1 public key: keccak256 of the 64 bytes `x || y`, last 20 bytes
/// (Ethereum yellow paper, appendix F, `A(p)`).
pub fn eth_address(key: &k256::ecdsa::VerifyingKey) -> [u8; 20] {
    let point = key.to_encoded_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    let mut address = [0u8; 20];
    address.copy_from_slice(&hash[12..]);
    address
}

/// The Ethereum address that signed the 32-byte `prehash` with `signature` = `r || s || v` (65 bytes,
/// `v` in {0, 1} or {27, 28}), as `ecrecover` computes it; an `s` in the upper half of the curve order is
/// refused (EIP-2). The error says what is wrong.
pub fn recover_eth_address(prehash: &[u8; 32], signature: &[u8]) -> Result<[u8; 20], String> {
    let [rs @ .., v] = signature else {
        return Err("empty signature".into());
    };
    if rs.len() != 64 {
        return Err(format!(
            "a secp256k1 signature is 65 bytes r || s || v, found {}",
            signature.len()
        ));
    }
    let parity = match v {
        0 | 1 => *v,
        27 | 28 => v - 27,
        _ => return Err(format!("v = {v} is not 0, 1, 27 or 28")),
    };
    let sig = k256::ecdsa::Signature::from_slice(rs)
        .map_err(|_| "r or s is zero or not below the curve order".to_string())?;
    if sig.normalize_s().is_some() {
        return Err("s is in the upper half of the curve order (EIP-2 forbids it)".into());
    }
    let recovery_id = k256::ecdsa::RecoveryId::from_byte(parity).expect("parity is 0 or 1");
    let key = k256::ecdsa::VerifyingKey::recover_from_prehash(prehash, &sig, recovery_id)
        .map_err(|_| "no public key recovers from this signature".to_string())?;
    Ok(eth_address(&key))
}

/// Reads hex digits (either case, `0x` prefix optional) into bytes.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if !digits.len().is_multiple_of(2) {
        return Err(format!(
            "has {} hex digits; bytes need an even count",
            digits.len()
        ));
    }
    let value = |c: u8| -> Result<u8, String> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!("`{}` is not a hex digit", char::from(c))),
        }
    };
    digits
        .as_bytes()
        .chunks(2)
        .map(|pair| Ok(value(pair[0])? << 4 | value(pair[1])?))
        .collect()
}

/// Why an oracle update was rejected. The codes (`snake_case`) are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// A field is out of range or the signature has the wrong length.
    Malformed,
    /// The publisher is not in the registry.
    UnknownPublisher,
    /// The signature does not verify with the publisher's key (or names another scheme).
    BadSignature,
    /// The update is older than the maximum age.
    Stale,
    /// The update is stamped further in the future than the allowed skew.
    FutureTimestamp,
    /// The sequence number equals the last one accepted for this publisher and feed.
    Replay,
    /// The sequence number is below the last one accepted for this publisher and feed.
    NonMonotonic,
}

impl RejectReason {
    /// The stable code: `malformed`, `unknown_publisher`, `bad_signature`, `stale`, `future_timestamp`,
    /// `replay`, `non_monotonic`.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::UnknownPublisher => "unknown_publisher",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::Stale => "stale",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::Replay => "replay",
            RejectReason::NonMonotonic => "non_monotonic",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A rejected update: the reason code and the particulars. Displays as `stale: ts ... is 61 s before ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    /// The reason code.
    pub reason: RejectReason,
    /// What exactly, in words.
    pub detail: String,
}

fn reject<T>(reason: RejectReason, detail: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection {
        reason,
        detail: detail.into(),
    })
}

/// Age limits of a [`Verifier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifierConfig {
    /// An update stamped more than this before `now` is `stale`, nanoseconds (default 60 s).
    pub max_age_ns: i64,
    /// An update stamped more than this after `now` is `future_timestamp`, nanoseconds (default 5 s: the
    /// skew allowed between a publisher's clock and the event time).
    pub max_future_ns: i64,
}

impl Default for VerifierConfig {
    fn default() -> VerifierConfig {
        VerifierConfig {
            max_age_ns: 60_000_000_000,
            max_future_ns: 5_000_000_000,
        }
    }
}

/// Verifies oracle updates against a registry of publishers, and remembers the sequences accepted.
#[derive(Debug, Clone)]
pub struct Verifier {
    config: VerifierConfig,
    publishers: HashMap<String, PublisherKey>,
    last_sequence: HashMap<(String, String), u64>,
}

impl Verifier {
    /// An empty registry with `config`; negative limits are rejected by name.
    pub fn new(config: VerifierConfig) -> Result<Verifier, OracleError> {
        if config.max_age_ns <= 0 {
            return Err(OracleError::config(
                "max_age_ns",
                format!("must be > 0, found {}", config.max_age_ns),
            ));
        }
        if config.max_future_ns < 0 {
            return Err(OracleError::config(
                "max_future_ns",
                format!("must be ≥ 0, found {}", config.max_future_ns),
            ));
        }
        Ok(Verifier {
            config,
            publishers: HashMap::new(),
            last_sequence: HashMap::new(),
        })
    }

    /// Registers `publisher` with `key`. A publisher registered twice is an error: a key is replaced only
    /// deliberately, with [`Verifier::remove`] first.
    pub fn register(&mut self, publisher: &str, key: PublisherKey) -> Result<(), OracleError> {
        if publisher.is_empty() || publisher.len() > MAX_PUBLISHER_BYTES {
            return Err(OracleError::key(
                "publisher",
                format!(
                    "must be 1 to {MAX_PUBLISHER_BYTES} bytes, found {}",
                    publisher.len()
                ),
            ));
        }
        if self.publishers.contains_key(publisher) {
            return Err(OracleError::key(
                "publisher",
                format!("`{publisher}` is already registered"),
            ));
        }
        self.publishers.insert(publisher.to_owned(), key);
        Ok(())
    }

    /// Removes `publisher` (and forgets its sequences); returns its key if it was registered.
    pub fn remove(&mut self, publisher: &str) -> Option<PublisherKey> {
        self.last_sequence.retain(|(p, _), _| p != publisher);
        self.publishers.remove(publisher)
    }

    /// The last sequence accepted from `publisher` for `feed`.
    pub fn last_sequence(&self, publisher: &str, feed: &str) -> Option<u64> {
        self.last_sequence
            .get(&(publisher.to_owned(), feed.to_owned()))
            .copied()
    }

    /// Every check of [`Verifier::verify`], without recording the sequence.
    pub fn check(&self, update: &OracleUpdate, now: Timestamp) -> Result<(), Rejection> {
        check_fields(update)?;
        let Some(key) = self.publishers.get(&update.publisher) else {
            return reject(
                RejectReason::UnknownPublisher,
                format!("`{}` is not a registered publisher", update.publisher),
            );
        };
        check_signature(key, update)?;
        let (ts, now_ns) = (update.ts.unix_nanos(), now.unix_nanos());
        let ahead_ns = i128::from(ts) - i128::from(now_ns);
        if ahead_ns > i128::from(self.config.max_future_ns) {
            return reject(
                RejectReason::FutureTimestamp,
                format!(
                    "ts {} is {:.3} s after now {now}; at most {:.3} s allowed",
                    update.ts,
                    ahead_ns as f64 / 1e9,
                    self.config.max_future_ns as f64 / 1e9
                ),
            );
        }
        if -ahead_ns > i128::from(self.config.max_age_ns) {
            return reject(
                RejectReason::Stale,
                format!(
                    "ts {} is {:.3} s before now {now}; at most {:.3} s allowed",
                    update.ts,
                    -ahead_ns as f64 / 1e9,
                    self.config.max_age_ns as f64 / 1e9
                ),
            );
        }
        let key = (update.publisher.clone(), update.feed.clone());
        match self.last_sequence.get(&key) {
            Some(&last) if update.sequence == last => reject(
                RejectReason::Replay,
                format!(
                    "sequence {} of `{}` for `{}` was already accepted",
                    update.sequence, update.publisher, update.feed
                ),
            ),
            Some(&last) if update.sequence < last => reject(
                RejectReason::NonMonotonic,
                format!(
                    "sequence {} of `{}` for `{}` is below the last accepted, {last}",
                    update.sequence, update.publisher, update.feed
                ),
            ),
            None if self.last_sequence.len() >= MAX_TRACKED_FEEDS => reject(
                RejectReason::Malformed,
                format!(
                    "already tracking {MAX_TRACKED_FEEDS} feeds; `{}` is one too many",
                    update.feed
                ),
            ),
            _ => Ok(()),
        }
    }

    /// Accepts `update` at event time `now`, recording its sequence, or says why it is rejected (the
    /// state is then unchanged).
    pub fn verify(&mut self, update: &OracleUpdate, now: Timestamp) -> Result<(), Rejection> {
        self.check(update, now)?;
        self.last_sequence.insert(
            (update.publisher.clone(), update.feed.clone()),
            update.sequence,
        );
        Ok(())
    }
}

fn check_fields(update: &OracleUpdate) -> Result<(), Rejection> {
    let bad = |detail: String| reject(RejectReason::Malformed, detail);
    if update.publisher.is_empty() || update.publisher.len() > MAX_PUBLISHER_BYTES {
        return bad(format!(
            "publisher: must be 1 to {MAX_PUBLISHER_BYTES} bytes, found {}",
            update.publisher.len()
        ));
    }
    if update.feed.is_empty() || update.feed.len() > MAX_FEED_BYTES {
        return bad(format!(
            "feed: must be 1 to {MAX_FEED_BYTES} bytes, found {}",
            update.feed.len()
        ));
    }
    if !(update.price.is_finite() && update.price > 0.0) {
        return bad(format!(
            "price: must be a finite number > 0, found {}",
            update.price
        ));
    }
    if !(update.confidence.is_finite() && update.confidence >= 0.0) {
        return bad(format!(
            "confidence: must be a finite number ≥ 0, found {}",
            update.confidence
        ));
    }
    let expected = update.scheme.signature_len();
    if update.signature.len() != expected {
        return bad(format!(
            "signature: a {:?} signature is {expected} bytes, found {}",
            update.scheme,
            update.signature.len()
        ));
    }
    Ok(())
}

fn check_signature(key: &PublisherKey, update: &OracleUpdate) -> Result<(), Rejection> {
    if key.scheme() != update.scheme {
        return reject(
            RejectReason::BadSignature,
            format!(
                "signed with {:?} but `{}` is registered with a {:?} key",
                update.scheme,
                update.publisher,
                key.scheme()
            ),
        );
    }
    let payload = update.signing_payload();
    match key {
        PublisherKey::Ed25519(public) => {
            let bytes: [u8; 64] = update
                .signature
                .as_slice()
                .try_into()
                .expect("length checked against the scheme");
            let signature = ed25519_dalek::Signature::from_bytes(&bytes);
            public
                .verify_strict(&payload, &signature)
                .map_err(|_| Rejection {
                    reason: RejectReason::BadSignature,
                    detail: "the Ed25519 signature does not verify over the payload".into(),
                })
        }
        PublisherKey::Secp256k1 { address } => {
            let signer =
                recover_eth_address(&keccak256(&payload), &update.signature).map_err(|why| {
                    Rejection {
                        reason: RejectReason::BadSignature,
                        detail: why,
                    }
                })?;
            if signer == *address {
                Ok(())
            } else {
                reject(
                    RejectReason::BadSignature,
                    format!(
                        "signed by 0x{}, not by `{}` (0x{})",
                        hex(&signer),
                        update.publisher,
                        hex(address)
                    ),
                )
            }
        }
    }
}

/// Lower-case hex of `bytes`, no prefix.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_names_bad_digits() {
        assert_eq!(parse_hex("0x00ff10"), Ok(vec![0x00, 0xff, 0x10]));
        assert_eq!(parse_hex("ABcd"), Ok(vec![0xab, 0xcd]));
        assert!(parse_hex("abc").unwrap_err().contains("even"));
        assert!(parse_hex("zz").unwrap_err().contains("`z`"));
        assert_eq!(hex(&[0x00, 0xff, 0x10]), "00ff10");
    }

    #[test]
    fn keccak256_of_the_empty_string_is_ethereums() {
        // The empty-input Keccak-256 that Ethereum uses everywhere (the empty code hash of an account).
        assert_eq!(
            hex(&keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }
}
