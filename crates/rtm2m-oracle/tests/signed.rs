//! Signed oracle messages: published vectors for both schemes, then genuine, forged, replayed, stale,
//! future, unknown-publisher and malformed updates made with real keys from fixed seeds.

use ed25519_dalek::Signer;
use rtm2m_market::event::{OracleUpdate, SignatureScheme};
use rtm2m_market::Timestamp;
use rtm2m_oracle::signed::{
    eth_address, hex, keccak256, parse_hex, recover_eth_address, PublisherKey, RejectReason,
    Verifier, VerifierConfig,
};
use std::collections::BTreeSet;

fn bytes(text: &str) -> Vec<u8> {
    parse_hex(text).expect("hex written in the test")
}

#[test]
fn ed25519_verifies_rfc8032_section_7_1_tests_1_and_2() {
    // RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (message 0x72), public keys and signatures as
    // published.
    let vectors = [
        (
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ];
    for (public, message, signature) in vectors {
        let key: [u8; 32] = bytes(public).try_into().expect("32 bytes");
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key).expect("valid point");
        let sig: [u8; 64] = bytes(signature).try_into().expect("64 bytes");
        let sig = ed25519_dalek::Signature::from_bytes(&sig);
        assert!(key.verify_strict(&bytes(message), &sig).is_ok());
        assert!(key.verify_strict(b"another message", &sig).is_err());
    }
    // TEST 1's secret key gives TEST 1's public key.
    let secret: [u8; 32] =
        bytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .try_into()
            .expect("32 bytes");
    let signing = ed25519_dalek::SigningKey::from_bytes(&secret);
    assert_eq!(
        hex(signing.verifying_key().as_bytes()),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
}

#[test]
fn secp256k1_recovers_the_signer_of_the_eip155_example() {
    // EIP-155 (ethereum/EIPs, EIPS/eip-155.md, "Example"): the signing data of a transaction with nonce 9,
    // gas price 20 gwei, gas 21000, to 0x3535...35, value 1 ether; its signing hash; and the signature made
    // with private key 0x4646...46: v = 37, r and s as in the published signed transaction.
    let signing_data = bytes(
        "ec098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a764000080018080",
    );
    let hash = keccak256(&signing_data);
    assert_eq!(
        hex(&hash),
        "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53"
    );
    let r = "28ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276";
    let s = "67cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83";
    // v = CHAIN_ID * 2 + 35 + parity (EIP-155): 37 = 1 * 2 + 35 + 0, so parity 0, i.e. Ethereum v = 27.
    let v = 37u8 - 35 - 2;
    let signature = [bytes(r), bytes(s), vec![v + 27]].concat();
    let signer = recover_eth_address(&hash, &signature).expect("the published signature recovers");
    // The address of private key 0x4646...46, as Ethereum clients report it for this example.
    assert_eq!(hex(&signer), "9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f");
    // The same address derived the other way, from the private key through its public key.
    let private = k256::ecdsa::SigningKey::from_bytes(&[0x46u8; 32].into()).expect("valid scalar");
    assert_eq!(eth_address(private.verifying_key()), signer);
    // v written 0/1 recovers the same signer; the other parity recovers someone else.
    let signature01 = [bytes(r), bytes(s), vec![v]].concat();
    assert_eq!(recover_eth_address(&hash, &signature01), Ok(signer));
    let flipped = [bytes(r), bytes(s), vec![1 - v]].concat();
    assert_ne!(recover_eth_address(&hash, &flipped), Ok(signer));
    // RFC 6979 deterministic signing with the same key reproduces the published r and s.
    let (sig, recovery) = private
        .sign_prehash_recoverable(&hash)
        .expect("signing a 32-byte hash");
    assert_eq!(hex(&sig.to_bytes()), format!("{r}{s}"));
    assert_eq!(recovery.to_byte(), v);
}

const T0: i64 = 1_678_500_000; // 2023-03-11T02:00:00Z

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(seconds).expect("in range")
}

fn unsigned(publisher: &str, sequence: u64, ts: i64, scheme: SignatureScheme) -> OracleUpdate {
    OracleUpdate {
        ts: at(ts),
        publisher: publisher.into(),
        feed: "BTC/USD".into(),
        price: 20_512.25,
        confidence: 7.5,
        sequence,
        scheme,
        signature: vec![0; scheme.signature_len()],
    }
}

struct Keys {
    ed: ed25519_dalek::SigningKey,
    k1: k256::ecdsa::SigningKey,
}

fn keys() -> Keys {
    Keys {
        ed: ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]),
        k1: k256::ecdsa::SigningKey::from_bytes(&[9u8; 32].into()).expect("valid scalar"),
    }
}

fn sign_ed(key: &ed25519_dalek::SigningKey, mut update: OracleUpdate) -> OracleUpdate {
    update.signature = key.sign(&update.signing_payload()).to_bytes().to_vec();
    update
}

fn sign_k1(key: &k256::ecdsa::SigningKey, mut update: OracleUpdate) -> OracleUpdate {
    let (sig, recovery) = key
        .sign_prehash_recoverable(&keccak256(&update.signing_payload()))
        .expect("signing a hash");
    update.signature = [sig.to_bytes().to_vec(), vec![27 + recovery.to_byte()]].concat();
    update
}

fn verifier(keys: &Keys) -> Verifier {
    let mut v = Verifier::new(VerifierConfig::default()).expect("default limits");
    v.register("ed-pub", PublisherKey::Ed25519(keys.ed.verifying_key()))
        .expect("new publisher");
    let address = eth_address(keys.k1.verifying_key());
    v.register(
        "k1-pub",
        PublisherKey::from_hex(SignatureScheme::Secp256k1, &format!("0x{}", hex(&address)))
            .expect("an address in hex"),
    )
    .expect("new publisher");
    v
}

fn reason(result: Result<(), rtm2m_oracle::signed::Rejection>) -> RejectReason {
    result.expect_err("must be rejected").reason
}

#[test]
fn genuine_updates_of_both_schemes_are_accepted_and_their_sequences_recorded() {
    let keys = keys();
    let mut v = verifier(&keys);
    let ed = sign_ed(
        &keys.ed,
        unsigned("ed-pub", 1, T0, SignatureScheme::Ed25519),
    );
    let k1 = sign_k1(
        &keys.k1,
        unsigned("k1-pub", 1, T0, SignatureScheme::Secp256k1),
    );
    assert_eq!(v.verify(&ed, at(T0 + 1)), Ok(()));
    assert_eq!(v.verify(&k1, at(T0 + 1)), Ok(()));
    assert_eq!(v.last_sequence("ed-pub", "BTC/USD"), Some(1));
    // A secp256k1 publisher registered by its public key verifies the same signatures.
    let mut by_key = Verifier::new(VerifierConfig::default()).expect("limits");
    let sec1 = keys.k1.verifying_key().to_encoded_point(true);
    by_key
        .register(
            "k1-pub",
            PublisherKey::secp256k1_public_key(sec1.as_bytes()).expect("SEC1"),
        )
        .expect("new");
    assert_eq!(by_key.verify(&k1, at(T0)), Ok(()));
    // v written 0/1 instead of 27/28.
    let mut k1_v01 = sign_k1(
        &keys.k1,
        unsigned("k1-pub", 2, T0, SignatureScheme::Secp256k1),
    );
    k1_v01.signature[64] -= 27;
    assert_eq!(v.verify(&k1_v01, at(T0)), Ok(()));
}

#[test]
fn forged_updates_are_bad_signatures() {
    let keys = keys();
    let mut v = verifier(&keys);
    // A genuine signature over a price changed afterwards.
    let mut ed = sign_ed(
        &keys.ed,
        unsigned("ed-pub", 5, T0, SignatureScheme::Ed25519),
    );
    ed.price = 25_000.0;
    assert_eq!(reason(v.verify(&ed, at(T0))), RejectReason::BadSignature);
    let mut k1 = sign_k1(
        &keys.k1,
        unsigned("k1-pub", 5, T0, SignatureScheme::Secp256k1),
    );
    k1.sequence = 6;
    assert_eq!(reason(v.verify(&k1, at(T0))), RejectReason::BadSignature);
    // Signed by someone else's key in the publisher's name.
    let intruder = ed25519_dalek::SigningKey::from_bytes(&[8u8; 32]);
    let forged = sign_ed(
        &intruder,
        unsigned("ed-pub", 5, T0, SignatureScheme::Ed25519),
    );
    assert_eq!(
        reason(v.verify(&forged, at(T0))),
        RejectReason::BadSignature
    );
    let intruder = k256::ecdsa::SigningKey::from_bytes(&[10u8; 32].into()).expect("scalar");
    let forged = sign_k1(
        &intruder,
        unsigned("k1-pub", 5, T0, SignatureScheme::Secp256k1),
    );
    let rejection = v.verify(&forged, at(T0)).expect_err("another signer");
    assert_eq!(rejection.reason, RejectReason::BadSignature);
    assert!(rejection.detail.contains("not by `k1-pub`"), "{rejection}");
    // The scheme of another publisher's key.
    let wrong_scheme = sign_k1(
        &keys.k1,
        unsigned("ed-pub", 5, T0, SignatureScheme::Secp256k1),
    );
    assert_eq!(
        reason(v.verify(&wrong_scheme, at(T0))),
        RejectReason::BadSignature
    );
    // The high-s twin of a valid signature (s → n − s, parity flipped) recovers the same signer, but
    // EIP-2 forbids it.
    let genuine = sign_k1(
        &keys.k1,
        unsigned("k1-pub", 5, T0, SignatureScheme::Secp256k1),
    );
    let sig = k256::ecdsa::Signature::from_slice(&genuine.signature[..64]).expect("valid");
    let (r, s) = sig.split_scalars();
    let twin = k256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).expect("valid");
    let mut high_s = genuine.clone();
    high_s.signature = [
        twin.to_bytes().to_vec(),
        vec![if genuine.signature[64] == 27 { 28 } else { 27 }],
    ]
    .concat();
    let rejection = v.verify(&high_s, at(T0)).expect_err("high s");
    assert_eq!(rejection.reason, RejectReason::BadSignature);
    assert!(rejection.detail.contains("EIP-2"), "{rejection}");
    // None of the forgeries moved the sequence: the genuine update with sequence 5 is still accepted.
    assert_eq!(v.verify(&genuine, at(T0)), Ok(()));
}

#[test]
fn replayed_and_out_of_order_sequences_are_rejected_per_feed() {
    let keys = keys();
    let mut v = verifier(&keys);
    let seven = sign_ed(
        &keys.ed,
        unsigned("ed-pub", 7, T0, SignatureScheme::Ed25519),
    );
    assert_eq!(v.verify(&seven, at(T0)), Ok(()));
    assert_eq!(reason(v.verify(&seven, at(T0 + 2))), RejectReason::Replay);
    let six = sign_ed(
        &keys.ed,
        unsigned("ed-pub", 6, T0 + 1, SignatureScheme::Ed25519),
    );
    assert_eq!(
        reason(v.verify(&six, at(T0 + 2))),
        RejectReason::NonMonotonic
    );
    // Another feed of the same publisher has its own sequence.
    let mut eth = unsigned("ed-pub", 6, T0 + 1, SignatureScheme::Ed25519);
    eth.feed = "ETH/USD".into();
    let eth = sign_ed(&keys.ed, eth);
    assert_eq!(v.verify(&eth, at(T0 + 2)), Ok(()));
    let eight = sign_k1(
        &keys.k1,
        unsigned("k1-pub", 8, T0, SignatureScheme::Secp256k1),
    );
    assert_eq!(v.verify(&eight, at(T0)), Ok(()));
    assert_eq!(reason(v.verify(&eight, at(T0))), RejectReason::Replay);
}

#[test]
fn stale_future_unknown_and_malformed_updates_are_rejected() {
    let keys = keys();
    let mut v = verifier(&keys);
    let update = sign_ed(
        &keys.ed,
        unsigned("ed-pub", 1, T0, SignatureScheme::Ed25519),
    );
    // Default limits: 60 s of age, 5 s ahead.
    assert_eq!(v.check(&update, at(T0 + 60)), Ok(()));
    assert_eq!(reason(v.check(&update, at(T0 + 61))), RejectReason::Stale);
    assert_eq!(v.check(&update, at(T0 - 5)), Ok(()));
    assert_eq!(
        reason(v.check(&update, at(T0 - 6))),
        RejectReason::FutureTimestamp
    );
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
    let unknown = sign_ed(
        &stranger,
        unsigned("nobody", 1, T0, SignatureScheme::Ed25519),
    );
    assert_eq!(
        reason(v.verify(&unknown, at(T0))),
        RejectReason::UnknownPublisher
    );
    let mut short = update.clone();
    short.signature.pop();
    assert_eq!(reason(v.verify(&short, at(T0))), RejectReason::Malformed);
    let mut nan = unsigned("ed-pub", 2, T0, SignatureScheme::Ed25519);
    nan.price = f64::NAN;
    let nan = sign_ed(&keys.ed, nan);
    let rejection = v.verify(&nan, at(T0)).expect_err("NaN price");
    assert_eq!(rejection.reason, RejectReason::Malformed);
    assert!(rejection.detail.starts_with("price:"), "{rejection}");
}

#[test]
fn every_failure_has_its_own_reason_code() {
    let keys = keys();
    let mut v = verifier(&keys);
    let genuine = sign_k1(
        &keys.k1,
        unsigned("k1-pub", 3, T0, SignatureScheme::Secp256k1),
    );
    v.verify(&genuine, at(T0)).expect("genuine");
    let mut forged = genuine.clone();
    forged.price *= 1.01;
    let older = sign_k1(
        &keys.k1,
        unsigned("k1-pub", 2, T0, SignatureScheme::Secp256k1),
    );
    let mut malformed = genuine.clone();
    malformed.signature.truncate(10);
    let unknown = sign_k1(
        &keys.k1,
        unsigned("someone", 4, T0, SignatureScheme::Secp256k1),
    );
    let later = sign_k1(
        &keys.k1,
        unsigned("k1-pub", 4, T0 + 100, SignatureScheme::Secp256k1),
    );
    let cases = [
        (v.check(&forged, at(T0)), "bad_signature"),
        (v.check(&genuine, at(T0)), "replay"),
        (v.check(&older, at(T0)), "non_monotonic"),
        (v.check(&genuine, at(T0 + 3600)), "stale"),
        (v.check(&later, at(T0)), "future_timestamp"),
        (v.check(&unknown, at(T0)), "unknown_publisher"),
        (v.check(&malformed, at(T0)), "malformed"),
    ];
    let mut codes = BTreeSet::new();
    for (result, expected) in cases {
        let code = result.expect_err(expected).reason.code();
        assert_eq!(code, expected);
        codes.insert(code);
    }
    assert_eq!(codes.len(), 7);
}

#[test]
fn keys_that_cannot_be_read_are_errors_naming_the_key() {
    let too_short = PublisherKey::from_hex(SignatureScheme::Ed25519, "abcd").expect_err("2 bytes");
    assert!(too_short.to_string().starts_with("key: "), "{too_short}");
    assert!(PublisherKey::from_hex(SignatureScheme::Secp256k1, "0x1234").is_err());
    assert!(PublisherKey::from_hex(SignatureScheme::Secp256k1, "zz").is_err());
    let mut v = Verifier::new(VerifierConfig::default()).expect("limits");
    let key = PublisherKey::Ed25519(keys().ed.verifying_key());
    v.register("p", key.clone()).expect("new");
    assert!(v.register("p", key).is_err());
    assert!(Verifier::new(VerifierConfig {
        max_age_ns: 0,
        max_future_ns: 0
    })
    .is_err());
}
/// The worked example of `docs/oracle-messages.md`. The payload hex and the Ed25519 key and signature
/// were computed independently with Python (`struct.pack`, and `cryptography`'s Ed25519 from the 32-byte
/// seed 0x07…07); the secp256k1 signature is this crate's RFC 6979 signature with key 0x09…09, which the
/// EIP-155 test above ties to Ethereum's.
#[test]
fn the_worked_example_of_the_docs_verifies() {
    let mut update = OracleUpdate {
        ts: Timestamp::from_unix_seconds(1_700_000_000).expect("in range"),
        publisher: "pub1".into(),
        feed: "BTC/USD".into(),
        price: 65_000.5,
        confidence: 12.25,
        sequence: 42,
        scheme: SignatureScheme::Ed25519,
        signature: Vec::new(),
    };
    let payload = "72746d326d2d6f7261636c652d763100047075623100074254432f55534440efbd1000000000\
                   402880000000000017979cfe362a0000000000000000002a";
    assert_eq!(hex(&update.signing_payload()), payload.replace(' ', ""));
    let ed_public = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";
    let ed_signature = "88aab17444f7b02b6254cec798f131b730f45913888b1d8630bc7f66a0dab047\
                        dfccd0e38402abdb65c4ab1ff3440cbece4c30632c393bd7f4fdef725dbf1f06";
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    assert_eq!(hex(signing.verifying_key().as_bytes()), ed_public);
    update.signature = bytes(&ed_signature.replace(' ', ""));
    assert_eq!(
        hex(&signing.sign(&update.signing_payload()).to_bytes()),
        ed_signature.replace(' ', "")
    );
    let mut v = Verifier::new(VerifierConfig::default()).expect("limits");
    v.register(
        "pub1",
        PublisherKey::from_hex(SignatureScheme::Ed25519, ed_public).expect("key"),
    )
    .expect("new");
    let now = Timestamp::from_unix_seconds(1_700_000_001).expect("in range");
    assert_eq!(v.verify(&update, now), Ok(()));

    assert_eq!(
        hex(&keccak256(&update.signing_payload())),
        "2ea8487546c6e3463ca646883eafc9cc7e507b8a8b47bdaf1072e0e776f1f8b2"
    );
    let k1 = k256::ecdsa::SigningKey::from_bytes(&[9u8; 32].into()).expect("scalar");
    let address = "58da990a8f4a3a6ca7cb6315d68a140105917352";
    assert_eq!(hex(&eth_address(k1.verifying_key())), address);
    update.scheme = SignatureScheme::Secp256k1;
    update.signature = bytes(
        "3017eef6a28d3b8abd33db6e730afa360c9eff889fd49e703b54b967255864ef\
         1f7dd22a110c6f0a6baa81db93aded1be96f39e5cb0ba6baa02c57b5336f43a01c"
            .replace(' ', "")
            .as_str(),
    );
    let mut v = Verifier::new(VerifierConfig::default()).expect("limits");
    v.register(
        "pub1",
        PublisherKey::from_hex(SignatureScheme::Secp256k1, address).expect("address"),
    )
    .expect("new");
    assert_eq!(v.verify(&update, now), Ok(()));
}
