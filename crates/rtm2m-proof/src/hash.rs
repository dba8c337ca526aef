//! Keccak-256 and the 32-byte words the commitments are made of.

use sha3::{Digest, Keccak256};

/// A 32-byte hash or ABI word.
pub type Hash32 = [u8; 32];

/// Keccak-256 as Ethereum uses it (the original Keccak padding, not SHA3-256's).
pub fn keccak256(bytes: &[u8]) -> Hash32 {
    Keccak256::digest(bytes).into()
}

/// Keccak-256 of several byte strings, concatenated.
pub fn keccak256_concat(parts: &[&[u8]]) -> Hash32 {
    let mut hasher = Keccak256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The ABI word of an unsigned integer (`uint8` … `uint256`), big-endian.
pub fn uint_word(value: u128) -> Hash32 {
    let mut word = [0u8; 32];
    word[16..].copy_from_slice(&value.to_be_bytes());
    word
}

/// The ABI word of an address: 12 zero bytes, then the 20 bytes.
pub fn address_word(address: &[u8; 20]) -> Hash32 {
    let mut word = [0u8; 32];
    word[12..].copy_from_slice(address);
    word
}

/// `0x`-prefixed lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 + 2 * bytes.len());
    text.push_str("0x");
    for &b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    text
}

/// Reads hex (either case, `0x` optional); the error says why the text is not hex.
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
        .map(|pair| Ok((value(pair[0])? << 4) | value(pair[1])?))
        .collect()
}

/// Reads exactly `N` bytes of hex; the error names the expected length.
pub fn parse_hex_array<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let bytes = parse_hex(text)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("is {} bytes, expected {N}", bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_of_empty_input_is_the_published_constant() {
        // Ethereum's empty-code hash (yellow paper, appendix D: KEC(())).
        assert_eq!(
            to_hex(&keccak256(b"")),
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn hex_round_trips_and_refuses_bad_digits() {
        assert_eq!(parse_hex("0xDEad01").unwrap(), vec![0xde, 0xad, 0x01]);
        assert_eq!(to_hex(&[0xde, 0xad, 0x01]), "0xdead01");
        assert!(parse_hex("0x123").is_err());
        assert!(parse_hex("zz").is_err());
        assert!(parse_hex_array::<20>("0x00").is_err());
    }
}
