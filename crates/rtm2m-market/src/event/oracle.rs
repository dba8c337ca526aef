//! The bytes an oracle publisher signs: a fixed layout, so a verifier in any language can rebuild them.
//!
//! ```text
//! offset  size  content
//! 0       15    ASCII "rtm2m-oracle-v1" (domain tag: these bytes are never valid as anything else)
//! 15      2     publisher length P, u16 big-endian
//! 17      P     publisher, UTF-8
//! 17+P    2     feed length F, u16 big-endian
//! 19+P    F     feed, UTF-8
//! 19+P+F  8     price, IEEE 754 binary64, big-endian
//! 27+P+F  8     confidence, IEEE 754 binary64, big-endian
//! 35+P+F  8     ts, i64 nanoseconds since the Unix epoch, big-endian two's complement
//! 43+P+F  8     sequence, u64 big-endian
//! ```
//! Total 51 + P + F bytes. The scheme and the signature are not signed. Ed25519 (RFC 8032, pure) signs these
//! bytes; secp256k1 signs keccak256 of them (Ethereum's Keccak-256, no EIP-191 prefix), `v` in {0, 1} or
//! {27, 28}. `docs/events.md` repeats this with a worked example.

use super::OracleUpdate;

/// The domain tag that opens every signed oracle payload.
pub const ORACLE_DOMAIN_TAG: &[u8; 15] = b"rtm2m-oracle-v1";

impl OracleUpdate {
    /// The exact bytes the publisher signs (layout in the module documentation and `docs/events.md`).
    ///
    /// Publisher and feed are at most 128 and 64 bytes once validated, well within the u16 lengths; longer
    /// (unvalidated) text is cut at 65,535 bytes so this never fails.
    pub fn signing_payload(&self) -> Vec<u8> {
        let publisher = clipped(self.publisher.as_bytes());
        let feed = clipped(self.feed.as_bytes());
        let mut out = Vec::with_capacity(51 + publisher.len() + feed.len());
        out.extend_from_slice(ORACLE_DOMAIN_TAG);
        for text in [publisher, feed] {
            let len = u16::try_from(text.len()).expect("clipped to u16::MAX bytes");
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(text);
        }
        out.extend_from_slice(&self.price.to_bits().to_be_bytes());
        out.extend_from_slice(&self.confidence.to_bits().to_be_bytes());
        out.extend_from_slice(&self.ts.unix_nanos().to_be_bytes());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out
    }
}

fn clipped(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(usize::from(u16::MAX))]
}

#[cfg(test)]
mod tests {
    use crate::event::{OracleUpdate, SignatureScheme};
    use crate::time::Timestamp;

    #[test]
    fn payload_matches_the_layout_written_out_by_hand() {
        let update = OracleUpdate {
            ts: Timestamp::from_unix_seconds(1_700_000_000).expect("in range"),
            publisher: "pub1".into(),
            feed: "BTC/USD".into(),
            price: 65_000.5,
            confidence: 12.25,
            sequence: 42,
            scheme: SignatureScheme::Ed25519,
            signature: vec![0; 64],
        };
        // Written from the layout, the numbers' bytes as Python's struct.pack gives them: '>d' of 65000.5 is
        // 40efbd1000000000, of 12.25 is 4028800000000000; '>q' of 1.7e18 ns (2023-11-14T22:13:20Z) is
        // 17979cfe362a0000.
        let mut expected = Vec::new();
        expected.extend_from_slice(b"rtm2m-oracle-v1");
        expected.extend_from_slice(&[0x00, 0x04]);
        expected.extend_from_slice(b"pub1");
        expected.extend_from_slice(&[0x00, 0x07]);
        expected.extend_from_slice(b"BTC/USD");
        expected.extend_from_slice(&[0x40, 0xef, 0xbd, 0x10, 0x00, 0x00, 0x00, 0x00]);
        expected.extend_from_slice(&[0x40, 0x28, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00]);
        expected.extend_from_slice(&[0x17, 0x97, 0x9c, 0xfe, 0x36, 0x2a, 0x00, 0x00]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 42]);
        assert_eq!(update.signing_payload(), expected);
        assert_eq!(expected.len(), 51 + 4 + 7);
    }
}
