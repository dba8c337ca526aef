//! Hashes as `0x` hex in JSON.

use crate::hash::{to_hex, Hash32};
use serde::Serializer;

/// One hash.
pub fn hash<S: Serializer>(value: &Hash32, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&to_hex(value))
}

/// A list of hashes.
pub fn hashes<S: Serializer>(values: &[Hash32], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(|v| to_hex(v)))
}
