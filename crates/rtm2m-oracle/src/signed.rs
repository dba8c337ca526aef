//! Signed oracle messages (being written).
