//! Helpers shared by the conformance tests: where the shared vectors live, and skipping when they are absent.

#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared` of the workspace (`$CARGO_MANIFEST_DIR/../../../shared`), or `None` with a visible note.
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "note: {test} skipped: {} is absent (the shared conformance vectors)",
            dir.display()
        );
        None
    }
}
