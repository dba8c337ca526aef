//! Index aggregation (being written).
