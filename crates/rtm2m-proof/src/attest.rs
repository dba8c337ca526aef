//! Keepers' attestations: secp256k1 keys, deterministic signatures (RFC 6979) over EIP-712 digests, and
//! recovery of the signer's address exactly as the EVM's `ecrecover` and `contracts/LiquidationGate.sol`
//! accept it: 65 bytes r ‖ s ‖ v with v = 27 or 28 and s in the lower half of the group order (EIP-2).

use crate::eip712::{Domain, MarginAttestation};
use crate::hash::{keccak256, parse_hex, Hash32};
use crate::ProofError;
use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use serde::Serialize;

/// An Ethereum address.
pub type Address = [u8; 20];

/// The Ethereum address of a secp256k1 public key: the last 20 bytes of keccak256 of the 64-byte
/// uncompressed point x ‖ y (yellow paper, appendix F).
pub fn eth_address(key: &VerifyingKey) -> Address {
    let point = key.to_encoded_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    let mut address = [0u8; 20];
    address.copy_from_slice(&hash[12..]);
    address
}

/// A keeper's signing key.
#[derive(Clone)]
pub struct KeeperKey {
    key: SigningKey,
}

impl std::fmt::Debug for KeeperKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "KeeperKey({})", crate::hash::to_hex(&self.address()))
    }
}

impl KeeperKey {
    /// From the 32-byte secret scalar; refuses zero and values not below the group order.
    pub fn from_bytes(secret: &[u8]) -> Result<KeeperKey, ProofError> {
        if secret.len() != 32 {
            return Err(ProofError::field(
                "keeper key",
                format!("a secp256k1 secret key is 32 bytes, found {}", secret.len()),
            ));
        }
        SigningKey::from_slice(secret)
            .map(|key| KeeperKey { key })
            .map_err(|_| {
                ProofError::field(
                    "keeper key",
                    "is zero or not below the secp256k1 group order",
                )
            })
    }

    /// From hex (`0x` optional).
    pub fn from_hex(text: &str) -> Result<KeeperKey, ProofError> {
        let bytes = parse_hex(text.trim()).map_err(|r| ProofError::field("keeper key", r))?;
        KeeperKey::from_bytes(&bytes)
    }

    /// The keeper's address.
    pub fn address(&self) -> Address {
        eth_address(self.key.verifying_key())
    }

    /// Signs a 32-byte digest: r ‖ s ‖ v, RFC 6979 nonce, low s, v = 27 + recovery parity.
    pub fn sign_digest(&self, digest: &Hash32) -> [u8; 65] {
        let (signature, recovery) = self
            .key
            .sign_prehash_recoverable(digest)
            .expect("a 32-byte prehash is always signable");
        // k256 already returns low-s signatures; normalise anyway, flipping the parity with s.
        let (signature, recovery) = match signature.normalize_s() {
            Some(low) => (
                low,
                RecoveryId::new(!recovery.is_y_odd(), recovery.is_x_reduced()),
            ),
            None => (signature, recovery),
        };
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = 27 + recovery.to_byte();
        out
    }

    /// Signs an attestation in `domain`.
    pub fn attest(&self, domain: &Domain, attestation: MarginAttestation) -> SignedAttestation {
        SignedAttestation {
            signature: self.sign_digest(&attestation.digest(domain)),
            keeper: self.address(),
            attestation,
        }
    }
}

/// An attestation with its keeper and signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedAttestation {
    /// What was attested.
    pub attestation: MarginAttestation,
    /// The keeper who signed.
    #[serde(serialize_with = "serialize_bytes")]
    pub keeper: Address,
    /// r ‖ s ‖ v.
    #[serde(serialize_with = "serialize_bytes")]
    pub signature: [u8; 65],
}

fn serialize_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::hash::to_hex(bytes))
}

impl SignedAttestation {
    /// Whether the signature recovers to the keeper in `domain`.
    pub fn verify(&self, domain: &Domain) -> bool {
        recover_address(&self.attestation.digest(domain), &self.signature) == Ok(self.keeper)
    }
}

/// The address that signed `digest` with `signature` (r ‖ s ‖ v), under the rules of
/// `LiquidationGate.recoverSigner`: 65 bytes, v = 27 or 28, s not above half the group order.
pub fn recover_address(digest: &Hash32, signature: &[u8]) -> Result<Address, ProofError> {
    let bad = |reason: &str| ProofError::field("signature", reason);
    if signature.len() != 65 {
        return Err(ProofError::field(
            "signature",
            format!("is r || s || v, 65 bytes, found {}", signature.len()),
        ));
    }
    let parity = match signature[64] {
        27 => 0,
        28 => 1,
        v => {
            return Err(ProofError::field(
                "signature",
                format!("v = {v}, expected 27 or 28"),
            ))
        }
    };
    let sig = Signature::from_slice(&signature[..64])
        .map_err(|_| bad("r or s is zero or not below the group order"))?;
    if sig.normalize_s().is_some() {
        return Err(bad("s is in the upper half of the group order (EIP-2)"));
    }
    let recovery = RecoveryId::from_byte(parity).expect("parity is 0 or 1");
    VerifyingKey::recover_from_prehash(digest, &sig, recovery)
        .map(|key| eth_address(&key))
        .map_err(|_| bad("no public key recovers from it"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{parse_hex_array, to_hex};

    #[test]
    fn spec_cow_key_signs_the_mail_digest_as_published() {
        // EIP-712 Example.js: private key keccak256("cow"), address 0xCD2a…D826; its signature of the Mail
        // digest is v = 28, r = 0x4355…1c9d, s = 0x0729…1562 (eth-sig-util, eth-account and ethers check
        // the same values). An RFC 6979 signer must reproduce it byte for byte.
        let key = KeeperKey::from_bytes(&keccak256(b"cow")).unwrap();
        assert_eq!(
            to_hex(&keccak256(b"cow")),
            "0xc85ef7d79691fe79573b1a7064c19c1a9819ebdbd1faaab1a8ec92344438aaf4"
        );
        assert_eq!(
            to_hex(&key.address()),
            "0xcd2a3d9f938e13cd947ec05abc7fe734df8dd826"
        );
        let digest: Hash32 =
            parse_hex_array("0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2")
                .unwrap();
        let signature = key.sign_digest(&digest);
        assert_eq!(
            to_hex(&signature),
            "0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d\
             07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b915621c"
        );
        assert_eq!(recover_address(&digest, &signature), Ok(key.address()));
    }

    #[test]
    fn malformed_and_malleable_signatures_are_refused() {
        let key = KeeperKey::from_bytes(&[7; 32]).unwrap();
        let digest = keccak256(b"digest");
        let good = key.sign_digest(&digest);
        assert!(recover_address(&digest, &good[..64]).is_err());
        let mut bad_v = good;
        bad_v[64] = 1;
        assert!(recover_address(&digest, &bad_v)
            .unwrap_err()
            .to_string()
            .contains("v = 1"));
        // The malleable twin (n − s, flipped parity) recovers the same key but EIP-2 forbids it.
        let sig = Signature::from_slice(&good[..64]).unwrap();
        let (r, s) = sig.split_scalars();
        let twin = Signature::from_scalars(r, -*s).unwrap();
        let mut high = [0u8; 65];
        high[..64].copy_from_slice(&twin.to_bytes());
        high[64] = if good[64] == 27 { 28 } else { 27 };
        assert!(recover_address(&digest, &high)
            .unwrap_err()
            .to_string()
            .contains("EIP-2"));
        assert!(KeeperKey::from_bytes(&[0; 32]).is_err());
        assert!(KeeperKey::from_bytes(&[0xff; 32]).is_err());
        assert!(KeeperKey::from_hex("0x12").is_err());
    }

    #[test]
    fn signed_attestation_verifies_only_in_its_domain() {
        let key = KeeperKey::from_bytes(&[9; 32]).unwrap();
        let contract: Address =
            parse_hex_array("0x5FbDB2315678afecb367f032d93F642f64180aa3").unwrap();
        let domain = Domain::rtm2m(1, contract);
        let signed = key.attest(
            &domain,
            MarginAttestation {
                account: keccak256(b"acc"),
                equity_usd: crate::Fixed18::from_units(5),
                mm_usd: crate::Fixed18::from_units(10),
                oracle_price_set_hash: [3; 32],
                timestamp_s: 100,
                liquidatable: true,
                sequence: 1,
            },
        );
        assert!(signed.verify(&domain));
        assert!(!signed.verify(&Domain::rtm2m(2, contract)));
    }
}
